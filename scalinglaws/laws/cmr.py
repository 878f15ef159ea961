"""Critical-mixture-ratio laws for continual pre-training (four fits).

Gu et al., "CMR Scaling Law: Predicting Critical Mixture Ratios for Continual Pre-training
of Language Models", EMNLP 2024, arXiv 2407.17467.

A pre-trained model of fixed size is trained further on a mixture with domain share R;
``T`` is the continual-training token count in a stated unit (:data:`DEFAULT_TOKEN_UNIT`
raw tokens per unit; the paper's unit is :data:`PAPER_TOKEN_UNIT` = 0.2B tokens).

* :func:`loss_ratio_law` -- loss at the final budget against the ratio:
  ``L(R) = alpha_R * R**s_R + beta_R``.
* :func:`domain_change_law` -- domain-loss change against tokens at fixed R:
  ``dL_dom(T) = alpha1 * T**s1 + beta1``.
* :func:`general_change_law` -- general-loss change, rising then falling:
  ``dL_gen(T) = alpha2 * T**s2 + alpha3 * T**s3 + beta2`` with ``s2 < s3`` by
  construction: the law's parameter is ``s3_gap = s3 - s2 > 0``, fitted on the log scale,
  so the two terms cannot swap roles (a swap makes the likelihood bimodal).
* :func:`cmr_law` -- the critical mixture ratio against the token budget:
  ``R = alpha4 * T**s4 + beta3``.

Derived quantities, pure ``jax.numpy``: the turning point T0 of the Lagrangian
``L_dom + lambda (L_gen - L_gen,baseline - eps)`` from a domain and a general curve fit
(:func:`stationarity_coefficients` then :func:`turning_points`), the general curve's own
turning point (:func:`general_turning_point`, declared on :func:`general_change_law` as
``"turning_point"``), and the inverse of the CMR law (:func:`tokens_for_ratio`, declared
on :func:`cmr_law` as ``"tokens_for_ratio"``).

Every law is linear in its coefficients given the exponents and declares a
:class:`~scalinglaws.laws.base.LinearForm` (signs unconstrained), so
``scalinglaws.fit(law, runs, search="varpro")`` searches the exponents on a grid, solves
the coefficients in closed form and polishes all parameters. The signs of the
coefficients and exponents are left free: the paper's CMR-law coefficients change sign
between model sizes.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.laws.base import Inputs, Law, LinearForm, Params, ParamSpec

#: The paper's token unit: T = 1 is 0.2B tokens, so T = 100 is 20B tokens.
PAPER_TOKEN_UNIT = 2e8
#: Default unit of ``T`` in fitted coefficients: one billion tokens. Raw counts (1e10)
#: raised to two different exponents make the general-loss fit badly conditioned.
DEFAULT_TOKEN_UNIT = 1e9

#: Published CMR-law coefficients (alpha4, s4, beta3) for the Finance domain, T in units
#: of 0.2B tokens (Gu et al. 2024, arXiv 2407.17467; values as quoted in DESIGN section 5).
GU_2024_FINANCE_CMR = {
    "460M": {"alpha4": 0.22524761, "s4": 0.26944345, "beta3": -0.48139982},
    "940M": {"alpha4": 0.7520627, "s4": 0.13720245, "beta3": -1.06581937},
    "1.6B": {"alpha4": -2.36384831, "s4": -0.15125569, "beta3": 1.59223649},
    "3.1B": {"alpha4": -2.5368197, "s4": -0.42071423, "beta3": 0.84375368},
}
#: The CMRs the paper reports for those coefficients at T = 100 (20B tokens).
GU_2024_FINANCE_CMR_AT_20B = {"460M": 0.298, "940M": 0.349, "1.6B": 0.414, "3.1B": 0.478}

#: Parameter names of the general-loss change as reported (``s3`` instead of the fitted gap).
GENERAL_KEYS = ("alpha2", "s2", "alpha3", "s3", "beta2")
DOMAIN_KEYS = ("alpha1", "s1", "beta1")
LOSS_RATIO_KEYS = ("alpha_R", "s_R", "beta_R")
CMR_KEYS = ("alpha4", "s4", "beta3")


def _signed_exponent_grid(lo: float, hi: float, n: int) -> tuple[float, ...]:
    # Exponent 0 makes the power column equal the constant column (singular); skip it.
    g = np.linspace(lo, hi, n)
    return tuple(float(round(v, 6)) for v in g if abs(v) > 1e-9)


_S_GRID = _signed_exponent_grid(-2.0, 2.0, 40)
_SR_GRID = _signed_exponent_grid(-3.0, 3.0, 60)
_S2_GRID = _signed_exponent_grid(-1.5, 1.5, 30)
#: Largest s3 - s2 allowed. Without a cap, curves whose turning point lies far beyond the
#: observed tokens are fitted by a near-zero alpha3 with a huge s3 (a term that switches
#: on right after the last checkpoint): a degenerate ridge with a spurious, confident T0.
GAP_MAX = 1.5
_GAP_GRID = tuple(float(round(v, 6)) for v in np.geomspace(0.03, GAP_MAX, 16))


def _power(x: jnp.ndarray, s: jnp.ndarray) -> jnp.ndarray:
    return jnp.exp(s * jnp.log(x))


# ---------------------------------------------------------------- L(R) at the final budget
def loss_ratio(params: Params, inputs: Inputs) -> jnp.ndarray:
    """L(R) = alpha_R * R**s_R + beta_R (pure, jit/vmap/grad safe)."""
    return params["alpha_R"] * _power(inputs["R"], params["s_R"]) + params["beta_R"]


def _loss_ratio_basis(nl: Params, inputs: Inputs) -> jnp.ndarray:
    r = jnp.asarray(inputs["R"], dtype=float)
    return jnp.stack([_power(r, nl["s_R"]), jnp.ones_like(r)], axis=-1)


def loss_ratio_law() -> Law:
    """Loss at the final budget against the domain share: L(R) = alpha_R R^s_R + beta_R.

    Input ``R`` in (0, 1]; target column ``loss``, fitted on log-loss residuals (losses
    are positive). Gu et al. 2024, arXiv 2407.17467, section 3.

    Example:
        >>> law = loss_ratio_law()
        >>> float(law.predict({"alpha_R": -0.4, "s_R": 0.2, "beta_R": 1.9}, {"R": 1.0}))
        1.5
    """
    return Law(
        name="cmr_loss_ratio",
        inputs=("R",),
        params=(
            ParamSpec("alpha_R", grid=(-0.5, 0.5), prior_scale=2.0, doc="ratio-term coefficient"),
            ParamSpec(
                "s_R",
                lower=-10.0,
                upper=10.0,
                grid=_SR_GRID,
                prior_scale=2.0,
                doc="ratio exponent",
            ),
            ParamSpec(
                "beta_R", grid=(1.0, 2.0), prior_loc=2.0, prior_scale=2.0, doc="offset (loss)"
            ),
        ),
        fn=loss_ratio,
        residual="log",
        linear_form=LinearForm(
            nonlinear=("s_R",),
            linear=("alpha_R", "beta_R"),
            basis=_loss_ratio_basis,
            nonnegative=False,
            grid=(_SR_GRID,),
        ),
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="L(R) = alpha_R*R^s_R + beta_R",
        metadata={"form": "cmr_loss_ratio"},
    )


# ---------------------------------------------------------------- domain-loss change
def domain_change(params: Params, inputs: Inputs) -> jnp.ndarray:
    """dL_dom(T) = alpha1 * T**s1 + beta1."""
    return params["alpha1"] * _power(inputs["T"], params["s1"]) + params["beta1"]


def _domain_basis(nl: Params, inputs: Inputs) -> jnp.ndarray:
    t = jnp.asarray(inputs["T"], dtype=float)
    return jnp.stack([_power(t, nl["s1"]), jnp.ones_like(t)], axis=-1)


def domain_change_law() -> Law:
    """Domain-loss change in continual pre-training: dL_dom(T) = alpha1 T^s1 + beta1.

    Input ``T`` (tokens in the fit's token unit); target column ``dloss`` = loss minus
    the model's baseline before continual training; linear residuals (changes can be
    negative). Gu et al. 2024, arXiv 2407.17467.
    """
    return Law(
        name="cmr_domain_change",
        inputs=("T",),
        target="dloss",
        residual="linear",
        params=(
            ParamSpec("alpha1", grid=(-0.1, 0.1), prior_scale=1.0, doc="domain-term coefficient"),
            ParamSpec(
                "s1",
                lower=-5.0,
                upper=5.0,
                grid=_S_GRID,
                prior_scale=1.0,
                doc="domain-term exponent",
            ),
            ParamSpec("beta1", grid=(0.0,), prior_scale=1.0, doc="offset (loss change)"),
        ),
        fn=domain_change,
        linear_form=LinearForm(
            nonlinear=("s1",),
            linear=("alpha1", "beta1"),
            basis=_domain_basis,
            nonnegative=False,
            grid=(_S_GRID,),
        ),
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="dL_dom(T) = alpha1*T^s1 + beta1",
        metadata={"form": "cmr_domain_change"},
    )


# ---------------------------------------------------------------- general-loss change
def general_change(params: Params, inputs: Inputs) -> jnp.ndarray:
    """dL_gen(T) = alpha2 * T**s2 + alpha3 * T**(s2 + s3_gap) + beta2."""
    t = inputs["T"]
    s3 = params["s2"] + params["s3_gap"]
    return (
        params["alpha2"] * _power(t, params["s2"])
        + params["alpha3"] * _power(t, s3)
        + params["beta2"]
    )


def _general_basis(nl: Params, inputs: Inputs) -> jnp.ndarray:
    t = jnp.asarray(inputs["T"], dtype=float)
    s3 = nl["s2"] + nl["s3_gap"]
    return jnp.stack([_power(t, nl["s2"]), _power(t, s3), jnp.ones_like(t)], axis=-1)


def general_change_law() -> Law:
    """General-loss change: dL_gen(T) = alpha2 T^s2 + alpha3 T^s3 + beta2, s2 < s3.

    The fitted parameters are ``alpha2, s2, alpha3, s3_gap, beta2`` with
    ``s3 = s2 + s3_gap`` and ``s3_gap > 0`` fitted on the log scale: the exponents stay
    ordered, so the rising and falling terms cannot swap. Use :func:`general_natural`
    for the paper's keys (``s3``). Input ``T``; target ``dloss``; linear residuals.
    Gu et al. 2024, arXiv 2407.17467.
    """
    return Law(
        name="cmr_general_change",
        inputs=("T",),
        target="dloss",
        residual="linear",
        params=(
            ParamSpec("alpha2", grid=(0.05,), prior_scale=1.0, doc="first-term coefficient"),
            ParamSpec(
                "s2",
                lower=-5.0,
                upper=5.0,
                grid=_S2_GRID,
                prior_scale=1.0,
                doc="first (smaller) exponent",
            ),
            ParamSpec("alpha3", grid=(-0.05,), prior_scale=1.0, doc="second-term coefficient"),
            ParamSpec(
                "s3_gap",
                # Below ~0.02 the two power terms become indistinguishable: the data then
                # reward alpha2 = -alpha3 -> infinity along an endless ridge. The bound
                # keeps the fit finite; a fit that reaches it is flagged "at bound".
                lower=0.02,
                upper=GAP_MAX,
                log_scale=True,
                grid=_GAP_GRID,
                prior_loc=math.log(0.3),
                prior_scale=1.5,
                doc="s3 - s2 (> 0)",
            ),
            ParamSpec("beta2", grid=(0.0,), prior_scale=1.0, doc="offset (loss change)"),
        ),
        fn=general_change,
        linear_form=LinearForm(
            nonlinear=("s2", "s3_gap"),
            linear=("alpha2", "alpha3", "beta2"),
            basis=_general_basis,
            nonnegative=False,
            grid=(_S2_GRID, _GAP_GRID),
        ),
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="dL_gen(T) = alpha2*T^s2 + alpha3*T^s3 + beta2, s3 = s2 + s3_gap",
        metadata={"form": "cmr_general_change"},
        derived={"turning_point": general_turning_point},
    )


def general_natural(params: Params) -> dict:
    """General-loss parameters with the paper's keys: ``s3 = s2 + s3_gap`` replaces the gap."""
    return {
        "alpha2": params["alpha2"],
        "s2": params["s2"],
        "alpha3": params["alpha3"],
        "s3": params["s2"] + params["s3_gap"],
        "beta2": params["beta2"],
    }


