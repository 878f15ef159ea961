"""Figures for Chinchilla-form laws: L(N, D) = E + A / N^alpha + B / D^beta.

Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv 2203.15556.
With C = k N D the compute-optimal allocation has the closed form

    G = (alpha A / (beta B))^(1/(alpha+beta)),
    N_opt(C) = G (C/k)^(beta/(alpha+beta)),   D_opt(C) = G^-1 (C/k)^(alpha/(alpha+beta)),

and every figure here draws from it (the pure functions of
:mod:`scalinglaws.laws.chinchilla`). Every function takes ``ax=None`` (or ``axes=None``),
draws on the given Axes or on a new figure, and returns what it drew on; nothing is shown
or saved here.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.result import FitResult
from scalinglaws.laws.chinchilla import FrontierInputs, compute_optimal, loss_at

Axes = Any  # matplotlib.axes.Axes; kept loose so importing this module stays cheap

_FORM_PARAMS = ("E", "A", "B", "alpha", "beta")
LOSS_LABEL = "loss (nats/token)"
N_LABEL = "model size N (parameters)"
D_LABEL = "training tokens D"
C_LABEL = "training compute C (FLOPs)"
#: Colour of the compute-optimal frontier and of uncertainty bands.
FRONTIER_COLOR = "#d62728"


# ---------------------------------------------------------------------- closed forms
def optimal_allocation(
    params: Mapping[str, Any], compute: Any, k: float = 6.0
) -> dict[str, np.ndarray]:
    """Compute-optimal N, D, tokens per parameter and loss for each budget (and draw).

    N_opt(C) = G (C/k)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)),
    D_opt = G^-1 (C/k)^(alpha/(alpha+beta)), loss = E + A N_opt^-alpha + B D_opt^-beta
    (Hoffmann et al. 2022, arXiv 2203.15556, eq. 4), evaluated by
    :func:`scalinglaws.laws.chinchilla.compute_optimal` in float64.

    Args:
        params: ``E, A, B, alpha, beta`` as scalars (a point fit) or equal-length arrays
            (draws).
        compute: Budgets C in FLOPs, shape ``(M,)``.
        k: FLOPs per parameter per token.

    Returns:
        ``{"N_opt", "D_opt", "tokens_per_param", "loss"}``, each ``(M,)`` for scalar
        parameters or ``(n_draws, M)`` for draws. A draw without a frontier (a
        non-positive exponent or coefficient) gives NaN in its row.
    """
    p = {name: np.asarray(params[name], dtype=float)[..., None] for name in _FORM_PARAMS}
    with jax.enable_x64(True):
        n_opt, d_opt = compute_optimal(p, np.asarray(compute, dtype=float), k)
        loss = loss_at(p, n_opt, d_opt)
        n_opt, d_opt, loss = (np.asarray(v, dtype=float) for v in (n_opt, d_opt, loss))
    return {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt, "loss": loss}


def chinchilla_form_loss(params: Mapping[str, Any], n: Any, d: Any) -> np.ndarray:
    """L(N, D) = E + A / N^alpha + B / D^beta as a numpy array (broadcasting)."""
    p = {name: float(params[name]) for name in _FORM_PARAMS}
    with jax.enable_x64(True):
        values = loss_at(p, np.asarray(n, dtype=float), np.asarray(d, dtype=float))
        return np.asarray(values, dtype=float)


# ---------------------------------------------------------------------- helpers
def _point_params(source: FitResult | Mapping[str, float]) -> dict[str, float]:
    params = source.params if isinstance(source, FitResult) else source
    missing = [n for n in _FORM_PARAMS if n not in params]
    if missing:
        name = source.law.name if isinstance(source, FitResult) else "the given parameters"
        raise ScalingLawsError(
            f"Chinchilla-form figures need parameters {list(_FORM_PARAMS)}; {name} lack {missing}"
        )
    return {n: float(params[n]) for n in _FORM_PARAMS}


def _k_of(source: FitResult | Mapping[str, float], k: float | None) -> float:
    if k is not None:
        return float(k)
    return source.k if isinstance(source, FitResult) else 6.0


def _runs_of(result: FitResult, runs: pd.DataFrame | None, k: float) -> pd.DataFrame | None:
    """The runs to draw, with canonical ``N, D, C, loss`` columns (size/data inputs mapped)."""
    df = runs if runs is not None else result.data
    if df is None:
        return None
    roles = result.law.derived.get("inputs")
    # A law that does not declare which input is which is read as Chinchilla's (N, D).
    roles = roles if isinstance(roles, FrontierInputs) else FrontierInputs("N", "D")
    size, data = roles.size, roles.tokens
    target = result.law.target
    missing = [c for c in (size, data, target) if c not in df.columns]
    if missing:
        raise ScalingLawsError(f"runs to plot lack columns {missing} (found {list(df.columns)})")
    out = pd.DataFrame(
        {
            "N": df[size].to_numpy(dtype=float),
            "D": df[data].to_numpy(dtype=float),
            "loss": df[target].to_numpy(dtype=float),
        }
    )
    out["C"] = df["C"].to_numpy(dtype=float) if "C" in df.columns else k * out["N"] * out["D"]
    return out


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def format_flops(c: float) -> str:
    """A FLOP count as matplotlib mathtext: ``6e18`` -> ``$6\\times10^{18}$``."""
    exp = math.floor(math.log10(c))
    mant = round(c / 10**exp, 1)
    if mant >= 10:  # 9.97e18 rounds up to the next power of ten
        exp, mant = exp + 1, 1.0
    mant_s = f"{mant:.0f}" if mant == int(mant) else f"{mant:.1f}"
    if mant_s == "1":
        return f"$10^{{{exp}}}$"
    return f"${mant_s}\\times10^{{{exp}}}$"


def isoflop_slices(
    compute: Any,
    *,
    tol_decades: float = 0.02,
    min_runs: int = 5,
    max_slices: int = 6,
) -> list[tuple[float, np.ndarray]]:
    """Group runs into isoFLOP slices by their compute.

    Runs whose log10 C lie within ``tol_decades`` of a neighbour form one group; groups
    with at least ``min_runs`` runs spanning no more than ``5 * tol_decades`` are slices
    (a wider chain is a scatter of budgets, not a slice). At most ``max_slices`` are kept,
    spread evenly over log C. :func:`isoflop_omitted` lists the groups left out and why.

    Returns:
        ``[(budget C (geometric mean of the group), row indices), ...]`` by increasing C.
    """
    return _isoflop_groups(compute, tol_decades, min_runs, max_slices)[0]


@dataclass(frozen=True)
class OmittedBudget:
    """A group of runs at nearly one compute that :func:`isoflop_slices` leaves out.

    Attributes:
        budget: Geometric mean of the group's compute C, in FLOPs.
        n_runs: Runs in the group.
        c_min: Smallest compute in the group, in FLOPs.
        c_max: Largest compute in the group, in FLOPs.
        reason: ``"few_runs"`` (fewer than ``min_runs`` runs), ``"spread"`` (a chain of
            runs spanning more than ``5 * tol_decades`` decades of C, not one budget) or
            ``"max_slices"`` (a slice dropped to keep at most ``max_slices``).
    """

    budget: float
    n_runs: int
    c_min: float
    c_max: float
    reason: str


def isoflop_omitted(
    compute: Any,
    *,
    tol_decades: float = 0.02,
    min_runs: int = 5,
    max_slices: int = 6,
) -> list[OmittedBudget]:
    """The groups of runs that :func:`isoflop_slices` (same arguments) does not return.

    Returns:
        One :class:`OmittedBudget` per group left out, by increasing budget; ``[]`` when
        every group became a slice.
    """
    return _isoflop_groups(compute, tol_decades, min_runs, max_slices)[1]


def _isoflop_groups(
    compute: Any, tol_decades: float, min_runs: int, max_slices: int
) -> tuple[list[tuple[float, np.ndarray]], list[OmittedBudget]]:
    """The slices of :func:`isoflop_slices` and the groups left out of them."""
    c = np.asarray(compute, dtype=float)
    if c.size == 0:
        return [], []
    order = np.argsort(c)
    logc = np.log10(c[order])
    cuts = np.flatnonzero(np.diff(logc) > tol_decades) + 1
    slices = []
    omitted = []
    for idx in np.split(np.arange(c.size), cuts):
        lc = logc[idx]
        budget = float(10 ** lc.mean())
        if idx.size >= min_runs and lc[-1] - lc[0] <= 5 * tol_decades:
            slices.append((budget, np.sort(order[idx])))
            continue
        reason = "few_runs" if idx.size < min_runs else "spread"
        omitted.append(
            OmittedBudget(budget, int(idx.size), float(10 ** lc[0]), float(10 ** lc[-1]), reason)
        )
    if len(slices) > max_slices:
        pick = np.unique(np.round(np.linspace(0, len(slices) - 1, max_slices)).astype(int))
        for i in sorted(set(range(len(slices))) - set(pick.tolist())):
            b, rows = slices[i]
            cr = c[rows]
            omitted.append(
                OmittedBudget(b, int(rows.size), float(cr.min()), float(cr.max()), "max_slices")
            )
        slices = [slices[i] for i in pick]
    return slices, sorted(omitted, key=lambda o: o.budget)


def _flops_text(c: float) -> str:
    """A FLOP count as plain text with three significant digits: ``3.16e18``, ``1e21``."""
    exp = math.floor(math.log10(c))
    mant = float(f"{c / 10**exp:.3g}")
    if mant >= 10:  # 9.999e18 rounds up to the next power of ten
        exp, mant = exp + 1, 1.0
    return f"{mant:g}e{exp}"


def _budget_list(budgets: Sequence[float], limit: int = 6) -> str:
    """``"1e18, 3e18 FLOPs"``; past ``limit`` values, ``"1e18, ... FLOPs and 4 more"``."""
    shown = ", ".join(_flops_text(c) for c in budgets[:limit])
    more = len(budgets) - limit
    return f"{shown} FLOPs and {more} more" if more > 0 else f"{shown} FLOPs"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _omission_note(
    omitted: Sequence[OmittedBudget], n_drawn: int, min_runs: int, max_slices: int
) -> str:
    """One sentence naming the groups of runs left out of the isoFLOP profiles, and why."""
    parts = []
    few = [o.budget for o in omitted if o.reason == "few_runs"]
    if few:
        parts.append(
            f"{_plural(len(few), 'budget')} with fewer than {min_runs} runs ({_budget_list(few)})"
        )
    dropped = [o.budget for o in omitted if o.reason == "max_slices"]
    if dropped:
        found = n_drawn + len(dropped)
        parts.append(
            f"{len(dropped)} of {found} budgets with {min_runs} or more runs, as at most "
            f"{max_slices} are drawn ({_budget_list(dropped)})"
        )
    for o in omitted:
        if o.reason == "spread":
            parts.append(
                f"{o.n_runs} runs spread from {_flops_text(o.c_min)} to "
                f"{_flops_text(o.c_max)} FLOPs (not one budget)"
            )
    return f"Not drawn: {'; '.join(parts)}." if parts else ""


def isoflop_profiles_note(
    result: FitResult,
    *,
    runs: pd.DataFrame | None = None,
    k: float | None = None,
    tol_decades: float = 0.02,
) -> str:
    """The note :func:`plot_isoflop_profiles` writes under its figure with default budgets.

    It names the budgets in the runs that the figure does not draw and why (see
    :func:`isoflop_omitted`), or says that no budget has enough runs for a slice and the
    curves sit at budgets spaced over the runs' compute instead.

    Args:
        result: A fitted Chinchilla-form law.
        runs: Runs drawn (default: the runs fitted).
        k: FLOPs per parameter per token (default: the fit's).
        tol_decades: As in :func:`plot_isoflop_profiles`.

    Returns:
        The note, one sentence; ``""`` when every budget in the runs is drawn or there
        are no runs.
    """
    data = _runs_of(result, runs, _k_of(result, k))
    if data is None:
        return ""
    return _profiles_note(data, tol_decades)


#: Fewest runs of an isoFLOP slice, and most slices, in the profiles' default budgets.
_PROFILE_MIN_RUNS = 5
_PROFILE_MAX_SLICES = 6


def _profiles_note(data: pd.DataFrame, tol_decades: float) -> str:
    min_runs, max_slices = _PROFILE_MIN_RUNS, _PROFILE_MAX_SLICES
    slices, omitted = _isoflop_groups(data["C"], tol_decades, min_runs, max_slices)
    if not slices and len(data):
        c = data["C"].to_numpy(dtype=float)
        return (
            f"No budget has {min_runs} or more runs within {tol_decades:g} decades of "
            f"compute; curves at 4 budgets spaced evenly in log C from "
            f"{_flops_text(c.min())} to {_flops_text(c.max())} FLOPs."
        )
    return _omission_note(omitted, len(slices), min_runs, max_slices)


# ---------------------------------------------------------------------- figures
def plot_loss_contours(
    source: FitResult | Mapping[str, float],
    *,
    k: float | None = None,
    n_range: tuple[float, float] | None = None,
    d_range: tuple[float, float] | None = None,
    budgets: Sequence[float] | None = None,
    show_runs: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Loss contours over (N, D) with the compute-optimal frontier and isoFLOP lines.

    Draws L(N, D) = E + A/N^alpha + B/D^beta as filled contours on log axes, the
    frontier (N_opt(C), D_opt(C)) with N_opt = G (C/k)^(beta/(alpha+beta)), and the
    isoFLOP lines D = C / (k N) for a few budgets (Hoffmann et al. 2022, arXiv 2203.15556,
    Figure 2 right and Figure 4).

    Args:
        source: A fitted Chinchilla-form law, or a parameter dict (e.g.
            ``laws.HOFFMANN_2022``).
        k: FLOPs per parameter per token (default: the fit's, else 6).
        n_range: Model sizes spanned; default: the runs' range widened by 10x each way.
        d_range: Token counts spanned; default likewise.
        budgets: Compute budgets drawn as isoFLOP lines; default: one per decade inside
            the plotted region.
        show_runs: Scatter the fitted runs (when ``source`` carries them).
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The Axes. The frontier line is labelled ``"compute-optimal frontier"``.
    """
    params = _point_params(source)
    kk = _k_of(source, k)
    runs = _runs_of(source, None, kk) if isinstance(source, FitResult) else None
    if n_range is None:
        n_range = (runs["N"].min() / 10, runs["N"].max() * 10) if runs is not None else (1e7, 1e12)
    if d_range is None:
        d_range = (runs["D"].min() / 10, runs["D"].max() * 10) if runs is not None else (1e8, 1e13)
    ax = _new_axes(ax, (7.0, 5.4))
    n = np.geomspace(*n_range, 240)
    _draw_loss_surface(ax, params, n, np.geomspace(*d_range, 240))
    if budgets is None:
        budgets = _contour_budgets(runs, kk * n_range[0] * d_range[0], kk * n_range[1] * d_range[1])
    for i, c in enumerate(budgets):
        _draw_isoflop_line(ax, params, c, kk, n, n_range, d_range, first=i == 0)
    _draw_frontier(ax, params, kk, n_range, d_range)
    if show_runs and runs is not None:
        ax.scatter(
            runs["N"],
            runs["D"],
            s=10,
            facecolor="white",
            edgecolor="black",
            linewidth=0.5,
            label=f"fitted runs ({len(runs)})",
            zorder=3,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*n_range)
    ax.set_ylim(*d_range)
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel(D_LABEL)
    a_exp = params["beta"] / (params["alpha"] + params["beta"])
    ax.set_title(
        "Predicted loss over model size and tokens\n"
        f"frontier $N_{{opt}} \\propto C^{{{a_exp:.3f}}}$; red dots: optimum on each isoFLOP line",
        fontsize=10,
    )
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    return ax


def _draw_loss_surface(ax: Axes, params: Mapping[str, float], n: Any, d: Any) -> None:
    """Filled contours of L(N, D) with labelled contour lines and a colour bar."""
    nn, dd = np.meshgrid(n, d)
    loss = chinchilla_form_loss(params, nn, dd)
    # Levels evenly spaced in log(L - E): the interesting region sits just above E, where
    # evenly spaced levels in L would all crowd into the small-model corner.
    excess_lo, excess_hi = np.nanpercentile(loss - params["E"], [0.5, 95])
    levels = params["E"] + np.geomspace(max(excess_lo, 1e-6), excess_hi, 15)
    filled = ax.contourf(nn, dd, loss, levels=levels, cmap="viridis_r", extend="both")
    lines = ax.contour(nn, dd, loss, levels=levels[1::2], colors="white", linewidths=0.6)
    ax.clabel(lines, fmt="%.2f", fontsize=7, inline=True)
    cbar = ax.figure.colorbar(filled, ax=ax, format="%.2f")
    cbar.set_label(f"predicted {LOSS_LABEL}")


def _draw_frontier(
    ax: Axes,
    params: Mapping[str, float],
    k: float,
    n_range: tuple[float, float],
    d_range: tuple[float, float],
) -> None:
    """The compute-optimal frontier (N_opt(C), D_opt(C)) inside the plotted region."""
    c_grid = np.geomspace(k * n_range[0] * d_range[0], k * n_range[1] * d_range[1], 400)
    front = optimal_allocation(params, c_grid, k)
    inside = (
        (front["N_opt"] >= n_range[0])
        & (front["N_opt"] <= n_range[1])
        & (front["D_opt"] >= d_range[0])
        & (front["D_opt"] <= d_range[1])
    )
    ax.plot(
        front["N_opt"][inside],
        front["D_opt"][inside],
        color=FRONTIER_COLOR,
        linewidth=2.2,
        label="compute-optimal frontier",
    )


def _contour_budgets(runs: pd.DataFrame | None, c_lo: float, c_hi: float) -> list[float]:
    """One isoFLOP line per decade (at most six): of the runs' compute when there are
    runs, else of the plotted region (skipping the corners, where a line barely shows)."""
    if runs is not None:
        first = math.floor(math.log10(runs["C"].min()))
        last = math.ceil(math.log10(runs["C"].max()))
    else:
        first = math.ceil(math.log10(c_lo)) + 1
        last = math.floor(math.log10(c_hi)) - 1
    decades = np.arange(first, last + 1)
    step = max(1, math.ceil(len(decades) / 6))
    return [10.0**e for e in decades[::step]]


def _draw_isoflop_line(
    ax: Axes,
    params: Mapping[str, float],
    c: float,
    k: float,
    n: Any,
    n_range: tuple[float, float],
    d_range: tuple[float, float],
    *,
    first: bool,
) -> None:
    """The line D = C/(kN), its compute-optimal point, and a label where it leaves the plot."""
    ax.plot(
        n,
        c / (k * n),
        color="0.15",
        linestyle="--",
        linewidth=0.9,
        label="isoFLOP lines D = C/(kN)" if first else None,
    )
    opt = optimal_allocation(params, [c], k)
    ax.plot(opt["N_opt"], opt["D_opt"], "o", color=FRONTIER_COLOR, markersize=4)
    # label each line where it leaves the top of the plot (or the right edge)
    n_top = c / (k * d_range[1])
    x_at, y_at = (n_top, d_range[1]) if n_top > n_range[0] else (n_range[0], c / (k * n_range[0]))
    if n_range[0] <= x_at <= n_range[1]:
        ax.annotate(
            f"{format_flops(c)} FLOPs",
            (x_at, y_at),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=7,
            color="0.1",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "linewidth": 0},
        )


