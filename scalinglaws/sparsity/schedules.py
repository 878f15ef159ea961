"""Pruning schedules for sparse pre-training and the quantities derived from them.

Jin et al., "The Journey Matters: Average Parameter Count over Pre-training Unifies Sparse
and Dense Scaling Laws", ICLR 2025 (arXiv 2501.12486). Training is dense, then pruned
gradually by global unstructured magnitude pruning, then trained at the final sparsity s.

Conventions used throughout (steps are 0-indexed, ``0 .. total_steps - 1``):

* A pruning *event* at step t is applied **before** that step's update, so step t already
  trains (and spends FLOPs) at the pruned density.
* The geometric schedule (the authors' released code) has K = (t_e - t_s)/f + 1 events at
  steps t_s, t_s + f, ..., t_e, each removing p = 1 - (1 - s)^(1/K) of the remaining
  weights: the density after event i (i = 0 .. K-1) is (1 - s)^((i + 1)/K).
* The cubic schedule (Zhu & Gupta 2017, arXiv 1710.01878) prunes at the same event steps
  to sparsity s_t = s (1 - (1 - (t - t_s)/(t_e - t_s))^3); its first event removes nothing.
* ``density`` is the fraction of the prunable linear weights (attention and MLP
  projections, output head) that are non-zero; embeddings and norms are not counted, but
  an optional fixed ``dense_remainder`` of parameters can be added to every count.
* N_t = density_t * N0 + remainder; the average parameter count is token-weighted,
  N_avg = sum_t N_t b_t / sum_t b_t, and training compute is C = k sum_t N_t b_t = k N_avg D
  with b_t tokens in step t and k = 6.
* The *compute fraction* at step t is the share of training compute spent on steps
  ``0 .. t-1`` (before step t's update).

The density functions (:func:`geometric_density`, :func:`cubic_density`) are pure
``jax.numpy`` and safe under ``jit``/``vmap``; everything else here returns numpy values.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.errors import ScalingLawsError

Array = Any

KINDS = ("dense", "geometric", "cubic")
DEFAULT_INTERVAL = 100
DEFAULT_START_COMPUTE = 0.25
DEFAULT_END_COMPUTE = 0.75
#: FLOPs per parameter per token for training (forward and backward).
DEFAULT_K = 6.0


class ScheduleError(ScalingLawsError):
    """A pruning schedule or a per-step count log is invalid."""


# ---------------------------------------------------------------------------- pure math
def geometric_density(
    step: Array, sparsity: Array, start_step: Array, end_step: Array, interval: Array
) -> Array:
    """Density at ``step`` under the geometric per-event schedule.

    density_t = (1 - s)^(e_t / K), where K = (t_e - t_s)/f + 1 and e_t, the number of events
    at steps t_s, t_s + f, ..., t_e that are <= t, is clip(floor((t - t_s)/f) + 1, 0, K).
    Each event removes p = 1 - (1 - s)^(1/K) of the remaining weights (Jin et al. 2025,
    arXiv 2501.12486, released code).

    Args:
        step: Step index (any shape).
        sparsity: Final sparsity s in [0, 1).
        start_step: First event step t_s.
        end_step: Last event step t_e (t_e - t_s a multiple of ``interval``).
        interval: Steps between events f.

    Returns:
        The non-zero fraction of the prunable weights during ``step``.
    """
    t = jnp.asarray(step, dtype=float)
    n_events = jnp.floor((end_step - start_step) / interval) + 1.0
    done = jnp.clip(jnp.floor((t - start_step) / interval) + 1.0, 0.0, n_events)
    return (1.0 - sparsity) ** (done / n_events)


def cubic_density(
    step: Array, sparsity: Array, start_step: Array, end_step: Array, interval: Array
) -> Array:
    """Density at ``step`` under Zhu & Gupta's cubic schedule, pruned every ``interval``.

    s_t = s (1 - (1 - (t_last - t_s)/(t_e - t_s))^3), where t_last is the latest event step
    (t_s, t_s + f, ..., t_e) at or before t; density is 1 before t_s and 1 - s_t after
    (Zhu & Gupta 2017, arXiv 1710.01878, eq. 1). With t_s = t_e it is one-shot pruning.
    """
    t = jnp.asarray(step, dtype=float)
    last = start_step + interval * jnp.floor((t - start_step) / interval)
    last = jnp.clip(last, start_step, end_step)
    span = jnp.asarray(end_step - start_step, dtype=float)
    progress = jnp.where(span > 0, (last - start_step) / jnp.maximum(span, 1.0), 1.0)
    s_t = sparsity * (1.0 - (1.0 - progress) ** 3)
    return jnp.where(t < start_step, 1.0, 1.0 - s_t)


def continuous_average_density(
    sparsity: Array,
    start_compute: float = DEFAULT_START_COMPUTE,
    end_compute: float = DEFAULT_END_COMPUTE,
) -> Array:
    """Average density of the geometric schedule in the continuous limit.

    With compute fractions a (dense phase) and b (end of pruning), a density that decays
    as (1 - s)^u over the pruning phase spends tokens in proportion to compute / density:

        rho(s) = 1 / [a + (b - a) (-ln(1 - s))/s + (1 - b)/(1 - s)]

    (0.8926, 0.7662, 0.6103, 0.3991 at s = 0.2, 0.4, 0.6, 0.8 for the 25/50/25 split;
    Jin et al. 2025, arXiv 2501.12486). rho(0) = 1.
    """
    s = jnp.asarray(sparsity, dtype=float)
    safe = jnp.where(s > 0, s, 0.5)
    decay = jnp.where(s > 0, -jnp.log1p(-safe) / safe, 1.0)
    return 1.0 / (
        start_compute + (end_compute - start_compute) * decay + (1.0 - end_compute) / (1.0 - s)
    )


# Compiled once per shape of the step array: the solvers below evaluate many schedules.
_geometric_jit = jax.jit(geometric_density)
_cubic_jit = jax.jit(cubic_density)


# ---------------------------------------------------------------------------- spec
def _is_int(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int | np.integer):
        return True
    return isinstance(x, float | np.floating) and math.isfinite(x) and float(x).is_integer()



#: Most steps a schedule may have: per-step densities and counts are arrays of this length
#: (8 bytes a step); LLM training runs take 1e4-1e7 steps.
MAX_TOTAL_STEPS = 100_000_000

@dataclass(frozen=True)
class PruningSchedule:
    """One pruning schedule over a training run (validated on construction).

    Attributes:
        kind: ``"geometric"`` (per-event constant fraction), ``"cubic"`` (Zhu & Gupta) or
            ``"dense"`` (no pruning).
        sparsity: Final sparsity s in [0, 1) of the prunable weights.
        start_step: First pruning event t_s (0-indexed).
        end_step: Last pruning event t_e (>= t_s, < total_steps).
        interval: Steps between events f; must divide t_e - t_s.
        total_steps: Training steps T.
    """

    kind: str
    sparsity: float
    start_step: int
    end_step: int
    interval: int
    total_steps: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ScheduleError(
                f"schedule kind must be one of {', '.join(KINDS)}, not {self.kind!r}"
            )
        if not _is_int(self.total_steps) or self.total_steps < 1:
            raise ScheduleError(
                f"total_steps must be a positive whole number, not {self.total_steps!r}"
            )
        if self.total_steps > MAX_TOTAL_STEPS:
            raise ScheduleError(
                f"total_steps {self.total_steps:,} is above {MAX_TOTAL_STEPS:,}: per-step "
                "outputs would not fit in memory, and no training run takes that many steps "
                "(use fewer, larger steps)"
            )
        s = self.sparsity
        if not isinstance(s, int | float | np.number) or not (0.0 <= float(s) < 1.0):
            raise ScheduleError(f"sparsity must lie in [0, 1), not {s!r}")
        if self.kind == "dense" and float(s) != 0.0:
            raise ScheduleError(f"a dense schedule has sparsity 0, not {s!r}")
        if not _is_int(self.interval) or self.interval < 1:
            raise ScheduleError(
                f"interval must be a whole number of steps >= 1, not {self.interval!r}"
            )
        for name in ("start_step", "end_step"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                raise ScheduleError(f"{name} must be a whole number >= 0, not {v!r}")
        if self.end_step < self.start_step:
            raise ScheduleError(
                f"end_step {self.end_step} is before start_step {self.start_step}; "
                "pruning must end at or after it starts"
            )
        if self.end_step >= self.total_steps:
            raise ScheduleError(
                f"end_step {self.end_step} must be < total_steps {self.total_steps} "
                "(steps are 0-indexed)"
            )
        if (self.end_step - self.start_step) % self.interval:
            raise ScheduleError(
                f"interval {self.interval} does not divide the pruning span "
                f"end_step - start_step = {self.end_step - self.start_step}"
            )
        object.__setattr__(self, "sparsity", float(s))
        for name in ("start_step", "end_step", "interval", "total_steps"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @classmethod
    def dense(cls, total_steps: int) -> PruningSchedule:
        """No pruning for ``total_steps`` steps."""
        return cls("dense", 0.0, 0, 0, 1, total_steps)

    @property
    def events(self) -> int:
        """Number of pruning events K = (t_e - t_s)/f + 1 (0 for a dense run)."""
        if self.kind == "dense" or self.sparsity == 0.0:
            return 0
        return (self.end_step - self.start_step) // self.interval + 1

    @property
    def prune_fraction_per_event(self) -> float:
        """p = 1 - (1 - s)^(1/K) for the geometric schedule; NaN for cubic (it varies)."""
        if self.events == 0:
            return 0.0
        if self.kind == "cubic":
            return math.nan
        return 1.0 - (1.0 - self.sparsity) ** (1.0 / self.events)

    @property
    def final_density(self) -> float:
        return 1.0 - self.sparsity

    def density(self, step: Array | None = None) -> np.ndarray:
        """Density during each step (all ``total_steps`` steps when ``step`` is None)."""
        t = np.arange(self.total_steps) if step is None else np.asarray(step)
        if self.kind == "dense" or self.sparsity == 0.0:
            return np.ones(np.shape(t))
        flat = t.reshape(-1).astype(float)
        # Pad to a power of two so the compiled kernel is reused across lengths.
        size = max(16, 1 << max(flat.size - 1, 1).bit_length())
        padded = np.pad(flat, (0, size - flat.size), mode="edge") if flat.size else np.zeros(size)
        fn = _geometric_jit if self.kind == "geometric" else _cubic_jit
        args = (self.sparsity, self.start_step, self.end_step, self.interval)
        with jax.enable_x64(True):
            out = fn(jnp.asarray(padded), *(jnp.asarray(a, dtype=jnp.float64) for a in args))
            out = np.asarray(out, dtype=float)
        return out[: flat.size].reshape(t.shape)

    def blocks(self) -> np.ndarray:
        """First step of each stretch of constant density: step 0 and every event step."""
        if self.events == 0:
            return np.zeros(1, dtype=np.int64)
        events = np.arange(self.start_step, self.end_step + 1, self.interval, dtype=np.int64)
        return np.unique(np.concatenate([[0], events]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sparsity": self.sparsity,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "interval": self.interval,
            "total_steps": self.total_steps,
            "events": self.events,
            "prune_fraction_per_event": self.prune_fraction_per_event,
        }


# ---------------------------------------------------------------------------- derived
def _tokens(tokens_per_step: Array | None, total_steps: int) -> np.ndarray:
    """Tokens per step as a length-T array (uniform 1 when not given: step weighting)."""
    if tokens_per_step is None:
        return np.ones(total_steps)
    b = np.asarray(tokens_per_step, dtype=float)
    if b.ndim == 0:
        b = np.full(total_steps, float(b))
    if b.shape != (total_steps,):
        raise ScheduleError(
            f"tokens_per_step must be one number or one value per step ({total_steps}), "
            f"got shape {b.shape}"
        )
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ScheduleError("tokens_per_step must be finite and > 0 at every step")
    return b


def _block_compute(
    schedule: PruningSchedule, tokens_per_step: Array | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block start steps, cumulative compute before each block and at the end, tokens).

    Density only changes at event steps, so sums over steps reduce to sums over the
    K + 1 stretches between events (exact, and O(K) instead of O(T) kernel work).
    """
    starts = schedule.blocks()
    if tokens_per_step is None or np.ndim(tokens_per_step) == 0:
        per = 1.0 if tokens_per_step is None else float(tokens_per_step)
        _tokens(per, 1)  # validates
        tokens = np.diff(np.append(starts, schedule.total_steps)) * per
    else:
        tokens = np.add.reduceat(_tokens(tokens_per_step, schedule.total_steps), starts)
    spent = np.concatenate([[0.0], np.cumsum(schedule.density(starts) * tokens)])
    return starts, spent, tokens