def general_fitted(params: Params) -> dict:
    """Inverse of :func:`general_natural`: paper keys -> the law's fitted parameters."""
    return {
        "alpha2": params["alpha2"],
        "s2": params["s2"],
        "alpha3": params["alpha3"],
        "s3_gap": params["s3"] - params["s2"],
        "beta2": params["beta2"],
    }


# ---------------------------------------------------------------- the CMR law
def critical_ratio(params: Params, inputs: Inputs) -> jnp.ndarray:
    """R_crit(T) = alpha4 * T**s4 + beta3 (unclipped)."""
    return params["alpha4"] * _power(inputs["T"], params["s4"]) + params["beta3"]


def tokens_for_ratio(params: Params, ratio: jnp.ndarray) -> jnp.ndarray:
    """Budget at which the (unclipped) CMR law reaches ``ratio``: ((R - beta3)/alpha4)^(1/s4).

    Args:
        params: ``alpha4, s4, beta3`` (scalars or draws).
        ratio: A domain share.

    Returns:
        T in the law's token unit; NaN where the law never reaches the share.
    """
    base = (ratio - jnp.asarray(params["beta3"])) / jnp.asarray(params["alpha4"])
    ok = base > 0
    t = jnp.exp(jnp.log(jnp.where(ok, base, 1.0)) / jnp.asarray(params["s4"]))
    return jnp.where(ok & jnp.isfinite(t) & (t > 0), t, jnp.nan)


