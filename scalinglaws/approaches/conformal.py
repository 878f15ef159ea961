"""Deprecated location of split-conformal calibration.

Conformal calibration of predictive intervals lives in
:mod:`scalinglaws.uncertainty.conformal` (it belongs with the other uncertainty methods,
and every plan uses it). The names below still resolve here, each with a
``DeprecationWarning``; import them from :mod:`scalinglaws.uncertainty.conformal` (or the
package root for :func:`~scalinglaws.calibrate` and :func:`~scalinglaws.predictive_interval`).
"""

from __future__ import annotations

import warnings
from typing import Any

from scalinglaws.uncertainty import conformal as _conformal

_MOVED = (
    "DEFAULT_CALIBRATION_FRACTION",
    "Calibration",
    "calibrate",
    "calibrated_interval",
    "calibration_split",
    "check_calibration",
    "conformal_calibrate",
    "conformal_quantile",
    "conformity_scores",
    "method_interval",
    "min_calibration_runs",
    "predictive_interval",
    "residual_scatter",
    "widen",
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"scalinglaws.approaches.conformal.{name} moved to "
            f"scalinglaws.uncertainty.conformal.{name}; the old path will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_conformal, name)
    raise AttributeError(f"module 'scalinglaws.approaches.conformal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_MOVED)
