"""Approach 1 (the loss-curve envelope): which run is best at each FLOP count.

Hoffmann et al. 2022 (arXiv 2203.15556), Approach 1: from the loss curves of runs of many
sizes, take at each FLOP count C the run with the lowest loss (the lower envelope of the
curves), read off its N and D, and fit N_env(C) = G_N C^a and D_env(C) = G_D C^b by
least squares in log-log space over log-spaced FLOP counts.

Each curve is interpolated linearly in (log C, log loss) between its checkpoints and is
undefined outside them. Points where fewer than ``min_runs`` curves are defined, and (by
default) points where the winner is the smallest or the largest model whose curve
reaches that C, are left out: there the optimum may lie beyond the sizes tried. A
checkpoint part-way through a run is only an honest stand-in for a run trained to that
length when the schedule does not depend on the run's length (Hoffmann et al. trained
runs of several lengths for each size for this reason); say so when reporting.
Intervals resample whole runs (never checkpoints) and recompute the envelope.
"""

from __future__ import annotations

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
    powerlaw_rows,
)
from scalinglaws.errors import FitError, ScalingLawsWarning
from scalinglaws.io.runs import load_runs

#: Log-spaced FLOP counts at which the envelope is read (Hoffmann et al. used 1,500).
DEFAULT_GRID = 250


