"""The experiment-design engine: value of candidate observations for a plan quantity.

Law-agnostic. It sees a posterior only as an ensemble of S weighted parameter draws, and
two arrays computed from them:

* ``quantity`` (S,): the plan quantity q per draw (e.g. log N_opt at a target compute);
* ``predictions`` (S, M, O): the predicted observation of each of M candidate runs per
  draw, on the scale where the noise is additive (log loss for laws fitted on log loss);
  O outputs per candidate (1 for a single loss; several validation losses per proxy run).

The observation model is y = prediction + noise, noise ~ Normal(0, sigma^2) independent
across outputs and runs. The value of a candidate x is the expected reduction of the
posterior variance of q after observing y at x, Var(q) - E_y[Var(q | y)], per FLOP of x.
Two ways to compute E_y[Var(q | y)] without refitting:

* ``"linear"`` — the linear-Gaussian (ensemble Kalman) update: treating q and the
  predictions as jointly Gaussian with the ensemble's weighted covariance,
  Var(q | y) = Var(q) - c^T (S_yy + sigma^2 I)^-1 c with c = Cov(predictions, q). It does
  not depend on the value of y, so no fantasies are needed; a batch is conditioned on
  its earlier picks by the serial square-root update of the ensemble anomalies
  (Whitaker & Hamill 2002, doi:10.1175/1520-0493(2002)130<1913:EDAWPO>2.0.CO;2), which
  leaves the covariance of every other candidate exactly as the Gaussian update would.
* ``"importance"`` — importance re-weighting: for J fantasised observations y_j (drawn
  from the ensemble's own predictive, the same random numbers for every candidate), the
  draws are re-weighted by the likelihood N(y_j; prediction_s, sigma^2) and the
  weighted variance of q is averaged over j. No Gaussian assumption on q; its accuracy
  falls with the effective sample size of the weights, which is reported. A batch is
  conditioned on its earlier picks by re-weighting with one fantasised outcome each.

Both score all candidates against all draws in one compiled call. Batches are chosen
greedily under a FLOP budget and a count limit, by value per share of the remaining
resources a run uses (its FLOPs, or one of the remaining run slots, whichever is the
larger share). Optionally the plain greedy (value) is also run and the batch leaving the
smaller expected variance kept, which bounds the loss of ratio-greedy on budgeted problems
(Krause & Guestrin 2005, "A note on the budgeted maximization of submodular functions").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError

METHODS = ("linear", "importance")
SELECTIONS = ("auto", "per_flop", "absolute")
#: Default number of fantasised observations per candidate for the importance method.
DEFAULT_FANTASIES = 32
#: Candidates the importance method re-weights per greedy step (screened by the linear
#: score); re-weighting all of them costs J x S per candidate.
DEFAULT_SCREEN = 128
#: Variance reductions below this fraction of the current variance count as none.
MIN_RELATIVE_GAIN = 1e-9


@dataclass(frozen=True)
class Ensemble:
    """A posterior as the engine sees it: weighted draws of q and of the predictions.

    Attributes:
        quantity: ``(S,)`` plan quantity per draw.
        predictions: ``(S, M, O)`` predicted observation of each candidate per draw.
        noise: Observation noise standard deviation on the predictions' scale.
        weights: ``(S,)`` non-negative draw weights (uniform when empty).
    """

    quantity: np.ndarray
    predictions: np.ndarray
    noise: float
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_candidates(self) -> int:
        return int(self.predictions.shape[1])


@dataclass(frozen=True)
class Selection:
    """A greedy batch: the picks in order and what was expected after each.

    Attributes:
        picks: Candidate indices in the order chosen.
        gain: Expected variance reduction of q when each was added (given the earlier ones).
        variance_after: Expected posterior variance of q after adding the picks so far.
        width_after: Expected central interval width of q after adding the picks so far.
        cost_so_far: Cumulative FLOPs of the picks so far.
        variance_now: Variance of q before any pick.
        width_now: Interval width of q before any pick (weighted draws).
        rule: ``"per_flop"`` or ``"absolute"``: the greedy rule whose batch was kept.
        ess: Effective sample size of the draw weights after each pick (importance
            method; equal to the number of usable draws for the linear method).
        stopped: Why the batch ended (``"k"``, ``"budget"``, ``"no gain"``).
    """

    picks: np.ndarray
    gain: np.ndarray
    variance_after: np.ndarray
    width_after: np.ndarray
    cost_so_far: np.ndarray
    variance_now: float
    width_now: float
    rule: str
    ess: np.ndarray
    stopped: str


def _normalise(ens: Ensemble) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Drop draws with non-finite q or predictions; (q, predictions, weights, n_dropped)."""
    q = np.asarray(ens.quantity, dtype=float).reshape(-1)
    pred = np.asarray(ens.predictions, dtype=float)
    if pred.ndim == 2:
        pred = pred[:, :, None]
    if pred.ndim != 3 or pred.shape[0] != q.shape[0]:
        raise ScalingLawsError(
            f"predictions must be (draws, candidates[, outputs]) with {q.shape[0]} draws, "
            f"got shape {np.shape(ens.predictions)}"
        )
    w = np.ones_like(q) if np.size(ens.weights) == 0 else np.asarray(ens.weights, dtype=float)
    if w.shape != q.shape or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ScalingLawsError("weights must be one finite, non-negative number per draw")
    ok = np.isfinite(q) & np.all(np.isfinite(pred), axis=(1, 2)) & (w > 0)
    if int(ok.sum()) < 2:
        raise ScalingLawsError(
            "fewer than two parameter draws give a finite plan quantity and finite "
            "predictions at every candidate; the design has nothing to work from"
        )
    if not (np.isfinite(ens.noise) and ens.noise > 0):
        raise ScalingLawsError(f"the observation noise must be a positive number, not {ens.noise}")
    w = w[ok] / w[ok].sum()
    return q[ok], pred[ok], w, int((~ok).sum())


