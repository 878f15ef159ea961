"""``propose_mixtures``: the next proxy runs to train, chosen by the experiment-design engine.

The same engine that proposes size/token runs (:mod:`scalinglaws.design.engine`) proposes
mixtures. It sees the posterior as S draws and needs two arrays from them:

* the plan quantity q_s per draw. ``method="regret"`` (default): the regret of the
  current choice under draw s, q_s = f_s(r_hat) - min_{r in F} f_s(r) (r_hat the plan's
  mixture, the minimum each draw's own optimum over the feasible set F). Its variance
  is small exactly when every plausible surface agrees that r_hat is (nearly) best, so
  reducing it means "become sure of the best mixture". ``method="value"``: q_s =
  f_s(r_hat), the target at the current choice (learn how good the choice is; it tends to
  sample near r_hat only). ``method="thompson"``: no engine, the optima of k random draws
  (perturbed when they coincide).
* the predicted observation of every candidate proxy per draw: its V validation
  log-losses at the proxy size (and length), each divided by that domain's noise sd
  (:attr:`DomainModel.noise`), so the engine's unit noise is the observation model
  (independent log-normal noise per validation domain).

Candidates: Thompson samples (each draw's optimum, and copies pulled towards random
feasible mixtures by a random 0-30%) and constrained Dirichlet draws, half each. Every
proxy costs the same (equal-size proxies), so the engine's greedy picks by variance
reduction (linear-Gaussian update, conditioning each pick on the earlier ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.datamix.plan import (
    Surfaces,
    _core,
    _feasible_dirichlet,
    check_options,
    resolve_bounds,
)
from scalinglaws.design.engine import Ensemble, select_batch
from scalinglaws.errors import PlanError

METHODS = ("regret", "value", "thompson")
#: Largest pull of a Thompson candidate towards a random feasible mixture.
PERTURB = 0.3
#: Candidates closer than this (max abs weight difference) count as the same mixture.
DISTINCT = 1e-4


def _candidates(core, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, K) candidate mixtures and their source (0 Dirichlet, 1 Thompson), deduplicated."""
    bounds = core.bounds
    opt = core.draw_opt[core.draw_ok]
    n_t = n // 2
    if len(opt):
        idx = rng.integers(0, len(opt), size=max(n_t - len(opt), 0))
        e = rng.uniform(0.0, PERTURB, size=(len(idx), 1))
        other = _feasible_dirichlet(rng, len(idx), bounds)
        pulled = (1 - e) * opt[idx] + e * other  # convex: stays feasible
        thompson = np.vstack([opt, pulled])[:n_t]
    else:
        thompson = np.zeros((0, len(bounds.domains)))
    dirichlet = _feasible_dirichlet(rng, n - len(thompson), bounds)
    cand = np.vstack([thompson, dirichlet])
    src = np.r_[np.ones(len(thompson), dtype=int), np.zeros(len(dirichlet), dtype=int)]
    key = np.round(cand / DISTINCT).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    return cand[first], src[first]


def _spread_fill(cand: np.ndarray, picks: list[int], order: np.ndarray, k: int) -> list[int]:
    """Add candidates (in ``order`` of preference) far from the picks until there are k."""
    out = list(picks)
    for i in order:
        if len(out) >= k:
            break
        if i in out:
            continue
        if out and np.min(np.max(np.abs(cand[out] - cand[i]), axis=1)) < 0.02:
            continue
        out.append(int(i))
    for i in order:  # relax the spacing if still short
        if len(out) >= k:
            break
        if int(i) not in out:
            out.append(int(i))
    return out


