"""Exact posterior of the loss-change curve fits by quadrature over the exponents.

Both loss-change laws of the CMR pipeline are linear in their coefficients given the
exponents (:mod:`scalinglaws.laws.cmr`):

* domain: ``dL(T) = alpha1 T^s1 + beta1`` (one exponent, ``s1``);
* general: ``dL(T) = alpha2 T^s2 + alpha3 T^(s2 + s3_gap) + beta2`` (two, ``s2`` and
  ``s3_gap``, the gap on the log scale).

With one or two nonlinear parameters the posterior need not be sampled: the coefficients
and the noise scale are integrated out in closed form and the exponents on a grid. This
is the cure for the NUTS path (:mod:`scalinglaws.mixture.posterior`), which does not mix
for the general law, whose likelihood in ``(s2, s3_gap)`` is broad and multimodal.

Model, for one curve with tokens ``t`` (n,) and loss changes ``y`` (n,)::

    y = X(s) a + e,              e ~ N(0, sigma^2 I)
    A(s) a | sigma^2 ~ N(0, sigma^2 (tau / sigma_ref)^2 I),   tau = PRIOR_COEF_SCALE
    p(sigma^2) ∝ 1 / sigma^2     (Jeffreys)
    s ~ the law's own priors on the internal scale, truncated to the law's bounds.

``A(s)`` is the basis at the anchor tokens (the first and last checkpoint, and for the
general law their geometric middle), so ``A a`` are the curve's values there: the prior
is on what the curve does, as in the NUTS path's anchored parametrisation, not on its
coefficients. That matters: with a prior ``N(0, tau^2 I)`` on the coefficients
themselves the marginal likelihood rewards nearly collinear columns (small gaps, an
exponent near 0, where the data cannot tell the coefficients apart and the prior volume
they fill is small), and on 96 simulated general-loss curves the 90% intervals of the
curve's value at its last checkpoint covered 0.78 and of s2 0.84. With the prior on the
anchor values the determinant of ``A`` cancels that volume, and the same curves covered
0.917 (last checkpoint), 0.885 (middle), 0.906 (T = 40) and 0.938 (s2).
``sigma_ref`` is the residual RMS of the point fit: the prior scales with sigma (the
conjugate form, which keeps every integral closed), and where the posterior of sigma sits
(sigma ≈ sigma_ref) it is ``N(0, tau^2)`` on each anchor value. With
``V0^{-1} = (sigma_ref / tau)^2 A^T A`` and the coefficients and ``sigma^2`` integrated out::

    P = X^T X + V0^{-1},   m = P^{-1} X^T y,   b = (y^T y - m^T P m) / 2
    log p(y | s) = -n/2 log(2 pi) + 1/2 log|V0^{-1}| - 1/2 log|P| + lgamma(n/2) - n/2 log b

and given ``s``: ``sigma^2 ~ InvGamma(n/2, b)``, ``a | sigma^2 ~ N(m, sigma^2 P^{-1})``.

Grid. The posterior of ``s`` is tabulated on a midpoint grid of cells over the law's
bounds (internal scale: ``s1``, ``s2`` linear, ``log s3_gap``), cell mass proportional to
``exp(log p(y|s) + log prior(s))`` at the centre. When one cell holds more than
:data:`MAX_CELL_MASS` (a sharp posterior: the domain law with 100 checkpoints has
sd(s1) ≈ 0.008) the grid is redrawn over the bounding box of the cells holding mass
>= :data:`REFINE_MASS_FLOOR`, padded by one cell, with as many cells, up to
:data:`MAX_REFINE` times. Draws pick cells by mass, jitter uniformly within the cell and
then draw ``sigma^2`` and the coefficients exactly at the jittered exponents.

Computation. A grid pass runs over rows (one ``s1`` or ``s2`` each) in vmapped batches
(``jax.lax.map``, :data:`CHUNK` / :data:`GRID_ROWS` rows a batch); within a batch
``X^T X`` and ``X^T y`` of every cell come from matrix products over the checkpoints
(``T^s3 = T^s2 T^gap``), so no ``(cells, n)`` array is built. Arbitrary point sets
(:func:`log_marginal`, the draws) are evaluated point by point in batches of
:data:`CHUNK`. Columns are scaled to unit norm before the factorisation (``T^s`` spans
many orders of magnitude) and the scaling is put back into the determinant
(``log|P| = log|P_scaled| + 2 sum log colscale``). The 2 x 2 / 3 x 3 Cholesky
factorisations are unrolled into elementwise arithmetic: measured on a 2-core CPU,
80,661 3 x 3 systems (factor, log-determinant, solve) took 2.2 ms unrolled against
13-14 ms with ``jnp.linalg.cholesky`` + ``solve_triangular`` (batched or vmapped).

Speed, warm, 1,000 draws, simulated curves of 100 checkpoints (noise 1e-3), 2-core CPU
shared with another benchmark (load ~2.8), median over 6 curves x 3 runs: domain
0.005 s a curve (two passes: the first grid is always refined); general 0.10 s a curve
(one pass of 2001 x 641 cells; 0.01 s with 501 x 161, 0.03 s with 1001 x 321). The
first call compiles (~1-1.5 s); :func:`grid_posterior_curves` pads every curve to the
longest with weight-0 rows, so a log with ragged checkpoint counts compiles once a split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.laws.base import ParamSpec
from scalinglaws.laws.cmr import (
    DOMAIN_KEYS,
    GENERAL_KEYS,
    domain_change_law,
    general_change_law,
)

#: Prior scale tau of the curve's value at each anchor, in loss units (where
#: sigma ≈ sigma_ref): loss changes are a few tenths at most; the same scale as the NUTS
#: path's anchor priors (``posterior.ANCHOR_PRIOR_SCALE``).
PRIOR_COEF_SCALE = 1.0
#: Cells of the domain grid over s1 in [-5, 5]: width 0.0025, a third or less of the
#: posterior sd of the sharpest simulated curves (100 checkpoints: sd 0.008-0.016), so the
#: first pass always resolves the mode and one refinement gives cells of ~3e-5.
DOMAIN_GRID = 4001
#: Cells of the general grid, (s2 over [-5, 5], log s3_gap over [log 0.02, log 1.5]):
#: widths 0.005 and 0.0067. The posterior has notches ~0.01 wide where a power column
#: turns constant (s2 = 0, s3 = 0: the diverging coefficient is cut off by its prior), so
#: the quadrature converges only at first order. Against a 4001 x 1281 grid on 12
#: simulated curves (100 checkpoints, noise 1e-3) the largest error of the posterior mean
#: of s2 and log s3_gap was 0.10 sd with 501 x 161 cells, 0.06 sd with 1001 x 321 and
#: 0.026 sd here (sds within 2%), below the Monte Carlo error of 1,000 draws (~0.03 sd);
#: one pass costs ~0.1 s (2-core CPU), so even four passes stay under 0.5 s a curve.
GENERAL_GRID = (2001, 641)
#: Largest mass one cell may hold before the grid counts as too coarse for the posterior
#: (50 cells at least carry the posterior mass): refine, and report "not converged" if it
#: is still exceeded after :data:`MAX_REFINE` refinements.
MAX_CELL_MASS = 0.02
#: Refinements at most: each one shrinks the cells at least DOMAIN_GRID / 3-fold when
#: one cell held nearly all the mass, so three cover any posterior the data can give.
MAX_REFINE = 3
#: Cells with at least this mass define the refined box. The mass left outside is at
#: most this times the number of cells (4e-5 domain) and in practice, in Gaussian tails,
#: ~1e-8 (largest on 192 simulated domain curves: 1.9e-8); reported as ``truncated_mass``.
REFINE_MASS_FLOOR = 1e-8
#: Floor of the reference residual scale (a noise-free curve has RMS 0).
SIGMA_REF_FLOOR = 1e-12
#: Points per vmapped batch when evaluating arbitrary point sets (bounds memory at
#: CHUNK x n x 3 doubles per batch).
CHUNK = 4096
#: Rows of the general grid (values of s2) per vmapped batch of a grid pass: 32 x 641
#: cells per batch bound the working memory (a 2001 x 641 pass raised peak RSS by
#: ~180 MB, compilation included); 16, 32 and 64 rows ran equally fast (0.08-0.10 s a
#: pass on 2 cores), 256 rows slower (0.14 s).
GRID_ROWS = 32
#: The two loss-change laws, by split name.
SPLITS = ("domain", "general")


# ---------------------------------------------------------------- law facts
@dataclass(frozen=True)
class _Spec:
    """The exponents' specs (internal scale) and the coefficient names of one split."""

    nonlinear: tuple[ParamSpec, ...]
    linear: tuple[str, ...]

    @property
    def lo(self) -> np.ndarray:
        return np.array([p.internal_bounds()[0] for p in self.nonlinear])

    @property
    def hi(self) -> np.ndarray:
        return np.array([p.internal_bounds()[1] for p in self.nonlinear])

    @property
    def shape(self) -> tuple[int, ...]:
        return (DOMAIN_GRID,) if len(self.nonlinear) == 1 else GENERAL_GRID


