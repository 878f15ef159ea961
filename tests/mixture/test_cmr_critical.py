"""The turning-point root finder: stationarity, grid independence, the early crossing."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglaws.laws.cmr import (
    stationarity_coefficients,
    stationarity_terms,
    turning_points,
)

DOM = {"alpha1": -0.08, "s1": 0.15}
GEN = {"alpha2": 0.05, "s2": 0.4, "alpha3": -0.01, "s3": 0.8}


def _random_sets(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dom = {"alpha1": -rng.uniform(0.01, 0.3, n), "s1": rng.uniform(0.05, 0.3, n)}
    s2 = rng.uniform(-0.5, 0.8, n)
    gen = {
        "alpha2": rng.uniform(0.001, 0.1, n),
        "s2": s2,
        "alpha3": -rng.uniform(1e-4, 0.05, n),
        "s3": s2 + rng.uniform(0.05, 1.5, n),
    }
    return dom, gen


@pytest.mark.parametrize("lam", [100.0, 1000.0, 7000.0, float("inf")])
def test_roots_satisfy_stationarity_to_1e_8_of_the_largest_term(lam):
    dom, gen = _random_sets(500)
    c, s = stationarity_coefficients(dom, gen, lam)
    out = turning_points(c, s)
    roots = np.asarray(out["kind"]) == 0
    assert roots.sum() > 200  # many random sets rise then fall: a real test of many roots
    terms = np.asarray(stationarity_terms(c, s, out["T0"]))[roots]
    rel = np.abs(terms.sum(-1)) / np.abs(terms).max(-1)
    # The criterion; bisection in log T to float64 resolution gives ~1e-15.
    assert rel.max() < 1e-8
    # ... and each root is a + to - crossing: dF/dT > 0 just before, < 0 just after.
    t0 = np.asarray(out["T0"])[roots]
    before = np.asarray(stationarity_terms(c[roots], s[roots], t0 * (1 - 1e-6))).sum(-1)
    after = np.asarray(stationarity_terms(c[roots], s[roots], t0 * (1 + 1e-6))).sum(-1)
    assert np.all(before > 0) and np.all(after < 0)


def test_turning_point_does_not_depend_on_the_search_grid():
    dom, gen = _random_sets(300, seed=1)
    c, s = stationarity_coefficients(dom, gen, 1000.0)
    ref = turning_points(c, s, n_grid=2)
    for n_grid in (17, 1000):
        out = turning_points(c, s, n_grid=n_grid)
        np.testing.assert_array_equal(np.asarray(out["kind"]), np.asarray(ref["kind"]))
        # Same bracket up to where bisection stops: equal to ~1e-13 relative.
        np.testing.assert_allclose(np.asarray(out["T0"]), np.asarray(ref["T0"]), rtol=1e-12)


def test_spurious_early_crossing_is_skipped_for_the_last_plus_to_minus():
    # A strong domain term makes dF/dT negative at small T (an early - to + crossing),
    # then the general rise makes it positive, then the fall negative again.
    dom = {"alpha1": -5.0, "s1": 0.05}
    c, s = stationarity_coefficients(dom, GEN, 100.0)
    grid = np.geomspace(1e-12, 1e6, 20001)
    g = np.asarray(stationarity_terms(c, s, grid)).sum(-1)
    signs = np.sign(g)
    changes = np.flatnonzero(np.diff(signs) != 0)
    assert len(changes) == 2 and signs[0] < 0  # - + - : two crossings, first is - to +
    out = turning_points(c, s)
    assert int(out["kind"]) == 0
    t_last = grid[changes[1]]
    # The root is the second crossing (within the dense grid's spacing, 0.1%).
    assert float(out["T0"]) == pytest.approx(t_last, rel=2e-3)
    assert float(out["T0"]) > 10 * grid[changes[0]]


def test_lambda_inf_is_the_turning_point_of_the_general_loss():
    c, s = stationarity_coefficients(DOM, GEN, float("inf"))
    t0 = float(turning_points(c, s)["T0"])
    # d/dT (alpha2 T^s2 + alpha3 T^s3) = 0 in closed form.
    expected = (-GEN["alpha2"] * GEN["s2"] / (GEN["alpha3"] * GEN["s3"])) ** (
        1 / (GEN["s3"] - GEN["s2"])
    )
    assert t0 == pytest.approx(expected, rel=1e-12)  # float64 bisection
    # Large finite lambda approaches it: the domain term's weight shrinks as 1/lambda.
    t_big = float(turning_points(*stationarity_coefficients(DOM, GEN, 1e9))["T0"])
    assert t_big == pytest.approx(expected, rel=1e-6)


def test_zero_and_infinite_turning_points():
    # General loss only falls: dF/dT <= 0 throughout -> T0 = 0.
    falling = {"alpha2": -0.05, "s2": 0.4, "alpha3": -0.01, "s3": 0.8}
    out = turning_points(*stationarity_coefficients(DOM, falling, 1000.0))
    assert int(out["kind"]) == 1 and float(out["T0"]) == 0.0
    # General loss keeps rising: never turns back -> T0 = inf.
    rising = {"alpha2": 0.05, "s2": 0.4, "alpha3": 0.0, "s3": 0.8}
    out = turning_points(*stationarity_coefficients(DOM, rising, 1000.0))
    assert int(out["kind"]) == 2 and np.isinf(float(out["T0"]))


def test_extreme_magnitudes_do_not_overflow():
    # A tiny alpha3 puts the root far out (T ~ 1e40): terms overflow exp if unscaled.
    gen = {"alpha2": 0.05, "s2": 0.4, "alpha3": -1e-17, "s3": 1.4}
    c, s = stationarity_coefficients(DOM, gen, float("inf"))
    t0 = float(turning_points(c, s)["T0"])
    expected = (0.05 * 0.4 / (1e-17 * 1.4)) ** (1 / 1.0)
    assert t0 == pytest.approx(expected, rel=1e-10)


def test_former_module_path_reexports_the_same_functions():
    from scalinglaws.laws import cmr
    from scalinglaws.mixture import critical

    assert critical.turning_points is cmr.turning_points
    assert critical.stationarity_coefficients is cmr.stationarity_coefficients
    assert critical.DEFAULT_GRID == cmr.TURNING_POINT_GRID
