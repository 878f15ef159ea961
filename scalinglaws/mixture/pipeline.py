"""The critical-mixture-ratio pipeline: curves -> turning points -> CMR law.

Gu et al., "CMR Scaling Law", EMNLP 2024, arXiv 2407.17467.

A composition of small steps, each a call of the common machinery:

1. Curve fits: per model, ratio and split the loss change against tokens
   (:mod:`scalinglaws.laws.cmr`: dL_dom(T) = alpha1 T^s1 + beta1; dL_gen(T) = alpha2 T^s2
   + alpha3 T^s3 + beta2, s2 < s3), every curve of a law in one
   :func:`scalinglaws.fitting.many.fit_many` call; per model and split the final loss
   against the ratio (L(R)).
2. Curve uncertainty: bootstrap draws of every curve fit
   (:func:`scalinglaws.uncertainty.curves.bootstrap_curves`: checkpoints resampled, each
   draw refitted by the exponent-grid search and a polish), the exact grid posterior
   (:mod:`scalinglaws.mixture.gridpost`) or NUTS draws (:mod:`scalinglaws.mixture.posterior`).
3. Turning points: per ratio, T0 of F = L_dom + lambda (L_gen - L_gen,base - eps), the
   last + to - crossing of dF/dT (:func:`scalinglaws.laws.cmr.turning_points`), at the
   point fit and per draw. A ratio is feasible when T0 <= T_max and dL_gen(T_max) <= eps.
4. The CMR law: per model, R = alpha4 T^s4 + beta3 through the points (T0(R_i), R_i),
   each weighted by 1 / (Var(log T0) + tau^2) with Var(log T0) by the delta method from
   the curve fits' covariances (deterministic: no draws enter the point estimate), tau^2
   the median of the model's variances; fitted with :func:`fit_many` at the point and per
   draw with the same weights. Points with T0 beyond the observed tokens are marked
   extrapolated.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.errors import FitError, ScalingLawsWarning
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.many import PILOT_DELTA, fit_many, pad_curves
from scalinglaws.fitting.solver import STATUS_NAMES
from scalinglaws.laws.base import Law
from scalinglaws.laws.cmr import (
    CMR_KEYS,
    DEFAULT_TOKEN_UNIT,
    DOMAIN_KEYS,
    GENERAL_KEYS,
    LOSS_RATIO_KEYS,
    cmr_law,
    domain_change_law,
    general_change_law,
    general_fitted,
    general_natural,
    loss_ratio_law,
    stationarity_coefficients,
    turning_points,
)
from scalinglaws.mixture.gridpost import grid_posterior_curves
from scalinglaws.mixture.posterior import (
    DEFAULT_CHAINS,
    DEFAULT_MAX_TREE_DEPTH,
    DEFAULT_SAMPLES_PER_CHAIN,
    DEFAULT_WARMUP,
    posterior_curves,
)
from scalinglaws.mixture.runs import load_cpt_runs
from scalinglaws.uncertainty.curves import bootstrap_curves

#: Default Lagrange multiplier: inside the paper's 100-7000 range (about its geometric
#: middle). At lambda >= 100 the domain term only matters at tiny T, so T0 sits within a
#: few percent of the lambda = inf turning point of dL_gen on curves like the paper's.
DEFAULT_LAMBDA = 1000.0
#: Default tolerance on the general-loss rise (the paper's epsilon).
DEFAULT_EPSILON = 0.05
#: Default number of bootstrap draws.
DEFAULT_SAMPLES = 500
UNCERTAINTY_METHODS = ("none", "bootstrap", "bayes")
#: Samplers of the ``"bayes"`` path: the exact grid posterior (default) or NUTS.
SAMPLERS = ("grid", "nuts")
#: Default draws per curve of the grid posterior.
DEFAULT_GRID_DRAWS = 1000
#: Curve fits: grid starts polished per curve and Newton iterations per start.
CURVE_TOP_K = 4
CURVE_MAX_ITER = 1000
#: CMR-law fits: grid starts polished per point set and Newton iterations per start.
CMR_TOP_K = 3
CMR_MAX_ITER = 200
#: How the CMR-law points are weighted (recorded in the options).
POINT_WEIGHTS = "delta-method 1/(Var(log T0)+tau^2)"
#: Kinds of turning point (see :func:`scalinglaws.mixture.critical.turning_points`).
T0_KINDS = {0: "root", 1: "zero", 2: "never"}


@dataclass(frozen=True)
class CMRFit:
    """A fitted critical-mixture-ratio pipeline for one or more model sizes.

    Attributes:
        models: Model names in the log's order.
        token_unit: Raw tokens per unit of T in every fitted coefficient.
        lam: Lagrange multiplier (``inf``: turning point of the general loss).
        epsilon: Allowed rise of the general loss over its baseline.
        curves: One row per (model, ratio, split): fitted parameters (paper keys), Huber
            threshold, objective, solver status, checkpoint count and token range.
        loss_ratio: One row per (model, split): L(R) = alpha_R R^s_R + beta_R at each
            ratio's final checkpoint.
        critical: One row per (model, ratio): T0 (raw tokens) with quantiles, its kind,
            the stationarity residual, the weight in the CMR-law fit, extrapolation and
            feasibility.
        cmr: One row per model: alpha4, s4, beta3, status, points used, fitted token range.
        curve_draws: ``{(model, ratio, split): {param: (K,)}}`` bootstrap draws (paper keys).
        cmr_draws: ``{model: {param: (K,)}}`` CMR-law draws (NaN where a draw failed).
        baselines: ``{(model, split): loss}`` before continual training.
        uncertainty: Method, number of draws, seed, failed-draw counts.
        options: Settings used (for records and refits).
        warnings: Messages the user should read.
        data: The checkpoints fitted (``None`` when loaded from a record).
    """

    models: tuple[str, ...]
    token_unit: float
    lam: float
    epsilon: float
    curves: pd.DataFrame
    loss_ratio: pd.DataFrame
    critical: pd.DataFrame
    cmr: pd.DataFrame
    curve_draws: Mapping[tuple, Mapping[str, np.ndarray]]
    cmr_draws: Mapping[str, Mapping[str, np.ndarray]]
    baselines: Mapping[tuple[str, str], float]
    uncertainty: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    data: pd.DataFrame | None = None

    @property
    def n_draws(self) -> int:
        for d in self.cmr_draws.values():
            return len(next(iter(d.values())))
        return 0

    @property
    def params(self) -> dict:
        """Nested parameters per model with the paper's keys (the JSON layout).

        ``{model: {"alpha_R", "s_R", "beta_R" (domain loss vs ratio),
        "loss_ratio": {split: {...}}, "ratios": {ratio: {"alpha1", "s1", "beta1",
        "alpha2", "s2", "alpha3", "s3", "beta2"}}, "alpha4", "s4", "beta3"}}``.
        """
        out: dict = {}
        for model in self.models:
            p: dict = {}
            lr = self.loss_ratio[self.loss_ratio["model"] == model]
            lr_split = {
                row["split"]: {k: row[k] for k in LOSS_RATIO_KEYS} for _, row in lr.iterrows()
            }
            p.update(lr_split.get("domain", dict.fromkeys(LOSS_RATIO_KEYS, math.nan)))
            p["loss_ratio"] = lr_split
            ratios: dict = {}
            cv = self.curves[self.curves["model"] == model]
            for r, g in cv.groupby("ratio", sort=True):
                entry = {}
                for _, row in g.iterrows():
                    keys = DOMAIN_KEYS if row["split"] == "domain" else GENERAL_KEYS
                    entry.update({k: row[k] for k in keys})
                ratios[ratio_key(r)] = entry
            p["ratios"] = ratios
            c = self.cmr[self.cmr["model"] == model].iloc[0]
            p.update({k: c[k] for k in CMR_KEYS})
            out[model] = p
        return out

    def with_settings(self, lam: float | None = None, epsilon: float | None = None) -> CMRFit:
        """The same curve fits with another lambda or epsilon (T0 and CMR law recomputed)."""
        lam = self.lam if lam is None else _check_lambda(lam)
        epsilon = self.epsilon if epsilon is None else _check_epsilon(epsilon)
        if lam == self.lam and epsilon == self.epsilon:
            return self
        critical, cmr, cmr_draws, msgs = derive_critical(
            self.curves,
            self.curve_draws,
            self.baselines,
            self.models,
            self.token_unit,
            lam,
            epsilon,
        )
        opts = {**self.options, "lam": lam, "epsilon": epsilon}
        return replace(
            self,
            lam=lam,
            epsilon=epsilon,
            critical=critical,
            cmr=cmr,
            cmr_draws=cmr_draws,
            options=opts,
            warnings=tuple(_dedupe([*self.warnings, *msgs])),
        )

    def report(self) -> str:
        """Plain-text summary: per model the CMR law, turning points and feasibility."""
        lam = "inf" if math.isinf(self.lam) else f"{self.lam:g}"
        lines = [
            f"critical mixture ratio (Gu et al. 2024, arXiv 2407.17467)  lambda={lam}  "
            f"epsilon={self.epsilon:g}  T unit={self.token_unit:g} tokens",
            f"  uncertainty: {self.uncertainty.get('method', 'none')}, {self.n_draws} draws"
            + (
                ""
                if self.uncertainty.get("converged", True)
                else "  ** POSTERIOR NOT CONVERGED: intervals unusable **"
            ),
        ]
        for model in self.models:
            c = self.cmr[self.cmr["model"] == model].iloc[0]
            lines.append("")
            lines.append(
                f"  {model}: R = {c['alpha4']:.6g} * T^{c['s4']:.6g} {signed_term(c['beta3'], '.6g')}   "
                f"({int(c['n_points'])} points, {c['status']})"
            )
            lines.append(
                f"    {'ratio':>7} {'T0 tokens':>11} {'q05':>10} {'q95':>10} {'weight':>8} "
                f"{'dLgen@Tmax':>10}  feasible  note"
            )
            crit = self.critical[self.critical["model"] == model]
            for _, row in crit.iterrows():
                note = "extrapolated" if row["extrapolated"] else ""
                lines.append(
                    f"    {row['ratio']:>7.4g} {row['T0']:>11.4g} {row['T0_q05']:>10.4g} "
                    f"{row['T0_q95']:>10.4g} {row['weight']:>8.3g} {row['dgen_at_tmax']:>10.4g}"
                    f"  {'yes' if row['feasible'] else 'no':>8}  {note}"
                )
        if self.warnings:
            lines.append("")
            lines.append("  warnings:")
            for m in self.warnings:
                lines.append(f"  - {m}")
        return "\n".join(lines)


def ratio_key(r: float) -> str:
    """A mixture ratio as the key of its curve parameters in records and ``params``."""
    return f"{float(r):.10g}"


def _dedupe(msgs):
    seen = []
    for m in msgs:
        if m not in seen:
            seen.append(m)
    return seen


def _check_lambda(lam: Any) -> float:
    try:
        v = float(lam)
    except (TypeError, ValueError):
        raise FitError(f"lambda must be a positive number or inf, not {lam!r}") from None
    if not v > 0 or math.isnan(v):
        raise FitError(f"lambda must be a positive number or inf, not {lam!r}")
    return v


def _check_epsilon(eps: Any) -> float:
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise FitError(f"epsilon must be a non-negative number, not {eps!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise FitError(f"epsilon must be a non-negative finite number, not {eps!r}")
    return v


@dataclass(frozen=True)
class CMRSettings:
    """Validated options of :func:`fit_cmr` (see its arguments)."""

    lam: float = DEFAULT_LAMBDA
    epsilon: float = DEFAULT_EPSILON
    uncertainty: str = "bootstrap"
    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    token_unit: float = DEFAULT_TOKEN_UNIT
    token_unit_in: float = 1.0
    delta: float | str = "auto"
    sampler: str = "grid"
    chains: int = DEFAULT_CHAINS
    warmup: int = DEFAULT_WARMUP
    max_tree_depth: int = DEFAULT_MAX_TREE_DEPTH

    @property
    def method(self) -> str:
        """``"none"``, ``"bootstrap"``, ``"grid"`` or ``"nuts"``."""
        return self.sampler if self.uncertainty == "bayes" else self.uncertainty

    @property
    def n_draws(self) -> int:
        """Draws per curve fit (0 without uncertainty)."""
        return {"none": 0, "nuts": self.chains * self.samples}.get(self.method, self.samples)


def cmr_settings(
    *,
    lam: Any = DEFAULT_LAMBDA,
    epsilon: Any = DEFAULT_EPSILON,
    uncertainty: str = "bootstrap",
    samples: Any = None,
    seed: int = 0,
    token_unit: Any = DEFAULT_TOKEN_UNIT,
    token_unit_in: float = 1.0,
    delta: Any = "auto",
    sampler: str = "grid",
    chains: Any = DEFAULT_CHAINS,
    warmup: Any = None,
    max_tree_depth: Any = DEFAULT_MAX_TREE_DEPTH,
) -> CMRSettings:
    """Check :func:`fit_cmr`'s options and fill the defaults that depend on the method.

    Raises:
        FitError: An option is invalid (named, with what would be valid).
    """
    if uncertainty not in UNCERTAINTY_METHODS:
        raise FitError(
            f"uncertainty must be one of {', '.join(UNCERTAINTY_METHODS)}, not {uncertainty!r}"
        )
    if sampler not in SAMPLERS:
        raise FitError(f"sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
    method = sampler if uncertainty == "bayes" else uncertainty
    if samples is None:
        samples = {"grid": DEFAULT_GRID_DRAWS, "nuts": DEFAULT_SAMPLES_PER_CHAIN}.get(
            method, DEFAULT_SAMPLES
        )
    if method in ("bootstrap", "grid") and not (_is_int(samples) and samples >= 2):
        what = "the bootstrap" if method == "bootstrap" else "the grid posterior"
        raise FitError(f"samples must be an integer >= 2 for {what}, not {samples!r}")
    warmup = DEFAULT_WARMUP if warmup is None else warmup
    if method == "nuts":
        _check_nuts(samples, chains, warmup, max_tree_depth)
    if not (isinstance(token_unit, int | float) and math.isfinite(token_unit) and token_unit > 0):
        raise FitError(f"token_unit must be a positive number of tokens, not {token_unit!r}")
    if isinstance(delta, str) and delta != "auto":
        raise FitError(f"delta must be 'auto' or a positive number, not {delta!r}")
    if not isinstance(delta, str) and not (math.isfinite(delta) and delta > 0):
        raise FitError(f"delta must be 'auto' or a positive number, not {delta!r}")
    return CMRSettings(
        lam=_check_lambda(lam),
        epsilon=_check_epsilon(epsilon),
        uncertainty=uncertainty,
        samples=int(samples) if _is_int(samples) else samples,
        seed=int(seed),
        token_unit=float(token_unit),
        token_unit_in=token_unit_in,
        delta=delta,
        sampler=sampler,
        chains=chains,
        warmup=warmup,
        max_tree_depth=max_tree_depth,
    )


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _check_nuts(samples: Any, chains: Any, warmup: Any, max_tree_depth: Any) -> None:
    for name, v in (
        ("samples", samples),
        ("chains", chains),
        ("warmup", warmup),
        ("max_tree_depth", max_tree_depth),
    ):
        if not (_is_int(v) and v >= 1):
            raise FitError(f"{name} must be a positive integer for the bayes posterior, not {v!r}")
    if chains * samples < 2:
        raise FitError("the bayes posterior needs at least 2 draws (chains x samples)")


def fit_cmr(
    runs: Any,
    *,
    lam: float = DEFAULT_LAMBDA,
    epsilon: float = DEFAULT_EPSILON,
    uncertainty: str = "bootstrap",
    samples: int | None = None,
    seed: int = 0,
    token_unit: float = DEFAULT_TOKEN_UNIT,
    token_unit_in: float = 1.0,
    delta: float | str = "auto",
    chains: int = DEFAULT_CHAINS,
    warmup: int | None = None,
    max_tree_depth: int = DEFAULT_MAX_TREE_DEPTH,
    sampler: str = "grid",
) -> CMRFit:
    """Fit the critical-mixture-ratio pipeline to continual-pre-training curves.

    Gu et al. 2024 (arXiv 2407.17467). A composition of four steps:

    1. curve fits: dL_dom(T) = alpha1 T^s1 + beta1 and dL_gen(T) = alpha2 T^s2 +
       alpha3 T^s3 + beta2 per (model, ratio), all curves of a law in one
       :func:`scalinglaws.fitting.many.fit_many` call (and L(R) per model and split);
    2. curve uncertainty: bootstrap refits of every curve
       (:func:`scalinglaws.uncertainty.curves.bootstrap_curves`), the exact grid
       posterior or NUTS draws (``"bayes"``), or none;
    3. turning points: T0 of F = L_dom + lambda (L_gen - L_gen,base - eps) at the point
       fit and per draw (:func:`scalinglaws.laws.cmr.turning_points`);
    4. the CMR law R = alpha4 T^s4 + beta3 through (T0(R_i), R_i) per model, one
       :func:`fit_many` call for the point and every draw.

    **Point weights (deterministic).** Each point is weighted by 1 / (Var(log T0) +
    tau^2), Var(log T0) by the delta method: the curve fits' Gauss-Newton parameter
    covariances pushed through the implicit-function gradient of the root of dF/dT
    (:func:`log_t0_variance`); tau^2 is the median of the model's variances
    (:func:`point_weights`). The weights, and so the point CMR law, are a function of
    the data and the options only: they do not change with ``samples`` or ``seed`` or
    with ``uncertainty="none"``. Every draw's CMR-law fit uses the same weights.
    (Before December 2026 the variances came from the uncertainty draws, so the point
    law moved with the number of draws and the seed.)

    Calibration on simulated curves: ``bench/mixture_coverage.py`` and
    :data:`scalinglaws.planning.mixture.INTERVAL_CALIBRATION`.

    Args:
        runs: A run log path or DataFrame (``model, ratio, tokens, split, loss`` with
            baseline rows), or the output of :func:`load_cpt_runs`.
        lam: Lagrange multiplier, > 0; ``inf`` gives the turning point of dL_gen.
        epsilon: Allowed rise of the general loss over its baseline at T_max.
        uncertainty: ``"bootstrap"`` (default), ``"bayes"`` (posterior of every curve
            fit, see ``sampler``) or ``"none"``.
        samples: Bootstrap draws (default 500); for ``"bayes"`` draws per curve of the
            grid posterior (default 1,000) or NUTS draws per chain (default 250, so 4
            chains give 1,000 draws).
        seed: Seed of the resampling or of the chains.
        token_unit: Raw tokens per unit of T in the coefficients (``2e8`` reproduces the
            paper's 0.2B-token unit).
        token_unit_in: Raw tokens per unit of the log's ``tokens`` column.
        delta: Huber threshold of the curve fits: ``"auto"`` (1.345 x the robust residual
            scale of a least-squares pilot, per curve) or a number for every curve. The
            L(R) fits (a handful of points each) are least squares.
        chains: NUTS chains per curve (``"bayes"`` only).
        warmup: NUTS warm-up iterations per chain (default 500; ``"bayes"`` only).
        max_tree_depth: NUTS maximum tree depth (default 6; ``"bayes"`` only).
        sampler: ``"bayes"`` only: ``"grid"`` (default), the exact posterior of each curve
            by quadrature over its exponents with the coefficients and noise integrated
            out in closed form (:mod:`scalinglaws.mixture.gridpost`); or ``"nuts"``
            (:mod:`scalinglaws.mixture.posterior`; the general-loss posteriors are
            multimodal and mostly do not mix). ``chains``, ``warmup`` and
            ``max_tree_depth`` apply to NUTS only.

    Returns:
        A :class:`CMRFit`.

    Raises:
        RunLogError: Bad run log. FitError: Bad option or nothing could be fitted.
    """
    st = cmr_settings(
        lam=lam,
        epsilon=epsilon,
        uncertainty=uncertainty,
        samples=samples,
        seed=seed,
        token_unit=token_unit,
        token_unit_in=token_unit_in,
        delta=delta,
        sampler=sampler,
        chains=chains,
        warmup=warmup,
        max_tree_depth=max_tree_depth,
    )
    data = runs if _is_loaded(runs) else load_cpt_runs(runs, token_unit_in=st.token_unit_in)
    baselines = dict(data.attrs["baselines"])
    models = tuple(pd.unique(data["model"]))
    curves_df, curve_draws, diags, msgs = _curves_with_uncertainty(data, baselines, st)
    loss_ratio = _fit_loss_ratio(data, models, msgs)
    derived = derive_critical(
        curves_df, curve_draws, baselines, models, st.token_unit, st.lam, st.epsilon
    )
    return _assemble(st, data, curves_df, curve_draws, loss_ratio, derived, diags, msgs)


def _assemble(st, data, curves, curve_draws, loss_ratio, derived, diags, msgs) -> CMRFit:
    """The :class:`CMRFit` of the steps' outputs; every message is also warned once."""
    critical, cmr, cmr_draws, msgs2 = derived
    msgs = [*msgs, *msgs2]
    for m_ in msgs:
        warnings.warn(m_, ScalingLawsWarning, stacklevel=3)
    unc = _uncertainty_summary(st, diags)
    if st.uncertainty == "bayes" and not unc["converged"]:
        msgs.insert(0, unc["diagnostics"]["message"])
        warnings.warn(unc["diagnostics"]["message"], ScalingLawsWarning, stacklevel=3)
    return CMRFit(
        models=tuple(pd.unique(data["model"])),
        token_unit=st.token_unit,
        lam=st.lam,
        epsilon=st.epsilon,
        curves=curves,
        loss_ratio=loss_ratio,
        critical=critical,
        cmr=cmr,
        curve_draws=curve_draws,
        cmr_draws=cmr_draws,
        baselines=dict(data.attrs["baselines"]),
        uncertainty=unc,
        options=_options(st, data),
        warnings=tuple(_dedupe(msgs)),
        data=data,
    )


@dataclass(frozen=True)
class _CurveBatch:
    """The curves of one split: the law, the groups and the padded arrays."""

    split: str
    law: Law
    keys: tuple[str, ...]
    groups: list
    xs: list
    ys: list
    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray


def _curve_batch(data: pd.DataFrame, split: str, token_unit: float) -> _CurveBatch:
    law, keys = (
        (domain_change_law(), DOMAIN_KEYS)
        if split == "domain"
        else (general_change_law(), GENERAL_KEYS)
    )
    groups = list(data[data["split"] == split].groupby(["model", "ratio"], sort=False))
    xs = [g["tokens"].to_numpy() / token_unit for _, g in groups]
    ys = [g["dloss"].to_numpy() for _, g in groups]
    x, y, m = pad_curves(xs, ys)
    return _CurveBatch(split, law, keys, groups, xs, ys, x, y, m)


def _curves_with_uncertainty(data: pd.DataFrame, baselines: Mapping, st: CMRSettings):
    """Steps 1 and 2 for both splits: ``(curves, curve_draws, diagnostics, messages)``."""
    rng = np.random.default_rng(st.seed)
    msgs: list[str] = []
    curves, curve_draws, diags = [], {}, []
    for split in ("domain", "general"):
        batch = _curve_batch(data, split, st.token_unit)
        fitted = _fit_curve_batch(batch, baselines, st.delta)
        curves.append(fitted)
        draws, d, m = _curve_uncertainty(batch, fitted, st, rng)
        curve_draws.update(draws)
        diags.extend(d)
        msgs.extend(m)
    curves_df = pd.concat(curves, ignore_index=True)
    return curves_df, curve_draws, diags, [*msgs, *_convergence_messages(curves_df)]


def _paper_keys(split: str, natural: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    nat = dict(natural)
    if split == "general":
        nat["s3"] = nat["s2"] + nat.pop("s3_gap")
    return nat


def _fit_curve_batch(b: _CurveBatch, baselines: Mapping, delta: float | str) -> pd.DataFrame:
    """Step 1: every curve of one split in one :func:`fit_many` call, one row per curve."""
    res = fit_many(
        b.law,
        {"T": b.x, "dloss": b.y},
        weights=b.mask,
        delta=delta,
        top_k=CURVE_TOP_K,
        max_iter=CURVE_MAX_ITER,
    )
    nat = _paper_keys(b.split, res.params)
    rows = []
    for i, ((model, r), g) in enumerate(b.groups):
        row = {
            "model": model,
            "ratio": float(r),
            "split": b.split,
            "n_points": len(g),
            "tokens_min": float(g["tokens"].min()),
            "tokens_max": float(g["tokens"].max()),
            "baseline": baselines[(model, b.split)],
            "delta": float(res.delta[i]),
            "objective": float(res.objective[i]),
            "status": STATUS_NAMES[int(res.status[i])],
        }
        row.update({k: float(nat[k][i]) for k in b.keys})
        row["theta"] = res.theta[i]
        row["covariance"] = res.covariance[i]
        rows.append(row)
    return pd.DataFrame(rows)


def _curve_uncertainty(b: _CurveBatch, fitted: pd.DataFrame, st: CMRSettings, rng):
    """Step 2: draws of every curve fit of one split: ``(draws, diagnostics, messages)``."""
    if st.method == "none":
        return {}, [], []
    if st.method == "bootstrap":
        return _bootstrap_draws(b, fitted, st.samples, rng)
    seeds = rng.integers(0, 2**31 - 1, size=len(b.groups))
    if st.method == "grid":
        theta = np.stack(fitted["theta"].to_numpy())
        with jax.enable_x64(True):
            resid = np.asarray(
                jax.vmap(lambda t_, xi, yi: b.law.residuals(t_, {"T": xi}, yi))(
                    jnp.asarray(theta), jnp.asarray(b.x), jnp.asarray(b.y)
                )
            )
        srefs = [
            float(np.sqrt(np.sum(b.mask[i] * resid[i] ** 2) / max(b.mask[i].sum(), 1.0)))
            for i in range(len(b.groups))
        ]
        draws, diags = grid_posterior_curves(
            b.split, b.xs, b.ys, srefs, draws=int(st.samples), seeds=seeds
        )
    else:
        points = [{k: float(row[k]) for k in b.keys} for _, row in fitted.iterrows()]
        draws, diags = posterior_curves(
            b.split,
            b.xs,
            b.ys,
            points,
            chains=int(st.chains),
            warmup=int(st.warmup),
            samples=int(st.samples),
            seeds=seeds,
            max_tree_depth=int(st.max_tree_depth),
        )
    out, diag_rows = {}, []
    for ((model, r), _), d, dg in zip(b.groups, draws, diags, strict=True):
        out[(model, float(r), b.split)] = {k: d[k] for k in b.keys}
        diag_rows.append({"model": model, "ratio": float(r), "split": b.split, **dg})
    return out, diag_rows, []


def _bootstrap_draws(b: _CurveBatch, fitted: pd.DataFrame, samples: int, rng):
    theta = np.stack(fitted["theta"].to_numpy())
    delta = fitted["delta"].to_numpy(dtype=float)
    th, status = bootstrap_curves(b.law, b.x, b.y, b.mask, theta, delta, samples=samples, rng=rng)
    dn = _paper_keys(b.split, b.law.to_natural_host(th))
    out, msgs = {}, []
    for i, ((model, r), _) in enumerate(b.groups):
        ok = status[i] != 2
        out[(model, float(r), b.split)] = {k: np.where(ok, dn[k][i], np.nan) for k in b.keys}
        n_bad = int(np.sum(~ok))
        if n_bad:
            msgs.append(
                f"{n_bad} of {samples} bootstrap refits of model {model}, ratio "
                f"{float(r):g}, {b.split} failed (left out)"
            )
    return out, [], msgs


def _convergence_messages(curves: pd.DataFrame) -> list[str]:
    bad = curves[curves["status"] != "converged"]
    if not len(bad):
        return []
    return [
        f"{len(bad)} of {len(curves)} loss-change fits stopped before converging (e.g. "
        f"model {bad['model'].iloc[0]}, ratio {bad['ratio'].iloc[0]:g}, "
        f"{bad['split'].iloc[0]}: {bad['status'].iloc[0]}); the two exponents of the "
        "general-loss law are often weakly identified (a flat ridge): trust T0 only "
        "where its interval is narrow"
    ]


def _options(st: CMRSettings, data: pd.DataFrame) -> dict[str, Any]:
    options: dict[str, Any] = {
        "lam": st.lam,
        "epsilon": st.epsilon,
        "uncertainty": st.uncertainty,
        "samples": int(st.samples) if st.uncertainty != "none" else 0,
        "seed": int(st.seed),
        "token_unit": float(st.token_unit),
        "token_unit_in": float(data.attrs.get("token_unit_in", st.token_unit_in)),
        "delta": st.delta,
        "point_weights": POINT_WEIGHTS,
    }
    if st.method == "grid":
        options.update(sampler="grid")
    elif st.method == "nuts":
        options.update(
            sampler="nuts",
            chains=int(st.chains),
            warmup=int(st.warmup),
            max_tree_depth=int(st.max_tree_depth),
        )
    return options


def _uncertainty_summary(st: CMRSettings, diags: list[dict]) -> dict[str, Any]:
    unc: dict[str, Any] = {
        "method": st.uncertainty,
        "n_draws": st.n_draws,
        "seed": int(st.seed),
        "resampling": "checkpoints within each curve, multinomial weights; each draw refitted by an "
        "exponent-grid search with closed-form linear coefficients, then polished"
        if st.method == "bootstrap"
        else "",
    }
    if st.method == "grid":
        unc.update(_grid_summary(diags, st.samples))
    elif st.method == "nuts":
        unc.update(_posterior_summary(diags, st.chains, st.warmup, st.samples, st.max_tree_depth))
    return unc


def _grid_summary(diags: list[dict], draws) -> dict:
    """The ``uncertainty`` entries of a grid-posterior CMR fit: settings, diagnostics.

    The quadrature counts as converged when, for every curve, no grid cell holds more than
    :data:`scalinglaws.mixture.gridpost.MAX_CELL_MASS` of the posterior after refinement.
    """
    bad = [d for d in diags if not d["converged"]]
    diagnostics: dict[str, Any] = {
        "max_cell_mass": max((d["max_cell_mass"] for d in diags), default=math.nan),
        "max_edge_mass": max((d["edge_mass"] for d in diags), default=math.nan),
        "min_effective_cells": min((d["effective_cells"] for d in diags), default=math.nan),
        "n_curves": len(diags),
        "n_not_converged": len(bad),
        "curves": diags,
    }
    if bad:
        worst = max(
            bad, key=lambda d: d["max_cell_mass"] if math.isfinite(d["max_cell_mass"]) else 9
        )
        diagnostics["message"] = (
            f"posterior NOT CONVERGED: the grid quadrature failed for {len(bad)} of "
            f"{len(diags)} curves (e.g. model {worst['model']}, ratio {worst['ratio']:g}, "
            f"{worst['split']}: {'; '.join(worst['problems'])}). Do not use the CMR "
            "intervals; use the bootstrap"
        )
    else:
        diagnostics["message"] = ""
    return {
        "converged": not bad,
        "draws_per_curve": int(draws),
        "sampler": "exact grid posterior per curve (scalinglaws.mixture.gridpost): normal "
        "likelihood on loss-change residuals, coefficients and noise integrated out in "
        "closed form (normal prior on the curve's values at its first, middle and last "
        "checkpoint, Jeffreys prior on the noise), exponents by quadrature on a refined "
        "grid under the laws' priors",
        "diagnostics": diagnostics,
    }


def _posterior_summary(diags: list[dict], chains, warmup, samples, max_tree_depth) -> dict:
    """The ``uncertainty`` entries of a bayes CMR fit: settings, diagnostics, convergence.

    The CMR posterior counts as converged only when every curve posterior passed the
    rule of :func:`scalinglaws.uncertainty.sample_posterior` (every R-hat <= 1.01, no
    divergent transition, every bulk ESS >= 100 per chain).
    """
    bad = [d for d in diags if not d["converged"]]
    r_hat = [d["max_r_hat"] for d in diags if math.isfinite(d["max_r_hat"])]
    ess = [d["min_ess_bulk"] for d in diags if math.isfinite(d["min_ess_bulk"])]
    diagnostics: dict[str, Any] = {
        "max_r_hat": max(r_hat) if r_hat else math.nan,
        "min_ess_bulk": min(ess) if ess else math.nan,
        "divergences": int(sum(d["divergences"] for d in diags)),
        "n_curves": len(diags),
        "n_not_converged": len(bad),
        "curves": diags,
    }
    if bad:
        worst = max(bad, key=lambda d: d["max_r_hat"] if math.isfinite(d["max_r_hat"]) else 9e9)
        diagnostics["message"] = (
            f"posterior NOT CONVERGED: {len(bad)} of {len(diags)} curve posteriors failed "
            f"their diagnostics (e.g. model {worst['model']}, ratio {worst['ratio']:g}, "
            f"{worst['split']}: {'; '.join(worst['problems'])}). Do not use the CMR "
            "intervals; rerun with more samples/warmup or use the bootstrap"
        )
    else:
        diagnostics["message"] = ""
    return {
        "converged": not bad,
        "chains": int(chains),
        "warmup": int(warmup),
        "samples_per_chain": int(samples),
        "max_tree_depth": int(max_tree_depth),
        "sampler": "NUTS per curve (scalinglaws.uncertainty.sample_posterior): student-t "
        "likelihood (dof 3) on loss-change residuals with a learned scale, dense mass "
        "matrix, anchored parametrisation (scalinglaws.mixture.posterior)",
        "diagnostics": diagnostics,
    }


def _is_loaded(runs: Any) -> bool:
    return isinstance(runs, pd.DataFrame) and "baselines" in runs.attrs and "dloss" in runs


def _fit_loss_ratio(data: pd.DataFrame, models, msgs: list[str]) -> pd.DataFrame:
    """L(R) per model and split through each ratio's final-checkpoint loss."""
    law = loss_ratio_law()
    rows, xs, ys = [], [], []
    for model in models:
        for split in ("domain", "general"):
            sub = data[(data["model"] == model) & (data["split"] == split) & (data["ratio"] > 0)]
            last = sub.sort_values("tokens").groupby("ratio").tail(1).sort_values("ratio")
            if last["ratio"].nunique() <= len(law.params):
                msgs.append(
                    f"model {model}, {split}: {last['ratio'].nunique()} ratios cannot determine "
                    f"L(R)'s {len(law.params)} parameters; L(R) left out"
                )
                rows.append({"model": model, "split": split, "n_points": len(last)})
                continue
            rows.append({"model": model, "split": split, "n_points": len(last)})
            xs.append(last["ratio"].to_numpy())
            ys.append(last["loss"].to_numpy())
    out = pd.DataFrame(rows)
    for k in (*LOSS_RATIO_KEYS, "objective"):
        out[k] = math.nan
    out["status"] = "insufficient_points"
    if xs:
        x, y, m = pad_curves(xs, ys)
        res = fit_loss_ratio_arrays(x, y, m)
        idx = np.flatnonzero(out["n_points"].to_numpy() > len(law.params))
        for j, i in enumerate(idx):
            for k in LOSS_RATIO_KEYS:
                out.loc[i, k] = res[k][j]
            out.loc[i, "objective"] = res["objective"][j]
            out.loc[i, "status"] = STATUS_NAMES[int(res["status"][j])]
    return out


def fit_loss_ratio_arrays(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> dict:
    """Least-squares L(R) fits of padded curves (ratios ``x``, final losses ``y``)."""
    law = loss_ratio_law()
    res = fit_many(
        law,
        {"R": x, "loss": np.where(mask > 0, y, 1.0)},
        weights=mask,
        delta=PILOT_DELTA,
        top_k=CURVE_TOP_K,
        max_iter=CURVE_MAX_ITER,
        covariance=False,
    )
    return {**res.params, "objective": res.objective, "status": res.status}


# ------------------------------------------------------------------------ turning points
def derive_critical(
    curves: pd.DataFrame,
    curve_draws: Mapping[tuple, Mapping[str, np.ndarray]],
    baselines: Mapping[tuple[str, str], float],
    models: tuple[str, ...],
    token_unit: float,
    lam: float,
    epsilon: float,
):
    """Turning points, feasibility and the CMR law (point and per draw) from curve fits.

    Steps: the turning point T0 of every (model, ratio) at the point fit and per draw
    (:func:`scalinglaws.laws.cmr.turning_points`); its delta-method variance
    (:func:`log_t0_variance`) and the point weights 1 / (Var(log T0) + tau^2)
    (:func:`point_weights`); the CMR law per model through those points, at the point fit
    and per draw with the same weights (:func:`fit_cmr_points`, i.e. :func:`fit_many`).
    ``baselines`` is accepted for symmetry with :class:`CMRFit` (T0 does not depend on it).

    Returns ``(critical, cmr, cmr_draws, messages)``; see :class:`CMRFit`.
    """
    del baselines
    dom = curves[curves["split"] == "domain"].set_index(["model", "ratio"])
    gen = curves[curves["split"] == "general"].set_index(["model", "ratio"])
    keys = [k for k in dom.index if k in gen.index]
    dpar = {k: np.asarray([dom.loc[i, k] for i in keys], dtype=float) for k in DOMAIN_KEYS}
    gpar = {k: np.asarray([gen.loc[i, k] for i in keys], dtype=float) for k in GENERAL_KEYS}
    tp = _turning_points(dpar, gpar, lam)
    t0_draws = _draw_turning_points(curve_draws, keys, lam) if curve_draws else None
    critical = _critical_table(keys, gen, tp, t0_draws, curve_draws, token_unit, epsilon)
    critical["log_T0_se"] = np.sqrt(_delta_variances(curves, keys, dpar, gpar, tp, lam))
    msgs: list[str] = []
    if "covariance" not in curves.columns:
        # A fit read back from a record carries no curve covariances: the spread of its
        # stored draws stands in (equal weights without draws).
        critical["log_T0_se"] = critical["log_T0_sd"] if t0_draws is not None else 1.0
        msgs.append(
            "curve covariances not available (a fit read from a record): CMR-law points "
            "weighted by the spread of the stored draws"
        )
    critical["weight"] = point_weights(critical)
    critical["used_in_cmr_fit"] = critical["weight"] > 0
    n_draws = _n_draws(curve_draws)
    cmr_rows, cmr_draws = [], {}
    for model in models:
        row, draws, m_msgs = _fit_model_cmr(critical, keys, t0_draws, model, token_unit, n_draws)
        cmr_rows.append(row)
        if draws is not None:
            cmr_draws[model] = draws
        msgs.extend(m_msgs)
    return critical, pd.DataFrame(cmr_rows), cmr_draws, msgs


def _n_draws(curve_draws: Mapping[tuple, Mapping[str, np.ndarray]]) -> int:
    for d in curve_draws.values():
        return len(next(iter(d.values())))
    return 0


def _turning_points(dpar: Mapping, gpar: Mapping, lam: float) -> dict[str, np.ndarray]:
    """T0, kind and residual (fit units) for parameter arrays of any common shape."""
    with jax.enable_x64(True):
        dj = {k: np.asarray(v, dtype=np.float64) for k, v in dpar.items()}
        gj = {k: np.asarray(v, dtype=np.float64) for k, v in gpar.items()}
        tp, finite = _turning_points_compiled(dj, gj, float(lam))
        tp = {k: np.asarray(v) for k, v in tp.items()}
    tp["T0"] = np.where(np.asarray(finite), tp["T0"], np.nan)
    return tp


@cached_jit(static_argnames=("lam",))
def _turning_points_compiled(dpar, gpar, lam: float):
    """One compiled program: stationarity coefficients, then the turning points."""
    c, s = stationarity_coefficients(dpar, gpar, lam)
    finite = jnp.all(jnp.isfinite(c), -1) & jnp.all(jnp.isfinite(s), -1)
    c = jnp.where(finite[..., None], c, 1.0)
    s = jnp.where(finite[..., None], s, 1.0)
    return turning_points(c, s), finite


def _draw_turning_points(curve_draws: Mapping, keys: list, lam: float) -> np.ndarray:
    """T0 per draw, ``(n_keys, K)`` in fit units (NaN where a draw's fit failed)."""
    dd = {k: np.stack([curve_draws[(*i, "domain")][k] for i in keys]) for k in DOMAIN_KEYS}
    gd = {k: np.stack([curve_draws[(*i, "general")][k] for i in keys]) for k in GENERAL_KEYS}
    return _turning_points(dd, gd, lam)["T0"]


def _critical_table(keys, gen, tp, t0_draws, curve_draws, token_unit, epsilon) -> pd.DataFrame:
    """One row per (model, ratio): T0, its kind, feasibility and the draws' summaries."""
    rows = []
    for j, (model, r) in enumerate(keys):
        g = gen.loc[(model, r)]
        t_max = float(g["tokens_max"]) / token_unit
        t_min = float(g["tokens_min"]) / token_unit
        dgen_max = float(
            g["alpha2"] * t_max ** g["s2"] + g["alpha3"] * t_max ** g["s3"] + g["beta2"]
        )
        t0 = float(tp["T0"][j])
        row = {
            "model": model,
            "ratio": float(r),
            "T0": t0 * token_unit,
            "kind": T0_KINDS[int(tp["kind"][j])],
            "residual": float(tp["residual"][j]),
            "tokens_max": t_max * token_unit,
            "dgen_at_tmax": dgen_max,
            "extrapolated": bool(t0 > t_max or (0 < t0 < t_min)),
            "feasible": bool(t0 <= t_max and dgen_max <= epsilon),
        }
        if t0_draws is None:
            row.update(dict.fromkeys(_DRAW_COLUMNS, math.nan))
        else:
            gdraw = curve_draws[(model, r, "general")]
            row.update(_draw_summary(t0_draws[j], gdraw, t_max, token_unit, epsilon))
        rows.append(row)
    return pd.DataFrame(rows)


_DRAW_COLUMNS = ("T0_q05", "T0_q50", "T0_q95", "log_T0_sd", "finite_frac", "feasible_prob")


def _draw_summary(td, gdraw, t_max: float, token_unit: float, epsilon: float) -> dict:
    """Quantiles of T0 over the draws, its log-scale sd, and the feasibility probability."""
    ok = np.isfinite(td) & (td > 0)
    q = (
        np.nanquantile(td, [0.05, 0.5, 0.95], method="inverted_cdf")
        if np.any(~np.isnan(td))
        else [math.nan] * 3
    )
    dg = (
        gdraw["alpha2"] * t_max ** gdraw["s2"]
        + gdraw["alpha3"] * t_max ** gdraw["s3"]
        + gdraw["beta2"]
    )
    feas = (np.nan_to_num(td, nan=np.inf) <= t_max) & (dg <= epsilon)
    return {
        "T0_q05": float(q[0]) * token_unit,
        "T0_q50": float(q[1]) * token_unit,
        "T0_q95": float(q[2]) * token_unit,
        "log_T0_sd": float(np.std(np.log(td[ok]), ddof=1)) if ok.sum() >= 2 else math.inf,
        "finite_frac": float(ok.mean()),
        "feasible_prob": float(np.mean(feas)),
    }


def _delta_variances(curves, keys, dpar, gpar, tp, lam) -> np.ndarray:
    """Var(log T0) per (model, ratio) by the delta method (inf where it is not defined)."""
    if "covariance" not in curves.columns:
        return np.full(len(keys), np.nan)
    dom = curves[curves["split"] == "domain"].set_index(["model", "ratio"])["covariance"]
    gen = curves[curves["split"] == "general"].set_index(["model", "ratio"])["covariance"]
    cov_d = np.stack([np.asarray(dom.loc[k], dtype=float) for k in keys])
    cov_g = np.stack([np.asarray(gen.loc[k], dtype=float) for k in keys])
    root = tp["kind"] == 0
    t0 = np.where(root & (tp["T0"] > 0), tp["T0"], 1.0)
    var = log_t0_variance(dpar, gpar, cov_d, cov_g, t0, lam)
    return np.where(root & np.isfinite(var) & (var >= 0), var, np.inf)


def log_t0_variance(
    domain: Mapping[str, np.ndarray],
    general: Mapping[str, np.ndarray],
    cov_domain: np.ndarray,
    cov_general: np.ndarray,
    t0: np.ndarray,
    lam: float,
) -> np.ndarray:
    """Delta-method variance of log T0 from the curve fits' parameter covariances.

    T0 solves g(u) = sum_k c_k(theta) e^(s_k(theta) u) = 0 at u = log T0 (see
    :func:`scalinglaws.laws.cmr.turning_points`). By the implicit function theorem
    du/dtheta = -(dg/dtheta) / (dg/du), so with the domain and general curves fitted
    independently, Var(log T0) = (g_d' S_d g_d + g_g' S_g g_g) / g_u^2, the gradients taken
    in each law's internal parameters (S: their Gauss-Newton covariances, see
    :class:`~scalinglaws.fitting.many.ManyFitResult`).

    Args:
        domain: ``alpha1, s1, beta1`` per point, ``(n,)``.
        general: ``alpha2, s2, alpha3, s3, beta2`` per point, ``(n,)``.
        cov_domain: ``(n, 3, 3)`` covariance of the domain law's internal parameters.
        cov_general: ``(n, 5, 5)`` covariance of the general law's internal parameters.
        t0: Turning points in fit units, ``(n,)``.
        lam: Lagrange multiplier (``inf`` drops the domain term).

    Returns:
        ``(n,)`` variances (NaN where a covariance is not available).
    """
    with jax.enable_x64(True):
        out = _log_t0_variance_compiled(
            {k: np.asarray(domain[k], dtype=np.float64) for k in DOMAIN_KEYS},
            {k: np.asarray(general[k], dtype=np.float64) for k in GENERAL_KEYS},
            np.asarray(cov_domain, dtype=np.float64),
            np.asarray(cov_general, dtype=np.float64),
            np.asarray(t0, dtype=np.float64),
            float(lam),
        )
        return np.asarray(out)


@cached_jit(static_argnames=("lam",))
def _log_t0_variance_compiled(domain, general, cov_domain, cov_general, t0, lam: float):
    dlaw, glaw = domain_change_law(), general_change_law()

    def g(td, tg, u):
        dnat = dlaw.to_natural(td)
        gnat = general_natural(glaw.to_natural(tg))
        c, s = stationarity_coefficients(dnat, gnat, lam)
        terms = c * jnp.exp(s * u)
        # Scaling by the largest term (held constant) keeps g O(1); the ratio of its
        # derivatives, all that enters, is unchanged.
        return jnp.sum(terms) / jax.lax.stop_gradient(jnp.max(jnp.abs(terms)))

    def var(td, tg, u, sd, sg):
        gd, gg, gu = jax.grad(g, argnums=(0, 1, 2))(td, tg, u)
        return (gd @ sd @ gd + gg @ sg @ gg) / gu**2

    td = dlaw.to_internal({k: domain[k] for k in dlaw.param_names})
    tg = glaw.to_internal(general_fitted({k: general[k] for k in GENERAL_KEYS}))
    return jax.vmap(var)(td, tg, jnp.log(t0), cov_domain, cov_general)


def point_weights(critical: pd.DataFrame) -> np.ndarray:
    """Weights of the CMR-law points: 1 / (Var(log T0) + tau^2), normalised per model.

    Var(log T0) is the delta-method variance of each turning point
    (``critical["log_T0_se"] ** 2``, from the curve fits' parameter covariances; a
    function of the data and options only, so the point law does not move with the
    number of draws or the seed); tau^2 is the median of those variances over the model's
    usable points. Plain inverse variances would trust the estimated variances exactly,
    so a point whose variance came out small (a linearised variance on the general law's
    flat ridge can be) would dominate the fit while the CMR-law draws, which hold the
    weights fixed, did not show it. The added tau^2 bounds any point's weight at
    1 / tau^2 and keeps the ordering of the others (an additive variance floor, as in
    random-effects meta-analysis). A point whose T0 is not a finite positive root, or
    whose variance is not finite, gets weight 0. Per model the weights are scaled to sum
    to the number of points used.
    """
    var = critical["log_T0_se"].to_numpy(dtype=float) ** 2
    ok = np.isfinite(var) & (var > 0) & (critical["kind"] == "root").to_numpy()
    w = np.zeros(len(critical))
    models = critical["model"].to_numpy()
    for model in pd.unique(models):
        sel = ok & (models == model)
        if sel.any():
            w[sel] = 1.0 / (var[sel] + float(np.median(var[sel])))
            w[sel] = w[sel] / w[sel].sum() * int(sel.sum())
    return w


def _fit_model_cmr(critical, keys, t0_draws, model, token_unit, n_draws):
    """The CMR law of one model at the point fit and per draw: ``(row, draws, messages)``."""
    sel = critical[critical["model"] == model]
    used = sel[sel["used_in_cmr_fit"]]
    msgs: list[str] = []
    row: dict[str, Any] = {"model": model, "n_points": len(used)}
    row.update(dict.fromkeys(CMR_KEYS, math.nan))
    row.update(
        objective=math.nan,
        status="insufficient_points",
        tokens_fit_min=math.nan,
        tokens_fit_max=math.nan,
    )
    big = sel[sel["kind"] == "root"]
    if (big["residual"] > 1e-8).any():
        msgs.append(f"model {model}: a turning point has stationarity residual > 1e-8")
    if len(used) <= len(CMR_KEYS):
        msgs.insert(
            0,
            f"model {model}: only {len(used)} ratios have a finite turning point T0; the "
            f"CMR law needs at least {len(CMR_KEYS) + 1} (plans fall back to log-T "
            "interpolation)",
        )
        draws = None if t0_draws is None else {k: np.full(n_draws, np.nan) for k in CMR_KEYS}
        return row, draws, msgs
    t = used["T0"].to_numpy() / token_unit
    rr = used["ratio"].to_numpy()
    ww = used["weight"].to_numpy()
    fitted = fit_cmr_points(t[None], rr[None], ww[None])
    row.update({k: float(fitted[k][0]) for k in CMR_KEYS})
    row["objective"] = float(fitted["objective"][0])
    row["status"] = STATUS_NAMES[int(fitted["status"][0])]
    row["tokens_fit_min"] = float(t.min() * token_unit)
    row["tokens_fit_max"] = float(t.max() * token_unit)
    if t0_draws is None:
        return row, None, msgs
    idx = [keys.index((model, r)) for r in used["ratio"]]
    draws, n_bad = _cmr_law_draws(t0_draws[idx].T, rr, ww)
    if n_bad:
        msgs.insert(
            0,
            f"model {model}: {n_bad} of {n_draws} CMR-law draws had too few finite turning "
            "points (left out of intervals)",
        )
    return row, draws, msgs


def _cmr_law_draws(td: np.ndarray, ratio: np.ndarray, weight: np.ndarray):
    """CMR-law fits per draw ``(K, n)`` with the point weights: ``(draws, n_failed)``."""
    ok = np.isfinite(td) & (td > 0)
    wd = np.where(ok, weight[None], 0.0)
    td = np.where(ok, td, 1.0)
    enough = np.count_nonzero(wd, axis=1) > len(CMR_KEYS)
    fd = fit_cmr_points(td, np.broadcast_to(ratio, td.shape), np.where(enough[:, None], wd, 1.0))
    good = enough & (fd["status"] != 2)
    return {k: np.where(good, fd[k], np.nan) for k in CMR_KEYS}, int((~good).sum())


def fit_cmr_points(t: np.ndarray, ratio: np.ndarray, weight: np.ndarray) -> dict:
    """Weighted least-squares CMR-law fits of point sets ``(B, n)`` (T in fit units).

    Each set is one curve of :func:`scalinglaws.fitting.many.fit_many` on
    :func:`~scalinglaws.laws.cmr.cmr_law` (variable-projection search over s4, the three
    best starts polished; least squares, the Huber threshold far above any residual).

    Returns:
        ``{"alpha4", "s4", "beta3", "objective", "status"}``, each ``(B,)``.
    """
    res = fit_many(
        cmr_law(),
        {"T": np.asarray(t, dtype=float), "ratio": np.asarray(ratio, dtype=float)},
        weights=np.asarray(weight, dtype=float),
        delta=PILOT_DELTA,
        top_k=CMR_TOP_K,
        max_iter=CMR_MAX_ITER,
        covariance=False,
    )
    return {
        **{k: res.params[k] for k in CMR_KEYS},
        "objective": res.objective,
        "status": res.status,
    }


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (for records)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def signed_term(value: float, fmt: str) -> str:
    """``+ 0.12`` or ``- 0.12``: a term appended to a formula (never ``+ -0.12``).

    The one definition: :meth:`CMRFit.report` and the legends of
    :mod:`scalinglaws.plotting.mixture` both use it.
    """
    return f"{'-' if value < 0 else '+'} {abs(value):{fmt}}"