def _cmr_basis(nl: Params, inputs: Inputs) -> jnp.ndarray:
    t = jnp.asarray(inputs["T"], dtype=float)
    return jnp.stack([_power(t, nl["s4"]), jnp.ones_like(t)], axis=-1)


def cmr_law() -> Law:
    """The CMR scaling law: critical mixture ratio R = alpha4 T^s4 + beta3.

    Fitted through the points (T0(R_i), R_i) of one model size; input ``T`` (token
    budget in the fit's unit), target ``ratio``; linear residuals, signs free (they differ
    between model sizes in the paper). Gu et al. 2024, arXiv 2407.17467, eq. for the CMR.

    Example:
        >>> p = GU_2024_FINANCE_CMR["460M"]
        >>> round(float(cmr_law().predict(p, {"T": 100.0})), 3)  # T in 0.2B tokens
        0.298
    """
    return Law(
        name="cmr",
        inputs=("T",),
        target="ratio",
        residual="linear",
        params=(
            ParamSpec("alpha4", grid=(0.1,), prior_scale=2.0, doc="CMR-law coefficient"),
            ParamSpec(
                "s4", lower=-5.0, upper=5.0, grid=_S_GRID, prior_scale=1.0, doc="CMR-law exponent"
            ),
            ParamSpec("beta3", grid=(0.0,), prior_scale=2.0, doc="CMR-law offset"),
        ),
        fn=critical_ratio,
        linear_form=LinearForm(
            nonlinear=("s4",),
            linear=("alpha4", "beta3"),
            basis=_cmr_basis,
            nonnegative=False,
            grid=(_S_GRID,),
        ),
        reference="Gu et al. 2024, arXiv 2407.17467",
        description="R_crit(T) = alpha4*T^s4 + beta3",
        metadata={"form": "cmr"},
        derived={"tokens_for_ratio": tokens_for_ratio},
    )

