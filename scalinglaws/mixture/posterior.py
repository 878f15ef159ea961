"""Posterior draws of the loss-change curve fits by NUTS (``fit_cmr(..., uncertainty="bayes",
sampler="nuts")``).

The default Bayesian path is the exact grid posterior of :mod:`scalinglaws.mixture.gridpost`
(same laws, coefficients and noise integrated out in closed form): the general-loss
posterior is multimodal and NUTS mostly does not mix on it (below). This module stays for
comparison and for laws or priors the grid does not cover.

Each curve of a continual-pre-training log (one model, ratio and split) gets its own
posterior from :func:`scalinglaws.uncertainty.sample_posterior` (NUTS, Student-t
likelihood on the residuals with a learned scale, dense mass matrix, whitened at the
point fit; see :mod:`scalinglaws.uncertainty.bayes`). The draws are then pushed through
the turning-point root finder and the CMR-law fit draw by draw, exactly as the bootstrap
draws are (:func:`scalinglaws.mixture.pipeline.derive_critical`).

Anchored parametrisation. In the paper's coordinates the posterior of these laws is a
narrow curved ridge: over 0.2B-20B tokens a term alpha T^s with small s is nearly a
constant, so alpha, s and the offset beta trade off against each other along a banana,
and NUTS needs trees of hundreds of leapfrog steps and still does not mix (R-hat 1.1-2.5
on simulated curves, 4 x 250 draws). The sampler therefore runs on an equivalent law whose
parameters are the curve's *values at anchor token counts* plus the exponents:

* domain: ``d_lo, d_hi`` (dL_dom at the first and last checkpoint) and ``s1``:
  ``dL(T) = d_lo + (d_hi - d_lo) e(s1, log(T / T_lo)) / e(s1, log(T_hi / T_lo))``,
  ``e(s, a) = expm1(s a) / s`` (``= a`` at ``s = 0``, so the curve is smooth through
  s1 = 0, where alpha1 itself diverges);
* general: ``g_lo, g_mid, g_hi`` (dL_gen at the first, geometric-middle and last
  checkpoint) and ``s2, s3_gap``; the two power terms' coefficients are solved from the
  anchors (a 2 x 2 system, regular while s3_gap > 0).

The values at checkpoints are what the data pin down, nearly independently of the
exponents, so the remaining correlation is the genuine one between the two exponents of
the general law. The map to the paper's keys is exact (``alpha1 = (d_hi - d_lo) /
(T_hi^s1 - T_lo^s1)``, ...). Priors: normal(0, 1) on each anchor value (loss changes are
a few tenths at most; weakly informative), and the exponents' priors of
:func:`scalinglaws.laws.cmr.domain_change_law` / :func:`~scalinglaws.laws.cmr.general_change_law`
(s3_gap log-normal around 0.3, bounded to [0.02, 1.5]).

Speed: curves sharing a token grid share one anchored law object (cached), and
``sample_posterior`` caches its sampler per law and number of checkpoints, so a log with
one token grid builds one sampler per split; NumPyro still recompiles its sampling loop
once per run (about 3.5 s of the ~5 s per curve on a 2-core CPU, see
:data:`CHAIN_METHOD`). The pipeline's defaults for this
path are 4 chains x (:data:`DEFAULT_WARMUP` warm-up + :data:`DEFAULT_SAMPLES_PER_CHAIN`
draws): a log holds dozens of small posteriors, and 1,000 draws in all are as many as the
bootstrap's 500-1,000 while bulk ESS >= 400 per parameter is still required for a
posterior to count as converged.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsWarning
from scalinglaws.laws.base import Law, ParamSpec
from scalinglaws.laws.cmr import GAP_MAX

#: Default NUTS warm-up iterations per chain for each curve posterior.
DEFAULT_WARMUP = 500
#: Default kept draws per chain (4 chains: 1,000 draws).
DEFAULT_SAMPLES_PER_CHAIN = 250
#: Default number of chains.
DEFAULT_CHAINS = 4
#: NUTS maximum tree depth (2^6 = 64 leapfrog steps per iteration at most). Where the
#: general-loss exponents are weakly identified the trees otherwise grow to the default
#: limit of 1,023 steps (tens of seconds per curve) without mixing any better; a chain
#: that does not mix within this depth fails R-hat/ESS and is labelled NOT CONVERGED.
DEFAULT_MAX_TREE_DEPTH = 6
#: How the chains run. The anchored law objects are shared per token grid (cached), and
#: :func:`scalinglaws.uncertainty.sample_posterior` runs NUTS through two compiled programs
#: (the chains' start and a block of steps) per law, data shape and warm-up length, so
#: every curve on the same token grid after the first reuses them.
#: Vectorised chains compile and run as one batched program; "sequential" maps the
#: same step over the chains.
CHAIN_METHOD = "vectorized"
#: Prior scale of an anchor value (a loss change, in loss units).
ANCHOR_PRIOR_SCALE = 1.0


def _rel(s, a):
    """expm1(s a) / s, continuous at s = 0 (value a)."""
    small = jnp.abs(s) < 1e-10
    s_safe = jnp.where(small, 1.0, s)
    return jnp.where(small, a, jnp.expm1(s_safe * a) / s_safe)


def _key(t: float) -> float:
    return float(f"{float(t):.12g}")


@functools.lru_cache(maxsize=64)
def domain_anchor_law(t_lo: float, t_hi: float) -> Law:
    """dL_dom parametrised by its values at ``t_lo`` and ``t_hi`` and the exponent s1."""
    b = math.log(t_hi / t_lo)

    def fn(params, inputs):
        a = jnp.log(inputs["T"] / t_lo)
        s = params["s1"]
        return params["d_lo"] + (params["d_hi"] - params["d_lo"]) * _rel(s, a) / _rel(s, b)

    return Law(
        name="cmr_domain_change_anchored",
        inputs=("T",),
        target="dloss",
        residual="linear",
        params=(
            ParamSpec("d_lo", prior_scale=ANCHOR_PRIOR_SCALE, doc=f"dL_dom at T = {t_lo:g}"),
            ParamSpec("d_hi", prior_scale=ANCHOR_PRIOR_SCALE, doc=f"dL_dom at T = {t_hi:g}"),
            ParamSpec("s1", lower=-5.0, upper=5.0, prior_scale=1.0, doc="domain exponent"),
        ),
        fn=fn,
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="dL_dom anchored at the first and last checkpoint",
    )


def _general_coefficients(params, t_lo, t_mid, t_hi):
    """(c2, c3, s2, s3): dL_gen(T) = g_lo + c2 e(s2, a) + c3 e(s3, a), a = log(T / t_lo)."""
    s2 = params["s2"]
    s3 = s2 + params["s3_gap"]
    am, ah = math.log(t_mid / t_lo), math.log(t_hi / t_lo)
    e2m, e3m, e2h, e3h = _rel(s2, am), _rel(s3, am), _rel(s2, ah), _rel(s3, ah)
    rm = params["g_mid"] - params["g_lo"]
    rh = params["g_hi"] - params["g_lo"]
    det = e2m * e3h - e3m * e2h
    c2 = (rm * e3h - e3m * rh) / det
    c3 = (e2m * rh - rm * e2h) / det
    return c2, c3, s2, s3


@functools.lru_cache(maxsize=64)
def general_anchor_law(t_lo: float, t_hi: float) -> Law:
    """dL_gen parametrised by its values at the first, middle and last checkpoint."""
    t_mid = math.sqrt(t_lo * t_hi)

    def fn(params, inputs):
        c2, c3, s2, s3 = _general_coefficients(params, t_lo, t_mid, t_hi)
        a = jnp.log(inputs["T"] / t_lo)
        return params["g_lo"] + c2 * _rel(s2, a) + c3 * _rel(s3, a)

    return Law(
        name="cmr_general_change_anchored",
        inputs=("T",),
        target="dloss",
        residual="linear",
        params=(
            ParamSpec("g_lo", prior_scale=ANCHOR_PRIOR_SCALE, doc=f"dL_gen at T = {t_lo:g}"),
            ParamSpec("g_mid", prior_scale=ANCHOR_PRIOR_SCALE, doc=f"dL_gen at T = {t_mid:g}"),
            ParamSpec("g_hi", prior_scale=ANCHOR_PRIOR_SCALE, doc=f"dL_gen at T = {t_hi:g}"),
            ParamSpec("s2", lower=-5.0, upper=5.0, prior_scale=1.0, doc="smaller exponent"),
            ParamSpec(
                "s3_gap",
                lower=0.02,
                upper=GAP_MAX,
                log_scale=True,
                prior_loc=math.log(0.3),
                prior_scale=1.5,
                doc="s3 - s2 (> 0)",
            ),
        ),
        fn=fn,
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="dL_gen anchored at the first, middle and last checkpoint",
    )


def anchored_from_paper(split: str, p: dict, t_lo: float, t_hi: float) -> dict:
    """Paper-key parameters (arrays allowed) -> the anchored law's parameters."""
    if split == "domain":
        f = lambda t: p["alpha1"] * t ** p["s1"] + p["beta1"]  # noqa: E731
        return {"d_lo": f(t_lo), "d_hi": f(t_hi), "s1": p["s1"]}
    f = lambda t: p["alpha2"] * t ** p["s2"] + p["alpha3"] * t ** p["s3"] + p["beta2"]  # noqa: E731
    t_mid = math.sqrt(t_lo * t_hi)
    return {
        "g_lo": f(t_lo),
        "g_mid": f(t_mid),
        "g_hi": f(t_hi),
        "s2": p["s2"],
        "s3_gap": p["s3"] - p["s2"],
    }