def weighted_width(q: np.ndarray, w: np.ndarray, level: float) -> float:
    """Central ``level`` interval width of weighted draws (inverse of the weighted CDF)."""
    order = np.argsort(q)
    cdf = np.cumsum(w[order]) / np.sum(w)
    tail = 0.5 * (1.0 - level)
    lo = q[order][min(int(np.searchsorted(cdf, tail)), q.size - 1)]
    hi = q[order][min(int(np.searchsorted(cdf, 1.0 - tail)), q.size - 1)]
    return float(hi - lo)


# ------------------------------------------------------------------ linear-Gaussian update
def _anomalies(q, pred, w):
    sw = jnp.sqrt(w)
    qa = sw * (q - jnp.sum(w * q))
    pa = sw[:, None, None] * (pred - jnp.einsum("s,smo->mo", w, pred)[None])
    return qa, pa


@jax.jit
def _linear_scores(qa, pa, noise2):
    """Var(q | y_m) for every candidate m: one (O x O) solve per candidate, vmapped."""
    var_q = jnp.sum(qa * qa)
    c = jnp.einsum("s,smo->mo", qa, pa)
    cov = jnp.einsum("smo,smp->mop", pa, pa) + noise2 * jnp.eye(pa.shape[2])[None]
    reduction = jnp.einsum("mo,mo->m", c, jnp.linalg.solve(cov, c[..., None])[..., 0])
    return var_q - reduction


@jax.jit
def _linear_update(qa, pa, m, noise2):
    """Serial square-root update of the anomalies for the O observations of candidate m."""

    def one(carry, o):
        qa, pa = carry
        v = pa[:, m, o]
        s = jnp.sum(v * v)
        # gamma solves 2g - g^2 s = 1/(s + sigma^2), so (I - g v v^T) X has the Kalman
        # posterior covariance X^T X - X^T v v^T X / (s + sigma^2).
        gamma = jnp.where(
            s > 0, (1.0 - jnp.sqrt(noise2 / (s + noise2))) / jnp.maximum(s, 1e-300), 0
        )
        qa = qa - gamma * v * jnp.sum(v * qa)
        pa = pa - gamma * v[:, None, None] * jnp.einsum("s,smo->mo", v, pa)[None]
        return (qa, pa), None

    (qa, pa), _ = jax.lax.scan(one, (qa, pa), jnp.arange(pa.shape[2]))
    return qa, pa


