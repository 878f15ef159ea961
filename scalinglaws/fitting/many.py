"""``fit_many``: many curves of one law fitted in one compiled call.

A family of short curves fitted by the same law (the loss-change curves of a
continual-pre-training log, the point sets of the CMR law, the resamples of a bootstrap)
costs a Python round trip per curve through :func:`scalinglaws.fit`. Here every curve is
padded to a common length (padding rows get weight 0, so they add nothing to the
objective) and the variable-projection search
(:func:`~scalinglaws.fitting.solver.varpro_search`) and damped-Newton polish
(:func:`~scalinglaws.fitting.solver.polish_batch`) are vmapped over curves. With a
fixed ``delta`` the result per curve is what ``scalinglaws.fit(law, curve,
search="varpro", delta=delta, top_k=top_k, max_iter=max_iter)`` gives (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import FitError
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.fit import DEFAULT_MAX_ITER, DEFAULT_TOP_K
from scalinglaws.fitting.objective import DEFAULT_DELTA
from scalinglaws.fitting.solver import STATUS_NAMES, polish_batch, varpro_search
from scalinglaws.laws.base import Law, grid_product

#: Huber threshold of the least-squares pilot fit: far above any loss residual, so the
#: pilot is plain least squares.
PILOT_DELTA = 1e3
#: Huber threshold = HUBER_K x robust residual scale: 1.345 gives 95% efficiency at
#: Gaussian noise while bounding the pull of outlying points (Huber 1964).
HUBER_K = 1.345
#: Floor of the scale-aware threshold, relative to the spread of the curve's values, so a
#: noise-free curve does not get a zero threshold.
DELTA_FLOOR = 1e-9


@dataclass(frozen=True)
class ManyFitResult:
    """Fits of many curves of one law (one row per curve).

    Attributes:
        law: The law fitted.
        params: ``{name: (C,)}`` natural parameters (the law's own keys).
        theta: ``(C, P)`` internal parameter vectors.
        objective: ``(C,)`` weighted Huber objective at the optimum.
        status: ``(C,)`` solver codes (0 converged, 1 iteration limit, 2 non-finite; see
            :data:`scalinglaws.fitting.solver.STATUS_NAMES`).
        delta: ``(C,)`` Huber threshold of each curve's final fit.
        covariance: ``(C, P, P)`` Laplace covariance of the internal parameters:
            (J^T W J / sigma^2 + diag(1 / prior_scale^2))^-1, sigma^2 the residual
            variance; the Gauss-Newton covariance where the data identify the parameters,
            the law's weak prior width along directions they do not.
        n_points: ``(C,)`` rows with positive weight per curve.
    """

    law: Law
    params: Mapping[str, np.ndarray]
    theta: np.ndarray
    objective: np.ndarray
    status: np.ndarray
    delta: np.ndarray
    covariance: np.ndarray
    n_points: np.ndarray

    def __len__(self) -> int:
        return int(self.theta.shape[0])

    @property
    def status_names(self) -> tuple[str, ...]:
        """Solver status of each curve by name (``"converged"``, ``"max_iter"``, ...)."""
        return tuple(STATUS_NAMES[int(s)] for s in self.status)


def pad_curves(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]):
    """Stack curves of different lengths: ``(x (C, n), y (C, n), mask (C, n))``.

    Padding uses x = 1 (a valid input for every power law here) and y = 0, mask 0.
    """
    n = max(len(x) for x in xs)
    c = len(xs)
    x = np.ones((c, n))
    y = np.zeros((c, n))
    m = np.zeros((c, n))
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        x[i, : len(xi)] = xi
        y[i, : len(yi)] = yi
        m[i, : len(xi)] = 1.0
    return x, y, m


def fit_many(
    law: Law,
    curves: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    weights: Sequence[Any] | np.ndarray | None = None,
    delta: float | str = DEFAULT_DELTA,
    top_k: int = DEFAULT_TOP_K,
    max_iter: int = DEFAULT_MAX_ITER,
    covariance: bool = True,
) -> ManyFitResult:
    """Fit one law to many curves at once: variable-projection search and polish, vmapped.

    Each curve gets the procedure of :func:`scalinglaws.fit` with ``search="varpro"``:
    the exponent grid of the law's :class:`~scalinglaws.laws.base.LinearForm` with the
    linear coefficients in closed form, the ``top_k`` best polished by damped Newton.
    Ragged curves are padded with weight-0 rows, so a padded curve gives the fit of the
    unpadded one.

    With ``delta="auto"`` the threshold of each curve is ``HUBER_K`` (1.345) times the
    robust residual scale (1.4826 x median absolute deviation over the rows with positive
    weight) of a least-squares pilot fit, then every polished pilot start is refitted with
    it: quadratic for typical points, linear for outliers, whatever the target's units.

    Args:
        law: A law declaring a linear form.
        curves: Either a sequence of per-curve tables (DataFrames or dicts of 1-D arrays
            with the law's input columns and its target column; lengths may differ), or
            one mapping of those columns to ``(C, n)`` arrays (curves already stacked).
        weights: Per-row weights (multiplicities; bootstrap resample counts): a ``(C, n)``
            array or one 1-D array per curve. Default all ones.
        delta: Huber threshold: a positive number for every curve, or ``"auto"``.
        top_k: Grid starts polished per curve.
        max_iter: Newton iterations per start.
        covariance: Compute each curve's Gauss-Newton covariance (``False``: NaN, for
            many refits whose covariance nobody reads).

    Returns:
        A :class:`ManyFitResult`.

    Raises:
        FitError: The law has no linear form, a column is missing, a weighted value is
            not finite (or not positive for a log-residual law), weights are malformed, a
            curve has too few weighted rows, or an option is invalid.
    """
    if law.linear_form is None:
        raise FitError(f"law {law.name!r} declares no linear form; fit_many needs one")
    auto = _check_delta(delta)
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise FitError(f"top_k must be a positive integer, not {top_k!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise FitError(f"max_iter must be a positive integer, not {max_iter!r}")
    inputs, target, w = _stack(law, curves, weights)
    d0 = np.full(target.shape[0], PILOT_DELTA if auto else float(delta))
    with jax.enable_x64(True):
        grid = np.asarray(grid_product(law.linear_form.grid))
        k = min(int(top_k), grid.shape[0])
        out = _fit_compiled(law, grid, inputs, target, w, d0, k, int(max_iter), auto, covariance)
        theta, fval, status, deltas, resid, jac = (None if a is None else np.asarray(a) for a in out)
    natural = law.to_natural_host(theta)
    p = theta.shape[1]
    if covariance:
        cov = np.stack([_curve_covariance(law, jac[i], w[i], resid[i]) for i in range(len(theta))])
    else:
        cov = np.full((len(theta), p, p), np.nan)
    return ManyFitResult(
        law=law,
        params=natural,
        theta=theta,
        objective=fval,
        status=status,
        delta=deltas,
        covariance=cov,
        n_points=np.count_nonzero(w > 0, axis=1),
    )


def _check_delta(delta: Any) -> bool:
    if isinstance(delta, str):
        if delta != "auto":
            raise FitError(f"delta must be 'auto' or a positive number, not {delta!r}")
        return True
    if isinstance(delta, bool) or not isinstance(delta, int | float | np.floating):
        raise FitError(f"delta must be 'auto' or a positive number, not {delta!r}")
    if not (math.isfinite(delta) and delta > 0):
        raise FitError(f"delta must be 'auto' or a positive number, not {delta!r}")
    return False


def _stack(law: Law, curves: Any, weights: Any):
    """Curves -> ``(inputs {name: (C, n)}, target (C, n), weights (C, n))``, validated."""
    cols = (*law.inputs, law.target)
    if isinstance(curves, Mapping):
        missing = [c for c in cols if c not in curves]
        if missing:
            raise FitError(f"law {law.name!r} needs columns {list(cols)}; missing {missing}")
        arrays = {c: np.atleast_2d(np.array(curves[c], dtype=float)) for c in cols}
        shape = arrays[law.target].shape
        if any(a.shape != shape for a in arrays.values()) or len(shape) != 2:
            raise FitError("stacked curves need one (curves, rows) array per column")
        lengths = np.full(shape[0], shape[1])
    else:
        curves = list(curves)
        if not curves:
            raise FitError("fit_many needs at least one curve")
        per = []
        for i, cv in enumerate(curves):
            missing = [c for c in cols if c not in cv]
            if missing:
                raise FitError(
                    f"curve {i}: law {law.name!r} needs columns {list(cols)}; missing {missing}"
                )
            per.append([np.asarray(cv[c], dtype=float).ravel() for c in cols])
        lengths = np.asarray([len(p[0]) for p in per])
        arrays = {}
        for j, c in enumerate(cols):
            # Padding: input 1 (valid for power laws), target 1 (valid for log residuals).
            a = np.ones((len(per), int(lengths.max())))
            for i, p in enumerate(per):
                if len(p[j]) != lengths[i]:
                    raise FitError(f"curve {i}: columns have different lengths")
                a[i, : lengths[i]] = p[j]
            arrays[c] = a
    target = arrays.pop(law.target)
    w = _weights(weights, target.shape, lengths)
    _validate(law, arrays, target, w)
    return arrays, target, w


def _weights(weights: Any, shape: tuple[int, int], lengths: np.ndarray) -> np.ndarray:
    c, n = shape
    w = np.zeros(shape)
    if weights is None:
        for i, m in enumerate(lengths):
            w[i, :m] = 1.0
        return w
    if isinstance(weights, np.ndarray) and weights.ndim == 2:
        if weights.shape[0] != c or weights.shape[1] > n:
            raise FitError(f"weights of shape {weights.shape} do not match {c} curves")
        rows = list(weights)
    else:
        rows = list(weights)
        if len(rows) != c:
            raise FitError(f"weights: {len(rows)} rows for {c} curves")
    for i, row in enumerate(rows):
        r = np.asarray(row, dtype=float).ravel()
        if len(r) not in (lengths[i], n) or not np.all(np.isfinite(r)) or np.any(r < 0):
            raise FitError(
                f"curve {i}: weights must be one finite, non-negative number per row"
            )
        w[i, : len(r)] = r
    if np.any(w[np.arange(n)[None, :] >= lengths[:, None]] > 0):
        raise FitError("weights are positive on rows beyond a curve's length")
    return w


def _validate(law: Law, inputs: dict, target: np.ndarray, w: np.ndarray) -> None:
    used = w > 0
    for name, arr in [*inputs.items(), (law.target, target)]:
        bad = np.argwhere(used & ~np.isfinite(arr))
        if bad.size:
            i, j = map(int, bad[0])
            raise FitError(f"curve {i}, row {j}, column {name!r}: value is not finite")
        arr[~used] = 1.0  # unweighted rows never reach the objective; keep them finite
    if law.residual == "log":
        bad = np.argwhere(used & (target <= 0))
        if bad.size:
            i, j = map(int, bad[0])
            raise FitError(
                f"curve {i}, row {j}, column {law.target!r}: must be > 0 (log residuals)"
            )
    n_eff = np.count_nonzero(used, axis=1)
    short = np.flatnonzero(n_eff <= len(law.params))
    if short.size:
        i = int(short[0])
        raise FitError(
            f"curve {i}: {int(n_eff[i])} weighted rows cannot determine the "
            f"{len(law.params)} parameters of law {law.name!r}"
        )


def _curve_covariance(law: Law, jac: np.ndarray, w: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """Laplace covariance of one curve's internal parameters.

    (J^T W J / sigma^2 + diag(1 / prior_scale^2))^-1 with sigma^2 = sum w r^2 / (n - P):
    the Gauss-Newton covariance where the data identify the parameters (the priors of
    the law's :class:`~scalinglaws.laws.base.ParamSpec` are weak), and the prior's
    width, not an infinity, along a direction they do not (a flat ridge).
    """
    p = jac.shape[1]
    used = w > 0
    dof = max(int(np.count_nonzero(used)) - p, 1)
    sigma2 = max(float(np.sum(w * np.where(used, resid, 0.0) ** 2) / dof), 1e-300)
    jac = np.where(used[:, None], jac, 0.0)
    prec = jac.T @ (w[:, None] * jac) / sigma2
    prec += np.diag([1.0 / spec.prior_scale**2 for spec in law.params])
    if not np.all(np.isfinite(prec)):
        return np.full((p, p), np.nan)
    s = np.sqrt(np.diag(prec))
    return np.linalg.inv(prec / np.outer(s, s)) / np.outer(s, s)


def _fit_compiled(law: Law, grid, inputs, target, w, delta0, top_k, max_iter, auto, with_jac):
    """Search, polish, optional scale-aware refit and the Jacobian at the optimum.

    With a fixed threshold one compiled call (search and polish). With ``auto`` three
    calls of two programs: the grid search, the pilot's polish with the least-squares
    threshold, and the refit with the scale-aware thresholds (the same polish program);
    each is cached on the law, the options and the shapes, so a second call with the same
    shapes neither traces nor compiles; the robust thresholds between them are a few
    medians on the host.
    """
    if not auto:
        theta, fval, status, _, resid, jac = _search_polish(
            law, grid, inputs, target, w, delta0, top_k, max_iter, with_jac
        )
        return theta, fval, status, np.asarray(delta0), resid if with_jac else None, jac
    # The pilot's polish and the refit are one program (same shapes and options), so a
    # fresh process compiles the Newton polish once, not twice.
    starts = _search_starts(law, grid, inputs, target, w, delta0, top_k)
    _, _, _, th, resid, _ = _refit(law, starts, inputs, target, w, delta0, max_iter, with_jac)
    deltas = _robust_delta(np.asarray(resid), np.asarray(w), np.asarray(target), law.residual)
    # Refit from every polished pilot start with the scale-aware threshold; keep the best.
    theta, fval, status, _, resid, jac = _refit(
        law, th, inputs, target, w, deltas, max_iter, with_jac
    )
    return theta, fval, status, deltas, resid if with_jac else None, jac


def _polish_curves(law: Law, starts, inputs, target, w, delta, max_iter: int):
    """Polish ``(C, S, P)`` starts, each curve with its own rows, weights and threshold."""

    def one(st, xi, yi, wi, di):
        wb = jnp.broadcast_to(wi, (st.shape[0], wi.shape[0]))
        return polish_batch(law, st, xi, yi, wb, di, max_iter=max_iter)

    return jax.vmap(one)(starts, inputs, target, w, delta)


def _residuals_and_jacobian(law: Law, theta, inputs, target, jacobian: bool):
    resid = jax.vmap(law.residuals)(theta, inputs, target)
    jac = jax.vmap(jax.jacfwd(law.residuals))(theta, inputs, target) if jacobian else None
    return resid, jac


@cached_jit(static_argnames=("law", "top_k", "max_iter", "jacobian"))
def _search_polish(law: Law, grid, inputs, target, w, delta, top_k, max_iter, jacobian):
    """Pilot fit of every curve: grid search, the ``top_k`` best polished, the best kept.

    Returns ``(theta, fval, status, polished starts (C, top_k, P), residuals, Jacobian)``
    (Jacobian ``None`` unless ``jacobian``).
    """
    starts = _grid_starts(law, grid, inputs, target, w, delta, top_k)
    th, fv, st, _ = _polish_curves(law, starts, inputs, target, w, delta, max_iter)
    theta, fval, status = _best(th, fv, st)
    resid, jac = _residuals_and_jacobian(law, theta, inputs, target, jacobian)
    return theta, fval, status, th, resid, jac


def _grid_starts(law: Law, grid, inputs, target, w, delta, top_k):
    """Each curve's ``top_k`` best grid points of the variable-projection search."""
    thetas, obj = jax.vmap(lambda xi, yi, wi, di: varpro_search(law, grid, xi, yi, wi, di))(
        inputs, target, w, delta
    )
    order = jnp.argsort(obj, axis=1)[:, :top_k]
    return jnp.take_along_axis(thetas, order[:, :, None], axis=1)


@cached_jit(static_argnames=("law", "top_k"))
def _search_starts(law: Law, grid, inputs, target, w, delta, top_k):
    """:func:`_grid_starts` alone (the pilot of ``delta="auto"``, polished by
    :func:`_refit`)."""
    return _grid_starts(law, grid, inputs, target, w, delta, top_k)


@cached_jit(static_argnames=("law", "max_iter", "jacobian"))
def _refit(law: Law, starts, inputs, target, w, delta, max_iter, jacobian):
    """Polish ``(C, S, P)`` starts with per-curve thresholds; keep each curve's best.

    Returns ``(theta, fval, status, polished starts (C, S, P), residuals, Jacobian)``.
    """
    th, fv, st, _ = _polish_curves(law, starts, inputs, target, w, delta, max_iter)
    theta, fval, status = _best(th, fv, st)
    resid, jac = _residuals_and_jacobian(law, theta, inputs, target, jacobian)
    return theta, fval, status, th, resid, jac


def _best(th, fv, st):
    fv = jnp.where(jnp.isfinite(fv), fv, jnp.inf)
    b = jnp.argmin(fv, axis=1)
    theta = jnp.take_along_axis(th, b[:, None, None], axis=1)[:, 0]
    fval = jnp.take_along_axis(fv, b[:, None], axis=1)[:, 0]
    status = jnp.take_along_axis(st, b[:, None], axis=1)[:, 0]
    return theta, fval, status


def _robust_delta(resid: np.ndarray, w: np.ndarray, target: np.ndarray, residual: str):
    """Per curve ``max(HUBER_K x 1.4826 x MAD of the weighted rows' residuals, floor)``."""
    out = np.empty(resid.shape[0])
    for i in range(resid.shape[0]):
        used = w[i] > 0
        r = resid[i][used]
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        yi = target[i][used]
        spread = 1.0 if residual == "log" else float(np.ptp(yi)) + float(np.max(np.abs(yi)))
        out[i] = max(HUBER_K * scale, DELTA_FLOOR * max(spread, 1e-300))
    return out
