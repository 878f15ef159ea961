"""Figures for sparse pre-training (Jin et al. 2025, arXiv 2501.12486).

* :func:`plot_density_schedules`: density against training progress for several schedules.
* :func:`plot_loss_vs_avgparams`: dense and sparse runs on one fitted curve of N_avg.
* :func:`plot_sparsity_frontier`: plan tables as loss against deployed (non-zero) size.

Every function takes ``ax=None`` (a new figure when omitted) and returns the Axes; nothing
is shown or saved here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.result import FitResult
from scalinglaws.sparsity.schedules import PruningSchedule, average_density

Axes = Any  # matplotlib.axes.Axes

LOSS_LABEL = "loss (nats/token)"


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6.0, 4.0))
    return ax


def plot_density_schedules(
    schedules: Sequence[PruningSchedule],
    ax: Axes | None = None,
    *,
    progress: str = "compute",
    tokens_per_step: Any = None,
    labels: Sequence[str] | None = None,
) -> Axes:
    """Density of the prunable weights against training progress, one line per schedule.

    Args:
        schedules: Schedules to draw.
        ax: Axes to draw on.
        progress: ``"compute"`` (fraction of training compute spent, the axis on which the
            recommended 25%/75% split is defined) or ``"steps"`` (fraction of steps).
        tokens_per_step: Tokens per step (one number or one per step) for the compute axis.
        labels: Legend labels (default: kind, sparsity and average density).

    Returns:
        The Axes.
    """
    if progress not in ("compute", "steps"):
        raise ScalingLawsError(f"progress must be 'compute' or 'steps', not {progress!r}")
    if not schedules:
        raise ScalingLawsError("give at least one schedule")
    if labels is not None and len(labels) != len(schedules):
        raise ScalingLawsError(f"{len(labels)} labels for {len(schedules)} schedules")
    ax = _axes(ax)
    for i, sched in enumerate(schedules):
        dens = sched.density()
        b = np.broadcast_to(
            np.asarray(1.0 if tokens_per_step is None else tokens_per_step, dtype=float),
            (sched.total_steps,),
        )
        if progress == "compute":
            spent = np.cumsum(dens * b)
            x = np.concatenate([[0.0], spent]) / spent[-1]
        else:
            x = np.arange(sched.total_steps + 1) / sched.total_steps
        label = (
            labels[i]
            if labels is not None
            else f"{sched.kind}, s = {sched.sparsity:g} (average density "
            f"{average_density(sched, None if tokens_per_step is None else b):.3f})"
        )
        # Density is constant within a step: draw it as a staircase over each step's span.
        ax.step(x, np.concatenate([dens, dens[-1:]]), where="post", label=label)
    ax.set_xlabel(
        f"training progress (fraction of {'compute' if progress == 'compute' else 'steps'})"
    )
    ax.set_ylabel("density (non-zero fraction of prunable weights)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.legend(fontsize="small")
    return ax


def plot_loss_vs_avgparams(
    result: FitResult,
    runs: pd.DataFrame | None = None,
    ax: Axes | None = None,
    *,
    show_dense_size: bool = True,
) -> Axes:
    """Dense and sparse runs on one fitted curve of the average parameter count.

    Runs differ in D as well as N_avg, so the figure removes the fitted data term:
    y = loss - B / D^beta against N_avg, on which every run of a correct fit lies on the
    one curve E + A / N_avg^alpha (Jin et al. 2025, arXiv 2501.12486). With
    ``show_dense_size`` the sparse runs are also drawn, hollow, at their dense size N0:
    the horizontal gap is what the law corrects.

    Args:
        result: A fit of the ``avgparams`` law.
        runs: The runs (``load_sparse_runs`` output); default the fit's data.
        ax: Axes to draw on.
        show_dense_size: Also mark sparse runs at their dense size.

    Returns:
        The Axes.
    """
    runs = result.data if runs is None else runs
    if runs is None or not {"N_avg", "D", "loss"} <= set(runs.columns):
        raise ScalingLawsError("give runs with N_avg, D and loss columns (load_sparse_runs output)")
    p = result.params
    if not {"E", "A", "B", "alpha", "beta"} <= set(p):
        raise ScalingLawsError(f"law {result.law.name!r} is not of the Chinchilla form")
    ax = _axes(ax)
    y = runs["loss"].to_numpy() - p["B"] * runs["D"].to_numpy() ** (-p["beta"])
    n_avg = runs["N_avg"].to_numpy()
    sparsity = (
        runs["sparsity"].fillna(0.0).to_numpy() if "sparsity" in runs else np.zeros(len(runs))
    )
    levels = sorted(set(np.round(sparsity, 3)))
    cmap = __import__("matplotlib").colormaps["viridis"]
    for j, s in enumerate(levels):
        mask = np.isclose(sparsity, s, atol=5e-4)
        color = cmap(j / max(len(levels) - 1, 1))
        label = "dense" if s == 0 else f"sparsity {s:g}"
        ax.scatter(n_avg[mask], y[mask], color=color, marker="o" if s == 0 else "s", s=18,
                   label=label, zorder=3)  # fmt: skip
        if show_dense_size and s > 0 and "N0" in runs:
            ax.scatter(runs["N0"].to_numpy()[mask], y[mask], facecolors="none", edgecolors=color,
                       marker="s", s=18, alpha=0.6, label=f"sparsity {s:g} at dense size N0")  # fmt: skip
    lo, hi = np.min(n_avg), np.max(n_avg)
    if show_dense_size and "N0" in runs:
        hi = max(hi, float(np.nanmax(runs["N0"])))
    grid = np.geomspace(lo / 1.5, hi * 1.5, 200)
    ax.plot(grid, p["E"] + p["A"] * grid ** (-p["alpha"]), color="black", lw=1.2,
            label=r"fit: $E + A/\bar N^{\alpha}$")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(r"average parameter count $\bar N$ (non-zero parameters)")
    ax.set_ylabel(r"loss $-\ B/D^{\beta}$ (nats/token)")
    ax.legend(fontsize="small")
    return ax


def plot_sparsity_frontier(
    plans: pd.DataFrame | Sequence[pd.DataFrame], ax: Axes | None = None
) -> Axes:
    """Plan tables as loss against deployed non-zero size, one curve per sparsity.

    Every row of one plan (one budget) has the same predicted loss, so sparser plans sit
    to the left on the same horizontal level; plans for several budgets join each
    sparsity's points into a loss-versus-deployed-size frontier. Error bars show the
    plan's ``loss_q05``/``loss_q95`` when present.

    Args:
        plans: One :func:`~scalinglaws.planning.sparsity.plan_sparsity` table or several
            (e.g. one per budget).
        ax: Axes to draw on.

    Returns:
        The Axes.
    """
    table = plans if isinstance(plans, pd.DataFrame) else pd.concat(list(plans), ignore_index=True)
    need = {"sparsity", "N_final", "loss", "C"}
    if table.empty or not need <= set(table.columns):
        raise ScalingLawsError(f"plan tables need columns {sorted(need)}")
    ax = _axes(ax)
    cmap = __import__("matplotlib").colormaps["viridis"]
    levels = sorted(table["sparsity"].round(6).unique())
    for j, s in enumerate(levels):
        part = table[np.isclose(table["sparsity"], s)].sort_values("N_final")
        color = cmap(j / max(len(levels) - 1, 1))
        yerr = None
        if {"loss_q05", "loss_q95"} <= set(part.columns):
            yerr = np.vstack([part["loss"] - part["loss_q05"], part["loss_q95"] - part["loss"]])
        ax.errorbar(part["N_final"], part["loss"], yerr=yerr, color=color, marker="o", ms=4,
                    capsize=2, label="dense" if s == 0 else f"sparsity {s:g}")  # fmt: skip
    if table["C"].nunique() > 1:
        for c, part in table.groupby("C"):
            ax.plot(part["N_final"], part["loss"], color="grey", lw=0.6, ls=":", zorder=0)
            ax.annotate(f"C = {c:.1e}", (part["N_final"].max(), part["loss"].iloc[0]),
                        fontsize="x-small", xytext=(4, 0), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("deployed size (non-zero parameters after pruning)")
    ax.set_ylabel(f"predicted {LOSS_LABEL}")
    ax.legend(fontsize="small")
    return ax