def plot_isoflop_profiles(
    result: FitResult,
    *,
    budgets: Sequence[float] | None = None,
    runs: pd.DataFrame | None = None,
    k: float | None = None,
    tol_decades: float = 0.02,
    n_range: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """IsoFLOP profiles: loss against model size at fixed compute, data and fitted law.

    For each budget C the law's curve is L(N, C/(kN)) = E + A N^-alpha + B (C/(kN))^-beta,
    with its minimum at N_opt(C) marked (Hoffmann et al. 2022, arXiv 2203.15556,
    Figure 3). Runs within ``tol_decades`` of a budget (in log10 C) are drawn with it.
    With the default budgets, a note under the x-axis label names the budgets in the runs
    that are not drawn and why (:func:`isoflop_profiles_note`).

    Args:
        result: A fitted Chinchilla-form law.
        budgets: Compute budgets; default: the isoFLOP slices found in the runs
            (:func:`isoflop_slices`), or four decades around them when none are found.
        runs: Runs to draw (default: the runs fitted).
        k: FLOPs per parameter per token (default: the fit's).
        tol_decades: How close (in decades of C) a run must be to a budget to be drawn.
        n_range: Model sizes spanned by the curves; default: the runs' range widened 2x.
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The Axes; each law curve is labelled ``"C = ... FLOPs"``; the note, when there is
        one, is the Axes text with gid ``"isoflop-omitted"``.
    """
    params = _point_params(result)
    kk = _k_of(result, k)
    data = _runs_of(result, runs, kk)
    note = _profiles_note(data, tol_decades) if budgets is None and data is not None else ""
    budgets = _profile_budgets(data, budgets, tol_decades)
    if n_range is None:
        if data is not None:
            n_range = (data["N"].min() / 2, data["N"].max() * 2)
        else:
            n_mid = optimal_allocation(params, budgets, kk)["N_opt"]
            n_range = (np.nanmin(n_mid) / 30, np.nanmax(n_mid) * 30)
    ax = _new_axes(ax, (7.0, 5.0))
    import matplotlib as mpl

    cmap = mpl.colormaps["plasma"]
    colors = [cmap(x) for x in np.linspace(0.0, 0.85, len(budgets))]
    n = np.geomspace(*n_range, 300)
    lows, highs = [], []
    for c, color in zip(budgets, colors, strict=True):
        low, high = _draw_profile(ax, params, c, kk, n, color, data, tol_decades)
        lows.extend(low)
        highs.extend(high)
    ax.set_xscale("log")
    ax.set_xlim(*n_range)
    lo, hi = min(lows), max(highs)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.25 * (hi - lo))
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel(f"final {LOSS_LABEL}")
    ax.set_title(
        "IsoFLOP profiles: loss vs model size at fixed compute\n"
        "dots: runs; lines: fitted law; stars: law's compute-optimal size",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper right", title="compute budget", title_fontsize=8)
    if note:
        # under the x-axis label, so it stays clear of the data and the layout makes room
        ax.annotate(
            textwrap.fill(note, 110),
            xy=(0.5, 0.0),
            xycoords=ax.xaxis.label,
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7.5,
            color="0.2",
            gid="isoflop-omitted",
        )
    return ax


def _profile_budgets(
    data: pd.DataFrame | None, budgets: Sequence[float] | None, tol_decades: float
) -> list[float]:
    """The given budgets, else the runs' isoFLOP slices, else four decades around them."""
    if budgets is None:
        slices = (
            isoflop_slices(
                data["C"],
                tol_decades=tol_decades,
                min_runs=_PROFILE_MIN_RUNS,
                max_slices=_PROFILE_MAX_SLICES,
            )
            if data is not None
            else []
        )
        if slices:
            budgets = [c for c, _ in slices]
        elif data is not None:
            budgets = list(np.geomspace(data["C"].min(), data["C"].max(), 4))
        else:
            budgets = [1e18, 1e19, 1e20, 1e21]
    return sorted(float(c) for c in budgets)


def _draw_profile(
    ax: Axes,
    params: Mapping[str, float],
    c: float,
    k: float,
    n: Any,
    color: Any,
    data: pd.DataFrame | None,
    tol_decades: float,
) -> tuple[list[float], list[float]]:
    """One budget's law curve, its optimum and its runs; the losses that frame the plot."""
    curve = chinchilla_form_loss(params, n, c / (k * n))
    shown = None
    if data is not None:
        near = np.abs(np.log10(data["C"].to_numpy() / c)) <= tol_decades
        shown = data[near]
    count = f", {len(shown)} runs" if shown is not None and len(shown) else ""
    ax.plot(n, curve, color=color, linewidth=1.6, label=f"C = {format_flops(c)} FLOPs{count}")
    opt = optimal_allocation(params, [c], k)
    ax.plot(
        opt["N_opt"],
        opt["loss"],
        marker="*",
        color=color,
        markersize=11,
        markeredgecolor="black",
        markeredgewidth=0.5,
        linestyle="none",
    )
    lows, highs = [], []
    if shown is not None and len(shown):
        ax.scatter(
            shown["N"], shown["loss"], color=color, s=18, edgecolor="black", linewidth=0.4, zorder=3
        )
        lows.append(shown["loss"].min())
        highs.append(shown["loss"].max())
    lows.append(float(np.nanmin(curve)))
    if shown is None or not len(shown):
        # no runs to frame: keep the steep ends from flattening the minimum
        highs.append(float(np.nanmin(curve)) + 0.4 * float(np.ptp(curve)))
    return lows, highs


def plot_parity(result: FitResult, *, axes: Sequence[Axes] | None = None) -> tuple[Axes, Axes]:
    """Predicted against observed loss, and residuals against compute.

    Left: each run's predicted loss L(N, D) against its observed loss, with the line of
    equality. Right: the residual log(observed / predicted) against C = k N D, with the
    RMS residual marked; a trend across C warns that extrapolating to larger budgets is
    unsafe.

    Args:
        result: A fitted law that carries its runs (``result.data``).
        axes: Two Axes (parity, residuals); a new figure with both when ``None``.

    Returns:
        ``(parity_axes, residual_axes)``.

    Raises:
        ScalingLawsError: The result carries no runs.
    """
    kk = result.k
    data = _runs_of(result, None, kk)
    if data is None:
        raise ScalingLawsError("this fit carries no runs (result.data is None): nothing to compare")
    predicted = np.asarray(result.predict(result.data), dtype=float)
    observed = data["loss"].to_numpy()
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(11.0, 4.6), layout="constrained")
    ax_p, ax_r = axes
    import matplotlib as mpl

    norm = mpl.colors.LogNorm(
        vmin=data["C"].min(), vmax=max(data["C"].max(), data["C"].min() * 1.01)
    )
    sc = _draw_parity(ax_p, observed, predicted, data["C"], norm)
    _draw_residuals(ax_r, np.log(observed / predicted), data["C"], norm)
    cbar = ax_r.figure.colorbar(sc, ax=ax_r)
    cbar.set_label(C_LABEL)
    return ax_p, ax_r


