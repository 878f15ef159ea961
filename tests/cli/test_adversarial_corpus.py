"""An adversarial corpus over every command: malformed run logs, bad option values, bad
output targets, tampered records and data-mixture specifics.

Every case must refuse the way the command line promises: the documented exit code (2 for
bad input; ``check`` exits 1 on drift and 2 on an unusable record), one line on stderr
starting ``scalinglaws: error:`` and no traceback, nothing partial on stdout, and no file
created or modified under the case's folder (the command also runs from that folder, so a
default output such as ``./report`` or ``fits/`` would show). A newline inside the data
never starts a new output line.

Inputs are copied into the case's folder before the snapshot; fitted records are made once
per module (small simulated data, no draws where the command allows it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scalinglaws.cli import main

#: Slow: 321 CLI runs, about 40 s: every refusal class over every command (CI runs it).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "data" / "chinchilla_sim" / "runs.csv"
SPARSE = REPO / "data" / "sparse" / "runs.csv"
CURVES = REPO / "data" / "cmr" / "simulated_curves.csv"
DATAMIX = REPO / "data" / "datamix_sim" / "runs.csv"
AVG_RECORD = REPO / "fits" / "avgparams" / "sparse_sim" / "v1.json"
CMR_RECORD = REPO / "fits" / "cmr" / "cmr_sim" / "v2.json"

RUNS_TEXT = RUNS.read_text()
RUNS_LINES = RUNS_TEXT.splitlines()
HEADER, ROWS = RUNS_LINES[0], RUNS_LINES[1:]
SPARSE_LINES = SPARSE.read_text().splitlines()
DM_LINES = DATAMIX.read_text().splitlines()
# A small continual-pre-training log: the first model's rows (a refusal never fits it).
CURVES_LINES = CURVES.read_text().splitlines()
CURVES_SMALL = "\n".join(CURVES_LINES[:200]) + "\n"


# --------------------------------------------------------------------------------------
# Shared inputs (made once per module) and the case's folder


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adversarial")
    paths = {
        "runs": RUNS,
        "sparse": SPARSE,
        "curves": CURVES,
        "dm": DATAMIX,
        "avg": AVG_RECORD,
        "cmr": CMR_RECORD,
    }
    law = root / "law.json"  # with draws (design needs them)
    fit = ["fit", "chinchilla", str(RUNS), "--uncertainty", "laplace", "--out", str(law)]
    assert main([*fit, "--quiet"]) == 0
    dm = root / "dm.json"  # one scale (N = 2e7), linear, no draws
    dm_fit = ["fit", "datamix", str(DATAMIX), "--where", "N == 2e7", "--law", "linear"]
    assert main([*dm_fit, "--uncertainty", "none", "--out", str(dm), "--quiet"]) == 0
    # A registry whose data lies under its root (check's allowed roots).
    reg = root / "registry"
    (reg / "data").mkdir(parents=True)
    shutil.copy(RUNS, reg / "data" / "runs.csv")
    rec = ["record", "chinchilla", str(reg / "data" / "runs.csv"), "--dataset", "sim"]
    assert main([*rec, "--fits-dir", str(reg / "fits"), "--quiet"]) == 0
    paths.update(law=law, dmrec=dm, registry=reg)
    return paths


class Ctx:
    """The case's folder: copies of the shared inputs and files written for the case."""

    def __init__(self, folder: Path, shared: dict[str, Path]) -> None:
        self.t = folder
        self._shared = shared

    def __getattr__(self, key: str) -> str:
        source = self._shared[key]
        if source.is_dir():
            target = self.t / key
            if not target.exists():
                shutil.copytree(source, target)
        else:
            target = self.t / f"{key}{source.suffix}"
            if not target.exists():
                shutil.copy(source, target)
        return str(target)

    def write(self, name: str, text: str | bytes) -> str:
        path = self.t / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
        return str(path)

    def edit(self, key: str, fn: Callable[[Any], Any], name: str = "edited.json") -> str:
        """A copy of a shared record with ``fn`` applied (it edits in place or returns)."""
        rec = json.loads(self._shared[key].read_text())
        new = fn(rec)
        return self.write(name, json.dumps(rec if new is None else new))

    @property
    def registry_record(self) -> str:
        return str(Path(self.registry) / "fits" / "chinchilla" / "sim" / "v1.json")

    def edit_registry(self, fn: Callable[[Any], Any]) -> str:
        path = Path(self.registry_record)
        rec = json.loads(path.read_text())
        fn(rec)
        path.write_text(json.dumps(rec))
        return str(path)


# --------------------------------------------------------------------------------------
# Building blocks


