"""``scalinglaws check`` (drift gate, and new runs against a record) and ``scalinglaws
record`` (append to a registry)."""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

from scalinglaws.cli import common
from scalinglaws.errors import RecordError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.io import policy as _policy


def _checking() -> Any:
    """The drift-check module, imported when a check runs (it imports every pipeline)."""
    import scalinglaws.checking

    return scalinglaws.checking


def _check(args: argparse.Namespace) -> int:
    if args.new_runs is not None:
        return _check_new_runs(args)
    for opt in ("budget", "max_outside", "plan_rtol"):
        if getattr(args, opt) is not None:
            raise ScalingLawsError(f"--{opt.replace('_', '-')} applies with --new-runs")
    if not (args.time_limit >= 0 and math.isfinite(args.time_limit)):
        raise ScalingLawsError(
            f"--time-limit must be a number of seconds >= 0, not {args.time_limit:g}"
        )
    paths = args.paths or ["fits"]
    records = _checking().latest_records(paths)
    if not records:
        raise RecordError(f"no records (v<N>.json) found under {', '.join(map(str, paths))}")
    results = []
    for path in records:
        common.progress(args, f"checking {path}")
        results.append(
            _checking().check_record(path, strict=args.strict, time_limit=args.time_limit)
        )
    code = _checking().exit_code(results)
    payload = {
        "rows": [
            {
                "record": str(r.path),
                "status": r.status,
                "message": r.message,
                "items": [vars(row) for row in r.rows],
            }
            for r in results
        ],
        "summary": {**_checking().summary(results), "exit_code": code},
        "warnings": [f"{r.path}: {r.message}" for r in results if r.status != _checking().PASS],
    }
    text = "\n\n".join(r.table() for r in results)
    s = _checking().summary(results)
    text += "\n\n" + ", ".join(f"{v} {k}" for k, v in s.items())
    common.emit(args, payload, text)
    return code


def _check_new_runs(args: argparse.Namespace) -> int:
    """``check FIT --new-runs RUNS``: exit 1 when too many runs fall outside or the plan moves."""
    if len(args.paths) != 1 or not Path(args.paths[0]).is_file():
        raise ScalingLawsError(
            "--new-runs takes exactly one record file: check FIT --new-runs RUNS"
        )
    options = {
        "budget": args.budget,
        "max_outside": _policy.DEFAULT_MAX_OUTSIDE
        if args.max_outside is None
        else args.max_outside,
        "plan_rtol": _policy.DEFAULT_PLAN_RTOL if args.plan_rtol is None else args.plan_rtol,
    }
    common.progress(args, f"checking {args.new_runs} against {args.paths[0]}")
    result = _checking().check_new_runs(args.paths[0], args.new_runs, **options)
    payload = {"rows": result.rows, "summary": result.summary, "warnings": result.warnings}
    common.emit(args, payload, result.table())
    return int(result.summary["exit_code"])


def _record(args: argparse.Namespace) -> int:
    import scalinglaws as sl
    from scalinglaws.io.records import save_fit
    from scalinglaws.io.registry import registry_target

    if args.law == "cmr":  # a pipeline: the mixture command writes its record
        from scalinglaws.cli.mixture import record_command

        return record_command(args)
    law = sl.laws.get(args.law)
    target = registry_target(args.fits_dir, law.name, args.dataset, bump=args.bump)
    load_options: dict[str, Any] = {"k": args.k} if args.k != 6.0 else {}
    if not ({"N", "D"} <= set(law.inputs) or law.name in _checking().LOADERS):
        if common.run_load_options(args):
            raise ScalingLawsError(
                f"run-log options (--column, --checkpoints, --where, ...) do not apply to law "
                f"{law.name!r}, whose data is read as a plain table"
            )
    load_options.update(common.run_load_options(args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = _checking().load_law_data(law, args.runs, load_options)
        result = sl.fit(law, runs)
    rel = os.path.relpath(Path(args.runs).resolve(), target.parent.resolve())
    # The version is claimed when written: of concurrent writers, each gets its own.
    target = save_fit(
        result,
        target,
        claim="next" if args.bump else "exact",
        data_path=args.runs,
        data_path_as=rel,
        load_options=load_options,
        dataset=args.dataset,
    )
    common.emit(
        args,
        {"rows": [{"record": str(target), "params": result.params}], "summary": {}, "warnings": []},
        f"wrote {target}",
    )
    return 0


def register(sub: Any, fit_sub: Any, plan_sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="refit recorded laws and fail on drift (CI gate); or check new runs against a record",
    )
    p.add_argument("paths", nargs="*", help="record files or folders (default: fits/)")
    p.add_argument("--strict", action="store_true", help="a missing data file is a failure")
    p.add_argument(
        "--time-limit",
        type=float,
        default=_policy.DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help="stop a record's check after this long and report it unusable "
        f"(default {_policy.DEFAULT_TIME_LIMIT:g}; 0: no limit)",
    )
    p.add_argument(
        "--new-runs",
        metavar="RUNS",
        default=None,
        help="check these runs against the record FIT: do they fall inside its predictive "
        "intervals, and how far does the plan move when they are added (law records)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="C",
        help="with --new-runs: compute budget of the plan comparison (default 100x the "
        "largest compute among the runs)",
    )
    p.add_argument(
        "--max-outside",
        type=float,
        default=None,
        metavar="SHARE",
        help=f"with --new-runs: largest share of runs outside their intervals that passes "
        f"(default {_policy.DEFAULT_MAX_OUTSIDE:g}, twice the nominal 10%%)",
    )
    p.add_argument(
        "--plan-rtol",
        type=float,
        default=None,
        metavar="TOL",
        help=f"with --new-runs: largest relative move of N_opt or D_opt that passes "
        f"(default {_policy.DEFAULT_PLAN_RTOL:g})",
    )
    common.add_common(p)
    p.set_defaults(func=_check)

    p = sub.add_parser("record", help="fit a law and append the record to a fits/ registry")
    p.add_argument("law", help="law name (e.g. chinchilla)")
    p.add_argument("runs", help="run log")
    p.add_argument("--dataset", required=True, help="dataset name (the registry folder)")
    p.add_argument("--fits-dir", default="fits", help="registry root (default fits/)")
    p.add_argument("--bump", action="store_true", help="write the next version if one exists")
    p.add_argument("--k", type=float, default=6.0, help="FLOPs per parameter per token")
    common.add_run_options(p)
    common.add_common(p)
    p.set_defaults(func=_record)
