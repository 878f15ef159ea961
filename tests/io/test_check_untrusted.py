"""`check` treats records as untrusted input: roots, loader keywords, options, tolerances,
digests and one-line messages (scalinglaws/io/policy.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import scalinglaws as sl
from scalinglaws import checking
from scalinglaws.cli import main
from scalinglaws.io.policy import one_line, policy_for

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "chinchilla_sim" / "runs.csv"
SECRET = "SECRET-TOKEN-123"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A registry (no repository above it: its root is the folder holding ``fits``) with
    the bundled log and one recorded fit; tests copy it."""
    root = tmp_path_factory.mktemp("registry")
    (root / "data").mkdir()
    shutil.copy(DATA, root / "data" / "runs.csv")
    argv = ["record", "chinchilla", str(root / "data" / "runs.csv"), "--dataset", "sim"]
    assert main([*argv, "--fits-dir", str(root / "fits"), "--quiet"]) == 0
    return root


@pytest.fixture
def registry(recorded, tmp_path):
    root = tmp_path / "reg"
    shutil.copytree(recorded, root)
    return root, root / "fits" / "chinchilla" / "sim" / "v1.json"


def _edit(path: Path, fn) -> None:
    rec = json.loads(path.read_text())
    fn(rec)
    path.write_text(json.dumps(rec))


def _secret_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "credentials.json"
    secret.write_text(json.dumps({"auth": SECRET}))
    return secret


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_a_data_path_outside_the_roots_is_refused_and_never_read(registry, tmp_path, capsys, how):
    root, rec = registry
    secret = _secret_file(tmp_path / "elsewhere")
    path = str(secret) if how == "absolute" else os.path.relpath(secret, rec.parent)

    def point_at_secret(r):
        r["data"]["path"] = path

    _edit(rec, point_at_secret)
    res = checking.check_record(rec)
    assert res.status == checking.UNUSABLE
    assert "outside the allowed roots" in res.message
    assert main(["check", str(rec), "--json"]) == 2
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err + res.table()


@pytest.mark.parametrize("rtol", [1e9, 0.5, -1.0, "Infinity", None])
def test_record_tolerances_cannot_loosen_the_check(registry, rtol):
    _, rec = registry

    def loosen_and_edit(r):
        r["tolerances"]["params_rtol"] = {k: rtol for k in r["params"]}
        for a in r.get("anchors") or []:
            a["rtol"] = rtol
        r["params"]["alpha"] *= 1.01  # a 1% change must still be drift

    _edit(rec, loosen_and_edit)
    res = checking.check_record(rec)
    assert res.status == checking.DRIFT, res.table()
    assert any(r.item == "alpha" and r.verdict == checking.DRIFT for r in res.rows)


def test_a_record_may_tighten_its_tolerances(registry):
    _, rec = registry
    _edit(rec, lambda r: r["tolerances"].update(params_rtol={k: 1e-4 for k in r["params"]}))
    res = checking.check_record(rec)
    assert {r.tolerance for r in res.rows if r.item in ("E", "alpha")} == {1e-4}


def test_a_missing_digest_is_a_failure(registry):
    root, rec = registry
    data = root / "data" / "runs.csv"
    _edit(rec, lambda r: r["data"].update(sha256=None))
    # and a small edit of the data must not pass under a record without a digest
    lines = data.read_text().splitlines()
    lines[1] = lines[1][:-1] + ("1" if lines[1][-1] != "1" else "2")
    data.write_text("\n".join(lines) + "\n")
    res = checking.check_record(rec)
    assert res.status == checking.DIGEST and "no sha256" in res.message
    assert checking.exit_code([res]) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"search": "hoffmann"}, "options.search"),
        ({"max_iter": 10**9}, "options.max_iter"),
        ({"top_k": 0}, "options.top_k"),
        ({"delta": "x"}, "options.delta"),
    ],
)
def test_refit_options_come_from_an_allowed_list(registry, options, message):
    _, rec = registry
    _edit(rec, lambda r: r["options"].update(options))
    res = checking.check_record(rec)
    assert res.status == checking.UNUSABLE and message in res.message


@pytest.mark.parametrize(
    ("load_options", "message"),
    [
        ({"sep": ";"}, "not an option of the loader"),
        ({"columns": {"loss": "x" * 5000}}, "bounded size"),
        ("k=6", "must be a mapping"),
    ],
)
def test_loader_keywords_are_validated(registry, load_options, message):
    _, rec = registry
    _edit(rec, lambda r: r["data"].update(load_options=load_options))
    res = checking.check_record(rec)
    assert res.status == checking.UNUSABLE and message in res.message


def test_a_newline_in_the_data_cannot_start_an_output_line(registry, capsys):
    root, rec = registry
    data = root / "data" / "runs.csv"
    data.write_text('"x\n::error file=x::owned",y\n1,2\n')
    _edit(rec, lambda r: r["data"].update(sha256=sl.io.records.sha256_file(data)))
    res = checking.check_record(rec)
    assert res.status == checking.UNUSABLE
    assert "\n" not in res.message and "::error" in res.message  # quoted, escaped
    main(["check", str(rec)])
    out = capsys.readouterr().out
    assert not any(line.startswith("::") for line in out.splitlines())


