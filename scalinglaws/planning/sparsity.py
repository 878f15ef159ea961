"""Sparsity plans: dense size, schedule and deployed size for a budget and a final sparsity.

Under the average-parameter-count law L(N_avg, D) = E + A/N_avg^alpha + B/D^beta with
C = k N_avg D (Jin et al. 2025, arXiv 2501.12486), loss and training compute depend on a
run only through N_avg and D. A plan therefore chooses (N_avg, D) once per budget and
then, for each final sparsity s, the pruning schedule and the dense size that realise it:

* **Budget only**: the compute-optimal point of the fitted law,
  N_avg* = G (C/k)^(beta/(alpha+beta)), D* = (C/k)/N_avg*,
  G = (alpha A/(beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, arXiv 2203.15556;
  the law's declared frontier, :mod:`scalinglaws.laws.chinchilla`).
* **Target loss only**: the least compute reaching the loss on that frontier.
* **Budget and target loss**: the smallest N_avg on the budget line (more tokens) that
  reaches the loss, which gives the smallest deployed models; refused when even the
  optimum at the budget misses the target.

For each sparsity the schedule is solved from compute fractions (25%/75% by default) with
steps that are whole multiples of the pruning interval; its realised average density rho
gives the dense size N0 = N_avg / rho and the deployed non-zero count N_final = (1 - s) N0.
Every row has the same N_avg, D, C = k N_avg D and predicted loss; the deployed size falls
as sparsity rises. A ``target_size`` (deployed non-zero count) picks the one sparsity that
reaches it instead of a list.

The loss interval (``loss_q05``/``loss_q50``/``loss_q95``) is the loss of *this* plan, the
fixed (N_avg, D) chosen from the point fit, under every parameter draw of the fit's
uncertainty (bootstrap or posterior); the plan itself is a decision and is not redrawn.

The plan counts prunable linear parameters only (as the paper does); add the never-pruned
remainder (embeddings, norms) to N0 and N_final yourself when sizing hardware.

Inference costs 2 FLOPs per non-zero parameter per token (a forward pass; unstructured
sparsity is assumed to be fully exploited, as the paper's FLOP accounting assumes). The
dense model of equal predicted loss *and* equal training compute is the dense run at
N = N_avg on the same D tokens, so the saving is 1 - N_final / N_avg.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pandas as pd
from scipy.optimize import brentq

from scalinglaws.errors import PlanError, ScalingLawsError
from scalinglaws.fitting.result import FitResult
from scalinglaws.laws.base import Law
from scalinglaws.planning import limits as _limits
from scalinglaws.sparsity.schedules import (
    DEFAULT_END_COMPUTE,
    DEFAULT_INTERVAL,
    DEFAULT_START_COMPUTE,
    average_density,
    compute_fractions,
    continuous_average_density,
    schedule_from_compute,
)

DEFAULT_SPARSITIES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Tokens per step when neither steps nor tokens per step are given: 2^22 (about 4.2M,
#: e.g. 1,024 sequences of 4,096 tokens).
DEFAULT_TOKENS_PER_STEP = 2**22
DEFAULT_QUANTILES = (0.05, 0.5, 0.95)
#: Inference FLOPs per non-zero parameter per token (one forward pass).
INFERENCE_FLOPS_PER_PARAM = 2.0
_FORM = ("E", "A", "B", "alpha", "beta")
#: The derived quantities of the law a sparsity plan evaluates.
_NEEDS = ("compute_optimal", "frontier_for_loss", "loss_at")


@dataclass(frozen=True)
class _Schedule:
    """How every row of a plan prunes: steps, pruning interval, shape and compute split."""

    steps: int
    interval: int
    kind: str
    start_compute: float
    end_compute: float

    def at(self, sparsity: float) -> Any:
        return schedule_from_compute(
            sparsity,
            self.steps,
            start_compute=self.start_compute,
            end_compute=self.end_compute,
            interval=self.interval,
            kind=self.kind,
        )


def _law_value(law: Law, p: Mapping[str, Any], n_avg: Any, d: Any) -> Any:
    """The law's loss at (N_avg, D) in float64 (array for parameter draws)."""
    with jax.enable_x64(True):
        return np.asarray(law.derived_fn("loss_at")(p, n_avg, d), dtype=float)


def _optimum(law: Law, p: Mapping[str, float], c: float, k: float) -> tuple[float, float]:
    with jax.enable_x64(True):
        n, d = law.derived_fn("compute_optimal")(p, c, k)
        return float(n), float(d)


def _least_compute_point(
    law: Law, p: Mapping[str, float], target_loss: float
) -> tuple[float, float]:
    with jax.enable_x64(True):
        n, d = law.derived_fn("frontier_for_loss")(p, target_loss)
        return float(n), float(d)


