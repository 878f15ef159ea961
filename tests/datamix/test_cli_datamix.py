"""``scalinglaws fit datamix``, ``plan datamix`` and ``design`` on a data-mixture record.

Bad input is one line on stderr, exit 2, and nothing written. Fits are kept small (one
scale, linear law, no draws) except one nested fit; plans and proposals run when their
modules (:mod:`scalinglaws.datamix.plan`, :mod:`scalinglaws.datamix.propose`) exist.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from scalinglaws.cli import main
from scalinglaws.datamix.record import load_datamix
from tests.conftest import one_line_error as _one_line_error
from tests.conftest import run_cli as _run

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "data" / "datamix_sim" / "runs.csv"
CHINCHILLA = REPO / "tests" / "fixtures" / "records" / "chinchilla_schema_v1.json"
ONE_SCALE = ["--where", "N == 2e7", "--law", "linear", "--uncertainty", "none"]
HAS_PLAN = importlib.util.find_spec("scalinglaws.datamix.plan") is not None
HAS_PROPOSE = importlib.util.find_spec("scalinglaws.datamix.propose") is not None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("datamix_cli")
    shutil.copy(SIM, root / "runs.csv")
    return root


@pytest.fixture(scope="module")
def one_scale(folder):
    """A one-scale record (N = 2e7) of the bundled study."""
    out = folder / "one_scale.json"
    args = ["fit", "datamix", str(folder / "runs.csv"), *ONE_SCALE, "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def nested(folder):
    out = folder / "nested.json"
    args = ["fit", "datamix", str(folder / "runs.csv"), "--samples", "50", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    return out


# ------------------------------------------------------------------ fit datamix
def test_fit_json_payload_and_record(folder, one_scale, capsys):
    out = folder / "again.json"
    code, stdout, err = _run(
        capsys,
        [
            "fit",
            "datamix",
            folder / "runs.csv",
            *ONE_SCALE,
            "--target",
            "code",
            "--json",
            "--out",
            out,
        ],
    )
    assert code == 0, err
    payload = json.loads(stdout)
    assert set(payload) == {
        "law",
        "params",
        "objective",
        "status",
        "diagnostics",
        "uncertainty",
        "warnings",
    }
    assert payload["law"] == "datamix" and payload["diagnostics"]["model"] == "linear"
    assert set(payload["params"]["code"]) == {
        f"b_{d}" for d in ("web", "code", "books", "wiki", "papers")
    }
    assert payload["diagnostics"]["target"] == {"name": "code", "weights": {"code": 1.0}}
    assert payload["diagnostics"]["n_runs"] == 64
    assert payload["diagnostics"]["load_options"] == {"where": "N == 2e7"}
    assert any("one scale" in w for w in payload["warnings"])  # the transfer note
    assert "wrote" in err
    fit = load_datamix(out)
    assert fit.target.name == "code" and not fit.nested and fit.sizes == (2e7,)
    rec = json.loads(out.read_text())
    assert rec["data"]["load_options"] == {"where": "N == 2e7"}
    # the record replays: check refits it with the recorded selection
    code, stdout, _ = _run(capsys, ["check", out, "--quiet"])
    assert code == 0, stdout


def test_fit_text_report(folder, capsys):
    code, stdout, _ = _run(capsys, ["fit", "datamix", folder / "runs.csv", *ONE_SCALE, "--quiet"])
    assert code == 0
    assert "data mixture: linear model over 5 training domains" in stdout
    assert "predicted target:" in stdout and "best proxy mixture" in stdout


def test_two_files_joined_on_a_key_and_registry(tmp_path, capsys):
    table = pd.read_csv(SIM)
    table = table[table["N"] == 2e7]
    mix, loss = tmp_path / "mix.csv", tmp_path / "loss.csv"
    table[["run", *[c for c in table if c.startswith("w_")]]].rename(
        columns=lambda c: c.replace("w_", "train_")
    ).to_csv(mix, index=False)
    table[["run", *[c for c in table if c.startswith("loss_")]]].to_csv(loss, index=False)
    args = [
        "fit",
        "datamix",
        mix,
        "--losses",
        loss,
        "--on",
        "run",
        "--weights-prefix",
        "train_",
        "--law",
        "loglinear",
        "--uncertainty",
        "none",
        "--target",
        "web=0.5,code=0.5",
        "--record",
        "sim",
        "--fits-dir",
        tmp_path / "fits",
        "--quiet",
    ]
    code, _, err = _run(capsys, args)
    assert code == 0, err
    target = tmp_path / "fits" / "datamix" / "sim" / "v1.json"
    rec = json.loads(target.read_text())
    assert rec["data"]["path"] == "../../../mix.csv"
    assert rec["data"]["losses_path"] == "../../../loss.csv"
    assert rec["data"]["dataset"] == "sim"
    assert rec["data"]["load_options"] == {"weight_prefix": "train_", "on": "run"}
    assert rec["pipeline"]["target"]["weights"] == {"web": 0.5, "code": 0.5}
    code, stdout, _ = _run(capsys, ["check", tmp_path / "fits", "--quiet"])
    assert code == 0, stdout
    # append-only: a second --record without --bump is refused before the fit
    line = _one_line_error(capsys, args)
    assert "append-only" in line
    code, _, _ = _run(capsys, [*args, "--bump"])
    assert code == 0 and (target.parent / "v2.json").is_file()


# ------------------------------------------------------------------ bad input
def _bad_table(tmp_path: Path, edit) -> Path:
    table = pd.read_csv(SIM)
    table = table[table["N"] == 2e7].reset_index(drop=True)
    edit(table)
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    return path


def _empty_domain(t):
    t["w_web"] = t["w_web"] + t["w_papers"]
    t["w_papers"] = 0.0


def _bad_sum(t):
    t.loc[3, "w_web"] = t.loc[3, "w_web"] + 0.2


@pytest.mark.parametrize(
    ("edit", "extra", "needle"),
    [
        (_empty_domain, [], "['w_papers'] have zero weight in every run"),
        (_bad_sum, [], "the weights sum to 1.2"),
        (lambda t: None, ["--target", "nope"], "target domain 'nope' is not a validation domain"),
        (lambda t: t.__setitem__("loss_wiki", float("nan")), [], "have no loss in any run"),
    ],
)
def test_bad_runs_are_one_line_and_write_nothing(tmp_path, capsys, edit, extra, needle):
    path = _bad_table(tmp_path, edit)
    out = tmp_path / "fit.json"
    line = _one_line_error(
        capsys, ["fit", "datamix", path, *ONE_SCALE, *extra, "--out", out, "--quiet"]
    )
    assert needle in line
    assert not out.exists()


def test_a_missing_losses_file_is_one_line(folder, tmp_path, capsys):
    out = tmp_path / "fit.json"
    line = _one_line_error(
        capsys,
        [
            "fit",
            "datamix",
            folder / "runs.csv",
            "--losses",
            tmp_path / "nope.csv",
            "--out",
            out,
            "--quiet",
        ],
    )
    assert "nope.csv" in line and not out.exists()


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--min", "0.3"], "the minimum weights sum to 1.5 > 1 (--min web=0.3"),
        (["--min", "web=0.7,code=0.5"], "(--min web=0.7,code=0.5)"),
        (["--max", "0.1"], "the largest weights allowed sum to 0.5 < 1 (--max)"),
        (["--min", "web=0.5", "--max", "web=0.4"], "--min web=0.5 exceeds"),
        (
            [
                "--available",
                "web=1e9,code=1e9,books=1e9,wiki=1e9,papers=1e9",
                "--tokens",
                "1e11",
                "--max-epochs",
                "4",
            ],
            "--available books=1e+09 at --max-epochs 4",
        ),
        (["--min", "nope=0.1"], "'nope' not a training domain"),
        (["--max", "1.5"], "--max: weights must be between 0 and 1"),
        (["--baseline", "web=0.5,code=0.4"], "--baseline: the weights sum to 0.9, not 1"),
        (["--N", "1e9"], "the proxies were trained at one scale (N = 2e+07)"),
    ],
)
def test_plan_bad_constraints_are_one_line(one_scale, capsys, options, needle):
    line = _one_line_error(capsys, ["plan", "datamix", one_scale, *options])
    assert needle in line, line


def test_plan_on_a_law_record_and_design_on_mixed_options(one_scale, capsys):
    line = _one_line_error(capsys, ["plan", "datamix", CHINCHILLA])
    assert "is a law record (chinchilla); plan datamix needs a data-mixture record" in line
    line = _one_line_error(capsys, ["design", CHINCHILLA, "--min", "0.1"])
    assert "--min applies to a data-mixture record, not a law record" in line
    line = _one_line_error(capsys, ["design", CHINCHILLA])
    assert "--study-budget" in line
    line = _one_line_error(capsys, ["design", one_scale, "--study-budget", "1e20"])
    assert "--study-budget applies to a law record" in line
    line = _one_line_error(capsys, ["design", one_scale, "--N", "5e8"])
    assert "one scale" in line
    line = _one_line_error(capsys, ["design", one_scale, "--min", "0.25"])
    assert "infeasible constraints" in line


@pytest.mark.slow
def test_nested_plan_needs_a_size(nested, capsys):
    line = _one_line_error(capsys, ["plan", "datamix", nested])
    assert "give the model size N" in line


# ------------------------------------------------------------------ plans and proposals
@pytest.mark.slow
@pytest.mark.skipif(not HAS_PLAN, reason="scalinglaws.datamix.plan is not there yet")
def test_plan_datamix_text_and_json(nested, capsys):
    code, stdout, err = _run(capsys, ["plan", "datamix", nested, "--N", "1e9", "--json", "--quiet"])
    assert code == 0, err
    payload = json.loads(stdout)
    assert set(payload) >= {"rows", "summary", "warnings"}
    code, stdout, err = _run(
        capsys,
        [
            "plan",
            "datamix",
            nested,
            "--N",
            "1e9",
            "--quiet",
            "--min",
            "0.05",
            "--baseline",
            "uniform",
        ],
    )
    assert code == 0, err
    assert "data-mixture plan" in stdout and "predicted target:" in stdout
    assert "vs baseline (uniform)" in stdout and "P(beats baseline)" in stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAS_PLAN, reason="scalinglaws.datamix.plan is not there yet")
def test_plan_one_scale_carries_the_transfer_note(one_scale, capsys):
    code, stdout, err = _run(capsys, ["plan", "datamix", one_scale, "--json", "--quiet"])
    assert code == 0, err
    assert any("one scale" in w for w in json.loads(stdout)["warnings"])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_PROPOSE, reason="scalinglaws.datamix.propose is not there yet")
def test_design_on_a_datamix_record_proposes_mixtures(nested, capsys):
    code, stdout, err = _run(
        capsys, ["design", nested, "--n", "3", "--N", "1e8", "--json", "--quiet"]
    )
    assert code == 0, err
    assert len(json.loads(stdout)["rows"]) >= 1
