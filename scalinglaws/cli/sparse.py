"""Sparse pre-training subcommands: ``schedule``, ``fit avgparams``, ``plan sparsity``."""

from __future__ import annotations

import argparse
import io
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.cli import common
from scalinglaws.cli.core import add_fit_options, fit_and_report, fit_text
from scalinglaws.errors import RecordError, ScalingLawsError
from scalinglaws.io.records import describe_record, load_fit, read_record
from scalinglaws.laws.avgparams import avgparams
from scalinglaws.sparsity.runs import load_sparse_runs
from scalinglaws.sparsity.schedules import (
    DEFAULT_END_COMPUTE,
    DEFAULT_INTERVAL,
    DEFAULT_START_COMPUTE,
    PruningSchedule,
    compute_fractions,
    schedule_from_compute,
    summarize,
)

_SPARSE_COLUMNS = (
    "N", "D", "C", "loss", "run", "step", "N_avg", "sparsity", "start_step", "end_step",
    "start_compute", "end_compute", "interval", "total_steps", "tokens_per_step", "schedule",
    "counts_log", "dense_remainder",
)  # fmt: skip


def _overrides(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        canon, sep, col = item.partition("=")
        if not sep or canon not in _SPARSE_COLUMNS:
            raise ScalingLawsError(
                f"--column {item!r}: use CANONICAL=COLUMN with CANONICAL one of "
                f"{', '.join(_SPARSE_COLUMNS)}"
            )
        out[canon] = col
    return out


# ------------------------------------------------------------------------ schedule
def _schedule(args: argparse.Namespace) -> int:
    common.check_output(args.csv, option="--csv")
    sched, by_step = _schedule_from_args(args)
    if args.tokens_per_step is not None and not args.tokens_per_step > 0:
        raise ScalingLawsError(f"--tokens-per-step must be > 0, not {args.tokens_per_step}")
    if args.dense_params is not None and not args.dense_params > 0:
        raise ScalingLawsError(f"--dense-params must be > 0, not {args.dense_params}")
    info = summarize(
        sched,
        tokens_per_step=args.tokens_per_step,
        dense_params=args.dense_params,
        dense_remainder=args.dense_remainder,
    )
    if args.csv:
        _write_density_csv(args, sched)
        info["csv"] = str(args.csv)
    warn = []
    if by_step:
        fs, fe = compute_fractions(sched, args.tokens_per_step)
        if not (0.1 <= fs and fe <= 0.9):
            warn.append(
                f"pruning spans {fs:.0%} to {fe:.0%} of compute; Jin et al. 2025 recommend "
                "starting at 25% and ending at 75%"
            )
    info["warnings"] = warn
    common.emit(args, info, _schedule_text(sched, info, warn))
    return 0


def _schedule_from_args(args: argparse.Namespace) -> tuple[PruningSchedule, bool]:
    """The schedule asked for, and whether it was given by steps (not compute fractions)."""
    by_step = args.start_step is not None or args.end_step is not None
    by_compute = args.start_compute is not None or args.end_compute is not None
    if by_step and by_compute:
        raise ScalingLawsError(
            "give --start-step/--end-step or --start-compute/--end-compute, not both"
        )
    if by_step:
        if args.start_step is None or args.end_step is None:
            raise ScalingLawsError("--start-step and --end-step go together")
        sched = PruningSchedule(
            args.kind, args.sparsity, args.start_step, args.end_step, args.every, args.total_steps
        )
        return sched, True
    sched = schedule_from_compute(
        args.sparsity,
        args.total_steps,
        start_compute=DEFAULT_START_COMPUTE if args.start_compute is None else args.start_compute,
        end_compute=DEFAULT_END_COMPUTE if args.end_compute is None else args.end_compute,
        interval=args.every,
        kind=args.kind,
    )
    return sched, False


def _write_density_csv(args: argparse.Namespace, sched: PruningSchedule) -> None:
    """Per-step density, compute fraction before each step and (with N0) non-zero count."""
    density = sched.density()
    b = np.full(sched.total_steps, args.tokens_per_step or 1.0)
    spent = np.concatenate([[0.0], np.cumsum(density * b)])
    table = pd.DataFrame(
        {
            "step": np.arange(sched.total_steps),
            "density": density,
            "compute_fraction_before": spent[:-1] / spent[-1],
        }
    )
    if args.dense_params is not None:
        table["nonzero_params"] = density * args.dense_params + args.dense_remainder
    buf = io.StringIO()
    table.to_csv(buf, index=False, float_format="%.10g")
    common.atomic_write(args.csv, buf.getvalue())
    common.progress(args, f"wrote per-step density to {args.csv}")


def _schedule_text(sched: PruningSchedule, info: dict[str, Any], warn: list[str]) -> str:
    lines = [
        f"{sched.kind} pruning to sparsity {sched.sparsity:g} over {sched.total_steps} steps",
        f"  events: {sched.events} every {sched.interval} steps, steps {sched.start_step} to "
        f"{sched.end_step}",
        f"  prune fraction per event: {info['prune_fraction_per_event']:.6g}",
        f"  compute fractions: start {info['compute_fraction_start']:.4f}, end "
        f"{info['compute_fraction_end']:.4f}",
        f"  average density: {info['average_density']:.6f}   final density: "
        f"{info['final_density']:.6f}",
    ]
    if "N_avg" in info:
        lines.append(
            f"  average parameters N_avg: {info['N_avg']:.6g}   final non-zero: {info['N_final']:.6g}"
        )
    if "C" in info:
        lines.append(f"  tokens D: {info['D']:.6g}   training FLOPs C = 6 N_avg D: {info['C']:.6g}")
    lines += [f"warning: {w}" for w in warn]
    return "\n".join(lines)


# ------------------------------------------------------------------------ fit avgparams
def _fit_avgparams(args: argparse.Namespace) -> int:
    # Keyword arguments of load_sparse_runs, recorded so a drift check can refit.
    options = {
        "k": args.k,
        "columns": _overrides(args.column),
        "interval": args.every,
        "dense_remainder": args.dense_remainder,
        **common.run_load_options(args, column=False),
    }

    def describe(runs):
        n_sparse = int((runs["source_kind"] != "dense").sum())
        return f"{len(runs)} runs ({n_sparse} sparse)"

    result, payload = fit_and_report(args, avgparams(), load_sparse_runs, options, describe)
    payload["diagnostics"]["n_sparse_runs"] = int((result.data["source_kind"] != "dense").sum())
    common.emit(args, payload, fit_text(result, payload))
    return 0


# ------------------------------------------------------------------------ plan sparsity
def _load_result(path: str) -> Any:
    record = read_record(path)
    if record["kind"] != "law":
        raise RecordError(
            f"{path} is {describe_record(record)}; plan sparsity needs a law record "
            "(avgparams or chinchilla)"
        )
    name = record["law"]["name"]
    # The law is passed explicitly so records load whether or not it is registered.
    return load_fit(path, law=avgparams() if name == "avgparams" else None)


def _plan_sparsity(args: argparse.Namespace) -> int:
    from scalinglaws.planning.sparsity import DEFAULT_SPARSITIES, plan_sparsity

    result = _load_result(args.fit)
    if args.budget is None and args.target_loss is None:
        raise ScalingLawsError("give --budget C, --target-loss L, or both")
    if args.target_size is not None and args.sparsity:
        raise ScalingLawsError("give --sparsity or --target-size, not both")
    plan = plan_sparsity(
        result,
        args.budget,
        args.sparsity or DEFAULT_SPARSITIES,
        target_size=args.target_size,
        target_loss=args.target_loss,
        total_steps=args.total_steps,
        tokens_per_step=args.tokens_per_step,
        interval=args.every,
        kind=args.kind,
        start_compute=args.start_compute,
        end_compute=args.end_compute,
    )
    summary = dict(plan.attrs["summary"])
    warn = list(plan.attrs["warnings"])
    cols = [
        "sparsity", "N0", "N_final", "start_step", "end_step", "prune_fraction_per_event",
        "average_density", "loss", "loss_q05", "loss_q95", "inference_flops_saved",
    ]  # fmt: skip
    cols = [c for c in cols if c in plan.columns]
    head = (
        f"Sparsity plan ({summary['how']}): C = {summary['C']:.4g} FLOPs, N_avg = "
        f"{summary['N_avg']:.4g}, D = {summary['D']:.4g} tokens, {summary['total_steps']} steps, "
        f"predicted loss {summary['loss']:.4f}"
    )
    short = {
        "prune_fraction_per_event": "prune/event",
        "average_density": "avg density",
        "inference_flops_saved": "infer saved",
    }
    body = "  ".join(f"{short.get(c, c):>12}" for c in cols)
    for _, row in plan.iterrows():
        body += "\n" + "  ".join(f"{row[c]:>12.5g}" for c in cols)
    text = head + "\n" + body + "".join(f"\nwarning: {w}" for w in warn)
    payload = {"rows": plan.to_dict(orient="records"), "summary": summary, "warnings": warn}
    common.emit(args, payload, text)
    return 0


# ------------------------------------------------------------------------ registration
def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return v


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    """Add ``schedule``, ``fit avgparams`` and ``plan sparsity``."""
    p = sub.add_parser(
        "schedule",
        help="write a pruning schedule for sparse pre-training",
        description="One gradual-pruning schedule: its steps, per-event fraction, average "
        "density and compute fractions (Jin et al. 2025, arXiv 2501.12486). Give the start "
        "and end as steps or as fractions of training compute (default 0.25 and 0.75).",
    )
    p.add_argument("--sparsity", type=float, required=True, help="final sparsity s in [0, 1)")
    p.add_argument("--total-steps", type=int, required=True, help="training steps")
    p.add_argument(
        "--every", type=int, default=DEFAULT_INTERVAL, help="steps between pruning events"
    )
    p.add_argument(
        "--kind",
        choices=("geometric", "cubic"),
        default="geometric",
        help="geometric: every event removes the same fraction of the remaining weights "
        "(Jin et al. 2025's released code, default); cubic: Zhu & Gupta's s_t = s(1 - (1 - "
        "progress)^3)",
    )
    p.add_argument("--start-step", type=int, help="first pruning event (0-indexed step)")
    p.add_argument("--end-step", type=int, help="last pruning event")
    p.add_argument("--start-compute", type=_fraction, help="fraction of compute before pruning")
    p.add_argument(
        "--end-compute", type=_fraction, help="fraction of compute before the last event"
    )
    p.add_argument("--tokens-per-step", type=float, help="tokens per step (for D and C)")
    p.add_argument("--dense-params", type=float, help="dense prunable parameter count N0")
    p.add_argument(
        "--dense-remainder", type=float, default=0.0, help="parameters never pruned (added)"
    )
    p.add_argument(
        "--csv",
        metavar="PATH",
        help="also write a CSV file with one row per training step: step (from 0), density "
        "(fraction of prunable weights non-zero during the step), compute_fraction_before "
        "(share of the training compute spent before the step) and, with --dense-params, "
        "nonzero_params (density x N0 + --dense-remainder)",
    )
    common.add_common(p)
    p.set_defaults(func=_schedule)

    f = fit_sub.add_parser(
        "avgparams",
        help="the average-parameter-count law (dense and sparse runs)",
        description="Fit L(N_avg, D) = E + A/N_avg^alpha + B/D^beta to a log of dense and "
        "sparse runs (Jin et al. 2025, arXiv 2501.12486). Rows give N_avg, or N with schedule "
        "columns, or a counts_log path.",
    )
    f.add_argument("runs", help="run log (CSV, TSV, Parquet, JSON Lines)")
    f.add_argument(
        "--every", type=int, default=DEFAULT_INTERVAL, help="pruning interval when not in the log"
    )
    f.add_argument("--dense-remainder", type=float, default=0.0, help="never-pruned parameters")
    add_fit_options(f)
    f.set_defaults(func=_fit_avgparams)

    q = plan_sub.add_parser(
        "sparsity",
        help="sparse pre-training plans for a budget",
        description="Dense size, schedule, deployed size and predicted loss for each final "
        "sparsity, at the compute-optimal N_avg and D of the fitted law.",
    )
    q.add_argument("fit", help="fit record (JSON) of the avgparams or chinchilla law")
    q.add_argument("--budget", type=float, help="training compute C in FLOPs")
    q.add_argument("--sparsity", type=float, nargs="+", help="final sparsities in [0, 1)")
    q.add_argument("--target-size", type=float, help="deployed non-zero parameters to reach")
    q.add_argument("--target-loss", type=float, help="loss to reach")
    q.add_argument("--total-steps", type=int, help="training steps")
    q.add_argument("--tokens-per-step", type=float, help="tokens per step (default 2^22)")
    q.add_argument(
        "--every", type=int, default=DEFAULT_INTERVAL, help="steps between pruning events"
    )
    q.add_argument(
        "--kind",
        choices=("geometric", "cubic"),
        default="geometric",
        help="pruning schedule: geometric (default) or cubic (Zhu & Gupta)",
    )
    q.add_argument("--start-compute", type=_fraction, default=DEFAULT_START_COMPUTE)
    q.add_argument("--end-compute", type=_fraction, default=DEFAULT_END_COMPUTE)
    common.add_common(q)
    q.set_defaults(func=_plan_sparsity)
