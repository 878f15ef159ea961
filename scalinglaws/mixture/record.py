"""CMR fit records: plain JSON (schema version 1), written atomically, validated on load.

A record holds everything a mixture plan needs without refitting: the curve fits (paper
keys), L(R) fits, turning points, the CMR law per model, thinned bootstrap draws of the
curves and of the CMR law, the baselines, the options, the data file's path and SHA-256,
and provenance. Never pickle, never evaluated: every field is checked on load.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RecordError
from scalinglaws.io.files import atomic_write
from scalinglaws.laws.cmr import CMR_KEYS, DOMAIN_KEYS, GENERAL_KEYS, LOSS_RATIO_KEYS
from scalinglaws.mixture.pipeline import CMRFit, file_sha256

SCHEMA_VERSION = 1
#: Record kind (``scalinglaws check`` dispatches on it; single-law records say
#: ``scalinglaws.fit``).
KIND = "scalinglaws.cmr_fit"
#: Draws kept in a record (the first ones: bootstrap draws are exchangeable).
DEFAULT_THIN = 200
#: Drift-check tolerance on each CMR-law parameter (relative): a 1% change of any of
#: alpha4, s4, beta3 is caught, while a refit on the same data agrees to ~1e-9.
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


def default_cmr_anchors(fit: CMRFit) -> list[dict]:
    """Anchor CMR values per model: the unclipped law at the smallest, geometric-middle
    and largest fitted turning point (raw tokens), with a relative tolerance each."""
    out = []
    for _, row in fit.cmr.iterrows():
        p = {k: float(row[k]) for k in CMR_KEYS}
        lo, hi = float(row["tokens_fit_min"]), float(row["tokens_fit_max"])
        if not all(math.isfinite(v) for v in (*p.values(), lo, hi)):
            continue
        for tok in sorted({lo, math.sqrt(lo * hi), hi}):
            t = tok / fit.token_unit
            out.append(
                {
                    "model": str(row["model"]),
                    "tokens": tok,
                    "cmr": p["alpha4"] * t ** p["s4"] + p["beta3"],
                    "rtol": DEFAULT_ANCHOR_RTOL,
                }
            )
    return out


def cmr_fit_to_dict(
    fit: CMRFit,
    *,
    data_path: str | None = None,
    data_path_as: str | None = None,
    thin: int = DEFAULT_THIN,
    dataset: str | None = None,
    param_rtol: float = DEFAULT_PARAM_RTOL,
) -> dict:
    """The JSON-ready record of a :class:`CMRFit` (see :func:`save_cmr_fit`)."""
    from scalinglaws import __version__

    data: dict[str, Any] = {"path": None, "sha256": None}
    src = data_path or (fit.data.attrs.get("source") if fit.data is not None else None)
    if src and os.path.isfile(src):
        data = {
            "path": data_path_as if data_path_as is not None else str(src),
            "sha256": file_sha256(src),
        }
    if dataset:
        data["dataset"] = dataset
    curve_draws = [
        {"model": m, "ratio": r, "split": sp, "params": {k: _arr(v, thin) for k, v in d.items()}}
        for (m, r, sp), d in fit.curve_draws.items()
    ]
    cmr_draws = {m: {k: _arr(v, thin) for k, v in d.items()} for m, d in fit.cmr_draws.items()}
    versions = {"python": platform.python_version(), "scalinglaws": __version__}
    for mod in ("jax", "numpy", "pandas"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # provenance is best effort
            pass
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "law": "cmr",
        "law_version": "1",
        "reference": "Gu et al. 2024, arXiv 2407.17467",
        "params": _clean_nested(fit.params),
        "lambda": _num(float(fit.lam)),
        "epsilon": fit.epsilon,
        "token_unit": fit.token_unit,
        "models": list(fit.models),
        "options": _clean_nested(dict(fit.options)),
        "baselines": [{"model": m, "split": s, "loss": v} for (m, s), v in fit.baselines.items()],
        "curves": _rows(fit.curves, (*_CURVE_COLS, *DOMAIN_KEYS, *GENERAL_KEYS)),
        "loss_ratio": _rows(fit.loss_ratio, _LR_COLS),
        "critical": _rows(fit.critical, _CRIT_COLS),
        "cmr": _rows(fit.cmr, _CMR_COLS),
        "uncertainty": {
            **_clean_nested(dict(fit.uncertainty)),
            "n_draws_kept": min(thin, fit.n_draws),
        },
        "draws": {"curves": curve_draws, "cmr": cmr_draws},
        "data": data,
        "anchors": default_cmr_anchors(fit),
        "tolerances": {"params_rtol": dict.fromkeys(CMR_KEYS, float(param_rtol))},
        "provenance": {
            "versions": versions,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "warnings": list(fit.warnings),
    }


def _clean_nested(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean_nested(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_nested(v) for v in obj]
    return _num(obj)


def save_cmr_fit(
    fit: CMRFit,
    path: str | os.PathLike,
    *,
    data_path: str | None = None,
    data_path_as: str | None = None,
    thin: int = DEFAULT_THIN,
    dataset: str | None = None,
    param_rtol: float = DEFAULT_PARAM_RTOL,
) -> dict:
    """Write a CMR fit record as JSON via a temporary file renamed into place.

    Besides the fit, the record holds what ``scalinglaws check`` compares after a refit:
    relative tolerances on each model's CMR-law parameters (``tolerances.params_rtol``)
    and anchor CMR values (``anchors``: the law at the smallest, middle and largest
    fitted turning point of each model, each with its ``rtol``).

    Args:
        fit: The fit.
        path: Output path (``.json``).
        data_path: The run log's path, for its SHA-256 (default the fit's source).
        data_path_as: The path written into the record instead of ``data_path`` (a
            registry stores it relative to the record's folder).
        thin: Number of draws kept.
        dataset: Dataset name (the registry folder), stored under ``data``.
        param_rtol: Drift-check tolerance on each CMR-law parameter.

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
    )
    atomic_write(path, json.dumps(rec, indent=1, allow_nan=False))
    return rec


