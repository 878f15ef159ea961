"""Helpers shared by every subcommand: JSON output, progress, float64, errors."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _clean(obj: Any) -> Any:
    """Make numpy/pandas values JSON-safe; non-finite floats become null."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def to_json(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, allow_nan=False)


def emit(args: Any, obj: dict, text: str) -> None:
    """Print ``obj`` as one JSON object with ``--json``, else the human ``text``."""
    if getattr(args, "json", False):
        sys.stdout.write(to_json(obj) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def progress(args: Any, message: str) -> None:
    """A progress line on stderr unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()


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


def add_common(parser: Any) -> None:
    """``--json`` and ``--quiet``, which every subcommand takes."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def add_discrepancy_option(parser: Any) -> None:
    """``--discrepancy {none,quadratic}`` (posterior only), shared by fit and backtest."""
    parser.add_argument(
        "--discrepancy",
        default="none",
        choices=("none", "quadratic"),
        help="bayes: add an orthogonalised quadratic model-discrepancy term (in the logs of "
        "the inputs) so predictive intervals carry the law's misfit",
    )


def check_discrepancy(args: Any) -> None:
    """Refuse ``--discrepancy`` without ``--uncertainty bayes`` (exit 2, one line)."""
    from scalinglaws.errors import ScalingLawsError

    if args.discrepancy != "none" and args.uncertainty != "bayes":
        raise ScalingLawsError("--discrepancy applies to the posterior: add --uncertainty bayes")