def propose_mixtures(
    fit,
    k: int,
    *,
    N: Any = None,
    D: Any = None,
    proxy_N: Any = None,
    proxy_D: Any = None,
    min_weight: Any = None,
    max_weight: Any = None,
    available: Mapping[str, float] | None = None,
    tokens: float | None = None,
    max_epochs: float = 1.0,
    method: str = "regret",
    n_candidates: int = 2000,
    seed: int = 0,
    n_draws: int = 200,
) -> pd.DataFrame:
    """The ``k`` proxy mixtures to train next, to become sure of the best mixture.

    Args:
        fit: A :class:`~scalinglaws.datamix.fit.DataMixFit`.
        k: Number of mixtures to propose.
        N: Size the plan is for (as :func:`plan_data_mixture`; needed by nested fits).
        D: Training length the plan is for (tokens, or steps when the fit's length
            column is ``step``; needed by length-nested fits, as the plan).
        proxy_N: Size the proxies will be trained at (default: the largest proxy size;
            a one-scale fit's own scale).
        proxy_D: Length the proxies will be trained for (default: the longest proxy
            length of a length-nested fit; another fit's own length).
        min_weight, max_weight, available, tokens, max_epochs: Constraints, as for
            :func:`~scalinglaws.datamix.plan.plan_data_mixture`; every proposal meets them.
        method: ``"regret"``, ``"value"`` or ``"thompson"`` (module docstring).
        n_candidates: Candidate mixtures scored.
        seed: Seed of every random choice (the same seed gives the same proposals).
        n_draws: Posterior draws.

    Returns:
        k rows: one weight column per training domain, ``predicted`` (the fitted target at
        N and D), ``sd`` (its posterior sd), ``gain`` (expected reduction of the variance of q
        from this run, given the earlier rows), ``source`` (``"thompson"`` or
        ``"dirichlet"``) and ``why``. ``attrs["summary"]``: the quantity, its variance
        before and (expected) after the batch, the plan's mixture.

    Raises:
        PlanError: Bad options or constraints (as the plan), or a size or length the
            fit cannot predict at.
    """
    if method not in METHODS:
        raise PlanError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise PlanError(f"k (the number of mixtures) must be a positive integer, not {k!r}")
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int | np.integer):
        raise PlanError(f"n_candidates must be an integer, not {n_candidates!r}")
    if n_candidates < 2 * k:
        raise PlanError(f"n_candidates ({n_candidates}) must be at least 2k ({2 * k})")
    check_options("mean", 0.9, n_draws, 0.9, 1)
    domains = tuple(fit.training_domains)
    bounds = resolve_bounds(
        domains,
        min_weight=min_weight,
        max_weight=max_weight,
        available=available,
        tokens=tokens,
        max_epochs=max_epochs,
    )
    probe = np.full((1, len(domains)), 1.0 / len(domains))
    pn = _proxy_scale(fit.nested, fit.sizes, proxy_N, fit.sizes_for, probe)
    pd_ = _proxy_scale(fit.length_nested, fit.lengths, proxy_D, fit.lengths_for, probe)
    rng = np.random.default_rng(seed + 104729)
    with jax.enable_x64(True):
        core = _core(
            fit,
            N=N,
            D=D,
            bounds=bounds,
            base=None,
            ceiling=None,
            objective="mean",
            quantile=0.9,
            n_draws=int(n_draws),
            seed=int(seed),
            n_starts=32,
        )
        cand, src = _candidates(core, rng, int(n_candidates))
        surf = core.surf
        f_hat = np.asarray(surf.draws(jnp.asarray(core.chosen)[None, :]) @ surf.wt)[:, 0]
        tc = np.asarray(surf.draws(jnp.asarray(cand)) @ surf.wt)  # (S, M) at the plan size
        same = pn == core.n and pd_ == core.d
        proxy = surf if same else Surfaces(fit, pn, int(n_draws), int(seed), pd_)
        obs = np.asarray(proxy.draws(jnp.asarray(cand)))  # (S, M, V) at the proxy scale
        point = np.asarray(surf.point(jnp.asarray(cand)) @ surf.wt)
    ok = core.draw_ok
    if method == "regret":
        q = f_hat - core.draw_opt_value
        what = "regret of the current choice"
    else:
        q = f_hat
        what = "target at the current choice"
    sd = np.std(tc[ok], axis=0)
    if method == "thompson":
        order = np.argsort(-src * 10.0 + rng.random(len(src)))  # Thompson candidates first
        picks = _spread_fill(cand, [], order, k)
        gains = np.full(len(picks), np.nan)
        var_now = var_after = float("nan")
    else:
        noise = np.asarray([m.noise for m in fit.domains.values()], dtype=float)
        noise = np.where(np.isfinite(noise) & (noise > 0), noise, np.nanmax(noise[noise > 0]))
        pred = np.log(np.maximum(obs[ok], 1e-300)) / noise[None, None, :]
        sel = select_batch(
            Ensemble(quantity=q[ok], predictions=pred, noise=1.0),
            np.ones(len(cand)),
            budget=float(k),
            k=int(k),
            method="linear",
            selection="absolute",
            seed=int(seed),
        )
        picks = [int(i) for i in sel.picks]
        gains = np.asarray(sel.gain, dtype=float)
        var_now = float(sel.variance_now)
        var_after = float(sel.variance_after[-1]) if len(sel.picks) else var_now
        if len(picks) < k:  # the engine found nothing more to learn: spread the rest
            order = np.argsort(point)
            picks = _spread_fill(cand, picks, order, k)
            gains = np.r_[gains, np.zeros(len(picks) - len(gains))]
    rows = []
    for i, m in enumerate(picks):
        g = gains[i] if i < len(gains) else np.nan
        where = (
            "a Thompson sample (a posterior draw's optimum" + (", perturbed)" if src[m] else ")")
            if src[m]
            else "a random feasible mixture"
        )
        if method == "thompson":
            why = f"{where}"
        elif np.isfinite(g) and g > 0 and var_now > 0:
            why = f"{where}; expected to cut the variance of the {what} by {100 * g / var_now:.1f}%"
        else:
            why = f"{where}; added for spread (the engine expected no further gain)"
        w = np.where(cand[m] < 1e-12, 0.0, cand[m])  # round-off of the projection is zero
        w = w / w.sum()
        rows.append(
            {
                **{d: float(w[j]) for j, d in enumerate(domains)},
                "predicted": float(point[m]),
                "sd": float(sd[m]),
                "gain": float(g),
                "source": "thompson" if src[m] else "dirichlet",
                "why": why,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["summary"] = {
        "method": method,
        "quantity": what if method != "thompson" else None,
        "variance_now": var_now,
        "variance_after": var_after,
        "plan_mixture": {d: float(core.chosen[j]) for j, d in enumerate(domains)},
        "N": core.n,
        "proxy_N": pn,
        **({"D": core.d, "proxy_D": pd_} if fit.length_nested else {}),
        "n_candidates": int(len(cand)),
        "n_draws": int(n_draws),
        "seed": int(seed),
        "constraints": bounds.to_dict(),
    }
    return out


def _proxy_scale(nested: bool, values, given, check, probe: np.ndarray) -> float | None:
    """The size (or length) the proposed proxies will be trained at: the given one or the
    largest proxy's for a fit nested in it, None otherwise; ``check`` (the fit's
    ``sizes_for`` or ``lengths_for``) refuses a value the fit cannot reach."""
    if not nested:
        check(probe, given)
        return None
    value = max(values) if given is None else given
    check(probe, value)
    return float(value)
