"""Bayesian posterior of any law by NUTS, with a numpyro model generated from its specs.

Model (for a law with parameters theta on the internal scale, residuals r_i(theta)):

    theta_j ~ Normal(prior_loc_j, prior_scale_j) truncated to the spec's bounds
    log sigma ~ Normal(log sigma0, 2),    sigma0 = 1.4826 * MAD of the point-fit residuals
    nu        fixed (default 3), or learned: nu ~ Gamma(2, 0.1) truncated to nu > 1
    r_i(theta) ~ StudentT(nu, 0, sigma)   independently over the rows

For Chinchilla the residuals are log-loss residuals log L_hat - log L (the priors are the
ParamSpec values: log E ~ N(0.5, 1), log A ~ N(6, 4), log B ~ N(7, 4), alpha and beta ~
N(0.35, 0.5) on [0, 5]), all weakly informative next to what hundreds of runs say. The
Student-t likelihood (Lange, Little & Taylor 1989, doi:10.2307/2290063) keeps a handful of
outlying runs from dragging the fit, as the Huber objective does for the point fit. nu = 3
is the heaviest tail with a finite variance; on the 245-run Epoch file (which holds a few
badly digitised points) it gave no divergent transitions in 6 of 6 seeds, where nu = 5
gave some in 1 of 3.

Rows that are checkpoints of fewer runs are not independent (a run's checkpoints share
its deviation): the posterior then leaves that shared part out, its intervals are likely
too narrow, and a warning says so (:func:`~scalinglaws.uncertainty._data.shared_run_noise_note`;
the Laplace approximation has the same caveat, the bootstrap by run does not).

Sampling happens in whitened coordinates z: every bounded parameter is first mapped to
the real line (log for a one-sided bound, logit for an interval), giving u, and then
u = u_hat + L z with L the Cholesky factor of the Laplace covariance of u at the point fit.
The affine map removes the strong linear correlations of these laws; for Chinchilla it
contains the centring of log N and log D that DESIGN §6 recommends (log A - alpha * mean
log N is what the data pin down, not log A), and in addition scales every direction to
about one. NUTS (Hoffman & Gelman 2014, arXiv 1111.4246) then runs with a dense mass
matrix, target acceptance 0.98 (``DEFAULT_TARGET_ACCEPT``), and every chain starts at the
point fit plus a small jitter (0.3 posterior sd per coordinate).

Why 0.98: the Student-t likelihood bends the posterior in its far tails (on the Epoch
file's 240-run subset, where A and alpha are both at their 0.1% quantiles, and B and beta
at their 99%). With target 0.9, 2 of 10 seeds gave 1-2 divergent transitions out of 4,000
there, and 3 of 10 with 0.95; with 0.98, none in 10 seeds on the 240 runs and 4 on the
245, for 10-20% more time per posterior (the realised acceptance at target 0.9 was
already 0.92-0.97, so the step size shrinks little).

Chains run in parallel across devices (``chain_method="parallel"``, one chain per device)
when ``jax.local_device_count() >= chains``; on one device otherwise, one after another
on a CPU (``"sequential"``) and batched on an accelerator (``"vectorized"``, where every
step waits for the chains' longest trajectory, which on a CPU cost 1.05-1.6x the
sequential time: ``bench/bayes_chain_layout.py``); the method used is in
``extra["chain_method"]``. On a CPU host, set
``XLA_FLAGS=--xla_force_host_platform_device_count=<chains>`` before JAX is imported to get
parallel chains. NUTS on a model this small is faster on the CPU than on a GPU; route
posterior sampling to the CPU and bootstrap refits to the accelerator. Except in parallel
across devices, the chains run through two compiled programs (``_nuts_chains``: the
kernel's initialisation, then numpyro's NUTS kernel stepped by ``lax.scan`` in calls of
:data:`NUTS_CHUNK` iterations, the steps of numpyro's ``MCMC.run``), which
:mod:`scalinglaws.exported` can keep across processes: a second command line call neither
traces nor lowers the sampler, and other draw counts or a continuation reuse it.

Diagnostics: rank-normalised split R-hat and bulk effective sample size per parameter
(Vehtari et al. 2021, arXiv 1903.08008; :mod:`scalinglaws.uncertainty.mcmc_diagnostics`,
equal to ArviZ's values), and the divergent transitions. The
posterior is labelled converged only when every R-hat <= 1.01, there are no divergences,
and every bulk ESS >= ``min_ess`` (default 100 per chain). When the draws fail only the
R-hat or ESS part, every chain is continued once (``extend``) for as many draws again,
with its adapted step size and mass matrix, and all draws are judged again: on a hard
posterior (a misfitting law on a repeated-data sweep with a long curved ridge, tree
sizes of 150 steps) a borderline R-hat of 1.012 or an ESS of 365 is a matter of too few
draws, which the continued chains supply; divergences are not, and are never extended.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError, ScalingLawsWarning
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty._data import (
    check_count,
    fit_data,
    natural_draws,
    point_internal,
    shared_run_noise_note,
)
from scalinglaws.uncertainty.laplace import laplace_covariance

#: Convergence thresholds (Vehtari et al. 2021, arXiv 1903.08008).
MAX_R_HAT = 1.01
MIN_ESS_PER_CHAIN = 100
#: Default Student-t degrees of freedom of the likelihood.
DEFAULT_DOF = 3.0
#: Prior standard deviation of each discrepancy weight (log-loss change per squared
#: standard deviation of the inputs' logs): curvature of a few percent across the runs'
#: spread is allowed, more is not.
DISCREPANCY_PRIOR_SCALE = 0.02
#: NUTS target acceptance probability (see the module docstring for the evidence).
DEFAULT_TARGET_ACCEPT = 0.98

#: Prior on a learned nu: Gamma(shape 2, rate 0.1) (Juarez & Steel 2010,
#: doi:10.1198/jbes.2009.07026), truncated to nu > 1 (finite mean).
DOF_PRIOR = (2.0, 0.1)
#: Standard deviation of the prior on log sigma.
LOG_SIGMA_PRIOR_SCALE = 2.0
#: Initial jitter of the chains, in posterior standard deviations (whitened units).
INIT_JITTER = 0.3

_UNBOUNDED, _LOWER, _UPPER, _INTERVAL = 0, 1, 2, 3


def _bound_kinds(law: Law) -> tuple[tuple[int, float, float], ...]:
    out = []
    for p in law.params:
        lo, hi = p.internal_bounds()
        if math.isfinite(lo) and math.isfinite(hi):
            out.append((_INTERVAL, lo, hi))
        elif math.isfinite(lo):
            out.append((_LOWER, lo, hi))
        elif math.isfinite(hi):
            out.append((_UPPER, lo, hi))
        else:
            out.append((_UNBOUNDED, lo, hi))
    return tuple(out)


def _from_real(law: Law, u):
    """Real vector u -> internal theta within bounds, and log |d theta / d u|."""
    thetas, logdet = [], 0.0
    for j, (kind, lo, hi) in enumerate(_bound_kinds(law)):
        x = u[..., j]
        if kind == _INTERVAL:
            thetas.append(lo + (hi - lo) * jax.nn.sigmoid(x))
            logdet = logdet + math.log(hi - lo) + jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x)
        elif kind == _LOWER:
            thetas.append(lo + jnp.exp(x))
            logdet = logdet + x
        elif kind == _UPPER:
            thetas.append(hi - jnp.exp(x))
            logdet = logdet + x
        else:
            thetas.append(x)
    return jnp.stack(thetas, axis=-1), logdet


def _to_real(law: Law, theta: np.ndarray) -> np.ndarray:
    """Internal theta (strictly inside the bounds) -> real vector u."""
    u = []
    for j, (kind, lo, hi) in enumerate(_bound_kinds(law)):
        t = float(theta[j])
        if kind == _INTERVAL:
            f = min(max((t - lo) / (hi - lo), 1e-9), 1 - 1e-9)
            u.append(math.log(f) - math.log1p(-f))
        elif kind == _LOWER:
            u.append(math.log(max(t - lo, 1e-300)))
        elif kind == _UPPER:
            u.append(math.log(max(hi - t, 1e-300)))
        else:
            u.append(t)
    return np.asarray(u)


def _dtheta_du(law: Law, u: np.ndarray) -> np.ndarray:
    """Diagonal of d theta / d u of :func:`_from_real` at ``u``, on the host."""
    out = []
    for j, (kind, lo, hi) in enumerate(_bound_kinds(law)):
        x = float(u[j])
        if kind == _INTERVAL:
            e = math.exp(-abs(x))  # sigmoid'(x) = e / (1 + e)^2, overflow-free
            out.append((hi - lo) * e / (1.0 + e) ** 2)
        elif kind == _LOWER:
            out.append(math.exp(x))
        elif kind == _UPPER:
            out.append(-math.exp(x))
        else:
            out.append(1.0)
    return np.asarray(out)


@cached_jit(static_argnames=("law",))
def _residuals_at(law: Law, theta, inputs, target):
    return law.residuals(theta, inputs, target)


def _log_density(law: Law, learn_dof: bool, z, args, n_disc: int = 0):
    """Unnormalised log posterior in whitened coordinates z (see the module docstring)."""
    n_params = len(law.params)
    u = args["u_hat"] + args["chol"] @ z
    theta, logdet = _from_real(law, u[:n_params])
    log_sigma = u[n_params]
    if n_disc:
        w = u[n_params + 1 + int(learn_dof) :]
        delta = args["disc_phi"] @ w
        lp_disc = -0.5 * jnp.sum((w / DISCREPANCY_PRIOR_SCALE) ** 2)
    else:
        delta, lp_disc = 0.0, 0.0
    sigma = jnp.exp(log_sigma)
    if learn_dof:
        nu = 1.0 + jnp.exp(u[n_params + 1])
        shape, rate = DOF_PRIOR
        lp_nu = (shape - 1.0) * jnp.log(nu) - rate * nu + u[n_params + 1]
    else:
        nu, lp_nu = args["dof"], 0.0
    lp = jnp.sum(-0.5 * ((theta - args["prior_loc"]) / args["prior_scale"]) ** 2) + logdet
    lp = lp - 0.5 * ((log_sigma - args["log_sigma0"]) / LOG_SIGMA_PRIOR_SCALE) ** 2 + lp_nu
    lp = lp + lp_disc
    # Observed = law + discrepancy + noise on the residual scale (log y = log f + delta +
    # noise); law.residuals is log f - log y, so the noise is -(residual + delta).
    r = (law.residuals(theta, args["inputs"], args["target"]) + delta) / sigma
    log_t = (
        jax.scipy.special.gammaln(0.5 * (nu + 1.0))
        - jax.scipy.special.gammaln(0.5 * nu)
        - 0.5 * jnp.log(nu * jnp.pi)
        - log_sigma
        - 0.5 * (nu + 1.0) * jnp.log1p(r * r / nu)
    )
    return lp + jnp.sum(args["weights"] * log_t)


def _n_latent(law: Law, learn_dof: bool, n_disc: int = 0) -> int:
    return len(law.params) + 1 + int(learn_dof) + n_disc


def discrepancy_spec(law: Law, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The quadratic discrepancy basis of a law on these runs, or None where undefined.

    Terms: every product a_i a_j (i <= j) of the standardised logs a_i = (log x_i - c_i) /
    s_i of the law's inputs (for Chinchilla: (log N)^2, log N log D, (log D)^2). Defined for
    laws fitted on log residuals whose inputs are positive and vary across the runs.
    """
    if law.residual != "log":
        return None
    centers, scales = [], []
    for name in law.inputs:
        x = np.asarray(inputs[name], dtype=float)
        if x.size < 2 or not np.all(np.isfinite(x)) or np.any(x <= 0):
            return None
        lx = np.log(x)
        if float(np.std(lx)) <= 0.0:
            return None
        centers.append(float(np.mean(lx)))
        scales.append(float(np.std(lx)))
    k = len(law.inputs)
    terms = [[i, j] for i in range(k) for j in range(i, k)]
    return {
        "form": "quadratic in the standardised logs of the inputs",
        "inputs": list(law.inputs),
        "center": centers,
        "scale": scales,
        "terms": terms,
        "prior_scale": DISCREPANCY_PRIOR_SCALE,
    }


