"""CMR pipeline records: the ``kind: "pipeline"``, ``pipeline: cmr`` form of a fit record.

The envelope (schema, params, options, data, uncertainty, anchors, tolerances, warnings,
provenance) and the one reader and writer are :mod:`scalinglaws.io.records`'; this module
fills the pipeline's parts and registers their converter. ``params`` holds the point
parameters of every part per model (the loss-against-ratio fits, the loss-change curves
per ratio, the CMR law ``alpha4, s4, beta3``); ``parts`` holds the settings (lambda,
epsilon, token unit, models), baselines and the tables (curves, loss_ratio, critical,
cmr); ``uncertainty.draws`` holds thinned draws of the curves and of the CMR law.
Anchors are CMR values per model at the smallest, middle and largest fitted turning
point, clipped to [0, 1] and flagged as DESIGN §5 says, with the unclipped value kept
for the drift check. Never pickled, never evaluated: every field is checked on load.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.errors import RecordError
from scalinglaws.exported import cached_jit
from scalinglaws.io import records
from scalinglaws.io.registry import registry_target as _registry_target
from scalinglaws.laws.cmr import (
    CMR_KEYS,
    DOMAIN_KEYS,
    GENERAL_KEYS,
    LOSS_RATIO_KEYS,
    critical_ratio,
)
from scalinglaws.mixture.pipeline import CMRFit

#: Pipeline name in records (``pipeline.name``) and registry folder.
PIPELINE = "cmr"
#: Version of the pipeline's record layout.
PIPELINE_VERSION = "1"
REFERENCE = "Gu et al. 2024, arXiv 2407.17467"
#: Draws kept in a record (the first ones: bootstrap draws are exchangeable).
DEFAULT_THIN = 200
#: Drift-check tolerance on each parameter of every part (relative): a 1% change of any
#: of alpha4, s4, beta3 is caught, while a refit on the same data agrees to ~1e-9.
DEFAULT_PARAM_RTOL = 2e-3
#: Drift-check tolerance on anchor CMR values (relative).
DEFAULT_ANCHOR_RTOL = 1e-4

_CURVE_COLS = (
    "model",
    "ratio",
    "split",
    "n_points",
    "tokens_min",
    "tokens_max",
    "baseline",
    "delta",
    "objective",
    "status",
)
_CRIT_COLS = (
    "model",
    "ratio",
    "T0",
    "kind",
    "residual",
    "tokens_max",
    "dgen_at_tmax",
    "extrapolated",
    "feasible",
    "T0_q05",
    "T0_q50",
    "T0_q95",
    "log_T0_sd",
    "finite_frac",
    "feasible_prob",
    "weight",
    "used_in_cmr_fit",
)
_CMR_COLS = (
    "model",
    "n_points",
    *CMR_KEYS,
    "objective",
    "status",
    "tokens_fit_min",
    "tokens_fit_max",
)
_LR_COLS = ("model", "split", "n_points", *LOSS_RATIO_KEYS, "objective", "status")
_CURVE_NUMERIC = {
    "ratio",
    "n_points",
    "tokens_min",
    "tokens_max",
    "baseline",
    "delta",
    "objective",
    *DOMAIN_KEYS,
    *GENERAL_KEYS,
}


# ------------------------------------------------------------------ writing
def _num(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def _rows(df: pd.DataFrame, cols) -> list[dict]:
    return [{c: _num(row[c]) for c in cols if c in df.columns} for _, row in df.iterrows()]


def _arr(a: np.ndarray, thin: int) -> list:
    return [_num(float(v)) for v in np.asarray(a, dtype=float)[:thin]]


def _clean_nested(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean_nested(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_nested(v) for v in obj]
    return _num(obj)


def _critical_ratio64(params: Mapping[str, float], t: float) -> float:
    """The CMR law at one budget ``t`` (fit units), in float64 whatever JAX's default."""
    with jax.enable_x64(True):
        p = {k: np.float64(v) for k, v in params.items()}
        return float(_critical_ratio_compiled(p, np.float64(t)))