def _choose_point(
    law: Law,
    p: Mapping[str, float],
    budget: float | None,
    target_loss: float | None,
    k: float,
) -> tuple[float, float, str]:
    """(N_avg, D, how) for the plan."""
    if target_loss is not None:
        if not (isinstance(target_loss, int | float) and math.isfinite(target_loss)):
            raise PlanError(f"target_loss must be a number, not {target_loss!r}")
        if target_loss <= p["E"]:
            raise PlanError(
                f"target loss {target_loss:g} is at or below the fitted irreducible loss "
                f"E = {p['E']:.4g}: no budget reaches it"
            )
    if budget is None:
        if target_loss is None:
            raise PlanError("give a compute budget, a target loss, or both")
        n, d = _least_compute_point(law, p, target_loss)
        return n, d, "least compute reaching the target loss"
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise PlanError(f"budget must be a positive number of FLOPs, not {budget!r}")
    n_opt, d_opt = _optimum(law, p, budget, k)
    if target_loss is None:
        return n_opt, d_opt, "compute-optimal N_avg and D for the budget"
    best = float(_law_value(law, p, n_opt, d_opt))
    if best > target_loss:
        raise PlanError(
            f"target loss {target_loss:g} is below the best loss {best:.4f} reachable with "
            f"budget {budget:.3g} FLOPs; raise the budget or the target"
        )

    def gap(log_n: float) -> float:
        n = math.exp(log_n)
        return float(_law_value(law, p, n, budget / (k * n))) - target_loss

    hi = math.log(n_opt)
    if gap(hi) >= 0:  # the target equals the optimum's loss
        return n_opt, d_opt, "compute-optimal N_avg and D for the budget"
    lo = hi - math.log(10.0)
    while gap(lo) < 0:
        lo -= math.log(10.0)
    log_n = brentq(gap, lo, hi, xtol=1e-12, rtol=1e-14)
    n = math.exp(log_n)
    return n, budget / (k * n), "smallest N_avg reaching the target loss within the budget"


def _steps(d: float, total_steps: int | None, tokens_per_step: float | None, interval: int) -> int:
    if total_steps is not None and tokens_per_step is not None:
        raise PlanError("give total_steps or tokens_per_step, not both (D fixes the other)")
    if total_steps is not None:
        if not (isinstance(total_steps, int | np.integer) and total_steps > 0):
            raise PlanError(f"total_steps must be a positive whole number, not {total_steps!r}")
        steps = int(total_steps)
    else:
        b = DEFAULT_TOKENS_PER_STEP if tokens_per_step is None else tokens_per_step
        if not (isinstance(b, int | float) and math.isfinite(b) and b > 0):
            raise PlanError(f"tokens_per_step must be a positive number, not {tokens_per_step!r}")
        steps = max(int(round(d / b)), 1)
    if steps < 4 * interval:
        raise PlanError(
            f"{steps} training steps are too few for pruning every {interval} steps (need at "
            f"least {4 * interval}); lower interval or tokens_per_step"
        )
    return steps


def _sparsity_for_size(target_size: float, n_avg: float, schedule: _Schedule) -> float:
    """Final sparsity whose deployed count (1 - s) N_avg / rho(s) equals target_size."""
    fs, fe = schedule.start_compute, schedule.end_compute
    floor = (1.0 - fe) * n_avg
    if not (isinstance(target_size, int | float) and floor < target_size <= n_avg):
        raise PlanError(
            f"target_size {target_size!r} is out of reach: with pruning ending at "
            f"{fe:.0%} of compute the deployed size lies in ({floor:.4g}, {n_avg:.4g}] "
            "(N_avg is the dense compute-matched model)"
        )
    if target_size == n_avg:
        return 0.0

    def cont(s: float) -> float:
        return (1 - s) * n_avg / float(continuous_average_density(s, fs, fe)) - target_size

    s = brentq(cont, 0.0, 1.0 - 1e-12, xtol=1e-12)

    # Secant steps on the discrete schedule (its rho differs from the limit by O(1/K)).
    def discrete(s_: float) -> float:
        return (1 - s_) * n_avg / average_density(schedule.at(s_)) - target_size

    s0, f0 = s, discrete(s)
    s1 = min(max(s0 - 1e-3, 0.0), 0.999999)
    f1 = discrete(s1)
    for _ in range(6):
        if abs(f0) <= 1e-9 * target_size or f1 == f0:
            break
        s2 = min(max(s0 - f0 * (s0 - s1) / (f0 - f1), 0.0), 0.999999)
        s1, f1, s0, f0 = s0, f0, s2, discrete(s2)
    return float(s0)


