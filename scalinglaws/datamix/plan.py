"""``plan_data_mixture``: the best training mixture under a fitted mixture model.

The plan minimises the fitted target (a weighted mean of validation losses, see
:class:`~scalinglaws.datamix.fit.Target`) over the feasible mixtures

    F = {r : sum_j r_j = 1, lo_j <= r_j <= hi_j}  (and, with ``ceiling``,
         L_v(r) <= (1 + ceiling) L_v(baseline) for every validation domain v)

where ``lo`` comes from ``min_weight`` and ``hi`` from ``max_weight`` and the token supply
(``available_j * max_epochs / tokens``: the run may see at most ``max_epochs`` passes over
domain j's ``available_j`` tokens out of its ``tokens``).

Solver. Projected gradient descent in JAX, vectorised over many starts (Dirichlet draws,
the vertices and centre of F, the best proxy mixtures): each step projects
``r - eta * grad`` onto the box-simplex exactly (bisection on the shift tau of
``clip(y - tau, lo, hi)``, whose sum falls monotonically in tau) for a grid of step sizes
and keeps the best, so every iterate is feasible and the objective never increases. The
ceiling enters by an augmented Lagrangian on the relative excess
``L_v(r) / cap_v - 1``; after it, any remaining excess is removed by bisection on the
segment towards a feasible anchor (the baseline, projected onto the bounds), so the
reported mixture satisfies the ceiling exactly (checked, and reported).

Uncertainty. Every posterior draw f_s of the target (:meth:`DataMixFit.draw_fn`) is
minimised over F too (vectorised over draws, from the chosen mixture and the best of a
candidate pool under that draw). From the per-draw optima r*_s: an interval on each
weight, the *stability* (share of draws whose optimum lies within total-variation distance
``stability_distance`` of the chosen mixture) and each draw's regret of the choice
f_s(r_hat) - f_s(r*_s). The probability that the choice beats the baseline is the share of
draws with f_s(r_hat) < f_s(baseline).

Objectives:

* ``"mean"`` — the fitted surface (the law at its fitted parameters; a Gaussian process's
  posterior mean), the default;
* ``"expected"`` — the mean of the target over the posterior draws (the Bayes choice
  under expected loss; differs from ``"mean"`` only by the curvature of the law in its
  parameters, which is small when the fit is tight);
* ``"quantile"`` — the ``quantile`` upper quantile of the target over the draws: the
  robust choice, which pays a little expected loss to avoid mixtures the data barely
  support.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.errors import PlanError

OBJECTIVES = ("mean", "expected", "quantile")
#: Dirichlet starts of the main optimisation (plus vertices, centre, best proxies).
DEFAULT_STARTS = 64
#: Default distance (total variation, half the L1 distance) of the stability measure.
DEFAULT_STABILITY_DISTANCE = 0.1
#: Projected-gradient iterations: main problem, per-draw problems.
MAIN_ITERS = 300
DRAW_ITERS = 150
#: Step sizes tried per iteration: eta, eta/2, ..., eta/2^(STEPS-1).
STEPS = 8
#: Bisection steps of the box-simplex projection (float64: 2^-64 of the bracket).
BISECT = 64
#: Augmented-Lagrangian rounds (penalty x10 per round) for the ceiling.
AL_ROUNDS = 6
AL_MU0 = 100.0
#: A weight within this of a bound sits on it.
BOUND_TOL = 1e-6
#: Relative excess of a validation loss over its ceiling that still counts as met.
CEILING_TOL = 1e-9
#: Candidate pool the per-draw optimisations start from (plus the main starts).
POOL = 256


# ------------------------------------------------------------------ constraints
@dataclass(frozen=True)
class Bounds:
    """Per-training-domain weight bounds and where each came from.

    Attributes:
        domains: Training domains.
        lo: Lower bounds (``min_weight``; 0 when not given).
        hi: Upper bounds (the smaller of ``max_weight`` and the supply bound; 1 if none).
        min_weight, max_weight, supply: The bounds as given / derived (NaN: none).
    """

    domains: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    min_weight: np.ndarray
    max_weight: np.ndarray
    supply: np.ndarray

    def upper_source(self, j: int) -> str:
        s, m = self.supply[j], self.max_weight[j]
        if np.isfinite(s) and (not np.isfinite(m) or s < m):
            return "supply"
        return "max_weight" if np.isfinite(m) else ""

    def to_dict(self) -> dict[str, Any]:
        def nz(a):
            return {d: float(v) for d, v in zip(self.domains, a, strict=True) if np.isfinite(v)}

        return {
            "min_weight": nz(self.min_weight),
            "max_weight": nz(self.max_weight),
            "supply": nz(self.supply),
        }


def _per_domain(value: Any, option: str, domains: tuple[str, ...]) -> np.ndarray:
    """A number for every domain or ``{domain: value}`` -> (K,) with NaN where not given."""
    out = np.full(len(domains), np.nan)
    if value is None:
        return out
    if isinstance(value, Mapping):
        unknown = [str(d) for d in value if str(d) not in domains]
        if unknown:
            raise PlanError(
                f"{option} names {unknown}, which are not training domains ({', '.join(domains)})"
            )
        for d, v in value.items():
            out[domains.index(str(d))] = _number(v, f"{option}[{d}]")
        return out
    out[:] = _number(value, option)
    return out


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool):
        raise PlanError(f"{what} must be a number, not {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise PlanError(f"{what} must be a number, not {v!r}") from None
    if not math.isfinite(x):
        raise PlanError(f"{what} must be finite, not {v!r}")
    return x


def resolve_bounds(
    domains: tuple[str, ...],
    *,
    min_weight: Any = None,
    max_weight: Any = None,
    available: Any = None,
    tokens: Any = None,
    max_epochs: Any = 1.0,
) -> Bounds:
    """The weight bounds of a plan; PlanError naming the options that conflict.

    The feasible set {lo <= r <= hi, sum r = 1} is non-empty exactly when every
    lo_j <= hi_j, sum lo <= 1 and sum hi >= 1 (a box meets the hyperplane sum r = 1 iff
    the hyperplane passes between its lowest and highest corner sums).
    """
    mn = _per_domain(min_weight, "min_weight", domains)
    mx = _per_domain(max_weight, "max_weight", domains)
    for name, a in (("min_weight", mn), ("max_weight", mx)):
        bad = [
            f"{d}={v:g}"
            for d, v in zip(domains, a, strict=True)
            if np.isfinite(v) and not 0 <= v <= 1
        ]
        if bad:
            raise PlanError(f"{name} must lie in [0, 1]: {', '.join(bad)}")
    me = _number(max_epochs, "max_epochs")
    if me <= 0:
        raise PlanError(f"max_epochs must be positive, not {max_epochs!r}")
    supply = np.full(len(domains), np.nan)
    if tokens is not None:
        tk = _number(tokens, "tokens")
        if tk <= 0:
            raise PlanError(
                f"tokens (the planned run's training tokens) must be positive, not {tokens!r}"
            )
        if available is None:
            raise PlanError("tokens bounds the weights only with available={domain: tokens}")
        av = _per_domain(available, "available", domains)
        if np.any(av[np.isfinite(av)] < 0):
            raise PlanError("available token counts must be non-negative")
        supply = np.where(np.isfinite(av), np.minimum(av * me / tk, 1.0), np.nan)
    elif available is not None:
        av = _per_domain(available, "available", domains)
        if np.any(av[np.isfinite(av)] < 0):
            raise PlanError("available token counts must be non-negative")
    lo = np.where(np.isfinite(mn), mn, 0.0)
    hi = np.fmin(np.where(np.isfinite(mx), mx, 1.0), np.where(np.isfinite(supply), supply, 1.0))
    b = Bounds(domains, lo, hi, mn, mx, supply)
    conflicts = []
    for j, d in enumerate(domains):
        if lo[j] > hi[j] + 1e-12:
            src = b.upper_source(j)
            what = (
                f"its supply bound available*max_epochs/tokens = {hi[j]:.4g}"
                if src == "supply"
                else f"max_weight[{d}]={hi[j]:.4g}"
            )
            conflicts.append(f"min_weight[{d}]={lo[j]:.4g} is above {what}")
    if lo.sum() > 1 + 1e-12:
        given = ", ".join(f"{d}={v:.3g}" for d, v in zip(domains, lo, strict=True) if v > 0)
        conflicts.append(f"min_weight sums to {lo.sum():.4g} > 1 ({given})")
    if hi.sum() < 1 - 1e-12:
        parts = ", ".join(
            f"{d}={hi[j]:.3g} ({b.upper_source(j) or 'none'})" for j, d in enumerate(domains)
        )
        conflicts.append(
            f"the upper bounds (max_weight and the supply bound) sum to {hi.sum():.4g} < 1 "
            f"({parts})"
        )
    if conflicts:
        raise PlanError("no mixture meets the constraints: " + "; ".join(conflicts))
    return b


def _baseline(fit, baseline: Any, available: Any) -> tuple[np.ndarray | None, str | None]:
    k = len(fit.training_domains)
    if baseline is None:
        return None, None
    if isinstance(baseline, str):
        if baseline == "uniform":
            return np.full(k, 1.0 / k), "uniform"
        if baseline == "natural":
            if available is None:
                raise PlanError("baseline='natural' needs available={domain: tokens}")
            av = _per_domain(available, "available", fit.training_domains)
            missing = [
                d for d, v in zip(fit.training_domains, av, strict=True) if not np.isfinite(v)
            ]
            if missing:
                raise PlanError(
                    f"baseline='natural' needs available tokens for every training domain; "
                    f"missing: {', '.join(missing)}"
                )
            if np.any(av < 0) or av.sum() <= 0:
                raise PlanError("available token counts must be non-negative and not all zero")
            return av / av.sum(), "natural"
        raise PlanError(
            f"baseline must be 'uniform', 'natural' or {{domain: weight}}, not {baseline!r}"
        )
    if isinstance(baseline, Mapping):
        unknown = [str(d) for d in baseline if str(d) not in fit.training_domains]
        if unknown:
            raise PlanError(
                f"baseline names {unknown}, which are not training domains "
                f"({', '.join(fit.training_domains)})"
            )
    try:
        r = fit.mixtures(baseline)
    except PlanError as e:
        raise PlanError(f"baseline: {e}") from None
    if r.shape[0] != 1:
        raise PlanError("baseline must be one mixture")
    return r[0], "given"


# ------------------------------------------------------------------ surfaces
class _LawEval:
    """Evaluates one law for every validation domain at once from stacked parameters.

    Hashable by the law's identity (laws are built once per model and domain list, see
    :func:`scalinglaws.datamix.laws.make_law`), so compiled solver programs are reused by
    every fit of the same law and shapes.
    """

    def __init__(self, law):
        self.law = law
        self.wnames = [w for w in law.inputs if w.startswith("w_")]
        self.sized = "N" in law.inputs
        self.lengthed = "D" in law.inputs

    def __hash__(self):
        return id(self.law)

    def __eq__(self, other):
        return isinstance(other, _LawEval) and other.law is self.law

    def _inputs(self, r, n, d=None):
        inputs = {w: r[..., j, None] for j, w in enumerate(self.wnames)}
        if self.sized:
            inputs["N"] = n
        if self.lengthed:
            inputs["D"] = d
        return inputs

    def point(self, data, r):  # r (..., K) -> (..., V)
        return self.law.predict(data["point"], self._inputs(r, data["n"], data["d"]))

    def draws(self, data, r):  # r (m, K) -> (S, m, V)
        p = {k: v[:, None, :] for k, v in data["draws"].items()}
        return self.law.predict(p, self._inputs(r[None], data["n"], data["d"]))

    def diag(self, data, r):  # r (S, m, K) -> (S, m, V)
        p = {k: v[:, None, :] for k, v in data["draws"].items()}
        return self.law.predict(p, self._inputs(r, data["n"], data["d"]))


class _ClosureEval:
    """Any fit (e.g. a Gaussian process): the fit's own draw functions (compiled per call)."""

    def __init__(self, fit, n, n_draws, seed, d=None):
        self.n = n
        self.d = d
        self.draws_fn = fit.draw_fn(n_draws, seed)
        self.domain_fns = [
            m.draw_fn(n_draws, seed + 7919 * i) for i, m in enumerate(fit.domains.values())
        ]
        self.point_fns = []
        for m in fit.domains.values():
            if m.kind == "law":
                law = m.fit.law
                params = {k: float(v) for k, v in m.fit.params.items()}
                self.point_fns.append(("law", _LawEval(law), params))
            else:
                self.point_fns.append(("draws", None, None))

    def _nv(self, shape):
        return None if self.n is None else jnp.full(shape, self.n)

    def _dv(self, shape):
        return None if self.d is None else jnp.full(shape, self.d)

    def point(self, data, r):
        out = []
        flat = r.reshape(-1, r.shape[-1])
        for i, (kind, ev, params) in enumerate(self.point_fns):
            if kind == "law":
                p = {k: jnp.asarray(v)[None] for k, v in params.items()}
                out.append(ev.law.predict(p, ev._inputs(r, self.n, self.d))[..., 0])
            else:
                g = self.domain_fns[i](flat, self._nv(flat.shape[:1]), self._dv(flat.shape[:1]))
                out.append(jnp.mean(g, axis=0).reshape(r.shape[:-1]))
        return jnp.stack(out, axis=-1)

    def draws(self, data, r):
        return self.draws_fn(r, self._nv(r.shape[:1]), self._dv(r.shape[:1]))

    def diag(self, data, r):  # S x S x m work: fine for a few hundred draws
        s, mm, k = r.shape
        out = self.draws_fn(r.reshape(s * mm, k), self._nv((s * mm,)), self._dv((s * mm,)))
        out = out.reshape(s, s, mm, -1)
        return jnp.moveaxis(jnp.diagonal(out, axis1=0, axis2=1), -1, 0)