# ---------------------------------------------------------------- turning points
# Gu et al. 2024 (arXiv 2407.17467): with F = L_dom + lambda * (L_gen - L_gen,baseline - eps),
#
#     dF/dT = alpha1 s1 T^(s1-1) + lambda * (alpha2 s2 T^(s2-1) + alpha3 s3 T^(s3-1)).
#
# Multiplying by T > 0 keeps the sign, and with u = log T the stationarity function is an
# exponential sum of three terms,
#
#     g(u) = c1 e^(s1 u) + c2 e^(s2 u) + c3 e^(s3 u),
#     c1 = alpha1 s1,  c2 = lambda alpha2 s2,  c3 = lambda alpha3 s3
#
# (lambda = inf drops the domain term: the turning point of dL_gen). T0 is the **last**
# crossing of g from + to -, after which dF/dT stays <= 0: T0 = 0 when g <= 0 throughout,
# T0 = inf when g is positive as T -> inf (the trajectory never turns back for good).
#
# Every sign change is bracketed, independently of the user's grid: beyond
# [u_lo, u_hi] one term outweighs twice each other term, so g has the sign of the
# smallest-exponent term below and of the largest above; and g e^(-s_min u) has a
# derivative with at most one zero u* (closed form), so g is monotone on each side of
# u*. A log-T grid on [u_lo, u_hi] that includes u* therefore brackets every root, each
# exactly once; bisection in u then runs to float64 resolution.

