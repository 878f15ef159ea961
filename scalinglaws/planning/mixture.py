"""Mixture plans: the recommended domain share for a continual-pre-training budget.

Gu et al., "CMR Scaling Law", EMNLP 2024, arXiv 2407.17467. For each model size and token
budget T the critical mixture ratio is the CMR law R(T) = alpha4 T^s4 + beta3, clipped to
[0, 1] and capped where the general-loss tolerance binds; its interval comes from the
law's uncertainty draws. Beside it: the log-T interpolation between the two ratios whose
turning points bracket T (a robustness check), the predicted general and domain losses at
the recommended share, and the budget at which a chosen share becomes critical.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.errors import PlanError, ScalingLawsWarning
from scalinglaws.laws.cmr import (
    CMR_KEYS,
    DOMAIN_KEYS,
    GENERAL_KEYS,
    cmr_law,
    domain_change,
    general_change,
    general_fitted,
)
from scalinglaws.mixture.pipeline import CMRFit

#: What the CMR intervals are worth, per uncertainty method, measured by
#: ``bench/mixture_coverage.py`` and ``bench/mixture_variants.py`` (results in
#: ``bench/results/mixture_coverage_*.txt`` and ``mixture_variants.txt``).
INTERVAL_CALIBRATION = {
    "bootstrap": (
        "bootstrap percentile intervals (checkpoints resampled, each draw refitted with an "
        "exponent-grid search): on simulated curves a nominal 90% interval covered the true "
        "CMR in 90.6% of 800 cases (100 datasets, s.e. 1.0 points; T0 intervals 90%); they "
        "reflect the "
        "curves' noise only, not a misspecified law"
    ),
    "bayes-grid": (
        "exact grid-posterior intervals of each curve fit (normal likelihood, coefficients "
        "and noise integrated out, exponents by quadrature) pushed through the root finder "
        "and the CMR-law fit: on simulated curves a nominal 90% interval covered the true "
        "CMR in 88.1% of 800 cases (100 datasets, s.e. 1.1 points; T0 intervals 90%); they "
        "reflect the curves' noise only, not a misspecified law"
    ),
    "bayes": (
        "NUTS posterior intervals of each curve fit pushed through the root finder and the "
        "CMR-law fit; their coverage has not been measured, and they are meaningful only "
        "when the posterior converged (the general-loss posteriors often do not mix: see "
        "the fit's diagnostics)"
    ),
}


def interval_calibration(fit: CMRFit) -> str:
    """What the plan's intervals are worth for the fit's uncertainty method ("" without draws)."""
    if not fit.n_draws:
        return ""
    method = fit.uncertainty.get("method", "none")
    # Records written before the grid sampler existed hold NUTS posteriors.
    grid = method == "bayes" and fit.options.get("sampler", "nuts") == "grid"
    text = INTERVAL_CALIBRATION.get("bayes-grid" if grid else method, "")
    if method == "bayes" and not fit.uncertainty.get("converged", True):
        text = "posterior NOT CONVERGED, do not use these intervals; " + text
    return text


#: Resolution of the search for the largest share whose general-loss rise stays within
#: epsilon (shares are interpolated linearly between the fitted ratios).
_SHARE_GRID = np.linspace(0.0, 1.0, 2001)
_CMR_LAW = cmr_law()
_CURVE_KEYS = frozenset(GENERAL_KEYS) | frozenset(DOMAIN_KEYS)


def _law(p: Mapping[str, Any], t: Any) -> np.ndarray:
    """The (unclipped) CMR law at ``t`` in float64, for the point fit or every draw."""
    params = {k: np.asarray(p[k], dtype=float) for k in CMR_KEYS}
    with jax.enable_x64(True):
        return np.asarray(_CMR_LAW.predict(params, {"T": np.asarray(t, dtype=float)}))


def _inverse_law(p: Mapping[str, Any], share: float) -> np.ndarray:
    """T at which the (unclipped) CMR law reaches ``share`` (NaN where it never does)."""
    params = {k: np.asarray(p[k], dtype=float) for k in CMR_KEYS}
    with jax.enable_x64(True):
        return np.asarray(_CMR_LAW.derived_fn("tokens_for_ratio")(params, share))


def _loss_changes(curves: pd.DataFrame, fn: Any, t: float) -> np.ndarray:
    """Each fitted curve's loss change at ``t`` (one value per row, in row order)."""
    params = {k: curves[k].to_numpy(dtype=float) for k in curves.columns if k in _CURVE_KEYS}
    if fn is general_change:
        params = general_fitted(params)
    with jax.enable_x64(True):
        return np.asarray(fn(params, {"T": np.float64(t)}), dtype=float)


