"""Predictive draws, quantiles, summaries, thinning, dispatch and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.laws.chinchilla import tokens_per_param
from scalinglaws.uncertainty import (
    attach,
    per_draw,
    predictive,
    quantiles,
    summarize,
    thin,
    thin_uncertainty,
    usable_draws,
)

POINT = {"N": [1e10], "D": [2e11]}


@pytest.fixture(scope="module")
def lap(sim_fit):
    return attach(sim_fit, "laplace", samples=4000, seed=1)


def test_predictive_adds_noise_around_the_law(lap, truth):
    law = lap.law
    mean = float(law.predict(truth, {"N": 1e10, "D": 2e11}))
    param_only = predictive(lap, POINT, noise=False)
    observed = predictive(lap, POINT, seed=3)
    assert observed.shape == param_only.shape == (4000, 1)
    # Observed-loss draws add 0.5% log noise to the parameter spread: their log sd must
    # exceed the parameter-only log sd and be at least the noise scale (up to the 2%
    # Monte Carlo error of an sd from 4000 draws).
    sd_obs = np.std(np.log(observed))
    assert sd_obs > np.std(np.log(param_only))
    assert sd_obs > 0.98 * lap.uncertainty.extra["noise_scale"]
    lo, hi = quantiles(observed, (0.005, 0.995))[:, 0]
    assert lo < mean < hi


def test_predictive_is_seeded_and_resizable(lap):
    a = predictive(lap, POINT, n=500, seed=9)
    b = predictive(lap, POINT, n=500, seed=9)
    np.testing.assert_array_equal(a, b)
    assert predictive(lap, POINT, n=6000).shape == (6000, 1)
    with pytest.raises(sl.ScalingLawsError, match="positive integer"):
        predictive(lap, POINT, n=0)


def _tokens_per_param(params, inputs):
    return tokens_per_param(params, inputs["C"])


def test_per_draw_matches_numpy(lap):
    got = per_draw(lap, _tokens_per_param, {"C": np.array([1e22, 1e24])})
    d = {k: np.asarray(v)[:, None] for k, v in lap.uncertainty.draws.items()}
    want = _tokens_per_param(d, {"C": np.array([1e22, 1e24])})
    # The same law function per draw (vmapped) and broadcast over all draws at once:
    # float64 rounding only.
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_quantiles_ignore_nonfinite_and_validate():
    x = np.array([[1.0], [2.0], [np.inf], [3.0]])
    np.testing.assert_allclose(quantiles(x, (0.5,)), [[2.0]])
    with pytest.raises(sl.ScalingLawsError):
        quantiles(np.empty((0, 2)))
    with pytest.raises(sl.ScalingLawsError):
        quantiles(x, (1.5,))


def test_thin_is_deterministic_and_keeps_alignment(lap):
    draws = dict(lap.uncertainty.draws)
    small = thin(draws, 1000)
    assert all(len(v) == 1000 for v in small.values())
    np.testing.assert_array_equal(small["alpha"], draws["alpha"][::4])
    thinned = thin_uncertainty(lap.uncertainty, 1000)
    assert thinned.n_draws == 1000 and thinned.extra["thinned_from"] == 4000
    # 1000 of 4000 draws keep the 5/95% quantiles within ~2 Monte Carlo standard errors
    # of the 5% quantile (sqrt(.05*.95/1000) ~ 0.007 in probability), i.e. within 2% of
    # the interval width here.
    for name in ("alpha", "beta"):
        full = np.quantile(draws[name], [0.05, 0.95])
        part = np.quantile(thinned.draws[name], [0.05, 0.95])
        assert np.all(np.abs(full - part) < 0.05 * (full[1] - full[0]))
    with pytest.raises(sl.ScalingLawsError):
        thin({"a": np.ones(3), "b": np.ones(4)})


def test_summarize_is_json_ready(lap):
    s = summarize(lap.uncertainty)
    json.dumps(s, allow_nan=False)
    assert s["method"] == "laplace" and s["n_draws"] == 4000
    row = s["params"]["alpha"]
    assert row["q05"] < row["q50"] < row["q95"]
    assert abs(row["mean"] - np.mean(lap.uncertainty.draws["alpha"])) < 1e-12


def test_attach_dispatch_and_refusals(sim_fit):
    none = attach(sim_fit, "none")
    assert none.uncertainty.method == "none" and none.uncertainty.n_draws == 0
    with pytest.raises(sl.PlanError, match="no uncertainty draws"):
        usable_draws(none)
    with pytest.raises(sl.PlanError):
        predictive(none, POINT)
    with pytest.raises(sl.ScalingLawsError, match="one of none, laplace"):
        attach(sim_fit, "jackknife")
    with pytest.raises(sl.ScalingLawsError, match="positive integer"):
        attach(sim_fit, "bootstrap", samples=0)
    messages = []
    out = attach(sim_fit, "bootstrap", samples=400, seed=11, progress=messages.append)
    assert out.uncertainty.method == "bootstrap" and len(messages) == 2
