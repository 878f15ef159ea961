"""The CI gate sees a CMR pipeline that drifts back to the old point weights.

Before the point weights became deterministic (delta method), the bundled record
``fits/cmr/cmr_sim/v1.json`` was made with weights from random bootstrap draws. A pipeline
edited to give those old numbers again (here: the v1 record's own weights put back in place
of the delta-method ones) must make ``check fits/`` fail on the current CMR record, while
the unedited pipeline passes it.
"""

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