def _spec(split: str) -> _Spec:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    law = domain_change_law() if split == "domain" else general_change_law()
    lf = law.linear_form
    return _Spec(tuple(law.spec(n) for n in lf.nonlinear), tuple(lf.linear))


def _v0inv(sigma_ref: float) -> float:
    """Prior precision of the coefficients in units of sigma^-2: (sigma_ref / tau)^2."""
    s = float(sigma_ref)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"sigma_ref must be finite and >= 0, got {sigma_ref!r}")
    s = max(s, SIGMA_REF_FLOOR)
    return (s / PRIOR_COEF_SCALE) ** 2


# ---------------------------------------------------------------- closed-form marginal
def _chol(a):
    """Unrolled Cholesky of ``a`` (``(..., m, m)``): factor as nested lists, log-determinant.

    A pivot that is not positive gives NaN (the caller maps it to zero mass).
    """
    m = a.shape[-1]
    low = [[None] * m for _ in range(m)]
    logdet = jnp.zeros(a.shape[:-2])
    for j in range(m):
        d = a[..., j, j] - sum((low[j][k] ** 2 for k in range(j)), jnp.zeros(a.shape[:-2]))
        d = jnp.where(d > 0, d, jnp.nan)
        low[j][j] = jnp.sqrt(d)
        logdet = logdet + jnp.log(d)
        for i in range(j + 1, m):
            off = a[..., i, j] - sum(
                (low[i][k] * low[j][k] for k in range(j)), jnp.zeros(a.shape[:-2])
            )
            low[i][j] = off / low[j][j]
    return low, logdet