def _law_data(fit, n, n_draws, seed, length=None):
    """Stacked parameters (point: (V,), draws: (S, V)) when every domain is the same law,
    with draws identical to :meth:`DataMixFit.draw_fn`'s; else None."""
    models = list(fit.domains.values())
    if not models or any(m.kind != "law" for m in models):
        return None
    law = models[0].fit.law
    if any(m.fit.law is not law for m in models):
        return None
    point = {k: [] for k in law.param_names}
    draws = {k: [] for k in law.param_names}
    for i, m in enumerate(models):
        unc = getattr(m.fit, "uncertainty", None)
        d = getattr(unc, "draws", None) if unc is not None else None
        if d:
            s = len(next(iter(d.values())))
            idx = np.random.default_rng(seed + 7919 * i).choice(
                s, size=n_draws, replace=s < n_draws
            )
        for k in law.param_names:
            point[k].append(float(m.fit.params[k]))
            draws[k].append(
                np.asarray(d[k], dtype=float)[idx]
                if d
                else np.full(n_draws, float(m.fit.params[k]))
            )
    return _LawEval(law), {
        "point": {k: jnp.asarray(v) for k, v in point.items()},
        "draws": {k: jnp.asarray(np.stack(v, axis=-1)) for k, v in draws.items()},
        "n": None if n is None else jnp.asarray(float(n)),
        "d": None if length is None else jnp.asarray(float(length)),
    }


