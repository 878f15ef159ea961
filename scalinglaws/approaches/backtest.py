"""Backtesting: would the law have predicted the runs it never saw?

Fit a law on the runs below a cutoff (in compute, in parameters, or by a hold-out query),
predict the held-out runs, and report absolute and relative errors, the signed bias, and
how often a predictive interval for an *observed* loss covered the truth. The interval
adds the run-to-run scatter of the fit's residuals to the parameter uncertainty:

* ``uncertainty="none"`` — residual scatter only: on the residual scale (log loss for laws
  fitted on log loss), prediction +- t_{n-p} quantile x s, with s^2 = sum(r^2) / (n - p).
* ``"laplace"``, ``"bootstrap"``, ``"bayes"`` — parameter draws from
  :func:`scalinglaws.uncertainty.attach`, each prediction plus a residual draw at that
  draw's noise scale (:func:`scalinglaws.uncertainty.predictive`), then quantiles.

Parameter uncertainty alone under-covers when the law is slightly wrong (DESIGN §6):
coverage is measured here, never assumed. ``calibrate="conformal"`` widens the intervals
by split-conformal calibration on the largest-compute training runs
(:mod:`scalinglaws.uncertainty.conformal`) and reports coverage with and without it. :func:`leave_one_budget_out` holds out each
isoFLOP slice in turn.

Hold-out queries are comparisons over run columns joined by ``and``/``or`` with optional
parentheses (``"N > 1e9"``, ``"C >= 1e21 or (N > 5e9 and D < 1e11)"``), parsed by a small
recursive-descent parser: nothing is evaluated as Python.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.approaches._powerlaw import jsonable
from scalinglaws.approaches.isoflop import isoflop_slices
from scalinglaws.errors import ScalingLawsError, ScalingLawsWarning
from scalinglaws.io.query import row_mask
from scalinglaws.laws import Law, get
from scalinglaws.uncertainty.conformal import (
    DEFAULT_CALIBRATION_FRACTION,
    conformal_calibrate,
    widen,
)
from scalinglaws.uncertainty.intervals import (
    DEFAULT_PREDICTIVE_DRAWS,  # noqa: F401 - re-exported: its public name here
    INTERVAL_METHODS,
    check_interval_options,
    holdout_interval,
    interval_columns,
    load_law_runs,
)

UNCERTAINTY = INTERVAL_METHODS
CALIBRATE = ("none", "conformal")


# ------------------------------------------------------------------ hold-out queries
def holdout_mask(runs: pd.DataFrame, expr: str) -> np.ndarray:
    """Rows selected by a hold-out query, parsed (never evaluated as Python).

    The grammar of :mod:`scalinglaws.io.query` (the one ``--where`` uses):
    ``expr := term ("or" term)*``, ``term := factor ("and" factor)*``,
    ``factor := "(" expr ")" | operand OP operand``, ``OP`` one of ``< <= > >= == !=``,
    an operand a column name, a number or quoted text. Names match columns exactly, else
    case-insensitively.

    Raises:
        ScalingLawsError: One line naming the unreadable token or the unknown column.
    """
    return row_mask(runs, expr, label="hold-out query")


# ----------------------------------------------------------------------- the result
@dataclass(frozen=True)
class BacktestResult:
    """Outcome of :func:`backtest` or :func:`leave_one_budget_out`.

    Attributes:
        rows: One row per held-out run: the law's inputs, ``C``, ``observed``,
            ``predicted``, the interval bounds (``q05``/``q95`` at level 0.9),
            ``abs_error``, ``rel_error`` (predicted/observed - 1, signed), ``inside``
            (the interval covered the observation); ``budget`` for leave-one-budget-out.
        summary: ``n_train``, ``n_holdout``, ``level``, ``coverage``,
            ``median_abs_rel_error``, ``mean_abs_rel_error``, ``max_abs_rel_error``,
            ``bias`` (mean signed relative error), ``rmse_log``, ``uncertainty``,
            ``holdout``, fit status; ``by_budget`` for leave-one-budget-out.
        fit: The fit on the training runs (the last fold's for leave-one-budget-out).
            With ``uncertainty="none"`` it is a fit of every run with zero weight on the
            held-out ones (same optimum, and one compiled solver for every fold).
        warnings: Messages the user should read.
    """

    rows: pd.DataFrame
    summary: Mapping[str, Any]
    fit: Any = None
    warnings: tuple[str, ...] = ()

    @property
    def coverage(self) -> float:
        return float(self.summary["coverage"])

    def to_dict(self) -> dict[str, Any]:
        """``{rows, summary, warnings}``, JSON-ready (DESIGN §8)."""
        return {
            "rows": jsonable(self.rows.to_dict(orient="records")),
            "summary": jsonable(dict(self.summary)),
            "warnings": list(self.warnings),
        }

    def plot_parity(self, ax: Any = None) -> Any:
        """Observed against predicted loss for the held-out runs, with intervals.

        Points inside their interval are drawn filled, misses hollow; the diagonal is
        perfect prediction. Returns the matplotlib Axes.
        """
        # matplotlib is imported on first use: it is slow to import and plots are optional.
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.0, 5.0))
        r = self.rows
        lo_col, hi_col = self.summary["interval_columns"]
        yerr = np.vstack([r["predicted"] - r[lo_col], r[hi_col] - r["predicted"]])
        ax.errorbar(
            r["observed"], r["predicted"], yerr=yerr, fmt="none", ecolor="0.6", lw=1, zorder=1
        )
        inside = r["inside"].to_numpy(dtype=bool)
        ax.scatter(r["observed"][inside], r["predicted"][inside], s=18, zorder=2, label="covered")
        ax.scatter(
            r["observed"][~inside],
            r["predicted"][~inside],
            s=18,
            facecolors="none",
            edgecolors="C3",
            zorder=2,
            label="missed",
        )
        both = np.concatenate([r["observed"], r["predicted"], r[lo_col], r[hi_col]])
        span = [float(np.min(both)), float(np.max(both))]
        ax.plot(span, span, color="k", lw=0.8, ls="--", zorder=0)
        ax.set_xlabel("observed loss (held out)")
        ax.set_ylabel("predicted loss")
        level = self.summary["level"]
        ax.set_title(
            f"backtest: {self.summary['coverage']:.0%} of {self.summary['n_holdout']} inside "
            f"{level:.0%} intervals"
        )
        ax.legend(loc="upper left", frameon=False)
        return ax


# ---------------------------------------------------------------------- helpers
def _law_of(law: Any) -> Law:
    if isinstance(law, Law):
        return law
    if isinstance(law, str):
        return get(law)
    raise ScalingLawsError(f"law must be a registered name or a Law, not {type(law).__name__}")


def _rows(held: pd.DataFrame, law, predicted, lo, hi, level) -> pd.DataFrame:
    lo_name, hi_name = interval_columns(level)
    cols = [c for c in ("run", *law.inputs, "C") if c in held.columns]
    cols = list(dict.fromkeys(cols))
    out = held[cols].reset_index(drop=True).copy()
    observed = held[law.target].to_numpy(dtype=float)
    out["observed"] = observed
    out["predicted"] = predicted
    out[lo_name] = lo
    out[hi_name] = hi
    out["abs_error"] = np.abs(predicted - observed)
    out["rel_error"] = predicted / observed - 1.0
    out["inside"] = (observed >= lo) & (observed <= hi)
    return out


def _median_log_width(lo: pd.Series, hi: pd.Series) -> float:
    """Median of log(hi / lo); NaN where a lower bound is not positive (linear laws)."""
    with np.errstate(all="ignore"):
        return float(np.nanmedian(np.log(hi.to_numpy(float) / lo.to_numpy(float))))


def _summary(rows: pd.DataFrame, level: float) -> dict[str, Any]:
    lo, hi = interval_columns(level)
    rel = rows["rel_error"].to_numpy(dtype=float)
    log_err = np.log(rows["predicted"].to_numpy(dtype=float) / rows["observed"].to_numpy())
    return {
        "n_holdout": len(rows),
        "level": level,
        "interval_columns": list(interval_columns(level)),
        "coverage": float(rows["inside"].mean()),
        "median_abs_rel_error": float(np.median(np.abs(rel))),
        "mean_abs_rel_error": float(np.mean(np.abs(rel))),
        "max_abs_rel_error": float(np.max(np.abs(rel))),
        "median_abs_error": float(rows["abs_error"].median()),
        "bias": float(np.mean(rel)),
        "rmse_log": float(np.sqrt(np.mean(log_err**2))),
        "interval_width_log": _median_log_width(rows[lo], rows[hi]),
    }


def _one_rule(rules: Mapping[str, Any]) -> tuple[str, Any]:
    """The one hold-out rule given, as ``(name, value)``."""
    given = [n for n, v in rules.items() if v is not None]
    if len(given) != 1:
        raise ScalingLawsError(
            "give exactly one of holdout_above_compute, holdout_above_params, holdout_query"
            f" (got {', '.join(given) if given else 'none'})"
        )
    return given[0], rules[given[0]]


def _check_calibrate(calibrate: str, fraction: float | None, cutoff: float | None) -> None:
    if calibrate not in CALIBRATE:
        raise ScalingLawsError(
            f"calibrate must be one of {', '.join(CALIBRATE)}, not {calibrate!r}"
        )
    if calibrate == "none" and (fraction is not None or cutoff is not None):
        raise ScalingLawsError(
            "calibration_fraction / calibration_cutoff need calibrate='conformal'"
        )


def _or_default(fraction: float | None) -> float | None:
    return DEFAULT_CALIBRATION_FRACTION if fraction is None else fraction


def _holdout(df: pd.DataFrame, rule: str, value: Any) -> tuple[np.ndarray, str]:
    """The held-out mask of a rule and its description; refuses a rule selecting none."""
    if rule == "holdout_query":
        mask = holdout_mask(df, value)
        described = "query: " + " ".join(str(value).split())  # one line, whatever it holds
    else:
        col = "C" if rule == "holdout_above_compute" else "N"
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ScalingLawsError(f"{rule} must be a positive number, not {value!r}")
        mask = df[col].to_numpy(dtype=float) > float(value)
        described = f"{col} > {value:g}"
    if not mask.any():
        raise ScalingLawsError(f"hold-out rule ({described}) selects no run; nothing to test")
    return mask, described


def _scored(held, law, predicted, lo, hi, level, calibration) -> tuple[pd.DataFrame, dict]:
    """Rows and summary of the held-out runs; with a calibration, beside the plain ones."""
    if calibration is None:
        rows = _rows(held, law, predicted, lo, hi, level)
        return rows, _summary(rows, level)
    c_lo, c_hi = widen(predicted, lo, hi, calibration.factor, scale=calibration.scale)
    rows = _rows(held, law, predicted, c_lo, c_hi, level)
    plain = _rows(held, law, predicted, lo, hi, level)
    lo_name, hi_name = interval_columns(level)
    rows[f"{lo_name}_uncalibrated"] = lo
    rows[f"{hi_name}_uncalibrated"] = hi
    rows["inside_uncalibrated"] = plain["inside"]
    summary = _summary(rows, level)
    summary["coverage_uncalibrated"] = float(plain["inside"].mean())
    summary["interval_width_log_uncalibrated"] = _summary(plain, level)["interval_width_log"]
    summary["calibration"] = calibration.to_dict()
    return rows, summary


# ---------------------------------------------------------------------- workflows
def backtest(
    runs: Any,
    *,
    law: Any = "chinchilla",
    holdout_above_compute: float | None = None,
    holdout_above_params: float | None = None,
    holdout_query: str | None = None,
    uncertainty: str = "none",
    level: float = 0.9,
    samples: int | None = None,
    seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    k: float | None = None,
    calibrate: str = "none",
    calibration_fraction: float | None = None,
    calibration_cutoff: float | None = None,
    load_options: Mapping[str, Any] | None = None,
) -> BacktestResult:
    """Fit below a cutoff, predict the runs above it, and score the predictions.

    Exactly one hold-out rule: ``holdout_above_compute`` (runs with C > value are held
    out), ``holdout_above_params`` (N > value) or ``holdout_query`` (a comparison
    expression, e.g. ``"C >= 1e21"``). The law is fitted on the rest with
    :func:`scalinglaws.fit`; each held-out run gets a point prediction and a predictive
    interval at ``level`` for its observed loss (see the module docstring).

    Args:
        runs: Run log (final losses; a log with checkpoints uses each run's last).
        law: A registered law name or a :class:`~scalinglaws.laws.Law`.
        holdout_above_compute: Hold out runs with C above this (FLOPs).
        holdout_above_params: Hold out runs with N above this.
        holdout_query: Hold out the runs this expression selects.
        uncertainty: ``"none"``, ``"laplace"``, ``"bootstrap"`` or ``"bayes"``.
        level: Predictive interval level (0.9: columns ``q05`` and ``q95``).
        samples: Draws / resamples for the uncertainty method (its default if None).
        seed: Seed of the uncertainty draws.
        fit_options: Keyword options for :func:`scalinglaws.fit`.
        k: FLOPs per parameter per token, when C must be derived from N and D.
        calibrate: ``"none"`` or ``"conformal"``: widen the intervals by split-conformal
            calibration (:func:`~scalinglaws.uncertainty.conformal.conformal_calibrate`) made on the
            largest-compute *training* runs only; the held-out runs are never seen. Rows
            then also carry the uncalibrated bounds (``q05_uncalibrated``, ...) and
            ``inside_uncalibrated``; the summary adds ``coverage_uncalibrated``, the
            median log interval widths with and without it, and ``calibration``.
        calibration_fraction: Share of the training runs, largest compute first, held
            out for calibration (default 0.2).
        calibration_cutoff: Calibrate on the training runs with C above this instead.
        load_options: Keywords of :func:`scalinglaws.load_runs` (``columns``,
            ``checkpoints``, ``where``, ``best_of``, ``drop_nonfinite``, ``loss_is``).
            With ``checkpoints="all"`` every checkpoint is a data point, held out with
            its run's rule, and the bootstrap resamples whole runs.

    Returns:
        A :class:`BacktestResult`; ``.to_dict()`` gives ``{rows, summary, warnings}``.
        The summary's ``interval_width_log`` is the median width of the intervals on the
        log scale, log(q95 / q05).

    Raises:
        ScalingLawsError: No or several hold-out rules, a rule that holds out nothing or
            everything, a cutoff leaving fewer runs than parameters, too few calibration
            runs for the level, bad options.
    """
    law = _law_of(law)
    level = check_interval_options(uncertainty, level)
    rule = _one_rule(
        {
            "holdout_above_compute": holdout_above_compute,
            "holdout_above_params": holdout_above_params,
            "holdout_query": holdout_query,
        }
    )
    _check_calibrate(calibrate, calibration_fraction, calibration_cutoff)
    df = load_law_runs(runs, law, k, load_options)
    mask, described = _holdout(df, *rule)
    train, held = df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)
    calibration = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        if calibrate == "conformal":
            # Only the training runs go in: the held-out runs cannot leak into the factor.
            calibration = conformal_calibrate(
                train,
                law=law,
                uncertainty=uncertainty,
                level=level,
                calibration_fraction=_or_default(calibration_fraction),
                calibration_cutoff=calibration_cutoff,
                samples=samples,
                seed=seed,
                fit_options=fit_options,
                k=k,
            )
        result, predicted, lo, hi = holdout_interval(
            law,
            df,
            ~mask,
            uncertainty=uncertainty,
            level=level,
            samples=samples,
            seed=seed,
            fit_options=fit_options or {},
        )
    messages = [str(c.message) for c in caught if issubclass(c.category, ScalingLawsWarning)]
    rows, summary = _scored(held, law, predicted, lo, hi, level, calibration)
    summary.update(
        calibrate=calibrate,
        n_train=len(train),
        holdout=described,
        law=law.name,
        uncertainty=uncertainty,
        fit_status=result.status,
        fit_converged=bool(result.converged),
        load_notes=list(df.attrs.get("notes", [])),
    )
    if "C" in train.columns and "C" in held.columns:
        summary["max_train_compute"] = float(train["C"].max())
        summary["max_holdout_compute"] = float(held["C"].max())
    for m in messages:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    return BacktestResult(rows=rows, summary=summary, fit=result, warnings=tuple(messages))


def _fold_summary(rows: pd.DataFrame, level: float, budget: float, status: str) -> dict:
    s = _summary(rows, level)
    return {
        "budget": budget,
        "n": len(rows),
        "coverage": s["coverage"],
        "median_abs_rel_error": s["median_abs_rel_error"],
        "bias": s["bias"],
        "fit_status": status,
    }


def leave_one_budget_out(
    runs: Any,
    *,
    law: Any = "chinchilla",
    uncertainty: str = "none",
    level: float = 0.9,
    budget_rtol: float = 0.0,
    samples: int | None = None,
    seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    k: float | None = None,
    load_options: Mapping[str, Any] | None = None,
) -> BacktestResult:
    """Hold out each isoFLOP slice in turn, fit on the others, predict the slice.

    Slices as in :func:`~scalinglaws.approaches.isoflop_slices`. Holding out an inner
    budget tests interpolation, the outermost ones extrapolation; ``summary["by_budget"]``
    keeps them apart.

    Returns:
        A :class:`BacktestResult` whose rows cover every run once (with its ``budget``);
        the summary pools them and ``by_budget`` lists ``budget``, ``n``, ``coverage``,
        ``median_abs_rel_error`` and ``bias`` per slice.

    Raises:
        ScalingLawsError: Fewer than 2 slices, a fold leaving fewer runs than parameters,
            bad options.
    """
    law = _law_of(law)
    level = check_interval_options(uncertainty, level)
    df = isoflop_slices(load_law_runs(runs, law, k, load_options), budget_rtol=budget_rtol)
    budgets = sorted(df["budget"].unique())
    if len(budgets) < 2:
        raise ScalingLawsError("leave-one-budget-out needs at least 2 isoFLOP slices")
    frames, by_budget = [], []
    result = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        for b in budgets:
            mask = (df["budget"] == b).to_numpy()
            result, predicted, lo, hi = holdout_interval(
                law,
                df,
                ~mask,
                uncertainty=uncertainty,
                level=level,
                samples=samples,
                seed=seed,
                fit_options=fit_options or {},
            )
            rows = _rows(df[mask].reset_index(drop=True), law, predicted, lo, hi, level)
            rows.insert(0, "budget", float(b))
            frames.append(rows)
            by_budget.append(_fold_summary(rows, level, float(b), result.status))
    messages = sorted(
        {str(c.message) for c in caught if issubclass(c.category, ScalingLawsWarning)}
    )
    rows = pd.concat(frames, ignore_index=True)
    summary = _summary(rows, level)
    summary.update(
        {
            "n_runs": len(df),
            "n_folds": len(budgets),
            "holdout": "leave one isoFLOP budget out",
            "law": law.name,
            "uncertainty": uncertainty,
            "by_budget": by_budget,
        }
    )
    for m in messages:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    return BacktestResult(rows=rows, summary=summary, fit=result, warnings=tuple(messages))
