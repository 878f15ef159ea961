"""The command -> module table that lets a call build only its own command's parser."""

from __future__ import annotations

import importlib

import pytest

from scalinglaws.cli import _COMMAND_MODULE, _MODULES, _modules_for, _Parser, build_parser, main


def _registered() -> dict:
    """What each feature module registers, found by registering it alone."""
    out = {}
    for name in _MODULES:
        parser = _Parser(prog="scalinglaws")
        sub = parser.add_subparsers(dest="command")
        fit_sub = sub.add_parser("fit").add_subparsers(dest="law")
        plan_sub = sub.add_parser("plan").add_subparsers(dest="plan")
        importlib.import_module(f"scalinglaws.cli.{name}").register(sub, fit_sub, plan_sub)
        for command in sub.choices:
            if command not in ("fit", "plan"):
                out[command] = name
        out.update({("fit", law): name for law in fit_sub.choices})
        out.update({("plan", what): name for what in plan_sub.choices})
    return out


def test_table_matches_what_the_modules_register():
    assert _COMMAND_MODULE == _registered()


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["plan", "compute", "fit.json"], ("core",)),
        (["fit", "cmr", "curves.csv"], ("mixture",)),
        (["check", "fits/"], ("records",)),
        (["--help"], _MODULES),
        (["fit", "--help"], _MODULES),
        (["fit"], _MODULES),
        (["plna", "compute"], _MODULES),
        ([], _MODULES),
    ],
)
def test_a_call_builds_only_its_command(argv, modules):
    assert _modules_for(argv) == modules


def test_one_command_parser_parses_like_the_full_one():
    argv = ["plan", "compute", "fit.json", "--budget", "1e22", "--json"]
    assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_a_typo_still_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plna", "compute"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'plna'" in err and "backtest" in err and "design" in err