@cached_jit
def _critical_ratio_compiled(params, t):
    # One compiled program (not one per operation) for the record's anchors.
    return critical_ratio(params, {"T": t})


def default_cmr_anchors(fit: CMRFit) -> list[dict]:
    """Anchor CMR values per model at the smallest, geometric-middle and largest fitted
    turning point (raw tokens), each with a relative tolerance.

    ``cmr`` is clipped to [0, 1] and flagged ``"clipped"`` when the law leaves it (DESIGN
    §5); ``cmr_unclipped`` is the law's value, which the drift check compares (a clipped
    value would hide drift beyond the clip).
    """
    out = []
    for _, row in fit.cmr.iterrows():
        p = {k: float(row[k]) for k in CMR_KEYS}
        lo, hi = float(row["tokens_fit_min"]), float(row["tokens_fit_max"])
        if not all(math.isfinite(v) for v in (*p.values(), lo, hi)):
            continue
        for tok in sorted({lo, math.sqrt(lo * hi), hi}):
            t = tok / fit.token_unit
            anchor = {
                "model": str(row["model"]),
                "tokens": tok,
                "cmr": _critical_ratio64(p, t),
                "rtol": DEFAULT_ANCHOR_RTOL,
            }
            out.append(records.clip_cmr_anchor(anchor))
    return out


def _status(fit: CMRFit) -> str:
    statuses = sorted({str(s) for s in fit.cmr["status"]})
    return "converged" if statuses == ["converged"] else ",".join(statuses)


def _parts(fit: CMRFit) -> dict[str, Any]:
    return {
        "settings": {
            "lambda": _num(float(fit.lam)),
            "epsilon": fit.epsilon,
            "token_unit": fit.token_unit,
            "models": list(fit.models),
        },
        "baselines": [{"model": m, "split": s, "loss": v} for (m, s), v in fit.baselines.items()],
        "curves": _rows(fit.curves, (*_CURVE_COLS, *DOMAIN_KEYS, *GENERAL_KEYS)),
        "loss_ratio": _rows(fit.loss_ratio, _LR_COLS),
        "critical": _rows(fit.critical, _CRIT_COLS),
        "cmr": _rows(fit.cmr, _CMR_COLS),
    }


def _uncertainty(fit: CMRFit, thin: int) -> dict[str, Any]:
    curve_draws = [
        {"model": m, "ratio": r, "split": sp, "params": {k: _arr(v, thin) for k, v in d.items()}}
        for (m, r, sp), d in fit.curve_draws.items()
    ]
    cmr_draws = {m: {k: _arr(v, thin) for k, v in d.items()} for m, d in fit.cmr_draws.items()}
    return {
        **_clean_nested(dict(fit.uncertainty)),
        "n_draws_kept": min(thin, fit.n_draws),
        "draws": {"curves": curve_draws, "cmr": cmr_draws},
    }


def _selection(selection: Mapping[str, Any] | None) -> dict[str, Any]:
    """``columns`` and ``where`` of a curve selection, plain JSON, only those given."""
    out: dict[str, Any] = {}
    for key, value in (selection or {}).items():
        if key == "columns" and value:
            out["columns"] = {str(k): str(v) for k, v in dict(value).items()}
        elif key == "where" and value is not None:
            out["where"] = str(value)
        elif key not in ("columns", "where"):
            raise ValueError(f"unknown curve-selection key {key!r} (columns, where)")
    return out