def runs_with(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def replace_loss(value: str, index: int = 0) -> str:
    rows = list(ROWS)
    parts = rows[index].split(",")
    parts[-1] = value
    rows[index] = ",".join(parts)
    return runs_with(*rows)


def replace_field(field: int, value: str, index: int = 0) -> str:
    rows = list(ROWS)
    parts = rows[index].split(",")
    parts[field] = value
    rows[index] = ",".join(parts)
    return runs_with(*rows)


def sparse_with(fn: Callable[[list[list[str]]], None]) -> str:
    table = [line.split(",") for line in SPARSE_LINES]
    fn(table)
    return "\n".join(",".join(r) for r in table) + "\n"


def dm_with(fn: Callable[[list[list[str]]], None]) -> str:
    table = [line.split(",") for line in DM_LINES]
    fn(table)
    return "\n".join(",".join(r) for r in table) + "\n"


def dm_one_scale(fn: Callable[[list[list[str]]], None] | None = None) -> str:
    """The 64 proxy runs at N = 2e7 (no --where needed), edited by ``fn``."""

    def keep(table: list[list[str]]) -> None:
        table[1:] = [r for r in table[1:] if r[1] == "20000000"]
        if fn is not None:
            fn(table)

    return dm_with(keep)


def set_dm(row: int, col: int, value: str) -> Callable[[list[list[str]]], None]:
    def fn(table: list[list[str]]) -> None:
        table[row][col] = value

    return fn


def deep_json(depth: int = 50_000) -> str:
    return "[" * depth + "]" * depth


def set_key(key: str, value: Any) -> Callable[[Any], None]:
    def fn(rec: Any) -> None:
        rec[key] = value

    return fn


def set_param(name: str, value: Any) -> Callable[[Any], None]:
    def fn(rec: Any) -> None:
        rec["params"][name] = value

    return fn


def drop_key(key: str) -> Callable[[Any], None]:
    def fn(rec: Any) -> None:
        rec.pop(key, None)

    return fn


def set_data_path(value: str) -> Callable[[Any], None]:
    def fn(rec: Any) -> None:
        rec["data"]["path"] = value

    return fn


LAW_FIT = ["fit", "chinchilla"]
NO_DRAWS = ["--uncertainty", "none"]
ONE_SCALE = ["--law", "linear", "--uncertainty", "none"]


# --------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    id: str
    command: str
    kind: str  # input | option | output | record | datamix | usage
    build: Callable[[Ctx], list[str]]
    code: int = 2
    quiet: bool = True  # append --quiet (progress notes would be extra stderr lines)
    report: str = "stderr"  # check reports per record on stdout
    accept: str = ""  # documented acceptance (code 0): this text must be in the output
    xfail: str = ""


CASES: list[Case] = []


def case(id: str, command: str, kind: str, build: Callable[[Ctx], list[str]], **kw: Any) -> None:
    CASES.append(Case(id, command, kind, build, **kw))


# ---- usage: the command line itself ---------------------------------------------------
case("unknown option", "(top level)", "usage", lambda c: ["--frobnicate"], quiet=False)
case("fit without a law", "(top level)", "usage", lambda c: ["fit"], quiet=False)
case("plan without a kind", "(top level)", "usage", lambda c: ["plan"], quiet=False)
case("fit chinchilla without runs", "fit chinchilla", "usage", lambda c: LAW_FIT[:])
case("two positional logs", "fit chinchilla", "usage", lambda c: [*LAW_FIT, c.runs, c.runs])

# ---- fit chinchilla: malformed logs -----------------------------------------------------
case(
    "semicolon delimiter",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", RUNS_TEXT.replace(",", ";"))],
)
case(
    "tab data in a .csv",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", RUNS_TEXT.replace(",", "\t"))],
)
case(
    "duplicate loss column",
    "fit chinchilla",
    "input",
    lambda c: [
        *LAW_FIT,
        c.write("r.csv", runs_with(*[r + ",9" for r in ROWS], header=HEADER + ",loss")),
    ],
)
case(
    "NaN loss",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("nan"))],
)
case(
    "inf loss",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("inf"))],
)
case(
    "negative loss",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("-3.1"))],
)
case(
    "zero loss",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("0"))],
)
case(
    "empty loss cell",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss(""))],
)
case(
    "loss 1e400 (overflows)",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("1e400"))],
)
case(
    "N 1e308",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_field(1, "1e308"))],
)
case(
    "D 1e400 (overflows)",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_field(2, "1e400"))],
)
case(
    "zero D",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_field(2, "0"))],
)
case(
    "negative C",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_field(3, "-6e18"))],
)
case(
    "perplexities labelled loss (documented: fit with a loud warning)",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", _perplexities()), *NO_DRAWS],
    code=0,
    accept="--loss-is perplexity",
)
case(
    "one column for two roles",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--column", "loss=N", "--column", "N=N"],
)
case(
    "perplexity below one",
    "backtest",
    "input",
    lambda c: [
        *BT,
        c.write("r.csv", replace_loss("0.5")),
        "--holdout-above-compute",
        "1e20",
        "--loss-is",
        "perplexity",
    ],
)
case(
    "newline inside a loss cell",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss('"3.0\nx"'))],
)
case(
    "newline inside a column name",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", runs_with(*ROWS, header='run,"N\nx",D,C,"lo\nss"'))],
)
case(
    "unicode column names only",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", runs_with(*ROWS, header="run,Ñ,Ð,Ç,λoss"))],
)
case(
    "unicode text in N",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_field(1, "１e9"))],
)
case(
    "no loss column",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", runs_with(*ROWS, header="run,N,D,C,acc"))],
)
case(
    "only N and loss",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", "N,loss\n1e8,3\n2e8,2.9\n4e8,2.8\n")],
)
case(
    "one run", "fit chinchilla", "input", lambda c: [*LAW_FIT, c.write("r.csv", runs_with(ROWS[0]))]
)
case(
    "ragged rows",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", runs_with(*ROWS[:5], "x,1,2", *ROWS[5:]))],
)
case(
    "utf-16 bytes",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.csv", RUNS_TEXT.encode("utf-16"))],
)
case(
    "CSV text named .parquet",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.parquet", RUNS_TEXT)],
)
case(
    "garbage .jsonl",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.jsonl", '{"N": 1e9, "D": 2e10, "loss": 3}\n{oops\n')],
)
case(
    "JSON lines with a NaN literal",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.jsonl", '{"N": 1e9, "D": 2e10, "loss": NaN}\n' * 3)],
)
case(
    "unknown extension",
    "fit chinchilla",
    "input",
    lambda c: [*LAW_FIT, c.write("r.xlsx", b"PK\x03\x04garbage")],
)

# ---- fit chinchilla: options --------------------------------------------------------
case("--delta 0", "fit chinchilla", "option", lambda c: [*LAW_FIT, c.runs, "--delta", "0"])
case("--delta -1", "fit chinchilla", "option", lambda c: [*LAW_FIT, c.runs, "--delta", "-1"])
case("--delta nan", "fit chinchilla", "option", lambda c: [*LAW_FIT, c.runs, "--delta", "nan"])
case("--k 0", "fit chinchilla", "option", lambda c: [*LAW_FIT, c.runs, "--k", "0"])
case("--k inf", "fit chinchilla", "option", lambda c: [*LAW_FIT, c.runs, "--k", "inf"])
case(
    "--samples 0 bootstrap",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--uncertainty", "bootstrap", "--samples", "0"],
)
case(
    "--samples -5 bootstrap",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--uncertainty", "bootstrap", "--samples", "-5"],
)
case(
    "--seed text",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--uncertainty", "bootstrap", "--samples", "10", "--seed", "x"],
)
case(
    "--uncertainty unknown",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--uncertainty", "vibes"],
)
case(
    "--calibration-fraction 1.5",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--calibrate", "conformal", "--calibration-fraction", "1.5"],
)
case(
    "--calibration-fraction nan",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--calibrate", "conformal", "--calibration-fraction", "nan"],
)
case(
    "--column without =",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--column", "loss"],
)
case(
    "--column unknown role",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--column", "colour=N"],
)
case(
    "--column absent column",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--column", "loss=eval/loss"],
)
case(
    "--where syntax error",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--where", "N >"],
)
case(
    "--where code injection",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--where", "__import__('os').system('touch pwned')"],
)
case(
    "--where selects nothing",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--where", "N > 1e30"],
)
case(
    "--where unknown column",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--where", "lr < 1"],
)
case(
    "--checkpoints bogus",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--checkpoints", "some"],
)
case(
    "--checkpoints after-fraction 2",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--checkpoints", "after-fraction", "2"],
)
case(
    "--checkpoints after-fraction without F",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--checkpoints", "after-fraction"],
)
case(
    "--best-of absent column",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--best-of", "lr"],
)
case(
    "--duplicates error on duplicates",
    "fit chinchilla",
    "option",
    lambda c: [
        *LAW_FIT,
        c.write("r.csv", _no_run_column(ROWS + ROWS[:1])),
        "--duplicates",
        "error",
    ],
)
case(
    "--loss-is perplexity below 1",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.write("r.csv", replace_loss("0.5")), "--loss-is", "perplexity"],
)
case(
    "--discrepancy unknown",
    "fit chinchilla",
    "option",
    lambda c: [*LAW_FIT, c.runs, "--discrepancy", "cubic"],
)

# ---- fit chinchilla: output targets ---------------------------------------------------
case("--out a symlink to the input", "fit chinchilla", "output", lambda c: _symlink_out(c))
case(
    "--out /dev/full",
    "fit chinchilla",
    "output",
    lambda c: [*LAW_FIT, c.runs, *NO_DRAWS, "--out", "/dev/full"],
)
case(
    "--out under a regular file",
    "fit chinchilla",
    "output",
    lambda c: [*LAW_FIT, c.runs, *NO_DRAWS, "--out", str(Path(c.write("plain", "x")) / "fit.json")],
)
case(
    "--out whitespace",
    "fit chinchilla",
    "output",
    lambda c: [*LAW_FIT, c.runs, *NO_DRAWS, "--out", "   "],
)


def _perplexities() -> str:
    """The bundled log with perplexities (exp(loss)) in its loss column."""
    import math

    rows = [r.rsplit(",", 1) for r in ROWS]
    return runs_with(*[f"{head},{math.exp(float(loss)):.6g}" for head, loss in rows])


