"""The README's custom-law recipe works end to end: fit, plan-free predict, record round trip."""

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.laws import Law, ParamSpec, register


def kaplan_loss(p, x):
    return (p["Nc"] / x["N"]) ** p["alpha_N"] + p["E"]


def kaplan():
    return Law(
        name="kaplan_n",
        inputs=("N",),
        params=(
            ParamSpec("Nc", lower=0, log_scale=True, grid=(1e12, 1e13, 1e14)),
            ParamSpec("alpha_N", lower=0, upper=2, grid=(0.05, 0.1, 0.2)),
            ParamSpec("E", lower=0, log_scale=True, grid=(0.5, 1.0, 2.0)),
        ),
        fn=kaplan_loss,
    )


def test_custom_law_fit_and_record(tmp_path):
    truth = {"Nc": 8.8e13, "alpha_N": 0.076, "E": 1.2}  # Kaplan et al. 2020 N-law + offset
    n = np.geomspace(1e6, 1e10, 12)
    runs = pd.DataFrame({"N": n, "loss": np.asarray(kaplan_loss(truth, {"N": n}))})
    law = kaplan()
    res = sl.fit(law, runs)
    assert res.converged
    # Noiseless data: the truth is recovered to the polish tolerance. Nc is a flat
    # direction (exponent 0.076 turns a 1e-4 change in log Nc into a tiny loss change),
    # so it gets 1e-3.
    assert res.params["alpha_N"] == pytest.approx(truth["alpha_N"], rel=1e-4)
    assert res.params["E"] == pytest.approx(truth["E"], rel=1e-4)
    assert res.params["Nc"] == pytest.approx(truth["Nc"], rel=1e-3)
    register("kaplan_n", kaplan)
    path = sl.save_fit(res, tmp_path / "k.json")
    back = sl.load_fit(path)
    assert back.params == res.params
    with pytest.raises(sl.PlanError, match="Chinchilla-form"):
        sl.plan_compute(back, [1e21])
