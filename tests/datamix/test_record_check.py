"""Data-mixture records: round trip, layout, malformed records, and the drift check.

One nested fit of the bundled simulated study (3 sizes x 64 mixtures, 5 domains) and one
two-file, one-scale study built from it (weights and losses joined on ``run``, as RegMix
publishes), fitted once per module.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglaws import checking
from scalinglaws.datamix import DataMixFit, fit_datamix
from scalinglaws.datamix.record import (
    datamix_from_record,
    datamix_to_record,
    load_datamix,
    save_datamix,
)
from scalinglaws.errors import RecordError
from scalinglaws.io import records

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "data" / "datamix_sim" / "runs.csv"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A nested fit of the bundled study, recorded beside a copy of its data."""
    root = tmp_path_factory.mktemp("datamix_record")
    data = root / "runs.csv"
    shutil.copy(SIM, data)
    fit = fit_datamix(str(data), samples=200, seed=3)
    path = save_datamix(fit, root / "fit.json", data_path_as="runs.csv")
    return root, fit, path


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """A one-scale two-file study (weights, losses joined on run), linear law, no draws."""
    root = tmp_path_factory.mktemp("datamix_two_files")
    table = pd.read_csv(SIM)
    table = table[table["N"] == 2e7]
    weights = root / "mix.csv"
    losses = root / "loss.csv"
    table[["run", *[c for c in table if c.startswith("w_")]]].to_csv(weights, index=False)
    table[["run", *[c for c in table if c.startswith("loss_")]]].to_csv(losses, index=False)
    fit = fit_datamix(str(weights), losses=str(losses), model="linear", uncertainty="none")
    path = save_datamix(fit, root / "fit.json", data_path_as="mix.csv", losses_path_as="loss.csv")
    return root, fit, path


def _copy(src_root: Path, dst: Path, record: dict | None = None) -> Path:
    for f in src_root.iterdir():
        if f.suffix == ".csv":
            shutil.copy(f, dst / f.name)
    rec = record if record is not None else json.loads((src_root / "fit.json").read_text())
    out = dst / "fit.json"
    out.write_text(json.dumps(rec))
    return out


# ------------------------------------------------------------------ round trip, layout
def test_round_trip_predictions_and_draws_match(study):
    _, fit, path = study
    back = load_datamix(path)
    assert isinstance(back, DataMixFit)
    assert back.model == fit.model and back.nested and back.sizes == fit.sizes
    assert back.target == fit.target and list(back.domains) == list(fit.domains)
    mix = np.random.default_rng(0).dirichlet(np.ones(5), size=9)
    for n in (2e7, 3e8):
        a = fit.predict(mix, N=n, per_domain=True)
        b = back.predict(mix, N=n, per_domain=True)
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-12, atol=1e-12)
    da = np.asarray(fit.draw_fn(64, 1)(mix, np.full(9, 1e8)))
    db = np.asarray(back.draw_fn(64, 1)(mix, np.full(9, 1e8)))
    np.testing.assert_allclose(db, da, rtol=1e-12)
    # The runs do not travel, but their columns do.
    assert len(back.runs) == 0
    assert back.training_domains == fit.training_domains
    assert tuple(back.runs.targets) == tuple(fit.runs.targets)
    # The generic reader dispatches to the same converter.
    again = records.load_record(path)
    assert isinstance(again, DataMixFit)


def test_record_layout(study):
    _, fit, path = study
    rec = json.loads(path.read_text())
    assert rec["schema_version"] == 2 and rec["kind"] == "pipeline"
    head = rec["pipeline"]
    assert head["name"] == "datamix" and head["model"] == "mixing"
    assert head["training_domains"] == list(fit.training_domains)
    assert head["validation_domains"] == head["fitted_domains"] == list(fit.domains)
    assert head["target"]["name"] == "mean" and head["nested"] is True
    assert head["sizes"] == [2e7, 5e7, 1e8] and head["n_ref"] == 1e8
    web = fit.domains["web"].fit.params
    assert rec["params"]["web"] == {k: float(v) for k, v in web.items()}  # full precision
    assert set(rec["uncertainty"]["draws"]["web"]) == set(web)
    assert len(rec["uncertainty"]["draws"]["web"]["c"]) == 200
    part = rec["parts"]["domains"]["web"]
    assert part["noise"] == fit.domains["web"].noise and part["n_runs"] == 192
    assert rec["data"]["path"] == "runs.csv" and len(rec["data"]["sha256"]) == 64
    assert rec["data"]["load_options"] == {} and "losses_path" not in rec["data"]
    labels = [a["label"] for a in rec["anchors"]]
    assert labels == ["uniform mixture", "best proxy mixture", "median proxy mixture"]
    assert all(a["N"] == 1e8 for a in rec["anchors"])  # the largest proxy size
    best = rec["anchors"][1]
    assert best["target"] == pytest.approx(
        float(fit.predict(best["mixture"], N=1e8)["target"].iloc[0]), rel=1e-12
    )


