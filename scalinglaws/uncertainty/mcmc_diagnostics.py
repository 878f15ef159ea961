"""Convergence diagnostics of Markov chains: rank-normalised split R-hat and bulk ESS.

The estimators of Vehtari, Gelman, Simpson, Carpenter and Buerkner (2021), "Rank-
normalization, folding, and localization: an improved R-hat for assessing convergence of
MCMC", Bayesian Analysis 16(2), the ones ArviZ and Stan report:

* **Split chains.** Each chain's draws are cut into a first and a last half (the middle
  draw of an odd-length chain is left out), so a chain that drifts counts as two chains
  that disagree.
* **Rank normalisation.** All draws are replaced by their pooled ranks ``r`` (ties get the
  average rank) mapped through the normal quantile function at ``(r - 3/8) / (S + 1/4)``
  (Blom's offsets; S draws in all), which makes the diagnostics defined for heavy tails
  and invariant to monotone transformations.
* **R-hat** of split, rank-normalised draws is ``sqrt(var_plus / W)``, with ``W`` the mean
  within-chain variance, ``B / n`` the variance of the chain means and
  ``var_plus = (n - 1) / n * W + B / n`` (n draws per split chain). The reported value is
  the larger of this ("bulk") and the same computed on the folded draws
  ``|x - median(x)|`` ("tail"), which catches chains that agree in location but not in
  scale.
* **Bulk ESS** is ``M n / tau`` on the split, rank-normalised draws (M split chains), with
  the integrated autocorrelation time ``tau = -1 + 2 sum_t rho_t`` from the combined
  autocorrelations ``rho_t = 1 - (W - mean_m acov_m(t)) / var_plus`` (acov_m the biased
  autocovariance of chain m), summed over Geyer's initial positive sequence of pairs
  ``rho_{2k} + rho_{2k+1}`` made monotone (Geyer 1992). When the sequence is cut by a
  negative pair whose even term is still positive, that term is kept; and ``tau`` is not
  allowed below ``1 / log10(M n)``, which bounds the ESS of antithetic chains.

This module has no dependency beyond NumPy and SciPy, so diagnostics do not need ArviZ (its
import alone takes one to two seconds, and its 1.x series moved these functions); the
values agree with ArviZ 0.x ``rhat(method="rank")`` and ``ess(method="bulk")`` to rounding
(tests/uncertainty/test_mcmc_diagnostics.py).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

__all__ = ["ess_bulk", "rank_normalize", "rhat", "split_chains"]


def _as_chains(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"draws must be (chains, draws), not shape {a.shape}")
    return a


def split_chains(x) -> np.ndarray:
    """``(chains, n)`` draws as ``(2 chains, n // 2)``: first and last half of each chain."""
    a = _as_chains(x)
    half = a.shape[1] // 2
    return np.concatenate([a[:, :half], a[:, a.shape[1] - half :]], axis=0)


def rank_normalize(x) -> np.ndarray:
    """Normal scores of the pooled ranks of ``x`` (same shape), Blom's offsets 3/8."""
    a = np.asarray(x, dtype=float)
    ranks = _average_ranks(a.ravel()).reshape(a.shape)
    return scipy.special.ndtri((ranks - 0.375) / (a.size + 0.25))


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``v``, tied values sharing the mean of their ranks; all NaN when any
    value is NaN (NaN has no rank). Here rather than ``scipy.stats.rankdata``: importing
    ``scipy.stats`` costs most of a second, paid by every command line call with NUTS."""
    if np.isnan(v).any():
        return np.full(v.shape, np.nan)
    order = np.argsort(v, kind="stable")
    ordered = v[order]
    first = np.ones(v.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(first) - 1  # tie group of each sorted position
    starts = np.flatnonzero(first)  # 0-based sorted position where each group begins
    ends = np.append(starts[1:], v.size)  # one past its last position
    ranks = np.empty(v.size)
    ranks[order] = 0.5 * (starts + 1 + ends)[group]
    return ranks


def _rhat_split(z: np.ndarray) -> float:
    """R-hat of already split chains ``z`` (chains, n)."""
    n = z.shape[1]
    w = float(np.mean(np.var(z, axis=1, ddof=1)))
    b_over_n = float(np.var(np.mean(z, axis=1), ddof=1))
    var_plus = (n - 1) / n * w + b_over_n
    return math.sqrt(var_plus / w)


def _usable(a: np.ndarray) -> bool:
    return a.shape[1] >= 4 and bool(np.all(np.isfinite(a))) and float(np.ptp(a)) > 0


def rhat(x) -> float:
    """Rank-normalised split R-hat: max of bulk and folded (tail) values.

    Args:
        x: Draws, ``(chains, draws)`` (a 1-D array is one chain).

    Returns:
        R-hat (1 at convergence), or NaN for fewer than 4 draws per chain, non-finite
        draws or draws that are all equal.
    """
    a = _as_chains(x)
    if not _usable(a):
        return math.nan
    s = split_chains(a)
    bulk = _rhat_split(rank_normalize(s))
    tail = _rhat_split(rank_normalize(np.abs(s - np.median(s))))
    return max(bulk, tail)


def _autocov(z: np.ndarray) -> np.ndarray:
    """Biased autocovariance of each row (divided by n at every lag), by FFT."""
    n = z.shape[1]
    c = z - z.mean(axis=1, keepdims=True)
    size = 1 << int(2 * n - 1).bit_length()  # zero padding: no circular wrap-around
    f = np.fft.rfft(c, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def _ess(z: np.ndarray) -> float:
    """Effective sample size of chains ``z`` (chains, n) (Geyer's monotone sequence)."""
    m, n = z.shape
    acov = _autocov(z)
    mean_acov = acov.mean(axis=0)
    w = mean_acov[0] * n / (n - 1.0)  # mean within-chain variance (unbiased)
    var_plus = w * (n - 1.0) / n
    if m > 1:
        var_plus += float(np.var(z.mean(axis=1), ddof=1))
    rho = np.zeros(n)
    rho[0] = 1.0
    rho[1] = 1.0 - (w - mean_acov[1]) / var_plus
    even, odd = rho[0], rho[1]
    t = 1
    # Initial positive sequence: pairs (rho[t+1], rho[t+2]) while the previous pair sums > 0.
    while t < n - 3 and even + odd > 0.0:
        even = 1.0 - (w - mean_acov[t + 1]) / var_plus
        odd = 1.0 - (w - mean_acov[t + 2]) / var_plus
        if even + odd >= 0:
            rho[t + 1] = even
            rho[t + 2] = odd
        t += 2
    last = t - 2
    if even > 0:  # the even term of the cutting pair is still informative
        rho[last + 1] = even
    # Initial monotone sequence: no pair larger than the pair before it.
    t = 1
    while t <= last - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = m * n
    tau = -1.0 + 2.0 * float(np.sum(rho[: last + 1])) + float(np.sum(rho[last + 1 : last + 2]))
    tau = max(tau, 1.0 / math.log10(total))
    return total / tau


def ess_bulk(x) -> float:
    """Bulk effective sample size: ESS of the split, rank-normalised draws.

    Args:
        x: Draws, ``(chains, draws)`` (a 1-D array is one chain).

    Returns:
        The ESS (in draws; can exceed the number of draws for antithetic chains), or NaN
        for fewer than 4 draws per chain, non-finite draws or draws that are all equal.
    """
    a = _as_chains(x)
    if not _usable(a):
        return math.nan
    return _ess(rank_normalize(split_chains(a)))
