"""scalinglaws: fit published scaling laws to your run logs and plan with uncertainty.

The public surface is this module's ``__all__``; everything else may change.
"""

from scalinglaws import approaches, laws, mixture, sparsity, uncertainty
from scalinglaws._version import __version__
from scalinglaws.approaches.conformal import calibrate, predictive_interval
from scalinglaws.errors import (
    FitError,
    PlanError,
    RecordError,
    RunLogError,
    ScalingLawsError,
    ScalingLawsWarning,
)
from scalinglaws.fitting import FitResult, Uncertainty, fit
from scalinglaws.io.records import load_fit, save_fit
from scalinglaws.io.runs import load_runs
from scalinglaws.mixture import CMRFit, fit_cmr, load_cmr_fit, load_cpt_runs, save_cmr_fit
from scalinglaws.planning.compute import (
    compute_for_loss,
    plan_compute,
    plan_fixed_params,
    plan_fixed_tokens,
)
from scalinglaws.planning.mixture import plan_mixture
from scalinglaws.planning.sparsity import plan_sparsity
from scalinglaws.sparsity import load_sparse_runs
from scalinglaws.uncertainty import bootstrap, laplace, sample_posterior, to_inference_data


def __getattr__(name: str):
    # Plotting pulls in matplotlib: imported on first use, so the command line and
    # plain fits start fast.
    if name == "plotting":
        import importlib

        return importlib.import_module("scalinglaws.plotting")
    if name == "write_report":
        from scalinglaws.report import write_report

        return write_report
    raise AttributeError(f"module 'scalinglaws' has no attribute {name!r}")


__all__ = [
    "approaches",
    "bootstrap",
    "calibrate",
    "CMRFit",
    "FitError",
    "FitResult",
    "PlanError",
    "RecordError",
    "RunLogError",
    "ScalingLawsError",
    "ScalingLawsWarning",
    "Uncertainty",
    "__version__",
    "compute_for_loss",
    "fit",
    "fit_cmr",
    "laplace",
    "laws",
    "mixture",
    "load_cmr_fit",
    "load_cpt_runs",
    "load_fit",
    "load_runs",
    "load_sparse_runs",
    "plan_compute",
    "plan_fixed_params",
    "plan_fixed_tokens",
    "plan_mixture",
    "plan_sparsity",
    "plotting",
    "predictive_interval",
    "sample_posterior",
    "save_cmr_fit",
    "save_fit",
    "sparsity",
    "to_inference_data",
    "uncertainty",
    "write_report",
]
