"""``clear_caches``: compiled programs are released and the next fit compiles again."""

from __future__ import annotations

import numpy as np

import scalinglaws as sl
from scalinglaws.simulate import isoflop_design, simulate_runs
from scalinglaws.uncertainty import bayes


def test_fit_after_clearing_caches_is_bit_identical():
    law = sl.laws.chinchilla()
    design = isoflop_design([1e18, 1e19, 1e20], 6)
    runs = simulate_runs(law, sl.laws.HOFFMANN_2022, design, noise=0.01, seed=3)
    before = sl.fit(law, runs)
    sl.clear_caches()
    assert bayes._sampler.cache_info().currsize == 0
    after = sl.fit(law, runs)
    # The same program compiled again from the same inputs: the same bits, not a tolerance.
    for name in law.param_names:
        assert np.float64(after.params[name]) == np.float64(before.params[name])
    assert after.objective == before.objective


#: Run in a fresh process: compile one program first (JAX decides then whether its
#: persistent cache is in use), then enable the caches and compile another; report what
#: the folder holds.
_ENABLE_LATE = """
import json, os, sys
import jax, jax.numpy as jnp
import scalinglaws as sl
from scalinglaws import exported
jax.jit(lambda x: x + 1.0)(jnp.arange(3.0)).block_until_ready()
folder = sl.enable_caches(sys.argv[1])
jax.jit(lambda x: jnp.sin(x) * 2.0)(jnp.arange(5.0)).block_until_ready()
print(json.dumps({
    "folder": str(folder),
    "jax_entries": len(os.listdir(os.path.join(sys.argv[1], "jax"))),
    "exported": str(exported.folder()),
    "cache_dir": jax.config.jax_compilation_cache_dir,
}))
"""


def test_enable_caches_keeps_programs_even_after_a_first_compile(tmp_path):
    import json
    import subprocess
    import sys

    folder = tmp_path / "cache"
    out = subprocess.run(
        [sys.executable, "-c", _ENABLE_LATE, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["folder"] == str(folder)
    assert got["cache_dir"] == str(folder / "jax")
    assert got["exported"] == str(folder / "exported")
    # The program compiled after the call is kept, with one compiled before it.
    assert got["jax_entries"] >= 1


def test_enable_caches_on_a_folder_that_cannot_be_made_changes_nothing(tmp_path):
    import jax
    import pytest

    from scalinglaws import exported

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = (jax.config.jax_compilation_cache_dir, exported.folder())
    with pytest.raises(OSError):
        sl.enable_caches(blocker / "cache")
    assert (jax.config.jax_compilation_cache_dir, exported.folder()) == before
