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
    """Compute-optimal D/N, from the frontier the Chinchilla law declares (Hoffmann et al.
    2022, arXiv 2203.15556); parameter arrays (draws) give one value per draw."""
    p = {n: np.asarray(params[n], dtype=float) for n in ("A", "B", "alpha", "beta")}
    return np.asarray(sl.laws.chinchilla().derived_fn("tokens_per_param")(p, budget, k))


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
