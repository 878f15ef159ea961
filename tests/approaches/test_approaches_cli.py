"""The backtest and approaches subcommands (registered as the command line does)."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.cli.trust import register
from scalinglaws.simulate import isoflop_design, simulate_runs


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="scalinglaws")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub, None, None)
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        return args.func(args)


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    # The same 123-run design as test_backtest.py: the compiled solver is reused.
    train = isoflop_design(np.geomspace(1e18, 1e21, 7), 9)
    held = isoflop_design([3e21, 1e22], 30, tokens_per_param=(5.0, 80.0))
    runs = simulate_runs(
        sl.laws.chinchilla(),
        sl.laws.EPOCH_2024,
        pd.concat([train, held], ignore_index=True),
        noise=0.01,
        seed=2,
    )
    path = tmp_path_factory.mktemp("logs") / "runs.csv"
    runs.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_backtest_json_layout_and_plot(log_csv, tmp_path, capsys):
    png = tmp_path / "parity.png"
    argv = ["backtest", str(log_csv), "--holdout-above-compute", "1e21", "--json", "--quiet"]
    assert run_cli([*argv, "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert captured.err == ""  # --quiet
    assert set(out) == {"rows", "summary", "warnings"}
    row = out["rows"][0]
    assert {"N", "D", "observed", "predicted", "q05", "q95", "rel_error"} <= set(row)
    assert {"coverage", "median_abs_rel_error"} <= set(out["summary"])
    assert png.stat().st_size > 1000 and not list(tmp_path.glob(".parity*"))


@pytest.mark.slow
def test_backtest_text_and_leave_one_budget_out(log_csv, capsys):
    assert run_cli(["backtest", str(log_csv), "--leave-one-budget-out", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "leave one isoFLOP budget out" in text and "coverage of 90%" in text


def test_backtest_needs_one_rule(log_csv, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(["backtest", str(log_csv)])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        run_cli(["backtest", str(log_csv), "--holdout-above-compute", "-3"])


def test_approaches_json(log_csv, capsys):
    argv = ["approaches", str(log_csv), "--budgets", "1e22", "1e23", "--approach", "1", "2"]
    assert run_cli([*argv, "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["approach"] for r in out["rows"]] == ["2: isoFLOP", "2: isoFLOP"]
    assert "needs loss curves" in out["summary"]["skipped"]["1"]
    with pytest.raises(sl.ScalingLawsError, match="needs --loss-noise"):
        run_cli([*argv, "--method", "akima"])
