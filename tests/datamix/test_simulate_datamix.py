"""The data-mixture proxy-study simulator: the law, the noise, the mixtures, the optimum.

Also checks that the bundled ``data/datamix_sim`` files are what their recorded seeds
regenerate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scalinglaws.errors import ScalingLawsError
from scalinglaws.simulate import (
    MixtureTruth,
    random_truth,
    round_mixtures,
    sample_mixtures,
    simulate_mixture_runs,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "datamix_sim"

# The law is a handful of float64 operations (a dot product, exp, a power, a product and
# a sum), each within an ulp or two (~1e-16 relative); against hand-computed values that
# are exact in decimal, a few ulps of disagreement is all rounding can produce, so 1e-12
# leaves four orders of margin while any slip in the formula (sign, N_ref, a transposed
# t) shows up at 1e-3 or more.
LAW_RTOL = 1e-12


def _two_by_two() -> MixtureTruth:
    ln2 = math.log(2.0)
    return MixtureTruth(
        train_domains=("a", "b"),
        valid_domains=("a", "b"),
        c=(2.0, 1.5),
        k=(0.4, 0.8),
        t=((-2 * ln2, 0.0), (ln2, -3 * ln2)),
        alpha=(0.25, 0.5),
        n_ref=1e8,
    )


def test_law_at_hand_computed_points():
    truth = _two_by_two()
    # r = (1/2, 1/2), N = 16 N_ref:
    #   a: exp(-ln2) = 1/2, 16^-0.25 = 1/2 -> 2 + 0.4 * 1/4 = 2.1
    #   b: exp(ln2/2 - 3 ln2/2) = 1/2, 16^-0.5 = 1/4 -> 1.5 + 0.8 / 8 = 1.6
    # r = (1, 0), N = N_ref:  a: 2 + 0.4/4 = 2.1;  b: 1.5 + 0.8 * 2 = 3.1
    # r = (0, 1), N = N_ref / 16:  a: 2 + 0.4 * 2 = 2.8;  b: 1.5 + 0.8 / 8 * 4 = 1.9
    R = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    N = np.array([16e8, 1e8, 1e8 / 16])
    expect = np.array([[2.1, 1.6], [2.1, 3.1], [2.8, 1.9]])
    got = truth.loss(R, N)
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, expect, rtol=LAW_RTOL, atol=0)
    # One mixture, scalar N: shape (1, V).
    np.testing.assert_allclose(truth.loss([0.5, 0.5], 16e8), expect[:1], rtol=LAW_RTOL)


def test_loss_rejects_bad_mixtures():
    truth = _two_by_two()
    with pytest.raises(ScalingLawsError, match="sum to 1"):
        truth.loss([50.0, 50.0], 1e8)
    with pytest.raises(ScalingLawsError, match="non-negative"):
        truth.loss([1.5, -0.5], 1e8)
    with pytest.raises(ScalingLawsError, match="columns"):
        truth.loss([1.0, 0.0, 0.0], 1e8)
    with pytest.raises(ScalingLawsError, match="N"):
        truth.loss([1.0, 0.0], 0.0)


def test_truth_validation_and_round_trip():
    truth = random_truth(4, V=6, seed=3)
    assert truth.train_domains == ("web", "code", "books", "wiki")
    assert truth.valid_domains == ("web", "code", "books", "wiki", "web_1", "code_1")
    record = json.loads(json.dumps(truth.to_dict()))
    assert MixtureTruth.from_dict(record) == truth
    with pytest.raises(ScalingLawsError, match="c must be"):
        MixtureTruth(("a",), ("a",), c=(-1.0,), k=(1.0,), t=((0.0,),), alpha=(0.3,))
    with pytest.raises(ScalingLawsError, match="t must be"):
        MixtureTruth(("a", "b"), ("a",), c=(1.0,), k=(1.0,), t=((0.0,),), alpha=(0.3,))
    with pytest.raises(ScalingLawsError, match="unique"):
        MixtureTruth(("a", "a"), ("a",), c=(1.0,), k=(1.0,), t=((0.0, 0.0),), alpha=(0.3,))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_truth_ranges(seed):
    truth = random_truth(6, seed=seed)
    p = truth.arrays()
    assert np.all((p["c"] >= 1.5) & (p["c"] <= 3.0))
    assert np.all((p["alpha"] >= 0.2) & (p["alpha"] <= 0.4))
    t = p["t"]
    own = np.diag(t)
    assert np.all((own >= -3.0) & (own <= -1.5))
    off = t[~np.eye(6, dtype=bool)]
    assert np.all((off >= -1.0) & (off <= 0.3))
    # Every validation domain gains most from its own training domain.
    assert np.all(np.argmin(t, axis=1) == np.arange(6))
    reducible = truth.loss(np.full(6, 1 / 6), truth.n_ref)[0] - p["c"]
    assert np.all((reducible >= 0.2 - 1e-12) & (reducible <= 0.6 + 1e-12))


def test_columns_and_rows_sum_to_one():
    truth = random_truth(5, seed=0)
    df = simulate_mixture_runs(truth, n_per_size=50, seed=1)
    d = truth.train_domains
    assert list(df.columns) == ["run", "N", *(f"w_{x}" for x in d), *(f"loss_{x}" for x in d)]
    assert len(df) == 150 and df["run"].is_unique
    assert df["run"].iloc[0] == "N2e+07-m000"
    assert sorted(set(df["N"])) == [2e7, 5e7, 1e8]
    W = df[[f"w_{x}" for x in d]].to_numpy()
    assert np.all(W >= 0)
    assert np.max(np.abs(W.sum(axis=1) - 1.0)) <= 1e-12
    # Three decimals, as published.
    np.testing.assert_allclose(W, np.round(W, 3), rtol=0, atol=1e-12)
    # Same mixtures at every size.
    np.testing.assert_array_equal(W[:50], W[50:100])
    assert df.attrs["seed"] == 1 and df.attrs["truth"] == truth.to_dict()
    other = simulate_mixture_runs(truth, n_per_size=50, seed=1, same_mixtures=False)
    W2 = other[[f"w_{x}" for x in d]].to_numpy()
    assert not np.array_equal(W2[:50], W2[50:100])
    assert np.max(np.abs(W2.sum(axis=1) - 1.0)) <= 1e-12


def test_round_mixtures_keeps_sums():
    rng = np.random.default_rng(5)
    W = rng.dirichlet(np.full(7, 0.3), size=5000)
    out = round_mixtures(W)
    assert np.max(np.abs(out.sum(axis=1) - 1.0)) <= 1e-12
    assert np.all(out >= 0) and np.max(np.abs(out - W)) < 0.004


def test_same_seed_same_data():
    truth = random_truth(5, seed=0)
    a = simulate_mixture_runs(truth, seed=7)
    b = simulate_mixture_runs(truth, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = simulate_mixture_runs(truth, seed=8)
    assert not np.allclose(a["loss_web"], c["loss_web"])
    assert random_truth(5, seed=4) == random_truth(5, seed=4)
    assert random_truth(5, seed=4) != random_truth(5, seed=5)


def test_noise_has_the_stated_sd():
    truth = random_truth(5, seed=0)
    noise = 0.005
    df = simulate_mixture_runs(truth, sizes=(3e7, 3e8), n_per_size=1000, noise=noise, seed=11)
    d = truth.train_domains
    W = df[[f"w_{x}" for x in d]].to_numpy()
    true = truth.loss(W, df["N"].to_numpy())
    z = np.log(df[[f"loss_{x}" for x in d]].to_numpy() / true).ravel()
    n = z.size  # 10,000 independent N(0, noise^2) draws; the mean is known (0)
    # sum z^2 / noise^2 ~ chi-square(n): accept between its 0.05% and 99.95% quantiles
    # (for n = 10,000 about +-3.3 sd, i.e. the sample sd within about 2.3% of noise).
    stat = float(np.sum(z**2)) / noise**2
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], n)
    assert lo < stat < hi, (stat, lo, hi)
    assert abs(z.mean()) < 4 * noise / math.sqrt(n)
    # No noise: the true losses exactly.
    exact = simulate_mixture_runs(truth, n_per_size=5, noise=0.0, seed=2)
    W = exact[[f"w_{x}" for x in d]].to_numpy()
    np.testing.assert_allclose(
        exact[[f"loss_{x}" for x in d]].to_numpy(),
        truth.loss(W, exact["N"].to_numpy()),
        rtol=1e-15,
    )


@pytest.mark.parametrize("target", ["mean", "code", {"web": 1.0, "books": 3.0}])
def test_optimum_beats_random_mixtures(target):
    truth = random_truth(5, seed=2403)
    n = 3e8
    opt = truth.optimum(target, N=n)
    r = opt.r
    assert np.all(r >= 0) and abs(r.sum() - 1.0) <= 1e-12
    R = sample_mixtures(2000, 5, seed=99, decimals=None)
    if target == "mean":
        w = np.full(5, 0.2)
    elif isinstance(target, str):
        w = np.eye(5)[truth.valid_domains.index(target)]
    else:
        w = np.array([0.25, 0, 0.75, 0, 0])
    random_losses = truth.loss(R, n) @ w
    assert opt.loss <= random_losses.min()
    assert opt.loss == pytest.approx(float(truth.loss(r, n)[0] @ w), rel=1e-14)
    # Small feasible moves along the simplex do not improve it (a local, hence global,
    # minimum of the convex objective).
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = r + 1e-3 * (rng.dirichlet(np.ones(5)) - r)
        assert float(truth.loss(q, n)[0] @ w) >= opt.loss - 1e-12


def test_optimum_respects_bounds():
    truth = random_truth(5, seed=2403)
    bounds = {"web": (0.1, 0.2), "code": (None, 0.05), "books": (0.2, 0.3)}
    opt = truth.optimum("mean", N=1e8, constraints=bounds)
    w = opt.weights
    assert 0.1 - 1e-12 <= w["web"] <= 0.2 + 1e-12
    assert 0.0 <= w["code"] <= 0.05 + 1e-12
    assert 0.2 - 1e-12 <= w["books"] <= 0.3 + 1e-12
    assert all(x >= 0 for x in w.values()) and abs(sum(w.values()) - 1.0) <= 1e-12
    # Random feasible mixtures: lower bounds plus a Dirichlet share of the rest, kept
    # when within the upper bounds.
    lo = np.array([0.1, 0.0, 0.2, 0.0, 0.0])
    hi = np.array([0.2, 0.05, 0.3, 1.0, 1.0])
    rng = np.random.default_rng(1)
    R = lo + (1 - lo.sum()) * rng.dirichlet(np.ones(5), size=100_000)
    R = R[np.all(R <= hi, axis=1)][:2000]
    assert len(R) == 2000
    assert opt.loss <= truth.loss(R, 1e8).mean(axis=1).min()
    # The bounds bind: the unconstrained optimum is not feasible and is lower.
    free = truth.optimum("mean", N=1e8)
    assert free.loss < opt.loss
    with pytest.raises(ScalingLawsError, match="no mixture"):
        truth.optimum(constraints={"web": (0.6, None), "code": (0.6, None)})
    with pytest.raises(ScalingLawsError, match="unknown"):
        truth.optimum(constraints={"nope": (0.1, 0.2)})
    with pytest.raises(ScalingLawsError, match="target"):
        truth.optimum("nope")


def test_bundled_csv_matches_regeneration():
    record = json.loads((DATA / "truth.json").read_text())
    truth = MixtureTruth.from_dict(record["truth"])
    # The truth is what random_truth draws from the recorded seed.
    drawn = random_truth(record["K"], seed=record["truth_seed"])
    for a, b in zip(drawn.arrays().values(), truth.arrays().values(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert drawn.train_domains == truth.train_domains
    runs = simulate_mixture_runs(
        truth,
        sizes=record["sizes"],
        n_per_size=record["n_per_size"],
        noise=record["noise"],
        seed=record["seed"],
        same_mixtures=record["same_mixtures"],
        concentration=record["concentration"],
    )
    csv = pd.read_csv(DATA / "runs.csv")
    assert list(csv.columns) == list(runs.columns)
    assert list(csv["run"]) == list(runs["run"])
    num = [c for c in runs.columns if c != "run"]
    # The CSV holds 10 significant digits.
    np.testing.assert_allclose(csv[num].to_numpy(), runs[num].to_numpy(), rtol=1e-9, atol=0)
    w = [c for c in csv.columns if c.startswith("w_")]
    assert np.max(np.abs(csv[w].to_numpy().sum(axis=1) - 1.0)) <= 1e-12
    # The recorded optimum is the truth's.
    for rec in record["optimum_mean"]:
        opt = truth.optimum("mean", N=rec["N"])
        assert opt.loss == pytest.approx(rec["loss"], rel=1e-12)
        np.testing.assert_allclose(opt.r, list(rec["weights"].values()), atol=1e-6)
