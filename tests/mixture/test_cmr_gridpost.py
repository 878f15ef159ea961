"""Exact grid posterior of the CMR loss-change curves (:mod:`scalinglaws.mixture.gridpost`).

Checks, each against an independent computation: the closed-form marginal likelihood
(numerical integral over sigma, the coefficients integrated through the n x n marginal
covariance), the fast product-grid path (against the point-by-point one), the
conditional draws (Monte Carlo moments), the grid quadrature with refinement (a
200,001-point direct normalisation) and frequentist coverage on simulated curves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from scalinglaws.mixture.gridpost import (
    PRIOR_COEF_SCALE,
    conditional_draws,
    grid_log_posterior,
    grid_posterior,
    grid_posterior_curves,
    log_marginal,
)
from scalinglaws.simulate.cmr import simulate_cpt_curves


def _design(split, t, u):
    t = np.asarray(t, float)
    if split == "domain":
        return np.stack([t ** u[0], np.ones_like(t)], -1)
    return np.stack([t ** u[0], t ** (u[0] + math.exp(u[1])), np.ones_like(t)], -1)


def _anchor_design(split, t, u):
    """The basis at the anchors: first, (general only) geometric-middle, last checkpoint."""
    lo, hi = float(np.min(t)), float(np.max(t))
    anchors = [lo, hi] if split == "domain" else [lo, math.sqrt(lo * hi), hi]
    return _design(split, anchors, u)


def _prior_precision(split, t, u, sigma_ref):
    """V0^-1 = (sigma_ref / tau)^2 A^T A: N(0, tau^2) on each anchor value (at sigma_ref)."""
    a = _anchor_design(split, t, u)
    return (sigma_ref / PRIOR_COEF_SCALE) ** 2 * a.T @ a


def _small_curve(split, n=8, seed=0):
    rng = np.random.default_rng(seed)
    t = np.geomspace(0.2, 20.0, n)
    if split == "domain":
        y = -0.08 * t**0.15 + 0.01
    else:
        y = 0.02 * t**0.35 - 0.003 * t**0.7
    return t, y + 0.005 * rng.standard_normal(n)


def _brute_log_marginal(split, t, y, sigma_ref, u):
    """log of int N(y | X a, s2 I) N(a | 0, s2 V0) ds2 / s2, a integrated analytically.

    V0 = (tau / sigma_ref)^2 (A^T A)^-1: the prior puts N(0, s2 (tau / sigma_ref)^2) on
    the curve's value at each anchor (A a), independently.

    Given s2, y ~ N(0, s2 S) with S = I + X V0 X^T (n x n, numpy slogdet), so only the
    one-dimensional integral over v = log s2 is numerical (adaptive quadrature).
    """
    x = _design(split, t, u)
    n = len(y)
    v0 = np.linalg.inv(_prior_precision(split, t, u, sigma_ref))
    s = np.eye(n) + x @ v0 @ x.T
    _, logdet = np.linalg.slogdet(s)
    q = float(y @ np.linalg.solve(s, y))

    def log_f(v):
        return (
            -0.5 * n * math.log(2 * math.pi) - 0.5 * n * v - 0.5 * logdet - 0.5 * q * math.exp(-v)
        )

    peak = math.log(q / n)  # maximiser of log_f
    top = log_f(peak)
    val, err = integrate.quad(
        lambda v: math.exp(log_f(v) - top), peak - 30, peak + 30, epsabs=0, epsrel=1e-12, limit=200
    )
    assert err < 1e-10 * val
    return top + math.log(val)


@pytest.mark.parametrize("split", ["domain", "general"])
def test_marginal_likelihood_matches_numerical_integral(split):
    # Differences of log p(y|s) between exponent values are what the posterior uses; the
    # quadrature is accurate to ~1e-12 and the closed form is exact, so 1e-6 relative on
    # the differences (and 1e-9 on the values themselves) leaves room only for round-off.
    t, y = _small_curve(split)
    sigma_ref = 0.005
    pts = [[0.15], [-0.4], [1.2]] if split == "domain" else [[0.35, -1.0], [-0.2, 0.3], [0.8, -3.5]]
    got = log_marginal(split, t, y, sigma_ref, pts)
    want = np.array([_brute_log_marginal(split, t, y, sigma_ref, u) for u in pts])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    dg, dw = got[1:] - got[0], want[1:] - want[0]
    np.testing.assert_allclose(dg, dw, rtol=1e-6)


@pytest.mark.slow
def test_product_grid_path_matches_point_path():
    # The grid pass builds X^T X of every cell from matrix products (T^s3 = T^s2 T^gap);
    # the point path forms X per point. Same model, so the first-pass cell masses agree to
    # round-off, amplified by the condition number of P. Away from a constant power
    # column (|s2| and |s3| >= 0.05) that is <~1e8: 1e-7 relative on cells with mass
    # > 1e-12. Where T^s2 or T^s3 is within 0.05 of a constant it is collinear with the
    # offset column and the prior on the anchor values does not regularise that direction
    # (it is flat in the data and at the anchors alike): P's condition number reaches
    # ~1e12 and the two paths' round-off differs by up to 5e-4 relative (seen on this
    # curve, 211 cells holding 0.09% of the mass): 1e-3 there, and the mass-weighted
    # relative difference over all cells, which is what any posterior summary sees, must
    # stay below 1e-7 (seen: 5e-9).
    t, y = _small_curve("general", n=30, seed=1)
    post = grid_posterior("general", t, y, 0.005)
    assert post.passes == 1
    a2, ag = post.axes
    pts = np.stack(np.meshgrid(a2, ag, indexing="ij"), -1).reshape(-1, 2)
    lp = grid_log_posterior("general", t, y, 0.005, pts)
    mass = np.exp(lp - lp.max())
    mass = (mass / mass.sum()).reshape(post.mass.shape)
    big = mass > 1e-12
    s2 = a2[:, None] + 0 * ag[None, :]
    s3 = a2[:, None] + np.exp(ag)[None, :]
    near_const = (np.abs(s2) < 0.05) | (np.abs(s3) < 0.05)
    ok = big & ~near_const
    np.testing.assert_allclose(post.mass[ok], mass[ok], rtol=1e-7)
    np.testing.assert_allclose(post.mass[big], mass[big], rtol=1e-3)
    rel = np.abs(post.mass[big] - mass[big]) / mass[big]
    assert float(np.sum(rel * mass[big])) < 1e-7


@pytest.mark.parametrize("split", ["domain", "general"])
def test_conditional_draws_have_the_exact_moments(split):
    # At fixed exponents a ~ m + sigma N(0, P^-1), sigma^2 ~ InvGamma(n/2, b): mean m and
    # covariance E[sigma^2] P^-1 = b / (n/2 - 1) P^-1 (m, P, b computed here in numpy).
    # 20,000 draws; every mean and covariance entry within 5 Monte Carlo standard errors.
    t, y = _small_curve(split, n=30, seed=2)
    sigma_ref = 0.004
    u = [0.2] if split == "domain" else [0.3, math.log(0.4)]
    k = 20_000
    d = conditional_draws(split, t, y, sigma_ref, np.tile(u, (k, 1)), np.random.default_rng(5))
    keys = ["alpha1", "beta1"] if split == "domain" else ["alpha2", "alpha3", "beta2"]
    a = np.stack([d[key] for key in keys], -1)
    x = _design(split, t, u)
    p = x.T @ x + _prior_precision(split, t, u, sigma_ref)
    m = np.linalg.solve(p, x.T @ y)
    b = 0.5 * (y @ y - m @ p @ m)
    cov = b / (len(y) / 2 - 1) * np.linalg.inv(p)
    se_mean = np.sqrt(np.diag(cov) / k)
    assert np.all(np.abs(a.mean(0) - m) < 5 * se_mean)
    dev = a - a.mean(0)
    prods = dev[:, :, None] * dev[:, None, :]
    se_cov = prods.std(0) / math.sqrt(k)
    assert np.all(np.abs(prods.mean(0) - cov) < 5 * se_cov)
    if split == "general":
        np.testing.assert_allclose(d["s3"], 0.3 + 0.4)


def _domain_curve(n, noise, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.2, 20.0, n)
    return t, -0.1 * t**0.15 + noise * rng.standard_normal(n)


@pytest.mark.parametrize(
    ("n", "noise", "refines"),
    [(100, 1e-3, True), (12, 0.02, False)],
    ids=["sharp-refined", "broad"],
)
def test_grid_posterior_matches_fine_quadrature(n, noise, refines):
    # Posterior mean and sd of s1 from the default grid (with refinement when sharp)
    # against a direct normalisation on 200,001 points over [-5, 5] (spacing 5e-5, >= 100
    # points per sd): the default grid's quadrature error must stay below 1% of the sd.
    t, y = _domain_curve(n, noise, seed=7)
    post = grid_posterior("domain", t, y, noise)
    assert post.converged
    assert (post.passes > 1) == refines
    c, w, h = post.axes[0], post.mass, post.widths[0]
    mean = np.sum(w * c)
    sd = math.sqrt(np.sum(w * (c - mean) ** 2) + h**2 / 12)  # + uniform jitter in a cell
    fine = np.linspace(-5.0, 5.0, 200_001)
    lp = grid_log_posterior("domain", t, y, noise, fine)
    wf = np.exp(lp - lp.max())
    wf /= wf.sum()
    mean_f = np.sum(wf * fine)
    sd_f = math.sqrt(np.sum(wf * (fine - mean_f) ** 2))
    assert abs(mean - mean_f) < 0.01 * sd_f
    assert sd == pytest.approx(sd_f, rel=0.01)
    assert post.effective_cells > 1 / post.max_cell_mass


def _sigma_ref(t, y):
    """Residual RMS of least squares at the best s1 on a grid (the point fit's scale)."""
    best = math.inf
    for s in np.linspace(-2.0, 2.0, 401):
        x = np.stack([t**s, np.ones_like(t)], -1)
        r = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        best = min(best, float(r @ r))
    return math.sqrt(best / len(t))


def test_coverage_on_simulated_domain_curves():
    # 96 simulated domain curves (4 models x 6 ratios x 4 noise seeds, 100 checkpoints,
    # Gaussian noise 1e-3). The 90% central intervals of s1 and of dL at the last
    # checkpoint must cover the truth at 0.9 within 3 binomial standard errors (0.092).
    xs, ys, truths = [], [], []
    for seed in range(4):
        runs, truth = simulate_cpt_curves(noise=1e-3, seed=seed)
        dom = runs[runs["split"] == "domain"]
        for (model, ratio), g in dom[dom["tokens"] > 0].groupby(["model", "ratio"]):
            base = truth["models"][model]["baseline"]["domain"]
            xs.append(g["tokens"].to_numpy() / truth["token_unit"])
            ys.append(g["loss"].to_numpy() - base)
            truths.append(truth["models"][model]["ratios"][ratio]["domain"])
    srefs = [_sigma_ref(x, y) for x, y in zip(xs, ys, strict=True)]
    draws, diags = grid_posterior_curves("domain", xs, ys, srefs, draws=2000, seeds=range(len(xs)))
    assert all(d["converged"] and not d["problems"] for d in diags)
    hit_s, hit_v = [], []
    for d, x, tr in zip(draws, xs, truths, strict=True):
        lo, hi = np.quantile(d["s1"], [0.05, 0.95])
        hit_s.append(lo <= tr["s1"] <= hi)
        v = d["alpha1"] * x[-1] ** d["s1"] + d["beta1"]
        v_true = tr["alpha1"] * x[-1] ** tr["s1"] + tr["beta1"]
        lo, hi = np.quantile(v, [0.05, 0.95])
        hit_v.append(lo <= v_true <= hi)
    se = math.sqrt(0.9 * 0.1 / len(xs))
    assert len(xs) >= 40
    assert abs(np.mean(hit_s) - 0.9) < 3 * se, np.mean(hit_s)
    assert abs(np.mean(hit_v) - 0.9) < 3 * se, np.mean(hit_v)


@pytest.mark.slow
def test_coverage_on_simulated_general_curves():
    # The general law's two exponents are weakly identified and its likelihood is
    # multimodal; the prior on the curve's anchor values (not on its coefficients) is what
    # keeps the posterior from piling onto nearly collinear columns. 96 simulated curves
    # (4 models x 6 ratios x 4 seeds, 100 checkpoints, noise 1e-3); the 90% intervals of
    # the curve's value at its last and middle checkpoint and at T = 40 must cover the
    # truth at 0.9 within 3 binomial standard errors (0.092). With a N(0, 1) prior on the
    # coefficients instead, the last-checkpoint value covered 0.78 and T = 40 0.71 on such
    # curves; this prior gives 0.92 / 0.89 / 0.91 (seeds 2000-2003). sigma_ref is the
    # residual RMS about the true curve (the noise scale the point fit estimates).
    xs, ys, truths, srefs = [], [], [], []
    for seed in range(2000, 2004):
        runs, truth = simulate_cpt_curves(noise=1e-3, seed=seed)
        gen = runs[runs["split"] == "general"]
        for (model, ratio), g in gen[gen["tokens"] > 0].groupby(["model", "ratio"]):
            base = truth["models"][model]["baseline"]["general"]
            t = g["tokens"].to_numpy() / truth["token_unit"]
            y = g["loss"].to_numpy() - base
            p = truth["models"][model]["ratios"][ratio]["general"]
            f = p["alpha2"] * t ** p["s2"] + p["alpha3"] * t ** p["s3"] + p["beta2"]
            xs.append(t)
            ys.append(y)
            truths.append(p)
            srefs.append(float(np.sqrt(np.mean((y - f) ** 2))))
    draws, diags = grid_posterior_curves("general", xs, ys, srefs, draws=1000, seeds=range(len(xs)))
    assert all(d["converged"] for d in diags)
    hits = {"last": [], "middle": [], "T=40": []}
    for d, x, p in zip(draws, xs, truths, strict=True):
        for name, t in (("last", x.max()), ("middle", math.sqrt(x.min() * x.max())), ("T=40", 40)):
            v = d["alpha2"] * t ** d["s2"] + d["alpha3"] * t ** d["s3"] + d["beta2"]
            v_true = p["alpha2"] * t ** p["s2"] + p["alpha3"] * t ** p["s3"] + p["beta2"]
            lo, hi = np.quantile(v, [0.05, 0.95])
            hits[name].append(lo <= v_true <= hi)
    se = math.sqrt(0.9 * 0.1 / len(xs))
    for name, h in hits.items():
        assert abs(np.mean(h) - 0.9) < 3 * se, (name, np.mean(h))


@pytest.mark.slow
@pytest.mark.parametrize("split", ["domain", "general"])
def test_padding_with_weight_zero_rows_changes_nothing(split):
    # Ragged logs are padded to one length so they share a compiled pass: the padded rows
    # carry weight 0, so masses and draws must equal the unpadded ones to round-off. The
    # sums only gain exact zeros, but the matrix products over the checkpoints are
    # blocked differently for another length, and where a power column is nearly
    # constant P's condition number (~1e12) lifts that round-off to ~1e-5 relative in
    # cells of tiny mass (seen: largest absolute difference 3e-11): masses to 1e-5
    # relative or 1e-10 absolute (they sum to 1), draws (at exponents away from those
    # cells) to 1e-10 relative.
    t, y = _small_curve(split, n=30, seed=4)
    a = grid_posterior(split, t, y, 0.005)
    b = grid_posterior(split, t, y, 0.005, length=47)
    assert a.passes == b.passes
    np.testing.assert_allclose(b.mass, a.mass, rtol=1e-5, atol=1e-10)
    pts = a.sample(50, np.random.default_rng(0))
    da = conditional_draws(split, t, y, 0.005, pts, np.random.default_rng(1))
    db = conditional_draws(split, t, y, 0.005, pts, np.random.default_rng(1), length=47)
    for key in da:
        np.testing.assert_allclose(db[key], da[key], rtol=1e-10)
    # Curves of different lengths in one call: each equals its own unpadded result.
    t2, y2 = t[:20], y[:20]
    draws, diags = grid_posterior_curves(
        split, [t, t2], [y, y2], [0.005, 0.005], draws=40, seeds=[3, 4]
    )
    alone, _ = grid_posterior_curves(split, [t2], [y2], [0.005], draws=40, seeds=[4])
    for key in alone[0]:
        np.testing.assert_allclose(draws[1][key], alone[0][key], rtol=1e-10)


def test_bad_input_is_refused_by_name():
    t, y = _small_curve("domain")
    with pytest.raises(ValueError, match="unknown split 'loss'"):
        grid_posterior_curves("loss", [t], [y], [0.01], draws=10, seeds=[0])
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        grid_posterior_curves("domain", [t], [y], [0.01], draws=0, seeds=[0])
    with pytest.raises(ValueError, match="one entry per curve"):
        grid_posterior_curves("domain", [t, t], [y], [0.01], draws=10, seeds=[0])
    with pytest.raises(ValueError, match="curve 0: tokens and loss changes differ in length"):
        grid_posterior_curves("domain", [t], [y[:-1]], [0.01], draws=10, seeds=[0])
    with pytest.raises(ValueError, match=r"points must have shape \(G, 2\)"):
        log_marginal("general", t, y, 0.01, [0.3])
