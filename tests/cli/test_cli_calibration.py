"""Command line: 'fit LAW --calibrate conformal', and predict / plan from the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglaws.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "chinchilla_sim" / "runs.csv"
SPARSE = REPO / "data" / "sparse" / "runs.csv"


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """The bundled log fitted with Laplace draws, with and without calibration."""
    folder = tmp_path_factory.mktemp("fits")
    base = ["fit", "chinchilla", str(DATA), "--uncertainty", "laplace", "--samples", "400"]
    cal, plain = folder / "cal.json", folder / "plain.json"
    assert main([*base, "--calibrate", "conformal", "--out", str(cal), "--quiet"]) == 0
    assert main([*base, "--out", str(plain), "--quiet"]) == 0
    return cal, plain


def test_fit_json_carries_the_calibration(capsys, tmp_path):
    out_path = tmp_path / "fit.json"
    args = ["fit", "chinchilla", DATA, "--calibrate", "conformal", "--json", "--quiet"]
    code, out, err = run_cli([*args, "--calibration-fraction", "0.3", "--out", out_path], capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    cal = payload["calibration"]
    # 30% of 81 runs is 25, rounded up to whole isoFLOP slices of 9: 27.
    assert cal["n_calibration"] == 27 and cal["level"] == 0.9 and cal["factor"] >= 1.0
    assert cal["uncertainty"] == "none" and cal["residual_dof"] == 81 - 5
    assert json.loads(out_path.read_text())["calibration"] == cal


def test_fit_text_says_calibrated(capsys):
    code, out, _ = run_cli(
        ["fit", "chinchilla", DATA, "--calibrate", "conformal", "--quiet"], capsys
    )
    assert code == 0
    assert "90% predictive intervals calibrated: split-conformal factor" in out
    assert "from 18 runs with C >= 1e+21" in out


def test_predict_from_a_calibrated_record_is_wider_by_the_factor(capsys, records):
    cal_path, plain_path = records
    factor = json.loads(cal_path.read_text())["calibration"]["factor"]
    assert factor > 1.0  # else this test could not tell widened from not
    ask = ["--N", "1e9", "1e10", "--D", "2e10", "2e11", "--json"]
    code, out, _ = run_cli(["predict", cal_path, *ask], capsys)
    assert code == 0
    calibrated = json.loads(out)
    assert calibrated["summary"]["calibrated"] is True
    assert calibrated["summary"]["calibration"]["factor"] == factor
    code, out, _ = run_cli(["predict", cal_path, *ask, "--no-calibration"], capsys)
    off = json.loads(out)
    assert off["summary"] == {
        "law": "chinchilla",
        "uncertainty": "laplace",
        "calibrated": False,
        "calibration": None,
    }
    code, out, _ = run_cli(["predict", plain_path, *ask], capsys)
    plain = json.loads(out)
    assert plain["summary"]["calibrated"] is False
    # The uncalibrated fit and the calibrated record with --no-calibration agree: the
    # two records come from the same deterministic fit and seeded draws.
    assert plain["rows"] == off["rows"]
    for row, base in zip(calibrated["rows"], off["rows"], strict=True):
        width = np.log(row["loss_q95"] / row["loss_q05"])
        base_width = np.log(base["loss_q95"] / base["loss_q05"])
        # Same predictive draws (count and seed), widened about the prediction: exact up
        # to floating-point rounding of logs and exps (1e-9 relative).
        assert width == pytest.approx(factor * base_width, rel=1e-9)
        assert row["loss_q05_uncalibrated"] == pytest.approx(base["loss_q05"], rel=1e-12)
        assert row["loss_q05"] < base["loss_q05"] < row["loss"] < base["loss_q95"] < row["loss_q95"]


def test_plan_compute_from_a_calibrated_record(capsys, records):
    cal_path, _ = records
    factor = json.loads(cal_path.read_text())["calibration"]["factor"]
    code, out, _ = run_cli(
        ["plan", "compute", cal_path, "--budget", "1e21", "1e23", "--json"], capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["summary"]["calibrated"] is True
    assert len(payload["rows"]) == 2
    for row in payload["rows"]:
        w = np.log(row["loss_predictive_q95"] / row["loss_predictive_q05"])
        w0 = np.log(
            row["loss_predictive_q95_uncalibrated"] / row["loss_predictive_q05_uncalibrated"]
        )
        assert w == pytest.approx(factor * w0, rel=1e-9)  # rounding only, as above
    code, out, _ = run_cli(["plan", "compute", cal_path, "--budget", "1e21"], capsys)
    assert "loss_predictive_q05" in out and "calibrated: split-conformal factor" in out
    code, out, _ = run_cli(
        ["plan", "compute", cal_path, "--budget", "1e21", "--json", "--no-calibration"], capsys
    )
    payload = json.loads(out)
    assert payload["summary"]["calibrated"] is False
    assert not any(k.startswith("loss_predictive") for k in payload["rows"][0])


@pytest.mark.slow
def test_avgparams_fit_takes_the_shared_calibration_option(capsys, tmp_path):
    out_path = tmp_path / "sparse.json"
    args = ["fit", "avgparams", SPARSE, "--calibrate", "conformal", "--json", "--quiet"]
    code, out, _ = run_cli([*args, "--out", out_path], capsys)
    assert code == 0
    cal = json.loads(out)["calibration"]
    # The top 20% of 65 runs is 13, rounded up to the whole 1e21 slice (15 runs), whose
    # C = 6 N_avg D differs run to run by rounding only.
    assert cal["law"] == "avgparams" and cal["n_calibration"] == 15
    code, out, _ = run_cli(["predict", out_path, "--input", "N_avg=1e9", "--D", "2e10"], capsys)
    assert code == 0 and "loss_q95_uncalibrated" in out


def _small_top(tmp_path) -> Path:
    """The bundled log with its largest budget cut to 5 runs."""
    runs = pd.read_csv(DATA)
    c = runs["C"] if "C" in runs.columns else 6 * runs["N"] * runs["D"]
    top = c == c.max()
    path = tmp_path / "runs.csv"
    pd.concat([runs[~top], runs[top].head(5)]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--calibrate", "conformal", "--calibration-fraction", "0.05"],
            "holds out 5 of 77 runs; 90% conformal intervals need at least 9",
        ),
        (["--calibrate", "conformal", "--calibration-fraction", "1.5"], "calibration_fraction"),
        (["--calibrate", "conformal", "--calibration-cutoff", "-1"], "calibration_cutoff"),
        (["--calibration-fraction", "0.3"], "need --calibrate conformal"),
    ],
)
def test_bad_calibration_input_exits_2_and_writes_nothing(capsys, tmp_path, extra, message):
    out_path = tmp_path / "fit.json"
    args = ["fit", "chinchilla", _small_top(tmp_path), "--quiet", "--out", out_path, *extra]
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not out_path.exists()


def test_record_whose_calibration_does_not_match_its_law_exits_2(capsys, tmp_path, records):
    cal_path, _ = records
    record = json.loads(cal_path.read_text())
    record["calibration"]["law"] = "avgparams"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record))
    for cmd in (
        ["predict", bad, "--N", "1e9", "--D", "2e10"],
        ["plan", "compute", bad, "--budget", "1e21"],
    ):
        code, out, err = run_cli(cmd, capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert "calibration is for law 'avgparams'" in err
