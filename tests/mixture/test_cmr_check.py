"""Drift checks of CMR fit records: ``scalinglaws check`` and the registry record.

Uses the data shape of test_cmr_pipeline.py (2 sizes x 6 ratios x 40 checkpoints) so the
compiled fits are shared within a session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scalinglaws import checking
from scalinglaws.cli import main
from scalinglaws.errors import RecordError
from scalinglaws.mixture.pipeline import fit_cmr
from scalinglaws.mixture.record import load_cmr_fit, record_cmr
from scalinglaws.simulate.cmr import simulate_cpt_curves

REPO = Path(__file__).resolve().parents[2]
MODELS = ("460M", "1.6B")
TOKENS = np.linspace(0.2e9, 20e9, 40)

# Compile-heavy (the default run's 5-minute budget); CI runs every test.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmr_registry")
    runs, _ = simulate_cpt_curves(models=MODELS, tokens=TOKENS, noise=1e-4, seed=4)
    data = root / "data" / "curves.csv"
    data.parent.mkdir()
    runs.to_csv(data, index=False)
    # Point fit only (fast): the check refits with the recorded options, whatever they
    # are; test_check_refits_with_the_recorded_options_and_seed covers a bootstrap record.
    target = record_cmr(data, "sim", fits_dir=root / "fits", uncertainty="none")
    return root, data, target


def _copy(registry, tmp_path):
    root, data, target = registry
    fits = tmp_path / "fits"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "curves.csv").write_bytes(data.read_bytes())
    rec_path = fits / "cmr" / "sim" / "v1.json"
    rec_path.parent.mkdir(parents=True)
    rec_path.write_text(target.read_text())
    return fits, rec_path


def test_record_layout_relative_path_and_clean_check(registry):
    root, data, target = registry
    assert target == root / "fits" / "cmr" / "sim" / "v1.json"
    rec = json.loads(target.read_text())
    assert rec["schema_version"] == 2
    assert rec["kind"] == "pipeline" and rec["pipeline"]["name"] == "cmr"
    assert rec["data"]["path"] == "../../../data/curves.csv"  # relative to the record folder
    assert rec["data"]["dataset"] == "sim"
    assert {a["model"] for a in rec["anchors"]} == set(MODELS)
    load_cmr_fit(target)  # still a valid CMR record for plans
    res = checking.check_record(target)
    assert res.status == checking.PASS, res.table()
    items = {r.item for r in res.rows}
    # Every part is compared: per model the CMR law and 3 anchors, the loss against ratio
    # and every curve's parameters (6 ratios x (3 domain + 5 general)).
    for m in MODELS:
        assert {f"{m}: {k}" for k in ("alpha4", "s4", "beta3")} <= items
        assert sum(i.startswith(f"{m}: cmr@") for i in items) == 3
        assert f"{m}: loss_ratio/domain/alpha_R" in items
        assert sum(i.startswith(f"{m}: ratios/") for i in items) == 6 * 8
    with pytest.raises(RecordError, match="append-only"):
        record_cmr(data, "sim", fits_dir=root / "fits")


def test_one_percent_parameter_edits_are_drift_and_named(registry, tmp_path, capsys):
    fits, rec_path = _copy(registry, tmp_path)
    rec = json.loads(rec_path.read_text())
    # a 1% change of any parameter must be caught (DESIGN §7); one per model, so each
    # line is checked to be named on its own
    rec["params"]["1.6B"]["alpha4"] *= 1.01
    rec["params"]["460M"]["s4"] *= 1.01
    rec_path.write_text(json.dumps(rec))
    capsys.readouterr()
    assert main(["check", str(fits)]) == 1
    out = capsys.readouterr().out
    verdict = {
        " ".join(x.split()[:2]): x.split()[-1]
        for x in out.splitlines()
        if x.strip().startswith(("1.6B:", "460M:"))
    }
    assert verdict["1.6B: alpha4"] == "DRIFT" and verdict["460M: s4"] == "DRIFT"
    assert verdict["460M: alpha4"] == "ok" and verdict["1.6B: s4"] == "ok"
    assert "1.6B: alpha4" in out.split("drift in ")[1] and "460M: s4" in out.split("drift in ")[1]


def test_changed_data_is_a_digest_mismatch_and_absent_data_is_skipped(registry, tmp_path):
    fits, rec_path = _copy(registry, tmp_path)
    data = tmp_path / "data" / "curves.csv"
    data.write_text(data.read_text().replace("460M", "460m", 1))
    assert main(["check", str(fits), "--quiet"]) == 1
    assert checking.check_record(rec_path).status == checking.DIGEST
    data.unlink()
    assert checking.check_record(rec_path).status == checking.SKIPPED
    assert checking.check_record(rec_path, strict=True).status == checking.MISSING


def test_broken_cmr_record_is_unusable(registry, tmp_path):
    fits, rec_path = _copy(registry, tmp_path)
    rec = json.loads(rec_path.read_text())
    del rec["parts"]["critical"]
    rec_path.write_text(json.dumps(rec))
    res = checking.check_record(rec_path)
    assert res.status == checking.UNUSABLE and "critical" in res.message
    assert main(["check", str(fits), "--quiet"]) == 2


def test_repository_cmr_record_points_at_the_bundled_curves():
    rec_path = REPO / "fits" / "cmr" / "cmr_sim" / "v1.json"
    rec = json.loads(rec_path.read_text())
    data = checking.resolve_data_path(rec_path, rec["data"]["path"])
    assert data == (REPO / "data" / "cmr" / "simulated_curves.csv").resolve()
    assert not Path(rec["data"]["path"]).is_absolute()


def test_a_changed_pipeline_is_drift(registry, tmp_path, monkeypatch):
    """The check refits the whole pipeline from the data: a change in any step (here the
    curve fits' Huber threshold) shows up, not only a change in the CMR-law step."""
    fits, rec_path = _copy(registry, tmp_path)

    def changed(runs, **options):
        return fit_cmr(runs, **{**options, "delta": 1e-5})

    monkeypatch.setattr(checking, "fit_cmr", changed)
    res = checking.check_record(rec_path)
    assert res.status == checking.DRIFT
    assert any("ratios/" in r.item and r.verdict == checking.DRIFT for r in res.rows)


def test_a_one_percent_curve_parameter_edit_is_drift(registry, tmp_path):
    fits, rec_path = _copy(registry, tmp_path)
    rec = json.loads(rec_path.read_text())
    ratio = next(iter(rec["params"]["460M"]["ratios"]))
    rec["params"]["460M"]["ratios"][ratio]["s1"] *= 1.01
    rec_path.write_text(json.dumps(rec))
    res = checking.check_record(rec_path)
    assert res.status == checking.DRIFT
    assert res.message == f"drift in 460M: ratios/{ratio}/s1"


@pytest.mark.slow
def test_check_refits_a_bootstrap_record_with_its_point_options_only(
    registry, tmp_path, monkeypatch
):
    """A bootstrap record passes a check that refits its point estimate without draws.

    The point CMR law depends on the data and point options only (delta-method weights),
    so the check leaves the draws' options out; passing here shows the recorded point law
    (made with 20 bootstrap draws, seed 3) equals the draw-free refit to the tolerances.
    """
    _, shared_data, _ = registry
    # A registry of its own, whose root holds the data (check reads data under it only).
    data = tmp_path / "data" / "curves.csv"
    data.parent.mkdir()
    shutil.copy(shared_data, data)
    target = record_cmr(
        data, "boot", fits_dir=tmp_path / "fits", uncertainty="bootstrap", samples=20, seed=3,
        lam=500.0,
    )
    seen = {}

    def spy(runs, **options):
        seen.update(options)
        return fit_cmr(runs, **options)

    monkeypatch.setattr(checking, "fit_cmr", spy)
    res = checking.check_record(target)
    assert res.status == checking.PASS, res.table()
    assert seen["uncertainty"] == "none" and "samples" not in seen and "seed" not in seen
    assert seen["lam"] == 500.0
