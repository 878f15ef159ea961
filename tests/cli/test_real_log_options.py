"""Run-log options on the command line: --checkpoints, --where, --column, --best-of,
--drop-nonfinite, --loss-is, on every command that reads runs; the approaches JSON."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglaws.cli import build_parser, main
from tests.conftest import SHARED_DATA, require_shared

GEMSTONES = SHARED_DATA / "gemstones" / "checkpoints.csv"
GEMSTONES_FITS = SHARED_DATA / "gemstones" / "published_fits.json"
OPT = SHARED_DATA / "colpret-opt" / "opt_checkpoints.csv"
HOT_10_100B = "schedule == 'hot' and D <= 1.01e11"
TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def checkpoint_csv(tmp_path_factory):
    """12 runs x 5 checkpoints of a known law (1% noise), in W&B-like naming."""
    rng = np.random.default_rng(0)
    rows = []
    for r, n in enumerate(np.geomspace(5e7, 5e9, 12)):
        final = 20 * n * (3.0 if r % 2 else 0.4)
        for step in range(1, 6):
            d = final * step / 5
            law = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
            rows.append(
                {
                    "Name": f"run{r}",
                    "step": step,
                    "params": n,
                    "tokens": d,
                    "eval/loss": law * math.exp(0.01 * rng.standard_normal()),
                    "train/loss": law * 0.97,
                }
            )
    path = tmp_path_factory.mktemp("logs") / "wandb.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_help_documents_the_run_log_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    fit = next(a for a in sub.choices["fit"]._actions if a.dest == "law").choices
    commands = {
        "fit chinchilla": fit["chinchilla"],
        "fit avgparams": fit["avgparams"],
        "approaches": sub.choices["approaches"],
        "backtest": sub.choices["backtest"],
        "record": sub.choices["record"],
    }
    for name, p in commands.items():
        helps = {o: a.help for a in p._actions for o in a.option_strings}
        for opt in ("--column", "--checkpoints", "--where", "--drop-nonfinite", "--loss-is"):
            assert helps.get(opt), f"{name} {opt} has no help text"
    fitc = {o: a.help for a in fit["chinchilla"]._actions for o in a.option_strings}
    for opt in ("--uncertainty", "--seed", "--duplicates", "--best-of"):
        assert fitc[opt], opt
    assert fit["chinchilla"].description
    cmr = {o: a.help for a in fit["cmr"]._actions for o in a.option_strings}
    assert cmr["--column"] and cmr["--where"]
    plan = next(a for a in sub.choices["plan"]._actions if a.dest == "plan").choices
    for p in (sub.choices["schedule"], plan["sparsity"]):
        assert {o: a.help for a in p._actions for o in a.option_strings}["--kind"]
    backtest = {o: a.help for a in sub.choices["backtest"]._actions for o in a.option_strings}
    assert backtest["--leave-one-budget-out"] and backtest["--plot"]
    approaches = {o: a.help for a in sub.choices["approaches"]._actions for o in a.option_strings}
    assert approaches["--budgets"]


@pytest.mark.slow
def test_wandb_export_refused_with_the_fix_then_fitted(capsys, checkpoint_csv):
    code, _, err = run_cli(["fit", "chinchilla", checkpoint_csv, "--quiet"], capsys)
    assert code == 2 and "--column loss=eval/loss" in err and "Traceback" not in err
    code, out, _ = run_cli(
        [
            "fit", "chinchilla", checkpoint_csv, "--column", "loss=eval/loss",
            "--checkpoints", "all", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    assert payload["diagnostics"]["n_runs"] == 60
    assert payload["diagnostics"]["load_options"]["checkpoints"] == "all"
    assert any("kept all 60 checkpoints of 12 runs" in n for n in payload["warnings"])
    # 1% noise on 60 points: the exponents come back within 0.05 of the truth.
    assert payload["params"]["alpha"] == pytest.approx(TRUTH["alpha"], abs=0.05)
    assert payload["params"]["beta"] == pytest.approx(TRUTH["beta"], abs=0.05)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--checkpoints", "after-fraction"], "after-fraction F"),
        (["--checkpoints", "sometimes"], "checkpoints must be"),
        (["--checkpoints", "all", "extra"], "write the run log before the options"),
        (["--where", "N > 1e9; import os"], "cannot read"),
        (["--column", "N"], "ROLE=COLUMN"),
        (["--column", "lr=eval/loss"], "not one of"),
    ],
)
def test_bad_run_log_options_exit_2_in_one_line(capsys, checkpoint_csv, words, message):
    argv = ["fit", "chinchilla", checkpoint_csv, "--column", "loss=eval/loss", *words]
    try:
        code, _, err = run_cli([*argv, "--quiet"], capsys)
    except SystemExit as exc:  # refused by the argument parser itself
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_drop_nonfinite_suggested_then_applied(capsys, tmp_path, checkpoint_csv):
    table = pd.read_csv(checkpoint_csv)
    table.loc[[4, 9], "eval/loss"] = [np.nan, np.inf]
    path = tmp_path / "diverged.csv"
    table.to_csv(path, index=False)
    base = ["fit", "chinchilla", path, "--column", "loss=eval/loss", "--quiet", "--json"]
    code, _, err = run_cli(base, capsys)
    assert code == 2 and "--drop-nonfinite" in err
    code, out, _ = run_cli([*base, "--drop-nonfinite"], capsys)
    assert code == 0
    notes = json.loads(out)["diagnostics"]["load_notes"]
    assert notes[0].startswith("dropped 2 rows whose loss is empty, NaN or infinite (first at")


def test_approaches_json_carries_prefactors(capsys, checkpoint_csv):
    code, out, _ = run_cli(
        [
            "approaches", checkpoint_csv, "--approach", "3", "--budgets", "1e21", "1e22",
            "--column", "loss=eval/loss", "--checkpoints", "all", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    (a3,) = payload["summary"]["approaches"]
    for key in ("a", "b", "G_N", "G_N_lo", "G_N_hi", "G_D", "G_D_lo", "G_D_hi"):
        assert key in a3 and a3[key] is not None
    # N* = G_N C^a and D* = G_D C^b reproduce the plan rows (same float64 closed forms).
    for row in payload["rows"]:
        assert row["N_opt"] == pytest.approx(a3["G_N"] * row["C"] ** a3["a"], rel=1e-9)
        assert row["D_opt"] == pytest.approx(a3["G_D"] * row["C"] ** a3["b"], rel=1e-9)


def test_approach3_absurd_plan_refused(capsys, tmp_path):
    """Every run at one token count: alpha and beta cannot be separated, no plan printed."""
    rng = np.random.default_rng(1)
    n = np.geomspace(5e7, 2e9, 16)
    d = np.full_like(n, 1e10)
    loss = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
    loss = loss * np.exp(0.003 * rng.standard_normal(n.size))
    path = tmp_path / "one_d.csv"
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(path, index=False)
    code, out, err = run_cli(
        ["approaches", path, "--approach", "3", "--budgets", "1e22", "--quiet"], capsys
    )
    # Refused from the runs, before any fit: on such runs the fitted allocation depends
    # on rounding (3 tokens per parameter with N_opt ~ C^0.06 on one CPU, a plausible-
    # looking 2,800 with C^0.49 on another), so no check of its values can be relied on.
    assert code == 2 and out == ""
    assert "not an answer" in err and "every run has the same D" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow  # a backtest, a record and its drift check: ~13 s
def test_backtest_and_record_take_the_options(capsys, tmp_path, checkpoint_csv):
    code, out, _ = run_cli(
        [
            "backtest", checkpoint_csv, "--holdout-query", "N > 2e9",
            "--column", "loss=eval/loss", "--checkpoints", "after-fraction 0.5",
            "--where", "step >= 2", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out)["summary"]
    # 12 runs x checkpoints 3, 4, 5 (at or past half of the tokens): 36 rows in all.
    assert summary["n_holdout"] + summary["n_train"] == 36
    # The drift check reads data only under the registry's root: keep a copy there.
    local = tmp_path / "wandb.csv"
    local.write_bytes(Path(checkpoint_csv).read_bytes())
    code, out, _ = run_cli(
        [
            "record", "chinchilla", local, "--dataset", "wandb",
            "--fits-dir", tmp_path / "fits", "--column", "loss=eval/loss",
            "--checkpoints", "all", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    record_path = json.loads(out)["rows"][0]["record"]
    record = json.loads(Path(record_path).read_text())
    assert record["data"]["load_options"] == {
        "columns": {"loss": "eval/loss"},
        "checkpoints": "all",
    }
    # The drift check refits with the recorded options: no drift.
    code, out, err = run_cli(["check", record_path, "--quiet"], capsys)
    assert code == 0, out + err


def test_best_of_on_a_simulated_sweep(capsys, tmp_path, checkpoint_csv):
    table = pd.read_csv(checkpoint_csv)
    parts = []
    for lr, penalty in ((1e-4, 1.04), (3e-4, 1.0), (1e-3, 1.06)):
        part = table.assign(Name=table["Name"] + f"-{lr:g}", lr=lr)
        part["eval/loss"] = part["eval/loss"] * penalty
        parts.append(part)
    path = tmp_path / "sweep.csv"
    pd.concat(parts).to_csv(path, index=False)
    code, out, _ = run_cli(
        [
            "fit", "chinchilla", path, "--column", "loss=eval/loss", "--best-of", "lr",
            "--checkpoints", "all", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    assert payload["diagnostics"]["n_runs"] == 60
    assert any("kept the best 'lr'" in n for n in payload["diagnostics"]["load_notes"])


def test_best_of_per_on_a_repeated_data_sweep_records_and_checks(capsys, tmp_path):
    """--best-of lr --best-of-per unique_tokens keeps each configuration's own best rate
    (a 3% penalty marks the others); the record keeps both options, so `check` refits
    the same rows (no drift). --best-of-per alone is refused, nothing written."""
    rows = []
    for n in (5e7, 1e8, 2e8, 4e8):
        for ratio in (5, 20, 80):
            d = ratio * n
            for unique, best_lr in ((d, 1e-3), (d / 16, 3e-4)):
                base = 1.7 + 400 * n**-0.34 + 410 * unique**-0.28
                for lr in (3e-4, 1e-3):
                    rows.append(
                        {"N": n, "D": d, "unique_tokens": unique, "lr": lr,
                         "loss": base * (1.0 if lr == best_lr else 1.03)}
                    )  # fmt: skip
    path = tmp_path / "repeated.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    record = tmp_path / "fit.json"
    args = ["fit", "chinchilla", path, "--best-of", "lr", "--best-of-per", "unique_tokens"]
    code, out, err = run_cli([*args, "--json", "--quiet", "--out", record], capsys)
    assert code == 0, err
    diag = json.loads(out)["diagnostics"]
    assert diag["n_runs"] == 24
    assert diag["load_options"]["best_of_per"] == ["unique_tokens"]
    assert any("(N, D, unique_tokens) groups" in n for n in diag["load_notes"])
    code, out, err = run_cli(["check", record, "--quiet"], capsys)
    assert code == 0, out + err
    other = tmp_path / "other.json"
    code, out, err = run_cli(
        ["fit", "chinchilla", path, "--best-of-per", "unique_tokens", "--out", other], capsys
    )
    assert code == 2 and "give best_of too" in err and not other.exists()


@pytest.mark.slow  # ~20 s: compiles a 220-point fit in a fresh CLI call
def test_gemstones_cli_reproduces_the_published_fit(capsys):
    """`fit chinchilla` on the hot checkpoints at 10-100B tokens, selected with --where.

    Tolerances as in tests/io/test_real_logs.py: objective 1e-6 relative (measured
    4.6e-8), alpha and beta 0.005 (measured 2.3e-5 and 1.1e-4).
    """
    path = require_shared(GEMSTONES)
    published = json.loads(require_shared(GEMSTONES_FITS).read_text())[
        "parameters_delta-3/approach_3_parameters_grid_search_0_hot.json"
    ]
    code, out, _ = run_cli(
        [
            "fit", "chinchilla", path, "--checkpoints", "all", "--where", HOT_10_100B,
            "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    assert payload["diagnostics"]["n_runs"] == 220
    assert payload["status"] == "converged"
    assert payload["objective"] == pytest.approx(published["objective"], rel=1e-6)
    assert payload["params"]["alpha"] == pytest.approx(published["alpha"], abs=0.005)
    assert payload["params"]["beta"] == pytest.approx(published["beta"], abs=0.005)


@pytest.mark.slow  # two fits of the OPT log in fresh CLI calls
def test_opt_cli_perplexities_caught_and_converted(capsys):
    path = require_shared(OPT)
    base = [
        "fit", "chinchilla", path, "--column", "loss=ppl", "--column", "run=model",
        "--checkpoints", "after-fraction 0.1", "--json", "--quiet",
    ]  # fmt: skip
    code, out, _ = run_cli(base, capsys)
    assert code == 0
    warned = json.loads(out)["warnings"]
    assert any("LOSS LOOKS LIKE PERPLEXITY" in w and "--loss-is perplexity" in w for w in warned)
    code, out, _ = run_cli([*base, "--loss-is", "perplexity"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert not any("PERPLEXITY" in w for w in payload["warnings"])
    assert payload["diagnostics"]["n_runs"] == 116
    # Losses in nats per token (2.3-3.6 here): the fitted floor E lies below them.
    assert 0.0 < payload["params"]["E"] < 2.3


@pytest.mark.slow  # a fit in a fresh CLI call
def test_gemstones_last_checkpoints_approach3_refused(capsys):
    """The issue's case: the last checkpoints sit at one token count; no plan is printed."""
    path = require_shared(GEMSTONES)
    code, out, err = run_cli(
        [
            "approaches", path, "--approach", "3", "--budgets", "1e22",
            "--where", "schedule == 'hot'", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "not an answer" in err and "--checkpoints all" in err


@pytest.mark.slow  # a CMR pipeline fit (~10 s of CPU)
def test_fit_cmr_takes_column_and_where(capsys, tmp_path):
    curves = Path(__file__).resolve().parents[2] / "data" / "cmr" / "simulated_curves.csv"
    text = curves.read_text().replace(
        "model,ratio,tokens,split,loss", "size,ratio,tokens,split,eval/loss", 1
    )
    path = tmp_path / "curves.csv"
    path.write_text(text)
    code, out, err = run_cli(
        [
            "fit", "cmr", path, "--uncertainty", "none", "--column", "model=size",
            "--column", "loss=eval/loss", "--where", "size != '3.1B'", "--json", "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(json.loads(out)["objective"]) == ["1.6B", "460M", "940M"]
    # A record keeps the selection, so the drift check refits the same rows: it passes on
    # the file, and fails when the record's selection is changed to other rows.
    record = tmp_path / "r.json"
    code, _, err = run_cli(
        [
            "fit", "cmr", path, "--uncertainty", "none", "--column", "model=size",
            "--column", "loss=eval/loss", "--where", "size != '3.1B'", "--out", record,
            "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    load = json.loads(record.read_text())["data"]["load_options"]
    assert load["columns"] == {"model": "size", "loss": "eval/loss"}
    assert load["where"] == "size != '3.1B'"
    code, out, err = run_cli(["check", record, "--json", "--quiet"], capsys)
    assert code == 0, err + out
    rec = json.loads(record.read_text())
    rec["data"]["load_options"]["where"] = "size != '460M'"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(rec))
    code, out, err = run_cli(["check", other, "--json", "--quiet"], capsys)
    assert code == 1 and json.loads(out)["rows"][0]["status"] == "DRIFT"


@pytest.mark.slow  # two avgparams fits and a refit (~20 s)
def test_fit_avgparams_takes_where_and_records_it(capsys, tmp_path):
    """``fit avgparams --where`` fits the selected runs, and its record replays the
    selection: ``check`` refits the same 61 runs (the 4 cubic-schedule runs of 65 left out)."""
    import shutil

    # check reads data only under the record's folder: a copy of the log and its counts.
    shutil.copytree(Path(__file__).resolve().parents[2] / "data" / "sparse", tmp_path / "sparse")
    runs = tmp_path / "sparse" / "runs.csv"
    record = tmp_path / "avg.json"
    code, out, err = run_cli(
        [
            "fit", "avgparams", runs, "--where", "schedule != 'cubic'", "--json", "--quiet",
            "--out", record,
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(record.read_text())["data"]["load_options"]["where"] == (
        "schedule != 'cubic'"
    )
    assert json.loads(record.read_text())["data"]["n_runs"] == 61
    code, out, err = run_cli(["check", record, "--json", "--quiet"], capsys)
    assert code == 0, err + out
    code, out, err = run_cli(
        ["fit", "avgparams", runs, "--where", "schedule == 'nope'", "--quiet"], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "schedule == 'nope'" in err