def _no_run_column(rows: list[str]) -> str:
    return runs_with(*[r.split(",", 1)[1] for r in rows], header=HEADER.split(",", 1)[1])


def _symlink_out(c: Ctx) -> list[str]:
    runs = c.runs
    link = c.t / "out.json"
    link.symlink_to(runs)
    return [*LAW_FIT, runs, *NO_DRAWS, "--out", str(link)]


# ---- fit avgparams ----------------------------------------------------------------------
AVG_FIT = ["fit", "avgparams"]
case("empty log", "fit avgparams", "input", lambda c: [*AVG_FIT, c.write("s.csv", "")])
case(
    "header only",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", SPARSE_LINES[0] + "\n")],
)
case(
    "binary garbage",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", bytes(range(256)) * 4)],
)
case(
    "sparsity 1.5",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(set_dm(40, 2, "1.5")))],
)
case(
    "sparsity nan",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(set_dm(40, 2, "nan")))],
)
case(
    "unknown schedule",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(set_dm(40, 3, "zigzag")))],
)
case(
    "end step before start",
    "fit avgparams",
    "input",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(_swap_steps))],
)
case(
    "counts_log absolute path",
    "fit avgparams",
    "record",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(set_dm(40, 10, "/etc/passwd")))],
)
case(
    "counts_log ../ escape",
    "fit avgparams",
    "record",
    lambda c: [*AVG_FIT, c.write("s.csv", sparse_with(set_dm(40, 10, "../../../../etc/passwd")))],
)
case("--every 0", "fit avgparams", "option", lambda c: [*AVG_FIT, c.sparse, "--every", "0"])
case("--every -10", "fit avgparams", "option", lambda c: [*AVG_FIT, c.sparse, "--every", "-10"])
case(
    "--dense-remainder nan",
    "fit avgparams",
    "option",
    lambda c: [*AVG_FIT, c.sparse, "--dense-remainder", "nan"],
)
case(
    "--search unknown",
    "fit avgparams",
    "option",
    lambda c: [*AVG_FIT, c.sparse, "--search", "anneal"],
)
case(
    "--out onto the input",
    "fit avgparams",
    "output",
    lambda c: [*AVG_FIT, c.sparse, "--out", c.sparse],
)
case("--out a folder", "fit avgparams", "output", lambda c: [*AVG_FIT, c.sparse, "--out", str(c.t)])


def _swap_steps(table: list[list[str]]) -> None:
    row = next(r for r in table[1:] if r[4] and r[5])
    row[4], row[5] = row[5], row[4]


# ---- fit cmr ------------------------------------------------------------------------------
CMR_FIT = ["fit", "cmr"]
case("empty curves", "fit cmr", "input", lambda c: [*CMR_FIT, c.write("k.csv", "")])
case(
    "header only",
    "fit cmr",
    "input",
    lambda c: [*CMR_FIT, c.write("k.csv", "model,ratio,tokens,split,loss\n")],
)
case(
    "no split column",
    "fit cmr",
    "input",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL.replace("split", "part", 1))],
)
case(
    "ratio 1.5",
    "fit cmr",
    "input",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL.replace(",0.", ",1.", 3))],
)
case(
    "negative tokens",
    "fit cmr",
    "input",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL.replace(",,0,general", ",,-5,general", 1))],
)
case(
    "unknown split",
    "fit cmr",
    "input",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL.replace("general", "other", 1))],
)
case(
    "--lambda -1",
    "fit cmr",
    "option",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--lambda", "-1"],
)
case(
    "--lambda nan",
    "fit cmr",
    "option",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--lambda", "nan"],
)
case(
    "--epsilon -0.1",
    "fit cmr",
    "option",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--epsilon", "-0.1"],
)
case(
    "--samples 0 bootstrap",
    "fit cmr",
    "option",
    lambda c: [
        *CMR_FIT,
        c.write("k.csv", CURVES_SMALL),
        "--uncertainty",
        "bootstrap",
        "--samples",
        "0",
    ],
)
case(
    "--token-unit 0",
    "fit cmr",
    "option",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--token-unit", "0"],
)
case(
    "--chains 0 nuts",
    "fit cmr",
    "option",
    lambda c: [
        *CMR_FIT,
        c.write("k.csv", CURVES_SMALL),
        "--uncertainty",
        "bayes",
        "--sampler",
        "nuts",
        "--chains",
        "0",
    ],
)
case(
    "--record ../ escape",
    "fit cmr",
    "output",
    lambda c: [
        *CMR_FIT,
        c.write("k.csv", CURVES_SMALL),
        "--record",
        "../x",
        "--fits-dir",
        str(c.t / "fits"),
    ],
)
case(
    "--record absolute",
    "fit cmr",
    "output",
    lambda c: [
        *CMR_FIT,
        c.write("k.csv", CURVES_SMALL),
        "--record",
        "/tmp/abs",
        "--fits-dir",
        str(c.t / "fits"),
    ],
)
case(
    "--fits-dir a regular file",
    "fit cmr",
    "output",
    lambda c: [
        *CMR_FIT,
        c.write("k.csv", CURVES_SMALL),
        "--record",
        "x",
        "--fits-dir",
        c.write("f", "x"),
    ],
)
case(
    "--bump without --record",
    "fit cmr",
    "option",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--bump"],
)
case(
    "--out a folder",
    "fit cmr",
    "output",
    lambda c: [*CMR_FIT, c.write("k.csv", CURVES_SMALL), "--out", str(c.t)],
)

# ---- fit datamix ------------------------------------------------------------------------
DM_FIT = ["fit", "datamix"]
case(
    "weights summing to 2",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(_double_weights)), *ONE_SCALE],
)
case(
    "negative weight",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(set_dm(3, 2, "-0.1"))), *ONE_SCALE],
)
case(
    "NaN weight",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(set_dm(3, 2, "nan"))), *ONE_SCALE],
)
case(
    "text loss",
    "fit datamix",
    "input",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(set_dm(3, 8, "high"))), *ONE_SCALE],
)
case(
    "negative loss",
    "fit datamix",
    "input",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(set_dm(3, 8, "-2"))), *ONE_SCALE],
)
case(
    "no weight columns",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(_rename_weights)), *ONE_SCALE],
)
case(
    "--weights-prefix matching nothing",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.dm, "--weights-prefix", "share_", *ONE_SCALE],
)
case(
    "--losses missing file",
    "fit datamix",
    "input",
    lambda c: [*DM_FIT, c.dm, "--losses", str(c.t / "absent.csv"), "--on", "run", *ONE_SCALE],
)
case(
    "--losses join key absent",
    "fit datamix",
    "datamix",
    lambda c: [
        *DM_FIT,
        c.dm,
        "--losses",
        c.write("l.csv", "id,loss_web\na,2\n"),
        "--on",
        "run",
        *ONE_SCALE,
    ],
)
case("--law unknown", "fit datamix", "option", lambda c: [*DM_FIT, c.dm, "--law", "quadratic"])
case(
    "--target unknown domain",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.dm, "--target", "loss_klingon", "--where", "N == 2e7", *ONE_SCALE],
)
case(
    "--samples -1",
    "fit datamix",
    "option",
    lambda c: [
        *DM_FIT,
        c.dm,
        "--where",
        "N == 2e7",
        "--law",
        "linear",
        "--uncertainty",
        "bootstrap",
        "--samples",
        "-1",
    ],
)
case(
    "--where selects nothing",
    "fit datamix",
    "option",
    lambda c: [*DM_FIT, c.dm, "--where", "N == 3", *ONE_SCALE],
)
case(
    "two runs only",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", "\n".join(DM_LINES[:3]) + "\n"), *ONE_SCALE],
)
case(
    "newline in a domain name",
    "fit datamix",
    "datamix",
    lambda c: [*DM_FIT, c.write("m.csv", dm_one_scale(_newline_domain)), *ONE_SCALE],
)
case(
    "--out onto the input",
    "fit datamix",
    "output",
    lambda c: [*DM_FIT, c.dm, "--where", "N == 2e7", *ONE_SCALE, "--out", c.dm],
)
case(
    "--record ../ escape",
    "fit datamix",
    "output",
    lambda c: [
        *DM_FIT,
        c.dm,
        "--where",
        "N == 2e7",
        *ONE_SCALE,
        "--record",
        "../../up",
        "--fits-dir",
        str(c.t / "f"),
    ],
)


