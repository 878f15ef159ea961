"""write_report: the report folder holds every file it links, and its plan is the closed
form of Hoffmann et al. 2022 (arXiv 2203.15556)."""

from __future__ import annotations

import dataclasses
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.errors import ScalingLawsError  # noqa: E402
from scalinglaws.fitting import FitResult, Uncertainty  # noqa: E402
from scalinglaws.laws.base import Law, ParamSpec  # noqa: E402
from scalinglaws.report import DEFAULT_BUDGETS, FIGURES, plan_table, write_report  # noqa: E402
from scalinglaws.simulate import isoflop_design, simulate_runs  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sim_fit() -> FitResult:
    design = isoflop_design([1e18, 1e19, 1e20, 1e21], 9)
    runs = simulate_runs(sl.laws.chinchilla(), sl.laws.HOFFMANN_2022, design, noise=0.01, seed=3)
    return sl.fit(sl.laws.chinchilla(), runs)


@pytest.fixture(scope="module")
def fit_with_draws(sim_fit) -> FitResult:
    rng = np.random.default_rng(2)
    theta = np.asarray(sim_fit.law.to_internal(sim_fit.params))
    z = rng.multivariate_normal(theta, sim_fit.covariance, 200)
    draws = {k: np.asarray(v) for k, v in sim_fit.law.to_natural(z).items()}
    return dataclasses.replace(sim_fit, uncertainty=Uncertainty(method="bootstrap", draws=draws))


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", markdown)


def test_report_writes_every_file_it_links(sim_fit, tmp_path):
    out = tmp_path / "nested" / "report"
    path = write_report(sim_fit, out)
    assert path == out / "report.md"
    text = path.read_text()
    links = _links(text)
    assert set(links) == {*FIGURES, "plan.csv"}
    for name in links:
        assert (out / name).stat().st_size > 0
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == PNG_MAGIC
    # nothing but the listed files: no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == sorted({*links, "report.md"})


def test_report_states_the_fit_parameters_and_warnings(sim_fit, tmp_path):
    text = write_report(sim_fit, tmp_path, title="Simulated sweep", dpi=50).read_text()
    assert text.startswith("# Simulated sweep")
    se = sim_fit.standard_errors()
    for name, value in sim_fit.params.items():
        assert f"| {name} |" in text
        assert f"{value:.6g}" in text and f"{se[name]:.3g}" in text
    for flag in sim_fit.flags():
        assert f"- {flag}" in text
    assert "status **converged**" in text
    assert "Runs: 36" in text
    assert "Uncertainty: none attached" in text


def test_plan_table_is_the_closed_form(sim_fit, tmp_path):
    write_report(sim_fit, tmp_path, budgets=[1e20, 1e22], dpi=50)
    plan = pd.read_csv(tmp_path / "plan.csv")
    p = sim_fit.params
    c = np.array([1e20, 1e22])
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    n_opt = g * (c / 6) ** (p["beta"] / (p["alpha"] + p["beta"]))
    d_opt = c / 6 / n_opt
    loss = p["E"] + p["A"] * n_opt ** -p["alpha"] + p["B"] * d_opt ** -p["beta"]
    # CSV keeps ~17 significant digits; 1e-9 allows rounding and nothing else
    np.testing.assert_allclose(plan["N_opt"], n_opt, rtol=1e-9)
    np.testing.assert_allclose(plan["D_opt"], d_opt, rtol=1e-9)
    np.testing.assert_allclose(plan["loss"], loss, rtol=1e-9)
    text = (tmp_path / "report.md").read_text()
    # 1e22 is 10x the largest simulated run (1e21): flagged as extrapolation
    row = next(line for line in text.splitlines() if line.startswith("| 1e22 |"))
    assert "extrapolated: 10x" in row
    assert "extrapolated" not in next(
        line for line in text.splitlines() if line.startswith("| 1e20 |")
    )


@pytest.mark.slow
def test_report_with_draws_gives_intervals(fit_with_draws, tmp_path):
    text = write_report(fit_with_draws, tmp_path, budgets=[1e21], dpi=50).read_text()
    plan = pd.read_csv(tmp_path / "plan.csv")
    for col in ("N_opt_q05", "N_opt_q95", "loss_q05", "loss_q95"):
        assert col in plan.columns
    assert plan["N_opt_q05"].iat[0] < plan["N_opt"].iat[0] < plan["N_opt_q95"].iat[0]
    assert "5-95% interval over the 200 bootstrap draws" in text
    row = next(line for line in text.splitlines() if line.startswith("| 1e21 |"))
    assert row.count("[") == 4  # N, D, tokens per parameter and loss each carry one
    assert "| 5% | 95% |" in text


def test_plan_csv_is_the_planners_table_with_its_intervals(fit_with_draws, tmp_path):
    budgets = list(DEFAULT_BUDGETS)
    write_report(fit_with_draws, tmp_path, budgets=budgets, dpi=50)
    written = pd.read_csv(tmp_path / "plan.csv")
    theirs = sl.plan_compute(fit_with_draws, budgets)
    assert len(written) == len(budgets)
    assert list(written.columns) == list(theirs.columns)
    assert {"N_opt_q05", "N_opt_q50", "N_opt_q95"} <= set(written.columns)
    for col in theirs.columns:
        # the CSV keeps ~17 significant digits: 1e-12 allows its rounding and nothing else
        np.testing.assert_allclose(written[col], theirs[col], rtol=1e-12, err_msg=col)
    assert plan_table(fit_with_draws, budgets).equals(theirs)


def test_report_without_runs_leaves_out_the_data_figures(sim_fit, tmp_path):
    text = write_report(dataclasses.replace(sim_fit, data=None), tmp_path, dpi=50).read_text()
    assert set(_links(text)) == {"loss_contours.png", "compute_optimal.png", "plan.csv"}
    assert "carries no runs" in text
    assert not (tmp_path / "parity.png").exists()


def test_report_refuses_other_laws_and_bad_budgets(sim_fit, tmp_path):
    law = Law(
        name="power",
        inputs=("N",),
        params=(ParamSpec("a"), ParamSpec("b")),
        fn=lambda p, x: p["a"] * x["N"] ** p["b"],
    )
    other = FitResult(
        law=law,
        params={"a": 1.0, "b": -0.1},
        objective=0.0,
        status="converged",
        starts=pd.DataFrame(),
        n_runs=3,
        options={},
        covariance=None,
        residuals=np.zeros(3),
    )
    with pytest.raises(ScalingLawsError, match="Chinchilla-form"):
        write_report(other, tmp_path)
    with pytest.raises(ScalingLawsError, match="budgets"):
        write_report(sim_fit, tmp_path, budgets=[1e21, -1.0])
    assert not (tmp_path / "report.md").exists()


def test_report_on_an_unwritable_path_is_a_one_line_error(sim_fit, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ScalingLawsError, match="cannot create report folder"):
        write_report(sim_fit, blocker / "report")


def test_report_on_the_bundled_run_log(tmp_path):
    # the command-line demo writes this report; the bundled file ships with the repository
    from pathlib import Path

    bundled = Path(__file__).resolve().parents[1] / "data" / "chinchilla_sim" / "runs.csv"
    assert bundled.exists(), f"bundled run log {bundled} ships with the repository"
    result = sl.fit(sl.laws.chinchilla(), bundled)
    path = write_report(result, tmp_path / "report", budgets=[1e22, 1e24], dpi=50)
    text = path.read_text()
    assert f"Runs: {result.n_runs}" in text
    assert all((path.parent / name).exists() for name in _links(text))
