"""Chinchilla law: L(N, D) = E + A / N^alpha + B / D^beta, and its compute-optimal frontier.

Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv 2203.15556.

With C = k N D (eq. 4 of the paper):

    G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta)
    N_opt(C) = G (C/k)^a,   D_opt(C) = G^-1 (C/k)^b.

At the optimum alpha A N^-alpha = beta B D^-beta, so the loss above E splits as
X = beta (L-E)/(alpha+beta) on the parameter term and Y = alpha (L-E)/(alpha+beta) on the
data term, which inverts the frontier in closed form: N = (A/X)^(1/alpha),
D = (B/Y)^(1/beta). The frontier functions below are pure ``jax.numpy`` (safe under
``jit``, ``vmap`` and ``grad``) and broadcast parameter arrays (draws) against their
inputs; :func:`avgparams <scalinglaws.laws.avgparams.avgparams>` shares them with the
average parameter count in place of N. They are declared on each law as
:attr:`Law.derived <scalinglaws.laws.base.Law.derived>` (:data:`FRONTIER`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.laws.base import Array, Inputs, Law, LinearForm, Params, ParamSpec

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


# ---------------------------------------------------------------- compute-optimal frontier
def loss_at(params: Params, size: Array, tokens: Array) -> jnp.ndarray:
    """L = E + A / size^alpha + B / tokens^beta, the form's value at positional inputs.

    Args:
        params: ``E, A, B, alpha, beta`` (scalars or arrays broadcast with the inputs).
        size: Model size N (or the average parameter count N_avg).
        tokens: Training tokens D.

    Returns:
        The predicted loss, broadcast over parameters and inputs.
    """
    return (
        params["E"]
        + params["A"] * jnp.asarray(size) ** (-params["alpha"])
        + params["B"] * jnp.asarray(tokens) ** (-params["beta"])
    )


def _has_frontier(params: Params) -> jnp.ndarray:
    """True where every quantity the frontier divides by or takes a log of is positive."""
    return (
        (params["alpha"] > 0) & (params["beta"] > 0) & (params["A"] > 0) & (params["B"] > 0)
    )


def _log_g(params: Params) -> jnp.ndarray:
    # Logs keep G finite when A and B differ by many decades.
    al, be = params["alpha"], params["beta"]
    return (jnp.log(al * params["A"]) - jnp.log(be * params["B"])) / (al + be)


def frontier_exponents(params: Params) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(a, b)`` with a = beta/(alpha+beta) (N_opt ~ C^a) and b = alpha/(alpha+beta).

    Args:
        params: ``alpha, beta`` (scalars or arrays).

    Returns:
        ``(a, b)``; a + b = 1.
    """
    al, be = jnp.asarray(params["alpha"]), jnp.asarray(params["beta"])
    return be / (al + be), al / (al + be)


def frontier_coefficient(params: Params) -> jnp.ndarray:
    """G = (alpha A / (beta B))^(1/(alpha+beta)); NaN where the frontier does not exist.

    Args:
        params: ``A, B, alpha, beta``.

    Returns:
        G, broadcast over the parameters.
    """
    return jnp.where(_has_frontier(params), jnp.exp(_log_g(params)), jnp.nan)


