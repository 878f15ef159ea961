"""A term appended to a formula reads ``- 1.44``, never ``+ -1.44``: the one helper, the
CMR summary text and the figures' legends.

The fits here are built by hand (no fitting), so every test runs in well under a second.
"""

from __future__ import annotations

import math
import re

import matplotlib
import pandas as pd
import pytest

import scalinglaws.plotting.mixture as plotting
from scalinglaws.mixture import pipeline
from scalinglaws.mixture.pipeline import CMRFit, signed_term

matplotlib.use("Agg")

#: A sign following another (``+ -``, ``- -``, ``+ +``, ``- +``), with or without spaces.
DOUBLE_SIGN = re.compile(r"[+-]\s*[+-]\s*\d")


@pytest.mark.parametrize(
    ("value", "fmt", "want"),
    [
        (1.44, ".3g", "+ 1.44"),
        (-1.44, ".3g", "- 1.44"),
        (0.0, ".3g", "+ 0"),
        (-0.0, ".3g", "+ 0"),  # a negative zero is not a subtraction
        (-0.000123456, ".6g", "- 0.000123456"),
        (-2.5e-7, ".3g", "- 2.5e-07"),  # the exponent's own sign stays
        (12345.678, ".4g", "+ 1.235e+04"),
    ],
)
def test_signed_term(value, fmt, want):
    assert signed_term(value, fmt) == want


def test_one_definition_shared_by_the_report_and_the_figures():
    # The figures import the report's helper; a second copy (the bug's origin) would be
    # another object defined in the plotting module.
    assert plotting.signed_term is pipeline.signed_term


def _fit(beta3: float, beta_r: float) -> CMRFit:
    """A one-model CMR fit with the given intercepts, everything else plausible."""
    model = "460M"
    critical = pd.DataFrame(
        {
            "model": model,
            "ratio": [0.2, 0.4, 0.6],
            "T0": [2e9, 5e9, 1.2e10],
            "T0_q05": [1.5e9, 4e9, 1e10],
            "T0_q95": [2.5e9, 6e9, 1.4e10],
            "weight": [1.0, 1.0, 1.0],
            "dgen_at_tmax": [0.01, 0.02, 0.05],
            "feasible": [True, True, False],
            "extrapolated": [False, False, True],
            "used_in_cmr_fit": [True, True, True],
            "tokens_max": [2e10, 2e10, 2e10],
        }
    )
    cmr = pd.DataFrame(
        {
            "model": [model],
            "alpha4": [0.35],
            "s4": [0.21],
            "beta3": [beta3],
            "status": ["ok"],
            "n_points": [3],
        }
    )
    loss_ratio = pd.DataFrame(
        {
            "model": [model, model],
            "split": ["domain", "general"],
            "alpha_R": [0.4, 0.3],
            "s_R": [-0.5, 0.8],
            "beta_R": [beta_r, beta_r],
        }
    )
    return CMRFit(
        models=(model,),
        token_unit=1e9,
        lam=math.inf,
        epsilon=0.05,
        curves=pd.DataFrame({"model": [], "ratio": [], "split": []}),
        loss_ratio=loss_ratio,
        critical=critical,
        cmr=cmr,
        curve_draws={},
        cmr_draws={},
        baselines={(model, "domain"): 2.5, (model, "general"): 2.1},
    )


@pytest.mark.parametrize(("beta3", "sign"), [(-1.44, "-"), (1.44, "+")])
def test_cmr_summary_has_no_plus_minus(beta3, sign):
    text = _fit(beta3, 2.0).report()
    (line,) = [ln for ln in text.splitlines() if " R = " in ln]
    assert f"T^0.21 {sign} 1.44   (3 points, ok)" in line, line
    assert not DOUBLE_SIGN.search(line), line


@pytest.mark.parametrize("beta", [-1.44, 1.44])
def test_figure_legends_have_no_plus_minus(beta):
    import matplotlib.pyplot as plt

    fit = _fit(beta, beta)
    ax = plotting.plot_cmr_law(fit, "460M")
    ax2 = plotting.plot_loss_ratio(fit, "460M", split="general")
    try:
        labels = [t.get_text() for a in (ax, ax2) for t in a.get_legend().get_texts()]
        formulas = [lab for lab in labels if lab.startswith(("R = ", "L(R) = "))]
        assert len(formulas) == 2, labels
        sign = "-" if beta < 0 else "+"
        assert formulas[0].endswith(f"{sign} 1.44"), formulas
        assert formulas[1].endswith(f"{sign} 1.44"), formulas
        for lab in formulas:
            assert not DOUBLE_SIGN.search(lab), lab
    finally:
        plt.close(ax.figure)
        plt.close(ax2.figure)


def test_double_sign_pattern_catches_the_old_text():
    # The pattern the tests above rely on does see the bug's output.
    assert DOUBLE_SIGN.search("R = 0.35 * T^0.21 + -1.44")
    assert not DOUBLE_SIGN.search("R = 0.35 * T^-0.21 - 1.44")
    assert not DOUBLE_SIGN.search("R = 0.35 T^0.21 - 2.5e-07")
