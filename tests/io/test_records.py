"""Fit records: one schema for every kind, round trip, migration, validation."""

import json
from pathlib import Path

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.io import records
from scalinglaws.mixture.record import load_cmr_fit
from scalinglaws.simulate import isoflop_design, simulate_runs

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "records"


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
    assert rec["schema_version"] == 2 and rec["kind"] == "law"
    assert rec["data"]["n_runs"] == res.n_runs and rec["data"]["load_options"] == {}
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


@pytest.mark.slow
def test_uncertainty_round_trip_thinned_and_aligned(tmp_path, fitted, monkeypatch):
    """A record keeps a thinned set of draws with their per-draw noise scales aligned, so
    plans and predictive intervals come back without refitting."""
    import scalinglaws.io.records as records
    from scalinglaws.uncertainty import bootstrap, predictive

    # A well-identified design (six budgets): the bootstrap must converge for its draws to
    # be used (the 21-run fixture above is too small: its resamples wander along the
    # E-alpha ridge and the bootstrap is, rightly, labelled not converged).
    d = isoflop_design([1e18, 3e18, 1e19, 3e19, 1e20, 3e20], 9)
    runs = simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, d, noise=0.005, seed=4)
    res = sl.fit(sl.laws.chinchilla(), runs)
    boot = bootstrap(res, n=300, seed=1)
    assert boot.uncertainty.converged
    monkeypatch.setattr(records, "MAX_RECORD_DRAWS", 100)
    back = sl.load_fit(sl.save_fit(boot, tmp_path / "fit.json"))
    assert back.uncertainty.method == "bootstrap"
    assert back.uncertainty.n_draws == 100
    assert np.size(back.uncertainty.extra["noise_scale"]) == 100
    draws = predictive(back, {"N": np.array([1e9]), "D": np.array([2e10])}, seed=0)
    assert draws.shape == (100, 1) and np.all(np.isfinite(draws))
    # Thinning keeps a subset of the draws, in order, spread over the whole run (not the
    # first 100): every kept value is a full-set value, at increasing positions that reach
    # past the first and last thirds.
    full = np.asarray(boot.uncertainty.draws["alpha"])
    kept = np.asarray(back.uncertainty.draws["alpha"])
    pos = np.array([int(np.flatnonzero(full == v)[0]) for v in kept])
    assert np.all(np.diff(pos) > 0)
    assert pos[0] < 100 and pos[-1] > 200
    plan = sl.plan_compute(back, [1e22])
    assert plan["tokens_per_param_q05"].iloc[0] < plan["tokens_per_param_q95"].iloc[0]


@pytest.mark.parametrize(
    "path",
    [
        *sorted((REPO / "fits").rglob("v*.json")),
        FIXTURES / "chinchilla_schema_v1.json",
        FIXTURES / "cmr_schema_v1.json",
    ],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_every_bundled_record_and_fixture_loads(path):
    """Kept forever: every record in fits/ and every schema fixture reads (migrated to the
    current schema) and converts to its result object."""
    rec = records.read_record(path)
    assert rec["schema_version"] == records.SCHEMA_VERSION
    assert rec["kind"] in records.KINDS
    obj = records.load_record(path)
    if rec["kind"] == "law":
        assert isinstance(obj, sl.FitResult) and set(obj.params) == set(rec["params"])
    elif records.record_name(rec) == "datamix":
        assert isinstance(obj, sl.DataMixFit) and set(obj.domains) == set(rec["params"])
    else:
        assert isinstance(obj, sl.CMRFit) and obj.models


def test_schema_v1_cmr_fixture_still_loads():
    """Kept forever: a schema-1 CMR record (``scalinglaws.cmr_fit``) becomes a pipeline
    record; its parts load and its out-of-range anchor values are clipped and flagged."""
    path = FIXTURES / "cmr_schema_v1.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1 and raw["kind"] == "scalinglaws.cmr_fit"
    rec = records.read_record(path)
    assert rec["kind"] == "pipeline" and rec["pipeline"]["name"] == "cmr"
    assert rec["parts"]["settings"]["lambda"] == raw["lambda"]
    assert rec["data"]["sha256"] == raw["data"]["sha256"]
    assert rec["data"]["n_runs"] == len(raw["critical"])
    fit = load_cmr_fit(path)
    assert fit.models == tuple(raw["models"])
    assert fit.params["1.6B"]["alpha4"] == raw["params"]["1.6B"]["alpha4"]
    assert fit.n_draws == raw["uncertainty"]["n_draws_kept"]
    unclipped = [a["cmr"] for a in raw["anchors"]]
    assert max(unclipped) > 1.0  # the fixture holds the out-of-range values DESIGN §5 flags
    for old, new in zip(raw["anchors"], rec["anchors"], strict=True):
        assert new["cmr_unclipped"] == old["cmr"]
        assert 0.0 <= new["cmr"] <= 1.0
        assert ("clipped" in new["flags"]) == (not 0.0 <= old["cmr"] <= 1.0)


def test_wrong_kind_is_named(tmp_path):
    with pytest.raises(sl.RecordError, match=r"is a pipeline record \(cmr\), not a law record"):
        sl.load_fit(FIXTURES / "cmr_schema_v1.json")
    with pytest.raises(sl.RecordError, match=r"is a law record \(chinchilla\), not a CMR"):
        load_cmr_fit(FIXTURES / "chinchilla_schema_v1.json")
    rec = records.read_record(FIXTURES / "cmr_schema_v1.json")
    rec["pipeline"]["name"] = "nopipe"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(sl.RecordError, match="no reader is registered for pipeline 'nopipe'"):
        records.load_record(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(kind="other"), "kind 'other' is not one of law, pipeline"),
        (lambda r: r.pop("law"), "field 'law' is missing"),
        (lambda r: r.update(status=3), "field 'status' is missing or not a str"),
        (lambda r: r.update(anchors={}), "field 'anchors' is missing or not a list"),
    ],
)
def test_writer_refuses_a_bad_envelope(tmp_path, fitted, mutate, message):
    res, _ = fitted
    rec = records.record_from_fit(res)
    mutate(rec)
    with pytest.raises(sl.RecordError, match=message):
        records.write_record(rec, tmp_path / "fit.json")
    assert not (tmp_path / "fit.json").exists()
