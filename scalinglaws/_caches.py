"""The compiled programs that JAX and this package keep for reuse: keep them across
processes (:func:`enable_caches`) or release them (:func:`clear_caches`)."""

from __future__ import annotations

import os
from pathlib import Path

#: Where :func:`enable_caches` (and so the command line) keeps compiled programs unless
#: told otherwise: ``$SCALINGLAWS_CACHE_DIR``, else ``~/.cache/scalinglaws``.
CACHE_ENV = "SCALINGLAWS_CACHE_DIR"


def default_cache_folder() -> Path:
    """``$SCALINGLAWS_CACHE_DIR`` if set, else ``~/.cache/scalinglaws``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "scalinglaws")


def enable_caches(folder: str | os.PathLike[str] | None = None) -> Path:
    """Keep compiled programs across processes, as the command line does.

    Every fresh Python process (a notebook kernel, a script, a command-line call) traces
    and compiles its fits' programs again, which takes most of a first fit's time (a CMR
    fit on the bundled curves: about 35 s in a new kernel, 6 s once its programs are
    kept). This turns on, in ``folder``:

    * JAX's persistent compilation cache (``jax_compilation_cache_dir`` in ``jax/``, with
      ``jax_persistent_cache_min_compile_time_secs = 0`` so every program is kept);
    * the package's exported programs (``exported/``, :mod:`scalinglaws.exported`), so a
      later process neither traces nor lowers them either.

    Both are JAX settings of the whole process: the library never calls this by itself;
    call it where you own the process (the first cell of a notebook, a planning script).
    The results are bit for bit those of an uncached run. Delete the folder at any time.
    Like JAX's own cache, the folder is trusted: keep it private to you.

    Args:
        folder: Where to keep them; default ``$SCALINGLAWS_CACHE_DIR`` if set, else
            ``~/.cache/scalinglaws`` (the command line's folder, so notebooks and the
            command line share what they compile).

    Returns:
        The folder used.

    Raises:
        OSError: The folder cannot be created (nothing is changed then).
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from scalinglaws import exported

    path = Path(folder) if folder is not None else default_cache_folder()
    (path / "jax").mkdir(parents=True, exist_ok=True)
    (path / "exported").mkdir(parents=True, exist_ok=True)
    compilation_cache.set_cache_dir(str(path / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # JAX settles whether its cache is in use at a process's first compile; resetting
    # makes a call after earlier compiles take effect too (and does nothing otherwise).
    compilation_cache.reset_cache()
    exported.enable(path / "exported")
    return path


def clear_caches() -> None:
    """Drop every compiled program JAX and scalinglaws hold for reuse.

    Each distinct law, data shape and method compiles once per process and stays loaded,
    so that the next fit of the same shape is fast. A long-lived process that fits many
    different shapes (a notebook kernel, a service, a test run) accumulates them: each
    loaded program holds memory and memory mappings, and a Linux process is limited to
    ``vm.max_map_count`` mappings (65,530 by default), beyond which the compiler fails.
    Call this between unrelated pieces of work; the next fit compiles again.
    """
    import jax

    from scalinglaws import exported
    from scalinglaws.datamix import laws as datamix_laws
    from scalinglaws.mixture import posterior
    from scalinglaws.uncertainty import bayes

    bayes._sampler.cache_clear()
    datamix_laws._make_law.cache_clear()
    posterior.domain_anchor_law.cache_clear()
    posterior.general_anchor_law.cache_clear()
    exported.clear()
    jax.clear_caches()