def _draw_parity(ax: Axes, observed: Any, predicted: Any, compute: Any, norm: Any) -> Any:
    """Predicted against observed loss with the line of equality; returns the scatter."""
    sc = ax.scatter(
        observed,
        predicted,
        c=compute,
        norm=norm,
        cmap="viridis",
        s=16,
        edgecolor="black",
        linewidth=0.3,
        label="runs",
        zorder=3,
    )
    lo = min(observed.min(), predicted.min())
    hi = max(observed.max(), predicted.max())
    pad = 0.03 * (hi - lo)
    ax.plot(
        [lo - pad, hi + pad],
        [lo - pad, hi + pad],
        color="0.3",
        linestyle="--",
        linewidth=1,
        label="predicted = observed",
    )
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"observed final {LOSS_LABEL}")
    ax.set_ylabel(f"predicted {LOSS_LABEL}")
    ax.set_title(f"Predicted vs observed loss ({len(observed)} runs)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return sc


def _draw_residuals(ax: Axes, resid: Any, compute: Any, norm: Any) -> None:
    """Log residuals against compute with the RMS band."""
    rms = float(np.sqrt(np.mean(resid**2)))
    ax.scatter(
        compute,
        resid,
        c=compute,
        norm=norm,
        cmap="viridis",
        s=16,
        edgecolor="black",
        linewidth=0.3,
        zorder=3,
        label="runs",
    )
    ax.axhline(0.0, color="0.3", linestyle="--", linewidth=1)
    for sign in (1, -1):
        ax.axhline(
            sign * rms,
            color=FRONTIER_COLOR,
            linestyle=":",
            linewidth=1,
            label=f"± RMS = {rms:.3g}" if sign == 1 else None,
        )
    ax.set_xscale("log")
    ax.set_xlabel(C_LABEL)
    ax.set_ylabel("residual log(observed / predicted)")
    ax.set_title("Residuals vs compute (a trend means extrapolation is unsafe)", fontsize=10)
    ax.legend(fontsize=8, loc="best")


_BAND_QUANTITIES = {
    "N_opt": ("compute-optimal model size N_opt (parameters)", True),
    "D_opt": ("compute-optimal training tokens D_opt", True),
    "tokens_per_param": ("compute-optimal tokens per parameter D_opt/N_opt", True),
    "loss": ("loss at the compute-optimal allocation (nats/token)", False),
}


def compute_optimal_curve(
    source: FitResult | Mapping[str, float],
    quantity: str,
    budgets: Any,
    *,
    k: float | None = None,
    quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95),
) -> dict[str, np.ndarray]:
    """One compute-optimal quantity along budgets: point value and per-draw quantiles.

    Args:
        source: A fitted Chinchilla-form law (its ``uncertainty.draws`` are used when
            present) or a parameter dict.
        quantity: ``"N_opt"``, ``"D_opt"``, ``"tokens_per_param"`` or ``"loss"``.
        budgets: Compute budgets C in FLOPs.
        k: FLOPs per parameter per token (default: the fit's, else 6).
        quantiles: Lower, middle and upper quantile over draws.

    Returns:
        ``{"C", "point"}`` and, with draws, ``{"lower", "median", "upper", "n_draws"}``
        (quantiles over the draws with a finite value; NaN-valued draws are dropped).
    """
    if quantity not in _BAND_QUANTITIES:
        raise ScalingLawsError(f"quantity {quantity!r} is not one of {sorted(_BAND_QUANTITIES)}")
    kk = _k_of(source, k)
    c = np.asarray(budgets, dtype=float)
    out: dict[str, np.ndarray] = {
        "C": c,
        "point": optimal_allocation(_point_params(source), c, kk)[quantity],
    }
    draws = source.uncertainty.draws if isinstance(source, FitResult) else {}
    if draws and all(n in draws for n in _FORM_PARAMS):
        per_draw = optimal_allocation({n: draws[n] for n in _FORM_PARAMS}, c, kk)[quantity]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a budget where every draw failed stays NaN; numpy would warn about it
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, mid, hi = np.nanquantile(per_draw, quantiles, axis=0)
        out.update(lower=lo, median=mid, upper=hi, n_draws=np.asarray(per_draw.shape[0]))
    return out


