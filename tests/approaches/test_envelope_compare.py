"""Approach 1 (loss-curve envelope), Approach 3's allocation, and the side-by-side table."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.approaches import approach1, approach3, compare_approaches
from scalinglaws.simulate import isoflop_design, simulate_runs

LAW = sl.laws.chinchilla()
TRUTH = sl.laws.EPOCH_2024
A_TRUE = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])


def curves(sizes, tokens_per_param_max, n_checkpoints=40, noise=0.002, seed=0):
    """Loss curves: each size trained to its own length, checkpoints log-spaced in D."""
    rows = []
    for i, (n, r) in enumerate(zip(sizes, tokens_per_param_max, strict=True)):
        for j, d in enumerate(np.geomspace(0.5 * n, r * n, n_checkpoints)):
            rows.append({"run": f"r{i}", "step": j, "N": n, "D": d})
    design = pd.DataFrame(rows)
    design["C"] = 6 * design["N"] * design["D"]
    return simulate_runs(LAW, TRUTH, design, noise=noise, seed=seed)


def isoflop_with_checkpoints(noise=0.003, seed=1):
    """An isoFLOP sweep whose runs also log 12 checkpoints each (for all three approaches)."""
    design = isoflop_design(np.geomspace(1e18, 1e21, 7), 9)
    rows = [
        {"run": r.run, "step": j, "N": r.N, "D": r.D * f}
        for r in design.itertuples()
        for j, f in enumerate(np.geomspace(0.05, 1.0, 12))
    ]
    return simulate_runs(LAW, TRUTH, pd.DataFrame(rows), noise=noise, seed=seed)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        return fn(*args, **kwargs)


# ----------------------------------------------------------------------- Approach 1
def test_envelope_recovers_the_exponent():
    sizes = np.geomspace(2e7, 3e9, 24)
    runs = curves(sizes, np.where(sizes < 1e9, 400.0, 60.0))
    res = approach1(runs, n_boot=200, seed=0)
    lo, hi = res.interval("a")
    assert lo < A_TRUE < hi
    # 0.03: the envelope's N is one of 24 sizes (steps of x1.24), so N_env(C) is a
    # staircase around the truth; measured |a - a_true| = 0.010.
    assert abs(res.a - A_TRUE) < 0.03
    env = res.envelope[res.envelope["used"]]
    assert env["run"].nunique() >= 10 and not env["edge"].any()
    # On the envelope, the winner's loss is the lowest of every curve defined there.
    assert (res.envelope.loc[res.envelope["used"], "n_covering"] >= 2).all()


def test_envelope_needs_curves_and_one_size_per_run():
    final = simulate_runs(LAW, TRUTH, isoflop_design([1e19, 1e20], 5), noise=0.0)
    with pytest.raises(sl.FitError, match="Approach 1 needs loss curves"):
        approach1(final)
    runs = curves(np.geomspace(1e8, 1e9, 4), [50.0] * 4, n_checkpoints=5)
    runs.loc[3, "N"] *= 2  # one checkpoint of run r0 claims another size
    runs["C"] = 6 * runs["N"] * runs["D"]
    with pytest.raises(sl.FitError, match=r"run 'r0': N changes between checkpoints"):
        approach1(runs)


def test_envelope_edges_are_excluded_by_default():
    # Every run is trained far past its optimum: the largest size wins at large C, the
    # smallest at small C, so those FLOP counts sit at the size edges.
    sizes = np.geomspace(1e8, 1e9, 6)
    runs = curves(sizes, [2000.0] * 6, noise=0.0)
    res = quiet(approach1, runs, n_boot=0)
    env = res.envelope
    assert env["edge"].any()
    assert not (env["used"] & env["edge"]).any()
    keep = quiet(approach1, runs, n_boot=0, exclude_edges=False)
    assert keep.envelope["used"].sum() > env["used"].sum()


# ------------------------------------------------------------- Approach 3 and compare
@pytest.fixture(scope="module")
def sweep_and_fit():
    runs = isoflop_with_checkpoints()
    final = sl.load_runs(runs)  # last checkpoint of each run
    return runs, quiet(sl.fit, LAW, final)


def test_approach3_is_the_closed_form(sweep_and_fit):
    _, result = sweep_and_fit
    res = approach3(result)
    p = result.params
    a = p["beta"] / (p["alpha"] + p["beta"])
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    # 1e-12: the same closed form, written independently.
    assert math.isclose(res.a, a, rel_tol=1e-12) and math.isclose(res.b, 1 - a, rel_tol=1e-12)
    c = 1e23
    pred = res.predict([c]).iloc[0]
    assert math.isclose(pred["N_opt"], g * (c / 6) ** a, rel_tol=1e-10)
    assert math.isclose(pred["D_opt"], (c / 6) ** (1 - a) / g, rel_tol=1e-10)
    assert math.isclose(pred["N_opt"] * pred["D_opt"], c / 6, rel_tol=1e-10)  # C = 6 N D
    assert res.options["interval_source"] == "laplace"
    lo, hi = res.interval("a")
    assert lo < res.a < hi


def test_three_approaches_side_by_side(sweep_and_fit):
    runs, result = sweep_and_fit
    budgets = [1e22, 1e24]
    table = compare_approaches(runs, budgets, fit_result=result, level=0.9)
    assert list(table["approach"].unique()) == ["1: envelope", "2: isoFLOP", "3: parametric"]
    assert len(table) == 6 and table.attrs["skipped"] == {}
    for col in ("a", "a_lo", "a_hi", "b", "N_opt", "N_opt_lo", "N_opt_hi", "D_opt"):
        assert table[col].notna().all(), col
    # All three recover the truth: 0.03 is a little above the widest 90% half-interval
    # (the envelope's, 0.025); measured |a - a_true| <= 0.011 for each approach.
    assert (abs(table["a"] - A_TRUE) < 0.03).all()
    # And they agree on N_opt at 1e22 FLOPs within 25% (a 0.01 exponent difference over
    # 2 decades of extrapolation is ~5%; the coefficients differ a little more).
    n22 = table.loc[table["C"] == 1e22, "N_opt"]
    assert n22.max() / n22.min() < 1.25


def test_compare_skips_what_the_log_cannot_support():
    final = simulate_runs(LAW, TRUTH, isoflop_design(np.geomspace(1e18, 1e20, 3), 7), noise=0.002)
    table = compare_approaches(final, [1e21], approaches=(1, 2))
    assert table["approach"].tolist() == ["2: isoFLOP"]
    assert "needs loss curves" in table.attrs["skipped"][1]
    with pytest.raises(sl.FitError, match="approaches must be a non-empty subset"):
        compare_approaches(final, [1e21], approaches=(4,))