def test_thinned_record_keeps_point_predictions(study):
    _, fit, _ = study
    rec = json.loads(json.dumps(datamix_to_record(fit, thin=50)))
    back = datamix_from_record(records.validate_record(rec))
    assert len(rec["uncertainty"]["draws"]["code"]["c"]) == 50
    mix = np.full((1, 5), 0.2)
    assert back.predict(mix, N=1e8)["target"].iloc[0] == pytest.approx(
        fit.predict(mix, N=1e8)["target"].iloc[0], rel=1e-12
    )


def test_two_file_record_layout_and_round_trip(two_files):
    _, fit, path = two_files
    rec = json.loads(path.read_text())
    assert rec["data"]["path"] == "mix.csv" and rec["data"]["losses_path"] == "loss.csv"
    assert len(rec["data"]["losses_sha256"]) == 64
    assert rec["pipeline"]["nested"] is False and rec["pipeline"]["sizes"] == []
    assert [a["N"] for a in rec["anchors"]] == [None, None, None]
    back = load_datamix(path)
    mix = np.random.default_rng(1).dirichlet(np.ones(5), size=4)
    np.testing.assert_allclose(
        back.predict(mix).to_numpy(), fit.predict(mix).to_numpy(), rtol=1e-12, atol=1e-12
    )


# ------------------------------------------------------------------ malformed records
def _fill(corr: list, value: float) -> None:
    """Off-diagonal entries +-value in a checkerboard, in place: symmetric, inside [-1, 1],
    and for three or more domains not positive definite (x = (1, -1, 1, ...) is negative)."""
    for i, row in enumerate(corr):
        for j in range(len(row)):
            if i != j:
                row[j] = value if (i + j) % 2 else -value


def _mutated(path: Path, edit) -> dict:
    rec = json.loads(path.read_text())
    edit(rec)
    return records.validate_record(rec)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda r: r["pipeline"].update(model="cubic"), "pipeline.model 'cubic'"),
        (lambda r: r["pipeline"].update(training_domains=["a", "a"]), "training_domains"),
        (lambda r: r["params"].pop("web"), "params hold domains"),
        (lambda r: r["params"]["web"].pop("alpha"), "do not match the mixing law"),
        (lambda r: r["params"]["web"].update(c="x"), "domain 'web'"),
        (lambda r: r["params"]["web"].update(c=-1.0), "domain 'web'"),
        (lambda r: r["uncertainty"]["draws"]["web"]["c"].pop(), "as long as the others"),
        (lambda r: r["uncertainty"]["draws"]["web"]["c"].__setitem__(0, "1"), "finite number"),
        (lambda r: r["parts"]["domains"]["web"].update(noise=None), "noise"),
        (lambda r: r["pipeline"]["target"]["weights"].update(web=5.0), "sum to one"),
        (lambda r: r["pipeline"].update(nested="yes"), "nested"),
        (lambda r: r["parts"]["domains"]["web"].update(kind="gp"), "kind must be 'law'"),
        (lambda r: r["parts"]["domains"]["web"]["law"].update(version="99"), "version"),
        (lambda r: r["parts"].update(noise_corr=[[1.0]]), "noise_corr must be"),
        (lambda r: r["parts"]["noise_corr"][0].__setitem__(1, 0.5), "symmetric correlation"),
        (lambda r: r["parts"]["noise_corr"][0].__setitem__(0, "x"), "noise_corr must be"),
        (lambda r: _fill(r["parts"]["noise_corr"], 0.99), "positive definite"),
    ],
)
def test_malformed_records_are_one_line_record_errors(study, edit, needle):
    _, _, path = study
    rec = _mutated(path, edit)
    with pytest.raises(RecordError) as info:
        datamix_from_record(rec, where="fit.json")
    msg = str(info.value)
    assert needle in msg and "\n" not in msg and msg.startswith("fit.json")


