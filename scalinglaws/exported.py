"""Traced programs kept across processes: ``jax.export`` files beside the compilation cache.

JAX's persistent compilation cache saves compiling, but not tracing and lowering: a fresh
process still traces every program (a damped-Newton polish with Hessians, vmapped over
curves, takes seconds) just to compute the cache key. :func:`cached_jit` is ``jax.jit``
plus a folder of serialized :class:`jax.export.Exported` programs: the first process that
runs a program with given static arguments and argument shapes exports it; later
processes load the StableHLO from the file and call it, so they neither trace nor lower
it (and the persistent cache then supplies the compiled executable).

Off unless :func:`enable` is called: the command line turns it on beside its
compilation cache; the library never does on import, and then a :func:`cached_jit`
function is exactly its ``jax.jit``.

A file is used only when everything the program depends on is part of its key:

* the package's own source (a hash of every ``.py`` file of ``scalinglaws``), the
  versions of ``jax`` and ``jaxlib``, the backend and whether 64-bit mode is on;
* the function (module and qualified name; a function decorated outside the package
  always runs through ``jax.jit``);
* every static argument, fingerprinted by value: numbers, strings, tuples, arrays,
  dataclasses and functions *of this package* (a function by module, qualified name,
  defaults and the values its closure holds, recursively). A static argument that
  cannot be fingerprinted this way (a user's own law function, an object of another
  package) turns the file off for that call, which then runs through ``jax.jit``;
* the tree structure, shapes, dtypes and weak types of the dynamic arguments.

Calls inside another traced function (arguments that are tracers), and every call when
more than one device is visible, go through ``jax.jit``. Any failure to export, save or load a file falls back to ``jax.jit`` too;
the results are those of the same program either way (tested bit for bit in
``tests/test_exported.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import logging
import os
import tempfile
import types
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

_log = logging.getLogger(__name__)

#: Folder of exported programs; ``None``: off (plain ``jax.jit``).
_FOLDER: Path | None = None
_SUFFIX = ".jaxexport"
#: Every decorated function, so :func:`clear` can drop what they hold.
_INSTANCES: weakref.WeakSet[CachedJit] = weakref.WeakSet()


def enable(folder: str | os.PathLike[str]) -> None:
    """Keep exported programs in ``folder`` (created if needed) for this process."""
    global _FOLDER
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    _FOLDER = path


def disable() -> None:
    """Stop using exported programs in this process (``jax.jit`` only)."""
    global _FOLDER
    _FOLDER = None


def folder() -> Path | None:
    """The folder in use, or ``None`` when off."""
    return _FOLDER


def clear() -> None:
    """Drop the loaded programs of every decorated function (files stay)."""
    for inst in list(_INSTANCES):
        inst._loaded.clear()


_MISSING = object()


class _Unstable(Exception):
    """A static argument whose value cannot be fingerprinted across processes."""


def _own(module: str | None) -> bool:
    return module == "scalinglaws" or (module or "").startswith("scalinglaws.")


def _fingerprint(v: Any, depth: int = 0) -> str:
    """A string that is equal in two processes exactly when ``v`` means the same."""
    if depth > 30:
        raise _Unstable("too deep")
    d = depth + 1
    if v is None or isinstance(v, bool | int | float | complex | str | bytes):
        return f"{type(v).__name__}:{v!r}"
    if isinstance(v, np.generic):
        return f"np.{v.dtype.str}:{v.item()!r}"
    if isinstance(v, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
        return f"ndarray:{v.dtype.str}:{v.shape}:{digest}"
    if isinstance(v, tuple | list):
        return f"{type(v).__name__}(" + ",".join(_fingerprint(x, d) for x in v) + ")"
    if isinstance(v, dict):
        items = sorted((repr(k), _fingerprint(x, d)) for k, x in v.items())
        return "dict(" + ",".join(f"{k}={x}" for k, x in items) + ")"
    if isinstance(v, functools.partial):
        return (
            f"partial({_fingerprint(v.func, d)};{_fingerprint(v.args, d)};"
            f"{_fingerprint(v.keywords, d)})"
        )
    if isinstance(v, types.FunctionType):
        if not _own(v.__module__):
            raise _Unstable(f"function {v.__module__}.{v.__qualname__}")
        cells = []
        for cell in v.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError as exc:  # an empty cell
                raise _Unstable("empty closure cell") from exc
            cells.append(_fingerprint(contents, d))
        return (
            f"fn:{v.__module__}.{v.__qualname__}:{_fingerprint(v.__defaults__, d)}:"
            f"{_fingerprint(v.__kwdefaults__, d)}:[{','.join(cells)}]"
        )
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        cls = type(v)
        if not _own(cls.__module__):
            raise _Unstable(f"dataclass {cls.__module__}.{cls.__qualname__}")
        fields = ",".join(
            f"{f.name}={_fingerprint(getattr(v, f.name), d)}" for f in dataclasses.fields(v)
        )
        return f"dc:{cls.__module__}.{cls.__qualname__}({fields})"
    raise _Unstable(f"{type(v).__module__}.{type(v).__qualname__}")


@functools.cache
def _environment() -> str:
    """Hash of this package's source, the JAX versions and the backend."""
    import jaxlib

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    h.update(f"jax {jax.__version__} jaxlib {jaxlib.__version__} numpy {np.__version__}".encode())
    h.update(f"backend {jax.default_backend()}".encode())
    return h.hexdigest()