class Surfaces:
    """The fitted target's surfaces at one size and length, as JAX functions of mixtures.

    * ``point(r (..., K)) -> (..., V)``: the fitted surface (laws at their fitted
      parameters; a GP domain's mean over its draws);
    * ``draws(r (m, K)) -> (S, m, V)``: the fit's consistent posterior draws;
    * ``diag(r (S, m, K)) -> (S, m, V)``: draw s at its own mixtures r[s] (per-draw
      optimisation).

    ``ev`` is a hashable evaluator and ``data`` its arrays, so solver programs compiled
    for one fit serve every fit of the same law and shapes.
    """

    def __init__(self, fit, n: float | None, n_draws: int, seed: int, d: float | None = None):
        self.n = n
        self.d = d
        self.n_draws = int(n_draws)
        wt = jnp.asarray(fit.target_weights())
        fast = _law_data(fit, n, self.n_draws, seed, d)
        if fast is not None:
            ev, data = fast
            k = len(fit.training_domains)
            r = jnp.asarray(np.random.default_rng(seed + 1).dirichlet(np.ones(k), size=2))
            nv = None if n is None else jnp.full(2, n)
            dv = None if d is None else jnp.full(2, d)
            ref = np.asarray(fit.draw_fn(self.n_draws, seed)(r, nv, dv))
            if not np.allclose(np.asarray(ev.draws(data, r)), ref, rtol=1e-9, atol=0):
                fast = None
        if fast is None:
            ev, data = _ClosureEval(fit, n, self.n_draws, seed, d), {}
        self.ev = ev
        self.data = {**data, "wt": wt}
        self.wt = wt

    # A law's evaluator is hashable by the law and its surfaces are pure functions of
    # ``data``: one compiled program per method and shape (a few arithmetic steps run one
    # by one would each compile on their own first use). A closure evaluator (a GP) is
    # new with every fit, so it runs as it is (its draw functions are compiled).
    def _call(self, method: str, r):
        if isinstance(self.ev, _LawEval):
            return _surface(self.ev, method, self.data, r)
        return getattr(self.ev, method)(self.data, r)

    def point(self, r):
        return self._call("point", r)

    def draws(self, r):
        return self._call("draws", r)

    def diag(self, r):
        return self._call("diag", r)


