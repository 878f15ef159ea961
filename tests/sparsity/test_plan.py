"""Sparsity plans: consistency of every row, targets, intervals from draws, refusals."""

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.errors import PlanError
from scalinglaws.fitting.result import FitResult
from scalinglaws.laws.avgparams import avgparams
from scalinglaws.laws.chinchilla import HOFFMANN_2022, chinchilla, compute_optimal, optimal_loss
from scalinglaws.planning.sparsity import plan_sparsity
from scalinglaws.sparsity import continuous_average_density

SPARSITIES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)


def _result(law=None, params=HOFFMANN_2022, draws=None, status="converged"):
    """A FitResult holding known parameters (plans only read params, k, uncertainty)."""
    law = law or avgparams()
    unc = sl.Uncertainty("bootstrap", draws) if draws else sl.Uncertainty()
    return FitResult(
        law=law, params=dict(params), objective=0.0, status=status, starts=pd.DataFrame(),
        n_runs=60, options={"k": 6.0}, covariance=None, residuals=np.zeros(1), uncertainty=unc,
    )  # fmt: skip


def test_every_row_is_consistent():
    plan = plan_sparsity(_result(), 1e22, SPARSITIES)
    assert list(plan["sparsity"]) == list(SPARSITIES)
    # The plan's C is 6 N_avg D with N_avg and D taken from the law's frontier, whose two
    # closed forms must spend exactly the budget (float rounding only: 1e-12).
    np.testing.assert_allclose(plan["C"], 1e22, rtol=1e-12)
    # One N_avg and D per budget, hence one predicted loss for every sparsity.
    assert plan["N_avg"].nunique() == 1 and plan["D"].nunique() == 1
    assert plan["loss"].nunique() == 1
    # N0 rho = N_avg and N_final = (1 - s) N0 (float tolerance).
    np.testing.assert_allclose(plan["N0"] * plan["average_density"], plan["N_avg"], rtol=1e-12)
    np.testing.assert_allclose(plan["N_final"], (1 - plan["sparsity"]) * plan["N0"], rtol=1e-12)
    # The deployed size falls (and the dense size grows) as sparsity rises.
    assert np.all(np.diff(plan["N_final"]) < 0)
    assert np.all(np.diff(plan["N0"]) > 0)
    np.testing.assert_allclose(
        plan["inference_flops_saved"], 1 - plan["N_final"] / plan["N_avg"], rtol=1e-12
    )
    # Each event prunes p = 1 - (1 - s)^(1/K).
    sparse = plan[plan["sparsity"] > 0]
    np.testing.assert_allclose(
        sparse["prune_fraction_per_event"],
        1 - (1 - sparse["sparsity"]) ** (1 / sparse["events"]),
        rtol=1e-12,
    )


def test_budget_point_is_the_compute_optimum():
    plan = plan_sparsity(_result(), 1e22, [0.5])
    n_opt, d_opt = compute_optimal(HOFFMANN_2022, 1e22)
    # The law's own frontier (checked by hand in tests/laws/test_derived.py), evaluated
    # the same way: float64 rounding only.
    assert plan["N_avg"].iloc[0] == pytest.approx(float(n_opt), rel=1e-12)
    assert plan["D"].iloc[0] == pytest.approx(float(d_opt), rel=1e-12)
    loss = optimal_loss(HOFFMANN_2022, 1e22)
    assert plan["loss"].iloc[0] == pytest.approx(float(loss), rel=1e-12)


def test_average_density_is_near_the_continuous_limit():
    plan = plan_sparsity(_result(), 1e22, [0.2, 0.4, 0.6, 0.8])
    assert len(plan) == 4  # the loop below must see every requested sparsity
    # ~53,000 steps with events every 100: discretisation error O(f/T + 1/K) ~ 2e-3.
    for s, rho in zip(plan["sparsity"], plan["average_density"], strict=True):
        assert rho == pytest.approx(float(continuous_average_density(s)), abs=3e-3)
    # The deployed model keeps about half the average count at s = 0.8 (DESIGN §4).
    assert plan["inference_flops_saved"].iloc[-1] == pytest.approx(0.5, abs=0.01)


def test_loss_quantiles_from_draws():
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(0.02 * rng.standard_normal(1000)) for k, v in HOFFMANN_2022.items()}
    plan = plan_sparsity(_result(draws=draws), 1e22, [0.0, 0.8])
    assert {"loss_q05", "loss_q50", "loss_q95"} <= set(plan.columns)
    row = plan.iloc[0]
    assert row["loss_q05"] < row["loss_q50"] < row["loss_q95"]
    # Draws centred on the point fit: the median lies within the 90% interval's middle.
    assert row["loss_q05"] < row["loss"] < row["loss_q95"]
    np.testing.assert_array_equal(plan["loss_q05"], plan["loss_q05"].iloc[0])
    assert "loss_q05" not in plan_sparsity(_result(), 1e22, [0.5]).columns


