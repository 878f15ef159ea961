"""The many-weights exponent-grid search equals the one-at-a-time search it replaces.

:func:`varpro_search_many` builds every weighted least-squares problem of K weight
vectors x G grid points from two matrix products; with ``top_m >= G`` it must pick the
same grid point, with the same linear coefficients, as :func:`varpro_search` run once per
weight vector followed by an argmin of the objective.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.fitting import varpro_search, varpro_search_many
from scalinglaws.laws.base import grid_product
from scalinglaws.laws.chinchilla import chinchilla
from scalinglaws.laws.cmr import domain_change_law, general_change_law


def _curve(seed: int):
    rng = np.random.default_rng(seed)
    t = np.geomspace(1.0, 100.0, 60)
    y = 0.02 * t**0.4 - 0.05 * t**0.9 + 0.01 + rng.normal(0, 1e-3, t.size)
    w = rng.multinomial(t.size, np.full(t.size, 1.0 / t.size), size=12).astype(float)
    return t, y, w


@pytest.mark.parametrize("make_law", [general_change_law, domain_change_law])
def test_many_weights_search_matches_one_at_a_time(make_law):
    law = make_law()
    t, y, w = _curve(1)
    delta = 2e-3
    with jax.enable_x64(True):
        grid = jnp.asarray(np.asarray(grid_product(law.linear_form.grid)))
        th_m, f_m = varpro_search_many(
            law,
            grid,
            {"T": jnp.asarray(t)},
            jnp.asarray(y),
            jnp.asarray(w),
            delta,
            top_m=grid.shape[0],
        )
        for k in range(w.shape[0]):
            th, f = varpro_search(
                law, grid, {"T": jnp.asarray(t)}, jnp.asarray(y), jnp.asarray(w[k]), delta
            )
            b = int(jnp.argmin(f))
            # The same grid point (exponents exactly) and the same objective; coefficients
            # agree to 1e-6 relative: the two scale the normal equations' columns slightly
            # differently (by the draw's weights vs by the runs present), so the solves
            # round differently at ~1e-10 of a Gram matrix with condition number <~ 1e4.
            nl = [law.param_names.index(n) for n in law.linear_form.nonlinear]
            np.testing.assert_array_equal(np.asarray(th_m[k])[nl], np.asarray(th[b])[nl])
            np.testing.assert_allclose(float(f_m[k]), float(f[b]), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(th_m[k]), np.asarray(th[b]), rtol=1e-6, atol=1e-9)


def test_many_weights_search_refuses_nonnegative_laws():
    law = chinchilla()
    with jax.enable_x64(True), pytest.raises(ValueError, match="unconstrained"):
        grid = jnp.asarray(np.asarray(grid_product(law.linear_form.grid)))
        varpro_search_many(
            law, grid, {"N": jnp.ones(3), "D": jnp.ones(3)}, jnp.ones(3), jnp.ones((2, 3)), 1e-3
        )
