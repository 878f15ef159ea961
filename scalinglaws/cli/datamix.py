"""``scalinglaws fit datamix``, ``scalinglaws plan datamix`` and the data-mixture form of
``scalinglaws design``: multi-domain data-mixture laws from proxy runs.

Ye et al. 2024, "Data Mixing Laws", arXiv 2403.16952; Liu et al. 2024, "RegMix",
arXiv 2407.01492.

Usage::

    scalinglaws fit datamix RUNS [--losses FILE] [--weights-prefix P] [--loss-prefix P]
        [--on KEY] [--where EXPR] [--column ROLE=COLUMN] [--target T]
        [--law mixing|linear|loglinear|gp] [--uncertainty laplace|bootstrap|none]
        [--samples S] [--seed S] [--out FIT.json] [--record DATASET [--fits-dir D]
        [--bump]] [--json] [--quiet]
    scalinglaws plan datamix FIT.json [--N N] [--D D] [--baseline natural|uniform|d=w,...]
        [--min V|d=v,...] [--max V|d=v,...] [--available d=tokens,...] [--tokens D]
        [--max-epochs E] [--ceiling F] [--objective mean|quantile] [--quantile Q]
        [--level L] [--seed S] [--json]
    scalinglaws design FIT.json --n K [--N N] [--D D] [--min ...] [--max ...]
        [--available ...] [--tokens D] [--max-epochs E] [--proxy-N N] [--proxy-D D]
        [--mix-method regret|value|thompson]
        [--n-candidates C] [--seed S] [--json]

``design`` dispatches on the record: a data-mixture record proposes the next proxy
mixtures (:func:`scalinglaws.datamix.propose.propose_mixtures`), a law record ranks the
next (N, D) runs as before.

``--D`` is the training length of the planned run for a fit nested with a length law (its
proxies of one size were trained for several token counts D, or several checkpoints were
kept): tokens, or steps when the runs record steps only (the fit's ``length_column``).
"""

from __future__ import annotations

import argparse
import importlib
import math
import warnings
from collections.abc import Mapping
from typing import Any

from scalinglaws.cli import common
from scalinglaws.errors import PlanError, RecordError, ScalingLawsError, ScalingLawsWarning

LAWS = ("mixing", "linear", "loglinear", "gp")
UNCERTAINTIES = ("laplace", "bootstrap", "none")
#: Options of ``design`` that apply to a data-mixture record only (dest -> flag).
DESIGN_DATAMIX_OPTIONS = {
    "N": "--N",
    "D": "--D",
    "min_weight": "--min",
    "max_weight": "--max",
    "available": "--available",
    "tokens": "--tokens",
    "max_epochs": "--max-epochs",
    "proxy_N": "--proxy-N",
    "proxy_D": "--proxy-D",
    "mix_method": "--mix-method",
    "n_candidates": "--n-candidates",
}
#: Options of ``design`` that apply to a law record only (dest -> flag, default).
DESIGN_LAW_OPTIONS = {
    "target_compute": ("--target-compute", None),
    "target_loss": ("--target-loss", None),
    "study_budget": ("--study-budget", None),
    "max_params": ("--max-params", None),
    "max_tokens": ("--max-tokens", None),
    "quantity": ("--quantity", "log_n_opt"),
    "method": ("--method", "linear"),
    "selection": ("--selection", "per_flop"),
    "candidates": ("--candidates", None),
    "runs": ("--runs", None),
    "isoflop": ("--isoflop", False),
    "isoflop_budgets": ("--isoflop-budgets", None),
    "sizes_per_budget": ("--sizes-per-budget", 5),
    # The run-log options of --runs (common.add_run_options).
    "column": ("--column", None),
    "checkpoints": ("--checkpoints", "last"),
    "where": ("--where", None),
    "best_of": ("--best-of", None),
    "best_of_per": ("--best-of-per", None),
    "drop_nonfinite": ("--drop-nonfinite", False),
    "loss_is": ("--loss-is", "loss"),
}


