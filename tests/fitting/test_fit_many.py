"""``fit_many``: many curves of one law in one call, against ``fit`` curve by curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglaws.errors import FitError
from scalinglaws.fitting import fit
from scalinglaws.fitting.many import ManyFitResult, fit_many
from scalinglaws.laws.base import Law, ParamSpec
from scalinglaws.laws.cmr import cmr_law, domain_change_law

LENGTHS = (30, 22, 17)  # ragged on purpose: padded rows must not change any fit


def _domain_curves(noise: float = 2e-3, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(LENGTHS):
        t = np.geomspace(0.2, 20.0, n)
        clean = -(0.05 + 0.01 * i) * t ** (0.3 + 0.1 * i) + 0.02
        out.append(pd.DataFrame({"T": t, "dloss": clean + noise * rng.standard_normal(n)}))
    return out


def _cmr_point_sets(seed: int = 1) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(LENGTHS):
        t = np.geomspace(1.0, 50.0, n)
        clean = (0.2 + 0.05 * i) * t ** (0.25 - 0.05 * i) - 0.3
        out.append(pd.DataFrame({"T": t, "ratio": clean + 1e-3 * rng.standard_normal(n)}))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("law_factory", [domain_change_law, cmr_law])
def test_each_curve_gets_the_optimum_fit_finds_alone(law_factory):
    law = law_factory()
    curves = _domain_curves() if law.name == "cmr_domain_change" else _cmr_point_sets()
    delta, top_k, max_iter = 1e-2, 4, 1000
    many = fit_many(law, curves, delta=delta, top_k=top_k, max_iter=max_iter)
    assert isinstance(many, ManyFitResult) and len(many) == len(curves)
    for i, cv in enumerate(curves):
        one = fit(law, cv, search="varpro", delta=delta, top_k=top_k, max_iter=max_iter)
        # Same grid, same starts, same polish (ftol 1e-12 relative on the objective):
        # only float rounding of the batched arithmetic differs, so the objectives agree
        # far below the polish tolerance and the parameters to 1e-6 (the polish stops on
        # the objective, which is flat to second order around the optimum).
        assert many.objective[i] == pytest.approx(one.objective, rel=1e-9)
        for k in law.param_names:
            assert many.params[k][i] == pytest.approx(one.params[k], rel=1e-6, abs=1e-9), k
        assert many.status_names[i] == one.status
        assert many.n_points[i] == len(cv)


@pytest.mark.slow
def test_padded_curves_fit_as_if_alone():
    law = domain_change_law()
    curves = _domain_curves(seed=3)
    together = fit_many(law, curves, delta="auto")
    for i, cv in enumerate(curves):
        alone = fit_many(law, [cv], delta="auto")
        # Padding rows carry weight 0: they enter every sum as an exact 0, so only the
        # rounding of a longer batched sum differs. The polish stops on the objective
        # (ftol 1e-12 relative), which is flat to second order at the optimum: the
        # objectives agree to 1e-9 and the parameters to 1e-6 (seen: 2e-8).
        assert together.objective[i] == pytest.approx(alone.objective[0], rel=1e-9)
        np.testing.assert_allclose(together.theta[i], alone.theta[0], rtol=1e-6, atol=1e-9)
        assert together.delta[i] == pytest.approx(alone.delta[0], rel=1e-6)


@pytest.mark.slow
def test_integer_weights_are_repeated_rows():
    law = domain_change_law()
    cv = _domain_curves(seed=5)[0]
    counts = np.random.default_rng(2).integers(0, 3, len(cv)).astype(float)
    counts[:4] = 1.0  # enough distinct rows
    weighted = fit_many(law, [cv], weights=[counts], delta=1e-2)
    repeated = cv.loc[cv.index.repeat(counts.astype(int))]
    plain = fit_many(law, [repeated], delta=1e-2)
    # The weighted objective equals the repeated-row objective term by term.
    assert weighted.objective[0] == pytest.approx(plain.objective[0], rel=1e-9)
    np.testing.assert_allclose(weighted.theta[0], plain.theta[0], rtol=1e-6, atol=1e-9)


def test_stacked_arrays_and_per_curve_weight_matrix_match_tables():
    law = domain_change_law()
    cv = _domain_curves(seed=7)[0]
    rng = np.random.default_rng(0)
    w = rng.multinomial(len(cv), np.full(len(cv), 1 / len(cv)), size=5).astype(float)
    stacked = {"T": np.tile(cv["T"].to_numpy(), (5, 1)), "dloss": np.tile(cv["dloss"], (5, 1))}
    a = fit_many(law, stacked, weights=w, delta=1e-2)
    b = fit_many(law, [cv] * 5, weights=list(w), delta=1e-2)
    np.testing.assert_array_equal(a.theta, b.theta)  # the same arrays reach the solver
    assert len({round(float(v), 12) for v in a.objective}) > 1  # the draws differ


@pytest.mark.slow
def test_covariance_is_the_gauss_newton_one_where_the_data_identify_the_law():
    law = domain_change_law()
    res = fit_many(law, _domain_curves(seed=9), delta=1e3)  # least squares
    cv = _domain_curves(seed=9)[0]
    one = fit(law, cv, search="varpro", delta=1e3)
    # Prior precision 1 against a data precision ~1e4-1e6: the Laplace covariance is the
    # Gauss-Newton one to well under 1%.
    np.testing.assert_allclose(
        np.sqrt(np.diag(res.covariance[0])), np.sqrt(np.diag(one.covariance)), rtol=1e-2
    )


def test_bad_input_is_refused_by_name():
    law = domain_change_law()
    cv = _domain_curves()[0]
    with pytest.raises(FitError, match="missing \\['dloss'\\]"):
        fit_many(law, [cv.drop(columns="dloss")])
    bad = cv.copy()
    bad.loc[3, "dloss"] = np.nan
    with pytest.raises(FitError, match="curve 0, row 3, column 'dloss'"):
        fit_many(law, [bad])
    w = np.ones(len(cv))
    w[3] = 0.0
    fit_many(law, [bad], weights=[w])  # a weight-0 row is never read
    with pytest.raises(FitError, match="non-negative"):
        fit_many(law, [cv], weights=[-w])
    with pytest.raises(FitError, match="cannot determine the 3 parameters"):
        fit_many(law, [cv.iloc[:3]])
    with pytest.raises(FitError, match="delta must be"):
        fit_many(law, [cv], delta="robust")
    with pytest.raises(FitError, match="at least one curve"):
        fit_many(law, [])
    plain = Law(name="const", inputs=("T",), params=(ParamSpec("c"),), fn=lambda p, x: p["c"])
    with pytest.raises(FitError, match="no linear form"):
        fit_many(plain, [cv])