def discrepancy_basis(
    spec: Mapping[str, Any], inputs: Mapping[str, Any], law: Law | None = None
) -> np.ndarray:
    """``(n, K)`` basis of :func:`discrepancy_spec` at the given inputs.

    With a ``projection`` in the spec (set by :func:`sample_posterior`), the part of each
    basis function that a change of the law's parameters at the point fit could produce,
    J(x) M, is removed (J the Jacobian of the law's log prediction in its internal
    parameters at ``theta_ref``), so the discrepancy cannot stand in for the parameters.

    Raises:
        ScalingLawsError: An input is missing or not positive.
    """
    cols = []
    for name, c, sc in zip(spec["inputs"], spec["center"], spec["scale"], strict=True):
        if name not in inputs:
            raise ScalingLawsError(f"the posterior's discrepancy term needs input {name!r}")
        x = np.atleast_1d(np.asarray(inputs[name], dtype=float))
        if np.any(~np.isfinite(x) | (x <= 0)):
            raise ScalingLawsError(
                f"the posterior's discrepancy term is in log {name}; it needs positive values"
            )
        cols.append((np.log(x) - c) / sc)
    cols = np.broadcast_arrays(*cols)
    phi = np.stack([cols[i] * cols[j] for i, j in spec["terms"]], axis=-1)
    if spec.get("projection") is None:
        return phi
    if law is None:
        raise ScalingLawsError("an orthogonalised discrepancy needs the law to evaluate")
    jac = _log_jacobian(law, np.asarray(spec["theta_ref"], dtype=float), inputs)
    return phi - jac @ np.asarray(spec["projection"], dtype=float)