def _double_weights(table: list[list[str]]) -> None:
    for row in table[1:]:
        for j in range(2, 7):
            row[j] = str(2 * float(row[j]))


def _rename_weights(table: list[list[str]]) -> None:
    table[0] = [h.replace("w_", "share_") for h in table[0]]


def _newline_domain(table: list[list[str]]) -> None:
    table[0][2], table[0][7] = '"w_we\nb"', '"loss_we\nb"'


# ---- plan compute -----------------------------------------------------------------------
PC = ["plan", "compute"]
case(
    "empty record file",
    "plan compute",
    "record",
    lambda c: [*PC, c.write("r.json", ""), "--budget", "1e22"],
)
case("record is a folder", "plan compute", "record", lambda c: [*PC, str(c.t), "--budget", "1e22"])
case(
    "truncated record",
    "plan compute",
    "record",
    lambda c: [*PC, c.write("r.json", Path(c.law).read_text()[:500]), "--budget", "1e22"],
)
case(
    "record a JSON array",
    "plan compute",
    "record",
    lambda c: [*PC, c.write("r.json", "[1, 2, 3]"), "--budget", "1e22"],
)
case(
    "record a JSON string",
    "plan compute",
    "record",
    lambda c: [*PC, c.write("r.json", '"fit"'), "--budget", "1e22"],
)
case(
    "binary record",
    "plan compute",
    "record",
    lambda c: [*PC, c.write("r.json", b"\x89PNG\r\n\x1a\n\x00"), "--budget", "1e22"],
)
case(
    "NaN literal in params",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", set_param("E", float("nan"))), "--budget", "1e22"],
)
case(
    "Infinity literal in params",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", set_param("B", float("inf"))), "--budget", "1e22"],
)
case(
    "params missing E",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", lambda r: r["params"].pop("E")), "--budget", "1e22"],
)
case(
    "params null",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", set_key("params", None)), "--budget", "1e22"],
)
case(
    "law name unknown",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", set_key("law", "nolaw")), "--budget", "1e22"],
)
case(
    "law name a dict",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", set_key("law", {"x": 1})), "--budget", "1e22"],
)
case("datamix record", "plan compute", "record", lambda c: [*PC, c.dmrec, "--budget", "1e22"])
case(
    "huge draws array of strings",
    "plan compute",
    "record",
    lambda c: [*PC, c.edit("law", _huge_draws), "--budget", "1e22"],
)
case("--budget inf", "plan compute", "option", lambda c: [*PC, c.law, "--budget", "inf"])
case("--budget text", "plan compute", "option", lambda c: [*PC, c.law, "--budget", "lots"])
case("neither budget nor target", "plan compute", "option", lambda c: [*PC, c.law])
case(
    "--target-loss below E",
    "plan compute",
    "option",
    lambda c: [*PC, c.law, "--target-loss", "0.5"],
)
case("--target-loss nan", "plan compute", "option", lambda c: [*PC, c.law, "--target-loss", "nan"])
case("--target-loss -2", "plan compute", "option", lambda c: [*PC, c.law, "--target-loss", "-2"])


def _huge_draws(rec: Any) -> None:
    rec["uncertainty"]["draws"] = ["x"] * 200_000


# ---- plan sparsity ----------------------------------------------------------------------
PS = ["plan", "sparsity"]
case(
    "--sparsity 1",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--sparsity", "1"],
)
case(
    "--sparsity -0.1",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--sparsity", "-0.1"],
)
case(
    "--sparsity nan",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--sparsity", "nan"],
)
case("--budget 0", "plan sparsity", "option", lambda c: [*PS, c.avg, "--budget", "0"])
case("--budget -1e21", "plan sparsity", "option", lambda c: [*PS, c.avg, "--budget", "-1e21"])
case(
    "--total-steps 0",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--total-steps", "0"],
)
case(
    "--every 0",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--every", "0"],
)
case(
    "start after end compute",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--start-compute", "0.9", "--end-compute", "0.1"],
)
case(
    "--tokens-per-step 0",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--tokens-per-step", "0"],
)
case("--target-size -5", "plan sparsity", "option", lambda c: [*PS, c.avg, "--target-size", "-5"])
case(
    "--kind unknown",
    "plan sparsity",
    "option",
    lambda c: [*PS, c.avg, "--budget", "1e21", "--kind", "linear"],
)
case("cmr record", "plan sparsity", "record", lambda c: [*PS, c.cmr, "--budget", "1e21"])
case(
    "deep JSON",
    "plan sparsity",
    "record",
    lambda c: [*PS, c.write("d.json", deep_json()), "--budget", "1e21"],
)
case(
    "alpha a string",
    "plan sparsity",
    "record",
    lambda c: [*PS, c.edit("avg", set_param("alpha", "0.3")), "--budget", "1e21"],
)

# ---- plan mixture -----------------------------------------------------------------------
PM = ["plan", "mixture"]
case("--tokens -1", "plan mixture", "option", lambda c: [*PM, c.cmr, "--tokens", "-1"])
case("--tokens 0", "plan mixture", "option", lambda c: [*PM, c.cmr, "--tokens", "0"])
case("--tokens nan", "plan mixture", "option", lambda c: [*PM, c.cmr, "--tokens", "nan"])
case(
    "--lambda -1",
    "plan mixture",
    "option",
    lambda c: [*PM, c.cmr, "--tokens", "1e9", "--lambda", "-1"],
)
case(
    "--epsilon nan",
    "plan mixture",
    "option",
    lambda c: [*PM, c.cmr, "--tokens", "1e9", "--epsilon", "nan"],
)
case(
    "--share 1.5",
    "plan mixture",
    "option",
    lambda c: [*PM, c.cmr, "--tokens", "1e9", "--share", "1.5"],
)
case(
    "--model unknown",
    "plan mixture",
    "option",
    lambda c: [*PM, c.cmr, "--tokens", "1e9", "--model", "13B"],
)
case("--tokens missing", "plan mixture", "usage", lambda c: [*PM, c.cmr])
case("datamix record", "plan mixture", "record", lambda c: [*PM, c.dmrec, "--tokens", "1e9"])
case(
    "truncated record",
    "plan mixture",
    "record",
    lambda c: [*PM, c.write("r.json", Path(c.cmr).read_text()[:300]), "--tokens", "1e9"],
)
case(
    "models a string",
    "plan mixture",
    "record",
    lambda c: [*PM, c.edit("cmr", _models_string), "--tokens", "1e9"],
)
case(
    "deep JSON",
    "plan mixture",
    "record",
    lambda c: [*PM, c.write("d.json", deep_json()), "--tokens", "1e9"],
)