def average_density(schedule: PruningSchedule, tokens_per_step: Array | None = None) -> float:
    """Token-weighted average density rho = sum_t density_t b_t / sum_t b_t."""
    _, spent, tokens = _block_compute(schedule, tokens_per_step)
    return float(spent[-1] / np.sum(tokens))


def average_params(
    schedule: PruningSchedule,
    dense_params: float,
    tokens_per_step: Array | None = None,
    dense_remainder: float = 0.0,
) -> float:
    """Average parameter count N_avg = rho * N0 + remainder (token-weighted).

    N_avg = (1/D) sum_t N_t b_t with N_t = density_t N0 + remainder (Jin et al. 2025,
    arXiv 2501.12486, eq. 2 in discrete form).

    Args:
        schedule: The pruning schedule.
        dense_params: N0, the dense count of prunable linear parameters.
        tokens_per_step: Tokens per step (one number or one per step); uniform if omitted.
        dense_remainder: Parameters never pruned, counted in full at every step (0 counts
            only the prunable linear layers, as the paper does).
    """
    _check_size(dense_params, dense_remainder)
    return average_density(schedule, tokens_per_step) * float(dense_params) + float(dense_remainder)


def final_params(
    schedule: PruningSchedule, dense_params: float, dense_remainder: float = 0.0
) -> float:
    """Non-zero parameters of the deployed model: (1 - s) N0 + remainder."""
    _check_size(dense_params, dense_remainder)
    return schedule.final_density * float(dense_params) + float(dense_remainder)


