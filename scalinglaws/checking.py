"""Drift checks: refit a recorded law from its data and compare (DESIGN §7).

A registry lays records out as ``fits/<law>/<dataset>/v<N>.json``; records are never
edited, a new fit is a new version, and the check compares the latest version (numeric
order: v10 after v9). Data paths in a record are relative to the record's own folder, so
a registry works from any checkout location.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RecordError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.io.records import read_record, result_from_record, sha256_file

_VERSION = re.compile(r"^v(\d+)\.json$")

PASS, DRIFT, SKIPPED, DIGEST, MISSING, UNUSABLE = (
    "ok",
    "DRIFT",
    "skipped",
    "DATA DIGEST MISMATCH",
    "DATA MISSING",
    "UNUSABLE",
)


@dataclass(frozen=True)
class CheckRow:
    item: str
    recorded: float | str
    now: float | str
    tolerance: float | str
    verdict: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of checking one record."""

    path: Path
    status: str  # ok | DRIFT | skipped | DATA DIGEST MISMATCH | UNUSABLE
    message: str = ""
    rows: tuple[CheckRow, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return self.status in (DRIFT, DIGEST, MISSING)

    def table(self) -> str:
        head = f"{self.path}: {self.status}" + (f" — {self.message}" if self.message else "")
        if not self.rows:
            return head
        lines = [
            head,
            f"  {'parameter/anchor':<34} {'recorded':>14} {'now':>14} {'tolerance':>10}  verdict",
        ]
        for r in self.rows:
            rec = f"{r.recorded:.8g}" if isinstance(r.recorded, float) else str(r.recorded)
            now = f"{r.now:.8g}" if isinstance(r.now, float) else str(r.now)
            tol = f"{r.tolerance:.1e}" if isinstance(r.tolerance, float) else str(r.tolerance)
            lines.append(f"  {r.item:<34} {rec:>14} {now:>14} {tol:>10}  {r.verdict}")
        return "\n".join(lines)


def version_of(path: Path) -> int:
    m = _VERSION.match(path.name)
    if not m:
        raise RecordError(f"{path}: record files are named v<N>.json")
    return int(m.group(1))


def latest_records(paths: Iterable[str | Path]) -> list[Path]:
    """The latest version in every record folder under the given files or folders."""
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_file():  # a record named explicitly is checked as it is
            found[p.resolve()] = p
            continue
        if not p.exists():
            raise RecordError(f"{p} does not exist")
        for f in p.rglob("v*.json"):
            if not _VERSION.match(f.name):
                continue
            key = f.parent.resolve()
            if key not in found or version_of(f) > version_of(found[key]):
                found[key] = f
    return sorted(found.values())


def next_version_path(folder: str | Path) -> Path:
    folder = Path(folder)
    versions = [version_of(f) for f in folder.glob("v*.json") if _VERSION.match(f.name)]
    return folder / f"v{max(versions, default=0) + 1}.json"


def resolve_data_path(record_path: Path, data_path: str) -> Path:
    p = Path(data_path)
    return p if p.is_absolute() else (record_path.parent / p).resolve()


def _loader_for(law_name: str) -> Callable[..., pd.DataFrame]:
    """The run-log loader that matches a law (laws with their own log formats register here)."""
    from scalinglaws.io.runs import load_runs
    from scalinglaws.sparsity import load_sparse_runs

    loaders: dict[str, Callable[..., pd.DataFrame]] = {"avgparams": load_sparse_runs}
    loaders.update(LOADERS)
    return loaders.get(law_name, load_runs)


#: law name -> loader(path, **load_options) for user laws whose logs are not plain
#: N/D/loss (the bundled laws are handled above).
LOADERS: dict[str, Callable[..., pd.DataFrame]] = {}


def _is_cmr_record(path: Path) -> dict | None:
    """The record's JSON when it is a critical-mixture-ratio record, else ``None``."""
    import json

    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # read_record below reports it
    if isinstance(raw, dict) and (
        raw.get("kind") == "scalinglaws.cmr_fit" or raw.get("law") == "cmr"
    ):
        return raw
    return None


def _data_file(path: Path, record: dict, strict: bool) -> Path | CheckResult:
    """The record's data file, or the result to return when it is absent or changed."""
    data = record.get("data") or {}
    if not isinstance(data, dict) or not data.get("path"):
        return CheckResult(path, UNUSABLE, "record names no data file, so it cannot be refitted")
    data_file = resolve_data_path(path, data["path"])
    if not data_file.is_file():
        return CheckResult(
            path,
            MISSING if strict else SKIPPED,
            f"data file {data_file} is absent"
            + (" (--strict: counted as a failure)" if strict else ""),
        )
    digest = sha256_file(data_file)
    if data.get("sha256") and digest != data["sha256"]:
        return CheckResult(
            path,
            DIGEST,
            f"data file {data_file} changed: sha256 {digest[:12]}… != recorded {data['sha256'][:12]}…",
            (CheckRow("data sha256", data["sha256"][:16], digest[:16], "exact", DIGEST),),
        )
    return data_file


def check_cmr_record(path: str | Path, record: dict, *, strict: bool = False) -> CheckResult:
    """Drift check of a critical-mixture-ratio record (Gu et al. 2024, arXiv 2407.17467).

    Refits the curves and turning points with the recorded options (point values only,
    no bootstrap), fits each model's CMR law R = alpha4 T^s4 + beta3 through the new
    turning points with the recorded weights, and compares alpha4, s4, beta3 per model
    (``tolerances.params_rtol``) and the anchor CMR values (``anchors``, each with its
    ``rtol``). A ratio that enters or leaves the CMR-law fit is drift too.
    """
    from scalinglaws.mixture.record import (
        DEFAULT_ANCHOR_RTOL,
        DEFAULT_PARAM_RTOL,
        cmr_fit_from_dict,
        refit_cmr_law,
    )

    path = Path(path)
    try:
        cmr_fit_from_dict(record)  # validates every field
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, str(exc))
    data_file = _data_file(path, record, strict)
    if isinstance(data_file, CheckResult):
        return data_file
    try:
        now = refit_cmr_law(record, data_file)
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, f"refit failed: {exc}")
    rtols = (record.get("tolerances") or {}).get("params_rtol") or {}
    rows = []
    recorded_params = record.get("params") or {}
    for model, p_now in now["params"].items():
        rec_used, now_used = now["recorded_used"][model], now["used"][model]
        if rec_used != now_used:
            rows.append(
                CheckRow(
                    f"{model}: ratios in CMR fit",
                    ",".join(f"{r:.4g}" for r in rec_used),
                    ",".join(f"{r:.4g}" for r in now_used),
                    "exact",
                    DRIFT,
                )
            )
        for name, value in p_now.items():
            recorded = (recorded_params.get(model) or {}).get(name)
            if recorded is None:
                continue  # the law was not fitted when recorded (too few turning points)
            tol = float(rtols.get(name, DEFAULT_PARAM_RTOL))
            ok = math.isclose(value, float(recorded), rel_tol=tol, abs_tol=0.0)
            rows.append(
                CheckRow(f"{model}: {name}", float(recorded), value, tol, PASS if ok else DRIFT)
            )
    unit = now["token_unit"]
    for anchor in record.get("anchors") or []:
        model, tok = anchor.get("model"), float(anchor.get("tokens", math.nan))
        p = now["params"].get(model)
        value = math.nan if p is None else p["alpha4"] * (tok / unit) ** p["s4"] + p["beta3"]
        tol = float(anchor.get("rtol", DEFAULT_ANCHOR_RTOL))
        ok = math.isclose(value, float(anchor["cmr"]), rel_tol=tol)
        rows.append(
            CheckRow(
                f"{model}: cmr@{tok:.3g} tokens",
                float(anchor["cmr"]),
                value,
                tol,
                PASS if ok else DRIFT,
            )
        )
    drift = [r.item for r in rows if r.verdict != PASS]
    if drift:
        return CheckResult(path, DRIFT, "drift in " + ", ".join(drift), tuple(rows))
    return CheckResult(path, PASS, "", tuple(rows))


