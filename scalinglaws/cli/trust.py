"""Command-line subcommands for backtests and the three approaches.

``register(sub, fit_sub, plan_sub)`` adds two top-level commands:

* ``scalinglaws backtest RUNS --law chinchilla (--holdout-above-compute C |
  --holdout-above-params N | --holdout-query EXPR | --leave-one-budget-out)
  [--uncertainty {none,laplace,bootstrap,bayes}] [--level 0.9] [--plot PARITY.png]
  [--calibrate {none,conformal} [--calibration-fraction F | --calibration-cutoff C]]``
* ``scalinglaws approaches RUNS --budgets C [C ...] [--method parabola|local|akima]
  [--weighting capped|inverse-variance|unweighted]``

Both print ``{rows, summary, warnings}`` with ``--json`` (DESIGN §8).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from scalinglaws.approaches.backtest import (
    CALIBRATE,
    UNCERTAINTY,
    backtest,
    leave_one_budget_out,
)
from scalinglaws.approaches.compare import compare_approaches
from scalinglaws.approaches.isoflop import DEFAULT_WEIGHTING, METHODS, WEIGHTINGS
from scalinglaws.cli import common
from scalinglaws.errors import ScalingLawsError, ScalingLawsWarning


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def register(sub: Any, fit_sub: Any = None, plan_sub: Any = None) -> None:
    """Add ``backtest`` and ``approaches`` to the top-level subcommands."""
    p = sub.add_parser(
        "backtest",
        help="fit below a cutoff, predict the held-out runs, report errors and coverage",
        description="Would the law have predicted the runs it never saw? Fits on the runs "
        "below the cutoff and scores predictive intervals on the rest.",
    )
    p.add_argument("runs", help="run log (CSV, Parquet, JSON Lines)")
    p.add_argument("--law", default="chinchilla", help="registered law name (default chinchilla)")
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument(
        "--holdout-above-compute", type=_positive, metavar="C", help="hold out runs with C > C"
    )
    rule.add_argument(
        "--holdout-above-params", type=_positive, metavar="N", help="hold out runs with N > N"
    )
    rule.add_argument(
        "--holdout-query",
        metavar="EXPR",
        help="hold out the runs this filter selects, e.g. 'C >= 1e21 and N > 1e9' or "
        "\"model == 'OPT-175b'\" (parsed, never evaluated)",
    )
    rule.add_argument(
        "--leave-one-budget-out",
        action="store_true",
        help="hold out each isoFLOP budget (the runs with exactly equal C) in turn, fit on "
        "the other runs and report errors and coverage per budget; needs 2 or more budgets",
    )
    common.add_run_options(p)
    p.add_argument(
        "--uncertainty",
        choices=UNCERTAINTY,
        default="none",
        help="where the interval's parameter uncertainty comes from: none (residual scatter "
        "only, default), laplace, bootstrap (resampled by run) or bayes",
    )
    common.add_discrepancy_option(p)
    p.add_argument("--level", type=float, default=0.9, help="predictive interval level")
    p.add_argument("--samples", type=int, default=None, help="draws for the uncertainty method")
    p.add_argument("--seed", type=int, default=0, help="seed of the uncertainty draws")
    p.add_argument("--k", type=_positive, default=None, help="FLOPs per parameter per token")
    p.add_argument(
        "--plot",
        metavar="PNG",
        default=None,
        help="write a parity plot (observed against predicted loss of the held-out runs, "
        "with intervals; misses hollow) to this PNG file",
    )
    p.add_argument(
        "--calibrate",
        choices=CALIBRATE,
        default="none",
        help="conformal: widen the intervals by split-conformal calibration on the "
        "largest-compute training runs (never the held-out ones)",
    )
    p.add_argument(
        "--calibration-fraction",
        type=float,
        default=None,
        metavar="F",
        help="share of training runs, largest compute first, used to calibrate (default 0.2)",
    )
    p.add_argument(
        "--calibration-cutoff",
        type=_positive,
        default=None,
        metavar="C",
        help="calibrate on the training runs above this compute instead",
    )
    common.add_common(p)
    p.set_defaults(func=_backtest)

    q = sub.add_parser(
        "approaches",
        help="compute-optimal N and D by Approaches 1, 2 and 3, side by side",
        description="Hoffmann et al.'s three approaches on one run log: exponents a, b "
        "with intervals and N_opt, D_opt at the given budgets.",
    )
    q.add_argument("runs", help="run log (checkpoints enable Approach 1)")
    q.add_argument(
        "--budgets",
        type=_positive,
        nargs="+",
        required=True,
        metavar="C",
        help="compute budgets in FLOPs at which to give N_opt and D_opt",
    )
    common.add_run_options(q)
    q.add_argument("--approach", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3])
    q.add_argument("--method", choices=METHODS, default="parabola", help="Approach 2 minimiser")
    q.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default=DEFAULT_WEIGHTING,
        help="Approach 2: weights of the isoFLOP slices in the power-law fit: 1/sd^2 clipped "
        "to within 4x of the median slice (capped), 1/sd^2, or equal "
        f"(default {DEFAULT_WEIGHTING})",
    )
    q.add_argument("--loss-noise", type=_positive, default=None, help="seed sd of a loss (akima)")
    q.add_argument("--budget-rtol", type=float, default=0.0, help="isoFLOP budget tolerance")
    q.add_argument("--level", type=float, default=0.95)
    q.add_argument("--k", type=_positive, default=None, help="FLOPs per parameter per token")
    common.add_common(q)
    q.set_defaults(func=_approaches)


def _write_png(path: str, fig: Any) -> None:
    """Save a figure atomically (temporary file renamed into place)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _backtest(args: Any) -> int:
    _check_backtest_args(args)
    common.check_output(args.plot, inputs=args.runs, option="--plot")
    common.check_samples(args.samples)
    common.progress(
        args,
        f"backtest: fitting {args.law} "
        + ("(no uncertainty)" if args.uncertainty == "none" else f"({args.uncertainty})"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        opts = {
            "law": args.law,
            "uncertainty": args.uncertainty,
            "level": args.level,
            "samples": args.samples,
            "seed": args.seed,
            "k": args.k,
            "load_options": common.run_load_options(args),
        }
        if args.discrepancy != "none":
            opts["fit_options"] = {"discrepancy": args.discrepancy}
        if args.leave_one_budget_out:
            res = leave_one_budget_out(args.runs, **opts)
        else:
            if args.calibrate != "none":
                common.progress(args, "backtest: conformal calibration on the training runs")
                opts.update(
                    calibrate=args.calibrate,
                    calibration_fraction=args.calibration_fraction,
                    calibration_cutoff=args.calibration_cutoff,
                )
            res = backtest(
                args.runs,
                holdout_above_compute=args.holdout_above_compute,
                holdout_above_params=args.holdout_above_params,
                holdout_query=args.holdout_query,
                **opts,
            )
    if args.plot:
        # matplotlib is imported on first use: most backtests draw no plot.
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = res.plot_parity()
        _write_png(args.plot, ax.figure)
        plt.close(ax.figure)
        common.progress(args, f"backtest: parity plot written to {args.plot}")
    common.emit(args, res.to_dict(), _backtest_text(res))
    return 0


def _check_backtest_args(args: Any) -> None:
    """Refuse option combinations the backtest cannot honour (exit 2, one line)."""
    calibrating = args.calibrate != "none"
    common.check_discrepancy(args)
    if not calibrating and (
        args.calibration_fraction is not None or args.calibration_cutoff is not None
    ):
        raise ScalingLawsError(
            "--calibration-fraction / --calibration-cutoff need --calibrate conformal"
        )
    if calibrating and args.leave_one_budget_out:
        raise ScalingLawsError(
            "--calibrate conformal needs a hold-out cutoff (--holdout-above-compute, "
            "--holdout-above-params or --holdout-query), not --leave-one-budget-out"
        )


def _backtest_text(res: Any) -> str:
    """The human summary of a backtest: coverage, errors, the held-out rows, warnings."""
    s = res.summary
    lo, hi = s["interval_columns"]
    lines = [
        f"backtest of {s['law']} ({s['holdout']}): {s['n_holdout']} held-out runs",
        f"  coverage of {s['level']:.0%} predictive intervals: {s['coverage']:.1%}",
    ]
    if "calibration" in s:
        c = s["calibration"]
        lines += [
            f"  without calibration: {s['coverage_uncalibrated']:.1%}; conformal factor "
            f"{c['factor']:.3g} from {c['n_calibration']} training runs at C >= "
            f"{c['calibration_cutoff']:.3g} (raw quantile {c['quantile']:.3g})",
            f"  median log interval width {s['interval_width_log']:.4f} (uncalibrated "
            f"{s['interval_width_log_uncalibrated']:.4f})",
        ]
    columns = ("budget", "N", "D", "C", "observed", "predicted", lo, hi, "rel_error")
    lines += [
        f"  median |relative error| {s['median_abs_rel_error']:.2%}, max "
        f"{s['max_abs_rel_error']:.2%}, bias {s['bias']:+.2%}",
        "",
        res.rows[[c for c in columns if c in res.rows.columns]].to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        ),
    ]
    lines += [f"warning: {w}" for w in res.warnings]
    return "\n".join(lines)


def _approaches(args: Any) -> int:
    if args.method == "akima" and args.loss_noise is None:
        raise ScalingLawsError("--method akima needs --loss-noise (the seed sd of a loss)")
    a2: dict[str, Any] = {
        "method": args.method,
        "budget_rtol": args.budget_rtol,
        "weighting": args.weighting,
    }
    if args.loss_noise is not None:
        a2.update({"bootstrap": "noise", "loss_noise": args.loss_noise})
    common.progress(args, f"approaches: running {', '.join(map(str, args.approach))}")
    table = compare_approaches(
        args.runs,
        args.budgets,
        approaches=tuple(args.approach),
        approach2_options=a2,
        level=args.level,
        k=args.k,
        load_options=common.run_load_options(args),
    )
    columns = ["a", "a_lo", "a_hi", "b", "b_lo", "b_hi"]
    prefactors = ["G_N", "G_N_lo", "G_N_hi", "G_D", "G_D_lo", "G_D_hi"]
    per = table.groupby("approach", sort=False)[columns + prefactors].first().reset_index()
    summary = {
        "level": args.level,
        "approaches": common.json_safe(per.to_dict(orient="records")),
        "skipped": {str(k): v for k, v in table.attrs["skipped"].items()},
        "load_notes": list(table.attrs.get("notes", [])),
    }
    if 2 in table.attrs["results"]:
        summary["approach2"] = {"weighting": table.attrs["results"][2].options["weighting"]}
    obj = {
        "rows": common.json_safe(table.to_dict(orient="records")),
        "summary": summary,
        "warnings": list(table.attrs["warnings"]),
    }
    text = [
        per[["approach", *columns]].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        "",
        per[["approach", "G_N", "G_D"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        "",
        table[
            ["approach", "C", "N_opt", "N_opt_lo", "N_opt_hi", "D_opt", "tokens_per_param"]
        ].to_string(index=False, float_format=lambda v: f"{v:.4g}"),
    ]
    if "approach2" in summary:
        text += [f"approach 2 weighting: {summary['approach2']['weighting']}"]
    text += [f"skipped approach {k}: {v}" for k, v in table.attrs["skipped"].items()]
    text += [f"note: {n}" for n in table.attrs.get("notes", [])]
    text += [f"warning: {w}" for w in table.attrs["warnings"]]
    common.emit(args, obj, "\n".join(text))
    return 0
