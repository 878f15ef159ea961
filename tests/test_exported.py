"""Traced programs kept across processes (``scalinglaws.exported``).

What users rely on: a command run a second time gives the same bits as the first and as
a run without the folder; a program is reused only when everything it was traced from
is the same; anything that cannot be keyed safely runs through plain ``jax.jit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws import exported
from scalinglaws.exported import _fingerprint, _Unstable, cached_jit
from scalinglaws.laws.chinchilla import loss_at
from scalinglaws.simulate import isoflop_design, simulate_runs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path):
    before = exported.folder()
    path = tmp_path / "exported"
    exported.enable(path)
    exported.clear()
    yield path
    if before is None:
        exported.disable()
    else:
        exported.enable(before)
    exported.clear()


@pytest.fixture
def exports(monkeypatch):
    """Counts calls of ``jax.export.export`` (a load from a file makes none)."""
    calls = []
    real = jax.export.export

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(jax.export, "export", counting)
    return calls


def _runs():
    law = sl.laws.chinchilla()
    design = isoflop_design([1e18, 1e19, 1e20], 6)
    return law, simulate_runs(law, sl.laws.HOFFMANN_2022, design, noise=0.01, seed=3)


@pytest.mark.slow
def test_fit_from_exported_programs_is_bit_identical(folder, exports):
    law, runs = _runs()
    exported.disable()
    plain = sl.fit(law, runs)
    exported.enable(folder)
    first = sl.fit(law, runs)  # traces, exports, saves
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert any(name.startswith("_varpro_fit-") for name in files)
    n_exported = len(exports)
    assert n_exported >= 1
    exported.clear()  # what a new process holds: nothing but the folder
    loaded = sl.fit(law, runs)
    assert len(exports) == n_exported, "a saved program was traced again"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == files
    # The same program, traced once and loaded: the same bits, not a tolerance.
    for name in law.param_names:
        assert np.float64(first.params[name]) == np.float64(plain.params[name])
        assert np.float64(loaded.params[name]) == np.float64(plain.params[name])
    assert loaded.objective == plain.objective


def _scale(x, fn):
    return fn(x)


_scale.__module__ = "scalinglaws.testing"  # as if the package defined it


def test_a_static_value_from_outside_the_package_runs_through_jit(folder):
    f = cached_jit(_scale, static_argnames=("fn",))
    out = f(jnp.arange(3.0), fn=lambda v: v * 2.0)  # a test's function: not keyable
    np.testing.assert_array_equal(np.asarray(out), [0.0, 2.0, 4.0])
    assert not folder.exists() or not any(folder.iterdir())
    # A function of the package is keyed by value, so its program is saved.
    out = f(jnp.arange(3.0), fn=_exported_pkg_fn())
    assert np.allclose(np.asarray(out), np.exp(np.arange(3.0)))
    assert any(p.name.startswith("_scale-") for p in folder.iterdir())


def _exported_pkg_fn():
    # As if defined in the package (whose source is part of every key).
    def fn(v):
        return jnp.exp(v)

    fn.__module__ = "scalinglaws.laws.chinchilla"
    return fn


def test_calls_inside_a_traced_function_run_through_jit(folder):
    f = cached_jit(_scale, static_argnames=("fn",))
    pkg = _exported_pkg_fn()
    out = jax.jit(lambda x: f(x, fn=pkg) + 1.0)(jnp.arange(3.0))
    assert np.allclose(np.asarray(out), np.exp(np.arange(3.0)) + 1.0)
    assert not folder.exists() or not any(folder.iterdir())


@pytest.mark.slow
def test_a_damaged_file_is_replaced(folder):
    law, runs = _runs()
    good = sl.fit(law, runs)
    path = next(p for p in folder.iterdir() if p.name.startswith("_varpro_fit-"))
    path.write_bytes(b"not an exported program")
    exported.clear()
    again = sl.fit(law, runs)
    assert path.stat().st_size > 100
    for name in law.param_names:
        assert np.float64(again.params[name]) == np.float64(good.params[name])


@pytest.mark.slow
def test_a_program_that_cannot_be_saved_is_still_used(folder, exports, monkeypatch):
    """A failed write (full disk, read-only folder) loses the file, not the program: the
    call runs the exported program it just made, and nothing is left in the folder."""
    law, runs = _runs()

    def refuse(path, blob):
        raise OSError("no space left on device")

    monkeypatch.setattr(exported, "_write", refuse)
    res = sl.fit(law, runs)
    assert exports, "the fit exported its programs"
    assert not any(folder.iterdir())
    from scalinglaws.fitting.fit import _varpro_fit

    assert any(run is not None for run in _varpro_fit._loaded.values())
    assert np.isfinite(res.objective)


def _closure(k):
    def f(x):
        return x * k

    f.__module__ = "scalinglaws.testing"  # as if the package defined it
    return f


def test_fingerprints_follow_values_not_identities():
    # Two objects that mean the same program share a key; any difference separates them.
    assert _fingerprint(sl.laws.chinchilla()) == _fingerprint(sl.laws.chinchilla())
    assert _fingerprint(sl.laws.chinchilla()) != _fingerprint(sl.laws.avgparams())
    assert _fingerprint(_closure(2.0)) == _fingerprint(_closure(2.0))
    assert _fingerprint(_closure(2.0)) != _fingerprint(_closure(3.0))
    assert _fingerprint(_closure(2)) != _fingerprint(_closure(2.0))
    assert _fingerprint(np.array([1.0, 2.0])) != _fingerprint(np.array([1.0, 2.5]))
    assert _fingerprint({"a": 1, "b": (2, 3)}) == _fingerprint({"b": (2, 3), "a": 1})
    import functools

    assert _fingerprint(functools.partial(loss_at, size=1.0)) != _fingerprint(
        functools.partial(loss_at, size=2.0)
    )


@pytest.mark.parametrize("value", [lambda x: x, object(), np.exp])
def test_what_cannot_be_fingerprinted_is_refused(value):
    with pytest.raises(_Unstable):
        _fingerprint(value)


def test_a_function_decorated_outside_the_package_runs_through_jit(folder):
    def double(x):
        return x * 2.0

    f = cached_jit(double)
    np.testing.assert_array_equal(np.asarray(f(jnp.arange(3.0))), [0.0, 2.0, 4.0])
    assert not folder.exists() or not any(folder.iterdir())


def test_off_unless_enabled_and_cleared_with_the_caches():
    before = exported.folder()
    exported.disable()
    try:
        assert exported.folder() is None
        law, runs = _runs()
        sl.fit(law, runs)  # plain jax.jit: nothing to write anywhere
        sl.clear_caches()
    finally:
        if before is not None:
            exported.enable(before)


def _cli(cache: Path, out: Path) -> None:
    env = dict(os.environ, SCALINGLAWS_CACHE_DIR=str(cache))
    subprocess.run(
        [sys.executable, "-m", "scalinglaws", "fit", "chinchilla",
         str(ROOT / "data" / "chinchilla_sim" / "runs.csv"), "--uncertainty", "none",
         "--out", str(out)],
        check=True, capture_output=True, env=env, cwd=ROOT,
    )  # fmt: skip


def _without_time(path: Path) -> dict:
    record = json.loads(path.read_text())
    record.pop("created", None)
    record.get("provenance", {}).pop("created", None)
    return record


@pytest.mark.slow
def test_command_line_second_process_gives_the_same_record(tmp_path):
    cache = tmp_path / "cache"
    _cli(cache, tmp_path / "first.json")
    saved = sorted(p.name for p in (cache / "exported").iterdir())
    assert saved, "the first call saved no program"
    _cli(cache, tmp_path / "second.json")
    assert sorted(p.name for p in (cache / "exported").iterdir()) == saved
    # No cache at all: the folder lies under a regular file, so neither cache is used.
    blocker = tmp_path / "file"
    blocker.write_text("")
    _cli(blocker / "cache", tmp_path / "plain.json")
    first = _without_time(tmp_path / "first.json")
    assert _without_time(tmp_path / "second.json") == first
    assert _without_time(tmp_path / "plain.json") == first
