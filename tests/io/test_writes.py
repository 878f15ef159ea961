"""Writes that can be trusted: registry versions claimed atomically, file modes, device
nodes, and the same bytes for the same fit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import scalinglaws as sl
import scalinglaws.io.records
from scalinglaws.io.files import atomic_write
from scalinglaws.io.records import read_record, write_record
from scalinglaws.simulate import isoflop_design, simulate_runs

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "chinchilla_sim" / "runs.csv"
FIXTURE_V1 = REPO / "tests" / "fixtures" / "records" / "chinchilla_schema_v1.json"


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("v*.json"))


# ------------------------------------------------------------------ atomic_write
def test_exclusive_write_never_replaces(tmp_path):
    target = tmp_path / "v1.json"
    atomic_write(target, "first")
    with pytest.raises(FileExistsError):
        atomic_write(target, "second", exclusive=True)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["v1.json"]  # no temporary file left


def test_new_file_respects_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        atomic_write(fresh, "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.json"
        kept.write_text("old")
        os.chmod(kept, 0o640)
        atomic_write(kept, "new")
        assert kept.read_text() == "new"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_non_regular_file_is_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PermissionError, match="not a regular file"):
        atomic_write(fifo, "x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


# ------------------------------------------------------------------ registry versions
def test_exact_claim_refuses_a_taken_version(tmp_path):
    rec = read_record(FIXTURE_V1)
    folder = tmp_path / "fits" / "chinchilla" / "sim"
    assert write_record(rec, folder / "v1.json", claim="exact") == folder / "v1.json"
    before = (folder / "v1.json").read_bytes()
    with pytest.raises(sl.RecordError, match="append-only; pass --bump to write v2.json"):
        write_record(rec, folder / "v1.json", claim="exact")
    assert write_record(rec, folder / "v1.json", claim="next") == folder / "v2.json"
    assert (folder / "v1.json").read_bytes() == before


_WRITER = textwrap.dedent(
    """
    import sys, time
    from scalinglaws.io.records import read_record, write_record
    rec = read_record(sys.argv[1])
    start = float(sys.argv[3])
    while time.time() < start:  # all writers race for v1 at the same moment
        pass
    print(write_record(rec, sys.argv[2], claim="next"))
    """
)


@pytest.mark.slow
def test_eight_concurrent_writers_get_eight_versions(tmp_path):
    folder = tmp_path / "fits" / "chinchilla" / "sim"
    start = time.time() + 8.0  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(FIXTURE_V1), str(folder / "v1.json"), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    written = sorted(Path(out.strip()).name for out, _ in outs)
    assert written == [f"v{i}.json" for i in range(1, 9)]
    assert _versions(folder) == written
    for name in written:  # every version whole
        read_record(folder / name)


@pytest.mark.slow
def test_eight_concurrent_record_bump_commands_lose_no_version(tmp_path):
    """Eight `scalinglaws record --bump` processes started together: eight new versions."""
    fits = tmp_path / "fits"
    cmd = [sys.executable, "-m", "scalinglaws", "record", "chinchilla", str(DATA)]
    cmd += ["--dataset", "sim", "--fits-dir", str(fits), "--bump", "--quiet"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert _versions(fits / "chinchilla" / "sim") == [f"v{i}.json" for i in range(1, 9)]


# ------------------------------------------------------------------ reproducible bytes
def test_records_leave_timings_out_and_honour_source_date_epoch(tmp_path, monkeypatch):
    rec = read_record(FIXTURE_V1)
    rec["options"] = {**rec.get("options", {}), "wall_s": 1.25}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    rec["provenance"] = sl.io.records.provenance()
    write_record(rec, tmp_path / "a.json")
    text = (tmp_path / "a.json").read_text()
    assert "wall_s" not in text
    assert '"created": "2023-11-14T22:13:20Z"' in text


@pytest.mark.slow
def test_same_fit_same_seed_writes_the_same_bytes(tmp_path, monkeypatch):
    """Bootstrap records used to embed the draws' wall time; now the bytes repeat
    (``provenance.created`` fixed by SOURCE_DATE_EPOCH)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    law = sl.laws.chinchilla()
    runs = simulate_runs(
        law, sl.laws.HOFFMANN_2022, isoflop_design([1e18, 1e19, 1e20, 1e21], 8), noise=0.01, seed=4
    )
    paths = []
    for i in range(2):
        res = sl.fit(law, runs, uncertainty="bootstrap", samples=40, seed=7)
        paths.append(sl.save_fit(res, tmp_path / f"r{i}.json"))
    text = paths[0].read_text()
    assert paths[1].read_text() == text
    assert "wall_s" not in text
    assert '"created": "2023-11-14T22:13:20Z"' in text
