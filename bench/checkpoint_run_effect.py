"""Checkpoint logs: does a per-run random effect give honest intervals for a new run?

Laplace and the posterior of the library treat every row as independent noise; rows that
are checkpoints of a few runs share each run's deviation, and on the OPT logs (89
checkpoints of OPT-125m..30b past 10% of training) the posterior's 90% intervals held 2 of
OPT-175b's 27 checkpoints. The textbook model for such rows gives each run its own offset
on the log-loss scale, shared by its checkpoints:

    log y_gi = log f(N_g, D_gi; theta) + b_g + eps_gi,   b_g ~ N(0, tau^2),  eps ~ N(0, sigma^2)

with b integrated out in closed form (per run the residuals are Gaussian with covariance
sigma^2 I + tau^2 1 1'), tau ~ HalfNormal(2 tau0) (tau0: root mean square of the runs'
mean residuals at the point fit), the library's Chinchilla priors on theta, log sigma ~
N(log sigma0, 2), NUTS (numpyro, dense mass, target acceptance 0.95, 4 chains x 1,000 +
1,000) in coordinates with log A and log B centred on the data's mean log N and log D.
A new run's predictive draw adds one b ~ N(0, tau_s^2) to all its points.

This script fits it, beside the library's row-wise posterior
(``scalinglaws.uncertainty.sample_posterior``, the defaults), on:

1. a simulated checkpoint study where the model is right: 12 runs of 10 checkpoints
   each (10%..100% of a run's tokens, 20 tokens per parameter +- 50%, N log-uniform in
   5e7..2e9), Hoffmann et al.'s law, tau = 0.03, sigma = 0.005; coverage of the 90%
   predictive interval over 200 new runs (2,000 checkpoints) from the same design;
2. OPT (``../shared/data/colpret-opt``), OPT-175b held out: median |relative error| of
   the predictive median and coverage of the 90% interval on its 27 checkpoints.

What it shows (``bench/results/checkpoint_run_effect.txt``):

* Simulated, where the model is true: the run-effect posterior covers 0.898 of 2,000 new
  checkpoints at 90% (row-wise 0.886), and its beta interval holds the truth (0.273-0.298
  around 0.285) where the row-wise one does not (0.290-0.384). E stays weakly identified
  either way (0.43-1.79 around 1.69: 12 runs' levels carry the size term), and a few
  divergent transitions remain (7 of 4,000).
* OPT: the run-effect model is far worse: offsets of tau ~ 0.094 in log loss (the point
  fit's run means suggest 0.008), beta 0.17 against 0.08, a median error of 35% on
  OPT-175b (row-wise 2.2%) and coverage 0 of 27. Free offsets let the law follow each
  run's loss trajectory, and a checkpoint's loss under a run's learning-rate schedule is
  not the loss of a run trained to that many tokens; the row-wise fit compromises between
  the two and extrapolates better. A per-run effect is therefore not the library's answer
  for checkpoint logs of a few runs; a law that models the schedule would be.

Run: ``python bench/checkpoint_run_effect.py``; writes
``bench/results/checkpoint_run_effect.txt`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import math
import platform
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_value  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.uncertainty import predictive, sample_posterior  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OPT = ROOT.parent / "shared" / "data" / "colpret-opt" / "opt_checkpoints.csv"
OUT = ROOT / "bench" / "results" / "checkpoint_run_effect.txt"
TRUTH = sl.laws.HOFFMANN_2022
LAW = sl.laws.chinchilla()
LEVEL = 0.9


def simulate(n_runs: int, tau: float, sigma: float, seed: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    sizes = np.exp(rng.uniform(math.log(5e7), math.log(2e9), n_runs))
    for g, n in enumerate(sizes):
        d_max = 20 * n * math.exp(rng.uniform(-0.5, 0.5))
        b = tau * rng.standard_normal()
        for frac in np.linspace(0.1, 1.0, 10):
            d = frac * d_max
            loss = float(LAW.fn(TRUTH, {"N": n, "D": d}))
            rows.append(
                {
                    "run": f"s{seed}-{g}",
                    "N": n,
                    "D": d,
                    "loss": loss * math.exp(b + sigma * rng.standard_normal()),
                }
            )
    return pd.DataFrame(rows)


def _log_f(p, n, d):
    """The library's Chinchilla log loss, at parameters given with E, A, B as logs."""
    natural = {
        "E": jnp.exp(p["log_E"]),
        "A": jnp.exp(p["log_A"]),
        "B": jnp.exp(p["log_B"]),
        "alpha": p["alpha"],
        "beta": p["beta"],
    }
    return LAW.log_predict(natural, {"N": jnp.asarray(n), "D": jnp.asarray(d)})