def _float(v: Any, where: str) -> float:
    if v is None:
        return math.nan
    if v in ("inf", "-inf"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RecordError(f"{where}: {v!r} is not a number")
    return float(v)


def _need(obj: dict, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise RecordError(f"{where}: missing field {key!r}")
    return obj[key]


def _row(row: Any, cols, numeric, where: str) -> dict:
    rec = {}
    for c in cols:
        v = _need(row, c, where)
        rec[c] = _float(v, f"{where}.{c}") if c in numeric else v
    return rec


def _table(rows: Any, cols, numeric, where: str) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise RecordError(f"{where} must be a list of rows")
    out = [_row(row, cols, numeric, f"{where}[{i}]") for i, row in enumerate(rows)]
    return pd.DataFrame(out, columns=list(cols))


def cmr_fit_from_dict(rec: Any) -> CMRFit:
    """Validate a record dict and rebuild the :class:`CMRFit` (without its data)."""
    if not isinstance(rec, dict):
        raise RecordError("CMR record must be a JSON object")
    ver = _need(rec, "schema_version", "record")
    if ver != SCHEMA_VERSION:
        raise RecordError(f"CMR record schema_version {ver!r} is not supported (expected 1)")
    if _need(rec, "law", "record") != "cmr":
        raise RecordError(f"record is for law {rec['law']!r}, not 'cmr'")
    lam = _float(_need(rec, "lambda", "record"), "lambda")
    eps = _float(_need(rec, "epsilon", "record"), "epsilon")
    unit = _float(_need(rec, "token_unit", "record"), "token_unit")
    if not (lam > 0) or not (eps >= 0) or not (unit > 0 and math.isfinite(unit)):
        raise RecordError("record: lambda must be > 0, epsilon >= 0, token_unit > 0")
    models = _need(rec, "models", "record")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise RecordError("record: models must be a list of names")
    num_curve = {
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
    crows = _need(rec, "curves", "record")
    curves_parts = []
    for i, row in enumerate(crows if isinstance(crows, list) else []):
        split = _need(row, "split", f"curves[{i}]")
        if split not in ("domain", "general"):
            raise RecordError(f"curves[{i}].split {split!r} is not 'domain' or 'general'")
        keys = DOMAIN_KEYS if split == "domain" else GENERAL_KEYS
        curves_parts.append(_row(row, (*_CURVE_COLS, *keys), num_curve, f"curves[{i}]"))
    if not curves_parts:
        raise RecordError("record: curves must be a non-empty list")
    curves = pd.DataFrame(curves_parts)
    for c in ("n_points",):
        curves[c] = curves[c].astype(int)
    crit = _table(
        _need(rec, "critical", "record"),
        _CRIT_COLS,
        set(_CRIT_COLS) - {"model", "kind", "extrapolated", "feasible", "used_in_cmr_fit"},
        "critical",
    )
    crit.loc[crit["kind"] == "never", "T0"] = math.inf
    cmr = _table(
        _need(rec, "cmr", "record"), _CMR_COLS, set(_CMR_COLS) - {"model", "status"}, "cmr"
    )
    lr = _table(
        _need(rec, "loss_ratio", "record"),
        _LR_COLS,
        set(_LR_COLS) - {"model", "split", "status"},
        "loss_ratio",
    )
    baselines = {}
    for i, row in enumerate(_need(rec, "baselines", "record")):
        baselines[
            (
                str(_need(row, "model", f"baselines[{i}]")),
                str(_need(row, "split", f"baselines[{i}]")),
            )
        ] = _float(_need(row, "loss", f"baselines[{i}]"), f"baselines[{i}].loss")
    draws = _need(rec, "draws", "record")
    n = None
    curve_draws = {}
    for i, d in enumerate(_need(draws, "curves", "draws")):
        key = (
            _need(d, "model", f"draws.curves[{i}]"),
            _float(_need(d, "ratio", f"draws.curves[{i}]"), "ratio"),
            _need(d, "split", f"draws.curves[{i}]"),
        )
        params = _need(d, "params", f"draws.curves[{i}]")
        arrs = {}
        for k, v in params.items():
            if not isinstance(v, list):
                raise RecordError(f"draws.curves[{i}].params.{k} must be a list")
            arrs[k] = np.asarray([_float(x, f"draws.curves[{i}].params.{k}") for x in v])
            if n is None:
                n = len(arrs[k])
            if len(arrs[k]) != n:
                raise RecordError(f"draws.curves[{i}].params.{k} has {len(arrs[k])} draws, not {n}")
        curve_draws[key] = arrs
    cmr_draws = {}
    for m, d in _need(draws, "cmr", "draws").items():
        cmr_draws[m] = {}
        for k in CMR_KEYS:
            v = _need(d, k, f"draws.cmr.{m}")
            if not isinstance(v, list) or (n is not None and len(v) != n):
                raise RecordError(f"draws.cmr.{m}.{k} must be a list of {n} draws")
            cmr_draws[m][k] = np.asarray([_float(x, f"draws.cmr.{m}.{k}") for x in v])
    for m in models:
        if m not in set(cmr["model"]):
            raise RecordError(f"record: model {m!r} has no CMR-law row")
        for sp in ("general", "domain"):
            if (m, sp) not in baselines:
                raise RecordError(f"record: model {m!r} has no {sp} baseline")
    unc = _need(rec, "uncertainty", "record")
    return CMRFit(
        models=tuple(models),
        token_unit=unit,
        lam=lam,
        epsilon=eps,
        curves=curves,
        loss_ratio=lr,
        critical=crit,
        cmr=cmr,
        curve_draws=curve_draws,
        cmr_draws=cmr_draws,
        baselines=baselines,
        uncertainty=dict(unc) if isinstance(unc, dict) else {},
        options=dict(rec.get("options") or {}),
        warnings=tuple(rec.get("warnings") or ()),
        data=None,
    )


def load_cmr_fit(path: str | os.PathLike) -> CMRFit:
    """Read and validate a CMR record written by :func:`save_cmr_fit`.

    Raises:
        RecordError: Unreadable JSON, unknown schema, or a missing/invalid field (named).
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"CMR record {str(path)!r} does not exist")
    try:
        rec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"CMR record {str(path)!r} is not valid JSON: {exc}") from None
    return cmr_fit_from_dict(rec)


def _option_float(v: Any, default: float) -> float:
    if v is None:
        return default
    if v in ("inf", "-inf"):
        return float(v)
    return float(v)


def refit_cmr_law(rec: dict, data_file: str | os.PathLike) -> dict:
    """Refit a CMR record's point pipeline from its data, for a drift check.

    The curves and turning points are refitted with the recorded options and
    ``uncertainty="none"``; the CMR law of each model is then fitted through the new
    point turning points with the *recorded* weights (from the recorded fit's bootstrap
    variances of log T0), so a refit on the same data reproduces the recorded law
    without redrawing the bootstrap. A ratio whose new turning point is no longer a
    finite root gets no weight.

    Returns:
        ``{"params": {model: {alpha4, s4, beta3}}, "used": {model: [ratios]},
        "recorded_used": {model: [ratios]}, "token_unit": float}``.

    Raises:
        RecordError: The record's options or critical rows are unusable.
        ScalingLawsError: The run log cannot be loaded or fitted.
    """
    import warnings

    from scalinglaws.errors import ScalingLawsWarning
    from scalinglaws.mixture.pipeline import fit_cmr, fit_cmr_points

    opts = rec.get("options") or {}
    if not isinstance(opts, dict):
        raise RecordError("record: options must be an object")
    delta = opts.get("delta", "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        now = fit_cmr(
            str(data_file),
            lam=_option_float(opts.get("lam", rec.get("lambda")), 1000.0),
            epsilon=_option_float(opts.get("epsilon", rec.get("epsilon")), 0.05),
            uncertainty="none",
            token_unit=_option_float(opts.get("token_unit", rec.get("token_unit")), 1e9),
            token_unit_in=_option_float(opts.get("token_unit_in"), 1.0),
            delta=delta if isinstance(delta, str) else float(delta),
        )
    recorded = _table(
        _need(rec, "critical", "record"),
        ("model", "ratio", "weight", "used_in_cmr_fit"),
        {"ratio", "weight"},
        "critical",
    )
    unit = now.token_unit
    crit = now.critical
    params, used, rec_used = {}, {}, {}
    for model in now.models:
        r_sel = recorded[(recorded["model"] == model) & recorded["used_in_cmr_fit"].astype(bool)]
        rec_used[model] = sorted(float(r) for r in r_sel["ratio"])
        c = crit[crit["model"] == model].set_index("ratio")
        t, rr, ww = [], [], []
        for _, row in r_sel.iterrows():
            r = float(row["ratio"])
            match = [x for x in c.index if math.isclose(float(x), r, rel_tol=1e-9, abs_tol=1e-12)]
            if not match:
                continue
            cr = c.loc[match[0]]
            if cr["kind"] != "root" or not (math.isfinite(cr["T0"]) and cr["T0"] > 0):
                continue
            t.append(float(cr["T0"]) / unit)
            rr.append(r)
            ww.append(float(row["weight"]))
        used[model] = rr
        if len(t) > len(CMR_KEYS):
            f = fit_cmr_points(np.asarray([t]), np.asarray([rr]), np.asarray([ww]))
            params[model] = {k: float(f[k][0]) for k in CMR_KEYS}
        else:
            params[model] = dict.fromkeys(CMR_KEYS, math.nan)
    return {"params": params, "used": used, "recorded_used": rec_used, "token_unit": unit}


def registry_target(fits_dir: str | os.PathLike, dataset: str, *, bump: bool = False) -> Path:
    """The next record path ``FITS_DIR/cmr/DATASET/v<N>.json`` (records are append-only).

    Raises:
        RecordError: A version exists and ``bump`` is false, or the dataset name is empty
            or contains a path separator.
    """
    from scalinglaws import checking

    if not dataset or "/" in dataset or "\\" in dataset or dataset in (".", ".."):
        raise RecordError(f"dataset must be a plain folder name, not {dataset!r}")
    folder = Path(fits_dir) / "cmr" / dataset
    existing = checking.latest_records([folder]) if folder.exists() else []
    if existing and not bump:
        raise RecordError(
            f"{existing[0]} exists and records are append-only; pass --bump to write "
            f"{checking.next_version_path(folder).name}"
        )
    return checking.next_version_path(folder)


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
    any checkout) and ``scalinglaws check`` refits it (see
    :func:`scalinglaws.checking.check_cmr_record`). Records are append-only.

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
    save_cmr_fit(fit, target, data_path=str(runs), data_path_as=rel, dataset=dataset)
    return target
