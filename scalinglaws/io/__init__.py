"""Input and output: run logs, fit records."""

from scalinglaws.io.runs import ALIASES, load_runs

__all__ = ["ALIASES", "load_runs"]
