"""Split-conformal calibration of predictive intervals, held out in order of compute.

Parameter uncertainty alone under-covers when the law is slightly wrong (DESIGN §6): a
published study found plain regression intervals covering 61% at unseen larger scales,
and split-conformal calibration on log residuals restored about 90%. This module offers
that calibration for any law and any uncertainty method of :mod:`scalinglaws.uncertainty`.

Procedure (split conformal, Vovk et al. 2005; Lei et al. 2018, arXiv 1604.04173), with the
split made along compute so that calibration measures *extrapolation*:

1. Order the training runs by compute C. The largest-compute ones (the top
   ``calibration_fraction``, or those above ``calibration_cutoff``) are the calibration
   set; the law is fitted on the rest, with the chosen uncertainty method.
2. For each calibration run i the method gives a point prediction m_i and a predictive
   interval [l_i, u_i] at ``level``, on the law's residual scale (log loss for laws fitted
   on log loss). The conformity score is the error in units of the interval's half-width
   on the side the observation fell:

       s_i = (y_i - m_i) / (u_i - m_i)   if y_i >= m_i,
       s_i = (m_i - y_i) / (m_i - l_i)   otherwise   (y, m, l, u on the residual scale),

   so s_i <= 1 exactly when the uncalibrated interval covered y_i.
3. The conformal quantile is the ceil((n + 1) level)-th smallest of the n scores (the
   finite-sample rule: ceil((n+1) level) / n as an empirical quantile level). It needs
   ceil((n + 1) level) <= n, i.e. n >= level / (1 - level) (9 runs at 0.9); fewer are
   refused.
4. The final fit (all training runs) keeps its centre m(x) and scales each side of its
   interval by the factor q: [m - q (m - l), m + q (u - m)]. By default the factor is
   at least 1 (``widen_only``): calibration only ever widens the method's interval.

Why scaled and not a plain additive log margin: the spread of a draw-based method grows
with the distance of extrapolation, and a score in units of that spread carries from the
calibration runs (just below the cutoff) to predictions further out, where the spread is
larger; an additive margin would be the same width everywhere. With ``uncertainty="none"``
the interval is the residual scatter t_{n-p} s, constant in x, and the two coincide.

On a fit of every run, :func:`calibrate` attaches the calibration (``result.calibration``):
:func:`predictive_interval`, ``scalinglaws predict`` and the predictive-loss columns of
the compute plans are then widened by its factor, and a saved record keeps it (with, for
``uncertainty="none"``, the residual scatter the interval is rebuilt from).

Caveat: the conformal guarantee assumes calibration and test points are exchangeable;
points further out in compute than the calibration runs are not, so coverage is measured
(see :func:`scalinglaws.approaches.backtest` with ``calibrate="conformal"`` and
``bench/conformal_coverage.py``), never assumed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import FitError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.fitting.result import FitResult
from scalinglaws.io.files import json_safe
from scalinglaws.laws import Law, get
from scalinglaws.uncertainty.intervals import (
    DEFAULT_PREDICTIVE_DRAWS,
    check_interval_options,
    check_level,
    holdout_interval,
    load_law_runs,
)
from scalinglaws.uncertainty.predictive import predictive

#: Default share of the training runs (largest compute first) used for calibration.
DEFAULT_CALIBRATION_FRACTION = 0.2


@dataclass(frozen=True)
class Calibration:
    """A split-conformal calibration of predictive intervals (see the module docstring).

    Attributes:
        factor: Scale applied to each side of the method's interval (>= 1 when
            ``widen_only``).
        quantile: The raw conformal quantile of the scores (may be below 1).
        level: Interval level the scores were computed at.
        uncertainty: The uncertainty method whose intervals are calibrated.
        law: Name of the law.
        scale: ``"log"`` or ``"linear"``: the residual scale of the law.
        n_calibration: Number of calibration runs.
        n_fit: Number of runs the calibration fit used.
        calibration_cutoff: Smallest compute among the calibration runs (FLOPs).
        max_fit_compute: Largest compute among the runs of the calibration fit.
        widen_only: Whether the factor was floored at 1.
        coverage_uncalibrated: Share of calibration runs the method's interval covered.
        scores: The n conformity scores, in the order of the calibration runs.
        calibration_runs: The calibration runs' inputs, compute, observed and predicted.
        residual_scale: For ``uncertainty="none"``, the residual scatter s of the fit the
            calibration is attached to (:func:`calibrate`): a record keeps no residuals,
            and its interval t_{n-p} s is rebuilt from this.
        residual_dof: The degrees of freedom n - p of that scatter.
    """

    factor: float
    quantile: float
    level: float
    uncertainty: str
    law: str
    scale: str
    n_calibration: int
    n_fit: int
    calibration_cutoff: float
    max_fit_compute: float
    widen_only: bool = True
    coverage_uncalibrated: float = math.nan
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    calibration_runs: pd.DataFrame | None = None
    residual_scale: float | None = None
    residual_dof: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Summary fields, JSON-ready (without the per-run table and scores)."""
        out = json_safe(
            {
                "method": "split-conformal (scaled by interval half-width, order of compute)",
                "factor": self.factor,
                "quantile": self.quantile,
                "level": self.level,
                "uncertainty": self.uncertainty,
                "law": self.law,
                "scale": self.scale,
                "n_calibration": self.n_calibration,
                "n_fit": self.n_fit,
                "calibration_cutoff": self.calibration_cutoff,
                "max_fit_compute": self.max_fit_compute,
                "widen_only": self.widen_only,
                "coverage_uncalibrated": self.coverage_uncalibrated,
            }
        )
        if self.residual_scale is not None:
            out["residual_scale"] = float(self.residual_scale)
            out["residual_dof"] = int(self.residual_dof or 1)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Rebuild a calibration from :meth:`to_dict` (as kept in a fit record).

        Raises:
            ScalingLawsError: A field missing or of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ScalingLawsError("a calibration must be a JSON object")

        def number(key: str, positive: bool = False, default: Any = None) -> float:
            value = data.get(key, default)
            if value is None and default is not None:
                return default
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or (positive and value <= 0):
                raise ScalingLawsError(
                    f"calibration field {key!r} = {value!r} is not a "
                    f"{'positive ' if positive else ''}finite number"
                )
            return float(value)

        level = number("level")
        if not 0.0 < level < 1.0:
            raise ScalingLawsError(f"calibration level {level!r} is not between 0 and 1")
        for key in ("uncertainty", "law", "scale"):
            if not isinstance(data.get(key), str):
                raise ScalingLawsError(f"calibration field {key!r} is missing or not a string")
        if data["scale"] not in ("log", "linear"):
            raise ScalingLawsError(f"calibration scale {data['scale']!r} is not log or linear")
        scale = data.get("residual_scale")
        return cls(
            factor=number("factor", positive=True),
            quantile=number("quantile"),
            level=level,
            uncertainty=data["uncertainty"],
            law=data["law"],
            scale=data["scale"],
            n_calibration=int(number("n_calibration", positive=True)),
            n_fit=int(number("n_fit", positive=True)),
            calibration_cutoff=number("calibration_cutoff", positive=True),
            max_fit_compute=number("max_fit_compute", default=math.nan),
            widen_only=bool(data.get("widen_only", True)),
            coverage_uncalibrated=number("coverage_uncalibrated", default=math.nan),
            residual_scale=None if scale is None else number("residual_scale"),
            residual_dof=None if scale is None else int(number("residual_dof", positive=True)),
        )

    def describe(self) -> str:
        """One line for reports: the factor, the runs it came from and their cutoff."""
        kind = "residual-scatter" if self.uncertainty == "none" else self.uncertainty
        return (
            f"{self.level:.0%} predictive intervals calibrated: split-conformal factor "
            f"{self.factor:.4g} from {self.n_calibration} runs with C >= "
            f"{self.calibration_cutoff:.3g} (the uncalibrated {kind} intervals covered "
            f"{self.coverage_uncalibrated:.0%} of them)"
        )