def _forward(low, b):
    """Solve ``L w = b`` (``b`` a list of m arrays)."""
    w = []
    for i in range(len(b)):
        w.append(
            (b[i] - sum((low[i][k] * w[k] for k in range(i)), jnp.zeros_like(b[i]))) / low[i][i]
        )
    return w


def _backward(low, w):
    """Solve ``L^T x = w``."""
    m = len(w)
    x = [None] * m
    for i in reversed(range(m)):
        rest = sum((low[k][i] * x[k] for k in range(i + 1, m)), jnp.zeros_like(w[i]))
        x[i] = (w[i] - rest) / low[i][i]
    return x


def _anchor_logdet(a_lo, h, s_first, gap=None):
    """log|det A| of the basis at the anchors, free of cancellation.

    Domain (anchors a_lo, a_lo + h in log T; columns T^s1, 1):
    ``det = T_lo^s1 - T_hi^s1 = -T_lo^s1 expm1(s1 h)``. General (anchors a_lo + {0, h, 2h};
    columns T^s2, T^s3, 1): with ``E_k = expm1(s_k h)`` and ``expm1(2x) = E (E + 2)`` the
    determinant is ``T_lo^(s2+s3) E2 E3 (E3 - E2)`` and ``E3 - E2 = e^(s2 h) expm1(gap h)``,
    so every factor is computed to full relative precision even where the columns are
    nearly collinear (s1, s2 or s3 near 0, small gap), where the determinant itself is
    tiny and a cofactor expansion loses most of its digits.
    """
    if gap is None:
        return s_first * a_lo + jnp.log(jnp.abs(jnp.expm1(s_first * h)))
    s3 = s_first + gap
    return (
        (s_first + s3) * a_lo
        + jnp.log(jnp.abs(jnp.expm1(s_first * h)))
        + jnp.log(jnp.abs(jnp.expm1(s3 * h)))
        + s_first * h
        + jnp.log(jnp.abs(jnp.expm1(gap * h)))
    )


