"""``scalinglaws design``: which runs to train next, from a fitted law's draws (or, for a
data-mixture record, which proxy mixtures: :func:`scalinglaws.cli.datamix.design_command`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scalinglaws.cli import common
from scalinglaws.errors import PlanError, ScalingLawsError

QUANTITY_CHOICES = (
    "log_n_opt",
    "tokens_per_param",
    "loss",
    "compute_for_loss",
    "frontier_exponent",
)


def _load_runs(args: argparse.Namespace, result: Any) -> Any:
    """The record's runs: ``--runs``, else the record's data file when it is present.

    Read with the run-log options given here (``--checkpoints``, ``--column``, ...), else
    with those the record was fitted with, so the rows are the fit's own.
    """
    import scalinglaws as sl
    from scalinglaws.io.registry import resolve_data_path

    data = (result.options.get("record") or {}).get("data") or {}
    load_options = common.run_load_options(args) or dict(data.get("load_options") or {})
    if args.runs:
        runs = sl.load_runs(args.runs, **load_options)
        common.loader_messages(args, list(runs.attrs.get("notes", ())))
        return runs
    if common.run_load_options(args):
        raise ScalingLawsError(
            "run-log options (--checkpoints, --where, --column, ...) apply to --runs; give "
            "the run log with --runs"
        )
    path = data.get("path")
    if not path:
        return None
    resolved = resolve_data_path(Path(args.fit), path)
    if not resolved.exists():
        return None
    try:
        return sl.load_runs(resolved, **load_options)
    except (ScalingLawsError, TypeError):
        return None


def _design(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    import scalinglaws as sl
    from scalinglaws.cli import datamix
    from scalinglaws.cli.core import load_law_record
    from scalinglaws.design import design_runs
    from scalinglaws.io.records import read_record, record_name

    record = read_record(args.fit)
    if record["kind"] == "pipeline" and record_name(record) == "datamix":
        return datamix.design_command(args, record)  # the next proxy mixtures
    datamix.refuse_datamix_options(args)
    if args.study_budget is None:
        raise ScalingLawsError("design needs --study-budget C (FLOPs for the new runs)")
    result = load_law_record(
        args.fit, "design", "a law record with uncertainty draws", "a law record"
    )
    if result.uncertainty.n_draws == 0:
        raise PlanError(
            f"{args.fit} carries no uncertainty draws; refit with --uncertainty laplace, "
            "bootstrap or bayes (and keep the draws in the record)"
        )
    runs = _load_runs(args, result)
    if runs is not None:
        # The residuals at the record's parameters, for the misfit check.
        with np.errstate(all="ignore"):
            pred = result.predict(runs)
        resid = np.log(pred) - np.log(runs[result.law.target].to_numpy(dtype=float))
        result = dataclasses.replace(result, data=runs, residuals=resid)
    if args.quantity == "compute_for_loss":
        if args.target_loss is None:
            raise ScalingLawsError("--quantity compute_for_loss needs --target-loss L")
        target: Any = args.target_loss
    elif args.quantity == "frontier_exponent":
        target = None
    else:
        if args.target_compute is None:
            raise ScalingLawsError(f"--quantity {args.quantity} needs --target-compute C")
        target = args.target_compute
    candidates = sl.load_runs(args.candidates, min_runs=1) if args.candidates else None
    if candidates is not None:
        candidates = candidates[[c for c in (*result.law.inputs, "C") if c in candidates]]
    common.progress(args, f"ranking candidate runs for {args.quantity} ({args.method} update)")
    df = design_runs(
        result,
        target=target,
        study_budget=args.study_budget,
        k=args.n,
        candidates=candidates,
        quantity=args.quantity,
        max_params=args.max_params,
        max_tokens=args.max_tokens,
        method=args.method,
        selection=args.selection,
        seed=args.seed,
        isoflop=args.isoflop,
        isoflop_budgets=args.isoflop_budgets,
        sizes_per_budget=args.sizes_per_budget,
    )
    attrs = df.attrs
    summary = {
        k: attrs[k]
        for k in (
            "quantity",
            "quantity_description",
            "target",
            "level",
            "width_now",
            "method",
            "how",
            "source",
            "noise",
            "noise_source",
            "misfit",
            "rule",
            "stopped",
            "n_candidates",
            "n_draws",
            "study_budget",
            "seed",
        )
    }
    summary["runs_known"] = None if runs is None else int(len(runs))
    if "isoflop" in attrs:
        summary["isoflop"] = attrs["isoflop"]
    cols = [c for c in df.columns if c != "step"]
    factor = (
        f", a factor of {float(np.exp(attrs['width_now'])):.3g}" if "expected_factor" in df else ""
    )
    lines = [
        f"Proposed runs for {attrs['quantity_description']}",
        f"  today's {attrs['level']:.0%} interval width: {attrs['width_now']:.4g} "
        f"(on q's scale{factor})",
        "  step  " + "  ".join(f"{c:>14}" for c in cols),
    ]
    for _, row in df.iterrows():
        lines.append(f"  {int(row['step']):>4}  " + "  ".join(f"{row[c]:>14.4g}" for c in cols))
    lines.append(f"  ({attrs['how']}; noise sd {attrs['noise']:.3g} from {attrs['noise_source']})")
    if "isoflop" in attrs:
        iso = attrs["isoflop"]
        chosen = ", ".join(f"{c:.3g}" for c in iso["budgets_chosen"])
        lines.append(
            f"  (isoFLOP slices: budgets {chosen} FLOPs chosen from "
            f"{len(iso['budgets_considered'])}, up to {iso['sizes_per_budget']} sizes each)"
        )
    lines += [f"warning: {w}" for w in attrs["warnings"]]
    payload = {
        "rows": df.to_dict(orient="records"),
        "summary": summary,
        "warnings": list(attrs["warnings"]),
    }
    common.emit(args, payload, "\n".join(lines))
    return 0


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    p = sub.add_parser(
        "design", help="which runs to train next so a plan's interval shrinks the most"
    )
    p.add_argument(
        "fit",
        help="fitted law record (JSON) carrying uncertainty draws, or a data-mixture record "
        "(then: the next proxy mixtures)",
    )
    p.add_argument("--target-compute", type=float, metavar="C", help="target compute (FLOPs)")
    p.add_argument("--target-loss", type=float, metavar="L", help="target loss (compute_for_loss)")
    p.add_argument(
        "--study-budget",
        type=float,
        default=None,
        metavar="C",
        help="FLOPs for the new runs (required for a law record)",
    )
    p.add_argument("--n", type=int, default=8, help="largest number of runs to propose")
    p.add_argument("--max-params", type=float, help="largest model size the team can train")
    p.add_argument("--max-tokens", type=float, help="token supply (largest D of one run)")
    p.add_argument("--quantity", default="log_n_opt", choices=QUANTITY_CHOICES)
    p.add_argument(
        "--method",
        default="linear",
        choices=("linear", "importance"),
        help="how the expected interval is computed (default: linear-Gaussian update)",
    )
    p.add_argument(
        "--selection",
        default="per_flop",
        choices=("per_flop", "absolute", "auto"),
        help="greedy rule: value per share of FLOPs/run slots used (default), value, or the "
        "better of the two by expected final variance",
    )
    p.add_argument("--candidates", help="run log of candidate runs (N, D[, C]); default a grid")
    p.add_argument(
        "--runs",
        help="the fitted runs, for the misfit check (default: the record's data file if "
        "present); read with the options below, else with the record's own",
    )
    common.add_run_options(p)
    p.add_argument(
        "--isoflop",
        action="store_true",
        help="propose isoFLOP slices: choose budgets, then sizes within each (ignores "
        "--candidates)",
    )
    p.add_argument(
        "--isoflop-budgets",
        type=float,
        nargs="+",
        metavar="C",
        help="candidate budgets for --isoflop (default: ten over three decades)",
    )
    p.add_argument(
        "--sizes-per-budget",
        type=int,
        default=5,
        metavar="K",
        help="runs per isoFLOP slice with --isoflop (default 5)",
    )
    p.add_argument("--seed", type=int, default=0)
    from scalinglaws.cli.datamix import add_design_options

    add_design_options(p)  # dispatch on the record: a datamix record proposes mixtures
    common.add_common(p)
    p.set_defaults(func=_design)
