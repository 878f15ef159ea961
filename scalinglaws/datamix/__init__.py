"""Multi-domain data mixtures: predict every validation domain's loss from proxy runs,
choose the mixture, propose the next proxies (DESIGN §12).

* proxy runs — :func:`load_mixture_runs`, :class:`MixtureRuns`;
* laws — :func:`mixing_law` (Ye et al. 2024, optionally nested with a size law),
  :func:`linear_law`, :func:`loglinear_law` (RegMix's baselines), each a
  :class:`~scalinglaws.laws.Law` fitted by the common path; a Gaussian-process model;
* fits — :func:`fit_datamix` -> :class:`DataMixFit` (one model per validation domain,
  a target over them, function draws for plans).
"""

from scalinglaws.datamix.fit import DataMixFit, DomainModel, Target, fit_datamix, target_spec
from scalinglaws.datamix.laws import linear_law, loglinear_law, make_law, mixing_law
from scalinglaws.datamix.record import load_datamix, save_datamix  # registers "datamix" records
from scalinglaws.datamix.runs import MixtureRuns, load_mixture_runs

__all__ = [
    "DataMixFit",
    "DomainModel",
    "MixtureRuns",
    "Target",
    "fit_datamix",
    "linear_law",
    "load_datamix",
    "load_mixture_runs",
    "loglinear_law",
    "make_law",
    "mixing_law",
    "save_datamix",
    "target_spec",
]