def _conjugate(xtx, xty, yty, n: int, v0inv, anc, logdet_a):
    """Everything the conjugate model needs from the sufficient statistics.

    Args:
        xtx: ``(..., m, m)`` ``X^T X``; xty: ``(..., m)``; yty: scalar ``y^T y``.
        n: Number of checkpoints (static); v0inv: ``(sigma_ref / tau)^2``.
        anc: ``(..., m, m)`` the basis at the anchor tokens (rows: anchors), ``A``: the
            prior precision of the coefficients is ``v0inv A^T A`` (in units of sigma^-2).
        logdet_a: ``log|det A|`` (from :func:`_anchor_logdet`).

    Returns:
        ``(log p(y|s), low, m_scaled, colscale, b)`` with ``low`` the Cholesky factor of the
        column-scaled ``P`` and ``m = m_scaled / colscale``.
    """
    m = xtx.shape[-1]
    diag = jnp.stack([xtx[..., i, i] for i in range(m)], axis=-1)
    c = jnp.sqrt(jnp.maximum(diag, 1e-300))
    a_s = anc / c[..., None, :]
    prior_s = v0inv * jnp.einsum("...ri,...rj->...ij", a_s, a_s)
    ps = xtx / (c[..., :, None] * c[..., None, :]) + prior_s
    rs = xty / c
    low, logdet_s = _chol(ps)
    w = _forward(low, [rs[..., i] for i in range(m)])
    quad = sum(wi * wi for wi in w)
    ms = jnp.stack(_backward(low, w), axis=-1)
    b = 0.5 * (yty - quad)
    # log|V0^-1| - log|P| with both column-scaled: the 2 sum log c of each cancel.
    logml = (
        -0.5 * n * math.log(2 * math.pi)
        + 0.5 * m * jnp.log(v0inv)
        + logdet_a
        - jnp.sum(jnp.log(c), axis=-1)
        - 0.5 * logdet_s
        + jax.scipy.special.gammaln(0.5 * n)
        - 0.5 * n * jnp.log(jnp.where(b > 0, b, jnp.nan))
    )
    logml = jnp.where(jnp.isfinite(logml), logml, -jnp.inf)
    return logml, low, ms, c, b


def _columns(split: str, logt, u):
    """Design matrix ``(n, m)`` at one internal point ``u`` (``(q,)``)."""
    e1 = jnp.exp(u[0] * logt)
    ones = jnp.ones_like(logt)
    if split == "domain":
        return jnp.stack([e1, ones], axis=-1)
    e2 = jnp.exp((u[0] + jnp.exp(u[1])) * logt)
    return jnp.stack([e1, e2, ones], axis=-1)


def _anchor_logt(logt, w):
    """Log tokens of the anchors: first and last checkpoint (domain: 2 coefficients),
    plus their geometric middle (general: 3). Padding rows (weight 0) are ignored."""
    lo = jnp.min(jnp.where(w > 0, logt, jnp.inf))
    hi = jnp.max(jnp.where(w > 0, logt, -jnp.inf))
    return jnp.stack([lo, hi]), jnp.stack([lo, 0.5 * (lo + hi), hi])


def _anchors(split, logt, w, u):
    """``(A, log|det A|)`` at internal point ``u``."""
    dom, gen = _anchor_logt(logt, w)
    if split == "domain":
        return _columns(split, dom, u), _anchor_logdet(dom[0], dom[1] - dom[0], u[0])
    return _columns(split, gen, u), _anchor_logdet(gen[0], gen[1] - gen[0], u[0], jnp.exp(u[1]))


def _point_stats(split, logt, y, w, u):
    x = _columns(split, logt, u)
    xw = x * w[:, None]
    return x.T @ xw, xw.T @ y, *_anchors(split, logt, w, u)


@partial(jax.jit, static_argnames=("split",))
def _points_logml(split, logt, y, w, v0inv, points):
    n = jnp.sum(w)
    yty = (w * y) @ y

    def one(u):
        xtx, xty, anc, ld = _point_stats(split, logt, y, w, u)
        return _conjugate(xtx, xty, yty, n, v0inv, anc, ld)[0]

    return jax.lax.map(one, points, batch_size=CHUNK)


@partial(jax.jit, static_argnames=("split",))
def _points_draw(split, logt, y, w, v0inv, points, gam, z):
    """Coefficient draws ``(K, m)`` at internal points ``(K, q)``.

    ``gam ~ Gamma(n/2, 1)`` gives ``sigma^2 = b / gam ~ InvGamma(n/2, b)``; ``z ~ N(0, I)``
    gives ``a = m + sigma L^-T z / c`` with covariance ``sigma^2 P^-1``.
    """
    n = jnp.sum(w)
    yty = (w * y) @ y

    def one(args):
        u, g, zz = args
        xtx, xty, anc, ld = _point_stats(split, logt, y, w, u)
        _, low, ms, c, b = _conjugate(xtx, xty, yty, n, v0inv, anc, ld)
        sigma = jnp.sqrt(b / g)
        dev = jnp.stack(_backward(low, [zz[i] for i in range(zz.shape[0])]))
        return (ms + sigma * dev) / c

    return jax.lax.map(one, (points, gam, z), batch_size=CHUNK)


