"""``design_runs``: which runs to train next so that a plan becomes as certain as possible.

The fit's parameter draws (bootstrap, Laplace or posterior; or a :class:`Prior` when there
are no runs) give, per draw, the plan quantity q and the predicted log loss of every
candidate run; :mod:`scalinglaws.design.engine` turns those into the expected reduction of
the variance of q per FLOP of each candidate, and picks a batch greedily under the study
budget (see the engine's docstring for the two ways the expectation is computed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.design.engine import DEFAULT_FANTASIES, Ensemble, select_batch
from scalinglaws.design.prior import Prior
from scalinglaws.design.quantities import PlanQuantity, plan_quantity
from scalinglaws.errors import PlanError, ScalingLawsError
from scalinglaws.fitting.result import FitResult
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty.predictive import noise_scales, usable_draws

#: Points per axis of the default candidate grid (log-spaced N x D).
GRID_POINTS = 40
#: Share of the residual variance a smooth function of the inputs must explain before the
#: design says that the law's misfit, not the noise, dominates the residuals.
MISFIT_SHARE = 0.5
#: Runs per isoFLOP slice, candidate budgets and finer sizes per budget (``isoflop=True``).
ISOFLOP_SIZES = 5
ISOFLOP_BUDGETS = 10
ISOFLOP_FINE = 15

_HOW = {
    "linear": (
        "expected interval after each pick: linear-Gaussian (ensemble Kalman) update of the "
        "{n} parameter draws, Var(q|y) = Var(q) - Cov(q,y)^2 / (Var(y) + sigma^2), with the "
        "draws' current 90% width scaled by the ratio of standard deviations; exact for a "
        "Gaussian posterior and a law linear over the draws' spread, optimistic otherwise"
    ),
    "importance": (
        "expected interval after each pick: importance re-weighting of the {n} parameter "
        "draws by the likelihood of {j} fantasised observations per candidate (drawn from "
        "the draws' own predictive), averaged; later picks conditioned on one fantasised "
        "outcome of each earlier pick; unreliable when the effective sample size is small"
    ),
}


def candidate_grid(
    size_range: tuple[float, float],
    token_range: tuple[float, float],
    n: int = GRID_POINTS,
    k: float = 6.0,
) -> pd.DataFrame:
    """Candidate runs on a log-spaced grid of model sizes and token counts.

    Args:
        size_range: ``(smallest, largest)`` model size N.
        token_range: ``(fewest, most)`` training tokens D.
        n: Points per axis.
        k: FLOPs per parameter per token (C = k N D).

    Returns:
        DataFrame with columns ``N, D, C`` (n * n rows).

    Raises:
        PlanError: Empty or non-positive ranges.
    """
    for name, (lo, hi) in (("size", size_range), ("token", token_range)):
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise PlanError(f"candidate {name} range must satisfy 0 < low <= high, not {lo}, {hi}")
    if n < 1:
        raise PlanError("the candidate grid needs at least one point per axis")
    size_2d, tokens_2d = np.meshgrid(np.geomspace(*size_range, n), np.geomspace(*token_range, n))
    size, tokens = size_2d.ravel(), tokens_2d.ravel()
    return pd.DataFrame({"N": size, "D": tokens, "C": k * size * tokens})


@partial(jax.jit, static_argnames=("law",))
def _log_predictions(law: Law, params, inputs):
    """(S, M) predictions on the residual scale, vmapped over the draws."""
    if law.residual == "log":
        return jax.vmap(lambda p: law.log_predict(p, inputs))(params)
    return jax.vmap(lambda p: law.predict(p, inputs))(params)


def misfit_check(result: FitResult) -> dict[str, Any] | None:
    """How much of the residual variance a smooth function of the inputs explains.

    Regresses the fit's residuals on a quadratic in the standardised logs of the law's
    inputs (intercept, linear, squares and products). The explained share estimates the
    law's systematic misfit; the rest is run noise. More runs shrink the noise part of an
    interval, never the misfit part: a wrong law stays wrong at scale.

    Returns:
        ``{"share", "misfit_sd", "noise_sd", "dominates"}``, or None when the result
        carries no residuals with their inputs (a record loaded without its data).
    """
    resid = np.asarray(result.residuals, dtype=float)
    if result.data is None or resid.size == 0 or resid.size != len(result.data):
        return None
    cols = []
    for name in result.law.inputs:
        x = result.data[name].to_numpy(dtype=float)
        x = np.log(x) if np.all(x > 0) else x
        sd = x.std()
        if sd > 0:
            cols.append((x - x.mean()) / sd)
    basis = [np.ones_like(resid), *cols]
    basis += [cols[i] * cols[j] for i in range(len(cols)) for j in range(i, len(cols))]
    design = np.stack(basis, axis=1)
    if resid.size <= 2 * design.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(design, resid, rcond=None)
    fitted = design @ coef
    dof = resid.size - design.shape[1]
    noise_var = float(np.sum((resid - fitted) ** 2) / dof)
    total = float(np.mean(resid**2))
    systematic = float(np.mean((fitted - fitted.mean()) ** 2 + fitted.mean() ** 2))
    share = systematic / total if total > 0 else 0.0
    return {
        "share": share,
        "misfit_sd": math.sqrt(systematic),
        "noise_sd": math.sqrt(noise_var),
        "dominates": bool(share > MISFIT_SHARE),
    }


def _source(result: FitResult | Prior, noise: float | None):
    """(law, draws, noise, noise source, runs, k, description) from a fit or a prior."""
    if isinstance(result, Prior):
        draws = result.draws()
        sigma = float(result.noise if noise is None else noise)
        return (
            result.law,
            draws,
            sigma,
            "the prior's stated noise",
            None,
            result.k,
            result.describe(),
        )
    if not isinstance(result, FitResult):
        raise ScalingLawsError(
            f"design_runs needs a FitResult with uncertainty draws or a Prior, not "
            f"{type(result).__name__}"
        )
    draws = usable_draws(result)
    if noise is None:
        scale, _ = noise_scales(result)
        sigma = float(np.median(np.asarray(scale, dtype=float)))
        where = f"the fit's residual scale ({result.uncertainty.method} draws)"
    else:
        sigma, where = float(noise), "given"
    unc = result.uncertainty
    desc = f"{unc.method} draws of a {result.law.name} fit to {result.n_runs} runs"
    return result.law, draws, sigma, where, result.data, result.k, desc


def _candidates(
    law: Law,
    candidates: Any,
    runs: pd.DataFrame | None,
    k: float,
    budget: float,
    max_params: float | None,
    max_tokens: float | None,
) -> tuple[pd.DataFrame, str, str]:
    """Candidate table with the law's size/token columns and ``C``, within the limits."""
    to_inputs = law.derived_fn("inputs") if law.has("inputs") else None
    size_col = getattr(to_inputs, "size", None)
    token_col = getattr(to_inputs, "tokens", None)
    if candidates is None:
        if size_col is None or token_col is None:
            raise PlanError(
                f"law {law.name!r} has no model-size and token inputs; pass candidates "
                "(a table with the law's inputs and a C column)"
            )
        if runs is not None and len(runs):
            n_lo = float(runs[size_col].min()) / 2
            d_lo = float(runs[token_col].min()) / 2
            n_hi = float(runs[size_col].max()) * 30
            d_hi = float(runs[token_col].max()) * 30
        else:
            n_lo, n_hi, d_lo, d_hi = 1e7, 1e10, 1e8, 1e12
        if max_params is not None:
            n_hi = min(n_hi, max_params)
            n_lo = min(n_lo, n_hi)
        if max_tokens is not None:
            d_hi = min(d_hi, max_tokens)
            d_lo = min(d_lo, d_hi)
        grid = candidate_grid((n_lo, n_hi), (d_lo, d_hi), k=k)
        table = grid.rename(columns={"N": size_col, "D": token_col})
    else:
        table = (
            candidates.copy() if isinstance(candidates, pd.DataFrame) else pd.DataFrame(candidates)
        )
        table = table.reset_index(drop=True)
        missing = [c for c in law.inputs if c not in table.columns]
        if missing:
            raise PlanError(
                f"candidates need the law's inputs {list(law.inputs)}; missing {missing} "
                f"(found {list(table.columns)})"
            )
        if "C" not in table.columns:
            if size_col is None or token_col is None:
                raise PlanError("candidates need a C column (FLOPs of each run)")
            table["C"] = k * table[size_col].to_numpy(float) * table[token_col].to_numpy(float)
        for col in (*law.inputs, "C"):
            v = table[col].to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
            if bad.size:
                raise PlanError(
                    f"candidate row {int(bad[0])}, column {col!r}: {v[bad[0]]:g} must be a "
                    "positive number"
                )
    keep = np.ones(len(table), dtype=bool)
    if max_params is not None and size_col is not None:
        keep &= table[size_col].to_numpy(float) <= max_params
    if max_tokens is not None and token_col is not None:
        keep &= table[token_col].to_numpy(float) <= max_tokens
    if not keep.any():
        raise PlanError("no candidate run is within --max-params / --max-tokens")
    table = table[keep].reset_index(drop=True)
    cheapest = float(table["C"].min())
    if budget < cheapest:
        raise PlanError(
            f"the study budget {budget:.3g} FLOPs is smaller than the cheapest candidate run "
            f"({cheapest:.3g} FLOPs)"
        )
    table = table[table["C"].to_numpy(float) <= budget].reset_index(drop=True)
    return table, size_col or law.inputs[0], token_col or law.inputs[-1]


