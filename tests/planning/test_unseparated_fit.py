"""No compute-optimal plan from a fit whose runs cannot separate N from D."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.errors import PlanError
from scalinglaws.planning.compute import plan_compute

REPO = Path(__file__).resolve().parents[2]


def _one_token_count(path):
    """16 runs from 5e7 to 2e9 parameters, every one at 1e10 tokens (Hoffmann's law, 0.3%
    noise)."""
    rng = np.random.default_rng(1)
    n = np.geomspace(5e7, 2e9, 16)
    d = np.full_like(n, 1e10)
    loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    loss = loss * np.exp(0.003 * rng.standard_normal(n.size))
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(path, index=False)
    return path


def test_plan_compute_refuses_a_fit_of_one_token_count(tmp_path, capsys):
    """The fit itself succeeds (with its warning), but its allocation is set by rounding
    (3 or 2,800 tokens per parameter on two CPUs): `plan compute` refuses in one line,
    exit 2, nothing on stdout; Python raises PlanError."""
    runs = _one_token_count(tmp_path / "one_d.csv")
    rec = tmp_path / "fit.json"
    assert main(["fit", "chinchilla", str(runs), "--uncertainty", "none", "--out", str(rec)]) == 0
    capsys.readouterr()
    code = main(["plan", "compute", str(rec), "--budget", "1e22"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "cannot separate N from D (every run has the same D" in err
    assert len(err.strip().splitlines()) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        fit = sl.fit(sl.laws.chinchilla(), sl.load_runs(runs), uncertainty="none")
    with pytest.raises(PlanError, match="cannot separate N from D"):
        plan_compute(fit, 1e22)


def test_a_fit_of_an_isoflop_design_still_plans(tmp_path):
    """The refusal keys on the design message, not on any warning: a fit of a bundled
    isoFLOP study plans."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        fit = sl.fit(sl.laws.chinchilla(), sl.load_runs(REPO / "data" / "chinchilla_sim" / "runs.csv"))
    assert not any(w.startswith("UNIDENTIFIABLE") for w in fit.warnings)
    assert len(plan_compute(fit, [1e21, 1e22])) == 2
