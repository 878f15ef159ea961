"""The package's compiled programs per command: a guard on first-run latency.

Every distinct compiled program costs a fresh process its compile (seconds on 2 cores)
or a cache read and lowering; cutting their number was how the first-run latency came
down (a plain fit 21 -> 1 program of the package's own). This test runs the command line
in a fresh process with the caches off and JAX's compile log on, and compares the
package's own programs compiled by each command with what they compile today. A new
program, or a new shape of one, fails it: justify the program, then raise the count here.

Only the package's own programs are counted (by name). JAX also compiles a few one-
operation programs of its own (type conversions, staging of host data); their number
depends on the JAX version, and they are listed in the failure message, not counted.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = "data/chinchilla_sim/runs.csv"

_SCRIPT = r"""
import contextlib, io, json, logging, sys
import jax
jax.config.update("jax_log_compiles", True)
seen = []
class H(logging.Handler):
    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Compiling "):
            seen.append(msg.split()[1])
logging.getLogger("jax").addHandler(H())
logging.getLogger("jax").setLevel(logging.WARNING)
from scalinglaws.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    start = len(seen)
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    out.append({"code": code, "compiled": seen[start:]})
print(json.dumps(out))
"""

#: Per command, the package's programs it compiles in a process that already ran the
#: commands above it (same data, so the point fit's program is compiled once).
EXPECTED = [
    ("fit --uncertainty none", {"_varpro_fit": 1}),
    (
        "fit --uncertainty bootstrap",
        {"_resample_counts": 1, "_chunk_weights": 1, "polish_batch": 1, "_residual_scales": 1},
    ),
    # The chains are two programs, their start and a block of steps; continuing them
    # (the R-hat rule fails at 250 draws on this log) calls the same block again.
    (
        "fit --uncertainty bayes --samples 250",
        {
            "_gaussian_curvature": 1,
            "_residuals_at": 1,
            "_nuts_start": 1,
            "_nuts_steps": 1,
            "_unwhiten": 1,
        },
    ),
]
COMMANDS = [
    ["fit", "chinchilla", RUNS, "--uncertainty", "none", "--json", "--quiet"],
    ["fit", "chinchilla", RUNS, "--uncertainty", "bootstrap", "--json", "--quiet"],
    ["fit", "chinchilla", RUNS, "--uncertainty", "bayes", "--samples", "250", "--json"],
]
_NAME = re.compile(r"jit\((\w+)\)")


def _package_functions() -> set[str]:
    """Names of every function defined in the package (a compiled program is named after
    the function jitted)."""
    names: set[str] = set()
    for path in (ROOT / "scalinglaws").rglob("*.py"):
        names.update(re.findall(r"^\s*def (\w+)", path.read_text(), flags=re.MULTILINE))
    return names


@pytest.mark.slow  # a fresh process compiling a fit, a bootstrap and a posterior (~40 s)
def test_each_command_compiles_the_programs_it_compiles_today(tmp_path):
    env = dict(os.environ)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env["SCALINGLAWS_CACHE_DIR"] = str(blocker / "cache")  # caches off: every compile shows
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    commands = [[*argv, "--quiet"] if "--quiet" not in argv else argv for argv in COMMANDS]
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(commands)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(EXPECTED)
    package = _package_functions()
    for (label, expected), got in zip(EXPECTED, results, strict=True):
        assert got["code"] == 0, label
        names = collections.Counter(
            m.group(1) for m in map(_NAME.match, got["compiled"]) if m is not None
        )
        own = {name: n for name, n in names.items() if name in package}
        others = {name: n for name, n in names.items() if name not in own}
        assert own == expected, f"{label}: package programs {own} (JAX's own: {others})"
