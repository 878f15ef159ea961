"""Regenerate data/demo/runs.csv and truth.json (the demo's default run log).

    python data/demo/generate.py

An isoFLOP study in the style of Hoffmann et al. 2022 (arXiv 2203.15556, Approach 2
sweeps) and Besiroglu et al. 2024 (arXiv 2404.10102): seven compute budgets from 1e18 to
1e21 FLOPs, ten model sizes per budget spaced evenly in log N from a tenth to ten times
the budget's true compute-optimal size, C = 6 N D; final losses drawn from the Chinchilla
law with Besiroglu et al. 2024's fit and normal noise of standard deviation 0.008 on log
loss.

Deterministic: the seed, design and true parameters below are the record of how the files
were made (also written in README.md beside this script); change them only together. The
seed was fixed here before the log was first generated or fitted and has not been changed
since.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from scalinglaws.laws import chinchilla
from scalinglaws.laws.chinchilla import compute_optimal
from scalinglaws.simulate import isoflop_design, simulate_runs

HERE = Path(__file__).resolve().parent
SOURCE = (
    "Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', arXiv 2404.10102 "
    "(refit of Hoffmann et al. 2022's Approach 3 on the digitised runs; E is printed "
    "there rounded to 1.82)"
)
#: True parameters (the paper's fit); L in nats/token, N in parameters, D in tokens.
TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
SEED = 20240417  # numpy.random.default_rng seed of the noise; fixed before any fit
BUDGETS = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21)  # FLOPs
SIZES_PER_BUDGET = 10
SPAN = 10.0  # model sizes from N_opt(C) / SPAN to SPAN * N_opt(C), log-spaced
NOISE = 0.008  # standard deviation of log loss
K = 6.0  # FLOPs per parameter per token, C = K N D
#: Budgets (FLOPs) at which truth.json records the true compute-optimal plan (the demo's).
PLAN_BUDGETS = (1e21, 1e22, 1e23, 5.76e23, 1e24, 1e25)


def true_plan(budgets) -> pd.DataFrame:
    """The true compute-optimal plan: columns ``C, N_opt, D_opt, tokens_per_param``.

    Parameters
    ----------
    budgets : sequence of float
        Compute budgets C in FLOPs.

    Returns
    -------
    pandas.DataFrame
        N_opt in parameters, D_opt in tokens, tokens_per_param = D_opt / N_opt.
    """
    c = np.asarray(budgets, dtype=float)
    with jax.enable_x64(True):  # scoped: float64 for this computation only
        n_opt, d_opt = (np.asarray(x, dtype=float) for x in compute_optimal(TRUTH, c, K))
    return pd.DataFrame({"C": c, "N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt})


def design() -> pd.DataFrame:
    """The isoFLOP design: ``run, N, D, C``, each sweep centred on the true optimum.

    Returns
    -------
    pandas.DataFrame
        One row per run; N in parameters, D in tokens, C in FLOPs.
    """
    opt = true_plan(BUDGETS)
    # N spans [N_opt / SPAN, SPAN N_opt] exactly when D/N spans [r_opt / SPAN^2, r_opt SPAN^2]
    span = (1.0 / SPAN**2, SPAN**2)
    parts = [
        isoflop_design([c], SIZES_PER_BUDGET, tokens_per_param=span, center=float(r), k=K)
        for c, r in zip(opt["C"], opt["tokens_per_param"], strict=True)
    ]
    return pd.concat(parts, ignore_index=True)


def build() -> tuple[pd.DataFrame, dict]:
    """The run log and the truth record, as the files hold them.

    Returns
    -------
    tuple
        ``(runs, record)``: runs with columns ``run, N, D, C, loss`` (loss in nats/token)
        and the JSON-ready truth record.
    """
    runs = simulate_runs(chinchilla(), TRUTH, design(), noise=NOISE, seed=SEED)
    runs = runs[["run", "N", "D", "C", "loss"]]
    plan = true_plan(PLAN_BUDGETS)
    record = {
        "law": "chinchilla: L(N, D) = E + A/N^alpha + B/D^beta",
        "source": SOURCE,
        "params": dict(TRUTH),
        "seed": SEED,
        "generator": "scalinglaws.simulate.simulate_runs",
        "noise": {"kind": "normal on log loss", "sd": NOISE},
        "design": {
            "kind": "isoFLOP",
            "budgets": list(BUDGETS),
            "sizes_per_budget": SIZES_PER_BUDGET,
            "span": f"N_opt(C) / {SPAN:g} to {SPAN:g} * N_opt(C), log-spaced",
            "k": K,
        },
        "true_plan": plan.to_dict(orient="records"),
    }
    return runs, record


def main() -> None:
    runs, record = build()
    runs.to_csv(HERE / "runs.csv", index=False, float_format="%.10g")
    (HERE / "truth.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(runs)} runs to {HERE / 'runs.csv'}")


if __name__ == "__main__":
    main()