@partial(jax.jit, static_argnames=("ev", "method"))
def _surface(ev, method: str, data, r):
    return getattr(ev, method)(data, r)


# ------------------------------------------------------------------ the solver
def project(y, lo, hi):
    """Euclidean projection of the rows of ``y`` (..., K) onto {lo <= r <= hi, sum r = 1}.

    The projection is ``clip(y - tau, lo, hi)`` with tau where the sum is one; the sum
    falls monotonically in tau, from sum(hi) >= 1 at tau = min(y - hi) to sum(lo) <= 1 at
    tau = max(y - lo), so bisection finds it. The last crumb of the sum goes to the
    weights strictly inside their bounds.
    """
    a = jnp.min(y - hi, axis=-1)
    b = jnp.max(y - lo, axis=-1)

    def body(_, ab):
        a, b = ab
        m = 0.5 * (a + b)
        over = jnp.sum(jnp.clip(y - m[..., None], lo, hi), axis=-1) > 1.0
        return jnp.where(over, m, a), jnp.where(over, b, m)

    a, b = jax.lax.fori_loop(0, BISECT, body, (a, b))
    r = jnp.clip(y - (0.5 * (a + b))[..., None], lo, hi)
    free = (r > lo) & (r < hi)
    nfree = jnp.maximum(jnp.sum(free, axis=-1, keepdims=True), 1)
    r = jnp.where(free, r + (1.0 - jnp.sum(r, axis=-1, keepdims=True)) / nfree, r)
    return jnp.clip(r, lo, hi)


_project_jit = jax.jit(project)


