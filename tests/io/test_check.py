"""The drift gate: `scalinglaws check` and `scalinglaws.testing.assert_fit_matches`."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
import scalinglaws.io.records
from scalinglaws import checking
from scalinglaws.cli import main
from scalinglaws.testing import assert_fit_matches

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "chinchilla_sim" / "runs.csv"
FIXTURE_V1 = REPO / "tests" / "fixtures" / "records" / "chinchilla_schema_v1.json"


@pytest.fixture
def registry(tmp_path):
    """A private registry with a copy of the bundled data and one recorded fit."""
    data = tmp_path / "data" / "runs.csv"
    data.parent.mkdir()
    shutil.copy(DATA, data)
    assert (
        main(
            [
                "record",
                "chinchilla",
                str(data),
                "--dataset",
                "sim",
                "--fits-dir",
                str(tmp_path / "fits"),
                "--quiet",
            ]
        )
        == 0
    )
    return tmp_path / "fits", data


@pytest.mark.slow
def test_check_repository_registry_passes(capsys):
    assert main(["check", str(REPO / "fits")]) == 0


def test_clean_registry_passes_and_records_are_append_only(registry, capsys):
    fits, data = registry
    assert main(["check", str(fits)]) == 0
    code = main(["record", "chinchilla", str(data), "--dataset", "sim", "--fits-dir", str(fits)])
    assert code == 2 and "append-only" in capsys.readouterr().err
    assert (
        main(
            [
                "record",
                "chinchilla",
                str(data),
                "--dataset",
                "sim",
                "--fits-dir",
                str(fits),
                "--bump",
            ]
        )
        == 0
    )
    assert (fits / "chinchilla" / "sim" / "v2.json").exists()


def test_edited_parameter_is_drift_and_named(registry, capsys):
    fits, _ = registry
    rec_path = fits / "chinchilla" / "sim" / "v1.json"
    rec = json.loads(rec_path.read_text())
    rec["params"]["beta"] *= 1.01  # a 1% change must be caught (DESIGN §7)
    rec_path.write_text(json.dumps(rec))
    capsys.readouterr()
    assert main(["check", str(fits)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out
    beta_line = next(line for line in out.splitlines() if line.strip().startswith("beta"))
    assert beta_line.rstrip().endswith("DRIFT")
    with pytest.raises(AssertionError, match="beta"):
        assert_fit_matches(rec_path)


def test_one_byte_of_data_changed_is_digest_mismatch(registry, capsys):
    fits, data = registry
    raw = bytearray(data.read_bytes())
    pos = raw.rindex(b"3")  # a digit in the last row's loss
    raw[pos] = ord("4")
    data.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["check", str(fits)]) == 1
    assert "DATA DIGEST MISMATCH" in capsys.readouterr().out


def test_absent_data_is_skipped_unless_strict(registry, capsys):
    fits, data = registry
    data.unlink()
    assert main(["check", str(fits)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["check", str(fits), "--strict"]) == 1


def test_unusable_record_exits_2(registry, capsys):
    fits, _ = registry
    (fits / "chinchilla" / "sim" / "v2.json").write_text('{"schema_version": 7}')
    assert main(["check", str(fits)]) == 2
    assert "UNUSABLE" in capsys.readouterr().out


def test_versions_compare_numerically(tmp_path):
    for v in (1, 2, 9, 10):
        (tmp_path / f"v{v}.json").write_text("{}")
    assert checking.latest_records([tmp_path]) == [tmp_path / "v10.json"]
    assert checking.next_version_path(tmp_path).name == "v11.json"


def test_schema_v1_fixture_still_loads():
    """Kept forever: records written with schema version 1 must load in every release."""
    res = sl.load_fit(FIXTURE_V1)
    assert res.law.name == "chinchilla"
    assert set(res.params) == {"E", "A", "B", "alpha", "beta"}
    plan = sl.plan_compute(res, [1e22])
    assert plan["N_opt"].iloc[0] > 0


def _loss_change(params, inputs):
    return params["alpha"] * inputs["T"] ** params["s"] + params["beta"]


def _loss_change_law():
    """A user's law whose input is not a run-log column: a loss change against tokens."""
    return sl.laws.Law(
        name="test_loss_change",
        inputs=("T",),
        target="dloss",
        residual="linear",
        params=(
            sl.laws.ParamSpec("alpha", grid=(0.1, 0.5, 1.0)),
            sl.laws.ParamSpec("s", lower=-2.0, upper=0.0, grid=(-1.0, -0.5, -0.2)),
            sl.laws.ParamSpec("beta", grid=(-0.5, 0.0, 0.5)),
        ),
        fn=_loss_change,
    )


def test_user_law_with_its_own_columns_is_checked_from_a_plain_table(tmp_path):
    """`check` refits a record of any registered law: data whose columns are the law's
    input (T) and target (dloss) names is read as a plain table."""
    sl.laws.register("test_loss_change", _loss_change_law)
    law = _loss_change_law()
    tokens = np.geomspace(1.0, 100.0, 25)
    rng = np.random.default_rng(0)
    truth = {"alpha": 0.5, "s": -0.3, "beta": -0.2}
    dloss = np.asarray(_loss_change(truth, {"T": tokens})) + 1e-3 * rng.standard_normal(25)
    data = tmp_path / "curve.csv"
    pd.DataFrame({"T": tokens, "dloss": dloss}).to_csv(data, index=False)
    result = sl.fit(law, checking.load_law_data(law, data))
    path = sl.save_fit(result, tmp_path / "v1.json", data_path=data)
    res = checking.check_record(path)
    assert res.status == checking.PASS, res.table()
    assert {r.item for r in res.rows} >= {"alpha", "s", "beta"}
    rec = json.loads(path.read_text())
    rec["params"]["s"] *= 1.01
    path.write_text(json.dumps(rec))
    res = checking.check_record(path)
    assert res.status == checking.DRIFT and res.message.startswith("drift in s")
    # A table without the law's columns is unusable, and says which are missing.
    pd.DataFrame({"tokens": tokens, "dloss": dloss}).to_csv(data, index=False)
    # (with the new file's digest: a record without one is a failure of its own)
    rec["data"]["sha256"] = sl.io.records.sha256_file(data)
    path.write_text(json.dumps(rec))
    res = checking.check_record(path)
    assert res.status == checking.UNUSABLE and "['T'] missing" in res.message
    rec["data"]["sha256"] = None
    path.write_text(json.dumps(rec))
    assert checking.check_record(path).status == checking.DIGEST
