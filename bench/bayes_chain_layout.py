"""NUTS chains on one device: vectorised (one batched program) against sequential (mapped).

``sample_posterior`` runs its chains in parallel when there is a device per chain; on one
device it can batch them (``chain_method="vectorized"``: every NUTS step advances all
chains together, so a step lasts as long as the longest trajectory among them) or run
them one after another inside one program (``"sequential"``). Which is faster depends on
how unequal the chains' trajectories are and on how much of a gradient's cost the batch
shares. This measures both on:

* the bundled simulated log (``data/chinchilla_sim/runs.csv``, 81 runs, easy posterior);
* the Epoch reconstruction of Hoffmann et al.'s runs (245 runs, real data;
  ``../shared/data/chinchilla-epoch``, skipped when absent);
* a simulated repeated-data study with a learning-rate sweep (270 runs; the law that
  generates it, Muennighoff et al. 2023's effective data, arXiv 2305.16264, differs from
  the fitted Chinchilla law, so the posterior is a long curved ridge: the hard case of the
  real-log issue), generated below with a fixed seed.

Each posterior is Chinchilla with the library's defaults (4 chains x 1,000 warm-up +
1,000 draws, ``extend=0`` so that both layouts do the same work). Every configuration is
compiled first (not timed), then the layouts alternate over ``--reps`` seeds; the table
gives median wall seconds, mean NUTS tree size, the worst R-hat and the least bulk ESS
per second (over the seeds), and the number of seeds passing the convergence rule.

Run: ``python bench/bayes_chain_layout.py [--reps 3]``; writes
``bench/results/bayes_chain_layout.txt``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.uncertainty import sample_posterior  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EPOCH = ROOT.parent / "shared" / "data" / "chinchilla-epoch" / "svg_extracted_data.csv"
OUT = ROOT / "bench" / "results" / "bayes_chain_layout.txt"
LAYOUTS = ("vectorized", "sequential")


def repeated_data_study(seed: int = 0) -> pd.DataFrame:
    """270 final losses: 6 sizes x 3 tokens-per-parameter x 5 repetition counts x 3
    learning rates. Loss = E + A/N^alpha + B/D'^beta with D' the effective data of
    Muennighoff et al. (R* = 15.4) and Hoffmann et al.'s coefficients, times a learning
    rate penalty of 3-4.5% per octave squared, times log-normal noise (sd 0.01)."""
    rng = np.random.default_rng(seed)
    e, a, b, alpha, beta, r_star = 1.69, 406.4, 410.7, 0.34, 0.28, 15.4
    rows = []
    for n in (2e7, 5e7, 1e8, 2e8, 4e8, 8e8):
        for ratio in (5, 20, 80):
            for epochs in (1, 4, 16, 60, 125):
                d = ratio * n
                unique = d / epochs
                d_eff = unique + unique * r_star * (1 - np.exp(-(epochs - 1) / r_star))
                for octave in (-1, 0, 1):
                    loss = e + a / n**alpha + b / d_eff**beta
                    loss += 0.03 * octave**2 * (1 + 0.5 * rng.random())
                    loss *= np.exp(0.01 * rng.standard_normal())
                    rows.append({"N": n, "D": d, "unique_tokens": unique, "lr_octave": octave,
                                 "loss": loss})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    studies = {"bundled simulated log": ROOT / "data" / "chinchilla_sim" / "runs.csv"}
    if EPOCH.exists():
        studies["Epoch (Hoffmann et al.)"] = EPOCH
    studies["repeated-data sweep (sim.)"] = repeated_data_study()
    warnings.simplefilter("ignore", sl.ScalingLawsWarning)
    lines = [
        "NUTS chain layout on one device: vectorised vs sequential",
        "",
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, jax {jax.__version__}",
        "Chinchilla, 4 chains x (1,000 warm-up + 1,000 draws), extend=0; medians over "
        f"{args.reps} seeds (layouts alternating), compiled before timing",
        "",
        f"{'study':<28}{'runs':>5}  {'layout':<11}{'wall s':>8}{'tree':>7}{'max R-hat':>11}"
        f"{'min ESS/s':>11}{'passed':>8}",
    ]
    t_all = time.perf_counter()
    for label, source in studies.items():
        point = sl.fit(sl.laws.chinchilla(), sl.load_runs(source))
        for layout in LAYOUTS:  # compile
            sample_posterior(point, seed=99, chain_method=layout, extend=0)
        stats: dict[str, dict[str, list[float]]] = {m: {} for m in LAYOUTS}
        for seed in range(args.reps):
            for layout in LAYOUTS:
                t = time.perf_counter()
                out = sample_posterior(point, seed=seed, chain_method=layout, extend=0)
                wall = time.perf_counter() - t
                d = out.uncertainty.diagnostics
                s = stats[layout]
                s.setdefault("wall", []).append(wall)
                s.setdefault("tree", []).append(d["mean_tree_size"])
                s.setdefault("rhat", []).append(max(d["r_hat"].values()))
                s.setdefault("ess_s", []).append(min(d["ess_bulk"].values()) / wall)
                s.setdefault("ok", []).append(float(out.uncertainty.converged))
                print(label, layout, seed, f"{wall:.1f} s", flush=True)
        for layout in LAYOUTS:
            s = stats[layout]
            lines.append(
                f"{label:<28}{point.n_runs:>5}  {layout:<11}{statistics.median(s['wall']):>8.1f}"
                f"{statistics.mean(s['tree']):>7.1f}{max(s['rhat']):>11.4f}"
                f"{min(s['ess_s']):>11.1f}{int(sum(s['ok'])):>5}/{len(s['ok'])}"
            )
        ratio = statistics.median(stats["vectorized"]["wall"]) / statistics.median(
            stats["sequential"]["wall"]
        )
        lines.append(f"{'':<28}{'':>5}  vectorised / sequential wall time: {ratio:.2f}")
    lines += ["", f"total run: {time.perf_counter() - t_all:.0f} s"]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
