"""Laplace approximation: a Gaussian at the optimum from the Hessian of a likelihood.

The likelihood is Gaussian on the fit's residuals (log residuals for laws fitted on log
loss) with the noise scale fixed at its point estimate,

    -log p(y | theta) = sum_i w_i r_i(theta)^2 / (2 sigma^2) + const,
    sigma^2 = sum_i w_i r_i(theta_hat)^2 / (n - P),

and the covariance is the inverse of its exact Hessian (second-order terms of the
residuals included, unlike the Gauss-Newton covariance of :class:`FitResult`) at the point
fit theta_hat, on the internal scale (logs of log-scale parameters) where the posterior
is closest to Gaussian (MacKay 1992, doi:10.1162/neco.1992.4.3.448). When that Hessian is
not positive definite (the Huber optimum is not the least-squares optimum), the
Gauss-Newton matrix J^T W J / sigma^2 is used instead and ``extra["hessian"]`` says so.

The sum treats the rows as independent. Rows that are checkpoints of fewer runs share each
run's deviation, which it leaves out: the intervals are then likely too narrow, and a
warning says so (the bootstrap by run resamples whole runs instead).
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError, ScalingLawsWarning
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty._data import (
    FitData,
    check_count,
    fit_data,
    natural_draws,
    point_internal,
    shared_run_noise_note,
)

#: Condition number (after scaling to unit diagonal) above which a precision matrix is
#: treated as singular.
MAX_CONDITION = 1e14


@cached_jit(static_argnames=("law",))
def _gaussian_curvature(law: Law, theta, inputs, target, weights):
    """(exact Hessian, Gauss-Newton matrix, sigma^2) of the Gaussian log-likelihood."""
    n_params = theta.shape[-1]
    resid = law.residuals(theta, inputs, target)
    sigma2 = jnp.sum(weights * resid**2) / jnp.maximum(jnp.sum(weights) - n_params, 1.0)

    def nll(t):
        r = law.residuals(t, inputs, target)
        return 0.5 * jnp.sum(weights * r * r) / sigma2

    hess = jax.hessian(nll)(theta)
    jac = jax.jacfwd(lambda t: law.residuals(t, inputs, target))(theta)
    gauss_newton = jac.T @ (weights[:, None] * jac) / sigma2
    return hess, gauss_newton, sigma2


def _scaled_inverse(precision: np.ndarray) -> np.ndarray | None:
    """Inverse of a symmetric positive-definite matrix, or None when it is not one."""
    if not np.all(np.isfinite(precision)):
        return None
    d = np.sqrt(np.abs(np.diag(precision)))
    if np.any(d == 0):
        return None
    scaled = precision / np.outer(d, d)
    scaled = 0.5 * (scaled + scaled.T)
    eig = np.linalg.eigvalsh(scaled)
    if eig[0] <= 0 or eig[-1] / eig[0] > MAX_CONDITION:
        return None
    return np.linalg.inv(scaled) / np.outer(d, d)


def laplace_covariance(
    result: FitResult, data: FitData | None = None
) -> tuple[np.ndarray, float, str]:
    """Covariance of the internal parameters at the point fit, its noise scale and source.

    Returns:
        ``(covariance (P, P), sigma, source)`` with ``source`` ``"hessian"`` or
        ``"gauss-newton"`` (the fallback when the exact Hessian is not positive definite).

    Raises:
        ScalingLawsError: Both matrices are singular (some parameter is not identified).
    """
    data = fit_data(result, "the Laplace approximation") if data is None else data
    theta = point_internal(result)
    with jax.enable_x64(True):
        # Host arrays straight into the compiled call (jnp.asarray on host data would
        # compile a one-operation program per shape in a fresh process).
        hess, gn, sigma2 = _gaussian_curvature(
            result.law,
            np.asarray(theta, dtype=np.float64),
            {k: np.asarray(v, dtype=np.float64) for k, v in data.inputs.items()},
            np.asarray(data.target, dtype=np.float64),
            np.ones(data.n),
        )
        hess, gn, sigma2 = np.asarray(hess), np.asarray(gn), float(sigma2)
    cov = _scaled_inverse(hess)
    source = "hessian"
    if cov is None:
        cov, source = _scaled_inverse(gn), "gauss-newton"
    if cov is None:
        raise ScalingLawsError(
            f"the {result.law.name} fit's curvature is singular: some parameter is not "
            "identified by these runs, so no Gaussian approximation exists; use "
            "bootstrap or bayes"
        )
    return 0.5 * (cov + cov.T), float(np.sqrt(sigma2)), source


def laplace(result: FitResult, n: int = 1000, seed: int = 0) -> FitResult:
    """Laplace approximation of parameter uncertainty: instant, Gaussian, local.

    Draws theta ~ Normal(theta_hat, H^-1) on the internal scale (H the Hessian of the
    Gaussian log-likelihood described in this module's docstring), then maps them to
    natural units (exp of log-scale parameters, so those draws are log-normal). Draws
    falling outside a parameter's bounds are clipped onto them and counted in
    ``diagnostics["clipped"]``. The predictive noise scale is sigma (Gaussian), stored in
    ``extra["noise_scale"]``.

    Args:
        result: A point fit (it must carry its data).
        n: Number of draws.
        seed: Seed of the draws; the same seed gives the same draws.

    Returns:
        ``result`` with ``uncertainty`` set (method ``"laplace"``).

    Raises:
        ScalingLawsError: Bad options, no data, or a singular curvature.
    """
    n = check_count(n, "number of Laplace draws")
    data = fit_data(result, "the Laplace approximation")
    cov, sigma, source = laplace_covariance(result, data)
    note = shared_run_noise_note(data, "Laplace", len(result.law.params))
    if note is not None:
        warnings.warn(note, ScalingLawsWarning, stacklevel=2)
    if source != "hessian":
        warnings.warn(
            "Laplace: the exact Hessian is not positive definite at the point fit; "
            "using the Gauss-Newton approximation",
            ScalingLawsWarning,
            stacklevel=2,
        )
    theta_hat = point_internal(result)
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(cov)
    theta = theta_hat + rng.standard_normal((n, theta_hat.size)) @ chol.T
    lo, hi = (np.asarray(b) for b in result.law.internal_bounds())
    clipped = np.any((theta < lo) | (theta > hi), axis=1)
    theta = np.clip(theta, lo, hi)
    names = result.law.param_names
    unc = Uncertainty(
        method="laplace",
        draws=natural_draws(result, theta),
        diagnostics={
            "clipped": int(np.sum(clipped)),
            "hessian": source,
            "sd_internal": {nm: float(np.sqrt(cov[i, i])) for i, nm in enumerate(names)},
        },
        converged=True,
        extra={
            "seed": int(seed),
            "n_draws": n,
            "hessian": source,
            "likelihood": "gaussian on residuals, sigma at its point estimate",
            "covariance_internal": cov,
            "noise": "gaussian, point-fit residual scale",
            "noise_scale": sigma,
            "noise_dof": float("inf"),
        },
    )
    return dataclasses.replace(result, uncertainty=unc)
