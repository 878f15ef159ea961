"""The CMR pipeline's NUTS path (``sampler="nuts"``): anchored laws, diagnostics, records, CLI.

One small simulated log (1 model x 4 ratios x 30 checkpoints) and deliberately short
chains (2 chains x (30 warm-up + 20 draws), tree depth 4) keep the module fast; such
chains cannot pass the convergence rule, which the tests use to check the loud label.
All fits share one settings tuple, so the compiled samplers are built once.
"""

from __future__ import annotations

import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.errors import ScalingLawsWarning
from scalinglaws.laws.cmr import domain_change_law, general_change_law, general_fitted
from scalinglaws.mixture import fit_cmr
from scalinglaws.mixture.posterior import (
    anchored_from_paper,
    domain_anchor_law,
    general_anchor_law,
    paper_from_anchored,
)
from scalinglaws.mixture.record import load_cmr_fit, save_cmr_fit
from scalinglaws.planning.mixture import plan_mixture
from scalinglaws.simulate.cmr import simulate_cpt_curves

TOKENS = np.linspace(0.2e9, 20e9, 30)
#: Four ratios with turning points inside the tokens: the fewest a CMR law (3 parameters)
#: can be fitted through with one point to spare.
RATIOS = (0.125, 0.25, 0.5, 0.75)
N_CURVES = 2 * len(RATIOS)
SHORT = {"chains": 2, "warmup": 30, "samples": 20, "max_tree_depth": 4, "sampler": "nuts"}


@pytest.fixture(scope="module")
def sim():
    return simulate_cpt_curves(models=("460M",), ratios=RATIOS, tokens=TOKENS, noise=1e-3, seed=3)


@pytest.fixture(scope="module")
def bayes_fit(sim):
    runs, _ = sim
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_cmr(runs, uncertainty="bayes", seed=1, **SHORT)
    return fit, [str(c.message) for c in caught]


@pytest.mark.parametrize("split", ["domain", "general"])
def test_anchored_laws_are_the_paper_laws(split):
    # The sampler's parametrisation must describe exactly the same curves: the map is
    # closed-form, so agreement to float64 round-off (1e-9 on values ~0.1) is required.
    t_lo, t_hi = 0.2, 20.0
    if split == "domain":
        p = {"alpha1": -0.07, "s1": 0.14, "beta1": 0.006}
        law, alaw, fitted = domain_change_law(), domain_anchor_law(t_lo, t_hi), p
    else:
        p = {"alpha2": 0.02, "s2": 0.35, "alpha3": -0.004, "s3": 0.7, "beta2": 0.001}
        law, alaw, fitted = general_change_law(), general_anchor_law(t_lo, t_hi), general_fitted(p)
    q = anchored_from_paper(split, p, t_lo, t_hi)
    back = paper_from_anchored(split, {k: np.atleast_1d(v) for k, v in q.items()}, t_lo, t_hi)
    for k, v in p.items():
        assert back[k][0] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    t = jnp.asarray(np.geomspace(0.2, 40.0, 25))
    with jax.enable_x64(True):
        a = np.asarray(law.predict({k: jnp.asarray(v) for k, v in fitted.items()}, {"T": t}))
        b = np.asarray(alaw.predict({k: jnp.asarray(v) for k, v in q.items()}, {"T": t}))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)


def test_domain_anchor_law_is_smooth_through_zero_exponent():
    # At s1 = 0 the paper's alpha1 diverges but the anchored curve tends to the log-linear
    # interpolation; 1e-8 off zero must agree with it to ~1e-8 (first-order term).
    law = domain_anchor_law(0.2, 20.0)
    t = jnp.asarray([0.2, 2.0, 20.0, 5.0])
    with jax.enable_x64(True):
        near = np.asarray(law.predict({"d_lo": 0.0, "d_hi": -0.1, "s1": 1e-8}, {"T": t}))
        at = np.asarray(law.predict({"d_lo": 0.0, "d_hi": -0.1, "s1": 0.0}, {"T": t}))
    expect = -0.1 * np.log(np.asarray(t) / 0.2) / math.log(100.0)
    np.testing.assert_allclose(at, expect, atol=1e-12)
    np.testing.assert_allclose(near, expect, atol=1e-8)


