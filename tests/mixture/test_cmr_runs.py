"""Continual-pre-training run logs: format, baselines, and one-line errors naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglaws.errors import RunLogError
from scalinglaws.mixture.runs import load_cpt_runs


def _log(n: int = 8, ratios=(0.25, 0.5), models=("m1",)) -> pd.DataFrame:
    rows = []
    for m in models:
        rows.append((m, np.nan, 0.0, "general", 2.5))
        rows.append((m, np.nan, 0.0, "domain", 2.0))
        for r in ratios:
            for k in range(1, n + 1):
                t = k * 1e9
                rows.append((m, r, t, "general", 2.5 + 0.01 * np.log(k)))
                rows.append((m, r, t, "domain", 2.0 - 0.02 * np.log(k + 1)))
    return pd.DataFrame(rows, columns=["model", "ratio", "tokens", "split", "loss"])


def test_loads_long_rows_and_folds_baselines_into_loss_changes():
    out = load_cpt_runs(_log())
    assert len(out) == 2 * 2 * 8  # baselines are not checkpoints
    assert out.attrs["baselines"] == {("m1", "general"): 2.5, ("m1", "domain"): 2.0}
    row = out[(out["split"] == "domain") & (out["ratio"] == 0.25)].iloc[0]
    assert row["dloss"] == pytest.approx(row["loss"] - 2.0, abs=1e-15)  # exact subtraction


def test_repeated_baselines_are_accepted_when_they_agree():
    df = _log()
    extra = pd.DataFrame(
        [("m1", 0.25, 0.0, "general", 2.5), ("m1", 0.5, 0.0, "domain", 2.0)],
        columns=df.columns,
    )
    out = load_cpt_runs(pd.concat([df, extra], ignore_index=True))
    assert out.attrs["baselines"][("m1", "general")] == 2.5
    extra.loc[0, "loss"] = 2.6
    with pytest.raises(RunLogError, match="baseline 2.6 .* disagrees"):
        load_cpt_runs(pd.concat([df, extra], ignore_index=True))


def test_token_unit_option_converts_to_raw_tokens():
    df = _log()
    df["tokens"] = df["tokens"] / 2e8  # written in the paper's 0.2B-token unit
    out = load_cpt_runs(df, token_unit_in=2e8)
    assert out["tokens"].max() == pytest.approx(8e9, rel=1e-12)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (
            lambda d: d.__setitem__("ratio", d["ratio"].where(d.index != 5, 1.5)),
            r"row 5, column 'ratio': ratio 1.5 is outside \[0, 1\]",
        ),
        (
            lambda d: d.__setitem__("split", d["split"].where(d.index != 7, "code")),
            r"row 7, column 'split': split 'code' is not one of 'general', 'domain'",
        ),
        (
            lambda d: d.__setitem__("model", d["model"].where(d.index != 0, "other")),
            r"model 'm1' has no general baseline",
        ),
        (
            lambda d: d.__setitem__("tokens", d["tokens"].where(d.index != 6, 1e9)),
            r"row 6, column 'tokens': tokens 1e\+09 do not increase after 2e\+09 within model "
            r"'m1', ratio 0.25, split 'general'",
        ),
        (
            lambda d: d.__setitem__("loss", d["loss"].where(d.index != 3, -1.0)),
            r"row 3, column 'loss': -1 must be > 0",
        ),
        (
            lambda d: d.__setitem__("ratio", d["ratio"].where(d.index != 4, np.nan)),
            r"row 4, column 'ratio': ratio is empty but tokens = 2e\+09",
        ),
    ],
)
def test_bad_input_gets_one_line_naming_it(mutate, pattern):
    df = _log()
    mutate(df)
    with pytest.raises(RunLogError, match=pattern) as info:
        load_cpt_runs(df)
    assert "\n" not in str(info.value)


def test_too_few_checkpoints_for_the_general_law():
    with pytest.raises(
        RunLogError,
        match=r"ratio 0.25, split 'general': 5 checkpoints cannot "
        r"determine the 5 parameters .* at least 6",
    ):
        load_cpt_runs(_log(n=5))


def test_missing_split_for_a_ratio_and_missing_columns():
    df = _log()
    df = df[~((df["ratio"] == 0.5) & (df["split"] == "domain"))]
    with pytest.raises(RunLogError, match="ratio 0.5 has no domain checkpoints"):
        load_cpt_runs(df)
    with pytest.raises(RunLogError, match="missing split"):
        load_cpt_runs(_log().drop(columns="split"))


def test_csv_errors_name_the_line(tmp_path):
    df = _log()
    df.loc[9, "split"] = "Domainx"
    path = tmp_path / "cpt.csv"
    df.to_csv(path, index=False)
    # Line numbers count the header as line 1.
    with pytest.raises(RunLogError, match=r"line 11, column 'split'"):
        load_cpt_runs(path)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"lam": -1.0}, "lambda must be a positive number or inf"),
        ({"epsilon": -0.1}, "epsilon must be a non-negative"),
        ({"uncertainty": "mcmc"}, "uncertainty must be one of none, bootstrap, bayes"),
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"token_unit": 0.0}, "token_unit must be a positive number"),
    ],
)
def test_fit_options_are_checked_before_any_work(kwargs, pattern):
    from scalinglaws.errors import FitError
    from scalinglaws.mixture import fit_cmr

    with pytest.raises(FitError, match=pattern):
        fit_cmr(_log(), **kwargs)
