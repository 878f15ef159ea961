"""Laplace approximation: agreement with the bootstrap, reproducibility, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.uncertainty import bootstrap, laplace


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