def cmr_fit_to_dict(
    fit: CMRFit,
    *,
    data_path: str | None = None,
    data_path_as: str | None = None,
    thin: int = DEFAULT_THIN,
    dataset: str | None = None,
    param_rtol: float = DEFAULT_PARAM_RTOL,
    selection: Mapping[str, Any] | None = None,
) -> dict:
    """The JSON-ready ``kind: "pipeline"`` record of a :class:`CMRFit` (see :func:`save_cmr_fit`)."""
    src = data_path or (fit.data.attrs.get("source") if fit.data is not None else None)
    options = _clean_nested(dict(fit.options))
    data = records.data_block(
        src if src and os.path.isfile(src) else None,
        data_path_as=data_path_as,
        n_runs=len(fit.critical),
        load_options={
            "token_unit_in": options.get("token_unit_in", 1.0),
            **_selection(selection),
        },
        dataset=dataset,
    )
    return {
        "schema_version": records.SCHEMA_VERSION,
        "kind": records.PIPELINE,
        "pipeline": {"name": PIPELINE, "version": PIPELINE_VERSION, "reference": REFERENCE},
        "params": _clean_nested(fit.params),
        "objective": {
            str(m): _num(float(o))
            for m, o in zip(fit.cmr["model"], fit.cmr["objective"], strict=True)
        },
        "status": _status(fit),
        "options": options,
        "data": data,
        "uncertainty": _uncertainty(fit, thin),
        "anchors": default_cmr_anchors(fit),
        "tolerances": {"params_rtol": dict.fromkeys(CMR_KEYS, float(param_rtol))},
        "warnings": list(fit.warnings),
        "provenance": records.provenance(),
        "parts": _parts(fit),
    }


def save_cmr_fit(
    fit: CMRFit,
    path: str | os.PathLike,
    *,
    data_path: str | None = None,
    data_path_as: str | None = None,
    thin: int = DEFAULT_THIN,
    dataset: str | None = None,
    param_rtol: float = DEFAULT_PARAM_RTOL,
    selection: Mapping[str, Any] | None = None,
) -> dict:
    """Write a CMR fit as a pipeline record (via :func:`scalinglaws.io.records.write_record`).

    Besides the fit, the record holds what ``scalinglaws check`` compares after a refit
    from the data: relative tolerances on the parameters (``tolerances.params_rtol``) and
    anchor CMR values (``anchors``, each with its ``rtol``).

    Args:
        fit: The fit.
        path: Output path (``.json``).
        data_path: The run log's path, for its SHA-256 (default the fit's source).
        data_path_as: The path written into the record instead of ``data_path`` (a
            registry stores it relative to the record's folder).
        thin: Number of draws kept.
        dataset: Dataset name (the registry folder), stored under ``data``.
        param_rtol: Drift-check tolerance on each parameter.
        selection: The rows the fit read from ``data_path``: ``{"columns": {role:
            column}, "where": filter}`` as given to
            :func:`scalinglaws.mixture.runs.select_curves`; kept in ``data.load_options``
            so that a drift check refits the same rows.

    Returns:
        The record written.
    """
    rec = cmr_fit_to_dict(
        fit,
        data_path=data_path,
        data_path_as=data_path_as,
        thin=thin,
        dataset=dataset,
        param_rtol=param_rtol,
        selection=selection,
    )
    records.write_record(rec, path)
    return rec


