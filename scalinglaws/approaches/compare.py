"""Approach 3 as a power-law allocation, and Approaches 1, 2, 3 side by side.

Approach 3 (Hoffmann et al. 2022, arXiv 2203.15556) fits L(N, D) = E + A/N^alpha +
B/D^beta; minimising it under C = k N D gives

    N_opt(C) = G (C/k)^a,  D_opt(C) = G^-1 (C/k)^b,
    G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta),

so in the form N* = G_N C^a used for Approaches 1 and 2, G_N = G k^-a and G_D = k^-b / G.
G, a and b come from the pure functions of :mod:`scalinglaws.laws.chinchilla`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.approaches._powerlaw import (
    PowerLawAllocation,
    check_level,
    jsonable,
    percentile_interval,
)
from scalinglaws.approaches.envelope import approach1
from scalinglaws.approaches.isoflop import approach2
from scalinglaws.errors import FitError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.fitting import FitResult, fit
from scalinglaws.io.runs import load_runs, separation_problem
from scalinglaws.laws.chinchilla import chinchilla, frontier_coefficient, frontier_exponents

#: Row labels of :func:`compare_approaches`.
APPROACH_NAMES = {1: "1: envelope", 2: "2: isoFLOP", 3: "3: parametric"}


@dataclass(frozen=True)
class Approach3Result(PowerLawAllocation):
    """The compute-optimal allocation implied by a fitted Chinchilla-form law.

    Attributes:
        powerlaws: Index ``N`` and ``D`` as in :class:`Approach2Result` (``r2`` NaN).
        draws: Per-draw ``a``, ``b``, ``log_G_N``, ``log_G_D`` from the fit's attached
            uncertainty draws, or from a Gaussian on its Gauss-Newton covariance.
        options: ``level``, ``k``, ``interval_source`` (``"draws:<method>"``,
            ``"laplace"`` or ``"none"``).
        fit: The :class:`~scalinglaws.FitResult` it came from.
        warnings: Messages the user should read.
    """

    powerlaws: pd.DataFrame
    draws: Mapping[str, np.ndarray] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    fit: Any = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready summary."""
        return {
            "approach": 3,
            "powerlaws": jsonable(self.powerlaws.reset_index().to_dict(orient="records")),
            "options": jsonable(dict(self.options)),
            "warnings": list(self.warnings),
        }


_ALLOCATION_PARAMS = ("A", "B", "alpha", "beta")


def _allocation(params: Mapping[str, Any], k: float) -> tuple[np.ndarray, ...]:
    """(a, log G_N, b, log G_D) of a Chinchilla-form law; parameter arrays broadcast."""
    p = {n: np.asarray(params[n], dtype=float) for n in _ALLOCATION_PARAMS}
    with jax.enable_x64(True):
        a, b = frontier_exponents(p)
        log_g = jnp.log(frontier_coefficient(p))
        out = (a, log_g - a * math.log(k), b, -log_g - b * math.log(k))
        return tuple(np.asarray(v, dtype=float) for v in out)


