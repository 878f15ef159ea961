"""The ``scalinglaws`` command.

Each feature module registers its subcommands through ``register(sub, fit_sub, plan_sub)``:
``sub`` holds top-level commands, ``fit_sub`` the laws under ``scalinglaws fit``, and
``plan_sub`` the kinds of plan under ``scalinglaws plan``. A handler takes the parsed
arguments and returns the exit code. Failures a user can cause become exit code 2 with one
line on stderr, internal errors exit code 3 with one line; never a traceback unless asked
(``--debug`` or ``SCALINGLAWS_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from typing import Any

from scalinglaws._version import __version__
from scalinglaws.errors import ScalingLawsError

# Feature modules, in help order.
_MODULES = ("core", "sparse", "mixture", "datamix", "trust", "records", "design")
#: The module that registers each command (``fit``/``plan`` by their second word), so a
#: call builds only its own command's parser and imports only its module; anything else
#: (``--help``, a typo) builds them all. Checked against the modules by
#: tests/cli/test_parser_table.py.
_COMMAND_MODULE = {
    "predict": "core",
    "demo": "core",
    "schedule": "sparse",
    "backtest": "trust",
    "approaches": "trust",
    "check": "records",
    "record": "records",
    "design": "design",
    ("fit", "chinchilla"): "core",
    ("fit", "avgparams"): "sparse",
    ("fit", "cmr"): "mixture",
    ("fit", "datamix"): "datamix",
    ("plan", "compute"): "core",
    ("plan", "sparsity"): "sparse",
    ("plan", "mixture"): "mixture",
    ("plan", "datamix"): "datamix",
}


def _modules_for(argv: list[str] | None) -> tuple[str, ...]:
    """The feature modules a command line needs: its command's, or all of them."""
    if not argv:
        return _MODULES
    key: Any = argv[0]
    if key in ("fit", "plan"):
        key = (argv[0], argv[1]) if len(argv) > 1 else None
    module = _COMMAND_MODULE.get(key)
    return (module,) if module else _MODULES


#: A negative number in any notation (argparse alone takes ``-1e22`` for an option name).
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # `--budget -1e22` reaches the command's own check ("must be positive") instead
        # of argparse's "expected at least one argument".
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        sys.stderr.write(f"scalinglaws: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser: every command, or with ``argv`` only the one it calls."""
    parser = _Parser(
        prog="scalinglaws",
        description="Fit scaling laws to run logs and plan compute, sparsity and data mixtures.",
    )
    parser.add_argument("--version", action="version", version=f"scalinglaws {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a failure (also SCALINGLAWS_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    fit_p = sub.add_parser("fit", help="fit a law to a run log")
    fit_sub = fit_p.add_subparsers(dest="law", metavar="LAW", parser_class=_Parser)
    fit_sub.required = True
    plan_p = sub.add_parser("plan", help="plan from a fitted law record")
    plan_sub = plan_p.add_subparsers(dest="plan", metavar="PLAN", parser_class=_Parser)
    plan_sub.required = True
    for name in _modules_for(argv):
        try:
            module = importlib.import_module(f"scalinglaws.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"scalinglaws.cli.{name}":
                raise
            continue
        module.register(sub, fit_sub, plan_sub)
    return parser


def _setup_jax() -> None:
    # The command line (not the library) owns process-wide settings: float64 for every
    # fit, and the caches of compiled programs (scalinglaws.enable_caches) so that a second
    # `scalinglaws fit` starts fast. A folder that cannot be created turns them off.
    import jax

    from scalinglaws import enable_caches

    jax.config.update("jax_enable_x64", True)
    try:
        enable_caches()
    except OSError:
        pass


#: Where to report an internal error (exit code 3).
REPORT = "report it to the scalinglaws issue tracker with the output of SCALINGLAWS_DEBUG=1"


def _debugging(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("SCALINGLAWS_DEBUG", "") not in (
        "",
        "0",
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "(no message)"


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"scalinglaws: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    One error boundary: a failure the user can cause (bad input, a file that cannot be
    read or written, a record that does not validate) is one line on stderr and exit 2;
    an internal error is one line naming it and where to report it, exit 3. With
    ``--debug`` (or ``SCALINGLAWS_DEBUG=1``) the traceback is shown instead.
    """
    args = None
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(words)
        args = parser.parse_args(words)
        _setup_jax()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return int(args.func(args) or 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the boundary: every failure becomes an exit code
        if _debugging(args):
            raise
        return _fail(*_classify(exc))


def _classify(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) of a failure: 2 for what the user can cause, 3 for a bug."""
    if isinstance(exc, ScalingLawsError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"error: {_one_line(first)}", 2
    if isinstance(exc, OSError):
        # Missing or unreadable files, read-only or full disks, an output under a file.
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"error: {_one_line(where + (exc.strerror or str(exc)))}", 2
    if isinstance(exc, RecursionError):
        return "error: input nested too deeply to read", 2
    if isinstance(exc, MemoryError):
        return "error: out of memory (the request is too large for this machine)", 2
    if isinstance(exc, OverflowError):
        return f"error: a number is too large ({_one_line(str(exc))})", 2
    return f"internal error: {type(exc).__name__}: {_one_line(str(exc))[:300]} ({REPORT})", 3


if __name__ == "__main__":
    raise SystemExit(main())
