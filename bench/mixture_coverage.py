"""Recovery and interval coverage of the CMR pipeline on simulated curves.

Usage: ``python bench/mixture_coverage.py [n_datasets] [noise] [samples]``. For each
simulated dataset (4 sizes x 6 ratios x 100 checkpoints, 0.2B-20B tokens, known CMR law)
fits the pipeline with bootstrap draws and reports, at budgets of 5B and 10B tokens, the
error of the recommended share against the true CMR and how often the 90% interval
covers it.
"""

from __future__ import annotations

import sys
import time
import warnings

import jax
import numpy as np

from scalinglaws.mixture import fit_cmr
from scalinglaws.planning.mixture import plan_mixture
from scalinglaws.simulate.cmr import simulate_cpt_curves, true_cmr


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    noise = float(sys.argv[2]) if len(sys.argv) > 2 else 0.001
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    budgets = [5e9, 10e9]
    errs, cover = [], []
    t0 = time.time()
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(n):
            runs, truth = simulate_cpt_curves(seed=1000 + seed, noise=noise)
            fit = fit_cmr(runs, samples=samples, seed=seed)
            plan = plan_mixture(fit, budgets)
            for r in plan.itertuples():
                true = true_cmr(truth, r.model, r.tokens)
                errs.append(r.cmr - true)
                cover.append(r.cmr_q05 <= true <= r.cmr_q95)
            print(
                f"dataset {seed}: max |error| {np.max(np.abs(errs[-len(plan) :])):.4f}, "
                f"covered {np.mean(cover[-len(plan) :]):.2f}",
                flush=True,
            )
    errs = np.abs(np.asarray(errs))
    print(
        f"{n} datasets, noise {noise}, {samples} draws, {len(errs)} (model, budget) cases: "
        f"median |error| {np.median(errs):.4f}, 90th pct {np.quantile(errs, 0.9):.4f}, "
        f"share within 2 pp {np.mean(errs <= 0.02):.2f}; 90% interval coverage "
        f"{np.mean(cover):.3f}; {time.time() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