def _log_jacobian(law: Law, theta: np.ndarray, inputs: Mapping[str, Any]) -> np.ndarray:
    """d log f(x; theta) / d theta_internal at the given inputs, ``(n, P)``."""
    with jax.enable_x64(True):
        x = {k: jnp.atleast_1d(jnp.asarray(np.asarray(inputs[k], dtype=float))) for k in law.inputs}
        fn = lambda t: law.log_predict(law.to_natural(t), x)  # noqa: E731
        return np.asarray(jax.jacfwd(fn)(jnp.asarray(theta)))


def _nuts_kernel(law: Law, learn_dof: bool, n_disc: int, target_accept, max_tree_depth, dense):
    """The NUTS kernel on the whitened model (numpyro imported on first use: it is slow
    to import and only NUTS needs it)."""
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints
    from numpyro.infer import NUTS

    n_latent = _n_latent(law, learn_dof, n_disc)

    def model(args):
        z = numpyro.sample(
            "z", dist.ImproperUniform(constraints.real_vector, (), event_shape=(n_latent,))
        )
        numpyro.factor("log_density", _log_density(law, learn_dof, z, args, n_disc))

    return NUTS(
        model, dense_mass=dense, target_accept_prob=target_accept, max_tree_depth=max_tree_depth
    )


#: Iterations per call of the compiled sampler (:func:`_nuts_steps`): any warm-up and
#: draw counts, and a continuation, run as calls of one program of this many steps.
NUTS_CHUNK = 250

_NUTS_STATIC = (
    "law",
    "learn_dof",
    "n_disc",
    "warmup",
    "chain_method",
    "target_accept",
    "max_tree_depth",
    "dense_mass",
)


def _chain_keys(key, chains: int):
    """The keys numpyro's ``MCMC.run`` gives the chains: the key itself for one chain,
    ``split(key, chains)`` for more."""
    return key[None] if chains == 1 else jax.random.split(key, chains)


def _set_up(kernel, keys, init_z, args, warmup: int, chain_method: str):
    """``kernel.init`` as ``MCMC.run`` calls it: batched for vectorised chains (numpyro's
    batched init vmaps the kernel's step as well), else for one chain (its state has no
    chain axis). Returns the initial state."""
    if chain_method == "vectorized" and init_z.shape[0] > 1:
        return kernel.init(keys, warmup, {"z": init_z}, model_args=(args,))
    return kernel.init(keys[0], warmup, {"z": init_z[0]}, model_args=(args,))


@cached_jit(static_argnames=_NUTS_STATIC)
def _nuts_start(
    key,
    init_z,
    args,
    *,
    law: Law,
    learn_dof: bool,
    n_disc: int,
    warmup: int,
    chain_method: str,
    target_accept: float,
    max_tree_depth: int,
    dense_mass: bool,
):
    """Every chain's initial sampler state (numpyro's ``kernel.init`` from the chain's
    key and start, as ``MCMC.run`` does it): the state's leaves, leading axis the chain."""
    kernel = _nuts_kernel(law, learn_dof, n_disc, target_accept, max_tree_depth, dense_mass)
    chains = init_z.shape[0]
    keys = _chain_keys(key, chains)
    if chain_method == "vectorized" and chains > 1:
        return jax.tree.leaves(_set_up(kernel, keys, init_z, args, warmup, chain_method))

    def one(key_z):
        k, z0 = key_z
        return jax.tree.leaves(kernel.init(k, warmup, {"z": z0}, model_args=(args,)))

    return jax.lax.map(one, (keys, init_z))


@cached_jit(static_argnames=(*_NUTS_STATIC, "steps"))
def _nuts_steps(
    leaves,
    init_z,
    args,
    active,
    *,
    law: Law,
    learn_dof: bool,
    n_disc: int,
    warmup: int,
    steps: int,
    chain_method: str,
    target_accept: float,
    max_tree_depth: int,
    dense_mass: bool,
):
    """The next ``steps`` NUTS iterations of every chain from its state's ``leaves``, of
    which the first ``active`` (a traced count, at most ``steps``) are run and the rest
    leave the state as it is.

    One iteration is one step of numpyro's kernel (adaptation while the state's
    iteration count is below ``warmup``, as in ``MCMC.run``). Returns the per-iteration
    ``z``, ``diverging``, ``num_steps`` and ``accept_prob`` (leading axes chain and
    iteration; meaningless past ``active``) and the final state's leaves. ``init_z``
    gives only the shapes with which the kernel is set up.
    """
    kernel = _nuts_kernel(law, learn_dof, n_disc, target_accept, max_tree_depth, dense_mass)
    chains = init_z.shape[0]
    # Set the kernel up (its step function and the state's structure); the state this
    # builds is not used, and the compiler drops it.
    keys = jnp.zeros((chains, 2), dtype=jnp.uint32)
    treedef = jax.tree.structure(_set_up(kernel, keys, init_z, args, warmup, chain_method))
    model_args = (args,)

    def run(state):
        def step(state, i):
            state = jax.lax.cond(
                i < active, lambda s: kernel.sample(s, model_args, {}), lambda s: s, state
            )
            return state, (state.z["z"], state.diverging, state.num_steps, state.accept_prob)

        return jax.lax.scan(step, state, jnp.arange(steps))

    if chain_method == "vectorized" and chains > 1:
        state, out = run(jax.tree.unflatten(treedef, leaves))
        return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out), jax.tree.leaves(state)

    def one(chain_leaves):
        state, out = run(jax.tree.unflatten(treedef, chain_leaves))
        return out, jax.tree.leaves(state)

    return jax.lax.map(one, leaves)


