"""Chinchilla figures: they build, carry the intended labels and scales, and draw the
closed forms of Hoffmann et al. 2022 (arXiv 2203.15556)."""

from __future__ import annotations

import dataclasses
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.errors import ScalingLawsError  # noqa: E402
from scalinglaws.fitting import Uncertainty  # noqa: E402
from scalinglaws.plotting import (  # noqa: E402
    compute_optimal_curve,
    isoflop_slices,
    optimal_allocation,
    plot_compute_optimal,
    plot_isoflop_profiles,
    plot_loss_contours,
    plot_parity,
    plot_posterior_bands,
)
from scalinglaws.simulate import isoflop_design, simulate_runs  # noqa: E402

BUDGETS = (1e18, 1e19, 1e20, 1e21)


@pytest.fixture(scope="module")
def sim_fit() -> sl.FitResult:
    design = isoflop_design(BUDGETS, 9)
    runs = simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, design, noise=0.01, seed=0)
    return sl.fit(sl.laws.chinchilla(), runs)


@pytest.fixture(scope="module")
def fit_with_draws(sim_fit) -> sl.FitResult:
    """The fit with 300 seeded Gaussian draws around it (stand-in for a bootstrap)."""
    rng = np.random.default_rng(1)
    theta = np.asarray(sim_fit.law.to_internal(sim_fit.params))
    z = rng.multivariate_normal(theta, sim_fit.covariance, 300)
    draws = {k: np.asarray(v) for k, v in sim_fit.law.to_natural(z).items()}
    return dataclasses.replace(sim_fit, uncertainty=Uncertainty(method="bootstrap", draws=draws))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _line(ax, label: str):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


def _frontier_by_hand(p, c, k=6.0):
    """Closed form written out independently of the library (DESIGN §3)."""
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    n_opt = g * (c / k) ** (p["beta"] / (p["alpha"] + p["beta"]))
    return n_opt, (c / k) / n_opt


# ---------------------------------------------------------------------- closed form
def test_optimal_allocation_minimises_loss_on_each_isoflop_line():
    p = sl.laws.HOFFMANN_2022
    budgets = np.array([1e19, 1e21, 5.76e23])
    opt = optimal_allocation(p, budgets)
    for i, c in enumerate(budgets):
        n = np.geomspace(opt["N_opt"][i] / 3, opt["N_opt"][i] * 3, 20001)
        loss = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * (c / (6 * n)) ** -p["beta"]
        # brute-force argmin on a grid 1.1e-4 decades apart: agreement to 0.05% is the
        # grid resolution, so a wrong exponent or G (off by >1%) fails
        assert n[np.argmin(loss)] == pytest.approx(opt["N_opt"][i], rel=5e-4)
        assert loss.min() == pytest.approx(opt["loss"][i], rel=1e-9)
    # C = k N D holds exactly (floating-point rounding only)
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], budgets, rtol=1e-12)


def test_optimal_allocation_matches_published_tokens_per_parameter():
    # Besiroglu et al. 2024 (arXiv 2404.10102): their refit gives about 20 tokens per
    # parameter at Chinchilla's budget (5.76e23 FLOPs). "About" -> 15% tolerance; the
    # Hoffmann-2022 coefficients give far fewer (~2x off), so the check can fail.
    opt = optimal_allocation(sl.laws.EPOCH_2024, [5.76e23])
    assert opt["tokens_per_param"][0] == pytest.approx(20.0, rel=0.15)


def test_optimal_allocation_is_vectorised_over_draws_and_marks_bad_draws_nan():
    draws = {k: np.full(5, v) for k, v in sl.laws.HOFFMANN_2022.items()}
    draws["alpha"][2] = -0.1  # no frontier for this draw
    out = optimal_allocation(draws, np.geomspace(1e18, 1e24, 7))
    assert out["N_opt"].shape == (5, 7)
    assert np.all(np.isnan(out["N_opt"][2]))
    single = optimal_allocation(sl.laws.HOFFMANN_2022, np.geomspace(1e18, 1e24, 7))
    # same numbers, same operations: identical up to rounding
    np.testing.assert_allclose(out["N_opt"][0], single["N_opt"], rtol=1e-14)


