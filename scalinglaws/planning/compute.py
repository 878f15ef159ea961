"""Compute-optimal allocation from a fitted Chinchilla-form law.

With L(N, D) = E + A/N^alpha + B/D^beta and C = k N D (Hoffmann et al. 2022,
arXiv 2203.15556, eq. 4):

    G = (alpha A / (beta B))^(1/(alpha+beta)),  p = beta/(alpha+beta),  q = alpha/(alpha+beta)
    N_opt(C) = G (C/k)^p,   D_opt(C) = G^-1 (C/k)^q.

The mathematics (the frontier, its inverse, the constrained optima) lives in
:mod:`scalinglaws.laws.chinchilla`; a law offers it by declaring those functions in
:attr:`Law.derived <scalinglaws.laws.base.Law.derived>`, and the plans here evaluate them.

Every function here evaluates the point fit and, when the result carries parameter draws
(``result.uncertainty.draws``), every draw at once, reporting quantile columns
``<name>_qNN`` beside the point value: the uncertainty of the law's value (parameters only).

When the fit carries a split-conformal calibration (:func:`scalinglaws.calibrate`, or a
record saved from a calibrated fit), the plans that give a loss also give the calibrated
predictive interval of an *observed* loss at the planned N and D (parameters plus run
noise, each side scaled by the calibration factor; :mod:`scalinglaws.uncertainty.conformal`)
as ``loss_predictive_qNN``, with the method's own interval beside it as
``loss_predictive_qNN_uncalibrated``. ``calibrated=False`` leaves them out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.errors import PlanError
from scalinglaws.fitting.result import FitResult
from scalinglaws.io.runs import UNIDENTIFIABLE_DESIGN
from scalinglaws.laws.chinchilla import frontier_exponents as _exponents
from scalinglaws.planning import limits as _limits
from scalinglaws.uncertainty.conformal import predictive_interval
from scalinglaws.uncertainty.intervals import interval_columns

DEFAULT_QUANTILES = (0.05, 0.5, 0.95)
_FORM_PARAMS = ("E", "A", "B", "alpha", "beta")


def _require_frontier(result: FitResult, *needs: str) -> None:
    """Refuse a law that does not declare the frontier functions a plan evaluates, and a
    fit whose runs cannot separate N from D (its warnings say so:
    :func:`scalinglaws.io.runs.separation_problem`), whose allocation depends on rounding."""
    law = result.law
    if not law.has("inputs", *needs) or not set(_FORM_PARAMS) <= set(law.param_names):
        raise PlanError(
            f"compute-optimal plans need a Chinchilla-form law (E + A/N^alpha + B/D^beta); "
            f"{law.name!r} is not one"
        )
    for msg in result.warnings:
        if msg.startswith(UNIDENTIFIABLE_DESIGN):
            raise PlanError(
                "no compute-optimal plan from this fit: its runs cannot separate N from D "
                f"({msg[len(UNIDENTIFIABLE_DESIGN) + 2 :]})"
            )


def _param_sets(result: FitResult) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Point parameters and draws, each as ``{name: array}`` (draws shaped (n_draws, 1))."""
    point = {k: np.asarray([float(result.params[k])]) for k in _FORM_PARAMS}
    draws = result.uncertainty.draws
    if draws and all(k in draws for k in _FORM_PARAMS):
        return point, {k: np.asarray(draws[k], dtype=float)[:, None] for k in _FORM_PARAMS}
    return point, None


def quantile_column_name(q: float) -> str:
    """The suffix of the column holding quantile ``q`` of a plan value: 0.05 -> ``"q05"``."""
    return f"q{round(q * 100):02d}"


#: Former private name of :func:`quantile_column_name`.
_qname = quantile_column_name


def _check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    qs = tuple(float(q) for q in quantiles)
    if not qs or any(not (0.0 < q < 1.0) for q in qs):
        raise PlanError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)}")
    return qs


