"""Input and output: run logs, fit records."""

from scalinglaws.io.records import load_fit, read_record, record_from_fit, save_fit
from scalinglaws.io.runs import ALIASES, load_runs

__all__ = ["ALIASES", "load_fit", "load_runs", "read_record", "record_from_fit", "save_fit"]