def run_effect_posterior(point, runs, seed=0):
    """NUTS draws of the run-effect model: dict of (S,) arrays (natural logs of E, A, B)."""
    n, d = runs["N"].to_numpy(float), runs["D"].to_numpy(float)
    y = np.log(runs["loss"].to_numpy(float))
    g = np.unique(runs["run"].to_numpy(), return_inverse=True)[1].astype(np.int64)
    n_runs = int(g.max()) + 1
    counts = np.bincount(g, minlength=n_runs).astype(float)
    mn, md = float(np.mean(np.log(n))), float(np.mean(np.log(d)))
    pp = point.params
    start = {
        "log_E": math.log(pp["E"]),
        "log_A": math.log(pp["A"]),
        "log_B": math.log(pp["B"]),
        "alpha": pp["alpha"],
        "beta": pp["beta"],
    }
    resid = np.asarray(_log_f({k: jnp.asarray(v) for k, v in start.items()}, n, d)) - y
    means = np.bincount(g, weights=resid, minlength=n_runs) / counts
    within = resid - means[g]
    sigma0 = max(1.4826 * float(np.median(np.abs(within - np.median(within)))), 1e-4)
    tau0 = max(float(np.sqrt(np.mean(means**2))), sigma0)

    def model():
        log_e = numpyro.sample("log_E", dist.Normal(0.5, 1.0))
        a_c = numpyro.sample("a_c", dist.Normal(6.0 - 0.35 * mn, 4.0))
        b_c = numpyro.sample("b_c", dist.Normal(7.0 - 0.35 * md, 4.0))
        alpha = numpyro.sample("alpha", dist.TruncatedNormal(0.35, 0.5, low=0.0, high=5.0))
        beta = numpyro.sample("beta", dist.TruncatedNormal(0.35, 0.5, low=0.0, high=5.0))
        log_sigma = numpyro.sample("log_sigma", dist.Normal(math.log(sigma0), 2.0))
        tau = numpyro.sample("tau", dist.HalfNormal(2.0 * tau0))
        p = {
            "log_E": log_e,
            "log_A": a_c + alpha * mn,
            "log_B": b_c + beta * md,
            "alpha": alpha,
            "beta": beta,
        }
        r = _log_f(p, n, d) - y
        s1 = jax.ops.segment_sum(r, g, num_segments=n_runs)
        s2 = jax.ops.segment_sum(r * r, g, num_segments=n_runs)
        sig2, tau2 = jnp.exp(2 * log_sigma), tau * tau
        big = sig2 + counts * tau2
        ll = -0.5 * jnp.sum((counts - 1) * 2 * log_sigma + jnp.log(big))
        ll = ll - 0.5 * jnp.sum(s2 - tau2 / big * s1 * s1) / sig2
        numpyro.factor("ll", ll - 0.5 * len(y) * math.log(2 * math.pi))

    init = {
        "log_E": start["log_E"],
        "a_c": start["log_A"] - start["alpha"] * mn,
        "b_c": start["log_B"] - start["beta"] * md,
        "alpha": start["alpha"],
        "beta": start["beta"],
        "log_sigma": math.log(sigma0),
        "tau": tau0,
    }
    kernel = NUTS(
        model, dense_mass=True, target_accept_prob=0.95, init_strategy=init_to_value(values=init)
    )
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=1000,
        num_chains=4,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=("diverging",))
    s = mcmc.get_samples()
    out = {
        "log_E": np.asarray(s["log_E"]),
        "log_A": np.asarray(s["a_c"] + s["alpha"] * mn),
        "log_B": np.asarray(s["b_c"] + s["beta"] * md),
        "alpha": np.asarray(s["alpha"]),
        "beta": np.asarray(s["beta"]),
        "sigma": np.exp(np.asarray(s["log_sigma"])),
        "tau": np.asarray(s["tau"]),
    }
    by_chain = mcmc.get_samples(group_by_chain=True)
    r_hat = max(
        float(numpyro.diagnostics.split_gelman_rubin(np.asarray(v))) for v in by_chain.values()
    )
    ess = min(
        float(numpyro.diagnostics.effective_sample_size(np.asarray(v))) for v in by_chain.values()
    )
    n_div = int(np.sum(mcmc.get_extra_fields()["diverging"]))
    return out, {
        "max_r_hat": r_hat,
        "min_ess": ess,
        "divergences": n_div,
        "tau0": tau0,
        "sigma0": sigma0,
    }


def run_offsets(draws, test):
    """Predictive draws ``(S, rows)`` of the held-out rows: each held-out run is a new run,
    with its own offset per draw (b ~ N(0, tau_s^2), shared by the run's checkpoints),
    plus the row noise."""
    n, d = test["N"].to_numpy(float), test["D"].to_numpy(float)
    codes = np.unique(test["run"].to_numpy(), return_inverse=True)[1]
    p = {k: jnp.asarray(draws[k])[:, None] for k in ("log_E", "log_A", "log_B", "alpha", "beta")}
    mu = np.asarray(_log_f(p, n[None, :], d[None, :]))
    rng = np.random.default_rng(2)
    s = mu.shape[0]
    b = draws["tau"][:, None] * rng.standard_normal((s, int(codes.max()) + 1))
    eps = draws["sigma"][:, None] * rng.standard_normal(mu.shape)
    return np.exp(mu + b[:, codes] + eps)


