"""Recovery of known parameters from simulated logs: a catalogue of designs x noise x seeds."""

import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.fitting.objective import objective
from scalinglaws.simulate import isoflop_design, simulate_runs

TRUTHS = {
    "hoffmann": sl.laws.HOFFMANN_2022,
    "epoch": sl.laws.EPOCH_2024,
}
DESIGNS = {
    # Small-scale isoFLOP sweep, like an academic lab's.
    "small": dict(budgets=[1e17, 3e17, 1e18, 3e18, 1e19], n_per_budget=7),
    # Chinchilla-like: many budgets, wide tokens-per-parameter span.
    "wide": dict(budgets=np.geomspace(6e18, 3e21, 8).tolist(), n_per_budget=9),
    # Few, large budgets.
    "large": dict(budgets=[1e20, 1e21, 1e22], n_per_budget=11),
}


def _design(name):
    d = DESIGNS[name]
    return isoflop_design(d["budgets"], d["n_per_budget"], tokens_per_param=(1.5, 300.0))


@pytest.mark.parametrize("truth", TRUTHS)
@pytest.mark.parametrize("design", DESIGNS)
def test_noiseless_recovers_exactly(truth, design):
    law = sl.laws.chinchilla()
    runs = simulate_runs(law, TRUTHS[truth], _design(design), noise=0.0, seed=0)
    res = sl.fit(law, runs)
    assert res.converged
    # Zero noise: the truth is the unique zero of the objective, so the polish must land
    # on it up to its convergence tolerance; 1e-5 relative leaves room for the flat A/B
    # directions (correlation ~0.999) without admitting a wrong optimum.
    for k, v in TRUTHS[truth].items():
        assert res.params[k] == pytest.approx(v, rel=1e-5), k


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("design", DESIGNS)
def test_noisy_recovers_within_standard_errors(design, seed):
    law = sl.laws.chinchilla()
    truth = TRUTHS["epoch"]
    runs = simulate_runs(law, truth, _design(design), noise=0.005, seed=seed)
    res = sl.fit(law, runs)
    assert res.converged
    # A global optimiser never ends above the objective at the true parameters.
    with __import__("jax").enable_x64(True):
        at_truth = float(
            objective(
                law,
                law.to_internal(truth),
                {c: jnp.asarray(runs[c].to_numpy()) for c in law.inputs},
                jnp.asarray(runs["loss"].to_numpy()),
                jnp.ones(len(runs)),
                1e-3,
            )
        )
    assert res.objective <= at_truth * (1 + 1e-9)
    # Each parameter within 4 approximate standard errors of the truth (on the internal
    # scale: logs for E, A, B). With 12 cases x 5 parameters, a 4-sigma band leaves a
    # false-alarm chance of ~0.4% for the whole test if the s.e. are honest.
    se = np.sqrt(np.diag(res.covariance))
    got = np.asarray(law.to_internal(res.params))
    want = np.asarray(law.to_internal(truth))
    z = np.abs(got - want) / se
    assert np.all(z < 4.0), dict(zip(law.param_names, z.round(2), strict=True))


@pytest.mark.slow
def test_fast_search_and_hoffmann_grid_agree_on_simulated():
    law = sl.laws.chinchilla()
    runs = simulate_runs(law, TRUTHS["hoffmann"], _design("wide"), noise=0.01, seed=7)
    fast = sl.fit(law, runs)
    ref = sl.fit(law, runs, search="hoffmann")
    # Same global optimum: objective to 1e-8 relative (the polish stops at 1e-12 steps).
    assert fast.objective == pytest.approx(ref.objective, rel=1e-8)
    assert fast.params["alpha"] == pytest.approx(ref.params["alpha"], rel=1e-5)


def test_grid_search_for_law_without_linear_form():
    """A custom law with no linear form is fitted by the grid search (the documented path)."""
    base = sl.laws.chinchilla()
    from dataclasses import replace

    law = replace(base, name="custom", linear_form=None)
    runs = simulate_runs(law, TRUTHS["hoffmann"], _design("wide"), noise=0.0, seed=0)
    res = sl.fit(law, runs, top_k=16)
    assert res.options["search"] == "grid"
    # From Hoffmann's coarse grid the polish still reaches the zero-noise truth; 1e-4
    # because grid starts are farther away than variable-projection starts.
    for k, v in TRUTHS["hoffmann"].items():
        assert res.params[k] == pytest.approx(v, rel=1e-4), k