def approach3(
    fit_or_runs: Any,
    *,
    level: float = 0.95,
    n_draws: int = 4000,
    seed: int = 0,
) -> Approach3Result:
    """The N*(C), D*(C) power laws implied by a Chinchilla fit (Approach 3).

    a = beta/(alpha+beta), b = alpha/(alpha+beta), N* = G (C/k)^a, D* = G^-1 (C/k)^b with
    G = (alpha A/(beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, arXiv 2203.15556).

    Intervals: from the fit's attached uncertainty draws when it has any (bootstrap or
    posterior); otherwise from ``n_draws`` Gaussian draws of the internal parameters with
    the fit's Gauss-Newton covariance (a Laplace approximation; none if it is singular).

    Args:
        fit_or_runs: A :class:`~scalinglaws.FitResult` of a Chinchilla-form law, or a run
            log to fit with ``scalinglaws.fit(scalinglaws.laws.chinchilla(), runs)``.
        level: Interval level.
        n_draws: Gaussian draws when the fit carries none.
        seed: Seed of those draws.

    Returns:
        An :class:`Approach3Result`.

    Raises:
        FitError: The law lacks ``A, B, alpha, beta``.
    """
    level = check_level(level)
    if isinstance(fit_or_runs, FitResult):
        result = fit_or_runs
    else:
        # Final losses: a log with checkpoints is reduced to each run's last one.
        result = fit(chinchilla(), load_runs(fit_or_runs))
    names = _ALLOCATION_PARAMS
    if any(n not in result.params for n in names):
        raise FitError(
            f"Approach 3 needs a Chinchilla-form law with {', '.join(names)}; law "
            f"{result.law.name!r} has {', '.join(result.params)}"
        )
    k = result.k
    a, lgn, b, lgd = _allocation(result.params, k)
    d, source, messages = _parameter_draws(result, n_draws, seed)
    draws: dict[str, np.ndarray] = {}
    if d:
        ok = (d["alpha"] > 0) & (d["beta"] > 0) & (d["A"] > 0) & (d["B"] > 0)
        ad, gnd, bd, gdd = _allocation({n: v[ok] for n, v in d.items()}, k)
        draws = {"a": ad, "log_G_N": gnd, "b": bd, "log_G_D": gdd}
    if not result.converged:
        messages.append(f"the Chinchilla fit did not converge (status {result.status})")
    rows = {
        q: _powerlaw_row(e, g, draws.get(ek, np.array([])), draws.get(gk, np.array([])), level)
        | {"n_points": int(result.n_runs)}
        for q, e, g, ek, gk in (("N", a, lgn, "a", "log_G_N"), ("D", b, lgd, "b", "log_G_D"))
    }
    powerlaws = pd.DataFrame.from_dict(rows, orient="index")
    powerlaws.index.name = "quantity"
    for m in messages:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    return Approach3Result(
        powerlaws=powerlaws,
        draws=draws,
        options={"level": level, "k": k, "interval_source": source, "seed": seed},
        fit=result,
        warnings=tuple(messages),
    )


def _parameter_draws(
    result: FitResult, n_draws: int, seed: int
) -> tuple[dict[str, np.ndarray], str, list[str]]:
    """Draws of ``A, B, alpha, beta``: the fit's own, else Laplace; with their source."""
    names = _ALLOCATION_PARAMS
    unc = result.uncertainty
    if unc.draws and all(n in unc.draws for n in names):
        d = {n: np.asarray(unc.draws[n], dtype=float) for n in names}
        messages = []
        if not unc.converged:
            messages.append(f"the fit's {unc.method} uncertainty did not pass its diagnostics")
        return d, f"draws:{unc.method}", messages
    if result.covariance is not None:
        rng = np.random.default_rng(seed)
        theta0 = np.asarray(result.law.to_internal(dict(result.params)), dtype=float)
        cov = np.asarray(result.covariance, dtype=float)
        cov = 0.5 * (cov + cov.T)
        thetas = rng.multivariate_normal(theta0, cov, size=n_draws, method="eigh")
        nat = result.law.to_natural(thetas)
        return {n: np.asarray(nat[n], dtype=float) for n in names}, "laplace", []
    return {}, "none", ["the fit has no uncertainty draws and a singular covariance: no intervals"]


def _powerlaw_row(
    exponent: Any, log_coef: Any, exp_draws: np.ndarray, coef_draws: np.ndarray, level: float
) -> dict[str, Any]:
    """One row of the power-law table: exponent and coefficient with their intervals."""
    e_lo, e_hi = percentile_interval(exp_draws, level)
    g_lo, g_hi = percentile_interval(coef_draws, level)
    return {
        "exponent": float(exponent),
        "exponent_lo": e_lo,
        "exponent_hi": e_hi,
        "coefficient": float(np.exp(log_coef)),
        "coefficient_lo": math.exp(g_lo) if math.isfinite(g_lo) else math.nan,
        "coefficient_hi": math.exp(g_hi) if math.isfinite(g_hi) else math.nan,
        "r2": math.nan,
        "n_points": 0,
        "n_draws": int(np.size(exp_draws)),
        "weighted": False,
    }