@dataclass(frozen=True)
class _Prepared:
    law: Law
    table: pd.DataFrame
    size_col: str
    token_col: str
    q: np.ndarray
    pred: np.ndarray
    sigma: float
    noise_source: str
    source: str
    quantity: PlanQuantity
    budget: float


def _prepare(
    result, target, study_budget, candidates, quantity, max_params, max_tokens, noise
) -> _Prepared:
    """Validate the request; the candidates, q per draw and predictions per draw."""
    law, draws, sigma, noise_source, runs, k_flops, source = _source(result, noise)
    if study_budget is None:
        raise PlanError("give the study budget in FLOPs")
    try:
        budget = float(study_budget)
    except (TypeError, ValueError):
        raise PlanError(
            f"the study budget must be a number of FLOPs, not {study_budget!r}"
        ) from None
    if not (math.isfinite(budget) and budget > 0):
        raise PlanError(
            f"the study budget must be a positive number of FLOPs, not {study_budget!r}"
        )
    pq: PlanQuantity = plan_quantity(law, quantity, target, k_flops)
    if pq.target_compute is not None and runs is not None and "C" in runs.columns and len(runs):
        top = float(runs["C"].max())
        if pq.target_compute <= top:
            raise PlanError(
                f"the target compute {pq.target_compute:.3g} FLOPs is not above the data "
                f"(largest run {top:.3g} FLOPs): there is nothing to extrapolate to, and "
                "the fit itself already answers there"
            )
    table, size_col, token_col = _candidates(
        law, candidates, runs, k_flops, budget, max_params, max_tokens
    )
    names = list(draws)
    with jax.enable_x64(True):
        params = {n: jnp.asarray(draws[n]) for n in names}
        q = np.asarray(pq.fn(params), dtype=float).reshape(-1)
        inputs = {c: jnp.asarray(table[c].to_numpy(dtype=float)) for c in law.inputs}
        pred = np.asarray(_log_predictions(law, params, inputs), dtype=float)
    return _Prepared(
        law, table, size_col, token_col, q, pred, sigma, noise_source, source, pq, budget
    )


