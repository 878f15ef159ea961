"""Compiled, vectorised solvers: start search and damped-Newton polish.

Everything here is a pure function of arrays with the :class:`Law` as a static argument,
so it compiles once per law and batch shape and vmaps over starts and resample weights
(the bootstrap reuses :func:`polish_batch` with one weight vector per resample).

Status codes (per start): 0 converged, 1 iteration limit reached, 2 non-finite objective.
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.fitting.objective import objective
from scalinglaws.laws.base import Inputs, Law

CONVERGED, MAX_ITER, NONFINITE = 0, 1, 2
STATUS_NAMES = {CONVERGED: "converged", MAX_ITER: "max_iter", NONFINITE: "nonfinite"}

_LAM0 = 1e-3
_LAM_MAX = 1e12


def _polish_one(
    law: Law,
    theta0: jnp.ndarray,
    inputs: Inputs,
    target: jnp.ndarray,
    weights: jnp.ndarray,
    delta: float,
    max_iter: int,
    ftol: float,
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Levenberg-Marquardt-damped Newton on the exact Hessian, projected onto the bounds.

    The Huber objective is piecewise quadratic in the residuals, so Newton steps with the
    exact Hessian converge in few iterations once the active set settles; the damping
    makes every accepted step a descent step even where the Hessian is indefinite.
    """
    lo, hi = law.internal_bounds()

    def f(theta):
        return objective(law, theta, inputs, target, weights, delta)

    value_and_grad = jax.value_and_grad(f)
    hess = jax.hessian(f)
    p = theta0.shape[-1]
    eye = jnp.eye(p, dtype=theta0.dtype)

    def cond(state):
        _, _, _, it, done = state
        return (it < max_iter) & ~done

    def body(state):
        theta, fval, lam, it, _ = state
        _, g = value_and_grad(theta)
        h = hess(theta)
        # Projected Newton: a parameter on a bound whose gradient pushes it outward is
        # held there, and the step is solved on the free parameters only. Clipping a full
        # Newton step instead crawls along the bound for thousands of iterations.
        held = ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0))
        free = (~held).astype(theta.dtype)
        h = h * jnp.outer(free, free) + jnp.diag(1.0 - free)
        g = g * free
        scale = jnp.maximum(jnp.abs(jnp.diag(h)), 1e-12 * (1.0 + jnp.max(jnp.abs(jnp.diag(h)))))
        step = -jnp.linalg.solve(h + lam * jnp.diag(scale) + 1e-300 * eye, g)
        cand = jnp.clip(theta + step, lo, hi)
        fcand = f(cand)
        ok = jnp.isfinite(fcand) & jnp.all(jnp.isfinite(cand))
        accept = ok & (fcand <= fval)
        decrease = jnp.where(accept, fval - fcand, 0.0)
        theta_new = jnp.where(accept, cand, theta)
        f_new = jnp.where(accept, fcand, fval)
        lam_new = jnp.where(accept, jnp.maximum(lam * 0.2, 1e-12), lam * 10.0)
        moved = jnp.max(jnp.abs(cand - theta))
        # Converged when an accepted step gained (almost) nothing and either barely moved
        # or the quadratic model predicts no further gain either (the Newton decrement):
        # the second test ends runs along flat ridges, where steps stay long but useless.
        tol = ftol * (jnp.abs(fval) + 1e-300)
        predicted = -jnp.dot(g, step)
        small = accept & (decrease <= tol) & ((moved < 1e-7) | (predicted <= tol))
        stuck = lam_new > _LAM_MAX
        return theta_new, f_new, lam_new, it + 1, small | stuck

    f0 = f(theta0)
    init = (theta0, f0, jnp.asarray(_LAM0, theta0.dtype), jnp.asarray(0), ~jnp.isfinite(f0))
    theta, fval, lam, it, done = jax.lax.while_loop(cond, body, init)
    status = jnp.where(~jnp.isfinite(fval), NONFINITE, jnp.where(done, CONVERGED, MAX_ITER)).astype(
        jnp.int32
    )
    return theta, fval, status, it