def paper_from_anchored(split: str, q: dict, t_lo: float, t_hi: float) -> dict:
    """Anchored parameters ``{name: (K,)}`` -> the paper's keys (numpy, float64)."""
    q = {k: np.asarray(v, dtype=float) for k, v in q.items()}
    with np.errstate(all="ignore"):
        if split == "domain":
            s = q["s1"]
            alpha1 = (q["d_hi"] - q["d_lo"]) / (t_hi**s - t_lo**s)
            return {"alpha1": alpha1, "s1": s, "beta1": q["d_lo"] - alpha1 * t_lo**s}
        with jax.enable_x64(True):
            c2, c3, s2, s3 = (
                np.asarray(v)
                for v in _general_coefficients(
                    {k: jnp.asarray(v) for k, v in q.items()}, t_lo, math.sqrt(t_lo * t_hi), t_hi
                )
            )
        # c_k e(s_k, a) = alpha_k (T^s_k - t_lo^s_k): alpha_k = c_k / (s_k t_lo^s_k).
        a2 = c2 / (s2 * t_lo**s2)
        a3 = c3 / (s3 * t_lo**s3)
        beta2 = q["g_lo"] - a2 * t_lo**s2 - a3 * t_lo**s3
    return {"alpha2": a2, "s2": s2, "alpha3": a3, "s3": s3, "beta2": beta2}