def compute_optimal(
    params: Params, compute: Array, k: float = 6.0
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Compute-optimal ``(N_opt, D_opt)`` for budgets C = k N D.

    N_opt = G (C/k)^(beta/(alpha+beta)), D_opt = G^-1 (C/k)^(alpha/(alpha+beta)) with
    G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, arXiv 2203.15556).

    Args:
        params: ``A, B, alpha, beta`` (``E`` is not needed); arrays broadcast with C.
        compute: Training compute C in FLOPs.
        k: FLOPs per parameter per token.

    Returns:
        ``(N_opt, D_opt)``; NaN where a parameter set has no frontier (a non-positive
        exponent or coefficient).
    """
    a, b = frontier_exponents(params)
    log_g = _log_g(params)
    log_c = jnp.log(jnp.asarray(compute) / k)
    ok = _has_frontier(params)
    n_opt = jnp.where(ok, jnp.exp(log_g + a * log_c), jnp.nan)
    d_opt = jnp.where(ok, jnp.exp(-log_g + b * log_c), jnp.nan)
    return n_opt, d_opt


def tokens_per_param(params: Params, compute: Array, k: float = 6.0) -> jnp.ndarray:
    """D_opt / N_opt = G^-2 (C/k)^((alpha-beta)/(alpha+beta)) on the frontier.

    Args:
        params: ``A, B, alpha, beta``.
        compute: Training compute C in FLOPs.
        k: FLOPs per parameter per token.

    Returns:
        Compute-optimal tokens per parameter.
    """
    n_opt, d_opt = compute_optimal(params, compute, k)
    return d_opt / n_opt


def optimal_loss(params: Params, compute: Array, k: float = 6.0) -> jnp.ndarray:
    """The loss at the compute-optimal allocation, L(N_opt(C), D_opt(C)).

    Args:
        params: ``E, A, B, alpha, beta``.
        compute: Training compute C in FLOPs.
        k: FLOPs per parameter per token.

    Returns:
        The predicted loss on the frontier.
    """
    n_opt, d_opt = compute_optimal(params, compute, k)
    return loss_at(params, n_opt, d_opt)


def frontier_for_loss(params: Params, target_loss: Array) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(N, D)`` on the frontier whose loss is ``target_loss`` (the cheapest way there).

    N = (A/X)^(1/alpha), D = (B/Y)^(1/beta) with X = beta (L-E)/(alpha+beta) and
    Y = alpha (L-E)/(alpha+beta).

    Args:
        params: ``E, A, B, alpha, beta``.
        target_loss: The loss to reach.

    Returns:
        ``(N, D)``; NaN where the target is at or below E (no compute reaches it).
    """
    e, a, b = params["E"], params["A"], params["B"]
    al, be = params["alpha"], params["beta"]
    target = jnp.asarray(target_loss)
    reachable = target > e
    gap = jnp.where(reachable, target - e, 1.0)
    n = (a / (be * gap / (al + be))) ** (1.0 / al)
    d = (b / (al * gap / (al + be))) ** (1.0 / be)
    return jnp.where(reachable, n, jnp.nan), jnp.where(reachable, d, jnp.nan)


def compute_for_loss(params: Params, target_loss: Array, k: float = 6.0) -> jnp.ndarray:
    """The least compute C = k N D that reaches ``target_loss`` (see :func:`frontier_for_loss`).

    Args:
        params: ``E, A, B, alpha, beta``.
        target_loss: The loss to reach.
        k: FLOPs per parameter per token.

    Returns:
        C in FLOPs; NaN where the target is at or below E.
    """
    n, d = frontier_for_loss(params, target_loss)
    return k * n * d


def best_tokens_for_params(params: Params, size: Array) -> jnp.ndarray:
    """Tokens that make a fixed model size compute-optimal: D = G^-1 (N/G)^(alpha/beta).

    Inverts N_opt(C): C/k = (N/G)^((alpha+beta)/beta), D = (C/k)/N.

    Args:
        params: ``A, B, alpha, beta``.
        size: Model size N (or N_avg).

    Returns:
        D_opt(N); NaN where the parameters have no frontier.
    """
    al, be = params["alpha"], params["beta"]
    log_n = jnp.log(jnp.asarray(size))
    log_d = -_log_g(params) + (al / be) * (log_n - _log_g(params))
    return jnp.where(_has_frontier(params), jnp.exp(log_d), jnp.nan)