@dataclass(frozen=True)
class Objective:
    """A plan objective over rows of mixtures: ``value(data, r (B, J, K)) -> (B, J)`` and
    the losses its ceiling constrains, ``losses(data, r) -> (B, J, V)``.

    kind: ``"mean"`` (fitted surface), ``"expected"`` (mean over draws), ``"quantile"``
    (upper quantile over draws) — one surface for all rows — or ``"draw"`` (row i under
    draw ``i // (B / S)``: the per-draw problems).
    """

    ev: Any
    kind: str
    q: float = 0.9
    s: int = 0

    def _all_draws(self, data, r):
        b, j, k = r.shape
        return self.ev.draws(data, r.reshape(b * j, k)).reshape(-1, b, j, data["wt"].shape[0])

    def losses(self, data, r):
        if self.kind == "draw":
            b, j, k = r.shape
            s = self.s
            return self.ev.diag(data, r.reshape(s, (b // s) * j, k)).reshape(b, j, -1)
        if self.kind == "expected":
            return jnp.mean(self._all_draws(data, r), axis=0)
        return self.ev.point(data, r)

    def value(self, data, r):
        if self.kind == "quantile":
            return jnp.quantile(self._all_draws(data, r) @ data["wt"], self.q, axis=0)
        return self.losses(data, r) @ data["wt"]


def _pgd(value, r0, lo, hi, iters: int):
    """Projected gradient with a step-size grid; ``value(r (B, J, K)) -> (B, J)``.

    Rows are independent problems (row b may be its own surface). Monotone: a row moves
    only when the best step lowers its value.
    """
    fac = 2.0 ** -jnp.arange(STEPS, dtype=r0.dtype)

    def f1(r):
        v = value(r[:, None, :])[:, 0]
        return jnp.where(jnp.isfinite(v), v, jnp.inf)

    grad = jax.grad(lambda r: jnp.sum(jnp.where(jnp.isfinite(f1(r)), f1(r), 0.0)))
    r = project(r0, lo, hi)
    f = f1(r)
    g0 = grad(r)
    eta = 0.5 / jnp.maximum(jnp.max(jnp.abs(g0), axis=-1), 1e-12)
    rows = jnp.arange(r.shape[0])

    def body(_, st):
        r, f, eta = st
        g = grad(r)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        steps = eta[:, None] * fac[None, :]
        cand = project(r[:, None, :] - steps[..., None] * g[:, None, :], lo, hi)
        fc = value(cand)
        fc = jnp.where(jnp.isfinite(fc), fc, jnp.inf)
        j = jnp.argmin(fc, axis=1)
        fb = fc[rows, j]
        better = fb < f
        r = jnp.where(better[:, None], cand[rows, j], r)
        f = jnp.where(better, fb, f)
        eta = jnp.where(better, steps[rows, j] * 4.0, eta * fac[-1] / 2)
        return r, f, jnp.clip(eta, 1e-30, 1e30)

    r, f, _ = jax.lax.fori_loop(0, iters, body, (r, f, eta))
    return r, f


@partial(jax.jit, static_argnames=("obj", "iters"))
def _run_plain(obj, data, r0, lo, hi, iters):
    return _pgd(lambda x: obj.value(data, x), r0, lo, hi, iters)


@partial(jax.jit, static_argnames=("obj", "iters"))
def _run_al(obj, data, r0, lo, hi, caps, lam, mu, iters):
    def value(x):
        c = obj.losses(data, x) / caps[:, None, :] - 1.0
        pen = jnp.sum(jnp.maximum(0.0, lam[:, None, :] + mu * c) ** 2 - lam[:, None, :] ** 2, -1)
        return obj.value(data, x) + pen / (2.0 * mu)

    r, _ = _pgd(value, r0, lo, hi, iters)
    c = obj.losses(data, r[:, None, :])[:, 0, :] / caps - 1.0
    return r, jnp.maximum(0.0, lam + mu * c)


def _excess(obj, data, r, caps):
    """Largest relative excess over the caps, per row: max_v L_v(r) / cap_v - 1."""
    return jnp.max(obj.losses(data, r[:, None, :])[:, 0, :] / caps - 1.0, axis=-1)


@partial(jax.jit, static_argnames=("obj", "steps"))
def pull_inside(obj, data, r, caps, anchor, steps: int = 60):
    """Move each row towards its anchor until no cap is exceeded (bisection on the segment).

    Rows already within their caps stay; rows whose anchor exceeds a cap are left alone.
    """
    ok_now = _excess(obj, data, r, caps) <= CEILING_TOL
    ok_anchor = _excess(obj, data, anchor, caps) <= CEILING_TOL

    def body(_, ab):
        a, b = ab  # a: a feasible fraction of the way to r, b: an infeasible one
        m = 0.5 * (a + b)
        x = anchor + m[:, None] * (r - anchor)
        feas = _excess(obj, data, x, caps) <= 0.0
        return jnp.where(feas, m, a), jnp.where(feas, b, m)

    a, _ = jax.lax.fori_loop(0, steps, body, (jnp.zeros(r.shape[0]), jnp.ones(r.shape[0])))
    moved = anchor + a[:, None] * (r - anchor)
    return jnp.where((~ok_now & ok_anchor)[:, None], moved, r)


def minimise(obj: Objective, data, r0, lo, hi, *, iters: int, caps=None, anchor=None):
    """Minimise ``obj`` over the bounded simplex from the rows of ``r0`` (B, K).

    With ``caps`` (B, V): subject to ``obj.losses <= caps``, by an augmented Lagrangian on
    the relative excess, then bisection on the segment to ``anchor`` (B, K) (feasible
    points) for any excess left, so the caps hold exactly wherever the anchor meets them.

    Returns ``(r (B, K), value (B,), excess (B,))`` (excess: NaN without caps).
    """
    lo, hi = jnp.asarray(lo), jnp.asarray(hi)
    r0 = jnp.asarray(r0)
    if caps is None:
        r, f = _run_plain(obj, data, r0, lo, hi, iters)
        return r, f, jnp.full(r.shape[0], jnp.nan)
    lam = jnp.zeros_like(caps)
    mu = AL_MU0
    r = r0
    for _ in range(AL_ROUNDS):
        r, lam = _run_al(obj, data, r, lo, hi, caps, lam, jnp.asarray(mu), iters)
        mu *= 10.0
    if anchor is not None:
        r = pull_inside(obj, data, r, caps, anchor)
    f, excess = _value_and_excess(obj, data, r, caps)
    return r, f, excess


@partial(jax.jit, static_argnames=("obj",))
def _value_and_excess(obj, data, r, caps):
    return obj.value(data, r[:, None, :])[:, 0], _excess(obj, data, r, caps)


@partial(jax.jit, static_argnames=("obj",))
def _losses_at(obj, data, r):
    """``obj.losses`` at single mixtures ``r (B, K) -> (B, V)``."""
    return obj.losses(data, r[:, None, :])[:, 0, :]


# ------------------------------------------------------------------ the plan
@dataclass
class _Core:
    """What plans and proposals share: the chosen mixture and the per-draw optima."""

    bounds: Bounds
    n: float | None
    d: float | None  # training length (length-nested fits), else None
    surf: Surfaces
    obj: Objective
    chosen: np.ndarray  # (K,)
    chosen_value: float
    draw_opt: np.ndarray  # (S, K)
    draw_opt_value: np.ndarray  # (S,)
    draw_ok: np.ndarray  # (S,) per-draw problem feasible
    starts: np.ndarray
    base: np.ndarray | None
    caps: np.ndarray | None  # (V,) point caps
    excess: float  # relative excess over the caps at the chosen mixture (NaN: none)


def _feasible_dirichlet(rng, n, bounds: Bounds, conc=1.0) -> np.ndarray:
    k = len(bounds.domains)
    raw = rng.dirichlet(np.full(k, conc), size=n)
    with jax.enable_x64(True):
        return np.asarray(
            _project_jit(jnp.asarray(raw), jnp.asarray(bounds.lo), jnp.asarray(bounds.hi))
        )


def _starts(fit, bounds: Bounds, surf: Surfaces, n_starts: int, rng) -> np.ndarray:
    k = len(bounds.domains)
    pts = [np.eye(k), np.full((1, k), 1.0 / k), rng.dirichlet(np.ones(k), size=n_starts)]
    w = fit.runs.weights.to_numpy(dtype=float)
    if len(w):
        pv = np.asarray(surf.point(jnp.asarray(w)) @ surf.wt)
        pv = np.where(np.isfinite(pv), pv, np.inf)
        best = np.argsort(pv)[: min(8, len(w))]
        pts.append(w[best])
        if len(best) < 8:  # keep the number of starts (and so the compiled shapes) fixed
            pts.append(np.full((8 - len(best), k), 1.0 / k))
    else:
        pts.append(np.full((8, k), 1.0 / k))
    raw = np.vstack(pts)
    return np.asarray(
        _project_jit(jnp.asarray(raw), jnp.asarray(bounds.lo), jnp.asarray(bounds.hi))
    )


def _core(
    fit,
    *,
    N: Any,
    D: Any = None,
    bounds: Bounds,
    base: np.ndarray | None,
    ceiling: float | None,
    objective: str,
    quantile: float,
    n_draws: int,
    seed: int,
    n_starts: int,
) -> _Core:
    """Solve the plan and every draw's own plan (call inside ``jax.enable_x64(True)``)."""
    k = len(fit.training_domains)
    n_arr = fit.sizes_for(np.full((1, k), 1.0 / k), N)
    n = None if n_arr is None else float(n_arr[0])
    d_arr = fit.lengths_for(np.full((1, k), 1.0 / k), D)
    d = None if d_arr is None else float(d_arr[0])
    surf = Surfaces(fit, n, n_draws, seed, d)
    data, wt = surf.data, surf.wt
    lo, hi = jnp.asarray(bounds.lo), jnp.asarray(bounds.hi)
    rng = np.random.default_rng(seed)
    obj = Objective(surf.ev, objective, float(quantile))

    starts = _starts(fit, bounds, surf, n_starts, rng)
    b_starts = starts.shape[0]
    caps = anchor = anchor_main = None
    if ceiling is not None:
        caps_v = (1.0 + ceiling) * _losses_at(obj, data, jnp.asarray(base)[None, :])[0]
        # Host arrays go straight into the compiled solver.
        caps = np.broadcast_to(np.asarray(caps_v), (b_starts, caps_v.shape[0]))
        anchor_main = _anchor(obj, data, caps_v, base, starts, lo, hi)
        anchor = np.broadcast_to(np.asarray(anchor_main), (b_starts, k))
    r_all, f_all, ex_all = minimise(
        obj, data, starts, lo, hi, iters=MAIN_ITERS, caps=caps, anchor=anchor
    )
    r_all, f_all, ex_all = np.asarray(r_all), np.asarray(f_all), np.asarray(ex_all)
    ok = np.isfinite(f_all)
    if ceiling is not None:
        ok &= ex_all <= CEILING_TOL
    if not ok.any():
        if ceiling is not None:
            raise PlanError(
                f"no mixture within the weight bounds keeps every validation loss within "
                f"ceiling={ceiling:g} of the baseline's (the baseline itself lies outside "
                "the bounds); loosen the ceiling or the bounds"
            )
        raise PlanError("the target is not finite at any feasible mixture; check the fit")
    best = int(np.argmin(np.where(ok, f_all, np.inf)))
    chosen = r_all[best]
    chosen_excess = float(ex_all[best]) if ceiling is not None else float("nan")

    # ---- per-draw optima: start from the chosen mixture and the best pool point per draw
    pool = np.vstack([starts, _feasible_dirichlet(rng, POOL, bounds)])
    # Host arithmetic between the compiled steps (no one-operation programs).
    pl = np.asarray(surf.draws(jnp.asarray(pool)))  # (S, P, V)
    pv = pl @ np.asarray(wt)
    s = pv.shape[0]
    caps_d = None
    if ceiling is not None:
        base_d = np.asarray(surf.draws(jnp.asarray(base)[None, :]))[:, 0, :]  # (S, V)
        caps_d = (1.0 + ceiling) * base_d
        pex = np.max(pl / caps_d[:, None, :] - 1.0, axis=-1)
        pv = np.where(pex <= 0, pv, np.inf)
    pv = np.where(np.isfinite(pv), pv, np.inf)
    pick = np.argmin(pv, axis=1)
    r0 = np.stack([np.broadcast_to(chosen, (s, k)), pool[pick]], axis=1)  # (S, 2, K)
    m0 = r0.shape[1]
    obj_d = Objective(surf.ev, "draw", 0.9, s)
    caps_rows = anchor_rows = None
    if ceiling is not None:
        assert caps_d is not None and anchor_main is not None  # set when a ceiling is given
        caps_rows = np.repeat(caps_d, m0, axis=0)
        anchor_h = np.asarray(anchor_main)
        anchor_d = np.asarray(surf.draws(jnp.asarray(anchor_h)[None, :]))[:, 0, :]
        anchor_ok = np.max(anchor_d / caps_d - 1.0, -1) <= 0
        a_d = np.where(anchor_ok[:, None], anchor_h[None, :], pool[pick])
        anchor_rows = np.repeat(a_d, m0, axis=0)
    rd, fd, exd = minimise(
        obj_d,
        data,
        r0.reshape(s * m0, k),
        lo,
        hi,
        iters=DRAW_ITERS,
        caps=caps_rows,
        anchor=anchor_rows,
    )
    rd = np.asarray(rd).reshape(s, m0, k)
    fd = np.asarray(fd).reshape(s, m0)
    if ceiling is not None:
        fd = np.where(np.asarray(exd).reshape(s, m0) <= CEILING_TOL, fd, np.inf)
    fd = np.where(np.isfinite(fd), fd, np.inf)
    j = np.argmin(fd, axis=1)
    draw_opt = rd[np.arange(s), j]
    draw_val = fd[np.arange(s), j]
    return _Core(
        bounds=bounds,
        n=n,
        d=d,
        surf=surf,
        obj=obj,
        chosen=chosen,
        chosen_value=float(f_all[best]),
        draw_opt=draw_opt,
        draw_opt_value=draw_val,
        draw_ok=np.isfinite(draw_val),
        starts=starts,
        base=base,
        caps=None if caps is None else np.asarray(caps[0]),
        excess=chosen_excess,
    )


def _anchor(obj, data, caps_v, base, starts, lo, hi):
    """A feasible point for the ceiling: the baseline (projected onto the bounds), else
    the start with the smallest excess."""
    cand = jnp.vstack([_project_jit(jnp.asarray(base)[None, :], lo, hi), jnp.asarray(starts)])
    ex = np.max(
        np.asarray(_losses_at(obj, data, cand)) / np.asarray(caps_v)[None, :] - 1.0, axis=-1
    )
    return cand[int(np.argmin(ex))] if float(ex[0]) > 0 else cand[0]


def check_options(
    objective: str, quantile: float, n_draws: Any, level: float, n_starts: Any
) -> None:
    if objective not in OBJECTIVES:
        raise PlanError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    if not 0 < float(quantile) < 1:
        raise PlanError(f"quantile must lie strictly between 0 and 1, not {quantile!r}")
    if not 0 < float(level) < 1:
        raise PlanError(f"level must lie strictly between 0 and 1, not {level!r}")
    for name, v, least in (("n_draws", n_draws, 2), ("n_starts", n_starts, 0)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < least:
            raise PlanError(f"{name} must be an integer >= {least}, not {v!r}")


def _ceiling(ceiling: Any) -> float | None:
    if ceiling is None:
        return None
    c = _number(ceiling, "ceiling")
    if c < 0:
        raise PlanError(f"ceiling must be a non-negative fraction (e.g. 0.01), not {ceiling!r}")
    return c


def plan_data_mixture(
    fit,
    *,
    N: Any = None,
    D: Any = None,
    baseline: Any = None,
    min_weight: Any = None,
    max_weight: Any = None,
    available: Mapping[str, float] | None = None,
    tokens: float | None = None,
    max_epochs: float = 1.0,
    ceiling: float | None = None,
    objective: str = "mean",
    quantile: float = 0.9,
    n_draws: int = 500,
    seed: int = 0,
    level: float = 0.9,
    n_starts: int = DEFAULT_STARTS,
    stability_distance: float = DEFAULT_STABILITY_DISTANCE,
) -> pd.DataFrame:
    """The training mixture that minimises the fitted target, with its uncertainty.

    Args:
        fit: A :class:`~scalinglaws.datamix.fit.DataMixFit`.
        N: Model size to plan for: required by a nested fit (several proxy sizes); a
            one-scale fit plans at its proxy scale only (another N is refused).
        D: Training length to plan for (tokens, or steps when the fit's length column is
            ``step``): required by a length-nested fit (several lengths per proxy size),
            whose draws then carry the uncertainty of the length exponent; a fit without
            a length law plans at its proxies' length only (another D is refused).
        baseline: Mixture to compare with: ``"uniform"``, ``"natural"`` (proportional to
            ``available``), ``{domain: weight}``, or None (with ``ceiling``: uniform).
        min_weight: Lower bound on each weight: a number for every domain or
            ``{domain: bound}``.
        max_weight: Upper bound, likewise.
        available: ``{domain: tokens available}``; with ``tokens`` each weight is at
            most ``available_j * max_epochs / tokens``.
        tokens: Training tokens of the planned run.
        max_epochs: Passes over a domain's data the run may make.
        ceiling: No validation domain's predicted loss may exceed the baseline's by more
            than this fraction (e.g. 0.01).
        objective: ``"mean"``, ``"expected"`` or ``"quantile"`` (module docstring).
        quantile: The upper quantile minimised by ``objective="quantile"``.
        n_draws: Posterior draws of the fit used for the uncertainty.
        seed: Seed of the draws and starts (the same seed gives the same plan).
        level: Central level of the intervals.
        n_starts: Dirichlet starts of the solver (vertices, centre and the 8 best proxy
            mixtures are always added).
        stability_distance: Total-variation distance of the stability measure.

    Returns:
        One row per training domain: ``domain, weight, lo, hi, baseline, min, max,
        binding`` (``binding``: ``"min_weight"``, ``"max_weight"`` or ``"supply"`` when the
        weight sits on that bound, else ``""``). ``attrs["summary"]`` and
        ``attrs["warnings"]`` as :func:`plan_to_json` writes them.

    Raises:
        PlanError: Bad options, unknown domains, constraints no mixture meets (naming
            them), or a size or length the fit cannot predict at.
    """
    check_options(objective, quantile, n_draws, level, n_starts)
    dist = _number(stability_distance, "stability_distance")
    if not 0 <= dist <= 1:
        raise PlanError(f"stability_distance must lie in [0, 1], not {stability_distance!r}")
    domains = tuple(fit.training_domains)
    bounds = resolve_bounds(
        domains,
        min_weight=min_weight,
        max_weight=max_weight,
        available=available,
        tokens=tokens,
        max_epochs=max_epochs,
    )
    ceil = _ceiling(ceiling)
    base, base_name = _baseline(fit, baseline, available)
    notes: list[str] = []
    if ceil is not None and base is None:
        base, base_name = np.full(len(domains), 1.0 / len(domains)), "uniform"
        notes.append(
            "ceiling is relative to a baseline; none was given, so the uniform mixture is used"
        )
    with jax.enable_x64(True):
        core = _core(
            fit,
            N=N,
            D=D,
            bounds=bounds,
            base=base,
            ceiling=ceil,
            objective=objective,
            quantile=float(quantile),
            n_draws=int(n_draws),
            seed=int(seed),
            n_starts=int(n_starts),
        )
        surf = core.surf
        pair = np.vstack([core.chosen] + ([base] if base is not None else []))
        tdraw = np.asarray(surf.draws(jnp.asarray(pair)) @ surf.wt)  # (S, 1 or 2)
    s = tdraw.shape[0]
    a = 0.5 * (1.0 - level)
    good = core.draw_ok
    opt = core.draw_opt[good]
    w_lo = np.quantile(opt, a, axis=0) if len(opt) else np.full(len(domains), np.nan)
    w_hi = np.quantile(opt, 1 - a, axis=0) if len(opt) else np.full(len(domains), np.nan)
    tv = 0.5 * np.sum(np.abs(opt - core.chosen[None, :]), axis=1)
    stability = float(np.mean(tv <= dist + 1e-12)) if len(opt) else float("nan")
    regret = tdraw[good, 0] - core.draw_opt_value[good]

    n_arg = core.n
    pred = fit.predict(pair, N=n_arg, D=core.d, level=level, n_draws=int(n_draws), seed=int(seed))
    keys = ("target", "mean", "lo", "hi", "pred_lo", "pred_hi")
    chosen_pred = {k: float(pred[k].iloc[0]) for k in keys}
    base_pred = None
    p_beats = None
    improvement = None
    if base is not None:
        base_pred = {"name": base_name, **{k: float(pred[k].iloc[1]) for k in keys}}
        # strictly better by more than rounding (a choice equal to the baseline never beats it)
        tol = 1e-12 * np.abs(tdraw[:, 1])
        p_beats = float(np.mean(tdraw[:, 0] < tdraw[:, 1] - tol))
        diff = tdraw[:, 1] - tdraw[:, 0]
        improvement = {
            "mean": float(np.mean(diff)),
            "lo": float(np.quantile(diff, a)),
            "hi": float(np.quantile(diff, 1 - a)),
        }

    # ---- binding constraints
    binding = []
    col = []
    for j, d in enumerate(domains):
        w = core.chosen[j]
        tag = ""
        if (
            np.isfinite(bounds.min_weight[j])
            and bounds.min_weight[j] > 0
            and w <= bounds.lo[j] + BOUND_TOL
        ):
            tag = "min_weight"
        elif bounds.hi[j] < 1 and w >= bounds.hi[j] - BOUND_TOL:
            tag = bounds.upper_source(j)
        col.append(tag)
        if tag:
            binding.append(f"{tag}[{d}]")
    ceiling_rec = None
    if ceil is not None:
        with jax.enable_x64(True):
            cons_val = np.asarray(
                _losses_at(core.obj, surf.data, jnp.asarray(core.chosen)[None, :])
            )[0]
        ratio = cons_val / core.caps - 1.0
        bind_v = [d for d, x in zip(fit.domains, ratio, strict=True) if x >= -1e-6]
        binding += [f"ceiling[{d}]" for d in bind_v]
        satisfied = bool(np.all(ratio <= CEILING_TOL))
        ceiling_rec = {
            "fraction": ceil,
            "baseline": base_name,
            "satisfied": satisfied,
            "binding": bind_v,
            "largest_excess": float(np.max(ratio)),
        }
        if not satisfied:
            notes.append(
                f"the ceiling is NOT met at the reported mixture: a validation loss exceeds "
                f"its cap by {100 * float(np.max(ratio)):.3g}%"
            )

    # ---- warnings
    if note := fit.transfer_note():
        notes.append(note)
    if fit.nested and core.n is not None and fit.sizes:
        notes += _outside_proxies("N", core.n, fit.sizes, ("largest", "smallest"), "size")
    if fit.length_nested and core.d is not None and fit.lengths:
        notes += _outside_proxies(
            fit.length_name, core.d, fit.lengths, ("longest", "shortest"), "length"
        )
    seen = fit.runs.weights.to_numpy(dtype=float)
    if len(seen):
        top_w = seen.max(axis=0)
        over = [
            f"{d} ({core.chosen[j]:.3g} > {top_w[j]:.3g})"
            for j, d in enumerate(domains)
            if core.chosen[j] > top_w[j] + 0.02
        ]
        if over:
            notes.append(
                "the chosen mixture puts more weight than any proxy on "
                + ", ".join(over)
                + ": the model is extrapolated there"
            )
    if good.sum() < s:
        notes.append(f"{s - int(good.sum())} of {s} draws had no feasible optimum; left out")
    if len(opt) and stability < 0.5:
        notes.append(
            f"the optimum is uncertain: only {100 * stability:.0f}% of posterior draws have "
            f"their optimum within total-variation distance {dist:g} of the chosen mixture; "
            "more proxy runs near it would settle it (propose_mixtures)"
        )
    warnings_out = list(dict.fromkeys([*fit.warnings, *notes]))

    df = pd.DataFrame(
        {
            "domain": list(domains),
            "weight": core.chosen,
            "lo": w_lo,
            "hi": w_hi,
            "baseline": base if base is not None else np.full(len(domains), np.nan),
            "min": bounds.lo,
            "max": bounds.hi,
            "binding": col,
        }
    )
    df.attrs["summary"] = {
        "target": fit.target.describe(),
        "target_weights": dict(fit.target.weights),
        "model": fit.model,
        "N": core.n if core.n is not None else (fit.sizes[0] if len(fit.sizes) == 1 else None),
        "D": core.d if core.d is not None else (fit.lengths[0] if len(fit.lengths) == 1 else None),
        "length_column": fit.length_column,
        "scale": _scale_text(fit),
        "objective": objective,
        "quantile": float(quantile) if objective == "quantile" else None,
        "predicted": chosen_pred,
        "baseline": base_pred,
        "improvement_over_baseline": improvement,
        "p_beats_baseline": p_beats,
        "stability": stability,
        "stability_distance": dist,
        "regret": {
            "mean": float(np.mean(regret)) if len(regret) else None,
            "hi": float(np.quantile(regret, 1 - a)) if len(regret) else None,
        },
        "n_draws": int(s),
        "n_draws_used": int(good.sum()),
        "level": float(level),
        "seed": int(seed),
        "constraints": {
            **bounds.to_dict(),
            "available": None
            if available is None
            else {str(k): float(v) for k, v in available.items()},
            "tokens": None if tokens is None else float(tokens),
            "max_epochs": float(max_epochs),
            "ceiling": ceiling_rec,
        },
        "binding": binding,
        "solver": {"starts": int(core.starts.shape[0]), "iterations": MAIN_ITERS},
    }
    df.attrs["warnings"] = warnings_out
    return df


def _scale_text(fit) -> str:
    """How the plan reaches its scale, for the summary."""
    if fit.nested and fit.length_nested:
        return "nested size and length laws"
    if fit.nested:
        return "nested size law"
    if fit.length_nested:
        return "nested length law (one proxy size)"
    return "proxy scale (one-scale fit)"


def plan_to_json(df: pd.DataFrame) -> dict[str, Any]:
    """A plan frame as ``{"rows": [...], "summary": {...}, "warnings": [...]}`` (JSON-safe)."""
    from scalinglaws.io.files import json_safe

    return json_safe(
        {
            "rows": df.to_dict(orient="records"),
            "summary": df.attrs.get("summary", {}),
            "warnings": list(df.attrs.get("warnings", [])),
        }
    )


def _outside_proxies(
    name: str, value: float, proxies, words: tuple[str, str], law: str
) -> list[str]:
    """A note when a plan's size or length lies beyond the proxies' range."""
    top, bottom = max(proxies), min(proxies)
    if value > top * (1 + 1e-9):
        return [
            f"{name} = {value:.3g} is {value / top:.3g}x the {words[0]} proxy ({top:.3g}): "
            f"the nested {law} law is extrapolated"
        ]
    if value < bottom * (1 - 1e-9):
        return [f"{name} = {value:.3g} is below the {words[1]} proxy ({bottom:.3g})"]
    return []