@partial(jax.jit, static_argnames=("law", "max_iter"))
def polish_batch(
    law: Law,
    theta0: jnp.ndarray,
    inputs: Inputs,
    target: jnp.ndarray,
    weights: jnp.ndarray,
    delta: float,
    max_iter: int = 200,
    ftol: float = 1e-12,
):
    """Polish a batch of starts; ``theta0`` is ``(S, P)`` and ``weights`` ``(S, n)``.

    Returns ``(theta (S, P), objective (S,), status (S,), iterations (S,))``.
    """
    fn = jax.vmap(lambda t, w: _polish_one(law, t, inputs, target, w, delta, max_iter, ftol))
    return fn(theta0, weights)


@partial(jax.jit, static_argnames=("law",))
def objective_batch(law: Law, thetas, inputs: Inputs, target, weights, delta: float):
    """Objective at each row of ``thetas`` (``(S, P)``) with one weight vector."""
    return jax.vmap(lambda t: objective(law, t, inputs, target, weights, delta))(thetas)


def _subset_masks(m: int) -> np.ndarray:
    masks = [s for s in itertools.product((0.0, 1.0), repeat=m)]
    return np.asarray(masks, dtype=float)


@partial(jax.jit, static_argnames=("law",))
def varpro_search(law: Law, grid, inputs: Inputs, target, weights, delta: float):
    """Variable projection: for each grid row of nonlinear parameters, solve the linear ones.

    For a law declaring a :class:`~scalinglaws.laws.base.LinearForm`, the prediction is
    ``basis(nonlinear) @ coef``. For each grid point the coefficients come from a weighted
    least-squares solve (weights ``1/target^2`` for log residuals, so the squared error
    approximates the squared log error); with ``nonnegative`` every active set is tried
    and the best feasible one kept (exact NNLS for the few coefficients laws have). Each
    candidate is then scored by the true objective.

    Returns ``(thetas (G, P), objective (G,))`` with ``thetas`` in the law's internal order.
    """
    lf = law.linear_form
    m = len(lf.linear)
    masks = jnp.asarray(_subset_masks(m))
    w_ls = weights / (target**2) if law.residual == "log" else weights
    names = law.param_names
    lin_idx = [names.index(n) for n in lf.linear]
    nl_idx = [names.index(n) for n in lf.nonlinear]
    log_lin = jnp.asarray([law.params[i].log_scale for i in lin_idx])
    lo, hi = law.internal_bounds()

    def one(nl_values):
        nl = {n: nl_values[j] for j, n in enumerate(lf.nonlinear)}
        x = lf.basis(nl, inputs)
        # Column scaling keeps the normal equations well conditioned when columns differ
        # by many orders of magnitude (N^-alpha against a constant).
        colscale = jnp.sqrt(jnp.sum(w_ls[:, None] * x * x, axis=0)) + 1e-300
        xs = x / colscale
        gram = xs.T @ (w_ls[:, None] * xs)
        rhs = xs.T @ (w_ls * target)

        def solve_subset(mask):
            g = gram * jnp.outer(mask, mask) + jnp.diag(1.0 - mask) + 1e-12 * jnp.eye(m)
            c = jnp.linalg.solve(g, rhs * mask) * mask
            resid = target - xs @ c
            sse = jnp.sum(w_ls * resid**2)
            feasible = jnp.all(c >= 0) if lf.nonnegative else jnp.asarray(True)
            return c / colscale, jnp.where(feasible & jnp.isfinite(sse), sse, jnp.inf)

        if lf.nonnegative:
            coefs, sses = jax.vmap(solve_subset)(masks)
            coef = coefs[jnp.argmin(sses)]
        else:
            coef, _ = solve_subset(jnp.ones(m))
        # A coefficient at zero would be log(0) on the internal scale; a tiny positive
        # value is the same prediction and lets the polish move it.
        tiny = 1e-10 * (jnp.abs(target).max() + 1.0)
        lin_internal = jnp.where(log_lin, jnp.log(jnp.maximum(coef, tiny)), coef)
        theta = jnp.zeros(len(names), dtype=x.dtype)
        theta = theta.at[jnp.asarray(lin_idx)].set(lin_internal)
        nl_internal = jnp.asarray(
            [
                jnp.log(nl_values[j]) if law.params[i].log_scale else nl_values[j]
                for j, i in enumerate(nl_idx)
            ]
        )
        theta = theta.at[jnp.asarray(nl_idx)].set(nl_internal)
        return jnp.clip(theta, lo, hi)

    thetas = jax.vmap(one)(grid)
    obj = jax.vmap(lambda t: objective(law, t, inputs, target, weights, delta))(thetas)
    obj = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
    return thetas, obj
