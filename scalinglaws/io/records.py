"""Fitted laws as JSON records (DESIGN §7): write, read and validate.

A record holds everything needed to plan without refitting and to check later that a
refit still agrees: the law (name and version), parameters at full precision under a
top-level ``params``, objective and solver status, the uncertainty summary with a thinned
set of draws, predictions at anchor inputs with tolerances, the data file's path and
SHA-256, and provenance. Records are plain JSON: never pickled, never evaluated.

An optional top-level ``calibration`` (schema 1 records without it still load) holds a
split-conformal calibration of the predictive intervals
(:meth:`~scalinglaws.approaches.conformal.Calibration.to_dict`): factor, quantile, level,
method, number of calibration runs, cutoff, uncalibrated coverage. A loaded fit carries
it, so predictions and plans made from the record are calibrated without refitting.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RecordError
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.laws.base import Law

SCHEMA_VERSION = 1
SUPPORTED_SCHEMAS = (1,)
KIND = "scalinglaws.fit"
#: Default relative tolerance on each parameter in a drift check: a 1% change of any
#: parameter must be caught, while refits on the same data agree to ~1e-8.
DEFAULT_PARAM_RTOL = 2e-3
#: Default relative tolerance on anchor predictions.
DEFAULT_ANCHOR_RTOL = 1e-4
#: Draws kept in a record: enough for 5%/95% quantiles stable to about 1% of the
#: interval width.
MAX_RECORD_DRAWS = 2000


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_anchors(result: FitResult) -> list[dict[str, Any]]:
    """Anchor inputs: the smallest, median and largest runs, plus an extrapolation.

    The extrapolation (the compute-optimal point at 100x the largest budget, for
    Chinchilla-form laws) is where drift matters most to a user planning a bigger run.
    """
    law = result.law
    anchors: list[dict[str, Any]] = []
    data = result.data
    if data is not None and len(data) and all(c in data.columns for c in law.inputs):
        order_col = "C" if "C" in data.columns else law.inputs[0]
        ordered = data.sort_values(order_col, kind="stable").reset_index(drop=True)
        for pos in sorted({0, len(ordered) // 2, len(ordered) - 1}):
            anchors.append({c: float(ordered[c].iloc[pos]) for c in law.inputs})
        if law.metadata.get("form") == "chinchilla" and "C" in data.columns:
            from scalinglaws.planning.compute import plan_compute

            plan = plan_compute(
                result, [100.0 * float(data["C"].max())], quantiles=(0.5,), calibrated=False
            )
            size, tok = law.metadata["size_input"], law.metadata["data_input"]
            anchors.append({size: float(plan["N_opt"].iloc[0]), tok: float(plan["D_opt"].iloc[0])})
    out = []
    for inputs in anchors:
        pred = float(np.asarray(result.predict(**inputs)).reshape(-1)[0])
        out.append({"inputs": inputs, "prediction": pred, "rtol": DEFAULT_ANCHOR_RTOL})
    return out


def record_from_fit(
    result: FitResult,
    *,
    data_path: str | Path | None = None,
    data_path_as: str | None = None,
    load_options: Mapping[str, Any] | None = None,
    anchors: Sequence[Mapping[str, Any]] | None = None,
    param_rtol: float | Mapping[str, float] = DEFAULT_PARAM_RTOL,
    dataset: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready record of a fit (see module docstring for the layout)."""
    import jax

    from scalinglaws import __version__

    law = result.law
    data: dict[str, Any] = {"path": None, "sha256": None, "n_runs": result.n_runs}
    if data_path is not None:
        p = Path(data_path)
        if not p.is_file():
            raise RecordError(f"data file {str(p)!r} does not exist")
        data["path"] = data_path_as if data_path_as is not None else str(data_path)
        data["sha256"] = sha256_file(p)
    if load_options:
        data["load_options"] = dict(load_options)
    if dataset:
        data["dataset"] = dataset
    rtols = (
        {n: float(param_rtol) for n in law.param_names}
        if isinstance(param_rtol, int | float)
        else {n: float(param_rtol.get(n, DEFAULT_PARAM_RTOL)) for n in law.param_names}
    )
    from scalinglaws.uncertainty.summary import summarize, thin_uncertainty

    unc = thin_uncertainty(result.uncertainty, MAX_RECORD_DRAWS)
    record = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "law": {
            "name": law.name,
            "version": law.version,
            "inputs": list(law.inputs),
            "target": law.target,
            "residual": law.residual,
            "params": [
                {"name": p.name, "lower": p.lower, "upper": p.upper, "log_scale": p.log_scale}
                for p in law.params
            ],
        },
        "params": {k: float(v) for k, v in result.params.items()},
        "objective": float(result.objective),
        "status": result.status,
        "n_runs": int(result.n_runs),
        "options": {k: v for k, v in result.options.items() if k not in ("record",)},
        "covariance": None if result.covariance is None else np.asarray(result.covariance).tolist(),
        "uncertainty": {
            "method": unc.method,
            "converged": bool(unc.converged),
            "n_draws": result.uncertainty.n_draws,
            "summary": summarize(unc)["params"],
            "diagnostics": unc.diagnostics,
            # Per-draw extras (noise scale, Student-t dof) stay aligned with the thinned
            # draws, so predictive intervals from a record match the fit's.
            "extra": unc.extra,
            "draws": {k: [float(x) for x in np.asarray(v)] for k, v in unc.draws.items()},
        },
        "anchors": list(anchors) if anchors is not None else default_anchors(result),
        "tolerances": {"params_rtol": rtols},
        "data": data,
        "provenance": {
            "scalinglaws": __version__,
            "jax": jax.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "warnings": list(result.warnings),
        "flags": result.flags(),
    }
    if result.calibration is not None:
        from scalinglaws.approaches.conformal import check_calibration

        check_calibration(result, result.calibration)
        record["calibration"] = result.calibration.to_dict()
    return record


