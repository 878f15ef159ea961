"""Synthetic run logs from known law parameters (tests, notebooks, bundled data)."""

from scalinglaws.simulate.chinchilla import isoflop_design, simulate_runs

__all__ = ["isoflop_design", "simulate_runs"]
