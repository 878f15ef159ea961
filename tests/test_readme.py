"""The README's Python examples run as written, so they cannot rot.

Each ```python block is executed on its own (fresh globals, so a block that leans on an
earlier one fails) in a temporary working directory where the repository's ``data/`` and
``fits/`` are reachable under their own names, as they are from a clone's root. A block
that defines ``test_*`` functions (the CI-gate example) has them called.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scalinglaws import laws

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_readme_has_python_examples():
    # The Python API, a user's own law and the CI gate in a test suite.
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    source = python_blocks()[index]
    for name in ("data", "fits"):
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    # A block may register a law; keep that out of the other tests' registry.
    monkeypatch.setattr(laws, "_REGISTRY", dict(laws._REGISTRY))
    namespace: dict = {"__name__": f"readme_block_{index}"}
    exec(compile(source, f"README.md python block {index}", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    for test in tests:
        test()
