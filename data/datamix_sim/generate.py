"""Regenerate the simulated data-mixture proxy study in this folder.

    python data/datamix_sim/generate.py

Writes ``runs.csv`` (the wide run log) and ``truth.json`` (seeds, design and the true law
parameters it was drawn from, plus the true optimal mixtures). Deterministic: the seeds,
design and settings below are the record of how the files were made (also written in
README.md beside this script); change them only together.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalinglaws.simulate.datamix import random_truth, simulate_mixture_runs

HERE = Path(__file__).resolve().parent
K = 5  # training domains, also the validation domains
TRUTH_SEED = 2403  # seed of random_truth
SEED = 16952  # seed of simulate_mixture_runs (mixtures, then noise)
SIZES = (2e7, 5e7, 1e8)
N_PER_SIZE = 64
NOISE = 0.005  # standard deviation of log loss
CONCENTRATION = 1.0
SAME_MIXTURES = True
#: Sizes at which truth.json records the true optimal mixture (equal-weight mean loss).
OPTIMUM_SIZES = (1e8, 1e9, 1e10)


def build():
    """The truth, the run log and the sidecar record, as the files hold them."""
    truth = random_truth(K, seed=TRUTH_SEED)
    runs = simulate_mixture_runs(
        truth,
        sizes=SIZES,
        n_per_size=N_PER_SIZE,
        noise=NOISE,
        seed=SEED,
        same_mixtures=SAME_MIXTURES,
        concentration=CONCENTRATION,
    )
    record = {
        "generator": "scalinglaws.simulate.datamix.simulate_mixture_runs",
        "truth_generator": "scalinglaws.simulate.datamix.random_truth",
        "K": K,
        "truth_seed": TRUTH_SEED,
        "seed": SEED,
        "sizes": list(SIZES),
        "n_per_size": N_PER_SIZE,
        "noise": NOISE,
        "same_mixtures": SAME_MIXTURES,
        "concentration": CONCENTRATION,
        "truth": truth.to_dict(),
        "optimum_mean": [
            {"N": o.N, "weights": o.weights, "loss": o.loss}
            for o in (truth.optimum("mean", N=n) for n in OPTIMUM_SIZES)
        ],
    }
    return truth, runs, record


def main() -> None:
    _, runs, record = build()
    runs.to_csv(HERE / "runs.csv", index=False, float_format="%.10g")
    (HERE / "truth.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(runs)} runs to {HERE / 'runs.csv'}")


if __name__ == "__main__":
    main()
