"""Fit records (DESIGN §7): one JSON schema for every fit, one writer, one reader.

A record holds everything needed to plan without refitting and to check later that a
refit from the data still agrees. Schema version 2 has one envelope for every ``kind``:

* ``kind: "law"`` — a single law fitted by :func:`scalinglaws.fit`; ``law`` holds its
  name, version, inputs, target and parameter specs.
* ``kind: "pipeline"`` — a composite of several fits and derived quantities (the
  critical-mixture-ratio pipeline, ``pipeline: {"name": "cmr", ...}``); its part tables
  sit under ``parts``.

Common fields: ``params`` (point estimates at full precision; for a pipeline, the
parameters of its parts keyed per model), ``objective`` and ``status``, ``options`` (what
a refit needs, seed and sample count included), ``data`` (``path``, ``sha256``,
``n_runs``, ``load_options``, ``dataset``), ``uncertainty`` (summary and thinned draws),
``anchors`` (derived quantities with tolerances), ``tolerances``, ``warnings`` and
``provenance``. A law record may carry a split-conformal ``calibration`` of its
predictive intervals, so plans made from the record are calibrated without refitting.

:func:`read_record` migrates older schemas (:data:`MIGRATIONS`; schema-1 single-law
and CMR records load forever), validates the envelope and returns the schema-2 dict;
:func:`load_record` turns it into a result, dispatching on ``kind``: a law record
becomes a :class:`~scalinglaws.fitting.FitResult`, a pipeline record goes to the
converter its package registered with :func:`register_pipeline` (this module never
imports a pipeline package). Records are plain JSON: never pickled, never evaluated.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws import laws as _laws
from scalinglaws._version import __version__
from scalinglaws.errors import RecordError, ScalingLawsError
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.io.files import atomic_write, json_safe
from scalinglaws.io.registry import next_version_path, version_of
from scalinglaws.laws.base import Law, check_params
from scalinglaws.uncertainty import conformal
from scalinglaws.uncertainty.summary import summarize, thin_uncertainty

SCHEMA_VERSION = 2
SUPPORTED_SCHEMAS = (1, 2)
#: Kinds of record: a single law, or a composite pipeline of fits.
LAW, PIPELINE = "law", "pipeline"
KINDS = (LAW, PIPELINE)
#: Schema-1 kind strings (kept for migration).
V1_LAW_KIND, V1_CMR_KIND = "scalinglaws.fit", "scalinglaws.cmr_fit"
#: Default relative tolerance on each parameter in a drift check: a 1% change of any
#: parameter must be caught, while refits on the same data agree to ~1e-8.
DEFAULT_PARAM_RTOL = 2e-3
#: Default relative tolerance on anchor predictions.
DEFAULT_ANCHOR_RTOL = 1e-4
#: Largest record file read (bytes): thinned draws keep real records far below it.
MAX_RECORD_BYTES = 64 * 2**20
#: Draws kept in a record: enough for 5%/95% quantiles stable to about 1% of the
#: interval width.
MAX_RECORD_DRAWS = 2000

#: pipeline name -> converter(record, where) -> result object (see register_pipeline).
_PIPELINES: dict[str, Callable[[Mapping[str, Any], str], Any]] = {}
#: The package module that registers each built-in pipeline, imported when a record of
#: that pipeline is read (``import scalinglaws`` does not import every package).
_PIPELINE_MODULES = {"cmr": "scalinglaws.mixture.record", "datamix": "scalinglaws.datamix.record"}


# ------------------------------------------------------------------ small pieces
def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance() -> dict[str, Any]:
    """Versions of the package and its numerical stack, and the creation time (UTC)."""
    return {
        "scalinglaws": __version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "created": _created(),
    }


def _created() -> str:
    """Creation time (UTC); ``SOURCE_DATE_EPOCH`` (seconds) fixes it for reproducible bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = _dt.datetime.now(_dt.UTC)
    if epoch:
        try:
            when = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC)
        except (ValueError, OverflowError, OSError):
            pass  # an unusable value is ignored, as by other tools honouring it
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_timings(obj: Any) -> Any:
    """``obj`` without its ``wall_s`` entries: a record holds results, not how long they took,
    so the same command with the same seed writes the same bytes."""
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k != "wall_s"}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def data_block(
    data_path: str | Path | None,
    *,
    data_path_as: str | None = None,
    n_runs: int | None = None,
    load_options: Mapping[str, Any] | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """The ``data`` field: path (as written), SHA-256, run count, load options, dataset.

    Raises:
        RecordError: ``data_path`` is given but is not a file.
    """
    data: dict[str, Any] = {"path": None, "sha256": None, "n_runs": n_runs}
    if data_path is not None:
        p = Path(data_path)
        if not p.is_file():
            raise RecordError(f"data file {str(p)!r} does not exist")
        data["path"] = data_path_as if data_path_as is not None else str(data_path)
        data["sha256"] = sha256_file(p)
    data["load_options"] = dict(load_options or {})
    if dataset:
        data["dataset"] = dataset
    return data


def record_name(record: Mapping[str, Any]) -> str:
    """The law or pipeline name of a (schema-2) record."""
    return str(record[record["kind"]]["name"])


def describe_record(record: Mapping[str, Any]) -> str:
    """``"a law record (chinchilla)"`` or ``"a pipeline record (cmr)"``: for messages."""
    return f"a {record['kind']} record ({record_name(record)})"


# ------------------------------------------------------------------ law records
def _frontier_anchor(result: FitResult, budget: float) -> dict[str, float]:
    """The law's compute-optimal inputs at ``budget`` (its declared frontier)."""
    params = {k: float(v) for k, v in result.params.items()}
    with jax.enable_x64(True):
        inputs = _frontier_inputs(result.law, params, float(budget), float(result.k))
    # In the law's input order (a compiled program returns its dict sorted by key).
    order = {name: i for i, name in enumerate(result.law.inputs)}
    names = sorted(inputs, key=lambda name: (order.get(name, len(order)), name))
    return {name: float(np.asarray(inputs[name])) for name in names}


@cached_jit(static_argnames=("law",))
def _frontier_inputs(law: Law, params, budget, k):
    """The compute-optimal inputs as one compiled program (not one per operation)."""
    size, tokens = law.derived_fn("compute_optimal")(params, budget, k)
    return law.derived_fn("inputs")(size, tokens)


def default_anchors(result: FitResult) -> list[dict[str, Any]]:
    """Anchor inputs: the smallest, median and largest runs, plus an extrapolation.

    The extrapolation (the compute-optimal point at 100x the largest budget, for laws
    that declare a compute-optimal frontier) is where drift matters most to a user
    planning a bigger run.
    """
    law = result.law
    anchors: list[dict[str, Any]] = []
    data = result.data
    if data is not None and len(data) and all(c in data.columns for c in law.inputs):
        order_col = "C" if "C" in data.columns else law.inputs[0]
        ordered = data.sort_values(order_col, kind="stable").reset_index(drop=True)
        for pos in sorted({0, len(ordered) // 2, len(ordered) - 1}):
            anchors.append({c: float(ordered[c].iloc[pos]) for c in law.inputs})
        if "C" in data.columns and law.has("compute_optimal", "inputs"):
            anchors.append(_frontier_anchor(result, 100.0 * float(data["C"].max())))
    out = []
    for inputs in anchors:
        pred = float(np.asarray(result.predict(**inputs)).reshape(-1)[0])
        out.append({"inputs": inputs, "prediction": pred, "rtol": DEFAULT_ANCHOR_RTOL})
    return out


def _law_spec(law: Law) -> dict[str, Any]:
    return {
        "name": law.name,
        "version": law.version,
        "inputs": list(law.inputs),
        "target": law.target,
        "residual": law.residual,
        "params": [
            {"name": p.name, "lower": p.lower, "upper": p.upper, "log_scale": p.log_scale}
            for p in law.params
        ],
    }


def _uncertainty_block(result: FitResult) -> dict[str, Any]:
    unc = thin_uncertainty(result.uncertainty, MAX_RECORD_DRAWS)
    return {
        "method": unc.method,
        "converged": bool(unc.converged),
        "n_draws": result.uncertainty.n_draws,
        "summary": summarize(unc)["params"],
        "diagnostics": unc.diagnostics,
        # Per-draw extras (noise scale, Student-t dof) stay aligned with the thinned
        # draws, so predictive intervals from a record match the fit's.
        "extra": unc.extra,
        "draws": {k: [float(x) for x in np.asarray(v)] for k, v in unc.draws.items()},
    }


def _param_rtols(law: Law, param_rtol: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(param_rtol, int | float):
        return {n: float(param_rtol) for n in law.param_names}
    return {n: float(param_rtol.get(n, DEFAULT_PARAM_RTOL)) for n in law.param_names}


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
    """The JSON-ready ``kind: "law"`` record of a fit (layout in the module docstring).

    Args:
        result: The fit.
        data_path: The data file fitted (its SHA-256 is recorded; ``check`` refits it).
        data_path_as: The path written instead of ``data_path`` (a registry stores it
            relative to the record's folder).
        load_options: Keywords the data was loaded with (``check`` loads it the same way).
        anchors: Anchor inputs with predictions and tolerances (default
            :func:`default_anchors`).
        param_rtol: Drift tolerance per parameter (one number or a dict).
        dataset: Dataset name (the registry folder).

    Raises:
        RecordError: ``data_path`` is not a file.
        ScalingLawsError: The fit's calibration does not belong to it.
    """
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": LAW,
        "law": _law_spec(result.law),
        "params": {k: float(v) for k, v in result.params.items()},
        "objective": float(result.objective),
        "status": result.status,
        "options": {k: v for k, v in result.options.items() if k != "record"},
        "covariance": None if result.covariance is None else np.asarray(result.covariance).tolist(),
        "uncertainty": _uncertainty_block(result),
        "anchors": list(anchors) if anchors is not None else default_anchors(result),
        "tolerances": {"params_rtol": _param_rtols(result.law, param_rtol)},
        "data": data_block(
            data_path,
            data_path_as=data_path_as,
            n_runs=int(result.n_runs),
            load_options=load_options,
            dataset=dataset,
        ),
        "provenance": provenance(),
        "warnings": list(result.warnings),
        "flags": result.flags(),
    }
    if result.calibration is not None:
        conformal.check_calibration(result, result.calibration)
        record["calibration"] = result.calibration.to_dict()
    return record


def save_fit(
    result: FitResult, path: str | Path, *, claim: str | None = None, **kwargs: Any
) -> Path:
    """Write a fit as a ``kind: "law"`` record (atomically, via :func:`write_record`).

    ``claim`` claims a registry version atomically (see :func:`write_record`); other
    keyword arguments go to :func:`record_from_fit` (``data_path``, ``data_path_as``,
    ``anchors``, ``param_rtol``, ``dataset``, ``load_options``).

    Returns:
        The path written.
    """
    return write_record(record_from_fit(result, **kwargs), path, claim=claim)


# ------------------------------------------------------------------ the writer
def write_record(record: Mapping[str, Any], path: str | Path, *, claim: str | None = None) -> Path:
    """Validate a schema-2 record and write it as JSON (a temporary file renamed into place).

    Non-finite numbers are written as ``null`` (a pipeline writes ``"inf"`` where an
    infinity means something). Timings (``wall_s``) are left out, so the same fit writes
    the same bytes apart from ``provenance.created`` (fixed by ``SOURCE_DATE_EPOCH``).

    Args:
        record: The record.
        path: Output path; with ``claim``, a registry version ``.../v<N>.json``.
        claim: ``None`` writes ``path`` (replacing a file there). For registries, where
            no version is ever replaced, the name is claimed atomically: ``"exact"``
            fails if ``path`` exists (also when another writer creates it at the same
            moment); ``"next"`` writes the next free version instead.

    Returns:
        The path written.

    Raises:
        RecordError: The record's envelope is invalid, or ``claim="exact"`` and the
            version exists.
    """
    if claim not in (None, "exact", "next"):
        raise ValueError(f"claim must be None, 'exact' or 'next', not {claim!r}")
    safe = _without_timings(json_safe(dict(record)))
    validate_record(safe, where=str(path))
    text = json.dumps(safe, indent=1, allow_nan=False) + "\n"
    target = Path(path)
    if claim is None:
        atomic_write(target, text)
        return target
    version_of(target)  # a registry version name, or a clear error
    for _ in range(10_000):
        try:
            atomic_write(target, text, exclusive=True)
            return target
        except FileExistsError:
            if claim == "exact":
                raise RecordError(
                    f"{target} exists and records are append-only; pass --bump to write "
                    f"{next_version_path(target.parent).name}"
                ) from None
            target = next_version_path(target.parent)
    raise RecordError(f"{target.parent}: no free record version after 10,000 tries")


# ------------------------------------------------------------------ the reader
def read_record(path: str | Path) -> dict[str, Any]:
    """Read a record: parse, migrate to the current schema, validate the envelope.

    Returns:
        The schema-2 record as a dict (no law lookup, no conversion).

    Raises:
        RecordError: Missing file, invalid JSON, unknown schema or kind, or a malformed
            envelope (the field is named).
    """
    p = Path(path)
    if not p.is_file():
        raise RecordError(f"fit record {str(p)!r} does not exist")
    if p.stat().st_size > MAX_RECORD_BYTES:
        raise RecordError(
            f"fit record {str(p)!r} is {p.stat().st_size:,} bytes; records are at most "
            f"{MAX_RECORD_BYTES:,}"
        )
    try:
        record = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"fit record {str(p)!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise RecordError(f"fit record {str(p)!r} is nested too deeply to be a record") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        msg = str(exc).split(";")[0]
        raise RecordError(f"fit record {str(p)!r} holds an unreadable value: {msg}") from None
    return validate_record(migrate(record, where=str(p)), where=str(p))


def migrate(record: Any, where: str = "record") -> dict[str, Any]:
    """Bring a record to :data:`SCHEMA_VERSION` by applying :data:`MIGRATIONS` in turn.

    Raises:
        RecordError: Not a JSON object, or a schema version this release cannot read.
    """
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a fit record must be a JSON object")
    version = record.get("schema_version")
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in SUPPORTED_SCHEMAS
    ):
        raise RecordError(
            f"{where}: schema_version {version!r} is not supported (this version reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMAS))})"
        )
    while record["schema_version"] < SCHEMA_VERSION:
        record = MIGRATIONS[record["schema_version"]](record)
    return record


def migrate_v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: a ``kind`` of ``law`` or ``pipeline`` and one envelope.

    A ``scalinglaws.fit`` record keeps its fields (its top-level ``n_runs`` moves to
    ``data.n_runs``). A ``scalinglaws.cmr_fit`` record (``law: "cmr"``) becomes a
    ``pipeline`` record: its settings and tables move under ``parts``, its draws under
    ``uncertainty.draws``, and its anchor CMR values are clipped to [0, 1] and flagged
    (DESIGN §5), the unclipped value kept as ``cmr_unclipped`` for the drift check.
    """
    out = dict(record)
    if out.get("kind") == V1_CMR_KIND or out.get("law") == "cmr":
        return _migrate_cmr_v1(out)
    out["schema_version"], out["kind"] = 2, LAW
    data = dict(out.get("data") or {})
    data.setdefault("n_runs", out.pop("n_runs", None))
    data.setdefault("load_options", {})
    out.pop("n_runs", None)
    out["data"] = data
    return out


def _migrate_cmr_v1(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"schema_version": 2, "kind": PIPELINE}
    out["pipeline"] = {
        "name": str(rec.get("law", "cmr")),
        "version": str(rec.get("law_version", "1")),
        "reference": rec.get("reference"),
    }
    settings = {k: rec[k] for k in ("lambda", "epsilon", "token_unit", "models") if k in rec}
    parts: dict[str, Any] = {"settings": settings}
    for key in ("baselines", "curves", "loss_ratio", "critical", "cmr"):
        if key in rec:
            parts[key] = rec[key]
    cmr_rows = rec.get("cmr") if isinstance(rec.get("cmr"), list) else []
    rows = [r for r in cmr_rows if isinstance(r, dict)]
    statuses = sorted({str(r.get("status")) for r in rows})
    out["params"] = rec.get("params")
    out["objective"] = {str(r.get("model")): r.get("objective") for r in rows}
    out["status"] = "converged" if statuses == ["converged"] else ",".join(statuses)
    options = rec.get("options") if isinstance(rec.get("options"), dict) else {}
    out["options"] = options
    data = dict(rec.get("data") or {})
    crit = rec.get("critical")
    data.setdefault("n_runs", len(crit) if isinstance(crit, list) else None)
    data.setdefault("load_options", {"token_unit_in": options.get("token_unit_in", 1.0)})
    out["data"] = data
    unc = dict(rec.get("uncertainty") or {})
    if "draws" in rec:
        unc["draws"] = rec["draws"]
    out["uncertainty"] = unc
    out["anchors"] = [clip_cmr_anchor(a) for a in rec.get("anchors") or []]
    for key in ("tolerances", "provenance", "warnings"):
        out[key] = rec.get(key)
    out["parts"] = parts
    return out


def clip_cmr_anchor(anchor: Any) -> Any:
    """A CMR anchor with ``cmr`` clipped to [0, 1], ``cmr_unclipped`` and ``flags``."""
    if not isinstance(anchor, dict) or "cmr_unclipped" in anchor:
        return anchor
    value = anchor.get("cmr")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return anchor
    clipped = min(max(float(value), 0.0), 1.0)
    flags = list(anchor.get("flags") or [])
    if clipped != value:
        flags.append("clipped")
    return {**anchor, "cmr": clipped, "cmr_unclipped": float(value), "flags": flags}


#: schema version -> function migrating a record of that version to the next one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: migrate_v1_to_v2}


def _need_type(record: Mapping[str, Any], key: str, typ: type, where: str) -> Any:
    value = record.get(key)
    if not isinstance(value, typ):
        raise RecordError(f"{where}: field {key!r} is missing or not a {typ.__name__}")
    return value


def validate_record(record: Any, where: str = "record") -> dict[str, Any]:
    """Validate a schema-2 record's envelope (the parts a kind adds are its converter's).

    Raises:
        RecordError: The field at fault is named.
    """
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a fit record must be a JSON object")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(
            f"{where}: schema_version {record.get('schema_version')!r} is not the current "
            f"{SCHEMA_VERSION} (read it with read_record, which migrates)"
        )
    kind = record.get("kind")
    if kind not in KINDS:
        raise RecordError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    head = _need_type(record, kind, dict, where)
    if not isinstance(head.get("name"), str):
        raise RecordError(f"{where}: {kind}.name is missing")
    _need_type(record, "params", dict, where)
    _need_type(record, "status", str, where)
    for key, typ in (("options", dict), ("data", dict), ("uncertainty", dict)):
        if record.get(key) is not None:
            _need_type(record, key, typ, where)
    for key in ("anchors", "warnings"):
        if record.get(key) is not None:
            _need_type(record, key, list, where)
    if kind == LAW:
        for name, value in record["params"].items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value):
                raise RecordError(f"{where}: parameter {name!r} = {value!r} is not a finite number")
        if record.get("calibration") is not None:
            _calibration_of(record, where)
    return record


# ------------------------------------------------------------------ record -> result
def register_pipeline(name: str, from_record: Callable[[Mapping[str, Any], str], Any]) -> None:
    """Register the converter of a pipeline's records (``from_record(record, where)``).

    The package that owns a pipeline registers it when imported (the mixture package
    registers ``"cmr"``), so :func:`load_record` can build its result object.
    """
    _PIPELINES[name] = from_record


def load_record(path: str | Path, *, law: Law | None = None) -> Any:
    """Read any record and build its result: a ``FitResult`` or a pipeline's result.

    Args:
        path: The JSON record.
        law: For a law record of a custom law not in the registry.

    Raises:
        RecordError: Unreadable or invalid, or a pipeline no imported package registered.
    """
    record = read_record(path)
    return record_object(record, law=law, where=str(path))


def record_object(
    record: Mapping[str, Any], *, law: Law | None = None, where: str = "record"
) -> Any:
    """A validated schema-2 record's result object, dispatched on ``kind``.

    Raises:
        RecordError: A pipeline with no registered converter, or a record its converter
            refuses.
    """
    if record["kind"] == LAW:
        return result_from_record(record, law=law, where=where)
    name = record_name(record)
    if name not in _PIPELINES and name in _PIPELINE_MODULES:
        importlib.import_module(_PIPELINE_MODULES[name])
    if name not in _PIPELINES:
        raise RecordError(
            f"{where}: no reader is registered for pipeline {name!r} (import the package "
            "that provides it)"
        )
    return _PIPELINES[name](record, where)


def load_fit(path: str | Path, law: Law | None = None) -> FitResult:
    """Read a law record back as a :class:`FitResult` (without the run data).

    Args:
        path: The JSON record.
        law: The law, for a custom law not in the registry (``laws.register`` also works).

    Raises:
        RecordError: Unreadable, unknown schema, a pipeline record, or parameters that do
            not match the law.
    """
    record = read_record(path)
    if record["kind"] != LAW:
        raise RecordError(f"{path} is {describe_record(record)}, not a law record")
    return result_from_record(record, law=law, where=str(path))


def _calibration_of(record: Mapping[str, Any], where: str) -> Any:
    """The record's calibration as a ``Calibration``, or None; RecordError if unusable."""
    data = record.get("calibration")
    if data is None:
        return None
    try:
        calibration = conformal.Calibration.from_dict(data)
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


def _law_for(record: Mapping[str, Any], law: Law | None, where: str) -> Law:
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
    return law


def result_from_record(
    record: Mapping[str, Any], law: Law | None = None, where: str = "record"
) -> FitResult:
    """A validated ``kind: "law"`` record as a :class:`FitResult` (without the run data).

    Raises:
        RecordError: Unknown law, another law version, or parameters that do not match.
    """
    law = _law_for(record, law, where)
    try:
        # Untrusted numbers: finite, positive where the law fits a log, inside its bounds.
        params = check_params(law, record["params"])
    except (ScalingLawsError, TypeError, ValueError, OverflowError) as exc:
        raise RecordError(f"{where}: {exc}") from None
    try:
        return _result(record, law, params, where)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        # A field of the wrong shape or type (a string covariance, a list objective, ...).
        raise RecordError(f"{where}: malformed record ({type(exc).__name__}: {exc})") from None


def _result(record: Mapping[str, Any], law: Law, params: dict[str, float], where: str) -> FitResult:
    unc = record.get("uncertainty") or {}
    draws = {k: np.asarray(v, dtype=float) for k, v in (unc.get("draws") or {}).items()}
    for k, v in draws.items():
        if v.ndim != 1:
            raise ValueError(f"uncertainty.draws.{k} must be a list of numbers")
    if len({v.size for v in draws.values()}) > 1:
        sizes = {k: int(v.size) for k, v in draws.items()}
        raise ValueError(f"uncertainty.draws: unequal numbers of draws per parameter {sizes}")
    cov = record.get("covariance")
    if cov is not None:
        cov = np.asarray(cov, dtype=float)
        if cov.shape != (len(law.params), len(law.params)):
            raise ValueError(f"covariance must be {len(law.params)}x{len(law.params)}")
    objective = record.get("objective")
    if objective is not None and (
        isinstance(objective, bool) or not isinstance(objective, int | float)
    ):
        raise ValueError("objective must be a number")
    data = record.get("data") or {}
    options = dict(record.get("options") or {})
    options["record"] = {
        "data": data,
        "anchors": record.get("anchors"),
        "tolerances": record.get("tolerances"),
        "provenance": record.get("provenance"),
    }
    return FitResult(
        law=law,
        params=params,
        objective=math.nan if objective is None else float(objective),
        status=record["status"],
        starts=pd.DataFrame(),
        n_runs=int(data.get("n_runs") or 0),
        options=options,
        covariance=cov,
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
