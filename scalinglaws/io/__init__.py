"""Input and output: run logs, fit records.

The package init re-exports the run-log loader only: records sit a layer above fitting and
uncertainty (they hold results), so importing them here would pull those layers into every
``scalinglaws.io.*`` import. Use ``scalinglaws.io.records`` (or the root ``load_fit`` /
``save_fit``) for records.
"""

from scalinglaws.io.runs import ALIASES, load_runs

__all__ = ["ALIASES", "load_runs"]
