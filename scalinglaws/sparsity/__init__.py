"""Sparse pre-training: pruning schedules, average parameter count, FLOP accounting.

Jin et al., "The Journey Matters", ICLR 2025 (arXiv 2501.12486).
"""

from scalinglaws.sparsity.runs import SPARSE_ALIASES, load_sparse_runs
from scalinglaws.sparsity.schedules import (
    KINDS,
    PruningSchedule,
    ScheduleError,
    average_density,
    average_params,
    average_params_from_counts,
    compute_fractions,
    continuous_average_density,
    counts_per_step,
    counts_summary,
    cubic_density,
    final_params,
    geometric_density,
    schedule_from_compute,
    summarize,
    training_flops,
    validate_counts,
)

__all__ = [
    "KINDS",
    "SPARSE_ALIASES",
    "PruningSchedule",
    "ScheduleError",
    "average_density",
    "average_params",
    "average_params_from_counts",
    "compute_fractions",
    "continuous_average_density",
    "counts_per_step",
    "counts_summary",
    "cubic_density",
    "final_params",
    "geometric_density",
    "load_sparse_runs",
    "schedule_from_compute",
    "summarize",
    "training_flops",
    "validate_counts",
]