def test_target_size_reaches_the_deployed_size():
    base = plan_sparsity(_result(), 1e22, [0.0]).iloc[0]
    target = 0.6 * base["N_avg"]
    plan = plan_sparsity(_result(), 1e22, target_size=target)
    assert len(plan) == 1
    # Secant steps on the discrete schedule: converged to 1e-9 relative or better,
    # limited by the lattice of start/end steps, which jumps the size by < 1e-3.
    assert plan["N_final"].iloc[0] == pytest.approx(target, rel=1e-3)
    assert 0 < plan["sparsity"].iloc[0] < 1
    with pytest.raises(PlanError, match="out of reach"):
        plan_sparsity(_result(), 1e22, target_size=0.1 * base["N_avg"])


def test_target_loss_alone_and_within_a_budget():
    alone = plan_sparsity(_result(), None, [0.0, 0.8], target_loss=2.2)
    assert alone["loss"].iloc[0] == pytest.approx(2.2, rel=1e-12)
    within = plan_sparsity(_result(), 10 * alone["C"].iloc[0], [0.0, 0.8], target_loss=2.2)
    # Same loss, more compute: a smaller N_avg trained on more tokens (root found to 1e-12).
    assert within["loss"].iloc[0] == pytest.approx(2.2, rel=1e-9)
    assert within["N_avg"].iloc[0] < alone["N_avg"].iloc[0]
    with pytest.raises(PlanError, match="irreducible loss"):
        plan_sparsity(_result(), 1e22, target_loss=1.5)
    with pytest.raises(PlanError, match="below the best loss"):
        plan_sparsity(_result(), 1e18, target_loss=2.2)


def test_steps_options():
    plan = plan_sparsity(_result(), 1e22, [0.5], total_steps=20_000, interval=50)
    row = plan.iloc[0]
    assert row["total_steps"] == 20_000 and row["start_step"] % 50 == 0
    assert row["tokens_per_step"] * 20_000 == pytest.approx(row["D"], rel=1e-12)
    with pytest.raises(PlanError, match="too few"):
        plan_sparsity(_result(), 1e22, [0.5], total_steps=300)
    with pytest.raises(PlanError, match="not both"):
        plan_sparsity(_result(), 1e22, [0.5], total_steps=300, tokens_per_step=1e6)


def test_refusals_and_warnings():
    with pytest.raises(PlanError, match=r"\[0, 1\)"):
        plan_sparsity(_result(), 1e22, [0.5, 1.0])
    with pytest.raises(PlanError, match="budget"):
        plan_sparsity(_result(), -1.0, [0.5])
    with pytest.raises(PlanError, match="give a compute budget"):
        plan_sparsity(_result(), None, [0.5])
    dense = plan_sparsity(_result(law=chinchilla()), 1e22, [0.5])
    assert any("dense model sizes" in w for w in dense.attrs["warnings"])
    bad = plan_sparsity(_result(status="max_iter"), 1e22, [0.5])
    assert any("did not converge" in w for w in bad.attrs["warnings"])


@pytest.mark.slow
def test_plan_from_a_real_fit_carries_its_data_warning():
    from scalinglaws.simulate.sparse import simulate_sparse_runs, sparse_design
    from scalinglaws.sparsity import load_sparse_runs

    # The same design shape as test_avgparams.py, so the compiled fit is reused.
    design = sparse_design([1e18, 1e19, 1e20, 1e21], sparsities=(0.0, 0.5, 0.8), n_per_budget=5)
    runs = load_sparse_runs(simulate_sparse_runs(HOFFMANN_2022, design, noise=0.0))
    result = sl.fit(avgparams(), runs)
    plan = plan_sparsity(result, 1e23, [0.0, 0.8])
    assert any("extrapolation" in w for w in plan.attrs["warnings"])
    assert plan.attrs["summary"]["law"] == "avgparams"


@pytest.mark.slow
def test_plan_with_bootstrap_draws_from_a_mixed_fit():
    from scalinglaws.simulate.sparse import simulate_sparse_runs, sparse_design
    from scalinglaws.sparsity import load_sparse_runs
    from scalinglaws.uncertainty import bootstrap

    design = sparse_design([1e18, 1e19, 1e20, 1e21], sparsities=(0.0, 0.5, 0.8), n_per_budget=5)
    runs = load_sparse_runs(simulate_sparse_runs(HOFFMANN_2022, design, noise=0.005, seed=3))
    result = bootstrap(sl.fit(avgparams(), runs), n=200, seed=0)
    plan = plan_sparsity(result, 1e22, [0.0, 0.8])
    row = plan.iloc[0]
    assert row["loss_q05"] < row["loss"] < row["loss_q95"]
    truth = plan_sparsity(_result(), 1e22, [0.0])
    true_loss_at_plan = (
        HOFFMANN_2022["E"]
        + HOFFMANN_2022["A"] * row["N_avg"] ** -HOFFMANN_2022["alpha"]
        + HOFFMANN_2022["B"] * row["D"] ** -HOFFMANN_2022["beta"]
    )
    # One seeded replicate: the 90% interval should hold the true loss of this plan
    # (coverage over many replicates is measured in bench/bench_sparsity_coverage.py).
    assert row["loss_q05"] <= true_loss_at_plan <= row["loss_q95"]
    # 10x beyond the largest run at 0.5% noise: the interval is narrow (< 0.1 nats) and
    # the point plan's N_avg is within 30% of the true optimum.
    assert row["loss_q95"] - row["loss_q05"] < 0.1
    assert row["N_avg"] == pytest.approx(truth["N_avg"].iloc[0], rel=0.3)
