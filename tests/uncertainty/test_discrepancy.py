"""The posterior's orthogonalised model-discrepancy term (``discrepancy="quadratic"``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.uncertainty import predictive, sample_posterior
from scalinglaws.uncertainty.bayes import _log_jacobian, discrepancy_basis, discrepancy_spec

# Short chains: these tests check the arithmetic and plumbing of the term, not
# convergence (the Epoch test below uses the default sampler).
SHORT = {"chains": 2, "warmup": 300, "samples": 300}


@pytest.fixture(scope="module")
def disc_post(sim_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        return sample_posterior(sim_fit, seed=0, discrepancy="quadratic", **SHORT)


@pytest.mark.slow
def test_basis_is_orthogonal_to_the_laws_jacobian(disc_post, sim_fit):
    spec = disc_post.uncertainty.extra["discrepancy"]
    assert spec["inputs"] == ["N", "D"] and len(spec["terms"]) == 3
    data = sim_fit.data
    phi = discrepancy_basis(spec, {"N": data["N"], "D": data["D"]}, sim_fit.law)
    jac = _log_jacobian(sim_fit.law, np.asarray(spec["theta_ref"]), data)
    # Least-squares residuals are orthogonal to the columns they were projected on; 1e-8
    # of the columns' scale leaves room for the float64 solve and nothing more.
    cross = jac.T @ phi
    scale = np.linalg.norm(jac, axis=0)[:, None] * np.linalg.norm(phi, axis=0)[None, :]
    assert np.max(np.abs(cross) / scale) < 1e-8
    raw = discrepancy_basis({k: v for k, v in spec.items() if k != "projection"}, data)
    assert np.max(np.abs(raw - phi)) > 1e-3  # the projection does something


@pytest.mark.slow
def test_predictive_centre_is_law_plus_discrepancy(disc_post):
    x = {"N": np.array([3e9, 3e10]), "D": np.array([6e10, 6e11])}
    law_only = predictive(disc_post, x, noise=False, allow_unconverged=True)
    # Hand computation for the first draw: log y = log f(theta_0, x) + phi(x) @ w_0.
    extra = disc_post.uncertainty.extra
    spec = extra["discrepancy"]
    phi = discrepancy_basis(spec, x, disc_post.law)
    w0 = np.array([extra[f"discrepancy_w{k}"][0] for k in range(3)])
    params0 = {k: float(v[0]) for k, v in disc_post.uncertainty.draws.items()}
    f0 = np.asarray(disc_post.law.predict(params0, x))
    # noise=False still adds the discrepancy (it is part of the model's mean); relative
    # 1e-12 is float64 rounding of exp/log.
    np.testing.assert_allclose(law_only[0], f0 * np.exp(phi @ w0), rtol=1e-12)


@pytest.mark.slow
def test_record_round_trip_keeps_the_discrepancy(disc_post, tmp_path):
    path = tmp_path / "fit.json"
    sl.save_fit(disc_post, path)
    back = sl.load_fit(path)
    x = {"N": np.array([1e10]), "D": np.array([2e11])}
    a = predictive(disc_post, x, seed=3, allow_unconverged=True)
    b = predictive(back, x, seed=3, allow_unconverged=True)
    # Records thin to <= 2,000 draws; these 600 are kept whole, so draws match to JSON
    # float round-tripping (repr of float64 is exact).
    np.testing.assert_allclose(np.sort(a.ravel()), np.sort(b.ravel()), rtol=1e-12)


def test_bad_requests(sim_fit):
    with pytest.raises(sl.ScalingLawsError, match="discrepancy must be"):
        sample_posterior(sim_fit, discrepancy="cubic", **SHORT)
    with pytest.raises(sl.FitError, match="discrepancy must be"):
        sl.fit(sl.laws.chinchilla(), sim_fit.data, discrepancy="cubic")
    lin = sl.laws.get("cmr_domain_change")
    assert discrepancy_spec(lin, {n: np.array([1.0, 2.0]) for n in lin.inputs}) is None


def test_cli_refuses_discrepancy_without_bayes(capsys, tmp_path):
    out = tmp_path / "fit.json"
    code = main(
        [
            "fit",
            "chinchilla",
            "data/chinchilla_sim/runs.csv",
            "--discrepancy",
            "quadratic",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--uncertainty bayes" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_epoch_backtest_bayes_with_discrepancy_covers(epoch_csv):
    """Issue must-show: on the Epoch file the Bayesian tier's predictive intervals are no
    narrower than the errors they must cover. Without the term the tier covers 14 of 23
    held-out runs above 1e21 (0.61): its noise is calibrated in sample (91%) but the
    law's misfit grows with scale. With it: 22 of 23, median error 0.26%."""
    from scalinglaws.approaches.backtest import backtest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        res = backtest(
            epoch_csv,
            law="chinchilla",
            holdout_above_compute=1e21,
            uncertainty="bayes",
            fit_options={"discrepancy": "quadratic"},
        )
    summary = res.summary
    # 0.85 is the lower edge of the acceptable band for 90% intervals; with 23
    # runs one more miss (21/23 = 0.913) would still pass, three more (19/23) would not.
    assert summary["coverage"] >= 0.85
    assert summary["median_abs_rel_error"] < 0.01
