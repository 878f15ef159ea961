"""``implausible_plan``: each rule that refuses a compute-optimal plan, at its boundaries.

Rules (scalinglaws/approaches/compare.py): an exponent a or b outside [0.1, 0.9]; at some
budget N_opt or D_opt below 1 or not finite; D/N outside [1e-2, 1e5]. Boundaries are
inclusive. No fitting: plans are written by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scalinglaws.approaches.compare import (
    PLAUSIBLE_EXPONENT,
    PLAUSIBLE_TOKENS_PER_PARAM,
    implausible_plan,
)


def _plan(*rows: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["C", "N_opt", "D_opt"])


#: Chinchilla-like: ~20 tokens per parameter at each budget.
GOOD = _plan((1e21, 2.9e9, 5.7e10), (1e22, 9.1e9, 1.8e11), (1e23, 2.9e10, 5.7e11))


def test_the_documented_ranges():
    # The boundaries the tests below probe; a change of range must change them too.
    assert PLAUSIBLE_EXPONENT == (0.1, 0.9)
    assert PLAUSIBLE_TOKENS_PER_PARAM == (1e-2, 1e5)


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (None, None), (0.1, 0.9), (0.9, 0.1)])
def test_a_plausible_plan_passes(a, b):
    assert implausible_plan(GOOD, a, b) is None


@pytest.mark.parametrize(
    ("a", "b", "what", "shown"),
    [
        (0.0999, 0.5, "N_opt", "0.0999"),
        (0.9001, 0.5, "N_opt", "0.9"),  # .3g rounds the shown value; the check does not
        (0.06, None, "N_opt", "0.06"),
        (-0.3, 0.5, "N_opt", "-0.3"),
        (math.nan, 0.5, "N_opt", "nan"),
        (0.5, 0.0999, "D_opt", "0.0999"),
        (0.5, 0.95, "D_opt", "0.95"),
        (None, 1.2, "D_opt", "1.2"),
        (0.05, 0.95, "N_opt", "0.05"),  # a is checked first
    ],
)
def test_an_exponent_outside_the_range_is_refused(a, b, what, shown):
    reason = implausible_plan(GOOD, a, b)
    assert reason == (
        f"the allocation is implausible ({what} ~ C^{shown}; plausible exponents 0.1 to 0.9)"
    )


@pytest.mark.parametrize(
    ("n", "d"),
    [
        (1.0, 1.0),  # one parameter, one token: the smallest plan allowed
        (100.0, 1.0),  # 0.01 tokens per parameter: the lower ratio bound
        (1.0, 1e5),  # 1e5 tokens per parameter: the upper ratio bound
        (1e9, 1e7),
        (1e9, 1e14),
    ],
)
def test_plans_on_the_boundaries_pass(n, d):
    assert implausible_plan(_plan((1e20, n, d)), 0.5, 0.5) is None


@pytest.mark.parametrize(
    ("n", "d", "why"),
    [
        (0.5, 10.0, "N below one"),
        (10.0, 0.5, "D below one"),
        (0.999, 0.999, "both below one, ratio fine"),
        (0.0, 1e10, "N zero (ratio taken as infinite)"),
        (-1e9, 2e10, "N negative"),
        (1e9, -2e10, "D negative"),
        (math.inf, 2e10, "N infinite"),
        (1e9, math.nan, "D not a number"),
        (math.nan, math.nan, "neither a number"),
        (1e3, 9.99, "ratio just under 0.01"),
        (1.0, 1.001e5, "ratio just over 1e5"),
        (1e9, 1e15, "a million tokens per parameter"),
        (1e12, 1e9, "a thousand parameters per token"),
    ],
)
def test_an_implausible_budget_is_refused(n, d, why):
    reason = implausible_plan(_plan((1e20, n, d)), 0.5, 0.5)
    assert reason is not None, why
    assert reason.startswith("the plan at C = 1e+20 is implausible (N_opt "), reason
    assert reason.endswith("tokens per parameter; plausible 0.01 to 100000)"), reason


def test_the_reason_names_the_first_implausible_budget_and_its_numbers():
    plan = _plan(
        (1e20, 1e9, 2e10),  # fine
        (1e22, 1e12, 5e10),  # 0.05 tokens per parameter: fine
        (1e23, 1e13, 5e10),  # 0.005: the first implausible budget
        (1e24, 0.5, 0.5),  # also implausible, but later
    )
    reason = implausible_plan(plan)
    assert reason == (
        "the plan at C = 1e+23 is implausible (N_opt 1e+13 parameters, D_opt 5e+10 tokens, "
        "0.005 tokens per parameter; plausible 0.01 to 100000)"
    )


def test_exponents_are_judged_before_the_budgets():
    bad_plan = _plan((1e20, 0.5, 0.5))
    assert "plausible exponents" in implausible_plan(bad_plan, 0.05, 0.5)
    assert "the plan at C = 1e+20" in implausible_plan(bad_plan, 0.5, 0.5)
    assert "the plan at C = 1e+20" in implausible_plan(bad_plan)


def _problem(n, d):
    from scalinglaws.io.runs import separation_problem

    return separation_problem(np.asarray(n, dtype=float), np.asarray(d, dtype=float))


def test_separation_problem_is_found_from_the_runs_whatever_a_fit_would_give():
    """The runs themselves decide, not the fitted values (which on such runs depend on
    rounding, so differ between CPUs): one size, one token count, one tokens-per-parameter
    ratio (within 5%), or D a fixed power of N is a problem; runs that vary D at a size
    are not."""
    n = np.geomspace(5e7, 2e9, 8)
    assert "every run has the same D" in _problem(n, np.full(8, 1e10))
    assert "every run has the same N" in _problem(np.full(8, 1e8), n * 20)
    assert "same tokens-per-parameter ratio (~20)" in _problem(n, 20 * n * (1 + 0.01 * (n > 1e9)))
    assert "fixed power of their sizes (D ~ N^0.8)" in _problem(n, 3e3 * n**0.8)
    for msg in (_problem(n, np.full(8, 1e10)), _problem(n, 3e3 * n**0.8)):
        assert msg.startswith("UNIDENTIFIABLE DESIGN: ")
    # An isoFLOP-like design, and a power-law scan with one more run off the line.
    c = np.repeat([1e18, 1e19], 4)
    n_iso = np.tile(np.geomspace(1e7, 1e8, 4), 2)
    assert _problem(n_iso, c / (6 * n_iso)) is None
    assert _problem(np.append(n, n[0]), np.append(3e3 * n**0.8, 1e3 * n[0] ** 0.8)) is None
    # Repeated (N, D) pairs (checkpoints of one run, seeds) do not make a design.
    assert "every run has the same D" in _problem(np.repeat(n, 3), np.full(24, 1e10))


def test_approach3_on_a_fixed_power_scan_is_refused(tmp_path, capsys):
    """Every run at D = 3000 N^0.8: the law's form alone would set the plan."""
    from scalinglaws.cli import main

    n = np.geomspace(5e7, 2e9, 12)
    d = 3e3 * n**0.8
    loss = 1.7 + 400 / n**0.34 + 410 / d**0.28
    path = tmp_path / "scan.csv"
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(path, index=False)
    code = main(["approaches", str(path), "--approach", "3", "--budgets", "1e22", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "not an answer: UNIDENTIFIABLE DESIGN" in err and "fixed power" in err
    assert len(err.strip().splitlines()) == 1