def _models_string(rec: Any) -> None:
    for key in ("models", "curves", "params"):
        if key in rec:
            rec[key] = "oops"


# ---- plan datamix -----------------------------------------------------------------------
PD = ["plan", "datamix"]
case("--min 0.5 (infeasible)", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--min", "0.5"])
case("--max 0.1 (infeasible)", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--max", "0.1"])
case(
    "--min over one in sum",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--min", "web=0.6,code=0.6"],
)
case(
    "--min unknown domain",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--min", "klingon=0.1"],
)
case("--max negative", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--max", "web=-0.1"])
case("--min nan", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--min", "nan"])
case("--min malformed", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--min", "web:0.1"])
case(
    "--min above --max",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--min", "web=0.5", "--max", "web=0.2"],
)
case(
    "--tokens without --available",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--tokens", "1e9"],
)
case(
    "--max-epochs without --available",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--max-epochs", "2"],
)
case("--tokens -1", "plan datamix", "option", lambda c: [*PD, c.dmrec, "--tokens", "-1"])
case(
    "--max-epochs 0",
    "plan datamix",
    "option",
    lambda c: [
        *PD,
        c.dmrec,
        "--tokens",
        "1e9",
        "--available",
        "web=1e9,code=1e9,books=1e9,wiki=1e9,papers=1e9",
        "--max-epochs",
        "0",
    ],
)
case(
    "available tokens too few",
    "plan datamix",
    "datamix",
    lambda c: [
        *PD,
        c.dmrec,
        "--tokens",
        "1e12",
        "--available",
        "web=1,code=1,books=1,wiki=1,papers=1",
    ],
)
case("--baseline bogus", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--baseline", "fancy"])
case(
    "--baseline weights sum 2",
    "plan datamix",
    "datamix",
    lambda c: [*PD, c.dmrec, "--baseline", "web=1,code=1,books=0,wiki=0,papers=0"],
)
case("--ceiling 0", "plan datamix", "option", lambda c: [*PD, c.dmrec, "--ceiling", "0"])
case(
    "--quantile 1.5",
    "plan datamix",
    "option",
    lambda c: [*PD, c.dmrec, "--objective", "quantile", "--quantile", "1.5"],
)
case("--level 1.5", "plan datamix", "option", lambda c: [*PD, c.dmrec, "--level", "1.5"])
case("--level 0", "plan datamix", "option", lambda c: [*PD, c.dmrec, "--level", "0"])
case(
    "--N 1e9 on a one-scale fit", "plan datamix", "datamix", lambda c: [*PD, c.dmrec, "--N", "1e9"]
)
case("--N -1", "plan datamix", "option", lambda c: [*PD, c.dmrec, "--N", "-1"])
case("law record", "plan datamix", "record", lambda c: [*PD, c.law])
case(
    "tampered domains", "plan datamix", "record", lambda c: [*PD, c.edit("dmrec", _tamper_domains)]
)
case(
    "truncated record",
    "plan datamix",
    "record",
    lambda c: [*PD, c.write("r.json", Path(c.dmrec).read_text()[:1000])],
)
case("deep JSON", "plan datamix", "record", lambda c: [*PD, c.write("d.json", deep_json())])
case(
    "newline in a recorded domain name",
    "plan datamix",
    "record",
    lambda c: [*PD, c.edit("dmrec", _newline_record_domain)],
)
case(
    "newline in a recorded domain name",
    "design",
    "record",
    lambda c: [*DS, c.edit("dmrec", _newline_record_domain)],
)


def _newline_record_domain(rec: Any) -> None:
    rec["pipeline"]["training_domains"][0] = "we\nb"


def _tamper_domains(rec: Any) -> None:
    rec["pipeline"]["training_domains"].append("extra")


# ---- predict ------------------------------------------------------------------------------
PR = ["predict"]
case("--N -1", "predict", "option", lambda c: [*PR, c.law, "--N", "-1", "--D", "1e10"])
case("--N 0", "predict", "option", lambda c: [*PR, c.law, "--N", "0", "--D", "1e10"])
case("--N nan", "predict", "option", lambda c: [*PR, c.law, "--N", "nan", "--D", "1e10"])
case("--D inf", "predict", "option", lambda c: [*PR, c.law, "--N", "1e9", "--D", "inf"])
case("--N text", "predict", "option", lambda c: [*PR, c.law, "--N", "big", "--D", "1e10"])
case("no inputs", "predict", "option", lambda c: [*PR, c.law])
case("only N", "predict", "option", lambda c: [*PR, c.law, "--N", "1e9"])
case(
    "mismatched lengths",
    "predict",
    "option",
    lambda c: [*PR, c.law, "--N", "1e9", "2e9", "--D", "1e10", "2e10", "3e10"],
)
case(
    "--input unknown",
    "predict",
    "option",
    lambda c: [*PR, c.law, "--N", "1e9", "--D", "1e10", "--input", "lr=1"],
)
case("--input without =", "predict", "option", lambda c: [*PR, c.law, "--N", "1e9", "--input", "D"])
case("--N 1e400", "predict", "option", lambda c: [*PR, c.law, "--N", "1e400", "--D", "1e10"])
case("cmr record", "predict", "record", lambda c: [*PR, c.cmr, "--N", "1e9", "--D", "1e10"])
case("datamix record", "predict", "record", lambda c: [*PR, c.dmrec, "--N", "1e9", "--D", "1e10"])
case(
    "deep JSON",
    "predict",
    "record",
    lambda c: [*PR, c.write("d.json", deep_json()), "--N", "1e9", "--D", "1e10"],
)
case(
    "kind tampered",
    "predict",
    "record",
    lambda c: [*PR, c.edit("law", set_key("kind", "scalinglaws.cmr")), "--N", "1e9", "--D", "1e10"],
)
case(
    "covariance a string",
    "predict",
    "record",
    lambda c: [*PR, c.edit("law", set_key("covariance", "oops")), "--N", "1e9", "--D", "1e10"],
)
case(
    "uncertainty draws ragged",
    "predict",
    "record",
    lambda c: [*PR, c.edit("law", _ragged_draws), "--N", "1e9", "--D", "1e10"],
)


def _ragged_draws(rec: Any) -> None:
    draws = rec["uncertainty"].get("draws")
    if isinstance(draws, dict):
        first = next(iter(draws))
        draws[first] = draws[first][:3]
    elif isinstance(draws, list):
        draws[0] = [1.0]
    else:
        rec["uncertainty"]["draws"] = [[1.0], [1.0, 2.0]]


# ---- schedule -------------------------------------------------------------------------------
SC = ["schedule"]
case(
    "--sparsity 1",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "1", "--total-steps", "1000"],
)
case(
    "--sparsity -0.5",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "-0.5", "--total-steps", "1000"],
)
case(
    "--sparsity nan",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "nan", "--total-steps", "1000"],
)
case(
    "--total-steps 0",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "0"],
)
case(
    "--total-steps -5",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "-5"],
)
case(
    "--total-steps 1.5",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1.5"],
)
case(
    "--every 0",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--every", "0"],
)
case(
    "end step before start",
    "schedule",
    "option",
    lambda c: [
        *SC,
        "--sparsity",
        "0.5",
        "--total-steps",
        "1000",
        "--start-step",
        "500",
        "--end-step",
        "100",
    ],
)
case(
    "end step past total",
    "schedule",
    "option",
    lambda c: [
        *SC,
        "--sparsity",
        "0.5",
        "--total-steps",
        "1000",
        "--start-step",
        "10",
        "--end-step",
        "5000",
    ],
)
case(
    "--start-compute 1.5",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--start-compute", "1.5"],
)
case(
    "start after end compute",
    "schedule",
    "option",
    lambda c: [
        *SC,
        "--sparsity",
        "0.5",
        "--total-steps",
        "1000",
        "--start-compute",
        "0.8",
        "--end-compute",
        "0.2",
    ],
)
case(
    "steps and compute together",
    "schedule",
    "option",
    lambda c: [
        *SC,
        "--sparsity",
        "0.5",
        "--total-steps",
        "1000",
        "--start-step",
        "10",
        "--start-compute",
        "0.3",
    ],
)
case(
    "--tokens-per-step -1",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--tokens-per-step", "-1"],
)
case(
    "--dense-params 0",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--dense-params", "0"],
)
case(
    "--kind unknown",
    "schedule",
    "option",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--kind", "linear"],
)
case(
    "--csv a folder",
    "schedule",
    "output",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--csv", str(c.t)],
)
case(
    "--csv under a file",
    "schedule",
    "output",
    lambda c: [
        *SC,
        "--sparsity",
        "0.5",
        "--total-steps",
        "1000",
        "--csv",
        str(Path(c.write("f", "x")) / "s.csv"),
    ],
)
case(
    "--csv /dev/full",
    "schedule",
    "output",
    lambda c: [*SC, "--sparsity", "0.5", "--total-steps", "1000", "--csv", "/dev/full"],
)

# ---- backtest -------------------------------------------------------------------------------
BT = ["backtest"]
case("no holdout option", "backtest", "usage", lambda c: [*BT, c.runs])
case(
    "two holdout options",
    "backtest",
    "usage",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e20", "--holdout-above-params", "1e9"],
)
case(
    "empty log",
    "backtest",
    "input",
    lambda c: [*BT, c.write("r.csv", ""), "--holdout-above-compute", "1e20"],
)
case(
    "NaN loss",
    "backtest",
    "input",
    lambda c: [*BT, c.write("r.csv", replace_loss("nan")), "--holdout-above-compute", "1e20"],
)
case(
    "holds out everything",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1", *NO_DRAWS],
)
case(
    "holds out nothing",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e30", *NO_DRAWS],
)
case(
    "--holdout-above-compute nan",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "nan"],
)
case(
    "--holdout-query syntax error",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-query", "C >= and"],
)
case(
    "--holdout-query unknown column",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-query", "lr > 1"],
)
case(
    "--law unknown",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--law", "nolaw", "--holdout-above-compute", "1e20"],
)
case(
    "--level 1.5",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e20", "--level", "1.5"],
)
case(
    "--level nan",
    "backtest",
    "option",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e20", "--level", "nan"],
)
case(
    "--samples 0",
    "backtest",
    "option",
    lambda c: [
        *BT,
        c.runs,
        "--holdout-above-compute",
        "1e20",
        "--uncertainty",
        "bootstrap",
        "--samples",
        "0",
    ],
)
case(
    "--plot a folder",
    "backtest",
    "output",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e20", "--plot", str(c.t)],
)
case(
    "--plot onto the input",
    "backtest",
    "output",
    lambda c: [*BT, c.runs, "--holdout-above-compute", "1e20", *NO_DRAWS, "--plot", c.runs],
)
case(
    "--plot under a file",
    "backtest",
    "output",
    lambda c: [
        *BT,
        c.runs,
        "--holdout-above-compute",
        "1e20",
        *NO_DRAWS,
        "--plot",
        str(Path(c.write("f", "x")) / "p.png"),
    ],
)

