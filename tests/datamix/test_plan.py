"""The mixture plan and the mixture proposals: optimum, constraints, uncertainty, errors."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from scalinglaws.datamix import fit_datamix, load_mixture_runs
from scalinglaws.datamix.plan import plan_data_mixture, plan_to_json, resolve_bounds
from scalinglaws.datamix.propose import propose_mixtures
from scalinglaws.errors import PlanError
from scalinglaws.simulate.datamix import random_truth, simulate_mixture_runs

N = 1e8
# With 96 proxies at noise sd 1e-4 on log loss, the fitted law's parameters are within
# ~1e-3 of the truth; the optimal weights move by about the same, so 0.02 per weight
# (and 1e-5 relative in the target) is a loose, but discriminating, tolerance: a wrong
# projection or a stuck solver is off by 0.1 or more.
WEIGHT_TOL = 0.02
LOSS_RTOL = 1e-5
FEW_DRAWS = 100


@pytest.fixture(scope="module")
def study():
    truth = random_truth(3, seed=4)
    frame = simulate_mixture_runs(truth, sizes=(N,), n_per_size=96, noise=1e-4, seed=4)
    with jax.enable_x64(True):
        fit = fit_datamix(load_mixture_runs(frame), model="mixing", samples=300)
    return truth, fit


@pytest.fixture(scope="module")
def plain(study):
    _, fit = study
    return plan_data_mixture(fit, baseline="uniform", n_draws=FEW_DRAWS)


def _true_loss(truth, w):
    return float(truth.loss(np.asarray(w, dtype=float), N).mean())


def test_optimum_matches_truth(study, plain):
    truth, _ = study
    opt = truth.optimum("mean", N=N)
    np.testing.assert_allclose(plain["weight"].to_numpy(), opt.r, atol=WEIGHT_TOL)
    assert _true_loss(truth, plain["weight"]) <= opt.loss * (1 + LOSS_RTOL)
    assert plain["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert list(plain.columns) == [
        "domain",
        "weight",
        "lo",
        "hi",
        "baseline",
        "min",
        "max",
        "binding",
    ]
    s = plain.attrs["summary"]
    assert 0.0 <= s["p_beats_baseline"] <= 1.0
    assert 0.0 <= s["stability"] <= 1.0
    assert s["predicted"]["lo"] <= s["predicted"]["target"] <= s["predicted"]["hi"]
    assert s["predicted"]["pred_lo"] <= s["predicted"]["lo"]
    assert any("one scale" in w for w in plain.attrs["warnings"])  # the transfer note
    out = plan_to_json(plain)
    json.dumps(out, allow_nan=False)
    assert set(out) == {"rows", "summary", "warnings"} and len(out["rows"]) == 3


def test_bad_vertex_baseline_is_beaten(study):
    truth, fit = study
    opt = truth.optimum("mean", N=N)
    worst = int(np.argmin(opt.r))  # the vertex of the least useful domain
    base = {d: float(j == worst) for j, d in enumerate(fit.training_domains)}
    plan = plan_data_mixture(fit, baseline=base, n_draws=FEW_DRAWS)
    assert plan.attrs["summary"]["p_beats_baseline"] > 0.99


def test_max_weight_binds(study, plain):
    truth, fit = study
    top = plain["domain"][plain["weight"].idxmax()]
    cap = round(float(plain["weight"].max()) - 0.15, 3)
    plan = plan_data_mixture(fit, max_weight={top: cap}, n_draws=FEW_DRAWS)
    row = plan.set_index("domain").loc[top]
    assert row["weight"] == pytest.approx(cap, abs=1e-9)
    assert row["binding"] == "max_weight" and row["max"] == cap
    assert f"max_weight[{top}]" in plan.attrs["summary"]["binding"]
    opt = truth.optimum("mean", N=N, constraints={top: (None, cap)})
    np.testing.assert_allclose(plan["weight"].to_numpy(), opt.r, atol=WEIGHT_TOL)


def test_min_weight_and_supply(study, plain):
    _, fit = study
    low = plain["domain"][plain["weight"].idxmin()]
    floor = round(float(plain["weight"].min()) + 0.1, 3)
    plan = plan_data_mixture(fit, min_weight={low: floor}, n_draws=FEW_DRAWS)
    row = plan.set_index("domain").loc[low]
    assert row["weight"] == pytest.approx(floor, abs=1e-9) and row["binding"] == "min_weight"
    # supply: 2e9 tokens of the top domain, 1 epoch, a 1e10-token run -> weight <= 0.2
    top = plain["domain"][plain["weight"].idxmax()]
    plan = plan_data_mixture(
        fit, available={top: 2e9}, tokens=1e10, max_epochs=1.0, n_draws=FEW_DRAWS
    )
    row = plan.set_index("domain").loc[top]
    assert row["max"] == pytest.approx(0.2) and row["weight"] == pytest.approx(0.2, abs=1e-9)
    assert row["binding"] == "supply"
    b = resolve_bounds(("a", "b"), available={"a": 1e9}, tokens=1e10, max_epochs=4)
    assert b.hi[0] == pytest.approx(0.4) and b.hi[1] == 1.0


def test_infeasible_sets_name_the_conflict():
    doms = ("web", "code", "books")
    with pytest.raises(PlanError, match=r"min_weight sums to 1\.2"):
        resolve_bounds(doms, min_weight={"web": 0.6, "code": 0.6})
    with pytest.raises(PlanError, match=r"upper bounds .* sum to 0\.9"):
        resolve_bounds(doms, max_weight=0.3)
    with pytest.raises(PlanError, match=r"min_weight\[web\]=0\.5 is above max_weight\[web\]=0\.3"):
        resolve_bounds(doms, min_weight={"web": 0.5}, max_weight={"web": 0.3})
    with pytest.raises(PlanError, match=r"min_weight\[web\]=0\.5 is above its supply bound"):
        resolve_bounds(doms, min_weight={"web": 0.5}, available={"web": 1e9}, tokens=1e10)
    with pytest.raises(PlanError, match="tokens bounds the weights only with available"):
        resolve_bounds(doms, tokens=1e10)


def test_bad_options(study):
    _, fit = study
    with pytest.raises(PlanError, match=r"max_weight names \['nope'\]"):
        plan_data_mixture(fit, max_weight={"nope": 0.5})
    with pytest.raises(PlanError, match="baseline"):
        plan_data_mixture(fit, baseline={"nope": 1.0})
    with pytest.raises(PlanError, match="natural"):
        plan_data_mixture(fit, baseline="natural")
    with pytest.raises(PlanError, match="objective"):
        plan_data_mixture(fit, objective="best")
    with pytest.raises(PlanError, match="one scale"):  # one-scale fit, another N
        plan_data_mixture(fit, N=4 * N)


@pytest.mark.slow
def test_ceiling_holds_at_the_optimum(study, plain):
    truth, fit = study
    base = {d: 1 / 3 for d in fit.training_domains}
    plan = plan_data_mixture(fit, baseline=base, ceiling=0.002, n_draws=FEW_DRAWS)
    c = plan.attrs["summary"]["constraints"]["ceiling"]
    assert c["satisfied"] and c["largest_excess"] <= 1e-9
    # check against the fitted surfaces directly
    pred = fit.predict(
        np.vstack([plan["weight"].to_numpy(), np.full(3, 1 / 3)]), per_domain=True, n_draws=50
    )
    doms = list(fit.domains)
    assert np.all(pred.loc[0, doms].to_numpy() <= 1.002 * pred.loc[1, doms].to_numpy() * (1 + 1e-9))
    # the unconstrained optimum breaks this ceiling (so the ceiling really constrains)
    unc = fit.predict(
        np.vstack([plain["weight"].to_numpy(), np.full(3, 1 / 3)]), per_domain=True, n_draws=50
    )
    assert np.any(unc.loc[0, doms].to_numpy() > 1.002 * unc.loc[1, doms].to_numpy())
    assert c["binding"]


@pytest.mark.slow
def test_proposals_respect_constraints_and_repeat(study):
    _, fit = study
    cap = {fit.training_domains[0]: 0.25}
    floor = {fit.training_domains[1]: 0.1}
    a = propose_mixtures(
        fit, 4, max_weight=cap, min_weight=floor, n_candidates=300, n_draws=FEW_DRAWS
    )
    w = a[list(fit.training_domains)].to_numpy()
    assert w.shape == (4, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(w[:, 0] <= 0.25 + 1e-12) and np.all(w[:, 1] >= 0.1 - 1e-12) and np.all(w >= 0)
    assert len(np.unique(np.round(w, 6), axis=0)) == 4
    assert a["why"].str.len().min() > 0
    b = propose_mixtures(
        fit, 4, max_weight=cap, min_weight=floor, n_candidates=300, n_draws=FEW_DRAWS
    )
    np.testing.assert_array_equal(w, b[list(fit.training_domains)].to_numpy())


@pytest.mark.slow
def test_nested_plan_beyond_proxies():
    truth = random_truth(4, seed=2)
    frame = simulate_mixture_runs(truth, sizes=(2e7, 5e7, 1e8), n_per_size=48, noise=0.002, seed=2)
    with jax.enable_x64(True):
        fit = fit_datamix(load_mixture_runs(frame), model="mixing", samples=300)
    plan = plan_data_mixture(fit, N=4e8, n_draws=FEW_DRAWS)
    opt = truth.optimum("mean", N=4e8)
    assert _true_loss_at(truth, plan["weight"], 4e8) <= opt.loss * (1 + 1e-3)
    assert any("extrapolated" in w for w in plan.attrs["warnings"])
    with pytest.raises(PlanError, match="give the model size N"):
        plan_data_mixture(fit)
    q = plan_data_mixture(fit, N=4e8, objective="quantile", n_draws=FEW_DRAWS)
    assert q["weight"].sum() == pytest.approx(1.0, abs=1e-12)


def _true_loss_at(truth, w, n):
    return float(truth.loss(np.asarray(w, dtype=float), n).mean())