@dataclass(frozen=True)
class _Request:
    """What every row of a plan is asked: quantiles, the share, epsilon and the unit."""

    lo_q: float
    hi_q: float
    share: float | None
    epsilon: float
    unit: float

    @property
    def names(self) -> list[str]:
        return [f"q{round(100 * self.lo_q):02d}", "q50", f"q{round(100 * self.hi_q):02d}"]


@dataclass(frozen=True)
class _Model:
    """One model size's fitted pieces, as the plan's rows need them."""

    name: str
    point: dict[str, float]
    law_missing: bool
    draws: Mapping[str, np.ndarray]
    critical: pd.DataFrame
    general: pd.DataFrame
    domain: pd.DataFrame
    tokens_observed_max: float
    baseline_general: float
    baseline_domain: float
    tokens_fit_min: float
    tokens_fit_max: float

    @classmethod
    def of(cls, fit: CMRFit, model: str) -> _Model:
        c = fit.cmr[fit.cmr["model"] == model].iloc[0]
        point = {k: float(c[k]) for k in CMR_KEYS}
        cv = fit.curves[fit.curves["model"] == model]
        general = cv[cv["split"] == "general"].sort_values("ratio")
        return cls(
            name=model,
            point=point,
            law_missing=not all(math.isfinite(v) for v in point.values()),
            draws=fit.cmr_draws.get(model, {}),
            critical=fit.critical[fit.critical["model"] == model].sort_values("ratio"),
            general=general,
            domain=cv[cv["split"] == "domain"].sort_values("ratio"),
            tokens_observed_max=float(general["tokens_max"].max()),
            baseline_general=fit.baselines[(model, "general")],
            baseline_domain=fit.baselines[(model, "domain")],
            tokens_fit_min=float(c["tokens_fit_min"]),
            tokens_fit_max=float(c["tokens_fit_max"]),
        )


