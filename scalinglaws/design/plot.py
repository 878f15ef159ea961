"""The design figure: each candidate's value over the (N, D) plane, the picks, the runs.

matplotlib is imported when a figure is drawn, not with the package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.design.engine import Ensemble, score
from scalinglaws.design.runs import design_inputs


def candidate_values(result: Any, target: Any = None, candidates: Any = None, **options: Any):
    """Every candidate's value for the first pick: variance reduction of q per FLOP.

    Takes the arguments of :func:`~scalinglaws.design.design_runs` (``study_budget`` only
    bounds the candidates; ``k`` is not used).

    Returns:
        The candidate table with ``value_per_flop`` and ``expected_width`` (after that
        candidate alone) added.
    """
    table, q, pred, sigma, method = design_inputs(result, target, candidates, **options)
    out = score(Ensemble(q, pred[:, :, None], sigma), method=method)
    table = table.copy()
    gain = float(out["variance_now"]) - np.asarray(out["variance_after"])
    table["value_per_flop"] = gain / table["C"].to_numpy(dtype=float)
    table["expected_width"] = np.asarray(out["width_after"])
    return table


def plot_design(
    values: pd.DataFrame,
    picks: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
    ax: Any = None,
    size: str = "N",
    tokens: str = "D",
):
    """Candidate value over the (N, D) plane with the picks (numbered) and existing runs.

    Args:
        values: Output of :func:`candidate_values`.
        picks: Output of :func:`~scalinglaws.design.design_runs` (optional).
        runs: The runs already trained (optional).
        ax: Matplotlib Axes to draw on (a new figure when None).
        size: Model-size column.
        tokens: Token column.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    v = values["value_per_flop"].to_numpy(dtype=float)
    shown = np.log10(np.clip(v, np.max(v) * 1e-6 if np.max(v) > 0 else 1e-300, None))
    sc = ax.scatter(values[size], values[tokens], c=shown, s=12, cmap="viridis", marker="s")
    plt.colorbar(sc, ax=ax, label="log10 variance reduction per FLOP")
    if runs is not None and len(runs):
        ax.scatter(runs[size], runs[tokens], c="k", s=14, marker="o", label="runs")
    if picks is not None and len(picks):
        ax.scatter(
            picks[size],
            picks[tokens],
            facecolors="none",
            edgecolors="r",
            s=90,
            lw=1.5,
            label="proposed",
        )
        for _, row in picks.iterrows():
            ax.annotate(
                str(int(row["step"])),
                (row[size], row[tokens]),
                color="r",
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=8,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{size} (parameters)")
    ax.set_ylabel(f"{tokens} (tokens)")
    ax.legend(loc="best", fontsize=8)
    return ax
