"""Predictive intervals of observed values: column names, options, and held-out runs.

Shared by every workflow that reports an interval for an observed loss — backtests,
conformal calibration (:mod:`scalinglaws.uncertainty.conformal`) and the compute plans.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import FitError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.fitting.fit import fit
from scalinglaws.io.runs import load_runs
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty.attach import attach
from scalinglaws.uncertainty.predictive import predictive

#: Methods an interval can come from: residual scatter alone, or parameter draws plus noise.
INTERVAL_METHODS = ("none", "laplace", "bootstrap", "bayes")
#: Predictive draws behind a draw-based interval (at least this many).
DEFAULT_PREDICTIVE_DRAWS = 4000


def interval_columns(level: float) -> tuple[str, str]:
    """Column suffixes of an equal-tailed interval at ``level``.

    The tails are ``100 * (1 - level) / 2`` percent each; a whole-number percentile is
    written with two digits (``q05``), a fractional one with an underscore for the point
    (``q2_5``).

    Args:
        level: interval probability in (0, 1), e.g. 0.9.

    Returns:
        ``(lower, upper)`` suffixes, e.g. ``("q05", "q95")`` for 0.9 and
        ``("q2_5", "q97_5")`` for 0.95.
    """
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = tail, 100.0 - tail

    def name(q: float) -> str:
        return f"q{int(round(q)):02d}" if abs(q - round(q)) < 1e-9 else f"q{q:g}".replace(".", "_")

    return name(lo), name(hi)


def check_level(level: float) -> float:
    """Validate an interval level in (0, 1).

    Raises:
        FitError: Not a number strictly between 0 and 1.
    """
    if not (isinstance(level, int | float) and 0.0 < float(level) < 1.0):
        raise FitError(f"level must be a probability between 0 and 1 (e.g. 0.95), not {level!r}")
    return float(level)


def check_interval_options(uncertainty: str, level: float) -> float:
    """Validate an interval method and level; returns the level as a float.

    Raises:
        ScalingLawsError: A method outside :data:`INTERVAL_METHODS`.
        FitError: A level outside (0, 1).
    """
    if uncertainty not in INTERVAL_METHODS:
        raise ScalingLawsError(
            f"uncertainty must be one of {', '.join(INTERVAL_METHODS)}, not {uncertainty!r}"
        )
    return check_level(level)


def load_law_runs(
    runs: Any, law: Law, k: float | None, load_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Load runs for ``law`` (requiring its N/D inputs), loader warnings silenced.

    ``load_options`` are further keywords of :func:`scalinglaws.load_runs` (``columns``,
    ``checkpoints``, ``where``, ``best_of``, ``drop_nonfinite``, ``loss_is``).
    """
    kwargs: dict[str, Any] = dict(load_options or {})
    if k is not None:
        kwargs["k"] = k
    require = tuple(c for c in law.inputs if c in ("N", "D")) or ("N",)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        return load_runs(runs, min_runs=1, require=require, **kwargs)


def _scatter_interval(law: Law, result: Any, predicted, train_mask, tail: float):
    """Prediction +- t_{n-p} s on the residual scale, s from the training residuals."""
    # scipy.stats is imported on first use: it costs start-up time most fits never need.
    from scipy import stats

    r = np.asarray(result.residuals, dtype=float)[train_mask]
    dof = max(r.size - len(law.params), 1)
    s = math.sqrt(float(np.sum(r**2)) / dof)
    t = float(stats.t.ppf(1.0 - tail, dof))
    if law.residual == "log":
        return predicted * math.exp(-t * s), predicted * math.exp(t * s)
    return predicted - t * s, predicted + t * s


def holdout_interval(
    law: Law,
    df: pd.DataFrame,
    train_mask: np.ndarray,
    *,
    uncertainty: str,
    level: float,
    samples: int | None,
    seed: int,
    fit_options: Mapping[str, Any],
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """Fit on ``df[train_mask]``; point predictions and interval bounds for the rest.

    With ``uncertainty="none"`` the interval is the residual scatter of the training runs
    (prediction +- t_{n-p} s on the residual scale); otherwise quantiles of
    :func:`~scalinglaws.uncertainty.predictive` draws (parameters plus noise).

    Returns:
        ``(result, predicted, lo, hi)``: the fit (with uncertainty attached when asked)
        and one prediction and bound per held-out row.

    Raises:
        FitError: Fewer training runs than the law has parameters plus one.
    """
    p = len(law.params)
    n_train = int(np.count_nonzero(train_mask))
    if n_train <= p:
        raise FitError(
            f"the hold-out leaves {n_train} training runs for the {p} parameters of law "
            f"{law.name!r}; at least {p + 1} are needed (move the cutoff up)"
        )
    held = df[~train_mask].reset_index(drop=True)
    tail = 0.5 * (1.0 - level)
    if uncertainty == "none":
        # Zero weights instead of a subset: every fold of a log has the same shape, so
        # the compiled solver is reused (a subset of another size would recompile).
        result = fit(law, df, weights=train_mask.astype(float), **dict(fit_options))
        predicted = np.asarray(result.predict(held), dtype=float)
        lo, hi = _scatter_interval(law, result, predicted, train_mask, tail)
        return result, predicted, lo, hi
    result = fit(law, df[train_mask].reset_index(drop=True), **dict(fit_options))
    predicted = np.asarray(result.predict(held), dtype=float)
    with_unc = attach(result, uncertainty, samples=samples, seed=seed)
    n_draws = max(DEFAULT_PREDICTIVE_DRAWS, with_unc.uncertainty.n_draws)
    draws = predictive(with_unc, held, n=n_draws, seed=seed, allow_unconverged=True)
    lo, hi = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    if with_unc.uncertainty.extra.get("discrepancy"):
        # A posterior with a discrepancy term predicts law + discrepancy: its point
        # prediction is the median of its predictive draws, not the law alone.
        predicted = np.median(draws, axis=0)
    return with_unc, predicted, lo, hi