# ---- approaches (owned elsewhere: failures are documented as xfail) -----------------------
AP = ["approaches"]
case("--budgets -1", "approaches", "option", lambda c: [*AP, c.runs, "--budgets", "-1"])
case("--budgets 0", "approaches", "option", lambda c: [*AP, c.runs, "--budgets", "0"])
case("--budgets nan", "approaches", "option", lambda c: [*AP, c.runs, "--budgets", "nan"])
case(
    "--approach 4",
    "approaches",
    "option",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "4"],
)
case(
    "--method unknown",
    "approaches",
    "option",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--method", "cubic"],
)
case(
    "--level 2",
    "approaches",
    "option",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "3", "--level", "2"],
)
case(
    "--k 0",
    "approaches",
    "option",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "3", "--k", "0"],
)
case(
    "--budget-rtol -1",
    "approaches",
    "option",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "2", "--budget-rtol", "-1"],
)
case(
    "--loss-noise -1",
    "approaches",
    "option",
    lambda c: [
        *AP,
        c.runs,
        "--budgets",
        "1e21",
        "--approach",
        "2",
        "--method",
        "akima",
        "--loss-noise",
        "-1",
    ],
)
case("empty log", "approaches", "input", lambda c: [*AP, c.write("r.csv", ""), "--budgets", "1e21"])
case(
    "header only",
    "approaches",
    "input",
    lambda c: [*AP, c.write("r.csv", HEADER + "\n"), "--budgets", "1e21"],
)
case(
    "binary garbage",
    "approaches",
    "input",
    lambda c: [*AP, c.write("r.csv", b"\x00\xff" * 100), "--budgets", "1e21"],
)
case(
    "approach 1 without checkpoints",
    "approaches",
    "input",
    lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "1"],
)

# ---- record -------------------------------------------------------------------------------
RC = ["record", "chinchilla"]
case(
    "dataset with a slash",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", "a/b", "--fits-dir", str(c.t / "fits")],
)
case(
    "absolute dataset",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", str(c.t / "abs"), "--fits-dir", str(c.t / "fits")],
)
case(
    "dataset '.'",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", ".", "--fits-dir", str(c.t / "fits")],
)
case(
    "dataset with a newline",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", "a\nb", "--fits-dir", str(c.t / "fits")],
)
case(
    "unknown law",
    "record",
    "usage",
    lambda c: ["record", "nolaw", c.runs, "--dataset", "x", "--fits-dir", str(c.t / "fits")],
)
case(
    "empty log",
    "record",
    "input",
    lambda c: [*RC, c.write("r.csv", ""), "--dataset", "x", "--fits-dir", str(c.t / "fits")],
)
case(
    "binary log",
    "record",
    "input",
    lambda c: [
        *RC,
        c.write("r.csv", b"\xff\xfe\x00garbage"),
        "--dataset",
        "x",
        "--fits-dir",
        str(c.t / "fits"),
    ],
)
case(
    "--fits-dir a regular file",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", "x", "--fits-dir", c.write("f", "x")],
)
case(
    "--fits-dir under a file",
    "record",
    "output",
    lambda c: [*RC, c.runs, "--dataset", "x", "--fits-dir", str(Path(c.write("f", "x")) / "fits")],
)
case(
    "existing version without --bump",
    "record",
    "output",
    lambda c: [
        *RC,
        str(Path(c.registry) / "data" / "runs.csv"),
        "--dataset",
        "sim",
        "--fits-dir",
        str(Path(c.registry) / "fits"),
    ],
)
case(
    "--k 0",
    "record",
    "option",
    lambda c: [*RC, c.runs, "--dataset", "x", "--fits-dir", str(c.t / "fits"), "--k", "0"],
)
case(
    "--where syntax error",
    "record",
    "option",
    lambda c: [*RC, c.runs, "--dataset", "x", "--fits-dir", str(c.t / "fits"), "--where", "N >> 3"],
)