#: Default number of log-T grid points used to bracket sign changes (any number >= 2
#: gives the same roots because the critical point u* is always added).
TURNING_POINT_GRID = 64
_BISECT_ITERS = 200


def stationarity_coefficients(domain: dict, general: dict, lam: float) -> tuple:
    """Coefficients and exponents ``(c (..., 3), s (..., 3))`` of g(u) = sum c_k e^(s_k u).

    g(u) = T dF/dT at T = e^u for F = L_dom + lambda (L_gen - L_gen,baseline - eps):
    c = (alpha1 s1, lambda alpha2 s2, lambda alpha3 s3), s = (s1, s2, s3). Gu et al. 2024,
    arXiv 2407.17467.

    Args:
        domain: ``alpha1, s1`` (arrays broadcast together).
        general: ``alpha2, s2, alpha3, s3`` (paper keys).
        lam: Lagrange multiplier; ``inf`` drops the domain term.

    Returns:
        ``(c, s)``, each ``(..., 3)``, for :func:`turning_points`.
    """
    a1, s1 = jnp.asarray(domain["alpha1"]), jnp.asarray(domain["s1"])
    a2, s2 = jnp.asarray(general["alpha2"]), jnp.asarray(general["s2"])
    a3, s3 = jnp.asarray(general["alpha3"]), jnp.asarray(general["s3"])
    if math.isinf(lam):
        w_dom, w_gen = 0.0, 1.0
    else:
        w_dom, w_gen = 1.0, float(lam)
    c = jnp.stack(jnp.broadcast_arrays(w_dom * a1 * s1, w_gen * a2 * s2, w_gen * a3 * s3), -1)
    s = jnp.stack(jnp.broadcast_arrays(s1, s2, s3), -1).astype(c.dtype)
    return c, s


