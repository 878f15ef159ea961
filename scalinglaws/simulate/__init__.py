"""Synthetic run logs from known law parameters (tests, notebooks, bundled data)."""

from scalinglaws.simulate.chinchilla import isoflop_design, simulate_runs
from scalinglaws.simulate.cmr import simulate_cpt_curves
from scalinglaws.simulate.datamix import (
    MixtureOptimum,
    MixtureTruth,
    random_truth,
    round_mixtures,
    sample_mixtures,
    simulate_mixture_runs,
)
from scalinglaws.simulate.sparse import count_log, simulate_sparse_runs, sparse_design

__all__ = [
    "MixtureOptimum",
    "MixtureTruth",
    "random_truth",
    "round_mixtures",
    "sample_mixtures",
    "simulate_mixture_runs",
    "count_log",
    "isoflop_design",
    "simulate_cpt_curves",
    "simulate_runs",
    "simulate_sparse_runs",
    "sparse_design",
]