def design_inputs(
    result: FitResult | Prior,
    target: Any = None,
    candidates: Any = None,
    *,
    study_budget: float = math.inf,
    quantity: Any = "log_n_opt",
    max_params: float | None = None,
    max_tokens: float | None = None,
    noise: float | None = None,
    method: str = "linear",
    **_: Any,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, float, str]:
    """``(candidates, q (S,), predictions (S, M), noise, method)`` as design_runs builds them.

    For figures and for callers who drive :mod:`scalinglaws.design.engine` themselves.
    Takes :func:`design_runs`'s arguments (an infinite ``study_budget`` keeps every
    candidate within the limits).
    """
    budget = study_budget if math.isfinite(study_budget) else 1e300
    prep = _prepare(result, target, budget, candidates, quantity, max_params, max_tokens, noise)
    return prep.table, prep.q, prep.pred, prep.sigma, method


def design_runs(
    result: FitResult | Prior,
    target: Any = None,
    study_budget: float | None = None,
    k: int = 8,
    candidates: Any = None,
    *,
    quantity: Any = "log_n_opt",
    max_params: float | None = None,
    max_tokens: float | None = None,
    method: str = "linear",
    selection: str = "per_flop",
    noise: float | None = None,
    seed: int = 0,
    level: float = 0.9,
    n_fantasies: int = DEFAULT_FANTASIES,
    run_slots: int | None = None,
    isoflop: bool = False,
    isoflop_budgets: Any = None,
    sizes_per_budget: int = ISOFLOP_SIZES,
) -> pd.DataFrame:
    """Rank candidate runs by how much they would narrow a plan, and pick a batch.

    The value of a candidate run x = (N, D) is the expected reduction of the posterior
    variance of a plan quantity q (default log N_opt at the target compute) after
    observing its loss, Var(q) - E_y[Var(q | y_x)], per FLOP of x, computed from the fit's
    parameter draws and noise model without refitting (:mod:`scalinglaws.design.engine`:
    ``method="linear"``, the ensemble Gaussian update, or ``"importance"``, re-weighting
    the draws by fantasised observations). Up to ``k`` runs are picked greedily, each
    conditioned on the earlier ones, within ``study_budget`` FLOPs in total.

    Args:
        result: A fit carrying uncertainty draws (bootstrap, Laplace or bayes), or a
            :class:`Prior` to propose a first study when there are no runs.
        target: The target of the quantity: compute in FLOPs (``log_n_opt``,
            ``tokens_per_param``, ``loss``), an ``(N, D)`` pair (``loss``), a loss
            (``compute_for_loss``); unused by ``frontier_exponent``.
        study_budget: Total FLOPs the new runs may use.
        k: Largest number of runs to propose.
        candidates: Table of candidate runs (the law's inputs, optionally ``C``); default a
            40 x 40 log grid of N and D around the existing runs (1e7-1e10 parameters,
            1e8-1e12 tokens from a prior) with C = k N D.
        quantity: ``"log_n_opt"``, ``"tokens_per_param"``, ``"loss"``,
            ``"compute_for_loss"``, ``"frontier_exponent"``, or a function of the
            parameter dict (see :func:`~scalinglaws.design.quantities.plan_quantity`).
        max_params: Largest model the team can train.
        max_tokens: Token supply (largest D of one run).
        method: ``"linear"`` or ``"importance"``.
        selection: ``"per_flop"`` (value per share of the remaining FLOPs or run slots
            used), ``"absolute"``, or ``"auto"`` (the better of the two by expected final
            variance; see :func:`~scalinglaws.design.engine.select_batch`).
        noise: Observation noise sd on the residual scale (default: the fit's residual
            scale, or the prior's).
        seed: Seed of the fantasised observations; the same seed gives the same picks.
        level: Central interval level reported (0.9: the 90% interval).
        n_fantasies: Fantasised observations per candidate (importance method).
        run_slots: Runs the study may still add in all (default ``k``). When this batch
            is one round of a longer study, give the larger number so that cheap runs are
            not charged for slots that are not scarce.
        isoflop: Propose isoFLOP slices instead of free runs: first choose budgets (each
            candidate budget a slice of ``sizes_per_budget`` sizes log-spaced from 1/4x to
            4x of the draws' median N_opt there, valued as one observation of all its
            losses jointly, costing all its runs), then the sizes within each chosen
            budget (from 15 sizes, 1/8x to 8x of N_opt, at most ``sizes_per_budget`` per
            budget, each pick conditioned on the earlier ones), under the same study
            budget. Needs a Chinchilla-form law; ``candidates`` is not used.
        isoflop_budgets: Candidate budgets in FLOPs for ``isoflop`` (default ten,
            log-spaced over three decades up to study_budget / sizes_per_budget).
        sizes_per_budget: Runs per isoFLOP slice (``isoflop``); ``k`` counts runs, so at
            most ``k // sizes_per_budget`` budgets are chosen.

    Returns:
        One row per pick, in order: ``step``, the law's size and token inputs (``N``,
        ``D``), ``C``, ``value_per_flop`` (variance reduction per FLOP when picked),
        ``expected_width`` (expected ``level`` interval width of q after the runs so
        far, on q's scale), ``width_ratio`` (that width over today's), ``expected_factor``
        (for log quantities, exp of the width: the interval's hi/lo ratio),
        ``cost_so_far``, ``budget_left``. ``attrs`` hold ``quantity``, ``width_now``,
        ``how`` (how the expectation was computed), ``noise``, ``misfit`` (the
        :func:`misfit_check`), ``rule``, ``stopped``, ``ess``, ``n_candidates``,
        ``n_draws`` and ``warnings``; with ``isoflop``, also ``isoflop`` (the budgets
        considered and chosen, and the expected width after the slice stage).

    Raises:
        PlanError: No draws on the fit, a target at or below the data's compute, a budget
            below the cheapest candidate, bad candidates or an unknown quantity.
        ScalingLawsError: Bad options.
    """
    options: dict[str, Any] = {
        "method": method,
        "selection": selection,
        "n_fantasies": n_fantasies,
        "seed": seed,
        "level": level,
    }
    iso_info: dict[str, Any] | None = None
    if isoflop:
        candidates = _isoflop_candidates(
            result, study_budget, k, isoflop_budgets, sizes_per_budget, max_params, max_tokens
        )
    prep = _prepare(
        result, target, study_budget, candidates, quantity, max_params, max_tokens, noise
    )
    law, table, size_col, token_col = prep.law, prep.table, prep.size_col, prep.token_col
    q, pred, sigma, pq, budget = prep.q, prep.pred, prep.sigma, prep.quantity, prep.budget
    source, noise_source = prep.source, prep.noise_source
    n_bad = int(np.sum(~np.isfinite(q)))
    if isoflop:
        table, pred, sel, iso_info = _isoflop_select(
            table, q, pred, sigma, budget, k, sizes_per_budget, run_slots, options
        )
    else:
        ensemble = Ensemble(quantity=q, predictions=pred[:, :, None], noise=sigma)
        sel = select_batch(
            ensemble,
            table["C"].to_numpy(dtype=float),
            budget=budget,
            k=k,
            slots=run_slots,
            **options,
        )
    picks = table.iloc[sel.picks].reset_index(drop=True)
    cost = picks["C"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "step": np.arange(1, len(picks) + 1),
            size_col: picks[size_col].to_numpy(dtype=float),
            token_col: picks[token_col].to_numpy(dtype=float),
            **{
                c: picks[c].to_numpy(dtype=float)
                for c in law.inputs
                if c not in (size_col, token_col)
            },
            "C": cost,
            "value_per_flop": sel.gain / cost if cost.size else np.zeros(0),
            "expected_width": sel.width_after,
            "width_ratio": sel.width_after / sel.width_now if sel.width_now > 0 else np.nan,
            "cost_so_far": sel.cost_so_far,
            "budget_left": budget - sel.cost_so_far,
        }
    )
    if pq.log:
        out.insert(
            out.columns.get_loc("width_ratio") + 1, "expected_factor", np.exp(sel.width_after)
        )
    n_used = int(q.size - n_bad)
    how = _HOW[method].format(n=n_used, j=n_fantasies)
    warn: list[str] = []
    misfit = misfit_check(result) if isinstance(result, FitResult) else None
    if misfit is not None and misfit["dominates"]:
        warn.append(
            f"the law's misfit, not run noise, dominates the residuals: a smooth function "
            f"of the inputs explains {misfit['share']:.0%} of their variance (misfit sd "
            f"{misfit['misfit_sd']:.3g} vs noise sd {misfit['noise_sd']:.3g}). The design "
            "treats all residual scatter as noise; more runs at small scale cannot fix a "
            "wrong law, so the expected intervals are optimistic"
        )
    if isinstance(result, FitResult) and misfit is None:
        warn.append(
            "misfit check skipped: the fit carries no residuals with their runs (a record "
            "without its data); the expected intervals assume the law is right"
        )
    if n_bad:
        warn.append(
            f"{n_bad} of {q.size} draws give no finite {pq.name} (e.g. no frontier) and "
            "were left out"
        )
    if method == "importance" and sel.ess.size and float(sel.ess.min()) < 100:
        warn.append(
            f"importance weights degenerate (effective sample size down to "
            f"{float(sel.ess.min()):.0f}): expected intervals after the later picks are "
            "noisy; use method='linear' or more draws"
        )
    if isinstance(result, FitResult):
        if not result.converged:
            warn.append(f"the fit did not converge (status {result.status}): so is this design")
    if not len(out):
        warn.append(f"no run was proposed ({sel.stopped})")
    out.attrs.update(
        {
            "quantity": pq.name,
            "quantity_description": pq.description,
            "target": target if not isinstance(target, tuple) else list(target),
            "level": level,
            "width_now": sel.width_now,
            "variance_now": sel.variance_now,
            "method": method,
            "how": how,
            "source": source,
            "noise": sigma,
            "noise_source": noise_source,
            "misfit": misfit,
            "rule": sel.rule,
            "stopped": sel.stopped,
            "ess": sel.ess.tolist(),
            "n_candidates": int(len(table)),
            "n_draws": n_used,
            "study_budget": budget,
            "seed": seed,
            "warnings": warn,
        }
    )
    if iso_info is not None:
        out.attrs["isoflop"] = iso_info
    return out