def training_flops(
    schedule: PruningSchedule,
    dense_params: float,
    tokens_per_step: Array,
    k: float = DEFAULT_K,
    dense_remainder: float = 0.0,
) -> float:
    """Training compute C = k sum_t N_t b_t (= k N_avg D): sparsity is assumed to save FLOPs."""
    _check_size(dense_params, dense_remainder)
    b = _tokens(tokens_per_step, schedule.total_steps)
    n_t = schedule.density() * float(dense_params) + float(dense_remainder)
    return float(k * np.sum(n_t * b))


def compute_fractions(
    schedule: PruningSchedule, tokens_per_step: Array | None = None
) -> tuple[float, float]:
    """Shares of training compute spent before the first and before the last event step."""
    starts, spent, _ = _block_compute(schedule, tokens_per_step)
    if schedule.events == 0:  # no pruning: compute is spent in proportion to tokens
        cum = np.concatenate([[0.0], np.cumsum(_tokens(tokens_per_step, schedule.total_steps))])
        return (
            float(cum[schedule.start_step] / cum[-1]),
            float(cum[schedule.end_step] / cum[-1]),
        )
    i_start = int(np.searchsorted(starts, schedule.start_step))
    i_end = int(np.searchsorted(starts, schedule.end_step))
    return float(spent[i_start] / spent[-1]), float(spent[i_end] / spent[-1])


