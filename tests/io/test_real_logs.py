"""Run logs as real studies write them: checkpoints, filters, sweeps, perplexities, names.

Synthetic logs check each loader option on its own; the Gemstones and OPT logs in
``../shared/data`` (skipped when absent) check them on the data the issue was found on.
"""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.io.runs import parse_checkpoints
from scalinglaws.uncertainty._data import fit_data
from scalinglaws.uncertainty.bootstrap import bootstrap, resample_weights
from tests.conftest import SHARED_DATA, require_shared

GEMSTONES = SHARED_DATA / "gemstones" / "checkpoints.csv"
GEMSTONES_FITS = SHARED_DATA / "gemstones" / "published_fits.json"
OPT = SHARED_DATA / "colpret-opt" / "opt_checkpoints.csv"
#: The hot-schedule checkpoints at 10-100B tokens. The 100B checkpoint sits at
#: 1.0003e11 tokens, so the upper bound is 1.01e11 (1e11 would drop it: 198 points).
HOT_10_100B = "schedule == 'hot' and D <= 1.01e11"
TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def _law_loss(n, d):
    return TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]


def checkpoint_log(seed: int = 0) -> pd.DataFrame:
    """8 runs, each with 6 checkpoints at 1/6 ... 6/6 of its tokens, 1% noise."""
    rng = np.random.default_rng(seed)
    rows = []
    sizes = [5e7, 1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9]
    for r, n in enumerate(sizes):
        final = 20 * n * (2.0 if r % 2 else 0.5)
        for step in range(1, 7):
            d = final * step / 6
            loss = _law_loss(n, d) * math.exp(0.01 * rng.standard_normal())
            rows.append({"run": f"r{r}", "step": step * 100, "N": n, "D": d, "loss": loss})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- checkpoints
def test_checkpoint_modes():
    log = checkpoint_log()
    assert len(sl.load_runs(log)) == 8
    everything = sl.load_runs(log, checkpoints="all")
    assert len(everything) == 48
    assert any("kept all 48 checkpoints" in n for n in everything.attrs["notes"])
    # Fraction of each run's final tokens: 1/6 < 0.3 <= 2/6, so 5 of 6 per run remain.
    late = sl.load_runs(log, checkpoints="after-fraction 0.3")
    assert len(late) == 40 and late.groupby("run").size().eq(5).all()
    assert len(sl.load_runs(log, checkpoints=("after-fraction", 0.3))) == 40
    assert parse_checkpoints("after-fraction=0.1") == ("after-fraction", 0.1)
    for bad in ("first", "after-fraction", "after-fraction 1.5", 3):
        with pytest.raises(sl.RunLogError, match="checkpoints must be"):
            sl.load_runs(log, checkpoints=bad)
    no_run = log.drop(columns="run").drop_duplicates(["N", "D"])
    with pytest.raises(sl.RunLogError, match="needs a run column"):
        sl.load_runs(no_run, checkpoints="after-fraction 0.3")


def _assert_never_split(weights: np.ndarray, run_ids: np.ndarray) -> None:
    for rid in np.unique(run_ids):
        block = weights[:, run_ids == rid]
        assert (block == block[:, :1]).all(), f"a resample split run {rid}"


def test_resample_weights_never_split_a_run():
    """Every resample gives all checkpoints of a run the same weight (cluster bootstrap)."""
    runs = sl.load_runs(checkpoint_log(), checkpoints="all")
    codes, uniques = pd.factorize(runs["run"])
    _, weights = resample_weights(codes, len(uniques), 200, seed=3)
    _assert_never_split(weights, runs["run"].to_numpy())
    # Each resample draws 8 runs: the weights of a resample sum to 8 runs x 6 checkpoints.
    assert np.allclose(weights.sum(axis=1), 48)


