"""Compiled, vectorised solvers: start search and damped-Newton polish.

Everything here is a pure function of arrays with the :class:`Law` as a static argument,
so it compiles once per law and batch shape and vmaps over starts and resample weights
(the bootstrap reuses :func:`polish_batch` with one weight vector per resample).

Status codes (per start): 0 converged, 1 iteration limit reached, 2 non-finite objective.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.exported import cached_jit
from scalinglaws.fitting.objective import huber, objective
from scalinglaws.laws.base import Inputs, Law

CONVERGED, MAX_ITER, NONFINITE = 0, 1, 2
STATUS_NAMES = {CONVERGED: "converged", MAX_ITER: "max_iter", NONFINITE: "nonfinite"}

_LAM0 = 1e-3
_LAM_MAX = 1e12


def _projected_step(theta, g_full, h_full, lam, lo, hi, eye):
    """Damped projected Newton step: ``(candidate on the bounds, step, free gradient)``.

    A parameter on a bound whose gradient pushes it outward is held there, and the step is
    solved on the free parameters only. Clipping a full Newton step instead crawls along
    the bound for thousands of iterations.
    """
    held = ((theta <= lo) & (g_full > 0)) | ((theta >= hi) & (g_full < 0))
    free = (~held).astype(theta.dtype)
    h = h_full * jnp.outer(free, free) + jnp.diag(1.0 - free)
    g = g_full * free
    scale = jnp.maximum(jnp.abs(jnp.diag(h)), 1e-12 * (1.0 + jnp.max(jnp.abs(jnp.diag(h)))))
    step = -jnp.linalg.solve(h + lam * jnp.diag(scale) + 1e-300 * eye, g)
    return jnp.clip(theta + step, lo, hi), step, g


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

    def grad_with_value(theta):
        value, g = jax.value_and_grad(f)(theta)
        return g, (value, g)

    def fgh(theta):
        # Value, gradient and exact Hessian from one forward-over-reverse pass.
        h, (value, g) = jax.jacfwd(grad_with_value, has_aux=True)(theta)
        return value, g, h

    p = theta0.shape[-1]
    eye = jnp.eye(p, dtype=theta0.dtype)

    def cond(state):
        return (state[5] < max_iter) & ~state[6]

    def body(state):
        theta, fval, g_full, h_full, lam, it, _ = state
        cand, step, g = _projected_step(theta, g_full, h_full, lam, lo, hi, eye)
        # The candidate's gradient and Hessian come with its value: an accepted step (the
        # usual case) needs them next, so each iteration costs one pass.
        fcand, gcand, hcand = fgh(cand)
        ok = jnp.isfinite(fcand) & jnp.all(jnp.isfinite(cand))
        ok = ok & jnp.all(jnp.isfinite(gcand)) & jnp.all(jnp.isfinite(hcand))
        accept = ok & (fcand <= fval)
        decrease = jnp.where(accept, fval - fcand, 0.0)
        theta_new = jnp.where(accept, cand, theta)
        f_new = jnp.where(accept, fcand, fval)
        g_new = jnp.where(accept, gcand, g_full)
        h_new = jnp.where(accept, hcand, h_full)
        lam_new = jnp.where(accept, jnp.maximum(lam * 0.2, 1e-12), lam * 10.0)
        moved = jnp.max(jnp.abs(cand - theta))
        # Converged when an accepted step gained (almost) nothing and either barely moved
        # or the quadratic model predicts no further gain either (the Newton decrement):
        # the second test ends runs along flat ridges, where steps stay long but useless.
        tol = ftol * (jnp.abs(fval) + 1e-300)
        predicted = -jnp.dot(g, step)
        small = accept & (decrease <= tol) & ((moved < 1e-7) | (predicted <= tol))
        stuck = lam_new > _LAM_MAX
        return theta_new, f_new, g_new, h_new, lam_new, it + 1, small | stuck

    f0, g0, h0 = fgh(theta0)
    init = (
        theta0,
        f0,
        g0,
        h0,
        jnp.asarray(_LAM0, theta0.dtype),
        jnp.asarray(0),
        ~jnp.isfinite(f0),
    )
    theta, fval, _, _, lam, it, done = jax.lax.while_loop(cond, body, init)
    status = jnp.where(~jnp.isfinite(fval), NONFINITE, jnp.where(done, CONVERGED, MAX_ITER)).astype(
        jnp.int32
    )
    return theta, fval, status, it


@cached_jit(static_argnames=("law", "max_iter"))
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


#: Memory budget (bytes) of one vectorised chunk of a search over many starts.
SEARCH_CHUNK_BYTES = 256 * 2**20


def chunked_vmap(fn, xs, *, per_item_bytes: int):
    """``jax.vmap(fn)(xs)``, computed in chunks of rows whose intermediates fit
    :data:`SEARCH_CHUNK_BYTES` (one chunk, i.e. plain ``vmap``, when everything fits)."""
    n_items = xs.shape[0]
    batch = max(1, SEARCH_CHUNK_BYTES // max(int(per_item_bytes), 1))
    if batch >= n_items:
        return jax.vmap(fn)(xs)
    return jax.lax.map(fn, xs, batch_size=int(batch))


@cached_jit(static_argnames=("law",))
def objective_batch(law: Law, thetas, inputs: Inputs, target, weights, delta: float):
    """Objective at each row of ``thetas`` (``(S, P)``) with one weight vector (in chunks
    of rows for long logs, as :func:`varpro_search`)."""
    return chunked_vmap(
        lambda t: objective(law, t, inputs, target, weights, delta),
        thetas,
        per_item_bytes=6 * 8 * target.shape[0],
    )


def _spd_solve(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """Solve ``a x = b`` for a small symmetric positive-definite ``a`` (``(m, m)``, m static).

    Cholesky unrolled into elementwise arithmetic: for the handful of linear coefficients
    a law has, this is several times faster under ``vmap`` on a CPU than a batched LAPACK
    call, and a matrix that is not numerically positive definite gives NaN (the caller
    treats that candidate as infeasible) instead of silently large coefficients.
    """
    m = a.shape[-1]
    chol = [[None] * m for _ in range(m)]
    for j in range(m):
        diag = a[j, j] - sum((chol[j][k] ** 2 for k in range(j)), jnp.zeros_like(a[j, j]))
        chol[j][j] = jnp.sqrt(diag)
        for i in range(j + 1, m):
            off = a[i, j] - sum(
                (chol[i][k] * chol[j][k] for k in range(j)), jnp.zeros_like(a[i, j])
            )
            chol[i][j] = off / chol[j][j]
    y = []
    for i in range(m):
        y.append(
            (b[i] - sum((chol[i][k] * y[k] for k in range(i)), jnp.zeros_like(b[i]))) / chol[i][i]
        )
    x = [None] * m
    for i in reversed(range(m)):
        rest = sum((chol[k][i] * x[k] for k in range(i + 1, m)), jnp.zeros_like(b[i]))
        x[i] = (y[i] - rest) / chol[i][i]
    return jnp.stack(x)


def _subset_masks(m: int) -> np.ndarray:
    masks = [s for s in itertools.product((0.0, 1.0), repeat=m)]
    return np.asarray(masks, dtype=float)


def _assemble_theta(law: Law, nl_values, coef, target) -> jnp.ndarray:
    """Internal parameter vector(s) from exponent values ``(..., q)`` and linear coefficients
    ``(..., m)`` (natural scale), clipped to the bounds.

    A coefficient at zero would be log(0) on the internal scale; a tiny positive value is
    the same prediction and lets the polish move it.
    """
    lf = law.linear_form
    names = law.param_names
    lin_idx = jnp.asarray([names.index(n) for n in lf.linear])
    nl_idx = jnp.asarray([names.index(n) for n in lf.nonlinear])
    log_lin = jnp.asarray([law.params[names.index(n)].log_scale for n in lf.linear])
    log_nl = jnp.asarray([law.params[names.index(n)].log_scale for n in lf.nonlinear])
    lo, hi = law.internal_bounds()
    tiny = 1e-10 * (jnp.abs(target).max() + 1.0)
    lin_internal = jnp.where(log_lin, jnp.log(jnp.maximum(coef, tiny)), coef)
    nl_internal = jnp.where(log_nl, jnp.log(nl_values), nl_values)
    theta = jnp.zeros(coef.shape[:-1] + (len(names),), dtype=coef.dtype)
    theta = theta.at[..., lin_idx].set(lin_internal).at[..., nl_idx].set(nl_internal)
    return jnp.clip(theta, lo, hi)


@cached_jit(static_argnames=("law",))
def varpro_search(law: Law, grid, inputs: Inputs, target, weights, delta: float):
    """Variable projection: for each grid row of nonlinear parameters, solve the linear ones.

    For a law declaring a :class:`~scalinglaws.laws.base.LinearForm`, the prediction is
    ``basis(nonlinear) @ coef``. For each grid point the coefficients come from a weighted
    least-squares solve (weights ``1/target^2`` for log residuals, so the squared error
    approximates the squared log error); with ``nonnegative`` every active set is tried
    and the best feasible one kept (exact NNLS for the few coefficients laws have). Each
    candidate is then scored by the true objective (computed from the same basis, so the
    law's function is not evaluated again per grid point).

    Returns ``(thetas (G, P), objective (G,))`` with ``thetas`` in the law's internal order.
    """
    lf = law.linear_form
    m = len(lf.linear)
    masks = jnp.asarray(_subset_masks(m))
    w_ls = weights / (target**2) if law.residual == "log" else weights
    names = law.param_names
    lin_idx = [names.index(n) for n in lf.linear]
    log_lin = jnp.asarray([law.params[i].log_scale for i in lin_idx])

    def one(nl_values):
        nl = {n: nl_values[j] for j, n in enumerate(lf.nonlinear)}
        x = lf.basis(nl, inputs)
        # Column scaling keeps the normal equations well conditioned when columns differ
        # by many orders of magnitude (N^-alpha against a constant).
        colscale = jnp.sqrt(jnp.sum(w_ls[:, None] * x * x, axis=0)) + 1e-300
        xs = x / colscale
        gram = xs.T @ (w_ls[:, None] * xs)
        rhs = xs.T @ (w_ls * target)
        yy = jnp.sum(w_ls * target**2)

        def solve_subset(mask):
            g = gram * jnp.outer(mask, mask) + jnp.diag(1.0 - mask) + 1e-12 * jnp.eye(m)
            c = _spd_solve(g, rhs * mask) * mask
            # Weighted SSE from the normal equations (no pass over the runs); it only
            # ranks the active sets, the chosen candidate is scored exactly below.
            sse = yy - 2.0 * jnp.dot(c, rhs) + c @ (gram @ c)
            feasible = jnp.all(c >= 0) if lf.nonnegative else jnp.asarray(True)
            return c / colscale, jnp.where(feasible & jnp.isfinite(sse), sse, jnp.inf)

        if lf.nonnegative:
            coefs, sses = jax.vmap(solve_subset)(masks)
            coef = coefs[jnp.argmin(sses)]
        else:
            coef, _ = solve_subset(jnp.ones(m))
        theta = _assemble_theta(law, nl_values, coef, target)
        # The objective at theta from the basis already computed: the prediction is
        # basis @ coef (the grid lies inside the bounds, see fit's start grid, so only the
        # linear coefficients can have been clipped, and coef is read back from theta).
        lin = theta[jnp.asarray(lin_idx)]
        pred = x @ jnp.where(log_lin, jnp.exp(lin), lin)
        r = jnp.log(pred) - log_target if law.residual == "log" else pred - target
        return theta, jnp.sum(weights * huber(r, delta))

    log_target = jnp.log(target) if law.residual == "log" else target
    # Each grid point holds a few (n, m) arrays: vectorised over the whole grid that is
    # G x n x m floats (13 GB for 576 points and a million runs), so large logs are
    # searched in chunks of grid points that fit a fixed memory budget.
    thetas, obj = chunked_vmap(one, grid, per_item_bytes=(3 * m + 4) * 8 * target.shape[0])
    obj = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
    return thetas, obj


@cached_jit(static_argnames=("law", "top_m"))
def varpro_search_many(
    law: Law, grid, inputs: Inputs, target, weights, delta: float, top_m: int = 16
):
    """The best exponent-grid start for each of many weight vectors over one dataset.

    ``weights`` is ``(K, n)`` (e.g. bootstrap resample counts). The result for each row is
    what :func:`varpro_search` followed by an argmin would give, computed without
    re-evaluating the basis per weight vector: the basis depends on the grid point only,
    so every weighted Gram matrix and right-hand side of all ``K x G`` least-squares
    problems comes from two matrix products over the runs. The ``top_m`` grid points of
    lowest weighted squared error per row are then scored by the true (Huber) objective
    and the lowest kept; with ``top_m >= G`` the choice equals :func:`varpro_search`'s.
    Only laws whose linear coefficients are unconstrained (``nonnegative=False``).

    Returns ``(theta (K, P), objective (K,))``.
    """
    lf = law.linear_form
    if lf.nonnegative:
        raise ValueError("varpro_search_many needs a law with unconstrained linear coefficients")
    m = len(lf.linear)
    basis = jax.vmap(lambda g: lf.basis({n: g[j] for j, n in enumerate(lf.nonlinear)}, inputs))(
        grid
    )  # (G, n, m)
    # Column scaling per grid point from the runs present in any row (resample weights
    # average one per run, so this matches the per-row scaling of varpro_search closely).
    present = (jnp.sum(weights, axis=0) > 0).astype(basis.dtype)
    colscale = jnp.sqrt(jnp.sum(present[None, :, None] * basis**2, axis=1)) + 1e-300
    xs = basis / colscale[:, None, :]
    w_ls = weights / target**2 if law.residual == "log" else weights
    pairs = [(i, j) for i in range(m) for j in range(i, m)]
    prods = jnp.stack([xs[:, :, i] * xs[:, :, j] for i, j in pairs], axis=-1)  # (G, n, u)
    gram_u = jnp.einsum("kn,gnu->kgu", w_ls, prods)
    rhs = jnp.einsum("kn,gni->kgi", w_ls * target, xs)
    yy = jnp.sum(w_ls * target**2, axis=1)

    def solve(gu, b):
        g = jnp.zeros((m, m), gu.dtype)
        for q, (i, j) in enumerate(pairs):
            g = g.at[i, j].set(gu[q]).at[j, i].set(gu[q])
        c = _spd_solve(g + 1e-12 * jnp.eye(m), b)
        return c, c @ (g @ c)

    coef, cgc = jax.vmap(jax.vmap(solve))(gram_u, rhs)  # (K, G, m), (K, G)
    sse = yy[:, None] - 2.0 * jnp.sum(coef * rhs, axis=-1) + cgc
    sse = jnp.where(jnp.isfinite(sse), sse, jnp.inf)
    _, top = jax.lax.top_k(-sse, min(top_m, grid.shape[0]))  # (K, M)
    coef_top = jnp.take_along_axis(coef, top[:, :, None], axis=1) / colscale[top]
    thetas = _assemble_theta(law, grid[top], coef_top, target)  # (K, M, P)
    obj = jax.vmap(
        lambda tk, wk: jax.vmap(lambda t: objective(law, t, inputs, target, wk, delta))(tk)
    )(thetas, weights)
    obj = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
    best = jnp.argmin(obj, axis=1)
    rows = jnp.arange(weights.shape[0])
    return thetas[rows, best], obj[rows, best]
