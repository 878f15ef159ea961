"""``scalinglaws demo`` on its bundled log: the truth beside the fit, the report's notes,
and the bundled files as ``data/demo/generate.py`` makes them."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.cli.core import DEFAULT_DATA, DEMO_BUDGETS

#: Slow: the demo's fit with 1,000 bootstrap draws and a regeneration of its log (CI runs it).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo"
OTHER_LOG = REPO / "data" / "chinchilla_sim" / "runs.csv"


def _generator():
    spec = importlib.util.spec_from_file_location("demo_generate", DEMO / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _generator()


@pytest.fixture(scope="module")
def truth():
    return json.loads((DEMO / "truth.json").read_text())


@pytest.fixture(scope="module")
def demo_text(tmp_path_factory):
    """The default demo's console text (bootstrap with few resamples) and its report.md."""
    import contextlib
    import io

    report = tmp_path_factory.mktemp("demo") / "report"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--samples", "100", "--report", str(report), "--quiet"])
    assert code == 0
    return out.getvalue(), (report / "report.md").read_text()


def test_demo_reads_the_bundled_log_by_default():
    assert DEFAULT_DATA == (DEMO / "runs.csv").resolve()
    assert DEFAULT_DATA.exists()


def test_demo_prints_the_truth_beside_the_fit(demo_text, truth):
    text, _ = demo_text
    assert "Truth of the bundled simulated log" in text
    assert f"seed {truth['seed']}" in text
    for name, value in truth["params"].items():
        assert re.search(rf"^\s+{name}\s+\S+\s+{value:.5g}\s*$", text, re.M), name
    plan_rows = [line for line in text.splitlines() if re.search(r"\s(yes|NO)\s*$", line)]
    assert len(plan_rows) == len(DEMO_BUDGETS)
    for row, want in zip(plan_rows, truth["true_plan"], strict=True):
        assert f"{want['tokens_per_param']:.4g}" in row and f"{want['N_opt']:.4g}" in row


def test_demo_prints_the_reports_extrapolation_notes(demo_text):
    text, report = demo_text
    notes = re.findall(r"\| (extrapolated: [^|]+?) \|", report)
    assert len(notes) == sum(c > 1e21 for c in DEMO_BUDGETS) > 0
    console = text.split("Notes (as in the report):", 1)[1]
    for note in notes:
        assert note in console


def test_demo_json_carries_truth_and_notes(capsys, truth):
    code = main(["demo", "--uncertainty", "none", "--report", "", "--json", "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0
    summary = json.loads(out)["summary"]
    assert Path(summary["data"]).resolve() == DEFAULT_DATA
    assert summary["truth"]["seed"] == truth["seed"]
    assert {k: v["true"] for k, v in summary["truth"]["params"].items()} == truth["params"]
    rows = summary["truth"]["plan"]
    assert [r["C"] for r in rows] == list(DEMO_BUDGETS)
    for row, want in zip(rows, truth["true_plan"], strict=True):
        assert row["tokens_per_param_true"] == pytest.approx(want["tokens_per_param"], rel=1e-9)
        assert row["N_opt_true"] == pytest.approx(want["N_opt"], rel=1e-9)
        assert row["tokens_per_param_interval_holds_truth"] is None  # no draws, no interval
    assert any("extrapolated" in n for n in summary["notes"])


def test_demo_on_another_log_prints_no_truth(capsys):
    code = main(["demo", "--runs", str(OTHER_LOG), "--uncertainty", "none", "--report", ""])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "Truth of the bundled" not in out
    assert "Notes (as in the report):" in out and "extrapolated" in out


def test_truth_file_matches_the_generator(generator, truth):
    _, record = generator.build()
    assert json.loads(json.dumps(record)) == truth
    assert truth["params"] == generator.TRUTH == sl.laws.EPOCH_2024
    assert truth["seed"] == generator.SEED
    assert truth["noise"]["sd"] == generator.NOISE
    assert truth["design"]["budgets"] == list(generator.BUDGETS)
    assert tuple(generator.PLAN_BUDGETS) == DEMO_BUDGETS


def test_generator_reproduces_the_bundled_log_byte_for_byte(generator):
    runs, _ = generator.build()
    assert len(runs) == len(generator.BUDGETS) * generator.SIZES_PER_BUDGET
    text = runs.to_csv(index=False, float_format="%.10g")
    assert text == (DEMO / "runs.csv").read_text()
