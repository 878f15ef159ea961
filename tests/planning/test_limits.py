"""Plausibility limits: absurd requests and absurd plans are refused with the reason."""

import math

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.planning.limits import NO_LIMITS, PLAUSIBLE

from .test_compute import _result

HOFF = sl.laws.HOFFMANN_2022
# Valid parameters (all positive) whose frontier is absurd: G = (alpha A / (beta B))^(1/(alpha
# + beta)) with A = 1e-300 puts N_opt at ~1e-100 parameters for any sensible budget.
ABSURD = {**HOFF, "A": 1e-300}


@pytest.mark.parametrize("budget", [1e-300, 1e5, 1e33, 1e300])
def test_budget_outside_the_range_is_refused(budget):
    with pytest.raises(sl.PlanError, match=r"budget .* plausible range \[1e\+10, 1e\+32\]"):
        sl.plan_compute(_result(HOFF), [1e21, budget])


def test_limits_can_be_widened_on_purpose():
    plan = sl.plan_compute(_result(HOFF), [1e35], limits={"C": (1e10, 1e40), "N": (1, 1e20),
                                                       "D": (1, 1e20)})
    assert plan["C"].iloc[0] == 1e35
    assert len(sl.plan_compute(_result(HOFF), [1e-300], limits=NO_LIMITS)) == 1


def test_a_plan_from_an_absurd_law_is_refused_not_printed():
    with pytest.raises(sl.PlanError, match=r"implausible plan: N_opt = .* parameters is below"):
        sl.plan_compute(_result(ABSURD), [5.76e23])
    with pytest.raises(sl.PlanError, match="implausible plan"):
        sl.plan_fixed_tokens(_result(ABSURD), [1e12])


def test_fixed_size_and_token_inputs_are_checked():
    with pytest.raises(sl.PlanError, match=r"model size .* parameters is above"):
        sl.plan_fixed_params(_result(HOFF), [1e18])
    with pytest.raises(sl.PlanError, match=r"token supply .* tokens is below"):
        sl.plan_fixed_tokens(_result(HOFF), [10.0])


def test_sparsity_budget_is_refused_before_any_schedule_is_built():
    with pytest.raises(sl.PlanError, match="budget .* plausible range"):
        sl.plan_sparsity(_result(HOFF), budget=1e300)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"X": (1, 2)}, "unknown quantity 'X'"),
        ({"N": (5, 1)}, "is not a range"),
        ({"N": (1,)}, "must be a \\(low, high\\) pair"),
        ({"N": (math.nan, 1)}, "is not a range"),
    ],
)
def test_bad_limits_are_refused(limits, message):
    with pytest.raises(sl.PlanError, match=message):
        sl.plan_compute(_result(HOFF), [1e21], limits=limits)


def test_every_published_plan_is_inside_the_ranges():
    # The ranges must not refuse a real plan: Hoffmann's fit from 1e18 to 1e28 FLOPs.
    plan = sl.plan_compute(_result(HOFF), np.geomspace(1e18, 1e28, 11))
    for col, q in (("N_opt", "N"), ("D_opt", "D"), ("C", "C")):
        lo, hi = PLAUSIBLE[q]
        assert ((plan[col] > lo) & (plan[col] < hi)).all()
