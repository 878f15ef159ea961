"""Turning points of the continual-pre-training Lagrangian.

The mathematics lives in :mod:`scalinglaws.laws.cmr` (pure ``jax.numpy``); this module
re-exports it under its former names.
"""

from __future__ import annotations

from scalinglaws.laws.cmr import (
    TURNING_POINT_GRID,
    stationarity_coefficients,
    stationarity_terms,
    turning_points,
)

#: Former name of :data:`scalinglaws.laws.cmr.TURNING_POINT_GRID`.
DEFAULT_GRID = TURNING_POINT_GRID

__all__ = [
    "DEFAULT_GRID",
    "TURNING_POINT_GRID",
    "stationarity_coefficients",
    "stationarity_terms",
    "turning_points",
]
