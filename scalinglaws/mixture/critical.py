"""Turning points of the continual-pre-training Lagrangian (pure ``jax.numpy``).

Gu et al. 2024 (arXiv 2407.17467): with F = L_dom + lambda * (L_gen - L_gen,baseline - eps),

    dF/dT = alpha1 s1 T^(s1-1) + lambda * (alpha2 s2 T^(s2-1) + alpha3 s3 T^(s3-1)).

Multiplying by T > 0 keeps the sign, and with u = log T the stationarity function is an
exponential sum of three terms,

    g(u) = c1 e^(s1 u) + c2 e^(s2 u) + c3 e^(s3 u),
    c1 = alpha1 s1,  c2 = lambda alpha2 s2,  c3 = lambda alpha3 s3

(lambda = inf drops the domain term: the turning point of dL_gen). T0 is the **last**
crossing of g from + to -, after which dF/dT stays <= 0: T0 = 0 when g <= 0 throughout,
T0 = inf when g is positive as T -> inf (the trajectory never turns back for good).

Every sign change is bracketed, independently of the user's grid: beyond
``[u_lo, u_hi]`` one term outweighs twice each other term, so g has the sign of the
smallest-exponent term below and of the largest above; and ``g e^(-s_min u)`` has a
derivative with at most one zero ``u*`` (closed form), so g is monotone on each side of
``u*``. A log-T grid on ``[u_lo, u_hi]`` that includes ``u*`` therefore brackets every
root, each exactly once; bisection in ``u`` then runs to float64 resolution.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

#: Default number of log-T grid points used to bracket sign changes (any number >= 2
#: gives the same roots because the critical point u* is always added).
DEFAULT_GRID = 64
_BISECT_ITERS = 200


def stationarity_coefficients(domain: dict, general: dict, lam: float) -> tuple:
    """Coefficients and exponents ``(c (..., 3), s (..., 3))`` of g(u) = sum c_k e^(s_k u).

    Args:
        domain: ``alpha1, s1`` (arrays broadcast together).
        general: ``alpha2, s2, alpha3, s3`` (paper keys).
        lam: Lagrange multiplier; ``inf`` drops the domain term.
    """
    a1, s1 = jnp.asarray(domain["alpha1"]), jnp.asarray(domain["s1"])
    a2, s2 = jnp.asarray(general["alpha2"]), jnp.asarray(general["s2"])
    a3, s3 = jnp.asarray(general["alpha3"]), jnp.asarray(general["s3"])
    if math.isinf(lam):
        w_dom, w_gen = 0.0, 1.0
    else:
        w_dom, w_gen = 1.0, float(lam)
    c = jnp.stack(jnp.broadcast_arrays(w_dom * a1 * s1, w_gen * a2 * s2, w_gen * a3 * s3), -1)
    s = jnp.stack(jnp.broadcast_arrays(s1, s2, s3), -1).astype(c.dtype)
    return c, s


def _g_scaled(c, s, u):
    """g(u) divided by its largest term's magnitude (overflow-free), and that log-magnitude."""
    nz = c != 0
    logmag = jnp.where(nz, jnp.log(jnp.where(nz, jnp.abs(c), 1.0)) + s * u[..., None], -jnp.inf)
    m = jnp.max(logmag, axis=-1)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    val = jnp.sum(jnp.where(nz, jnp.sign(c) * jnp.exp(logmag - m_safe[..., None]), 0.0), -1)
    return val, m


