"""The ``scalinglaws`` command.

Each feature module registers its subcommands through ``register(sub, fit_sub, plan_sub)``:
``sub`` holds top-level commands, ``fit_sub`` the laws under ``scalinglaws fit``, and
``plan_sub`` the kinds of plan under ``scalinglaws plan``. A handler takes the parsed
arguments and returns the exit code. Library errors (:class:`ScalingLawsError`) become
exit code 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from scalinglaws._version import __version__
from scalinglaws.errors import ScalingLawsError

# Feature modules, in help order.
_MODULES = ("core", "sparse", "mixture", "trust", "records")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        sys.stderr.write(f"scalinglaws: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scalinglaws",
        description="Fit scaling laws to run logs and plan compute, sparsity and data mixtures.",
    )
    parser.add_argument("--version", action="version", version=f"scalinglaws {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    fit_p = sub.add_parser("fit", help="fit a law to a run log")
    fit_sub = fit_p.add_subparsers(dest="law", metavar="LAW", parser_class=_Parser)
    fit_sub.required = True
    plan_p = sub.add_parser("plan", help="plan from a fitted law record")
    plan_sub = plan_p.add_subparsers(dest="plan", metavar="PLAN", parser_class=_Parser)
    plan_sub.required = True
    for name in _MODULES:
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
    # fit, and a persistent compilation cache so a second `scalinglaws fit` starts fast.
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get(
        "SCALINGLAWS_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "scalinglaws")
    )
    try:
        os.makedirs(cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", os.path.join(cache, "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_jax()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return int(args.func(args) or 0)
    except ScalingLawsError as exc:
        sys.stderr.write(f"scalinglaws: error: {str(exc).splitlines()[0]}\n")
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        sys.stderr.write(f"scalinglaws: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("scalinglaws: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
