"""Experiment design: which runs to train next so that a plan becomes most certain (DESIGN §13).

* :func:`design_runs` — rank candidate runs (N, D) by the expected reduction of the
  posterior variance of a plan quantity per FLOP, and pick a batch under a study budget;
* :class:`Prior` — parameter draws before any run (the law's prior or a published fit);
* :mod:`scalinglaws.design.engine` — the law-agnostic engine (:class:`Ensemble`,
  :func:`score`, :func:`select_batch`) that works from any draws of a plan quantity and of
  the candidates' predicted observations (one or several outputs per candidate), for
  reuse by other designs (proxy data mixtures);
* :mod:`scalinglaws.design.isoflop` — an isoFLOP surface whose Laplace draws give the engine
  q = Approach 2's exponent ``a`` (:func:`~scalinglaws.design.isoflop.approach2_ensemble`);
* :func:`plan_quantity` — the plan quantities a design can target;
* :func:`candidate_values` and :func:`plot_design` — every candidate's value over the
  (N, D) plane with the picks and the existing runs (matplotlib on first use).
"""

from scalinglaws.design.engine import METHODS, Ensemble, Selection, score, select_batch
from scalinglaws.design.plot import candidate_values, plot_design
from scalinglaws.design.prior import Prior
from scalinglaws.design.quantities import QUANTITIES, PlanQuantity, plan_quantity
from scalinglaws.design.runs import candidate_grid, design_inputs, design_runs, misfit_check

__all__ = [
    "METHODS",
    "QUANTITIES",
    "Ensemble",
    "PlanQuantity",
    "Prior",
    "Selection",
    "candidate_grid",
    "candidate_values",
    "design_inputs",
    "design_runs",
    "misfit_check",
    "plan_quantity",
    "plot_design",
    "score",
    "select_batch",
]