def _check_size(dense_params: float, dense_remainder: float) -> None:
    if not (math.isfinite(float(dense_params)) and float(dense_params) > 0):
        raise ScheduleError(f"dense_params must be a positive number, not {dense_params!r}")
    if not (math.isfinite(float(dense_remainder)) and float(dense_remainder) >= 0):
        raise ScheduleError(f"dense_remainder must be >= 0, not {dense_remainder!r}")


def schedule_from_compute(
    sparsity: float,
    total_steps: int,
    *,
    start_compute: float = DEFAULT_START_COMPUTE,
    end_compute: float = DEFAULT_END_COMPUTE,
    interval: int = DEFAULT_INTERVAL,
    kind: str = "geometric",
    tokens_per_step: Array | None = None,
) -> PruningSchedule:
    """The schedule whose pruning starts and ends at given fractions of training *compute*.

    Start and end steps are whole multiples of ``interval`` (so the interval divides the
    span). Because pruning lowers the FLOPs of later steps, the two steps depend on each
    other: a fixed-point iteration on the cumulative compute, then a local search over
    neighbouring multiples, minimises the larger of the two fraction errors. Read the
    realised fractions with :func:`compute_fractions`.

    Args:
        sparsity: Final sparsity s in [0, 1).
        total_steps: Training steps T.
        start_compute: Share of compute before the first event (0.25 recommended by Jin
            et al. 2025, arXiv 2501.12486).
        end_compute: Share of compute before the last event (0.75 recommended).
        interval: Steps between events f (the authors' default is 100).
        kind: ``"geometric"`` or ``"cubic"``.
        tokens_per_step: Tokens per step (one number or one per step); uniform if omitted.

    Raises:
        ScheduleError: Fractions outside 0 <= start <= end < 1, or too few steps.
    """
    _check_compute_split(sparsity, total_steps, start_compute, end_compute, interval, kind)
    search = _ComputeSplit(
        kind,
        float(sparsity),
        int(interval),
        int(total_steps),
        _tokens(tokens_per_step, int(total_steps)),
        start_compute,
        end_compute,
    )
    m_s, m_e = search.polish(*search.fixed_point())
    return search.make(m_s, m_e)


