"""``scalinglaws check FIT --new-runs RUNS``: new runs against a recorded law's intervals."""

import json
from pathlib import Path

import pytest

import scalinglaws as sl
from scalinglaws import checking
from scalinglaws.cli import main
from scalinglaws.simulate import isoflop_design, simulate_runs

REPO = Path(__file__).resolve().parents[2]
TRUTH = sl.laws.HOFFMANN_2022
NOISE = 0.005  # 0.5% run-to-run scatter in loss, as in well-controlled sweeps
BUDGETS = [1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21]
NEW_BUDGETS = [3e21, 1e22]  # 3x and 10x beyond the recorded runs


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A Chinchilla law recorded with Laplace draws from 63 runs up to 1e21 FLOPs."""
    root = tmp_path_factory.mktemp("new_runs")
    law = sl.laws.chinchilla()
    d = isoflop_design(BUDGETS, 9)
    runs = simulate_runs(law, TRUTH, d, noise=NOISE, seed=4)
    data = root / "runs.csv"
    runs.to_csv(data, index=False)
    result = sl.laplace(sl.fit(law, sl.load_runs(data)), n=1000, seed=0)
    record = sl.save_fit(result, root / "fit.json", data_path=data)
    return root, record


def _new_runs(root, params, name, seed):
    d = isoflop_design(NEW_BUDGETS, 5)
    runs = simulate_runs(sl.laws.chinchilla(), params, d, noise=NOISE, seed=seed)
    path = root / name
    runs.to_csv(path, index=False)
    return path


def test_runs_that_follow_the_law_pass(recorded, capsys):
    root, record = recorded
    new = _new_runs(root, TRUTH, "follow.csv", seed=11)
    capsys.readouterr()
    code = main(["check", str(record), "--new-runs", str(new), "--json", "--quiet"])
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"rows", "summary", "warnings"}
    s = payload["summary"]
    assert code == 0, s
    assert s["n_new_runs"] == 10 and len(payload["rows"]) == 10
    assert s["share_outside"] <= checking.DEFAULT_MAX_OUTSIDE
    # The plan at 100x the largest budget moves (15-17% here: see DEFAULT_PLAN_RTOL), but
    # within the default tolerance.
    assert s["plan_checked"] and s["budget"] == pytest.approx(100 * max(NEW_BUDGETS))
    assert abs(s["N_opt_rel_change"]) < checking.DEFAULT_PLAN_RTOL
    assert abs(s["D_opt_rel_change"]) < checking.DEFAULT_PLAN_RTOL
    for row in payload["rows"]:
        assert row["lo"] < row["predicted"] < row["hi"]
        assert row["inside"] == (row["lo"] <= row["observed"] <= row["hi"])


def test_runs_that_bend_away_at_scale_fail_and_are_named(recorded, capsys):
    """Runs from another law at 3x-10x the recorded compute (a floor E 0.1 nats higher,
    so the losses bend up away from the recorded law at scale): nearly all fall outside,
    and the check fails naming them."""
    root, record = recorded
    new = _new_runs(root, {**TRUTH, "E": TRUTH["E"] + 0.1}, "bend.csv", seed=12)
    capsys.readouterr()
    assert main(["check", str(record), "--new-runs", str(new), "--quiet"]) == 1
    out = capsys.readouterr().out
    res = checking.check_new_runs(record, new)
    assert res.failed and res.summary["share_outside"] > checking.DEFAULT_MAX_OUTSIDE
    outside = res.summary["outside_runs"]
    assert len(outside) >= 8
    for name in outside:
        assert name in out
    row = next(r for r in res.rows if not r["inside"])
    # How far: the log-loss residual lies beyond the interval, and is many sd out.
    assert abs(row["log_residual"]) > abs(row["beyond"]) > 0 and abs(row["sd"]) > 1.645


def test_plan_tolerance_alone_can_fail(recorded, capsys):
    """With every run inside its interval, a plan tolerance tighter than the move fails."""
    root, record = recorded
    new = _new_runs(root, TRUTH, "follow2.csv", seed=11)
    res = checking.check_new_runs(record, new, max_outside=1.0, plan_rtol=1e-9)
    assert res.summary["plan_moved"] and res.failed
    capsys.readouterr()
    args = ["check", str(record), "--new-runs", str(new), "--max-outside", "1"]
    assert main([*args, "--plan-rtol", "1e-9", "--quiet"]) == 1
    assert main([*args, "--plan-rtol", "10", "--quiet"]) == 0


def test_pipeline_record_is_refused_in_one_line(capsys):
    fixture = REPO / "tests" / "fixtures" / "records" / "cmr_schema_v1.json"
    code = main(["check", str(fixture), "--new-runs", str(fixture), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "is a pipeline record (cmr)" in err and "not yet for pipeline records" in err


def test_new_run_options_need_new_runs(capsys, recorded):
    _, record = recorded
    assert main(["check", str(record), "--budget", "1e22"]) == 2
    assert "--budget applies with --new-runs" in capsys.readouterr().err