@dataclass(frozen=True)
class Approach1Result(PowerLawAllocation):
    """Outcome of :func:`approach1`.

    Attributes:
        envelope: One row per FLOP count of the grid: ``C``, ``loss`` (the envelope),
            ``run``, ``N``, ``D`` (the winning run's), ``n_covering`` (curves defined at
            C), ``edge`` (winner is the smallest or largest covering model) and ``used``.
        powerlaws: Index ``N`` and ``D`` as in :class:`Approach2Result`.
        draws: Run-bootstrap draws of ``a``, ``b``, ``log_G_N``, ``log_G_D``.
        options: The settings used.
        warnings: Messages the user should read.
    """

    envelope: pd.DataFrame
    powerlaws: pd.DataFrame
    draws: Mapping[str, np.ndarray] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready summary."""
        return {
            "approach": 1,
            "powerlaws": jsonable(self.powerlaws.reset_index().to_dict(orient="records")),
            "options": jsonable(dict(self.options)),
            "warnings": list(self.warnings),
        }


def _curves(df: pd.DataFrame, grid: np.ndarray):
    """Per-run log loss and log D on the log-C grid (NaN where a curve is undefined)."""
    runs, sizes, loss_m, d_m, single = [], [], [], [], []
    order = ["run", "step"] if "step" in df.columns else ["run", "C"]
    for run, g in df.sort_values(order, kind="stable").groupby("run", sort=False):
        n_vals = g["N"].to_numpy(dtype=float)
        if np.ptp(np.log(n_vals)) > 1e-9:
            raise FitError(
                f"run {run!r}: N changes between checkpoints ({n_vals.min():.4g} to "
                f"{n_vals.max():.4g}); one run must be one model size"
            )
        logc = np.log(g["C"].to_numpy(dtype=float))
        if np.any(np.diff(logc) <= 0):
            raise FitError(
                f"run {run!r}: compute does not increase from one checkpoint to the next; "
                "checkpoints must be cumulative"
            )
        if logc.size < 2:
            single.append(run)
            continue
        inside = (grid >= logc[0]) & (grid <= logc[-1])
        ll = np.full(grid.size, np.nan)
        ld = np.full(grid.size, np.nan)
        ll[inside] = np.interp(grid[inside], logc, np.log(g["loss"].to_numpy(dtype=float)))
        ld[inside] = np.interp(grid[inside], logc, np.log(g["D"].to_numpy(dtype=float)))
        runs.append(run)
        sizes.append(float(n_vals[0]))
        loss_m.append(ll)
        d_m.append(ld)
    return runs, np.asarray(sizes), np.asarray(loss_m), np.asarray(d_m), single


def _envelope(log_n: np.ndarray, loss_m: np.ndarray, d_m: np.ndarray, min_runs: int):
    """Winner index, envelope loss, covering count and edge flag at each grid point."""
    defined = np.isfinite(loss_m)
    n_cov = defined.sum(axis=0)
    masked = np.where(defined, loss_m, np.inf)
    win = np.argmin(masked, axis=0)
    cols = np.arange(loss_m.shape[1])
    env = masked[win, cols]
    big = np.where(defined, log_n[:, None], -np.inf).max(axis=0)
    small = np.where(defined, log_n[:, None], np.inf).min(axis=0)
    wn = log_n[win]
    edge = (wn <= small + 1e-12) | (wn >= big - 1e-12)
    ok = n_cov >= min_runs
    return win, env, n_cov, edge, ok, d_m[win, cols]


def _load_curves(runs: Any, k: float | None, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """Every checkpoint of the runs; refuses a log with one row per run."""
    kwargs: dict[str, Any] = {} if k is None else {"k": k}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        df = load_runs(
            runs, columns=columns, checkpoints="all", min_runs=2, require=("N",), **kwargs
        )
    if "run" not in df.columns or not df["run"].duplicated().any():
        raise FitError(
            "Approach 1 needs loss curves: a run column with several checkpoints per run "
            "(and a step column to order them); this log has one row per run"
        )
    return df


def _envelope_table(grid, env, names, sizes, win, log_d, n_cov, edge, used, ok) -> pd.DataFrame:
    envelope = pd.DataFrame(
        {
            "C": np.exp(grid),
            "loss": np.where(np.isfinite(env), np.exp(env), np.nan),
            "run": [names[i] for i in win],
            "N": sizes[win],
            "D": np.exp(log_d),
            "n_covering": n_cov,
            "edge": edge,
            "used": used,
        }
    )
    envelope.loc[~ok, ["loss", "N", "D"]] = math.nan
    return envelope


def _run_bootstrap(grid, curves, min_runs: int, exclude_edges: bool, n_boot: int, seed: int):
    """Envelope power laws refitted to resamples of whole runs: ``(draws, n_kept)``.

    A resample whose envelope has fewer than two distinct winners is skipped; the draws
    are empty unless at least two resamples were kept.
    """
    log_n, loss_m, d_m = curves
    rng = np.random.default_rng(seed)
    a, gn, b, gd = [], [], [], []
    for _ in range(n_boot):
        idx = rng.integers(0, len(log_n), len(log_n))
        w_b, _, _, e_b, ok_b, d_b = _envelope(log_n[idx], loss_m[idx], d_m[idx], min_runs)
        u_b = ok_b & (~e_b if exclude_edges else True)
        if np.unique(w_b[u_b]).size < 2:
            continue
        s, i = fit_loglinear(grid[u_b], log_n[idx][w_b[u_b]])
        a.append(s)
        gn.append(i)
        s, i = fit_loglinear(grid[u_b], d_b[u_b])
        b.append(s)
        gd.append(i)
    if len(a) < 2:
        return {}, len(a)
    draws = {"a": np.asarray(a), "log_G_N": np.asarray(gn), "b": np.asarray(b)}
    draws["log_G_D"] = np.asarray(gd)
    return draws, len(a)


def approach1(
    runs: Any,
    *,
    n_grid: int = DEFAULT_GRID,
    min_runs: int = 2,
    exclude_edges: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    k: float | None = None,
    columns: Mapping[str, str] | None = None,
) -> Approach1Result:
    """Approach 1: power laws through the lower envelope of the loss curves.

    At ``n_grid`` log-spaced FLOP counts C, the run with the lowest (interpolated) loss
    gives N_env(C) and D_env(C); then log N_env = log G_N + a log C and
    log D_env = log G_D + b log C by least squares (Hoffmann et al. 2022, arXiv
    2203.15556, who found a = 0.50, b = 0.50). Intervals: percentiles over ``n_boot``
    resamples of whole runs.

    Args:
        runs: A log with checkpoints: ``run``, ``N``, ``loss`` and ``C`` or ``D`` per row
            (cumulative at the checkpoint), with ``step`` to order them.
        n_grid: FLOP counts at which the envelope is read.
        min_runs: Fewest curves that must be defined at a FLOP count for it to count.
        exclude_edges: Leave out FLOP counts won by the smallest or largest model whose
            curve reaches them.
        n_boot: Run-bootstrap resamples for intervals (0 for none).
        level: Interval level.
        seed: Seed of the bootstrap.
        k: FLOPs per parameter per token, when C must be derived from N and D.
        columns: Explicit ``{canonical: column}`` names, passed to ``load_runs``.

    Returns:
        An :class:`Approach1Result`.

    Raises:
        FitError: No checkpoints, a run whose N changes, or fewer than two distinct
            envelope points to fit.
    """
    if not (isinstance(n_grid, int) and n_grid >= 10):
        raise FitError(f"n_grid must be an integer of at least 10, not {n_grid!r}")
    if not (isinstance(min_runs, int) and min_runs >= 1):
        raise FitError(f"min_runs must be a positive integer, not {min_runs!r}")
    if not (isinstance(n_boot, int) and n_boot >= 0):
        raise FitError(f"n_boot must be a non-negative integer, not {n_boot!r}")
    level = check_level(level)
    df = _load_curves(runs, k, columns)
    logc_all = np.log(df["C"].to_numpy(dtype=float))
    grid = np.linspace(logc_all.min(), logc_all.max(), n_grid)
    names, sizes, loss_m, d_m, single = _curves(df, grid)
    messages = []
    if single:
        messages.append(
            f"{len(single)} run(s) have a single checkpoint and no curve; not used "
            f"(first: {single[0]!r})"
        )
    if len(names) < 2:
        raise FitError("Approach 1 needs at least 2 runs with 2 or more checkpoints each")
    log_n = np.log(sizes)

    win, env, n_cov, edge, ok, log_d = _envelope(log_n, loss_m, d_m, min_runs)
    used = ok & (~edge if exclude_edges else True)
    if np.unique(win[used]).size < 2:
        raise FitError(
            f"the envelope has {np.unique(win[used]).size} distinct winning run(s) where at "
            f"least {min_runs} curves overlap{' away from the size edges' if exclude_edges else ''}"
            "; Approach 1 needs curves of several sizes that overlap in compute"
        )
    obs = {"N": log_n[win[used]], "D": log_d[used]}
    log_c = grid[used]

    draws: dict[str, np.ndarray] = {}
    if n_boot > 0:
        curves = (log_n, loss_m, d_m)
        draws, n_ok = _run_bootstrap(grid, curves, min_runs, exclude_edges, n_boot, seed)
        if n_ok < n_boot:
            messages.append(
                f"{n_boot - n_ok} of {n_boot} run resamples had too few envelope points "
                "and were skipped"
            )
    powerlaws = powerlaw_rows(log_c, obs, {"N": None, "D": None}, draws, level)
    if np.unique(win[used]).size < 4:
        messages.append(
            f"only {np.unique(win[used]).size} distinct runs form the envelope; the "
            "exponents rest on very few sizes"
        )
    envelope = _envelope_table(grid, env, names, sizes, win, log_d, n_cov, edge, used, ok)
    for m in messages:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    options = {
        "n_grid": n_grid,
        "min_runs": min_runs,
        "exclude_edges": exclude_edges,
        "n_boot": n_boot,
        "level": level,
        "seed": seed,
        "k": float(df.attrs.get("k", 6.0)),
    }
    return Approach1Result(
        envelope=envelope,
        powerlaws=powerlaws,
        draws=draws,
        options=options,
        warnings=tuple(messages),
    )