@pytest.mark.slow
def test_bootstrap_of_a_checkpoint_fit_resamples_runs():
    """End to end: a fit on every checkpoint is bootstrapped over its 16 runs."""
    log = pd.concat(
        [
            checkpoint_log(0),
            checkpoint_log(1).assign(run=lambda t: t["run"] + "b", N=lambda t: t["N"] * 1.3),
        ],
        ignore_index=True,
    )
    runs = sl.load_runs(log, checkpoints="all")
    result = sl.fit(sl.laws.chinchilla(), runs)
    data = fit_data(result, "bootstrap")
    assert data.n == 96 and data.n_clusters == 16
    _, weights = resample_weights(data.clusters, data.n_clusters, 200, seed=3)
    _assert_never_split(weights, runs["run"].to_numpy())
    booted = bootstrap(result, n=64, seed=0)
    assert booted.uncertainty.extra["n_clusters"] == 16
    assert booted.uncertainty.extra["n_rows"] == 96


# --------------------------------------------------------------------- row filters
def test_where_filters_rows_by_numbers_and_text(tmp_path):
    log = checkpoint_log()
    log["schedule"] = np.where(log["step"] % 200 == 0, "hot", "cool")
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = sl.load_runs(path, checkpoints="all", where="schedule == 'hot' and N >= 1e8")
    assert len(out) == 7 * 3 and set(out["schedule"]) == {"hot"}
    assert out.attrs["notes"][0].startswith("kept 21 of 48 rows where")
    # C is derived (6 N D) and can be filtered on before it exists in the file.
    out = sl.load_runs(path, checkpoints="all", where="C > 1e20")
    assert (out["C"] > 1e20).all()
    # A bad value on a row the filter drops does not matter; on a kept row it is named
    # by its line in the file (the header is line 1, so row 4 of the table is line 6).
    text = path.read_text().splitlines()
    text[5] = text[5].replace(text[5].split(",")[4], "oops")
    path.write_text("\n".join(text) + "\n")
    assert len(sl.load_runs(path, checkpoints="all", where="step != 500")) == 40
    with pytest.raises(sl.RunLogError, match="line 6"):
        sl.load_runs(path, checkpoints="all", where="step >= 500")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os').system('true')", "cannot read"),
        ("N > 1e9; import os", "cannot read"),
        ("lr > 1e-3", "unknown column 'lr'"),
        ("schedule > 'hot'", "text compares with == or != only"),
        ("N == 'hot'", "compares text with a number"),
        ("N > 1e20", "selects none"),
    ],
)
def test_where_is_parsed_not_evaluated(expr, message):
    log = checkpoint_log()
    log["schedule"] = "hot"
    with pytest.raises(sl.ScalingLawsError, match=message):
        sl.load_runs(log, checkpoints="all", where=expr)


def test_best_of_keeps_the_best_learning_rate_per_size_and_tokens():
    """A simulated sweep: three learning rates per (N, D); the middle one is best."""
    base = checkpoint_log()
    rows = []
    for lr, penalty in ((1e-4, 1.05), (3e-4, 1.0), (1e-3, 1.08)):
        part = base.copy()
        part["run"] = part["run"] + f"-lr{lr:g}"
        part["lr"] = lr
        part["loss"] = part["loss"] * penalty
        rows.append(part)
    sweep = pd.concat(rows, ignore_index=True)
    out = sl.load_runs(sweep, best_of="lr")
    assert len(out) == 8 and (out["lr"] == 3e-4).all()
    out = sl.load_runs(sweep, best_of="lr", checkpoints="all")
    assert len(out) == 48 and (out["lr"] == 3e-4).all()
    assert any("kept the best 'lr'" in n for n in out.attrs["notes"])
    with pytest.raises(sl.RunLogError, match="best_of column 'wd' is not in the run log"):
        sl.load_runs(sweep, best_of="wd")


def repeated_data_sweep() -> pd.DataFrame:
    """Final losses of a repeated-data study: per (N, D) two amounts of unique data, and a
    learning-rate sweep whose best value differs between them (repeated data wants the
    smaller rate here)."""
    rows = []
    for n in (1e8, 2e8, 4e8):
        for ratio in (10, 40):
            d = ratio * n
            for unique, best_lr in ((d, 1e-3), (d / 16, 3e-4)):
                base = 2.0 + 400 * n**-0.34 + 400 * unique**-0.28
                for lr in (3e-4, 1e-3):
                    rows.append(
                        {
                            "N": n,
                            "D": d,
                            "unique_tokens": unique,
                            "lr": lr,
                            "loss": base * (1.0 if lr == best_lr else 1.02),
                        }
                    )
    return pd.DataFrame(rows)