def _check_compute_split(
    sparsity: Any, total_steps: Any, start_compute: Any, end_compute: Any, interval: Any, kind: Any
) -> None:
    """The arguments of :func:`schedule_from_compute`, checked in the order it documents."""
    for name, v in (("start_compute", start_compute), ("end_compute", end_compute)):
        if not (isinstance(v, int | float) and 0.0 <= v < 1.0):
            raise ScheduleError(f"{name} must be a fraction in [0, 1), not {v!r}")
    if end_compute < start_compute:
        raise ScheduleError(
            f"end_compute {end_compute} is before start_compute {start_compute}; "
            "pruning must end after it starts"
        )
    if kind not in ("geometric", "cubic"):
        raise ScheduleError(f"kind must be 'geometric' or 'cubic', not {kind!r}")
    if not _is_int(interval) or interval < 1:
        raise ScheduleError(f"interval must be a whole number of steps >= 1, not {interval!r}")
    if not _is_int(total_steps) or total_steps <= interval:
        raise ScheduleError(
            f"total_steps must be a whole number larger than the interval {interval}, "
            f"not {total_steps!r}"
        )
    if total_steps > MAX_TOTAL_STEPS:
        raise ScheduleError(
            f"total_steps {total_steps:,} is above {MAX_TOTAL_STEPS:,}: per-step arrays would "
            "not fit in memory, and no training run takes that many steps"
        )
    if not (isinstance(sparsity, int | float | np.number) and 0.0 <= sparsity < 1.0):
        raise ScheduleError(f"sparsity must lie in [0, 1), not {sparsity!r}")


def _nearest(frac_curve: np.ndarray, target: float, lo: int = 0) -> int:
    return lo + int(np.argmin(np.abs(frac_curve[lo:] - target)))


