"""Approach 2 (isoFLOP profiles): per-budget minima, then power laws N*(C) and D*(C).

Hoffmann et al. 2022 (arXiv 2203.15556), Approach 2: train several model sizes at each of
a few fixed compute budgets C (an *isoFLOP slice*), fit loss against log N within each
slice, take the minimiser N*(C), and regress

    log N*(C) = log G_N + a log C,      log D*(C) = log G_D + b log C.

With C = k N D exactly, a + b = 1. Three per-slice minimisers are offered:

* ``"parabola"`` — loss = c0 + c1 u + c2 u^2 in u = log N by (weighted) least squares over
  the whole slice (Hoffmann et al.). Exact for a slice that is symmetric about its
  optimum; biased when the slice is wide, asymmetric (alpha != beta) or off-centre
  (Czech et al. 2026, arXiv 2603.22339).
* ``"local"`` — the robust alternative: the same parabola fitted only on the ``window``
  model sizes nearest (in log N order) the lowest observed loss. Points far up the walls
  of the isoFLOP curve, where a parabola cannot describe it, no longer pull the vertex.
* ``"akima"`` — Porian et al.'s procedure (arXiv 2406.19146, released code): an Akima
  spline through (log N, log loss), minimised on a fine grid of ``25 * (n - 1)`` points;
  a minimum on the grid's edge is "outside".

The minimiser's uncertainty comes from a bootstrap *within the slice*: either residual
resampling of the fitted parabola (``bootstrap="residual"``, default for the parabola
methods) or Gaussian noise of a given loss standard deviation added to every point
(``bootstrap="noise"``, Porian et al.'s seed-noise bootstrap: they used 0.002 nats on
RefinedWeb and 0.01 on OpenWebText2, their measured seed-to-seed spread). The standard
deviation sd of log N* over the bootstrap draws is floored at ``sd_floor`` times the
slice's mean spacing in log N and divided by the fraction of draws that found a minimum
(both as in Porian et al.'s code). It weights the slice in the power-law fit according to
``weighting``: ``"inverse-variance"`` (1/sd^2, Porian et al.'s weighted fit),
``"unweighted"`` (equal weights) or ``"capped"`` (the default: 1/sd^2 clipped to within a
factor 4 of the median slice's weight; see :func:`approach2` for the benchmark behind
it). Intervals on the exponents are percentile intervals of the power law refitted, with
the same weights, to each bootstrap draw of every slice's optimum.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.approaches._powerlaw import (
    PowerLawAllocation,
    check_level,
    fit_loglinear,
    jsonable,
    percentile_interval,
    powerlaw_rows,
)
from scalinglaws.errors import FitError, ScalingLawsWarning
from scalinglaws.io.runs import load_runs

METHODS = ("parabola", "local", "akima")
BOOTSTRAPS = ("residual", "noise")
ON_INVALID = ("flag", "exclude", "raise")
#: How the slices' optima are weighted in the power-law fit (see :func:`approach2`).
WEIGHTINGS = ("unweighted", "inverse-variance", "capped")
#: ``weighting="capped"``: no slice weighs more than this factor above or below the
#: median slice.
WEIGHT_RATIO_CAP = 4.0
#: The default weighting, chosen by ``bench/approach2_weighting.py`` (see :func:`approach2`).
DEFAULT_WEIGHTING = "capped"
OBSERVATIONS = ("point", "median")
SIZE_AGGREGATES = ("min", "mean")
#: Model sizes in the ``"local"`` parabola's window.
DEFAULT_WINDOW = 5
#: Fine-grid points per gap between model sizes for the ``"akima"`` minimiser.
AKIMA_POINTS_PER_GAP = 25
#: Floor of a slice's sd of log N*, as a fraction of its mean spacing in log N.
DEFAULT_SD_FLOOR = 0.33
#: Fewest distinct model sizes in a slice (a parabola has three coefficients).
MIN_SIZES = 3

_OK, _CONCAVE, _OUTSIDE = 0, 1, 2


# ----------------------------------------------------------------------------- slices
def _load(runs: Any, k: float | None, columns: Mapping[str, str] | None) -> pd.DataFrame:
    kwargs: dict[str, Any] = {} if k is None else {"k": k}
    return load_runs(runs, columns=columns, min_runs=MIN_SIZES, require=("N",), **kwargs)


def isoflop_slices(
    runs: Any,
    *,
    budget_rtol: float = 0.0,
    budget_column: str | None = None,
    k: float | None = None,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Group runs into isoFLOP slices by their compute budget.

    With ``budget_rtol = 0`` (the default) runs share a slice when their budget values are
    exactly equal: right for designed sweeps and for logs that record the nominal budget.
    Real logs often hold C = k N D computed from the tokens actually seen, a little off
    the nominal budget; ``budget_rtol > 0`` then bins budgets: sorted ascending, a value
    opens a new slice when it exceeds the slice's smallest value by more than a factor
    ``1 + budget_rtol``, so a slice never spans more than that factor. A slice's budget
    is the geometric mean of its runs' values.

    Args:
        runs: A run log (anything :func:`scalinglaws.load_runs` accepts).
        budget_rtol: Relative tolerance for binning budgets (0 = exact values).
        budget_column: Column holding the nominal budget (default: ``C``).
        k: FLOPs per parameter per token, when C must be derived from N and D.
        columns: Explicit ``{canonical: column}`` names, passed to ``load_runs``.

    Returns:
        The runs with ``slice`` (0, 1, ... by increasing budget) and ``budget`` columns,
        sorted by slice and N.

    Raises:
        FitError: Unknown budget column, or a negative tolerance.
    """
    df = _load(runs, k, columns)
    col = budget_column or "C"
    if col not in df.columns:
        raise FitError(f"budget column {col!r} not found; columns are {list(df.columns)}")
    if not (
        isinstance(budget_rtol, int | float) and budget_rtol >= 0 and math.isfinite(budget_rtol)
    ):
        raise FitError(f"budget_rtol must be a non-negative number, not {budget_rtol!r}")
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        raise FitError(f"row {int(bad[0])}, column {col!r}: budget must be a positive number")
    uniq = np.unique(values)
    bin_of = {}
    start, b = uniq[0], 0
    for v in uniq:
        if v > start * (1.0 + budget_rtol) * (1.0 + 1e-12):
            b += 1
            start = v
        bin_of[v] = b
    out = df.copy()
    out["slice"] = np.array([bin_of[v] for v in values], dtype=int)
    logv = pd.Series(np.log(values), index=out.index)
    budget = np.exp(logv.groupby(out["slice"]).transform("mean")).to_numpy()
    # A slice of one exact value keeps it bit for bit (exp(log(c)) can differ in the
    # last place, and users look slices up by their nominal budget).
    single = pd.Series(values, index=out.index).groupby(out["slice"]).transform("nunique")
    out["budget"] = np.where(single.to_numpy() == 1, values, budget)
    out = out.sort_values(["slice", "N"], kind="stable").reset_index(drop=True)
    out.attrs.update(df.attrs)
    return out


