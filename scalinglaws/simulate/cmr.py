"""Synthetic continual-pre-training loss curves with a known critical mixture ratio.

No CPT loss curves were published with Gu et al. 2024 (arXiv 2407.17467), so tests,
notebooks and ``data/cmr/`` use curves drawn from the paper's forms:

    dL_dom(T) = alpha1 T^s1 + beta1,   dL_gen(T) = alpha2 T^s2 + alpha3 T^s3 + beta2,

with a known CMR law R = alpha4 T^s4 + beta3 per model size (:data:`SIM_CMR` by default:
turning points of the ratios 1/8 ... 3/4 inside the observed 0.2B-20B tokens, pure domain
data beyond, and signs of alpha4 and s4 that differ between sizes as in the paper; the
paper's Finance coefficients, converted with :func:`convert_cmr_unit`, put most turning
points far beyond 20B tokens, where no fit of these curves can locate them). For each ratio R the
turning point T0(R) is put exactly on that law: alpha3 is solved in closed form from the
stationarity equation at T0,

    alpha1 s1 T0^s1 + lambda (alpha2 s2 T0^s2 + alpha3 s3 T0^s3) = 0,

so the true T0 points lie on the true CMR law and any weighting of them recovers it. A
ratio the law never reaches (R above the law's limit) gets alpha3 = 0: its general loss
never turns back (T0 = inf).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scalinglaws.laws.cmr import DEFAULT_TOKEN_UNIT

#: The paper's mixture ratios (domain share): 1:7, 1:3, 1:2, 1:1, 3:1 and pure domain.
PAPER_RATIOS = (1 / 8, 1 / 4, 1 / 3, 1 / 2, 3 / 4, 1.0)
#: Default Lagrange multiplier of the simulated truth (the pipeline's default).
SIM_LAMBDA = 1000.0
#: Default true CMR laws (T in units of 1e9 tokens): T0(1/8) and T0(3/4) at
#: (3, 18), (2.5, 15), (2, 14), (1.5, 12) billion tokens with s4 = 0.5, 0.4, -0.3, -0.5.
SIM_CMR = {
    "460M": {"alpha4": 0.24891, "s4": 0.5, "beta3": -0.30613},
    "940M": {"alpha4": 0.41362, "s4": 0.4, "beta3": -0.47188},
    "1.6B": {"alpha4": -1.74046, "s4": -0.3, "beta3": 1.53880},
    "3.1B": {"alpha4": -1.18416, "s4": -0.5, "beta3": 1.09186},
}
#: Losses before continual training (general, domain) of the simulated models.
SIM_BASELINES = {
    "460M": (2.62, 2.05),
    "940M": (2.48, 1.93),
    "1.6B": (2.38, 1.86),
    "3.1B": (2.27, 1.79),
}


def convert_cmr_unit(params: Mapping[str, float], unit_from: float, unit_to: float) -> dict:
    """CMR-law coefficients for T in ``unit_to`` tokens from those for ``unit_from``.

    R = alpha4 (T_from)^s4 + beta3 with T_from = T_to * unit_to / unit_from, so alpha4
    scales by (unit_to / unit_from)^s4.
    """
    f = (unit_to / unit_from) ** params["s4"]
    return {"alpha4": params["alpha4"] * f, "s4": params["s4"], "beta3": params["beta3"]}


def true_turning_point(cmr: Mapping[str, float], ratio: float) -> float:
    """T0 at which ``ratio`` becomes critical under the CMR law (inf when never)."""
    a4, s4, b3 = cmr["alpha4"], cmr["s4"], cmr["beta3"]
    base = (ratio - b3) / a4
    if base <= 0:
        return math.inf
    t0 = base ** (1.0 / s4)
    return t0 if math.isfinite(t0) and t0 > 0 else math.inf


def simulate_cpt_curves(
    models: Sequence[str] = tuple(SIM_CMR),
    ratios: Sequence[float] = PAPER_RATIOS,
    tokens: Sequence[float] | None = None,
    *,
    noise: float = 0.001,
    lam: float = SIM_LAMBDA,
    cmr: Mapping[str, Mapping[str, float]] | None = None,
    token_unit: float = DEFAULT_TOKEN_UNIT,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Simulate a long-format CPT run log and return it with its truth.

    Args:
        models: Model names (keys of ``cmr``; default the paper's four sizes).
        ratios: Domain shares simulated for every model.
        tokens: Checkpoint token counts (raw); default 100 checkpoints 0.2B..20B.
        noise: Standard deviation of Gaussian noise added to every checkpoint loss.
        lam: Lagrange multiplier under which T0 is placed on the CMR law.
        cmr: Per-model CMR-law coefficients for T in ``token_unit`` tokens; default
            :data:`SIM_CMR` (which assumes ``token_unit`` = 1e9).
        token_unit: Raw tokens per unit of T in the truth's coefficients.
        seed: Seed of the noise.

    Returns:
        ``(runs, truth)``: ``runs`` has columns ``model, ratio, tokens, split, loss`` with
        baseline rows (tokens 0, empty ratio); ``truth`` holds ``token_unit``, ``lam`` and
        per model ``cmr``, ``baseline`` and per ratio ``domain``/``general`` parameters
        (paper keys) and ``T0`` in raw tokens.
    """
    rng = np.random.default_rng(seed)
    t_raw = np.linspace(0.2e9, 20e9, 100) if tokens is None else np.asarray(tokens, dtype=float)
    t = t_raw / token_unit
    if cmr is None:
        cmr = {m: convert_cmr_unit(SIM_CMR[m], 1e9, token_unit) for m in models}
    rows = []
    truth: dict = {"token_unit": float(token_unit), "lam": float(lam), "models": {}}
    for j, model in enumerate(models):
        gen0, dom0 = SIM_BASELINES.get(model, (2.5 - 0.1 * j, 1.95 - 0.08 * j))
        rows.append((model, np.nan, 0.0, "general", gen0))
        rows.append((model, np.nan, 0.0, "domain", dom0))
        law = dict(cmr[model])
        per_ratio = {}
        for r in ratios:
            dom = {"alpha1": -0.12 * r**0.3, "s1": 0.15, "beta1": 0.0}
            a2, s2, s3 = 0.02 * r**0.5, 0.35, 0.7
            t0 = true_turning_point(law, r)
            if math.isfinite(t0):
                rise = a2 * s2 * t0**s2
                if math.isfinite(lam):
                    dom_term = dom["alpha1"] * dom["s1"] * t0 ** dom["s1"]
                    a3 = -(dom_term + lam * rise) / (lam * s3 * t0**s3)
                else:
                    a3 = -rise / (s3 * t0**s3)
            else:
                a3 = 0.0
            gen = {"alpha2": a2, "s2": s2, "alpha3": a3, "s3": s3, "beta2": 0.0}
            per_ratio[float(r)] = {
                "domain": dom,
                "general": gen,
                "T0": t0 * token_unit if math.isfinite(t0) else math.inf,
            }
            d_dom = dom["alpha1"] * t ** dom["s1"] + dom["beta1"]
            d_gen = a2 * t**s2 + a3 * t**s3
            l_dom = dom0 + d_dom + noise * rng.standard_normal(t.shape)
            l_gen = gen0 + d_gen + noise * rng.standard_normal(t.shape)
            for k in range(len(t)):
                rows.append((model, float(r), float(t_raw[k]), "domain", float(l_dom[k])))
            for k in range(len(t)):
                rows.append((model, float(r), float(t_raw[k]), "general", float(l_gen[k])))
        truth["models"][model] = {
            "cmr": law,
            "baseline": {"general": gen0, "domain": dom0},
            "ratios": per_ratio,
        }
    runs = pd.DataFrame(rows, columns=["model", "ratio", "tokens", "split", "loss"])
    return runs, truth


def true_cmr(truth: Mapping, model: str, tokens: float) -> float:
    """The simulated model's true CMR at a raw token budget (unclipped)."""
    law = truth["models"][model]["cmr"]
    tt = tokens / truth["token_unit"]
    return law["alpha4"] * tt ** law["s4"] + law["beta3"]