def _g_scaled(c, s, u):
    """g(u) divided by its largest term's magnitude (overflow-free), and that log-magnitude."""
    nz = c != 0
    logmag = jnp.where(nz, jnp.log(jnp.where(nz, jnp.abs(c), 1.0)) + s * u[..., None], -jnp.inf)
    m = jnp.max(logmag, axis=-1)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    val = jnp.sum(jnp.where(nz, jnp.sign(c) * jnp.exp(logmag - m_safe[..., None]), 0.0), -1)
    return val, m


def _brackets(c, s):
    """``u_lo, u_hi`` outside which g has a fixed sign, and the critical point ``u*``."""
    nz = c != 0
    big = 1e300
    s_top = jnp.where(nz, s, -jnp.inf)
    s_bot = jnp.where(nz, s, jnp.inf)
    j = jnp.argmax(s_top, axis=-1)
    i = jnp.argmin(s_bot, axis=-1)
    take = lambda a, idx: jnp.take_along_axis(a, idx[..., None], -1)[..., 0]  # noqa: E731
    cj, sj, ci, si = take(c, j), take(s, j), take(c, i), take(s, i)
    absc = jnp.where(nz, jnp.abs(c), 1.0)
    idx = jnp.arange(c.shape[-1])
    # Above u_hi the top term exceeds twice each other term; below u_lo the bottom one does.
    # Equal exponents give no separation; the floor keeps the bound finite and wide.
    d_top = jnp.maximum(sj[..., None] - s, 1e-9)
    hi_k = jnp.log(2.0 * absc / jnp.abs(jnp.where(cj == 0, 1.0, cj))[..., None]) / d_top
    hi_k = jnp.where(nz & (idx != j[..., None]), hi_k, -big)
    d_bot = jnp.maximum(s - si[..., None], 1e-9)
    lo_k = jnp.log(jnp.abs(jnp.where(ci == 0, 1.0, ci))[..., None] / (2.0 * absc)) / d_bot
    lo_k = jnp.where(nz & (idx != i[..., None]), lo_k, big)
    u_hi = jnp.max(hi_k, -1)
    u_lo = jnp.min(lo_k, -1)
    only_one = jnp.sum(nz, -1) <= 1
    u_hi = jnp.where(only_one, 0.0, u_hi)
    u_lo = jnp.where(only_one, 0.0, u_lo)
    lo = jnp.minimum(u_lo, u_hi) - 1.0
    hi = jnp.maximum(u_lo, u_hi) + 1.0
    # h(u) = g(u) e^(-s_i u) = c_i + sum_{k != i} c_k e^(d_k u); h' = sum c_k d_k e^(d_k u)
    # over the two other terms: one zero at most, where the two terms cancel.
    d = s - si[..., None]
    w = jnp.where(nz & (idx != i[..., None]), c * d, 0.0)
    # The two "other" terms, in index order.
    order = jnp.argsort(jnp.where(idx == i[..., None], 1, 0), axis=-1, stable=True)
    wa, wb = take(w, order[..., 0]), take(w, order[..., 1])
    da, db = take(d, order[..., 0]), take(d, order[..., 1])
    ratio = -wb / jnp.where(wa == 0, 1.0, wa)
    has_crit = (wa != 0) & (wb != 0) & (ratio > 0) & (jnp.abs(da - db) > 1e-12)
    u_star = jnp.log(jnp.where(has_crit, ratio, 1.0)) / jnp.where(has_crit, da - db, 1.0)
    u_star = jnp.where(has_crit, jnp.clip(u_star, lo, hi), lo)
    return lo, hi, u_star, jnp.sign(cj)


