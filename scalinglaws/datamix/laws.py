"""Data-mixture laws as :class:`~scalinglaws.laws.Law` specs, one per validation domain.

Inputs are the mixture weights ``w_<domain>`` (one per training domain, summing to one)
and, for the nested laws, the model size ``N`` and the training length ``D`` (tokens, or
steps when the runs record steps only; the input is named ``D`` either way).

* :func:`mixing_law` — the data-mixing law of Ye et al. 2024 (arXiv 2403.16952, eq. 1),
  ``L(r) = c + k * exp(sum_j t_j r_j)``. On the simplex ``k`` and a common shift of the
  ``t_j`` are the same thing (``k * exp(t.r) = exp((t + log k).r)`` because the weights
  sum to one), so the law is fitted as ``L(r) = c + exp(sum_j t_j r_j)``: the same family,
  without a direction the data cannot see. ``k`` of the paper's form with any chosen
  reference domain follows from the ``t_j``.
* the nested form (``size=True``) scales the reducible part with model size, one exponent
  per validation domain shared by every mixture (Ye et al. 2024, section 4, nest a size law
  of this kind with the mixing law): ``L(r, N) = c + exp(sum_j t_j r_j) * (N / n_ref)^-alpha``.
* the length-nested form (``length=True``) scales it with the training length in the
  same way, one exponent per validation domain shared by every mixture and size (Ye et
  al. 2024, section 4, nest a step law with the mixing law):
  ``L(r, N, D) = c + exp(sum_j t_j r_j) * (N / n_ref)^-alpha * (D / d_ref)^-beta``, each
  factor present only when the law is nested in it (four forms: plain, size, length,
  size and length).
* :func:`linear_law` and :func:`loglinear_law` — the regression baselines of RegMix
  (Liu et al. 2024, arXiv 2407.01492): ``L = sum_j b_j r_j`` and ``log L = sum_j b_j r_j``
  (an intercept is the same as a common shift of the ``b_j`` on the simplex).

Each comes with :func:`pilot_starts`, start points from a linearised fit, because one
exponent per domain (17 for the Pile) is too many for a grid search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import FitError
from scalinglaws.laws.base import Law, ParamSpec

#: Reference size of the nested law: N / n_ref enters the size term. A constant, so that
#: ``t`` and ``alpha`` keep their meaning between records; 1e8 sits inside typical
#: proxy-size ranges and keeps ``t`` of order one.
DEFAULT_N_REF = 1e8
#: Reference length of the length-nested law when the length is tokens D: D / d_ref enters
#: the length term. A constant for the same reason as :data:`DEFAULT_N_REF`; 1e9 tokens
#: sits inside typical proxy budgets (RegMix: 1B tokens; Ye et al.: 30B at most).
DEFAULT_D_REF = 1e9
#: Reference length when the runs record optimiser steps only: 1e4 steps, the middle (on a
#: log scale) of the 1e3-1e5 steps proxy runs take (1e9 tokens at 1e5-1e6 tokens a step).
#: Only the meaning of ``t`` depends on it, not the fit.
DEFAULT_STEP_REF = 1e4
#: Length columns of the runs, in order of preference, and their default references.
LENGTH_REFS = {"D": DEFAULT_D_REF, "step": DEFAULT_STEP_REF}
#: Bound on each mixing exponent ``t_j`` (|t| <= 50 moves the reducible loss by e^50 across
#: the simplex, far outside any observed study).
T_BOUND = 50.0
MODELS = ("mixing", "linear", "loglinear")


def weight_inputs(domains: Sequence[str]) -> tuple[str, ...]:
    """Input names of the mixture weights: ``w_<domain>``."""
    return tuple(f"w_{d}" for d in domains)


def _check_domains(domains: Sequence[str]) -> tuple[str, ...]:
    domains = tuple(str(d) for d in domains)
    if not domains:
        raise FitError("a mixture law needs at least one training domain")
    if len(set(domains)) != len(domains):
        raise FitError(f"training domain names must be unique, not {list(domains)}")
    return domains


def _stack(inputs, names) -> jnp.ndarray:
    return jnp.stack([jnp.asarray(inputs[n]) for n in names], axis=-1)


def mixing_law(
    domains: Sequence[str],
    *,
    size: bool = False,
    n_ref: float = DEFAULT_N_REF,
    length: bool = False,
    d_ref: float = DEFAULT_D_REF,
    name: str = "datamix",
) -> Law:
    """The data-mixing law over the given training domains (optionally nested with size
    and training length).

    ``L(r, N, D) = c + exp(sum_j t_j r_j) * (N / n_ref)^-alpha * (D / d_ref)^-beta``,
    the size factor only with ``size``, the length factor only with ``length``
    (Ye et al. 2024, arXiv 2403.16952, eq. 1 and section 4).

    Args:
        domains: Training domain names (the weights are inputs ``w_<domain>``).
        size: Nest a size law: ``exp(t.r)`` is multiplied by ``(N / n_ref)^-alpha``.
        n_ref: Reference size of the size term.
        length: Nest a length law: ``exp(t.r)`` is multiplied by ``(D / d_ref)^-beta``
            (input ``D``: tokens, or steps, as the runs record the length).
        d_ref: Reference length of the length term, in the length's unit.
        name: The law's name in reports and records.

    Raises:
        FitError: No or repeated domains, or a reference that is not a positive number.
    """
    domains = _check_domains(domains)
    wnames = weight_inputs(domains)
    tnames = tuple(f"t_{d}" for d in domains)
    if not (isinstance(n_ref, int | float) and n_ref > 0 and math.isfinite(n_ref)):
        raise FitError(f"n_ref must be a positive number, not {n_ref!r}")
    if not (isinstance(d_ref, int | float) and d_ref > 0 and math.isfinite(d_ref)):
        raise FitError(f"d_ref must be a positive number, not {d_ref!r}")
    log_ref = math.log(float(n_ref))
    log_d_ref = math.log(float(d_ref))

    def exponent(params, inputs):
        t = jnp.stack([jnp.asarray(params[n]) for n in tnames], axis=-1)
        r = _stack(inputs, wnames)
        z = jnp.sum(r * t, axis=-1)
        if size:
            z = z - params["alpha"] * (jnp.log(jnp.asarray(inputs["N"])) - log_ref)
        if length:
            z = z - params["beta"] * (jnp.log(jnp.asarray(inputs["D"])) - log_d_ref)
        return z

    def fn(params, inputs):
        return params["c"] + jnp.exp(exponent(params, inputs))

    def log_fn(params, inputs):
        return jnp.logaddexp(jnp.log(params["c"]), exponent(params, inputs))

    params = [
        ParamSpec(
            "c",
            lower=0.0,
            log_scale=True,
            prior_loc=math.log(2.0),
            prior_scale=2.0,
            doc="irreducible loss of the validation domain",
        ),
        *(
            ParamSpec(
                t,
                lower=-T_BOUND,
                upper=T_BOUND,
                prior_loc=0.0,
                prior_scale=10.0,
                doc=f"effect of training weight on {d}",
            )
            for t, d in zip(tnames, domains, strict=True)
        ),
    ]
    if size:
        params.append(
            ParamSpec(
                "alpha",
                lower=0.0,
                upper=3.0,
                prior_loc=0.3,
                prior_scale=1.0,
                doc="size exponent of the reducible loss",
            )
        )
    if length:
        params.append(
            ParamSpec(
                "beta",
                lower=0.0,
                upper=3.0,
                prior_loc=0.3,
                prior_scale=1.0,
                doc="training-length exponent of the reducible loss",
            )
        )
    return Law(
        name=name,
        inputs=(*wnames, *(("N",) if size else ()), *(("D",) if length else ())),
        params=tuple(params),
        fn=fn,
        log_fn=log_fn,
        residual="log",
        reference="arXiv:2403.16952",
        description=(
            "L = c + exp(sum_j t_j r_j)"
            + (" * (N/n_ref)^-alpha" if size else "")
            + (" * (D/d_ref)^-beta" if length else "")
            + " (data-mixing law, Ye et al. 2024)"
        ),
        metadata={
            "domains": domains,
            "size": size,
            "n_ref": float(n_ref),
            "length": length,
            "d_ref": float(d_ref),
            "form": "mixing",
        },
    )


def linear_law(domains: Sequence[str], *, name: str = "datamix_linear") -> Law:
    """RegMix's linear-regression baseline, ``L = sum_j b_j r_j`` (loss-scale residuals)."""
    domains = _check_domains(domains)
    wnames = weight_inputs(domains)
    bnames = tuple(f"b_{d}" for d in domains)

    def fn(params, inputs):
        b = jnp.stack([jnp.asarray(params[n]) for n in bnames], axis=-1)
        return jnp.sum(_stack(inputs, wnames) * b, axis=-1)

    return Law(
        name=name,
        inputs=wnames,
        params=tuple(
            ParamSpec(b, prior_scale=10.0, doc=f"loss at a pure {d} mixture")
            for b, d in zip(bnames, domains, strict=True)
        ),
        fn=fn,
        residual="linear",
        reference="arXiv:2407.01492",
        description="L = sum_j b_j r_j (linear regression, RegMix baseline)",
        metadata={"domains": domains, "size": False, "form": "linear"},
    )