def plan_sparsity(
    result: FitResult,
    budget: float | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    *,
    target_size: float | None = None,
    target_loss: float | None = None,
    total_steps: int | None = None,
    tokens_per_step: float | None = None,
    interval: int = DEFAULT_INTERVAL,
    kind: str = "geometric",
    start_compute: float = DEFAULT_START_COMPUTE,
    end_compute: float = DEFAULT_END_COMPUTE,
    k: float | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """A table of sparse pre-training plans for one budget, one row per final sparsity.

    N_avg and D are chosen once (see the module docstring), then for each sparsity s:
    the schedule from compute fractions, rho = its average density, N0 = N_avg / rho,
    N_final = (1 - s) N0, C = k N_avg D and loss L(N_avg, D) (Jin et al. 2025,
    arXiv 2501.12486).

    Args:
        result: A fitted Chinchilla-form law, normally ``fit(avgparams(), runs)``; a
            Chinchilla fit on dense runs is accepted with a warning (the paper's claim is
            that one law covers both).
        budget: Training compute C in FLOPs.
        sparsities: Final sparsities in [0, 1) (ignored when ``target_size`` is given).
        target_size: Deployed non-zero parameter count to reach (solves for s).
        target_loss: Loss to reach (see the module docstring for how it combines with
            ``budget``).
        total_steps: Training steps (tokens per step = D / steps).
        tokens_per_step: Tokens per step when ``total_steps`` is not given (default 2^22).
        interval: Steps between pruning events.
        kind: ``"geometric"`` or ``"cubic"``.
        start_compute: Share of compute before pruning starts.
        end_compute: Share of compute before pruning ends.
        k: FLOPs per parameter per token (default: the fit's).
        quantiles: Loss quantiles reported per draw when the fit carries uncertainty.
        limits: Overrides of the plausible ranges of N, D and C
            (:mod:`scalinglaws.planning.limits`); a budget or a plan outside them is
            refused before any schedule is built.

    Returns:
        DataFrame with ``sparsity, N0, D, total_steps, tokens_per_step, start_step,
        end_step, events, prune_fraction_per_event, compute_fraction_start,
        compute_fraction_end, average_density, N_avg, N_final, C, loss`` (+ ``loss_q05,
        loss_q50, loss_q95`` with draws), ``inference_flops_per_token``,
        ``dense_inference_flops_per_token``, ``inference_flops_saved``. ``attrs`` hold
        ``summary`` and ``warnings``.

    Raises:
        PlanError: Not a Chinchilla-form law, or an impossible request (the message says why).
    """
    law = result.law
    qs = _check_request(law, quantiles, kind)
    kk = float(k if k is not None else result.k)
    p = {n: float(result.params[n]) for n in _FORM}
    lim = _limits.resolve(limits)
    if isinstance(budget, int | float) and math.isfinite(budget) and budget > 0:
        _limits.check_inputs(np.asarray([float(budget)]), "C", "budget", lim)
    n_avg, d, how = _choose_point(law, p, budget, target_loss, kk)
    _limits.check_outputs(pd.DataFrame({"N_opt": [n_avg], "D_opt": [d], "C": [kk * n_avg * d]}), lim)
    schedule = _Schedule(
        steps=_steps(d, total_steps, tokens_per_step, int(interval)),
        interval=int(interval),
        kind=kind,
        start_compute=start_compute,
        end_compute=end_compute,
    )
    try:
        s_list = _sparsity_list(sparsities, target_size, n_avg, schedule)
        rows = [_plan_row(s, schedule, n_avg, d, kk) for s in s_list]
    except ScalingLawsError as exc:
        if isinstance(exc, PlanError):
            raise
        raise PlanError(str(exc)) from None
    table = pd.DataFrame(rows)
    loss = float(_law_value(law, p, n_avg, d))
    table["loss"] = loss
    table = _with_loss_quantiles(table, result, n_avg, d, qs)
    table = _with_inference_flops(table, n_avg)
    table.attrs["warnings"] = _plan_warnings(result, budget, kk * n_avg * d)
    table.attrs["summary"] = _summary(result, how, n_avg, d, loss, schedule, kk)
    return table


def _summary(
    result: FitResult,
    how: str,
    n_avg: float,
    d: float,
    loss: float,
    schedule: _Schedule,
    k: float,
) -> dict[str, Any]:
    """The plan's one-line facts (``attrs["summary"]``)."""
    return {
        "law": result.law.name,
        "how": how,
        "C": k * n_avg * d,
        "N_avg": n_avg,
        "D": d,
        "tokens_per_avg_param": d / n_avg,
        "loss": loss,
        "total_steps": schedule.steps,
        "interval": schedule.interval,
        "kind": schedule.kind,
        "start_compute": schedule.start_compute,
        "end_compute": schedule.end_compute,
        "k": k,
        "uncertainty": result.uncertainty.method,
        "n_draws": result.uncertainty.n_draws,
    }


def _check_request(law: Law, quantiles: Sequence[float], kind: str) -> tuple[float, ...]:
    """Refuse a law without the frontier, bad quantiles or an unknown schedule kind."""
    if not law.has(*_NEEDS) or not set(_FORM) <= set(law.param_names):
        raise PlanError(
            f"sparsity plans need a Chinchilla-form law such as 'avgparams'; {law.name!r} is not one"
        )
    qs = tuple(float(q) for q in quantiles)
    if any(not 0 < q < 1 for q in qs):
        raise PlanError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)}")
    if kind not in ("geometric", "cubic"):
        raise PlanError(f"kind must be 'geometric' or 'cubic', not {kind!r}")
    return qs