# ------------------------------------------------------------------ reading
def _float(v: Any, where: str) -> float:
    if v is None:
        return math.nan
    if v in ("inf", "-inf"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RecordError(f"{where}: {v!r} is not a number")
    return float(v)


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise RecordError(f"{where}: missing field {key!r}")
    return obj[key]


def _row(row: Any, cols, numeric, where: str) -> dict:
    return {
        c: _float(v, f"{where}.{c}") if c in numeric else v
        for c, v in ((c, _need(row, c, where)) for c in cols)
    }


def _table(rows: Any, cols, numeric, where: str) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise RecordError(f"{where} must be a list of rows")
    out = [_row(row, cols, numeric, f"{where}[{i}]") for i, row in enumerate(rows)]
    return pd.DataFrame(out, columns=list(cols))


def _settings(parts: Any) -> tuple[float, float, float, tuple[str, ...]]:
    settings = _need(parts, "settings", "parts")
    lam = _float(_need(settings, "lambda", "parts.settings"), "lambda")
    eps = _float(_need(settings, "epsilon", "parts.settings"), "epsilon")
    unit = _float(_need(settings, "token_unit", "parts.settings"), "token_unit")
    if not (lam > 0) or not (eps >= 0) or not (unit > 0 and math.isfinite(unit)):
        raise RecordError("record: lambda must be > 0, epsilon >= 0, token_unit > 0")
    models = _need(settings, "models", "parts.settings")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise RecordError("record: models must be a list of names")
    return lam, eps, unit, tuple(models)


def _curves(rows: Any) -> pd.DataFrame:
    parts = []
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        split = _need(row, "split", f"curves[{i}]")
        if split not in ("domain", "general"):
            raise RecordError(f"curves[{i}].split {split!r} is not 'domain' or 'general'")
        keys = DOMAIN_KEYS if split == "domain" else GENERAL_KEYS
        parts.append(_row(row, (*_CURVE_COLS, *keys), _CURVE_NUMERIC, f"curves[{i}]"))
    if not parts:
        raise RecordError("record: curves must be a non-empty list")
    curves = pd.DataFrame(parts)
    curves["n_points"] = curves["n_points"].astype(int)
    return curves


def _baselines(rows: Any) -> dict[tuple[str, str], float]:
    if not isinstance(rows, list):
        raise RecordError("parts.baselines must be a list of rows")
    out = {}
    for i, row in enumerate(rows):
        where = f"baselines[{i}]"
        key = (str(_need(row, "model", where)), str(_need(row, "split", where)))
        out[key] = _float(_need(row, "loss", where), f"{where}.loss")
    return out


def _draw_list(v: Any, n: int | None, where: str) -> np.ndarray:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise RecordError(f"{where} must be a list of {n if n is not None else 'the'} draws")
    return np.asarray([_float(x, where) for x in v])


def _draws(draws: Any) -> tuple[dict, dict]:
    n = None
    curve_draws = {}
    for i, d in enumerate(_need(draws, "curves", "draws")):
        where = f"draws.curves[{i}]"
        key = (
            _need(d, "model", where),
            _float(_need(d, "ratio", where), "ratio"),
            _need(d, "split", where),
        )
        params = _need(d, "params", where)
        arrs = {}
        for k, v in params.items():
            arrs[k] = _draw_list(v, n, f"{where}.params.{k}")
            n = len(arrs[k])
        curve_draws[key] = arrs
    cmr_draws = {
        m: {k: _draw_list(_need(d, k, f"draws.cmr.{m}"), n, f"draws.cmr.{m}.{k}") for k in CMR_KEYS}
        for m, d in _need(draws, "cmr", "draws").items()
    }
    return curve_draws, cmr_draws


def cmr_fit_from_record(record: Mapping[str, Any], where: str = "record") -> CMRFit:
    """A validated schema-2 ``pipeline: cmr`` record as a :class:`CMRFit` (without data).

    Raises:
        RecordError: A missing or invalid field (named), or another pipeline's record.
    """
    if record.get("kind") != records.PIPELINE or records.record_name(record) != PIPELINE:
        raise RecordError(f"{where} is {records.describe_record(record)}, not a CMR record")
    try:
        return _cmr_fit(record)
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None


def _cmr_fit(rec: Mapping[str, Any]) -> CMRFit:
    parts = _need(rec, "parts", "record")
    lam, eps, unit, models = _settings(parts)
    numeric_crit = set(_CRIT_COLS) - {
        "model",
        "kind",
        "extrapolated",
        "feasible",
        "used_in_cmr_fit",
    }
    crit = _table(_need(parts, "critical", "parts"), _CRIT_COLS, numeric_crit, "critical")
    crit.loc[crit["kind"] == "never", "T0"] = math.inf
    cmr = _table(
        _need(parts, "cmr", "parts"), _CMR_COLS, set(_CMR_COLS) - {"model", "status"}, "cmr"
    )
    lr_numeric = set(_LR_COLS) - {"model", "split", "status"}
    lr = _table(_need(parts, "loss_ratio", "parts"), _LR_COLS, lr_numeric, "loss_ratio")
    baselines = _baselines(_need(parts, "baselines", "parts"))
    unc = dict(_need(rec, "uncertainty", "record"))
    curve_draws, cmr_draws = _draws(unc.pop("draws", None))
    for m in models:
        if m not in set(cmr["model"]):
            raise RecordError(f"record: model {m!r} has no CMR-law row")
        for sp in ("general", "domain"):
            if (m, sp) not in baselines:
                raise RecordError(f"record: model {m!r} has no {sp} baseline")
    return CMRFit(
        models=models,
        token_unit=unit,
        lam=lam,
        epsilon=eps,
        curves=_curves(_need(parts, "curves", "parts")),
        loss_ratio=lr,
        critical=crit,
        cmr=cmr,
        curve_draws=curve_draws,
        cmr_draws=cmr_draws,
        baselines=baselines,
        uncertainty=unc,
        options=dict(rec.get("options") or {}),
        warnings=tuple(rec.get("warnings") or ()),
        data=None,
    )


def cmr_fit_from_dict(rec: Any) -> CMRFit:
    """Validate a CMR record dict of any schema and rebuild the :class:`CMRFit`.

    Raises:
        RecordError: Unknown schema, another kind of record, or an invalid field (named).
    """
    record = records.validate_record(records.migrate(rec))
    return cmr_fit_from_record(record)


def load_cmr_fit(path: str | os.PathLike) -> CMRFit:
    """Read and validate a CMR record (written by :func:`save_cmr_fit`, any schema).

    Raises:
        RecordError: Unreadable JSON, unknown schema, a record of another kind, or a
            missing/invalid field (named).
    """
    return cmr_fit_from_record(records.read_record(path), where=str(path))


records.register_pipeline(PIPELINE, cmr_fit_from_record)


# ------------------------------------------------------------------ registry
def registry_target(fits_dir: str | os.PathLike, dataset: str, *, bump: bool = False) -> Path:
    """The next record path ``FITS_DIR/cmr/DATASET/v<N>.json`` (records are append-only).

    Raises:
        RecordError: A version exists and ``bump`` is false, or the dataset name is empty
            or contains a path separator.
    """
    return _registry_target(fits_dir, PIPELINE, dataset, bump=bump)


def record_cmr(
    runs: str | os.PathLike,
    dataset: str,
    *,
    fits_dir: str | os.PathLike = "fits",
    bump: bool = False,
    **fit_options: Any,
) -> Path:
    """Fit a CMR pipeline and append its record to a registry, ``fits/cmr/<dataset>/v<N>.json``.

    The data path is stored relative to the record's folder (so the registry works from
    any checkout) and ``scalinglaws check`` refits it from the data with the recorded
    options (:func:`scalinglaws.checking.check_record`). Records are append-only.

    Args:
        runs: The continual-pre-training run log (a file).
        dataset: Dataset name (the registry folder).
        fits_dir: Registry root.
        bump: Write the next version when one exists (otherwise an existing record is an
            error).
        **fit_options: Keywords of :func:`scalinglaws.mixture.fit_cmr`.

    Returns:
        The path written.

    Raises:
        RecordError: A record exists and ``bump`` is false, or ``runs`` is not a file.
    """
    import warnings

    from scalinglaws.errors import ScalingLawsWarning
    from scalinglaws.mixture.pipeline import fit_cmr

    if not Path(runs).is_file():
        raise RecordError(f"run log {str(runs)!r} does not exist")
    target = registry_target(fits_dir, dataset, bump=bump)
    folder = target.parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        fit = fit_cmr(str(runs), **fit_options)
    rel = os.path.relpath(Path(runs).resolve(), folder.resolve())
    rec = cmr_fit_to_dict(fit, data_path=str(runs), data_path_as=rel, dataset=dataset)
    # The version is claimed when written: a concurrent writer that took it moves this
    # record to the next free version instead of being overwritten.
    return records.write_record(rec, target, claim="next" if bump else "exact")