def plot_compute_optimal(
    source: FitResult | Mapping[str, float],
    quantity: str = "N_opt",
    *,
    budgets: Any = None,
    k: float | None = None,
    quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95),
    show_runs: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """A compute-optimal quantity against compute, with its uncertainty band.

    N_opt(C) = G (C/k)^(beta/(alpha+beta)), D_opt = (C/k)/N_opt and the loss there,
    evaluated for every parameter draw in ``result.uncertainty.draws``: the band spans the
    5th to 95th percentile and the line is the median (Hoffmann et al. 2022,
    arXiv 2203.15556, eq. 4). Without draws the point fit is drawn alone and the title
    says so.

    Args:
        source: A fitted Chinchilla-form law, or a parameter dict.
        quantity: ``"N_opt"``, ``"D_opt"``, ``"tokens_per_param"`` or ``"loss"``.
        budgets: Compute budgets C; default: from the smallest run's compute to 1,000x the
            largest (where plans are made), or 1e18 to 1e25 FLOPs without runs.
        k: FLOPs per parameter per token.
        quantiles: Lower, middle and upper quantile of the band.
        show_runs: For ``"loss"``, scatter the runs' observed loss at their compute; for
            the others, shade the compute range the runs cover.
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The Axes. Lines are labelled ``"median over N draws"`` or ``"point fit"``, the band
        ``"5-95% band"`` (from ``quantiles``).
    """
    kk = _k_of(source, k)
    runs = _runs_of(source, None, kk) if isinstance(source, FitResult) else None
    if budgets is None:
        if runs is not None:
            budgets = np.geomspace(runs["C"].min(), runs["C"].max() * 1e3, 200)
        else:
            budgets = np.geomspace(1e18, 1e25, 200)
    curve = compute_optimal_curve(source, quantity, budgets, k=kk, quantiles=quantiles)
    label, log_y = _BAND_QUANTITIES[quantity]
    ax = _new_axes(ax, (6.4, 4.8))
    c = curve["C"]
    note = _draw_curve(ax, source, curve, quantiles)
    if runs is not None:
        _draw_run_context(ax, runs, quantity, show_runs)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlim(c.min(), c.max())
    if quantity == "loss":
        top = np.nanmax(curve.get("upper", curve["point"]))
        bottom = np.nanmin(curve.get("lower", curve["point"]))
        if runs is not None and show_runs:
            top = max(top, float(runs["loss"].max()))
            bottom = min(bottom, float(runs["loss"].min()))
        ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.15 * (top - bottom))
    ax.set_xlabel(C_LABEL)
    ax.set_ylabel(label)
    ax.set_title(f"{_CURVE_TITLES[quantity]} vs compute\n({note})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left" if quantity != "loss" else "upper right")
    return ax