def check_record(path: str | Path, *, strict: bool = False) -> CheckResult:
    """Refit one record from its data and compare parameters and anchors with tolerances.

    Critical-mixture-ratio records (``kind: scalinglaws.cmr_fit``) go to
    :func:`check_cmr_record`.
    """
    from scalinglaws.fitting.fit import fit

    path = Path(path)
    raw = _is_cmr_record(path) if path.is_file() else None
    if raw is not None:
        return check_cmr_record(path, raw, strict=strict)
    try:
        record = read_record(path)
        result = result_from_record(record, where=str(path))
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, str(exc))
    data_file = _data_file(path, record, strict)
    if isinstance(data_file, CheckResult):
        return data_file
    data = record.get("data") or {}
    opts = record.get("options") or {}
    load_opts = dict(data.get("load_options") or {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingLawsWarning)
            runs = _loader_for(result.law.name)(data_file, **load_opts)
            now = fit(
                result.law,
                runs,
                search=opts.get("search", "auto"),
                delta=float(opts.get("delta", 1e-3)),
                top_k=int(opts.get("top_k", 4)),
                max_iter=int(opts.get("max_iter", 200)),
            )
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, f"refit failed: {exc}")
    rows = []
    rtols = (record.get("tolerances") or {}).get("params_rtol") or {}
    for name, recorded in record["params"].items():
        tol = float(rtols.get(name, 2e-3))
        value = float(now.params[name])
        ok = math.isclose(value, recorded, rel_tol=tol, abs_tol=0.0)
        rows.append(CheckRow(name, float(recorded), value, tol, PASS if ok else DRIFT))
    for anchor in record.get("anchors") or []:
        inputs = anchor["inputs"]
        value = float(np.asarray(now.predict(**inputs)).reshape(-1)[0])
        tol = float(anchor.get("rtol", 1e-4))
        label = "pred@" + ",".join(f"{k}={v:.3g}" for k, v in inputs.items())
        ok = math.isclose(value, float(anchor["prediction"]), rel_tol=tol)
        rows.append(CheckRow(label, float(anchor["prediction"]), value, tol, PASS if ok else DRIFT))
    drift = [r.item for r in rows if r.verdict != PASS]
    if drift:
        return CheckResult(path, DRIFT, "drift in " + ", ".join(drift), tuple(rows))
    return CheckResult(path, PASS, "", tuple(rows))


def check_paths(paths: Iterable[str | Path], *, strict: bool = False) -> list[CheckResult]:
    return [check_record(p, strict=strict) for p in latest_records(paths)]


def exit_code(results: list[CheckResult]) -> int:
    """2 if any record is unusable, else 1 on drift or digest mismatch, else 0."""
    if any(r.status == UNUSABLE for r in results):
        return 2
    if any(r.failed for r in results):
        return 1
    return 0


def summary(results: list[CheckResult]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"records": len(results), **counts}
