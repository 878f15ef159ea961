"""Fit time of the data-mixture Gaussian process: closed-form gradient against autodiff.

``fit_gp`` maximises the log marginal likelihood with L-BFGS-B; every step needs its
gradient in the K + 3 log hyperparameters. The library writes that gradient out
(``scalinglaws.datamix.gp._neg_lml_grad``); the baseline, timed in the same run, is
JAX's derivative of the same function (``jax.value_and_grad(_neg_lml)``), which
differentiates through the Cholesky factor. Both are compiled before timing.

Data: the RegMix Pile 1M training runs (512 mixtures over 17 domains, Pile-CC loss) when
``../shared/data/regmix-pile`` is present, else 512 simulated runs on a 17-simplex.

Reported, per gradient: one evaluation (median of 20), and ``fit_gp`` with 1 and with 3
starts (the default; median of ``--reps`` fits, the two versions alternating so that a
slow spell hits both), the number of evaluations, and the fitted log marginal
likelihoods (the same optimum should be found by both).

Run: ``python bench/gp_fit_time.py [--reps 3]``; writes ``bench/results/gp_fit_time.txt``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.datamix import gp

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "regmix-pile"
OUT = ROOT / "bench" / "results" / "gp_fit_time.txt"
PILE_CC = "metric/the_pile_pile_cc_val_loss"


def load():
    if (DATA / "train_mixture_1m.csv").exists():
        mix = pd.read_csv(DATA / "train_mixture_1m.csv")
        frame = mix.merge(pd.read_csv(DATA / "train_pile_loss_1m.csv"), on="index")
        X = frame[[c for c in mix.columns if c != "index"]].to_numpy(dtype=np.float64)
        return "RegMix Pile 1M, Pile-CC", X / X.sum(1, keepdims=True), frame[PILE_CC].to_numpy()
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.full(17, 0.5), 512)
    y = 3.0 + np.exp(-3 * X[:, 0]) + 0.3 * X[:, 1] ** 2 + 0.01 * rng.standard_normal(512)
    return "simulated (512 runs, 17 domains)", X, y


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    label, X, y = load()
    closed = gp._neg_lml_grad
    autodiff = jax.jit(jax.value_and_grad(gp._neg_lml), static_argnames=("kernel", "mean"))
    versions = {"closed form": closed, "autodiff": autodiff}

    with jax.enable_x64(True):
        z = jnp.asarray(np.sqrt(X))
        ys = jnp.asarray((np.log(y) - np.log(y).mean()) / np.log(y).std())
        theta = jnp.asarray(np.r_[np.log(np.full(X.shape[1], 0.3)), np.log([0.5, 0.05, 1.0])])
        per_eval = {}
        for name, f in versions.items():
            jax.block_until_ready(f(theta, z, ys, kernel="matern52_ard", mean="constant"))
            times = []
            for _ in range(20):
                t = time.perf_counter()
                jax.block_until_ready(f(theta, z, ys, kernel="matern52_ard", mean="constant"))
                times.append(time.perf_counter() - t)
            per_eval[name] = statistics.median(times)

    fits: dict[tuple[str, int], list[float]] = {}
    evals: dict[tuple[str, int], int] = {}
    lml: dict[tuple[str, int], float] = {}
    for restarts in (1, 3):
        for rep in range(args.reps + 1):  # the first round compiles and is not counted
            for name, f in versions.items():
                count = [0]

                def counted(*a, f=f, count=count, **kw):
                    count[0] += 1
                    return f(*a, **kw)

                gp._neg_lml_grad = counted
                try:
                    t = time.perf_counter()
                    model = gp.fit_gp(X, y, restarts=restarts)
                    dt = time.perf_counter() - t
                finally:
                    gp._neg_lml_grad = closed
                if rep:
                    fits.setdefault((name, restarts), []).append(dt)
                evals[(name, restarts)] = count[0]
                lml[(name, restarts)] = model.log_marginal_likelihood

    lines = [
        "Data-mixture GP fit time: closed-form gradient vs autodiff through the Cholesky",
        "",
        f"machine: {platform.platform()}, python {platform.python_version()}, jax {jax.__version__}",
        f"data: {label}; Matern 5/2 ARD, sqrt feature, log target, constant mean",
        f"medians of {args.reps} warm fits (versions alternating), 20 evaluations",
        "",
        f"{'gradient':<14}{'eval ms':>9}{'fit 1 start s':>15}{'evals':>7}"
        f"{'fit 3 starts s':>16}{'evals':>7}{'log ML (3 starts)':>19}",
    ]
    for name in versions:
        lines.append(
            f"{name:<14}{per_eval[name] * 1e3:>9.1f}"
            f"{statistics.median(fits[(name, 1)]):>15.2f}{evals[(name, 1)]:>7}"
            f"{statistics.median(fits[(name, 3)]):>16.2f}{evals[(name, 3)]:>7}"
            f"{lml[(name, 3)]:>19.4f}"
        )
    ratio = {
        r: statistics.median(fits[("autodiff", r)]) / statistics.median(fits[("closed form", r)])
        for r in (1, 3)
    }
    lines.append("")
    lines.append(
        f"speed-up of the fit (autodiff / closed form): {ratio[1]:.2f}x with 1 start, "
        f"{ratio[3]:.2f}x with 3; per evaluation "
        f"{per_eval['autodiff'] / per_eval['closed form']:.2f}x"
    )
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
