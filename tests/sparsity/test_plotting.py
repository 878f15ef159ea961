"""Sparse figures: each returns its Axes, with labelled axes and log scales where needed."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scalinglaws.errors import ScalingLawsError  # noqa: E402
from scalinglaws.fitting.result import FitResult  # noqa: E402
from scalinglaws.laws.avgparams import avgparams  # noqa: E402
from scalinglaws.laws.chinchilla import HOFFMANN_2022  # noqa: E402
from scalinglaws.planning.sparsity import plan_sparsity  # noqa: E402
from scalinglaws.plotting.sparse import (  # noqa: E402
    plot_density_schedules,
    plot_loss_vs_avgparams,
    plot_sparsity_frontier,
)
from scalinglaws.simulate.sparse import simulate_sparse_runs, sparse_design  # noqa: E402
from scalinglaws.sparsity import load_sparse_runs, schedule_from_compute  # noqa: E402


def _truth_result(data=None):
    return FitResult(
        law=avgparams(), params=dict(HOFFMANN_2022), objective=0.0, status="converged",
        starts=pd.DataFrame(), n_runs=0, options={"k": 6.0}, covariance=None,
        residuals=np.zeros(1), data=data,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_density_schedules():
    scheds = [schedule_from_compute(s, 2000, interval=50, kind=k)
              for s, k in ((0.5, "geometric"), (0.8, "geometric"), (0.8, "cubic"))]  # fmt: skip
    ax = plot_density_schedules(scheds)
    assert ax.get_xlabel().startswith("training progress") and ax.get_ylabel()
    assert len(ax.get_lines()) == 3
    # The compute axis ends at 1 and the last density is 1 - s (float tolerance).
    x, y = ax.get_lines()[1].get_data()
    assert x[-1] == pytest.approx(1.0, rel=1e-12) and y[-1] == pytest.approx(0.2, rel=1e-12)
    fig, given = plt.subplots()
    assert plot_density_schedules(scheds[:1], ax=given, progress="steps") is given
    with pytest.raises(ScalingLawsError, match="progress"):
        plot_density_schedules(scheds, progress="tokens")


def test_loss_vs_avgparams_puts_runs_on_the_curve():
    design = sparse_design([1e18, 1e19], sparsities=(0.0, 0.8), n_per_budget=3)
    runs = load_sparse_runs(simulate_sparse_runs(HOFFMANN_2022, design, noise=0.0))
    ax = plot_loss_vs_avgparams(_truth_result(runs))
    assert ax.get_xscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    # Noise-free runs at the true parameters lie exactly on the drawn curve: the y of each
    # marker equals E + A/N_avg^alpha to float tolerance.
    p = HOFFMANN_2022
    points = np.vstack(
        [c.get_offsets() for c in ax.collections if c.get_label() in ("dense", "sparsity 0.8")]
    )
    np.testing.assert_allclose(
        points[:, 1], p["E"] + p["A"] * points[:, 0] ** -p["alpha"], rtol=1e-10
    )
    with pytest.raises(ScalingLawsError, match="N_avg"):
        plot_loss_vs_avgparams(_truth_result(None))


def test_sparsity_frontier():
    result = _truth_result()
    plans = [plan_sparsity(result, c, [0.0, 0.5, 0.8]) for c in (1e21, 1e22, 1e23)]
    ax = plot_sparsity_frontier(plans)
    assert ax.get_xscale() == "log" and "deployed" in ax.get_xlabel() and ax.get_ylabel()
    fig, given = plt.subplots()
    assert plot_sparsity_frontier(plans[0], ax=given) is given
    with pytest.raises(ScalingLawsError, match="columns"):
        plot_sparsity_frontier(pd.DataFrame({"x": [1]}))
