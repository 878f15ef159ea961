"""Planning from fitted laws: compute-optimal allocation (sparsity and mixture plans
live beside it).

The names below are imported on first use, so that planning compute does not import the
sparsity planner (SciPy's optimisers) or the mixture pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "DEFAULT_QUANTILES": "scalinglaws.planning.compute",
    "compute_for_loss": "scalinglaws.planning.compute",
    "frontier_exponents": "scalinglaws.planning.compute",
    "plan_compute": "scalinglaws.planning.compute",
    "plan_fixed_params": "scalinglaws.planning.compute",
    "plan_fixed_tokens": "scalinglaws.planning.compute",
    "quantile_column_name": "scalinglaws.planning.compute",
    "plan_mixture": "scalinglaws.planning.mixture",
    "DEFAULT_SPARSITIES": "scalinglaws.planning.sparsity",
    "plan_sparsity": "scalinglaws.planning.sparsity",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scalinglaws.planning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