# ---------------------------------------------------------------------- contours
def test_loss_contours_axes_and_frontier(sim_fit):
    ax = plot_loss_contours(sim_fit)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "parameters" in ax.get_xlabel() and "tokens" in ax.get_ylabel()
    assert ax.get_title()
    front = _line(ax, "compute-optimal frontier")
    n, d = front.get_xdata(), front.get_ydata()
    assert len(n) > 50
    n_hand, d_hand = _frontier_by_hand(sim_fit.params, 6 * n * d)
    # both sides evaluate the same closed form in float64: 1e-9 allows only rounding
    np.testing.assert_allclose(n, n_hand, rtol=1e-9)
    np.testing.assert_allclose(d, d_hand, rtol=1e-9)
    # isoFLOP lines: D = C/(kN), so N*D is constant along each
    iso = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(iso) >= 3
    for ln in iso:
        prod = ln.get_xdata() * ln.get_ydata()
        np.testing.assert_allclose(prod, prod[0], rtol=1e-12)
    labels = ax.get_legend_handles_labels()[1]
    assert "fitted runs (36)" in labels


def test_loss_contours_from_reference_coefficients_draw_the_published_exponent():
    ax = plot_loss_contours(sl.laws.HOFFMANN_2022, n_range=(1e8, 1e12), d_range=(1e9, 1e13))
    front = _line(ax, "compute-optimal frontier")
    slope = np.polyfit(np.log(front.get_xdata()), np.log(front.get_ydata()), 1)[0]
    # D_opt ~ N_opt^(alpha/beta) = N^1.1905 for Hoffmann 2022; exact power law, so only
    # rounding error remains
    p = sl.laws.HOFFMANN_2022
    assert slope == pytest.approx(p["alpha"] / p["beta"], rel=1e-9)
    assert ax.get_xlim() == pytest.approx((1e8, 1e12))


def test_contours_refuse_parameters_of_another_form():
    with pytest.raises(ScalingLawsError, match="alpha"):
        plot_loss_contours({"E": 1.0, "A": 1.0, "B": 1.0})


# ---------------------------------------------------------------------- isoFLOP profiles
def test_isoflop_slices_group_budgets_and_skip_scattered_runs():
    rng = np.random.default_rng(0)
    clustered = np.concatenate([c * np.exp(rng.uniform(-0.01, 0.01, 6)) for c in (1e19, 1e20)])
    scattered = np.geomspace(1e21, 1e22, 40)  # a chain, not one budget
    slices = isoflop_slices(np.concatenate([clustered, scattered, [3e22] * 2]))
    assert len(slices) == 2
    # geometric mean of +-1% jitter: within 1% of the nominal budget
    assert slices[0][0] == pytest.approx(1e19, rel=0.01)
    assert slices[1][0] == pytest.approx(1e20, rel=0.01)
    assert list(slices[0][1]) == list(range(6))


def test_isoflop_profiles_draw_the_law_along_each_budget(sim_fit):
    ax = plot_isoflop_profiles(sim_fit)
    assert ax.get_xscale() == "log"
    assert "parameters" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("C = ")]
    assert len(curves) == len(BUDGETS)  # the simulated design's four slices were found
    p = sim_fit.params
    for ln, c in zip(curves, BUDGETS, strict=True):
        assert "9 runs" in ln.get_label()
        n, loss = ln.get_xdata(), ln.get_ydata()
        by_hand = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * (c / (6 * n)) ** -p["beta"]
        # the slices' budgets are exact in the design, so only rounding error remains
        np.testing.assert_allclose(loss, by_hand, rtol=1e-9)
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    n_hand, _ = _frontier_by_hand(p, np.asarray(BUDGETS))
    np.testing.assert_allclose([s.get_xdata()[0] for s in stars], n_hand, rtol=1e-9)
    assert len(ax.collections) == len(BUDGETS)  # one scatter of runs per budget
    assert all(len(col.get_offsets()) == 9 for col in ax.collections)


