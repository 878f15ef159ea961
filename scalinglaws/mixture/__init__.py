"""Continual pre-training mixtures: the critical-mixture-ratio (CMR) pipeline.

Gu et al., "CMR Scaling Law", EMNLP 2024, arXiv 2407.17467. Load a continual-pre-training
log with :func:`load_cpt_runs`, fit with :func:`fit_cmr`, plan with
:func:`scalinglaws.planning.mixture.plan_mixture`, save with :func:`save_cmr_fit`.
"""

from scalinglaws.laws.cmr import stationarity_coefficients, turning_points
from scalinglaws.mixture.pipeline import (
    DEFAULT_EPSILON,
    DEFAULT_LAMBDA,
    CMRFit,
    CMRSettings,
    cmr_settings,
    derive_critical,
    fit_cmr,
    log_t0_variance,
    point_weights,
)
from scalinglaws.mixture.record import load_cmr_fit, save_cmr_fit
from scalinglaws.mixture.runs import load_cpt_runs

__all__ = [
    "DEFAULT_EPSILON",
    "DEFAULT_LAMBDA",
    "CMRFit",
    "CMRSettings",
    "cmr_settings",
    "derive_critical",
    "fit_cmr",
    "load_cmr_fit",
    "load_cpt_runs",
    "log_t0_variance",
    "point_weights",
    "save_cmr_fit",
    "stationarity_coefficients",
    "turning_points",
]
