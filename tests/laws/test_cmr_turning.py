"""Derived quantities the CMR laws declare: the general-loss turning point and the inverse
of the CMR law (Gu et al. 2024, arXiv 2407.17467)."""

import math

import jax
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.laws.cmr import (
    GU_2024_FINANCE_CMR,
    general_fitted,
    general_turning_point,
    tokens_for_ratio,
)

GEN = {"alpha2": 0.05, "s2": 0.4, "alpha3": -0.01, "s3": 0.8, "beta2": 0.0}


def test_general_turning_point_by_hand():
    # d(dL_gen)/dT = 0: alpha2 s2 T^(s2-1) = -alpha3 s3 T^(s3-1), so
    # T0 = (-alpha2 s2 / (alpha3 s3))^(1/(s3 - s2)) = (0.02 / 0.008)^(1/0.4) = 2.5^2.5.
    t0 = float(general_turning_point(general_fitted(GEN)))
    # Bisection runs to float64 resolution in log T (see laws.cmr.turning_points): 1e-10.
    assert t0 == pytest.approx(2.5**2.5, rel=1e-10)
    law = sl.laws.general_change_law()
    assert law.has("turning_point")
    assert law.derived_fn("turning_point") is general_turning_point


def test_general_turning_point_broadcasts_over_draws_and_flags_no_turn():
    draws = {k: np.full(3, v) for k, v in GEN.items()}
    draws["alpha3"][1] = 0.01  # both terms rise: no turning point (T0 = inf)
    draws["alpha2"][2] = -0.05  # both fall from the start: T0 = 0
    t0 = np.asarray(jax.jit(general_turning_point)(general_fitted(draws)))
    assert t0.shape == (3,)
    assert t0[0] == pytest.approx(2.5**2.5, rel=1e-10)
    assert t0[1] == math.inf and t0[2] == 0.0


def test_tokens_for_ratio_inverts_the_cmr_law():
    law = sl.laws.cmr_law()
    p = GU_2024_FINANCE_CMR["460M"]
    t = np.array([10.0, 100.0, 1000.0])
    r = np.asarray(law.predict(p, {"T": t}))
    # Closed-form inverse of a closed form: float64 rounding amplified by 1/s4 ~ 4: 1e-12.
    np.testing.assert_allclose(law.derived_fn("tokens_for_ratio")(p, r), t, rtol=1e-12)
    # The 460M law rises from beta3 < 0 without bound: every share in (0, 1] is reached once;
    # a share below beta3 never is.
    assert math.isnan(float(tokens_for_ratio(p, -0.6)))