def score(draws, y):
    lo, med, hi = np.quantile(draws, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2], axis=0)
    return {
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "median_abs_rel_error": float(np.median(np.abs(med / y - 1))),
        "median_log_width": float(np.median(np.log(hi / lo))),
    }


def row_wise(point, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        t = time.perf_counter()
        post = sample_posterior(point, seed=0)
        wall = time.perf_counter() - t
    dr = predictive(post, test[["N", "D"]], seed=1, allow_unconverged=True)
    diag = post.uncertainty.diagnostics
    return (
        dr,
        post,
        {
            "max_r_hat": max(diag["r_hat"].values()),
            "min_ess": min(diag["ess_bulk"].values()),
            "divergences": diag["divergences"],
            "wall_s": wall,
        },
    )


def quantile_line(name, values):
    q = np.quantile(values, [0.05, 0.5, 0.95])
    return f"    {name:6s} 5% {q[0]:10.4g}  50% {q[1]:10.4g}  95% {q[2]:10.4g}"


def study(label, point, train, test, lines, truth=None):
    y = test["loss"].to_numpy(float)
    dr_rw, post, diag_rw = row_wise(point, test)
    t = time.perf_counter()
    draws, diag_re = run_effect_posterior(point, train)
    wall_re = time.perf_counter() - t
    dr_re = run_offsets(draws, test)
    s_rw, s_re = score(dr_rw, y), score(dr_re, y)
    lines.append(f"{label}")
    lines.append(
        f"  train: {len(train)} checkpoints of {train['run'].nunique()} runs; test: "
        f"{len(test)} checkpoints of {test['run'].nunique()} runs"
    )
    lines.append(
        f"  {'model':28s} {'coverage':>8s} {'med|err|':>9s} {'log width':>9s} "
        f"{'R-hat':>6s} {'min ESS':>8s} {'div':>4s} {'s':>6s}"
    )
    for name, s, dg, wall in (
        ("row-wise posterior (library)", s_rw, diag_rw, diag_rw["wall_s"]),
        ("run-effect posterior", s_re, diag_re, wall_re),
    ):
        lines.append(
            f"  {name:28s} {s['coverage']:8.3f} {s['median_abs_rel_error']:9.4f} "
            f"{s['median_log_width']:9.4f} {dg['max_r_hat']:6.3f} {dg['min_ess']:8.0f} "
            f"{dg['divergences']:4d} {wall:6.1f}"
        )
    lines.append("  point fit: " + ", ".join(f"{k} {v:.4g}" for k, v in point.params.items()))
    lines.append(
        f"  run-effect posterior (start: tau0 {diag_re['tau0']:.4f}, sigma0 {diag_re['sigma0']:.4f}):"
    )
    for k in ("log_E", "alpha", "beta", "sigma", "tau"):
        vals = np.exp(draws[k]) if k == "log_E" else draws[k]
        lines.append(quantile_line("E" if k == "log_E" else k, vals))
    rw = post.uncertainty.draws
    lines.append("  row-wise posterior:")
    for k in ("E", "alpha", "beta"):
        lines.append(quantile_line(k, rw[k]))
    if truth:
        lines.append("  truth: " + ", ".join(f"{k} {truth[k]:.4g}" for k in ("E", "alpha", "beta")))
    lines.append("")


def main():
    t0 = time.perf_counter()
    lines = [
        "Checkpoint logs: the library's row-wise posterior against a per-run random-effect posterior",
        f"machine: {platform.machine()}, {jax.default_backend()}; 90% predictive intervals; "
        "see the script's docstring for the models",
        "",
    ]
    law = LAW
    train = simulate(12, 0.03, 0.005, seed=0)
    test = simulate(200, 0.03, 0.005, seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        point = sl.fit(law, train)
    study(
        "1. simulated: 12 runs x 10 checkpoints, tau 0.03, sigma 0.005; 200 new runs",
        point,
        train,
        test,
        lines,
        truth=TRUTH,
    )
    if OPT.exists():
        runs = sl.load_runs(
            OPT,
            columns={"loss": "ppl", "run": "model"},
            loss_is="perplexity",
            checkpoints="after-fraction 0.1",
        )
        test = runs[runs["run"] == "OPT-175b"]
        train = runs[runs["run"] != "OPT-175b"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawsWarning)
            point = sl.fit(law, train)
        study("2. OPT past 10% of training, OPT-175b held out", point, train, test, lines)
    else:
        lines.append(f"2. OPT: skipped ({OPT} not found)")
    lines.append(f"total wall time {time.perf_counter() - t0:.0f} s")
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