def loglinear_law(domains: Sequence[str], *, name: str = "datamix_loglinear") -> Law:
    """Log-linear regression, ``log L = sum_j b_j r_j`` (log-scale residuals)."""
    domains = _check_domains(domains)
    wnames = weight_inputs(domains)
    bnames = tuple(f"b_{d}" for d in domains)

    def log_fn(params, inputs):
        b = jnp.stack([jnp.asarray(params[n]) for n in bnames], axis=-1)
        return jnp.sum(_stack(inputs, wnames) * b, axis=-1)

    return Law(
        name=name,
        inputs=wnames,
        params=tuple(
            ParamSpec(b, prior_loc=1.0, prior_scale=10.0, doc=f"log loss at a pure {d} mixture")
            for b, d in zip(bnames, domains, strict=True)
        ),
        fn=lambda p, x: jnp.exp(log_fn(p, x)),
        log_fn=log_fn,
        residual="log",
        reference="arXiv:2407.01492",
        description="log L = sum_j b_j r_j (log-linear regression)",
        metadata={"domains": domains, "size": False, "form": "loglinear"},
    )


def make_law(
    model: str,
    domains: Sequence[str],
    *,
    size: bool = False,
    n_ref: float = DEFAULT_N_REF,
    length: bool = False,
    d_ref: float = DEFAULT_D_REF,
) -> Law:
    """The law of a parametric mixture model by name (``mixing``, ``linear``, ``loglinear``).

    ``size`` and ``length`` nest the mixing law with a size and a length law
    (:func:`mixing_law`); the regressions have neither.

    The same arguments give the same :class:`Law` object, so the compiled fitting and
    uncertainty programs are built once and shared by every validation domain (a law's
    functions are part of its identity; a new closure per domain would recompile).
    """
    return _make_law(
        str(model),
        tuple(str(d) for d in domains),
        bool(size),
        float(n_ref),
        bool(length),
        float(d_ref),
    )


