"""Average-parameter-count law for sparse pre-training: L(N_avg, D) = E + A/N_avg^alpha + B/D^beta.

Jin et al., "The Journey Matters: Average Parameter Count over Pre-training Unifies Sparse
and Dense Scaling Laws", ICLR 2025 (arXiv 2501.12486). The Chinchilla form with the model
size replaced by the token-weighted average count of non-zero prunable parameters over
pre-training, N_avg = (1/D) integral_0^D N(tau) dtau, so one law covers dense runs
(N_avg = N) and gradually pruned ones. Training compute is C = k N_avg D.
"""

from __future__ import annotations

import jax.numpy as jnp

from scalinglaws.laws.base import Inputs, Law, LinearForm, Params
from scalinglaws.laws.chinchilla import (
    _VARPRO_GRID,
    chinchilla_params,
    frontier_capabilities,
    logsumexp3,
)

# Jin et al. fit the Chinchilla form itself, so they publish no separate coefficient set
# this package can quote to full precision; fit your own with ``scalinglaws.fit``.


def avgparams_loss(params: Params, inputs: Inputs) -> jnp.ndarray:
    """L = E + A / N_avg^alpha + B / D^beta (pure, jit/vmap/grad safe)."""
    n, d = inputs["N_avg"], inputs["D"]
    return (
        params["E"] + params["A"] * n ** (-params["alpha"]) + params["B"] * d ** (-params["beta"])
    )


def avgparams_log_loss(params: Params, inputs: Inputs) -> jnp.ndarray:
    """log L as a log-sum-exp of the three terms (stable for the log-residual objective)."""
    log_e = jnp.log(params["E"])
    log_n = jnp.log(params["A"]) - params["alpha"] * jnp.log(inputs["N_avg"])
    log_d = jnp.log(params["B"]) - params["beta"] * jnp.log(inputs["D"])
    log_e, log_n, log_d = jnp.broadcast_arrays(log_e, log_n, log_d)
    return logsumexp3(log_e, log_n, log_d)


def _avgparams_basis(nonlinear: Params, inputs: Inputs) -> jnp.ndarray:
    n, d = inputs["N_avg"], inputs["D"]
    one = jnp.ones_like(jnp.asarray(n, dtype=float))
    # exp(-alpha log N) rather than N ** -alpha: the logs do not depend on the exponents,
    # so under vmap over an exponent grid they are computed once, not per grid point.
    return jnp.stack(
        [one, jnp.exp(-nonlinear["alpha"] * jnp.log(n)), jnp.exp(-nonlinear["beta"] * jnp.log(d))],
        axis=-1,
    )


def avgparams() -> Law:
    """The average-parameter-count law L(N_avg, D) = E + A / N_avg^alpha + B / D^beta.

    Inputs ``N_avg`` (token-weighted average non-zero prunable parameters over training;
    equal to N for a dense run) and ``D`` (training tokens). Same parameters, priors and
    variable-projection search as :func:`scalinglaws.laws.chinchilla.chinchilla`, fitted
    on log-loss residuals (Jin et al. 2025, arXiv 2501.12486).

    Example:
        >>> from scalinglaws.laws.avgparams import avgparams
        >>> from scalinglaws.laws.chinchilla import HOFFMANN_2022
        >>> round(float(avgparams().predict(HOFFMANN_2022, {"N_avg": 70e9, "D": 1.4e12})), 4)
        1.9208
    """
    return Law(
        name="avgparams",
        version="1",
        inputs=("N_avg", "D"),
        params=chinchilla_params(" (of the average parameter count)"),
        fn=avgparams_loss,
        log_fn=avgparams_log_loss,
        residual="log",
        linear_form=LinearForm(
            nonlinear=("alpha", "beta"),
            linear=("E", "A", "B"),
            basis=_avgparams_basis,
            nonnegative=True,
            grid=(_VARPRO_GRID, _VARPRO_GRID),
        ),
        reference="Jin et al. 2025, arXiv 2501.12486",
        description="L(N_avg, D) = E + A/N_avg^alpha + B/D^beta, N_avg = average non-zero params",
        metadata={"form": "chinchilla", "size_input": "N_avg", "data_input": "D"},
        # The frontier of the Chinchilla form with N_avg in place of N (C = k N_avg D).
        derived=frontier_capabilities("N_avg", "D"),
    )