# ---- check --------------------------------------------------------------------------------
CK = ["check"]
case("empty folder", "check", "input", lambda c: [*CK, str(_mkdir(c.t / "empty"))])
case(
    "record not JSON",
    "check",
    "record",
    lambda c: [*CK, c.write("r.json", "{oops")],
    report="stdout",
)
case(
    "record a JSON array",
    "check",
    "record",
    lambda c: [*CK, c.write("r.json", "[]")],
    report="stdout",
)
case(
    "deep JSON", "check", "record", lambda c: [*CK, c.write("r.json", deep_json())], report="stdout"
)
case(
    "record with a newline in its message",
    "check",
    "record",
    lambda c: [*CK, c.edit("law", _law_name("no\nlaw"))],
    report="stdout",
)
case(
    "tampered parameter (drift)",
    "check",
    "record",
    lambda c: [*CK, c.edit_registry(set_param("E", 0.5))],
    code=1,
    report="stdout",
)
case(
    "parameter a string",
    "check",
    "record",
    lambda c: [*CK, c.edit_registry(set_param("E", "1.7"))],
    report="stdout",
)
case(
    "tampered digest (drift)",
    "check",
    "record",
    lambda c: [*CK, c.edit_registry(_tamper_digest)],
    code=1,
    report="stdout",
)
case(
    "data path ../ escape to a folder",
    "check",
    "record",
    lambda c: [*CK, c.edit_registry(set_data_path("../../../../.."))],
    report="stdout",
)
case(
    "absent data with --strict",
    "check",
    "record",
    lambda c: [*CK, "--strict", c.edit_registry(set_data_path("../../../data/gone.csv"))],
    code=1,
    report="stdout",
)
case(
    "data key removed with --strict",
    "check",
    "record",
    lambda c: [*CK, "--strict", c.edit_registry(drop_key("data"))],
    report="stdout",
)
case(
    "--max-outside 2",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, "--new-runs", c.runs, "--max-outside", "2"],
)
case(
    "--max-outside -1",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, "--new-runs", c.runs, "--max-outside", "-1"],
)
case(
    "--plan-rtol nan",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, "--new-runs", c.runs, "--plan-rtol", "nan"],
)
case(
    "--budget without --new-runs",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, "--budget", "1e22"],
)
case(
    "--budget -1 with --new-runs",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, "--new-runs", c.runs, "--budget", "-1"],
)
case(
    "--new-runs missing",
    "check",
    "input",
    lambda c: [*CK, c.registry_record, "--new-runs", str(c.t / "absent.csv")],
)
case(
    "--new-runs empty",
    "check",
    "input",
    lambda c: [*CK, c.registry_record, "--new-runs", c.write("n.csv", "")],
)
case(
    "--new-runs NaN loss",
    "check",
    "input",
    lambda c: [*CK, c.registry_record, "--new-runs", c.write("n.csv", replace_loss("nan"))],
)
case(
    "--new-runs against a datamix record",
    "check",
    "record",
    lambda c: [*CK, c.dmrec, "--new-runs", c.runs],
)
case(
    "--new-runs with two records",
    "check",
    "option",
    lambda c: [*CK, c.registry_record, c.law, "--new-runs", c.runs],
)


def _law_name(name: str) -> Callable[[Any], None]:
    def fn(rec: Any) -> None:
        rec["law"]["name"] = name

    return fn


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _tamper_digest(rec: Any) -> None:
    rec["data"]["sha256"] = "0" * 64


# ---- design on a law record -------------------------------------------------------------
DS = ["design"]
case("no --study-budget", "design", "option", lambda c: [*DS, c.law, "--target-compute", "1e22"])
case(
    "--study-budget -1",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "1e22", "--study-budget", "-1"],
)
case(
    "--study-budget nan",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "1e22", "--study-budget", "nan"],
)
case(
    "--target-compute 0",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "0", "--study-budget", "1e20"],
)
case(
    "--n 0",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "1e22", "--study-budget", "1e20", "--n", "0"],
)
case(
    "--n -3",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "1e22", "--study-budget", "1e20", "--n", "-3"],
)
case(
    "--quantity unknown",
    "design",
    "option",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--quantity",
        "vibes",
    ],
)
case(
    "compute_for_loss below E",
    "design",
    "option",
    lambda c: [
        *DS,
        c.law,
        "--quantity",
        "compute_for_loss",
        "--target-loss",
        "0.1",
        "--study-budget",
        "1e20",
    ],
)
case(
    "--max-params 0",
    "design",
    "option",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--max-params",
        "0",
    ],
)
case(
    "--isoflop-budgets -1",
    "design",
    "option",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--isoflop",
        "--isoflop-budgets",
        "-1",
    ],
)
case(
    "--sizes-per-budget 0",
    "design",
    "option",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--isoflop",
        "--sizes-per-budget",
        "0",
    ],
)
case(
    "--candidates empty",
    "design",
    "input",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--candidates",
        c.write("k.csv", ""),
    ],
)
case(
    "--candidates negative N",
    "design",
    "input",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--candidates",
        c.write("k.csv", "N,D\n-1,1e9\n"),
    ],
)
case(
    "--runs missing",
    "design",
    "input",
    lambda c: [
        *DS,
        c.law,
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
        "--runs",
        str(c.t / "absent.csv"),
    ],
)
case(
    "record without draws",
    "design",
    "record",
    lambda c: [*DS, c.edit("law", _no_draws), "--target-compute", "1e22", "--study-budget", "1e20"],
)
case(
    "cmr record",
    "design",
    "record",
    lambda c: [*DS, c.cmr, "--target-compute", "1e22", "--study-budget", "1e20"],
)
case(
    "draws with NaN",
    "design",
    "record",
    lambda c: [
        *DS,
        c.edit("law", _nan_draws),
        "--target-compute",
        "1e22",
        "--study-budget",
        "1e20",
    ],
)
case(
    "mixture options on a law record",
    "design",
    "option",
    lambda c: [*DS, c.law, "--target-compute", "1e22", "--study-budget", "1e20", "--min", "0.1"],
)


def _no_draws(rec: Any) -> None:
    rec["uncertainty"]["draws"] = None


def _nan_draws(rec: Any) -> None:
    draws = rec["uncertainty"]["draws"]
    if isinstance(draws, dict):
        for key in draws:
            draws[key] = [float("nan")] * len(draws[key])
    else:
        rec["uncertainty"]["draws"] = [[float("nan")] * 4] * 10


# ---- design on a data-mixture record ---------------------------------------------------
case("mixture --min 0.5", "design", "datamix", lambda c: [*DS, c.dmrec, "--min", "0.5"])
case(
    "mixture --min unknown domain",
    "design",
    "datamix",
    lambda c: [*DS, c.dmrec, "--min", "klingon=0.1"],
)
case("mixture --N on a one-scale fit", "design", "datamix", lambda c: [*DS, c.dmrec, "--N", "1e9"])
case(
    "mixture --tokens without --available",
    "design",
    "datamix",
    lambda c: [*DS, c.dmrec, "--tokens", "1e9"],
)
case(
    "mixture --max-epochs without --available",
    "design",
    "datamix",
    lambda c: [*DS, c.dmrec, "--max-epochs", "3"],
)
case(
    "mixture --n-candidates 0", "design", "option", lambda c: [*DS, c.dmrec, "--n-candidates", "0"]
)
case("mixture --proxy-N -1", "design", "option", lambda c: [*DS, c.dmrec, "--proxy-N", "-1"])
case(
    "mixture --mix-method unknown",
    "design",
    "option",
    lambda c: [*DS, c.dmrec, "--mix-method", "vibes"],
)
case("mixture --n 0", "design", "option", lambda c: [*DS, c.dmrec, "--n", "0"])
case(
    "mixture --max-epochs -1",
    "design",
    "option",
    lambda c: [
        *DS,
        c.dmrec,
        "--tokens",
        "1e9",
        "--available",
        "web=1e9,code=1e9,books=1e9,wiki=1e9,papers=1e9",
        "--max-epochs",
        "-1",
    ],
)
case(
    "mixture law options",
    "design",
    "option",
    lambda c: [*DS, c.dmrec, "--study-budget", "1e20", "--isoflop"],
)

