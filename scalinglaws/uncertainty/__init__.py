"""Parameter uncertainty for any law: bootstrap, NUTS posterior, Laplace (DESIGN §6).

One interface, three methods, all generic over a :class:`~scalinglaws.laws.Law`:

* :func:`bootstrap` — resample runs, refit warm-started; all refits in one compiled,
  vmapped call, sharded over every device. Fast and assumption-light.
* :func:`sample_posterior` — NUTS on a numpyro model generated from the law's parameter
  specs (Student-t likelihood on the residuals, learned scale), with R-hat, ESS and
  divergence checks; a posterior that fails them is labelled not converged.
* :func:`laplace` — a Gaussian at the optimum, for instant answers.

:func:`attach` dispatches by name; :func:`fit` is the point fit followed by it (the
package's ``scalinglaws.fit``). Predictive intervals of observed values can be calibrated
by split conformal prediction (:mod:`scalinglaws.uncertainty.conformal`:
:func:`calibrate`, :func:`predictive_interval`); :func:`interval_columns` names their
columns. Derived quantities are computed per draw with
:func:`per_draw` / :func:`predictive` and summarised with :func:`quantiles`;
:func:`summarize` and :func:`thin` give what a record stores.

Where to run what: bootstrap refits vectorise well and are hundreds of times faster on a
GPU; NUTS on a few hundred runs is latency-bound and faster on the CPU (parallel chains
need ``XLA_FLAGS=--xla_force_host_platform_device_count=<chains>`` set before JAX starts).
"""

from scalinglaws.uncertainty._data import shared_run_noise
from scalinglaws.uncertainty.attach import METHODS, attach, fit
from scalinglaws.uncertainty.bayes import sample_posterior, to_inference_data
from scalinglaws.uncertainty.bootstrap import bootstrap, resample_weights
from scalinglaws.uncertainty.conformal import (
    Calibration,
    calibrate,
    calibrated_interval,
    conformal_calibrate,
    predictive_interval,
)
from scalinglaws.uncertainty.curves import bootstrap_curves, resample_curve_weights
from scalinglaws.uncertainty.intervals import interval_columns
from scalinglaws.uncertainty.laplace import laplace, laplace_covariance
from scalinglaws.uncertainty.predictive import (
    noise_scales,
    per_draw,
    predictive,
    quantiles,
    usable_draws,
)
from scalinglaws.uncertainty.sharding import batch_mesh, replicate, shard_rows
from scalinglaws.uncertainty.summary import summarize, thin, thin_uncertainty

__all__ = [
    "shared_run_noise",
    "bootstrap_curves",
    "resample_curve_weights",
    "METHODS",
    "Calibration",
    "attach",
    "batch_mesh",
    "bootstrap",
    "calibrate",
    "calibrated_interval",
    "conformal_calibrate",
    "fit",
    "interval_columns",
    "laplace",
    "laplace_covariance",
    "noise_scales",
    "per_draw",
    "predictive",
    "predictive_interval",
    "quantiles",
    "replicate",
    "resample_weights",
    "sample_posterior",
    "shard_rows",
    "summarize",
    "thin",
    "thin_uncertainty",
    "to_inference_data",
    "usable_draws",
]
