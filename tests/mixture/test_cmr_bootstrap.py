"""Bootstrap refits of the loss-change curves: each draw gets the point fit's own search.

A draw warm-started from the point fit stays in the point fit's basin of the general-loss
law (several local optima along a flat ridge); the search refit polishes both the point
fit and the best exponent-grid start under the draw's weights and keeps the lower
objective, so it is never worse than the warm start and finds other basins when the
point fit is in a poor one. The default polishes only the one of the two with the lower
objective before polishing (same coverage on 50 simulated datasets, 1.7x faster), so it
is never worse than the point fit itself under the draw's weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.fitting.many import pad_curves
from scalinglaws.fitting.solver import objective
from scalinglaws.laws.cmr import general_change_law
from scalinglaws.mixture.batch import fit_curves
from scalinglaws.simulate.cmr import simulate_cpt_curves
from scalinglaws.uncertainty.curves import bootstrap_curves

DRAWS = 16


def _curves():
    tokens = np.linspace(0.2e9, 20e9, 40)
    runs, _ = simulate_cpt_curves(models=("460M",), tokens=tokens, noise=2e-3, seed=3)
    gen = runs[(runs["split"] == "general") & (runs["tokens"] > 0)]
    base = runs[(runs["split"] == "general") & (runs["tokens"] == 0)]["loss"].iloc[0]
    groups = [g for r, g in gen.groupby("ratio") if r in (0.5, 0.75)]
    xs = [g["tokens"].to_numpy() / 1e9 for g in groups]
    ys = [g["loss"].to_numpy() - base for g in groups]
    return pad_curves(xs, ys)


@pytest.mark.slow
def test_search_refits_are_never_worse_than_warm_starts_and_move_basins():
    law = general_change_law()
    x, y, m = _curves()
    res = fit_curves(law, x, y, m)
    kw = dict(samples=DRAWS, max_iter=40)
    th_s, _ = bootstrap_curves(
        law,
        x,
        y,
        m,
        res["theta"],
        res["delta"],
        rng=np.random.default_rng(0),
        search=True,
        polish_both=True,
        **kw,
    )
    th_1, _ = bootstrap_curves(
        law, x, y, m, res["theta"], res["delta"], rng=np.random.default_rng(0), search=True, **kw
    )
    th_w, _ = bootstrap_curves(
        law, x, y, m, res["theta"], res["delta"], rng=np.random.default_rng(0), search=False, **kw
    )
    # The same multinomial weights as bootstrap_curves draws (same seed, same order).
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        obj = jax.jit(
            jax.vmap(lambda t, xi, yi, wi, di: objective(law, t, {"T": xi}, yi, wi, di)),
        )
        for i in range(x.shape[0]):
            n = int(m[i].sum())
            w = np.zeros((DRAWS, x.shape[1]))
            w[:, :n] = rng.multinomial(n, np.full(n, 1.0 / n), size=DRAWS)
            args = (
                jnp.broadcast_to(jnp.asarray(x[i]), w.shape),
                jnp.broadcast_to(jnp.asarray(y[i]), w.shape),
                jnp.asarray(w),
                jnp.full(DRAWS, res["delta"][i]),
            )
            fs = np.asarray(obj(jnp.asarray(th_s[i]), *args))
            fw = np.asarray(obj(jnp.asarray(th_w[i]), *args))
            f1 = np.asarray(obj(jnp.asarray(th_1[i]), *args))
            f0 = np.asarray(
                obj(jnp.broadcast_to(jnp.asarray(res["theta"][i]), th_1[i].shape), *args)
            )
            # Both candidates of the search include the warm start itself: never worse
            # (relative 1e-9 for rounding in the compiled comparison).
            assert np.all(fs <= fw * (1 + 1e-9) + 1e-300)
            # One polished start: never worse than the point fit it could have started from.
            assert np.all(f1 <= f0 * (1 + 1e-9) + 1e-300)
    # And the search does change some draws (otherwise it would be a no-op).
    assert np.max(np.abs(th_s - th_w)) > 1e-3
    assert np.max(np.abs(th_1 - th_w)) > 1e-3
