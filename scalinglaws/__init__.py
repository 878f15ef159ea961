"""scalinglaws: fit published scaling laws to your run logs and plan with uncertainty.

The public surface is this module's ``__all__``; everything else may change. In the order
of the pipeline:

* laws — :mod:`scalinglaws.laws` (``Law``, ``ParamSpec`` for a law of your own);
* run logs — :func:`load_runs`, :func:`load_sparse_runs`, :func:`load_cpt_runs`,
  :func:`load_mixture_runs` (proxy runs over data mixtures, :mod:`scalinglaws.datamix`);
* fits — :func:`fit` (point fit, optionally with uncertainty), :class:`FitResult`;
* uncertainty — :func:`attach`, :func:`bootstrap`, :func:`laplace`,
  :func:`sample_posterior`, conformal :func:`calibrate` and :func:`predictive_interval`;
* records — :func:`save_fit`, :func:`load_fit` (and the CMR and data-mixture pairs);
* plans — :func:`plan_compute`, :func:`plan_fixed_params`, :func:`plan_fixed_tokens`,
  :func:`compute_for_loss`, :func:`plan_sparsity`, :func:`plan_mixture`,
  :func:`plan_data_mixture`; next runs — :func:`design_runs`, :func:`propose_mixtures`;
* checks — :func:`backtest`; figures and reports — :mod:`scalinglaws.plotting`,
  :func:`write_report` (both imported on first use);
* housekeeping — :func:`clear_caches` releases compiled programs in a long-lived process.
"""

from scalinglaws import approaches, datamix, laws, mixture, sparsity, uncertainty
from scalinglaws._caches import clear_caches
from scalinglaws._version import __version__
from scalinglaws.approaches.backtest import BacktestResult, backtest
from scalinglaws.datamix import (
    DataMixFit,
    fit_datamix,
    load_datamix,
    load_mixture_runs,
    save_datamix,
)
from scalinglaws.datamix.plan import plan_data_mixture
from scalinglaws.datamix.propose import propose_mixtures
from scalinglaws.design import design_runs
from scalinglaws.errors import (
    FitError,
    PlanError,
    RecordError,
    RunLogError,
    ScalingLawsError,
    ScalingLawsWarning,
)
from scalinglaws.fitting import FitResult, Uncertainty
from scalinglaws.io.records import load_fit, save_fit
from scalinglaws.io.runs import load_runs
from scalinglaws.laws import Law, ParamSpec
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
from scalinglaws.uncertainty import (
    Calibration,
    attach,
    bootstrap,
    calibrate,
    fit,
    laplace,
    predictive_interval,
    sample_posterior,
    to_inference_data,
)


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
    # subpackages
    "approaches",
    "datamix",
    "laws",
    "mixture",
    "plotting",
    "sparsity",
    "uncertainty",
    "__version__",
    # errors and warnings
    "FitError",
    "PlanError",
    "RecordError",
    "RunLogError",
    "ScalingLawsError",
    "ScalingLawsWarning",
    # laws and run logs
    "Law",
    "ParamSpec",
    "load_cpt_runs",
    "load_mixture_runs",
    "load_runs",
    "load_sparse_runs",
    # fits and uncertainty
    "BacktestResult",
    "CMRFit",
    "Calibration",
    "DataMixFit",
    "FitResult",
    "Uncertainty",
    "attach",
    "backtest",
    "bootstrap",
    "calibrate",
    "fit",
    "fit_cmr",
    "fit_datamix",
    "laplace",
    "predictive_interval",
    "sample_posterior",
    "to_inference_data",
    # records
    "load_cmr_fit",
    "load_datamix",
    "load_fit",
    "save_cmr_fit",
    "save_datamix",
    "save_fit",
    # plans and reports
    "compute_for_loss",
    "design_runs",
    "plan_compute",
    "plan_data_mixture",
    "plan_fixed_params",
    "plan_fixed_tokens",
    "plan_mixture",
    "plan_sparsity",
    "propose_mixtures",
    "write_report",
    # process housekeeping
    "clear_caches",
]
