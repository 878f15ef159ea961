"""Chinchilla law: L(N, D) = E + A / N^alpha + B / D^beta.

Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv 2203.15556.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.laws.base import Inputs, Law, LinearForm, Params, ParamSpec

#: Hoffmann et al. 2022, Approach 3, unrounded (as fitted in Besiroglu et al. 2024,
#: arXiv 2404.10102, from the paper's released values). Keep full precision: the rounded
#: values of the paper's body move predictions by more than 10%.
HOFFMANN_2022 = {"E": 1.69337, "A": 406.401, "B": 410.723, "alpha": 0.33917, "beta": 0.28491}
#: Rounded values printed in the body of Hoffmann et al. 2022 (eq. 10).
HOFFMANN_2022_ROUNDED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
#: Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", arXiv 2404.10102),
#: refit on 240 of the 245 digitised runs.
EPOCH_2024 = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def chinchilla_loss(params: Params, inputs: Inputs) -> jnp.ndarray:
    """L = E + A / N^alpha + B / D^beta (pure, jit/vmap/grad safe)."""
    n, d = inputs["N"], inputs["D"]
    return (
        params["E"] + params["A"] * n ** (-params["alpha"]) + params["B"] * d ** (-params["beta"])
    )


def chinchilla_log_loss(params: Params, inputs: Inputs) -> jnp.ndarray:
    """log L in the log-sum-exp form of Hoffmann's Approach 3 objective."""
    terms = jnp.stack(
        jnp.broadcast_arrays(
            jnp.log(params["E"]),
            jnp.log(params["A"]) - params["alpha"] * jnp.log(inputs["N"]),
            jnp.log(params["B"]) - params["beta"] * jnp.log(inputs["D"]),
        ),
        axis=0,
    )
    return logsumexp3(terms[0], terms[1], terms[2])


def logsumexp3(a: jnp.ndarray, b: jnp.ndarray, c: jnp.ndarray) -> jnp.ndarray:
    """log(e^a + e^b + e^c), stable: the largest term is factored out (its value only;
    the derivative flows through the three exponentials). Fewer operations than two
    nested ``logaddexp`` calls, which matters in the fit's Newton loop."""
    m = jax.lax.stop_gradient(jnp.maximum(jnp.maximum(a, b), c))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return m + jnp.log(jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m))


def _basis(nonlinear: Params, inputs: Inputs) -> jnp.ndarray:
    n, d = inputs["N"], inputs["D"]
    one = jnp.ones_like(jnp.asarray(n, dtype=float))
    # exp(-alpha log N) rather than N ** -alpha: the logs do not depend on the exponents,
    # so under vmap over an exponent grid they are computed once, not per grid point.
    return jnp.stack(
        [one, jnp.exp(-nonlinear["alpha"] * jnp.log(n)), jnp.exp(-nonlinear["beta"] * jnp.log(d))],
        axis=-1,
    )


# Hoffmann et al.'s L-BFGS start grid (4,500 points): alpha, beta in {0, 0.5, ..., 2},
# e = log E in {-1, -0.5, ..., 1}, a = log A and b = log B in {0, 5, ..., 25}.
_EXP_GRID = tuple(np.arange(0.0, 2.01, 0.5).tolist())
_E_GRID = tuple(np.exp(np.arange(-1.0, 1.01, 0.5)).tolist())
_AB_GRID = tuple(np.exp(np.arange(0.0, 25.01, 5.0)).tolist())
# Variable projection searches the exponents only; a fine grid is cheap because E, A, B
# follow in closed form for each pair.
_VARPRO_GRID = tuple(np.round(np.linspace(0.02, 1.5, 16), 6).tolist())


def chinchilla_params(name_suffix: str = "") -> tuple[ParamSpec, ...]:
    """Parameter specs of the Chinchilla form (shared with laws of the same form)."""
    return (
        ParamSpec(
            "E",
            lower=0.0,
            upper=math.inf,
            log_scale=True,
            grid=_E_GRID,
            prior_loc=0.5,
            prior_scale=1.0,
            doc="irreducible loss (nats/token)",
        ),
        ParamSpec(
            "A",
            lower=0.0,
            upper=math.inf,
            log_scale=True,
            grid=_AB_GRID,
            prior_loc=6.0,
            prior_scale=4.0,
            doc="parameter-term coefficient",
        ),
        ParamSpec(
            "B",
            lower=0.0,
            upper=math.inf,
            log_scale=True,
            grid=_AB_GRID,
            prior_loc=7.0,
            prior_scale=4.0,
            doc="data-term coefficient",
        ),
        ParamSpec(
            "alpha",
            lower=0.0,
            upper=5.0,
            grid=_EXP_GRID,
            prior_loc=0.35,
            prior_scale=0.5,
            doc="parameter-count exponent" + name_suffix,
        ),
        ParamSpec(
            "beta",
            lower=0.0,
            upper=5.0,
            grid=_EXP_GRID,
            prior_loc=0.35,
            prior_scale=0.5,
            doc="token-count exponent",
        ),
    )


def chinchilla() -> Law:
    """The Chinchilla law L(N, D) = E + A / N^alpha + B / D^beta.

    Inputs ``N`` (parameters) and ``D`` (training tokens); fitted on log-loss residuals
    (Approach 3 of Hoffmann et al. 2022, arXiv 2203.15556).

    Example:
        >>> import scalinglaws as sl
        >>> law = sl.laws.chinchilla()
        >>> float(law.predict(sl.laws.HOFFMANN_2022, {"N": 70e9, "D": 1.4e12}))  # doctest: +ELLIPSIS
        1.92...
    """
    return Law(
        name="chinchilla",
        version="1",
        inputs=("N", "D"),
        params=chinchilla_params(),
        fn=chinchilla_loss,
        log_fn=chinchilla_log_loss,
        residual="log",
        linear_form=LinearForm(
            nonlinear=("alpha", "beta"),
            linear=("E", "A", "B"),
            basis=_basis,
            nonnegative=True,
            grid=(_VARPRO_GRID, _VARPRO_GRID),
        ),
        reference="Hoffmann et al. 2022, arXiv 2203.15556",
        description="L(N, D) = E + A/N^alpha + B/D^beta",
        metadata={"form": "chinchilla", "size_input": "N", "data_input": "D"},
    )
