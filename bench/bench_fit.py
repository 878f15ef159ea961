"""Benchmark: the Chinchilla Approach-3 fit on the 245-run Epoch file.

    .venv/bin/python bench/bench_fit.py [--repeats 20] [--baseline-starts 40]

Reports, in one process and run:
  * compile time of the first fit, then the median of warm fits (variable projection +
    compiled damped-Newton polish), and the objective against the best known 1.8260105e-3;
  * the same for the 4,500-start Hoffmann grid polished by the compiled solver;
  * the baseline used by public replications: scipy's L-BFGS-B with numeric gradients on
    the same summed Huber objective, started from Hoffmann's grid. Its time per start is
    measured on a random sample of grid starts and multiplied by 4,500;
  * the ratio baseline / ours, and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import scalinglaws as sl  # noqa: E402
from scalinglaws.laws.chinchilla import _AB_GRID, _E_GRID, _EXP_GRID  # noqa: E402

EPOCH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla-epoch"
    / "svg_extracted_data.csv"
)
BEST = 1.8260105e-3


def scipy_objective(x, log_n, log_d, log_l, delta=1e-3):
    e, a, b, alpha, beta = x
    pred = np.logaddexp(np.logaddexp(e, a - alpha * log_n), b - beta * log_d)
    r = pred - log_l
    ar = np.abs(r)
    return float(np.sum(np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--baseline-starts", type=int, default=450)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    if not EPOCH.exists():
        print(f"skipped: {EPOCH} not present", file=sys.stderr)
        return 0
    runs = sl.load_runs(EPOCH)
    law = sl.laws.chinchilla()

    t0 = time.perf_counter()
    res = sl.fit(law, runs)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = sl.fit(law, runs)
        times.append(time.perf_counter() - t0)
    warm = statistics.median(times)

    t0 = time.perf_counter()
    hoff = sl.fit(law, runs, search="hoffmann")
    hoff_first = time.perf_counter() - t0
    hoff_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        hoff = sl.fit(law, runs, search="hoffmann")
        hoff_times.append(time.perf_counter() - t0)
    hoff_warm = statistics.median(hoff_times)

    from scipy.optimize import minimize

    log_n = np.log(runs["N"].to_numpy())
    log_d = np.log(runs["D"].to_numpy())
    log_l = np.log(runs["loss"].to_numpy())
    grid = np.array(
        [
            (e, a, b, al, be)
            for e in np.log(_E_GRID)
            for a in np.log(_AB_GRID)
            for b in np.log(_AB_GRID)
            for al in _EXP_GRID
            for be in _EXP_GRID
        ]
    )
    rng = np.random.default_rng(0)
    sample = grid[rng.choice(len(grid), size=args.baseline_starts, replace=False)]
    base_best = np.inf
    t0 = time.perf_counter()
    for x0 in sample:
        out = minimize(scipy_objective, x0, args=(log_n, log_d, log_l), method="L-BFGS-B")
        base_best = min(base_best, out.fun)
    per_start = (time.perf_counter() - t0) / len(sample)
    baseline_total = per_start * len(grid)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures = {
        "fit_first_call_s": first,
        "fit_warm_median_ms": warm * 1e3,
        "fit_objective": res.objective,
        "fit_objective_rel_to_best": res.objective / BEST - 1,
        "hoffmann_grid_first_call_s": hoff_first,
        "hoffmann_grid_warm_median_s": hoff_warm,
        "hoffmann_grid_objective": hoff.objective,
        "scipy_lbfgsb_per_start_ms": per_start * 1e3,
        "scipy_lbfgsb_4500_starts_s": baseline_total,
        "scipy_best_objective_in_sample": base_best,
        "speedup_vs_scipy_grid": baseline_total / warm,
        "peak_rss_mb": peak_mb,
        "devices": [str(d) for d in jax.devices()],
    }
    print(
        f"fit (varpro + polish): first call {first:.2f} s, warm median {warm * 1e3:.1f} ms "
        f"over {args.repeats} runs, objective {res.objective:.10g} "
        f"({figures['fit_objective_rel_to_best']:+.1e} vs best known)"
    )
    print(
        f"Hoffmann grid, compiled polish of 4,500 starts: warm median {hoff_warm:.2f} s, "
        f"objective {hoff.objective:.10g}"
    )
    print(
        f"baseline scipy L-BFGS-B (numeric gradients): {per_start * 1e3:.1f} ms/start x 4,500 "
        f"= {baseline_total:.1f} s (best objective in the {len(sample)}-start sample: {base_best:.6g})"
    )
    print(f"speed-up vs baseline: {baseline_total / warm:,.0f}x   peak RSS {peak_mb:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