# ---- demo ---------------------------------------------------------------------------------
DE = ["demo", "--uncertainty", "none"]
case("--runs empty", "demo", "input", lambda c: [*DE, "--runs", c.write("r.csv", "")])
case("--runs missing", "demo", "input", lambda c: [*DE, "--runs", str(c.t / "absent.csv")])
case("--runs binary", "demo", "input", lambda c: [*DE, "--runs", c.write("r.csv", b"\x00" * 64)])
case(
    "--runs negative N",
    "demo",
    "input",
    lambda c: [*DE, "--runs", c.write("r.csv", replace_field(1, "-7e8"))],
)
case(
    "--report a regular file", "demo", "output", lambda c: [*DE, "--report", c.write("report", "x")]
)
case(
    "--report under a file",
    "demo",
    "output",
    lambda c: [*DE, "--report", str(Path(c.write("f", "x")) / "rep")],
)
case("--report a device", "demo", "output", lambda c: [*DE, "--report", "/dev/null"])
case(
    "--samples 0 bootstrap",
    "demo",
    "option",
    lambda c: ["demo", "--uncertainty", "bootstrap", "--samples", "0"],
)
case("--where syntax error", "demo", "option", lambda c: [*DE, "--where", "N ="])
case("--column unknown role", "demo", "option", lambda c: [*DE, "--column", "x=y"])


# --------------------------------------------------------------------------------------
# The check


def _snapshot(folder: Path) -> dict[str, tuple[str, int, str]]:
    snap: dict[str, tuple[str, int, str]] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            snap[rel] = ("link", 0, str(p.readlink()))
        elif p.is_dir():
            snap[rel] = ("dir", 0, "")
        else:
            data = p.read_bytes()
            snap[rel] = ("file", p.stat().st_mtime_ns, hashlib.sha256(data).hexdigest())
    return snap


NO_QUIET = {"(top level)"}


def _params() -> list[Any]:
    out = []
    for c in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        out.append(pytest.param(c, id=f"{c.command}: {c.id}", marks=marks))
    return out


@pytest.mark.parametrize("c", _params())
def test_refusal(c: Case, shared, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCALINGLAWS_DEBUG", raising=False)
    work = tmp_path / "case"
    work.mkdir()
    monkeypatch.chdir(work)  # default outputs (./report, fits/) would land here
    argv = c.build(Ctx(work, shared))
    if c.quiet and c.command not in NO_QUIET:
        argv = [*argv, "--quiet"]
    before = _snapshot(work)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out = capsys.readouterr()
    assert code == c.code, (argv, code, out.out[-500:], out.err[-500:])
    assert "Traceback" not in out.err + out.out and 'File "' not in out.err + out.out
    if c.accept:
        assert c.accept in out.out + out.err, out
        assert all(line.startswith("scalinglaws:") for line in out.err.splitlines()), out.err
    elif c.report == "stdout":
        # check: a row per record on stdout (a newline in a message never starts a line).
        rows = [line for line in out.out.splitlines() if line.strip()]
        assert rows and rows[0].startswith(str(work)), out.out
        assert not any(line.lstrip().startswith("law") for line in rows), out.out
        assert rows[-1].split()[1].startswith("records"), out.out
        assert len(out.err.splitlines()) <= 1, out.err
    else:
        assert out.out == "", out.out  # nothing partial on stdout
        lines = out.err.splitlines()
        assert len(lines) == 1, out.err
        assert lines[0].startswith("scalinglaws: error:"), out.err
    assert _snapshot(work) == before  # nothing written, nothing touched


# A newline inside the data (a run name, a string in a filter) in commands that succeed.
TOKEN = "ZZNEWLINE"
NEWLINE_QUERY = f"C > 1e20 and run != 'x\n{TOKEN}'"
NEWLINE_WHERE = f"C > 1e18 and run != 'x\n{TOKEN}'"
NEWLINE_CASES = [
    pytest.param(lambda c: [*LAW_FIT, _newline_runs(c), *NO_DRAWS], id="fit: run names"),
    pytest.param(
        lambda c: [*LAW_FIT, _newline_runs(c), *NO_DRAWS, "--json"], id="fit --json: run names"
    ),
    pytest.param(
        lambda c: [*LAW_FIT, c.runs, *NO_DRAWS, "--where", NEWLINE_WHERE], id="fit: --where"
    ),
    pytest.param(
        lambda c: [*BT, _newline_runs(c), "--holdout-above-compute", "1e20", *NO_DRAWS],
        id="backtest: run names",
    ),
    pytest.param(
        lambda c: [*BT, c.runs, "--holdout-query", NEWLINE_QUERY, *NO_DRAWS],
        id="backtest: --holdout-query",
    ),
    pytest.param(
        lambda c: [*AP, c.runs, "--budgets", "1e21", "--approach", "3", "--where", NEWLINE_WHERE],
        id="approaches: --where",
    ),
    pytest.param(
        lambda c: [*DM_FIT, c.dm, *ONE_SCALE, "--where", f"N == 2e7 and run != 'x\n{TOKEN}'"],
        id="fit datamix: --where",
    ),
    pytest.param(
        lambda c: [*RC, _newline_runs(c), "--dataset", "d", "--fits-dir", str(c.t / "fits")],
        id="record: run names",
    ),
]


def _newline_runs(c: Ctx) -> str:
    rows = [f'"r{i}\n{TOKEN}",' + r.split(",", 1)[1] for i, r in enumerate(ROWS)]
    return c.write("r.csv", runs_with(*rows))


@pytest.mark.parametrize("build", NEWLINE_CASES)
def test_a_newline_in_data_never_starts_an_output_line(
    build, shared, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code = main(build(Ctx(tmp_path, shared)))  # not --quiet: the notes are checked too
    out = capsys.readouterr()
    assert code == 0, out.err
    for line in (out.out + out.err).splitlines():
        assert not line.lstrip(" '\"").startswith(TOKEN), out.out


def test_the_corpus_covers_every_command():
    from scalinglaws.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[union-attr]
    covered = {c.command.split()[0] for c in CASES}
    assert names <= covered, names - covered
    for group in ("fit", "plan"):
        inner = next(a for a in sub.choices[group]._actions if a.dest in ("law", "plan"))  # type: ignore[index]
        assert {f"{group} {n}" for n in inner.choices} <= {c.command for c in CASES}
    assert len(CASES) >= 150
    assert len({(c.command, c.id) for c in CASES}) == len(CASES)


def corpus_table() -> str:
    """Cases per command and per class (printed by ``python -m`` on this file)."""
    by_command = Counter(c.command for c in CASES)
    by_kind = Counter(c.kind for c in CASES)
    lines = [f"{len(CASES)} cases", "", "per command:"]
    lines += [f"  {k:<16} {v:>4}" for k, v in sorted(by_command.items())]
    lines += ["", "per class:"]
    lines += [f"  {k:<16} {v:>4}" for k, v in sorted(by_kind.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(corpus_table())
