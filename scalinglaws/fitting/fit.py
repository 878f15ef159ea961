"""``fit``: the global search and polish that turns run logs into a :class:`FitResult`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.errors import FitError, ScalingLawsWarning
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.objective import DEFAULT_DELTA
from scalinglaws.fitting.padding import bucket_rows, pad_rows
from scalinglaws.fitting.result import FitResult
from scalinglaws.fitting.solver import (
    STATUS_NAMES,
    objective_batch,
    polish_batch,
    varpro_search,
)
from scalinglaws.io.runs import load_runs
from scalinglaws.laws.base import Law, grid_product

SEARCHES = ("auto", "varpro", "grid", "hoffmann")
#: Starts polished after the variable-projection search. On 84 logs (the Epoch file, its
#: 240-run subset, 40 random halves of it, 40 simulated designs with 0-3% noise) three
#: starts reached the same optimum as four and as Hoffmann's 4,500-start grid (objective
#: to 1e-8 relative) wherever the fit converged; each extra start costs ~15% of a fit.
DEFAULT_TOP_K = 3
DEFAULT_MAX_ITER = 200


def prepare(law: Law, runs: Any, weights: Sequence[float] | None = None):
    """Runs -> (inputs dict, target, weights) as float64 numpy arrays, validated."""
    if not isinstance(runs, pd.DataFrame):
        runs = load_runs(runs, min_runs=len(law.params))
    missing = [c for c in (*law.inputs, law.target) if c not in runs.columns]
    if missing:
        raise FitError(
            f"law {law.name!r} needs columns {[*law.inputs, law.target]}; the runs lack "
            f"{missing} (found {list(runs.columns)})"
        )
    inputs = {c: runs[c].to_numpy(dtype=float) for c in law.inputs}
    target = runs[law.target].to_numpy(dtype=float)
    for name, arr in [*inputs.items(), (law.target, target)]:
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise FitError(f"row {int(bad[0])}, column {name!r}: value is not finite")
    if law.residual == "log":
        bad = np.flatnonzero(target <= 0)
        if bad.size:
            raise FitError(
                f"row {int(bad[0])}, column {law.target!r}: {target[bad[0]]:g} must be > 0 "
                "(the law is fitted on log loss)"
            )
    if weights is None:
        w = np.ones_like(target)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != target.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise FitError("weights must be one finite, non-negative number per run")
    n_eff = int(np.count_nonzero(w))
    if n_eff <= len(law.params):
        raise FitError(
            f"{n_eff} runs cannot determine the {len(law.params)} parameters of law "
            f"{law.name!r}; at least {len(law.params) + 1} are needed"
        )
    return runs, inputs, target, w


def _start_grid(law: Law, grid: Mapping[str, Sequence[float]] | None, varpro: bool) -> np.ndarray:
    """Start grid in natural units: over the nonlinear parameters (varpro) or all."""
    if not grid:
        return _default_grid(law, varpro)
    return _build_grid(law, grid, varpro)


@lru_cache(maxsize=64)
def _default_grid(law: Law, varpro: bool) -> np.ndarray:
    """The law's own start grid, built once per law (a read-only array)."""
    g = _build_grid(law, None, varpro)
    g.setflags(write=False)
    return g


def _build_grid(law: Law, grid: Mapping[str, Sequence[float]] | None, varpro: bool) -> np.ndarray:
    names = law.linear_form.nonlinear if varpro else law.param_names
    values = []
    for j, name in enumerate(names):
        if grid and name in grid:
            v = tuple(grid[name])
        elif varpro and law.linear_form.grid:
            v = law.linear_form.grid[j]
        else:
            v = law.spec(name).grid
        if not v:
            raise FitError(
                f"law {law.name!r}: no start values for parameter {name!r}; give its "
                "ParamSpec a grid or pass grid={name: [...]}"
            )
        # Start values outside a parameter's bounds are moved onto them (the polish is
        # projected onto the bounds anyway, and the variable-projection score assumes it).
        spec = law.spec(name)
        values.append(tuple(np.clip(np.asarray(v, dtype=float), spec.lower, spec.upper)))
    return np.asarray(grid_product(values))


