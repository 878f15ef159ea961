"""Wording of the command line's progress lines and refusals, as a user reads them.

Each test stops the command right after the line it checks (the fit or the write is
replaced by a stub that refuses), so no law is fitted and every test runs in under a
second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import scalinglaws
from scalinglaws.approaches.backtest import UNCERTAINTY
from scalinglaws.cli import main
from scalinglaws.errors import ScalingLawsError
from scalinglaws.io.records import read_record, result_from_record

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "data" / "chinchilla_sim" / "runs.csv"
LAW_RECORD = REPO / "fits" / "chinchilla" / "chinchilla_sim" / "v1.json"

#: What the stubs raise: the command then ends with exit 2 and this as its one error line.
STOP = "stopped by the test after the progress line"


def _stop(*args, **kwargs):
    raise ScalingLawsError(STOP)


def _run(argv, capsys, monkeypatch):
    monkeypatch.delenv("SCALINGLAWS_DEBUG", raising=False)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- demo: "writing the report to DIR/" ----------------------------------------------------
@pytest.mark.parametrize("suffix", ["", "/", "//"])
def test_demo_report_line_has_one_slash(suffix, tmp_path, capsys, monkeypatch):
    """``--report rep/`` once printed ``writing the report to rep//``."""
    # The fit is the saved record of the same law (no fitting); the report write stops
    # the command once the line is printed.
    fitted = result_from_record(read_record(LAW_RECORD), where=str(LAW_RECORD))
    monkeypatch.setattr(scalinglaws, "fit", lambda *a, **k: fitted)
    monkeypatch.setattr("scalinglaws.report.write_report", _stop)
    folder = tmp_path / "rep"
    code, _, err = _run(
        ["demo", "--uncertainty", "none", "--report", f"{folder}{suffix}"], capsys, monkeypatch
    )
    assert code == 2 and err.strip().endswith(STOP), err
    lines = [ln for ln in err.splitlines() if ln.startswith("writing the report to")]
    assert lines == [f"writing the report to {folder}/"], err
    assert "//" not in err


# ---- backtest: "backtest: fitting chinchilla (...)" ----------------------------------------
@pytest.mark.parametrize("uncertainty", UNCERTAINTY)
def test_backtest_progress_names_the_uncertainty(uncertainty, capsys, monkeypatch):
    """``--uncertainty none`` once printed ``(none uncertainty)``."""
    import scalinglaws.cli.trust as trust

    monkeypatch.setattr(trust, "backtest", _stop)
    argv = ["backtest", str(RUNS), "--holdout-above-compute", "1e20"]
    code, _, err = _run([*argv, "--uncertainty", uncertainty], capsys, monkeypatch)
    assert code == 2 and err.strip().endswith(STOP), err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("backtest: fitting")]
    want = "(no uncertainty)" if uncertainty == "none" else f"({uncertainty})"
    assert line == f"backtest: fitting chinchilla {want}", err
    assert "none uncertainty" not in err


def test_backtest_progress_default_is_no_uncertainty(capsys, monkeypatch):
    import scalinglaws.cli.trust as trust

    monkeypatch.setattr(trust, "backtest", _stop)
    code, _, err = _run(
        ["backtest", str(RUNS), "--holdout-above-compute", "1e20"], capsys, monkeypatch
    )
    assert code == 2
    assert "backtest: fitting chinchilla (no uncertainty)\n" in err
    assert "none uncertainty" not in err


# ---- plan compute --budget -1e22 ---------------------------------------------------------
@pytest.mark.parametrize(
    ("budgets", "position", "shown"),
    [
        (["--budget", "-1e22"], 1, "-1e+22"),
        (["--budget=-1e22"], 1, "-1e+22"),
        (["--budget", "-1E22"], 1, "-1e+22"),
        (["--budget", "-3.5e+21"], 1, "-3.5e+21"),
        (["--budget", "1e22", "-1e22"], 2, "-1e+22"),
    ],
    ids=["spaced", "equals", "capital-E", "explicit-exponent-sign", "second-of-two"],
)
def test_negative_budget_gets_the_commands_own_message(
    budgets, position, shown, capsys, monkeypatch
):
    """``--budget -1e22`` once got argparse's "expected at least one argument"."""
    code, out, err = _run(["plan", "compute", str(LAW_RECORD), *budgets], capsys, monkeypatch)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    # The plan's own check, naming the budget and its value, not a usage error.
    assert (
        lines[0]
        == f"scalinglaws: error: budget #{position} is {shown}; it must be a positive number"
    )
    assert "expected" not in err and "argument" not in err and "--help" not in err
