"""Figures: every function takes ``ax=None`` (or ``axes=None``) and returns its Axes."""

from scalinglaws.plotting.chinchilla import (
    OmittedBudget,
    compute_optimal_curve,
    isoflop_omitted,
    isoflop_profiles_note,
    isoflop_slices,
    optimal_allocation,
    plot_compute_optimal,
    plot_isoflop_profiles,
    plot_loss_contours,
    plot_parity,
    plot_posterior_bands,
)
from scalinglaws.plotting.datamix import datamix_fit_table, plot_datamix_fit, plot_datamix_plan
from scalinglaws.plotting.sparse import (
    plot_density_schedules,
    plot_loss_vs_avgparams,
    plot_sparsity_frontier,
)

__all__ = [
    "datamix_fit_table",
    "plot_datamix_fit",
    "plot_datamix_plan",
    "plot_density_schedules",
    "plot_loss_vs_avgparams",
    "plot_sparsity_frontier",
    "OmittedBudget",
    "compute_optimal_curve",
    "isoflop_omitted",
    "isoflop_profiles_note",
    "isoflop_slices",
    "optimal_allocation",
    "plot_compute_optimal",
    "plot_isoflop_profiles",
    "plot_loss_contours",
    "plot_parity",
    "plot_posterior_bands",
]
