"""Plausibility limits on plans: the one place they are stated.

A plan is an instruction to spend a training budget. A number far outside anything trained
or trainable — a model of 1e-102 parameters, 3e-8 tokens, a budget of 1e300 FLOPs — is
not an answer however it was computed: it means the request or the fitted law is wrong.
Every planner checks its inputs and the point estimate of its outputs against these
ranges and refuses, with the reason, instead of printing such a plan.

The ranges are wide on purpose (from toy models to far beyond today's largest runs):

========  ===================  =============================================
quantity  plausible range      why
========  ===================  =============================================
``N``     1e3 – 1e15           parameters: a toy MLP to 1,000× a frontier model
``D``     1e3 – 1e17           tokens: a few batches to ~10,000× the web
``C``     1e10 – 1e32          FLOPs: a laptop-second to ~1e6× frontier runs
========  ===================  =============================================

Widen them on purpose with ``limits=`` on any planner (e.g. ``limits={"N": (1.0, 1e18)}``;
``limits=NO_LIMITS`` turns the checks off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalinglaws.errors import PlanError

#: Quantity → (lowest, highest) plausible value.
PLAUSIBLE: Mapping[str, tuple[float, float]] = {
    "N": (1e3, 1e15),
    "D": (1e3, 1e17),
    "C": (1e10, 1e32),
}
#: Pass as ``limits=`` to turn the plausibility checks off.
NO_LIMITS: Mapping[str, tuple[float, float]] = {q: (0.0, math.inf) for q in PLAUSIBLE}

_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}
#: Plan columns → the quantity whose range applies.
_COLUMNS = {
    "N": "N",
    "N_opt": "N",
    "N_for_target": "N",
    "D": "D",
    "D_opt": "D",
    "D_for_target": "D",
    "C": "C",
}


def resolve(limits: Mapping[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
    """The package ranges with the caller's overrides; an unknown quantity or a range
    that is not ``lo < hi`` is refused."""
    out = dict(PLAUSIBLE)
    for q, rng in (limits or {}).items():
        if q not in PLAUSIBLE:
            raise PlanError(f"limits: unknown quantity {q!r}; known: {', '.join(PLAUSIBLE)}")
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            raise PlanError(f"limits[{q!r}] must be a (low, high) pair, got {rng!r}") from None
        if not (lo < hi) or math.isnan(lo) or math.isnan(hi):
            raise PlanError(f"limits[{q!r}] = ({lo:g}, {hi:g}) is not a range (low < high)")
        out[q] = (lo, hi)
    return out


def _explain(q: str, value: float, lo: float, hi: float) -> str:
    side = "below" if value < lo else "above"
    return (
        f"{value:.3g} {_UNITS[q]} is {side} the plausible range [{lo:.0e}, {hi:.0e}] for {q}"
    )


def check_inputs(
    values: np.ndarray, quantity: str, what: str, limits: Mapping[str, tuple[float, float]]
) -> None:
    """Refuse a requested ``quantity`` (e.g. a budget) outside its plausible range."""
    lo, hi = limits[quantity]
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        v = float(values[bad[0]])
        raise PlanError(
            f"{what} {_explain(quantity, v, lo, hi)}; pass limits={{{quantity!r}: (low, high)}} "
            "to plan there on purpose"
        )


def check_outputs(
    df: pd.DataFrame, limits: Mapping[str, tuple[float, float]], *, source: str = "the fitted law"
) -> None:
    """Refuse a plan whose point estimate leaves a plausible range (draws are not checked:
    their quantiles show the spread, however wide)."""
    for col, q in _COLUMNS.items():
        if col not in df.columns:
            continue
        v = df[col].to_numpy(dtype=float)
        lo, hi = limits[q]
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise PlanError(
                f"implausible plan: {col} is {v[i]} (row {i + 1}); {source} gives no finite "
                "answer there (check its parameters and the request)"
            )
        bad = np.flatnonzero((v < lo) | (v > hi))
        if bad.size:
            i = int(bad[0])
            raise PlanError(
                f"implausible plan: {col} = {_explain(q, float(v[i]), lo, hi)} (row {i + 1}); "
                f"{source} cannot be trusted this far (check its parameters and the request), "
                f"or pass limits={{{q!r}: (low, high)}} to accept it on purpose"
            )
