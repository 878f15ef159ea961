"""One entry point: attach any kind of parameter uncertainty to a fit, and ``fit`` with it.

:func:`fit` is the package's public ``scalinglaws.fit``: the point fit of
:func:`scalinglaws.fitting.fit` followed by :func:`attach`. The attach step lives here, above
the fitting layer, so that fitting never imports uncertainty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.fit import DEFAULT_MAX_ITER, DEFAULT_TOP_K
from scalinglaws.fitting.fit import fit as point_fit
from scalinglaws.fitting.objective import DEFAULT_DELTA
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty.bayes import sample_posterior
from scalinglaws.uncertainty.bootstrap import bootstrap
from scalinglaws.uncertainty.laplace import laplace

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
        return laplace(result, n=n, seed=seed)
    if method == "bootstrap":
        return bootstrap(result, n=n, seed=seed, progress=progress)
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


def fit(
    law: Law,
    runs: Any,
    *,
    search: str = "auto",
    delta: float = DEFAULT_DELTA,
    top_k: int = DEFAULT_TOP_K,
    max_iter: int = DEFAULT_MAX_ITER,
    grid: Mapping[str, Sequence[float]] | None = None,
    weights: Sequence[float] | None = None,
    k: float | None = None,
    uncertainty: str = "none",
    samples: int | None = None,
    seed: int = 0,
    discrepancy: str = "none",
    progress: Callable[[str], None] | None = None,
    starts: Mapping[str, Any] | None = None,
) -> FitResult:
    """Fit a law to run logs and, optionally, attach parameter uncertainty.

    The point fit is :func:`scalinglaws.fitting.fit` (sum of Huber losses of the
    residuals, Hoffmann et al. 2022, arXiv 2203.15556; see it for the search strategies);
    ``uncertainty`` then goes through :func:`attach`.

    Args:
        law: The law, e.g. ``scalinglaws.laws.chinchilla()``.
        runs: Output of :func:`scalinglaws.load_runs`, or anything it accepts.
        search: ``"auto"``, ``"varpro"``, ``"grid"`` or ``"hoffmann"``.
        delta: Huber threshold on the residuals.
        top_k: Starts polished after ranking (``"varpro"``/``"grid"``).
        max_iter: Newton iterations per start.
        grid: Override start values per parameter (natural units).
        weights: Per-run multiplicities (all ones by default).
        k: FLOPs per parameter per token recorded with the fit (default: the run log's).
        uncertainty: ``"none"``, ``"laplace"``, ``"bootstrap"`` or ``"bayes"``: attach
            parameter uncertainty (see :mod:`scalinglaws.uncertainty`).
        samples: Draws (bootstrap resamples or posterior draws per chain) for uncertainty.
        seed: Random seed for the uncertainty method.
        discrepancy: ``"none"`` or ``"quadratic"``: with ``uncertainty="bayes"`` (now or
            attached later), add an orthogonalised model-discrepancy term to the posterior
            (see :func:`scalinglaws.uncertainty.sample_posterior`). Kept in ``options``.
        progress: Optional callable receiving progress messages for long uncertainty work.
        starts: Explicit start points ``{name: (S,) values}`` (see
            :func:`scalinglaws.fitting.fit`).

    Returns:
        A :class:`~scalinglaws.fitting.FitResult`; check ``.status`` and ``.report()``.

    Raises:
        FitError: Too few runs, bad options, or no start gave a finite objective.
        ScalingLawsError: An unknown uncertainty method or a non-positive ``samples``.
    """
    result = point_fit(
        law,
        runs,
        search=search,
        delta=delta,
        top_k=top_k,
        max_iter=max_iter,
        grid=grid,
        weights=weights,
        k=k,
        discrepancy=discrepancy,
        starts=starts,
    )
    if uncertainty == "none":
        return result
    return attach(result, uncertainty, samples=samples, seed=seed, progress=progress)
