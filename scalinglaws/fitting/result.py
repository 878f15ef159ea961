"""Fit results: what a fit learned, kept apart from the settings that produced it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError
from scalinglaws.exported import cached_jit
from scalinglaws.laws.base import Law

#: |correlation| above which a parameter pair is reported as nearly degenerate.
CORRELATION_FLAG = 0.99


@dataclass(frozen=True)
class Uncertainty:
    """Parameter uncertainty attached to a fit.

    Attributes:
        method: ``"none"``, ``"laplace"``, ``"bootstrap"`` or ``"bayes"``.
        draws: Parameter draws in natural units, ``{name: (n_draws,)}`` (may be thinned).
        diagnostics: Per-parameter ``r_hat``, ``ess_bulk``, ``divergences`` for a posterior;
            solver statuses for a bootstrap.
        converged: False when diagnostics fail; plans made from it say so.
        extra: Method-specific facts (seed, number of resamples, chains, noise scale).
    """

    method: str = "none"
    draws: Mapping[str, np.ndarray] = field(default_factory=dict)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    converged: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_draws(self) -> int:
        return 0 if not self.draws else len(next(iter(self.draws.values())))


@dataclass(frozen=True)
class FitResult:
    """The outcome of :func:`scalinglaws.fit`.

    Attributes:
        law: The fitted :class:`~scalinglaws.laws.Law`.
        params: Best parameters in natural units, keyed by the paper's names.
        objective: Value of the fit objective (sum of Huber losses) at ``params``.
        status: ``"converged"`` when the best start converged, else the solver's code name.
        starts: One row per polished start: final objective, status, iterations, params.
        n_runs: Number of runs fitted.
        options: The settings used (search, delta, top_k, k, ...), for records and refits.
        covariance: Approximate covariance of the internal parameters (Gauss-Newton on the
            residuals, scaled by their variance); ``None`` when singular.
        residuals: Residuals at the optimum (log residuals for laws fitted on log loss).
        warnings: Messages the user should read (from loading and from fitting).
        uncertainty: Attached parameter uncertainty (see :mod:`scalinglaws.uncertainty`).
        data: The runs fitted (canonical columns), for refits, bootstraps and plots.
        calibration: A split-conformal calibration of the predictive intervals
            (:class:`~scalinglaws.uncertainty.conformal.Calibration`, attached by
            :func:`scalinglaws.calibrate`), or ``None``; predictive intervals of
            ``predict`` and plans are then widened by its factor.
    """

    law: Law
    params: Mapping[str, float]
    objective: float
    status: str
    starts: pd.DataFrame
    n_runs: int
    options: Mapping[str, Any]
    covariance: np.ndarray | None
    residuals: np.ndarray
    warnings: tuple[str, ...] = ()
    uncertainty: Uncertainty = field(default_factory=Uncertainty)
    data: pd.DataFrame | None = None
    calibration: Any = None

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def k(self) -> float:
        """FLOPs per parameter per token used for C = k N D."""
        return float(self.options.get("k", 6.0))

    # ------------------------------------------------------------------ prediction
    def predict(self, runs: Any = None, **inputs: Any) -> np.ndarray:
        """The law's point prediction at given inputs.

        Either a DataFrame with the law's input columns, or keyword arrays:
        ``result.predict(N=1e9, D=2e10)``.
        """
        x = inputs_from(self.law, runs, inputs)
        with jax.enable_x64(True):
            # Host values straight to the compiled call (jnp.asarray would run a
            # one-operation program per value).
            out = _predict(
                self.law,
                {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()},
                {k: np.asarray(v, dtype=np.float64) for k, v in x.items()},
            )
            return np.asarray(out)

    # ------------------------------------------------------------------ diagnostics
    def standard_errors(self) -> dict[str, float]:
        """Approximate standard errors in natural units (delta method); NaN if unknown."""
        if self.covariance is None:
            return {p.name: math.nan for p in self.law.params}
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        out = {}
        for i, p in enumerate(self.law.params):
            out[p.name] = float(sd[i] * self.params[p.name]) if p.log_scale else float(sd[i])
        return out

    def correlation(self) -> pd.DataFrame | None:
        """Correlation of the internal parameters (logs for log-scale ones)."""
        if self.covariance is None:
            return None
        sd = np.sqrt(np.clip(np.diag(self.covariance), 1e-300, None))
        corr = self.covariance / np.outer(sd, sd)
        names = list(self.law.param_names)
        return pd.DataFrame(corr, index=names, columns=names)

    def at_bounds(self, rtol: float = 1e-6) -> list[str]:
        """Parameters that ended on (or within ``rtol`` of) a bound of their spec."""
        flagged = []
        for p in self.law.params:
            v = (
                p.to_internal(self.params[p.name])
                if (not p.log_scale or self.params[p.name] > 0)
                else -math.inf
            )
            lo, hi = p.internal_bounds()
            for b in (lo, hi):
                if math.isfinite(b) and abs(v - b) <= rtol * (1 + abs(b)):
                    flagged.append(p.name)
        if self.law.linear_form is not None and self.law.linear_form.nonnegative:
            for name in self.law.linear_form.linear:
                if self.params[name] < 1e-8 and name not in flagged:
                    flagged.append(name)
        return flagged

    def flags(self) -> list[str]:
        """Everything the report tells the user to distrust, one line each."""
        out = []
        if not self.converged:
            out.append(f"solver did not converge (status {self.status})")
        for name in self.at_bounds():
            out.append(f"{name} = {self.params[name]:.6g} is at a bound of its allowed range")
        corr = self.correlation()
        if corr is None:
            out.append("parameter covariance is singular: some parameters are not identified")
        else:
            names = list(corr.index)
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    c = corr.iat[i, j]
                    if abs(c) > CORRELATION_FLAG:
                        out.append(
                            f"{names[i]} and {names[j]} are nearly perfectly correlated "
                            f"({c:+.4f}): the data pin down a combination, not each one"
                        )
        if self.uncertainty.method != "none" and not self.uncertainty.converged:
            out.append(f"{self.uncertainty.method} uncertainty FAILED its diagnostics")
        return out

    def report(self) -> str:
        """A plain-text report: parameters, fit quality, and what to distrust."""
        se = self.standard_errors()
        lines = [
            f"{self.law.name} law  {self.law.description}",
            f"  runs: {self.n_runs}   objective: {self.objective:.10g}   status: {self.status}",
        ]
        if "status" in self.starts.columns:
            lines.append(
                f"  starts polished: {len(self.starts)}   converged: "
                f"{int((self.starts['status'] == 'converged').sum())}   "
                f"search: {self.options.get('search')}"
            )
        else:
            lines.append("  (loaded from a record: per-start details and residuals not kept)")
        lines += [
            "",
            f"  {'parameter':<10} {'value':>14} {'approx s.e.':>12}  note",
        ]
        bounds = set(self.at_bounds())
        for p in self.law.params:
            note = "AT BOUND" if p.name in bounds else ""
            lines.append(f"  {p.name:<10} {self.params[p.name]:>14.6g} {se[p.name]:>12.3g}  {note}")
        if self.residuals.size:
            rms = float(np.sqrt(np.mean(self.residuals**2)))
            kind = "log-loss" if self.law.residual == "log" else "residual"
            lines.append("")
            lines.append(f"  RMS {kind} residual: {rms:.4g}")
        if self.uncertainty.method != "none":
            state = "converged" if self.uncertainty.converged else "NOT CONVERGED"
            lines.append(
                f"  uncertainty: {self.uncertainty.method}, {self.uncertainty.n_draws} draws, {state}"
            )
        flags = self.flags()
        if flags or self.warnings:
            lines.append("")
            lines.append("  warnings:")
            for msg in [*flags, *self.warnings]:
                lines.append(f"  - {msg}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return f"FitResult({self.law.name}: {ps}; objective={self.objective:.6g}, {self.status})"


def inputs_from(law: Law, runs: Any, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A law's inputs as broadcast float arrays, from a table of runs or keyword arrays.

    Args:
        law: The law whose ``inputs`` are wanted.
        runs: A DataFrame (or anything ``pandas.DataFrame`` accepts) with the input
            columns, or None.
        inputs: Keyword arrays by input name (used when ``runs`` is None).

    Returns:
        ``{input name: array}``, broadcast to one shape.

    Raises:
        ScalingLawsError: Both or neither sources, missing or unknown inputs, or
            non-finite values.
    """
    if runs is not None and inputs:
        raise ScalingLawsError("give either a table of runs or keyword inputs, not both")
    if runs is not None:
        if not isinstance(runs, pd.DataFrame):
            runs = pd.DataFrame(runs)
        missing = [c for c in law.inputs if c not in runs.columns]
        if missing:
            raise ScalingLawsError(
                f"law {law.name!r} needs inputs {list(law.inputs)}; missing {missing}"
            )
        src = {c: runs[c].to_numpy(dtype=float) for c in law.inputs}
    else:
        missing = [c for c in law.inputs if c not in inputs]
        extra = [c for c in inputs if c not in law.inputs]
        if missing or extra:
            raise ScalingLawsError(
                f"law {law.name!r} takes inputs {list(law.inputs)}; "
                + (f"missing {missing}" if missing else f"unknown {extra}")
            )
        src = {c: np.asarray(inputs[c], dtype=float) for c in law.inputs}
    arrays = np.broadcast_arrays(*src.values())
    for name, arr in zip(src, arrays, strict=True):
        if not np.all(np.isfinite(arr)):
            raise ScalingLawsError(f"input {name} has non-finite values")
    return dict(zip(src, arrays, strict=True))


@cached_jit(static_argnames=("law",))
def _predict(law: Law, params, inputs):
    """``law.predict`` as one compiled program: run eagerly, each of its operations would
    be a program of its own, compiled (or loaded from the persistent cache) one by one in
    every new process."""
    return law.predict(params, inputs)
