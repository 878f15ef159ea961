"""Plan quantities a design can target, as pure functions of a parameter dict.

Each builder returns ``fn(params) -> q`` where ``params`` holds arrays of draws (natural
units) and ``q`` is one number per draw; the Chinchilla-form ones evaluate the law's own
frontier functions (:attr:`Law.derived <scalinglaws.laws.base.Law.derived>`), so they
broadcast over draws and apply to every law of that form (dense ``N`` or sparse
``N_avg``). Quantities spanning decades are taken on the log scale, where their
posterior is closest to Gaussian and a variance is scale-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import PlanError
from scalinglaws.laws.base import Law

#: name -> (what it is, whether q is a log, what ``target`` means)
QUANTITIES: dict[str, tuple[str, bool, str]] = {
    "log_n_opt": ("log of the compute-optimal model size N_opt", True, "compute"),
    "tokens_per_param": ("log of compute-optimal tokens per parameter", True, "compute"),
    "loss": ("log of the predicted loss (on the frontier, or at given N and D)", True, "compute"),
    "compute_for_loss": ("log of the compute needed to reach a loss", True, "loss"),
    "frontier_exponent": ("the frontier exponent a = beta/(alpha+beta) of N_opt ~ C^a", False, ""),
}


@dataclass(frozen=True)
class PlanQuantity:
    """A plan quantity resolved for a law and a target.

    Attributes:
        name: The quantity's name (a key of :data:`QUANTITIES`, or ``"custom"``).
        fn: ``fn(params) -> (S,)`` on draws in natural units (pure ``jax.numpy``).
        log: Whether q is the log of a positive quantity (widths are then log ratios).
        description: One line for reports.
        target_compute: The target compute when the quantity has one (else None).
    """

    name: str
    fn: Callable[[Any], Any]
    log: bool
    description: str
    target_compute: float | None = None


def _need_frontier(law: Law, *names: str) -> None:
    if not law.has("inputs", *names):
        raise PlanError(
            f"this plan quantity needs a Chinchilla-form law (E + A/N^alpha + B/D^beta); "
            f"{law.name!r} does not declare {', '.join(names)}. Pass quantity=<function of "
            "the parameter dict> for a law of your own"
        )


def _positive(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise PlanError(f"{what} must be a positive number, not {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise PlanError(f"{what} must be a positive number, not {value!r}")
    return v


def plan_quantity(law: Law, quantity: Any, target: Any, k: float = 6.0) -> PlanQuantity:
    """Resolve a quantity name (or a function) and its target for ``law``.

    Args:
        law: The law whose draws q is computed from.
        quantity: A name of :data:`QUANTITIES`, or a callable ``fn(params) -> q``
            (params: dict of draw arrays in natural units; pure ``jax.numpy``).
        target: The target compute in FLOPs (``log_n_opt``, ``tokens_per_param``,
            ``loss`` on the frontier), an ``(N, D)`` pair (``loss`` at that run), a loss
            (``compute_for_loss``), or unused (``frontier_exponent``, callables).
        k: FLOPs per parameter per token.

    Returns:
        A :class:`PlanQuantity`.

    Raises:
        PlanError: Unknown name, missing or bad target, or a law without a frontier.
    """
    if callable(quantity):
        return PlanQuantity("custom", quantity, False, "a user-defined plan quantity")
    if quantity not in QUANTITIES:
        raise PlanError(
            f"unknown plan quantity {quantity!r}; choose one of {', '.join(QUANTITIES)} "
            "or pass a function of the parameter dict"
        )
    description, is_log, _ = QUANTITIES[quantity]
    if quantity == "frontier_exponent":
        _need_frontier(law, "frontier_exponents")
        exponents = law.derived_fn("frontier_exponents")
        return PlanQuantity(quantity, lambda p: exponents(p)[0], is_log, description)
    if target is None:
        raise PlanError(f"plan quantity {quantity!r} needs a target (see --help)")
    if quantity == "compute_for_loss":
        _need_frontier(law, "compute_for_loss")
        loss = _positive(target, "the target loss")
        fn_c = law.derived_fn("compute_for_loss")
        return PlanQuantity(
            quantity, lambda p: jnp.log(fn_c(p, loss, k)), is_log, f"{description} {loss:g}"
        )
    if quantity == "loss" and isinstance(target, tuple | list) and len(target) == 2:
        _need_frontier(law, "loss_at")
        size, tokens = (_positive(v, "the target N and D") for v in target)
        loss_at = law.derived_fn("loss_at")
        return PlanQuantity(
            quantity,
            lambda p: jnp.log(loss_at(p, size, tokens)),
            is_log,
            f"log of the predicted loss at N={size:.3g}, D={tokens:.3g}",
        )
    compute = _positive(target, "the target compute")
    if quantity == "log_n_opt":
        _need_frontier(law, "compute_optimal")
        fn_opt = law.derived_fn("compute_optimal")
        fn = lambda p: jnp.log(fn_opt(p, compute, k)[0])  # noqa: E731
    elif quantity == "tokens_per_param":
        _need_frontier(law, "tokens_per_param")
        fn_tpp = law.derived_fn("tokens_per_param")
        fn = lambda p: jnp.log(fn_tpp(p, compute, k))  # noqa: E731
    else:
        _need_frontier(law, "optimal_loss")
        fn_loss = law.derived_fn("optimal_loss")
        fn = lambda p: jnp.log(fn_loss(p, compute, k))  # noqa: E731
    return PlanQuantity(quantity, fn, is_log, f"{description} at C={compute:.3g}", compute)
