"""Help texts say what to pass: ``predict --input`` gives its format and an example,
``schedule --csv`` names the columns it writes, and both render in ``--help``."""

from __future__ import annotations

import pytest

from scalinglaws.cli import build_parser, main


def _subcommand(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


def _help_of(command: str, option: str) -> str:
    p = _subcommand(command)
    return next(a.help for a in p._actions if option in a.option_strings)


def test_predict_input_help_gives_format_example_and_lengths():
    text = _help_of("predict", "--input")
    assert "a law input other than N and D" in text
    assert "comma-separated positive numbers" in text
    assert "repeat for each such input" in text
    assert "--input N_avg=1e9,2e9 --D 2e10 for a record of fit avgparams" in text
    assert "An input given one value is used for every row" in text


def test_schedule_csv_help_names_the_columns_written():
    text = _help_of("schedule", "--csv")
    assert "one row per training step" in text
    for column in ("step", "density", "compute_fraction_before", "nonzero_params"):
        assert column in text
    assert "with --dense-params" in text


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        ("predict", "comma-"),  # argparse wraps lines, so only a short phrase is searched
        ("schedule", "compute_fraction_before"),
    ],
)
def test_help_texts_render(command, phrase, capsys):
    # argparse formats help with %-substitution: a stray % would fail here, not for a user
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert phrase in capsys.readouterr().out
