"""Convergence and time on hard data: a repeated-data study with a learning-rate sweep.

The real-log issue found that on a study with heavily repeated data and a learning-rate
sweep (261 runs, data repeated up to 125 epochs), fitted with the Chinchilla law (which
counts repeated tokens as new), 25-43% of bootstrap refits stopped at the iteration limit,
the Bayesian fit failed its R-hat check, and a Bayesian fit with conformal calibration
took 207-302 s. This reproduces such studies by simulation (``bench/_studies.py``: 270
runs, Muennighoff et al. 2023's effective data, a 3-point learning-rate sweep, log-normal
noise; seeds 0..``--studies``-1) and reports, per study, for Chinchilla fitted to every
run (the sweep included, as a user would first try):

* bootstrap (1,000 resamples by run): the share of refits that hit the iteration limit
  on the first try (``retried``), the share still there after the retries
  (``max_iter``/``failed``), whether it passes its rule, and its wall time;
* Bayes (4 chains x 1,000 + 1,000, the defaults): max R-hat, min bulk ESS and
  convergence of the first 1,000 draws per chain (``extend=0``) and with the default
  extension (``extend=1``), and the wall time of the latter;
* Bayes with split-conformal calibration (``calibrate``, the top 20% of compute held out):
  the wall time of the calibration's own posterior plus the fit's.

Also: the same studies with ``best_of="lr_octave", best_of_per=["unique_tokens"]`` (the
sweep reduced to its best rate per configuration, 90 runs). Times are in-process after a
first compile (the library's defaults; sequential chains on one CPU device).

Run: ``python bench/hard_data.py [--studies 4]``; writes ``bench/results/hard_data.txt``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _studies import repeated_data_study  # noqa: E402  (bench/ is the script's folder)

import scalinglaws as sl  # noqa: E402
from scalinglaws.uncertainty import bootstrap, calibrate, sample_posterior  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "hard_data.txt"


def one_study(runs) -> dict:
    point = sl.fit(sl.laws.chinchilla(), runs)
    t = time.perf_counter()
    boot = bootstrap(point, n=1000, seed=0)
    t_boot = time.perf_counter() - t
    bd = boot.uncertainty.diagnostics
    n = bd["n_draws"]
    counts = bd["status_counts"]
    short = sample_posterior(point, seed=0, extend=0)
    t = time.perf_counter()
    post = sample_posterior(point, seed=0)
    t_bayes = time.perf_counter() - t
    t = time.perf_counter()
    calibrate(post, seed=0)
    t_conformal = time.perf_counter() - t
    sd, pd_ = short.uncertainty.diagnostics, post.uncertainty.diagnostics
    return {
        "runs": point.n_runs,
        "retried": bd.get("retried", 0) / n,
        "stuck": (counts.get("max_iter", 0) + counts.get("failed", 0)) / n,
        "boot_ok": boot.uncertainty.converged,
        "t_boot": t_boot,
        "rhat0": max(sd["r_hat"].values()),
        "ess0": min(sd["ess_bulk"].values()),
        "ok0": short.uncertainty.converged,
        "rhat1": max(pd_["r_hat"].values()),
        "ess1": min(pd_["ess_bulk"].values()),
        "ok1": post.uncertainty.converged,
        "ext": pd_["extensions"],
        "div": pd_["divergences"],
        "t_bayes": t_bayes,
        "t_bc": t_bayes + t_conformal,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=4)
    args = ap.parse_args()
    warnings.simplefilter("ignore", sl.ScalingLawsWarning)
    t_all = time.perf_counter()
    # Compile every program once (not timed): a small study of the same shapes.
    warm = sl.fit(sl.laws.chinchilla(), repeated_data_study(99))
    bootstrap(warm, n=1000, seed=0)
    sample_posterior(warm, seed=0, extend=0)
    header = (
        f"{'study':<7}{'runs':>5}{'retried':>9}{'stuck':>7}{'boot':>6}{'boot s':>8}"
        f"{'R-hat 1k':>10}{'ESS 1k':>8}{'ok':>4}{'R-hat ext':>11}{'ESS ext':>9}{'ok':>4}"
        f"{'ext':>5}{'div':>5}{'bayes s':>9}{'+conf s':>9}"
    )
    lines = [
        "Hard data: simulated repeated-data studies with a learning-rate sweep, Chinchilla fit",
        "",
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, jax {jax.__version__}",
        "retried: share of bootstrap refits at the iteration limit on the first try; stuck: "
        "share still there (or failed) after the retries; boot: the bootstrap passes its "
        "rule. R-hat/ESS 1k: Bayes, first 1,000 draws per chain (extend=0); ext: with the "
        "default extension (extend=1), extensions used; div: divergences; bayes s: the "
        "default Bayes fit; +conf s: that plus split-conformal calibration (its own posterior).",
    ]
    results = {}
    for label, kw in (
        ("every run (sweep included)", {}),
        ("best lr per (N, D, unique tokens)",
         {"best_of": "lr_octave", "best_of_per": ["unique_tokens"]}),
    ):  # fmt: skip
        lines += ["", label, header]
        rows = []
        for seed in range(args.studies):
            runs = sl.load_runs(repeated_data_study(seed), **kw)
            r = one_study(runs)
            rows.append(r)
            lines.append(
                f"{seed:<7}{r['runs']:>5}{r['retried']:>9.3f}{r['stuck']:>7.3f}"
                f"{'yes' if r['boot_ok'] else 'no':>6}{r['t_boot']:>8.1f}"
                f"{r['rhat0']:>10.4f}{r['ess0']:>8.0f}{'y' if r['ok0'] else 'n':>4}"
                f"{r['rhat1']:>11.4f}{r['ess1']:>9.0f}{'y' if r['ok1'] else 'n':>4}"
                f"{r['ext']:>5}{r['div']:>5}{r['t_bayes']:>9.1f}{r['t_bc']:>9.1f}"
            )
            print(lines[-1], flush=True)
        results[label] = rows
        ok0 = sum(r["ok0"] for r in rows)
        ok1 = sum(r["ok1"] for r in rows)
        lines.append(
            f"Bayes converged: {ok0}/{len(rows)} with 1,000 draws per chain, {ok1}/{len(rows)} "
            f"with the extension; median Bayes {np.median([r['t_bayes'] for r in rows]):.1f} s, "
            f"with conformal {np.median([r['t_bc'] for r in rows]):.1f} s; bootstrap stuck "
            f"after retries: median {np.median([r['stuck'] for r in rows]):.3f}"
        )
    lines += ["", f"total run: {time.perf_counter() - t_all:.0f} s"]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