# ------------------------------------------------------------------ option parsing
def _float(text: str, option: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ScalingLawsError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ScalingLawsError(f"{option}: {text!r} is not a finite number")
    return v


def parse_pairs(text: str, option: str) -> dict[str, float]:
    """``"a=0.5,b=0.2"`` as ``{"a": 0.5, "b": 0.2}``; one line saying why not."""
    out: dict[str, float] = {}
    for part in str(text).split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or not key or not val.strip():
            raise ScalingLawsError(f"{option} takes DOMAIN=VALUE[,DOMAIN=VALUE...], not {text!r}")
        if key in out:
            raise ScalingLawsError(f"{option}: domain {key!r} is given twice")
        out[key] = _float(val.strip(), f"{option} {key}")
    return out


def parse_bound(text: str | None, option: str) -> float | dict[str, float] | None:
    """``--min``/``--max``: one number for every domain, or ``d=v,...`` per domain."""
    if text is None:
        return None
    out: float | dict[str, float] = (
        parse_pairs(text, option) if "=" in text else _float(text, option)
    )
    values = out.values() if isinstance(out, dict) else [out]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ScalingLawsError(f"{option}: weights must be between 0 and 1, not {text!r}")
    return out


def parse_baseline(text: str) -> str | dict[str, float]:
    """``natural``, ``uniform`` or ``d=w,...`` (weights that sum to one)."""
    if text in ("natural", "uniform"):
        return text
    if "=" not in text:
        raise ScalingLawsError(
            f"--baseline takes natural, uniform or DOMAIN=WEIGHT,..., not {text!r}"
        )
    w = parse_pairs(text, "--baseline")
    if any(v < 0 for v in w.values()):
        raise ScalingLawsError("--baseline: weights must be non-negative")
    total = sum(w.values())
    if abs(total - 1.0) > 1e-6:
        raise ScalingLawsError(f"--baseline: the weights sum to {total:.6g}, not 1")
    return w


def _known(fit: Any, values: Any, option: str) -> None:
    if not isinstance(values, Mapping):
        return
    unknown = [d for d in values if d not in fit.training_domains]
    if unknown:
        raise ScalingLawsError(
            f"{option}: {', '.join(map(repr, unknown))} not a training domain of the fit "
            f"({', '.join(fit.training_domains)})"
        )


def _fmt_pairs(values: Mapping[str, float]) -> str:
    return ",".join(f"{d}={v:g}" for d, v in values.items())


def check_constraints(fit: Any, cons: Mapping[str, Any]) -> None:
    """Refuse unknown domains and a constraint set no mixture satisfies, naming the
    conflicting options (before any planning work).

    Raises:
        PlanError: An infeasible constraint set.
        ScalingLawsError: A domain the fit does not have.
    """
    domains = fit.training_domains
    for key, option in (
        ("min_weight", "--min"),
        ("max_weight", "--max"),
        ("available", "--available"),
        ("baseline", "--baseline"),
    ):
        _known(fit, cons.get(key), option)

    def per_domain(value: Any, default: float) -> dict[str, float]:
        if value is None:
            return dict.fromkeys(domains, default)
        if isinstance(value, Mapping):
            return {d: float(value.get(d, default)) for d in domains}
        return dict.fromkeys(domains, float(value))

    lo = per_domain(cons.get("min_weight"), 0.0)
    hi = per_domain(cons.get("max_weight"), 1.0)
    hi_why = dict.fromkeys(domains, "--max")
    avail, tokens, epochs = cons.get("available"), cons.get("tokens"), cons.get("max_epochs")
    if tokens is not None and not tokens > 0:
        raise ScalingLawsError(f"--tokens must be a positive number of tokens, not {tokens:g}")
    if epochs is not None and not epochs > 0:
        raise ScalingLawsError(f"--max-epochs must be positive, not {epochs:g}")
    if epochs is not None and (avail is None or tokens is None):
        raise ScalingLawsError("--max-epochs needs --available and --tokens (it caps their ratio)")
    if isinstance(avail, Mapping):
        bad = [d for d, v in avail.items() if not v > 0]
        if bad:
            raise ScalingLawsError(f"--available: tokens of {bad} must be positive")
        if tokens is not None:  # the planner's default: one pass over each domain
            ep = 1.0 if epochs is None else epochs
            for d, v in avail.items():
                cap = v * ep / tokens
                if cap < hi[d]:
                    hi[d], hi_why[d] = cap, f"--available {d}={v:g} at --max-epochs {ep:g}"
    for d in domains:
        if lo[d] > hi[d] + 1e-12:
            raise PlanError(
                f"infeasible constraints: --min {d}={lo[d]:g} exceeds the largest weight "
                f"allowed for {d}, {hi[d]:.4g} ({hi_why[d]})"
            )
    if sum(lo.values()) > 1.0 + 1e-9:
        named = {d: v for d, v in lo.items() if v > 0}
        raise PlanError(
            f"infeasible constraints: the minimum weights sum to {sum(lo.values()):.4g} > 1 "
            f"(--min {_fmt_pairs(named)})"
        )
    if sum(hi.values()) < 1.0 - 1e-9:
        why = sorted(set(hi_why.values()))
        raise PlanError(
            f"infeasible constraints: the largest weights allowed sum to {sum(hi.values()):.4g} "
            f"< 1 ({'; '.join(why)}"
            + (f"; --tokens {tokens:g}" if any(w.startswith("--available") for w in why) else "")
            + ")"
        )


def _check_scale(fit: Any, n: float | None, d: float | None = None) -> None:
    """A one-scale fit refuses --N (--D) at another scale; a fit nested in size (length)
    needs --N (--D) (one line)."""
    import numpy as np

    r = np.full((1, len(fit.training_domains)), 1.0 / len(fit.training_domains))
    fit.sizes_for(r, n)
    fit.lengths_for(r, d)


def _constraints(args: argparse.Namespace) -> dict[str, Any]:
    cons: dict[str, Any] = {}
    if getattr(args, "min_weight", None) is not None:
        cons["min_weight"] = parse_bound(args.min_weight, "--min")
    if getattr(args, "max_weight", None) is not None:
        cons["max_weight"] = parse_bound(args.max_weight, "--max")
    if getattr(args, "available", None) is not None:
        cons["available"] = parse_pairs(args.available, "--available")
    for key in ("tokens", "max_epochs"):
        if getattr(args, key, None) is not None:
            cons[key] = float(getattr(args, key))
    return cons


def _add_constraint_options(p: Any, group_title: str | None = None) -> None:
    g = p.add_argument_group(group_title) if group_title else p
    g.add_argument(
        "--N",
        type=float,
        default=None,
        help="model size of the target run (needed for a nested fit; a one-scale fit "
        "predicts at its proxy size only)",
    )
    g.add_argument(
        "--D",
        type=float,
        default=None,
        help="training length of the target run: tokens, or steps when the fit's runs "
        "record steps only (needed for a fit nested with a length law; any other fit "
        "predicts at its proxies' length only)",
    )
    g.add_argument(
        "--min",
        dest="min_weight",
        metavar="V|D=V,...",
        default=None,
        help="smallest weight of every training domain, or per domain (web=0.1,code=0.05)",
    )
    g.add_argument(
        "--max",
        dest="max_weight",
        metavar="V|D=V,...",
        default=None,
        help="largest weight of every training domain, or per domain",
    )
    g.add_argument(
        "--available",
        metavar="D=TOKENS,...",
        default=None,
        help="tokens available per training domain (with --tokens and --max-epochs: a cap "
        "on its weight)",
    )
    g.add_argument("--tokens", type=float, default=None, metavar="D", help="training tokens")
    g.add_argument(
        "--max-epochs",
        type=float,
        default=None,
        metavar="E",
        help="most passes over any domain's available tokens",
    )


def _load_fit(path: str, command: str) -> Any:
    from scalinglaws.datamix.record import PIPELINE, datamix_from_record
    from scalinglaws.io.records import describe_record, read_record, record_name

    record = read_record(path)
    if record["kind"] != "pipeline" or record_name(record) != PIPELINE:
        raise RecordError(
            f"{path} is {describe_record(record)}; {command} needs a data-mixture record "
            "(written by fit datamix --out)"
        )
    return datamix_from_record(record, where=path)


def _module(name: str) -> Any:
    """``scalinglaws.datamix.<name>``, or one line saying it is not available."""
    try:
        return importlib.import_module(f"scalinglaws.datamix.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"scalinglaws.datamix.{name}":
            raise
        raise ScalingLawsError(
            f"this installation has no scalinglaws.datamix.{name} module"
        ) from None


def _num_text(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float):
        return f"{v:.4g}"
    return str(v)


def proposal_text(df: Any, domains: Any) -> list[str]:
    """One block per proposed mixture: its prediction and reason, then its weights (the
    domains with at least 0.0005, to three decimals; the JSON has every weight)."""
    lines = []
    for i, (_, row) in enumerate(df.iterrows(), start=1):
        lines.append(
            f"  {i}. predicted {_num_text(row['predicted'])} (sd {_num_text(row['sd'])}); "
            f"{row['why']}"
        )
        shown = [f"{d} {float(row[d]):.3f}" for d in domains if float(row[d]) >= 5e-4]
        lines.append("     weights: " + ", ".join(shown))
    return lines


# ------------------------------------------------------------------ fit datamix
def _fit_load_options(args: argparse.Namespace) -> dict[str, Any]:
    from scalinglaws.datamix.runs import META_COLUMNS

    opts: dict[str, Any] = {}
    if args.weights_prefix is not None:
        opts["weight_prefix"] = args.weights_prefix
    if args.loss_prefix is not None:
        opts["loss_prefix"] = args.loss_prefix
    if args.on is not None:
        opts["on"] = args.on
    if args.where is not None:
        opts["where"] = args.where
    cols = common.column_overrides(args.column, tuple(META_COLUMNS))
    if cols:
        opts["columns"] = cols
    return opts


def fit_payload(fit: Any, record: Mapping[str, Any]) -> dict[str, Any]:
    """The fit JSON of DESIGN §8 for a data-mixture fit: ``params`` keyed by validation
    domain (a GP's hyperparameters), and per-domain diagnostics."""
    params = {}
    for d, p in record["params"].items():
        params[d] = p.get("hyperparameters", p) if "hyperparameters" in p else p
    parts = record["parts"]["domains"]
    return {
        "law": "datamix",
        "params": params,
        "objective": record["objective"],
        "status": record["status"],
        "diagnostics": {
            "model": fit.model,
            "n_runs": len(fit.runs),
            "training_domains": list(fit.training_domains),
            "validation_domains": list(fit.domains),
            "target": fit.target.to_dict(),
            "sizes": list(fit.sizes),
            "nested": fit.nested,
            "lengths": list(fit.lengths),
            "length_nested": fit.length_nested,
            "length_column": fit.length_column,
            "noise": {d: parts[d]["noise"] for d in parts},
            "noise_corr": record["parts"].get("noise_corr"),
            "runs_per_domain": {d: parts[d]["n_runs"] for d in parts},
            "domain_status": {d: parts[d]["status"] for d in parts},
            "anchors": record["anchors"],
            "load_options": record["data"]["load_options"],
        },
        "uncertainty": {
            "method": record["uncertainty"]["method"],
            "n_draws": {d: (parts[d].get("uncertainty") or {}).get("n_draws", 0) for d in parts},
        },
        "warnings": list(fit.warnings),
    }


def _fit_datamix(args: argparse.Namespace) -> int:
    from scalinglaws.datamix import fit_datamix
    from scalinglaws.datamix.record import datamix_to_record
    from scalinglaws.io.records import write_record

    if args.bump and not args.record:
        raise ScalingLawsError("--bump needs --record DATASET (it picks the next version)")
    common.check_output(args.out, inputs=[args.runs, args.losses])
    target = None
    if args.record:  # refuse an existing version before the fit
        from scalinglaws.io.registry import registry_target

        target = registry_target(args.fits_dir, "datamix", args.record, bump=args.bump)
    if args.samples is not None and args.samples < 1:
        raise ScalingLawsError(f"--samples must be a positive number of draws, not {args.samples}")
    load = _fit_load_options(args)
    common.progress(
        args,
        f"reading {args.runs}" + (f" and {args.losses}" if args.losses else ""),
    )
    from scalinglaws.datamix.runs import load_mixture_runs

    runs = load_mixture_runs(args.runs, args.losses, **load)
    for note in runs.notes:
        common.progress(args, f"note: {note}")
    common.progress(
        args,
        f"fitting the {args.model} model to {len(runs)} proxy runs "
        f"({len(runs.domains)} training, {len(runs.targets)} validation domains)",
    )
    kwargs: dict[str, Any] = {"target": args.target, "model": args.model, "seed": args.seed}
    if args.model != "gp":
        kwargs["uncertainty"] = args.uncertainty
    if args.samples is not None:
        kwargs["samples"] = args.samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        fit = fit_datamix(runs, **kwargs)
    # Built before anything is written: a record that would not validate writes nothing.
    record = datamix_to_record(fit, data_path=args.runs, losses_path=args.losses, load_options=load)
    if target is not None:
        import os
        from pathlib import Path

        folder = target.parent.resolve()
        rel = [
            None if f is None else os.path.relpath(Path(f).resolve(), folder)
            for f in (args.runs, args.losses)
        ]
        registry_record = datamix_to_record(
            fit,
            data_path=args.runs,
            losses_path=args.losses,
            data_path_as=rel[0],
            losses_path_as=rel[1],
            load_options=load,
            dataset=args.record,
        )
        # Claimed when written: a concurrent writer never overwrites another's version.
        target = write_record(registry_record, target, claim="next" if args.bump else "exact")
        common.progress(args, f"wrote {target}")
    if args.out:
        write_record(record, args.out)
        common.progress(args, f"wrote {args.out}")
    payload = fit_payload(fit, record)
    text = fit.report()
    anchors = record["anchors"]
    if anchors:
        where = [f"N = {anchors[0]['N']:.3g}"] if anchors[0].get("N") else []
        if anchors[0].get("D"):
            where.append(f"{fit.length_name} = {anchors[0]['D']:.3g}")
        at = f" at {', '.join(where)}" if where else ""
        text += f"\n\n  predicted target{at}:"
        for a in anchors:
            text += f"\n    {a['label']:<22} {a['target']:.5g}"
    common.emit(args, payload, text)
    return 0


def _add_fit_datamix(fit_sub: Any) -> None:
    p = fit_sub.add_parser(
        "datamix",
        help="data-mixture law per validation domain from proxy runs (Ye et al. 2024; RegMix)",
        description="Fit a model of each validation domain's loss against the training "
        "mixture (and model size N and training length D or step, when they vary) from "
        "proxy runs: one wide file, or a weights file and "
        "a losses file (--losses) joined on a key.",
    )
    p.add_argument("runs", metavar="RUNS", help="proxy runs: weights (and losses) per run")
    p.add_argument("--losses", metavar="FILE", default=None, help="losses file, joined on --on")
    p.add_argument(
        "--weights-prefix", metavar="P", default=None, help="weight columns start with P"
    )
    p.add_argument("--loss-prefix", metavar="P", default=None, help="loss columns start with P")
    p.add_argument("--on", metavar="KEY", default=None, help="join key of the two files")
    p.add_argument(
        "--where",
        metavar="EXPR",
        default=None,
        help='keep the runs this filter selects over run, N, D, step, e.g. "N >= 5e7"',
    )
    p.add_argument(
        "--column",
        action="append",
        metavar="ROLE=COLUMN",
        help="take a column for run, N, D or step, e.g. --column N=params",
    )
    p.add_argument(
        "--target",
        default="mean",
        help="what plans minimise: mean (of the validation losses), a domain, or "
        "d=w,... weights (default mean)",
    )
    p.add_argument(
        "--law",
        dest="model",
        choices=LAWS,
        default="mixing",
        help="mixing (Ye et al., nested with size across sizes and with a token/step law "
        "when a size has several lengths D or steps; default), linear, loglinear (RegMix "
        "baselines) or gp (these three: one length per size)",
    )
    p.add_argument("--uncertainty", choices=UNCERTAINTIES, default="laplace")
    p.add_argument("--samples", type=int, default=None, help="parameter draws per domain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FIT.json", help="write the fit record here")
    p.add_argument(
        "--record",
        metavar="DATASET",
        default=None,
        help="append the record to the registry as FITS_DIR/datamix/DATASET/v<N>.json "
        "(what `scalinglaws check` refits)",
    )
    p.add_argument("--fits-dir", default="fits", help="registry root for --record (default fits/)")
    p.add_argument("--bump", action="store_true", help="with --record: write the next version")
    common.add_common(p)
    p.set_defaults(func=_fit_datamix)


# ------------------------------------------------------------------ plan datamix
def _plan_datamix(args: argparse.Namespace) -> int:
    fit = _load_fit(args.fit, "plan datamix")
    if args.level is not None and not 0 < args.level < 1:
        raise ScalingLawsError(f"--level must be in (0, 1), not {args.level:g}")
    if args.quantile is not None and not 0 < args.quantile < 1:
        raise ScalingLawsError(f"--quantile must be in (0, 1), not {args.quantile:g}")
    if args.ceiling is not None and not args.ceiling > 0:
        raise ScalingLawsError(f"--ceiling must be positive, not {args.ceiling:g}")
    cons = _constraints(args)
    kwargs: dict[str, Any] = dict(cons)
    if args.baseline is not None:
        kwargs["baseline"] = parse_baseline(args.baseline)
    check_constraints(fit, kwargs)
    _check_scale(fit, args.N, args.D)
    for key in ("ceiling", "objective", "quantile", "level", "seed"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    plan_mod = _module("plan")
    common.progress(args, f"planning the mixture for {fit.target.describe()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        df = plan_mod.plan_data_mixture(fit, N=args.N, D=args.D, **kwargs)
    payload = plan_mod.plan_to_json(df)
    lines = plan_text(fit, df)
    warns = list(df.attrs.get("warnings", []) or [])
    note = fit.transfer_note()
    if note and note not in warns:  # the planner's notes carry it; never lose it
        warns.append(note)
        payload["warnings"] = [*payload.get("warnings", []), note]
    lines += [f"warning: {w}" for w in warns]
    common.emit(args, payload, "\n".join(lines))
    return 0


def plan_text(fit: Any, df: Any) -> list[str]:
    """The plan as text: weights with intervals, then the summary lines."""
    s = df.attrs.get("summary", {}) or {}
    level = float(s.get("level", 0.9))
    n = s.get("N")
    d = s.get("D")
    head = f"data-mixture plan ({fit.model} model; target: {fit.target.describe()}"
    head += f"; N = {n:.3g}" if isinstance(n, int | float) else ""
    head += f"; {s.get('length_column') or 'D'} = {d:.3g}" if isinstance(d, int | float) else ""
    head += ")"
    lines = [
        head,
        f"  {'domain':<20} {'weight':>8} {f'{level:.0%} interval':>19} "
        f"{'baseline':>9} {'min':>6} {'max':>6}  binding",
    ]
    for _, r in df.iterrows():
        bw = float(r["baseline"])
        bw_text = f"{bw:.3f}" if math.isfinite(bw) else ""
        lines.append(
            f"  {str(r['domain']):<20} {float(r['weight']):>8.3f} "
            f"{float(r['lo']):>9.3f} .. {float(r['hi']):>5.3f} {bw_text:>9} "
            f"{float(r['min']):>6.3f} {float(r['max']):>6.3f}  {r['binding']}".rstrip()
        )
    pred = s.get("predicted") or {}
    if pred:
        lines.append(
            f"  predicted target: {pred['target']:.5g} ({level:.0%} interval {pred['lo']:.5g} "
            f".. {pred['hi']:.5g}; a new run {pred['pred_lo']:.5g} .. {pred['pred_hi']:.5g})"
        )
    base = s.get("baseline")
    if isinstance(base, Mapping):
        imp = s.get("improvement_over_baseline") or {}
        line = f"  vs baseline ({base.get('name')}): {base['target']:.5g}"
        if imp:
            line += f"; improvement {imp['mean']:.4g} ({imp['lo']:.4g} .. {imp['hi']:.4g})"
        if s.get("p_beats_baseline") is not None:
            line += f"; P(beats baseline) {s['p_beats_baseline']:.2f}"
        lines.append(line)
    if s.get("stability") is not None and math.isfinite(float(s["stability"])):
        lines.append(
            f"  stability: {float(s['stability']):.0%} of posterior draws have their optimum "
            f"within total-variation distance {float(s.get('stability_distance', 0)):g} of it"
        )
    if s.get("binding"):
        lines.append(f"  binding constraints: {', '.join(map(str, s['binding']))}")
    return lines


def _add_plan_datamix(plan_sub: Any) -> None:
    q = plan_sub.add_parser(
        "datamix",
        help="the training mixture that minimises the target, with intervals",
        description="Choose the training mixture from a data-mixture fit record.",
    )
    q.add_argument("fit", metavar="FIT.json", help="record written by fit datamix --out")
    _add_constraint_options(q)
    q.add_argument(
        "--baseline",
        default=None,
        metavar="natural|uniform|D=W,...",
        help="mixture the plan is compared with (default: the planner's)",
    )
    q.add_argument(
        "--ceiling",
        type=float,
        default=None,
        metavar="F",
        help="largest multiple of a domain's weight in the proxies the plan may use",
    )
    q.add_argument("--objective", choices=("mean", "quantile"), default=None)
    q.add_argument("--quantile", type=float, default=None, metavar="Q")
    q.add_argument("--level", type=float, default=None, help="interval level (e.g. 0.9)")
    q.add_argument("--seed", type=int, default=None)
    common.add_common(q)
    q.set_defaults(func=_plan_datamix)


# ------------------------------------------------------------------ design (proposals)
def add_design_options(p: Any) -> None:
    """The data-mixture options of ``scalinglaws design`` (for a datamix record)."""
    _add_constraint_options(p, "data-mixture records (propose the next proxy mixtures)")
    g = [a for a in p._action_groups if a.title and a.title.startswith("data-mixture")][-1]
    g.add_argument(
        "--mix-method",
        default=None,
        metavar="METHOD",
        help="how proposals are chosen: regret (default), value or thompson "
        "(scalinglaws.datamix.propose.propose_mixtures)",
    )
    g.add_argument(
        "--proxy-N",
        dest="proxy_N",
        type=float,
        default=None,
        help="size the new proxies will be trained at (default: the largest proxy size)",
    )
    g.add_argument(
        "--proxy-D",
        dest="proxy_D",
        type=float,
        default=None,
        help="length (tokens, or steps) the new proxies will be trained for, for a fit "
        "nested with a length law (default: the longest proxy length)",
    )
    g.add_argument(
        "--n-candidates",
        type=int,
        default=None,
        metavar="C",
        help="candidate mixtures scored",
    )


def refuse_datamix_options(args: argparse.Namespace) -> None:
    """A law record given data-mixture options: one line naming the first."""
    for dest, flag in DESIGN_DATAMIX_OPTIONS.items():
        if getattr(args, dest, None) is not None:
            raise ScalingLawsError(f"{flag} applies to a data-mixture record, not a law record")


def design_command(args: argparse.Namespace, record: Mapping[str, Any]) -> int:
    """``scalinglaws design FIT`` for a data-mixture record: the next proxy mixtures."""
    from scalinglaws.datamix.record import datamix_from_record

    for dest, (flag, default) in DESIGN_LAW_OPTIONS.items():
        if getattr(args, dest, default) != default:
            raise ScalingLawsError(
                f"{flag} applies to a law record; {args.fit} is a data-mixture record "
                "(options: --n, --N, --D, --min, --max, --available, --tokens, --max-epochs, "
                "--proxy-N, --proxy-D, --mix-method, --n-candidates, --seed)"
            )
    fit = datamix_from_record(record, where=args.fit)
    if args.n is None or args.n < 1:
        raise ScalingLawsError(f"--n must be a positive number of mixtures, not {args.n}")
    if args.n_candidates is not None and args.n_candidates < 1:
        raise ScalingLawsError("--n-candidates must be positive")
    kwargs = _constraints(args)
    check_constraints(fit, kwargs)
    _check_scale(fit, args.N, args.D)
    if args.mix_method is not None:
        kwargs["method"] = args.mix_method
    if args.n_candidates is not None:
        kwargs["n_candidates"] = args.n_candidates
    if args.proxy_N is not None:
        kwargs["proxy_N"] = args.proxy_N
    if args.proxy_D is not None:
        kwargs["proxy_D"] = args.proxy_D
    propose = _module("propose")
    common.progress(args, f"proposing {args.n} proxy mixtures for {fit.target.describe()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        df = propose.propose_mixtures(fit, args.n, N=args.N, D=args.D, seed=args.seed, **kwargs)
    attrs = df.attrs or {}
    warns = [str(w) for w in attrs.get("warnings", []) or []]
    summary = {k: v for k, v in (attrs.get("summary") or {}).items() if not isinstance(v, Mapping)}
    payload = {
        "rows": df.to_dict(orient="records"),
        "summary": common.json_safe(summary),
        "warnings": warns,
    }
    lines = [f"Proposed proxy mixtures ({fit.model} model; target: {fit.target.describe()})"]
    lines += proposal_text(df, fit.training_domains)
    lines += [f"  {k}: {_num_text(v)}" for k, v in summary.items()]
    lines += [f"warning: {w}" for w in warns]
    common.emit(args, payload, "\n".join(lines))
    return 0


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    """``scalinglaws fit datamix`` and ``scalinglaws plan datamix`` (``design`` adds the
    data-mixture options itself, :func:`add_design_options`)."""
    _add_fit_datamix(fit_sub)
    _add_plan_datamix(plan_sub)
