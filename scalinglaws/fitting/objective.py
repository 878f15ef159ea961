"""Fit objectives: Huber loss on residuals, summed (never averaged).

Hoffmann et al. 2022 (arXiv 2203.15556), Approach 3: sum over runs of
Huber_delta(log predicted - log observed) with delta = 1e-3. The *sum* matters: a mean
shrinks the gradient by the number of runs and makes quasi-Newton solvers stop early.
"""

from __future__ import annotations

import jax.numpy as jnp

from scalinglaws.laws.base import Inputs, Law

DEFAULT_DELTA = 1e-3


def huber(r: jnp.ndarray, delta: float) -> jnp.ndarray:
    """Huber_delta(r) = r^2 / 2 for |r| <= delta, delta * (|r| - delta / 2) otherwise."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def objective(
    law: Law,
    theta: jnp.ndarray,
    inputs: Inputs,
    target: jnp.ndarray,
    weights: jnp.ndarray,
    delta: float,
) -> jnp.ndarray:
    """Weighted sum of Huber losses of the law's residuals at internal vector ``theta``.

    ``weights`` are per-run multiplicities (all ones for a plain fit; resample counts for a
    bootstrap refit), so one compiled function serves both.
    """
    r = law.residuals(theta, inputs, target)
    return jnp.sum(weights * huber(r, delta))
