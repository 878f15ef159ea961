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

Every law is linear in its coefficients given the exponents and declares a
:class:`~scalinglaws.laws.base.LinearForm` (signs unconstrained), so
``scalinglaws.fit(law, runs, search="varpro")`` searches the exponents on a grid, solves
the coefficients in closed form and polishes all parameters. The signs of the
coefficients and exponents are left free: the paper's CMR-law coefficients change sign
between model sizes.
"""

from __future__ import annotations

import math

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
    )
