"""One error boundary: bad input is one line and exit 2, a bug one line and exit 3, no
traceback unless asked, and no file touched on refusal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scalinglaws.cli import main
from scalinglaws.io.records import read_record

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "data" / "chinchilla_sim" / "runs.csv"
LAW_RECORD = REPO / "fits" / "chinchilla" / "chinchilla_sim" / "v1.json"
CMR_RECORD = REPO / "fits" / "cmr" / "cmr_sim" / "v2.json"
CURVES = REPO / "data" / "cmr" / "simulated_curves.csv"
SPARSE = REPO / "data" / "sparse" / "runs.csv"


def _record_with(tmp: Path, edit) -> str:
    rec = read_record(LAW_RECORD)  # the current schema (the file may be an older one)
    edit(rec)
    path = tmp / "edited.json"
    path.write_text(json.dumps(rec))
    return str(path)


def _deep(tmp: Path) -> str:
    path = tmp / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return str(path)


def _set(key, value):
    def edit(rec):
        rec[key] = value

    return edit


def _param(name, value):
    def edit(rec):
        rec["params"][name] = value

    return edit


# (label, argv builder taking the temp folder) — every one must exit 2 with one line.
CASES = [
    ("no command", lambda t: []),
    ("unknown command", lambda t: ["frobnicate"]),
    ("unknown law", lambda t: ["fit", "nolaw", str(RUNS)]),
    ("missing runs file", lambda t: ["fit", "chinchilla", str(t / "absent.csv")]),
    ("runs is a folder", lambda t: ["fit", "chinchilla", str(t)]),
    ("empty runs file", lambda t: ["fit", "chinchilla", _write(t, "e.csv", "")]),
    ("header only", lambda t: ["fit", "chinchilla", _write(t, "h.csv", "N,D,loss\n")]),
    ("binary runs", lambda t: ["fit", "chinchilla", _write(t, "b.csv", "\x00\xff\x00garbage")]),
    ("negative N", lambda t: ["fit", "chinchilla", _write(t, "n.csv", "N,D,loss\n-1,1e9,3\n")]),
    ("text loss", lambda t: ["fit", "chinchilla", _write(t, "x.csv", "N,D,loss\n1e8,1e9,abc\n")]),
    ("bad search", lambda t: ["fit", "chinchilla", str(RUNS), "--search", "nope"]),
    ("bad samples", lambda t: ["fit", "chinchilla", str(RUNS), "--samples", "many"]),
    ("huge seed", lambda t: ["fit", "chinchilla", str(RUNS), "--uncertainty", "bootstrap", "--seed", "1180591620717411303424"]),
    ("out under a file", lambda t: ["fit", "chinchilla", str(RUNS), "--out", str(RUNS) + "/x.json"]),
    ("plan: missing record", lambda t: ["plan", "compute", str(t / "no.json"), "--budget", "1e22"]),
    ("plan: not JSON", lambda t: ["plan", "compute", _write(t, "r.json", "{oops"), "--budget", "1e22"]),
    ("plan: deep JSON", lambda t: ["plan", "compute", _deep(t), "--budget", "1e22"]),
    ("plan: negative budget", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget=-1e22"]),
    ("plan: negative budget, spaced", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget", "-1e22"]),
    ("plan: zero budget", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget", "0"]),
    ("plan: nan budget", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget", "nan"]),
    ("plan: budget 1e300", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget", "1e300"]),
    ("plan: budget 1e-300", lambda t: ["plan", "compute", str(LAW_RECORD), "--budget", "1e-300"]),
    ("plan: CMR record", lambda t: ["plan", "compute", str(CMR_RECORD), "--budget", "1e22"]),
    ("plan: A = -500", lambda t: ["plan", "compute", _record_with(t, _param("A", -500)), "--budget", "1e22"]),
    ("plan: alpha = -0.3", lambda t: ["plan", "compute", _record_with(t, _param("alpha", -0.3)), "--budget", "1e22"]),
    ("plan: alpha = 1e300", lambda t: ["plan", "compute", _record_with(t, _param("alpha", 1e300)), "--budget", "1e22"]),
    ("plan: A tiny", lambda t: ["plan", "compute", _record_with(t, _param("A", 1e-300)), "--budget", "1e22"]),
    ("plan: params a list", lambda t: ["plan", "compute", _record_with(t, _set("params", [1, 2])), "--budget", "1e22"]),
    ("plan: param a string", lambda t: ["plan", "compute", _record_with(t, _param("E", "1.7")), "--budget", "1e22"]),
    ("plan: schema 99", lambda t: ["plan", "compute", _record_with(t, _set("schema_version", 99)), "--budget", "1e22"]),
    ("plan: kind unknown", lambda t: ["plan", "compute", _record_with(t, _set("kind", "x")), "--budget", "1e22"]),
    ("plan: 5000-digit number", lambda t: ["plan", "compute", _write(t, "big.json", '{"schema_version": ' + "9" * 5000 + "}"), "--budget", "1e22"]),
    ("plan mixture: law record", lambda t: ["plan", "mixture", str(LAW_RECORD)]),
    ("check: missing path", lambda t: ["check", str(t / "nothing")]),
    ("out onto the input", lambda t: ["fit", "chinchilla", _copy(t), "--out", str(t / "runs.csv")]),
    ("out empty", lambda t: ["fit", "chinchilla", str(RUNS), "--out", ""]),
    ("out a folder", lambda t: ["fit", "chinchilla", str(RUNS), "--out", str(t)]),
    ("out a device", lambda t: ["fit", "chinchilla", str(RUNS), "--out", "/dev/null"]),
    ("cmr out onto the input", lambda t: ["fit", "cmr", _copy(t, CURVES), "--out", str(t / "runs.csv")]),
    ("record: empty dataset", lambda t: ["record", "chinchilla", str(RUNS), "--dataset", "", "--fits-dir", str(t / "fits")]),
    ("record: escaping dataset", lambda t: ["record", "chinchilla", str(RUNS), "--dataset", "../../x", "--fits-dir", str(t / "fits")]),
    ("predict: empty --input", lambda t: ["predict", str(LAW_RECORD), "--input", "N=", "--D", "1e12"]),
    ("avgparams: negative remainder", lambda t: ["fit", "avgparams", str(SPARSE), "--dense-remainder", "-1"]),
    ("schedule: 3e9 steps", lambda t: ["schedule", "--sparsity", "0.5", "--total-steps", "3000000000"]),
    ("schedule: 3e9 steps by step", lambda t: ["schedule", "--sparsity", "0.5", "--total-steps", "3000000000", "--start-step", "10", "--end-step", "20"]),
    ("schedule csv onto a device", lambda t: ["schedule", "--sparsity", "0.5", "--total-steps", "1000", "--csv", "/dev/null"]),
]


def _copy(folder: Path, source: Path = RUNS) -> str:
    import shutil

    target = folder / "runs.csv"
    shutil.copy(source, target)
    return str(target)


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, errors="surrogateescape")
    return str(path)


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


#: Cases that fit with a bootstrap before they fail (compile-heavy: run by CI, not by default).
SLOW_CASES = {"huge seed"}


@pytest.mark.parametrize(
    ("label", "build"),
    [
        pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] in SLOW_CASES else [])
        for c in CASES
    ],
)
def test_bad_input_is_one_line_and_exit_2(label, build, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCALINGLAWS_DEBUG", raising=False)
    argv = build(tmp_path)
    before = _snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out = capsys.readouterr()
    assert code == 2, (label, code, out.err)
    # Progress notes may precede it; the refusal is the one last line.
    lines = out.err.strip().splitlines()
    assert lines and lines[-1].startswith("scalinglaws: error:"), out.err
    assert sum(line.startswith("scalinglaws:") for line in lines) == 1, out.err
    assert "Traceback" not in out.err + out.out
    assert _snapshot(tmp_path) == before  # nothing written, nothing touched


def test_an_internal_error_is_exit_3_with_where_to_report(monkeypatch, capsys):
    import scalinglaws.cli.core as core

    def boom(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("SCALINGLAWS_DEBUG", raising=False)
    monkeypatch.setattr(core, "load_law_record", boom)
    assert main(["plan", "compute", str(LAW_RECORD), "--budget", "1e22"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError: a bug" in err
    assert "SCALINGLAWS_DEBUG=1" in err and "Traceback" not in err
    # Asked for, the traceback is shown (the exception propagates).
    monkeypatch.setenv("SCALINGLAWS_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["plan", "compute", str(LAW_RECORD), "--budget", "1e22"])
    monkeypatch.delenv("SCALINGLAWS_DEBUG")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "plan", "compute", str(LAW_RECORD), "--budget", "1e22"])


def test_a_failed_write_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCALINGLAWS_DEBUG", raising=False)
    if os.geteuid() == 0:
        target = "/proc/version"  # not writable, even as root
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        target = str(ro / "out.json")
    code = main(["predict", str(LAW_RECORD), "--N", "1e9", "--D", "2e10", "--json"])
    assert code == 0
    capsys.readouterr()
    code = main(["fit", "chinchilla", str(RUNS), "--out", target, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