_CURVE_TITLES = {
    "N_opt": "Compute-optimal model size",
    "D_opt": "Compute-optimal training tokens",
    "tokens_per_param": "Compute-optimal tokens per parameter",
    "loss": "Loss at the compute-optimal allocation",
}


def _draw_curve(
    ax: Axes,
    source: FitResult | Mapping[str, float],
    curve: dict[str, np.ndarray],
    quantiles: tuple[float, float, float],
) -> str:
    """The median and band over draws, or the point fit alone; returns the title note."""
    c = curve["C"]
    ql, _, qh = (round(100 * q) for q in quantiles)
    if "median" not in curve:
        ax.plot(c, curve["point"], color=FRONTIER_COLOR, linewidth=2, label="point fit")
        return "point fit; no uncertainty draws"
    n_draws = int(curve["n_draws"])
    ax.fill_between(
        c,
        curve["lower"],
        curve["upper"],
        color=FRONTIER_COLOR,
        alpha=0.25,
        linewidth=0,
        label=f"{ql}-{qh}% band",
    )
    ax.plot(
        c, curve["median"], color=FRONTIER_COLOR, linewidth=2, label=f"median over {n_draws} draws"
    )
    note = f"{source.uncertainty.method} draws, {ql}-{qh}% band"
    if not source.uncertainty.converged:
        note += " (uncertainty FAILED its diagnostics)"
    return note