@partial(jax.jit, static_argnames=("n_grid",))
def turning_points(c: jnp.ndarray, s: jnp.ndarray, n_grid: int = TURNING_POINT_GRID) -> dict:
    """T0 (last + to - crossing of g) for a batch of stationarity functions.

    Args:
        c: Coefficients ``(..., 3)``.
        s: Exponents ``(..., 3)``.
        n_grid: Log-T grid points between the analytic bounds (results do not depend on
            it: the critical point of g is always added, see the note above).

    Returns:
        ``{"T0": (...), "kind": (...), "residual": (...)}`` with T in the units of the fit;
        ``kind`` is 0 for a root, 1 for T0 = 0 (g <= 0 throughout), 2 for T0 = inf (g > 0
        as T -> inf); ``residual`` is |g(T0)| over its largest term (0 when no root).
    """
    c = jnp.asarray(c, dtype=float)
    s = jnp.asarray(s, dtype=float)
    lo, hi, u_star, sign_top = _brackets(c, s)
    frac = jnp.linspace(0.0, 1.0, n_grid)
    grid = lo[..., None] + (hi - lo)[..., None] * frac
    grid = jnp.sort(jnp.concatenate([grid, u_star[..., None]], -1), -1)
    vals, _ = _g_scaled(c[..., None, :], s[..., None, :], grid)
    pos = vals > 0
    # + to - crossings between consecutive grid points; keep the last one.
    cross = pos[..., :-1] & ~pos[..., 1:]
    n_int = cross.shape[-1]
    last = n_int - 1 - jnp.argmax(cross[..., ::-1], axis=-1)
    any_cross = jnp.any(cross, -1)
    take = lambda a, idx: jnp.take_along_axis(a, idx[..., None], -1)[..., 0]  # noqa: E731
    a = take(grid, last)
    b = take(grid, last + 1)

    def body(_, ab):
        a, b = ab
        mid = 0.5 * (a + b)
        v, _ = _g_scaled(c, s, mid)
        go_right = v > 0
        return jnp.where(go_right, mid, a), jnp.where(go_right, b, mid)

    a, b = jax.lax.fori_loop(0, _BISECT_ITERS, body, (a, b))
    # Of the two final endpoints keep the one with the smaller |g|.
    va, _ = _g_scaled(c, s, a)
    vb, _ = _g_scaled(c, s, b)
    u0 = jnp.where(jnp.abs(va) <= jnp.abs(vb), a, b)
    # _g_scaled divides by the largest term, so this is the relative residual.
    resid = jnp.minimum(jnp.abs(va), jnp.abs(vb))
    ends_positive = sign_top > 0
    kind = jnp.where(ends_positive, 2, jnp.where(any_cross, 0, 1))
    t0 = jnp.where(kind == 0, jnp.exp(u0), jnp.where(kind == 1, 0.0, jnp.inf))
    return {"T0": t0, "kind": kind, "residual": jnp.where(kind == 0, resid, 0.0)}


def stationarity_terms(c: jnp.ndarray, s: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
    """The three terms c_k T^s_k of T * dF/dT at ``t`` (for checking a root).

    Args:
        c: Coefficients ``(..., 3)`` from :func:`stationarity_coefficients`.
        s: Exponents ``(..., 3)``.
        t: Token counts ``(...)`` (in the fit's unit), broadcast against ``c[..., 0]``.

    Returns:
        ``(..., 3)``: the terms; their sum has the sign of dF/dT.
    """
    t = jnp.asarray(t, dtype=float)
    return c * jnp.exp(s * jnp.log(t)[..., None])


def general_turning_point(params: Params) -> jnp.ndarray:
    """T0 of the general-loss change alone (lambda = inf): where dL_gen turns down for good.

    Args:
        params: The general-change law's fitted parameters (``s3_gap``), scalars or draws.

    Returns:
        T0 in the fit's token unit: 0 when dL_gen only falls, ``inf`` when it rises
        without end (see :func:`turning_points`).
    """
    natural = general_natural(params)
    domain = {"alpha1": jnp.zeros_like(jnp.asarray(natural["s2"])), "s1": natural["s2"]}
    c, s = stationarity_coefficients(domain, natural, math.inf)
    return turning_points(c, s)["T0"]
