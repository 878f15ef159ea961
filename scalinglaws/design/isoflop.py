"""Design for Approach 2's exponent: a smooth isoFLOP surface whose vertices follow C^a.

Approach 2 fits a parabola to each isoFLOP slice (log loss against log N), takes each
vertex N*(C) and fits log N* = log G + a log C. Its exponent ``a`` has no closed form in
the Chinchilla law's parameters, so the design engine (which only needs draws of q and
draws of every candidate's predicted observation) is fed from a joint model of all the
slices with ``a`` as a parameter:

    log L(N, C) = m0 + m1 u + m2 u^2 + (k0 + k1 u) (x - g - a u)^2,

with x = log N and u = log(C / C_ref). Each slice is a parabola in x whose vertex lies on
the power law log N* = g + a u and whose depth and curvature vary smoothly with budget —
Approach 2's assumptions written as one least-squares model, so a run at a budget not yet
sampled informs ``a`` too. It is fitted by Gauss-Newton (Levenberg damped); its draws are
Laplace draws (residual variance times (J^T J)^-1), from which :func:`approach2_ensemble`
builds an :class:`~scalinglaws.design.engine.Ensemble` with q = a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglaws.design.engine import Ensemble
from scalinglaws.errors import PlanError

#: Parameter order of the isoFLOP surface.
SURFACE_PARAMS = ("m0", "m1", "m2", "k0", "k1", "g", "a")


@dataclass(frozen=True)
class IsoflopSurface:
    """A fitted isoFLOP surface (see the module docstring).

    Attributes:
        theta: Fitted parameters in :data:`SURFACE_PARAMS` order.
        covariance: Laplace covariance of ``theta`` (residual variance x (J^T J)^-1).
        sigma: Residual standard deviation of log loss.
        c_ref: Reference compute of u = log(C / c_ref).
        n_runs: Runs fitted.
        converged: Whether the Gauss-Newton steps converged.
    """

    theta: np.ndarray
    covariance: np.ndarray
    sigma: float
    c_ref: float
    n_runs: int
    converged: bool

    @property
    def a(self) -> float:
        return float(self.theta[6])

    def draws(self, n: int, seed: int = 0) -> np.ndarray:
        """``(n, 7)`` Laplace draws of the parameters."""
        rng = np.random.default_rng(seed)
        cov = 0.5 * (self.covariance + self.covariance.T)
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        return self.theta + rng.standard_normal((n, self.theta.size)) @ root.T

    def interval(self, level: float = 0.9, n: int = 4000, seed: int = 0) -> tuple[float, float]:
        """Central ``level`` interval of ``a`` from the Laplace draws."""
        a = self.draws(n, seed)[:, 6]
        tail = 0.5 * (1.0 - level)
        lo, hi = np.quantile(a, [tail, 1.0 - tail])
        return float(lo), float(hi)


def surface_log_loss(theta: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Predicted log loss; ``theta`` (..., 7) broadcasts against ``x``/``u``."""
    t = np.asarray(theta, dtype=float)
    m0, m1, m2, k0, k1, g, a = (t[..., i, None] for i in range(7))
    return m0 + m1 * u + m2 * u**2 + (k0 + k1 * u) * (x - g - a * u) ** 2


def _jacobian(theta: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    _, _, _, k0, k1, g, a = theta
    d = x - g - a * u
    k = k0 + k1 * u
    return np.stack([np.ones_like(u), u, u**2, d**2, u * d**2, -2 * k * d, -2 * k * d * u], axis=1)


def _start(x: np.ndarray, u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Starting point from per-slice parabolas (or one global parabola)."""
    vert_u, vert_x, curv = [], [], []
    for uu in np.unique(u):
        s = u == uu
        if s.sum() >= 3 and np.ptp(x[s]) > 0:
            c2, c1, _ = np.polyfit(x[s], y[s], 2)
            if c2 > 0:
                vert_u.append(uu)
                vert_x.append(-c1 / (2 * c2))
                curv.append(c2)
    if len(vert_u) >= 2:
        a, g = np.polyfit(vert_u, vert_x, 1)
    else:
        a, g = 0.5, float(np.median(x - 0.5 * u))
    base = np.stack([np.ones_like(u), u, u**2, (x - g - a * u) ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(base, y, rcond=None)
    return np.array([coef[0], coef[1], coef[2], max(coef[3], 1e-3), 0.0, g, a], dtype=float)


def fit_surface(
    runs: pd.DataFrame, weights: np.ndarray | None = None, *, c_ref: float | None = None
) -> IsoflopSurface:
    """Fit the isoFLOP surface to runs with ``N``, ``C`` and ``loss`` (0/1 ``weights``).

    Raises:
        PlanError: Fewer runs than parameters plus two, or a singular fit.
    """
    w = np.ones(len(runs)) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    sub = runs[keep]
    if len(sub) < len(SURFACE_PARAMS) + 2:
        raise PlanError(
            f"the isoFLOP surface needs at least {len(SURFACE_PARAMS) + 2} runs, got {len(sub)}"
        )
    cref = float(np.exp(np.mean(np.log(runs["C"].to_numpy(float))))) if c_ref is None else c_ref
    x = np.log(sub["N"].to_numpy(float))
    u = np.log(sub["C"].to_numpy(float) / cref)
    y = np.log(sub["loss"].to_numpy(float))
    theta = _start(x, u, y)
    lam, converged = 1e-3, False
    resid = y - surface_log_loss(theta, x, u)
    cost = float(resid @ resid)
    for _ in range(200):
        jac = _jacobian(theta, x, u)
        jtj, jtr = jac.T @ jac, jac.T @ resid
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), jtr)
        trial = theta + step
        r_new = y - surface_log_loss(trial, x, u)
        c_new = float(r_new @ r_new)
        if c_new < cost:
            done = cost - c_new < 1e-12 * max(cost, 1e-300)
            theta, resid, cost, lam = trial, r_new, c_new, max(lam / 3, 1e-9)
            if done:
                converged = True
                break
        else:
            lam *= 4
            if lam > 1e8:
                converged = True
                break
    jac = _jacobian(theta, x, u)
    dof = max(len(y) - theta.size, 1)
    sigma2 = cost / dof
    try:
        cov = sigma2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        raise PlanError("the isoFLOP surface fit is singular on these runs") from None
    return IsoflopSurface(theta, cov, float(np.sqrt(sigma2)), cref, int(len(y)), converged)


def approach2_ensemble(
    surface: IsoflopSurface,
    candidates: pd.DataFrame,
    *,
    n_draws: int = 1000,
    seed: int = 0,
    noise: float | None = None,
) -> Ensemble:
    """Engine input for q = Approach 2's exponent ``a``: Laplace draws of the surface.

    Args:
        surface: A fitted :class:`IsoflopSurface`.
        candidates: Candidate runs with ``N`` and ``C``.
        n_draws: Parameter draws.
        seed: Seed of the draws.
        noise: Observation noise sd of log loss (default: the fit's residual sd).

    Returns:
        An :class:`~scalinglaws.design.engine.Ensemble` with ``quantity`` the draws of
        ``a`` and ``predictions`` (n_draws, M, 1) the predicted log losses.
    """
    draws = surface.draws(n_draws, seed)
    x = np.log(candidates["N"].to_numpy(float))
    u = np.log(candidates["C"].to_numpy(float) / surface.c_ref)
    pred = surface_log_loss(draws, x[None, :], u[None, :])
    return Ensemble(
        quantity=draws[:, 6],
        predictions=pred[:, :, None],
        noise=float(surface.sigma if noise is None else noise),
    )