def _log_prior_unnorm(spec: _Spec, cols):
    """Sum of the exponents' normal log-densities (internal scale), without constants."""
    return sum(
        -0.5 * ((u - p.prior_loc) / p.prior_scale) ** 2
        for u, p in zip(cols, spec.nonlinear, strict=True)
    )


@partial(jax.jit, static_argnames=("split", "shape"))
def _grid_pass(split, shape, logt, y, w, v0inv, lo, hi):
    """Normalised cell masses of the midpoint grid of ``shape`` cells over ``[lo, hi]``.

    Rows of the grid (one ``s1`` or ``s2`` each) are evaluated :data:`GRID_ROWS` at a time
    (``jax.lax.map``); within a batch the sufficient statistics of every cell come from
    matrix products over the checkpoints. Returns the masses and the number of cells whose
    marginal likelihood was not finite.
    """
    spec = _spec(split)
    n = jnp.sum(w)
    yty = (w * y) @ y
    sy = w @ y
    axes = [lo[d] + (jnp.arange(k) + 0.5) * ((hi[d] - lo[d]) / k) for d, k in enumerate(shape)]
    la_dom, la_gen = _anchor_logt(logt, w)

    if split == "domain":

        def row(s1):
            e1 = jnp.exp(s1 * logt)
            we1 = w * e1
            xtx = jnp.array([[we1 @ e1, jnp.sum(we1)], [jnp.sum(we1), n]])
            xty = jnp.array([we1 @ y, sy])
            anc = _columns("domain", la_dom, jnp.stack([s1]))
            ld = _anchor_logdet(la_dom[0], la_dom[1] - la_dom[0], s1)
            return _conjugate(xtx, xty, yty, n, v0inv, anc, ld)[0]

        logml = jax.lax.map(row, axes[0], batch_size=CHUNK)
        lp = _log_prior_unnorm(spec, [axes[0]])
    else:
        g = jnp.exp(jnp.exp(axes[1])[:, None] * logt[None, :])  # (N2, n): T^gap
        g2 = g * g
        ga = jnp.exp(jnp.exp(axes[1])[:, None] * la_gen[None, :])  # (N2, 3) at the anchors

        def row(s2):
            e1 = jnp.exp(s2 * logt)  # T^s2; T^s3 = T^s2 T^gap
            we1 = w * e1  # padding rows have weight 0
            e11 = we1 * e1
            s11, s1, s1y = e11.sum(), we1.sum(), we1 @ y
            s12, s22, s2_, s2y = g @ e11, g2 @ e11, g @ we1, g @ (we1 * y)
            full = s12.shape
            c = partial(jnp.full, full)
            xtx = jnp.stack(
                [
                    jnp.stack([c(s11), s12, c(s1)], -1),
                    jnp.stack([s12, s22, s2_], -1),
                    jnp.stack([c(s1), s2_, c(n)], -1),
                ],
                -2,
            )
            xty = jnp.stack([c(s1y), s2y, c(sy)], -1)
            e1a = jnp.exp(s2 * la_gen)  # (3,)
            anc = jnp.stack(
                [jnp.broadcast_to(e1a, ga.shape), e1a * ga, jnp.ones_like(ga)], axis=-1
            )  # (N2, anchors, columns)
            ld = _anchor_logdet(la_gen[0], la_gen[1] - la_gen[0], s2, jnp.exp(axes[1]))
            return _conjugate(xtx, xty, yty, n, v0inv, anc, ld)[0]

        logml = jax.lax.map(row, axes[0], batch_size=GRID_ROWS)
        lp = _log_prior_unnorm(spec, [axes[0][:, None], axes[1][None, :]])
    logpost = logml + lp
    total = jax.nn.logsumexp(logpost)
    return jnp.exp(logpost - total), jnp.sum(~jnp.isfinite(logml))


def _cell_axes(lo, hi, shape) -> list[np.ndarray]:
    """Centres of the midpoint cells along each dimension."""
    return [lo[d] + (np.arange(k) + 0.5) * ((hi[d] - lo[d]) / k) for d, k in enumerate(shape)]


