"""Weighted power-law regression in log-log space, batched over bootstrap draws.

A compute-optimal allocation y*(C) = G * C^e is a straight line in logs,
log y* = log G + e log C, fitted by (weighted) least squares. Batching the right-hand
side lets one factorisation serve every bootstrap draw.
"""

from __future__ import annotations

import numpy as np

from scalinglaws.errors import FitError


def fit_loglinear(
    log_c: np.ndarray,
    log_y: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of log_y = intercept + slope * log_c by weighted least squares.

    Args:
        log_c: ``(S,)`` log compute budgets.
        log_y: ``(S,)`` or ``(S, B)`` log optima; each column is fitted separately.
        weights: ``(S,)`` non-negative weights (inverse variances), or None for equal.

    Returns:
        ``(slope, intercept)``, scalars or ``(B,)`` arrays, in the units of ``log_c``
        (the intercept is log G for y = G * C^slope).
    """
    log_c = np.asarray(log_c, dtype=float)
    w = np.ones_like(log_c) if weights is None else np.asarray(weights, dtype=float)
    if np.count_nonzero(w > 0) < 2:
        raise FitError("a power law through the optima needs at least 2 budgets with weight > 0")
    # Centre log C before solving: log C is ~40, so the normal equations of the raw
    # design are badly scaled; the centred slope is exact and the intercept follows.
    centre = float(np.sum(w * log_c) / np.sum(w))
    u = log_c - centre
    y = np.asarray(log_y, dtype=float)
    wsum = np.sum(w)
    ybar = np.tensordot(w, y, axes=(0, 0)) / wsum
    suu = np.sum(w * u * u)
    if suu <= 0:
        raise FitError("all budgets used for the power law are equal: the exponent is undefined")
    slope = np.tensordot(w * u, y, axes=(0, 0)) / suu
    intercept = ybar - slope * centre
    return slope, intercept


def r_squared(log_c: np.ndarray, log_y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted coefficient of determination of the log-log line."""
    w = np.ones_like(log_c) if weights is None else np.asarray(weights, dtype=float)
    slope, intercept = fit_loglinear(log_c, log_y, w)
    resid = log_y - (intercept + slope * log_c)
    ybar = np.sum(w * log_y) / np.sum(w)
    total = np.sum(w * (log_y - ybar) ** 2)
    return float(1.0 - np.sum(w * resid**2) / total) if total > 0 else float("nan")


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of finite draws (NaN when there are none)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    tail = 0.5 * (1.0 - level)
    lo, hi = np.quantile(d, [tail, 1.0 - tail])
    return float(lo), float(hi)


def check_level(level: float) -> float:
    """Validate an interval level in (0, 1)."""
    if not (isinstance(level, int | float) and 0.0 < float(level) < 1.0):
        raise FitError(f"level must be a probability between 0 and 1 (e.g. 0.95), not {level!r}")
    return float(level)
