"""Simulated run logs for Chinchilla-form laws.

A design is a table of inputs (N, D, C); :func:`simulate_runs` adds losses drawn from a
law with known parameters and multiplicative noise (normal on log loss, the same noise
model the Approach 3 objective assumes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.laws.base import Law


def isoflop_design(
    budgets: Sequence[float],
    n_per_budget: int = 9,
    *,
    tokens_per_param: tuple[float, float] = (2.0, 200.0),
    center: float | None = None,
    k: float = 6.0,
) -> pd.DataFrame:
    """An isoFLOP sweep: at each budget C, model sizes spaced evenly in log N.

    Args:
        budgets: Compute budgets C in FLOPs.
        n_per_budget: Model sizes per budget.
        tokens_per_param: Range of D/N covered at every budget (log-spaced).
        center: If given, centre the sweep's tokens-per-parameter (geometric mean) on this
            value, keeping the span of ``tokens_per_param``.
        k: FLOPs per parameter per token.

    Returns:
        DataFrame with columns ``run, N, D, C``.
    """
    lo, hi = tokens_per_param
    if not (0 < lo < hi) or n_per_budget < 1 or len(budgets) == 0:
        raise ScalingLawsError("need budgets, n_per_budget >= 1 and 0 < tokens_per_param[0] < [1]")
    if center is not None:
        half = 0.5 * np.log(hi / lo)
        lo, hi = center * np.exp(-half), center * np.exp(half)
    ratios = np.geomspace(lo, hi, n_per_budget)
    rows = []
    for c in budgets:
        # C = k N D and D = r N  =>  N = sqrt(C / (k r))
        n = np.sqrt(c / (k * ratios))
        for j, (nn, r) in enumerate(zip(n, ratios, strict=True)):
            rows.append({"run": f"C{c:.2e}-{j}", "N": nn, "D": r * nn, "C": float(c)})
    return pd.DataFrame(rows)


def simulate_runs(
    law: Law,
    params: Mapping[str, float],
    design: pd.DataFrame,
    *,
    noise: float = 0.01,
    seed: int = 0,
    df: float | None = None,
) -> pd.DataFrame:
    """Draw final losses at the design's inputs from a law with known parameters.

    loss = law(params, inputs) * exp(noise * eps), eps standard normal (or Student-t with
    ``df`` degrees of freedom, for heavy-tailed logs).

    Returns:
        The design with a ``loss`` column added; ``attrs`` record the truth and the seed.
    """
    missing = [c for c in law.inputs if c not in design.columns]
    if missing:
        raise ScalingLawsError(f"design lacks the law's inputs {missing}")
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        mean = np.asarray(
            law.predict(
                {k: jnp.asarray(float(v)) for k, v in params.items()},
                {c: jnp.asarray(design[c].to_numpy(dtype=float)) for c in law.inputs},
            )
        )
    eps = rng.standard_t(df, size=len(design)) if df else rng.standard_normal(len(design))
    out = design.copy()
    if law.residual == "log":
        out[law.target] = mean * np.exp(noise * eps)
    else:
        out[law.target] = mean + noise * eps
    out.attrs.update(
        {"true_params": dict(params), "noise": noise, "seed": seed, "law": law.name, "df": df}
    )
    return out