@dataclass(frozen=True, eq=False)
class _ComputeSplit:
    """The search of :func:`schedule_from_compute` over start/end multiples of the interval.

    A candidate is ``(m_s, m_e)``: pruning starts at step ``m_s * interval`` and ends at
    ``m_e * interval``.
    """

    kind: str
    sparsity: float
    interval: int
    total_steps: int
    tokens: np.ndarray
    start_compute: float
    end_compute: float

    @property
    def max_multiple(self) -> int:
        return (self.total_steps - 1) // self.interval

    @functools.cached_property
    def multiples(self) -> np.ndarray:
        return np.arange(self.max_multiple + 1) * self.interval

    @functools.cached_property
    def block_tokens(self) -> np.ndarray:
        # Events fall on multiples of the interval, so the density is constant within each
        # block of `interval` steps: cumulative compute at the candidate steps needs one
        # density value per block, not per step.
        return np.add.reduceat(self.tokens, self.multiples)

    def make(self, m_s: int, m_e: int) -> PruningSchedule:
        return PruningSchedule(
            self.kind,
            self.sparsity,
            int(m_s * self.interval),
            int(m_e * self.interval),
            self.interval,
            self.total_steps,
        )

    def spent(self, m_s: int, m_e: int) -> np.ndarray:
        """Cumulative compute before each block, and in total (last entry)."""
        dens = self.make(m_s, m_e).density(self.multiples)
        return np.concatenate([[0.0], np.cumsum(dens * self.block_tokens)])

    def error(self, m_s: int, m_e: int) -> float:
        """The larger of the start and end compute-fraction errors."""
        cum = self.spent(m_s, m_e)
        return max(
            abs(cum[m_s] / cum[-1] - self.start_compute),
            abs(cum[m_e] / cum[-1] - self.end_compute),
        )

    def fixed_point(self) -> tuple[int, int]:
        """Place the steps where the current schedule's cumulative compute crosses the targets.

        Pruning shrinks total compute, which moves both crossings earlier; starts from the
        dense crossings and stops at a repeat (or after 64 rounds).
        """
        dense_frac = np.concatenate([[0.0], np.cumsum(self.block_tokens)])[:-1] / self.tokens.sum()
        m_s = _nearest(dense_frac, self.start_compute)
        m_e = _nearest(dense_frac, self.end_compute, lo=m_s)
        seen = set()
        while (m_s, m_e) not in seen and len(seen) < 64:
            seen.add((m_s, m_e))
            cum = self.spent(m_s, m_e)
            frac = cum[:-1] / cum[-1]
            m_s = _nearest(frac, self.start_compute)
            m_e = _nearest(frac, self.end_compute, lo=m_s)
        return m_s, m_e

    def polish(self, m_s: int, m_e: int) -> tuple[int, int]:
        """Local search: the fixed point can cycle between neighbours on a coarse lattice."""
        best = (self.error(m_s, m_e), m_s, m_e)
        improved = True
        while improved:
            improved = False
            _, cs, ce = best
            for ds in (-1, 0, 1):
                for de in (-1, 0, 1):
                    s_, e_ = cs + ds, ce + de
                    if (ds or de) and 0 <= s_ <= e_ <= self.max_multiple:
                        err = self.error(s_, e_)
                        if err < best[0] - 1e-15:
                            best, improved = (err, s_, e_), True
        return best[1], best[2]


