"""The law-agnostic design engine: exact Gaussian algebra, importance agreement, batches."""

import numpy as np
import pytest

from scalinglaws.design.engine import Ensemble, score, select_batch
from scalinglaws.errors import ScalingLawsError


def linear_ensemble(n_draws=4000, n_candidates=30, outputs=1, seed=0):
    """Draws theta ~ N(0, I_3); q = a.theta; predictions linear in theta."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n_draws, 3))
    a = np.array([1.0, -0.5, 0.25])
    loadings = rng.standard_normal((n_candidates, outputs, 3)) * 0.05
    pred = np.einsum("sp,mop->smo", theta, loadings)
    return theta @ a, pred


def exact_posterior_variance(q, pred, noise, picks):
    """Var(q | y at picks) of the Gaussian with the draws' own (biased) covariance."""
    y = pred[:, picks, :].reshape(q.size, -1)
    qc, yc = q - q.mean(), y - y.mean(axis=0)
    n = q.size
    c = yc.T @ qc / n
    cov = yc.T @ yc / n + noise**2 * np.eye(y.shape[1])
    return float(qc @ qc / n - c @ np.linalg.solve(cov, c))


def test_linear_score_is_the_gaussian_conditional_variance():
    q, pred = linear_ensemble()
    noise = 0.02
    out = score(Ensemble(q, pred, noise), method="linear")
    exact = [exact_posterior_variance(q, pred, noise, [m]) for m in range(pred.shape[1])]
    # Same algebra on the same ensemble covariance: agreement to rounding (1e-9 relative).
    np.testing.assert_allclose(out["variance_after"], exact, rtol=1e-9)
    assert out["variance_now"] == pytest.approx(np.var(q), rel=1e-12)


def test_greedy_square_root_updates_match_joint_conditioning():
    q, pred = linear_ensemble(outputs=2)
    noise = 0.02
    sel = select_batch(
        Ensemble(q, pred, noise), np.ones(pred.shape[1]), budget=5.0, k=5, selection="absolute"
    )
    assert sel.picks.size == 5 and len(set(sel.picks.tolist())) == 5
    for i in range(sel.picks.size):
        exact = exact_posterior_variance(q, pred, noise, sel.picks[: i + 1].tolist())
        # The serial square-root update is exact for independent noise: 1e-8 relative.
        assert sel.variance_after[i] == pytest.approx(exact, rel=1e-8)
    assert np.all(np.diff(sel.variance_after) < 0)


def test_two_identical_outputs_equal_one_with_less_noise():
    q, pred = linear_ensemble(outputs=1)
    noise = 0.03
    twice = score(Ensemble(q, np.concatenate([pred, pred], axis=2), noise))["variance_after"]
    once = score(Ensemble(q, pred, noise / np.sqrt(2)))["variance_after"]
    # Two independent observations of one value = one with variance halved (exact algebra).
    np.testing.assert_allclose(twice, once, rtol=1e-9)


def test_importance_agrees_with_linear_on_a_gaussian_linear_problem():
    q, pred = linear_ensemble(n_draws=3000, n_candidates=12)
    ens = Ensemble(q, pred, 0.03)
    lin = score(ens, method="linear")["variance_after"]
    imp = score(ens, method="importance", n_fantasies=64, seed=1)["variance_after"]
    # Monte Carlo over 64 fantasies and the finite ensemble: within 10% relative (the
    # weights keep an effective sample size in the hundreds here).
    np.testing.assert_allclose(imp, lin, rtol=0.10)


def test_importance_batch_is_reproducible_and_conditions_on_fantasies():
    q, pred = linear_ensemble(n_draws=2000, n_candidates=20)
    ens = Ensemble(q, pred, 0.02)
    cost = np.linspace(1.0, 2.0, 20)
    a = select_batch(ens, cost, budget=10.0, k=4, method="importance", seed=3)
    b = select_batch(ens, cost, budget=10.0, k=4, method="importance", seed=3)
    np.testing.assert_array_equal(a.picks, b.picks)
    np.testing.assert_array_equal(a.width_after, b.width_after)
    assert np.all(np.diff(a.ess) < 0)  # each fantasised outcome re-weights the draws
    assert a.cost_so_far[-1] <= 10.0


def test_budget_and_count_limits():
    q, pred = linear_ensemble(n_candidates=10)
    cost = np.arange(1.0, 11.0)
    sel = select_batch(Ensemble(q, pred, 0.02), cost, budget=6.0, k=8)
    assert sel.cost_so_far[-1] <= 6.0
    assert sel.stopped in ("budget", "no gain", "k")
    with pytest.raises(ScalingLawsError, match="smaller than the cheapest"):
        select_batch(Ensemble(q, pred, 0.02), cost, budget=0.5, k=2)
    with pytest.raises(ScalingLawsError, match="positive integer"):
        select_batch(Ensemble(q, pred, 0.02), cost, budget=6.0, k=0)


def test_bad_ensembles_are_refused():
    q, pred = linear_ensemble(n_candidates=3)
    with pytest.raises(ScalingLawsError, match="noise"):
        score(Ensemble(q, pred, 0.0))
    with pytest.raises(ScalingLawsError, match="draws"):
        score(Ensemble(q[:10], pred, 0.01))
    with pytest.raises(ScalingLawsError, match="method"):
        score(Ensemble(q, pred, 0.01), method="exact")
    nan_q = np.full_like(q, np.nan)
    with pytest.raises(ScalingLawsError, match="fewer than two"):
        score(Ensemble(nan_q, pred, 0.01))


def test_per_flop_rule_charges_run_slots_when_they_are_scarce():
    q, pred = linear_ensemble(n_candidates=10)
    ens = Ensemble(q, pred, 0.02)
    cost = np.geomspace(1.0, 100.0, 10)
    # One slot and a budget for anything: each run uses the whole slot, so the rule is the
    # plain reduction of variance.
    one = select_batch(ens, cost, budget=1e3, k=1, selection="per_flop")
    best = select_batch(ens, cost, budget=1e3, k=1, selection="absolute")
    assert one.picks.tolist() == best.picks.tolist()
    # Slots to spare and a binding budget: value per FLOP.
    gains = np.var(q) - score(ens)["variance_after"]
    many = select_batch(ens, cost, budget=cost.sum(), k=1000, selection="per_flop")
    assert many.picks[0] == int(np.argmax(gains / cost))


def test_slots_beyond_the_batch_make_the_rule_per_flop():
    q, pred = linear_ensemble(n_candidates=10)
    ens = Ensemble(q, pred, 0.02)
    cost = np.geomspace(1.0, 100.0, 10)
    gains = np.var(q) - score(ens)["variance_after"]
    # One pick now, but a long study ahead: the pick is the best value per FLOP.
    sel = select_batch(ens, cost, budget=cost.sum(), k=1, slots=1000)
    assert sel.picks.tolist() == [int(np.argmax(gains / cost))]
    with pytest.raises(ScalingLawsError, match="slots"):
        select_batch(ens, cost, budget=cost.sum(), k=3, slots=2)
