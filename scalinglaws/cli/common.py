"""Helpers shared by every subcommand: JSON output, progress, float64, errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from scalinglaws.errors import ScalingLawsError
from scalinglaws.io.files import atomic_write, json_safe, nearest_existing, to_json

__all__ = [
    "atomic_write",
    "json_safe",
    "to_json",
    "emit",
    "progress",
    "add_run_options",
    "run_load_options",
    "column_overrides",
]

#: Canonical column roles of a run log that ``--column ROLE=COLUMN`` can name.
RUN_COLUMNS = ("N", "D", "C", "loss", "run", "step")


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


def column_overrides(
    items: list[str] | None, roles: tuple[str, ...] = RUN_COLUMNS
) -> dict[str, str]:
    """``--column ROLE=COLUMN`` options as ``{role: column}``, or one line saying why not."""
    out = {}
    for item in items or []:
        canon, sep, col = item.partition("=")
        if not sep or not col:
            raise ScalingLawsError(
                f"--column takes ROLE=COLUMN (e.g. N=params, loss=eval/loss), not {item!r}"
            )
        if canon not in roles:
            raise ScalingLawsError(f"--column {item!r}: {canon!r} is not one of {', '.join(roles)}")
        out[canon] = col
    return out


def add_run_options(
    parser: Any, *, column: bool = True, checkpoints: bool = True, best_of: bool = True
) -> None:
    """The options of every command that reads a run log (see :func:`run_load_options`).

    ``--checkpoints``, ``--where``, ``--best-of`` (and ``--best-of-per``),
    ``--drop-nonfinite``, ``--loss-is`` and (unless the command defines its own)
    ``--column``.
    """
    if column:
        parser.add_argument(
            "--column",
            action="append",
            metavar="ROLE=COLUMN",
            help="take a column for a role (N, D, C, loss, run, step), e.g. --column "
            "loss=eval/loss or --column run=model; repeat for several",
        )
    if checkpoints:
        parser.add_argument(
            "--checkpoints",
            default="last",
            nargs="+",
            action=_CheckpointsAction,
            metavar="MODE",
            help="last | all | after-fraction F. With run and step columns (several rows "
            "per run): 'last' keeps each run's "
            "last checkpoint (default), 'all' makes every checkpoint a data point, "
            "'after-fraction F' keeps those at or past fraction F of the run's tokens "
            "(e.g. 0.1); resampling stays by run",
        )
    parser.add_argument(
        "--where",
        metavar="EXPR",
        default=None,
        help="keep only the rows this filter selects: comparisons over the log's columns "
        'joined by and/or, e.g. "D >= 1e10 and D <= 1e11" or "schedule == \'hot\'" '
        "(parsed, never evaluated)",
    )
    if best_of:
        parser.add_argument(
            "--best-of",
            metavar="COLUMN",
            default=None,
            help="for a sweep (e.g. learning rate): keep, per (N, D), the runs at the value "
            "of COLUMN with the lowest final loss",
        )
        parser.add_argument(
            "--best-of-per",
            metavar="COLUMN",
            action="append",
            default=None,
            help="with --best-of: a further column that tells configurations of one (N, D) "
            "apart (e.g. unique_tokens in a repeated-data study); the best value is chosen "
            "per (N, D, COLUMN...); repeat for several",
        )
    parser.add_argument(
        "--drop-nonfinite",
        action="store_true",
        help="drop rows whose loss is empty, NaN or infinite (diverged runs) with a note, "
        "instead of refusing the log",
    )
    parser.add_argument(
        "--loss-is",
        choices=("loss", "perplexity"),
        default="loss",
        help="what the loss column holds: cross-entropy in nats per token (default) or "
        "perplexity (its natural log is fitted)",
    )


class _CheckpointsAction(argparse.Action):
    """``--checkpoints last|all|after-fraction F``: one or two words, kept as one string.

    Two words need ``nargs="+"``, which would also swallow a run log written after the
    option; such extra words are refused with a message saying to put the log first.
    """

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None):
        words = list(values)
        need = 2 if words[0] in ("after-fraction", "after_fraction") else 1
        if len(words) != need:
            parser.error(
                f"--checkpoints takes 'last', 'all' or 'after-fraction F', not "
                f"{' '.join(words)!r} (write the run log before the options)"
            )
        setattr(namespace, self.dest, " ".join(words))


def _checkpoints_option(text: str) -> str:
    """``--checkpoints`` as ``load_runs`` takes it (``"after-fraction 0.1"``)."""
    from scalinglaws.io.runs import checkpoints_label

    text = text.strip()
    if text.startswith("after-fraction") and "=" not in text and " " not in text:
        raise ScalingLawsError(
            "--checkpoints after-fraction needs a fraction: --checkpoints 'after-fraction 0.1'"
        )
    try:
        return checkpoints_label(text)
    except ScalingLawsError as exc:
        raise ScalingLawsError(f"--checkpoints: {exc}") from None


def run_load_options(args: Any, *, column: bool = True) -> dict[str, Any]:
    """Keywords of :func:`scalinglaws.load_runs` from the run-log options of ``args``.

    Only options that differ from the loader's defaults are included, so records written
    before these options existed and after compare equal.
    """
    opts: dict[str, Any] = {}
    if column:
        cols = column_overrides(getattr(args, "column", None))
        if cols:
            opts["columns"] = cols
    checkpoints = getattr(args, "checkpoints", "last")
    if checkpoints not in (None, "last"):
        opts["checkpoints"] = _checkpoints_option(checkpoints)
    if getattr(args, "where", None) is not None:
        opts["where"] = args.where
    if getattr(args, "best_of", None) is not None:
        opts["best_of"] = args.best_of
    if getattr(args, "best_of_per", None):
        opts["best_of_per"] = list(args.best_of_per)
    if getattr(args, "drop_nonfinite", False):
        opts["drop_nonfinite"] = True
    if getattr(args, "loss_is", "loss") != "loss":
        opts["loss_is"] = args.loss_is
    return opts


def loader_messages(args: Any, notes: list[str]) -> None:
    """Notes of the run-log loader (rows kept, checkpoints used) on stderr unless --quiet."""
    for note in notes:
        progress(args, f"note: {note}")


def check_folder(path: Any, option: str, shown: Any = None) -> None:
    """Refuse an output folder before any work: a file there or above it (one line).

    Raises:
        ScalingLawsError: The path, or the nearest existing folder above it, is not a folder.
    """
    if not path:
        return
    above = nearest_existing(path)
    if above.exists() and not above.is_dir():
        raise ScalingLawsError(f"{option} {shown or path}: {above} is not a folder")


def check_samples(samples: int | None) -> None:
    """Refuse ``--samples`` below one before any work (one line)."""
    if samples is not None and samples < 1:
        raise ScalingLawsError(f"--samples must be a positive number of draws, not {samples}")


def check_output(path: Any, *, inputs: Any = (), option: str = "--out") -> None:
    """Refuse an output path before any work: empty, a folder, a device or pipe, or one
    of the command's own input files (which the write would replace).

    Raises:
        ScalingLawsError: The path is unusable (the message names the option).
    """
    if path is None:
        return
    text = str(path)
    if not text.strip():
        raise ScalingLawsError(f"{option} needs a file name")
    p = Path(text)
    if p.is_dir():
        raise ScalingLawsError(f"{option} {text}: is a folder, not a file")
    if p.exists() and not p.is_file():
        raise ScalingLawsError(f"{option} {text}: not a regular file; refusing to replace it")
    check_folder(p.parent, option, shown=text)
    for inp in inputs if isinstance(inputs, list | tuple) else (inputs,):
        if inp is None or not isinstance(inp, str | os.PathLike):
            continue
        q = Path(inp)
        if p.exists() and q.exists() and os.path.samefile(p, q):
            raise ScalingLawsError(
                f"{option} {text} is the input file {inp}; writing it would replace the input"
            )
