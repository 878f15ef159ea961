"""Data-mixture records: the ``kind: "pipeline"``, ``pipeline: datamix`` form of a fit record.

The envelope (schema, params, options, data, uncertainty, anchors, tolerances, warnings,
provenance) and the one reader and writer are :mod:`scalinglaws.io.records`'; this module
fills the pipeline's parts, registers their converter and refits a record for
``scalinglaws check``.

Layout (besides the envelope):

* ``pipeline``: ``name`` (``"datamix"``), ``version``, ``reference``, ``model``
  (``mixing``, ``linear``, ``loglinear`` or ``gp``), ``training_domains`` (the mixture's
  domains, in order), ``validation_domains`` (every loss column of the data),
  ``fitted_domains`` (those with a model), ``target`` (``{name, weights}``), ``nested``,
  ``sizes`` and ``n_ref``; since the length law, also ``length_nested``, ``lengths``,
  ``length_column`` (``"D"``, ``"step"`` or null) and ``d_ref`` (optional: a record
  without them is a fit without a length law, as every record written before). Mixture laws are not in the global law registry (they depend
  on the domain list): the reader rebuilds each with
  :func:`scalinglaws.datamix.laws.make_law` from these fields and checks it against the
  recorded law spec.
* ``params``: per fitted validation domain, the law's parameters at full precision, or
  for the Gaussian-process model its ``GPModel.to_dict()`` (hyperparameters and the
  training data it conditions on).
* ``uncertainty``: ``method`` and ``draws`` (per domain, the thinned parameter draws of a
  law; a GP's uncertainty is its posterior, so it has none).
* ``parts.domains``: per fitted domain ``kind``, ``noise`` (sd of a run's log loss around
  the model), ``n_runs``, ``status``, ``objective``, ``covariance`` and the law spec;
  ``parts.noise_corr`` (optional) the correlation of that noise across the fitted
  domains, in ``fitted_domains`` order.
* ``data``: the weights file (``path``, ``sha256``) and, for two-file studies (RegMix),
  the losses file (``losses_path``, ``losses_sha256``); ``load_options`` holds only
  keywords of :func:`scalinglaws.datamix.load_mixture_runs`, validated on check.
* ``anchors``: the predicted target at the uniform mixture and at the best and the
  median proxy mixture (at the largest proxy size for a nested fit, and the longest
  length there for a length-nested one: ``N`` and ``D``), each with ``rtol``.

Never pickled, never evaluated: every field is checked on load, and a bad one is a
one-line :class:`~scalinglaws.errors.RecordError`.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.datamix.fit import MODELS, DataMixFit, DomainModel, Target, fit_datamix
from scalinglaws.datamix.laws import DEFAULT_N_REF, LENGTH_REFS, make_law
from scalinglaws.datamix.runs import MixtureRuns, load_mixture_runs
from scalinglaws.errors import RecordError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.io import records
from scalinglaws.io.files import json_safe
from scalinglaws.laws.base import check_params
from scalinglaws.uncertainty.summary import thin_uncertainty

#: Pipeline name in records (``pipeline.name``).
PIPELINE = "datamix"
#: Version of the pipeline's record layout.
PIPELINE_VERSION = "1"
REFERENCE = (
    "Ye et al. 2024, arXiv 2403.16952 (data-mixing laws); Liu et al. 2024, "
    "arXiv 2407.01492 (RegMix)"
)
#: Parameter draws kept per domain. The fit's draws are kept whole up to the envelope's
#: cap, so a plan from the record sees the same draws as one from the fit; a smaller
#: ``thin`` keeps the point predictions exact and the intervals approximate.
DEFAULT_THIN = records.MAX_RECORD_DRAWS
#: Drift tolerance on every parameter (relative): a refit on the same data agrees to
#: ~1e-8, a 1% change of one parameter is caught.
DEFAULT_PARAM_RTOL = records.DEFAULT_PARAM_RTOL
#: Drift tolerance on the anchor predictions of the target (relative).
DEFAULT_ANCHOR_RTOL = records.DEFAULT_ANCHOR_RTOL
#: Loader keywords a record may not carry: the losses file is ``data.losses_path``,
#: located and digested by the check like the weights file.
_NOT_LOAD_OPTIONS = frozenset({"losses"})
#: The GP hyperparameters compared by a drift check (the training data is covered by the
#: data digest).
GP_HYPERPARAMETERS = ("lengthscales", "signal_var", "noise_var", "mean_var", "y_loc", "y_scale")


def _gp_module():
    return importlib.import_module("scalinglaws.datamix.gp")


# ------------------------------------------------------------------ writing
def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _status(fit: DataMixFit) -> str:
    statuses = sorted(
        {"converged" if m.kind == "gp" else str(m.fit.status) for m in fit.domains.values()}
    )
    return "converged" if statuses == ["converged"] else ",".join(statuses)


def _point_target(fit: DataMixFit, r: np.ndarray, n: Any, d: Any = None) -> np.ndarray:
    """The target's point prediction at mixtures ``r`` (no draws), in float64."""
    with jax.enable_x64(True):
        nn = fit.sizes_for(r, n)
        dd = fit.lengths_for(r, d)
        point = np.column_stack(
            [np.asarray(m.mean(r, nn, dd), dtype=float) for m in fit.domains.values()]
        )
    return point @ fit.target_weights()


