"""Regenerate data/chinchilla_sim/runs.csv (the demo's default run log).

    python data/chinchilla_sim/generate.py

Deterministic: the seed, design and true parameters below are the record of how the file
was made (also written in README.md beside this script).
"""

from pathlib import Path

from scalinglaws.laws import HOFFMANN_2022, chinchilla
from scalinglaws.simulate import isoflop_design, simulate_runs

SEED = 20261127
BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]
SIZES_PER_BUDGET = 9
TOKENS_PER_PARAM = (2.0, 200.0)
NOISE = 0.01  # standard deviation of log loss


def main() -> None:
    design = isoflop_design(BUDGETS, SIZES_PER_BUDGET, tokens_per_param=TOKENS_PER_PARAM)
    runs = simulate_runs(chinchilla(), HOFFMANN_2022, design, noise=NOISE, seed=SEED)
    out = Path(__file__).with_name("runs.csv")
    runs[["run", "N", "D", "C", "loss"]].to_csv(out, index=False, float_format="%.10g")
    print(f"wrote {len(runs)} runs to {out}")


if __name__ == "__main__":
    main()
