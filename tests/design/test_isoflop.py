"""isoFLOP-structured designs: the engine's group quotas, design_runs(isoflop=True), the
CLI's --isoflop, and the isoFLOP surface that carries q = Approach 2's exponent a."""

import json

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.design import Ensemble, design_runs, select_batch
from scalinglaws.design.isoflop import (
    SURFACE_PARAMS,
    approach2_ensemble,
    fit_surface,
    surface_log_loss,
)
from scalinglaws.errors import PlanError, ScalingLawsError


def random_ensemble(seed=0, draws=300, candidates=12):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((draws, 3))
    x = np.linspace(-1, 1, candidates)
    pred = theta[:, :1] + theta[:, 1:2] * x + 0.5 * theta[:, 2:3] * x**2
    return Ensemble(quantity=theta[:, 1] + theta[:, 2], predictions=pred, noise=0.3)


def test_group_quota_caps_picks_per_group_and_default_is_unchanged():
    ens = random_ensemble()
    cost = np.ones(12)
    groups = np.repeat([0, 1, 2], 4)
    sel = select_batch(ens, cost, budget=12, k=6, groups=groups, per_group=2)
    assert sel.picks.size == 6
    assert np.bincount(groups[sel.picks], minlength=3).max() <= 2
    # One group per candidate with a quota of k is no constraint: the same batch as none.
    plain = select_batch(ens, cost, budget=12, k=5)
    free = select_batch(ens, cost, budget=12, k=5, groups=np.arange(12), per_group=5)
    np.testing.assert_array_equal(plain.picks, free.picks)
    with pytest.raises(ScalingLawsError, match="per_group needs groups"):
        select_batch(ens, cost, budget=12, k=5, per_group=2)
    with pytest.raises(ScalingLawsError, match="one label per candidate"):
        select_batch(ens, cost, budget=12, k=5, groups=[0, 1], per_group=2)


def test_isoflop_design_chooses_budgets_then_sizes(sim_fit):
    kwargs = dict(target=1e24, study_budget=2.1e20, k=10, quantity="tokens_per_param", isoflop=True)
    df = design_runs(sim_fit, **kwargs)
    iso = df.attrs["isoflop"]
    chosen = np.asarray(iso["budgets_chosen"])
    assert 1 <= chosen.size <= 10 // iso["sizes_per_budget"]
    assert set(chosen) <= set(iso["budgets_considered"])
    # Every run sits on a chosen budget, at most sizes_per_budget per budget.
    c = df["C"].to_numpy()
    assert np.all(np.isclose(c[:, None], chosen[None, :], rtol=1e-9).any(axis=1))
    _, counts = np.unique(np.round(np.log(c), 9), return_counts=True)
    assert counts.max() <= iso["sizes_per_budget"]
    # C = 6 N D to rounding (1e-12 relative: D is computed as C / (6 N)).
    np.testing.assert_allclose(c, 6 * df["N"] * df["D"], rtol=1e-12)
    assert df["cost_so_far"].iloc[-1] <= 2.1e20 * (1 + 1e-12)
    assert np.all(np.diff(df["expected_width"]) < 0) and (df["width_ratio"] < 1).all()
    # Reproducible with the same seed.
    again = design_runs(sim_fit, **kwargs)
    pd.testing.assert_frame_equal(df, again)


def test_isoflop_design_limits_and_errors(sim_fit):
    df = design_runs(
        sim_fit,
        target=1e24,
        study_budget=2.1e20,
        k=6,
        quantity="log_n_opt",
        isoflop=True,
        isoflop_budgets=[1e19, 2e19, 3e19],
        sizes_per_budget=3,
        max_params=5e8,
    )
    assert set(np.round(df["C"].to_numpy() / 1e19, 9)) <= {1.0, 2.0, 3.0}
    assert (df["N"] <= 5e8 * (1 + 1e-12)).all()
    with pytest.raises(PlanError, match="needs k >= 5"):
        design_runs(sim_fit, target=1e24, study_budget=2.1e20, k=4, isoflop=True)
    with pytest.raises(PlanError, match="does not pay for one isoFLOP slice"):
        design_runs(
            sim_fit, target=1e24, study_budget=1e19, k=5, isoflop=True, isoflop_budgets=[1e19]
        )


def test_cli_isoflop(sim_fit, tmp_path, capsys):
    record = tmp_path / "fit.json"
    sl.save_fit(sim_fit, record)
    code = main(
        [
            "design",
            str(record),
            "--target-compute",
            "1e24",
            "--study-budget",
            "2.1e20",
            "--n",
            "6",
            "--isoflop",
            "--sizes-per-budget",
            "3",
            "--json",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out)
    assert payload["summary"]["isoflop"]["sizes_per_budget"] == 3
    assert 1 <= len(payload["rows"]) <= 6


def surface_runs(theta, budgets, sizes=9, noise=0.002, seed=0, c_ref=1e18):
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        u = np.log(c / c_ref)
        centre = theta[5] + theta[6] * u
        for x in np.linspace(centre - 1.5, centre + 1.5, sizes):
            y = surface_log_loss(theta, np.array([x]), np.array([u]))[0]
            rows.append({"N": np.exp(x), "C": c, "loss": np.exp(y + noise * rng.standard_normal())})
    return pd.DataFrame(rows)


TRUE_SURFACE = np.array([1.2, -0.05, 0.001, 0.06, 0.002, np.log(3e7), 0.5])


def test_surface_recovers_the_vertex_exponent():
    runs = surface_runs(TRUE_SURFACE, np.geomspace(1e16, 1e19, 8))
    s = fit_surface(runs, c_ref=1e18)
    assert s.converged and s.theta.size == len(SURFACE_PARAMS)
    lo, hi = s.interval(0.9)
    # Noise sd 0.002 on 72 runs: the Laplace sd of a is ~0.003; 0.02 is over 5 sd.
    assert abs(s.a - 0.5) < 0.02
    assert lo < 0.5 < hi
    # The residual sd estimates the noise (within 30%: 65 degrees of freedom).
    assert 0.0014 < s.sigma < 0.0026


def test_approach2_ensemble_feeds_the_engine():
    runs = surface_runs(TRUE_SURFACE, np.geomspace(1e16, 1e18, 5))
    s = fit_surface(runs, c_ref=1e18)
    cand = surface_runs(TRUE_SURFACE, [1e19, 1e17], sizes=5, seed=1)[["N", "C"]]
    ens = approach2_ensemble(s, cand, n_draws=400, seed=0)
    assert ens.quantity.shape == (400,) and ens.predictions.shape == (400, 10, 1)
    # Draws of a centre on the fit (Monte Carlo: 400 draws, 5 sd of the mean ~ 0.25 sd).
    assert abs(np.mean(ens.quantity) - s.a) < 0.25 * np.std(ens.quantity)
    sel = select_batch(ens, cand["C"].to_numpy(), budget=5e19, k=3)
    # A run at the new, larger budget says more about the exponent than one inside the
    # sampled range: the first pick is on the 1e19 slice.
    assert cand["C"].to_numpy()[sel.picks[0]] == 1e19
    assert sel.width_after[-1] < sel.width_now
