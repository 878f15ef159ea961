"""Coverage of the sparsity plan's 90% loss interval on simulated mixed dense/sparse logs.

    .venv/bin/python bench/bench_sparsity_coverage.py [--replicates 100] [--resamples 200]

For each replicate: simulate the 60-run mixed design (budgets 1e18..1e21 FLOPs, sparsity
0 / 0.5 / 0.8, 0.5% log-normal noise, truth Hoffmann 2022), fit the average-parameter-count
law, bootstrap by run, plan at a budget 10x beyond the largest run, and check whether the
true loss of the planned (N_avg, D) lies in [loss_q05, loss_q95]. Prints the coverage with
its binomial standard error, the median interval width, and the time per replicate.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import scalinglaws as sl  # noqa: E402
from scalinglaws.laws.avgparams import avgparams  # noqa: E402
from scalinglaws.laws.chinchilla import HOFFMANN_2022 as TRUTH  # noqa: E402
from scalinglaws.planning.sparsity import plan_sparsity  # noqa: E402
from scalinglaws.simulate.sparse import simulate_sparse_runs, sparse_design  # noqa: E402
from scalinglaws.sparsity import load_sparse_runs  # noqa: E402
from scalinglaws.uncertainty import bootstrap  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.005)
    ap.add_argument("--budget", type=float, default=1e22)
    args = ap.parse_args()
    design = sparse_design([1e18, 1e19, 1e20, 1e21], sparsities=(0.0, 0.5, 0.8), n_per_budget=5)
    hits, widths, times = [], [], []
    for rep in range(args.replicates):
        t0 = time.perf_counter()
        runs = load_sparse_runs(simulate_sparse_runs(TRUTH, design, noise=args.noise, seed=rep))
        result = bootstrap(sl.fit(avgparams(), runs), n=args.resamples, seed=rep)
        row = plan_sparsity(result, args.budget, [0.0, 0.8]).iloc[-1]
        true_loss = (
            TRUTH["E"]
            + TRUTH["A"] * row["N_avg"] ** -TRUTH["alpha"]
            + TRUTH["B"] * row["D"] ** -TRUTH["beta"]
        )
        hits.append(bool(row["loss_q05"] <= true_loss <= row["loss_q95"]))
        widths.append(float(row["loss_q95"] - row["loss_q05"]))
        times.append(time.perf_counter() - t0)
    cov = float(np.mean(hits))
    print(
        json.dumps(
            {
                "replicates": args.replicates,
                "resamples": args.resamples,
                "noise": args.noise,
                "budget": args.budget,
                "nominal": 0.90,
                "coverage": cov,
                "coverage_se": float(np.sqrt(cov * (1 - cov) / len(hits))),
                "median_width_nats": float(np.median(widths)),
                "median_seconds_per_replicate_after_first": float(np.median(times[1:]))
                if len(times) > 1
                else times[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