def posterior_curves(
    split: str,
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    points: Sequence[dict],
    *,
    chains: int,
    warmup: int,
    samples: int,
    seeds: Sequence[int],
    max_tree_depth: int = DEFAULT_MAX_TREE_DEPTH,
) -> tuple[list[dict], list[dict]]:
    """NUTS posterior of every curve of one split.

    Args:
        split: ``"domain"`` or ``"general"``.
        xs, ys: Per curve, tokens (fit units) and loss changes.
        points: Per curve, the point fit with the paper's keys (the sampler starts there).
        chains, warmup, samples: NUTS chains, warm-up and kept draws per chain.
        seeds: One seed per curve.
        max_tree_depth: NUTS maximum tree depth.

    Returns:
        ``(draws, diagnostics)``: per curve ``{paper key: (chains * samples,)}`` and
        ``{"max_r_hat", "min_ess_bulk", "divergences", "converged", "problems",
        "mean_tree_size", "wall_s"}``.
    """
    from scalinglaws.fitting.result import FitResult
    from scalinglaws.uncertainty.bayes import sample_posterior

    draws, diags = [], []
    for x, y, p, seed in zip(xs, ys, points, seeds, strict=True):
        t_lo, t_hi = _key(np.min(x)), _key(np.max(x))
        law = (domain_anchor_law if split == "domain" else general_anchor_law)(t_lo, t_hi)
        start = {k: float(v) for k, v in anchored_from_paper(split, p, t_lo, t_hi).items()}
        if split == "general":
            # Keep the start inside the gap's bounds (the point fit may sit on one).
            start["s3_gap"] = min(max(start["s3_gap"], 0.02 * (1 + 1e-6)), GAP_MAX * (1 - 1e-6))
        result = FitResult(
            law=law,
            params=start,
            objective=math.nan,
            status="converged",
            starts=pd.DataFrame(),
            n_runs=len(x),
            options={},
            covariance=None,
            residuals=np.empty(0),
            data=pd.DataFrame({"T": np.asarray(x, float), "dloss": np.asarray(y, float)}),
        )
        with warnings.catch_warnings():
            # Convergence is summarised over all curves by the caller, loudly.
            warnings.simplefilter("ignore", ScalingLawsWarning)
            post = sample_posterior(
                result,
                chains=chains,
                warmup=warmup,
                samples=samples,
                seed=int(seed),
                max_tree_depth=max_tree_depth,
                chain_method=CHAIN_METHOD,
                extend=0,  # every curve keeps chains * samples draws (they are stacked)
            )
        unc = post.uncertainty
        draws.append(paper_from_anchored(split, dict(unc.draws), t_lo, t_hi))
        d = unc.diagnostics
        r_hat = [v for v in d["r_hat"].values() if math.isfinite(v)]
        ess = [v for v in d["ess_bulk"].values() if math.isfinite(v)]
        diags.append(
            {
                "max_r_hat": max(r_hat) if r_hat else math.nan,
                "min_ess_bulk": min(ess) if ess else math.nan,
                "divergences": int(d["divergences"]),
                "mean_tree_size": float(d["mean_tree_size"]),
                "converged": bool(unc.converged),
                "problems": list(d["problems"]),
                "wall_s": float(unc.extra.get("wall_s", math.nan)),
            }
        )
    return draws, diags
