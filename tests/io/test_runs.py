"""Run-log loading: formats, aliases, derivation, and bad input as a new user makes it."""

import json

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.simulate import isoflop_design, simulate_runs


@pytest.fixture
def runs_df():
    d = isoflop_design([1e18, 1e19, 1e20], 5)
    return simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, d, noise=0.01, seed=0)


def test_formats_round_trip(tmp_path, runs_df):
    csv = tmp_path / "r.csv"
    pq = tmp_path / "r.parquet"
    jl = tmp_path / "r.jsonl"
    runs_df.to_csv(csv, index=False)
    runs_df.to_parquet(pq)
    jl.write_text("\n".join(json.dumps(r) for r in runs_df.to_dict(orient="records")))
    frames = [sl.load_runs(p) for p in (csv, pq, jl)] + [sl.load_runs(runs_df)]
    for f in frames:
        # Text formats print 17 significant digits: exact round trip to 1e-15.
        np.testing.assert_allclose(f["loss"], runs_df["loss"], rtol=1e-15)
        np.testing.assert_allclose(f["N"], runs_df["N"], rtol=1e-15)


def test_aliases_and_derivation():
    df = pd.DataFrame(
        {
            "Model Size": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9],
            "Training FLOP": [1e19] * 3 + [1e20] * 3,
            "eval_loss": [3.1, 3.0, 3.05, 2.8, 2.75, 2.79],
        }
    )
    out = sl.load_runs(df)
    np.testing.assert_allclose(out["D"], df["Training FLOP"] / (6 * df["Model Size"]), rtol=1e-15)
    out8 = sl.load_runs(df, k=8)
    np.testing.assert_allclose(out8["D"], df["Training FLOP"] / (8 * df["Model Size"]), rtol=1e-15)
    assert out8.attrs["k"] == 8


def _base():
    return pd.DataFrame(
        {
            "params": [1e8, 2e8, 4e8, 8e8, 1e8, 4e8],
            "tokens": [2e9, 1e9, 5e8, 2.5e8, 8e9, 4e9],
            "loss": [3.1, 3.0, 3.05, 3.2, 2.9, 2.85],
        }
    )


def test_missing_column_lists_what_was_found():
    df = _base().drop(columns="loss")
    with pytest.raises(sl.RunLogError, match=r"needs loss; found columns: params, tokens"):
        sl.load_runs(df)


def test_nan_names_row_and_column(tmp_path):
    df = _base()
    df.loc[3, "loss"] = np.nan
    p = tmp_path / "r.csv"
    df.to_csv(p, index=False)
    with pytest.raises(sl.RunLogError, match=r"line 5, column 'loss'"):
        sl.load_runs(p)


def test_zero_tokens():
    df = _base()
    df.loc[2, "tokens"] = 0
    with pytest.raises(sl.RunLogError, match=r"row 2, column 'tokens': 0 must be > 0"):
        sl.load_runs(df)


def test_text_in_numeric_column(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text(
        "params,tokens,loss\n1e8,2e9,3.1\n2e8,1e9,abc\n4e8,5e8,3.0\n8e8,2.5e8,3.2\n1e8,8e9,2.9\n4e8,4e9,2.8\n"
    )
    with pytest.raises(sl.RunLogError, match=r"line 3, column 'loss': 'abc' is not a number"):
        sl.load_runs(p)


def test_two_runs_only():
    df = _base().iloc[:2]
    with pytest.raises(sl.RunLogError, match=r"2 runs; at least 5 are needed"):
        sl.load_runs(df)


def test_one_tokens_per_param_ratio_warns_loudly():
    n = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9])
    df = pd.DataFrame({"N": n, "D": 20 * n, "loss": [3.5, 3.2, 3.0, 2.8, 2.6, 2.5]})
    with pytest.warns(sl.ScalingLawsWarning, match="UNIDENTIFIABLE DESIGN"):
        sl.load_runs(df)


def test_compute_disagreement_names_rows():
    df = _base()
    df["flops"] = 6 * df["params"] * df["tokens"]
    df.loc[4, "flops"] *= 1.5
    with pytest.raises(sl.RunLogError, match=r"row 4: C = .* disagrees with k\*N\*D"):
        sl.load_runs(df)


def test_perplexity_and_billions_warn():
    df = _base()
    df["loss"] = np.exp(df["loss"])
    with pytest.warns(sl.ScalingLawsWarning, match="perplexities"):
        sl.load_runs(df)
    df = _base()
    df["tokens"] = df["tokens"] / 1e9
    with pytest.warns(sl.ScalingLawsWarning, match="millions or billions"):
        sl.load_runs(df)


def test_duplicates_warn_or_aggregate():
    df = pd.concat([_base(), _base().iloc[[0]]], ignore_index=True)
    with pytest.warns(sl.ScalingLawsWarning, match="repeat an earlier"):
        out = sl.load_runs(df)
    assert len(out) == 7
    with pytest.warns(sl.ScalingLawsWarning, match="averaged 1"):
        out = sl.load_runs(df, duplicates="mean")
    assert len(out) == 6
    with pytest.raises(sl.RunLogError, match="repeat an earlier"):
        sl.load_runs(df, duplicates="error")


def test_checkpoints_take_last_per_run():
    rows = []
    for r, (n, d) in enumerate(
        [(1e8, 2e9), (2e8, 1e9), (4e8, 5e8), (8e8, 2.5e8), (1e8, 8e9), (4e8, 4e9)]
    ):
        for step, frac in ((1, 0.5), (2, 1.0)):
            rows.append(
                {
                    "run": f"r{r}",
                    "step": step,
                    "N": n,
                    "D": d * frac,
                    "loss": 3.0 + r / 10 + (2 - step),
                }
            )
    out = sl.load_runs(pd.DataFrame(rows))
    assert len(out) == 6 and (out["step"] == 2).all()
    assert len(sl.load_runs(pd.DataFrame(rows), checkpoints="all")) == 12


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(sl.RunLogError, match="does not exist"):
        sl.load_runs(tmp_path / "nope.csv")
    p = tmp_path / "r.xlsx"
    p.write_text("x")
    with pytest.raises(sl.RunLogError, match="unknown format"):
        sl.load_runs(p)


def test_fit_refuses_too_few_runs_for_parameters():
    df = _base().iloc[:5]
    runs = sl.load_runs(df)
    with pytest.raises(sl.FitError, match="5 runs cannot determine the 5 parameters"):
        sl.fit(sl.laws.chinchilla(), runs)
