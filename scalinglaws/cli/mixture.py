"""``scalinglaws fit cmr`` and ``scalinglaws plan mixture``: continual-pre-training mixtures.

Gu et al., "CMR Scaling Law", EMNLP 2024, arXiv 2407.17467.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

from scalinglaws.cli import common
from scalinglaws.errors import FitError, RecordError, ScalingLawsError, ScalingLawsWarning


def _lam(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--lambda must be a positive number or inf, not {text!r}"
        ) from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--lambda must be a positive number or inf, not {text!r}")
    return v


def _lam_json(lam: float) -> float | str:
    return "inf" if math.isinf(lam) else lam


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    """``scalinglaws fit cmr`` and ``scalinglaws plan mixture``."""
    _add_fit_cmr(fit_sub)
    _add_plan_mixture(plan_sub)


def _add_fit_cmr(fit_sub: Any) -> None:
    from scalinglaws.mixture.pipeline import (
        DEFAULT_EPSILON,
        DEFAULT_GRID_DRAWS,
        DEFAULT_LAMBDA,
        DEFAULT_SAMPLES,
    )
    from scalinglaws.mixture.posterior import DEFAULT_SAMPLES_PER_CHAIN

    p = fit_sub.add_parser(
        "cmr",
        help="critical mixture ratio for continual pre-training (Gu et al. 2024)",
        description="Fit the critical-mixture-ratio pipeline to continual-pre-training "
        "curves (rows model, ratio, tokens, split, loss; baselines at tokens = 0).",
    )
    p.add_argument("curves", metavar="CURVES", help="run log (CSV, Parquet, JSON Lines)")
    p.add_argument(
        "--lambda",
        dest="lam",
        type=_lam,
        default=DEFAULT_LAMBDA,
        help=f"Lagrange multiplier, or inf (default {DEFAULT_LAMBDA:g})",
    )
    p.add_argument(
        "--epsilon",
        type=float,
        default=DEFAULT_EPSILON,
        help=f"allowed general-loss rise (default {DEFAULT_EPSILON:g})",
    )
    p.add_argument("--uncertainty", choices=("none", "bootstrap", "bayes"), default="bootstrap")
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        help=f"bootstrap draws (default {DEFAULT_SAMPLES}); for bayes, draws per curve of the "
        f"grid posterior (default {DEFAULT_GRID_DRAWS}) or NUTS draws per chain (default "
        f"{DEFAULT_SAMPLES_PER_CHAIN})",
    )
    _add_sampler_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--token-unit",
        type=float,
        default=1e9,
        help="raw tokens per unit of T in the coefficients (2e8 = the paper's)",
    )
    p.add_argument(
        "--tokens-in-unit",
        type=float,
        default=1.0,
        help="raw tokens per unit of the log's tokens column (default raw)",
    )
    p.add_argument(
        "--column",
        action="append",
        metavar="ROLE=COLUMN",
        help="take a column for a role (model, ratio, tokens, split, loss), e.g. --column "
        "loss=eval/loss; repeat for several",
    )
    p.add_argument(
        "--where",
        metavar="EXPR",
        default=None,
        help="keep only the rows this filter selects, e.g. \"model != '3.1B'\" (parsed, "
        "never evaluated)",
    )
    p.add_argument("--out", metavar="FIT.json", help="write the fit record here")
    p.add_argument(
        "--record",
        metavar="DATASET",
        default=None,
        help="append the record to the registry as FITS_DIR/cmr/DATASET/v<N>.json "
        "(what `scalinglaws check` refits)",
    )
    p.add_argument("--fits-dir", default="fits", help="registry root for --record (default fits/)")
    p.add_argument("--bump", action="store_true", help="with --record: write the next version")
    common.add_common(p)
    p.set_defaults(func=_fit_cmr)


def _add_sampler_options(p: Any) -> None:
    """``--sampler``, ``--chains``, ``--warmup``: the posterior of ``--uncertainty bayes``."""
    from scalinglaws.mixture.pipeline import SAMPLERS
    from scalinglaws.mixture.posterior import DEFAULT_CHAINS, DEFAULT_WARMUP

    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="grid",
        help="bayes: the exact grid posterior of each curve (default) or NUTS (the "
        "general-loss posteriors are multimodal and mostly do not mix)",
    )
    p.add_argument(
        "--chains", type=int, default=DEFAULT_CHAINS, help="bayes: NUTS chains per curve"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"bayes: NUTS warm-up iterations per chain (default {DEFAULT_WARMUP})",
    )


def _add_plan_mixture(plan_sub: Any) -> None:
    q = plan_sub.add_parser(
        "mixture",
        help="recommended domain share per model size and token budget",
        description="Plan continual-pre-training mixtures from a CMR fit record.",
    )
    q.add_argument("record", metavar="FIT.json")
    q.add_argument(
        "--tokens",
        type=float,
        nargs="+",
        required=True,
        help="continual-training token budgets (raw tokens)",
    )
    q.add_argument(
        "--lambda",
        dest="lam",
        type=_lam,
        default=None,
        help="Lagrange multiplier or inf (default: the record's)",
    )
    q.add_argument("--epsilon", type=float, default=None, help="default: the record's")
    q.add_argument(
        "--share",
        type=float,
        default=None,
        help="also report the budget at which this domain share becomes critical",
    )
    q.add_argument("--model", nargs="+", default=None, help="only these models")
    common.add_common(q)
    q.set_defaults(func=_plan_mixture)


def record_command(args) -> int:
    """``scalinglaws record cmr RUNS --dataset NAME [--fits-dir D] [--bump]``.

    A handler for the ``record`` command's arguments (``runs``, ``dataset``,
    ``fits_dir``, ``bump``): fits the CMR pipeline with its defaults (bootstrap) and
    appends the record to ``FITS_DIR/cmr/NAME/v<N>.json``.
    """
    from scalinglaws.mixture.record import record_cmr

    common.progress(args, "fitting CMR pipeline with bootstrap draws ...")
    target = record_cmr(args.runs, args.dataset, fits_dir=args.fits_dir, bump=args.bump)
    common.emit(
        args,
        {"rows": [{"record": str(target)}], "summary": {}, "warnings": []},
        f"wrote {target}",
    )
    return 0


def _selected_curves(args) -> Any:
    """The curves path, or with ``--column``/``--where`` the selected, renamed table
    (:func:`scalinglaws.mixture.runs.select_curves`; records keep the selection)."""
    from scalinglaws.mixture.runs import CPT_ALIASES, select_curves

    renames = common.column_overrides(args.column, tuple(CPT_ALIASES))
    curves, notes = select_curves(args.curves, renames, args.where)
    for note in notes:
        common.progress(args, f"note: {note}")
    return curves


def _selection(args) -> dict[str, Any]:
    """The row selection a record keeps (empty without ``--column``/``--where``)."""
    from scalinglaws.mixture.runs import CPT_ALIASES

    out: dict[str, Any] = {}
    renames = common.column_overrides(args.column, tuple(CPT_ALIASES))
    if renames:
        out["columns"] = renames
    if args.where is not None:
        out["where"] = args.where
    return out


def _fit_cmr(args) -> int:
    from scalinglaws.mixture.pipeline import fit_cmr
    from scalinglaws.mixture.record import cmr_fit_to_dict, registry_target, save_cmr_fit

    target = None
    if args.bump and not args.record:
        raise ScalingLawsError("--bump needs --record DATASET (it picks the next version)")
    common.check_output(args.out, inputs=args.curves)
    if args.record:  # refuse an existing version before the (slow) fit
        target = registry_target(args.fits_dir, args.record, bump=args.bump)

    if args.uncertainty == "bootstrap":
        common.progress(args, "fitting CMR pipeline with bootstrap draws ...")
    elif args.uncertainty == "bayes" and args.sampler == "grid":
        common.progress(args, "fitting CMR pipeline with exact grid posteriors per curve ...")
    elif args.uncertainty == "bayes":
        common.progress(
            args,
            f"fitting CMR pipeline with NUTS posteriors per curve ({args.chains} chains, "
            f"{args.warmup} warm-up) ...",
        )
    bayes = {}
    if args.uncertainty == "bayes":
        bayes = {"sampler": args.sampler}
        if args.sampler == "nuts":
            bayes.update(chains=args.chains, warmup=args.warmup)
    curves = _selected_curves(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        fit = fit_cmr(
            curves,
            lam=args.lam,
            epsilon=args.epsilon,
            uncertainty=args.uncertainty,
            samples=args.samples,
            seed=args.seed,
            token_unit=args.token_unit,
            token_unit_in=args.tokens_in_unit,
            **bayes,
        )
    if target is not None:
        from scalinglaws.io.records import write_record

        rel = os.path.relpath(Path(args.curves).resolve(), target.parent.resolve())
        rec = cmr_fit_to_dict(
            fit,
            data_path=args.curves,
            data_path_as=rel,
            dataset=args.record,
            selection=_selection(args),
        )
        # Claimed when written: a concurrent writer never overwrites another's version.
        target = write_record(rec, target, claim="next" if args.bump else "exact")
        common.progress(args, f"wrote {target}")
    if args.out:
        rec = save_cmr_fit(fit, args.out, data_path=args.curves, selection=_selection(args))
        common.progress(args, f"wrote {args.out}")
    elif target is None:
        rec = cmr_fit_to_dict(fit, data_path=args.curves, selection=_selection(args))
    statuses = sorted(set(fit.cmr["status"]))
    status = "converged" if statuses == ["converged"] else ",".join(statuses)
    obj = {
        "law": "cmr",
        "params": rec["params"],
        "objective": {m: o for m, o in zip(fit.cmr["model"], fit.cmr["objective"], strict=True)},
        "status": status,
        "diagnostics": {
            "token_unit": fit.token_unit,
            "lambda": _lam_json(fit.lam),
            "epsilon": fit.epsilon,
            "turning_points": rec["parts"]["critical"],
            "cmr_law": rec["parts"]["cmr"],
            "curve_status": {
                f"{r['model']}|{r['ratio']:g}|{r['split']}": r["status"]
                for _, r in fit.curves.iterrows()
            },
            **(
                {"posterior": fit.uncertainty.get("diagnostics", {})}
                if fit.uncertainty.get("method") == "bayes"
                else {}
            ),
        },
        "uncertainty": {k: v for k, v in rec["uncertainty"].items() if k != "draws"},
        "warnings": list(fit.warnings),
    }
    common.emit(args, obj, fit.report())
    return 0


def _plan_mixture(args) -> int:
    from scalinglaws.io.records import PIPELINE, describe_record, read_record, record_name
    from scalinglaws.mixture.record import PIPELINE as CMR
    from scalinglaws.mixture.record import cmr_fit_from_record
    from scalinglaws.planning.mixture import plan_mixture

    if args.epsilon is not None and not (args.epsilon >= 0 and math.isfinite(args.epsilon)):
        raise FitError(f"--epsilon must be a non-negative number, not {args.epsilon!r}")
    record = read_record(args.record)
    if record["kind"] != PIPELINE or record_name(record) != CMR:
        raise RecordError(
            f"{args.record} is {describe_record(record)}; plan mixture needs a pipeline "
            f"record ({CMR}) (a law record plans with plan compute or plan sparsity)"
        )
    fit = cmr_fit_from_record(record, where=args.record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        plan = plan_mixture(
            fit,
            args.tokens,
            lam=args.lam,
            epsilon=args.epsilon,
            share=args.share,
            models=args.model,
        )
    rows = plan.to_dict(orient="records")
    summary = dict(plan.attrs["summary"])
    # JSON has no infinity: lambda = inf is written as the string "inf".
    summary["lambda"] = _lam_json(summary["lambda"])
    obj = {"rows": rows, "summary": summary, "warnings": plan.attrs["warnings"]}
    lam = plan.attrs["summary"]["lambda"]
    lines = [
        f"mixture plan (CMR law, lambda={'inf' if math.isinf(lam) else f'{lam:g}'}, "
        f"epsilon={plan.attrs['summary']['epsilon']:g})",
        f"  {'model':<8} {'tokens':>10} {'cmr':>7} {'q05':>7} {'q95':>7} {'interp':>7} "
        f"{'L_gen':>7} {'L_dom':>7}  notes",
    ]
    for r in rows:
        lines.append(
            f"  {r['model']:<8} {r['tokens']:>10.4g} {r['cmr']:>7.3f} {r['cmr_q05']:>7.3f} "
            f"{r['cmr_q95']:>7.3f} {r['cmr_interp']:>7.3f} {r['loss_general']:>7.4f} "
            f"{r['loss_domain']:>7.4f}  {r['notes']}"
        )
        if "tokens_critical" in r:
            lines.append(
                f"  {'':<8} share {r['share']:g} becomes critical at {r['tokens_critical']:.4g} "
                f"tokens ({r['tokens_critical_q05']:.4g} .. {r['tokens_critical_q95']:.4g})"
            )
    if plan.attrs["summary"].get("interval_calibration"):
        lines.append(f"  intervals: {plan.attrs['summary']['interval_calibration']}")
    if plan.attrs["warnings"]:
        lines.append("  warnings:")
        lines.extend(f"  - {m}" for m in plan.attrs["warnings"])
    common.emit(args, obj, "\n".join(lines))
    return 0
