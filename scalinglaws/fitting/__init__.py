"""Fitting: objectives, compiled multi-start solvers, results."""

from scalinglaws.fitting.fit import fit, prepare
from scalinglaws.fitting.many import ManyFitResult, fit_many, pad_curves
from scalinglaws.fitting.objective import DEFAULT_DELTA, huber, objective
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.fitting.solver import (
    objective_batch,
    polish_batch,
    varpro_search,
    varpro_search_many,
)

__all__ = [
    "ManyFitResult",
    "fit_many",
    "pad_curves",
    "DEFAULT_DELTA",
    "FitResult",
    "Uncertainty",
    "fit",
    "huber",
    "objective",
    "objective_batch",
    "polish_batch",
    "prepare",
    "varpro_search",
    "varpro_search_many",
]
