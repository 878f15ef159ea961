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
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scalinglaws.errors import PlanError, ScalingLawsWarning
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


def _law(p: dict, t: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return p["alpha4"] * np.power(t, p["s4"]) + p["beta3"]


def _inverse_law(p: dict, share: float) -> np.ndarray:
    """T at which the (unclipped) CMR law reaches ``share``: ((share - beta3)/alpha4)^(1/s4)."""
    with np.errstate(all="ignore"):
        base = (share - np.asarray(p["beta3"])) / np.asarray(p["alpha4"])
        t = np.where(
            base > 0, np.power(np.where(base > 0, base, 1.0), 1.0 / np.asarray(p["s4"])), np.nan
        )
    return np.where(np.isfinite(t) & (t > 0), t, np.nan)


def _dgen(g, t):
    return g["alpha2"] * t ** g["s2"] + g["alpha3"] * t ** g["s3"] + g["beta2"]


def _ddom(d, t):
    return d["alpha1"] * t ** d["s1"] + d["beta1"]


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
    t_raw = np.atleast_1d(np.asarray(tokens, dtype=float))
    if t_raw.size == 0 or not np.all(np.isfinite(t_raw)) or np.any(t_raw <= 0):
        raise PlanError(f"tokens must be positive finite token counts, not {list(t_raw)}")
    if share is not None and not (0.0 <= float(share) <= 1.0):
        raise PlanError(f"share must be a domain share in [0, 1], not {share!r}")
    lo_q, hi_q = quantiles
    if not (0.0 < lo_q < hi_q < 1.0):
        raise PlanError(f"quantiles must satisfy 0 < low < high < 1, not {quantiles!r}")
    fit = cmr_fit.with_settings(lam=lam, epsilon=epsilon)
    if models is None:
        models = list(fit.models)
    unknown = [m for m in models if m not in fit.models]
    if unknown:
        raise PlanError(f"unknown model {unknown[0]!r}; the fit has {', '.join(fit.models)}")
    qn = [f"q{round(100 * lo_q):02d}", "q50", f"q{round(100 * hi_q):02d}"]
    unit = fit.token_unit
    msgs: list[str] = list(fit.warnings)
    rows = []
    for model in models:
        c = fit.cmr[fit.cmr["model"] == model].iloc[0]
        point = {k: float(c[k]) for k in ("alpha4", "s4", "beta3")}
        law_missing = not all(math.isfinite(v) for v in point.values())
        draws = fit.cmr_draws.get(model, {})
        crit = fit.critical[fit.critical["model"] == model].sort_values("ratio")
        cv = fit.curves[fit.curves["model"] == model]
        gen = cv[cv["split"] == "general"].sort_values("ratio")
        dom = cv[cv["split"] == "domain"].sort_values("ratio")
        ratios = gen["ratio"].to_numpy()
        t_obs_max = float(gen["tokens_max"].max())
        base_gen = fit.baselines[(model, "general")]
        base_dom = fit.baselines[(model, "domain")]
        for tr in t_raw:
            tu = tr / unit
            r_law = float(_law(point, tu)) if not law_missing else math.nan
            dg = np.array([_dgen(row, tu) for _, row in gen.iterrows()])
            dd = np.array([_ddom(row, tu) for _, row in dom.iterrows()])
            dg_grid = np.interp(_SHARE_GRID, ratios, dg)
            ok = dg_grid <= fit.epsilon
            r_eps = float(_SHARE_GRID[ok].max()) if ok.any() else 0.0
            interp = _interp_log_t(crit, tr)
            value = r_law if not law_missing else interp
            clipped = bool(math.isfinite(value) and (value < 0 or value > 1))
            rec = float(np.clip(value, 0.0, 1.0)) if math.isfinite(value) else math.nan
            binds = bool(math.isfinite(rec) and r_eps < rec)
            if binds:
                rec = r_eps
            row = {"model": model, "tokens": float(tr), "cmr": rec}
            if draws and not law_missing:
                rd = np.clip(_law(draws, tu), 0.0, 1.0)
                rd = np.minimum(rd, r_eps)
                rd = rd[np.isfinite(rd)]
                qs = np.quantile(rd, [lo_q, 0.5, hi_q]) if rd.size else [math.nan] * 3
            else:
                qs = [math.nan] * 3
            row.update({f"cmr_{q}": float(v) for q, v in zip(qn, qs, strict=True)})
            row["cmr_law"] = r_law
            row["cmr_interp"] = interp
            row["ratio_epsilon_limit"] = r_eps
            share_eval = rec if math.isfinite(rec) else 0.0
            row["loss_general"] = base_gen + float(np.interp(share_eval, ratios, dg))
            row["loss_domain"] = base_dom + float(np.interp(share_eval, ratios, dd))
            fit_lo, fit_hi = float(c["tokens_fit_min"]), float(c["tokens_fit_max"])
            row["clipped"] = clipped
            row["epsilon_binds"] = binds
            row["outside_fit_range"] = bool(
                law_missing or not (fit_lo <= tr <= fit_hi) if math.isfinite(fit_lo) else True
            )
            row["beyond_observed_tokens"] = bool(tr > t_obs_max)
            row["law_missing"] = law_missing
            if share is not None:
                row["share"] = float(share)
                row["tokens_critical"] = (
                    float(_inverse_law(point, share) * unit) if not law_missing else math.nan
                )
                if draws and not law_missing:
                    td = _inverse_law(draws, share) * unit
                    finite = td[np.isfinite(td)]
                    # Draws where the share is never reached count as +inf tokens.
                    td = np.where(np.isnan(td), np.inf, td)
                    tq = (
                        np.quantile(td, [lo_q, 0.5, hi_q], method="inverted_cdf")
                        if finite.size
                        else [math.nan] * 3
                    )
                else:
                    tq = [math.nan] * 3
                row.update({f"tokens_critical_{q}": float(v) for q, v in zip(qn, tq, strict=True)})
            row["notes"] = "; ".join(
                n
                for n, on in (
                    ("CMR law value outside [0, 1], clipped", clipped),
                    (f"general-loss rise exceeds epsilon above share {r_eps:.3g}", binds),
                    (
                        "budget outside the token range of the fitted turning points",
                        row["outside_fit_range"],
                    ),
                    (
                        "budget beyond the observed continual-training tokens",
                        row["beyond_observed_tokens"],
                    ),
                    ("no CMR law (too few turning points): log-T interpolation used", law_missing),
                )
                if on
            )
            rows.append(row)
    out = pd.DataFrame(rows)
    if out["outside_fit_range"].any():
        msgs.append(
            "some budgets lie outside the token range of the fitted turning points: the CMR "
            "there is an extrapolation of the law"
        )
    for m in msgs:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    out.attrs["summary"] = {
        "law": "cmr",
        "lambda": fit.lam,
        "epsilon": fit.epsilon,
        "token_unit": unit,
        "uncertainty": fit.uncertainty.get("method", "none"),
        "n_draws": fit.n_draws,
        "quantiles": [lo_q, 0.5, hi_q],
        "models": list(models),
        "reference": "Gu et al. 2024, arXiv 2407.17467",
        "interval_calibration": interval_calibration(fit),
    }
    out.attrs["warnings"] = msgs
    return out


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