def _evaluate(
    fn: Callable[[dict[str, np.ndarray]], dict[str, Any]], params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``fn`` (built on the law's pure ``jax.numpy`` functions) in float64, as numpy."""
    with jax.enable_x64(True):
        values = fn(params)
        return {name: np.asarray(v, dtype=float) for name, v in values.items()}


def _tabulate(
    result: FitResult,
    inputs: Mapping[str, np.ndarray],
    fn: Callable[[dict[str, np.ndarray]], dict[str, Any]],
    quantiles: Sequence[float],
) -> pd.DataFrame:
    """Evaluate ``fn`` at the point fit (and every draw); point columns then quantiles."""
    qs = _check_quantiles(quantiles)
    point, draws = _param_sets(result)
    out = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    for name, v in _evaluate(fn, point).items():
        out[name] = v.reshape(-1)
    if draws is not None:
        for name, v in _evaluate(fn, draws).items():
            with np.errstate(all="ignore"):
                for q in qs:
                    # nanquantile: a draw where the request is impossible (e.g. a target
                    # loss below that draw's E) is left out, and counted below.
                    out[f"{name}_{quantile_column_name(q)}"] = np.nanquantile(v, q, axis=0)
            bad = np.mean(~np.isfinite(v), axis=0)
            if np.any(bad > 0):
                out[f"{name}_draws_excluded"] = bad
    df = pd.DataFrame(out)
    df.attrs["uncertainty"] = result.uncertainty.method
    df.attrs["uncertainty_converged"] = result.uncertainty.converged
    df.attrs["warnings"] = _plan_warnings(result)
    return df


def _plan_warnings(result: FitResult) -> list[str]:
    msgs = []
    if not result.converged:
        msgs.append(f"the fit did not converge (status {result.status}): this plan is unreliable")
    if result.uncertainty.method != "none" and not result.uncertainty.converged:
        msgs.append(
            f"the {result.uncertainty.method} uncertainty failed its diagnostics: intervals "
            "are not trustworthy"
        )
    return msgs


def _with_predictive(
    result: FitResult, df: pd.DataFrame, size: str, tokens: str, calibrated: bool
) -> pd.DataFrame:
    """Add the calibrated predictive-loss columns when the fit carries a calibration."""
    if not calibrated or result.calibration is None:
        return df
    to_inputs = result.law.derived_fn("inputs")
    inputs = to_inputs(df[size].to_numpy(dtype=float), df[tokens].to_numpy(dtype=float))
    interval = predictive_interval(result, inputs)
    lo, hi = (f"loss_predictive_{c}" for c in interval_columns(interval.attrs["level"]))
    out = df.copy()
    out.attrs = dict(df.attrs)
    out[lo], out[hi] = interval["lo"].to_numpy(), interval["hi"].to_numpy()
    out[f"{lo}_uncalibrated"] = interval["lo_uncalibrated"].to_numpy()
    out[f"{hi}_uncalibrated"] = interval["hi_uncalibrated"].to_numpy()
    out.attrs["calibration"] = result.calibration.to_dict()
    return out


def _positive_array(values: Any, what: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float)).reshape(-1)
    if arr.size == 0:
        raise PlanError(f"give at least one {what}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        raise PlanError(
            f"{what} #{int(bad[0]) + 1} is {float(arr[bad[0]]):g}; it must be a positive number"
        )
    return arr


def plan_compute(
    result: FitResult,
    budgets: Sequence[float] | float,
    *,
    k: float | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    calibrated: bool = True,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Compute-optimal model size, tokens and loss for each compute budget.

    N_opt(C) = G (C/k)^(beta/(alpha+beta)), D_opt = (C/k)/N_opt (Hoffmann et al. 2022,
    arXiv 2203.15556).

    Args:
        result: A fitted Chinchilla-form law (e.g. from ``fit(laws.chinchilla(), runs)``).
        budgets: Training compute budgets C in FLOPs.
        k: FLOPs per parameter per token (default: the one the fit recorded, usually 6).
        quantiles: Quantiles reported per draw when the fit carries uncertainty.
        calibrated: With a calibrated fit, add the calibrated predictive-loss interval
            (module docstring).
        limits: Overrides of the plausible ranges of N, D and C
            (:mod:`scalinglaws.planning.limits`); budgets and planned sizes outside them
            are refused.

    Returns:
        DataFrame with columns ``C, N_opt, D_opt, tokens_per_param, loss`` and, with draws,
        ``N_opt_q05, N_opt_q50, N_opt_q95, ...``; with a calibration
        ``loss_predictive_q05``, ``loss_predictive_q95`` and their ``_uncalibrated``
        counterparts (``attrs["calibration"]`` holds its summary).

    Raises:
        PlanError: Not a Chinchilla-form law, a budget that is not a positive number, or
            a budget or plan outside the plausible ranges.
    """
    _require_frontier(result, "compute_optimal", "loss_at")
    lim = _limits.resolve(limits)
    c = _positive_array(budgets, "budget")
    _limits.check_inputs(c, "C", "budget", lim)
    kk = float(k if k is not None else result.k)
    compute_optimal = result.law.derived_fn("compute_optimal")
    loss_at = result.law.derived_fn("loss_at")

    def fn(p: dict[str, np.ndarray]) -> dict[str, Any]:
        n_opt, d_opt = compute_optimal(p, c[None, :], kk)
        return {
            "N_opt": n_opt,
            "D_opt": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss": loss_at(p, n_opt, d_opt),
        }

    df = _tabulate(result, {"C": c}, fn, quantiles)
    _limits.check_outputs(df, lim)
    return _with_predictive(result, df, "N_opt", "D_opt", calibrated)


def compute_for_loss(
    result: FitResult,
    target_loss: Sequence[float] | float,
    *,
    k: float | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """The least compute (and its N, D) that reaches a target loss on the optimal frontier.

    Refused when the target is at or below the irreducible loss E: no amount of compute
    reaches it. Per draw, a target below that draw's E is left out of the quantiles (the
    share is reported in ``C_draws_excluded``).

    A plan outside the plausible ranges of N, D, C (``limits``, as in
    :func:`plan_compute`) is refused.

    Returns:
        DataFrame with ``target_loss, C, N_opt, D_opt, tokens_per_param``.
    """
    _require_frontier(result, "frontier_for_loss")
    lim = _limits.resolve(limits)
    target = _positive_array(target_loss, "target loss")
    e = float(result.params["E"])
    bad = np.flatnonzero(target <= e)
    if bad.size:
        raise PlanError(
            f"target loss {target[bad[0]]:g} is at or below the fitted irreducible loss "
            f"E = {e:.4g}: no compute budget reaches it"
        )
    kk = float(k if k is not None else result.k)
    frontier_for_loss = result.law.derived_fn("frontier_for_loss")

    def fn(p: dict[str, np.ndarray]) -> dict[str, Any]:
        n, d = frontier_for_loss(p, target[None, :])
        return {"C": kk * n * d, "N_opt": n, "D_opt": d, "tokens_per_param": d / n}

    df = _tabulate(result, {"target_loss": target}, fn, quantiles)
    _limits.check_outputs(df, lim)
    return df


def plan_fixed_params(
    result: FitResult,
    n_params: Sequence[float] | float,
    *,
    target_loss: float | None = None,
    k: float | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    calibrated: bool = True,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """For a model size fixed in advance: the tokens that make it compute-optimal.

    D*(N) inverts N_opt(C): D = G^-1 (N/G)^(q/p) with p, q the frontier exponents. With
    ``target_loss`` also the tokens this N needs to reach that loss,
    D = (B / (L - E - A N^-alpha))^(1/beta), refused when even infinite data cannot reach it.

    Returns:
        DataFrame with ``N, D_opt, C, tokens_per_param, loss`` (and ``D_for_target``);
        with a calibrated fit also the predictive-loss columns of :func:`plan_compute`.
    """
    _require_frontier(result, "best_tokens_for_params", "tokens_for_loss", "loss_at")
    law = result.law
    lim = _limits.resolve(limits)
    n = _positive_array(n_params, "model size N")
    _limits.check_inputs(n, "N", "model size", lim)
    kk = float(k if k is not None else result.k)
    if target_loss is not None:
        floor = result.params["E"] + result.params["A"] * n ** (-result.params["alpha"])
        bad = np.flatnonzero(target_loss <= floor)
        if bad.size:
            raise PlanError(
                f"target loss {target_loss:g} is at or below {floor[bad[0]]:.4g}, the loss of "
                f"N = {n[bad[0]]:.3g} trained on unlimited data: choose a larger model"
            )

    def fn(p: dict[str, np.ndarray]) -> dict[str, Any]:
        nn = n[None, :]
        d = law.derived_fn("best_tokens_for_params")(p, nn)
        out = {
            "D_opt": d,
            "C": kk * nn * d,
            "tokens_per_param": d / nn,
            "loss": law.derived_fn("loss_at")(p, nn, d),
        }
        if target_loss is not None:
            out["D_for_target"] = law.derived_fn("tokens_for_loss")(p, nn, target_loss)
        return out

    df = _tabulate(result, {"N": n}, fn, quantiles)
    _limits.check_outputs(df, lim)
    return _with_predictive(result, df, "N", "D_opt", calibrated)


def plan_fixed_tokens(
    result: FitResult,
    tokens: Sequence[float] | float,
    *,
    target_loss: float | None = None,
    k: float | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    calibrated: bool = True,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """For a limited token supply D: the model size that makes it compute-optimal.

    N*(D) inverts D_opt(C): N = G (D G)^(p/q). With ``target_loss`` also the parameters
    needed to reach it on those tokens, N = (A / (L - E - B D^-beta))^(1/alpha), refused
    when even an infinite model cannot reach it.

    Returns:
        DataFrame with ``D, N_opt, C, tokens_per_param, loss`` (and ``N_for_target``);
        with a calibrated fit also the predictive-loss columns of :func:`plan_compute`.
    """
    _require_frontier(result, "best_params_for_tokens", "params_for_loss", "loss_at")
    law = result.law
    lim = _limits.resolve(limits)
    d = _positive_array(tokens, "token supply D")
    _limits.check_inputs(d, "D", "token supply", lim)
    kk = float(k if k is not None else result.k)
    if target_loss is not None:
        floor = result.params["E"] + result.params["B"] * d ** (-result.params["beta"])
        bad = np.flatnonzero(target_loss <= floor)
        if bad.size:
            raise PlanError(
                f"target loss {target_loss:g} is at or below {floor[bad[0]]:.4g}, the loss of "
                f"D = {d[bad[0]]:.3g} tokens with an unlimited model: more data is needed"
            )

    def fn(p: dict[str, np.ndarray]) -> dict[str, Any]:
        dd = d[None, :]
        nn = law.derived_fn("best_params_for_tokens")(p, dd)
        out = {
            "N_opt": nn,
            "C": kk * nn * dd,
            "tokens_per_param": dd / nn,
            "loss": law.derived_fn("loss_at")(p, nn, dd),
        }
        if target_loss is not None:
            out["N_for_target"] = law.derived_fn("params_for_loss")(p, dd, target_loss)
        return out

    df = _tabulate(result, {"D": d}, fn, quantiles)
    _limits.check_outputs(df, lim)
    return _with_predictive(result, df, "N_opt", "D", calibrated)


def frontier_exponents(params: Mapping[str, float]) -> dict[str, float]:
    """a = beta/(alpha+beta) (N_opt ~ C^a) and b = alpha/(alpha+beta) (D_opt ~ C^b)."""
    al, be = float(params["alpha"]), float(params["beta"])
    if not (al > 0 and be > 0 and math.isfinite(al + be)):
        raise PlanError("alpha and beta must be positive for a compute-optimal frontier")
    a, b = _exponents({"alpha": al, "beta": be})
    return {"a": float(a), "b": float(b)}