# ------------------------------------------------------------------ importance re-weighting
def _fantasy_weights(pred_m, logw, fantasy_idx, eps, noise):
    """(J, S) normalised weights of the draws after each fantasised observation at m."""
    y = pred_m[fantasy_idx] + noise * eps  # (J, O)
    resid = y[:, None, :] - pred_m[None, :, :]  # (J, S, O)
    lw = logw[None, :] - 0.5 * jnp.sum(resid * resid, axis=-1) / noise**2
    w = jnp.exp(lw - jnp.max(lw, axis=1, keepdims=True))
    return w / jnp.sum(w, axis=1, keepdims=True)


@partial(jax.jit, static_argnames=("chunk", "with_width"))
def _importance_scores(q, pred, logw, fantasy_idx, eps, noise, tail, chunk: int, with_width: bool):
    """E_j[Var_w'(q)], E_j[width] and E_j[ESS] per candidate, w' re-weighted by fantasy j.

    Candidates are processed in chunks (``lax.map``) so memory stays (chunk, J, S). The
    width (a sort-order gather and a cumulative sum per fantasy) doubles the cost, so the
    greedy loop ranks on the variance and asks the width of its pick alone.
    """
    order = jnp.argsort(q)
    q_sorted = q[order]
    last = q_sorted.shape[0] - 1

    def per_candidate(pred_m):  # pred_m: (S, O)
        w = _fantasy_weights(pred_m, logw, fantasy_idx, eps, noise)
        mean = w @ q
        var = jnp.sum(w * (q[None, :] - mean[:, None]) ** 2, axis=1)
        ess = 1.0 / jnp.sum(w * w, axis=1)
        if not with_width:
            return jnp.mean(var), jnp.zeros(()), jnp.mean(ess)
        cdf = jnp.cumsum(w[:, order], axis=1)
        lo = jnp.minimum(jnp.sum(cdf < tail, axis=1), last)
        hi = jnp.minimum(jnp.sum(cdf < 1.0 - tail, axis=1), last)
        width = q_sorted[hi] - q_sorted[lo]
        return jnp.mean(var), jnp.mean(width), jnp.mean(ess)

    return jax.lax.map(per_candidate, jnp.moveaxis(pred, 1, 0), batch_size=chunk)


def _fantasy_draws(rng: np.random.Generator, w: np.ndarray, n: int, outputs: int):
    """Systematic resample of draw indices by weight, and standard normal noise."""
    u = (rng.random() + np.arange(n)) / n
    idx = np.minimum(np.searchsorted(np.cumsum(w), u), w.size - 1)
    return idx, rng.standard_normal((n, outputs))