# ---------------------------------------------------------------------------- count logs
def validate_counts(
    counts: Array,
    *,
    steps: Array | None = None,
    dense_params: float | None = None,
    where: str = "count log",
) -> np.ndarray:
    """Check a per-step log of non-zero counts; returns it as a float array.

    Counts may rise again (dense fine-tuning after sparse pre-training is valid).

    Raises:
        ScheduleError: Empty, non-finite or negative counts, counts above the dense size,
            or steps that are not strictly increasing from 0.
    """
    c = np.asarray(counts, dtype=float)
    if c.ndim != 1 or c.size == 0:
        raise ScheduleError(f"{where}: needs a one-dimensional, non-empty list of counts")
    bad = np.flatnonzero(~np.isfinite(c))
    if bad.size:
        raise ScheduleError(f"{where}, entry {int(bad[0])}: count is not a finite number")
    bad = np.flatnonzero(c < 0)
    if bad.size:
        raise ScheduleError(f"{where}, entry {int(bad[0])}: count {c[bad[0]]:g} is negative")
    if dense_params is not None:
        bad = np.flatnonzero(c > float(dense_params) * (1 + 1e-12))
        if bad.size:
            raise ScheduleError(
                f"{where}, entry {int(bad[0])}: count {c[bad[0]]:.6g} is above the dense size "
                f"{float(dense_params):.6g}"
            )
    if steps is not None:
        st = np.asarray(steps, dtype=float)
        if st.shape != c.shape:
            raise ScheduleError(f"{where}: {st.size} steps for {c.size} counts")
        if st[0] != 0:
            raise ScheduleError(f"{where}: the first logged step must be 0, not {st[0]:g}")
        bad = np.flatnonzero(np.diff(st) <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise ScheduleError(
                f"{where}, entry {i}: step {st[i]:g} does not come after step {st[i - 1]:g} "
                "(steps must be strictly increasing)"
            )
    return c


def counts_per_step(counts: Array, steps: Array, total_steps: int) -> np.ndarray:
    """Expand a log taken at some steps to every step (each count holds until the next)."""
    st = np.asarray(steps, dtype=np.int64)
    c = np.asarray(counts, dtype=float)
    if total_steps <= st[-1]:
        raise ScheduleError(f"total_steps {total_steps} must exceed the last logged step {st[-1]}")
    idx = np.searchsorted(st, np.arange(total_steps), side="right") - 1
    return c[idx]


def average_params_from_counts(counts: Array, tokens_per_step: Array | None = None) -> float:
    """N_avg = sum_t N_t b_t / sum_t b_t from a per-step count log (token-weighted)."""
    c = validate_counts(counts)
    b = _tokens(tokens_per_step, c.size)
    return float(np.sum(c * b) / np.sum(b))


def counts_summary(
    counts: Array,
    tokens_per_step: Array | None = None,
    *,
    dense_params: float | None = None,
    k: float = DEFAULT_K,
) -> dict[str, float]:
    """N_avg, final count, tokens and training FLOPs of a per-step count log.

    N_avg = sum_t N_t b_t / sum_t b_t, C = k sum_t N_t b_t (Jin et al. 2025,
    arXiv 2501.12486); counts may rise again (dense fine-tuning after sparse training).

    Args:
        counts: Non-zero parameters during each step.
        tokens_per_step: One number or one per step; without it D and C count steps.
        dense_params: Dense size, to validate the counts against and report the density.
        k: FLOPs per parameter per token.
    """
    c = validate_counts(counts, dense_params=dense_params)
    b = _tokens(tokens_per_step, c.size)
    spent = float(np.sum(c * b))
    out = {
        "N_avg": spent / float(b.sum()),
        "N_final": float(c[-1]),
        "D": float(b.sum()),
        "C": k * spent,
    }
    if dense_params is not None:
        out["average_density"] = out["N_avg"] / float(dense_params)
        out["final_density"] = out["N_final"] / float(dense_params)
    return out


def summarize(
    schedule: PruningSchedule,
    *,
    tokens_per_step: Array | None = None,
    dense_params: float | None = None,
    dense_remainder: float = 0.0,
    k: float = DEFAULT_K,
) -> dict[str, Any]:
    """Everything a user reads off one schedule, as a flat dict (the CLI's JSON)."""
    start_frac, end_frac = compute_fractions(schedule, tokens_per_step)
    out = schedule.as_dict()
    out.update(
        {
            "average_density": average_density(schedule, tokens_per_step),
            "final_density": schedule.final_density,
            "compute_fraction_start": start_frac,
            "compute_fraction_end": end_frac,
        }
    )
    if dense_params is not None:
        out["dense_params"] = float(dense_params)
        out["dense_remainder"] = float(dense_remainder)
        out["N_avg"] = average_params(schedule, dense_params, tokens_per_step, dense_remainder)
        out["N_final"] = final_params(schedule, dense_params, dense_remainder)
        if tokens_per_step is not None:
            b = _tokens(tokens_per_step, schedule.total_steps)
            out["D"] = float(b.sum())
            out["C"] = training_flops(schedule, dense_params, b, k, dense_remainder)
    return out