def fit(
    law: Law,
    runs: Any,
    *,
    search: str = "auto",
    delta: float = DEFAULT_DELTA,
    top_k: int = DEFAULT_TOP_K,
    max_iter: int = DEFAULT_MAX_ITER,
    grid: Mapping[str, Sequence[float]] | None = None,
    weights: Sequence[float] | None = None,
    k: float | None = None,
    discrepancy: str = "none",
    starts: Mapping[str, Any] | None = None,
) -> FitResult:
    """Fit a law to run logs by global search and compiled, vectorised polish.

    The point fit only: :func:`scalinglaws.fit` (``scalinglaws.uncertainty.fit``) takes
    the same options plus ``uncertainty=`` and attaches parameter uncertainty to it.

    Minimises the **sum** over runs of Huber_delta(residual) (Hoffmann et al. 2022,
    arXiv 2203.15556, Approach 3: log residuals, delta = 1e-3). Runs in float64 whatever
    the global JAX setting (scoped, nothing global is changed).

    Search strategies:
        * ``"varpro"`` (the default for laws with a linear form): grid over the exponents,
          the linear coefficients in closed form, the ``top_k`` best polished by damped
          Newton on all parameters.
        * ``"grid"``: rank the Cartesian grid of every parameter's start values by the
          objective and polish the ``top_k`` best.
        * ``"hoffmann"``: polish *every* point of the full grid (4,500 starts for
          Chinchilla): the published reference procedure, slow, for like-for-like checks.

    Args:
        law: The law, e.g. ``scalinglaws.laws.chinchilla()``.
        runs: Output of :func:`scalinglaws.load_runs`, or anything it accepts.
        search: ``"auto"``, ``"varpro"``, ``"grid"`` or ``"hoffmann"``.
        delta: Huber threshold on the residuals.
        top_k: Starts polished after ranking (``"varpro"``/``"grid"``).
        max_iter: Newton iterations per start.
        grid: Override start values per parameter (natural units).
        weights: Per-run multiplicities (all ones by default).
        k: FLOPs per parameter per token recorded with the fit (default: the run log's).
        discrepancy: ``"none"`` or ``"quadratic"``: with bayes uncertainty attached later,
            add an orthogonalised model-discrepancy term to the posterior (see
            :func:`scalinglaws.uncertainty.sample_posterior`). Kept in ``options``.
        starts: Explicit start points in natural units, ``{name: (S,) values}`` for every
            parameter (points, not a grid product): for laws with too many parameters
            for a grid (the data-mixing law has one exponent per training domain), e.g.
            from a linearised pilot fit. Implies ``search="grid"``: the ``top_k`` best
            by objective are polished.

    Returns:
        A :class:`FitResult`; check ``.status`` and ``.report()``.

    Raises:
        FitError: Too few runs, bad options, or no start gave a finite objective.
    """
    if starts is not None:
        if search not in ("auto", "grid"):
            raise FitError(f"starts= is a search over given points; search={search!r} is not")
        search = "grid"
    search = _check_options(law, search, delta, top_k, max_iter, discrepancy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        runs, inputs_np, target_np, w_np = prepare(law, runs, weights)
    load_msgs = [str(c.message) for c in caught if issubclass(c.category, ScalingLawsWarning)]
    for m in load_msgs:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)

    n_rows = len(target_np)
    # Padded to a bucket of rows (zero weights): logs of nearby sizes share programs.
    inputs_p, target_p, w_p = pad_rows(inputs_np, target_np, w_np, bucket_rows(n_rows))
    with jax.enable_x64(True):
        n_searched, out = _solve(
            law, search, grid, inputs_p, target_p, w_p, delta, top_k, max_iter, starts
        )
        theta, fval, status, iters, natural, resid, jac = map(np.asarray, out)
        resid, jac = resid[:n_rows], jac[:n_rows]
        finite = np.isfinite(fval)
        if not finite.any():
            raise FitError(
                f"no start gave a finite objective for law {law.name!r}; check the run log "
                "or give start values with grid=..."
            )
        best = int(np.argmin(np.where(finite, fval, np.inf)))
        params = {name: float(natural[best, i]) for i, name in enumerate(law.param_names)}
        cov = _covariance(jac, w_np, resid)

    options = {
        "search": search,
        "delta": float(delta),
        "top_k": int(top_k),
        "max_iter": int(max_iter),
        "n_starts_searched": int(n_searched),
        "k": float(k if k is not None else runs.attrs.get("k", 6.0)),
        **({"discrepancy": discrepancy} if discrepancy != "none" else {}),
    }
    result = FitResult(
        law=law,
        params=params,
        objective=float(fval[best]),
        status=STATUS_NAMES[int(status[best])],
        starts=_starts_table(law, fval, status, iters, natural),
        n_runs=int(np.count_nonzero(w_np)),
        options=options,
        covariance=cov,
        residuals=resid,
        warnings=tuple(runs.attrs.get("warnings", [])) or tuple(load_msgs),
        data=runs,
    )
    if not result.converged:
        warnings.warn(
            f"{law.name} fit did not converge (status {result.status}); see .report()",
            ScalingLawsWarning,
            stacklevel=2,
        )
    return result