@lru_cache(maxsize=32)
def _make_law(
    model: str, domains: tuple[str, ...], size: bool, n_ref: float, length: bool, d_ref: float
) -> Law:
    if model == "mixing":
        return mixing_law(domains, size=size, n_ref=n_ref, length=length, d_ref=d_ref)
    if size:
        raise FitError(f"model {model!r} has no size term; use model='mixing' across sizes")
    if length:
        raise FitError(
            f"model {model!r} has no token or step term; use model='mixing' across lengths"
        )
    if model == "linear":
        return linear_law(domains)
    if model == "loglinear":
        return loglinear_law(domains)
    raise FitError(f"unknown mixture law {model!r}; known: {', '.join(MODELS)}")


def _lstsq(x: np.ndarray, y: np.ndarray, ridge: float = 1e-8) -> np.ndarray:
    """Least squares with a tiny ridge (rarely used domains stay finite)."""
    a = x.T @ x + ridge * np.eye(x.shape[1]) * max(1.0, float(np.trace(x.T @ x)) / x.shape[1])
    return np.linalg.solve(a, x.T @ y)


def pilot_starts(
    law: Law,
    r: np.ndarray,
    y: np.ndarray,
    n: np.ndarray | None = None,
    d: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Start points for :func:`scalinglaws.fitting.fit` from linearised fits.

    For the mixing law: for each of several floors ``c`` (fractions of the smallest loss),
    ``log(L - c)`` is regressed on the weights (and ``-log(N/n_ref)``, ``-log(D/d_ref)``),
    giving the ``t_j`` (and ``alpha``, ``beta``). For the regressions, their least-squares
    solution.

    Args:
        law: A law from this module.
        r: ``(n, K)`` weights; ``y``: ``(n,)`` losses; ``n``: ``(n,)`` sizes for the
            size-nested law; ``d``: ``(n,)`` lengths for the length-nested law.

    Returns:
        ``{parameter: (S,) start values}``.
    """
    form = law.metadata.get("form")
    domains = law.metadata["domains"]
    if form == "linear":
        b = _lstsq(r, y)
        return {f"b_{d}": np.asarray([b[j]]) for j, d in enumerate(domains)}
    if form == "loglinear":
        b = _lstsq(r, np.log(y))
        return {f"b_{d}": np.asarray([b[j]]) for j, d in enumerate(domains)}
    size = bool(law.metadata.get("size"))
    length = bool(law.metadata.get("length"))
    cols = [r]
    if size:
        if n is None:
            raise FitError("the nested mixing law needs model sizes N")
        cols.append(-(np.log(n) - math.log(law.metadata["n_ref"]))[:, None])
    if length:
        if d is None:
            raise FitError("the length-nested mixing law needs training lengths D")
        cols.append(-(np.log(d) - math.log(law.metadata["d_ref"]))[:, None])
    x = np.column_stack(cols)
    k = r.shape[1]
    ymin = float(np.min(y))
    out: dict[str, list[float]] = {p: [] for p in law.param_names}
    for frac in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98):
        c = frac * ymin
        coef = _lstsq(x, np.log(y - c))
        out["c"].append(max(c, 1e-3 * ymin))
        for j, d in enumerate(domains):
            out[f"t_{d}"].append(float(np.clip(coef[j], -T_BOUND, T_BOUND)))
        if size:
            out["alpha"].append(float(np.clip(coef[k], 1e-3, 2.9)))
        if length:
            out["beta"].append(float(np.clip(coef[k + int(size)], 1e-3, 2.9)))
    return {k: np.asarray(v) for k, v in out.items()}
