"""The compute-optimal frontier of the Chinchilla form, as pure functions in ``laws/``."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.laws.chinchilla import (
    best_params_for_tokens,
    best_tokens_for_params,
    compute_for_loss,
    compute_optimal,
    frontier_coefficient,
    frontier_exponents,
    frontier_for_loss,
    loss_at,
    optimal_loss,
    params_for_loss,
    tokens_for_loss,
    tokens_per_param,
)

HOFF = sl.laws.HOFFMANN_2022
CHINCHILLA_C = 5.76e23  # Chinchilla's own training budget (Hoffmann et al. 2022)


def _by_hand(p, c, k=6.0):
    """The frontier in plain float arithmetic, direct (not log) form."""
    s = p["alpha"] + p["beta"]
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / s)
    n = g * (c / k) ** (p["beta"] / s)
    d = (c / k) ** (p["alpha"] / s) / g
    return n, d, p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def test_frontier_at_chinchillas_budget_by_hand():
    n, d = compute_optimal(HOFF, CHINCHILLA_C)
    n_hand, d_hand, loss_hand = _by_hand(HOFF, CHINCHILLA_C)
    # Log form against the direct form in float64: rounding of a few ulps per operation.
    assert float(n) == pytest.approx(n_hand, rel=1e-12)
    assert float(d) == pytest.approx(d_hand, rel=1e-12)
    assert float(optimal_loss(HOFF, CHINCHILLA_C)) == pytest.approx(loss_hand, rel=1e-12)
    # By hand with 5-digit logs: G = (137.84 / 117.02)^(1/0.62408) = 1.3000, a = 0.45653,
    # ln(C/6) = 52.919, so N_opt = 1.3000 e^(0.45653 * 52.919) = 40.4B and D_opt = 2.38T:
    # 58.9 tokens per parameter (DESIGN section 3). Three significant digits: 5e-3.
    assert float(n) == pytest.approx(4.04e10, rel=5e-3)
    assert float(d) == pytest.approx(2.38e12, rel=5e-3)
    assert float(tokens_per_param(HOFF, CHINCHILLA_C)) == pytest.approx(58.9, abs=0.05)
    a, b = frontier_exponents(HOFF)
    assert float(a) == pytest.approx(0.28491 / 0.62408, rel=1e-12)
    assert float(a + b) == pytest.approx(1.0, rel=1e-15)
    assert float(frontier_coefficient(HOFF)) == pytest.approx(1.3000, abs=5e-5)


@pytest.mark.parametrize("params", [HOFF, sl.laws.EPOCH_2024], ids=["hoffmann", "epoch"])
@pytest.mark.parametrize("budget", [1e20, CHINCHILLA_C, 1e26])
def test_loss_is_stationary_along_the_isoflop_line_at_the_optimum(params, budget):
    # L(u) = loss at N = e^u, D = C / (k e^u): dL/du = 0 and d2L/du2 > 0 at u = log N_opt.
    def loss_on_line(u):
        return loss_at(params, jnp.exp(u), budget / (6.0 * jnp.exp(u)))

    u0 = jnp.log(compute_optimal(params, budget)[0])
    slope = float(jax.grad(loss_on_line)(u0))
    curvature = float(jax.grad(jax.grad(loss_on_line))(u0))
    # Scale of the two opposing terms of the slope: alpha A N^-alpha (each ~1e-2 here).
    term = float(params["alpha"] * params["A"] * jnp.exp(-params["alpha"] * u0))
    # Cancellation of two float64 terms of size `term`: a few ulps of it.
    assert abs(slope) < 1e-12 * term
    assert curvature > 0.1 * term
    # Off the optimum the slope is clearly non-zero (the check above can fail).
    assert abs(float(jax.grad(loss_on_line)(u0 + 0.1))) > 1e-3 * term


def test_inverses_round_trip():
    c = np.array([1e20, 1e22, CHINCHILLA_C, 1e26])
    n, d = compute_optimal(HOFF, c)
    loss = optimal_loss(HOFF, c)
    n_back, d_back = frontier_for_loss(HOFF, loss)
    # Closed-form inverse of a closed form; (L - E) loses ~1e-15/(L-E) relative: 1e-10.
    np.testing.assert_allclose(n_back, n, rtol=1e-10)
    np.testing.assert_allclose(d_back, d, rtol=1e-10)
    np.testing.assert_allclose(compute_for_loss(HOFF, loss), c, rtol=1e-10)
    np.testing.assert_allclose(best_tokens_for_params(HOFF, n), d, rtol=1e-12)
    np.testing.assert_allclose(best_params_for_tokens(HOFF, d), n, rtol=1e-12)
    d_need = tokens_for_loss(HOFF, n, loss)
    n_need = params_for_loss(HOFF, d, loss)
    np.testing.assert_allclose(d_need, d, rtol=1e-9)
    np.testing.assert_allclose(n_need, n, rtol=1e-9)


def test_unreachable_targets_are_nan():
    assert math.isnan(float(compute_for_loss(HOFF, HOFF["E"])))
    assert math.isnan(float(compute_for_loss(HOFF, 1.0)))
    # 1e6 parameters cannot reach 1.9 on any amount of data; 1e8 tokens on any model.
    assert math.isnan(float(tokens_for_loss(HOFF, 1e6, 1.9)))
    assert math.isnan(float(params_for_loss(HOFF, 1e8, 1.9)))
    bad = dict(HOFF, alpha=-0.1)
    assert np.all(np.isnan(np.asarray(compute_optimal(bad, 1e22))))


def test_broadcasts_over_draws_and_is_jit_vmap_safe():
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(0.01 * rng.standard_normal(50))[:, None] for k, v in HOFF.items()}
    c = np.array([1e21, 1e23, 1e25])
    n, d = compute_optimal(draws, c)
    assert n.shape == d.shape == (50, 3)
    one = {k: float(v[7, 0]) for k, v in draws.items()}
    np.testing.assert_allclose(n[7], compute_optimal(one, c)[0], rtol=1e-14)
    flat = {k: jnp.asarray(v[:, 0]) for k, v in draws.items()}
    jitted = jax.jit(optimal_loss)(flat, 1e23)
    mapped = jax.vmap(lambda p: optimal_loss(p, 1e23))(flat)
    np.testing.assert_allclose(jitted, mapped, rtol=1e-14)
    np.testing.assert_allclose(mapped, optimal_loss(draws, 1e23)[:, 0], rtol=1e-14)


def test_laws_declare_the_frontier_and_avgparams_shares_it():
    for law in (sl.laws.chinchilla(), sl.laws.avgparams()):
        assert law.has("compute_optimal", "compute_for_loss", "best_tokens_for_params")
        assert law.derived_fn("compute_optimal") is compute_optimal
    assert sl.laws.avgparams().derived_fn("inputs")(1.0, 2.0) == {"N_avg": 1.0, "D": 2.0}
    assert sl.laws.chinchilla().derived_fn("inputs")(1.0, 2.0) == {"N": 1.0, "D": 2.0}
    assert not sl.laws.cmr_law().has("compute_optimal")
    with pytest.raises(sl.ScalingLawsError, match="'cmr' does not provide 'compute_optimal'"):
        sl.laws.cmr_law().derived_fn("compute_optimal")
