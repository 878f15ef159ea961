"""Rank-normalised split R-hat and bulk ESS (scalinglaws.uncertainty.mcmc_diagnostics).

Checked three ways: against hand-computed values on tiny chains, against ArviZ's own
estimators (0.x ``arviz`` and the 1.x-series ``arviz_stats``, skipped when not installed),
and on chains whose answer is known (independent draws, AR(1) chains, chains that disagree).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from scalinglaws.uncertainty.mcmc_diagnostics import (
    ess_bulk,
    rank_normalize,
    rhat,
    split_chains,
)


def _chains(seed: int):
    """Varied chains: iid, AR(1), shifted chains, tied values, heavy tails, one chain."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in range(6):
        c, n = (1 if kind == 5 else int(rng.integers(2, 5))), int(rng.integers(5, 400))
        x = rng.standard_normal((c, n))
        if kind == 1:
            for t in range(1, n):
                x[:, t] += 0.9 * x[:, t - 1]
        elif kind == 2:
            x += 0.5 * np.arange(c)[:, None]
        elif kind == 3:
            x = np.round(x, 1)
        elif kind == 4:
            x = rng.standard_cauchy((c, n))
        out.append(x)
    return out


def test_split_and_rank_normalise_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    # Odd length: the middle draw is left out; first and last halves become two chains.
    np.testing.assert_array_equal(split_chains(x), [[1.0, 2.0], [4.0, 5.0]])
    z = rank_normalize(np.array([[3.0, 1.0], [2.0, 2.0]]))
    # Pooled ranks 4, 1, 2.5, 2.5 of S = 4 draws -> Phi^-1((r - 3/8) / 4.25).
    want = scipy.special.ndtri((np.array([[4.0, 1.0], [2.5, 2.5]]) - 0.375) / 4.25)
    np.testing.assert_allclose(z, want, rtol=0, atol=1e-15)


def test_rhat_by_hand_on_two_short_chains():
    # Chains (0,1,2,3) and (10,11,12,13): split -> (0,1), (2,3), (10,11), (12,13). After
    # rank normalisation the four split chains have means z1..z4 of rank pairs (1,2), (3,4),
    # (5,6), (7,8) of S = 8; W and B follow the module docstring's formula.
    x = np.array([[0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0]])
    z = scipy.special.ndtri((np.arange(1, 9) - 0.375) / 8.25).reshape(4, 2)
    w = np.mean(np.var(z, axis=1, ddof=1))
    var_plus = 0.5 * w + np.var(z.mean(axis=1), ddof=1)
    bulk = math.sqrt(var_plus / w)
    assert rhat(x) >= bulk - 1e-12  # the tail value can only raise it
    # Folded draws |x - 6.5| are (6.5, 5.5), (4.5, 3.5), (3.5, 4.5), (5.5, 6.5): within-chain
    # spread equals between-chain spread here, so the bulk value is the maximum.
    assert rhat(x) == pytest.approx(bulk, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_arviz_0x(seed):
    az = pytest.importorskip("arviz")
    if not az.__version__.startswith("0."):
        pytest.skip("arviz 1.x installed; the 1.x comparison is the next test")
    import warnings

    for x in _chains(seed):
        if x.shape[0] < 2:
            continue  # arviz 0.x gives NaN for one chain; here its halves are compared
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_r = float(az.rhat(x))
            want_e = float(az.ess(x, method="bulk"))
        # Same estimator in float64: agreement to rounding (observed <= 4e-15 relative).
        assert rhat(x) == pytest.approx(want_r, rel=1e-10)
        assert ess_bulk(x) == pytest.approx(want_e, rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_arviz_stats(seed):
    arviz_stats = pytest.importorskip("arviz_stats")
    for x in _chains(seed):
        if x.shape[0] < 2:
            continue  # arviz_stats wants at least two chains
        want_r = float(arviz_stats.rhat(x))
        want_e = float(arviz_stats.ess(x, method="bulk"))
        assert rhat(x) == pytest.approx(want_r, rel=1e-10)
        assert ess_bulk(x) == pytest.approx(want_e, rel=1e-10)


def test_known_answers():
    rng = np.random.default_rng(1)
    iid = rng.standard_normal((4, 2000))
    # Independent draws: R-hat ~ 1 (sd of its estimate ~1e-3 here), ESS ~ 8000 (+-10%).
    assert abs(rhat(iid) - 1) < 0.01
    assert 7000 < ess_bulk(iid) < 9000
    # AR(1) with phi = 0.9: tau = (1 + phi) / (1 - phi) = 19, so ESS ~ 8000 / 19 ~ 420;
    # the estimate's sampling error is ~15% at this length, hence the band.
    ar = rng.standard_normal((4, 2000))
    for t in range(1, ar.shape[1]):
        ar[:, t] += 0.9 * ar[:, t - 1]
    assert 300 < ess_bulk(ar) < 600
    # Chains centred 3 sd apart do not mix: R-hat far above the 1.01 threshold.
    apart = iid + 3.0 * np.arange(4)[:, None]
    assert rhat(apart) > 1.5
    # Same location, different scale: only the folded (tail) R-hat sees it.
    scaled = iid * np.array([[1.0], [1.0], [4.0], [4.0]])
    assert rhat(scaled) > 1.05


def test_one_chain_is_split_in_two():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000)
    assert abs(rhat(x) - 1) < 0.02  # two halves of one stationary chain agree
    drift = x + np.linspace(0.0, 4.0, 1000)
    assert rhat(drift) > 1.5  # a drifting chain's halves do not


def test_degenerate_input_gives_nan():
    assert math.isnan(rhat(np.ones((2, 50))))
    assert math.isnan(ess_bulk(np.ones((2, 50))))
    assert math.isnan(rhat(np.zeros((2, 3))))
    x = np.random.default_rng(0).standard_normal((2, 50))
    x[0, 3] = np.nan
    assert math.isnan(rhat(x))
    with pytest.raises(ValueError, match="chains, draws"):
        rhat(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("module", ["arviz", "arviz_base"])
def test_export_builds_either_arviz_series(module):
    """``from_dict`` of ArviZ 0.x (keywords per group) and of the 1.x series (one mapping)."""
    az = pytest.importorskip(module)
    from scalinglaws.uncertainty.bayes import _arviz_from_dict

    post = {"a": np.arange(20.0).reshape(2, 10), "b": np.ones((2, 10))}
    stats = {"diverging": np.zeros((2, 10), dtype=bool)}
    out = _arviz_from_dict(az, post, stats)
    assert set(out.posterior.data_vars) == {"a", "b"}
    np.testing.assert_array_equal(np.asarray(out.posterior["a"]), post["a"])
    assert "diverging" in out.sample_stats
    if module == "arviz_base":
        assert type(out).__name__ == "DataTree"


def test_average_ranks_match_scipy_rankdata():
    """The package ranks without importing scipy.stats; exact agreement with
    ``scipy.stats.rankdata(method="average")`` on ties, continuous values and NaN."""
    import scipy.stats

    from scalinglaws.uncertainty.mcmc_diagnostics import _average_ranks

    rng = np.random.default_rng(1)
    cases = [rng.integers(0, 4, 30).astype(float), rng.standard_normal(57), np.ones(5)]
    cases += [np.array([2.0]), np.array([1.0, np.nan, 3.0]), np.array([3.0, -np.inf, np.inf])]
    for v in cases:
        np.testing.assert_array_equal(_average_ranks(v), scipy.stats.rankdata(v, method="average"))