def test_a_record_of_another_pipeline_is_refused(study):
    _, _, path = study
    rec = _mutated(path, lambda r: r["pipeline"].update(name="cmr"))
    with pytest.raises(RecordError, match="not a data-mixture record"):
        datamix_from_record(rec)


# ------------------------------------------------------------------ drift check
def test_clean_check_passes_and_compares_every_domain(study, tmp_path):
    root, fit, _ = study
    path = _copy(root, tmp_path)
    res = checking.check_record(path)
    assert res.status == checking.PASS, res.table()
    items = {r.item for r in res.rows}
    for d in fit.domains:
        assert {f"{d}: c", f"{d}: alpha", f"{d}: t_web"} <= items
    assert {"runs", "target@uniform mixture", "target@best proxy mixture"} <= items


def test_one_edited_loss_is_a_digest_mismatch(study, tmp_path):
    root, _, _ = study
    path = _copy(root, tmp_path)
    data = tmp_path / "runs.csv"
    lines = data.read_text().splitlines()
    cells = lines[5].split(",")
    cells[-1] = f"{float(cells[-1]) * 1.001:.9f}"
    lines[5] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n")
    res = checking.check_record(path)
    assert res.status == checking.DIGEST and "runs.csv changed" in res.message
    assert checking.exit_code([res]) == 1


def test_perturbed_parameter_is_drift_and_named(study, tmp_path):
    root, _, path = study
    rec = json.loads(path.read_text())
    rec["params"]["books"]["t_code"] *= 1.01
    res = checking.check_record(_copy(root, tmp_path, rec))
    assert res.status == checking.DRIFT, res.table()
    assert "books: t_code" in res.message
    drifted = [r.item for r in res.rows if r.verdict == checking.DRIFT]
    assert drifted == ["books: t_code"]
    assert checking.exit_code([res]) == 1


def test_re_recorded_fit_with_a_perturbed_parameter_is_drift(two_files, tmp_path):
    import dataclasses

    root, fit, _ = two_files
    m = fit.domains["code"]
    params = dict(m.fit.params)
    params["b_web"] *= 1.02
    bent = dataclasses.replace(m, fit=dataclasses.replace(m.fit, params=params))
    drifted_fit = dataclasses.replace(fit, domains={**fit.domains, "code": bent})
    rec = datamix_to_record(
        drifted_fit,
        data_path=root / "mix.csv",
        losses_path=root / "loss.csv",
        data_path_as="mix.csv",
        losses_path_as="loss.csv",
    )
    path = _copy(root, tmp_path, json.loads(json.dumps(rec)))
    res = checking.check_record(path)
    assert res.status == checking.DRIFT
    assert "code: b_web" in res.message


def test_tampered_tolerances_cannot_loosen(study, tmp_path):
    root, _, path = study
    rec = json.loads(path.read_text())
    rec["params"]["wiki"]["c"] *= 1.01
    rec["tolerances"]["params_rtol"] = dict.fromkeys(rec["tolerances"]["params_rtol"], 0.5)
    for a in rec["anchors"]:
        a["rtol"] = 0.5
        a["target"] *= 1.01
    res = checking.check_record(_copy(root, tmp_path, rec))
    assert res.status == checking.DRIFT
    rows = {r.item: r for r in res.rows}
    assert rows["wiki: c"].verdict == checking.DRIFT
    assert rows["wiki: c"].tolerance == records.DEFAULT_PARAM_RTOL
    assert rows["target@uniform mixture"].tolerance == records.DEFAULT_ANCHOR_RTOL
    assert rows["target@uniform mixture"].verdict == checking.DRIFT


def test_absent_data_is_skipped_unless_strict(study, tmp_path):
    _, _, path = study
    rec_path = tmp_path / "fit.json"
    rec_path.write_text(path.read_text())
    assert checking.check_record(rec_path).status == checking.SKIPPED
    assert checking.check_record(rec_path, strict=True).status == checking.MISSING


