"""Test setup: float64 on (as the command line does), seeded, real data located.

Warnings are errors (``filterwarnings`` in ``pyproject.toml``); tests marked ``slow`` run
only when asked (``-m slow``, or ``-m "slow or not slow"`` for everything, as CI does).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

import scalinglaws
from scalinglaws.cli import _setup_jax

jax.config.update("jax_enable_x64", True)

# The command line turns on JAX's persistent compilation cache and keeps exported programs
# (scalinglaws.exported) in SCALINGLAWS_CACHE_DIR, and tests call it in-process and in
# subprocesses. A test run gets a fresh folder of its own: it never reads what another run
# (another checkout, an older jaxlib) left behind, and leaves the user's cache untouched.
# The worker processes inherit the folder from the process that starts them, so a program
# compiled once serves every worker, subprocess and test module of the run (each module's
# end drops the loaded programs, below; the next module loads them from the folder).
_TEST_CACHE = os.environ.get("SCALINGLAWS_TEST_CACHE", "")
if not _TEST_CACHE:
    _TEST_CACHE = tempfile.mkdtemp(prefix="scalinglaws-test-cache-")
    os.environ["SCALINGLAWS_TEST_CACHE"] = _TEST_CACHE
    atexit.register(shutil.rmtree, _TEST_CACHE, ignore_errors=True)
os.environ["SCALINGLAWS_CACHE_DIR"] = _TEST_CACHE
# The command line's process set-up, here from the start rather than from whichever
# in-process command line test a worker happens to run first.
_setup_jax()

#: Seed of the global generators reset before every test. Library code takes explicit
#: seeds; this keeps any test that reaches a global generator reproducible on its own
#: and independent of the order tests run in.
GLOBAL_SEED = 0


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free each module's compiled programs when it ends.

    A full run compiles thousands of distinct programs in one process; kept loaded, their
    memory mappings reach the kernel's per-process limit (``vm.max_map_count``, 65,530)
    and the XLA compiler then crashes the process (seen as SIGSEGV/SIGABRT in a NUTS
    compile about nine tenths of the way through the run).
    """
    yield
    scalinglaws.clear_caches()


@pytest.fixture(autouse=True)
def _seed_global_generators():
    random.seed(GLOBAL_SEED)
    np.random.seed(GLOBAL_SEED)  # noqa: NPY002 - resetting the legacy global generator


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EPOCH_CSV = SHARED_DATA / "chinchilla-epoch" / "svg_extracted_data.csv"
PORIAN_CSV = SHARED_DATA / "isoflops-porian" / "isoflop_points_flat.csv"


def require_shared(path: Path) -> Path:
    """Skip the calling test with a reason when ../shared data is absent."""
    if not path.exists():
        pytest.skip(f"real data {path} is not present (../shared/data sits beside the repo)")
    return path


@pytest.fixture
def epoch_csv() -> Path:
    return require_shared(EPOCH_CSV)


@pytest.fixture
def porian_csv() -> Path:
    return require_shared(PORIAN_CSV)


def run_cli(capsys, args) -> tuple[int, str, str]:
    """Run the command line in-process: ``(exit code, stdout, stderr)``."""
    from scalinglaws.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, args) -> str:
    """Run a command that must fail as the user's fault: exit 2, nothing on stdout, one
    ``scalinglaws: error: ...`` line on stderr (returned)."""
    code, out, err = run_cli(capsys, args)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scalinglaws: error: ")
    return lines[0]
