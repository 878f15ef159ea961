"""The command line: JSON contracts, records, exit codes, nothing half-written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pandas as pd
import pytest

from scalinglaws.cli import main
from scalinglaws.laws.chinchilla import compute_optimal

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "chinchilla_sim" / "runs.csv"


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fit_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fit.json"
    assert main(["fit", "chinchilla", str(DATA), "--out", str(out), "--quiet"]) == 0
    return out


def test_fit_json_contract(capsys, tmp_path):
    code, out, err = run_cli(["fit", "chinchilla", DATA, "--json", "--quiet"], capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert set(payload) == {
        "law",
        "params",
        "objective",
        "status",
        "diagnostics",
        "uncertainty",
        "warnings",
    }
    assert set(payload["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert payload["status"] == "converged"


def test_plan_compute_json(capsys, fit_json):
    code, out, _ = run_cli(
        ["plan", "compute", fit_json, "--budget", "1e21", "5.76e23", "--json"], capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == {"rows", "summary", "warnings"}
    assert len(payload["rows"]) == 2
    assert {"C", "N_opt", "D_opt", "tokens_per_param", "loss"} <= set(payload["rows"][0])
    assert [r["row"] for r in payload["rows"]] == ["budget", "budget"]
    row = payload["rows"][1]
    # The plan is the recorded law's frontier (the frontier's own values are tested
    # against hand computations in tests/laws/test_derived.py); both are float64 closed
    # forms of the same parameters, so 1e-9 relative leaves room for JSON round-off only.
    params = json.loads(Path(fit_json).read_text())["params"]
    with jax.enable_x64(True):
        n_opt, d_opt = compute_optimal(params, 5.76e23)
    assert row["N_opt"] == pytest.approx(float(n_opt), rel=1e-9)
    assert row["D_opt"] == pytest.approx(float(d_opt), rel=1e-9)


def test_predict(capsys, fit_json):
    code, out, _ = run_cli(
        ["predict", fit_json, "--N", "1e9", "2e9", "--D", "2e10", "--json"], capsys
    )
    assert code == 0
    rows = json.loads(out)["rows"]
    assert len(rows) == 2 and rows[0]["loss"] > rows[1]["loss"] > 1.5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: pd.DataFrame({"N": [1e8] * 6, "loss": [3.0] * 6}).to_csv(p, index=False),
            "needs two of N, D, C",
        ),
        (
            lambda p: p.write_text(
                "N,D,loss\n1e8,2e9,3\n2e8,0,3\n4e8,1e9,3\n1e9,1e9,3\n2e9,1e9,3\n3e9,2e9,3\n"
            ),
            "line 3, column 'D'",
        ),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(capsys, tmp_path, make, message):
    bad = tmp_path / "bad.csv"
    make(bad)
    out_path = tmp_path / "fit.json"
    code, out, err = run_cli(["fit", "chinchilla", bad, "--out", out_path, "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert out == ""
    assert not out_path.exists()
    assert list(tmp_path.iterdir()) == [bad]  # no temporary files left either


def test_plan_compute_json_says_which_rows_are_budgets(capsys, fit_json):
    code, out, _ = run_cli(
        ["plan", "compute", fit_json, "--budget", "1e21", "--target-loss", "2.5", "--json"], capsys
    )
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [r["row"] for r in rows] == ["budget", "target_loss"]


def test_plan_refuses_target_below_e(capsys, fit_json):
    code, _, err = run_cli(["plan", "compute", fit_json, "--target-loss", "0.5"], capsys)
    assert code == 2 and "irreducible loss" in err


def test_missing_record_and_bad_option(capsys, tmp_path):
    code, _, err = run_cli(["plan", "compute", tmp_path / "nope.json", "--budget", "1e21"], capsys)
    assert code == 2 and "does not exist" in err
    with pytest.raises(SystemExit) as exc:
        main(["fit", "chinchilla", str(DATA), "--search", "bogus"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_entry_point_in_a_new_process(tmp_path):
    env = dict(os.environ, SCALINGLAWS_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scalinglaws.cli",
            "fit",
            "chinchilla",
            str(DATA),
            "--json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["law"] == "chinchilla"