def test_best_of_per_chooses_within_each_configuration():
    """Grouped by (N, D) alone the sweep keeps one rate per (N, D) (wrong for half the
    configurations); with best_of_per=["unique_tokens"] each configuration keeps its own
    best rate, so no kept loss carries the 2% penalty."""
    sweep = repeated_data_sweep()
    # Both unique-data amounts share each (N, D): the loader says so (kept as separate runs).
    with pytest.warns(sl.ScalingLawsWarning, match="repeat an earlier"):
        plain = sl.load_runs(sweep, best_of="lr", min_runs=4)
    assert len(plain) == 12 and plain.groupby(["N", "D"])["lr"].nunique().eq(1).all()
    with pytest.warns(sl.ScalingLawsWarning, match="repeat an earlier"):
        out = sl.load_runs(sweep, best_of="lr", best_of_per=["Unique_Tokens"], min_runs=4)
    assert len(out) == 12
    expected = np.where(out["unique_tokens"] == out["D"], 1e-3, 3e-4)
    np.testing.assert_array_equal(out["lr"].to_numpy(), expected)
    assert any("(N, D, unique_tokens) groups" in n for n in out.attrs["notes"])
    with pytest.raises(sl.RunLogError, match="give best_of too"):
        sl.load_runs(sweep, best_of_per=["unique_tokens"])
    with pytest.raises(sl.RunLogError, match="best_of_per column 'epochs' is not in"):
        sl.load_runs(sweep, best_of="lr", best_of_per=["epochs"])
    with pytest.raises(sl.RunLogError, match="not 'D'"):
        sl.load_runs(sweep, best_of="lr", best_of_per=["D"])


def test_best_of_per_must_describe_whole_runs():
    base = checkpoint_log()
    base["lr"] = 3e-4
    base["unique_tokens"] = np.arange(len(base), dtype=float)  # changes within each run
    with pytest.raises(sl.RunLogError, match="changes within run"):
        sl.load_runs(base, best_of="lr", best_of_per=["unique_tokens"])


def test_nonfinite_losses_refused_with_a_hint_or_dropped():
    log = sl.load_runs(checkpoint_log()).drop(columns=["C"])
    log.loc[2, "loss"] = np.nan
    log.loc[5, "loss"] = np.inf
    with pytest.raises(sl.RunLogError, match=r"--drop-nonfinite"):
        sl.load_runs(log)
    out = sl.load_runs(log, drop_nonfinite=True, min_runs=5)
    assert len(out) == 6
    assert out.attrs["notes"] == [
        "dropped 2 rows whose loss is empty, NaN or infinite (first at row 2)"
    ]


# --------------------------------------------------------------------- perplexities
def test_perplexities_detected_from_plausibility_and_converted():
    log = sl.load_runs(checkpoint_log()).drop(columns=["C"])
    ppl = log.assign(loss=np.exp(log["loss"]))  # perplexities ~ 9-70, median ~15
    assert 8 < ppl["loss"].median() < 20  # the old median-above-20 rule missed these
    with pytest.warns(sl.ScalingLawsWarning, match="LOSS LOOKS LIKE PERPLEXITY.*--loss-is"):
        sl.load_runs(ppl)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sl.load_runs(ppl, loss_is="perplexity")
    # ln(exp(x)) round-trips to float64 rounding: 1e-12 relative.
    np.testing.assert_allclose(out["loss"], log["loss"], rtol=1e-12)
    with pytest.raises(sl.RunLogError, match="is not a perplexity"):
        sl.load_runs(log.assign(loss=log["loss"] / 10), loss_is="perplexity")
    with pytest.raises(sl.RunLogError, match="loss_is must be"):
        sl.load_runs(log, loss_is="bits")