def test_second_file_is_validated_like_the_first(two_files, tmp_path):
    root, _, path = two_files
    rec_path = _copy(root, tmp_path)
    assert checking.check_record(rec_path).status == checking.PASS
    # an edited loss in the losses file: a digest mismatch naming that file
    loss = tmp_path / "loss.csv"
    loss.write_text(loss.read_text().replace(",", ", ", 1))
    res = checking.check_record(rec_path)
    assert res.status == checking.DIGEST and "loss.csv changed" in res.message
    # absent: skipped, or a failure with --strict
    loss.unlink()
    assert checking.check_record(rec_path).status == checking.SKIPPED
    assert checking.check_record(rec_path, strict=True).status == checking.MISSING
    # no digest: a failure
    shutil.copy(root / "loss.csv", loss)
    rec = json.loads(path.read_text())
    del rec["data"]["losses_sha256"]
    rec_path.write_text(json.dumps(rec))
    assert checking.check_record(rec_path).status == checking.DIGEST
    # a path outside the allowed roots is never opened
    rec = json.loads(path.read_text())
    rec["data"]["losses_path"] = "/etc/passwd"
    rec_path.write_text(json.dumps(rec))
    res = checking.check_record(rec_path)
    assert res.status == checking.UNUSABLE and "outside the allowed roots" in res.message


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda r: r["data"].update(load_options={"losses": "x.csv"}), "losses"),
        (lambda r: r["data"].update(load_options={"shell": "rm -rf"}), "not an option"),
        (lambda r: r["data"].update(load_options={"where": "x" * 5000}), "bounded size"),
        (lambda r: r["options"].update(seed="0; import os"), "options.seed"),
        (lambda r: r["options"].update(delta=1e9), "options.delta"),
    ],
)
def test_untrusted_options_are_unusable(two_files, tmp_path, edit, needle):
    root, _, path = two_files
    rec = json.loads(path.read_text())
    edit(rec)
    res = checking.check_record(_copy(root, tmp_path, rec))
    assert res.status == checking.UNUSABLE, res.table()
    assert needle in res.message and "\n" not in res.message
    assert checking.exit_code([res]) == 2


@pytest.mark.slow
def test_recorded_load_options_are_replayed(study, tmp_path):
    """A fit of a selection (where=) records the selection; the check reads the same runs."""
    root, fit, _ = study
    sub = fit_datamix(str(root / "runs.csv"), where="N <= 5e7", uncertainty="none")
    rec = datamix_to_record(
        sub,
        data_path=root / "runs.csv",
        data_path_as="runs.csv",
        load_options={"where": "N <= 5e7"},
    )
    assert rec["data"]["load_options"] == {"where": "N <= 5e7"}
    assert rec["data"]["n_runs"] == 128
    path = _copy(root, tmp_path, json.loads(json.dumps(rec)))
    assert checking.check_record(path).status == checking.PASS
    # Without the selection the refit sees other runs: drift, never a silent pass.
    rec["data"]["load_options"] = {}
    res = checking.check_record(_copy(root, tmp_path, json.loads(json.dumps(rec))))
    assert res.status == checking.DRIFT and "runs" in res.message


@pytest.mark.slow
def test_gp_record_round_trip(study):
    root, _, _ = study
    fit = fit_datamix(
        str(root / "runs.csv"), where="N == 2e7", model="gp", validation=["web"], target="web"
    )
    rec = json.loads(json.dumps(datamix_to_record(fit)))
    back = datamix_from_record(records.validate_record(copy.deepcopy(rec)))
    assert back.domains["web"].kind == "gp"
    mix = np.random.default_rng(2).dirichlet(np.ones(5), size=5)
    np.testing.assert_allclose(
        back.predict(mix).to_numpy(), fit.predict(mix).to_numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.slow
def test_gp_search_tolerance_is_recorded_and_replayed(study, tmp_path):
    """A GP fitted with its own search tolerance records it; check refits with it and
    passes; a tolerance outside (1e-12, 0.1) in a record is refused, one line, exit 2."""
    root, _, _ = study
    opts = {"restarts": 1, "tol": 1e-6}
    fit = fit_datamix(
        str(root / "runs.csv"), where="N == 2e7", model="gp", validation=["web"],
        target="web", gp_options=opts,
    )  # fmt: skip
    rec = json.loads(
        json.dumps(
            datamix_to_record(
                fit,
                data_path=root / "runs.csv",
                data_path_as="runs.csv",
                load_options={"where": "N == 2e7"},
            )
        )
    )
    assert rec["options"]["gp"] == opts
    assert checking.check_record(_copy(root, tmp_path, copy.deepcopy(rec))).status == checking.PASS
    rec["options"]["gp"]["tol"] = 0.0
    res = checking.check_record(_copy(root, tmp_path, rec))
    assert res.status == checking.UNUSABLE and "tol" in res.message
    assert "\n" not in res.message and checking.exit_code([res]) == 2