# ---------------------------------------------------------------------- the pieces
def min_calibration_runs(level: float) -> int:
    """Smallest n with ceil((n + 1) level) <= n: the conformal quantile then exists."""
    n = 1
    while math.ceil((n + 1) * level - 1e-12) > n:
        n += 1
    return n


def conformal_quantile(scores: Any, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score (finite-sample split-conformal quantile).

    Raises:
        ScalingLawsError: Too few scores for the level (n < level / (1 - level)).
    """
    s = np.sort(np.asarray(scores, dtype=float).ravel())
    n = s.size
    k = math.ceil((n + 1) * level - 1e-12)
    if k > n:
        raise ScalingLawsError(
            f"{n} calibration runs are too few for {level:.0%} conformal intervals: need "
            f"at least {min_calibration_runs(level)} (n + 1 >= 1 / (1 - level)); raise "
            "calibration_fraction, lower the calibration cutoff, or lower the level"
        )
    return float(s[k - 1])


def _to_scale(values: np.ndarray, scale: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if scale == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)
    return values


def _from_scale(values: np.ndarray, scale: str) -> np.ndarray:
    return np.exp(values) if scale == "log" else np.asarray(values, dtype=float)


def _half_widths(predicted, lo, hi, scale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = _to_scale(predicted, scale)
    # A draw-based interval may, rarely, not straddle the point prediction; a tiny floor
    # keeps the score finite (such a side then scales from the centre).
    down = np.maximum(m - _to_scale(lo, scale), 1e-12)
    up = np.maximum(_to_scale(hi, scale) - m, 1e-12)
    return m, down, up


def conformity_scores(observed, predicted, lo, hi, *, scale: str = "log") -> np.ndarray:
    """Errors in units of the interval's half-width on the observation's side.

    s = (y - m) / (u - m) above the centre, (m - y) / (m - l) below, on the residual
    scale; s <= 1 exactly when [l, u] covers y.
    """
    m, down, up = _half_widths(predicted, lo, hi, scale)
    y = _to_scale(observed, scale)
    return np.where(y >= m, (y - m) / up, (m - y) / down)


def widen(predicted, lo, hi, factor: float, *, scale: str = "log") -> tuple[np.ndarray, ...]:
    """Scale each side of an interval about its centre: [m - q (m - l), m + q (u - m)]."""
    m, down, up = _half_widths(predicted, lo, hi, scale)
    return _from_scale(m - factor * down, scale), _from_scale(m + factor * up, scale)


def _law_of(law: Any) -> Law:
    if isinstance(law, Law):
        return law
    if isinstance(law, str):
        return get(law)
    raise ScalingLawsError(f"law must be a registered name or a Law, not {type(law).__name__}")


def _scale_of(law) -> str:
    return "log" if law.residual == "log" else "linear"


def calibration_split(
    runs: pd.DataFrame,
    *,
    calibration_fraction: float | None = DEFAULT_CALIBRATION_FRACTION,
    calibration_cutoff: float | None = None,
) -> np.ndarray:
    """Boolean mask of the calibration runs: the largest-compute ones.

    With ``calibration_cutoff`` the runs with C above it; otherwise the top
    ``calibration_fraction`` of runs by C, rounded up, with every run tied (to 1e-9
    relative) at the smallest selected compute included (an isoFLOP slice is never split).

    Raises:
        ScalingLawsError: No ``C`` column, a fraction outside (0, 1), a non-positive cutoff.
    """
    if "C" not in runs.columns:
        raise ScalingLawsError("conformal calibration orders runs by compute: column C missing")
    c = runs["C"].to_numpy(dtype=float)
    if calibration_cutoff is not None:
        if not (
            isinstance(calibration_cutoff, int | float)
            and math.isfinite(calibration_cutoff)
            and calibration_cutoff > 0
        ):
            raise ScalingLawsError(
                f"calibration_cutoff must be a positive compute in FLOPs, not "
                f"{calibration_cutoff!r}"
            )
        return c > float(calibration_cutoff)
    f = calibration_fraction
    if not (isinstance(f, int | float) and 0.0 < float(f) < 1.0):
        raise ScalingLawsError(
            f"calibration_fraction must be a number between 0 and 1 (e.g. 0.2), not {f!r}"
        )
    n_cal = max(1, math.ceil(float(f) * len(c) - 1e-9))
    threshold = np.sort(c)[::-1][n_cal - 1]
    # Ties within 1e-9 relative: C derived as k N D carries rounding noise (~1e-12), which
    # must not split an isoFLOP slice.
    return c >= threshold * (1.0 - 1e-9)


def _check_split(law: Law, cal: np.ndarray, level: float) -> None:
    """Refuse a split with too few calibration runs, or too few left to fit the law."""
    n_cal, n_fit, p = int(cal.sum()), int((~cal).sum()), len(law.params)
    need = min_calibration_runs(level)
    if n_cal < need:
        raise ScalingLawsError(
            f"the calibration split holds out {n_cal} of {cal.size} runs; {level:.0%} "
            f"conformal intervals need at least {need} (n + 1 >= 1 / (1 - level)): raise "
            "calibration_fraction, lower calibration_cutoff, or lower the level"
        )
    if n_fit <= p:
        raise FitError(
            f"the calibration split leaves {n_fit} runs to fit the {p} parameters of law "
            f"{law.name!r}; at least {p + 1} are needed (lower calibration_fraction or "
            "raise calibration_cutoff)"
        )


# ---------------------------------------------------------------------- workflows
def conformal_calibrate(
    runs: Any,
    *,
    law: Any = "chinchilla",
    uncertainty: str = "none",
    level: float = 0.9,
    calibration_fraction: float | None = DEFAULT_CALIBRATION_FRACTION,
    calibration_cutoff: float | None = None,
    widen_only: bool = True,
    samples: int | None = None,
    seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    k: float | None = None,
) -> Calibration:
    """Calibrate a method's predictive intervals on the largest-compute runs held out.

    Fits ``law`` on the runs below the calibration split (see :func:`calibration_split`),
    scores its ``level`` predictive intervals on the calibration runs, and returns the
    split-conformal factor q = ceil((n+1) level)-th smallest score (module docstring).
    Apply it to a fit of all the runs with :func:`calibrated_interval`.

    Args:
        runs: The training runs only (a DataFrame or a path): never the runs to test.
        law: A registered law name or a :class:`~scalinglaws.laws.Law`.
        uncertainty: ``"none"`` (residual scatter), ``"laplace"``, ``"bootstrap"`` or
            ``"bayes"``.
        level: Interval level (0.9 needs at least 9 calibration runs).
        calibration_fraction: Share of runs, largest compute first, held out for
            calibration (default 0.2). Ignored when ``calibration_cutoff`` is given.
        calibration_cutoff: Calibrate on the runs with C above this (FLOPs).
        widen_only: Floor the factor at 1, so calibration never narrows an interval.
        samples: Draws / resamples for the uncertainty method (its default if None).
        seed: Seed of the uncertainty draws.
        fit_options: Keyword options for :func:`scalinglaws.fit`.
        k: FLOPs per parameter per token, when C must be derived from N and D.

    Returns:
        A :class:`Calibration`.

    Raises:
        ScalingLawsError: Too few calibration runs for the level, bad options.
        FitError: Too few runs left to fit the law below the calibration split.
    """
    law = _law_of(law)
    level = check_interval_options(uncertainty, level)
    if not isinstance(widen_only, bool):
        raise ScalingLawsError(f"widen_only must be True or False, not {widen_only!r}")
    df = load_law_runs(runs, law, k).reset_index(drop=True)
    cal = calibration_split(
        df, calibration_fraction=calibration_fraction, calibration_cutoff=calibration_cutoff
    )
    _check_split(law, cal, level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        _, predicted, lo, hi = holdout_interval(
            law,
            df,
            ~cal,
            uncertainty=uncertainty,
            level=level,
            samples=samples,
            seed=seed,
            fit_options=fit_options or {},
        )
    scale = _scale_of(law)
    held = df[cal].reset_index(drop=True)
    observed = held[law.target].to_numpy(dtype=float)
    scores = conformity_scores(observed, predicted, lo, hi, scale=scale)
    if not np.all(np.isfinite(scores)):
        raise FitError(
            "conformal calibration: the calibration fit gave non-finite predictions or "
            "intervals for some calibration runs; check the fit below the split"
        )
    q = conformal_quantile(scores, level)
    cols = [c for c in ("run", *law.inputs, "C") if c in held.columns]
    table = held[list(dict.fromkeys(cols))].copy()
    table["observed"], table["predicted"], table["score"] = observed, predicted, scores
    n_cal, n_fit = int(cal.sum()), int((~cal).sum())
    return Calibration(
        factor=max(q, 1.0) if widen_only else q,
        quantile=q,
        level=level,
        uncertainty=uncertainty,
        law=law.name,
        scale=scale,
        n_calibration=n_cal,
        n_fit=n_fit,
        calibration_cutoff=float(held["C"].min()),
        max_fit_compute=float(df.loc[~cal, "C"].max()),
        widen_only=widen_only,
        coverage_uncalibrated=float(np.mean(scores <= 1.0)),
        scores=scores,
        calibration_runs=table,
    )


def residual_scatter(result: Any) -> tuple[float, int]:
    """The residual scale s = sqrt(sum(r^2) / (n - p)) of a fit and its dof n - p.

    A fit loaded from a record keeps no residuals; its attached calibration carries them
    (``residual_scale``, ``residual_dof``).

    Raises:
        ScalingLawsError: Neither residuals nor a calibration that kept them.
    """
    r = np.asarray(result.residuals, dtype=float)
    if r.size:
        dof = max(r.size - len(result.law.params), 1)
        return math.sqrt(float(np.sum(r**2)) / dof), dof
    cal = getattr(result, "calibration", None)
    if cal is not None and cal.residual_scale is not None:
        return float(cal.residual_scale), int(cal.residual_dof or 1)
    raise ScalingLawsError(
        f"this {result.law.name} fit carries neither residuals nor uncertainty draws (a "
        "record saved without uncertainty): refit it, or attach uncertainty, to get "
        "predictive intervals"
    )


def method_interval(
    result: Any,
    inputs: Any,
    level: float = 0.9,
    *,
    seed: int = 0,
    n_draws: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point prediction and uncalibrated predictive interval of a fit at new inputs.

    Without attached uncertainty: residual scatter only, prediction +- t_{n-p} s on the
    residual scale, s^2 = sum(r^2) / (n - p) over the fit's residuals. With draws:
    quantiles of :func:`scalinglaws.uncertainty.predictive` (parameters plus noise).

    Returns:
        ``(predicted, lo, hi)`` arrays, one entry per input row.
    """
    # scipy.stats is imported on first use: it costs start-up time most fits never need.
    from scipy import stats

    tail = 0.5 * (1.0 - level)
    frame = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(dict(inputs))
    predicted = np.atleast_1d(np.asarray(result.predict(frame), dtype=float))
    if result.uncertainty.n_draws == 0:
        s, dof = residual_scatter(result)
        t = float(stats.t.ppf(1.0 - tail, dof))
        if result.law.residual == "log":
            return predicted, predicted * math.exp(-t * s), predicted * math.exp(t * s)
        return predicted, predicted - t * s, predicted + t * s
    n = n_draws or max(DEFAULT_PREDICTIVE_DRAWS, result.uncertainty.n_draws)
    draws = predictive(result, frame, n=n, seed=seed, allow_unconverged=True)
    lo, hi = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return predicted, lo, hi


def calibrated_interval(
    result: Any,
    calibration: Calibration,
    inputs: Any,
    level: float | None = None,
    *,
    seed: int = 0,
    n_draws: int | None = None,
) -> pd.DataFrame:
    """The calibrated predictive interval of a fit at new inputs.

    ``result`` should be the law fitted on all the runs that were given to
    :func:`conformal_calibrate`, with the same uncertainty method attached (none for
    ``"none"``). Its interval [l, u] about the prediction m is scaled by the calibration
    factor q on each side: [m - q (m - l), m + q (u - m)] on the residual scale.

    Args:
        result: A :class:`~scalinglaws.fitting.FitResult`.
        calibration: From :func:`conformal_calibrate`.
        inputs: A DataFrame with the law's input columns, or a dict of arrays.
        level: Must equal ``calibration.level`` if given (scores are level-specific).
        seed: Seed of the predictive draws.
        n_draws: Predictive draws for a draw-based method (default: at least 4,000).

    Returns:
        DataFrame with ``predicted``, ``lo``, ``hi`` (calibrated) and ``lo_uncalibrated``,
        ``hi_uncalibrated``, one row per input.

    Raises:
        ScalingLawsError: A level other than the calibration's, or a fit whose law or
            uncertainty method differs from the calibration's.
    """
    check_calibration(result, calibration, level)
    predicted, lo, hi = method_interval(
        result, inputs, calibration.level, seed=seed, n_draws=n_draws
    )
    c_lo, c_hi = widen(predicted, lo, hi, calibration.factor, scale=calibration.scale)
    return pd.DataFrame(
        {
            "predicted": predicted,
            "lo": c_lo,
            "hi": c_hi,
            "lo_uncalibrated": lo,
            "hi_uncalibrated": hi,
        }
    )


def _method_of(result: Any) -> str:
    return result.uncertainty.method if result.uncertainty.n_draws else "none"


def check_calibration(result: Any, calibration: Any, level: float | None = None) -> None:
    """Refuse a calibration that does not belong to this fit's intervals.

    Raises:
        ScalingLawsError: Not a :class:`Calibration`, a level other than the calibration's,
            or a fit whose law or uncertainty method differs from the calibration's.
    """
    if not isinstance(calibration, Calibration):
        raise ScalingLawsError(
            f"calibration must come from conformal_calibrate, not {type(calibration).__name__}"
        )
    if level is not None and abs(float(level) - calibration.level) > 1e-12:
        raise ScalingLawsError(
            f"this calibration was made for {calibration.level:.0%} intervals, not "
            f"{level!r}; recalibrate at the level you need"
        )
    if result.law.name != calibration.law:
        raise ScalingLawsError(
            f"the fit is of law {result.law.name!r} but the calibration of {calibration.law!r}"
        )
    method = _method_of(result)
    if method != calibration.uncertainty:
        raise ScalingLawsError(
            f"the fit carries {method!r} uncertainty but the calibration was made for "
            f"{calibration.uncertainty!r}; attach the same method before calibrating"
        )


def _same_runs(law: Any, given: pd.DataFrame, fitted: pd.DataFrame) -> bool:
    """Whether two run tables hold the same (inputs, target) rows, in any order."""
    cols = [*law.inputs, law.target]
    if len(given) != len(fitted) or any(c not in fitted.columns for c in cols):
        return False
    a = given[cols].to_numpy(dtype=float)
    b = fitted[cols].to_numpy(dtype=float)
    a, b = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
    # Values pass through the same loader; 1e-12 relative only absorbs a unit conversion.
    return bool(np.allclose(a, b, rtol=1e-12, atol=0.0))


def _runs_of(result: Any, runs: Any) -> pd.DataFrame:
    """The runs a fit was made from: ``runs`` (checked to be those) or its own data."""
    if not isinstance(result, FitResult):
        raise ScalingLawsError(f"calibrate takes a FitResult, not {type(result).__name__}")
    law = result.law
    if runs is None:
        if result.data is None:
            raise ScalingLawsError(
                "this fit keeps no runs (it was loaded from a record): pass the runs it was "
                "fitted to, calibrate(result, runs)"
            )
        runs = result.data
    df = load_law_runs(runs, law, result.k).reset_index(drop=True)
    fitted = result.data
    same = _same_runs(law, df, fitted) if fitted is not None else len(df) == result.n_runs
    if not same:
        raise ScalingLawsError(
            f"the runs given ({len(df)}) are not the {result.n_runs} runs this {law.name} "
            "fit was made from; calibrate a fit with the runs it was fitted to"
        )
    return df


def calibrate(
    result: Any,
    runs: Any = None,
    *,
    level: float = 0.9,
    calibration_fraction: float | None = DEFAULT_CALIBRATION_FRACTION,
    calibration_cutoff: float | None = None,
    widen_only: bool = True,
    samples: int | None = None,
    seed: int = 0,
) -> Any:
    """Attach a split-conformal calibration to a fit, so its predictive intervals use it.

    Runs :func:`conformal_calibrate` on the runs the fit was made from, with the fit's
    law, its uncertainty method (``"none"`` without draws) and its solver settings, and
    returns the fit with ``calibration`` set. From then on :func:`predictive_interval`,
    ``scalinglaws predict`` and the predictive-loss columns of the compute plans scale
    each side of the method's interval by the factor q, [m - q (m - l), m + q (u - m)]
    on the residual scale, and :func:`scalinglaws.save_fit` keeps the calibration in the
    record (module docstring; Lei et al. 2018, arXiv 1604.04173).

    Args:
        result: A :class:`~scalinglaws.fitting.FitResult` of every run, with the
            uncertainty method to calibrate already attached.
        runs: The runs the fit was made from (default: ``result.data``); anything
            :func:`scalinglaws.load_runs` accepts.
        level: Interval level (0.9 needs at least 9 calibration runs).
        calibration_fraction: Share of runs, largest compute first, held out for
            calibration (default 0.2). Ignored when ``calibration_cutoff`` is given.
        calibration_cutoff: Calibrate on the runs with C above this (FLOPs).
        widen_only: Floor the factor at 1, so calibration never narrows an interval.
        samples: Draws / resamples of the calibration fit's uncertainty (its default).
        seed: Seed of those draws.

    Returns:
        A copy of ``result`` with ``calibration`` (a :class:`Calibration`).

    Raises:
        ScalingLawsError: No runs (a fit loaded from a record), runs that are not the
            ones the fit was made from, too few calibration runs for the level, bad
            options.
        FitError: Too few runs left below the calibration split to fit the law.
    """
    df = _runs_of(result, runs)
    law = result.law
    fit_options = {
        k: result.options[k]
        for k in ("search", "delta", "top_k", "max_iter")
        if k in result.options
    }
    method = _method_of(result)
    calibration = conformal_calibrate(
        df,
        law=law,
        uncertainty=method,
        level=level,
        calibration_fraction=calibration_fraction,
        calibration_cutoff=calibration_cutoff,
        widen_only=widen_only,
        samples=samples,
        seed=seed,
        fit_options=fit_options,
        k=result.k,
    )
    if method == "none":
        scale, dof = residual_scatter(result)
        calibration = dataclasses.replace(calibration, residual_scale=scale, residual_dof=dof)
    return dataclasses.replace(result, calibration=calibration)


def predictive_interval(
    result: Any,
    inputs: Any,
    *,
    level: float | None = None,
    calibrated: bool = True,
    seed: int = 0,
    n_draws: int | None = None,
) -> pd.DataFrame:
    """Point prediction and predictive interval of an observed value at new inputs.

    The method's interval (:func:`method_interval`: residual scatter without draws,
    quantiles of :func:`scalinglaws.uncertainty.predictive` with them), widened by the
    fit's calibration when it carries one (:func:`calibrate`) and ``calibrated`` is True.

    Args:
        result: A :class:`~scalinglaws.fitting.FitResult`.
        inputs: A DataFrame with the law's input columns, or a dict of arrays.
        level: Interval level; with a calibration it must be the calibration's (the
            default), else 0.9 by default.
        calibrated: Use the fit's calibration when it has one.
        seed: Seed of the predictive draws.
        n_draws: Predictive draws for a draw-based method (default: at least 4,000).

    Returns:
        DataFrame with ``predicted``, ``lo``, ``hi`` and, when calibrated,
        ``lo_uncalibrated`` and ``hi_uncalibrated``; ``attrs["calibration"]`` holds the
        calibration used (or None) and ``attrs["level"]`` the level.

    Raises:
        ScalingLawsError: A calibration that does not match the fit, or a level other
            than the calibration's.
    """
    calibration = getattr(result, "calibration", None) if calibrated else None
    if calibration is not None:
        out = calibrated_interval(result, calibration, inputs, level, seed=seed, n_draws=n_draws)
        out.attrs["level"] = calibration.level
    else:
        lvl = 0.9 if level is None else check_level(level)
        predicted, lo, hi = method_interval(result, inputs, lvl, seed=seed, n_draws=n_draws)
        out = pd.DataFrame({"predicted": predicted, "lo": lo, "hi": hi})
        out.attrs["level"] = lvl
    out.attrs["calibration"] = calibration
    return out