def save_fit(result: FitResult, path: str | Path, **kwargs: Any) -> Path:
    """Write a fit as a JSON record (atomically: a temporary file renamed into place).

    Keyword arguments go to :func:`record_from_fit` (``data_path``, ``anchors``,
    ``param_rtol``, ``dataset``, ``load_options``).

    Returns:
        The path written.
    """
    from scalinglaws.io.files import atomic_write, to_json

    record = record_from_fit(result, **kwargs)
    atomic_write(path, to_json(record) + "\n")
    return Path(path)


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and validate a record's JSON (structure and types); no law lookup."""
    p = Path(path)
    if not p.is_file():
        raise RecordError(f"fit record {str(p)!r} does not exist")
    try:
        record = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"fit record {str(p)!r} is not valid JSON: {exc}") from None
    return validate_record(record, where=str(p))


def validate_record(record: Any, where: str = "record") -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a fit record must be a JSON object")
    version = record.get("schema_version")
    if not isinstance(version, int) or version not in SUPPORTED_SCHEMAS:
        raise RecordError(
            f"{where}: schema_version {version!r} is not supported (this version reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMAS))})"
        )
    for key, typ in (("law", dict), ("params", dict), ("status", str)):
        if not isinstance(record.get(key), typ):
            raise RecordError(f"{where}: field {key!r} is missing or not a {typ.__name__}")
    if not isinstance(record["law"].get("name"), str):
        raise RecordError(f"{where}: law.name is missing")
    for name, value in record["params"].items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise RecordError(f"{where}: parameter {name!r} = {value!r} is not a finite number")
    if record.get("calibration") is not None:
        _calibration_of(record, where)
    return record


def _calibration_of(record: Mapping[str, Any], where: str) -> Any:
    """The record's calibration as a ``Calibration``, or None; RecordError if unusable."""
    from scalinglaws.approaches.conformal import Calibration
    from scalinglaws.errors import ScalingLawsError

    data = record.get("calibration")
    if data is None:
        return None
    try:
        calibration = Calibration.from_dict(data)
    except ScalingLawsError as exc:
        raise RecordError(f"{where}: {exc}") from None
    if calibration.law != record["law"]["name"]:
        raise RecordError(
            f"{where}: the calibration is for law {calibration.law!r}, the record for "
            f"{record['law']['name']!r}"
        )
    unc = record.get("uncertainty") or {}
    method = unc.get("method", "none") if unc.get("draws") else "none"
    if calibration.uncertainty != method:
        raise RecordError(
            f"{where}: the calibration was made for {calibration.uncertainty!r} intervals "
            f"but the record carries {method!r} uncertainty"
        )
    if method == "none" and calibration.residual_scale is None:
        raise RecordError(
            f"{where}: a calibration of residual-scatter intervals needs residual_scale "
            "and residual_dof"
        )
    return calibration


def load_fit(path: str | Path, law: Law | None = None) -> FitResult:
    """Read a fit record back as a :class:`FitResult` (without the run data).

    Args:
        path: The JSON record.
        law: The law, for a custom law not in the registry (``laws.register`` also works).

    Raises:
        RecordError: Unreadable, unknown schema, or parameters that do not match the law.
    """
    record = read_record(path)
    return result_from_record(record, law=law, where=str(path))


def result_from_record(
    record: Mapping[str, Any], law: Law | None = None, where: str = "record"
) -> FitResult:
    from scalinglaws import laws as _laws
    from scalinglaws.errors import ScalingLawsError

    name = record["law"]["name"]
    if law is None:
        try:
            law = _laws.get(name)
        except ScalingLawsError as exc:
            raise RecordError(f"{where}: {exc}") from None
    elif law.name != name:
        raise RecordError(f"{where}: record is for law {name!r}, not {law.name!r}")
    rec_version = str(record["law"].get("version", "1"))
    if rec_version != law.version:
        raise RecordError(
            f"{where}: record was made with {name} law version {rec_version}; this "
            f"installation has version {law.version}"
        )
    if set(record["params"]) != set(law.param_names):
        raise RecordError(
            f"{where}: parameters {sorted(record['params'])} do not match law {name!r} "
            f"({sorted(law.param_names)})"
        )
    unc = record.get("uncertainty") or {}
    draws = {k: np.asarray(v, dtype=float) for k, v in (unc.get("draws") or {}).items()}
    cov = record.get("covariance")
    options = dict(record.get("options") or {})
    options["record"] = {
        "data": record.get("data"),
        "anchors": record.get("anchors"),
        "tolerances": record.get("tolerances"),
        "provenance": record.get("provenance"),
    }
    return FitResult(
        law=law,
        params={k: float(record["params"][k]) for k in law.param_names},
        objective=float(record.get("objective", math.nan)),
        status=record["status"],
        starts=pd.DataFrame(),
        n_runs=int(record.get("n_runs", 0)),
        options=options,
        covariance=None if cov is None else np.asarray(cov, dtype=float),
        residuals=np.asarray([], dtype=float),
        warnings=tuple(record.get("warnings", [])),
        uncertainty=Uncertainty(
            method=unc.get("method", "none"),
            draws=draws,
            diagnostics=unc.get("diagnostics", {}) or {},
            converged=bool(unc.get("converged", True)),
            extra=unc.get("extra", {}) or {},
        ),
        data=None,
        calibration=_calibration_of(record, where),
    )
