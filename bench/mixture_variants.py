"""Bootstrap-refit variants of the CMR pipeline compared on the same simulated datasets.

Usage: ``python bench/mixture_variants.py START STOP [variant,variant,...]`` (datasets
seeds 1000+START .. 1000+STOP-1, noise 0.001, 200 draws). Variants differ in the polish
after the per-draw exponent-grid search: ``both100`` polishes the point fit and the best
grid start for up to 100 Newton steps and keeps the lower objective; ``both30`` the same
with 30 steps; ``better30``/``better50`` polish only the one with the lower objective
before polishing, for 30/50 steps (``better50`` is the default of
:func:`scalinglaws.mixture.batch.bootstrap_curves`). Reports per variant the coverage of
nominal 90% CMR intervals at 5B and 10B tokens, T0 interval coverage, the sd of
z = error / sd(draws) and the point error. Results: ``bench/results/mixture_variants.txt``.
"""

import functools
import sys
import time
import warnings

import jax
import numpy as np

import scalinglaws.mixture.pipeline as P
from scalinglaws.mixture import batch as B
from scalinglaws.mixture import fit_cmr
from scalinglaws.planning.mixture import plan_mixture
from scalinglaws.simulate.cmr import simulate_cpt_curves, true_cmr

warnings.simplefilter("ignore")
V = {
    "both100": dict(max_iter=100, polish_both=True),
    "both30": dict(max_iter=30, polish_both=True),
    "better30": dict(max_iter=30, polish_both=False),
    "better50": dict(max_iter=50, polish_both=False),
}
names = sys.argv[3].split(",") if len(sys.argv) > 3 else list(V)
n0, n1 = int(sys.argv[1]), int(sys.argv[2])
S = 200
stats = {k: {"cover": [], "t0": [], "err": [], "z": []} for k in names}
t00 = time.time()
with jax.enable_x64(True):
    for seed in range(n0, n1):
        runs, truth = simulate_cpt_curves(seed=1000 + seed, noise=0.001)
        for name in names:
            P.bootstrap_curves = functools.partial(B.bootstrap_curves, **V[name])
            fit = fit_cmr(runs, samples=S, seed=seed)
            plan = plan_mixture(fit, [5e9, 10e9])
            st = stats[name]
            for r in plan.itertuples():
                true = true_cmr(truth, r.model, r.tokens)
                st["err"].append(r.cmr - true)
                st["cover"].append(bool(r.cmr_q05 <= true <= r.cmr_q95))
                d = fit.cmr_draws[r.model]
                tu = r.tokens / fit.token_unit
                dr = d["alpha4"] * tu ** d["s4"] + d["beta3"]
                dr = dr[np.isfinite(dr)]
                if dr.size > 1 and dr.std() > 0:
                    st["z"].append((r.cmr_law - true) / dr.std())
            for c in fit.critical.itertuples():
                tt = truth["models"][c.model]["ratios"][c.ratio]["T0"]
                if np.isfinite(tt) and c.kind == "root" and np.isfinite(c.T0_q95):
                    st["t0"].append(bool(c.T0_q05 <= tt <= c.T0_q95))
        if (seed - n0) % 10 == 9 or seed == n1 - 1:
            for name in names:
                st = stats[name]
                e = np.abs(st["err"])
                print(
                    f"[{seed + 1 - n0} datasets, {time.time() - t00:.0f}s] {name:9s} cover {np.mean(st['cover']):.3f} (n={len(e)}) T0 {np.mean(st['t0']):.3f} sd z {np.std(st['z']):.2f} med|err| {np.median(e):.4f} within2pp {np.mean(e <= 0.02):.2f}",
                    flush=True,
                )