# ------------------------------------------------------------------ public engine calls
def score(
    ensemble: Ensemble,
    *,
    method: str = "linear",
    n_fantasies: int = DEFAULT_FANTASIES,
    seed: int = 0,
    level: float = 0.9,
) -> dict[str, np.ndarray | float]:
    """Expected posterior variance (and interval width) of q after each single candidate.

    Args:
        ensemble: Draws of q and of the candidates' predictions.
        method: ``"linear"`` or ``"importance"`` (module docstring).
        n_fantasies: Fantasised observations per candidate (importance).
        seed: Seed of the fantasies (importance).
        level: Central interval level of the reported widths.

    Returns:
        ``{"variance_now", "width_now", "variance_after" (M,), "width_after" (M,),
        "ess_after" (M,)}``.

    Raises:
        ScalingLawsError: Bad shapes, weights, noise or method.
    """
    _check_method(method, level)
    q, pred, w, _ = _normalise(ensemble)
    var_now = float(np.sum(w * (q - np.sum(w * q)) ** 2))
    width_now = weighted_width(q, w, level)
    with jax.enable_x64(True):
        if method == "linear":
            qa, pa = _anomalies(jnp.asarray(q), jnp.asarray(pred), jnp.asarray(w))
            var_after = np.maximum(
                np.asarray(_linear_scores(qa, pa, float(ensemble.noise) ** 2)), 0.0
            )
            width_after = width_now * np.sqrt(var_after / max(var_now, 1e-300))
            ess = np.full(var_after.shape, 1.0 / float(np.sum(w * w)))
        else:
            rng = np.random.default_rng(seed)
            idx, eps = _fantasy_draws(rng, w, n_fantasies, pred.shape[2])
            var_after, width_after, ess = (
                np.asarray(x)
                for x in _importance_scores(
                    jnp.asarray(q),
                    jnp.asarray(pred),
                    jnp.log(jnp.asarray(w)),
                    jnp.asarray(idx),
                    jnp.asarray(eps),
                    float(ensemble.noise),
                    0.5 * (1.0 - level),
                    chunk=_chunk(pred.shape[0], n_fantasies),
                    with_width=True,
                )
            )
    return {
        "variance_now": var_now,
        "width_now": width_now,
        "variance_after": var_after,
        "width_after": width_after,
        "ess_after": ess,
    }


def _charge(cost: np.ndarray, budget_left: float, picks_left: int) -> np.ndarray:
    """The share of the remaining resources a candidate uses: FLOPs or a run slot.

    max(cost / budget left, 1 / picks left): with slots to spare this is the cost in
    FLOPs (scaled), so the rule is value per FLOP; when the count limit binds, a cheap run
    still uses up one of the few slots, so the rule does not fill the slots with cheap,
    weak runs and leave the budget unspent.
    """
    return np.maximum(cost / max(budget_left, 1e-300), 1.0 / max(picks_left, 1))


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))


