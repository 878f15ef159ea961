"""Fit records: round trip, validation, and no partial output."""

import json

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.simulate import isoflop_design, simulate_runs


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = isoflop_design([1e18, 1e19, 1e20], 7)
    runs = simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, d, noise=0.01, seed=3)
    path = tmp_path_factory.mktemp("data") / "runs.csv"
    runs.to_csv(path, index=False)
    return sl.fit(sl.laws.chinchilla(), sl.load_runs(path)), path


def test_round_trip(tmp_path, fitted):
    res, data = fitted
    out = sl.save_fit(res, tmp_path / "fit.json", data_path=data)
    rec = json.loads(out.read_text())
    assert rec["schema_version"] == 1
    assert set(rec["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert len(rec["data"]["sha256"]) == 64
    assert len(rec["anchors"]) == 4
    back = sl.load_fit(out)
    # JSON keeps floats at full precision (repr round trip): exact.
    assert back.params == res.params
    np.testing.assert_array_equal(back.covariance, res.covariance)
    for a in rec["anchors"]:
        assert float(back.predict(**a["inputs"])) == pytest.approx(a["prediction"], rel=1e-15)
    plan_a = sl.plan_compute(res, [1e22])
    plan_b = sl.plan_compute(back, [1e22])
    assert plan_a.equals(plan_b)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(schema_version=99), "schema_version 99 is not supported"),
        (lambda r: r["params"].pop("E"), "do not match law"),
        (lambda r: r["params"].update(E="x"), "is not a finite number"),
        (lambda r: r["law"].update(name="nolaw"), "unknown law 'nolaw'"),
    ],
)
def test_bad_records_are_refused(tmp_path, fitted, mutate, message):
    res, _ = fitted
    path = sl.save_fit(res, tmp_path / "fit.json")
    rec = json.loads(path.read_text())
    mutate(rec)
    path.write_text(json.dumps(rec))
    with pytest.raises(sl.RecordError, match=message):
        sl.load_fit(path)


def test_not_json(tmp_path):
    p = tmp_path / "f.json"
    p.write_text("{not json")
    with pytest.raises(sl.RecordError, match="not valid JSON"):
        sl.load_fit(p)
