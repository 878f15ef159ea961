"""Compact forms of uncertainty for records and reports: summaries and thinned draws."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.result import Uncertainty

#: Draws kept by default. The Monte Carlo standard error of a 5% quantile from m
#: independent draws is sqrt(0.05 * 0.95 / m) / density; with m = 1000 it is about 0.007
#: in probability, so a stored 5/95% interval moves by well under a tenth of its width.
DEFAULT_MAX_DRAWS = 1000


def thin(draws: Mapping[str, Any], max_draws: int = DEFAULT_MAX_DRAWS) -> dict[str, np.ndarray]:
    """Keep at most ``max_draws`` draws, evenly spaced, from a dict of equal-length arrays.

    Even spacing (deterministic, no randomness) keeps every chain of a chain-major MCMC
    output represented and keeps aligned arrays (parameters, noise scales) aligned: thin
    them together in one dict.

    Raises:
        ScalingLawsError: Arrays of different lengths, or ``max_draws`` < 1.
    """
    if isinstance(max_draws, bool) or not isinstance(max_draws, int | np.integer) or max_draws < 1:
        raise ScalingLawsError(f"max_draws must be a positive integer, not {max_draws!r}")
    arrays = {k: np.asarray(v) for k, v in draws.items()}
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) > 1:
        raise ScalingLawsError(f"draws have different lengths {sorted(lengths)}; cannot thin")
    n = lengths.pop() if lengths else 0
    if n <= max_draws:
        return arrays
    idx = np.floor(np.arange(max_draws) * (n / max_draws)).astype(int)
    return {k: v[idx] for k, v in arrays.items()}


def thin_uncertainty(unc: Uncertainty, max_draws: int = DEFAULT_MAX_DRAWS) -> Uncertainty:
    """:func:`thin` applied to an :class:`Uncertainty`, keeping per-draw extras aligned."""
    n = unc.n_draws
    aligned = {k: v for k, v in unc.extra.items() if np.ndim(v) == 1 and np.size(v) == n}
    both = thin({**{f"draw:{k}": v for k, v in unc.draws.items()}, **aligned}, max_draws)
    draws = {k[5:]: v for k, v in both.items() if k.startswith("draw:")}
    extra = {**unc.extra, **{k: both[k] for k in aligned}}
    if n > max_draws:
        extra["thinned_from"] = n
    return dataclasses.replace(unc, draws=draws, extra=extra)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return None if value.ndim else _json_safe(value.item())
    if isinstance(value, np.integer | bool | np.bool_):
        return int(value) if not isinstance(value, bool | np.bool_) else bool(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def summarize(unc: Uncertainty, q: tuple[float, ...] = (0.05, 0.5, 0.95)) -> dict[str, Any]:
    """A JSON-ready summary: per-parameter mean, sd and quantiles, method and diagnostics.

    Returns:
        ``{"method", "n_draws", "converged", "params": {name: {"mean", "sd", "q05",
        "q50", "q95"}}, "diagnostics": {...}, "extra": {...}}``; per-draw arrays in
        ``extra`` are left out (store thinned draws for those), non-finite numbers
        become None.
    """
    params = {}
    for name, v in unc.draws.items():
        arr = np.asarray(v, dtype=float)
        arr = arr[np.isfinite(arr)]
        row: dict[str, Any] = {
            "mean": float(arr.mean()) if arr.size else None,
            "sd": float(arr.std(ddof=1)) if arr.size > 1 else None,
        }
        for level in q:
            key = f"q{round(level * 100):02d}"
            row[key] = float(np.quantile(arr, level)) if arr.size else None
        params[name] = row
    extra = {k: v for k, v in unc.extra.items() if not (isinstance(v, np.ndarray) and v.ndim)}
    return {
        "method": unc.method,
        "n_draws": unc.n_draws,
        "converged": bool(unc.converged),
        "params": params,
        "diagnostics": _json_safe(dict(unc.diagnostics)),
        "extra": _json_safe(extra),
    }