# ------------------------------------------------------------------------ minimisers
def _parabola_vertex(c0, c1, c2, centre):
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(c2 > 0, -c1 / (2.0 * c2), np.nan)
        ystar = np.where(c2 > 0, c0 - c1 * c1 / (4.0 * c2), np.nan)
    return u + centre, ystar


def _minimise(x: np.ndarray, Y: np.ndarray, w: np.ndarray, method: str, window: int):
    """Minimisers of loss against ``x`` (sorted) for every row of ``Y`` (B, n).

    Returns ``(x_star, loss_star, curvature, code, residuals)``; ``code`` is 0 (ok),
    1 (no minimum: parabola opens downward) or 2 (minimum outside the fitted range);
    ``residuals`` (B, n) are NaN where the fit did not use the point.
    """
    B, n = Y.shape
    if method == "parabola":
        centre = float(np.sum(w * x) / np.sum(w))
        u = x - centre
        X = np.stack([np.ones_like(u), u, u * u], axis=1)
        sw = np.sqrt(w)
        # One pseudo-inverse serves every bootstrap draw (lstsq would redo an SVD per call).
        coef = np.linalg.pinv(X * sw[:, None]) @ (Y * sw).T
        xstar, ystar = _parabola_vertex(coef[0], coef[1], coef[2], centre)
        resid = Y - (X @ coef).T
        lo, hi = np.full(B, x[0]), np.full(B, x[-1])
        curv = coef[2]
    elif method == "local":
        m = min(window, n)
        i0 = np.argmin(Y, axis=1)
        start = np.clip(i0 - m // 2, 0, n - m)
        idx = start[:, None] + np.arange(m)[None, :]
        xw, yw, ww = x[idx], np.take_along_axis(Y, idx, axis=1), w[idx]
        centre = x[i0]
        u = xw - centre[:, None]
        X = np.stack([np.ones_like(u), u, u * u], axis=-1)
        XW = X * ww[..., None]
        A = np.einsum("bmi,bmj->bij", XW, X)
        rhs = np.einsum("bmi,bm->bi", XW, yw)
        coef = np.linalg.solve(A, rhs[..., None])[..., 0]
        xstar, ystar = _parabola_vertex(coef[:, 0], coef[:, 1], coef[:, 2], centre)
        resid = np.full((B, n), np.nan)
        np.put_along_axis(resid, idx, yw - np.einsum("bmi,bi->bm", X, coef), axis=1)
        lo, hi = xw[:, 0], xw[:, -1]
        curv = coef[:, 2]
    elif method == "akima":
        # scipy.interpolate is imported on first use: only the akima method needs it.
        from scipy.interpolate import Akima1DInterpolator

        g = max((n - 1) * AKIMA_POINTS_PER_GAP, 3)
        grid = np.linspace(x[0], x[-1], g)
        with np.errstate(invalid="ignore", divide="ignore"):
            logy = np.log(np.where(Y > 0, Y, np.nan))
        vals = Akima1DInterpolator(x, logy.T, axis=0)(grid)
        vals = np.where(np.isfinite(vals), vals, np.inf)
        j = np.argmin(vals, axis=0)
        xstar = grid[j]
        ystar = np.exp(vals[j, np.arange(B)])
        resid = np.full((B, n), np.nan)
        edge = (j == 0) | (j == g - 1) | ~np.isfinite(ystar)
        code = np.where(edge, _OUTSIDE, _OK)
        return xstar, ystar, np.full(B, np.nan), code, resid
    else:  # pragma: no cover - validated by the caller
        raise FitError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    code = np.where(
        ~np.isfinite(xstar), _CONCAVE, np.where((xstar < lo) | (xstar > hi), _OUTSIDE, _OK)
    )
    return xstar, ystar, curv, code, resid


# ---------------------------------------------------------------------- one slice
def _fit_slice(
    log_n: np.ndarray,
    log_d: np.ndarray,
    loss: np.ndarray,
    w: np.ndarray,
    st: Approach2Settings,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The optimum of one slice, its bootstrap spread, flags and draws (one table row)."""
    method, window = st.method, st.window
    d_order = np.argsort(log_d)
    x_d = log_d[d_order]
    xs, ys, curv, code, resid = _minimise(log_n, loss[None, :], w, method, window)
    xd, _, _, code_d, _ = _minimise(x_d, loss[None, d_order], w[d_order], method, window)
    flags = []
    if code[0] == _CONCAVE:
        flags.append("concave")
    elif code[0] == _OUTSIDE:
        flags.append("outside")
    Y = loss[None, :] + _bootstrap_noise(resid[0], loss, w, st, rng, flags)
    bx, by, _, bcode, _ = _minimise(log_n, Y, w, method, window)
    bxd, _, _, bcode_d, _ = _minimise(x_d, Y[:, d_order], w[d_order], method, window)
    if method == "akima":
        # A spline minimum on the grid's edge is no minimum at all (Porian et al. drop it).
        valid = (bcode == _OK) & (bcode_d == _OK)
    else:
        # A parabola's vertex is a minimum wherever it lies; lying outside the slice is
        # judged on the point fit (flag "outside"), not draw by draw.
        valid = (bcode != _CONCAVE) & (bcode_d != _CONCAVE)
    frac = float(valid.mean())
    sd_n, sd_d = _spreads(log_n, x_d, bx, bxd, valid, float(st.sd_floor))
    if frac < 0.5:
        flags.append("unstable")
    n = log_n.size
    best = int(np.argmin(loss))
    bracket = (log_n[max(best - 1, 0)], log_n[min(best + 1, n - 1)])
    if code[0] == _OK and not (bracket[0] <= xs[0] <= bracket[1]):
        flags.append("far_from_best")
    n_lo, n_hi = percentile_interval(bx[valid], st.level)
    return {
        "log_N_star": float(xs[0]) if code[0] != _CONCAVE else math.nan,
        "log_D_star": float(xd[0]) if code_d[0] != _CONCAVE else math.nan,
        "loss_star": float(ys[0]) if code[0] != _CONCAVE else math.nan,
        "curvature": float(curv[0]),
        "log_N_star_sd": sd_n,
        "log_D_star_sd": sd_d,
        "N_star_lo": math.exp(n_lo) if math.isfinite(n_lo) else math.nan,
        "N_star_hi": math.exp(n_hi) if math.isfinite(n_hi) else math.nan,
        "frac_valid": frac,
        "flag": ",".join(flags),
        "_draws_n": bx[valid],
        "_draws_d": bxd[valid],
        "_median_n": float(np.median(bx[valid])) if valid.any() else math.nan,
        "_median_d": float(np.median(bxd[valid])) if valid.any() else math.nan,
    }


def _bootstrap_noise(r, loss, w, st: Approach2Settings, rng, flags: list[str]) -> np.ndarray:
    """``(n_boot, n)`` perturbations of the losses: resampled residuals or seed noise."""
    n = loss.size
    if st.bootstrap != "residual":
        return float(st.loss_noise) * rng.standard_normal((st.n_boot, n))
    used = np.isfinite(r)
    e = r[used] * np.sqrt(w[used])
    dof = e.size - 3
    # Residuals at rounding level (noise-free data on an exact parabola) are no noise.
    if dof <= 0 or np.max(np.abs(e), initial=0.0) <= 1e-12 * max(1.0, float(np.max(loss))):
        flags.append("exact_fit")
        e = np.zeros(1)
    else:
        # Centred and inflated by sqrt(m / (m - 3)): raw residuals of a 3-coefficient
        # fit understate the noise.
        e = (e - e.mean()) * math.sqrt(e.size / dof)
    return rng.choice(e, size=(st.n_boot, n), replace=True) / np.sqrt(w)[None, :]


def _spreads(log_n, x_d, bx, bxd, valid, sd_floor: float) -> tuple[float, float]:
    """sd of log N* and log D* over the valid draws, floored, inflated by 1 / frac_valid."""
    n = log_n.size
    frac = float(valid.mean())
    spacing_n = float(np.mean(np.diff(log_n))) if n > 1 else 0.0
    spacing_d = float(np.mean(np.diff(x_d))) if n > 1 else 0.0
    if valid.sum() >= 2:
        sd_n = max(float(np.std(bx[valid], ddof=1)), sd_floor * spacing_n) / frac
        sd_d = max(float(np.std(bxd[valid], ddof=1)), sd_floor * spacing_d) / frac
        return sd_n, sd_d
    return math.nan, math.nan


# ---------------------------------------------------------------------- the result
@dataclass(frozen=True)
class Approach2Result(PowerLawAllocation):
    """Outcome of :func:`approach2`.

    Attributes:
        slices: One row per isoFLOP slice: ``budget``, ``n_sizes``, ``N_min``, ``N_max``,
            ``N_star``, ``D_star``, ``loss_star``, ``curvature`` (of loss in log N; NaN for
            the spline), ``log_N_star_sd``, ``log_D_star_sd``, ``N_star_lo``/``N_star_hi``
            (bootstrap interval at ``level``), ``frac_valid`` (bootstrap draws that found a
            minimum), ``flag`` (comma-separated: ``concave``, ``outside``, ``unstable``,
            ``far_from_best``, ``exact_fit``), ``used`` (entered the power-law fit) and
            ``weight_N``/``weight_D`` (the slice's share of the weight in the fits of
            log N* and log D*, summing to 1 over the used slices; 0 when unused).
        powerlaws: Index ``N`` and ``D``: ``exponent`` (a for N*, b for D*),
            ``exponent_lo``/``exponent_hi``, ``coefficient`` (G in y* = G C^exponent) with
            its interval, ``r2``, ``n_points`` (slices used), ``n_draws``, ``weighted``.
        draws: Bootstrap draws of ``a``, ``b``, ``log_G_N``, ``log_G_D`` (paired by index).
        options: The settings used (``weighting`` among them).
        warnings: Messages the user should read.
    """

    slices: pd.DataFrame
    powerlaws: pd.DataFrame
    draws: Mapping[str, np.ndarray] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready summary (exponents, coefficients, slices, warnings)."""
        pl = self.powerlaws.reset_index().to_dict(orient="records")
        sl = self.slices.to_dict(orient="records")
        return {
            "approach": 2,
            "powerlaws": jsonable(pl),
            "slices": jsonable(sl),
            "options": jsonable(dict(self.options)),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Approach2Settings:
    """The settings of :func:`approach2` (see its arguments), validated by :meth:`checked`."""

    method: str = "parabola"
    window: int = DEFAULT_WINDOW
    bootstrap: str | None = None
    loss_noise: float | None = None
    n_boot: int = 1000
    weighting: str | None = None
    weighted: bool | None = None
    level: float = 0.95
    on_invalid: str = "flag"
    budget_rtol: float = 0.0
    budget_column: str | None = None
    drop_small: bool = False
    sizes: str = "min"
    sd_floor: float = DEFAULT_SD_FLOOR
    observation: str = "point"
    weight_column: str | None = None
    seed: int = 0

    def checked(self) -> Approach2Settings:
        """These settings with the bootstrap default resolved, refused when invalid.

        Raises:
            FitError: An unknown choice or an out-of-range number.
        """
        if self.method not in METHODS:
            raise FitError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        bootstrap = self.bootstrap
        if bootstrap is None:
            bootstrap = "noise" if self.method == "akima" else "residual"
        if bootstrap not in BOOTSTRAPS:
            raise FitError(f"bootstrap must be one of {', '.join(BOOTSTRAPS)}, not {bootstrap!r}")
        if self.method == "akima" and bootstrap == "residual":
            raise FitError(
                "method 'akima' interpolates every point exactly, so it has no residuals to "
                "resample; use bootstrap='noise' with loss_noise=<seed-to-seed sd of the loss>"
            )
        noise = self.loss_noise
        if bootstrap == "noise" and not (
            isinstance(noise, int | float) and noise > 0 and math.isfinite(noise)
        ):
            raise FitError(
                "bootstrap='noise' needs loss_noise, the seed-to-seed standard deviation of a "
                f"loss (e.g. 0.002), not {noise!r}"
            )
        self._check_choices()
        return dataclasses.replace(
            self,
            bootstrap=bootstrap,
            level=check_level(self.level),
            weighting=self._resolved_weighting(),
            weighted=None,
        )

    def _resolved_weighting(self) -> str:
        """``weighting``, or the one the legacy ``weighted`` flag names, or the default."""
        weighting, weighted = self.weighting, self.weighted
        if weighting is not None and weighting not in WEIGHTINGS:
            raise FitError(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}")
        if weighted is not None and not isinstance(weighted, bool | np.bool_):
            raise FitError(f"weighted must be True or False, not {weighted!r}")
        legacy = None if weighted is None else ("inverse-variance" if weighted else "unweighted")
        if (
            weighting is not None
            and legacy is not None
            and (legacy == "unweighted") != (weighting == "unweighted")
        ):
            raise FitError(
                f"weighted={weighted!r} contradicts weighting={weighting!r}; give weighting only"
            )
        return weighting or legacy or DEFAULT_WEIGHTING

    def _check_choices(self) -> None:
        if self.on_invalid not in ON_INVALID:
            raise FitError(
                f"on_invalid must be one of {', '.join(ON_INVALID)}, not {self.on_invalid!r}"
            )
        if self.observation not in OBSERVATIONS:
            raise FitError(f"observation must be 'point' or 'median', not {self.observation!r}")
        if self.sizes not in SIZE_AGGREGATES:
            raise FitError(f"sizes must be 'min' or 'mean', not {self.sizes!r}")
        if not (isinstance(self.window, int) and self.window >= MIN_SIZES):
            raise FitError(
                f"window must be an integer of at least {MIN_SIZES}, not {self.window!r}"
            )
        if not (isinstance(self.n_boot, int) and self.n_boot >= 2):
            raise FitError(f"n_boot must be an integer of at least 2, not {self.n_boot!r}")
        if not (isinstance(self.sd_floor, int | float) and self.sd_floor >= 0):
            raise FitError(f"sd_floor must be a non-negative number, not {self.sd_floor!r}")

    def options(self, k: float) -> dict[str, Any]:
        """The settings as recorded in :attr:`Approach2Result.options`."""
        out = {
            name: getattr(self, name)
            for name in (
                "method", "window", "bootstrap", "loss_noise", "n_boot", "weighting", "level",
                "on_invalid", "budget_rtol",
            )
        }  # fmt: skip
        out["weighted"] = self.weighting != "unweighted"
        out["budget_column"] = self.budget_column or "C"
        out.update(
            sizes=self.sizes,
            sd_floor=self.sd_floor,
            observation=self.observation,
            seed=self.seed,
            k=k,
        )
        return out


# ---------------------------------------------------------------------- workflow
def approach2(
    runs: Any,
    *,
    method: str = "parabola",
    window: int = DEFAULT_WINDOW,
    bootstrap: str | None = None,
    loss_noise: float | None = None,
    n_boot: int = 1000,
    weighting: str | None = None,
    weighted: bool | None = None,
    level: float = 0.95,
    on_invalid: str = "flag",
    budget_rtol: float = 0.0,
    budget_column: str | None = None,
    drop_small: bool = False,
    sizes: str = "min",
    sd_floor: float = DEFAULT_SD_FLOOR,
    observation: str = "point",
    weight_column: str | None = None,
    seed: int = 0,
    k: float | None = None,
    columns: Mapping[str, str] | None = None,
) -> Approach2Result:
    """Approach 2: isoFLOP minima N*(C), D*(C) and their power laws, with intervals.

    For each isoFLOP slice (see :func:`isoflop_slices`) loss is fitted against log N (and,
    for D*, against log D) by ``method``; the minimiser's spread over ``n_boot`` bootstrap
    draws within the slice gives sd(log N*) (of the natural log; dimensionless). Then
    log N* = log G_N + a log C and log D* = log G_D + b log C are fitted by weighted least
    squares and refitted to every bootstrap draw for percentile intervals at ``level``.
    Hoffmann et al. 2022 (arXiv 2203.15556) find a = 0.49, b = 0.51 this way.

    The slices' weights (``weighting``):

    * ``"capped"`` (default) — 1/sd^2, each weight clipped to within a factor 4
      (:data:`WEIGHT_RATIO_CAP`) of the median slice's weight.
    * ``"inverse-variance"`` — 1/sd^2 (Porian et al. 2024, arXiv 2406.19146; this
      function's default before ``weighting`` existed).
    * ``"unweighted"`` — equal weights.

    Why ``"capped"``: a slice's sd comes from a bootstrap over its own few sizes (a
    6-size slice leaves 3 residual degrees of freedom), and the top slice, the most
    expensive, is the one a study cuts short. Plain 1/sd^2 can then weight the top slice
    out of the fit, the slice with the most leverage on an extrapolation. On 120
    simulated studies per noise level (``bench/approach2_weighting.py``: 6-8 budgets,
    slices of 7-12 sizes and a top slice of 5-6, parabola minimiser), the median
    |relative error| of D_opt at 1000x the top budget, clean / with one outlier in the
    top slice, was, for log-loss noise sd 0.002, 0.005, 0.01:

    * unweighted: 0.041 / 0.180, 0.104 / 0.279, 0.228 / 0.393
    * inverse-variance: 0.034 / 0.039, 0.092 / 0.104, 0.238 / 0.311
    * capped: 0.034 / 0.070, 0.101 / 0.173, 0.191 / 0.301

    with 90%-interval coverage (clean / outlier) 0.88 / 1.00, 0.91 / 0.94, 0.93 / 0.97
    (unweighted), 0.90 / 0.94, 0.91 / 0.91, 0.83 / 0.86 (inverse-variance) and
    0.90 / 0.99, 0.94 / 0.94, 0.94 / 0.93 (capped). The rule for a weighted default (beat
    unweighted with the outlier, be no worse on clean studies) holds for ``"capped"`` at
    every noise level; ``"inverse-variance"`` fails it at 0.01, where it gives the top
    slice a median 0.1% of the weight and its intervals under-cover. Its smaller errors
    at low noise with an outlier come from dropping the corrupted slice; ``"capped"``
    keeps that slice at a quarter of the median weight.

    Slices whose fit has no minimum (parabola opening downward, or a spline minimum on
    the edge of its grid) or whose bootstrap finds a minimum in fewer than half of the
    draws never enter the power law. A parabola vertex outside the sizes it was fitted on
    (the slice, or the ``"local"`` window) is flagged and kept (``on_invalid="flag"``),
    dropped (``"exclude"``), or refused (``"raise"``).

    Args:
        runs: Run log with ``N``, ``loss`` and ``C`` (or ``D`` to derive it); final
            losses (a log with checkpoints is reduced to each run's last one).
        method: ``"parabola"``, ``"local"`` (parabola on the ``window`` sizes nearest the
            lowest loss) or ``"akima"`` (Porian et al.'s spline minimum).
        window: Model sizes in the ``"local"`` fit (at least 3).
        bootstrap: ``"residual"`` (resample the parabola's residuals; the default for the
            parabola methods) or ``"noise"`` (add N(0, loss_noise^2) to each loss; the
            default, and the only choice, for ``"akima"``, which has no residuals).
        loss_noise: Standard deviation of a loss between seeds, in loss units, for
            ``bootstrap="noise"``.
        n_boot: Bootstrap draws per slice.
        weighting: ``"capped"``, ``"inverse-variance"`` or ``"unweighted"`` (above);
            None takes ``weighted``, or else the default, ``"capped"``.
        weighted: Legacy switch: True is ``"inverse-variance"``, False ``"unweighted"``;
            refused when it contradicts ``weighting``.
        level: Interval level (0.95 gives 2.5% and 97.5% percentiles).
        on_invalid: ``"flag"``, ``"exclude"`` or ``"raise"`` for minimisers outside the
            slice's range (and, for ``"raise"``, for slices without a minimum).
        budget_rtol: Tolerance for grouping budgets into slices (0 = exact values).
        budget_column: Column with the nominal budget (default ``C``).
        drop_small: Skip slices with fewer than 3 distinct sizes (with a warning) instead
            of refusing them.
        sizes: Several runs of one size in a slice (e.g. a learning-rate sweep): keep the
            ``"min"`` loss (the best tuned run) or the ``"mean"``.
        sd_floor: Floor of sd(log N*) as a fraction of the slice's mean log-N spacing,
            so that no slice gets unbounded weight (Porian et al. used 0.33).
        observation: The optimum entering the fit: the ``"point"`` fit on the data, or the
            ``"median"`` of the bootstrap draws (Porian et al.).
        weight_column: Optional per-run weights for the parabola (e.g. inverse loss
            variances); all ones by default.
        seed: Seed of the bootstrap.
        k: FLOPs per parameter per token, when C must be derived from N and D.
        columns: Explicit ``{canonical: column}`` names, passed to ``load_runs``.

    Returns:
        An :class:`Approach2Result`.

    Raises:
        FitError: Bad options, a slice with fewer than 3 model sizes, fewer than 2
            usable slices, or (with ``on_invalid="raise"``) a slice without a valid
            minimum.
    """
    settings = Approach2Settings(
        method=method,
        window=window,
        bootstrap=bootstrap,
        loss_noise=loss_noise,
        n_boot=n_boot,
        weighting=weighting,
        weighted=weighted,
        level=level,
        on_invalid=on_invalid,
        budget_rtol=budget_rtol,
        budget_column=budget_column,
        drop_small=drop_small,
        sizes=sizes,
        sd_floor=sd_floor,
        observation=observation,
        weight_column=weight_column,
        seed=seed,
    )
    return approach2_with(runs, settings, k=k, columns=columns)


def approach2_with(
    runs: Any,
    settings: Approach2Settings,
    *,
    k: float | None = None,
    columns: Mapping[str, str] | None = None,
) -> Approach2Result:
    """:func:`approach2` with its settings in one :class:`Approach2Settings`."""
    st = settings.checked()
    df = isoflop_slices(
        runs, budget_rtol=st.budget_rtol, budget_column=st.budget_column, k=k, columns=columns
    )
    df["_w"] = _run_weights(df, st.weight_column)
    rows, messages = _slice_rows(df, st)
    messages += _mark_used(rows, st)
    used = [r for r in rows if r["used"]]
    if len(used) < 2:
        raise FitError(
            f"only {len(used)} isoFLOP slice(s) have a usable minimum; the power laws "
            "N*(C), D*(C) need at least 2 budgets"
        )
    if len(used) == 2:
        messages.append("only 2 isoFLOP slices: the exponents have no residual degrees of freedom")
    powerlaws, draws = _powerlaws(used, st)
    for msg in messages:
        warnings.warn(msg, ScalingLawsWarning, stacklevel=3)
    return Approach2Result(
        slices=_slices_table(rows),
        powerlaws=powerlaws,
        draws=draws,
        options=st.options(float(df.attrs.get("k", 6.0))),
        warnings=tuple(messages),
    )


def _run_weights(df: pd.DataFrame, weight_column: str | None) -> np.ndarray | float:
    """Per-run weights of the slice fits: the named column, checked, or all ones."""
    if weight_column is None:
        return 1.0
    if weight_column not in df.columns:
        raise FitError(f"weight column {weight_column!r} not found; columns are {list(df.columns)}")
    wcol = pd.to_numeric(df[weight_column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(wcol) & (wcol > 0)))
    if bad.size:
        raise FitError(f"row {int(bad[0])}, column {weight_column!r}: weights must be > 0")
    return wcol


def _by_size(g: pd.DataFrame, sizes: str):
    """One slice reduced to distinct sizes: ``(N, loss, D, weight)`` per size."""
    sizes_all, inverse = np.unique(g["N"].to_numpy(dtype=float), return_inverse=True)
    n_sizes = sizes_all.size
    loss_all = g["loss"].to_numpy(dtype=float)
    counts = np.bincount(inverse, minlength=n_sizes)
    if sizes == "min":
        loss_by_size = np.full(n_sizes, np.inf)
        np.minimum.at(loss_by_size, inverse, loss_all)
    else:
        loss_by_size = np.bincount(inverse, weights=loss_all, minlength=n_sizes) / counts
    d_by_size = np.exp(
        np.bincount(inverse, weights=np.log(g["D"].to_numpy(dtype=float)), minlength=n_sizes)
        / counts
    )
    w_by_size = (
        np.bincount(inverse, weights=g["_w"].to_numpy(dtype=float), minlength=n_sizes) / counts
    )
    return sizes_all, loss_by_size, d_by_size, w_by_size


def _slice_rows(df: pd.DataFrame, st: Approach2Settings) -> tuple[list[dict], list[str]]:
    """Fit every slice with enough sizes; ``(rows, messages)``."""
    rng = np.random.default_rng(st.seed)
    rows, messages = [], []
    for s, g in df.groupby("slice", sort=True):
        budget = float(g["budget"].iloc[0])
        sizes_all, loss_by_size, d_by_size, w_by_size = _by_size(g, st.sizes)
        n_sizes = sizes_all.size
        if n_sizes < MIN_SIZES:
            msg = (
                f"isoFLOP slice at C = {budget:.4g} has {n_sizes} distinct model size"
                f"{'s' if n_sizes != 1 else ''}; fitting a minimum needs at least {MIN_SIZES}"
            )
            if not st.drop_small:
                raise FitError(msg + " (drop_small=True skips such slices)")
            messages.append(msg + "; slice skipped")
            continue
        log_n = np.log(sizes_all)
        res = _fit_slice(log_n, np.log(d_by_size), loss_by_size, w_by_size, st, rng)
        res.update(
            {
                "slice": int(s),
                "budget": budget,
                "n_runs": len(g),
                "n_sizes": n_sizes,
                "N_min": float(np.exp(log_n[0])),
                "N_max": float(np.exp(log_n[-1])),
            }
        )
        rows.append(res)
    if not rows:
        raise FitError("no isoFLOP slice with at least 3 model sizes: Approach 2 cannot run")
    return rows, messages


def _mark_used(rows: list[dict], st: Approach2Settings) -> list[str]:
    """Set each row's ``used``; the messages about slices the user should read."""
    messages = []
    for r in rows:
        flags = set(filter(None, r["flag"].split(",")))
        unusable = bool(flags & {"concave", "unstable"}) or not math.isfinite(r["log_N_star_sd"])
        if st.on_invalid == "raise" and flags & {"concave", "outside", "unstable"}:
            raise FitError(
                f"isoFLOP slice at C = {r['budget']:.4g}: no usable minimum ({r['flag']}); "
                "use on_invalid='flag' or 'exclude', or add model sizes around the optimum"
            )
        # A spline minimum on the edge of its grid locates nothing (Porian et al. drop
        # such budgets); a parabola's vertex beyond the sizes is an extrapolation.
        if "outside" in flags and (st.on_invalid == "exclude" or st.method == "akima"):
            unusable = True
        r["used"] = not unusable
        if flags - {"far_from_best"}:
            messages.append(
                f"isoFLOP slice at C = {r['budget']:.4g}: {r['flag']}"
                + ("" if r["used"] else " (not used in the power law)")
            )
        elif "far_from_best" in flags:
            messages.append(
                f"isoFLOP slice at C = {r['budget']:.4g}: the fitted minimum lies more than "
                "one size step from the best observed size (noise, or a slice that "
                f"method={st.method!r} does not describe: compare method='local')"
            )
    return messages


def _powerlaws(used: list[dict], st: Approach2Settings):
    """The power laws through the used slices' optima, and their bootstrap draws."""
    log_c = np.log([r["budget"] for r in used])
    n_key, d_key = (
        ("_median_n", "_median_d") if st.observation == "median" else ("log_N_star", "log_D_star")
    )
    obs_n = np.array([r[n_key] for r in used])
    obs_d = np.array([r[d_key] for r in used])
    w_n, w_d = _slice_weights(used, st.weighting)
    for q, w in (("N", w_n), ("D", w_d)):
        share = np.full(len(used), 1.0 / len(used)) if w is None else w / np.sum(w)
        for r, v in zip(used, share, strict=True):
            r[f"weight_{q}"] = float(v)

    m = min(min(r["_draws_n"].size for r in used), st.n_boot)
    draws: dict[str, np.ndarray] = {}
    if m >= 2:
        dn = np.stack([r["_draws_n"][:m] for r in used])
        dd = np.stack([r["_draws_d"][:m] for r in used])
        draws["a"], draws["log_G_N"] = fit_loglinear(log_c, dn, w_n)
        draws["b"], draws["log_G_D"] = fit_loglinear(log_c, dd, w_d)
    obs, weights = {"N": obs_n, "D": obs_d}, {"N": w_n, "D": w_d}
    return powerlaw_rows(log_c, obs, weights, draws, st.level), draws


def _slice_weights(used: list[dict], weighting: str | None):
    """Weights of the used slices in the fits of log N* and log D* (None: equal).

    ``"inverse-variance"``: 1/sd^2, each slice's sd of log N* (log D*) as in
    ``log_N_star_sd``. ``"capped"``: the same weights clipped to within a factor
    :data:`WEIGHT_RATIO_CAP` of their median, so no slice is weighted out of the fit
    (or dominates it) on a bootstrap sd estimated from a handful of sizes.
    """
    if weighting == "unweighted":
        return None, None
    sd_n = np.array([r["log_N_star_sd"] for r in used])
    sd_d = np.array([r["log_D_star_sd"] for r in used])
    w_n, w_d = 1.0 / sd_n**2, 1.0 / sd_d**2
    if weighting == "capped":
        w_n, w_d = _capped(w_n), _capped(w_d)
    return w_n, w_d


def _capped(w: np.ndarray) -> np.ndarray:
    """Weights clipped to within :data:`WEIGHT_RATIO_CAP` of their median."""
    mid = float(np.median(w))
    return np.clip(w, mid / WEIGHT_RATIO_CAP, mid * WEIGHT_RATIO_CAP)


def _slices_table(rows: list[dict]) -> pd.DataFrame:
    cols = [
        "slice", "budget", "n_runs", "n_sizes", "N_min", "N_max", "N_star", "D_star",
        "loss_star", "curvature", "log_N_star_sd", "log_D_star_sd", "N_star_lo",
        "N_star_hi", "frac_valid", "flag", "used", "weight_N", "weight_D",
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    for q in ("N", "D"):
        col = f"weight_{q}"
        table[col] = table[col].fillna(0.0) if col in table else 0.0
    table["N_star"] = np.exp(table["log_N_star"])
    table["D_star"] = np.exp(table["log_D_star"])
    return table[cols]