def _nuts_chains(
    key,
    init_z,
    args,
    resume=None,
    *,
    law: Law,
    learn_dof: bool,
    n_disc: int,
    warmup: int,
    samples: int,
    chain_method: str,
    target_accept: float,
    max_tree_depth: int,
    dense_mass: bool,
):
    """Every chain's warm-up and draws on one device (``"vectorized"`` or
    ``"sequential"``), in calls of one compiled program of :data:`NUTS_CHUNK` steps.

    The steps are those of numpyro's ``MCMC.run`` with ``jit_model_args`` (the same key
    split, kernel initialisation and one kernel step per iteration, the first ``warmup``
    discarded). Compiled and fused differently, the draws agree with ``MCMC.run``'s to
    rounding, which NUTS trajectories amplify over long runs (each an equally valid
    chain). Any number of warm-up iterations and draws, and a continuation, run through
    the same two programs (the start, :func:`_nuts_start`, and the steps,
    :func:`_nuts_steps`, keyed by the warm-up length, which the kernel's adaptation
    schedule depends on), which :mod:`scalinglaws.exported` keeps across processes:
    a second command line call neither traces nor lowers the sampler, and a different
    ``samples`` or an extension compiles nothing new (when warm-up and draws number at
    least :data:`NUTS_CHUNK`; shorter runs take one block of their own length). ``init_z`` is ``(chains, D)``.
    Returns ``z (chains, samples, D)`` and the sampler's ``diverging``, ``num_steps`` and
    ``accept_prob``, each ``(chains, samples)``, and ``state``: the leaves of every
    chain's final sampler state (leading axis the chain). Given such leaves as
    ``resume``, the chains continue from them (adaptation over, no warm-up) for
    ``samples`` more draws: the draws a longer run would have made.
    """
    chains = init_z.shape[0]
    if chains == 1:
        chain_method = "sequential"
    static = {
        "law": law,
        "learn_dof": learn_dof,
        "n_disc": n_disc,
        "warmup": warmup,
        "chain_method": chain_method,
        "target_accept": target_accept,
        "max_tree_depth": max_tree_depth,
        "dense_mass": dense_mass,
    }
    if resume is None:
        leaves, skip = _nuts_start(key, init_z, args, **static), warmup
    else:
        leaves, skip = list(resume), 0
    total = skip + samples
    # One chunk length for a run and its continuation (both know warmup + samples).
    steps = min(NUTS_CHUNK, warmup + samples)
    parts: list[tuple[np.ndarray, ...]] = []
    done = 0
    while done < total:
        n = min(steps, total - done)
        out, leaves = _nuts_steps(leaves, init_z, args, np.int32(n), steps=steps, **static)
        lo = max(skip - done, 0)
        if lo < n:
            parts.append(tuple(np.asarray(x)[:, lo:n] for x in out))
        done += n
    z, diverging, num_steps, accept = (np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
    return {
        "z": z,
        "diverging": diverging,
        "num_steps": num_steps,
        "accept_prob": accept,
        "state": tuple(leaves),
    }


@functools.lru_cache(maxsize=16)
def _sampler(
    law: Law,
    learn_dof: bool,
    chains: int,
    warmup: int,
    samples: int,
    target_accept: float,
    max_tree_depth: int,
    dense_mass: bool = True,
    n_runs: int = 0,
    n_disc: int = 0,
):
    """numpyro's ``MCMC`` driver, for chains in parallel across devices (``pmap``).

    Cached, and the data enter as model arguments (``jit_model_args``), so repeated
    posteriors of one law with the same settings and number of runs compile once.
    ``n_runs`` is part of the cache key only: an MCMC object compiled for one data shape
    cannot be rerun on another.
    """
    from numpyro.infer import MCMC

    kernel = _nuts_kernel(law, learn_dof, n_disc, target_accept, max_tree_depth, dense_mass)
    return MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="parallel",
        progress_bar=False,
        jit_model_args=True,
    )


@cached_jit(static_argnames=("law", "learn_dof"))
def _unwhiten(law: Law, learn_dof: bool, z, u_hat, chol):
    """Whitened draws (..., D) -> (internal theta (..., P), sigma (...), nu (zeros when
    fixed), discrepancy weights (..., K), K possibly 0)."""
    n_params = len(law.params)
    u = u_hat + z @ chol.T
    theta, _ = _from_real(law, u[..., :n_params])
    sigma = jnp.exp(u[..., n_params])
    nu = 1.0 + jnp.exp(u[..., n_params + 1]) if learn_dof else jnp.zeros_like(sigma)
    return theta, sigma, nu, u[..., n_params + 1 + int(learn_dof) :]


def _whitening(result: FitResult, data, theta_hat: np.ndarray) -> tuple[np.ndarray, str]:
    """Cholesky factor of the Laplace covariance of the real-line coordinates u."""
    law = result.law
    try:
        cov, _, source = laplace_covariance(result, data)
    except ScalingLawsError:
        cov, source = None, "prior-diagonal"
    dtheta_du = _dtheta_du(law, _to_real(law, theta_hat))
    if cov is None:
        scale = np.asarray([p.prior_scale for p in law.params]) * 0.01
        cov = np.diag(scale**2)
    d = np.maximum(np.abs(dtheta_du), 1e-12)
    cov_u = cov / np.outer(d, d)
    try:
        return np.linalg.cholesky(0.5 * (cov_u + cov_u.T)), source
    except np.linalg.LinAlgError:
        return np.diag(np.sqrt(np.abs(np.diag(cov_u))) + 1e-12), source + " (diagonal)"


