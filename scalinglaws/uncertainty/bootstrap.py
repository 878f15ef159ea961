"""Bootstrap by run: resample runs, refit warm-started, all refits in one compiled call.

Efron's nonparametric bootstrap (Efron 1979, doi:10.1214/aos/1176344552) applied to whole
runs: a resample is a vector of multinomial counts over the runs, used as per-row weights
of the fit objective. When the fitted table holds several rows per run (checkpoints), the
counts are drawn over runs and every row of a run gets its run's count (cluster
bootstrap), so correlated checkpoints are never split.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError, ScalingLawsWarning
from scalinglaws.exported import cached_jit
from scalinglaws.fitting.padding import bucket_rows, pad_rows
from scalinglaws.fitting.result import FitResult, Uncertainty
from scalinglaws.fitting.solver import CONVERGED, MAX_ITER, NONFINITE, polish_batch
from scalinglaws.laws.base import Law
from scalinglaws.uncertainty._data import check_count, fit_data, natural_draws, point_internal
from scalinglaws.uncertainty.sharding import batch_mesh, replicate, shard_rows

#: Largest fraction of refits allowed to fail (or stop at the iteration limit) before the
#: bootstrap is labelled not converged.
MAX_FAILED_FRACTION = 0.02
#: Bootstrap refits run together while their working memory (:func:`refit_bytes`) stays
#: under this; beyond it they run in chunks of resamples, so 1,000 refits of a 1e5-row log
#: need about 1 GB instead of about 50 GB. Below it, nothing changes.
REFIT_CHUNK_BYTES = 2**30
#: A refit stopped by the iteration limit is run again from where it stopped, with this
#: many times the iterations.
RETRY_FACTOR = 4


@cached_jit(static_argnames=("n", "n_clusters"))
def _resample_counts(seed, n: int, n_clusters: int):
    """(n, n_clusters) multinomial counts: each resample draws n_clusters runs uniformly
    (``PRNGKey(seed)`` made inside the compiled call: no separate seeding programs)."""
    key = jax.random.PRNGKey(seed)
    picks = jax.random.randint(key, (n, n_clusters), 0, n_clusters)
    return jax.vmap(lambda row: jnp.bincount(row, length=n_clusters))(picks)


def resample_weights(
    clusters: np.ndarray, n_clusters: int, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial resample counts per run and as per-row weights (host copies).

    Each resample draws ``n_clusters`` runs uniformly with replacement; a row of the data
    gets the count of its run. Drawn with JAX's counter-based threefry generator from
    ``PRNGKey(seed)``, unsharded, so the same seed gives the same resamples whatever the
    number of devices.

    Returns:
        ``(counts (n, n_clusters), weights (n, n_rows))``.
    """
    with jax.enable_x64(True):
        counts = _resample_counts(np.int64(seed), n, n_clusters)
        weights = counts[:, jnp.asarray(clusters)].astype(jnp.float64)
        return np.asarray(counts), np.asarray(weights)


@cached_jit(static_argnames=("extra",))
def _chunk_weights(counts, picks, rows, extra: int):
    """Per-row weights ``(len(picks), rows + extra)`` of the resamples ``picks``: each
    row gets its run's count; ``extra`` padding rows get 0."""
    weights = counts[picks][:, rows].astype(jnp.float64)
    return jnp.pad(weights, ((0, 0), (0, extra))) if extra else weights


@cached_jit(static_argnames=("law",))
def _residual_scales(law: Law, thetas, inputs, target, weights):
    """sqrt(sum w r^2 / (sum w - P)) per refit: each resample's own residual scale."""
    n_params = thetas.shape[-1]

    def one(theta, w):
        r = law.residuals(theta, inputs, target)
        return jnp.sqrt(jnp.sum(w * r * r) / jnp.maximum(jnp.sum(w) - n_params, 1.0))

    return jax.vmap(one)(thetas, weights)


def refit_bytes(n_params: int, n_rows: int) -> int:
    """Working memory of one bootstrap refit over ``n_rows`` rows, in bytes (an estimate).

    Measured on the Chinchilla law (5 parameters, 1e4-4e4 rows, 200-800 refits) at 410-590
    bytes per refit and row, consistent with ``8 * ((P + 3)^2 + 10)`` (74 float64 values
    per row for P = 5: the damped-Newton step's per-row Jacobian products); this adds a
    margin of 6 values.
    """
    return 8 * ((int(n_params) + 3) ** 2 + 16) * int(n_rows)