def _isoflop_candidates(
    result: FitResult | Prior,
    study_budget: Any,
    k: int,
    budgets: Any,
    sizes: int,
    max_params: float | None,
    max_tokens: float | None,
) -> pd.DataFrame:
    """Slice runs (stage ``slice``) and finer size runs (stage ``size``) per budget."""
    law, draws, _, _, _, k_flops, _ = _source(result, None)
    to_inputs = law.derived_fn("inputs") if law.has("inputs") else None
    size_col = getattr(to_inputs, "size", None)
    token_col = getattr(to_inputs, "tokens", None)
    if (
        size_col is None
        or token_col is None
        or set(law.inputs) != {size_col, token_col}
        or not law.has("compute_optimal")
    ):
        raise PlanError(
            f"isoFLOP designs need a Chinchilla-form law of model size and tokens; "
            f"{law.name!r} is not one (design free runs instead)"
        )
    if isinstance(sizes, bool) or not isinstance(sizes, int | np.integer) or sizes < 2:
        raise PlanError(f"sizes_per_budget must be an integer of at least 2, not {sizes!r}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < sizes:
        raise PlanError(
            f"an isoFLOP design of {sizes} sizes per budget needs k >= {sizes} runs, not {k!r}"
        )
    try:
        total = float(study_budget)
    except (TypeError, ValueError):
        raise PlanError(
            f"the study budget must be a number of FLOPs, not {study_budget!r}"
        ) from None
    if not (math.isfinite(total) and total > 0):
        raise PlanError(
            f"the study budget must be a positive number of FLOPs, not {study_budget!r}"
        )
    if budgets is None:
        hi = total / sizes
        grid = np.geomspace(hi / 1e3, hi, ISOFLOP_BUDGETS)
    else:
        grid = np.sort(np.asarray(budgets, dtype=float).reshape(-1))
        if grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid <= 0):
            raise PlanError("isoFLOP budgets must be positive numbers of FLOPs")
    grid = grid[grid * sizes <= total * (1 + 1e-12)]
    if grid.size == 0:
        raise PlanError(
            f"the study budget {total:.3g} FLOPs does not pay for one isoFLOP slice of "
            f"{sizes} runs at any candidate budget"
        )
    fn_opt = law.derived_fn("compute_optimal")
    with jax.enable_x64(True):
        params = {n: jnp.asarray(v) for n, v in draws.items()}
        n_opt = np.array([_finite_median(np.asarray(fn_opt(params, c, k_flops)[0])) for c in grid])
    rows = []
    for b, (c, n_star) in enumerate(zip(grid, n_opt, strict=True)):
        if not (math.isfinite(n_star) and n_star > 0):
            continue
        n_cap = math.inf if max_params is None else float(max_params)
        n_floor = 0.0 if max_tokens is None else c / (k_flops * float(max_tokens))
        for stage, spread, count in (("slice", 4.0, sizes), ("size", 8.0, ISOFLOP_FINE)):
            lo, hi = max(n_star / spread, n_floor), min(n_star * spread, n_cap)
            if not lo < hi:
                continue
            for n in np.geomspace(lo, hi, count):
                rows.append(
                    {size_col: n, token_col: c / (k_flops * n), "C": c, "slice": b, "stage": stage}
                )
    if not rows:
        raise PlanError("no isoFLOP slice fits within --max-params / --max-tokens")
    return pd.DataFrame(rows)


