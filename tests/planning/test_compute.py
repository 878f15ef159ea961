"""Compute-optimal plans against the closed form and published figures."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.fitting.result import Uncertainty


def _result(params, draws=None):
    law = sl.laws.chinchilla()
    unc = Uncertainty("bootstrap", draws) if draws is not None else Uncertainty()
    return sl.FitResult(
        law=law,
        params=dict(params),
        objective=0.0,
        status="converged",
        starts=pd.DataFrame(),
        n_runs=0,
        options={"k": 6.0},
        covariance=None,
        residuals=np.array([]),
        uncertainty=unc,
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # Issue 2 / DESIGN §3: tokens per parameter at C = 5.76e23 (Chinchilla's budget).
        (sl.laws.EPOCH_2024, 18.4),
        (sl.laws.HOFFMANN_2022, 58.9),
        (sl.laws.HOFFMANN_2022_ROUNDED, 92.6),
    ],
)
def test_published_tokens_per_param(params, expected):
    plan = sl.plan_compute(_result(params), [5.76e23])
    # The published figures have three significant digits: half a unit in the last place.
    assert plan["tokens_per_param"].iloc[0] == pytest.approx(expected, abs=0.05)


def test_closed_form_exactly():
    p = sl.laws.EPOCH_2024
    c = np.array([1e20, 1e22, 5.76e23, 1e26])
    plan = sl.plan_compute(_result(p), c)
    a, b, al, be, e = p["A"], p["B"], p["alpha"], p["beta"], p["E"]
    g = (al * a / (be * b)) ** (1 / (al + be))
    n = g * (c / 6) ** (be / (al + be))
    d = (c / 6) ** (al / (al + be)) / g
    # Same formula, different association order: float64 rounding only.
    np.testing.assert_allclose(plan["N_opt"], n, rtol=1e-12)
    np.testing.assert_allclose(plan["D_opt"], d, rtol=1e-12)
    np.testing.assert_allclose(plan["loss"], e + a / n**al + b / d**be, rtol=1e-12)


def test_n_opt_minimises_loss_on_the_isoflop_line():
    p = sl.laws.HOFFMANN_2022
    res = _result(p)
    c = 1e22
    n_opt = sl.plan_compute(res, [c])["N_opt"].iloc[0]
    ns = n_opt * np.exp(np.linspace(-0.5, 0.5, 201))
    losses = res.predict(N=ns, D=c / (6 * ns))
    # The grid's best point is the centre (the closed-form optimum), to one grid step.
    assert abs(int(np.argmin(losses)) - 100) <= 1


def test_inverse_round_trips_and_refuses_below_e():
    res = _result(sl.laws.EPOCH_2024)
    plan = sl.plan_compute(res, [1e21, 1e24])
    inv = sl.compute_for_loss(res, plan["loss"].to_numpy())
    # Closed-form inverse of a closed form: rounding error only.
    np.testing.assert_allclose(inv["C"], [1e21, 1e24], rtol=1e-10)
    with pytest.raises(sl.PlanError, match="at or below the fitted irreducible loss"):
        sl.compute_for_loss(res, [1.8])


def test_fixed_params_and_fixed_tokens_invert_the_frontier():
    res = _result(sl.laws.HOFFMANN_2022)
    plan = sl.plan_compute(res, [1e23])
    n, d = plan["N_opt"].iloc[0], plan["D_opt"].iloc[0]
    fp = sl.plan_fixed_params(res, [n])
    ft = sl.plan_fixed_tokens(res, [d])
    # Inverting the frontier's power law: rounding only.
    assert fp["D_opt"].iloc[0] == pytest.approx(d, rel=1e-10)
    assert ft["N_opt"].iloc[0] == pytest.approx(n, rel=1e-10)
    # D needed for a target loss with a fixed N: plugging it back gives the target.
    target = 2.0
    dt = sl.plan_fixed_params(res, [n], target_loss=target)["D_for_target"].iloc[0]
    assert float(res.predict(N=n, D=dt)) == pytest.approx(target, rel=1e-12)
    with pytest.raises(sl.PlanError, match="choose a larger model"):
        sl.plan_fixed_params(res, [1e6], target_loss=1.9)
    with pytest.raises(sl.PlanError, match="more data is needed"):
        sl.plan_fixed_tokens(res, [1e8], target_loss=1.9)


def test_quantile_columns_from_draws():
    rng = np.random.default_rng(0)
    base = sl.laws.EPOCH_2024
    draws = {k: v * np.exp(0.01 * rng.standard_normal(500)) for k, v in base.items()}
    plan = sl.plan_compute(_result(base, draws), [1e22, 1e24])
    for col in ("N_opt_q05", "N_opt_q50", "N_opt_q95", "tokens_per_param_q05", "loss_q95"):
        assert col in plan.columns
    assert np.all(plan["N_opt_q05"] < plan["N_opt_q50"])
    assert np.all(plan["N_opt_q50"] < plan["N_opt_q95"])
    # Per-draw values are the closed form of each draw: check the median by brute force.
    al, be, a, b = (draws[k] for k in ("alpha", "beta", "A", "B"))
    g = (al * a / (be * b)) ** (1 / (al + be))
    tpp = (1e24 / 6) / (g * (1e24 / 6) ** (be / (al + be))) ** 2
    assert plan["tokens_per_param_q50"].iloc[1] == pytest.approx(np.median(tpp), rel=1e-12)


def test_bad_budgets_and_non_chinchilla_law():
    res = _result(sl.laws.EPOCH_2024)
    with pytest.raises(sl.PlanError, match="budget #2 is -1; it must be a positive number"):
        sl.plan_compute(res, [1e21, -1])
    # A law of the same parameters that does not declare the frontier is refused.
    other = dataclasses.replace(res, law=dataclasses.replace(res.law, derived={}))
    with pytest.raises(sl.PlanError, match="Chinchilla-form law"):
        sl.plan_compute(other, [1e21])
