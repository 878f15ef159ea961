"""Shared simulated fits for the uncertainty tests (seeded, built once per session)."""

from __future__ import annotations

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.laws.chinchilla import HOFFMANN_2022
from scalinglaws.simulate import isoflop_design, simulate_runs

#: Seven isoFLOP budgets from 1e18 to 1e22 FLOPs, nine sizes each, 0.5% log noise: a sweep
#: that identifies all five parameters well enough for short chains to mix.
BUDGETS = tuple(np.geomspace(1e18, 1e22, 7).tolist())
NOISE = 0.005


def tokens_per_param(params, budget: float, k: float = 6.0):
    """Closed-form C-optimal D/N (Hoffmann et al. 2022, arXiv 2203.15556)."""
    a, b = np.asarray(params["alpha"]), np.asarray(params["beta"])
    g = (a * np.asarray(params["A"]) / (b * np.asarray(params["B"]))) ** (1.0 / (a + b))
    n_opt = g * (budget / k) ** (b / (a + b))
    return (budget / k) / n_opt**2


@pytest.fixture(scope="session")
def truth() -> dict[str, float]:
    return dict(HOFFMANN_2022)


@pytest.fixture(scope="session")
def sim_runs(truth):
    design = isoflop_design(BUDGETS, 9)
    return simulate_runs(sl.laws.chinchilla(), truth, design, noise=NOISE, seed=3)


@pytest.fixture(scope="session")
def sim_fit(sim_runs):
    return sl.fit(sl.laws.chinchilla(), sim_runs)


@pytest.fixture(scope="session")
def tpp():
    """The closed-form tokens-per-parameter function."""
    return tokens_per_param