def test_one_line_escapes_every_line_break():
    text = "a\nb\rc\u2028d\x1be\x85f"
    escaped = one_line(text)
    assert escaped == "a\\nb\\rc\\u2028d\\x1be\\x85f"
    assert len(escaped.splitlines()) == 1


def _repository(tmp_path: Path) -> tuple[Path, Path]:
    """A repository declaring ``../ext`` as an external data root."""
    repo, ext = tmp_path / "repo", tmp_path / "ext"
    (repo / "data").mkdir(parents=True)
    ext.mkdir()
    (repo / "pyproject.toml").write_text(
        '[tool.scalinglaws.check]\ndata-roots = ["../ext"]\n'
    )
    return repo, ext


def test_strict_fails_on_vanished_repository_data_and_skips_an_absent_external_root(
    recorded, tmp_path
):
    repo, ext = _repository(tmp_path)
    shutil.copytree(recorded / "fits", repo / "fits")
    rec = repo / "fits" / "chinchilla" / "sim" / "v1.json"
    assert policy_for(rec).root == repo.resolve()
    # In the repository and absent: a failure with --strict.
    _edit(rec, lambda r: r["data"].update(path="../../../data/runs.csv"))
    assert checking.check_record(rec, strict=True).status == checking.MISSING
    assert checking.check_record(rec).status == checking.SKIPPED
    # Under the declared external root and absent (a clone without it): skipped, even strict.
    _edit(rec, lambda r: r["data"].update(path="../../../../ext/runs.csv"))
    res = checking.check_record(rec, strict=True)
    assert res.status == checking.SKIPPED and "external root" in res.message
    # Present there: checked.
    shutil.copy(DATA, ext / "runs.csv")
    assert checking.check_record(rec, strict=True).status == checking.PASS


def test_a_repository_config_sets_the_tolerance_baseline(recorded, tmp_path):
    repo, _ = _repository(tmp_path)
    (repo / "pyproject.toml").write_text("[tool.scalinglaws.check]\nparams-rtol = 0.05\n")
    shutil.copytree(recorded / "fits", repo / "fits")
    shutil.copy(DATA, repo / "data" / "runs.csv")
    rec = repo / "fits" / "chinchilla" / "sim" / "v1.json"
    _edit(rec, lambda r: r["data"].update(path="../../../data/runs.csv"))
    _edit(rec, lambda r: r["tolerances"].update(params_rtol={k: 1.0 for k in r["params"]}))
    res = checking.check_record(rec)
    assert {r.tolerance for r in res.rows if r.item == "alpha"} == {0.05}


@pytest.mark.slow
def test_the_readme_ci_gate_passes_on_a_clone_without_shared(tmp_path, monkeypatch, capsys):
    """`scalinglaws check fits/ --strict` (README) on a copy of the repository whose
    ``../shared`` is absent: the external record is skipped, the rest pass."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("fits", "data"):
        shutil.copytree(REPO / name, clone / name)
    shutil.copy(REPO / "pyproject.toml", clone / "pyproject.toml")
    monkeypatch.chdir(clone)
    assert main(["check", "fits/", "--strict", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    statuses = {Path(r["record"]).parent.name: r["status"] for r in payload["rows"]}
    assert statuses["epoch_245"] == checking.SKIPPED
    assert all(v == checking.PASS for k, v in statuses.items() if k != "epoch_245"), statuses


def test_a_check_past_its_time_limit_is_stopped_and_unusable(registry, monkeypatch, capsys):
    """A record is untrusted: one whose refit never ends must not stall the gate. The
    refit is replaced by one that sleeps 30 s; a 0.3 s limit stops it (a sleep is woken by
    the timer at once, so 5 s of slack is generous), and the next record is still checked."""
    import time

    root, path = registry
    real = checking._checker_for

    def slow_checker(record, where):
        def check(*args):
            time.sleep(30)

        return check

    monkeypatch.setattr(checking, "_checker_for", slow_checker)
    t0 = time.perf_counter()
    res = checking.check_record(path, time_limit=0.3)
    assert time.perf_counter() - t0 < 5.0
    assert res.status == checking.UNUSABLE and "time limit of 0.3 s" in res.message
    capsys.readouterr()
    assert main(["check", str(root / "fits"), "--time-limit", "0.3"]) == 2
    assert "time limit" in capsys.readouterr().out
    monkeypatch.setattr(checking, "_checker_for", real)
    assert checking.check_record(path, time_limit=60).status == checking.PASS  # timer reset
    assert main(["check", str(root / "fits"), "--time-limit", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--time-limit must be a number of seconds >= 0" in err and len(err.splitlines()) == 1
