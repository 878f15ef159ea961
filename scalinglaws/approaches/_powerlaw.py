"""Weighted power-law regression in log-log space, batched over bootstrap draws.

A compute-optimal allocation y*(C) = G * C^e is a straight line in logs,
log y* = log G + e log C, fitted by (weighted) least squares. Batching the right-hand
side lets one factorisation serve every bootstrap draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import FitError
from scalinglaws.uncertainty.intervals import check_level  # noqa: F401 - re-exported


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


def jsonable(obj: Any) -> Any:
    """Numpy scalars to Python, non-finite floats to None, recursively."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def powerlaw_rows(
    log_c: np.ndarray,
    obs: dict[str, np.ndarray],
    weights: dict[str, np.ndarray | None],
    draws: dict[str, np.ndarray],
    level: float,
) -> pd.DataFrame:
    """The ``powerlaws`` table (index ``N``, ``D``) from observed optima and their draws."""
    rows = {}
    for q, ek, gk in (("N", "a", "log_G_N"), ("D", "b", "log_G_D")):
        slope, intercept = fit_loglinear(log_c, obs[q], weights[q])
        e_lo, e_hi = percentile_interval(draws.get(ek, np.array([])), level)
        g_lo, g_hi = percentile_interval(draws.get(gk, np.array([])), level)
        rows[q] = {
            "exponent": float(slope),
            "exponent_lo": e_lo,
            "exponent_hi": e_hi,
            "coefficient": float(np.exp(intercept)),
            "coefficient_lo": math.exp(g_lo) if math.isfinite(g_lo) else math.nan,
            "coefficient_hi": math.exp(g_hi) if math.isfinite(g_hi) else math.nan,
            "r2": r_squared(log_c, obs[q], weights[q]),
            "n_points": int(np.size(log_c)),
            "n_draws": int(np.size(draws.get(ek, ()))),
            "weighted": weights[q] is not None,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "quantity"
    return table


class PowerLawAllocation:
    """Shared read-out of a compute-optimal allocation N* = G_N C^a, D* = G_D C^b.

    Subclasses are frozen dataclasses with ``powerlaws`` (index ``N``/``D``: ``exponent``,
    ``exponent_lo``, ``exponent_hi``, ``coefficient``, ...), ``draws`` (``a``, ``b``,
    ``log_G_N``, ``log_G_D``, paired by index) and ``options`` (with ``level``).
    """

    powerlaws: pd.DataFrame
    draws: Any
    options: Any

    @property
    def a(self) -> float:
        """Exponent of N*(C) = G_N C^a."""
        return float(self.powerlaws.loc["N", "exponent"])

    @property
    def b(self) -> float:
        """Exponent of D*(C) = G_D C^b."""
        return float(self.powerlaws.loc["D", "exponent"])

    @property
    def G_N(self) -> float:  # noqa: N802 - the paper's symbol
        return float(self.powerlaws.loc["N", "coefficient"])

    @property
    def G_D(self) -> float:  # noqa: N802 - the paper's symbol
        return float(self.powerlaws.loc["D", "coefficient"])

    @property
    def level(self) -> float:
        return float(self.options.get("level", 0.95))

    def interval(self, name: str) -> tuple[float, float]:
        """Interval of ``"a"`` or ``"b"`` at :attr:`level` (NaN when no draws)."""
        row = {"a": "N", "b": "D"}.get(name)
        if row is None:
            raise FitError(f"interval is available for 'a' and 'b', not {name!r}")
        return (
            float(self.powerlaws.loc[row, "exponent_lo"]),
            float(self.powerlaws.loc[row, "exponent_hi"]),
        )

    def predict(self, budgets: float | Sequence[float]) -> pd.DataFrame:
        """Compute-optimal N and D at given budgets, with intervals from the draws.

        N_opt = G_N C^a and D_opt = G_D C^b, each from its own power law.

        Returns:
            Columns ``C, N_opt, N_opt_lo, N_opt_hi, D_opt, D_opt_lo, D_opt_hi,
            tokens_per_param``.
        """
        c = np.atleast_1d(np.asarray(budgets, dtype=float))
        if c.size == 0 or not np.all(np.isfinite(c) & (c > 0)):
            raise FitError("budgets must be positive, finite compute values in FLOPs")
        logc = np.log(c)
        out = pd.DataFrame({"C": c})
        for q, ek, gk in (("N", "a", "log_G_N"), ("D", "b", "log_G_D")):
            pl = self.powerlaws.loc[q]
            out[f"{q}_opt"] = pl["coefficient"] * c ** pl["exponent"]
            if self.draws and np.size(self.draws.get(ek, ())) > 1:
                logs = self.draws[gk][None, :] + self.draws[ek][None, :] * logc[:, None]
                ivals = [percentile_interval(row, self.level) for row in logs]
                out[f"{q}_opt_lo"] = np.exp([lo for lo, _ in ivals])
                out[f"{q}_opt_hi"] = np.exp([hi for _, hi in ivals])
            else:
                out[f"{q}_opt_lo"] = np.nan
                out[f"{q}_opt_hi"] = np.nan
        out = out[["C", "N_opt", "N_opt_lo", "N_opt_hi", "D_opt", "D_opt_lo", "D_opt_hi"]]
        out["tokens_per_param"] = out["D_opt"] / out["N_opt"]
        return out
