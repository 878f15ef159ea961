"""The :class:`Law` specification: a pure prediction function plus parameter specs.

A law is data, not behaviour: every fitter, sampler, planner, record and check works from
these fields, so a user-defined law gets all of them unchanged (see ``README.md``,
"Your own law").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError

Array = Any
Params = Mapping[str, Array]
Inputs = Mapping[str, Array]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a law.

    Attributes:
        name: The paper's name (``"E"``, ``"alpha"``); the key in every dict and record.
        lower: Lower bound in natural units (``-inf`` for none). The solver projects onto
            the box; a fit that ends on a bound is flagged in the report.
        upper: Upper bound in natural units (``inf`` for none).
        log_scale: Fit ``log(value)`` instead of ``value`` (the value must be positive).
            Scale parameters such as ``A`` and ``B`` span decades and are only
            well-conditioned on the log scale.
        grid: Start values in natural units for the multi-start search.
        prior_loc: Centre of the weakly-informative normal prior on the *internal* scale
            (the log for ``log_scale`` parameters).
        prior_scale: Standard deviation of that prior on the internal scale.
        doc: One line saying what the parameter is.
    """

    name: str
    lower: float = -math.inf
    upper: float = math.inf
    log_scale: bool = False
    grid: tuple[float, ...] = ()
    prior_loc: float = 0.0
    prior_scale: float = 10.0
    doc: str = ""

    def internal_bounds(self) -> tuple[float, float]:
        """Bounds on the internal (fitted) scale."""
        if self.log_scale:
            lo = math.log(self.lower) if self.lower > 0 else -math.inf
            hi = math.log(self.upper) if math.isfinite(self.upper) else math.inf
            return lo, hi
        return self.lower, self.upper

    def to_internal(self, value: float) -> float:
        return math.log(value) if self.log_scale else float(value)