def _finite_median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def _isoflop_select(table, q, pred, sigma, budget, k, sizes, run_slots, options):
    """Choose slices (all sizes jointly), then sizes within the chosen slices."""
    stage = table["stage"].to_numpy()
    slice_id = table["slice"].to_numpy(dtype=int)
    coarse = np.flatnonzero(stage == "slice")
    ids = [b for b in np.unique(slice_id[coarse]) if np.sum(slice_id[coarse] == b) == sizes]
    if not ids:
        raise PlanError("no isoFLOP slice keeps all its sizes within the limits and budget")
    rows = np.stack([coarse[slice_id[coarse] == b] for b in ids])  # (B, sizes)
    slice_cost = table["C"].to_numpy(dtype=float)[rows].sum(axis=1)
    first = select_batch(
        Ensemble(quantity=q, predictions=pred[:, rows], noise=sigma),
        slice_cost,
        budget=budget,
        k=max(1, k // sizes),
        **options,
    )
    chosen = [int(ids[i]) for i in first.picks]
    fine = np.flatnonzero((stage == "size") & np.isin(slice_id, chosen))
    if not chosen or fine.size == 0:
        raise PlanError(
            f"no isoFLOP slice was worth its cost ({first.stopped}); design free runs instead"
        )
    sub = table.iloc[fine].reset_index(drop=True)
    sel = select_batch(
        Ensemble(quantity=q, predictions=pred[:, fine, None], noise=sigma),
        sub["C"].to_numpy(dtype=float),
        budget=budget,
        k=len(chosen) * sizes,
        slots=run_slots,
        groups=slice_id[fine],
        per_group=sizes,
        **options,
    )
    c_all = table["C"].to_numpy(dtype=float)
    info = {
        "budgets_considered": sorted({float(c_all[r[0]]) for r in rows}),
        "budgets_chosen": [float(c_all[rows[i, 0]]) for i in first.picks],
        "sizes_per_budget": int(sizes),
        "width_after_slices": float(first.width_after[-1]),
        "slice_rule": first.rule,
    }
    return sub, pred[:, fine], sel, info
