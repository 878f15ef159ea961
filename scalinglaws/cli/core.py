"""Core subcommands: ``fit chinchilla``, ``plan compute``, ``predict``, ``demo``."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scalinglaws.cli import common, demo_truth
from scalinglaws.errors import RecordError, ScalingLawsError, ScalingLawsWarning

UNCERTAINTY_METHODS = ("none", "laplace", "bootstrap", "bayes")
CALIBRATION_METHODS = ("none", "conformal")
#: The demo's bundled run log (simulated from known parameters: data/demo/README.md).
DEFAULT_DATA = demo_truth.DEMO_DATA
DEMO_BUDGETS = (1e21, 1e22, 1e23, 5.76e23, 1e24, 1e25)


def _column_overrides(items: list[str] | None) -> dict[str, str]:
    return common.column_overrides(items)


def fit_payload(result: Any, extra_warnings: list[str] | None = None) -> dict[str, Any]:
    """The fit JSON of DESIGN §8: law, params, objective, status, diagnostics, ..."""
    from scalinglaws.uncertainty.summary import summarize

    unc = result.uncertainty
    se = result.standard_errors()
    return {
        "law": result.law.name,
        "params": dict(result.params),
        "objective": result.objective,
        "status": result.status,
        "diagnostics": {
            "n_runs": result.n_runs,
            "approx_standard_errors": se,
            "at_bounds": result.at_bounds(),
            "starts_converged": int((result.starts["status"] == "converged").sum())
            if "status" in result.starts.columns
            else None,
            "starts": len(result.starts),
            **dict(unc.diagnostics),
        },
        "uncertainty": {
            "method": unc.method,
            "converged": unc.converged,
            "n_draws": unc.n_draws,
            "summary": summarize(unc)["params"],
        },
        "warnings": [*result.flags(), *result.warnings, *(extra_warnings or [])],
    }


def fit_and_report(
    args: argparse.Namespace,
    law: Any,
    load: Any,
    load_options: dict[str, Any],
    describe: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """The shared body of every ``scalinglaws fit LAW`` command.

    Reads the run log with ``load(args.runs, **load_options)``, fits, attaches the
    requested uncertainty and, with ``--calibrate conformal``, a split-conformal
    calibration of its predictive intervals (on the largest-compute runs, with the same
    uncertainty method), writes the record (``--out``, with the load options so a drift
    check can refit), and returns the result with its JSON payload (not yet printed; a
    calibrated fit's payload adds ``calibration``). Bad calibration options fail before
    anything is written.
    """
    import scalinglaws as sl
    from scalinglaws.io.records import save_fit

    calibrating = _calibration_requested(args)
    common.check_discrepancy(args)
    common.check_output(args.out, inputs=args.runs)
    common.progress(args, f"reading {args.runs}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        runs = load(args.runs, **load_options)
        what = describe(runs) if describe else f"{len(runs)} runs"
        common.progress(args, f"fitting {law.name} to {what} (search: {args.search})")
        result = sl.fit(
            law,
            runs,
            search=args.search,
            delta=args.delta,
            uncertainty=args.uncertainty,
            samples=args.samples,
            seed=args.seed,
            discrepancy=args.discrepancy,
            progress=None if args.quiet else (lambda m: common.progress(args, m)),
        )
        if calibrating:
            from scalinglaws.uncertainty.conformal import DEFAULT_CALIBRATION_FRACTION

            common.progress(args, "conformal calibration on the largest-compute runs")
            result = sl.calibrate(
                result,
                calibration_fraction=(
                    DEFAULT_CALIBRATION_FRACTION
                    if args.calibration_fraction is None
                    else args.calibration_fraction
                ),
                calibration_cutoff=args.calibration_cutoff,
                samples=args.samples,
                seed=args.seed,
            )
            common.progress(args, result.calibration.describe())
    caught_msgs = [str(c.message) for c in caught if str(c.message) not in result.warnings]
    # The loader's notes (rows filtered, checkpoints kept) reach the report through the
    # fit's warnings; JSON also lists them on their own.
    notes = list(runs.attrs.get("notes", [])) if hasattr(runs, "attrs") else []
    if args.out:
        save_fit(result, args.out, data_path=args.runs, load_options=load_options)
        common.progress(args, f"wrote {args.out}")
    payload = fit_payload(result, caught_msgs)
    payload["diagnostics"]["load_notes"] = notes
    payload["diagnostics"]["load_options"] = common.json_safe(dict(load_options))
    if result.calibration is not None:
        payload["calibration"] = result.calibration.to_dict()
    return result, payload


def _calibration_requested(args: argparse.Namespace) -> bool:
    """Whether ``--calibrate conformal`` was given; refuses orphan calibration options."""
    calibrating = getattr(args, "calibrate", "none") == "conformal"
    orphans = getattr(args, "calibration_fraction", None) is not None or (
        getattr(args, "calibration_cutoff", None) is not None
    )
    if orphans and not calibrating:
        raise ScalingLawsError(
            "--calibration-fraction / --calibration-cutoff need --calibrate conformal"
        )
    return calibrating


def fit_text(result: Any, payload: dict[str, Any] | None = None) -> str:
    """The fit report, with the calibration line of a calibrated fit.

    With the fit's ``payload``, warnings the report does not already carry (those of the
    run-log loader: perplexities, an unidentifiable design) are appended as
    ``warning:`` lines.
    """
    text = result.report()
    if result.calibration is not None:
        text += f"\n\n  {result.calibration.describe()}"
    if payload is not None:
        extra = [w for w in payload.get("warnings", []) if w not in text]
        text += "".join(f"\nwarning: {w}" for w in extra)
    return text


def _fit_chinchilla(args: argparse.Namespace) -> int:
    import scalinglaws as sl

    options = {
        "k": args.k,
        "columns": _column_overrides(args.column),
        "duplicates": args.duplicates,
        **common.run_load_options(args, column=False),
    }
    result, payload = fit_and_report(args, sl.laws.chinchilla(), sl.load_runs, options)
    common.emit(args, payload, fit_text(result, payload))
    return 0


def _format_table(df: Any, cols: list[str]) -> str:
    cols = [c for c in cols if c in df.columns]
    widths = {c: max(len(c), 12) for c in cols}
    lines = ["  ".join(f"{c:>{widths[c]}}" for c in cols)]
    for _, row in df.iterrows():
        lines.append("  ".join(f"{row[c]:>{widths[c]}.4g}" for c in cols))
    return "\n".join(lines)


def plan_payload(df: Any, summary: dict[str, Any], extra: list[str] | None = None) -> dict:
    rows = df.to_dict(orient="records")
    return {
        "rows": rows,
        "summary": summary,
        "warnings": list(df.attrs.get("warnings", [])) + (extra or []),
    }


def load_law_record(path: str, command: str, need: str, hint: str) -> Any:
    """A law record as a ``FitResult``, or one line naming what the record is instead.

    Args:
        path: The record.
        command: The command, for the message (``"plan compute"``).
        need: What the command needs (``"a law record with a compute-optimal frontier"``).
        hint: The command a pipeline record needs instead (``"plan mixture"``).

    Raises:
        RecordError: Unreadable, or a record of another kind (from its ``kind``).
    """
    from scalinglaws.io.records import describe_record, read_record, result_from_record

    record = read_record(path)
    if record["kind"] != "law":
        raise RecordError(
            f"{path} is {describe_record(record)}; {command} needs {need} (use {hint})"
        )
    return result_from_record(record, where=path)


def _plan_compute(args: argparse.Namespace) -> int:
    from scalinglaws.planning.compute import compute_for_loss, plan_compute

    result = load_law_record(
        args.fit, "plan compute", "a law record with a compute-optimal frontier", "plan mixture"
    )
    if not args.budget and not args.target_loss:
        raise ScalingLawsError("give --budget C [C ...] and/or --target-loss L [L ...]")
    calibrated = result.calibration is not None and not args.no_calibration
    parts, payload_rows, summary = (
        [],
        [],
        {
            "law": result.law.name,
            "params": dict(result.params),
            "uncertainty": result.uncertainty.method,
            "k": result.k,
            "quantiles": [0.05, 0.5, 0.95] if result.uncertainty.draws else [],
            **_calibration_summary(result, calibrated),
        },
    )
    warn: list[str] = []
    if args.budget:
        df = plan_compute(result, args.budget, calibrated=calibrated)
        # Budget rows and target-loss rows share one list; "row" says which each is.
        payload_rows += [{"row": "budget", **r} for r in df.to_dict(orient="records")]
        warn += df.attrs.get("warnings", [])
        cols = ["C", "N_opt", "D_opt", "tokens_per_param", "loss"]
        if result.uncertainty.draws:
            cols += ["tokens_per_param_q05", "tokens_per_param_q95", "loss_q05", "loss_q95"]
        cols += [c for c in df.columns if c.startswith("loss_predictive_") and "_unc" not in c]
        parts.append("Compute-optimal plan\n" + _format_table(df, cols))
        if calibrated:
            parts.append(
                "loss_predictive_*: interval of an observed loss at N_opt, D_opt (parameters "
                f"plus run noise)\n{result.calibration.describe()}"
            )
    if args.target_loss:
        df = compute_for_loss(result, args.target_loss)
        payload_rows += [{"row": "target_loss", **r} for r in df.to_dict(orient="records")]
        warn += df.attrs.get("warnings", [])
        parts.append("Compute for a target loss\n" + _format_table(df, list(df.columns)[:5]))
    warn = list(dict.fromkeys(warn))
    text = "\n\n".join(parts) + ("".join(f"\nwarning: {w}" for w in warn))
    common.emit(args, {"rows": payload_rows, "summary": summary, "warnings": warn}, text)
    return 0


def _calibration_summary(result: Any, calibrated: bool) -> dict[str, Any]:
    """``calibrated`` and the ``calibration`` summary (None when not used)."""
    return {
        "calibrated": calibrated,
        "calibration": result.calibration.to_dict() if calibrated else None,
    }


def _predict(args: argparse.Namespace) -> int:
    from scalinglaws.planning.compute import quantile_column_name as _qname

    result = load_law_record(args.fit, "predict", "a law record", "plan mixture")
    calibrated = result.calibration is not None and not args.no_calibration
    given: dict[str, list[float]] = {}
    if args.N is not None:
        given["N"] = args.N
    if args.D is not None:
        given["D"] = args.D
    for item in args.input or []:
        name, _, vals = item.partition("=")
        try:
            given[name] = [float(v) for v in vals.split(",") if v]
        except ValueError:
            raise ScalingLawsError(f"--input {item!r}: values must be numbers") from None
        if not name or not given[name]:
            raise ScalingLawsError(f"--input {item!r}: give NAME=V1,V2 with at least one value")
    law = result.law
    missing = [n for n in law.inputs if n not in given]
    if missing:
        raise ScalingLawsError(
            f"law {law.name!r} needs inputs {list(law.inputs)}; missing {missing} "
            "(use --N/--D or --input NAME=V1,V2)"
        )
    unknown = [n for n in given if n not in law.inputs]
    if unknown:
        raise ScalingLawsError(
            f"law {law.name!r} takes inputs {list(law.inputs)}; unknown {unknown}"
        )
    arrays = {n: np.asarray(given[n], dtype=float) for n in law.inputs}
    try:
        arrays = dict(zip(arrays, np.broadcast_arrays(*arrays.values()), strict=True))
    except ValueError:
        raise ScalingLawsError("inputs must have equal lengths (or length 1)") from None
    for n, a in arrays.items():
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ScalingLawsError(f"input {n} must be positive numbers")
    pred = result.predict(**arrays)
    rows = [
        {**{n: float(arrays[n][i]) for n in law.inputs}, law.target: float(pred[i])}
        for i in range(len(pred))
    ]
    tail = 0.5 * (1.0 - (result.calibration.level if calibrated else 0.9))
    if result.uncertainty.draws:
        from scalinglaws.uncertainty import predictive

        qs = (tail, 0.5, 1.0 - tail)
        draws = predictive(result, arrays, seed=0)
        for q in qs:
            vals = np.nanquantile(draws, q, axis=0)
            for i, row in enumerate(rows):
                row[f"{law.target}_{_qname(q)}"] = float(vals[i])
    if calibrated:
        from scalinglaws.uncertainty.conformal import predictive_interval

        # The same predictive draws as above (count and seed), so the uncalibrated
        # bounds are those printed with --no-calibration and the calibrated ones are
        # exactly them scaled by the factor about the prediction.
        interval = predictive_interval(
            result, arrays, seed=0, n_draws=result.uncertainty.n_draws or None
        )
        lo, hi = (f"{law.target}_{_qname(q)}" for q in (tail, 1.0 - tail))
        for i, row in enumerate(rows):
            row[lo], row[hi] = float(interval["lo"][i]), float(interval["hi"][i])
            row[f"{lo}_uncalibrated"] = float(interval["lo_uncalibrated"][i])
            row[f"{hi}_uncalibrated"] = float(interval["hi_uncalibrated"][i])
    cols = list(rows[0])
    text = (
        "  ".join(f"{c:>14}" for c in cols)
        + "\n"
        + "\n".join("  ".join(f"{r[c]:>14.6g}" for c in cols) for r in rows)
    )
    if calibrated:
        text += f"\n{result.calibration.describe()}"
    warn = result.flags()
    summary = {
        "law": law.name,
        "uncertainty": result.uncertainty.method,
        **_calibration_summary(result, calibrated),
    }
    common.emit(args, {"rows": rows, "summary": summary, "warnings": warn}, text)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import scalinglaws as sl
    from scalinglaws.planning.compute import plan_compute

    path = Path(args.runs) if args.runs else DEFAULT_DATA
    common.check_folder(args.report, "--report")
    common.check_samples(args.samples)
    common.progress(args, f"fitting the Chinchilla law to {path}")
    runs = sl.load_runs(path, **common.run_load_options(args))
    result = sl.fit(sl.laws.chinchilla(), runs)
    if args.uncertainty != "none":
        from scalinglaws.uncertainty import attach

        common.progress(args, f"uncertainty: {args.uncertainty}")
        result = attach(
            result,
            args.uncertainty,
            samples=args.samples,
            seed=0,
            progress=None if args.quiet else (lambda m: common.progress(args, m)),
        )
    plan = plan_compute(result, list(DEMO_BUDGETS))
    report_path = None
    if args.report:
        from scalinglaws.report import write_report

        common.progress(args, f"writing the report to {str(args.report).rstrip('/')}/")
        report_path = write_report(result, args.report, budgets=list(DEMO_BUDGETS))
    cols = ["C", "N_opt", "D_opt", "tokens_per_param", "loss"]
    if result.uncertainty.draws:
        cols += ["tokens_per_param_q05", "tokens_per_param_q95", "loss_q05", "loss_q95"]
    text = (
        result.report()
        + "\n\nCompute-optimal plan (C in FLOPs, N in parameters, D in tokens, loss in nats/token)\n"
        + _format_table(plan, cols)
    )
    notes = demo_truth.notes(result, plan)
    text += "\n\nNotes (as in the report):\n" + "\n".join(f"  - {n}" for n in notes or ["none"])
    truth = demo_truth.bundled_truth(path)
    if truth is not None:
        text += "\n\n" + demo_truth.truth_text(result, plan, truth, str(path))
    if report_path is not None:
        text += f"\n\nReport written to {report_path}"
    payload = {
        "rows": plan.to_dict(orient="records"),
        "summary": {
            "fit": fit_payload(result),
            "data": str(path),
            "report": str(report_path) if report_path else None,
            "notes": notes,
            "truth": demo_truth.truth_comparison(result, plan, truth) if truth else None,
        },
        "warnings": plan.attrs.get("warnings", []),
    }
    common.emit(args, payload, text)
    return 0


def add_fit_options(p: Any) -> None:
    """Options every ``scalinglaws fit LAW`` command shares (used by fit_and_report)."""
    p.add_argument("--out", metavar="FIT.json", help="write the fitted law as a JSON record")
    p.add_argument(
        "--search",
        default="auto",
        choices=("auto", "varpro", "grid", "hoffmann"),
        help="global search (default: variable projection; hoffmann = 4,500-start grid)",
    )
    p.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
    p.add_argument("--k", type=float, default=6.0, help="FLOPs per parameter per token (default 6)")
    p.add_argument(
        "--column",
        action="append",
        metavar="ROLE=COLUMN",
        help="take a column for a role (N, D, C, loss, run, step), e.g. --column "
        "N=non_embedding_params or --column loss=eval/loss; repeat for several",
    )
    common.add_run_options(p, column=False)
    p.add_argument(
        "--uncertainty",
        default="none",
        choices=UNCERTAINTY_METHODS,
        help="parameter uncertainty: none (default), laplace (Gaussian at the optimum), "
        "bootstrap (refits on runs resampled by run, never by checkpoint) or bayes (NUTS "
        "posterior with r-hat/ESS diagnostics)",
    )
    common.add_discrepancy_option(p)
    p.add_argument("--samples", type=int, default=None, help="draws / resamples")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the resamples or the sampler; the same seed gives the same numbers "
        "(default 0)",
    )
    p.add_argument(
        "--calibrate",
        default="none",
        choices=CALIBRATION_METHODS,
        help="conformal: calibrate the 90%% predictive intervals by split conformal on the "
        "largest-compute runs held out in order (kept in the record; predict and plan use it)",
    )
    p.add_argument(
        "--calibration-fraction",
        type=float,
        default=None,
        metavar="F",
        help="share of runs, largest compute first, used to calibrate (default 0.2)",
    )
    p.add_argument(
        "--calibration-cutoff",
        type=float,
        default=None,
        metavar="C",
        help="calibrate on the runs above this compute instead",
    )
    common.add_common(p)


def _add_no_calibration(p: Any) -> None:
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="ignore the record's conformal calibration (uncalibrated intervals)",
    )


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    p = fit_sub.add_parser(
        "chinchilla",
        help="fit L(N, D) = E + A/N^alpha + B/D^beta",
        description="Fit the Chinchilla law L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et "
        "al. 2022, arXiv 2203.15556, Approach 3: sum of Huber losses on log residuals) to a "
        "run log with two of N, D, C and a loss. Checkpoint logs: --checkpoints; sweeps: "
        "--best-of; subsets: --where.",
    )
    p.add_argument("runs", help="run log (CSV, Parquet, JSON Lines) with N/D/C and loss")
    add_fit_options(p)
    p.add_argument(
        "--duplicates",
        default="keep",
        choices=("keep", "mean", "error"),
        help="rows repeating an (N, D) pair without a run column: keep them as separate "
        "runs (default, with a warning), average their losses, or refuse the log",
    )
    p.set_defaults(func=_fit_chinchilla)

    p = plan_sub.add_parser("compute", help="compute-optimal N, D and loss for budgets")
    p.add_argument("fit", help="fitted law record (JSON)")
    p.add_argument("--budget", type=float, nargs="+", metavar="C", help="compute budgets in FLOPs")
    p.add_argument(
        "--target-loss",
        type=float,
        nargs="+",
        metavar="L",
        help="also the compute needed to reach these losses",
    )
    _add_no_calibration(p)
    common.add_common(p)
    p.set_defaults(func=_plan_compute)

    p = sub.add_parser("predict", help="the law's value at given inputs")
    p.add_argument("fit", help="fitted law record (JSON)")
    p.add_argument("--N", type=float, nargs="+", help="parameters")
    p.add_argument("--D", type=float, nargs="+", help="tokens")
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=V1,V2",
        help="a law input other than N and D, as its name and comma-separated positive "
        "numbers; repeat for each such input, e.g. --input N_avg=1e9,2e9 --D 2e10 for a "
        "record of fit avgparams. An input given one value is used for every row; inputs "
        "with several values need the same number of values",
    )
    _add_no_calibration(p)
    common.add_common(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser("demo", help="fit the bundled simulated run log and print a plan")
    p.add_argument("--runs", help="run log to use instead of the bundled one")
    common.add_run_options(p)
    p.add_argument("--report", default="report", help="folder for the report (default ./report)")
    p.add_argument(
        "--uncertainty",
        default="bootstrap",
        choices=UNCERTAINTY_METHODS,
        help="intervals on the plan (default bootstrap, 1,000 resamples by run)",
    )
    p.add_argument("--samples", type=int, default=None)
    common.add_common(p)
    p.set_defaults(func=_demo)
