"""A conformal calibration attached to a fit: intervals, plans and records use it."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import scalinglaws as sl
from scalinglaws.simulate import isoflop_design, simulate_runs
from scalinglaws.uncertainty import attach
from scalinglaws.uncertainty.conformal import (
    Calibration,
    conformal_calibrate,
    method_interval,
    predictive_interval,
)

LAW = sl.laws.chinchilla()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "records" / "chinchilla_schema_v1.json"
POINTS = {"N": [1e9, 1e10, 5e10], "D": [2e10, 2e11, 1e12]}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def runs():
    # 6 budgets x 9 sizes: the top 20% (11 runs) rounds up to the two largest slices (18).
    design = isoflop_design(np.geomspace(1e18, 1e21, 6), 9)
    return simulate_runs(LAW, sl.laws.EPOCH_2024, design, noise=0.01, seed=11)


@pytest.fixture(scope="module")
def fitted(runs):
    return quiet(sl.fit, LAW, runs)


@pytest.fixture(scope="module")
def calibrated(fitted):
    return quiet(sl.calibrate, fitted)


def hand_calibration(factor: float, **kwargs) -> Calibration:
    fields = {
        "quantile": factor,
        "level": 0.9,
        "uncertainty": "none",
        "law": "chinchilla",
        "scale": "log",
        "n_calibration": 9,
        "n_fit": 20,
        "calibration_cutoff": 1e21,
        "max_fit_compute": 1e20,
    }
    fields.update(kwargs)
    return Calibration(factor=factor, **fields)


@pytest.mark.slow
def test_calibrated_interval_is_the_method_interval_scaled_by_hand(fitted):
    """Residual scatter: [m e^{-q t s}, m e^{q t s}] with s, t computed here by hand."""
    r = np.asarray(fitted.residuals)
    dof = r.size - 5
    s = math.sqrt(float(np.sum(r**2)) / dof)
    t = float(stats.t.ppf(0.95, dof))
    m = fitted.predict(**POINTS)
    with_cal = dataclasses.replace(fitted, calibration=hand_calibration(2.5))
    out = predictive_interval(with_cal, POINTS)
    # Closed forms evaluated in float64: 1e-12 relative is rounding only.
    np.testing.assert_allclose(out["lo_uncalibrated"], m * math.exp(-t * s), rtol=1e-12)
    np.testing.assert_allclose(out["hi_uncalibrated"], m * math.exp(t * s), rtol=1e-12)
    np.testing.assert_allclose(out["lo"], m * math.exp(-2.5 * t * s), rtol=1e-12)
    np.testing.assert_allclose(out["hi"], m * math.exp(2.5 * t * s), rtol=1e-12)
    assert out.attrs["level"] == 0.9 and out.attrs["calibration"].factor == 2.5
    plain = predictive_interval(with_cal, POINTS, calibrated=False)
    assert list(plain.columns) == ["predicted", "lo", "hi"]
    np.testing.assert_allclose(plain["hi"], m * math.exp(t * s), rtol=1e-12)


def test_calibrated_draw_interval_scales_each_side_about_the_prediction(fitted):
    with_unc = quiet(attach, fitted, "laplace", samples=300, seed=1)
    with_cal = dataclasses.replace(
        with_unc, calibration=hand_calibration(1.7, uncertainty="laplace")
    )
    out = predictive_interval(with_cal, POINTS)
    m, lo, hi = method_interval(with_unc, POINTS, 0.9)
    # Same draws and seed on both sides: equal to rounding (1e-12 relative).
    np.testing.assert_allclose(out["lo_uncalibrated"], lo, rtol=1e-12)
    np.testing.assert_allclose(np.log(m / out["lo"]), 1.7 * np.log(m / lo), rtol=1e-12)
    np.testing.assert_allclose(np.log(out["hi"] / m), 1.7 * np.log(hi / m), rtol=1e-12)


def test_calibrate_uses_the_fits_runs_method_and_settings(runs, fitted, calibrated):
    cal = calibrated.calibration
    assert isinstance(cal, Calibration) and calibrated.params == fitted.params
    assert (cal.n_calibration, cal.n_fit) == (18, 36)
    # The two largest budgets: 10^20.4 and 1e21 (geomspace rounding, 1e-12 relative).
    assert cal.calibration_cutoff == pytest.approx(10**20.4, rel=1e-12)
    assert cal.uncertainty == "none" and cal.level == 0.9
    # The same procedure run directly on the runs: same factor (deterministic fits).
    direct = quiet(conformal_calibrate, runs)
    assert cal.factor == pytest.approx(direct.factor, rel=1e-9)
    r = np.asarray(fitted.residuals)
    assert cal.residual_scale == pytest.approx(math.sqrt(np.sum(r**2) / (r.size - 5)), rel=1e-15)
    assert cal.residual_dof == r.size - 5
    # Passing the same runs explicitly (another order) is the same calibration, up to the
    # solver's tolerance (reordered sums reach the optimum by another path: 1e-6 relative).
    again = quiet(sl.calibrate, fitted, runs.iloc[::-1].reset_index(drop=True))
    assert again.calibration.factor == pytest.approx(cal.factor, rel=1e-6)


def test_plans_carry_calibrated_predictive_loss(calibrated):
    plan = sl.plan_compute(calibrated, [1e21, 1e23])
    q = calibrated.calibration.factor
    w_cal = np.log(plan["loss_predictive_q95"] / plan["loss_predictive_q05"])
    w_unc = np.log(
        plan["loss_predictive_q95_uncalibrated"] / plan["loss_predictive_q05_uncalibrated"]
    )
    np.testing.assert_allclose(w_cal, q * w_unc, rtol=1e-12)
    assert plan.attrs["calibration"]["factor"] == q
    off = sl.plan_compute(calibrated, [1e21, 1e23], calibrated=False)
    assert not any(c.startswith("loss_predictive") for c in off.columns)
    for fn, arg in ((sl.plan_fixed_params, [1e9]), (sl.plan_fixed_tokens, [1e11])):
        assert "loss_predictive_q95" in fn(calibrated, arg).columns


def test_record_round_trip_keeps_the_calibration(tmp_path, fitted, calibrated):
    path = sl.save_fit(calibrated, tmp_path / "fit.json")
    record = json.loads(path.read_text())
    assert record["calibration"] == json.loads(json.dumps(calibrated.calibration.to_dict()))
    assert {"factor", "quantile", "level", "method", "n_calibration"} <= set(record["calibration"])
    assert {"calibration_cutoff", "coverage_uncalibrated"} <= set(record["calibration"])
    back = sl.load_fit(path)
    assert back.calibration.to_dict() == calibrated.calibration.to_dict()
    # The record keeps no residuals; the calibration's residual scale rebuilds the
    # interval exactly (JSON keeps floats at full precision).
    a = predictive_interval(calibrated, POINTS)
    b = predictive_interval(back, POINTS)
    np.testing.assert_allclose(b[["lo", "hi"]], a[["lo", "hi"]], rtol=1e-14)
    # An uncalibrated fit writes no calibration key, and reads back without one.
    plain = sl.save_fit(fitted, tmp_path / "plain.json")
    assert "calibration" not in json.loads(plain.read_text())
    assert sl.load_fit(plain).calibration is None


@pytest.mark.slow
def test_record_round_trip_with_draws(tmp_path, fitted):
    with_unc = quiet(attach, fitted, "laplace", samples=300, seed=2)
    cal = quiet(sl.calibrate, with_unc, samples=300)
    assert cal.calibration.uncertainty == "laplace" and cal.calibration.residual_scale is None
    back = sl.load_fit(sl.save_fit(cal, tmp_path / "fit.json"))
    # 300 draws are kept unthinned with their noise scales: the same interval to rounding.
    np.testing.assert_allclose(
        predictive_interval(back, POINTS)[["lo", "hi"]],
        predictive_interval(cal, POINTS)[["lo", "hi"]],
        rtol=1e-12,
    )


def test_schema_v1_record_without_calibration_still_loads():
    res = sl.load_fit(FIXTURE)
    assert res.calibration is None
    assert "loss_predictive_q05" not in sl.plan_compute(res, [1e22]).columns


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(factor=-1.0), "'factor' = -1.0 is not a positive"),
        (lambda c: c.update(law="avgparams"), "calibration is for law 'avgparams'"),
        (lambda c: c.update(uncertainty="bootstrap"), "made for 'bootstrap' intervals"),
        (lambda c: c.pop("residual_scale"), "needs residual_scale"),
        (lambda c: c.update(level=1.5), "level 1.5 is not between 0 and 1"),
    ],
)
def test_unusable_calibration_in_a_record_is_refused(tmp_path, calibrated, edit, message):
    path = sl.save_fit(calibrated, tmp_path / "fit.json")
    record = json.loads(path.read_text())
    edit(record["calibration"])
    path.write_text(json.dumps(record))
    with pytest.raises(sl.RecordError, match=message):
        sl.load_fit(path)


def test_calibrate_refuses_mismatches(tmp_path, runs, fitted, calibrated):
    other = runs.copy()
    other.loc[0, "loss"] *= 1.05
    with pytest.raises(sl.ScalingLawsError, match=r"not the 54 runs this chinchilla fit"):
        sl.calibrate(fitted, other)
    with pytest.raises(sl.ScalingLawsError, match=r"not the 54 runs"):
        sl.calibrate(fitted, runs.iloc[:-3])
    loaded = sl.load_fit(sl.save_fit(fitted, tmp_path / "fit.json"))
    with pytest.raises(sl.ScalingLawsError, match="loaded from a record"):
        sl.calibrate(loaded)
    with pytest.raises(sl.ScalingLawsError, match="holds out 9 of 54 runs; 95% .* at least 19"):
        sl.calibrate(fitted, calibration_cutoff=5e20, level=0.95)
    # A calibration of residual-scatter intervals does not apply to draws attached later.
    stale = quiet(attach, calibrated, "laplace", samples=50)
    with pytest.raises(sl.ScalingLawsError, match="carries 'laplace' uncertainty"):
        predictive_interval(stale, POINTS)
    with pytest.raises(sl.ScalingLawsError, match="made for 90% intervals"):
        predictive_interval(calibrated, POINTS, level=0.8)