@dataclass(frozen=True)
class LinearForm:
    """Declares that a law is linear in some of its parameters given the others.

    ``prediction = basis(nonlinear, inputs) @ [linear params in order]``. The fitter then
    searches only the nonlinear parameters on their grid and solves the linear ones in
    closed form (variable projection), which is both faster and more global than
    multi-start descent on all parameters.

    Attributes:
        nonlinear: Names of the parameters searched on a grid (e.g. the exponents).
        linear: Names of the coefficients solved by least squares, in basis-column order.
        basis: ``basis(nonlinear_params: dict, inputs: dict) -> (n_runs, len(linear))``.
        nonnegative: Constrain the linear coefficients to be >= 0 (Chinchilla's E, A, B).
        grid: Values searched for each nonlinear parameter, in ``nonlinear`` order; empty
            falls back to each :class:`ParamSpec`'s ``grid``.
    """

    nonlinear: tuple[str, ...]
    linear: tuple[str, ...]
    basis: Callable[[Params, Inputs], Array]
    nonnegative: bool = False
    grid: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Law:
    """A scaling law: a pure function of ``(params, inputs)`` and its parameter specs.

    Attributes:
        name: Registry name (``"chinchilla"``); records refer to laws by it.
        version: Bumped when the law's meaning changes, so old records are not misread.
        inputs: Names of the input columns (``("N", "D")``).
        params: Parameter specs, in a fixed order (the order of the internal vector).
        fn: ``fn(params, inputs) -> prediction``, pure ``jax.numpy``.
        target: Name of the column predicted (``"loss"``).
        residual: ``"log"`` fits ``log(prediction) - log(target)`` (losses, always
            positive); ``"linear"`` fits ``prediction - target`` (loss *changes*, which can
            be negative).
        log_fn: Optional numerically stable ``log(fn(...))`` (e.g. a log-sum-exp form).
        linear_form: Optional :class:`LinearForm` enabling variable-projection search.
        reference: Where the law comes from (arXiv id).
        description: One line for reports.
        metadata: Free-form facts for reports and records (e.g. ``size_input``).
        derived: The derived quantities the law offers, name -> pure ``jax.numpy``
            function taking the parameter dict first (the Chinchilla form declares its
            compute-optimal frontier, :data:`scalinglaws.laws.chinchilla.FRONTIER`).
            Planners ask :meth:`has` and :meth:`derived_fn` instead of guessing the
            form from the name.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    fn: Callable[[Params, Inputs], Array]
    version: str = "1"
    target: str = "loss"
    residual: Literal["log", "linear"] = "log"
    log_fn: Callable[[Params, Inputs], Array] | None = None
    linear_form: LinearForm | None = None
    reference: str = ""
    description: str = ""
    # Free-form facts for planners and reports ("form", which input is the model size).
    # Excluded from equality and hashing: a Law is a static argument of compiled solvers,
    # so two equal laws must share one compilation.
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # Out of equality and hashing for the same reason: functions, not part of the spec the
    # compiled solvers depend on.
    derived: Mapping[str, Callable[..., Any]] = field(
        default_factory=dict, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"law {self.name!r}: duplicate parameter names in {names}")
        if self.residual not in ("log", "linear"):
            raise ValueError(f"law {self.name!r}: residual must be 'log' or 'linear'")
        if self.linear_form is not None:
            declared = set(self.linear_form.nonlinear) | set(self.linear_form.linear)
            if declared != set(names):
                raise ValueError(
                    f"law {self.name!r}: linear_form names {sorted(declared)} "
                    f"must be exactly the parameters {sorted(names)}"
                )

    def has(self, *names: str) -> bool:
        """Whether the law declares every derived quantity in ``names``."""
        return all(name in self.derived for name in names)

    def derived_fn(self, name: str) -> Callable[..., Any]:
        """The pure function of the derived quantity ``name``.

        Raises:
            ScalingLawsError: The law does not declare it (the message lists what it does).
        """
        try:
            return self.derived[name]
        except KeyError:
            offered = ", ".join(sorted(self.derived)) or "none"
            raise ScalingLawsError(
                f"law {self.name!r} does not provide {name!r} (derived quantities: {offered})"
            ) from None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def spec(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    # -- internal <-> natural parameter vectors (pure jnp, safe under jit/vmap) --------
    def to_natural(self, theta: Array) -> dict[str, Array]:
        """Internal vector (logs for log-scale parameters) -> dict in natural units."""
        return {
            p.name: (jnp.exp(theta[..., i]) if p.log_scale else theta[..., i])
            for i, p in enumerate(self.params)
        }

    def to_natural_host(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`to_natural` in NumPy, for results already on the host (no compiled
        program per parameter)."""
        theta = np.asarray(theta)
        return {
            p.name: np.exp(theta[..., i]) if p.log_scale else theta[..., i].copy()
            for i, p in enumerate(self.params)
        }

    def to_internal(self, params: Params) -> Array:
        """Dict in natural units -> internal vector."""
        cols = []
        for p in self.params:
            v = jnp.asarray(params[p.name])
            cols.append(jnp.log(v) if p.log_scale else v)
        return jnp.stack(cols, axis=-1)

    def internal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the internal parameters, as host (numpy) arrays:
        constants inside compiled code, and no one-operation program outside it."""
        lo, hi = zip(*(p.internal_bounds() for p in self.params), strict=True)
        return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)

    def predict(self, params: Params, inputs: Inputs) -> Array:
        """The law's value at ``inputs`` (dict of arrays keyed by :attr:`inputs`)."""
        return self.fn(params, inputs)

    def log_predict(self, params: Params, inputs: Inputs) -> Array:
        if self.log_fn is not None:
            return self.log_fn(params, inputs)
        return jnp.log(self.fn(params, inputs))

    def residuals(self, theta: Array, inputs: Inputs, target: Array) -> Array:
        """Residuals of the fit objective at internal vector ``theta``."""
        params = self.to_natural(theta)
        if self.residual == "log":
            return self.log_predict(params, inputs) - jnp.log(target)
        return self.fn(params, inputs) - target


def check_params(law: Law, params: Mapping[str, float]) -> dict[str, float]:
    """Validate a parameter dict against a law; returns it as plain floats."""
    missing = [n for n in law.param_names if n not in params]
    if missing:
        raise ScalingLawsError(f"law {law.name!r} needs parameters {missing}; got {sorted(params)}")
    out = {}
    for p in law.params:
        v = float(params[p.name])
        if not math.isfinite(v):
            raise ScalingLawsError(f"parameter {p.name} = {v} is not finite")
        if p.log_scale and v <= 0:
            raise ScalingLawsError(f"parameter {p.name} = {v} must be positive")
        if not p.lower <= v <= p.upper:
            raise ScalingLawsError(
                f"parameter {p.name} = {v:g} is outside its bounds [{p.lower:g}, {p.upper:g}]"
            )
        out[p.name] = v
    return out


def grid_product(values: Sequence[Sequence[float]]) -> np.ndarray:
    """Cartesian product of per-parameter value lists as an ``(n, k)`` float64 array."""
    # NumPy, not jnp: a host-side constant that every fit builds once; in jnp it would
    # compile a few tiny programs per process.
    mesh = np.meshgrid(*[np.asarray(v, dtype=np.float64) for v in values], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)
