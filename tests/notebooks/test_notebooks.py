"""The notebooks run top to bottom with small budgets, use only the public API, and are
stored without outputs.

Execution uses ``nbclient`` with the ``python3`` kernel (``ipykernel``, both in the dev
extra); ``SCALINGLAWS_FAST=1`` shrinks sample counts so the whole folder runs in a few
minutes on two CPU cores. The kernel inherits this process's environment and runs in
``notebooks/``, so the notebooks' relative paths resolve as they do for a user.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
#: Seconds any single cell may take in fast mode; the slowest (a short NUTS run) takes
#: well under a minute, so a hung kernel is caught without failing a slow machine.
CELL_TIMEOUT_S = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ids(path: Path) -> str:
    return path.name


def _code_cells(nb):
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


EXPECTED = {
    "01_chinchilla.ipynb",
    "02_uncertainty.ipynb",
    "03_sparse_pretraining.ipynb",
    "04_mixture.ipynb",
    "05_data_mixture.ipynb",
}


def test_the_notebooks_are_there():
    # A glob that silently matched nothing (or lost a notebook) would make the tests below
    # vacuous for it.
    names = {p.name for p in NOTEBOOKS}
    assert EXPECTED <= names, f"missing {sorted(EXPECTED - names)} in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for index, cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{path.name} cell {index} is stored with outputs or an execution count; "
            "strip them before committing (notebooks/README.md shows how)"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_fast_mode_and_float64_set_up_first(path):
    nb = nbformat.read(path, as_version=4)
    first = _code_cells(nb)[0][1].source
    assert 'jax.config.update("jax_enable_x64", True)' in first, (
        f"{path.name}: the first code cell must enable float64"
    )
    assert "SCALINGLAWS_FAST" in first, (
        f"{path.name}: the first code cell must read SCALINGLAWS_FAST"
    )


def _private_uses(source: str) -> list[str]:
    """Names a cell takes from scalinglaws that are not public (a leading underscore)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scalinglaws"):
            parts = node.module.split(".") + [alias.name for alias in node.names]
            found += [p for p in parts if p.startswith("_")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("scalinglaws"):
                    found += [p for p in alias.name.split(".") if p.startswith("_")]
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                found.append(node.attr)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_only_public_api(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in _code_cells(nb):
        private = _private_uses(cell.source)
        assert not private, f"{path.name} cell {index} uses private names {private}"


def test_private_use_detector_catches_underscores():
    # The check above is only worth having if it can fail.
    assert _private_uses("from scalinglaws.fitting.solver import _polish") == ["_polish"]
    assert _private_uses("import scalinglaws._x") == ["_x"]
    assert _private_uses("sl.laws._REGISTRY") == ["_REGISTRY"]
    assert _private_uses("import scalinglaws as sl\nsl.fit(law, runs)\nx.__class__") == []


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_executes_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("SCALINGLAWS_FAST", "1")
    # Figures render to PNG inside the kernel; never try to open a window.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        failed = [
            index
            for index, cell in _code_cells(nb)
            if any(out.get("output_type") == "error" for out in cell.get("outputs", []))
        ]
        where = f"cell {failed[0]}" if failed else "a cell (timed out)"
        # The kernel colours its tracebacks; plain text reads better in a CI log.
        failure = f"{path.name}: {where} failed:\n{_ANSI.sub('', str(err))}"
    if failure is not None:  # outside the except block: no chained traceback in the log
        pytest.fail(failure, pytrace=False)