def test_isoflop_profiles_accept_explicit_budgets_and_ax(sim_fit):
    fig, ax = plt.subplots()
    out = plot_isoflop_profiles(sim_fit, budgets=[1e20], ax=ax)
    assert out is ax
    assert [ln.get_label() for ln in ax.get_lines() if ln.get_label().startswith("C")] == [
        "C = $10^{20}$ FLOPs, 9 runs"
    ]


# ---------------------------------------------------------------------- parity
def test_parity_plots_observed_against_predicted_and_log_residuals(sim_fit):
    ax_p, ax_r = plot_parity(sim_fit)
    assert ax_p.figure is ax_r.figure
    observed = sim_fit.data["loss"].to_numpy()
    predicted = sim_fit.predict(sim_fit.data)
    pts = ax_p.collections[0].get_offsets()
    # plotted values are the data themselves: exact equality up to float storage
    np.testing.assert_allclose(pts[:, 0], observed, rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], predicted, rtol=1e-12)
    res = ax_r.collections[0].get_offsets()
    np.testing.assert_allclose(res[:, 0], sim_fit.data["C"], rtol=1e-12)
    np.testing.assert_allclose(res[:, 1], np.log(observed / predicted), rtol=1e-9, atol=1e-15)
    # the fit's own residuals are log(pred/obs): the plot shows the opposite sign; agreement
    # to 1e-9 because both are the same float64 quantity computed two ways
    np.testing.assert_allclose(res[:, 1], -np.asarray(sim_fit.residuals), atol=1e-9)
    assert ax_r.get_xscale() == "log" and "FLOPs" in ax_r.get_xlabel()
    assert "observed" in ax_p.get_xlabel() and "predicted" in ax_p.get_ylabel()


def test_parity_needs_the_runs(sim_fit):
    with pytest.raises(ScalingLawsError, match="no runs"):
        plot_parity(dataclasses.replace(sim_fit, data=None))


# ---------------------------------------------------------------------- bands
def test_point_fit_curve_without_draws(sim_fit):
    ax = plot_compute_optimal(sim_fit, "N_opt")
    assert "no uncertainty draws" in ax.get_title()
    line = _line(ax, "point fit")
    c = line.get_xdata()
    n_hand, _ = _frontier_by_hand(sim_fit.params, c)
    np.testing.assert_allclose(line.get_ydata(), n_hand, rtol=1e-9)  # rounding only
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # default span: smallest run's compute to 1,000x the largest
    assert c.min() == pytest.approx(1e18) and c.max() == pytest.approx(1e24)


def test_bands_are_quantiles_over_draws(fit_with_draws):
    ax_n, ax_l = plot_posterior_bands(fit_with_draws)
    d = fit_with_draws.uncertainty.draws
    for ax, quantity in ((ax_n, "N_opt"), (ax_l, "loss")):
        median = _line(ax, "median over 300 draws")
        c = median.get_xdata()
        g = (d["alpha"] * d["A"] / (d["beta"] * d["B"])) ** (1 / (d["alpha"] + d["beta"]))
        n = g[:, None] * (c[None, :] / 6) ** (d["beta"] / (d["alpha"] + d["beta"]))[:, None]
        if quantity == "N_opt":
            per_draw = n
        else:
            dd = (c[None, :] / 6) / n
            per_draw = (
                d["E"][:, None]
                + d["A"][:, None] * n ** -d["alpha"][:, None]
                + d["B"][:, None] * dd ** -d["beta"][:, None]
            )
        lo, mid, hi = np.quantile(per_draw, [0.05, 0.5, 0.95], axis=0)
        # same draws, same quantile rule: agreement to rounding
        np.testing.assert_allclose(median.get_ydata(), mid, rtol=1e-9)
        band = [col for col in ax.collections if col.get_label() == "5-95% band"]
        assert len(band) == 1
        verts = band[0].get_paths()[0].vertices
        ys = verts[:, 1]
        assert ys.min() == pytest.approx(lo.min(), rel=1e-9)
        assert ys.max() == pytest.approx(hi.max(), rel=1e-9)
        assert "bootstrap draws" in ax.get_title()
    assert "nats/token" in ax_l.get_ylabel() and "parameters" in ax_n.get_ylabel()
    # the band must be a real interval: at 1e24 FLOPs (1,000x extrapolation) it is wide
    curve = compute_optimal_curve(fit_with_draws, "N_opt", [1e24])
    assert curve["upper"][0] / curve["lower"][0] > 1.2


