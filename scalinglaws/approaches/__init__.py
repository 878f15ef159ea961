"""Compute-optimal allocation without a parametric law: Hoffmann et al.'s Approaches 1-2.

* :func:`approach2` — isoFLOP slices: per-budget minima N*(C), D*(C) and their power laws.
* :func:`isoflop_slices` — group a run log into isoFLOP slices.
"""

from scalinglaws.approaches.isoflop import Approach2Result, approach2, isoflop_slices

__all__ = ["Approach2Result", "approach2", "isoflop_slices"]
