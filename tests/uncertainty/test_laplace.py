"""Laplace approximation: agreement with the bootstrap, reproducibility, refusals, and the
caveat on checkpoint logs."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.uncertainty import bootstrap, laplace
from scalinglaws.uncertainty._data import fit_data, shared_run_noise_note


@pytest.fixture(scope="module")
def lap(sim_fit):
    return laplace(sim_fit, n=2000, seed=5)


def test_laplace_draws_are_centred_on_the_point_fit(lap, sim_fit):
    unc = lap.uncertainty
    assert unc.method == "laplace" and unc.converged and unc.n_draws == 2000
    # Internal-scale Gaussian: the median of exponent draws equals the point estimate up
    # to Monte Carlo error, 1.25 sd / sqrt(2000) ~ 0.03 sd; allow 0.1 sd.
    for name in ("alpha", "beta"):
        d = unc.draws[name]
        assert abs(np.median(d) - sim_fit.params[name]) < 0.1 * np.std(d)
    # Log-scale parameters are log-normal: their geometric mean is the point fit.
    assert abs(np.mean(np.log(unc.draws["A"])) - np.log(sim_fit.params["A"])) < 0.1 * np.std(
        np.log(unc.draws["A"])
    )


def test_laplace_and_bootstrap_agree_on_exponent_spread(lap, sim_fit):
    boot = bootstrap(sim_fit, n=400, seed=11)
    # Both measure the sampling spread of the exponents, but not of the same estimator:
    # Laplace uses the curvature of a Gaussian likelihood, while the Huber objective with
    # delta = 1e-3 against 0.5% noise is nearly least absolute deviations, whose spread is
    # larger (efficiency 2/pi, and more in small samples); a ratio near 0.5-0.8 is
    # expected. A factor of three either way still catches a wrong scale (a missing
    # sigma^2 would be off by a factor of ~100).
    for name in ("alpha", "beta"):
        ratio = np.std(lap.uncertainty.draws[name]) / np.std(boot.uncertainty.draws[name])
        assert 1 / 3 < ratio < 3.0, (name, ratio)


def test_laplace_same_seed_same_draws(sim_fit, lap):
    again = laplace(sim_fit, n=2000, seed=5)
    np.testing.assert_array_equal(again.uncertainty.draws["B"], lap.uncertainty.draws["B"])


def test_laplace_noise_scale_is_the_residual_scale(lap):
    # Simulated log noise is 0.5%; 63 runs estimate it to ~9% relative error (allow 30%).
    assert 0.0035 < lap.uncertainty.extra["noise_scale"] < 0.0065


def test_laplace_refuses_zero_draws_and_missing_data(sim_fit):
    with pytest.raises(sl.ScalingLawsError, match="positive integer"):
        laplace(sim_fit, n=0)
    with pytest.raises(sl.ScalingLawsError, match="carries none"):
        laplace(dataclasses.replace(sim_fit, data=None))


# -- checkpoint logs: the shared-run-noise caveat
# Laplace and the posterior take every row's residual as independent noise; checkpoints of one
# run share that run's deviation, so on such logs their intervals are likely too narrow (OPT:
# a 90% posterior interval held 2 of 27 held-out checkpoints). The warning says so.


def _checkpoint_log(sim_runs, truth, fractions=(0.4, 0.7, 1.0), seed=0) -> pd.DataFrame:
    """Every simulated run seen at several fractions of its tokens; each run's
    checkpoints share one offset (its deviation) plus a little checkpoint noise."""
    rng = np.random.default_rng(seed)
    n_runs, n_ck = len(sim_runs), len(fractions)
    n = np.repeat(sim_runs["N"].to_numpy(float), n_ck)
    d = np.repeat(sim_runs["D"].to_numpy(float), n_ck) * np.tile(fractions, n_runs)
    mean = np.asarray(sl.laws.chinchilla().predict(truth, {"N": n, "D": d}))
    noise = np.repeat(rng.normal(0.0, 0.005, n_runs), n_ck) + rng.normal(0.0, 0.001, n.size)
    return pd.DataFrame(
        {
            "run": np.repeat([f"r{i}" for i in range(n_runs)], n_ck),
            "step": np.tile(np.arange(n_ck), n_runs),
            "N": n,
            "D": d,
            "loss": mean * np.exp(noise),
        }
    )


@pytest.fixture(scope="module")
def checkpoint_fit(sim_runs, truth):
    runs = sl.load_runs(_checkpoint_log(sim_runs, truth), checkpoints="all")
    return sl.fit(sl.laws.chinchilla(), runs)


def test_laplace_on_checkpoints_warns_of_shared_run_noise(checkpoint_fit, sim_runs):
    n_runs = len(sim_runs)
    with pytest.warns(sl.ScalingLawsWarning) as caught:
        laplace(checkpoint_fit, n=200, seed=1)
    text = " ".join(str(w.message) for w in caught)
    assert f"the {3 * n_runs} rows as independent" in text
    assert f"checkpoints of {n_runs} runs" in text
    assert "likely too narrow" in text and "'bootstrap' resamples whole runs" in text


def test_one_row_per_run_gives_no_caveat(sim_fit):
    # filterwarnings = error: any warning here fails the test.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        laplace(sim_fit, n=200, seed=1)
    assert shared_run_noise_note(fit_data(sim_fit, "t"), "Laplace", 5) is None


def test_caveat_says_when_the_bootstrap_cannot_run(checkpoint_fit):
    data = fit_data(checkpoint_fit, "t")
    few = type(data)(data.inputs, data.target, data.clusters % 4, 4)
    note = shared_run_noise_note(few, "The posterior", 5)
    assert note is not None
    assert "checkpoints of 4 runs" in note
    assert "it needs more runs than the law's 5 parameters" in note
    enough = shared_run_noise_note(data, "The posterior", 5)
    assert enough is not None and "needs more runs" not in enough
