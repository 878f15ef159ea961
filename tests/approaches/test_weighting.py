"""Approach 2's slice weighting: the option in Python and on the command line, the
default's handling of a short top slice, and determinism."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.approaches import approach2
from scalinglaws.approaches.isoflop import DEFAULT_WEIGHTING, WEIGHT_RATIO_CAP, WEIGHTINGS
from scalinglaws.cli import main
from scalinglaws.simulate import isoflop_design, simulate_runs

TRUTH = sl.laws.HOFFMANN_2022


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def short_top():
    """Five budgets 3x apart: four slices of 9 sizes and a top slice of 5."""
    budgets = 1e18 * 3.0 ** np.arange(5)
    parts = [isoflop_design([c], 5 if c == budgets[-1] else 9, tokens_per_param=(2.0, 200.0))
             for c in budgets]  # fmt: skip
    design = pd.concat(parts, ignore_index=True)
    return simulate_runs(sl.laws.chinchilla(), TRUTH, design, noise=0.004, seed=3)


def test_every_weighting_is_honoured_and_recorded(short_top):
    res = {w: quiet(approach2, short_top, n_boot=200, seed=0, weighting=w) for w in WEIGHTINGS}
    assert quiet(approach2, short_top, n_boot=200, seed=0).options["weighting"] == DEFAULT_WEIGHTING
    for w, r in res.items():
        assert r.options["weighting"] == w
        assert r.to_dict()["options"]["weighting"] == w
        assert bool(r.powerlaws.loc["D", "weighted"]) == (w != "unweighted")
        used = r.slices[r.slices["used"]]
        assert used["weight_D"].sum() == pytest.approx(1.0)
    # The slices' optima are the same; only the line through them differs.
    assert np.array_equal(res["capped"].slices["D_star"], res["unweighted"].slices["D_star"])
    assert len({round(r.b, 12) for r in res.values()}) == 3
    # The legacy switch maps onto the named weightings.
    legacy = quiet(approach2, short_top, n_boot=200, seed=0, weighted=True)
    assert legacy.b == res["inverse-variance"].b
    with pytest.raises(sl.ScalingLawsError, match="weighting must be one of"):
        approach2(short_top, weighting="huber")
    with pytest.raises(sl.ScalingLawsError, match="contradicts"):
        approach2(short_top, weighting="capped", weighted=False)


def test_short_top_slice_is_not_weighted_out_by_the_default(short_top):
    """Hand check: 1/sd^2 gives the 5-size top slice a fraction of the median weight; the
    default clips it to exactly 1/4 of the median, and the line is the weighted LS line."""
    iv = quiet(approach2, short_top, n_boot=300, seed=0, weighting="inverse-variance")
    cap = quiet(approach2, short_top, n_boot=300, seed=0)
    s = iv.slices
    assert s["used"].all()
    w = 1.0 / s["log_D_star_sd"].to_numpy() ** 2
    mid = np.median(w)
    # The top slice (wider spacing, 2 residual degrees of freedom) weighs far below the
    # median under 1/sd^2 ...
    assert w[-1] < mid / WEIGHT_RATIO_CAP
    # ... and exactly a quarter of it under the default (the other weights are inside the
    # band here, so they keep their 1/sd^2 values).
    expected = np.clip(w, mid / WEIGHT_RATIO_CAP, mid * WEIGHT_RATIO_CAP)
    assert expected[-1] == pytest.approx(mid / 4)
    np.testing.assert_allclose(cap.slices["weight_D"], expected / expected.sum(), rtol=1e-12)
    x, y = np.log(s["budget"]), np.log(s["D_star"])
    # np.polyfit weights multiply residuals: sqrt(w) gives the w-weighted objective.
    assert cap.b == pytest.approx(np.polyfit(x, y, 1, w=np.sqrt(expected))[0], abs=1e-10)
    assert cap.slices["weight_D"].iloc[-1] > 2 * iv.slices["weight_D"].iloc[-1]


def test_same_seed_same_numbers(short_top):
    a = quiet(approach2, short_top, n_boot=200, seed=5)
    b = quiet(approach2, short_top, n_boot=200, seed=5)
    assert a.b == b.b and np.array_equal(a.draws["b"], b.draws["b"])
    pd.testing.assert_frame_equal(a.slices, b.slices)


@pytest.fixture(scope="module")
def log_csv(short_top, tmp_path_factory):
    path = tmp_path_factory.mktemp("weighting") / "runs.csv"
    short_top.to_csv(path, index=False)
    return path


def _approaches(log_csv, *extra):
    return ["approaches", str(log_csv), "--budgets", "1e23", "--approach", "2", *extra]


@pytest.mark.parametrize("weighting", [None, *WEIGHTINGS])
def test_cli_weighting_shows_in_json(log_csv, capsys, weighting):
    extra = [] if weighting is None else ["--weighting", weighting]
    assert main(_approaches(log_csv, *extra, "--json", "--quiet")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["approach2"]["weighting"] == (weighting or DEFAULT_WEIGHTING)


def test_cli_unknown_weighting_is_one_line_exit_2(log_csv, capsys):
    try:
        code = main(_approaches(log_csv, "--weighting", "huber"))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalinglaws: error:"), out.err
    assert "--weighting" in lines[0] and "Traceback" not in out.err + out.out


def test_cli_json_carries_approach2_prefactors(log_csv, capsys):
    """Approach 2's row in ``approaches --json`` carries G_N and G_D, and they are the
    prefactors of its own plan: N_opt = G_N C^a and D_opt = G_D C^b at each budget."""
    budgets = [1e21, 1e23]
    argv = ["approaches", str(log_csv), "--budgets", *map(str, budgets), "--approach", "2"]
    assert main([*argv, "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (a2,) = payload["summary"]["approaches"]
    assert a2["approach"].startswith("2")
    for key in ("G_N", "G_N_lo", "G_N_hi", "G_D", "G_D_lo", "G_D_hi"):
        assert isinstance(a2[key], float) and np.isfinite(a2[key]) and a2[key] > 0, (key, a2)
    assert a2["G_N_lo"] < a2["G_N_hi"] and a2["G_D_lo"] < a2["G_D_hi"]
    rows = payload["rows"]
    assert [r["C"] for r in rows] == budgets
    for row in rows:
        assert row["approach"] == a2["approach"]
        assert (row["G_N"], row["G_D"]) == (a2["G_N"], a2["G_D"])
        # rel 1e-12: the same float64 product (predict's G C^exponent), and JSON keeps
        # every float's shortest round-trip repr, so only the last bit may differ.
        assert row["N_opt"] == pytest.approx(a2["G_N"] * row["C"] ** a2["a"], rel=1e-12)
        assert row["D_opt"] == pytest.approx(a2["G_D"] * row["C"] ** a2["b"], rel=1e-12)
