"""One entry point: attach any kind of parameter uncertainty to a fit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.result import FitResult, Uncertainty

METHODS = ("none", "laplace", "bootstrap", "bayes")
#: Default draws per method: resamples (bootstrap), draws (Laplace), draws per chain (bayes).
DEFAULT_SAMPLES = {"laplace": 1000, "bootstrap": 1000, "bayes": 1000}


def attach(
    result: FitResult,
    method: str,
    *,
    samples: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    discrepancy: str | None = None,
) -> FitResult:
    """Attach parameter uncertainty of the named method to a point fit.

    Args:
        result: A point fit from :func:`scalinglaws.fit` (carrying its data).
        method: ``"none"`` (removes any), ``"laplace"``
            (:func:`~scalinglaws.uncertainty.laplace`), ``"bootstrap"``
            (:func:`~scalinglaws.uncertainty.bootstrap`) or ``"bayes"``
            (:func:`~scalinglaws.uncertainty.sample_posterior`, 4 chains).
        samples: Draws for Laplace, resamples for the bootstrap, draws per chain for
            bayes (its warm-up equals ``samples``, at least 500); default 1000.
        seed: Seed; the same seed gives the same draws.
        progress: Optional callable receiving one-line progress messages (stderr in the
            CLI unless ``--quiet``).
        discrepancy: For bayes: ``"none"`` or ``"quadratic"`` (see
            :func:`~scalinglaws.uncertainty.sample_posterior`); default: the fit's
            ``options["discrepancy"]`` (set by ``fit(..., discrepancy=...)``), else none.

    Returns:
        ``result`` with ``uncertainty`` replaced.

    Raises:
        ScalingLawsError: Unknown method, or a non-positive ``samples``.
    """
    if method not in METHODS:
        raise ScalingLawsError(
            f"uncertainty method must be one of {', '.join(METHODS)}, not {method!r}"
        )
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, int) or samples < 1
    ):
        raise ScalingLawsError(f"--samples must be a positive integer, not {samples!r}")
    if method == "none":
        return dataclasses.replace(result, uncertainty=Uncertainty())
    n = DEFAULT_SAMPLES[method] if samples is None else samples
    if method == "laplace":
        from scalinglaws.uncertainty.laplace import laplace

        return laplace(result, n=n, seed=seed)
    if method == "bootstrap":
        from scalinglaws.uncertainty.bootstrap import bootstrap

        return bootstrap(result, n=n, seed=seed, progress=progress)
    from scalinglaws.uncertainty.bayes import sample_posterior

    if discrepancy is None:
        discrepancy = result.options.get("discrepancy", "none")
    return sample_posterior(
        result,
        chains=4,
        warmup=max(n, 500),
        samples=n,
        seed=seed,
        progress=progress,
        discrepancy=discrepancy,
    )
