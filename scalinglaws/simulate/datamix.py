"""Simulated multi-domain proxy studies for data-mixture laws.

A data-mixture study trains many small proxy models on different mixtures of K training
domains and records each one's loss on V validation domains (Data Mixing Laws, Ye et al.
2024, arXiv 2403.16952; RegMix, Liu et al. 2024). This module draws such studies from a
known nested law, so that fitting and mixture optimisation can be checked against the
truth:

    L_i(r, N) = c_i + k_i * exp(sum_j t_ij r_j) * (N / N_ref)^(-alpha_i)

for validation domain i, mixture weights r on the simplex (r_j >= 0, sum_j r_j = 1) and
model size N. The mixture part is the exponential-of-linear form Ye et al. report for a
fixed model; the size part is a power law with its own irreducible loss c_i. A truth with
length exponents beta_i also scales the reducible part with the training length D
(tokens), ``* (D / D_ref)^(-beta_i)``, and :func:`simulate_mixture_runs` can then record
every run at several lengths (its checkpoints).

On the simplex a constant added to every t_ij of one row only rescales k_i (sum_j r_j is
1), so (k_i, t_i) are identified only up to that shift; :class:`MixtureTruth` records the
values it was built with.

Any weighted mean of the L_i is a sum of exponentials of affine functions of r, hence
convex in r: :meth:`MixtureTruth.optimum` finds its global minimum over the (bounded)
simplex with a local solver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalinglaws.errors import ScalingLawsError

#: The law written out, as recorded by :meth:`MixtureTruth.to_dict`.
LAW_FORM = "L_i(r, N) = c_i + k_i * exp(sum_j t_ij r_j) * (N / N_ref)^(-alpha_i)"
#: Default domain names of :func:`random_truth` (the first K are used when K <= 8).
DEFAULT_DOMAINS = ("web", "code", "books", "wiki", "papers", "math", "forums", "news")
#: Default reference size N_ref (parameters).
DEFAULT_N_REF = 1e8
#: Default reference length D_ref (tokens) of a truth with length exponents.
DEFAULT_D_REF = 1e9
#: The law with a length term, as recorded by :meth:`MixtureTruth.to_dict`.
LAW_FORM_LENGTH = (
    "L_i(r, N, D) = c_i + k_i * exp(sum_j t_ij r_j) * (N / N_ref)^(-alpha_i) "
    "* (D / D_ref)^(-beta_i)"
)
#: Decimals the simulated mixture weights are rounded to (as published files give them).
WEIGHT_DECIMALS = 3


def _names(names: Sequence[str], what: str) -> tuple[str, ...]:
    out = tuple(str(n) for n in names)
    if not out:
        raise ScalingLawsError(f"need at least one {what} domain")
    if any(not n for n in out):
        raise ScalingLawsError(f"{what} domain names must be non-empty")
    if len(set(out)) != len(out):
        raise ScalingLawsError(f"{what} domain names must be unique, got {list(out)}")
    return out


@dataclass(frozen=True)
class MixtureOptimum:
    """The true optimal mixture for one objective at one model size.

    Attributes:
        weights: Optimal weight of each training domain (in the truth's order).
        loss: The objective there (a weighted mean of validation losses).
        losses: Every validation domain's true loss at the optimum.
        N: Model size the optimum is for.
        target: The objective: ``"mean"``, a validation domain's name, or the normalised
            weights of the validation domains.
    """

    weights: dict[str, float]
    loss: float
    losses: dict[str, float]
    N: float
    target: str | dict[str, float] = field(default="mean")

    @property
    def r(self) -> np.ndarray:
        """The optimal weights as an array, in the truth's training-domain order."""
        return np.array(list(self.weights.values()), dtype=float)


@dataclass(frozen=True)
class MixtureTruth:
    """Parameters of the nested mixture law L_i(r, N) for every validation domain.

    Attributes:
        train_domains: Names of the K training domains (the mixture's coordinates).
        valid_domains: Names of the V validation domains (the losses).
        c: Irreducible loss c_i > 0 per validation domain (length V).
        k: Scale k_i > 0 of the reducible part per validation domain (length V).
        t: Mixture coefficients t_ij, V rows of K (row i: validation domain i).
        alpha: Size exponent alpha_i > 0 per validation domain (length V).
        n_ref: Reference size N_ref > 0 at which the size factor is 1.
        beta: Length exponent beta_i >= 0 per validation domain (length V), or None: no
            length term (losses do not depend on D).
        d_ref: Reference length D_ref > 0 (tokens) at which the length factor is 1.
    """

    train_domains: tuple[str, ...]
    valid_domains: tuple[str, ...]
    c: tuple[float, ...]
    k: tuple[float, ...]
    t: tuple[tuple[float, ...], ...]
    alpha: tuple[float, ...]
    n_ref: float = DEFAULT_N_REF
    beta: tuple[float, ...] | None = None
    d_ref: float = DEFAULT_D_REF

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "train_domains", _names(self.train_domains, "training"))
        set_(self, "valid_domains", _names(self.valid_domains, "validation"))
        n_k, n_v = len(self.train_domains), len(self.valid_domains)
        for name in ("c", "k", "alpha"):
            vals = tuple(float(x) for x in np.asarray(getattr(self, name), dtype=float).ravel())
            if len(vals) != n_v:
                raise ScalingLawsError(f"{name} needs {n_v} values (one per validation domain)")
            if not all(math.isfinite(x) and x > 0 for x in vals):
                raise ScalingLawsError(f"{name} must be finite and > 0, got {list(vals)}")
            set_(self, name, vals)
        t = np.asarray(self.t, dtype=float)
        if t.shape != (n_v, n_k):
            raise ScalingLawsError(f"t must be {n_v} x {n_k} (validation x training)")
        if not np.all(np.isfinite(t)):
            raise ScalingLawsError("t must be finite")
        set_(self, "t", tuple(tuple(float(x) for x in row) for row in t))
        n_ref = float(self.n_ref)
        if not (math.isfinite(n_ref) and n_ref > 0):
            raise ScalingLawsError(f"n_ref must be finite and > 0, got {self.n_ref}")
        set_(self, "n_ref", n_ref)
        if self.beta is not None:
            beta = tuple(float(x) for x in np.asarray(self.beta, dtype=float).ravel())
            if len(beta) != n_v:
                raise ScalingLawsError(f"beta needs {n_v} values (one per validation domain)")
            if not all(math.isfinite(x) and x >= 0 for x in beta):
                raise ScalingLawsError(f"beta must be finite and >= 0, got {list(beta)}")
            set_(self, "beta", beta)
        d_ref = float(self.d_ref)
        if not (math.isfinite(d_ref) and d_ref > 0):
            raise ScalingLawsError(f"d_ref must be finite and > 0, got {self.d_ref}")
        set_(self, "d_ref", d_ref)

    @property
    def K(self) -> int:  # noqa: N802 - the papers' notation
        """Number of training domains."""
        return len(self.train_domains)

    @property
    def V(self) -> int:  # noqa: N802 - the papers' notation
        """Number of validation domains."""
        return len(self.valid_domains)

    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters as arrays: ``c, k, alpha`` (V,), ``t`` (V, K), ``n_ref`` ()."""
        return {
            "c": np.array(self.c),
            "k": np.array(self.k),
            "t": np.array(self.t),
            "alpha": np.array(self.alpha),
            "n_ref": np.array(self.n_ref),
        }

    def _reducible(self, R: np.ndarray, N: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        # (m, K), (m,) -> (m, V); no checks (the optimiser steps slightly off the simplex).
        p = self.arrays()
        size = (N[:, None] / self.n_ref) ** (-p["alpha"][None, :])
        out = p["k"][None, :] * np.exp(R @ p["t"].T) * size
        if self.beta is not None and D is not None:
            out = out * (D[:, None] / self.d_ref) ** (-np.asarray(self.beta)[None, :])
        return out

    def loss(self, R, N, D=None) -> np.ndarray:
        """Noise-free losses of every validation domain.

        Args:
            R: Mixture weights, shape (m, K) or (K,) (one mixture), columns in
                ``train_domains`` order; each row must be non-negative and sum to 1
                (within 1e-6).
            N: Model size, a scalar or shape (m,).
            D: Training length (tokens), a scalar or shape (m,); required by a truth
                with length exponents, refused by one without.

        Returns:
            Array of shape (m, V) (m = 1 for a single mixture), columns in
            ``valid_domains`` order.
        """
        R = np.atleast_2d(np.asarray(R, dtype=float))
        if R.ndim != 2 or R.shape[1] != self.K:
            raise ScalingLawsError(f"R must have {self.K} columns (one per training domain)")
        if not np.all(np.isfinite(R)) or np.any(R < -1e-12):
            raise ScalingLawsError("mixture weights must be finite and non-negative")
        if np.any(np.abs(R.sum(axis=1) - 1.0) > 1e-6):
            raise ScalingLawsError("each mixture's weights must sum to 1 (fractions, not %)")
        N = np.broadcast_to(np.asarray(N, dtype=float), (R.shape[0],))
        if not np.all(np.isfinite(N) & (N > 0)):
            raise ScalingLawsError("model sizes N must be finite and > 0")
        if (D is None) != (self.beta is None):
            raise ScalingLawsError(
                "a truth with length exponents beta needs the training length D"
                if D is None
                else "this truth has no length exponents beta: D has no effect; leave it out"
            )
        if D is not None:
            D = np.broadcast_to(np.asarray(D, dtype=float), (R.shape[0],))
            if not np.all(np.isfinite(D) & (D > 0)):
                raise ScalingLawsError("training lengths D must be finite and > 0")
        return np.array(self.c)[None, :] + self._reducible(R, N, D)

    def _target_weights(self, target) -> tuple[np.ndarray, str | dict[str, float]]:
        if isinstance(target, str):
            if target == "mean":
                return np.full(self.V, 1.0 / self.V), "mean"
            if target in self.valid_domains:
                w = np.zeros(self.V)
                w[self.valid_domains.index(target)] = 1.0
                return w, target
            raise ScalingLawsError(
                f"target must be 'mean', a validation domain {list(self.valid_domains)} "
                f"or a dict of weights, got {target!r}"
            )
        if isinstance(target, Mapping):
            unknown = [d for d in target if d not in self.valid_domains]
            if unknown:
                raise ScalingLawsError(f"target weights name unknown validation domains {unknown}")
            w = np.array([float(target.get(d, 0.0)) for d in self.valid_domains])
            if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ScalingLawsError("target weights must be non-negative with a positive sum")
            w = w / w.sum()
            return w, {d: float(x) for d, x in zip(self.valid_domains, w, strict=True)}
        raise ScalingLawsError(f"target must be a string or a mapping, got {type(target)}")

    def _bounds(self, constraints) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.zeros(self.K), np.ones(self.K)
        if constraints:
            unknown = [d for d in constraints if d not in self.train_domains]
            if unknown:
                raise ScalingLawsError(f"constraints name unknown training domains {unknown}")
            for d, (a, b) in constraints.items():
                j = self.train_domains.index(d)
                lo[j] = 0.0 if a is None else float(a)
                hi[j] = 1.0 if b is None else float(b)
        if np.any(lo < 0) or np.any(hi > 1) or np.any(lo > hi):
            raise ScalingLawsError("each bound must satisfy 0 <= lower <= upper <= 1")
        if lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
            raise ScalingLawsError(
                f"no mixture meets the bounds: lower bounds sum to {lo.sum():.6g}, "
                f"upper bounds to {hi.sum():.6g} (need <= 1 <= )"
            )
        return lo, hi

    def optimum(
        self,
        target: str | Mapping[str, float] = "mean",
        *,
        N: float | None = None,
        constraints: Mapping[str, tuple[float | None, float | None]] | None = None,
        n_starts: int = 8,
        seed: int = 0,
        D: float | None = None,
    ) -> MixtureOptimum:
        """The true optimal mixture on the (bounded) simplex.

        Minimises a weighted mean of the validation losses at size N with SLSQP (analytic
        gradient, the bounds, and the sum-to-one equality) from ``n_starts`` starts: the
        centre of the feasible box and random feasible mixtures. The objective is convex in
        r, so every start reaches the same minimum; the best is kept.

        Args:
            target: ``"mean"`` (equal weights on every validation domain), one validation
                domain's name, or a mapping validation domain -> weight (missing: 0;
                normalised to sum 1, so the loss is a weighted mean).
            N: Model size (default ``n_ref``).
            D: Training length (default ``d_ref``; only for a truth with length exponents).
            constraints: Optional per-training-domain bounds ``{domain: (lower, upper)}``
                (``None`` for 0 or 1); other domains are bounded by [0, 1].
            n_starts: Number of starting points.
            seed: Seed of the random starts.

        Returns:
            A :class:`MixtureOptimum`.
        """
        n = self.n_ref if N is None else float(N)
        if not (math.isfinite(n) and n > 0):
            raise ScalingLawsError(f"N must be finite and > 0, got {N}")
        dl = None
        if self.beta is not None:
            dl = self.d_ref if D is None else float(D)
            if not (math.isfinite(dl) and dl > 0):
                raise ScalingLawsError(f"D must be finite and > 0, got {D}")
        elif D is not None:
            raise ScalingLawsError("this truth has no length exponents beta: leave D out")
        w, target_rec = self._target_weights(target)
        lo, hi = self._bounds(constraints)
        p = self.arrays()
        # Objective (reducible part only; the irreducible part is a constant).
        a = w * p["k"] * (n / self.n_ref) ** (-p["alpha"])  # (V,)
        if dl is not None:
            a = a * (dl / self.d_ref) ** (-np.asarray(self.beta))
        tt = p["t"]  # (V, K)
        scale = float(np.sum(a * np.exp(tt.mean(axis=1)))) or 1.0

        def fun(r):
            e = a * np.exp(tt @ r)
            return float(e.sum()) / scale, (e @ tt) / scale

        rng = np.random.default_rng(seed)
        starts = [_feasible_point(np.full(self.K, 1.0 / self.K), lo, hi)]
        for _ in range(max(n_starts, 1) - 1):
            starts.append(_feasible_point(rng.dirichlet(np.ones(self.K)), lo, hi))
        best_r, best_f = None, np.inf
        for r0 in starts:
            res = minimize(
                fun,
                r0,
                jac=True,
                method="SLSQP",
                bounds=list(zip(lo, hi, strict=True)),
                constraints=[
                    {"type": "eq", "fun": lambda r: r.sum() - 1.0, "jac": lambda r: np.ones_like(r)}
                ],
                options={"ftol": 1e-15, "maxiter": 500},
            )
            r = np.asarray(res.x, dtype=float)
            # Snap weights within 1e-12 of a bound onto it (SLSQP leaves ~1e-16 crumbs).
            r = np.where(np.abs(r - lo) < 1e-12, lo, np.where(np.abs(r - hi) < 1e-12, hi, r))
            r = _feasible_point(r, lo, hi)
            f = fun(r)[0]
            if f < best_f:
                best_r, best_f = r, f
        assert best_r is not None
        losses = self.loss(best_r, n, dl)[0]
        return MixtureOptimum(
            weights={d: float(x) for d, x in zip(self.train_domains, best_r, strict=True)},
            loss=float(w @ losses),
            losses={d: float(x) for d, x in zip(self.valid_domains, losses, strict=True)},
            N=n,
            target=target_rec,
        )

    def to_dict(self) -> dict:
        """JSON-able record of the truth (inverse: :meth:`from_dict`); ``beta`` and
        ``d_ref`` only for a truth with length exponents."""
        out: dict[str, Any] = {
            "law": LAW_FORM if self.beta is None else LAW_FORM_LENGTH,
            "n_ref": self.n_ref,
            "train_domains": list(self.train_domains),
            "valid_domains": list(self.valid_domains),
            "params": {
                v: {
                    "c": self.c[i],
                    "k": self.k[i],
                    "alpha": self.alpha[i],
                    "t": dict(zip(self.train_domains, self.t[i], strict=True)),
                }
                for i, v in enumerate(self.valid_domains)
            },
        }
        if self.beta is not None:
            out["d_ref"] = self.d_ref
            for i, v in enumerate(self.valid_domains):
                out["params"][v]["beta"] = self.beta[i]
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> MixtureTruth:
        """Rebuild a truth from :meth:`to_dict`'s record."""
        try:
            train = list(d["train_domains"])
            valid = list(d["valid_domains"])
            ps = d["params"]
            return cls(
                train_domains=tuple(train),
                valid_domains=tuple(valid),
                c=tuple(float(ps[v]["c"]) for v in valid),
                k=tuple(float(ps[v]["k"]) for v in valid),
                t=tuple(tuple(float(ps[v]["t"][j]) for j in train) for v in valid),
                alpha=tuple(float(ps[v]["alpha"]) for v in valid),
                n_ref=float(d.get("n_ref", DEFAULT_N_REF)),
                beta=(
                    tuple(float(ps[v]["beta"]) for v in valid)
                    if all("beta" in ps[v] for v in valid)
                    else None
                ),
                d_ref=float(d.get("d_ref", DEFAULT_D_REF)),
            )
        except (KeyError, TypeError) as e:
            raise ScalingLawsError(f"not a MixtureTruth record: missing {e}") from e