def _x64_flag() -> bool:
    # The effective value, including a surrounding ``jax.enable_x64`` context.
    return jax.dtypes.canonicalize_dtype(np.float64) == np.dtype(np.float64)


class CachedJit:
    """``jax.jit(fun, static_argnames=...)`` that can load and save exported programs."""

    def __init__(self, fun: Callable[..., Any], static_argnames: Sequence[str]):
        self._fun = fun
        self._static = tuple(static_argnames)
        self._jit = jax.jit(fun, static_argnames=self._static)
        self._sig = inspect.signature(fun)
        self._name = f"{fun.__module__}.{fun.__qualname__}"
        # Only the package's own functions: their source is part of every key.
        self._own = _own(fun.__module__)
        # (static values, tree, avals, x64, folder) -> callable, or None for "use jit"
        self._loaded: dict[Any, Callable[..., Any] | None] = {}
        functools.update_wrapper(self, fun)
        _INSTANCES.add(self)

    def __getattr__(self, name: str) -> Any:
        # lower, trace, eval_shape, _cache_size, ...: those of the jitted function.
        if name.startswith("__") or name == "_jit":
            raise AttributeError(name)
        return getattr(self._jit, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        where = _FOLDER
        if where is None or not self._own or jax.device_count() != 1:
            # Several devices: arrays may be sharded, and the program is jax.jit's.
            return self._jit(*args, **kwargs)
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError:
            return self._jit(*args, **kwargs)
        bound.apply_defaults()
        static = tuple((k, bound.arguments[k]) for k in self._static if k in bound.arguments)
        names = tuple(k for k in bound.arguments if k not in self._static)
        dynamic = tuple(bound.arguments[k] for k in names)
        leaves, tree = jax.tree_util.tree_flatten(dynamic)
        if any(isinstance(x, jax.core.Tracer) for x in leaves):
            return self._jit(*args, **kwargs)
        try:
            avals = tuple(jax.typeof(x) for x in leaves)
            key = (static, tree, avals, _x64_flag(), where)
            run: Any = self._loaded.get(key, _MISSING)
        except TypeError:  # an unhashable static value: jax.jit reports it
            return self._jit(*args, **kwargs)
        if run is _MISSING:
            run = self._load_or_export(where, static, names, tree, avals, dynamic)
            self._loaded[key] = run
        if run is None:
            return self._jit(*args, **kwargs)
        return run(*dynamic)

    def _file(self, where: Path, static, names, tree, avals) -> Path:
        h = hashlib.sha256()
        for part in (
            _environment(),
            self._name,
            _fingerprint(dict(static)),
            repr(names),
            str(tree),
            repr([(a.shape, str(a.dtype), bool(getattr(a, "weak_type", False))) for a in avals]),
            f"x64={_x64_flag()}",
        ):
            h.update(part.encode())
            h.update(b"\0")
        return where / f"{self._fun.__qualname__}-{h.hexdigest()[:40]}{_SUFFIX}"

    def _load_or_export(self, where, static, names, tree, avals, dynamic):
        try:
            path = self._file(where, static, names, tree, avals)
        except _Unstable as exc:
            _log.debug("%s: not exported (%s)", self._name, exc)
            return None
        exported = None
        if path.exists():
            try:
                exported = jax.export.deserialize(bytearray(path.read_bytes()))
            except Exception as exc:  # noqa: BLE001 - a bad file is re-exported
                _log.debug("%s: cannot load %s (%s)", self._name, path, exc)
        if exported is None:
            fixed = dict(static)
            fun = self._fun

            def bound_fun(*dyn):
                return fun(**dict(zip(names, dyn, strict=True)), **fixed)

            try:
                exported = jax.export.export(jax.jit(bound_fun), platforms=[jax.default_backend()])(
                    *dynamic
                )
            except Exception as exc:  # noqa: BLE001 - jax.jit then runs (and reports errors)
                _log.debug("%s: not exported (%s)", self._name, exc)
                return None
            try:
                _write(path, exported.serialize())
            except Exception as exc:  # noqa: BLE001 - a full disk, a read-only folder
                # The program is good; only the next process will not find it.
                _log.debug("%s: cannot save %s (%s)", self._name, path, exc)
        return jax.jit(exported.call)


def _write(path: Path, blob: bytes | bytearray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cached_jit(
    fun: Callable[..., Any] | None = None, *, static_argnames: Sequence[str] = ()
) -> Any:
    """Decorator: ``jax.jit`` whose programs are kept across processes when enabled.

    Use like ``@cached_jit(static_argnames=("law",))``; see the module docstring.
    """
    if fun is None:
        return functools.partial(cached_jit, static_argnames=static_argnames)
    return CachedJit(fun, static_argnames)
