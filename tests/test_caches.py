"""``clear_caches``: compiled programs are released and the next fit compiles again."""

from __future__ import annotations

import numpy as np

import scalinglaws as sl
from scalinglaws.simulate import isoflop_design, simulate_runs
from scalinglaws.uncertainty import bayes


def test_fit_after_clearing_caches_is_bit_identical():
    law = sl.laws.chinchilla()
    design = isoflop_design([1e18, 1e19, 1e20], 6)
    runs = simulate_runs(law, sl.laws.HOFFMANN_2022, design, noise=0.01, seed=3)
    before = sl.fit(law, runs)
    sl.clear_caches()
    assert bayes._sampler.cache_info().currsize == 0
    after = sl.fit(law, runs)
    # The same program compiled again from the same inputs: the same bits, not a tolerance.
    for name in law.param_names:
        assert np.float64(after.params[name]) == np.float64(before.params[name])
    assert after.objective == before.objective