def _refit_resamples(result: FitResult, data, clusters, n_clusters, n, seed, delta, iters):
    """The refits, sharded over devices and, when all of them at once would need more
    than :data:`REFIT_CHUNK_BYTES`, run in equal chunks of resamples (the last padded):
    ``(theta, sigma, keep, diagnostics, devices)``."""
    law = result.law
    n_params = len(law.params)
    theta0 = np.broadcast_to(point_internal(result), (n, n_params))
    per_refit = refit_bytes(n_params, data.n)
    chunk = n if per_refit * n <= REFIT_CHUNK_BYTES else max(1, REFIT_CHUNK_BYTES // per_refit)
    if per_refit > REFIT_CHUNK_BYTES:  # even one refit at a time is over the budget
        warnings.warn(
            f"one bootstrap refit of {data.n} rows needs about {per_refit / 2**30:.1f} GiB, "
            f"over the {REFIT_CHUNK_BYTES / 2**30:.1f} GiB budget "
            "(uncertainty.bootstrap.REFIT_CHUNK_BYTES): the refits run one at a time and may "
            "exhaust memory; uncertainty 'laplace' needs no refits",
            ScalingLawsWarning,
            stacklevel=3,
        )
    with jax.enable_x64(True):
        # Resample counts are drawn on the device (no host round trip of an n x runs
        # table), unsharded so the draws do not depend on the device count or the chunks.
        counts = np.asarray(_resample_counts(np.int64(seed), n, n_clusters))
        # A resample that drew no more distinct runs than there are parameters cannot
        # identify them: its refit is counted as failed.
        degenerate = np.count_nonzero(counts, axis=1) <= n_params
        rows = np.asarray(clusters)
        mesh = batch_mesh()
        # Rows padded to a bucket (weight zero), as the point fit: nearby log sizes share
        # the compiled refits (scalinglaws.fitting.padding).
        padded, target_p, _ = pad_rows(
            data.inputs, data.target, np.ones(data.n), bucket_rows(data.n)
        )
        extra = len(target_p) - data.n
        inputs, target = replicate((padded, target_p), mesh)

        def refit(draws: np.ndarray, start: np.ndarray, max_iter: int) -> list[np.ndarray]:
            """Polish resamples ``draws`` from ``start`` (m, P), ``size`` at a time: the
            chunk, or for fewer draws the next power of two (few compiled shapes)."""
            parts = []
            m = len(draws)
            size = min(chunk, 1 << max(m - 1, 0).bit_length()) if m < n else chunk
            for lo in range(0, m, size):
                pos = np.arange(lo, lo + size)
                pos = np.where(pos < m, pos, lo)  # the last chunk padded with its first
                weights = _chunk_weights(counts, draws[pos], rows, extra)
                (theta0_s, weights_s), _ = shard_rows(start[pos], weights, mesh=mesh)
                out = polish_batch(
                    law, theta0_s, inputs, target, weights_s, delta, max_iter=max_iter
                )
                sig = _residual_scales(law, out[0], inputs, target, weights_s)
                take = min(size, m - lo)
                parts.append([np.asarray(x)[:take] for x in (*out, sig)])
                del weights, weights_s, out, sig
            return [np.concatenate(c) for c in zip(*parts, strict=True)]

        theta, fval, status, it, sigma = refit(np.arange(n), np.asarray(theta0), iters)
        # A refit stopped by the iteration limit (a flat ridge, a law that misfits) gets a
        # second, longer run from where it stopped; the better objective is kept.
        stalled = np.flatnonzero((status == MAX_ITER) & np.isfinite(fval) & ~degenerate)
        rescued = 0
        if stalled.size:
            t2, f2, s2, i2, g2 = refit(stalled, theta[stalled], RETRY_FACTOR * iters)
            better = np.isfinite(f2) & (f2 <= fval[stalled])
            sel = stalled[better]
            theta[sel], fval[sel], status[sel], sigma[sel] = (
                t2[better],
                f2[better],
                s2[better],
                g2[better],
            )
            it[sel] = it[sel] + i2[better]
            rescued = int(np.sum(s2[better] == CONVERGED))
    finite = np.isfinite(fval) & np.all(np.isfinite(theta), axis=1)
    failed = ~finite | degenerate | (status == NONFINITE)
    keep = ~failed
    diagnostics = {
        "status_counts": {
            "converged": int(np.sum(keep & (status == CONVERGED))),
            "max_iter": int(np.sum(keep & (status == MAX_ITER))),
            "failed": int(np.sum(failed)),
            "degenerate": int(np.sum(degenerate)),
        },
        "n_resamples": n,
        "n_draws": int(np.sum(keep)),
        "retried": int(stalled.size),
        "rescued": rescued,
        "iterations_median": float(np.median(it)) if n else 0.0,
        "iterations_max": int(np.max(it)) if n else 0,
    }
    return theta, sigma, keep, diagnostics, int(mesh.devices.size)


def bootstrap(
    result: FitResult,
    n: int = 1000,
    seed: int = 0,
    *,
    by: str = "run",
    max_iter: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Bootstrap parameter uncertainty of a fit by resampling runs.

    Every resample b draws counts c_b ~ Multinomial(R, 1/R) over the R runs and refits
    theta_b = argmin_theta sum_i c_b[run(i)] * Huber_delta(r_i(theta)), the fit's own
    objective (Hoffmann et al. 2022, arXiv 2203.15556, Approach 3), warm-started from the
    point fit. All refits are one call of the compiled, vmapped damped-Newton polish
    (:func:`scalinglaws.fitting.polish_batch`), with the resample axis sharded over every
    visible device (:mod:`scalinglaws.uncertainty.sharding`).

    Failed refits (non-finite objective, or fewer distinct runs drawn than parameters)
    are dropped from the draws and counted in ``diagnostics``. A refit stopped by the
    iteration limit is run again from where it stopped with :data:`RETRY_FACTOR` times the
    iterations (``diagnostics["retried"]``, ``["rescued"]``: those that then converged);
    one still stopped is kept and counted. The result is labelled not converged when more
    than 2% of refits failed or stopped early.

    The predictive noise scale of draw b is that refit's own residual scale
    sigma_b = sqrt(sum_i w_bi r_bi^2 / (sum_i w_bi - P)) (Gaussian), kept in
    ``uncertainty.extra["noise_scale"]``.

    Args:
        result: A point fit from :func:`scalinglaws.fit` (it must carry its data).
        n: Number of resamples.
        seed: Seed of the resampling; the same seed gives the same draws.
        by: ``"run"`` resamples whole runs (clusters of rows sharing a ``run`` id; each
            row is its own run when there is no such column); ``"row"`` resamples rows.
        max_iter: Newton iterations per refit (default: the point fit's).
        progress: Optional callable receiving one-line progress messages.

    Returns:
        ``result`` with ``uncertainty`` set (method ``"bootstrap"``).

    Raises:
        ScalingLawsError: Bad options, the result carries no data, or there are no more
            runs (clusters) than parameters, so no resample could identify them.
    """
    n = check_count(n, "number of bootstrap resamples")
    if by not in ("run", "row"):
        raise ScalingLawsError(f"by must be 'run' or 'row', not {by!r}")
    law = result.law
    data = fit_data(result, "bootstrap")
    if by == "row":
        clusters, n_clusters = np.arange(data.n), data.n
    else:
        clusters, n_clusters = data.clusters, data.n_clusters
    if n_clusters <= len(law.params):
        # Every resample would draw at most n_clusters distinct runs: none could identify
        # the parameters, so every refit would be dropped. Say so instead.
        raise ScalingLawsError(
            f"bootstrap by run needs more runs than the {len(law.params)} parameters of "
            f"law {law.name!r}; these {data.n} rows come from {n_clusters} runs. "
            "Uncertainty 'laplace' or 'bayes' (or by='row') still gives intervals, but they "
            "treat a run's checkpoints as independent and are likely too narrow"
        )
    delta = float(result.options.get("delta", 1e-3))
    iters = check_count(
        int(max_iter if max_iter is not None else result.options.get("max_iter", 200)),
        "max_iter",
    )
    if progress is not None:
        progress(f"bootstrap: {n} refits of {law.name} on {data.n} rows ({n_clusters} runs)")
    t0 = time.perf_counter()
    refits = _refit_resamples(result, data, clusters, n_clusters, n, seed, delta, iters)
    theta, sigma, keep, diagnostics, devices = refits
    wall = time.perf_counter() - t0
    counts = diagnostics["status_counts"]
    n_failed, n_maxit, n_conv = counts["failed"], counts["max_iter"], counts["converged"]
    bad_fraction = (n_failed + n_maxit) / n
    converged = bool(bad_fraction <= MAX_FAILED_FRACTION and keep.any())
    if not converged:
        warnings.warn(
            f"bootstrap NOT CONVERGED: {n_failed} of {n} refits failed and {n_maxit} hit "
            f"the iteration limit (more than {MAX_FAILED_FRACTION:.0%}); intervals from it "
            "are unreliable",
            ScalingLawsWarning,
            stacklevel=2,
        )
    if progress is not None:
        progress(
            f"bootstrap: done in {wall:.2f} s; {n_conv} converged, {n_maxit} at the "
            f"iteration limit, {n_failed} failed"
        )
    unc = Uncertainty(
        method="bootstrap",
        draws=natural_draws(result, theta[keep]),
        diagnostics=diagnostics,
        converged=converged,
        extra={
            "seed": int(seed),
            "by": by,
            "n_resamples": n,
            "n_rows": data.n,
            "n_clusters": int(n_clusters),
            "devices": devices,
            "wall_s": wall,
            "noise": "gaussian, each refit's own residual scale",
            "noise_scale": sigma[keep],
            "noise_dof": float("inf"),
        },
    )
    return dataclasses.replace(result, uncertainty=unc)
