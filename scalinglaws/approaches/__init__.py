"""Compute-optimal allocation by Hoffmann et al.'s three approaches, and backtests.

* :func:`approach1` — the lower envelope of loss curves (needs checkpoints).
* :func:`approach2` — isoFLOP slices: per-budget minima N*(C), D*(C) and their power laws.
* :func:`approach3` — the allocation implied by a fitted Chinchilla law.
* :func:`compare_approaches` — all three in one table at given budgets.
* :func:`isoflop_slices` — group a run log into isoFLOP slices.
* :func:`backtest` / :func:`leave_one_budget_out` — would the law have predicted the
  runs it never saw? Errors, bias and predictive-interval coverage.
* :func:`conformal_calibrate` / :func:`calibrated_interval` — split-conformal calibration
  of predictive intervals on the largest-compute runs (``backtest(calibrate="conformal")``).
* :mod:`scalinglaws.approaches.porian` — Porian et al. 2024's isoFLOP points and
  reference exponents.

Each approach's result gives ``.a``, ``.b``, ``.interval("a")``, ``.predict(budgets)``
and ``.to_dict()``.
"""

from scalinglaws.approaches.backtest import (
    BacktestResult,
    backtest,
    holdout_mask,
    leave_one_budget_out,
)
from scalinglaws.approaches.compare import Approach3Result, approach3, compare_approaches
from scalinglaws.approaches.conformal import (
    Calibration,
    calibrated_interval,
    conformal_calibrate,
)
from scalinglaws.approaches.envelope import Approach1Result, approach1
from scalinglaws.approaches.isoflop import Approach2Result, approach2, isoflop_slices

__all__ = [
    "Approach1Result",
    "Approach2Result",
    "Approach3Result",
    "BacktestResult",
    "Calibration",
    "approach1",
    "approach2",
    "approach3",
    "backtest",
    "calibrated_interval",
    "compare_approaches",
    "conformal_calibrate",
    "holdout_mask",
    "isoflop_slices",
    "leave_one_budget_out",
]
