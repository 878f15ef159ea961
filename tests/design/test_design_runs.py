"""design_runs on Chinchilla fits and priors, its honesty notes, errors and the CLI."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.design import Prior, candidate_grid, design_runs, misfit_check
from scalinglaws.errors import PlanError, ScalingLawsError
from scalinglaws.laws.chinchilla import EPOCH_2024
from scalinglaws.simulate import simulate_runs

from .conftest import base_grid


def test_batch_respects_budget_count_and_limits(sim_fit):
    df = design_runs(
        sim_fit,
        target=1e24,
        study_budget=2.1e20,
        k=6,
        quantity="tokens_per_param",
        max_params=1e9,
        max_tokens=2e11,
    )
    assert 1 <= len(df) <= 6
    assert df["cost_so_far"].iloc[-1] <= 2.1e20 * (1 + 1e-12)
    assert (df["N"] <= 1e9).all() and (df["D"] <= 2e11).all()
    np.testing.assert_allclose(df["C"], 6 * df["N"] * df["D"], rtol=1e-12)
    assert np.all(np.diff(df["cost_so_far"]) > 0)
    # Each pick narrows the expected interval, and never beyond today's width.
    assert np.all(np.diff(df["expected_width"]) < 0)
    assert (df["width_ratio"] < 1).all()
    np.testing.assert_allclose(df["expected_factor"], np.exp(df["expected_width"]), rtol=1e-12)
    attrs = df.attrs
    assert attrs["quantity"] == "tokens_per_param" and attrs["n_draws"] == 500
    assert "linear-Gaussian" in attrs["how"]
    assert attrs["misfit"] is not None and not attrs["misfit"]["dominates"]
    assert attrs["warnings"] == []


def test_importance_method_and_seed_reproducibility(sim_fit):
    kw = dict(target=1e24, study_budget=2.1e20, k=3, method="importance", n_fantasies=16)
    a = design_runs(sim_fit, seed=5, **kw)
    b = design_runs(sim_fit, seed=5, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert "importance re-weighting" in a.attrs["how"]
    assert len(a.attrs["ess"]) == len(a)


def test_every_quantity_runs(sim_fit):
    for quantity, target in [
        ("log_n_opt", 1e24),
        ("loss", 1e24),
        ("loss", (7e10, 1.4e12)),
        ("compute_for_loss", 2.0),
        ("frontier_exponent", None),
    ]:
        df = design_runs(sim_fit, target=target, study_budget=1e20, k=2, quantity=quantity)
        assert len(df) >= 1, quantity
    custom = design_runs(sim_fit, study_budget=1e20, k=2, quantity=lambda p: p["alpha"] - p["beta"])
    assert custom.attrs["quantity"] == "custom" and "expected_factor" not in custom


def test_user_candidates(sim_fit):
    cands = candidate_grid((1e7, 1e9), (1e8, 1e11), n=10)
    df = design_runs(sim_fit, target=1e24, study_budget=1e20, k=3, candidates=cands[["N", "D"]])
    assert df.attrs["n_candidates"] == int((cands["C"] <= 1e20).sum())
    merged = df.merge(cands, on=["N", "D"])
    assert len(merged) == len(df)  # every pick is one of the candidates


def test_errors_are_one_line_plan_errors(sim_fit):
    no_draws = sl.uncertainty.attach(sim_fit, "none")
    with pytest.raises(PlanError, match="no uncertainty draws"):
        design_runs(no_draws, target=1e24, study_budget=1e20)
    with pytest.raises(PlanError, match="not above the data"):
        design_runs(sim_fit, target=1e18, study_budget=1e20)
    with pytest.raises(PlanError, match="smaller than the cheapest"):
        design_runs(sim_fit, target=1e24, study_budget=1e10)
    with pytest.raises(PlanError, match="unknown plan quantity"):
        design_runs(sim_fit, target=1e24, study_budget=1e20, quantity="n_opt")
    with pytest.raises(PlanError, match="missing"):
        design_runs(sim_fit, target=1e24, study_budget=1e20, candidates=pd.DataFrame({"N": [1e8]}))
    with pytest.raises(PlanError, match="positive"):
        design_runs(
            sim_fit,
            target=1e24,
            study_budget=1e20,
            candidates=pd.DataFrame({"N": [1e8], "D": [-1.0]}),
        )
    with pytest.raises(ScalingLawsError, match="FitResult"):
        design_runs({"E": 1.0}, target=1e24, study_budget=1e20)


def test_first_study_from_a_published_prior():
    prior = Prior(sl.laws.chinchilla(), centre=EPOCH_2024, spread=0.05, n=400, label="Epoch")
    df = design_runs(prior, target=1e24, study_budget=5e20, k=8, max_params=3e9)
    assert 1 <= len(df) <= 8 and df["cost_so_far"].iloc[-1] <= 5e20
    assert "Epoch" in df.attrs["source"] and df.attrs["noise"] == 0.01
    # With no runs there is no data for the target to lie below, and no misfit check.
    assert df.attrs["misfit"] is None


def test_weakly_informative_prior_drops_draws_without_frontier():
    prior = Prior(sl.laws.chinchilla(), n=300, seed=2)
    df = design_runs(prior, target=1e24, study_budget=5e20, k=2)
    assert df.attrs["n_draws"] < 300
    assert any("left out" in w for w in df.attrs["warnings"])


def test_misfit_check_flags_a_wrong_law(sim_fit):
    law = sl.laws.chinchilla()
    # The fixture's design (same shape: the compiled fit is reused).
    design = base_grid(EPOCH_2024)
    runs = simulate_runs(law, EPOCH_2024, design, noise=0.002, seed=0)
    # An N x D interaction the law's additive form cannot represent: up to ~5%.
    zn, zd = (np.log(runs[c]) for c in ("N", "D"))
    zn, zd = (zn - zn.mean()) / zn.std(), (zd - zd.mean()) / zd.std()
    runs["loss"] *= np.exp(0.02 * zn * zd)
    wrong = sl.fit(law, runs)
    check = misfit_check(wrong)
    assert check is not None and check["dominates"], check
    # The design reads the misfit from the residuals a fit carries: the simulated fit's
    # draws with the wrong law's residuals must raise the warning.
    flagged = dataclasses.replace(sim_fit, data=wrong.data, residuals=wrong.residuals)
    df = design_runs(flagged, target=1e24, study_budget=1e20, k=2)
    assert any("misfit" in w for w in df.attrs["warnings"])
    clean = sl.fit(law, simulate_runs(law, EPOCH_2024, design, noise=0.01, seed=0))
    assert not misfit_check(clean)["dominates"]
    assert misfit_check(dataclasses.replace(clean, data=None)) is None


# ---------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def record(tmp_path_factory, sim_fit):
    path = tmp_path_factory.mktemp("design") / "fit.json"
    sl.save_fit(sim_fit, path)
    return path


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_contract_and_seed(record, capsys):
    args = [
        "design",
        record,
        "--target-compute",
        1e24,
        "--study-budget",
        2e20,
        "--n",
        3,
        "--quantity",
        "tokens_per_param",
        "--json",
        "--quiet",
        "--seed",
        4,
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert set(payload) == {"rows", "summary", "warnings"}
    assert {"N", "D", "C", "expected_width", "cost_so_far"} <= set(payload["rows"][0])
    assert payload["summary"]["how"].startswith("expected interval")
    assert payload["summary"]["seed"] == 4
    code2, out2, _ = run_cli(args, capsys)
    assert code2 == 0 and json.loads(out2)["rows"] == payload["rows"]


def test_cli_bad_input_exits_2_with_one_line(record, tmp_path, capsys):
    code, _, err = run_cli(
        ["design", record, "--target-compute", 1e24, "--study-budget", 10, "--quiet"], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "cheapest" in err
    code, _, err = run_cli(["design", record, "--study-budget", 1e20, "--quiet"], capsys)
    assert code == 2 and "--target-compute" in err
    bare = tmp_path / "bare.json"
    sl.save_fit(sl.uncertainty.attach(sl.load_fit(record), "none"), bare)
    code, _, err = run_cli(
        ["design", bare, "--target-compute", 1e24, "--study-budget", 1e20, "--quiet"], capsys
    )
    assert code == 2 and "no uncertainty draws" in err and err.count("\n") == 1


def test_figure_of_candidate_values(sim_fit):
    import matplotlib

    matplotlib.use("Agg")
    from scalinglaws.design import candidate_values, plot_design

    cands = candidate_grid((1e7, 1e9), (1e8, 1e11), n=8)
    values = candidate_values(sim_fit, target=1e24, candidates=cands, quantity="tokens_per_param")
    v = values["value_per_flop"]
    assert len(values) == 64 and (v >= -1e-12 * v.max()).all()  # reductions, up to rounding
    picks = design_runs(sim_fit, target=1e24, study_budget=1e20, k=3, candidates=cands)
    ax = plot_design(values, picks, sim_fit.data)
    assert ax.get_xscale() == "log" and len(ax.collections) >= 3
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_cli_runs_are_read_with_the_run_log_options(record, sim_fit, tmp_path, capsys):
    """``design --runs`` takes the run-log options (a checkpoint log needs them); without
    them it reads the log as the record was fitted (here: each run's last checkpoint)."""
    data = sim_fit.data[["N", "D", "loss"]]
    half = data.assign(D=data["D"] / 2, loss=data["loss"] * 1.01, step=0)
    log = pd.concat([half, data.assign(step=1)]).assign(
        model=np.tile([f"m{i}" for i in range(len(data))], 2)
    )
    path = tmp_path / "checkpoints.csv"
    log[["model", "step", "N", "D", "loss"]].to_csv(path, index=False)
    base = ["design", record, "--target-compute", 1e24, "--study-budget", 2e20, "--n", 2]
    base += ["--runs", path, "--column", "run=model", "--json"]
    code, out, err = run_cli([*base, "--checkpoints", "all"], capsys)
    assert code == 0, err
    assert json.loads(out)["summary"]["runs_known"] == 2 * len(data)
    code, out, err = run_cli(base, capsys)
    assert code == 0, err
    assert json.loads(out)["summary"]["runs_known"] == len(data)
    code, _, err = run_cli(
        ["design", record, "--target-compute", 1e24, "--study-budget", 2e20, "--where", "N > 0"],
        capsys,
    )
    assert code == 2 and "apply to --runs" in err and err.count("\n") == 1