def _sparsity_list(
    sparsities: Sequence[float], target_size: float | None, n_avg: float, schedule: _Schedule
) -> list[float]:
    """The final sparsities of the plan's rows: the given list, or the one for target_size."""
    if target_size is not None:
        return [_sparsity_for_size(target_size, n_avg, schedule)]
    s_list = [float(s) for s in np.atleast_1d(np.asarray(sparsities, dtype=float))]
    if not s_list:
        raise PlanError("give at least one sparsity")
    bad = [s for s in s_list if not (0.0 <= s < 1.0)]
    if bad:
        raise PlanError(f"sparsity {bad[0]!r} must lie in [0, 1)")
    return s_list


def _plan_row(s: float, schedule: _Schedule, n_avg: float, d: float, k: float) -> dict:
    """One row: the schedule realising final sparsity ``s`` at the plan's N_avg and D."""
    sched = schedule.at(s)
    rho = average_density(sched)
    f_start, f_end = compute_fractions(sched)
    n0 = n_avg / rho
    return {
        "sparsity": s,
        "N0": n0,
        "D": d,
        "total_steps": schedule.steps,
        "tokens_per_step": d / schedule.steps,
        "start_step": sched.start_step,
        "end_step": sched.end_step,
        "events": sched.events,
        "prune_fraction_per_event": sched.prune_fraction_per_event,
        "compute_fraction_start": f_start,
        "compute_fraction_end": f_end,
        "average_density": rho,
        "N_avg": n_avg,
        "N_final": (1.0 - s) * n0,
        "C": k * n_avg * d,
    }


def _with_loss_quantiles(
    table: pd.DataFrame, result: FitResult, n_avg: float, d: float, qs: Sequence[float]
) -> pd.DataFrame:
    """Add the quantiles of this plan's loss over the fit's parameter draws, if any."""
    draws = result.uncertainty.draws
    if draws and all(n in draws for n in _FORM):
        dp = {n: np.asarray(draws[n], dtype=float) for n in _FORM}
        per_draw = _law_value(result.law, dp, n_avg, d)
        with np.errstate(all="ignore"):
            for q in qs:
                table[f"loss_q{round(q * 100):02d}"] = float(np.nanquantile(per_draw, q))
    return table


def _with_inference_flops(table: pd.DataFrame, n_avg: float) -> pd.DataFrame:
    """Inference FLOPs per token of the deployed model, of the dense one, and the saving."""
    table["inference_flops_per_token"] = INFERENCE_FLOPS_PER_PARAM * table["N_final"]
    table["dense_inference_flops_per_token"] = INFERENCE_FLOPS_PER_PARAM * n_avg
    table["inference_flops_saved"] = 1.0 - table["N_final"] / n_avg
    return table


def _plan_warnings(result: FitResult, budget: float | None, c_plan: float) -> list[str]:
    law = result.law
    msgs = []
    if "N_avg" not in law.inputs:
        msgs.append(
            f"law {law.name!r} was fitted on dense model sizes; the plan assumes its N is the "
            "average parameter count (Jin et al. 2025), which sparse runs have not confirmed here"
        )
    if not result.converged:
        msgs.append(f"the fit did not converge (status {result.status}): this plan is unreliable")
    if result.uncertainty.method != "none" and not result.uncertainty.converged:
        msgs.append(
            f"the {result.uncertainty.method} uncertainty failed its diagnostics: the loss "
            "interval is not trustworthy"
        )
    if budget is not None and result.data is not None and "C" in result.data:
        c_max = float(np.max(result.data["C"]))
        if c_plan > 10 * c_max:
            msgs.append(
                f"budget {c_plan:.3g} FLOPs is {c_plan / c_max:.0f}x the largest "
                "fitted run: an extrapolation"
            )
    return msgs
