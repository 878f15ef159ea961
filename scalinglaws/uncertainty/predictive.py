"""Predictive draws of an observed value, per-draw derived quantities, and quantiles."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import numpy as np

from scalinglaws.errors import PlanError, ScalingLawsError
from scalinglaws.fitting.result import FitResult, inputs_from
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty.bayes import discrepancy_basis, not_converged_advice
from scalinglaws.uncertainty.sharding import batch_mesh, replicate, shard_rows


def usable_draws(result: FitResult, *, allow_unconverged: bool = False) -> dict[str, np.ndarray]:
    """The parameter draws a plan may use, or a clear refusal.

    Raises:
        PlanError: The result carries no draws (``uncertainty`` is ``"none"``, or a record
            saved without draws), or its uncertainty failed its diagnostics and
            ``allow_unconverged`` is False.
    """
    unc = result.uncertainty
    if unc.n_draws == 0:
        raise PlanError(
            f"this {result.law.name} fit carries no uncertainty draws (method "
            f"{unc.method!r}); refit with uncertainty (laplace, bootstrap or bayes) to get "
            "intervals"
        )
    if not unc.converged and not allow_unconverged:
        problems = unc.diagnostics.get("problems") or []
        why = f" ({'; '.join(problems)})" if problems else ""
        divergences = int(unc.diagnostics.get("divergences") or 0)
        what = not_converged_advice(divergences) if unc.method == "bayes" else "rerun it longer"
        raise PlanError(
            f"the {unc.method} uncertainty of this fit did NOT converge{why}; its intervals "
            f"are not trustworthy: {what}; or pass allow_unconverged=True to use them anyway"
        )
    return {k: np.asarray(v, dtype=float) for k, v in unc.draws.items()}


@partial(jax.jit, static_argnames=("law", "fn"))
def _per_draw(law: Law, fn: Callable, params, inputs):
    return jax.vmap(lambda p: fn(p, inputs))(params)


def per_draw(
    result: FitResult,
    fn: Callable[[Mapping[str, Any], Mapping[str, Any]], Any],
    inputs: Mapping[str, Any] | None = None,
    *,
    allow_unconverged: bool = False,
) -> np.ndarray:
    """Evaluate a derived quantity on every parameter draw, vmapped and sharded.

    ``fn(params, inputs)`` is a pure ``jax.numpy`` function of one parameter dict (scalars
    in natural units) and fixed inputs; it is vmapped over the draws, whose axis is
    sharded over every visible device. Pass a module-level function (not a fresh lambda)
    so repeated calls share one compilation.

    Returns:
        ``(n_draws, ...)`` array.
    """
    draws = usable_draws(result, allow_unconverged=allow_unconverged)
    names = list(draws)
    stacked = np.stack([draws[k] for k in names], axis=1)
    with jax.enable_x64(True):
        mesh = batch_mesh()
        (rows,), n = shard_rows(stacked, mesh=mesh)
        params = {k: rows[:, i] for i, k in enumerate(names)}
        x = replicate({k: np.asarray(v, dtype=float) for k, v in (inputs or {}).items()}, mesh)
        return np.asarray(_per_draw(result.law, fn, params, x))[:n]


@partial(jax.jit, static_argnames=("law",))
def _center_draws(law: Law, params, inputs):
    """Per-draw prediction on the residual scale (log for log-residual laws), vmapped."""
    if law.residual == "log":
        return jax.vmap(lambda p: law.log_predict(p, inputs))(params)
    return jax.vmap(lambda p: law.predict(p, inputs))(params)


def predictive(
    result: FitResult,
    inputs: Any,
    n: int | None = None,
    seed: int = 0,
    *,
    noise: bool = True,
    allow_unconverged: bool = False,
) -> np.ndarray:
    """Draws of an *observed* target value at new inputs: parameters plus run noise.

    For each parameter draw theta_s the law's prediction is evaluated (vmapped over the
    draws) and a residual drawn at that draw's noise scale is added on the residual
    scale: y = exp(log f(theta_s, x) + sigma_s * eps) for laws fitted on log loss,
    y = f(theta_s, x) + sigma_s * eps otherwise, eps standard normal (bootstrap, Laplace)
    or Student-t with the posterior's nu (bayes). Noise scales: a bootstrap draw uses its
    own refit's residual scale, Laplace the point fit's, bayes each posterior draw's
    sigma; a record without them falls back to the point fit's residual scale.

    Args:
        result: A fit with uncertainty attached.
        inputs: A DataFrame with the law's input columns, or a dict of arrays.
        n: Number of predictive draws (default: one per parameter draw); parameter draws
            are cycled or subsampled deterministically to reach it.
        seed: Seed of the noise.
        noise: False gives draws of the law's value itself (parameter uncertainty only).
        allow_unconverged: Use draws whose diagnostics failed.

    Returns:
        ``(n_draws, n_points)`` array.

    Raises:
        PlanError: No draws, or unconverged draws without ``allow_unconverged``.
        ScalingLawsError: Bad inputs or ``n``.
    """
    draws = usable_draws(result, allow_unconverged=allow_unconverged)
    law = result.law
    if isinstance(inputs, Mapping):
        x = inputs_from(law, None, dict(inputs))
    else:
        x = inputs_from(law, inputs, {})
    x = {k: np.atleast_1d(v) for k, v in x.items()}
    n_par = result.uncertainty.n_draws
    if n is None:
        n = n_par
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ScalingLawsError(f"number of predictive draws must be a positive integer, not {n!r}")
    idx = np.arange(n) % n_par if n >= n_par else np.linspace(0, n_par - 1, n).astype(int)
    names = list(draws)
    stacked = np.stack([draws[k][idx] for k in names], axis=1)
    with jax.enable_x64(True):
        mesh = batch_mesh()
        (rows,), _ = shard_rows(stacked, mesh=mesh)
        params = {k: rows[:, i] for i, k in enumerate(names)}
        center = np.asarray(_center_draws(law, params, replicate(x, mesh)))[:n]
    center = center + _discrepancy_draws(result, x, idx)
    if not noise:
        return np.exp(center) if law.residual == "log" else center
    scale, dof = noise_scales(result)
    scale = scale[idx] if np.ndim(scale) else np.full(n, float(scale))
    rng = np.random.default_rng(seed)
    shape = center.shape
    if np.ndim(dof) or math.isfinite(float(dof)):
        nu = np.asarray(dof)[idx][:, None] if np.ndim(dof) else float(dof)
        eps = rng.standard_t(np.broadcast_to(nu, shape))
    else:
        eps = rng.standard_normal(shape)
    out = center + scale[:, None] * eps
    return np.exp(out) if law.residual == "log" else out


def _discrepancy_draws(result: FitResult, x: Mapping[str, Any], idx: np.ndarray):
    """delta_s(x) per (draw, point) for a posterior with a discrepancy term, else 0.

    See :func:`scalinglaws.uncertainty.sample_posterior` (``discrepancy``); the weights are
    per-draw extras, kept aligned with the draws in records.
    """
    extra = result.uncertainty.extra
    spec = extra.get("discrepancy")
    if not spec:
        return 0.0
    n = result.uncertainty.n_draws
    weights = [extra.get(f"discrepancy_w{k}") for k in range(len(spec["terms"]))]
    if any(w is None or np.size(w) != n for w in weights):
        raise ScalingLawsError(
            "this posterior has a discrepancy term but its per-draw weights are missing; "
            "refit, or save the record with its draws"
        )
    w = np.stack([np.asarray(v, dtype=float)[idx] for v in weights], axis=1)
    phi = discrepancy_basis(spec, x, result.law)
    # The posterior's model is log y = log f(x; theta) + delta(x) + noise (see bayes.py:
    # the noise there is -(law residual + delta), the law residual being log f - log y).
    return w @ phi.T


def noise_scales(result: FitResult) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Per-draw (or single) residual noise scale and Student-t dof (inf: Gaussian)."""
    extra = result.uncertainty.extra
    n = result.uncertainty.n_draws
    scale = extra.get("noise_scale")
    dof = extra.get("noise_dof", math.inf)
    if scale is not None and (np.ndim(scale) == 0 or np.size(scale) == n):
        scale = np.asarray(scale, dtype=float) if np.ndim(scale) else float(scale)
    else:
        r = np.asarray(result.residuals, dtype=float)
        scale = float(np.sqrt(np.sum(r**2) / max(r.size - len(result.law.params), 1)))
        dof = math.inf
    if dof is None:
        dof = math.inf
    if np.ndim(dof) and np.size(dof) != n:
        dof = math.inf
    return scale, (np.asarray(dof, dtype=float) if np.ndim(dof) else float(dof))


def quantiles(draws: Any, q: Sequence[float] = (0.05, 0.5, 0.95), axis: int = 0) -> np.ndarray:
    """Quantiles of draws along ``axis`` (the draw axis); shape ``(len(q), ...)``.

    Non-finite draws are ignored (a draw where a derived quantity does not exist, e.g. the
    compute to reach a loss below that draw's E).

    Raises:
        ScalingLawsError: Empty draws or a level outside [0, 1].
    """
    arr = np.asarray(draws, dtype=float)
    qs = np.asarray(q, dtype=float)
    if arr.size == 0 or arr.shape[axis] == 0:
        raise ScalingLawsError("no draws to take quantiles of")
    if qs.ndim != 1 or np.any((qs < 0) | (qs > 1)) or qs.size == 0:
        raise ScalingLawsError(f"quantile levels must be numbers in [0, 1], not {list(q)!r}")
    arr = np.where(np.isfinite(arr), arr, np.nan)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanquantile(arr, qs, axis=axis)
