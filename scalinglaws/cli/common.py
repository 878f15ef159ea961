"""Helpers shared by every subcommand: JSON output, progress, float64, errors."""

from __future__ import annotations

import sys
from typing import Any

from scalinglaws.errors import ScalingLawsError
from scalinglaws.io.files import atomic_write, json_safe, to_json

__all__ = ["atomic_write", "json_safe", "to_json", "emit", "progress"]


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
    if args.discrepancy != "none" and args.uncertainty != "bayes":
        raise ScalingLawsError("--discrepancy applies to the posterior: add --uncertainty bayes")