def _check_options(
    law: Law, search: str, delta: float, top_k: int, max_iter: int, discrepancy: str
) -> str:
    """Validate the solver options; returns the search strategy with ``"auto"`` resolved."""
    if search not in SEARCHES:
        raise FitError(f"search must be one of {', '.join(SEARCHES)}, not {search!r}")
    if not (isinstance(delta, int | float) and delta > 0 and math.isfinite(delta)):
        raise FitError(f"delta must be a positive number, not {delta!r}")
    if top_k < 1 or max_iter < 1:
        raise FitError("top_k and max_iter must be at least 1")
    if discrepancy not in ("none", "quadratic"):
        raise FitError(f"discrepancy must be 'none' or 'quadratic', not {discrepancy!r}")
    if search == "auto":
        search = "varpro" if law.linear_form is not None else "grid"
    if search == "varpro" and law.linear_form is None:
        raise FitError(f"law {law.name!r} declares no linear form; use search='grid'")
    return search


def _given_starts(law: Law, starts: Mapping[str, Any]) -> np.ndarray:
    """Explicit start points ``{name: (S,)}`` as an (S, P) array in natural units."""
    missing = [n for n in law.param_names if n not in starts]
    unknown = [n for n in starts if n not in law.param_names]
    if missing or unknown:
        raise FitError(
            f"starts= must give every parameter of law {law.name!r}; "
            + (f"missing {missing}" if missing else f"unknown {unknown}")
        )
    try:
        cols = [np.atleast_1d(np.asarray(starts[n], dtype=float)) for n in law.param_names]
        g = np.stack(np.broadcast_arrays(*cols), axis=-1)
    except (TypeError, ValueError) as exc:
        raise FitError(f"starts= must be equal-length numeric arrays ({exc})") from None
    if g.ndim != 2 or g.shape[0] == 0 or not np.all(np.isfinite(g)):
        raise FitError("starts= must hold at least one finite start per parameter")
    lo = np.asarray([p.lower for p in law.params])
    hi = np.asarray([p.upper for p in law.params])
    return np.clip(g, lo, hi)