def _draw_run_context(ax: Axes, runs: pd.DataFrame, quantity: str, show_runs: bool) -> None:
    """The runs' losses (or their compute range) and the largest run's compute."""
    if show_runs:
        if quantity == "loss":
            ax.scatter(runs["C"], runs["loss"], s=10, color="0.55", label="observed runs", zorder=1)
        else:
            ax.axvspan(
                runs["C"].min(),
                runs["C"].max(),
                color="0.93",
                zorder=0,
                label="compute range of the runs",
            )
    ax.axvline(
        runs["C"].max(),
        color="0.3",
        linestyle=":",
        linewidth=1,
        label="largest run (extrapolation beyond)",
    )


def plot_posterior_bands(
    source: FitResult | Mapping[str, float],
    *,
    budgets: Any = None,
    k: float | None = None,
    quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95),
    axes: Sequence[Axes] | None = None,
) -> tuple[Axes, Axes]:
    """N_opt(C) and loss(C) side by side, each with its 5-95% band over draws.

    See :func:`plot_compute_optimal` (Hoffmann et al. 2022, arXiv 2203.15556).

    Returns:
        ``(n_opt_axes, loss_axes)``.
    """
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(12.0, 4.8), layout="constrained")
    ax_n, ax_l = axes
    plot_compute_optimal(source, "N_opt", budgets=budgets, k=k, quantiles=quantiles, ax=ax_n)
    plot_compute_optimal(source, "loss", budgets=budgets, k=k, quantiles=quantiles, ax=ax_l)
    return ax_n, ax_l
