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
* housekeeping — :func:`enable_caches` keeps compiled programs across processes (notebook
  kernels, scripts), :func:`clear_caches` releases them in a long-lived process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scalinglaws._caches import clear_caches, enable_caches
from scalinglaws._version import __version__
from scalinglaws.errors import (
    FitError,
    PlanError,
    RecordError,
    RunLogError,
    ScalingLawsError,
    ScalingLawsWarning,
)

# The public names are imported on first use (PEP 562), so that ``import scalinglaws``
# and every command-line call load only what they need: a command that plans compute
# does not import the data-mixture, sparsity or design code (nor SciPy's optimisers).
# ``from scalinglaws import fit`` and ``scalinglaws.fit`` work as if imported here.
_SUBPACKAGES = ("approaches", "datamix", "laws", "mixture", "plotting", "sparsity", "uncertainty")
_LAZY: dict[str, str] = {
    "BacktestResult": "scalinglaws.approaches.backtest",
    "backtest": "scalinglaws.approaches.backtest",
    "DataMixFit": "scalinglaws.datamix",
    "fit_datamix": "scalinglaws.datamix",
    "load_datamix": "scalinglaws.datamix",
    "load_mixture_runs": "scalinglaws.datamix",
    "save_datamix": "scalinglaws.datamix",
    "plan_data_mixture": "scalinglaws.datamix.plan",
    "propose_mixtures": "scalinglaws.datamix.propose",
    "design_runs": "scalinglaws.design",
    "FitResult": "scalinglaws.fitting",
    "Uncertainty": "scalinglaws.fitting",
    "load_fit": "scalinglaws.io.records",
    "save_fit": "scalinglaws.io.records",
    "load_runs": "scalinglaws.io.runs",
    "Law": "scalinglaws.laws",
    "ParamSpec": "scalinglaws.laws",
    "CMRFit": "scalinglaws.mixture",
    "fit_cmr": "scalinglaws.mixture",
    "load_cmr_fit": "scalinglaws.mixture",
    "load_cpt_runs": "scalinglaws.mixture",
    "save_cmr_fit": "scalinglaws.mixture",
    "compute_for_loss": "scalinglaws.planning.compute",
    "plan_compute": "scalinglaws.planning.compute",
    "plan_fixed_params": "scalinglaws.planning.compute",
    "plan_fixed_tokens": "scalinglaws.planning.compute",
    "plan_mixture": "scalinglaws.planning.mixture",
    "plan_sparsity": "scalinglaws.planning.sparsity",
    "load_sparse_runs": "scalinglaws.sparsity",
    "Calibration": "scalinglaws.uncertainty",
    "attach": "scalinglaws.uncertainty",
    "bootstrap": "scalinglaws.uncertainty",
    "calibrate": "scalinglaws.uncertainty",
    "fit": "scalinglaws.uncertainty",
    "laplace": "scalinglaws.uncertainty",
    "predictive_interval": "scalinglaws.uncertainty",
    "sample_posterior": "scalinglaws.uncertainty",
    "to_inference_data": "scalinglaws.uncertainty",
    "write_report": "scalinglaws.report",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the names as if imported here
    from scalinglaws import approaches, datamix, laws, mixture, plotting, sparsity, uncertainty
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
    from scalinglaws.report import write_report
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


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"scalinglaws.{name}")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'scalinglaws' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "enable_caches",
]