def _solve(
    law: Law, search: str, grid, inputs, target, w, delta, top_k: int, max_iter: int, starts=None
):
    """Search and polish (inside float64): ``(n_starts_searched, compiled outputs)``."""
    # numpy arrays go straight into the compiled calls (their fast argument path).
    if search == "varpro":
        g = _start_grid(law, grid, varpro=True)
        n_searched = g.shape[0]
        out = _varpro_fit(law, g, inputs, target, w, delta, min(top_k, n_searched), max_iter)
        return n_searched, out
    g = _start_grid(law, grid, varpro=False) if starts is None else _given_starts(law, starts)
    n_searched = g.shape[0]
    thetas = jnp.asarray(
        np.asarray(law.to_internal({n: g[:, i] for i, n in enumerate(law.param_names)}))
    )
    lo, hi = law.internal_bounds()
    thetas = jnp.clip(thetas, lo, hi)
    inputs = {c: jnp.asarray(v) for c, v in inputs.items()}
    target, w = jnp.asarray(target), jnp.asarray(w)
    if search == "hoffmann":
        starts = thetas
    else:
        obj = objective_batch(law, thetas, inputs, target, w, delta)
        obj = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
        starts = thetas[jnp.argsort(obj)[: min(top_k, n_searched)]]
    wb = jnp.broadcast_to(w, (starts.shape[0], w.shape[0]))
    return n_searched, _polish_fit(law, starts, inputs, target, wb, delta, max_iter)


def _starts_table(law: Law, fval, status, iters, natural) -> pd.DataFrame:
    """One row per polished start, best objective first."""
    # One DataFrame built from sorted columns (column-by-column insertion and a pandas
    # sort cost more than the rest of a warm fit's Python side).
    order = np.argsort(np.where(np.isnan(fval), np.inf, fval), kind="stable")
    columns = {
        "objective": fval[order],
        "status": np.asarray([STATUS_NAMES[int(s)] for s in status[order]], dtype=object),
        "iterations": iters[order],
    }
    columns.update({name: natural[order, i] for i, name in enumerate(law.param_names)})
    return pd.DataFrame(columns)


@cached_jit(static_argnames=("law", "top_k", "max_iter"))
def _varpro_fit(law: Law, grid, inputs, target, w, delta, top_k: int, max_iter: int):
    """Variable-projection search, ranking, polish of the best starts and the finishing
    quantities as one compiled call (separate calls cost more in dispatch than the few
    milliseconds of arithmetic)."""
    thetas, obj = varpro_search(law, grid, inputs, target, w, delta)
    starts = thetas[jnp.argsort(obj)[:top_k]]
    wb = jnp.broadcast_to(w, (top_k, w.shape[0]))
    out = polish_batch(law, starts, inputs, target, wb, delta, max_iter=max_iter)
    return (*out, *_finish(law, out[0], out[1], inputs, target))


@cached_jit(static_argnames=("law", "max_iter"))
def _polish_fit(law: Law, starts, inputs, target, wb, delta, max_iter: int):
    """Polish of given starts and the finishing quantities as one compiled call."""
    out = polish_batch(law, starts, inputs, target, wb, delta, max_iter=max_iter)
    return (*out, *_finish(law, out[0], out[1], inputs, target))


def _finish(law: Law, thetas, fval, inputs, target):
    """Natural parameters of every start, and the residuals and their Jacobian at the
    best one (the lowest finite objective; the caller refuses when none is finite)."""
    natural = jnp.stack([law.to_natural(thetas)[n] for n in law.param_names], axis=-1)
    theta = thetas[jnp.argmin(jnp.where(jnp.isfinite(fval), fval, jnp.inf))]
    resid = law.residuals(theta, inputs, target)
    jac = jax.jacfwd(lambda t: law.residuals(t, inputs, target))(theta)
    return natural, resid, jac


def _covariance(jac: np.ndarray, wn: np.ndarray, resid: np.ndarray) -> np.ndarray | None:
    """Gauss-Newton covariance sigma^2 (J^T W J)^-1 of the internal parameters."""
    n, p = jac.shape
    dof = max(int(np.count_nonzero(wn)) - p, 1)
    sigma2 = float(np.sum(wn * resid**2) / dof)
    jtj = jac.T @ (wn[:, None] * jac)
    if not np.all(np.isfinite(jtj)):
        return None
    # Scale before inverting: columns differ by orders of magnitude (log A vs alpha).
    s = np.sqrt(np.clip(np.diag(jtj), 1e-300, None))
    scaled = jtj / np.outer(s, s)
    if np.linalg.cond(scaled) > 1e14:
        return None
    return sigma2 * np.linalg.inv(scaled) / np.outer(s, s)