def plan_mixture(
    cmr_fit: CMRFit,
    tokens: Sequence[float],
    *,
    lam: float | None = None,
    epsilon: float | None = None,
    share: float | None = None,
    models: Sequence[str] | None = None,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> pd.DataFrame:
    """Recommended domain share per model size and token budget, with its interval.

    ``cmr = clip(alpha4 T^s4 + beta3, 0, 1)``, lowered to the largest share whose
    predicted general-loss rise dL_gen(T) stays within epsilon when that binds (shares
    between fitted ratios are interpolated linearly, and held flat beyond them). Gu et
    al. 2024, arXiv 2407.17467.

    Args:
        cmr_fit: Output of :func:`scalinglaws.mixture.fit_cmr` or a loaded record.
        tokens: Continual-training token budgets (raw tokens).
        lam: Lagrange multiplier; default the fit's. Another value recomputes the turning
            points and the CMR law from the stored curve fits and draws (``inf`` allowed).
        epsilon: General-loss tolerance; default the fit's.
        share: A domain share; adds the budget at which it becomes critical
            (``tokens_critical`` with quantiles) to every row.
        models: Subset of model names (default all).
        quantiles: Lower and upper quantile of the intervals.

    Returns:
        One row per (model, budget): ``model, tokens, cmr, cmr_q05, cmr_q50, cmr_q95``
        (quantile names follow ``quantiles``), ``cmr_law`` (unclipped), ``cmr_interp``
        (log-T interpolation between bracketing ratios), ``ratio_epsilon_limit``,
        ``loss_general``, ``loss_domain``, flags ``clipped``, ``epsilon_binds``,
        ``outside_fit_range``, ``beyond_observed_tokens``, ``law_missing`` and a ``notes``
        string; ``attrs["summary"]`` and ``attrs["warnings"]``.

    Raises:
        PlanError: Bad budgets, share, model name or quantiles.
    """
    t_raw = _check_request(tokens, share, quantiles)
    lo_q, hi_q = quantiles
    fit = cmr_fit.with_settings(lam=lam, epsilon=epsilon)
    if models is None:
        models = list(fit.models)
    unknown = [m for m in models if m not in fit.models]
    if unknown:
        raise PlanError(f"unknown model {unknown[0]!r}; the fit has {', '.join(fit.models)}")
    request = _Request(lo_q, hi_q, share, fit.epsilon, fit.token_unit)
    rows = []
    for model in models:
        m = _Model.of(fit, model)
        rows.extend(_plan_row(m, float(tr), request) for tr in t_raw)
    out = pd.DataFrame(rows)
    msgs: list[str] = list(fit.warnings)
    if out["outside_fit_range"].any():
        msgs.append(
            "some budgets lie outside the token range of the fitted turning points: the CMR "
            "there is an extrapolation of the law"
        )
    for msg in msgs:
        warnings.warn(msg, ScalingLawsWarning, stacklevel=2)
    out.attrs["summary"] = {
        "law": "cmr",
        "lambda": fit.lam,
        "epsilon": fit.epsilon,
        "token_unit": fit.token_unit,
        "uncertainty": fit.uncertainty.get("method", "none"),
        "n_draws": fit.n_draws,
        "quantiles": [lo_q, 0.5, hi_q],
        "models": list(models),
        "reference": "Gu et al. 2024, arXiv 2407.17467",
        "interval_calibration": interval_calibration(fit),
    }
    out.attrs["warnings"] = msgs
    return out


def _check_request(
    tokens: Sequence[float], share: float | None, quantiles: tuple[float, float]
) -> np.ndarray:
    """The budgets as an array, after refusing bad budgets, share or quantiles."""
    t_raw = np.atleast_1d(np.asarray(tokens, dtype=float))
    if t_raw.size == 0 or not np.all(np.isfinite(t_raw)) or np.any(t_raw <= 0):
        raise PlanError(f"tokens must be positive finite token counts, not {list(t_raw)}")
    if share is not None and not (0.0 <= float(share) <= 1.0):
        raise PlanError(f"share must be a domain share in [0, 1], not {share!r}")
    lo_q, hi_q = quantiles
    if not (0.0 < lo_q < hi_q < 1.0):
        raise PlanError(f"quantiles must satisfy 0 < low < high < 1, not {quantiles!r}")
    return t_raw


def _plan_row(m: _Model, tr: float, request: _Request) -> dict[str, Any]:
    """The plan for one model size at one budget ``tr`` (raw tokens)."""
    tu = tr / request.unit
    r_law = float(_law(m.point, tu)) if not m.law_missing else math.nan
    ratios = m.general["ratio"].to_numpy()
    dg = _loss_changes(m.general, general_change, tu)
    dd = _loss_changes(m.domain, domain_change, tu)
    ok = np.interp(_SHARE_GRID, ratios, dg) <= request.epsilon
    r_eps = float(_SHARE_GRID[ok].max()) if ok.any() else 0.0
    interp = _interp_log_t(m.critical, tr)
    value = r_law if not m.law_missing else interp
    clipped = bool(math.isfinite(value) and (value < 0 or value > 1))
    rec = float(np.clip(value, 0.0, 1.0)) if math.isfinite(value) else math.nan
    binds = bool(math.isfinite(rec) and r_eps < rec)
    if binds:
        rec = r_eps
    row: dict[str, Any] = {"model": m.name, "tokens": tr, "cmr": rec}
    qs = _cmr_quantiles(m, tu, r_eps, request)
    row.update({f"cmr_{q}": float(v) for q, v in zip(request.names, qs, strict=True)})
    row["cmr_law"] = r_law
    row["cmr_interp"] = interp
    row["ratio_epsilon_limit"] = r_eps
    share_eval = rec if math.isfinite(rec) else 0.0
    row["loss_general"] = m.baseline_general + float(np.interp(share_eval, ratios, dg))
    row["loss_domain"] = m.baseline_domain + float(np.interp(share_eval, ratios, dd))
    row["clipped"] = clipped
    row["epsilon_binds"] = binds
    fit_lo, fit_hi = m.tokens_fit_min, m.tokens_fit_max
    row["outside_fit_range"] = bool(
        m.law_missing or not (fit_lo <= tr <= fit_hi) if math.isfinite(fit_lo) else True
    )
    row["beyond_observed_tokens"] = bool(tr > m.tokens_observed_max)
    row["law_missing"] = m.law_missing
    if request.share is not None:
        row.update(_critical_tokens(m, request))
    row["notes"] = _notes(row, r_eps)
    return row


def _cmr_quantiles(m: _Model, tu: float, r_eps: float, request: _Request) -> Sequence[float]:
    """Quantiles over the CMR-law draws of the recommended share (clipped, capped)."""
    if not m.draws or m.law_missing:
        return [math.nan] * 3
    rd = np.clip(_law(m.draws, tu), 0.0, 1.0)
    rd = np.minimum(rd, r_eps)
    rd = rd[np.isfinite(rd)]
    if not rd.size:
        return [math.nan] * 3
    return np.quantile(rd, [request.lo_q, 0.5, request.hi_q])


def _critical_tokens(m: _Model, request: _Request) -> dict[str, float]:
    """The budget at which ``request.share`` becomes critical, with its quantiles."""
    share = float(request.share)
    out = {
        "share": share,
        "tokens_critical": (
            float(_inverse_law(m.point, share) * request.unit) if not m.law_missing else math.nan
        ),
    }
    tq: Sequence[float] = [math.nan] * 3
    if m.draws and not m.law_missing:
        td = _inverse_law(m.draws, share) * request.unit
        finite = td[np.isfinite(td)]
        # Draws where the share is never reached count as +inf tokens.
        td = np.where(np.isnan(td), np.inf, td)
        if finite.size:
            tq = np.quantile(td, [request.lo_q, 0.5, request.hi_q], method="inverted_cdf")
    out.update({f"tokens_critical_{q}": float(v) for q, v in zip(request.names, tq, strict=True)})
    return out


def _notes(row: Mapping[str, Any], r_eps: float) -> str:
    """The row's flags as one readable string."""
    return "; ".join(
        note
        for note, on in (
            ("CMR law value outside [0, 1], clipped", row["clipped"]),
            (f"general-loss rise exceeds epsilon above share {r_eps:.3g}", row["epsilon_binds"]),
            (
                "budget outside the token range of the fitted turning points",
                row["outside_fit_range"],
            ),
            ("budget beyond the observed continual-training tokens", row["beyond_observed_tokens"]),
            ("no CMR law (too few turning points): log-T interpolation used", row["law_missing"]),
        )
        if on
    )


def _interp_log_t(crit: pd.DataFrame, tokens: float) -> float:
    """Share at ``tokens`` by log-T interpolation between the ratios whose T0 bracket it.

    Uses ratios with a finite positive T0, in ratio order; when several adjacent pairs
    bracket the budget (T0 not monotone in R) the largest share is returned. NaN when no
    pair brackets the budget.
    """
    pts = crit[(crit["kind"] == "root") & np.isfinite(crit["T0"]) & (crit["T0"] > 0)]
    pts = pts.sort_values("ratio")
    r = pts["ratio"].to_numpy()
    lt = np.log(pts["T0"].to_numpy())
    x = math.log(tokens)
    best = math.nan
    for i in range(len(r) - 1):
        a, b = lt[i], lt[i + 1]
        if min(a, b) <= x <= max(a, b) and a != b:
            v = r[i] + (r[i + 1] - r[i]) * (x - a) / (b - a)
            best = v if not math.isfinite(best) else max(best, v)
    return float(best)