def _brackets(c, s):
    """``u_lo, u_hi`` outside which g has a fixed sign, and the critical point ``u*``."""
    nz = c != 0
    big = 1e300
    s_top = jnp.where(nz, s, -jnp.inf)
    s_bot = jnp.where(nz, s, jnp.inf)
    j = jnp.argmax(s_top, axis=-1)
    i = jnp.argmin(s_bot, axis=-1)
    take = lambda a, idx: jnp.take_along_axis(a, idx[..., None], -1)[..., 0]  # noqa: E731
    cj, sj, ci, si = take(c, j), take(s, j), take(c, i), take(s, i)
    absc = jnp.where(nz, jnp.abs(c), 1.0)
    idx = jnp.arange(c.shape[-1])
    # Above u_hi the top term exceeds twice each other term; below u_lo the bottom one does.
    # Equal exponents give no separation; the floor keeps the bound finite and wide.
    d_top = jnp.maximum(sj[..., None] - s, 1e-9)
    hi_k = jnp.log(2.0 * absc / jnp.abs(jnp.where(cj == 0, 1.0, cj))[..., None]) / d_top
    hi_k = jnp.where(nz & (idx != j[..., None]), hi_k, -big)
    d_bot = jnp.maximum(s - si[..., None], 1e-9)
    lo_k = jnp.log(jnp.abs(jnp.where(ci == 0, 1.0, ci))[..., None] / (2.0 * absc)) / d_bot
    lo_k = jnp.where(nz & (idx != i[..., None]), lo_k, big)
    u_hi = jnp.max(hi_k, -1)
    u_lo = jnp.min(lo_k, -1)
    only_one = jnp.sum(nz, -1) <= 1
    u_hi = jnp.where(only_one, 0.0, u_hi)
    u_lo = jnp.where(only_one, 0.0, u_lo)
    lo = jnp.minimum(u_lo, u_hi) - 1.0
    hi = jnp.maximum(u_lo, u_hi) + 1.0
    # h(u) = g(u) e^(-s_i u) = c_i + sum_{k != i} c_k e^(d_k u); h' = sum c_k d_k e^(d_k u)
    # over the two other terms: one zero at most, where the two terms cancel.
    d = s - si[..., None]
    w = jnp.where(nz & (idx != i[..., None]), c * d, 0.0)
    # The two "other" terms, in index order.
    order = jnp.argsort(jnp.where(idx == i[..., None], 1, 0), axis=-1, stable=True)
    wa, wb = take(w, order[..., 0]), take(w, order[..., 1])
    da, db = take(d, order[..., 0]), take(d, order[..., 1])
    ratio = -wb / jnp.where(wa == 0, 1.0, wa)
    has_crit = (wa != 0) & (wb != 0) & (ratio > 0) & (jnp.abs(da - db) > 1e-12)
    u_star = jnp.log(jnp.where(has_crit, ratio, 1.0)) / jnp.where(has_crit, da - db, 1.0)
    u_star = jnp.where(has_crit, jnp.clip(u_star, lo, hi), lo)
    return lo, hi, u_star, jnp.sign(cj)


@partial(jax.jit, static_argnames=("n_grid",))
def turning_points(c: jnp.ndarray, s: jnp.ndarray, n_grid: int = DEFAULT_GRID) -> dict:
    """T0 (last + to - crossing of g) for a batch of stationarity functions.

    Args:
        c: Coefficients ``(..., 3)``.
        s: Exponents ``(..., 3)``.
        n_grid: Log-T grid points between the analytic bounds (results do not depend on
            it: the critical point of g is always added, see the module docstring).

    Returns:
        ``{"T0": (...), "kind": (...), "residual": (...)}`` with T in the units of the fit;
        ``kind`` is 0 for a root, 1 for T0 = 0 (g <= 0 throughout), 2 for T0 = inf (g > 0
        as T -> inf); ``residual`` is |g(T0)| over its largest term (0 when no root).
    """
    c = jnp.asarray(c, dtype=float)
    s = jnp.asarray(s, dtype=float)
    lo, hi, u_star, sign_top = _brackets(c, s)
    frac = jnp.linspace(0.0, 1.0, n_grid)
    grid = lo[..., None] + (hi - lo)[..., None] * frac
    grid = jnp.sort(jnp.concatenate([grid, u_star[..., None]], -1), -1)
    vals, _ = _g_scaled(c[..., None, :], s[..., None, :], grid)
    pos = vals > 0
    # + to - crossings between consecutive grid points; keep the last one.
    cross = pos[..., :-1] & ~pos[..., 1:]
    n_int = cross.shape[-1]
    last = n_int - 1 - jnp.argmax(cross[..., ::-1], axis=-1)
    any_cross = jnp.any(cross, -1)
    take = lambda a, idx: jnp.take_along_axis(a, idx[..., None], -1)[..., 0]  # noqa: E731
    a = take(grid, last)
    b = take(grid, last + 1)

    def body(_, ab):
        a, b = ab
        mid = 0.5 * (a + b)
        v, _ = _g_scaled(c, s, mid)
        go_right = v > 0
        return jnp.where(go_right, mid, a), jnp.where(go_right, b, mid)

    a, b = jax.lax.fori_loop(0, _BISECT_ITERS, body, (a, b))
    # Of the two final endpoints keep the one with the smaller |g|.
    va, _ = _g_scaled(c, s, a)
    vb, _ = _g_scaled(c, s, b)
    u0 = jnp.where(jnp.abs(va) <= jnp.abs(vb), a, b)
    # _g_scaled divides by the largest term, so this is the relative residual.
    resid = jnp.minimum(jnp.abs(va), jnp.abs(vb))
    ends_positive = sign_top > 0
    kind = jnp.where(ends_positive, 2, jnp.where(any_cross, 0, 1))
    t0 = jnp.where(kind == 0, jnp.exp(u0), jnp.where(kind == 1, 0.0, jnp.inf))
    return {"T0": t0, "kind": kind, "residual": jnp.where(kind == 0, resid, 0.0)}


def stationarity_terms(c, s, t) -> jnp.ndarray:
    """The three terms c_k T^s_k of T * dF/dT at ``t`` (for checking a root)."""
    t = jnp.asarray(t, dtype=float)
    return c * jnp.exp(s * jnp.log(t)[..., None])
