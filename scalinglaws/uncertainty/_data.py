"""Shared plumbing: the data a fit was made from, and parameter vectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.fit import prepare
from scalinglaws.fitting.result import FitResult


@dataclass(frozen=True)
class FitData:
    """Numpy views of the runs behind a fit.

    Attributes:
        inputs: ``{input name: (n,)}`` float64 arrays.
        target: ``(n,)`` observed values of the law's target.
        clusters: ``(n,)`` integer cluster index of each row (its run), ``0..n_clusters-1``.
        n_clusters: Number of distinct runs (equals ``n`` when every row is its own run).
    """

    inputs: dict[str, np.ndarray]
    target: np.ndarray
    clusters: np.ndarray
    n_clusters: int

    @property
    def n(self) -> int:
        return int(self.target.shape[0])


def fit_data(result: FitResult, what: str) -> FitData:
    """Recover the inputs, target and run clusters a fit was made from.

    Raises:
        ScalingLawsError: The result carries no run data (e.g. a record loaded without
            its data file), or the data lack the law's columns.
    """
    if result.data is None:
        raise ScalingLawsError(
            f"{what} needs the runs the fit was made from, but this result carries none "
            "(a record loaded without its data?); refit from the run log"
        )
    runs, inputs, target, _ = prepare(result.law, result.data)
    if "run" in runs.columns and runs["run"].duplicated().any():
        codes, uniques = pd.factorize(runs["run"], sort=False)
        clusters, n_clusters = np.asarray(codes, dtype=np.int64), len(uniques)
    else:
        clusters, n_clusters = np.arange(len(target), dtype=np.int64), len(target)
    return FitData(inputs=inputs, target=target, clusters=clusters, n_clusters=n_clusters)


def shared_run_noise_note(data: FitData, method: str, n_params: int) -> str | None:
    """The caveat of a row-wise likelihood on checkpoints, or ``None`` when rows are runs.

    Laplace and the posterior take every row's residual as independent noise. Rows that
    are checkpoints of fewer runs share each run's deviation, which that model leaves out,
    so their intervals tend to be too narrow (on the OPT logs, checkpoints of five runs,
    a 90% posterior interval held 2 of 27 held-out checkpoints).
    """
    if data.n_clusters >= data.n:
        return None
    enough = (
        ""
        if data.n_clusters > n_params
        else f"; it needs more runs than the law's {n_params} parameters"
    )
    return (
        f"{method} treats the {data.n} rows as independent, but they are checkpoints of "
        f"{data.n_clusters} runs, whose checkpoints share the run's deviation: the "
        "intervals leave that out and are likely too narrow. Uncertainty 'bootstrap' "
        f"resamples whole runs{enough}"
    )


def shared_run_noise(result: FitResult, method: str) -> str | None:
    """:func:`shared_run_noise_note` for a fit's own rows (``None`` without its data).

    ``method`` names the row-wise method in the message (``"Laplace"``,
    ``"The posterior"``).
    """
    if result.data is None:
        return None
    return shared_run_noise_note(fit_data(result, method), method, len(result.law.params))


def point_internal(result: FitResult) -> np.ndarray:
    """The point fit as an internal parameter vector (logs for log-scale parameters).

    Log-scale parameters fitted at exactly zero are moved to a tiny positive value so the
    vector stays finite.
    """
    out = []
    for p in result.law.params:
        v = float(result.params[p.name])
        if p.log_scale:
            v = math.log(max(v, 1e-300))
        out.append(v)
    return np.asarray(out, dtype=float)


def check_count(value: int, option: str) -> int:
    """Validate a positive integer option (draws, resamples, chains)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ScalingLawsError(f"{option} must be a positive integer, not {value!r}")
    return int(value)


def natural_draws(result: FitResult, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Internal ``(S, P)`` draws -> ``{name: (S,)}`` in natural units (numpy)."""
    out = {}
    for i, p in enumerate(result.law.params):
        col = np.asarray(theta[:, i], dtype=float)
        out[p.name] = np.exp(col) if p.log_scale else col
    return out
