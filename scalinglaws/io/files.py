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


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write via a temporary file renamed into place: never a half-written output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