def test_bands_ignore_draws_without_a_frontier_silently(fit_with_draws):
    d = {k: np.array(v, copy=True) for k, v in fit_with_draws.uncertainty.draws.items()}
    d["alpha"][:10] = -1.0
    bad = dataclasses.replace(fit_with_draws, uncertainty=Uncertainty("bootstrap", draws=d))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = compute_optimal_curve(bad, "N_opt", [1e20, 1e22])
    assert np.all(np.isfinite(curve["median"]))


def test_compute_optimal_rejects_unknown_quantity(sim_fit):
    with pytest.raises(ScalingLawsError, match="quantity"):
        plot_compute_optimal(sim_fit, "flops")


def test_figures_accept_runs_with_no_C_column(sim_fit):
    no_c = dataclasses.replace(sim_fit, data=sim_fit.data.drop(columns=["C"]))
    ax = plot_compute_optimal(no_c, "loss")
    pts = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(
        np.sort(pts[:, 0]), np.sort(6 * no_c.data["N"] * no_c.data["D"]), rtol=1e-12
    )
    assert isinstance(no_c.data, pd.DataFrame)


# ---------------------------------------------------------------------- real data
@pytest.mark.slow
def test_profiles_find_isoflop_slices_in_the_digitised_chinchilla_runs(epoch_csv):
    result = sl.fit(sl.laws.chinchilla(), epoch_csv)
    ax = plot_isoflop_profiles(result)
    curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("C = ")]
    # the 245 runs hold a dozen tight clusters of compute (Hoffmann's isoFLOP budgets);
    # the figure keeps six of them, each with at least 5 runs
    assert len(curves) == 6
    assert all(int(ln.get_label().split(", ")[1].split()[0]) >= 5 for ln in curves)
    assert len(ax.collections) == 6
    # every plotted run lies within the slice tolerance (0.02 decades) of its curve's C
    budgets = [c for c, _ in isoflop_slices(result.data["C"])]
    for c, col in zip(budgets, ax.collections, strict=True):
        pts = col.get_offsets()
        near = result.data[np.abs(np.log10(result.data["C"] / c)) <= 0.02]
        # the scatter holds exactly the runs near this budget (same stored floats)
        np.testing.assert_array_equal(np.sort(pts[:, 1]), np.sort(near["loss"]))
        np.testing.assert_array_equal(np.sort(pts[:, 0]), np.sort(near["N"]))


def test_flop_labels_round_to_two_significant_digits():
    from scalinglaws.plotting.chinchilla import format_flops

    assert format_flops(6e18) == "$6\\times10^{18}$"
    assert format_flops(1e19) == "$10^{19}$"
    assert format_flops(9.97e18) == "$10^{19}$"  # rounds up across the decade
    assert format_flops(5.76e23) == "$5.8\\times10^{23}$"


def test_band_title_says_when_the_uncertainty_failed(fit_with_draws):
    failed = dataclasses.replace(
        fit_with_draws,
        uncertainty=dataclasses.replace(fit_with_draws.uncertainty, converged=False),
    )
    assert "FAILED" in plot_compute_optimal(failed, "loss").get_title()
    assert "FAILED" not in plot_compute_optimal(fit_with_draws, "loss").get_title()
