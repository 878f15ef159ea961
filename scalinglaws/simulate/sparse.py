"""Simulated run logs that mix dense and gradually pruned runs.

Each simulated run is placed by its *true* compute C = k N_avg D (Jin et al. 2025, arXiv
2501.12486): for a budget C, a tokens-per-average-parameter ratio r and a final sparsity s,
N_avg = sqrt(C / (k r)) and D = r N_avg; the pruning schedule is solved from compute
fractions and its realised average density rho gives the dense size N0 = N_avg / rho.
Losses come from the average-parameter-count law with multiplicative noise, exactly as
:func:`scalinglaws.simulate.simulate_runs` does for Chinchilla.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.laws.avgparams import avgparams
from scalinglaws.simulate.chinchilla import simulate_runs
from scalinglaws.sparsity.schedules import (
    DEFAULT_END_COMPUTE,
    DEFAULT_K,
    DEFAULT_START_COMPUTE,
    PruningSchedule,
    average_density,
    schedule_from_compute,
)


def sparse_design(
    budgets: Sequence[float],
    sparsities: Sequence[float] = (0.0, 0.5, 0.8),
    n_per_budget: int = 5,
    *,
    tokens_per_param: tuple[float, float] = (5.0, 100.0),
    total_steps: int = 1000,
    interval: int = 10,
    kind: str = "geometric",
    start_compute: float = DEFAULT_START_COMPUTE,
    end_compute: float = DEFAULT_END_COMPUTE,
    k: float = DEFAULT_K,
) -> pd.DataFrame:
    """An isoFLOP design of dense and sparse runs, described by schedule columns.

    Args:
        budgets: True training compute C = k N_avg D of each isoFLOP slice.
        sparsities: Final sparsities; 0 gives a dense run.
        n_per_budget: Runs per (budget, sparsity), log-spaced in D / N_avg.
        tokens_per_param: Range of D / N_avg.
        total_steps: Steps per run (tokens per step = D / total_steps).
        interval: Steps between pruning events.
        kind: ``"geometric"`` or ``"cubic"``.
        start_compute: Share of compute before pruning starts.
        end_compute: Share of compute before pruning ends.
        k: FLOPs per parameter per token.

    Returns:
        DataFrame with ``run, N`` (dense prunable size N0), ``sparsity, schedule,
        start_step, end_step, interval, total_steps, tokens_per_step, D, N_avg, N_final, C``;
        schedule columns are blank for dense runs.
    """
    lo, hi = tokens_per_param
    if not (0 < lo < hi) or n_per_budget < 1 or len(budgets) == 0 or len(sparsities) == 0:
        raise ScalingLawsError(
            "need budgets, sparsities, n_per_budget >= 1 and 0 < tokens_per_param[0] < [1]"
        )
    ratios = np.geomspace(lo, hi, n_per_budget)
    schedules: dict[float, tuple[PruningSchedule | None, float]] = {}
    for s in sparsities:
        if float(s) == 0.0:
            schedules[float(s)] = (None, 1.0)
        else:
            sched = schedule_from_compute(
                float(s),
                total_steps,
                start_compute=start_compute,
                end_compute=end_compute,
                interval=interval,
                kind=kind,
            )
            # Uniform tokens per step: the step-weighted density is the token-weighted one.
            schedules[float(s)] = (sched, average_density(sched))
    rows = []
    for c in budgets:
        for s, (sched, rho) in schedules.items():
            for j, r in enumerate(ratios):
                n_avg = float(np.sqrt(c / (k * r)))
                d = r * n_avg
                n0 = n_avg / rho
                rows.append(
                    {
                        "run": f"C{c:.2e}-s{s:.2f}-{j}",
                        "N": n0,
                        "sparsity": s,
                        "schedule": "dense" if sched is None else sched.kind,
                        "start_step": np.nan if sched is None else sched.start_step,
                        "end_step": np.nan if sched is None else sched.end_step,
                        "interval": np.nan if sched is None else sched.interval,
                        "total_steps": total_steps,
                        "tokens_per_step": d / total_steps,
                        "D": d,
                        "N_avg": n_avg,
                        "N_final": (1.0 - s) * n0,
                        "C": float(c),
                    }
                )
    return pd.DataFrame(rows)


def simulate_sparse_runs(
    params: Mapping[str, float],
    design: pd.DataFrame,
    *,
    noise: float = 0.01,
    seed: int = 0,
    df: float | None = None,
) -> pd.DataFrame:
    """Final losses from the average-parameter-count law at a design's (N_avg, D).

    loss = (E + A/N_avg^alpha + B/D^beta) exp(noise eps), eps standard normal (Student-t
    with ``df`` degrees of freedom when given).
    """
    return simulate_runs(avgparams(), params, design, noise=noise, seed=seed, df=df)


def count_log(
    schedule: PruningSchedule,
    dense_params: float,
    tokens_per_step: float | np.ndarray | None = None,
    dense_remainder: float = 0.0,
) -> pd.DataFrame:
    """The per-step log of non-zero counts a training run under ``schedule`` would write.

    Returns:
        DataFrame with ``step, count`` (and ``tokens`` when ``tokens_per_step`` is given).
    """
    out = pd.DataFrame(
        {
            "step": np.arange(schedule.total_steps),
            "count": schedule.density() * float(dense_params) + float(dense_remainder),
        }
    )
    if tokens_per_step is not None:
        out["tokens"] = np.broadcast_to(
            np.asarray(tokens_per_step, dtype=float), (schedule.total_steps,)
        )
    return out
