"""Planning from fitted laws: compute-optimal allocation (sparsity and mixture plans
live beside it)."""

from scalinglaws.planning.compute import (
    DEFAULT_QUANTILES,
    compute_for_loss,
    frontier_exponents,
    plan_compute,
    plan_fixed_params,
    plan_fixed_tokens,
    quantile_column_name,
)
from scalinglaws.planning.mixture import plan_mixture
from scalinglaws.planning.sparsity import DEFAULT_SPARSITIES, plan_sparsity

__all__ = [
    "DEFAULT_SPARSITIES",
    "plan_sparsity",
    "DEFAULT_QUANTILES",
    "compute_for_loss",
    "frontier_exponents",
    "plan_compute",
    "plan_fixed_params",
    "plan_fixed_tokens",
    "plan_mixture",
    "quantile_column_name",
]
