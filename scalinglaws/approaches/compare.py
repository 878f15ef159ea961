"""Approach 3 as a power-law allocation, and Approaches 1, 2, 3 side by side.

Approach 3 (Hoffmann et al. 2022, arXiv 2203.15556) fits L(N, D) = E + A/N^alpha +
B/D^beta; minimising it under C = k N D gives

    N_opt(C) = G (C/k)^a,  D_opt(C) = G^-1 (C/k)^b,
    G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta),

so in the form N* = G_N C^a used for Approaches 1 and 2, G_N = G k^-a and G_D = k^-b / G.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.approaches._powerlaw import (
    PowerLawAllocation,
    check_level,
    jsonable,
    percentile_interval,
)
from scalinglaws.errors import FitError, ScalingLawsError, ScalingLawsWarning

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


def _allocation(alpha, beta, A, B, k):  # noqa: N803 - the paper's symbols
    """(a, log G_N, b, log G_D) of a Chinchilla-form law; arrays broadcast."""
    s = alpha + beta
    a = beta / s
    b = alpha / s
    log_g = (np.log(alpha) + np.log(A) - np.log(beta) - np.log(B)) / s
    return a, log_g - a * math.log(k), b, -log_g - b * math.log(k)


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
    from scalinglaws.fitting import FitResult, fit
    from scalinglaws.laws import chinchilla

    level = check_level(level)
    if isinstance(fit_or_runs, FitResult):
        result = fit_or_runs
    else:
        from scalinglaws.io.runs import load_runs

        # Final losses: a log with checkpoints is reduced to each run's last one.
        result = fit(chinchilla(), load_runs(fit_or_runs))
    names = ("A", "B", "alpha", "beta")
    if any(n not in result.params for n in names):
        raise FitError(
            f"Approach 3 needs a Chinchilla-form law with {', '.join(names)}; law "
            f"{result.law.name!r} has {', '.join(result.params)}"
        )
    k = result.k
    p = result.params
    a, lgn, b, lgd = _allocation(p["alpha"], p["beta"], p["A"], p["B"], k)
    messages = []
    draws: dict[str, np.ndarray] = {}
    source = "none"
    unc = result.uncertainty
    if unc.draws and all(n in unc.draws for n in names):
        d = {n: np.asarray(unc.draws[n], dtype=float) for n in names}
        source = f"draws:{unc.method}"
        if not unc.converged:
            messages.append(f"the fit's {unc.method} uncertainty did not pass its diagnostics")
    elif result.covariance is not None:
        rng = np.random.default_rng(seed)
        theta0 = np.asarray(result.law.to_internal(dict(p)), dtype=float)
        cov = np.asarray(result.covariance, dtype=float)
        cov = 0.5 * (cov + cov.T)
        thetas = rng.multivariate_normal(theta0, cov, size=n_draws, method="eigh")
        nat = result.law.to_natural(thetas)
        d = {n: np.asarray(nat[n], dtype=float) for n in names}
        source = "laplace"
    else:
        d = {}
        messages.append("the fit has no uncertainty draws and a singular covariance: no intervals")
    if d:
        ok = (d["alpha"] > 0) & (d["beta"] > 0) & (d["A"] > 0) & (d["B"] > 0)
        ad, gnd, bd, gdd = _allocation(d["alpha"][ok], d["beta"][ok], d["A"][ok], d["B"][ok], k)
        draws = {"a": ad, "log_G_N": gnd, "b": bd, "log_G_D": gdd}
    if not result.converged:
        messages.append(f"the Chinchilla fit did not converge (status {result.status})")
    rows = {}
    for q, e, g, ek, gk in (("N", a, lgn, "a", "log_G_N"), ("D", b, lgd, "b", "log_G_D")):
        e_lo, e_hi = percentile_interval(draws.get(ek, np.array([])), level)
        g_lo, g_hi = percentile_interval(draws.get(gk, np.array([])), level)
        rows[q] = {
            "exponent": float(e),
            "exponent_lo": e_lo,
            "exponent_hi": e_hi,
            "coefficient": float(np.exp(g)),
            "coefficient_lo": math.exp(g_lo) if math.isfinite(g_lo) else math.nan,
            "coefficient_hi": math.exp(g_hi) if math.isfinite(g_hi) else math.nan,
            "r2": math.nan,
            "n_points": int(result.n_runs),
            "n_draws": int(np.size(draws.get(ek, ()))),
            "weighted": False,
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
) -> pd.DataFrame:
    """Approaches 1, 2 and 3 side by side: exponents and N_opt, D_opt at given budgets.

    Approach 1 uses every checkpoint (it needs loss curves); Approaches 2 and 3 use each
    run's final loss. An approach the data cannot support (no checkpoints for 1, no
    isoFLOP slices for 2) is left out and the reason kept in ``table.attrs["skipped"]``.

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

    Returns:
        One row per (approach, budget): ``approach``, ``C``, ``a``, ``a_lo``, ``a_hi``,
        ``b``, ``b_lo``, ``b_hi``, ``N_opt``, ``N_opt_lo``, ``N_opt_hi``, ``D_opt``,
        ``D_opt_lo``, ``D_opt_hi``, ``tokens_per_param``. ``attrs`` hold ``results``
        (the result objects by approach), ``skipped`` and ``warnings``.

    Raises:
        FitError: Unknown approach numbers, or no approach could run.
    """
    from scalinglaws.approaches.envelope import approach1
    from scalinglaws.approaches.isoflop import approach2
    from scalinglaws.io.runs import load_runs

    bad = [x for x in approaches if x not in APPROACH_NAMES]
    if bad or not approaches:
        raise FitError(f"approaches must be a non-empty subset of (1, 2, 3), not {approaches!r}")
    level = check_level(level)
    kw: dict[str, Any] = {} if k is None else {"k": k}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        all_rows = load_runs(runs, checkpoints="all", min_runs=3, require=("N",), **kw)
        final = load_runs(runs, checkpoints="last", min_runs=3, require=("N",), **kw)
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
                    results[3] = approach3(
                        fit_result if fit_result is not None else final, level=level
                    )
            except ScalingLawsError as exc:
                skipped[x] = str(exc)
    messages = [str(c.message) for c in caught if issubclass(c.category, ScalingLawsWarning)]
    if not results:
        raise FitError(
            "no approach could run on this log: "
            + "; ".join(f"approach {x}: {m}" for x, m in skipped.items())
        )
    frames = []
    for x, res in results.items():
        pred = res.predict(budgets)
        a_lo, a_hi = res.interval("a")
        b_lo, b_hi = res.interval("b")
        head = pd.DataFrame(
            {
                "approach": APPROACH_NAMES[x],
                "a": res.a,
                "a_lo": a_lo,
                "a_hi": a_hi,
                "b": res.b,
                "b_lo": b_lo,
                "b_hi": b_hi,
            },
            index=pred.index,
        )
        frames.append(pd.concat([head, pred], axis=1))
    table = pd.concat(frames, ignore_index=True)
    cols = ["approach", "C", "a", "a_lo", "a_hi", "b", "b_lo", "b_hi"]
    table = table[cols + [c for c in table.columns if c not in cols]]
    table.attrs["results"] = results
    table.attrs["skipped"] = skipped
    table.attrs["warnings"] = messages
    table.attrs["level"] = level
    return table
