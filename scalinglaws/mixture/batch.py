"""Many small fits of one law at once (names kept for existing imports).

The batched fit lives in :mod:`scalinglaws.fitting.many` (:func:`fit_many`) and the
batched bootstrap of many curves in :mod:`scalinglaws.uncertainty.curves`;
:func:`fit_curves` is the padded-array form of :func:`fit_many` that the continual
pre-training pipeline used before.
"""

from __future__ import annotations

import numpy as np

from scalinglaws.fitting.many import DELTA_FLOOR, HUBER_K, PILOT_DELTA, fit_many, pad_curves
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty.curves import BOOTSTRAP_MAX_ITER, bootstrap_curves

__all__ = [
    "BOOTSTRAP_MAX_ITER",
    "DELTA_FLOOR",
    "HUBER_K",
    "PILOT_DELTA",
    "bootstrap_curves",
    "fit_curves",
    "pad_curves",
]


def fit_curves(
    law: Law,
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    *,
    delta: float | str = "auto",
    top_k: int = 4,
    max_iter: int = 1000,
) -> dict[str, np.ndarray]:
    """Fit a one-input law to padded curves ``(C, n)`` (``mask`` 0 on padding rows).

    :func:`scalinglaws.fitting.many.fit_many` with the curves stacked.

    Returns:
        ``theta (C, P)`` internal vectors, ``objective (C,)``, ``status (C,)``,
        ``delta (C,)``.
    """
    res = fit_many(
        law,
        {law.inputs[0]: x, law.target: y},
        weights=mask,
        delta=delta,
        top_k=top_k,
        max_iter=max_iter,
        covariance=False,
    )
    return {"theta": res.theta, "objective": res.objective, "status": res.status, "delta": res.delta}
