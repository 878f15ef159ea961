"""Data-mixture figures: they build on small simulated fits, carry the intended artists and
labels, and refuse bad input with a clear error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scalinglaws.datamix import fit_datamix, load_mixture_runs  # noqa: E402
from scalinglaws.errors import ScalingLawsError  # noqa: E402
from scalinglaws.plotting.datamix import (  # noqa: E402
    datamix_fit_table,
    plot_datamix_fit,
    plot_datamix_plan,
)
from scalinglaws.simulate.datamix import random_truth, simulate_mixture_runs  # noqa: E402

DRAWS = 100


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def truth():
    return random_truth(K=3, V=2, seed=3)


@pytest.fixture(scope="module")
def one_scale(truth):
    df = simulate_mixture_runs(truth, sizes=(1e8,), n_per_size=40, noise=0.005, seed=1)
    return fit_datamix(load_mixture_runs(df), model="mixing", samples=200, seed=0)


@pytest.fixture(scope="module")
def held_out(truth):
    df = simulate_mixture_runs(truth, sizes=(1e8,), n_per_size=30, noise=0.005, seed=2)
    return load_mixture_runs(df)


@pytest.fixture(scope="module")
def nested(truth):
    df = simulate_mixture_runs(truth, sizes=(2e7, 1e8), n_per_size=24, noise=0.005, seed=4)
    return fit_datamix(load_mixture_runs(df), model="mixing", samples=200, seed=0)


def _identity_lines(ax):
    return [line for line in ax.get_lines() if line.get_label() == "predicted = observed"]


# ------------------------------------------------------------------ plot_datamix_fit


def test_fit_figure_on_fitted_runs(one_scale):
    fig = plot_datamix_fit(one_scale, n_draws=DRAWS)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(_identity_lines(ax)) == 1
    title = ax.get_title()
    assert "40 fitted runs" in title
    assert "90% predictive coverage" in title and "Spearman rho" in title
    assert ax.get_xlabel() == "observed mean of 2 validation losses"
    assert "predicted" in ax.get_ylabel() and "mixing" in ax.get_ylabel()
    # every run is one point with its interval, split into inside / outside containers
    points = sum(len(c.lines[0].get_xdata()) for c in ax.containers)
    assert points == 40
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("inside their 90% interval" in s for s in labels)


def test_fit_figure_on_held_out_runs_reports_its_numbers(one_scale, held_out):
    tab = datamix_fit_table(one_scale, held_out, n_draws=DRAWS)
    assert len(tab) == 30
    assert list(tab.columns) == ["N", "observed", "predicted", "pred_lo", "pred_hi", "inside"]
    assert tab.attrs["held_out"] is True
    assert tab.attrs["coverage"] == pytest.approx(tab["inside"].mean())
    assert tab.attrs["spearman"] > 0.8  # low-noise simulation: the law ranks well
    assert np.all(tab["pred_lo"] <= tab["predicted"]) and np.all(tab["predicted"] <= tab["pred_hi"])
    fig = plot_datamix_fit(one_scale, held_out, n_draws=DRAWS)
    title = fig.axes[0].get_title()
    assert "30 held-out runs" in title
    assert f"coverage {tab.attrs['coverage']:.0%}" in title
    assert f"rho = {tab.attrs['spearman']:.3f}" in title


def test_fit_figure_accepts_a_wide_table_and_an_axes(one_scale, held_out):
    fig, ax = plt.subplots()
    out = plot_datamix_fit(one_scale, held_out.frame(), level=0.5, ax=ax, n_draws=DRAWS)
    assert out is fig
    assert "50% predictive coverage" in ax.get_title()


def test_fit_figure_for_one_domain(one_scale, truth):
    domain = truth.valid_domains[1]
    fig = plot_datamix_fit(one_scale, domain=domain, n_draws=DRAWS)
    assert fig.axes[0].get_xlabel() == f"observed {domain} validation loss"
    tab = datamix_fit_table(one_scale, domain=domain, n_draws=DRAWS)
    np.testing.assert_allclose(tab["observed"], one_scale.runs.losses[domain])


def test_nested_fit_predicts_each_run_at_its_size(nested):
    tab = datamix_fit_table(nested, n_draws=DRAWS)
    assert sorted(set(tab["N"])) == [2e7, 1e8]
    assert tab.attrs["spearman"] > 0.9
    plot_datamix_fit(nested, n_draws=DRAWS)


def test_fit_figure_bad_input(one_scale, nested, held_out, truth):
    with pytest.raises(ScalingLawsError, match="needs a DataMixFit"):
        plot_datamix_fit("not a fit")
    with pytest.raises(ScalingLawsError, match="not a fitted validation domain"):
        plot_datamix_fit(one_scale, domain="nowhere")
    with pytest.raises(ScalingLawsError, match="level must be in"):
        plot_datamix_fit(one_scale, level=90)
    with pytest.raises(ScalingLawsError, match="MixtureRuns"):
        plot_datamix_fit(one_scale, runs=[1, 2, 3])
    # held-out runs over other training domains
    other = load_mixture_runs(
        simulate_mixture_runs(random_truth(K=4, V=2, seed=3), sizes=(1e8,), n_per_size=8)
    )
    with pytest.raises(ScalingLawsError, match="training domains differ"):
        plot_datamix_fit(one_scale, other)
    # a nested fit needs each run's size
    no_size = load_mixture_runs(held_out.frame().drop(columns=["N"]))
    with pytest.raises(ScalingLawsError, match="no size column N"):
        plot_datamix_fit(nested, no_size)
    # a one-scale fit refuses runs at another size
    bigger = load_mixture_runs(simulate_mixture_runs(truth, sizes=(4e8,), n_per_size=8, seed=5))
    with pytest.raises(ScalingLawsError, match="one scale"):
        plot_datamix_fit(one_scale, bigger)
    # too few runs with the losses the target needs
    with pytest.raises(ScalingLawsError, match="at least 3"):
        plot_datamix_fit(one_scale, held_out.subset(np.arange(2)))


# ------------------------------------------------------------------ plot_datamix_plan


def _plan(binding=("max", "", None, "available")) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "domain": ["web", "code", "books", "wiki"],
            "weight": [0.4, 0.3, 0.2, 0.1],
            "lo": [0.35, 0.2, 0.1, 0.1],
            "hi": [0.4, 0.4, 0.3, 0.1],
            "baseline": [0.25, 0.25, 0.25, 0.25],
            "min": [0.0, 0.05, 0.0, 0.0],
            "max": [0.4, 1.0, 1.0, 0.1],
            "binding": list(binding),
        }
    )
    df.attrs["summary"] = {"p_beats_baseline": 0.93}
    return df


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plan_figure_artists_and_labels():
    fig = plot_datamix_plan(_plan())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    ticks = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks(), strict=True))
    assert sorted(ticks, key=ticks.get, reverse=True) == ["web", "code", "books", "wiki"]
    assert ax.get_xlabel() == "mixture weight"
    assert "P(chosen beats baseline) = 0.93" in ax.get_title()
    labels = _legend(ax)
    for want in ("baseline", "chosen (interval)", "constraint binds", "max allowed", "min allowed"):
        assert want in labels, labels
    # one baseline bar per domain, at the baseline weight
    bars = ax.containers[0]
    assert len(bars) == 4 and bars[0].get_width() == pytest.approx(0.25)
    # two domains bind; their constraints are named next to them
    ring = next(line for line in ax.get_lines() if line.get_label() == "constraint binds")
    assert sorted(ring.get_xdata()) == [0.1, 0.4]
    assert sorted(t.get_text() for t in ax.texts) == ["available", "max"]
    # bounds other than the trivial 0 and 1 are drawn: max 0.4 and 0.1, min 0.05
    upper = next(line for line in ax.get_lines() if line.get_label() == "max allowed")
    assert sorted(upper.get_xdata()) == [0.1, 0.4]


def test_plan_figure_minimal_table_boolean_binding_and_axes():
    df = pd.DataFrame({"domain": ["a", "b"], "weight": [0.7, 0.3], "binding": [True, False]})
    fig, ax = plt.subplots()
    assert plot_datamix_plan(df, ax=ax) is fig
    labels = _legend(ax)
    assert "chosen" in labels and "constraint binds" in labels and "baseline" not in labels
    assert len(ax.texts) == 0  # unnamed constraint: ringed, not annotated
    assert ax.get_title() == "planned mixture against the baseline"


def test_plan_figure_without_binding_constraints():
    fig = plot_datamix_plan(_plan(binding=(False, "", None, np.nan)))
    assert "constraint binds" not in _legend(fig.axes[0])


def test_plan_figure_bad_input():
    with pytest.raises(ScalingLawsError, match="needs a plan DataFrame"):
        plot_datamix_plan({"domain": ["a"], "weight": [1.0]})
    with pytest.raises(ScalingLawsError, match=r"lacks columns \['weight'\]"):
        plot_datamix_plan(pd.DataFrame({"domain": ["a"], "share": [1.0]}))
    with pytest.raises(ScalingLawsError, match="no rows"):
        plot_datamix_plan(pd.DataFrame({"domain": [], "weight": []}))
    with pytest.raises(ScalingLawsError, match=r"in \[0, 1\]"):
        plot_datamix_plan(pd.DataFrame({"domain": ["a", "b"], "weight": [40.0, 60.0]}))
    with pytest.raises(ScalingLawsError, match="must be numeric"):
        plot_datamix_plan(pd.DataFrame({"domain": ["a"], "weight": [1.0], "lo": ["low"]}))


@pytest.mark.slow
def test_plan_figure_from_plan_data_mixture(one_scale):
    plan_mod = pytest.importorskip("scalinglaws.datamix.plan")
    plan = plan_mod.plan_data_mixture(
        one_scale, baseline="uniform", max_weight=0.5, n_draws=50, n_starts=4, seed=0
    )
    fig = plot_datamix_plan(plan)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(one_scale.training_domains)
    assert "P(chosen beats baseline)" in ax.get_title()
    binds = [b for b in plan["binding"] if b]
    assert ("constraint binds" in _legend(ax)) == bool(binds)
    assert sorted(t.get_text() for t in ax.texts) == sorted(binds)
