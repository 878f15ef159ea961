"""NUTS posterior: recovery of the truth, diagnostics, failure labelling, ArviZ export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.uncertainty import sample_posterior, to_inference_data, usable_draws

# Small but honest settings: two chains (vectorised on the single test device) with 500
# warm-up and 1,000 kept draws; the convergence rule is the library's default unchanged
# (r_hat <= 1.01, no divergences, bulk ESS >= 100 per chain). With 500 kept draws the
# ESS of B and beta (the slowest-mixing pair, 0.17-0.38 effective draws per draw over
# seeds 0-3) sat at the threshold and the check flipped with the seed.
SETTINGS = {"chains": 2, "warmup": 500, "samples": 1000}


@pytest.fixture(scope="module")
def post(sim_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.ScalingLawsWarning)
        return sample_posterior(sim_fit, seed=0, **SETTINGS)


@pytest.mark.slow
def test_posterior_converges_and_reports_diagnostics(post, sim_fit):
    unc = post.uncertainty
    assert unc.method == "bayes" and unc.converged
    assert unc.n_draws == 2000
    diag = unc.diagnostics
    for name in (*sim_fit.law.param_names, "sigma"):
        # r_hat <= 1.01 is the documented convergence rule; ESS >= min_ess likewise.
        assert diag["r_hat"][name] <= 1.01
        assert diag["ess_bulk"][name] >= 200
    assert diag["divergences"] == 0
    assert unc.extra["chain_method"] in ("parallel", "vectorized")


@pytest.mark.slow
def test_posterior_covers_the_truth(post, truth, tpp):
    draws = post.uncertainty.draws
    # Deterministic (seeded) check at the 99% level, as for the bootstrap.
    for name, value in truth.items():
        lo, hi = np.quantile(draws[name], [0.005, 0.995])
        assert lo <= value <= hi, (name, lo, value, hi)
    lo, hi = np.quantile(tpp(draws, 1e24), [0.005, 0.995])
    assert lo <= tpp(truth, 1e24) <= hi
    # The learned Student-t scale: a t(3) fitted by maximum likelihood to Gaussian noise of
    # sd s has scale 0.79 s (computed numerically), 0.0040 here; 63 runs pin it to ~10%,
    # so 0.0025-0.0055 allows more than three standard errors either way.
    sigma = np.median(post.uncertainty.extra["noise_scale"])
    assert 0.0025 < sigma < 0.0055


@pytest.mark.slow
def test_too_short_warmup_is_labelled_not_converged_and_seeds_repeat(sim_fit):
    with pytest.warns(sl.ScalingLawsWarning, match="NOT CONVERGED"):
        bad = sample_posterior(sim_fit, chains=2, warmup=5, samples=20, seed=0)
    # Same seed, same draws (this short configuration is compiled once, so the repeat
    # is cheap); another seed gives other draws.
    with pytest.warns(sl.ScalingLawsWarning):
        again = sample_posterior(sim_fit, chains=2, warmup=5, samples=20, seed=0)
        other = sample_posterior(sim_fit, chains=2, warmup=5, samples=20, seed=1)
    np.testing.assert_array_equal(again.uncertainty.draws["alpha"], bad.uncertainty.draws["alpha"])
    assert not np.array_equal(other.uncertainty.draws["alpha"], bad.uncertainty.draws["alpha"])
    assert not bad.uncertainty.converged
    assert bad.uncertainty.diagnostics["problems"]
    assert "NOT CONVERGED" in bad.report() or "FAILED" in bad.report()
    with pytest.raises(sl.PlanError, match="did NOT converge"):
        usable_draws(bad)
    assert usable_draws(bad, allow_unconverged=True)["alpha"].shape == (40,)


@pytest.mark.slow
def test_inference_data_export(post):
    idata = to_inference_data(post)
    assert set(idata.posterior.data_vars) >= {"E", "A", "B", "alpha", "beta", "sigma"}
    assert idata.posterior["alpha"].shape == (2, 1000)
    assert "diverging" in idata.sample_stats


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0}, "positive integer"),
        ({"chains": -1}, "positive integer"),
        ({"dof": 0.0}, "dof must be"),
        ({"target_accept": 1.5}, "target_accept"),
        ({"chain_method": "threads"}, "chain_method"),
    ],
)
def test_bad_requests(sim_fit, kwargs, message):
    with pytest.raises(sl.ScalingLawsError, match=message):
        sample_posterior(sim_fit, **kwargs)


@pytest.mark.slow
def test_posteriors_of_different_sizes_in_one_process():
    """The compiled sampler is cached per data size: a second fit with fewer runs must not
    reuse a sampler built for the first shape (a backtest refits on folds of many sizes)."""
    import scalinglaws as sl
    from scalinglaws.simulate import isoflop_design, simulate_runs

    for per_budget in (10, 8):
        d = isoflop_design([1e18, 1e19, 1e20, 1e21], per_budget)
        runs = simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, d, noise=0.01, seed=1)
        with warnings.catch_warnings():  # short chains may be labelled not converged
            warnings.simplefilter("ignore", sl.ScalingLawsWarning)
            point = sl.fit(sl.laws.chinchilla(), runs, uncertainty="none")
            # Short chains: what is tested is the sampler's shape, not its convergence.
            res = sample_posterior(point, chains=2, warmup=100, samples=50)
        assert res.uncertainty.n_draws == 100
        assert res.n_runs == len(runs)


@pytest.mark.slow
def test_inference_data_export_arviz_1x_series(post, monkeypatch):
    """The ArviZ 1.x export path (its core, arviz_base): an xarray DataTree, same groups."""
    arviz_base = pytest.importorskip("arviz_base")
    import sys

    monkeypatch.setitem(sys.modules, "arviz", arviz_base)
    tree = to_inference_data(post)
    assert type(tree).__name__ == "DataTree"
    assert set(tree.posterior.data_vars) >= {"E", "A", "B", "alpha", "beta", "sigma"}
    assert tree.posterior["alpha"].shape == (2, 1000)
    np.testing.assert_array_equal(
        np.asarray(tree.posterior["alpha"]).ravel(), np.asarray(post.uncertainty.draws["alpha"])
    )
    assert "diverging" in tree.sample_stats
