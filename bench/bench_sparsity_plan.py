"""Benchmark: a sparsity plan over 10 sparsities with 1,000 parameter draws.

    .venv/bin/python bench/bench_sparsity_plan.py [--repeats 5] [--budgets 1e21 1e23 1e25]

Target (issue 4): <= 1 s warm for 10 sparsities and 1,000 draws. For each budget the
script reports the first (cold: compiles the schedule kernels for that step count) and
the median warm time of ``plan_sparsity``; and, measured in the same process, a baseline
that computes the same loss quantiles with one law evaluation per draw and sparsity (the
obvious loop), with the ratio baseline / ours. Peak resident memory is printed last.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import pandas as pd  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.fitting.result import FitResult  # noqa: E402
from scalinglaws.laws.avgparams import avgparams  # noqa: E402
from scalinglaws.laws.chinchilla import HOFFMANN_2022  # noqa: E402
from scalinglaws.planning.sparsity import plan_sparsity  # noqa: E402

SPARSITIES = np.linspace(0.0, 0.9, 10)


def _result(n_draws: int, seed: int = 0) -> FitResult:
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(0.02 * rng.standard_normal(n_draws)) for k, v in HOFFMANN_2022.items()}
    return FitResult(
        law=avgparams(), params=dict(HOFFMANN_2022), objective=0.0, status="converged",
        starts=pd.DataFrame(), n_runs=0, options={"k": 6.0}, covariance=None,
        residuals=np.zeros(1), uncertainty=sl.Uncertainty("bootstrap", draws),
    )  # fmt: skip


def _baseline(result: FitResult, plan: pd.DataFrame) -> np.ndarray:
    """Loss per draw and sparsity, one law evaluation at a time."""
    law, draws = result.law, result.uncertainty.draws
    n_avg, d = float(plan["N_avg"].iloc[0]), float(plan["D"].iloc[0])
    out = np.empty((len(plan), result.uncertainty.n_draws))
    for i in range(len(plan)):
        for j in range(out.shape[1]):
            p = {k: jnp.asarray(v[j]) for k, v in draws.items()}
            out[i, j] = float(law.predict(p, {"N_avg": jnp.asarray(n_avg), "D": jnp.asarray(d)}))
    return np.quantile(out, [0.05, 0.5, 0.95], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--budgets", type=float, nargs="+", default=[1e21, 1e23, 1e25])
    args = ap.parse_args()
    result = _result(args.draws)
    report = []
    for budget in args.budgets:
        t0 = time.perf_counter()
        plan = plan_sparsity(result, budget, SPARSITIES)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            plan = plan_sparsity(result, budget, SPARSITIES)
            warm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        q = _baseline(result, plan)
        base = time.perf_counter() - t0
        agree = float(np.max(np.abs(q[0] - plan["loss_q05"].to_numpy())))
        report.append(
            {
                "budget": budget,
                "total_steps": int(plan["total_steps"].iloc[0]),
                "sparsities": len(SPARSITIES),
                "draws": args.draws,
                "cold_s": round(cold, 4),
                "warm_median_s": round(statistics.median(warm), 4),
                "target_s": 1.0,
                "baseline_loop_s": round(base, 3),
                "ratio_baseline_over_ours": round(base / statistics.median(warm), 1),
                "max_abs_diff_loss_q05_vs_baseline": agree,
            }
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"results": report, "peak_rss_mb": round(peak_mb, 1)}, indent=2))


if __name__ == "__main__":
    main()
