"""The isoFLOP profiles say which budgets in the runs they leave out, and why: in the
figure (a note under the x-axis label), through :func:`isoflop_omitted`, and in the
report's caption."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.plotting.chinchilla import (  # noqa: E402
    isoflop_omitted,
    isoflop_profiles_note,
    isoflop_slices,
    plot_isoflop_profiles,
)
from scalinglaws.report import FIGURES, write_report  # noqa: E402
from scalinglaws.simulate import isoflop_design, simulate_runs  # noqa: E402

#: Six budgets with 9 runs each: every one becomes a slice.
FULL = (1e18, 1e19, 1e20, 1e21, 1e22, 1e23)
#: Three more budgets with 4, 2 and 1 runs: each below the 5 runs a slice needs.
FEW = {3e18: 4, 3e19: 2, 3e20: 1}


def _runs(full=FULL, few=None) -> pd.DataFrame:
    """Simulated runs: 9 per budget in ``full``, ``few[C]`` at each budget C of ``few``."""
    parts = [isoflop_design(list(full), 9)]
    parts += [isoflop_design([c], n) for c, n in (few or {}).items()]
    design = pd.concat(parts, ignore_index=True)
    design["run"] = [f"r{i}" for i in range(len(design))]
    return simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, design, noise=0.01, seed=0)


@pytest.fixture(scope="module")
def fit_full() -> sl.FitResult:
    return sl.fit(sl.laws.chinchilla(), _runs())


@pytest.fixture(scope="module")
def fit_nine_budgets() -> sl.FitResult:
    return sl.fit(sl.laws.chinchilla(), _runs(few=FEW))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _note_on(ax) -> str | None:
    notes = [t for t in ax.texts if t.get_gid() == "isoflop-omitted"]
    assert len(notes) <= 1
    return notes[0].get_text().replace("\n", " ") if notes else None


def _curve_budgets(ax) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if ln.get_label().startswith("C = ")]


def test_budgets_with_too_few_runs_are_named_in_the_figure(fit_nine_budgets):
    c = fit_nine_budgets.data["C"]
    omitted = isoflop_omitted(c)
    # exactly the three thin budgets, with their run counts; nothing else is left out
    assert [o.reason for o in omitted] == ["few_runs"] * 3
    np.testing.assert_allclose([o.budget for o in omitted], list(FEW), rtol=1e-9)
    assert [o.n_runs for o in omitted] == list(FEW.values())
    # which slices are drawn is unchanged: the six full budgets
    np.testing.assert_allclose([b for b, _ in isoflop_slices(c)], FULL, rtol=1e-9)

    ax = plot_isoflop_profiles(fit_nine_budgets)
    assert len(_curve_budgets(ax)) == len(FULL)
    expected = "Not drawn: 3 budgets with fewer than 5 runs (3e18, 3e19, 3e20 FLOPs)."
    assert _note_on(ax) == expected
    assert isoflop_profiles_note(fit_nine_budgets) == expected
    # the note sits below the axes, clear of the data
    ax.figure.canvas.draw()
    note = next(t for t in ax.texts if t.get_gid() == "isoflop-omitted")
    renderer = ax.figure.canvas.get_renderer()
    assert note.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0


def test_slices_beyond_the_sixth_are_named_in_the_figure(fit_full):
    eight = (*FULL, 1e24, 1e25)
    runs = _runs(full=eight)
    omitted = isoflop_omitted(runs["C"])
    assert [o.reason for o in omitted] == ["max_slices"] * 2
    drawn = [b for b, _ in isoflop_slices(runs["C"])]
    assert len(drawn) == 6
    # the omitted and drawn budgets together are the eight of the log
    np.testing.assert_allclose(sorted([*drawn, *(o.budget for o in omitted)]), eight, rtol=1e-9)
    ax = plot_isoflop_profiles(fit_full, runs=runs)
    assert len(_curve_budgets(ax)) == 6
    left_out = ", ".join(f"{o.budget:.0e}".replace("e+", "e") for o in omitted)
    assert _note_on(ax) == (
        f"Not drawn: 2 of 8 budgets with 5 or more runs, as at most 6 are drawn ({left_out} FLOPs)."
    )


def test_runs_spread_over_compute_are_named_as_a_range(fit_full):
    runs = _runs()
    chain = runs.iloc[:40].copy()  # 40 runs 0.015 decades apart: a chain, not one budget
    chain["C"] = np.geomspace(2e21, 8e21, 40)
    runs = pd.concat([runs, chain], ignore_index=True)
    omitted = isoflop_omitted(runs["C"])
    assert [(o.reason, o.n_runs) for o in omitted] == [("spread", 40)]
    assert _note_on(plot_isoflop_profiles(fit_full, runs=runs)) == (
        "Not drawn: 40 runs spread from 2e21 to 8e21 FLOPs (not one budget)."
    )


def test_no_note_when_every_budget_is_drawn(fit_full, fit_nine_budgets):
    assert isoflop_omitted(fit_full.data["C"]) == []
    assert isoflop_profiles_note(fit_full) == ""
    assert _note_on(plot_isoflop_profiles(fit_full)) is None
    # budgets given by the caller are the caller's choice: no note either
    ax = plot_isoflop_profiles(fit_nine_budgets, budgets=[1e19, 1e20])
    assert _note_on(ax) is None


def test_runs_without_any_slice_get_a_note_on_the_fallback_budgets(fit_full):
    runs = _runs(full=[1e19], few={c: 1 for c in np.geomspace(1e18, 1e22, 9)}).iloc[9:]
    assert isoflop_slices(runs["C"]) == []
    ax = plot_isoflop_profiles(fit_full, runs=runs)
    assert _note_on(ax) == (
        "No budget has 5 or more runs within 0.02 decades of compute; curves at 4 budgets "
        "spaced evenly in log C from 1e18 to 1e22 FLOPs."
    )


def test_report_caption_names_the_budgets_not_drawn(fit_full, fit_nine_budgets, tmp_path):
    text = write_report(fit_nine_budgets, tmp_path / "nine", dpi=50).read_text()
    caption = FIGURES["isoflop_profiles.png"]
    assert (
        f"*{caption} Not drawn: 3 budgets with fewer than 5 runs (3e18, 3e19, 3e20 FLOPs).*"
        in text.splitlines()
    )
    text = write_report(fit_full, tmp_path / "full", dpi=50).read_text()
    assert f"*{caption}*" in text.splitlines()
    assert "Not drawn" not in text