def _chunk(n_draws: int, n_fantasies: int) -> int:
    # Keep a chunk's (chunk, J, S) weights near 4 M numbers (32 MB in float64).
    return int(max(1, min(256, 4_000_000 // max(1, n_draws * n_fantasies))))


def _check_method(method: str, level: float) -> None:
    if method not in METHODS:
        raise ScalingLawsError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not (0.0 < level < 1.0):
        raise ScalingLawsError(f"level must lie strictly between 0 and 1, not {level!r}")


def select_batch(
    ensemble: Ensemble,
    cost: Any,
    *,
    budget: float,
    k: int,
    method: str = "linear",
    selection: str = "per_flop",
    n_fantasies: int = DEFAULT_FANTASIES,
    seed: int = 0,
    level: float = 0.9,
    screen: int = DEFAULT_SCREEN,
    slots: int | None = None,
    groups: Any = None,
    per_group: int | None = None,
) -> Selection:
    """Greedy batch of at most ``k`` candidates with total cost at most ``budget``.

    Each step scores every remaining candidate given the picks so far (conditioned as the
    method describes) and takes the best by the rule: ``"per_flop"`` (variance reduction
    per share of the remaining resources used, max(cost / budget left, 1 / picks left):
    per FLOP while run slots are plentiful, and no filling of scarce slots with cheap,
    weak runs), ``"absolute"`` (variance reduction), or ``"auto"`` (both batches built,
    the one with the smaller expected final variance kept, as Krause & Guestrin do for
    budgeted submodular problems; ties go to per-FLOP). ``"auto"`` trusts the expected
    variances, so it is optimistic about large runs when the law is misspecified. A
    candidate is picked at most once; the batch ends at ``k`` picks, when nothing left
    fits the budget, or when no candidate reduces the variance.

    Args:
        ensemble: Draws of q and of the candidates' predictions.
        cost: ``(M,)`` FLOPs of each candidate.
        budget: Total FLOPs the batch may spend.
        k: Largest number of picks.
        method: ``"linear"`` or ``"importance"``.
        selection: ``"auto"``, ``"per_flop"`` or ``"absolute"``.
        n_fantasies: Fantasised observations per candidate (importance).
        seed: Seed of the fantasies (importance); the same seed gives the same batch.
        level: Central interval level of the reported widths.
        screen: Importance method: candidates re-weighted per step, the best by the
            linear score under the current weights (the rest keep no value).
        slots: Runs the study may still add in all (default ``k``); the per-FLOP rule
            charges a run one of the slots left when that is the larger share. Give more
            than ``k`` when this batch is one round of a longer study.
        groups: Optional integer label per candidate (e.g. its isoFLOP budget); with
            ``per_group``, at most that many picks share a label (a candidate whose
            group is full is closed). Default: no groups.
        per_group: Largest number of picks per group (needs ``groups``).

    Returns:
        A :class:`Selection`.

    Raises:
        ScalingLawsError: Bad options, or a budget below the cheapest candidate.
    """
    _check_method(method, level)
    if selection not in SELECTIONS:
        raise ScalingLawsError(
            f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ScalingLawsError(f"the number of runs must be a positive integer, not {k!r}")
    c = np.asarray(cost, dtype=float).reshape(-1)
    if c.shape[0] != ensemble.n_candidates or np.any(~np.isfinite(c)) or np.any(c <= 0):
        raise ScalingLawsError("every candidate needs a positive, finite cost in FLOPs")
    if not (np.isfinite(budget) and budget >= c.min()):
        raise ScalingLawsError(
            f"the study budget {budget:.3g} FLOPs is smaller than the cheapest candidate "
            f"({c.min():.3g} FLOPs)"
        )
    n_slots = int(k) if slots is None else int(slots)
    if n_slots < int(k):
        raise ScalingLawsError(f"slots ({slots}) must be at least the number of runs k ({k})")
    if groups is None:
        if per_group is not None:
            raise ScalingLawsError("per_group needs groups (a label per candidate)")
        labels, quota = np.zeros(c.shape[0], dtype=int), int(k)
    else:
        labels = np.asarray(groups).reshape(-1)
        if labels.shape[0] != c.shape[0]:
            raise ScalingLawsError("groups needs one label per candidate")
        _, labels = np.unique(labels, return_inverse=True)
        if per_group is None or isinstance(per_group, bool) or int(per_group) < 1:
            raise ScalingLawsError(f"per_group must be a positive integer, not {per_group!r}")
        quota = int(per_group)
    rules = ("per_flop", "absolute") if selection == "auto" else (selection,)
    batches = [
        _greedy(
            ensemble,
            c,
            budget,
            int(k),
            method,
            rule,
            n_fantasies,
            seed,
            level,
            screen,
            n_slots,
            labels,
            quota,
        )
        for rule in rules
    ]
    best = batches[0]
    for other in batches[1:]:
        if other.picks.size and (
            not best.picks.size or other.variance_after[-1] < best.variance_after[-1] * (1 - 1e-9)
        ):
            best = other
    return best


def _greedy(
    ens, cost, budget, k, method, rule, n_fantasies, seed, level, screen, slots, labels, quota
) -> Selection:
    q, pred, w, _ = _normalise(ens)
    noise2 = float(ens.noise) ** 2
    var_now = float(np.sum(w * (q - np.sum(w * q)) ** 2))
    width_now = weighted_width(q, w, level)
    rng = np.random.default_rng(seed)
    picked = np.zeros(cost.shape[0], dtype=bool)
    in_group = np.zeros(int(labels.max()) + 1, dtype=int)
    picks: list[int] = []
    gains: list[float] = []
    var_hist: list[float] = []
    width_hist: list[float] = []
    spent: list[float] = []
    ess_hist: list[float] = []
    total = 0.0
    var_cur, width_cur = var_now, width_now
    stopped = "k"
    with jax.enable_x64(True):
        if method == "linear":
            qa, pa = _anomalies(jnp.asarray(q), jnp.asarray(pred), jnp.asarray(w))
        logw = np.log(w)
        for _ in range(k):
            if method == "linear":
                var_after = np.maximum(np.asarray(_linear_scores(qa, pa, noise2)), 0.0)
                width_after = width_now * np.sqrt(var_after / max(var_now, 1e-300))
            else:
                logw = logw - _logsumexp(logw)
                wc = np.exp(logw)
                idx, eps = _fantasy_draws(rng, wc, n_fantasies, pred.shape[2])
                fantasy = (jnp.asarray(logw), jnp.asarray(idx), jnp.asarray(eps))
                # var_cur: the variance now, after the fantasised outcomes of earlier picks.
                var_cur = float(np.sum(wc * (q - np.sum(wc * q)) ** 2))
                # Screen with the linear score under the current weights, then re-weight
                # only the most promising candidates (the costly part: J x S per one).
                qa, pa = _anomalies(jnp.asarray(q), jnp.asarray(pred), jnp.asarray(wc))
                lin_gain = var_cur - np.asarray(_linear_scores(qa, pa, noise2))
                lin_value = (
                    lin_gain / _charge(cost, budget - total, slots - len(picks))
                    if rule == "per_flop"
                    else lin_gain
                )
                open_ = (~picked) & (cost <= budget - total) & (in_group[labels] < quota)
                lin_value = np.where(open_, lin_value, -np.inf)
                short = np.argsort(-lin_value, kind="stable")[: min(screen, lin_value.size)]
                out = _importance_scores(
                    jnp.asarray(q),
                    jnp.asarray(pred[:, short]),
                    *fantasy,
                    float(ens.noise),
                    0.5 * (1.0 - level),
                    chunk=_chunk(pred.shape[0], n_fantasies),
                    with_width=False,
                )
                var_after = np.full(cost.shape[0], np.inf)
                var_after[short] = np.asarray(out[0])
                width_after = np.full(var_after.shape, np.nan)
            gain = var_cur - var_after
            fits = (~picked) & (cost <= budget - total) & (in_group[labels] < quota)
            if not fits.any():
                stopped = "budget"
                break
            useful = fits & (gain > MIN_RELATIVE_GAIN * max(var_now, 1e-300))
            if not useful.any():
                stopped = "no gain"
                break
            value = (
                gain / _charge(cost, budget - total, slots - len(picks))
                if rule == "per_flop"
                else gain
            )
            m = int(np.argmax(np.where(useful, value, -np.inf)))
            picked[m] = True
            in_group[labels[m]] += 1
            picks.append(m)
            gains.append(float(gain[m]))
            total += float(cost[m])
            spent.append(total)
            if method == "importance":
                one = _importance_scores(
                    jnp.asarray(q),
                    jnp.asarray(pred[:, m : m + 1]),
                    *fantasy,
                    float(ens.noise),
                    0.5 * (1.0 - level),
                    chunk=1,
                    with_width=True,
                )
                width_after = np.full(var_after.shape, float(np.asarray(one[1])[0]))
            var_cur, width_cur = float(var_after[m]), float(width_after[m])
            var_hist.append(var_cur)
            width_hist.append(width_cur)
            if method == "linear":
                qa, pa = _linear_update(qa, pa, m, noise2)
                ess_hist.append(1.0 / float(np.sum(w * w)))
            else:
                # Condition later picks on a fantasised outcome of this one.
                wc = np.exp(logw - _logsumexp(logw))
                s = int(np.minimum(np.searchsorted(np.cumsum(wc), rng.random()), wc.size - 1))
                y = pred[s, m] + np.sqrt(noise2) * rng.standard_normal(pred.shape[2])
                logw = logw - 0.5 * np.sum((y[None] - pred[:, m]) ** 2, axis=-1) / noise2
                wn = np.exp(logw - logw.max())
                wn /= wn.sum()
                ess_hist.append(1.0 / float(np.sum(wn * wn)))
    return Selection(
        picks=np.asarray(picks, dtype=int),
        gain=np.asarray(gains),
        variance_after=np.asarray(var_hist),
        width_after=np.asarray(width_hist),
        cost_so_far=np.asarray(spent),
        variance_now=var_now,
        width_now=width_now,
        rule=rule,
        ess=np.asarray(ess_hist),
        stopped=stopped,
    )
