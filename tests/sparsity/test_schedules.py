"""Pruning schedules: definitions, averages, compute fractions, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.errors import ScalingLawsError
from scalinglaws.sparsity import (
    PruningSchedule,
    ScheduleError,
    average_density,
    average_params,
    average_params_from_counts,
    compute_fractions,
    continuous_average_density,
    cubic_density,
    final_params,
    geometric_density,
    schedule_from_compute,
    summarize,
    training_flops,
    validate_counts,
)

# Jin et al. 2025 (arXiv 2501.12486) / DESIGN §4: rho(s) for the 25/50/25 compute split.
PUBLISHED_RHO = {0.2: 0.8926, 0.4: 0.7662, 0.6: 0.6103, 0.8: 0.3991}


@pytest.mark.parametrize("s", sorted(PUBLISHED_RHO))
def test_continuous_limit_matches_published_rho(s):
    # The published values are rounded to 4 decimals (error <= 5e-5); 1e-3 is the
    # agreement the issue asks for, with room for that rounding.
    assert abs(float(continuous_average_density(s)) - PUBLISHED_RHO[s]) < 1e-3
    # And the deployed model keeps (1-s)/rho of the average count: about half at s = 0.8.
    if s == 0.8:
        assert abs((1 - s) / float(continuous_average_density(s)) - 0.5) < 0.01


def test_continuous_density_is_one_when_dense():
    assert float(continuous_average_density(0.0)) == 1.0


@pytest.mark.parametrize("s", sorted(PUBLISHED_RHO))
def test_discrete_schedules_converge_to_continuous_limit(s):
    # Discretisation error is O(1/K) from the staircase of K events plus O(f/T) from
    # placing the start/end on multiples of f; both shrink with the interval f.
    total = 100_000
    errors = []
    for interval in (5000, 1000, 200, 40):
        sched = schedule_from_compute(s, total, interval=interval)
        errors.append(abs(average_density(sched) - PUBLISHED_RHO[s]))
    assert errors[-1] < 1e-3, errors
    # Not strictly monotone (the lattice of start/end steps can land luckily), but the
    # finest interval beats the coarsest by a wide margin.
    assert errors[-1] < errors[0] / 3, errors


def test_geometric_schedule_definition():
    s, ts, te, f, T = 0.8, 200, 600, 100, 1000
    sched = PruningSchedule("geometric", s, ts, te, f, T)
    K = (te - ts) // f + 1
    assert sched.events == K == 5
    p = 1 - (1 - s) ** (1 / K)
    assert sched.prune_fraction_per_event == pytest.approx(p, rel=1e-14)
    dens = sched.density()
    # Exact up to float rounding (1e-12): the definition is a closed form.
    assert dens[ts - 1] == 1.0
    for i in range(K):
        step = ts + i * f
        # Applied before that step's update: the event step already trains pruned.
        assert dens[step] == pytest.approx((1 - s) ** ((i + 1) / K), rel=1e-12)
        assert dens[step + f - 1] == pytest.approx((1 - s) ** ((i + 1) / K), rel=1e-12)
        # Each event removes the same fraction p of the remaining weights.
        assert dens[step] / dens[step - 1] == pytest.approx(1 - p, rel=1e-12)
    assert dens[-1] == pytest.approx(1 - s, rel=1e-12)


def test_cubic_schedule_definition():
    s, ts, te, f = 0.9, 100, 500, 100
    sched = PruningSchedule("cubic", s, ts, te, f, 800)
    dens = sched.density()
    assert dens[ts] == 1.0  # Zhu & Gupta's first event removes nothing
    for step in (200, 300, 400, 500):
        expected = 1 - s * (1 - (1 - (step - ts) / (te - ts)) ** 3)
        assert dens[step] == pytest.approx(expected, rel=1e-12)
        assert dens[step + 50] == dens[step]  # constant between events
    assert dens[-1] == pytest.approx(1 - s, rel=1e-12)
    assert np.isnan(sched.prune_fraction_per_event)


def test_one_shot_and_dense_schedules():
    one_shot = PruningSchedule("geometric", 0.5, 300, 300, 100, 1000)
    assert one_shot.events == 1
    assert average_density(one_shot) == pytest.approx((300 + 700 * 0.5) / 1000, rel=1e-12)
    dense = PruningSchedule.dense(500)
    assert average_density(dense) == 1.0 and dense.events == 0


def test_density_functions_are_jit_and_vmap_safe():
    steps = jnp.arange(1000.0)
    fn = jax.jit(jax.vmap(geometric_density, in_axes=(None, 0, None, None, None)))
    batch = np.asarray(fn(steps, jnp.asarray([0.5, 0.8]), 200.0, 600.0, 100.0))
    for row, s in zip(batch, (0.5, 0.8), strict=True):
        ref = PruningSchedule("geometric", s, 200, 600, 100, 1000).density()
        np.testing.assert_allclose(row, ref, rtol=1e-12)
    g = jax.grad(lambda s: jnp.sum(cubic_density(steps, s, 200.0, 600.0, 100.0)))(0.5)
    assert np.isfinite(float(g)) and float(g) < 0  # more sparsity, less density


def test_average_params_final_params_and_flops():
    sched = PruningSchedule("geometric", 0.6, 100, 500, 50, 1000)
    n0, rem, b = 2e8, 1e7, 1e5
    rho = average_density(sched)
    n_avg = average_params(sched, n0, b, dense_remainder=rem)
    assert n_avg == pytest.approx(rho * n0 + rem, rel=1e-12)
    assert final_params(sched, n0, rem) == pytest.approx(0.4 * n0 + rem, rel=1e-12)
    # C = 6 sum_t N_t b_t = 6 N_avg D exactly (up to float summation, 1e-12).
    assert training_flops(sched, n0, b, dense_remainder=rem) == pytest.approx(
        6 * n_avg * b * 1000, rel=1e-12
    )


def test_average_is_token_weighted():
    sched = PruningSchedule("geometric", 0.5, 500, 500, 100, 1000)  # one-shot at the middle
    b = np.where(np.arange(1000) < 500, 1.0, 3.0)  # the sparse half sees 3x the tokens
    # (500*1*1 + 500*3*0.5) / (500 + 1500) = 1250/2000
    assert average_density(sched, b) == pytest.approx(0.625, rel=1e-12)
    counts = sched.density() * 100.0
    assert average_params_from_counts(counts, b) == pytest.approx(62.5, rel=1e-12)


@pytest.mark.parametrize("kind", ["geometric", "cubic"])
@pytest.mark.parametrize("s", [0.3, 0.8])
def test_schedule_from_compute_realises_the_fractions(kind, s):
    total, interval = 20_000, 100
    sched = schedule_from_compute(s, total, interval=interval, kind=kind)
    assert sched.start_step % interval == 0 and sched.end_step % interval == 0
    fs, fe = compute_fractions(sched)
    # Steps sit on multiples of f, so the best achievable error is about half the compute
    # share of one block of f steps; a block at the final density (the cheapest) holds
    # at most f(1-s)/(T rho) <= f/T of compute, hence the bound f/T.
    assert abs(fs - 0.25) <= interval / total
    assert abs(fe - 0.75) <= interval / total
    # Pruning saves compute, so the end *step* comes earlier than 75% of the steps.
    assert sched.end_step < 0.75 * total


def test_schedule_from_compute_with_variable_tokens_per_step():
    total = 4000
    b = np.linspace(1.0, 3.0, total)  # batch-size warm-up
    sched = schedule_from_compute(0.5, total, interval=20, tokens_per_step=b)
    fs, fe = compute_fractions(sched, b)
    # One block of 20 steps holds at most 20*3/sum(b*rho) < 1% of compute.
    assert abs(fs - 0.25) < 0.01 and abs(fe - 0.75) < 0.01


def test_summarize_has_the_cli_keys():
    sched = schedule_from_compute(0.5, 10_000, interval=100)
    info = summarize(sched, tokens_per_step=1e6, dense_params=1e9)
    for key in (
        "start_step", "end_step", "events", "prune_fraction_per_event", "average_density",
        "final_density", "compute_fraction_start", "compute_fraction_end", "N_avg", "C",
    ):  # fmt: skip
        assert key in info
    assert info["C"] == pytest.approx(6 * info["N_avg"] * info["D"], rel=1e-12)


@pytest.mark.parametrize(
    "args, match",
    [
        (("geometric", 1.0, 0, 100, 100, 1000), "sparsity"),
        (("geometric", -0.1, 0, 100, 100, 1000), "sparsity"),
        (("geometric", 0.5, 500, 400, 100, 1000), "before start_step"),
        (("geometric", 0.5, 100, 450, 100, 1000), "does not divide"),
        (("geometric", 0.5, 100, 1000, 100, 1000), "total_steps"),
        (("geometric", 0.5, 100, 300, 0, 1000), "interval"),
        (("linear", 0.5, 100, 300, 100, 1000), "kind"),
        (("geometric", 0.5, 100.5, 300, 100, 1000), "start_step"),
    ],
)
def test_bad_schedules_are_refused(args, match):
    with pytest.raises(ScheduleError, match=match):
        PruningSchedule(*args)


def test_schedule_errors_are_library_errors():
    assert issubclass(ScheduleError, ScalingLawsError)
    with pytest.raises(ScheduleError, match="end_compute"):
        schedule_from_compute(0.5, 1000, start_compute=0.7, end_compute=0.3)
    with pytest.raises(ScheduleError, match="total_steps"):
        schedule_from_compute(0.5, 50, interval=100)


def test_count_log_validation():
    with pytest.raises(ScheduleError, match="negative"):
        validate_counts([10, 5, -1])
    with pytest.raises(ScheduleError, match="above the dense size"):
        validate_counts([10, 11], dense_params=10)
    with pytest.raises(ScheduleError, match="strictly increasing"):
        validate_counts([10, 9, 8], steps=[0, 2, 1])
    # Counts that rise again (dense fine-tuning after sparse pre-training) are valid.
    counts = validate_counts([10, 5, 5, 10], dense_params=10)
    assert average_params_from_counts(counts) == pytest.approx(7.5, rel=1e-12)


@pytest.mark.parametrize(
    "sched",
    [
        PruningSchedule("geometric", 0.7, 130, 930, 40, 1500),  # start not a multiple of f
        PruningSchedule("cubic", 0.9, 0, 600, 100, 1000),  # pruning from step 0
        PruningSchedule("geometric", 0.5, 999, 999, 1, 1000),  # one-shot at the last step
    ],
)
def test_block_sums_equal_per_step_sums(sched):
    # Averages and fractions are summed over stretches between events; the per-step sums
    # are the definition. Same terms, different grouping: equal to 1e-12.
    b = np.random.default_rng(0).uniform(0.5, 2.0, sched.total_steps)
    dens = sched.density()
    assert average_density(sched, b) == pytest.approx(np.sum(dens * b) / np.sum(b), rel=1e-12)
    cum = np.concatenate([[0.0], np.cumsum(dens * b)])
    fs, fe = compute_fractions(sched, b)
    assert fs == pytest.approx(cum[sched.start_step] / cum[-1], rel=1e-12, abs=1e-15)
    assert fe == pytest.approx(cum[sched.end_step] / cum[-1], rel=1e-12)


def test_counts_summary_matches_the_schedule():
    from scalinglaws.sparsity import counts_summary

    sched = PruningSchedule("geometric", 0.75, 100, 400, 50, 600)
    counts = sched.density() * 4e7
    info = counts_summary(counts, 2e5, dense_params=4e7)
    # Same per-step sums from two routes: float tolerance.
    assert info["N_avg"] == pytest.approx(average_params(sched, 4e7, 2e5), rel=1e-12)
    assert info["C"] == pytest.approx(training_flops(sched, 4e7, 2e5), rel=1e-12)
    assert info["final_density"] == pytest.approx(0.25, rel=1e-12)
    assert info["C"] == pytest.approx(6 * info["N_avg"] * info["D"], rel=1e-12)
