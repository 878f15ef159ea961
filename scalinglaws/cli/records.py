"""``scalinglaws check`` (drift gate) and ``scalinglaws record`` (append to a registry)."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

from scalinglaws.cli import common
from scalinglaws.errors import RecordError, ScalingLawsWarning


def _check(args: argparse.Namespace) -> int:
    from scalinglaws import checking

    paths = args.paths or ["fits"]
    records = checking.latest_records(paths)
    if not records:
        raise RecordError(f"no records (v<N>.json) found under {', '.join(map(str, paths))}")
    results = []
    for path in records:
        common.progress(args, f"checking {path}")
        results.append(checking.check_record(path, strict=args.strict))
    code = checking.exit_code(results)
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
        "summary": {**checking.summary(results), "exit_code": code},
        "warnings": [f"{r.path}: {r.message}" for r in results if r.status != checking.PASS],
    }
    text = "\n\n".join(r.table() for r in results)
    s = checking.summary(results)
    text += "\n\n" + ", ".join(f"{v} {k}" for k, v in s.items())
    common.emit(args, payload, text)
    return code


def _record(args: argparse.Namespace) -> int:
    import scalinglaws as sl
    from scalinglaws import checking
    from scalinglaws.io.records import save_fit

    if args.law == "cmr":  # a pipeline of four laws with its own record kind
        from scalinglaws.cli.mixture import record_command

        return record_command(args)
    law = sl.laws.get(args.law)
    folder = Path(args.fits_dir) / law.name / args.dataset
    existing = checking.latest_records([folder]) if folder.exists() else []
    if existing and not args.bump:
        raise RecordError(
            f"{existing[0]} exists and records are append-only; pass --bump to write "
            f"{checking.next_version_path(folder).name}"
        )
    target = checking.next_version_path(folder)
    loader = checking._loader_for(law.name)
    load_options: dict[str, Any] = {"k": args.k} if args.k != 6.0 else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = loader(args.runs, **load_options)
        result = sl.fit(law, runs)
    rel = os.path.relpath(Path(args.runs).resolve(), folder.resolve())
    save_fit(
        result,
        target,
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
    p = sub.add_parser("check", help="refit recorded laws and fail on drift (CI gate)")
    p.add_argument("paths", nargs="*", help="record files or folders (default: fits/)")
    p.add_argument("--strict", action="store_true", help="a missing data file is a failure")
    common.add_common(p)
    p.set_defaults(func=_check)

    p = sub.add_parser("record", help="fit a law and append the record to a fits/ registry")
    p.add_argument("law", help="law name (e.g. chinchilla)")
    p.add_argument("runs", help="run log")
    p.add_argument("--dataset", required=True, help="dataset name (the registry folder)")
    p.add_argument("--fits-dir", default="fits", help="registry root (default fits/)")
    p.add_argument("--bump", action="store_true", help="write the next version if one exists")
    p.add_argument("--k", type=float, default=6.0)
    common.add_common(p)
    p.set_defaults(func=_record)
