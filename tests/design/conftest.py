"""Shared set-up of the design tests: the issue's starting grid and a fit on it."""

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.laws.chinchilla import EPOCH_2024, compute_optimal
from scalinglaws.simulate import simulate_runs


def base_grid(truth, budgets=(1e18, 3e18, 1e19), sizes=7):
    """The issue's starting grid: sizes from 1/4x to 4x of the truth's N_opt per budget."""
    rows = []
    for c in budgets:
        n_opt = float(compute_optimal(truth, c)[0])
        for n in np.geomspace(n_opt / 4, n_opt * 4, sizes):
            rows.append({"N": n, "D": c / (6 * n), "C": c})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sim_fit():
    law = sl.laws.chinchilla()
    runs = simulate_runs(law, EPOCH_2024, base_grid(EPOCH_2024), noise=0.01, seed=1)
    return sl.fit(law, runs, uncertainty="laplace", samples=500, seed=0)
