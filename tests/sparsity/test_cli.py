"""Command line: ``schedule``, ``fit avgparams``, ``plan sparsity``; JSON and exit codes."""

import json
from pathlib import Path

import pandas as pd
import pytest

from scalinglaws.cli import main
from scalinglaws.sparsity import load_sparse_runs

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "sparse" / "runs.csv"

SCHEDULE_KEYS = {
    "start_step", "end_step", "events", "prune_fraction_per_event", "average_density",
    "final_density", "compute_fraction_start", "compute_fraction_end",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SCALINGLAWS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_json_and_csv(capsys, tmp_path):
    csv = tmp_path / "density.csv"
    code, out, err = run_cli(
        ["schedule", "--sparsity", 0.8, "--total-steps", 10_000, "--every", 100,
         "--tokens-per-step", 1e6, "--dense-params", 1e9, "--csv", csv, "--json", "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0 and err == ""
    info = json.loads(out)
    assert SCHEDULE_KEYS <= set(info)
    assert info["start_step"] % 100 == 0 and info["end_step"] % 100 == 0
    # Compute fractions within one 100-step block (<= 100/10,000 of compute) of 25%/75%.
    assert abs(info["compute_fraction_start"] - 0.25) <= 0.01
    assert abs(info["compute_fraction_end"] - 0.75) <= 0.01
    assert info["C"] == pytest.approx(6 * info["N_avg"] * info["D"], rel=1e-12)
    table = pd.read_csv(csv)
    assert len(table) == 10_000 and list(table.columns[:2]) == ["step", "density"]
    # The CSV's mean density is the reported average (uniform tokens; 10-digit CSV).
    assert table["density"].mean() == pytest.approx(info["average_density"], rel=1e-9)


def test_schedule_by_steps_text(capsys):
    code, out, _ = run_cli(
        ["schedule", "--sparsity", 0.5, "--total-steps", 1000, "--every", 50, "--kind", "cubic",
         "--start-step", 200, "--end-step", 600],
        capsys,
    )  # fmt: skip
    assert code == 0 and "cubic pruning to sparsity 0.5" in out and "events: 9" in out


@pytest.mark.parametrize(
    "args, match",
    [
        (["--sparsity", 1.0, "--total-steps", 1000], "sparsity"),
        (["--sparsity", 0.5, "--total-steps", 1000, "--start-step", 500, "--end-step", 100], "before"),
        (["--sparsity", 0.5, "--total-steps", 1000, "--start-step", 100, "--end-step", 150], "divide"),
        (["--sparsity", 0.5, "--total-steps", 1000, "--start-step", 100], "go together"),
        (["--sparsity", 0.5, "--total-steps", 1000, "--start-step", 100, "--end-step", 500,
          "--start-compute", 0.2], "not both"),
        (["--sparsity", 0.5, "--total-steps", 1000, "--start-compute", 0.8, "--end-compute", 0.2],
         "end_compute"),
    ],
)  # fmt: skip
def test_schedule_bad_input_exits_2_with_one_line(args, match, capsys):
    code, out, err = run_cli(["schedule", *args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and match in err


def test_fit_then_plan(capsys, tmp_path):
    assert DATA.exists(), "the bundled data/sparse/runs.csv ships with the repository"
    fit_path = tmp_path / "fit.json"
    code, out, err = run_cli(
        ["fit", "avgparams", DATA, "--json", "--quiet", "--out", fit_path], capsys
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert {
        "law",
        "params",
        "objective",
        "status",
        "diagnostics",
        "uncertainty",
        "warnings",
    } <= set(payload)
    assert payload["law"] == "avgparams" and payload["status"] == "converged"
    assert payload["diagnostics"]["n_sparse_runs"] == 45
    # The bundled log's truth is Hoffmann 2022; its fit lies within 0.5 s.e. (README), so
    # alpha within 0.03 (about 2 s.e.) cannot fail by chance and still catches a wrong N_avg.
    assert abs(payload["params"]["alpha"] - 0.33917) < 0.03

    # The record's load options are keyword arguments of load_sparse_runs (for refits).
    record = json.loads(fit_path.read_text())
    assert record["law"]["name"] == "avgparams"
    again = load_sparse_runs(DATA, **record["data"]["load_options"])
    assert len(again) == 65

    code, out, err = run_cli(
        ["plan", "sparsity", fit_path, "--budget", 1e22, "--sparsity", 0, 0.5, 0.8, "--json"],
        capsys,
    )
    assert code == 0
    plan = json.loads(out)
    assert set(plan) == {"rows", "summary", "warnings"}
    rows = plan["rows"]
    assert [r["sparsity"] for r in rows] == [0.0, 0.5, 0.8]
    for r in rows:
        assert r["C"] == pytest.approx(6 * r["N_avg"] * r["D"], rel=1e-12)
        assert r["loss"] == rows[0]["loss"]
    assert rows[0]["N_final"] > rows[1]["N_final"] > rows[2]["N_final"]

    code, out, err = run_cli(
        ["plan", "sparsity", fit_path, "--budget", 1e22, "--sparsity", 1.5], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "[0, 1)" in err
    code, out, err = run_cli(["plan", "sparsity", fit_path], capsys)
    assert code == 2 and "--budget" in err


def test_fit_bad_log_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("run,N,sparsity,start_step,end_step,total_steps,D,loss\n"
                   + "".join(f"r{i},1e8,0,,,,{1e9 * (i + 1)},3.0\n" for i in range(5))
                   + "x,1e8,0.5,500,100,1000,1e9,3.0\n")  # fmt: skip
    code, out, err = run_cli(["fit", "avgparams", bad, "--quiet"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "line 7" in err and "before start_step" in err
