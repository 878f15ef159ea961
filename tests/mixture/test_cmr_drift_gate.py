"""The CI gate sees a CMR pipeline that drifts back to the old point weights.

Before the point weights became deterministic (delta method), the bundled record
``fits/cmr/cmr_sim/v1.json`` was made with weights from random bootstrap draws. A pipeline
edited to give those old numbers again (here: the v1 record's own weights put back in place
of the delta-method ones) must make ``check fits/`` fail on the current CMR record, while
the unedited pipeline passes it.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import checking
from scalinglaws.io.registry import latest_records
from scalinglaws.mixture import pipeline

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "fits" / "cmr" / "cmr_sim"


def _latest():
    [path] = latest_records([REGISTRY])
    assert path.name != "v1.json", "the CMR registry must hold a record newer than v1"
    return path


@pytest.mark.slow
def test_check_fails_when_the_pipeline_gives_the_old_numbers(monkeypatch):
    latest = _latest()
    assert checking.check_record(latest).status == checking.PASS

    old = sl.load_cmr_fit(REGISTRY / "v1.json").critical
    old_w = {(m, round(float(r), 9)): float(w) for m, r, w in old[["model", "ratio", "weight"]].values}

    def old_point_weights(critical: pd.DataFrame) -> np.ndarray:
        keys = zip(critical["model"], critical["ratio"], strict=True)
        return np.array([old_w[(m, round(float(r), 9))] for m, r in keys])

    monkeypatch.setattr(pipeline, "point_weights", old_point_weights)
    res = checking.check_record(latest)
    assert res.status == checking.DRIFT, res.table()
    drifted = {row.item.split(":")[0] for row in res.rows if row.verdict == checking.DRIFT}
    assert drifted, res.table()


def _record_copy(tmp_path, edit):
    """The latest bundled CMR record, edited, beside a copy of its data (same relative
    path), so that ``check`` refits it."""
    latest = _latest()
    record = json.loads(latest.read_text())
    data = (latest.parent / record["data"]["path"]).resolve()
    folder = tmp_path / "fits" / "cmr" / "cmr_sim"
    folder.mkdir(parents=True)
    target = (folder / record["data"]["path"]).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(data, target)
    edit(record)
    path = folder / latest.name
    path.write_text(json.dumps(record))
    return path


def _unconverged(record):
    return [c for c in record["parts"]["curves"] if c["status"] != "converged"]


@pytest.mark.slow
def test_a_curve_fit_stopped_by_its_limit_is_judged_by_its_objective(tmp_path):
    """The bundled record holds one curve fit stopped by the iteration limit (460M, ratio
    1/3, general): its parameters lie on a flat ridge where the stop depends on rounding
    (between two CPUs they moved 0.5%, over the 0.2% tolerance), so check shows them as
    not compared and compares the fit's objective instead. Moving a recorded parameter of
    that curve far off changes nothing; moving its objective by 1% (5x the tolerance) is
    drift, and so is moving a parameter of a converged curve."""
    recorded = json.loads(_latest().read_text())
    [stopped] = _unconverged(recorded)
    assert (stopped["model"], stopped["split"]) == ("460M", "general")
    key = pipeline.ratio_key(stopped["ratio"])

    def far_param(record):
        record["params"]["460M"]["ratios"][key]["s3"] *= 3.0

    res = checking.check_record(_record_copy(tmp_path / "a", far_param))
    assert res.status == checking.PASS, res.table()
    rows = {r.item: r for r in res.rows}
    assert rows[f"460M: ratios/{key}/s3"].verdict == checking.NOT_COMPARED
    assert rows[f"460M: ratios/{key}/alpha1"].verdict == checking.PASS  # domain: converged
    objective_row = rows[f"460M: general fit objective at ratio {key} (max_iter)"]
    assert objective_row.verdict == checking.PASS

    def far_objective(record):
        [c] = _unconverged(record)
        c["objective"] *= 1.01

    res = checking.check_record(_record_copy(tmp_path / "b", far_objective))
    assert res.status == checking.DRIFT
    assert [r.item for r in res.rows if r.verdict == checking.DRIFT] == [objective_row.item]

    def far_converged(record):
        record["params"]["940M"]["ratios"][key]["s3"] *= 1.01

    res = checking.check_record(_record_copy(tmp_path / "c", far_converged))
    assert [r.item for r in res.rows if r.verdict == checking.DRIFT] == [f"940M: ratios/{key}/s3"]
