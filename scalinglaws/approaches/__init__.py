"""Compute-optimal allocation by Hoffmann et al.'s three approaches, and backtests.

* :func:`approach1` — the lower envelope of loss curves (needs checkpoints).
* :func:`approach2` — isoFLOP slices: per-budget minima N*(C), D*(C) and their power laws.
* :func:`approach3` — the allocation implied by a fitted Chinchilla law.
* :func:`compare_approaches` — all three in one table at given budgets.
* :func:`isoflop_slices` — group a run log into isoFLOP slices.
* :func:`backtest` / :func:`leave_one_budget_out` — would the law have predicted the
  runs it never saw? Errors, bias and predictive-interval coverage.
* Split-conformal calibration (``backtest(calibrate="conformal")``) lives in
  :mod:`scalinglaws.uncertainty.conformal`; ``Calibration``, ``conformal_calibrate`` and
  ``calibrated_interval`` still resolve here, with a ``DeprecationWarning``.
* :mod:`scalinglaws.approaches.porian` — Porian et al. 2024's isoFLOP points and
  reference exponents.

Each approach's result gives ``.a``, ``.b``, ``.interval("a")``, ``.predict(budgets)``
and ``.to_dict()``.
"""

import warnings
from typing import Any

from scalinglaws.approaches.backtest import (
    BacktestResult,
    backtest,
    holdout_mask,
    leave_one_budget_out,
)
from scalinglaws.approaches.compare import Approach3Result, approach3, compare_approaches
from scalinglaws.approaches.envelope import Approach1Result, approach1
from scalinglaws.approaches.isoflop import Approach2Result, approach2, isoflop_slices
from scalinglaws.uncertainty import conformal as _conformal

_MOVED_TO_UNCERTAINTY = ("Calibration", "calibrated_interval", "conformal_calibrate")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_UNCERTAINTY:
        warnings.warn(
            f"scalinglaws.approaches.{name} moved to scalinglaws.uncertainty.conformal."
            f"{name}; the old path will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_conformal, name)
    raise AttributeError(f"module 'scalinglaws.approaches' has no attribute {name!r}")


__all__ = [
    "Approach1Result",
    "Approach2Result",
    "Approach3Result",
    "BacktestResult",
    "approach1",
    "approach2",
    "approach3",
    "backtest",
    "compare_approaches",
    "holdout_mask",
    "isoflop_slices",
    "leave_one_budget_out",
]
