"""Proxy-run loading, the mixture laws against hand-computed values, and fit_datamix.

The RegMix tests use the published files in ``../shared/data/regmix-pile`` and skip with a
reason when they are absent (a fresh clone without the shared data still passes).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from scalinglaws.datamix import fit_datamix, load_mixture_runs, mixing_law, target_spec
from scalinglaws.datamix.laws import linear_law, loglinear_law, make_law
from scalinglaws.errors import FitError, PlanError, RunLogError
from scalinglaws.simulate.datamix import random_truth, simulate_mixture_runs

REPO = Path(__file__).resolve().parents[2]
REGMIX = REPO.parent / "shared" / "data" / "regmix-pile"
SIM = REPO / "data" / "datamix_sim" / "runs.csv"
needs_regmix = pytest.mark.skipif(
    not (REGMIX / "train_mixture_1m.csv").exists(),
    reason="RegMix proxy runs (../shared/data/regmix-pile) are not present",
)


def _regmix(split: str, size: str = "1m"):
    return load_mixture_runs(
        REGMIX / f"{split}_mixture_{size}.csv", losses=REGMIX / f"{split}_pile_loss_{size}.csv"
    )


# ----------------------------------------------------------------------------- loading
def _wide(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), n)
    return pd.DataFrame(
        {
            "run": [f"r{i}" for i in range(n)],
            "w_a": w[:, 0],
            "w_b": w[:, 1],
            "w_c": w[:, 2],
            "loss_x": 3 + w[:, 0],
            "loss_y": 2 + w[:, 1],
        }
    )


def test_wide_table_domains_and_names():
    runs = load_mixture_runs(_wide())
    assert runs.domains == ("a", "b", "c")
    assert runs.targets == ("x", "y")
    assert list(runs.meta.columns) == ["run"]
    np.testing.assert_allclose(runs.weights.sum(axis=1), 1.0, atol=1e-12)


def test_long_tables_pivot_to_the_wide_layout():
    df = _wide(8)
    wl = df.melt(
        id_vars="run", value_vars=["w_a", "w_b", "w_c"], var_name="domain", value_name="weight"
    )
    wl["domain"] = wl["domain"].str[2:]
    ll = df.melt(
        id_vars="run", value_vars=["loss_x", "loss_y"], var_name="domain", value_name="loss"
    )
    ll["domain"] = ll["domain"].str[5:]
    runs = load_mixture_runs(wl, losses=ll)
    assert set(runs.domains) == {"a", "b", "c"} and set(runs.targets) == {"x", "y"}
    wide = load_mixture_runs(df)
    got = runs.weights[list(wide.domains)].to_numpy()
    # pivot sorts runs by key; r0..r7 sort as strings the same as by position
    np.testing.assert_allclose(got, wide.weights.to_numpy(), atol=1e-15)


def test_rounded_weights_are_renormalised_with_one_summary_note():
    df = _wide()
    df["w_a"] = (df["w_a"] + 0.004).round(3)
    runs = load_mixture_runs(df)
    np.testing.assert_allclose(runs.weights.sum(axis=1), 1.0, atol=1e-12)
    assert len(runs.notes) == 1 and "renormalised the weights of" in runs.notes[0]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.assign(w_a=d["w_a"] + 0.2), r"row \d+: the weights sum to 1\.2"),
        (lambda d: d.assign(w_b=-d["w_b"]), "is negative"),
        (
            lambda d: d.assign(w_c=np.where(d.index == 3, np.nan, d["w_c"])),
            "row 3, weight column 'w_c'",
        ),
        (
            lambda d: d.assign(w_c=0.0, w_a=d["w_a"] + d["w_c"]),
            r"training domain\(s\) \['w_c'\] have zero weight",
        ),
        (lambda d: d.assign(loss_x=np.nan), r"validation domain\(s\) \['loss_x'\] have no loss"),
        (
            lambda d: d.assign(loss_y=np.where(d.index == 2, -1.0, d["loss_y"])),
            "row 2, loss column 'loss_y'",
        ),
        (lambda d: d.drop(columns=["loss_x", "loss_y"]), "no loss columns found"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_proxy_logs_are_refused_with_one_line(edit, match):
    with pytest.raises(RunLogError, match=match) as info:
        load_mixture_runs(edit(_wide()))
    assert "\n" not in str(info.value)


def test_missing_losses_per_domain_are_allowed():
    df = _wide()
    df.loc[[1, 4], "loss_y"] = np.nan
    runs = load_mixture_runs(df)
    assert runs.losses["y"].isna().sum() == 2 and runs.losses["x"].notna().all()
    fit = fit_datamix(runs, target="y", model="linear", uncertainty="none")
    assert fit.domains["y"].n_runs == len(df) - 2


@needs_regmix
def test_regmix_files_load_with_one_call():
    runs = _regmix("train")
    assert len(runs) == 512 and len(runs.domains) == 17 and len(runs.targets) == 13
    assert "pile_cc" in runs.domains and "pile_cc" in runs.targets
    # 303 rows are off by more than 1e-9 after 3-decimal rounding, the worst by 0.004
    assert runs.notes and "303 of 512" in runs.notes[0] and "0.004" in runs.notes[0]
    assert "run index=" in runs.notes[0]


@needs_regmix
def test_join_without_a_common_key_says_so(tmp_path):
    w = pd.read_csv(REGMIX / "train_mixture_1m.csv").rename(columns={"index": "idx"})
    w.to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(RunLogError, match="no common key column"):
        load_mixture_runs(tmp_path / "w.csv", losses=REGMIX / "train_pile_loss_1m.csv")


# ----------------------------------------------------------------------------- laws
def test_mixing_law_against_hand_computed_values():
    # c + exp(t.r) * (N/n_ref)^-alpha at r = (0.25, 0.75), t = (ln 4, ln 2), N = 4 n_ref,
    # alpha = 0.5: exp(0.25 ln 4 + 0.75 ln 2) = 2^1.25; (4)^-0.5 = 0.5.
    law = mixing_law(["a", "b"], size=True, n_ref=1e8)
    p = {"c": 1.5, "t_a": math.log(4), "t_b": math.log(2), "alpha": 0.5}
    x = {"w_a": np.asarray([0.25]), "w_b": np.asarray([0.75]), "N": np.asarray([4e8])}
    want = 1.5 + 2**1.25 * 0.5
    # float64 arithmetic on a handful of operations: a few ulps, far below any formula error
    assert float(law.predict(p, x)[0]) == pytest.approx(want, rel=1e-13)
    assert float(np.exp(law.log_fn(p, x)[0])) == pytest.approx(want, rel=1e-13)
    lin = linear_law(["a", "b"])
    assert float(lin.predict({"b_a": 2.0, "b_b": 4.0}, x)[0]) == pytest.approx(3.5, rel=1e-15)
    ll = loglinear_law(["a", "b"])
    assert float(ll.predict({"b_a": 0.0, "b_b": math.log(2)}, x)[0]) == pytest.approx(
        2**0.75, rel=1e-13
    )


def test_same_arguments_give_the_same_law_object():
    # one compiled program for every validation domain
    assert make_law("mixing", ["a", "b"]) is make_law("mixing", ("a", "b"))
    with pytest.raises(FitError, match="unknown mixture law"):
        make_law("lightgbm", ["a"])
    with pytest.raises(FitError, match="no size term"):
        make_law("linear", ["a"], size=True)


# ----------------------------------------------------------------------------- fits
def test_nested_fit_recovers_a_simulated_truth():
    truth = random_truth(K=4, seed=3)
    df = simulate_mixture_runs(truth, n_per_size=48, noise=0.005, seed=5)
    fit = fit_datamix(load_mixture_runs(df), target="mean")
    assert fit.nested and fit.converged and len(fit.sizes) == 3
    for i, d in enumerate(truth.valid_domains):
        params, se = fit.domains[d].fit.params, fit.domains[d].fit.standard_errors()
        # 4.5 standard errors: 5 domains x 2 parameters checked, a false alarm rate < 1e-4
        assert abs(params["alpha"] - truth.alpha[i]) < 4.5 * se["alpha"], d
        assert abs(params["c"] - truth.c[i]) < 4.5 * se["c"], d
        # the noise estimate is a sample sd of ~140 residual degrees of freedom: within 20%
        assert fit.domains[d].noise == pytest.approx(0.005, rel=0.2)
    r = np.random.default_rng(0).dirichlet(np.ones(4), 50)
    pred = fit.predict(r, N=4e8)
    true = truth.loss(r, 4e8).mean(axis=1)
    # extrapolating 4x in size with 0.5% noise: predictions within 1% of the truth
    np.testing.assert_allclose(pred["target"], true, rtol=0.01)


@pytest.mark.slow
def test_several_lengths_per_size_nest_a_length_law_or_are_refused():
    """Runs of one size at two token counts (or several checkpoints of each run) nest a
    length law in the mixing law; the regressions (no token/step term) refuse them with
    the selection to make and a pointer to model='mixing'; lengths tied to the size
    (D = 20 N) are one length per size, carried by the size law."""
    frame = pd.read_csv(SIM)
    two = frame.assign(D=np.where(np.arange(len(frame)) % 2, 1e9, 2e9))
    with pytest.raises(FitError, match=r"at N = 2e\+07 were trained for 2 different token"):
        fit_datamix(two, model="linear", uncertainty="none")
    with pytest.raises(FitError, match="model='mixing'"):
        fit_datamix(two, model="loglinear", uncertainty="none")
    nested = fit_datamix(two, uncertainty="none")
    assert nested.nested and nested.length_nested and nested.length_column == "D"
    assert nested.lengths == (1e9, 2e9)
    steps = frame.assign(step=1 + np.arange(len(frame)) % 3)
    with pytest.raises(FitError, match="where='step == 3'"):
        fit_datamix(steps, model="linear", uncertainty="none")
    by_step = fit_datamix(steps, uncertainty="none")
    assert by_step.length_nested and by_step.length_column == "step"
    tied = fit_datamix(frame.assign(D=20 * frame["N"]), uncertainty="none")
    assert tied.nested and not tied.length_nested and len(tied.lengths) == 3
    assert any("carries size and length together" in w for w in tied.warnings)


@pytest.mark.slow
def test_one_scale_fit_refuses_values_at_another_scale():
    truth = random_truth(K=3, seed=1)
    df = simulate_mixture_runs(truth, sizes=(1e8,), n_per_size=40, seed=2)
    fit = fit_datamix(load_mixture_runs(df), target="mean")
    assert not fit.nested and any("only the ranking" in w for w in fit.warnings)
    fit.predict([[0.2, 0.3, 0.5]], N=1e8)  # the proxies' own scale is fine
    with pytest.raises(PlanError, match="values at N = 4e\\+08 cannot be predicted"):
        fit.predict([[0.2, 0.3, 0.5]], N=4e8)


def test_targets_and_their_errors():
    runs = load_mixture_runs(_wide())
    assert target_spec("mean", runs.targets).weights == {"x": 0.5, "y": 0.5}
    assert target_spec("x=3,y=1", runs.targets).weights == {"x": 0.75, "y": 0.25}
    with pytest.raises(FitError, match="target domain 'z' is not a validation domain"):
        fit_datamix(runs, target="z")
    with pytest.raises(FitError, match="not 'domain=number'"):
        target_spec("x=abc", runs.targets)
    with pytest.raises(FitError, match="non-negative"):
        target_spec({"x": -1.0}, runs.targets)


def test_too_few_runs_and_unknown_model():
    runs = load_mixture_runs(_wide(4))
    with pytest.raises(FitError, match="4 proxy runs cannot determine"):
        fit_datamix(runs)
    with pytest.raises(FitError, match="unknown mixture model"):
        fit_datamix(load_mixture_runs(_wide()), model="xgboost")


@pytest.mark.slow
@needs_regmix
def test_regmix_exponential_law_reproduces_the_reference_ranking():
    """Ye et al.'s law on RegMix: Spearman rho 0.965 (1M) / 0.959 (60M) on the 256 held-out
    mixtures, measured with scipy least squares when the data were added (±0.005: the
    issue's tolerance; a different local optimum moves rho by more)."""
    train, test, test60 = _regmix("train"), _regmix("test"), _regmix("test", "60m")
    fit = fit_datamix(train, target="mean", uncertainty="laplace")
    t0 = time.perf_counter()
    fit = fit_datamix(train, target="mean", uncertainty="laplace")
    warm = time.perf_counter() - t0
    pred = fit.predict(test.weights, per_domain=True)
    rho1 = spearmanr(pred["pile_cc"], test.losses["pile_cc"]).correlation
    rho60 = spearmanr(pred["pile_cc"], test60.losses["pile_cc"]).correlation
    assert rho1 == pytest.approx(0.965, abs=0.005)
    assert rho60 == pytest.approx(0.959, abs=0.005)
    # all 13 domains warm: the budget is 10 s on 2 cores (measured ~0.3 s)
    assert warm < 10.0
    lin = fit_datamix(train, target="pile_cc", model="linear", uncertainty="none", validation=[])
    rho_lin = spearmanr(lin.predict(test.weights)["target"], test.losses["pile_cc"]).correlation
    assert rho_lin == pytest.approx(0.902, abs=0.005)


@needs_regmix
@pytest.mark.slow
def test_regmix_pile_cc_intervals_cover_held_out_losses():
    """90% predictive intervals of the law on the 256 held-out 1M Pile-CC losses cover
    85-95% (the issue's band; a binomial sd at n=256 is 1.9 points)."""
    fit = fit_datamix(_regmix("train"), target="pile_cc", validation=[])
    test = _regmix("test")
    pred = fit.predict(test.weights)
    y = test.losses["pile_cc"].to_numpy()
    cover = float(np.mean((y >= pred["pred_lo"]) & (y <= pred["pred_hi"])))
    assert 0.85 <= cover <= 0.95


@needs_regmix
@pytest.mark.slow
def test_regmix_mean_target_intervals_cover_with_shared_run_noise():
    """The mean over 13 validation domains: a run's noise is shared by its domains (the
    fitted residual correlation averages 0.15), so its 90% predictive interval covers the
    256 held-out 1M means at 85-95% (measured 0.926); with the noise taken as independent
    the interval is too narrow (measured 0.81), which the second assertion guards."""
    fit = fit_datamix(_regmix("train"), target="mean", uncertainty="laplace")
    test = _regmix("test")
    y = test.losses[list(fit.domains)].to_numpy().mean(axis=1)
    assert fit.noise_corr is not None and fit.noise_corr.shape == (13, 13)
    off = fit.noise_corr[np.triu_indices(13, 1)]
    assert 0.05 < off.mean() < 0.5
    pred = fit.predict(test.weights)
    cover = float(np.mean((y >= pred["pred_lo"]) & (y <= pred["pred_hi"])))
    assert 0.85 <= cover <= 0.95
    indep = dataclasses.replace(fit, noise_corr=None, _draw_cache={}).predict(test.weights)
    narrow = float(np.mean((y >= indep["pred_lo"]) & (y <= indep["pred_hi"])))
    assert narrow < cover - 0.05
