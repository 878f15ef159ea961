"""Bootstrap by run: recovery of the truth, reproducibility, clusters, failures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.uncertainty import bootstrap, resample_weights


@pytest.fixture(scope="module")
def boot(sim_fit):
    return bootstrap(sim_fit, n=400, seed=11)


def test_bootstrap_intervals_cover_the_truth(boot, truth, tpp):
    unc = boot.uncertainty
    assert unc.method == "bootstrap" and unc.converged
    assert unc.n_draws == 400
    assert unc.diagnostics["status_counts"]["failed"] == 0
    # With one seeded dataset the truth must sit inside the central 99% range of the
    # draws for every parameter and for the derived tokens-per-parameter at 1e24 FLOPs;
    # a 99% level makes a miss a genuine failure of the method, not bad luck (the seed is
    # fixed, so the check is deterministic).
    for name, value in truth.items():
        lo, hi = np.quantile(unc.draws[name], [0.005, 0.995])
        assert lo <= value <= hi, (name, lo, value, hi)
    lo, hi = np.quantile(tpp(unc.draws, 1e24), [0.005, 0.995])
    assert lo <= tpp(truth, 1e24) <= hi


def test_bootstrap_centre_matches_point_fit(boot, sim_fit):
    # The bootstrap median of an exponent sits within one bootstrap sd of the point fit:
    # resampling noise moves the median by about sd / sqrt(400) * 1.25, so a whole sd is
    # a loose bound that still catches a refit that wandered off to another optimum.
    for name in ("alpha", "beta"):
        d = boot.uncertainty.draws[name]
        assert abs(np.median(d) - sim_fit.params[name]) < np.std(d)


def test_same_seed_same_draws_and_new_seed_new_draws(sim_fit, boot):
    again = bootstrap(sim_fit, n=400, seed=11)
    for name in sim_fit.law.param_names:
        np.testing.assert_array_equal(again.uncertainty.draws[name], boot.uncertainty.draws[name])
    other = bootstrap(sim_fit, n=400, seed=12)
    assert not np.array_equal(other.uncertainty.draws["alpha"], boot.uncertainty.draws["alpha"])


def test_noise_scale_per_refit_is_near_simulated_noise(boot):
    # Each refit's residual scale estimates the simulated 0.5% log noise; 63 runs give a
    # relative standard error of about 1/sqrt(2 * 58) = 9%, so 0.0035-0.0065 (30%) bounds
    # the median with a wide margin.
    scale = boot.uncertainty.extra["noise_scale"]
    assert scale.shape == (400,)
    assert 0.0035 < np.median(scale) < 0.0065


def test_resample_weights_cluster_by_run():
    clusters = np.array([0, 0, 1, 2, 2, 2])
    counts, weights = resample_weights(clusters, 3, 50, seed=0)
    assert counts.shape == (50, 3) and weights.shape == (50, 6)
    np.testing.assert_array_equal(counts.sum(axis=1), 3)
    # Every row of a run carries that run's count.
    np.testing.assert_array_equal(weights[:, 0], weights[:, 1])
    np.testing.assert_array_equal(weights[:, 3], weights[:, 5])
    np.testing.assert_array_equal(weights[:, 2], counts[:, 1])


@pytest.mark.slow
def test_bootstrap_resamples_whole_runs_when_rows_share_a_run(sim_fit, sim_runs):
    # Two identical rows per run: a cluster bootstrap must count runs, not rows. The point
    # fit of the doubled table is the same optimum, so the simulated fit is reused.
    doubled = pd.concat([sim_runs, sim_runs], ignore_index=True)
    doubled["run"] = np.tile(np.arange(len(sim_runs)), 2).astype(str)
    fitted = dataclasses.replace(sim_fit, data=doubled)
    out = bootstrap(fitted, n=20, seed=0)
    assert out.uncertainty.extra["n_clusters"] == len(sim_runs)
    assert out.uncertainty.extra["n_rows"] == 2 * len(sim_runs)
    assert out.uncertainty.converged
    by_row = bootstrap(fitted, n=20, seed=0, by="row")
    assert by_row.uncertainty.extra["n_clusters"] == 2 * len(sim_runs)


@pytest.mark.slow
def test_refits_stopped_early_are_reported(sim_fit):
    with pytest.warns(sl.ScalingLawsWarning, match="NOT CONVERGED"):
        out = bootstrap(sim_fit, n=40, seed=0, max_iter=1)
    counts = out.uncertainty.diagnostics["status_counts"]
    assert not out.uncertainty.converged
    assert counts["max_iter"] + counts["failed"] > 0.02 * 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "positive integer"),
        ({"n": 10, "by": "step"}, "by must be"),
        ({"n": 2.5}, "positive integer"),
    ],
)
def test_bad_requests_get_one_line_errors(sim_fit, kwargs, message):
    with pytest.raises(sl.ScalingLawsError, match=message):
        bootstrap(sim_fit, **kwargs)


def test_result_without_data_is_refused(sim_fit):
    with pytest.raises(sl.ScalingLawsError, match="carries none"):
        bootstrap(dataclasses.replace(sim_fit, data=None), n=10)


@pytest.mark.slow
def test_refits_in_chunks_match_refits_at_once(sim_fit, monkeypatch):
    """Beyond the memory budget the refits run in chunks of resamples (the last padded).
    Each refit is the same problem either way, but XLA's arithmetic for another batch
    size differs in the last bits, so a Newton path may stop at another iterate within
    the solver's tolerance (steps below 1e-7 in the internal parameters): the draws agree
    to 1e-6 relative (measured 1.3e-8), far inside their spread (a few percent)."""
    import importlib

    boot_module = importlib.import_module("scalinglaws.uncertainty.bootstrap")

    whole = bootstrap(sim_fit, n=50, seed=3)
    per = boot_module.refit_bytes(len(sim_fit.law.params), len(sim_fit.data))
    monkeypatch.setattr(boot_module, "REFIT_CHUNK_BYTES", 7 * per)  # chunks of 7, last of 1
    chunked = bootstrap(sim_fit, n=50, seed=3)
    d_whole, d_chunked = whole.uncertainty.diagnostics, chunked.uncertainty.diagnostics
    assert d_whole["status_counts"] == d_chunked["status_counts"]
    assert d_whole["n_draws"] == d_chunked["n_draws"] == 50
    for name, draws in whole.uncertainty.draws.items():
        np.testing.assert_allclose(chunked.uncertainty.draws[name], draws, rtol=1e-6)
    np.testing.assert_allclose(
        chunked.uncertainty.extra["noise_scale"], whole.uncertainty.extra["noise_scale"], rtol=1e-6
    )


@pytest.mark.slow
def test_refits_stopped_by_the_limit_are_run_again_longer(sim_fit):
    """With 3 Newton iterations most refits stop at the limit; each is run again from where
    it stopped with 4x the iterations, and the ones that then converge are counted."""
    import warnings

    with warnings.catch_warnings():  # those still stopped may be too many: a warning
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        out = bootstrap(sim_fit, n=40, seed=0, max_iter=3)
    d = out.uncertainty.diagnostics
    assert d["retried"] > 0 and 0 < d["rescued"] <= d["retried"]
    assert d["status_counts"]["max_iter"] == d["retried"] - d["rescued"]
    full = bootstrap(sim_fit, n=40, seed=0)  # the default limit: every refit converges
    assert full.uncertainty.diagnostics["retried"] == 0


def test_a_refit_over_the_memory_budget_is_warned_before_it_runs(sim_fit, monkeypatch):
    """When even one refit needs more than the budget, the bootstrap says so first."""
    import importlib

    boot_module = importlib.import_module("scalinglaws.uncertainty.bootstrap")
    per = boot_module.refit_bytes(len(sim_fit.law.params), len(sim_fit.data))
    monkeypatch.setattr(boot_module, "REFIT_CHUNK_BYTES", per // 2)
    with pytest.warns(sl.ScalingLawsWarning, match="over the .* GiB budget"):
        out = bootstrap(sim_fit, n=3, seed=0)
    assert out.uncertainty.diagnostics["n_resamples"] == 3