def _rank_diagnostics(per_chain: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Rank-normalised split R-hat and bulk ESS per quantity, ``(chains, draws)`` each."""
    from scalinglaws.uncertainty.mcmc_diagnostics import ess_bulk, rhat

    r_hat = {k: rhat(v) for k, v in per_chain.items()}
    ess = {k: ess_bulk(v) for k, v in per_chain.items()}
    return r_hat, ess


def sample_posterior(
    result: FitResult,
    chains: int = 4,
    warmup: int = 1000,
    samples: int = 1000,
    seed: int = 0,
    *,
    dof: float | str = DEFAULT_DOF,
    target_accept: float = DEFAULT_TARGET_ACCEPT,
    max_tree_depth: int = 10,
    min_ess: float | None = None,
    chain_method: str | None = None,
    dense_mass: bool = True,
    discrepancy: str = "none",
    extend: int = 1,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Sample the Bayesian posterior of a fitted law's parameters with NUTS.

    The model, priors, reparametrisation, chain layout and convergence rule are those of
    this module's docstring: Student-t likelihood on the residuals with a learned scale,
    normal priors from the law's :class:`~scalinglaws.laws.base.ParamSpec` truncated to
    their bounds, NUTS (arXiv 1111.4246) with a dense mass matrix and target acceptance
    0.98 in whitened coordinates, initialised at the point fit.

    Args:
        result: A point fit (it must carry its data).
        chains: Number of chains.
        warmup: Warm-up (adaptation) iterations per chain.
        samples: Kept draws per chain.
        seed: Seed; the same seed gives the same draws on the same platform.
        dof: Student-t degrees of freedom (a number > 0; ``math.inf`` is not allowed, use
            a large number for a near-Gaussian likelihood) or ``"learn"``.
        target_accept: NUTS target acceptance probability.
        max_tree_depth: NUTS maximum tree depth.
        min_ess: Smallest acceptable bulk ESS per parameter (default 100 per chain).
        chain_method: ``"parallel"``, ``"vectorized"`` or ``"sequential"`` (default:
            parallel when there are at least ``chains`` devices, else sequential on a
            CPU and vectorised on an accelerator).
        dense_mass: Adapt a dense mass matrix (default) or a diagonal one.
        discrepancy: ``"none"`` or ``"quadratic"``: add a model-discrepancy term to the
            law on the residual scale, delta(x) = sum_k w_k phi_k(x), phi_k the products of
            the standardised logs of the inputs (:func:`discrepancy_spec`), w_k ~
            Normal(0, 0.02). Curvature the law's form misses is then learned from the runs
            and carried, with its uncertainty (growing with the square of the distance),
            into predictive draws; parameter draws are those of the law under it. Laws
            fitted on log residuals with positive inputs only.
        extend: When the draws fail the R-hat or ESS rule without any divergent
            transition, continue every chain for another ``samples`` draws (the adapted
            step size and mass matrix kept, no new warm-up) and judge all draws again, up
            to this many times (0: never). A hard posterior (a long curved ridge, a
            misfitting law) then reaches the rule at the cost of the extra draws, instead
            of failing on a borderline R-hat; divergences are never cured by more draws
            and stop it. ``diagnostics["extensions"]`` and ``["draws_per_chain"]`` say
            what was run; the draws are ``chains * draws_per_chain``.
        progress: Optional callable receiving one-line progress messages.

    Returns:
        ``result`` with ``uncertainty`` set (method ``"bayes"``); ``converged`` is False,
        with a :class:`~scalinglaws.ScalingLawsWarning`, when the diagnostics fail.

    Raises:
        ScalingLawsError: Bad options, or the result carries no data.
    """
    chains, warmup, samples = (
        check_count(chains, "chains"),
        check_count(warmup, "warmup"),
        check_count(samples, "samples"),
    )
    learn_dof = _check_dof(dof)
    if not (0.0 < target_accept < 1.0):
        raise ScalingLawsError(f"target_accept must lie in (0, 1), not {target_accept!r}")
    max_tree_depth = check_count(max_tree_depth, "max_tree_depth")
    if isinstance(extend, bool) or not isinstance(extend, int | np.integer) or extend < 0:
        raise ScalingLawsError(f"extend must be a non-negative integer, not {extend!r}")
    chain_method = _chain_method(chain_method, chains)
    min_ess = float(MIN_ESS_PER_CHAIN * chains if min_ess is None else min_ess)
    settings = {
        "seed": int(seed),
        "chains": chains,
        "warmup": warmup,
        "samples": samples,
        "chain_method": chain_method,
        "devices": jax.local_device_count(),
        "wall_s": math.nan,  # set after the run; kept in this place in the record
        "sampler": f"NUTS, {'dense' if dense_mass else 'diagonal'} mass matrix, whitened "
        "coordinates",
        "target_accept": float(target_accept),
        "max_tree_depth": max_tree_depth,
    }
    law = result.law
    data = fit_data(result, "the posterior sampler")
    note = shared_run_noise_note(data, "The posterior", len(law.params))
    if note is not None:
        warnings.warn(note, ScalingLawsWarning, stacklevel=2)
    disc = _checked_discrepancy(law, data, discrepancy)
    theta_hat = _inside_bounds(law, point_internal(result))
    chol_p, settings["whitening"] = _whitening(result, data, theta_hat)
    disc, phi = _orthogonalised(disc, law, data, theta_hat)
    nu0 = DEFAULT_DOF if learn_dof else float(dof)
    u_hat, chol, sigma0 = _latent_start(law, data, theta_hat, chol_p, learn_dof, nu0, phi)
    nuts = {
        "law": law,
        "learn_dof": learn_dof,
        "n_disc": int(phi.shape[1]),
        "warmup": warmup,
        "samples": samples,
        "chain_method": chain_method,
        "target_accept": float(target_accept),
        "max_tree_depth": max_tree_depth,
        "dense_mass": bool(dense_mass),
    }
    if progress is not None:
        progress(
            f"bayes: NUTS, {chains} chains ({chain_method}) x ({warmup} warm-up + "
            f"{samples} draws) on {data.n} runs"
        )
    t0 = time.perf_counter()
    chain_args = (nuts, data, u_hat, chol, sigma0, nu0, phi, chains, seed)
    run = _run_chains(*chain_args)
    per_chain = _per_chain(law, run, chains, samples, learn_dof)
    diagnostics = _convergence(per_chain, run, chains, samples, min_ess)
    total, extensions = samples, 0
    while diagnostics["problems"] and diagnostics["divergences"] == 0 and extensions < extend:
        if progress is not None:
            progress(
                f"bayes: {'; '.join(diagnostics['problems'])}; continuing every chain for "
                f"{samples} more draws"
            )
        run = _joined(run, _run_chains(*chain_args, resume=run["state"]), chains)
        total, extensions = total + samples, extensions + 1
        per_chain = _per_chain(law, run, chains, total, learn_dof)
        diagnostics = _convergence(per_chain, run, chains, total, min_ess)
    settings["wall_s"] = time.perf_counter() - t0
    diagnostics["extensions"] = extensions
    diagnostics["draws_per_chain"] = total
    converged = not diagnostics["problems"]
    problems = "; ".join(diagnostics["problems"])
    if not converged:
        longer = f" (after extending every chain to {total} draws)" if extensions else ""
        warnings.warn(
            f"posterior NOT CONVERGED: {problems}{longer}. Do not use its intervals; "
            + not_converged_advice(diagnostics["divergences"]),
            ScalingLawsWarning,
            stacklevel=2,
        )
    if progress is not None:
        state = "converged" if converged else f"NOT CONVERGED ({problems})"
        progress(f"bayes: done in {settings['wall_s']:.2f} s; {state}")
    unc = Uncertainty(
        method="bayes",
        draws=natural_draws(result, run["theta"].reshape(chains * total, len(law.params))),
        diagnostics=diagnostics,
        converged=converged,
        extra={**settings, **_model_extra(law, run, sigma0, learn_dof, nu0, disc)},
    )
    return dataclasses.replace(result, uncertainty=unc)


def not_converged_advice(divergences: int) -> str:
    """What to do about a posterior that failed its rule, by what failed.

    Divergent transitions mean the sampler cannot follow part of the posterior (on the
    hard-data studies of ``bench/hard_data.py``: a law that misfits the runs); more draws
    never cure them, a higher target acceptance made them worse there (1 -> 67 at 0.99),
    and twice the warm-up did not help (studies 1-3, seeds 0 and 1: 1, 0, 1, 0, 1, 6
    divergences with 1,000 warm-up steps; 2, 3, 1, 9, 1, 0 with 2,000), so the advice is
    to look at the fit or use the bootstrap. A failed R-hat or ESS alone is a matter of
    too few draws.
    """
    if divergences:
        return (
            "divergent transitions are not cured by more draws: check that the law fits "
            "these runs (residuals against N and D), or use uncertainty 'bootstrap', which "
            "needs no sampler"
        )
    return "run longer (more warmup and samples, or a larger extend)"


def _inside_bounds(law: Law, theta: np.ndarray) -> np.ndarray:
    """The start moved strictly inside the bounds, so its real-line image is finite."""
    lo, hi = (np.asarray(b) for b in law.internal_bounds())
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    return np.clip(theta, lo + 1e-6 * span, hi - 1e-6 * span)


def _check_dof(dof: float | str) -> bool:
    """Validate ``dof``; True when it is learned."""
    learn_dof = dof == "learn"
    if not learn_dof and not (
        isinstance(dof, int | float) and not isinstance(dof, bool) and 0 < dof < math.inf
    ):
        raise ScalingLawsError(f"dof must be a positive finite number or 'learn', not {dof!r}")
    return learn_dof


def _chain_method(chain_method: str | None, chains: int) -> str:
    """The chain layout: the given one, validated, or parallel when devices allow."""
    if chain_method is None:
        if jax.local_device_count() >= chains:
            chain_method = "parallel"
        else:
            # On a CPU the chains one after another beat one batched program (whose every
            # step waits for the longest trajectory): 1.05-1.6x on three studies,
            # bench/results/bayes_chain_layout.txt. Elsewhere batching is kept.
            chain_method = "sequential" if jax.default_backend() == "cpu" else "vectorized"
    if chain_method not in ("parallel", "vectorized", "sequential"):
        raise ScalingLawsError(
            f"chain_method must be 'parallel', 'vectorized' or 'sequential', not {chain_method!r}"
        )
    if chain_method == "parallel" and jax.local_device_count() < chains:
        raise ScalingLawsError(
            f"chain_method='parallel' needs {chains} devices but {jax.local_device_count()} "
            "are visible; set XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{chains} before importing JAX, or use 'vectorized'"
        )
    return chain_method


def _checked_discrepancy(law: Law, data, discrepancy: str) -> dict[str, Any] | None:
    """The discrepancy spec asked for (None for ``"none"``), refused where undefined."""
    if discrepancy not in ("none", "quadratic"):
        raise ScalingLawsError(f"discrepancy must be 'none' or 'quadratic', not {discrepancy!r}")
    disc = discrepancy_spec(law, data.inputs) if discrepancy == "quadratic" else None
    if discrepancy == "quadratic" and disc is None:
        raise ScalingLawsError(
            f"a quadratic discrepancy needs a law fitted on log residuals with positive, "
            f"varying inputs; law {law.name!r} on these runs has none"
        )
    return disc


def _orthogonalised(disc, law: Law, data, theta_hat: np.ndarray):
    """``(spec with its projection, (n, K) basis)``; K = 0 without a discrepancy."""
    if not disc:
        return disc, np.zeros((data.n, 0))
    # Orthogonalise the discrepancy against the law's Jacobian at the point fit.
    phi_raw = discrepancy_basis(disc, data.inputs)
    jac = _log_jacobian(law, theta_hat, data.inputs)
    proj = np.linalg.lstsq(jac, phi_raw, rcond=None)[0]
    disc = {**disc, "theta_ref": theta_hat.tolist(), "projection": proj.tolist()}
    return disc, phi_raw - jac @ proj


def _latent_start(law: Law, data, theta_hat, chol_p, learn_dof: bool, nu0: float, phi):
    """Centre ``u_hat``, whitening factor ``chol`` and robust noise scale ``sigma0``."""
    n_params, n_disc = len(law.params), phi.shape[1]
    with jax.enable_x64(True):
        resid = np.asarray(
            _residuals_at(
                law,
                np.asarray(theta_hat, dtype=float),
                {k: np.asarray(v, dtype=float) for k, v in data.inputs.items()},
                np.asarray(data.target, dtype=float),
            )
        )
    sigma0 = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    sigma0 = max(sigma0, 1e-3 * float(np.sqrt(np.mean(resid**2))), 1e-12)
    # Fisher information of log sigma under a Student-t is 2 nu / (nu + 3) per run.
    sd_log_sigma = math.sqrt((nu0 + 3.0) / (2.0 * nu0 * data.n))
    n_latent = _n_latent(law, learn_dof, n_disc)
    chol = np.zeros((n_latent, n_latent))
    chol[:n_params, :n_params] = chol_p
    chol[n_params, n_params] = sd_log_sigma
    u_hat = np.concatenate([_to_real(law, theta_hat), [math.log(sigma0)]])
    if learn_dof:
        chol[n_params + 1, n_params + 1] = 0.5
        u_hat = np.concatenate([u_hat, [math.log(nu0 - 1.0)]])
    if n_disc:
        # Whitening scale of each weight: its least-squares standard error at sigma0
        # (the dense mass matrix adapts the rest, including its correlation with the law).
        sd_w = sigma0 / np.sqrt(np.maximum(np.sum(phi * phi, axis=0), 1e-300))
        idx = np.arange(n_latent - n_disc, n_latent)
        chol[idx, idx] = np.minimum(sd_w, DISCREPANCY_PRIOR_SCALE)
        u_hat = np.concatenate([u_hat, np.zeros(n_disc)])
    return u_hat, chol, sigma0


def _host_key(seed: int) -> np.ndarray:
    """``jax.random.PRNGKey(seed)`` (threefry, raw ``uint32[2]``) built on the host: the
    seed's high and low 32 bits, as JAX's seeding program computes them, without
    compiling that program in every process."""
    s = int(seed)
    return np.array([(s >> 32) & 0xFFFFFFFF, s & 0xFFFFFFFF], dtype=np.uint32)


def _run_chains(
    nuts: dict[str, Any], data, u_hat, chol, sigma0, nu0, phi, chains, seed, resume=None
):
    """Run NUTS from jittered starts; the draws unwhitened, with the sampler's fields and
    the chains' final ``state``. With ``resume`` (an earlier run's ``state``) the chains
    continue from there for ``nuts["samples"]`` more draws, without warm-up."""
    law, learn_dof = nuts["law"], nuts["learn_dof"]
    rng = np.random.default_rng(seed)
    z0 = INIT_JITTER * rng.standard_normal((chains, len(u_hat)))
    with jax.enable_x64(True):
        # Host arrays straight into the compiled calls: jnp.asarray would compile a small
        # program per shape in every process.
        args = {
            "u_hat": np.asarray(u_hat),
            "chol": np.asarray(chol),
            "inputs": {k: np.asarray(v) for k, v in data.inputs.items()},
            "target": np.asarray(data.target),
            "weights": np.ones(data.n),
            "prior_loc": np.asarray([p.prior_loc for p in law.params], dtype=float),
            "prior_scale": np.asarray([p.prior_scale for p in law.params], dtype=float),
            "log_sigma0": np.asarray(math.log(sigma0)),
            "dof": np.asarray(nu0, dtype=float),
            "disc_phi": np.asarray(phi),
        }
        key = _host_key(seed)
        if nuts["chain_method"] == "parallel" and chains > 1:
            mcmc = _sampler(
                law,
                learn_dof,
                chains,
                nuts["warmup"],
                nuts["samples"],
                nuts["target_accept"],
                nuts["max_tree_depth"],
                nuts["dense_mass"],
                int(data.n),
                nuts["n_disc"],
            )
            extra = ("diverging", "num_steps", "accept_prob")
            if resume is None:
                mcmc.run(jnp.asarray(key), args, init_params={"z": z0}, extra_fields=extra)
            else:
                # numpyro's way to continue: a post-warm-up state skips the warm-up. The
                # driver is cached and shared, so the state is cleared again after.
                mcmc.post_warmup_state = resume
                try:
                    mcmc.run(resume.rng_key, args, extra_fields=extra)
                finally:
                    mcmc.post_warmup_state = None
            fields = mcmc.get_extra_fields(group_by_chain=True)
            fields["z"] = mcmc.get_samples(group_by_chain=True)["z"]
            fields["state"] = mcmc.last_state
        else:
            fields = _nuts_chains(key, z0, args, resume, **nuts)
        z = np.asarray(fields["z"])
        theta, sigma, nu, w_disc = (
            np.asarray(x) for x in _unwhiten(law, learn_dof, z, np.asarray(u_hat), np.asarray(chol))
        )
    return {
        "theta": theta,
        "sigma": sigma,
        "nu": nu,
        "w_disc": w_disc.reshape(z.shape[0] * z.shape[1], phi.shape[1]),
        "diverging": np.asarray(fields["diverging"]).reshape(chains, -1),
        "num_steps": np.asarray(fields["num_steps"]),
        "accept": np.asarray(fields["accept_prob"]),
        "state": fields["state"],
    }


def _joined(first: dict[str, Any], more: dict[str, Any], chains: int) -> dict[str, Any]:
    """Two runs of the same chains, the second continuing the first: each chain's draws
    in order, and the second run's final state. Every per-draw field is ``(chains,
    samples, ...)`` except ``w_disc``, which is chain-major ``(chains * samples, K)``."""
    joined = {
        k: np.concatenate([first[k], more[k]], axis=1)
        for k in first
        if k not in ("state", "w_disc")
    }
    n1, n2 = (r["diverging"].shape[1] for r in (first, more))
    k_disc = first["w_disc"].shape[1]
    joined["w_disc"] = np.concatenate(
        [first["w_disc"].reshape(chains, n1, k_disc), more["w_disc"].reshape(chains, n2, k_disc)],
        axis=1,
    ).reshape(chains * (n1 + n2), k_disc)
    joined["state"] = more["state"]
    return joined


def _per_chain(law: Law, run, chains: int, samples: int, learn_dof: bool):
    """``(chains, samples)`` arrays of every sampled quantity, for the diagnostics."""
    theta = run["theta"].reshape(chains, samples, len(law.params))
    per_chain = {p.name: theta[..., i] for i, p in enumerate(law.params)}
    per_chain["sigma"] = run["sigma"].reshape(chains, samples)
    if learn_dof:
        per_chain["nu"] = run["nu"].reshape(chains, samples)
    for k in range(run["w_disc"].shape[1]):
        per_chain[f"discrepancy_w{k}"] = run["w_disc"][:, k].reshape(chains, samples)
    return per_chain


def _convergence(per_chain, run, chains: int, samples: int, min_ess: float) -> dict[str, Any]:
    """The sampler diagnostics and their ``problems`` (the module docstring's rule)."""
    diverging = run["diverging"]
    if chains * samples >= 8:
        r_hat, ess = _rank_diagnostics(per_chain)
    else:
        r_hat = {k: math.nan for k in per_chain}
        ess = {k: math.nan for k in per_chain}
    n_div = int(diverging.sum())
    problems = []
    worst_r = max(r_hat, key=lambda k: r_hat[k] if math.isfinite(r_hat[k]) else math.inf)
    if not all(math.isfinite(v) and v <= MAX_R_HAT for v in r_hat.values()):
        problems.append(f"r_hat {r_hat[worst_r]:.4g} ({worst_r}) > {MAX_R_HAT}")
    if n_div > 0:
        problems.append(f"{n_div} divergent transitions")
    worst_e = min(ess, key=lambda k: ess[k] if math.isfinite(ess[k]) else -math.inf)
    if not all(math.isfinite(v) and v >= min_ess for v in ess.values()):
        problems.append(f"ess_bulk {ess[worst_e]:.4g} ({worst_e}) < {min_ess:g}")
    return {
        "r_hat": r_hat,
        "ess_bulk": ess,
        "divergences": n_div,
        "divergences_per_chain": diverging.sum(axis=1).astype(int).tolist(),
        "mean_accept_prob": float(np.mean(run["accept"])),
        "mean_tree_size": float(np.mean(run["num_steps"])),
        "min_ess": min_ess,
        "max_r_hat": MAX_R_HAT,
        "problems": problems,
    }


def _model_extra(law: Law, run, sigma0: float, learn_dof: bool, nu0: float, disc):
    """The model half of ``Uncertainty.extra``: priors, likelihood, per-draw noise."""
    w_disc = run["w_disc"]
    n_disc = w_disc.shape[1]
    return {
        "likelihood": "student-t on residuals, learned scale",
        "priors": {
            p.name: {
                "loc": p.prior_loc,
                "scale": p.prior_scale,
                "scale_of": "log" if p.log_scale else "value",
                "bounds": [p.lower, p.upper],
            }
            for p in law.params
        },
        "sigma_prior": {"log_loc": math.log(sigma0), "log_scale": LOG_SIGMA_PRIOR_SCALE},
        "dof": "learned" if learn_dof else nu0,
        "noise": "student-t, each draw's sigma (and nu)",
        "noise_scale": run["sigma"].reshape(-1),
        "noise_dof": run["nu"].reshape(-1) if learn_dof else nu0,
        "diverging": run["diverging"].reshape(-1),
        **(
            {
                "discrepancy": disc,
                **{f"discrepancy_w{k}": w_disc[:, k] for k in range(n_disc)},
            }
            if n_disc
            else {}
        ),
    }


def to_inference_data(result: FitResult) -> Any:
    """The posterior of a result as ArviZ data: ``InferenceData`` (ArviZ 0.x) or an xarray
    ``DataTree`` (ArviZ 1.x), whichever the installed ArviZ builds.

    Groups: ``posterior`` (every law parameter in natural units, plus ``sigma`` and, when
    learned, ``nu``; dims ``chain, draw``) and ``sample_stats`` (``diverging``). Draws of
    another method (bootstrap, Laplace) are exported as a single chain without
    sample statistics. Both ArviZ series read ``result.posterior`` and
    ``result.sample_stats`` alike.

    Raises:
        ScalingLawsError: The result has no draws, or ArviZ is not installed.
    """
    unc = result.uncertainty
    if unc.n_draws == 0:
        raise ScalingLawsError(
            "this result has no draws to export; attach uncertainty first "
            "(bootstrap, sample_posterior or laplace)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # arviz is imported on first use (slow to import; only this conversion needs it).
        try:
            import arviz as az
        except ImportError:  # pragma: no cover - arviz is a dependency
            raise ScalingLawsError("exporting draws needs ArviZ: pip install arviz") from None

    n = unc.n_draws
    chains = int(unc.extra.get("chains", 1)) if unc.method == "bayes" else 1
    if n % chains:
        chains = 1
    shape = (chains, n // chains)
    posterior = {k: np.asarray(v).reshape(shape) for k, v in unc.draws.items()}
    scale = unc.extra.get("noise_scale")
    if scale is not None and np.size(scale) == n:
        posterior["sigma"] = np.asarray(scale).reshape(shape)
    dof = unc.extra.get("noise_dof")
    if dof is not None and np.size(dof) == n:
        posterior["nu"] = np.asarray(dof).reshape(shape)
    sample_stats = None
    div = unc.extra.get("diverging")
    if div is not None and np.size(div) == n:
        sample_stats = {"diverging": np.asarray(div, dtype=bool).reshape(shape)}
    return _arviz_from_dict(az, posterior, sample_stats)


def _arviz_major(module: Any) -> int:
    version = str(getattr(module, "__version__", "0"))
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _arviz_from_dict(az: Any, posterior: dict, sample_stats: dict | None) -> Any:
    """``from_dict`` of either ArviZ series: 0.x takes one keyword per group; 1.x (and its
    ``arviz_base`` core) one mapping ``{group: {variable: array}}``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if az.__name__ == "arviz" and _arviz_major(az) < 1:
            return az.from_dict(posterior=posterior, sample_stats=sample_stats)
        groups = {"posterior": posterior}
        if sample_stats is not None:
            groups["sample_stats"] = sample_stats
        return az.from_dict(groups)
