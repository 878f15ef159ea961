"""The CMR pipeline's default Bayesian path: the exact grid posterior of every curve.

End to end on one small simulated log (1 model x 4 ratios x 30 checkpoints): the draws,
their diagnostics, the plan's interval text, the record round trip, the CLI, the loud
label when the quadrature fails, and bad options. The posterior itself is checked
against independent computations in ``test_cmr_gridpost.py``; its coverage of the CMR
on 100 simulated datasets is in ``bench/results/mixture_coverage_bayes_grid.txt``.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from scalinglaws.errors import FitError, ScalingLawsWarning
from scalinglaws.mixture import fit_cmr, gridpost
from scalinglaws.mixture.record import load_cmr_fit, save_cmr_fit
from scalinglaws.planning.mixture import interval_calibration, plan_mixture
from scalinglaws.simulate.cmr import simulate_cpt_curves

TOKENS = np.linspace(0.2e9, 20e9, 30)
RATIOS = (0.125, 0.25, 0.5, 0.75)
N_CURVES = 2 * len(RATIOS)
DRAWS = 200

# Compile-heavy (the default run's 5-minute budget); CI runs every test.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim():
    return simulate_cpt_curves(models=("460M",), ratios=RATIOS, tokens=TOKENS, noise=1e-3, seed=3)


@pytest.fixture(scope="module")
def grid_fit(sim):
    runs, _ = sim
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_cmr(runs, uncertainty="bayes", samples=DRAWS, seed=1)
    return fit, [str(c.message) for c in caught]


def test_grid_posterior_is_the_default_and_converges(grid_fit):
    fit, caught = grid_fit
    unc = fit.uncertainty
    assert unc["method"] == "bayes" and fit.options["sampler"] == "grid"
    assert fit.n_draws == DRAWS == unc["n_draws"] == unc["draws_per_curve"]
    assert unc["converged"] is True
    assert not any("NOT CONVERGED" in m for m in caught)
    for d in fit.curve_draws.values():
        assert all(v.shape == (DRAWS,) and np.all(np.isfinite(v)) for v in d.values())
    diag = unc["diagnostics"]
    assert diag["n_curves"] == N_CURVES == len(diag["curves"]) and diag["n_not_converged"] == 0
    for c in diag["curves"]:
        assert {"model", "ratio", "split", "max_cell_mass", "edge_mass"} <= set(c)
        assert c["max_cell_mass"] <= gridpost.MAX_CELL_MASS
    plan = plan_mixture(fit, [5e9, 1e10])
    assert np.all(plan["cmr_q05"] <= plan["cmr_q50"]) and np.all(plan["cmr_q50"] <= plan["cmr_q95"])
    assert np.all(plan["cmr_q95"] > plan["cmr_q05"])
    text = plan.attrs["summary"]["interval_calibration"]
    assert "grid-posterior" in text and "NOT CONVERGED" not in text and "NUTS" not in text


def test_old_bayes_records_without_a_sampler_read_as_nuts(grid_fit):
    # Records written before the grid sampler held NUTS posteriors and no "sampler" key.
    fit, _ = grid_fit
    old = dataclasses.replace(fit, options={k: v for k, v in fit.options.items() if k != "sampler"})
    assert "NUTS posterior" in interval_calibration(old)


def test_grid_record_round_trip(grid_fit, tmp_path):
    fit, _ = grid_fit
    path = tmp_path / "grid.json"
    save_cmr_fit(fit, path)
    back = load_cmr_fit(path)
    assert back.options["sampler"] == "grid" and back.uncertainty["converged"] is True
    assert back.uncertainty["diagnostics"]["n_curves"] == N_CURVES
    a = plan_mixture(fit, [5e9, 1e10])
    b = plan_mixture(back, [5e9, 1e10])
    # Draws are stored to full precision below the record's thinning limit.
    np.testing.assert_allclose(b["cmr_q05"], a["cmr_q05"], rtol=1e-9)
    np.testing.assert_allclose(b["cmr_q95"], a["cmr_q95"], rtol=1e-9)
    assert b.attrs["summary"]["interval_calibration"] == a.attrs["summary"]["interval_calibration"]


def test_failed_quadrature_is_labelled_loudly(sim, monkeypatch):
    # A cell-mass limit no grid can meet: every curve fails the rule, the fit says so.
    monkeypatch.setattr(gridpost, "MAX_CELL_MASS", 1e-9)
    monkeypatch.setattr(gridpost, "MAX_REFINE", 0)
    runs, _ = sim
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_cmr(runs, uncertainty="bayes", samples=20, seed=1)
    assert fit.uncertainty["converged"] is False
    assert fit.uncertainty["diagnostics"]["n_not_converged"] == N_CURVES
    assert any("NOT CONVERGED" in str(c.message) for c in caught)
    assert "POSTERIOR NOT CONVERGED" in fit.report()
    # A plan from an unconverged posterior repeats the warning.
    with pytest.warns(ScalingLawsWarning, match="NOT CONVERGED"):
        text = plan_mixture(fit, [5e9]).attrs["summary"]["interval_calibration"]
    assert text.startswith("posterior NOT CONVERGED")


def test_cli_default_bayes_is_the_grid(sim, tmp_path, capsys):
    from scalinglaws.cli import main

    runs, _ = sim
    csv = tmp_path / "cpt.csv"
    runs.to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    args = ["fit", "cmr", str(csv), "--uncertainty", "bayes", "--samples", str(DRAWS)]
    assert main([*args, "--quiet", "--json", "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["uncertainty"]["method"] == "bayes" and res["uncertainty"]["converged"] is True
    assert res["diagnostics"]["posterior"]["n_curves"] == N_CURVES
    assert main(["plan", "mixture", str(out), "--tokens", "5e9", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["cmr_q05"] is not None and row["cmr_q05"] < row["cmr_q95"]
    # An unknown sampler is refused by the parser (exit 2, no file).
    bad = tmp_path / "bad.json"
    with pytest.raises(SystemExit) as e:
        main([*args, "--sampler", "hmc", "--quiet", "--out", str(bad)])
    assert e.value.code == 2 and not bad.exists()


def test_bad_grid_options_raise(sim):
    runs, _ = sim
    for bad in ({"sampler": "hmc"}, {"samples": 1}, {"samples": 2.5}):
        with pytest.raises(FitError):
            fit_cmr(runs, uncertainty="bayes", **bad)