def best_params_for_tokens(params: Params, tokens: Array) -> jnp.ndarray:
    """Model size that makes a fixed token supply compute-optimal: N = G (D G)^(beta/alpha).

    Inverts D_opt(C): C/k = (D G)^((alpha+beta)/alpha), N = (C/k)/D.

    Args:
        params: ``A, B, alpha, beta``.
        tokens: Training tokens D.

    Returns:
        N_opt(D); NaN where the parameters have no frontier.
    """
    al, be = params["alpha"], params["beta"]
    log_d = jnp.log(jnp.asarray(tokens))
    log_n = _log_g(params) + (be / al) * (log_d + _log_g(params))
    return jnp.where(_has_frontier(params), jnp.exp(log_n), jnp.nan)


def tokens_for_loss(params: Params, size: Array, target_loss: Array) -> jnp.ndarray:
    """Tokens a fixed model size needs to reach a loss: D = (B / (L - E - A N^-alpha))^(1/beta).

    Args:
        params: ``E, A, B, alpha, beta``.
        size: Model size N (or N_avg).
        target_loss: The loss to reach.

    Returns:
        D; NaN where even unlimited data cannot reach the target with this model.
    """
    rest = target_loss - params["E"] - params["A"] * jnp.asarray(size) ** (-params["alpha"])
    ok = rest > 0
    d = (params["B"] / jnp.where(ok, rest, 1.0)) ** (1.0 / params["beta"])
    return jnp.where(ok, d, jnp.nan)


def params_for_loss(params: Params, tokens: Array, target_loss: Array) -> jnp.ndarray:
    """Model size a fixed token supply needs to reach a loss: N = (A / (L - E - B D^-beta))^(1/alpha).

    Args:
        params: ``E, A, B, alpha, beta``.
        tokens: Training tokens D.
        target_loss: The loss to reach.

    Returns:
        N; NaN where even an unlimited model cannot reach the target on these tokens.
    """
    rest = target_loss - params["E"] - params["B"] * jnp.asarray(tokens) ** (-params["beta"])
    ok = rest > 0
    n = (params["A"] / jnp.where(ok, rest, 1.0)) ** (1.0 / params["alpha"])
    return jnp.where(ok, n, jnp.nan)


#: The derived quantities of the Chinchilla form, declared on every law of that form
#: (:attr:`Law.derived <scalinglaws.laws.base.Law.derived>`). Each takes the parameter dict
#: first and positional model-size / token / compute arguments after it.
FRONTIER: dict[str, Callable[..., Any]] = {
    "loss_at": loss_at,
    "frontier_exponents": frontier_exponents,
    "frontier_coefficient": frontier_coefficient,
    "compute_optimal": compute_optimal,
    "tokens_per_param": tokens_per_param,
    "optimal_loss": optimal_loss,
    "frontier_for_loss": frontier_for_loss,
    "compute_for_loss": compute_for_loss,
    "best_tokens_for_params": best_tokens_for_params,
    "best_params_for_tokens": best_params_for_tokens,
    "tokens_for_loss": tokens_for_loss,
    "params_for_loss": params_for_loss,
}


@dataclass(frozen=True)
class FrontierInputs:
    """Which input of a Chinchilla-form law is the model size and which the token count.

    Called with ``(size, tokens)`` it returns the law's input dict, so planners and plots
    can evaluate any law of the form at a frontier point.

    Attributes:
        size: The model-size input (``"N"``, or ``"N_avg"`` for sparse pre-training).
        tokens: The token input (``"D"``).
    """

    size: str
    tokens: str

    def __call__(self, size: Array, tokens: Array) -> dict[str, Array]:
        return {self.size: size, self.tokens: tokens}


def frontier_capabilities(size_input: str, data_input: str) -> dict[str, Callable[..., Any]]:
    """:data:`FRONTIER` plus ``"inputs"``, a :class:`FrontierInputs` for the law.

    Args:
        size_input: The law's model-size input (``"N"`` or ``"N_avg"``).
        data_input: The law's token input (``"D"``).

    Returns:
        The mapping to pass as ``Law(derived=...)``.
    """
    return {**FRONTIER, "inputs": FrontierInputs(size_input, data_input)}


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
        derived=frontier_capabilities("N", "D"),
    )