def _observed_target(fit: DataMixFit, rows: np.ndarray) -> np.ndarray:
    """The observed target of proxy runs (NaN where a target domain has no loss)."""
    losses = fit.runs.losses
    out = np.zeros(len(rows))
    for d, w in fit.target.weights.items():
        out = out + w * losses[d].to_numpy(dtype=float)[rows]
    return out


def default_anchors(fit: DataMixFit) -> list[dict[str, Any]]:
    """Anchors: the predicted target at the uniform mixture and at the best and the median
    proxy mixture (ranked by the observed target, or the predicted one where a run lacks a
    target loss), at the largest proxy size for a nested fit (and the longest length of
    the runs there for a length-nested fit)."""
    domains = fit.training_domains
    n_top = max(fit.sizes) if fit.nested else None
    d_top = max(fit.lengths) if fit.length_nested else None
    chosen: list[tuple[str, np.ndarray]] = [
        ("uniform mixture", np.full(len(domains), 1.0 / len(domains)))
    ]
    if len(fit.runs):
        rows = np.arange(len(fit.runs))
        if fit.nested and "N" in fit.runs.meta.columns:
            n_col = fit.runs.meta["N"].to_numpy(dtype=float)
            rows = rows[np.isclose(n_col, float(max(fit.sizes)), rtol=1e-9)]
        if fit.length_nested and rows.size and fit.length_column in fit.runs.meta.columns:
            d_col = fit.runs.meta[fit.length_column].to_numpy(dtype=float)
            d_top = float(np.max(d_col[rows]))
            rows = rows[np.isclose(d_col[rows], d_top, rtol=1e-9)]
        if rows.size:
            r = fit.runs.weights.to_numpy(dtype=float)[rows]
            score = _observed_target(fit, rows)
            missing = ~np.isfinite(score)
            if missing.any():
                score[missing] = _point_target(fit, r[missing], n_top, d_top)
            order = np.argsort(score, kind="stable")
            chosen.append(("best proxy mixture", r[order[0]]))
            chosen.append(("median proxy mixture", r[order[len(order) // 2]]))
    out = []
    for label, w in chosen:
        pred = float(_point_target(fit, w[None, :], n_top, d_top)[0])
        out.append(
            {
                "label": label,
                "mixture": {d: float(v) for d, v in zip(domains, w, strict=True)},
                "N": n_top,
                **({"D": d_top} if fit.length_nested else {}),
                "target": pred,
                "rtol": DEFAULT_ANCHOR_RTOL,
            }
        )
    return out


def _law_domain_parts(m: DomainModel, thin: int) -> tuple[dict, dict, dict]:
    """(params, draws, part) of one law-fitted domain."""
    res = m.fit
    params = {k: float(v) for k, v in res.params.items()}
    unc = thin_uncertainty(res.uncertainty, thin) if res.uncertainty.n_draws else res.uncertainty
    draws = {k: [float(x) for x in np.asarray(v, dtype=float)] for k, v in unc.draws.items()}
    part = {
        "kind": "law",
        "noise": float(m.noise),
        "n_runs": int(m.n_runs),
        "status": str(res.status),
        "objective": _num(res.objective),
        "covariance": None if res.covariance is None else np.asarray(res.covariance).tolist(),
        "uncertainty": {
            "method": unc.method,
            "converged": bool(unc.converged),
            "n_draws": int(res.uncertainty.n_draws),
        },
        "law": records._law_spec(res.law),
        "warnings": list(res.warnings),
    }
    return params, draws, part


def _gp_domain_parts(m: DomainModel) -> tuple[dict, dict]:
    gp = m.fit.to_dict()
    part = {
        "kind": "gp",
        "noise": float(m.noise),
        "n_runs": int(m.n_runs),
        "status": "converged",
        "objective": _num(-float(gp.get("log_marginal_likelihood", math.nan))),
    }
    return gp, part


def _param_rtols(params: Mapping[str, Any], param_rtol: float | Mapping[str, float]) -> dict:
    names: set[str] = set()
    for p in params.values():
        if isinstance(p, Mapping) and "hyperparameters" in p:
            names.update(GP_HYPERPARAMETERS)
        elif isinstance(p, Mapping):
            names.update(p)
    if isinstance(param_rtol, int | float):
        return {n: float(param_rtol) for n in sorted(names)}
    return {n: float(param_rtol.get(n, DEFAULT_PARAM_RTOL)) for n in sorted(names)}


def _source_file(fit: DataMixFit, i: int) -> str | None:
    src = fit.runs.source
    if len(src) > i and src[i] and os.path.isfile(src[i]):
        return src[i]
    return None


def _load_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(options or {})
    bad = sorted(set(opts) & _NOT_LOAD_OPTIONS)
    if bad:
        raise RecordError(f"load_options {bad}: give the losses file as losses_path")
    allowed = set(inspect.signature(load_mixture_runs).parameters) - {"source", *_NOT_LOAD_OPTIONS}
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise RecordError(f"load_options {unknown} are not options of load_mixture_runs")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items() if v is not None}


def datamix_to_record(
    fit: DataMixFit,
    *,
    data_path: str | os.PathLike | None = None,
    losses_path: str | os.PathLike | None = None,
    data_path_as: str | None = None,
    losses_path_as: str | None = None,
    load_options: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    anchors: Sequence[Mapping[str, Any]] | None = None,
    thin: int = DEFAULT_THIN,
    param_rtol: float | Mapping[str, float] = DEFAULT_PARAM_RTOL,
) -> dict[str, Any]:
    """The JSON-ready ``kind: "pipeline"`` record of a :class:`DataMixFit` (module docstring).

    Args:
        fit: The fit.
        data_path: The weights file (or the one wide file); default the fit's first source
            when it is a file. Its SHA-256 is recorded; ``check`` refits from it.
        losses_path: The losses file of a two-file study; default the fit's second source.
        data_path_as, losses_path_as: Paths written instead (a registry stores them
            relative to the record's folder).
        load_options: The :func:`load_mixture_runs` keywords the runs were read with
            (``weight_prefix``, ``where``, ...), so ``check`` reads them the same way.
        dataset: Dataset name (the registry folder).
        anchors: Anchors (default :func:`default_anchors`).
        thin: Parameter draws kept per domain.
        param_rtol: Drift tolerance per parameter (one number or ``{name: rtol}``).

    Raises:
        RecordError: A data path that is not a file, or load options the loader lacks.
    """
    if not isinstance(fit, DataMixFit):
        raise RecordError(f"a datamix record is made from a DataMixFit, not {type(fit).__name__}")
    if int(thin) < 1:
        raise RecordError(f"thin must be a positive number of draws, not {thin!r}")
    thin = min(int(thin), records.MAX_RECORD_DRAWS)
    data_path = data_path if data_path is not None else _source_file(fit, 0)
    if losses_path is None and data_path is not None and len(fit.runs.source) > 1:
        losses_path = _source_file(fit, 1)
    if load_options is None:  # the keywords the fit's runs were read with
        load_options = fit.options.get("load")
    opts = _load_options(load_options)
    params: dict[str, Any] = {}
    draws: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    for d, m in fit.domains.items():
        if m.kind == "gp":
            params[d], parts[d] = _gp_domain_parts(m)
        else:
            params[d], draws[d], parts[d] = _law_domain_parts(m, thin)
    data = records.data_block(
        None if data_path is None else Path(data_path),
        data_path_as=data_path_as,
        n_runs=len(fit.runs),
        load_options=opts,
        dataset=dataset,
    )
    if losses_path is not None:
        second = records.data_block(Path(losses_path), data_path_as=losses_path_as)
        data["losses_path"], data["losses_sha256"] = second["path"], second["sha256"]
    kept = max((len(next(iter(v.values()), [])) for v in draws.values()), default=0)
    return {
        "schema_version": records.SCHEMA_VERSION,
        "kind": records.PIPELINE,
        "pipeline": {
            "name": PIPELINE,
            "version": PIPELINE_VERSION,
            "reference": REFERENCE,
            "model": fit.model,
            "training_domains": list(fit.training_domains),
            "validation_domains": list(fit.runs.targets),
            "fitted_domains": list(fit.domains),
            "target": fit.target.to_dict(),
            "nested": bool(fit.nested),
            "sizes": [float(s) for s in fit.sizes],
            "n_ref": float(fit.options.get("n_ref", DEFAULT_N_REF)),
            "length_nested": bool(fit.length_nested),
            "lengths": [float(v) for v in fit.lengths],
            "length_column": fit.length_column,
            "d_ref": float(fit.options.get("d_ref", LENGTH_REFS[fit.length_column or "D"])),
        },
        "params": params,
        "objective": {d: parts[d]["objective"] for d in parts},
        "status": _status(fit),
        "options": json_safe({k: v for k, v in fit.options.items() if k != "load"}),
        "data": data,
        "uncertainty": {
            "method": str(fit.options.get("uncertainty", "none")),
            "n_draws_kept": kept,
            "draws": draws,
        },
        "anchors": [dict(a) for a in anchors] if anchors is not None else default_anchors(fit),
        "tolerances": {"params_rtol": _param_rtols(params, param_rtol)},
        "warnings": list(fit.warnings),
        "provenance": records.provenance(),
        "parts": {
            "domains": parts,
            **(
                {"noise_corr": np.asarray(fit.noise_corr, dtype=float).tolist()}
                if fit.noise_corr is not None
                else {}
            ),
        },
    }


def save_datamix(
    fit: DataMixFit, path: str | os.PathLike, *, claim: str | None = None, **kwargs: Any
) -> Path:
    """Write a data-mixture fit as a pipeline record (atomically, via ``write_record``).

    ``claim`` claims a registry version (see :func:`scalinglaws.io.records.write_record`);
    other keywords go to :func:`datamix_to_record`.

    Returns:
        The path written.
    """
    return records.write_record(datamix_to_record(fit, **kwargs), Path(path), claim=claim)


# ------------------------------------------------------------------ reading
def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise RecordError(f"{where}: missing field {key!r}")
    return obj[key]


def _number(v: Any, where: str, *, positive: bool = False, allow_none: bool = False) -> float:
    if v is None and allow_none:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise RecordError(f"{where}: {v!r} is not a finite number")
    if positive and not v > 0:
        raise RecordError(f"{where}: {v!r} must be positive")
    return float(v)


def _names(v: Any, where: str, *, empty: bool = False) -> tuple[str, ...]:
    ok = isinstance(v, list) and all(isinstance(x, str) and x and x.isprintable() for x in v)
    if not ok or (not v and not empty) or len(set(v)) != len(v):
        raise RecordError(f"{where} must be a list of distinct, printable domain names")
    return tuple(v)


def _head(record: Mapping[str, Any]) -> dict[str, Any]:
    head = _need(record, "pipeline", "record")
    model = _need(head, "model", "pipeline")
    if model not in MODELS:
        raise RecordError(f"pipeline.model {model!r} is not one of {', '.join(MODELS)}")
    training = _names(_need(head, "training_domains", "pipeline"), "pipeline.training_domains")
    validation = _names(
        _need(head, "validation_domains", "pipeline"), "pipeline.validation_domains"
    )
    fitted = _names(_need(head, "fitted_domains", "pipeline"), "pipeline.fitted_domains")
    extra = [d for d in fitted if d not in validation]
    if extra:
        raise RecordError(f"pipeline.fitted_domains {extra} are not validation domains")
    nested = _need(head, "nested", "pipeline")
    if not isinstance(nested, bool):
        raise RecordError("pipeline.nested must be true or false")
    sizes = _need(head, "sizes", "pipeline")
    if not isinstance(sizes, list):
        raise RecordError("pipeline.sizes must be a list of model sizes")
    sizes = tuple(_number(s, "pipeline.sizes", positive=True) for s in sizes)
    if nested and (model != "mixing" or len(sizes) < 2):
        raise RecordError("pipeline.nested needs model 'mixing' and at least two sizes")
    n_ref = _number(_need(head, "n_ref", "pipeline"), "pipeline.n_ref", positive=True)
    # The length law's fields are optional: records written before it have none.
    length_nested = head.get("length_nested", False)
    if not isinstance(length_nested, bool):
        raise RecordError("pipeline.length_nested must be true or false")
    lengths = head.get("lengths", [])
    if not isinstance(lengths, list):
        raise RecordError("pipeline.lengths must be a list of training lengths")
    lengths = tuple(_number(v, "pipeline.lengths", positive=True) for v in lengths)
    length_column = head.get("length_column")
    if length_column is not None and length_column not in LENGTH_REFS:
        raise RecordError(f"pipeline.length_column must be one of {', '.join(LENGTH_REFS)} or null")
    if lengths and length_column is None:
        raise RecordError("pipeline.lengths needs pipeline.length_column (D or step)")
    if length_nested and (model != "mixing" or len(lengths) < 2):
        raise RecordError("pipeline.length_nested needs model 'mixing' and at least two lengths")
    has_d_ref = head.get("d_ref") is not None
    d_ref = (
        _number(head["d_ref"], "pipeline.d_ref", positive=True)
        if has_d_ref
        else LENGTH_REFS[length_column or "D"]
    )
    target = _need(head, "target", "pipeline")
    name = _need(target, "name", "pipeline.target")
    weights = _need(target, "weights", "pipeline.target")
    if not isinstance(name, str) or not isinstance(weights, Mapping) or not weights:
        raise RecordError("pipeline.target must hold a name and {domain: weight}")
    tw = {str(d): _number(w, f"pipeline.target.weights.{d}") for d, w in weights.items()}
    if any(d not in fitted for d in tw) or any(w < 0 for w in tw.values()):
        raise RecordError("pipeline.target.weights must be non-negative, over fitted domains")
    if abs(sum(tw.values()) - 1.0) > 1e-9:
        raise RecordError("pipeline.target.weights must sum to one")
    return {
        "model": model,
        "training": training,
        "validation": validation,
        "fitted": fitted,
        "nested": nested,
        "sizes": sizes,
        "n_ref": n_ref,
        "length_nested": length_nested,
        "lengths": lengths,
        "length_column": length_column,
        "d_ref": d_ref,
        "has_d_ref": has_d_ref,
        "target": Target(name, tw),
    }


def _draws(raw: Any, names: Sequence[str], where: str) -> dict[str, list]:
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping) or set(raw) != set(names):
        raise RecordError(f"{where} must hold draws of every parameter ({', '.join(names)})")
    n = None
    for k, v in raw.items():
        if not isinstance(v, list) or not v or (n is not None and len(v) != n):
            raise RecordError(f"{where}.{k} must be a list of draws as long as the others")
        for x in v:
            _number(x, f"{where}.{k}")
        n = len(v)
    return dict(raw)


def _law_model(h: Mapping[str, Any], d: str, params: Any, draws: Any, part: Any) -> DomainModel:
    where = f"domain {d!r}"
    law = make_law(
        h["model"],
        h["training"],
        size=h["nested"],
        n_ref=h["n_ref"],
        length=h["length_nested"],
        d_ref=h["d_ref"],
    )
    spec = part.get("law")
    if isinstance(spec, Mapping):
        if spec.get("name") != law.name or str(spec.get("version")) != str(law.version):
            raise RecordError(
                f"{where}: the record's law {spec.get('name')!r} version {spec.get('version')!r} "
                f"is not this installation's {law.name!r} version {law.version!r}"
            )
    if not isinstance(params, Mapping) or set(params) != set(law.param_names):
        got = sorted(params) if isinstance(params, Mapping) else params
        raise RecordError(
            f"{where}: parameters {got} do not match the {h['model']} law over "
            f"{len(h['training'])} training domains ({sorted(law.param_names)})"
        )
    try:
        checked = check_params(law, dict(params))
    except (ScalingLawsError, TypeError, ValueError, OverflowError) as exc:
        raise RecordError(f"{where}: {exc}") from None
    unc = part.get("uncertainty") if isinstance(part.get("uncertainty"), Mapping) else {}
    sub = {
        "params": dict(params),
        "objective": part.get("objective"),
        "status": str(part.get("status", "converged")),
        "options": {},
        "covariance": part.get("covariance"),
        "uncertainty": {
            "method": str(unc.get("method", "none")),
            "converged": bool(unc.get("converged", True)),
            "draws": _draws(draws, law.param_names, f"uncertainty.draws.{d}"),
        },
        "data": {"n_runs": part.get("n_runs")},
        "warnings": [str(w) for w in part.get("warnings") or []],
    }
    try:
        res = records._result(sub, law, checked, where)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise RecordError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    return DomainModel(
        domain=d,
        kind="law",
        fit=res,
        noise=_number(part.get("noise"), f"{where}.noise"),
        n_runs=int(_number(part.get("n_runs"), f"{where}.n_runs")),
    )


def _gp_model(h: Mapping[str, Any], d: str, params: Any, part: Any) -> DomainModel:
    where = f"domain {d!r}"
    try:
        gp = _gp_module().GPModel.from_dict(params)
    except ScalingLawsError as exc:
        raise RecordError(f"{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise RecordError(f"{where}: malformed GP ({type(exc).__name__}: {exc})") from None
    if gp.n_domains != len(h["training"]):
        raise RecordError(
            f"{where}: the GP has {gp.n_domains} training domains, the record {len(h['training'])}"
        )
    return DomainModel(
        domain=d,
        kind="gp",
        fit=gp,
        noise=_number(part.get("noise"), f"{where}.noise"),
        n_runs=int(_number(part.get("n_runs"), f"{where}.n_runs")),
    )


def empty_runs(
    training: Sequence[str],
    validation: Sequence[str],
    sizes: Sequence[float],
    source=(),
    length_column: str | None = None,
) -> MixtureRuns:
    """A :class:`MixtureRuns` without rows, with the given columns (a fit read from a record)."""
    cols = {
        **({"N": np.zeros(0)} if sizes else {}),
        **({length_column: np.zeros(0)} if length_column else {}),
    }
    meta = pd.DataFrame(cols) if cols else pd.DataFrame(index=range(0))
    return MixtureRuns(
        weights=pd.DataFrame({d: np.zeros(0) for d in training}),
        losses=pd.DataFrame({d: np.zeros(0) for d in validation}),
        meta=meta,
        source=tuple(source),
        notes=(),
    )


def datamix_from_record(record: Mapping[str, Any], where: str = "record") -> DataMixFit:
    """A validated schema-2 ``pipeline: datamix`` record as a :class:`DataMixFit`.

    The fit comes without its runs (``runs`` has the right columns and no rows): its
    predictions, draws, plans and proposals work as from the fitted object.

    Raises:
        RecordError: Another kind of record, or a missing or invalid field (named).
    """
    if record.get("kind") != records.PIPELINE or records.record_name(record) != PIPELINE:
        raise RecordError(
            f"{where} is {records.describe_record(record)}, not a data-mixture record"
        )
    try:
        return _datamix(record)
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (optional record blocks)."""
    return value if isinstance(value, Mapping) else {}


def _datamix(record: Mapping[str, Any]) -> DataMixFit:
    h = _head(record)
    params = _need(record, "params", "record")
    parts_block = _need(record, "parts", "record")
    parts = _need(parts_block, "domains", "parts")
    unc = _mapping(record.get("uncertainty"))
    all_draws = unc.get("draws") or {}
    if not isinstance(all_draws, Mapping):
        raise RecordError("uncertainty.draws must map domains to draws")
    if set(params) != set(h["fitted"]):
        raise RecordError(
            f"params hold domains {sorted(params)}, the pipeline fitted {sorted(h['fitted'])}"
        )
    domains: dict[str, DomainModel] = {}
    for d in h["fitted"]:
        part = _need(parts, d, "parts.domains")
        if not isinstance(part, Mapping):
            raise RecordError(f"parts.domains.{d} must be a mapping")
        kind = "gp" if h["model"] == "gp" else "law"
        if part.get("kind") != kind:
            raise RecordError(f"parts.domains.{d}.kind must be {kind!r} for model {h['model']!r}")
        if kind == "gp":
            domains[d] = _gp_model(h, d, params[d], part)
        else:
            domains[d] = _law_model(h, d, params[d], all_draws.get(d), part)
    data = _mapping(record.get("data"))
    source = [p for p in (data.get("path"), data.get("losses_path")) if isinstance(p, str)]
    warns = record.get("warnings") or []
    return DataMixFit(
        model=h["model"],
        runs=empty_runs(h["training"], h["validation"], h["sizes"], source, h["length_column"]),
        target=h["target"],
        domains=domains,
        sizes=h["sizes"],
        nested=h["nested"],
        options={
            **dict(record.get("options") or {}),
            **(
                {"load": dict(lo)}
                if isinstance(lo := data.get("load_options"), Mapping) and lo
                else {}
            ),
        },
        warnings=tuple(str(w) for w in warns),
        noise_corr=_noise_corr(parts_block.get("noise_corr"), len(h["fitted"])),
        lengths=h["lengths"],
        length_nested=h["length_nested"],
        length_column=h["length_column"],
    )


def _noise_corr(value: Any, v: int) -> np.ndarray | None:
    """``parts.noise_corr``: absent, or a V x V symmetric positive-definite correlation."""
    if value is None:
        return None
    try:
        c = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise RecordError("parts.noise_corr must be a matrix of numbers") from None
    if c.shape != (v, v):
        raise RecordError(f"parts.noise_corr must be {v} x {v} (one row per fitted domain)")
    if (
        not np.all(np.isfinite(c))
        or not np.allclose(c, c.T, atol=1e-12)
        or not np.allclose(np.diag(c), 1.0, atol=1e-12)
        or np.any(np.abs(c) > 1.0 + 1e-12)
    ):
        raise RecordError("parts.noise_corr must be a symmetric correlation matrix")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise RecordError("parts.noise_corr must be positive definite") from None
    return c


def load_datamix(path: str | os.PathLike) -> DataMixFit:
    """Read and validate a data-mixture record (written by :func:`save_datamix`).

    Raises:
        RecordError: Unreadable, another kind of record, or an invalid field (named).
    """
    return datamix_from_record(records.read_record(Path(path)), where=str(path))


records.register_pipeline(PIPELINE, datamix_from_record)


# ------------------------------------------------------------------ drift check
def _is_int(lo: int, hi: int):
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi

    return ok


def _is_number(lo: float, hi: float):
    def ok(v: Any) -> bool:
        ok_type = isinstance(v, int | float) and not isinstance(v, bool)
        return ok_type and math.isfinite(v) and lo <= v <= hi

    return ok


#: Point options of a datamix record's refit, each with the test its value must pass
#: (a record is untrusted: it cannot ask for an hours-long GP search).
DATAMIX_REFIT_OPTIONS: Mapping[str, Any] = {
    "seed": _is_int(0, 2**32 - 1),
    "delta": _is_number(1e-8, 10.0),
}
#: GP options a record may set, with their tests.
GP_REFIT_OPTIONS: Mapping[str, Any] = {
    "mean": lambda v: isinstance(v, str) and len(v) <= 32,
    "kernel": lambda v: isinstance(v, str) and len(v) <= 32,
    "feature": lambda v: isinstance(v, str) and len(v) <= 32,
    "target": lambda v: isinstance(v, str) and len(v) <= 32,
    "restarts": _is_int(1, 16),
    "max_iter": _is_int(1, 5_000),
    "tol": _is_number(1e-12, 0.1),
}


def refit_options(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fit keywords, loader keywords) of a record's refit, validated (untrusted record).

    The point estimate does not depend on the uncertainty method or draw count, so the
    refit skips the draws. Model, domains, target and size reference come from the
    validated ``pipeline`` block (``d_ref`` only when the record has one).

    Raises:
        RecordError: An option or loader keyword outside what a checked record may set.
    """
    from scalinglaws.io import policy

    h = _head(record)
    options = _mapping(record.get("options"))
    kwargs: dict[str, Any] = policy.refit_options(options, DATAMIX_REFIT_OPTIONS)
    if h["model"] == "gp" and options.get("gp") is not None:
        gp = options["gp"]
        if not isinstance(gp, Mapping):
            raise RecordError("options.gp must be a mapping")
        unknown = sorted(set(gp) - set(GP_REFIT_OPTIONS))
        if unknown:
            raise RecordError(f"options.gp: {policy.one_line(str(unknown))[:80]} not allowed")
        kwargs["gp_options"] = policy.refit_options(gp, GP_REFIT_OPTIONS)
    kwargs.update(
        model=h["model"],
        target=dict(h["target"].weights) if h["target"].name != "mean" else "mean",
        validation=list(h["fitted"]),
        n_ref=h["n_ref"],
        uncertainty="none",
    )
    if h["has_d_ref"]:
        kwargs["d_ref"] = h["d_ref"]
    if h["target"].name not in ("mean", "weighted"):
        kwargs["target"] = h["target"].name
    data = _mapping(record.get("data"))
    load_opts = data.get("load_options")
    if isinstance(load_opts, Mapping) and set(load_opts) & _NOT_LOAD_OPTIONS:
        raise RecordError("data.load_options: the losses file is data.losses_path")
    load = policy.loader_options(load_mixture_runs, load_opts)
    return kwargs, load


def refit_datamix(
    record: Mapping[str, Any], data_file: str | Path, losses_file: str | Path | None
) -> DataMixFit:
    """Refit a record's point models from its data files with its validated options."""
    kwargs, load = refit_options(record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_mixture_runs(
            str(data_file), None if losses_file is None else str(losses_file), **load
        )
        return fit_datamix(runs, **kwargs)


def _gp_leaves(d: Mapping[str, Any]) -> dict[str, float]:
    hyp = d.get("hyperparameters") if isinstance(d, Mapping) else None
    if not isinstance(hyp, Mapping):
        return {}
    out = {}
    for key in GP_HYPERPARAMETERS:
        v = hyp.get(key)
        if isinstance(v, list):
            out.update({f"{key}[{i}]": x for i, x in enumerate(v)})
        elif v is not None:
            out[key] = v
    return out


def param_leaves(record_params: Mapping[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(domain, label, tolerance name, value) for every compared number of ``params``."""
    out = []
    for d, p in record_params.items():
        if not isinstance(p, Mapping):
            continue
        if "hyperparameters" in p:
            for label, v in _gp_leaves(p).items():
                out.append((str(d), label, label.split("[")[0], v))
        else:
            out.extend((str(d), str(k), str(k), v) for k, v in p.items())
    return out


def fit_params(fit: DataMixFit) -> dict[str, Any]:
    """The ``params`` block of a fit, as :func:`datamix_to_record` writes it."""
    return {
        d: m.fit.to_dict() if m.kind == "gp" else {k: float(v) for k, v in m.fit.params.items()}
        for d, m in fit.domains.items()
    }


def anchor_value(fit: DataMixFit, anchor: Mapping[str, Any]) -> float:
    """The fit's point target at an anchor's mixture (and size and length)."""
    mixture = anchor.get("mixture")
    if not isinstance(mixture, Mapping):
        raise RecordError("anchor.mixture must map training domains to weights")
    r = fit.mixtures({str(k): float(v) for k, v in mixture.items()})
    n = anchor.get("N")
    d = anchor.get("D")
    return float(
        _point_target(fit, r, None if n is None else float(n), None if d is None else float(d))[0]
    )