# ---------------------------------------------------------------- public helpers
def _checked_curve(t, y) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if t.shape != y.shape:
        raise ValueError(f"tokens and loss changes differ in length: {t.size} vs {y.size}")
    if t.size < 2:
        raise ValueError(f"a curve needs at least 2 checkpoints, got {t.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("tokens and loss changes must be finite")
    if np.any(t <= 0):
        raise ValueError("tokens must be positive (the laws take T^s)")
    return t, y


def _padded(t: np.ndarray, y: np.ndarray, length: int | None):
    """``(log t, y, w)`` as arrays of ``length`` rows (default the curve's own), padding
    with weight-0 rows (t = 1, y = 0) so curves of different lengths share one compiled
    grid pass and draw function."""
    n = t.size
    length = n if length is None else int(length)
    if length < n:
        raise ValueError(f"length {length} is shorter than the curve ({n} checkpoints)")
    logt = np.zeros(length)
    yy = np.zeros(length)
    w = np.zeros(length)
    logt[:n], yy[:n], w[:n] = np.log(t), y, 1.0
    return jnp.asarray(logt), jnp.asarray(yy), jnp.asarray(w)


def _checked_points(spec: _Spec, points) -> np.ndarray:
    q = len(spec.nonlinear)
    pts = np.asarray(points, dtype=float)
    if q == 1 and pts.ndim <= 1:
        pts = pts.reshape(-1, 1)
    if pts.ndim != 2 or pts.shape[1] != q:
        raise ValueError(f"points must have shape (G, {q}), got {np.shape(points)}")
    return pts


def log_marginal(split: str, t, y, sigma_ref: float, points) -> np.ndarray:
    """``log p(y | s)`` (coefficients and noise integrated out) at internal points ``s``.

    Args:
        split: ``"domain"`` or ``"general"``.
        t, y: Tokens (fit units, > 0) and loss changes of one curve.
        sigma_ref: Residual RMS of the point fit (sets the coefficient prior).
        points: ``(G, q)`` exponents on the internal scale (``(G,)`` for the domain law);
            general: ``(s2, log s3_gap)``.

    Returns:
        ``(G,)`` log marginal likelihoods, ``-inf`` where the factorisation fails.
    """
    spec = _spec(split)
    t, y = _checked_curve(t, y)
    pts = _checked_points(spec, points)
    with jax.enable_x64(True):
        out = _points_logml(split, *_padded(t, y, None), _v0inv(sigma_ref), jnp.asarray(pts))
        return np.asarray(out)


def log_prior(split: str, points) -> np.ndarray:
    """Normalised log prior density of internal points (truncated normal; -inf outside)."""
    spec = _spec(split)
    pts = _checked_points(spec, points)
    out = np.zeros(pts.shape[0])
    for d, p in enumerate(spec.nonlinear):
        lo, hi = p.internal_bounds()
        z = (pts[:, d] - p.prior_loc) / p.prior_scale
        mass = 0.5 * (
            math.erf((hi - p.prior_loc) / (p.prior_scale * math.sqrt(2)))
            - math.erf((lo - p.prior_loc) / (p.prior_scale * math.sqrt(2)))
        )
        dens = -0.5 * z**2 - math.log(p.prior_scale * math.sqrt(2 * math.pi) * mass)
        out += np.where((pts[:, d] >= lo) & (pts[:, d] <= hi), dens, -np.inf)
    return out


def grid_log_posterior(split: str, t, y, sigma_ref: float, points) -> np.ndarray:
    """Unnormalised ``log p(s | y) = log p(y | s) + log prior(s)`` at internal points."""
    return log_marginal(split, t, y, sigma_ref, points) + log_prior(split, points)


@dataclass(frozen=True)
class GridPosterior:
    """The tabulated posterior of one curve's exponents (internal scale).

    Attributes:
        split: ``"domain"`` or ``"general"``.
        lo, hi: ``(q,)`` box of the final grid (midpoint cells).
        mass: Cell masses, shape :data:`DOMAIN_GRID` or :data:`GENERAL_GRID`, sum 1.
        passes: Grid passes used (1 + refinements).
        max_cell_mass: Largest cell mass of the final grid.
        edge_mass: Mass within one first-pass cell width of any of the law's bounds.
        effective_cells: ``1 / sum(mass^2)``.
        truncated_mass: Mass left outside the refined boxes (summed over refinements).
        nonfinite_cells: Cells of the final grid whose marginal likelihood was not finite
            (given zero mass).
    """

    split: str
    lo: np.ndarray
    hi: np.ndarray
    mass: np.ndarray
    passes: int
    max_cell_mass: float
    edge_mass: float
    effective_cells: float
    truncated_mass: float
    nonfinite_cells: int

    @property
    def widths(self) -> np.ndarray:
        return (self.hi - self.lo) / np.asarray(self.mass.shape)

    @property
    def axes(self) -> list[np.ndarray]:
        """Cell centres along each dimension."""
        return _cell_axes(self.lo, self.hi, self.mass.shape)

    @property
    def converged(self) -> bool:
        return bool(self.max_cell_mass <= MAX_CELL_MASS)

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """``(k, q)`` internal points: cells drawn by mass, jittered uniformly within them."""
        p = self.mass.ravel() / self.mass.sum()
        flat = rng.choice(p.size, size=k, p=p)
        idx = np.unravel_index(flat, self.mass.shape)
        spec = _spec(self.split)
        cols = []
        for d, ax in enumerate(self.axes):
            u = ax[idx[d]] + rng.uniform(-0.5, 0.5, size=k) * self.widths[d]
            cols.append(np.clip(u, spec.lo[d], spec.hi[d]))
        return np.stack(cols, axis=-1)


def grid_posterior(
    split: str, t, y, sigma_ref: float, *, length: int | None = None
) -> GridPosterior:
    """Tabulate the posterior of the exponents of one curve, refining a sharp posterior.

    Args:
        split: ``"domain"`` or ``"general"``.
        t, y: Tokens (fit units, > 0) and loss changes.
        sigma_ref: Residual RMS of the point fit (floored at :data:`SIGMA_REF_FLOOR`).
        length: Pad the curve to this many rows (weight 0) so that curves of different
            lengths reuse one compiled pass; the result does not depend on it.

    Returns:
        :class:`GridPosterior`; the passes stop when no cell holds more than
        :data:`MAX_CELL_MASS`, after :data:`MAX_REFINE` refinements, or when the box can
        no longer shrink.
    """
    spec = _spec(split)
    t, y = _checked_curve(t, y)
    law_lo, law_hi = spec.lo, spec.hi
    shape = spec.shape
    h0 = (law_hi - law_lo) / np.asarray(shape)
    lo, hi = law_lo.copy(), law_hi.copy()
    truncated = 0.0
    with jax.enable_x64(True):
        logt, yj, wj = _padded(t, y, length)
        v0inv = _v0inv(sigma_ref)
        for p in range(MAX_REFINE + 1):
            mass, bad = _grid_pass(
                split, shape, logt, yj, wj, v0inv, jnp.asarray(lo), jnp.asarray(hi)
            )
            mass = np.asarray(mass)
            if not np.all(np.isfinite(mass)) or mass.max() <= MAX_CELL_MASS or p == MAX_REFINE:
                break
            keep = mass >= REFINE_MASS_FLOOR
            h = (hi - lo) / np.asarray(shape)
            new_lo, new_hi, sl = lo.copy(), hi.copy(), []
            for d in range(len(shape)):
                other = tuple(i for i in range(len(shape)) if i != d)
                idx = np.flatnonzero(keep.any(axis=other) if other else keep)
                i0, i1 = max(idx[0] - 1, 0), min(idx[-1] + 1, shape[d] - 1)
                new_lo[d] = max(law_lo[d], lo[d] + i0 * h[d])
                new_hi[d] = min(law_hi[d], lo[d] + (i1 + 1) * h[d])
                sl.append(slice(i0, i1 + 1))
            if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
                break  # the box cannot shrink: refining would repeat the pass
            truncated += float(mass.sum() - mass[tuple(sl)].sum())
            lo, hi = new_lo, new_hi
    passes = p + 1
    if not np.all(np.isfinite(mass)):
        nan = math.nan
        return GridPosterior(split, lo, hi, mass, passes, nan, nan, nan, truncated, int(bad))
    near = np.zeros(mass.shape, dtype=bool)
    for d, ax in enumerate(_cell_axes(lo, hi, shape)):
        at = (ax - law_lo[d] < h0[d]) | (law_hi[d] - ax < h0[d])
        near |= at.reshape([-1 if i == d else 1 for i in range(mass.ndim)])
    return GridPosterior(
        split,
        lo,
        hi,
        mass,
        passes,
        max_cell_mass=float(mass.max()),
        edge_mass=float(mass[near].sum()),
        effective_cells=float(1.0 / np.sum(mass**2)),
        truncated_mass=truncated,
        nonfinite_cells=int(bad),
    )


def conditional_draws(
    split: str,
    t,
    y,
    sigma_ref: float,
    points,
    rng: np.random.Generator,
    *,
    length: int | None = None,
) -> dict[str, np.ndarray]:
    """Exact draws of noise and coefficients given exponents, as the paper's keys.

    Args:
        split: ``"domain"`` or ``"general"``.
        t, y: One curve (tokens in fit units, loss changes).
        sigma_ref: Residual RMS of the point fit.
        points: ``(K, q)`` internal exponents, one draw at each.
        rng: Source of the ``Gamma(n/2)`` and standard normal variates.
        length: Pad to this many rows (weight 0), as in :func:`grid_posterior`.

    Returns:
        ``{key: (K,)}`` float64: domain ``alpha1, s1, beta1``; general ``alpha2, s2,
        alpha3, s3, beta2`` with ``s3 = s2 + s3_gap``.
    """
    spec = _spec(split)
    t, y = _checked_curve(t, y)
    pts = _checked_points(spec, points)
    k, m = pts.shape[0], len(spec.linear)
    gam = rng.standard_gamma(0.5 * t.size, size=k)
    z = rng.standard_normal((k, m))
    with jax.enable_x64(True):
        a = _points_draw(
            split,
            *_padded(t, y, length),
            _v0inv(sigma_ref),
            jnp.asarray(pts),
            jnp.asarray(gam),
            jnp.asarray(z),
        )
        a = np.asarray(a, dtype=float)
    if split == "domain":
        return {"alpha1": a[:, 0], "s1": pts[:, 0].copy(), "beta1": a[:, 1]}
    return {
        "alpha2": a[:, 0],
        "s2": pts[:, 0].copy(),
        "alpha3": a[:, 1],
        "s3": pts[:, 0] + np.exp(pts[:, 1]),
        "beta2": a[:, 2],
    }


def grid_posterior_curves(
    split: str,
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    sigma_refs: Sequence[float],
    *,
    draws: int,
    seeds: Sequence[int],
) -> tuple[list[dict], list[dict]]:
    """Exact grid posterior draws of every curve of one split.

    Every curve is padded to the longest one with weight-0 rows, so all share one
    compiled grid pass and draw function (the refined boxes are traced arguments): a log
    whose runs have different checkpoint counts compiles once per split, not once per
    length (~1-1.5 s each on a 2-core CPU).

    Args:
        split: ``"domain"`` or ``"general"``.
        xs, ys: Per curve, tokens (fit units) and loss changes; lengths may differ.
        sigma_refs: Per curve, the residual RMS of the point fit.
        draws: Draws per curve (>= 1).
        seeds: One seed per curve (numpy Generator).

    Returns:
        ``(draws, diagnostics)``: per curve ``{paper key: (draws,)}`` and
        ``{"max_cell_mass", "edge_mass", "effective_cells", "passes", "converged",
        "problems", "wall_s", "truncated_mass", "nonfinite_cells"}``; ``problems`` is empty
        when converged.
    """
    _spec(split)
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    lengths = {"xs": len(xs), "ys": len(ys), "sigma_refs": len(sigma_refs), "seeds": len(seeds)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"one entry per curve needed; got lengths {lengths}")
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if np.size(x) != np.size(y):
            raise ValueError(
                f"curve {i}: tokens and loss changes differ in length ({np.size(x)} vs {np.size(y)})"
            )
    # Every curve padded to the longest (weight-0 rows): one compilation per split.
    length = max(int(np.size(x)) for x in xs) if len(xs) else 0
    out_draws, out_diags = [], []
    for x, y, sref, seed in zip(xs, ys, sigma_refs, seeds, strict=True):
        start = time.perf_counter()
        post = grid_posterior(split, x, y, sref, length=length)
        if math.isfinite(post.max_cell_mass):
            rng = np.random.default_rng(int(seed))
            pts = post.sample(int(draws), rng)
            d = conditional_draws(split, x, y, sref, pts, rng, length=length)
            problems = []
            if not post.converged:
                problems.append(
                    f"grid too coarse: largest cell mass {post.max_cell_mass:.3g} > "
                    f"{MAX_CELL_MASS} after {post.passes} passes"
                )
        else:
            keys = DOMAIN_KEYS if split == "domain" else GENERAL_KEYS
            d = {k: np.full(int(draws), np.nan) for k in keys}
            problems = ["marginal likelihood not finite anywhere on the grid"]
        out_draws.append(d)
        out_diags.append(
            {
                "max_cell_mass": post.max_cell_mass,
                "edge_mass": post.edge_mass,
                "effective_cells": post.effective_cells,
                "passes": post.passes,
                "converged": bool(post.converged),
                "problems": problems,
                "wall_s": time.perf_counter() - start,
                "truncated_mass": post.truncated_mass,
                "nonfinite_cells": post.nonfinite_cells,
            }
        )
    return out_draws, out_diags