def compare_approaches(
    runs: Any,
    budgets: float | Sequence[float],
    *,
    approaches: Sequence[int] = (1, 2, 3),
    fit_result: Any = None,
    approach1_options: Mapping[str, Any] | None = None,
    approach2_options: Mapping[str, Any] | None = None,
    level: float = 0.95,
    k: float | None = None,
    load_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Approaches 1, 2 and 3 side by side: exponents and N_opt, D_opt at given budgets.

    Approach 1 uses every checkpoint (it needs loss curves); Approaches 2 and 3 use each
    run's final loss unless ``load_options`` ask for other checkpoints. An approach the
    data cannot support (no checkpoints for 1, no isoFLOP slices for 2, an implausible
    Approach-3 plan: see :func:`implausible_plan`) is left out and the reason kept in
    ``table.attrs["skipped"]``.

    Args:
        runs: Run log (anything :func:`scalinglaws.load_runs` accepts).
        budgets: Compute budgets in FLOPs at which to give N_opt and D_opt.
        approaches: Which approaches to run.
        fit_result: A Chinchilla :class:`~scalinglaws.FitResult` to use for Approach 3
            (e.g. one with bootstrap or posterior draws); fitted here when None.
        approach1_options: Keyword options for :func:`approach1`.
        approach2_options: Keyword options for :func:`approach2`.
        level: Interval level for every approach.
        k: FLOPs per parameter per token, when C must be derived from N and D.
        load_options: Keywords of :func:`scalinglaws.load_runs` (``columns``, ``where``,
            ``best_of``, ``drop_nonfinite``, ``loss_is``, and ``checkpoints`` for the
            rows Approaches 2 and 3 use; Approach 1 always takes every checkpoint).

    Returns:
        One row per (approach, budget): ``approach``, ``C``, ``a``, ``a_lo``, ``a_hi``,
        ``b``, ``b_lo``, ``b_hi``, ``G_N``, ``G_N_lo``, ``G_N_hi``, ``G_D``, ``G_D_lo``,
        ``G_D_hi`` (N* = G_N C^a, D* = G_D C^b), ``N_opt``, ``N_opt_lo``, ``N_opt_hi``, ``D_opt``,
        ``D_opt_lo``, ``D_opt_hi``, ``tokens_per_param``. ``attrs`` hold ``results``
        (the result objects by approach), ``skipped``, ``warnings`` and ``notes`` (what
        the loader did on request: rows filtered, checkpoints kept).

    Raises:
        FitError: Unknown approach numbers, or no approach could run.
    """
    bad = [x for x in approaches if x not in APPROACH_NAMES]
    if bad or not approaches:
        raise FitError(f"approaches must be a non-empty subset of (1, 2, 3), not {approaches!r}")
    level = check_level(level)
    kw: dict[str, Any] = dict(load_options or {})
    if k is not None:
        kw["k"] = k
    fit_checkpoints = kw.pop("checkpoints", "last")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        all_rows = load_runs(runs, checkpoints="all", min_runs=3, require=("N",), **kw)
        final = load_runs(runs, checkpoints=fit_checkpoints, min_runs=3, require=("N",), **kw)
        results: dict[int, Any] = {}
        skipped: dict[int, str] = {}
        for x in approaches:
            try:
                if x == 1:
                    opts = {"level": level, **dict(approach1_options or {})}
                    results[1] = approach1(all_rows, **opts)
                elif x == 2:
                    opts = {"level": level, **dict(approach2_options or {})}
                    results[2] = approach2(final, **opts)
                else:
                    # From the runs, before any fit: on runs that cannot separate N
                    # from D the fitted allocation depends on rounding, and no check
                    # of its values can be relied on.
                    unseparated = separation_problem(final["N"], final["D"])
                    if unseparated is not None:
                        raise FitError(_absurd_plan_message(unseparated, final, design=True))
                    # The loaded rows as they are (fit takes a DataFrame without
                    # reloading it), so the checkpoints asked for are the ones fitted.
                    law_fit = fit_result if fit_result is not None else fit(chinchilla(), final)
                    res3 = approach3(law_fit, level=level)
                    reason = implausible_plan(res3.predict(budgets), res3.a, res3.b)
                    if reason is not None:
                        raise FitError(_absurd_plan_message(reason, final))
                    results[3] = res3
            except ScalingLawsError as exc:
                skipped[x] = str(exc)
    messages = [str(c.message) for c in caught if issubclass(c.category, ScalingLawsWarning)]
    if not results:
        raise FitError(
            "no approach could run on this log: "
            + "; ".join(f"approach {x}: {m}" for x, m in skipped.items())
        )
    table = pd.concat([_approach_rows(x, res, budgets) for x, res in results.items()])
    table = table.reset_index(drop=True)
    cols = ["approach", "C", "a", "a_lo", "a_hi", "b", "b_lo", "b_hi"]
    table = table[cols + [c for c in table.columns if c not in cols]]
    table.attrs["results"] = results
    table.attrs["skipped"] = skipped
    table.attrs["warnings"] = messages
    table.attrs["notes"] = list(final.attrs.get("notes", []))
    table.attrs["level"] = level
    return table


#: Plausible tokens per parameter of a compute-optimal plan. Published compute-optimal
#: ratios run from ~1-2 (Kaplan et al. 2020, arXiv 2001.08361, at large budgets) through
#: ~20 (Hoffmann et al. 2022) to a few hundred (data-constrained and over-trained
#: studies); a ratio off this range by orders of magnitude means the fitted law has not
#: separated N from D (e.g. every run at one token count), not a plan.
PLAUSIBLE_TOKENS_PER_PARAM = (1e-2, 1e5)
#: Plausible exponents a of N* ~ C^a and b of D* ~ C^b. Published estimates of a lie
#: between ~0.45 and ~0.75 (Hoffmann et al. 2022; Kaplan et al. 2020; Porian et al. 2024,
#: arXiv 2406.19146; McLeish et al. 2025, arXiv 2502.06857), so b = 1 - a between ~0.25
#: and ~0.55; an exponent under 0.1 sends nearly all extra compute to one of N and D.
PLAUSIBLE_EXPONENT = (0.1, 0.9)


def implausible_plan(
    plan: pd.DataFrame, a: float | None = None, b: float | None = None
) -> str | None:
    """Why a compute-optimal plan is not an answer, or None when it is plausible.

    A plan is implausible when an exponent ``a`` or ``b`` (when given) lies outside
    :data:`PLAUSIBLE_EXPONENT`, or at some budget N_opt or D_opt is below one (a fraction
    of a parameter or token), not finite, or the tokens per parameter fall outside
    :data:`PLAUSIBLE_TOKENS_PER_PARAM`.

    Args:
        plan: Columns ``C``, ``N_opt``, ``D_opt`` (as from ``predict`` of an allocation).
        a: Exponent of N_opt(C), if known.
        b: Exponent of D_opt(C), if known.

    Returns:
        A one-line reason naming the first implausible exponent or budget, or None.
    """
    e_lo, e_hi = PLAUSIBLE_EXPONENT
    for name, value in (("a", a), ("b", b)):
        if value is not None and not (e_lo <= value <= e_hi):
            what = "N_opt" if name == "a" else "D_opt"
            return (
                f"the allocation is implausible ({what} ~ C^{value:.3g}; plausible exponents "
                f"{e_lo:g} to {e_hi:g})"
            )
    lo, hi = PLAUSIBLE_TOKENS_PER_PARAM
    for c, n, d in zip(plan["C"], plan["N_opt"], plan["D_opt"], strict=True):
        ratio = d / n if n > 0 else math.inf
        if not (math.isfinite(n) and math.isfinite(d) and n >= 1 and d >= 1 and lo <= ratio <= hi):
            return (
                f"the plan at C = {c:.3g} is implausible (N_opt {n:.3g} parameters, D_opt "
                f"{d:.3g} tokens, {ratio:.3g} tokens per parameter; plausible {lo:g} to {hi:g})"
            )
    return None


def _absurd_plan_message(reason: str, runs: pd.DataFrame, design: bool = False) -> str:
    """Refusal of an implausible Approach-3 plan, with the likely cause in the data (a
    ``design`` reason is that cause already)."""
    n_d = int(runs["D"].nunique()) if "D" in runs else 0
    parts = [f"not an answer: {reason}"]
    if not design:
        parts.append("the fitted law does not separate the parameter and data terms")
    if n_d <= 2:
        parts.append(
            f"the runs used span {n_d} token count{'s' if n_d != 1 else ''}; a checkpoint "
            "log fits on more with --checkpoints all or after-fraction F"
        )
    return "; ".join(parts)


def _approach_rows(x: int, res: Any, budgets: float | Sequence[float]) -> pd.DataFrame:
    """One approach's exponents and prefactors with intervals beside its allocation."""
    pred = res.predict(budgets)
    a_lo, a_hi = res.interval("a")
    b_lo, b_hi = res.interval("b")
    pl = res.powerlaws
    head = pd.DataFrame(
        {
            "approach": APPROACH_NAMES[x],
            "a": res.a,
            "a_lo": a_lo,
            "a_hi": a_hi,
            "b": res.b,
            "b_lo": b_lo,
            "b_hi": b_hi,
            "G_N": res.G_N,
            "G_N_lo": float(pl.loc["N", "coefficient_lo"]),
            "G_N_hi": float(pl.loc["N", "coefficient_hi"]),
            "G_D": res.G_D,
            "G_D_lo": float(pl.loc["D", "coefficient_lo"]),
            "G_D_hi": float(pl.loc["D", "coefficient_hi"]),
        },
        index=pred.index,
    )
    return pd.concat([head, pred], axis=1)