def _plan_not_converged(fit, budgets):
    """plan_mixture on a fit whose posterior failed: it must say so as a warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_mixture(fit, budgets)
    assert any(
        issubclass(w.category, ScalingLawsWarning) and "NOT CONVERGED" in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]
    return plan


@pytest.mark.slow
def test_bayes_fit_end_to_end_carries_draws_and_diagnostics(bayes_fit):
    fit, _ = bayes_fit
    unc = fit.uncertainty
    assert unc["method"] == "bayes"
    k = SHORT["chains"] * SHORT["samples"]
    assert fit.n_draws == k == unc["n_draws"]
    assert len(fit.curve_draws) == N_CURVES
    for d in fit.curve_draws.values():
        assert all(v.shape == (k,) for v in d.values())
    diag = unc["diagnostics"]
    assert diag["n_curves"] == N_CURVES == len(diag["curves"])
    for c in diag["curves"]:
        assert set(c) >= {"model", "ratio", "split", "max_r_hat", "min_ess_bulk", "divergences"}
    # Converged means every curve posterior converged.
    assert unc["converged"] == all(c["converged"] for c in diag["curves"])
    # Draws of the CMR law exist for most draws and give a proper interval.
    plan = _plan_not_converged(fit, [5e9])
    r = plan.iloc[0]
    assert np.isfinite(r["cmr_q05"]) and r["cmr_q05"] <= r["cmr_q50"] <= r["cmr_q95"]


@pytest.mark.slow
def test_short_chains_are_labelled_not_converged_loudly(bayes_fit):
    # 2 x 20 draws cannot reach the ESS floor of 100 per chain: every curve fails.
    fit, caught = bayes_fit
    assert fit.uncertainty["converged"] is False
    assert fit.uncertainty["diagnostics"]["n_not_converged"] == N_CURVES
    assert any("NOT CONVERGED" in m for m in caught)
    assert "NOT CONVERGED" in fit.warnings[0]
    assert "POSTERIOR NOT CONVERGED" in fit.report()
    plan = _plan_not_converged(fit, [5e9])
    assert any("NOT CONVERGED" in m for m in plan.attrs["warnings"])
    # The plan describes posterior intervals, not the bootstrap's measured coverage.
    text = plan.attrs["summary"]["interval_calibration"]
    assert text.startswith("posterior NOT CONVERGED") and "NUTS posterior" in text
    assert "bootstrap" not in text


@pytest.mark.slow
def test_bayes_record_round_trip(bayes_fit, tmp_path):
    fit, _ = bayes_fit
    path = tmp_path / "bayes.json"
    save_cmr_fit(fit, path)
    back = load_cmr_fit(path)
    assert back.uncertainty["method"] == "bayes"
    assert back.uncertainty["converged"] is False
    assert back.uncertainty["diagnostics"]["n_curves"] == N_CURVES
    assert back.uncertainty["diagnostics"]["curves"][0]["split"] in ("domain", "general")
    assert back.n_draws == fit.n_draws  # 40 draws: below the record's thinning limit
    for m in fit.models:
        for key in ("alpha4", "s4", "beta3"):
            np.testing.assert_allclose(back.cmr_draws[m][key], fit.cmr_draws[m][key], rtol=1e-12)
    a = _plan_not_converged(fit, [5e9, 1e10])
    b = _plan_not_converged(back, [5e9, 1e10])
    np.testing.assert_allclose(b["cmr_q05"], a["cmr_q05"], rtol=1e-9)
    np.testing.assert_allclose(b["cmr_q95"], a["cmr_q95"], rtol=1e-9)


@pytest.mark.slow
def test_cli_bayes_json_carries_diagnostics_and_plans(sim, tmp_path, capsys):
    from scalinglaws.cli import main

    runs, _ = sim
    csv = tmp_path / "cpt.csv"
    runs.to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    args = ["fit", "cmr", str(csv), "--uncertainty", "bayes", "--samples", "20"]
    args += ["--sampler", "nuts", "--warmup", "30", "--chains", "2"]
    args += ["--quiet", "--json", "--out", str(out)]
    # Tree depth is not a CLI option; the default (6) only bounds the work per step.
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["uncertainty"]["method"] == "bayes"
    assert res["uncertainty"]["converged"] is False
    post = res["diagnostics"]["posterior"]
    assert post["n_curves"] == N_CURVES == len(post["curves"])
    assert {"max_r_hat", "min_ess_bulk", "divergences"} <= set(post)
    assert any("NOT CONVERGED" in w for w in res["warnings"])
    assert main(["plan", "mixture", str(out), "--tokens", "5e9", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    row = plan["rows"][0]
    assert row["cmr_q05"] is not None and row["cmr_q05"] <= row["cmr_q95"]


@pytest.mark.parametrize("method", ["bayes", "bootstrap"])
def test_cli_zero_samples_is_exit_2_with_one_line(sim, tmp_path, capsys, method):
    from scalinglaws.cli import main

    runs, _ = sim
    csv = tmp_path / "cpt.csv"
    runs.to_csv(csv, index=False)
    rc = main(["fit", "cmr", str(csv), "--uncertainty", method, "--samples", "0", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "samples" in err


def test_bad_bayes_options_raise():
    from scalinglaws.errors import FitError

    runs, _ = simulate_cpt_curves(
        models=("460M",), ratios=RATIOS, tokens=TOKENS, noise=1e-3, seed=3
    )
    for bad in ({"samples": 0}, {"chains": 0}, {"warmup": -1}, {"samples": 1.5}):
        with pytest.raises(FitError):
            fit_cmr(runs, uncertainty="bayes", sampler="nuts", **bad)