# --------------------------------------------------------------------- column names
def test_compute_budget_is_not_compute():
    log = sl.load_runs(checkpoint_log()).drop(columns=["C"])
    log["compute_budget"] = 1e30  # a nominal budget, far from 6 N D
    out = sl.load_runs(log)
    np.testing.assert_allclose(out["C"], 6 * out["N"] * out["D"], rtol=1e-12)
    assert any("'compute_budget' is a nominal budget" in n for n in out.attrs["notes"])
    assert (out["compute_budget"] == 1e30).all()


def test_wandb_export_names_suggest_the_column_option():
    log = sl.load_runs(checkpoint_log()).drop(columns=["C"])
    export = pd.DataFrame(
        {
            "Name": log["run"],
            "N": log["N"],
            "D": log["D"],
            "train/loss": log["loss"] * 0.98,
            "eval/loss": log["loss"],
        }
    )
    with pytest.raises(sl.RunLogError, match=r"--column loss=eval/loss"):
        sl.load_runs(export)
    out = sl.load_runs(export, columns={"loss": "eval/loss"})
    np.testing.assert_array_equal(out["loss"], log["loss"])
    assert list(out["run"]) == list(log["run"])


def test_canonical_column_wins_over_an_alias_with_a_note():
    log = sl.load_runs(checkpoint_log()).drop(columns=["C"])
    log["train_tokens"] = log["D"] * 3
    out = sl.load_runs(log)
    np.testing.assert_array_equal(out["D"], log["D"])
    assert any("used the canonical 'D'" in n for n in out.attrs["notes"])
    with pytest.raises(sl.RunLogError, match="all look like 'D'"):
        sl.load_runs(log.rename(columns={"D": "tokens"}))


# --------------------------------------------------------------------- real logs
@pytest.mark.slow  # ~25 s on a loaded 2-core machine (compiles a 220-point fit)
def test_gemstones_hot_checkpoints_reproduce_the_published_fit():
    """McLeish et al. 2025's Approach-3 fit on the hot checkpoints at 10-100B tokens.

    Tolerances: the objective within 1e-6 relative (the authors print it to 8 significant
    digits; both searches reach the same optimum, measured 4.6e-8 apart); alpha and beta
    within 0.005 (the issue's bound; measured 2.3e-5 and 1.1e-4: B and beta are
    correlated at +0.9999, so beta moves most along the flat valley).
    """
    path = require_shared(GEMSTONES)
    published = json.loads(require_shared(GEMSTONES_FITS).read_text())[
        "parameters_delta-3/approach_3_parameters_grid_search_0_hot.json"
    ]
    runs = sl.load_runs(path, checkpoints="all", where=HOT_10_100B)
    assert len(runs) == 220 and runs["run"].nunique() == 22
    result = sl.fit(sl.laws.chinchilla(), runs)
    assert result.converged
    assert result.objective == pytest.approx(published["objective"], rel=1e-6)
    assert result.params["alpha"] == pytest.approx(published["alpha"], abs=0.005)
    assert result.params["beta"] == pytest.approx(published["beta"], abs=0.005)
    # Resamples are by model: 22 clusters of 10 checkpoints, never split.
    data = fit_data(result, "bootstrap")
    assert data.n_clusters == 22
    _, weights = resample_weights(data.clusters, data.n_clusters, 500, seed=0)
    _assert_never_split(weights, runs["run"].to_numpy())


def test_gemstones_last_checkpoints_share_one_token_count():
    """The old default on this log: 22 points at one D, which the loader calls out."""
    path = require_shared(GEMSTONES)
    with pytest.warns(sl.ScalingLawsWarning, match="every run has the same D"):
        runs = sl.load_runs(path, where=HOT_10_100B)
    assert len(runs) == 22


