"""The Chinchilla law against hand-computed values."""

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.laws.chinchilla import chinchilla_log_loss, chinchilla_loss


def test_value_by_hand():
    # Hoffmann 2022 (unrounded) at N = 70e9, D = 1.4e12 (Chinchilla itself), computed by hand:
    # 406.401 / 70e9^0.33917 + 410.723 / 1.4e12^0.28491 + 1.69337.
    p = sl.laws.HOFFMANN_2022
    expected = p["E"] + p["A"] / 70e9 ** p["alpha"] + p["B"] / 1.4e12 ** p["beta"]
    got = float(chinchilla_loss(p, {"N": 70e9, "D": 1.4e12}))
    # float64 evaluation of the same expression: agreement to rounding error.
    assert got == pytest.approx(expected, rel=1e-12)
    # Independent evaluation with 5-digit logarithms: 1.69337 + 0.08515 + 0.14212.
    assert got == pytest.approx(1.9206, abs=5e-4)


def test_log_form_matches_log_of_law():
    p = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    n = jnp.geomspace(1e7, 1e11, 7)
    d = jnp.geomspace(1e9, 1e13, 7)
    lhs = np.asarray(chinchilla_log_loss(p, {"N": n, "D": d}))
    rhs = np.log(np.asarray(chinchilla_loss(p, {"N": n, "D": d})))
    # Same function in two algebraic forms: equal to float64 rounding.
    np.testing.assert_allclose(lhs, rhs, rtol=1e-13)


def test_law_spec_contract():
    law = sl.laws.chinchilla()
    assert law == sl.laws.chinchilla()  # equal laws share one compilation
    assert hash(law) == hash(sl.laws.chinchilla())
    assert law.param_names == ("E", "A", "B", "alpha", "beta")
    theta = law.to_internal(sl.laws.EPOCH_2024)
    back = law.to_natural(theta)
    for k, v in sl.laws.EPOCH_2024.items():
        assert float(back[k]) == pytest.approx(v, rel=1e-12)
    assert math.isclose(float(theta[0]), math.log(1.8172))


def test_declared_capabilities_stay_out_of_equality_and_hash():
    law = sl.laws.chinchilla()
    bare = dataclasses.replace(law, derived={})
    # The derived functions are not part of the spec compiled solvers depend on: a law
    # without them is the same static argument (one compilation).
    assert bare == law and hash(bare) == hash(law)
    assert law.has("compute_optimal", "tokens_per_param") and not bare.has("compute_optimal")
    with pytest.raises(sl.ScalingLawsError, match="does not provide 'compute_optimal'"):
        bare.derived_fn("compute_optimal")


def test_registry_unknown_law_is_clear():
    with pytest.raises(sl.ScalingLawsError, match="unknown law 'nope'"):
        sl.laws.get("nope")
