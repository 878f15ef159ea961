"""Regenerate the simulated mixed dense/sparse run log in this folder.

Run from the repository root:  python data/sparse/generate.py

Writes ``runs.csv`` (schedule columns; the loader computes N_avg and C) and, for three
runs, per-step non-zero count logs under ``counts/`` referenced by the ``counts_log``
column. Truth, seed and design are printed in README.md; change them here only together.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd

from scalinglaws.laws.chinchilla import HOFFMANN_2022
from scalinglaws.simulate.sparse import count_log, simulate_sparse_runs, sparse_design
from scalinglaws.sparsity import PruningSchedule

HERE = Path(__file__).resolve().parent
TRUTH = HOFFMANN_2022
SEED = 2025
NOISE = 0.005
BUDGETS = (1e18, 1e19, 1e20, 1e21)
SCHEDULE_COLUMNS = ["sparsity", "schedule", "start_step", "end_step", "interval", "total_steps"]


def main() -> None:
    with jax.enable_x64(True):
        geometric = sparse_design(BUDGETS, sparsities=(0.0, 0.5, 0.8), n_per_budget=5)
        cubic = sparse_design([1e20], sparsities=(0.7,), n_per_budget=5, kind="cubic")
        design = pd.concat([geometric, cubic], ignore_index=True)
        runs = simulate_sparse_runs(TRUTH, design, noise=NOISE, seed=SEED)
        # Three sparse runs are given as per-step count logs instead of schedule columns.
        runs["counts_log"] = ""
        counts_dir = HERE / "counts"
        counts_dir.mkdir(exist_ok=True)
        for run_id in ("C1.00e+19-s0.80-2", "C1.00e+20-s0.50-1", "C1.00e+20-s0.70-3"):
            i = int(np.flatnonzero(runs["run"] == run_id)[0])
            row = runs.loc[i]
            sched = PruningSchedule(
                row["schedule"], float(row["sparsity"]), int(row["start_step"]),
                int(row["end_step"]), int(row["interval"]), int(row["total_steps"]),
            )  # fmt: skip
            name = f"{run_id}.csv"
            count_log(sched, float(row["N"])).to_csv(
                counts_dir / name, index=False, float_format="%.10g"
            )
            runs.loc[i, "counts_log"] = f"counts/{name}"
            runs.loc[i, SCHEDULE_COLUMNS] = np.nan
            runs.loc[i, "schedule"] = ""
    out = runs[["run", "N", *SCHEDULE_COLUMNS, "tokens_per_step", "D", "counts_log", "loss"]]
    out.to_csv(HERE / "runs.csv", index=False, float_format="%.10g")


if __name__ == "__main__":
    main()