def test_opt_perplexities_caught_converted_and_after_fraction(tmp_path):
    """The OPT log of the Hitchhiker's guide, its ``ppl`` column renamed to ``loss``."""
    source = pd.read_csv(require_shared(OPT))
    path = tmp_path / "opt.csv"
    source.rename(columns={"ppl": "loss", "model": "run"}).to_csv(path, index=False)
    with pytest.warns(sl.ScalingLawsWarning, match="LOSS LOOKS LIKE PERPLEXITY"):
        sl.load_runs(path, checkpoints="after-fraction 0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = sl.load_runs(path, checkpoints="after-fraction 0.1", loss_is="perplexity")
    # The log's own fraction column agrees with the loader's (D over the run's final D).
    expected = source[source["frac_of_training"] >= 0.1 - 1e-12]
    assert len(runs) == len(expected) == 116
    np.testing.assert_allclose(np.sort(runs["loss"]), np.sort(np.log(expected["ppl"])), rtol=1e-12)
    assert runs["loss"].max() < 4.0  # nats per token, as a language model's loss


@pytest.mark.slow  # 1,000 bootstrap refits of a 190-point fit: ~20 s of CPU
def test_gemstones_backtest_holds_out_the_2b_models_resampling_by_model():
    """Fit on the hot checkpoints of the 19 smaller models, predict the three ~2B ones.

    Measured: median |relative error| 1.0%, coverage 0.90 of 30 held-out checkpoints.
    Bounds are loose on purpose (5% and 0.6): they catch a broken pipeline, not noise.
    """
    from scalinglaws.approaches.backtest import backtest

    path = require_shared(GEMSTONES)
    res = backtest(
        path,
        holdout_above_params=1.5e9,
        uncertainty="bootstrap",
        load_options={"checkpoints": "all", "where": HOT_10_100B},
    )
    s = res.summary
    assert s["n_holdout"] == 30 and s["n_train"] == 190
    assert s["median_abs_rel_error"] < 0.05 and s["coverage"] >= 0.6
    extra = res.fit.uncertainty.extra
    assert extra["n_clusters"] == 19 and extra["n_rows"] == 190
    data = fit_data(res.fit, "bootstrap")
    runs = res.fit.data["run"].to_numpy()
    _, weights = resample_weights(data.clusters, data.n_clusters, extra["n_resamples"], seed=0)
    _assert_never_split(weights, runs)


@pytest.mark.slow  # two fits of 89 checkpoints
def test_opt_backtest_holding_out_175b():
    """OPT-125m..30b past 10% of training predict OPT-175b's checkpoints.

    Measured: median |relative error| 1.8% of the loss (the guide calls ~4% achievable).
    Coverage: the Laplace 90% intervals hold all 27 held-out checkpoints, but only because
    the curvature is nearly singular (width 34 in log loss: no information); a posterior
    (uncertainty="bayes") is as narrow as 0.03 and holds 2 of 27. Both treat the 89
    checkpoints of 5 runs as independent, and both say so. Five runs cannot be
    bootstrapped by run for five parameters, nor split for conformal calibration: refused.
    """
    from scalinglaws.approaches.backtest import backtest

    path = require_shared(OPT)
    options = {
        "columns": {"loss": "ppl", "run": "model"},
        "loss_is": "perplexity",
        "checkpoints": "after-fraction 0.1",
    }
    # The point fit on five models stops at the iteration limit (the hard-data
    # item) and its Hessian is not positive definite: expected here, and said so.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        res = backtest(
            path, holdout_query="model == 'OPT-175b'", uncertainty="laplace", load_options=options
        )
    assert any("did not converge" in w for w in res.warnings)
    assert res.summary["n_holdout"] == 27 and res.summary["n_train"] == 89
    assert res.summary["median_abs_rel_error"] < 0.04
    # Coverage is reported, and the row-wise likelihood's caveat is in the warnings.
    assert 0.0 <= res.summary["coverage"] <= 1.0 and res.summary["level"] == 0.9
    assert any("checkpoints of 5 runs" in w and "too narrow" in w for w in res.warnings)
    with pytest.raises(sl.ScalingLawsError, match="needs more runs than the 5 parameters"):
        backtest(
            path, holdout_query="run == 'OPT-175b'", uncertainty="bootstrap", load_options=options
        )
