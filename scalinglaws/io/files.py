"""File helpers shared by the library and the command line: JSON-safe values, atomic writes.

They live in ``io`` (not in the CLI) so that records and other library code can write files
without importing the command line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """Make numpy/pandas values JSON-safe; non-finite floats become ``None``."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def to_json(obj: Any) -> str:
    """``obj`` as indented JSON text, with non-finite floats written as ``null``."""
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists, else its nearest existing ancestor (an output
    folder is refused before any work when this is a regular file)."""
    above = Path(path)
    while not above.exists() and above != above.parent:
        above = above.parent
    return above


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, text: str, *, exclusive: bool = False) -> None:
    """Write via a temporary file renamed into place: never a half-written output.

    The file gets the mode a plain ``open(path, "w")`` would give it: the mode of the file
    it replaces, else ``0o666`` less the process's umask.

    Args:
        path: The output file.
        text: Its whole content.
        exclusive: Claim the name: fail with :class:`FileExistsError` (writing nothing)
            when ``path`` exists, also when another process creates it at the same moment.

    Raises:
        FileExistsError: ``exclusive`` and the path exists.
        IsADirectoryError: The path is a folder.
        PermissionError: The path exists and is not a regular file (a device, a pipe):
            an output never replaces one.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not an output file")
    if path.exists() and not path.is_file():
        raise PermissionError(f"{path} is not a regular file; refusing to replace it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {path}: {parent} is not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.is_file() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        if exclusive:
            # A hard link fails if the name exists, atomically, so of two writers racing
            # for one name exactly one gets it.
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
