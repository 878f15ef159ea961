"""Parameter uncertainty for any law: bootstrap, NUTS posterior, Laplace (DESIGN §6).

One interface, three methods, all generic over a :class:`~scalinglaws.laws.Law`:

* :func:`bootstrap` — resample runs, refit warm-started; all refits in one compiled,
  vmapped call, sharded over every device. Fast and assumption-light.
* :func:`sample_posterior` — NUTS on a numpyro model generated from the law's parameter
  specs (Student-t likelihood on the residuals, learned scale), with R-hat, ESS and
  divergence checks; a posterior that fails them is labelled not converged.
* :func:`laplace` — a Gaussian at the optimum, for instant answers.

:func:`attach` dispatches by name. Derived quantities are computed per draw with
:func:`per_draw` / :func:`predictive` and summarised with :func:`quantiles`;
:func:`summarize` and :func:`thin` give what a record stores.

Where to run what: bootstrap refits vectorise well and are hundreds of times faster on a
GPU; NUTS on a few hundred runs is latency-bound and faster on the CPU (parallel chains
need ``XLA_FLAGS=--xla_force_host_platform_device_count=<chains>`` set before JAX starts).
"""

from scalinglaws.uncertainty.attach import METHODS, attach
from scalinglaws.uncertainty.bayes import sample_posterior, to_inference_data
from scalinglaws.uncertainty.bootstrap import bootstrap, resample_weights
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
    "METHODS",
    "attach",
    "batch_mesh",
    "bootstrap",
    "laplace",
    "laplace_covariance",
    "noise_scales",
    "per_draw",
    "predictive",
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