def _feasible_point(r: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A point of {lo <= r <= hi, sum r = 1} near ``r`` (clip, then shift the free part)."""
    r = np.clip(r, lo, hi)
    for _ in range(2 * len(r) + 2):
        gap = 1.0 - r.sum()
        if abs(gap) <= 1e-15:
            break
        room = (hi - r) if gap > 0 else (r - lo)
        # Prefer weights strictly inside their bounds, so weights on a bound stay there.
        free = (room > 0) & (r > lo) & (r < hi)
        if not free.any():
            free = room > 0
        if not free.any():
            break
        share = np.where(free, room, 0.0)
        r = np.clip(r + gap * share / share.sum(), lo, hi)
    return r


def round_mixtures(W, decimals: int = WEIGHT_DECIMALS) -> np.ndarray:
    """Round mixture weights as a published file would, keeping every row's sum at 1.

    Each weight is rounded to ``decimals`` places; the largest weight of each row is then
    replaced by one minus the sum of the others (rounded again), so the rounding residue
    lands on it and rows sum to 1 within about 1e-15.
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    out = np.round(W, decimals)
    rows = np.arange(W.shape[0])
    big = np.argmax(W, axis=1)
    others = out.sum(axis=1) - out[rows, big]
    out[rows, big] = np.round(1.0 - others, decimals)
    return out


def sample_mixtures(
    n: int,
    K: int,  # noqa: N803 - the papers' notation
    *,
    concentration: float | Sequence[float] = 1.0,
    seed: int | np.random.Generator = 0,
    decimals: int | None = WEIGHT_DECIMALS,
) -> np.ndarray:
    """``n`` mixtures of ``K`` domains from Dirichlet(concentration), shape (n, K).

    ``concentration`` is one value for every domain or K values (RegMix draws around the
    natural token distribution this way). Weights are rounded by :func:`round_mixtures`
    unless ``decimals`` is None.
    """
    if n < 0 or K < 1:
        raise ScalingLawsError("need n >= 0 and K >= 1")
    conc = np.broadcast_to(np.asarray(concentration, dtype=float), (K,))
    if not np.all(np.isfinite(conc) & (conc > 0)):
        raise ScalingLawsError("Dirichlet concentration must be finite and > 0")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    W = rng.dirichlet(conc, size=n)
    return W if decimals is None else round_mixtures(W, decimals)


def random_truth(
    K: int = 5,  # noqa: N803 - the papers' notation
    V: int | None = None,  # noqa: N803
    seed: int = 0,
    *,
    domains: Sequence[str] | None = None,
    n_ref: float = DEFAULT_N_REF,
) -> MixtureTruth:
    """Draw plausible law parameters for K training and V validation domains.

    Validation domain i is matched to training domain ``i % K``. Draws (uniform, in this
    order from ``numpy.random.default_rng(seed)``):

    - c_i in [1.5, 3.0] (irreducible loss, nats);
    - alpha_i in [0.2, 0.4];
    - t_ij in [-3.0, -1.5] for the matched training domain and in [-1.0, 0.3] for the
      others, so every validation domain gains most from its own data, some from most
      others, and a little harm from some;
    - the reducible part at N_ref and the uniform mixture, k_i exp(mean_j t_ij), in
      [0.2, 0.6] nats; k_i follows from it.

    Args:
        K: Number of training domains.
        V: Number of validation domains (default K: the same domains).
        seed: Seed of the draws.
        domains: Training-domain names (default :data:`DEFAULT_DOMAINS` for K <= 8, else
            ``domain0 ...``). Validation domains take the same names when V <= K, and
            ``<name>_<i // K>`` for the i >= K.
        n_ref: Reference size N_ref.
    """
    if K < 1:
        raise ScalingLawsError("need K >= 1 training domains")
    V = K if V is None else int(V)
    if V < 1:
        raise ScalingLawsError("need V >= 1 validation domains")
    if domains is None:
        train = (
            DEFAULT_DOMAINS[:K] if K <= len(DEFAULT_DOMAINS) else [f"domain{j}" for j in range(K)]
        )
    else:
        train = list(domains)
        if len(train) != K:
            raise ScalingLawsError(f"domains names {len(train)} domains, K is {K}")
    train = _names(train, "training")
    valid = tuple(train[i % K] if i < K else f"{train[i % K]}_{i // K}" for i in range(V))
    rng = np.random.default_rng(seed)
    c = rng.uniform(1.5, 3.0, size=V)
    alpha = rng.uniform(0.2, 0.4, size=V)
    t = rng.uniform(-1.0, 0.3, size=(V, K))
    own = rng.uniform(-3.0, -1.5, size=V)
    t[np.arange(V), np.arange(V) % K] = own
    reducible = rng.uniform(0.2, 0.6, size=V)
    k = reducible / np.exp(t.mean(axis=1))
    return MixtureTruth(
        train_domains=train,
        valid_domains=valid,
        c=tuple(c),
        k=tuple(k),
        t=tuple(map(tuple, t)),
        alpha=tuple(alpha),
        n_ref=n_ref,
    )


def weight_column(domain: str) -> str:
    """Name of a training domain's weight column in the wide run log (``w_<domain>``)."""
    return f"w_{domain}"


def loss_column(domain: str) -> str:
    """Name of a validation domain's loss column in the wide run log (``loss_<domain>``)."""
    return f"loss_{domain}"


def simulate_mixture_runs(
    truth: MixtureTruth,
    *,
    sizes: Sequence[float] = (2e7, 5e7, 1e8),
    n_per_size: int = 64,
    noise: float = 0.005,
    seed: int = 0,
    same_mixtures: bool = True,
    concentration: float | Sequence[float] = 1.0,
    lengths: Sequence[float] | Mapping[float, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """A wide run log of proxy models trained on random mixtures.

    With ``lengths`` (a truth with length exponents ``beta`` is needed) every run is
    recorded at several training lengths D (tokens), as checkpoints of one run: one row
    per (size, mixture, length) with a ``D`` column, all rows of a run sharing its
    ``run`` id. ``lengths`` is one list for every size or ``{size: list}``. The noise of
    each checkpoint is drawn independently (a real run's checkpoints share some of it).
    Without ``lengths`` the output is exactly as before lengths existed (same seed, same
    table).

    Mixtures are Dirichlet(``concentration``) draws rounded by :func:`round_mixtures`
    (3 decimals, residue on the largest weight; rows sum to 1 within 1e-12); with
    ``same_mixtures`` the same ``n_per_size`` mixtures are trained at every size, else
    each size gets its own. Losses are the true losses at the rounded weights times
    exp(noise * eps), eps standard normal and independent per run and validation domain.
    Draw order from ``numpy.random.default_rng(seed)``: the mixtures, then eps (runs x V).

    Returns:
        DataFrame with columns ``run`` (``"N<size, 3 significant digits>-m<index>"``,
        e.g. ``N2e+07-m005``; with ``same_mixtures`` the index names the mixture), ``N``, ``w_<domain>`` per training domain and ``loss_<domain>`` per
        validation domain, sizes in the order given. ``attrs`` hold ``truth``
        (:meth:`MixtureTruth.to_dict`), ``seed``, ``noise``, ``sizes``, ``n_per_size``,
        ``same_mixtures`` and ``concentration`` (and ``lengths`` when given).
    """
    sizes = [float(s) for s in sizes]
    if not sizes or not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ScalingLawsError("sizes must be a non-empty list of finite sizes > 0")
    if n_per_size < 1:
        raise ScalingLawsError("n_per_size must be >= 1")
    if not (math.isfinite(noise) and noise >= 0):
        raise ScalingLawsError("noise must be finite and >= 0")
    per_size = _lengths_per_size(truth, sizes, lengths)
    rng = np.random.default_rng(seed)
    n_mix = n_per_size if same_mixtures else n_per_size * len(sizes)
    mixes = sample_mixtures(n_mix, truth.K, concentration=concentration, seed=rng)
    if same_mixtures:
        R = np.tile(mixes, (len(sizes), 1))
    else:
        R = mixes
    N = np.repeat(np.asarray(sizes), n_per_size)
    idx = np.tile(np.arange(n_per_size), len(sizes))
    D = None
    if per_size is not None:  # every run at each of its size's lengths (checkpoints)
        reps = np.asarray([len(per_size[s]) for s in sizes])
        count = np.repeat(reps, n_per_size)
        D = np.concatenate([np.tile(per_size[s], n_per_size) for s in sizes]).astype(float)
        R, N, idx = np.repeat(R, count, axis=0), np.repeat(N, count), np.repeat(idx, count)
    mean = truth.loss(R, N, D)
    eps = rng.standard_normal(mean.shape)
    loss = mean * np.exp(noise * eps)
    runs = [f"N{n:.3g}-m{i:03d}" for n, i in zip(N, idx, strict=True)]
    keys = runs if D is None else list(zip(runs, D, strict=True))
    if len(set(keys)) != len(keys) or len(set(zip(runs, N, strict=True))) != len(set(runs)):
        raise ScalingLawsError("sizes must differ in their first 3 significant digits")
    out = pd.DataFrame({"run": runs})
    out["N"] = N
    if D is not None:
        out["D"] = D
    for j, d in enumerate(truth.train_domains):
        out[weight_column(d)] = R[:, j]
    for i, d in enumerate(truth.valid_domains):
        out[loss_column(d)] = loss[:, i]
    conc = np.asarray(concentration, dtype=float)
    out.attrs.update(
        {
            "truth": truth.to_dict(),
            "seed": seed,
            "noise": float(noise),
            "sizes": sizes,
            "n_per_size": int(n_per_size),
            "same_mixtures": bool(same_mixtures),
            "concentration": float(conc) if conc.ndim == 0 else conc.tolist(),
        }
    )
    if per_size is not None:
        out.attrs["lengths"] = {str(s): list(per_size[s]) for s in sizes}
    return out


def _lengths_per_size(
    truth: MixtureTruth,
    sizes: Sequence[float],
    lengths: Sequence[float] | Mapping[float, Sequence[float]] | None,
) -> dict[float, list[float]] | None:
    """``{size: [lengths]}`` from one list or a per-size mapping; None without lengths."""
    if lengths is None:
        return None
    if truth.beta is None:
        raise ScalingLawsError("lengths need a truth with length exponents beta")
    if isinstance(lengths, Mapping):
        given = {float(k): v for k, v in lengths.items()}
        missing = [s for s in sizes if s not in given]
        if missing:
            raise ScalingLawsError(f"lengths has no entry for sizes {missing}")
        per = {s: [float(x) for x in given[s]] for s in sizes}
    else:
        per = {s: [float(x) for x in lengths] for s in sizes}
    for s, vals in per.items():
        if not vals or not all(math.isfinite(x) and x > 0 for x in vals):
            raise ScalingLawsError(f"lengths of size {s:g} must be finite numbers > 0")
        if len(set(vals)) != len(vals):
            raise ScalingLawsError(f"lengths of size {s:g} repeat a value")
    return per
