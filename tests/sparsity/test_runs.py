"""Sparse run logs: N_avg from N_avg columns, schedule columns, or per-step count logs."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scalinglaws.errors import RunLogError, ScalingLawsWarning
from scalinglaws.laws.chinchilla import HOFFMANN_2022
from scalinglaws.simulate.sparse import count_log, simulate_sparse_runs, sparse_design
from scalinglaws.sparsity import (
    PruningSchedule,
    average_params,
    load_sparse_runs,
    schedule_from_compute,
)

T, F, B = 2000, 50, 5e5  # steps, pruning interval, tokens per step


def _dense_rows(n=5):
    sizes = np.geomspace(2e7, 3e8, n)
    return [
        {"run": f"d{i}", "N": s, "D": 40 * s * (1 + 0.5 * i), "loss": 3.0 - 0.1 * i}
        for i, s in enumerate(sizes)
    ]


def _log(extra_rows):
    # Quiet the design warnings of tiny hand-made logs; they are tested elsewhere.
    df = pd.DataFrame(_dense_rows() + extra_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        return load_sparse_runs(df)


def test_counts_log_and_schedule_columns_give_the_same_n_avg(tmp_path):
    sched = PruningSchedule("geometric", 0.7, 400, 1400, F, T)
    cubic = PruningSchedule("cubic", 0.5, 200, 1000, F, T)
    n0 = 1.3e8
    count_log(sched, n0, B).to_csv(tmp_path / "geo.csv", index=False)
    count_log(cubic, n0).to_csv(tmp_path / "cub.csv", index=False)
    rows = pd.DataFrame(
        _dense_rows()
        + [
            {
                "run": "geo-sched",
                "N": n0,
                "sparsity": 0.7,
                "schedule": "geometric",
                "start_step": 400,
                "end_step": 1400,
                "interval": F,
                "total_steps": T,
                "tokens_per_step": B,
                "loss": 2.9,
            },
            {"run": "geo-log", "N": n0, "counts_log": "geo.csv", "loss": 2.9},
            {
                "run": "cub-sched",
                "N": n0,
                "sparsity": 0.5,
                "schedule": "cubic",
                "start_step": 200,
                "end_step": 1000,
                "interval": F,
                "total_steps": T,
                "D": B * T,
                "loss": 2.9,
            },
            {"run": "cub-log", "N": n0, "counts_log": "cub.csv", "D": B * T, "loss": 2.9},
        ]  # fmt: skip
    )
    path = tmp_path / "runs.csv"
    rows.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_sparse_runs(path).set_index("run")
    # Float tolerance: the same sum over 2,000 steps, once from the closed-form density
    # and once from counts written to CSV with full precision (repr round-trips).
    for a, b in (("geo-sched", "geo-log"), ("cub-sched", "cub-log")):
        assert runs.loc[a, "N_avg"] == pytest.approx(runs.loc[b, "N_avg"], rel=1e-12)
        assert runs.loc[a, "N_final"] == pytest.approx(runs.loc[b, "N_final"], rel=1e-12)
        assert runs.loc[a, "C"] == pytest.approx(runs.loc[b, "C"], rel=1e-12)
    assert runs.loc["geo-log", "sparsity"] == pytest.approx(0.7, rel=1e-12)
    assert runs.loc["geo-sched", "N_avg"] == pytest.approx(average_params(sched, n0, B), rel=1e-12)
    assert runs.loc["geo-log", "source_kind"] == "counts"
    assert runs.loc["geo-sched", "source_kind"] == "schedule"


def test_count_logs_mapping_and_sparse_logging():
    sched = PruningSchedule("geometric", 0.5, 100, 500, F, 1000)
    dense = sched.density() * 1e8
    # Logged every 50 steps only: each count holds until the next entry.
    sparse_log = pd.DataFrame({"step": np.arange(0, 1000, 50), "count": dense[::50]})
    df = pd.DataFrame(
        _dense_rows()
        + [
            {"run": "a", "N": 1e8, "counts_log": "A", "D": 1e9, "loss": 3.0},
            {"run": "b", "N": 1e8, "counts_log": "B", "D": 1e9, "total_steps": 1000, "loss": 3.0},
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_sparse_runs(df, count_logs={"A": dense, "B": sparse_log}).set_index("run")
    # Events fall on multiples of 50, so the coarse log is exact (float tolerance).
    assert runs.loc["a", "N_avg"] == pytest.approx(runs.loc["b", "N_avg"], rel=1e-12)
    assert runs.loc["a", "N_avg"] == pytest.approx(average_params(sched, 1e8), rel=1e-12)


def test_compute_fraction_columns_match_the_solved_steps():
    sched = schedule_from_compute(0.8, T, interval=F)
    runs = _log(
        [
            {
                "run": "frac",
                "N": 1e8,
                "sparsity": 0.8,
                "start_compute": 0.25,
                "end_compute": 0.75,
                "interval": F,
                "total_steps": T,
                "tokens_per_step": B,
                "loss": 3.0,
            },
            {
                "run": "steps",
                "N": 1e8,
                "sparsity": 0.8,
                "start_step": sched.start_step,
                "end_step": sched.end_step,
                "interval": F,
                "total_steps": T,
                "tokens_per_step": B,
                "loss": 3.0,
            },
        ]  # fmt: skip
    ).set_index("run")
    assert runs.loc["frac", "N_avg"] == pytest.approx(runs.loc["steps", "N_avg"], rel=1e-12)


def test_rising_counts_are_valid_and_token_weighted():
    # Sparse pre-training then dense fine-tuning: counts fall, then rise again.
    counts = np.r_[np.full(100, 1e8), np.full(100, 2e7), np.full(100, 1e8)]
    df = pd.DataFrame(
        _dense_rows() + [{"run": "ft", "N": 1e8, "counts_log": "x", "D": 3e9, "loss": 3.0}]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_sparse_runs(df, count_logs={"x": counts}).set_index("run")
    # Uniform tokens per step: the plain mean (1 + 0.2 + 1)/3 of 1e8, to float tolerance.
    assert runs.loc["ft", "N_avg"] == pytest.approx(2.2e8 / 3, rel=1e-12)
    assert runs.loc["ft", "N_final"] == 1e8


def test_n_avg_given_directly_and_compute_is_from_n_avg():
    runs = _log([{"run": "s", "N_avg": 5e7, "D": 2e9, "loss": 3.1}])
    row = runs.set_index("run").loc["s"]
    assert row["source_kind"] == "n_avg"
    assert row["C"] == pytest.approx(6 * 5e7 * 2e9, rel=1e-15)


def test_simulated_design_round_trips():
    design = sparse_design([1e18, 1e19], sparsities=(0.0, 0.6), n_per_budget=3)
    sim = simulate_sparse_runs(HOFFMANN_2022, design, noise=0.0)
    runs = load_sparse_runs(sim.drop(columns=["N_avg", "N_final", "C"]))
    # The loader recomputes N_avg from the schedule columns: identical sums, float tolerance.
    np.testing.assert_allclose(runs["N_avg"], sim["N_avg"], rtol=1e-12)
    np.testing.assert_allclose(runs["C"], sim["C"], rtol=1e-12)


def _bad(extra, match, count_logs=None):
    df = pd.DataFrame(_dense_rows() + [extra])
    with pytest.raises(RunLogError, match=match) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingLawsWarning)
            load_sparse_runs(df, count_logs=count_logs)
    assert "\n" not in str(info.value)  # one line
    return str(info.value)


SCHED = {
    "run": "x",
    "N": 1e8,
    "interval": 50,
    "total_steps": 1000,
    "tokens_per_step": 1e6,
    "loss": 3.0,
}


def test_bad_sparse_rows_get_clear_errors():
    msg = _bad({**SCHED, "sparsity": 1.0, "start_step": 100, "end_step": 500}, r"\[0, 1\)")
    assert "row 5" in msg and "'sparsity'" in msg
    _bad({**SCHED, "sparsity": 0.5, "start_step": 500, "end_step": 100}, "before start_step")
    _bad({**SCHED, "sparsity": 0.5, "start_step": 100, "end_step": 525}, "does not divide")
    _bad({**SCHED, "sparsity": 0.5}, "start_step and end_step, or start_compute")
    _bad({"run": "x", "sparsity": 0.5, "start_step": 100, "end_step": 500, "loss": 3.0,
          "total_steps": 1000}, "needs N")  # fmt: skip
    _bad({"run": "x", "N": 1e8, "counts_log": "c", "D": 1e9, "loss": 3.0}, "negative",
         {"c": np.array([1e8, -1.0])})  # fmt: skip
    _bad({"run": "x", "N": 1e8, "counts_log": "c", "D": 1e9, "loss": 3.0}, "above the dense size",
         {"c": np.array([1e8, 2e8])})  # fmt: skip
    _bad({"run": "x", "N": 1e8, "counts_log": "c", "D": 1e9, "loss": 3.0}, "strictly increasing",
         {"c": pd.DataFrame({"step": [0, 10, 5], "count": [1e8, 5e7, 5e7]})})  # fmt: skip


def test_compute_from_dense_size_is_refused_with_the_reason():
    sched = PruningSchedule("geometric", 0.8, 200, 600, 50, 1000)
    d = 1e9
    wrong_c = 6 * 1e8 * d  # from the dense size, as a careless log would record it
    msg = _bad({**SCHED, "D": d, "tokens_per_step": np.nan, "sparsity": 0.8, "start_step": 200,
                "end_step": 600, "C": wrong_c}, "k\\*N_avg\\*D")  # fmt: skip
    assert "dense size" in msg
    good_c = 6 * average_params(sched, 1e8) * d
    runs = _log([{**SCHED, "D": d, "tokens_per_step": np.nan, "sparsity": 0.8, "start_step": 200,
                  "end_step": 600, "C": good_c}])  # fmt: skip
    assert runs["C"].iloc[-1] == pytest.approx(good_c, rel=1e-12)


def test_missing_size_lists_the_ways():
    df = pd.DataFrame([{"D": 1e9, "loss": 3.0}] * 6)
    with pytest.raises(RunLogError, match="N_avg, or the dense size N"):
        load_sparse_runs(df)


def test_aliases_and_explicit_columns():
    sched = PruningSchedule("geometric", 0.5, 100, 500, 50, 1000)
    rows = pd.DataFrame(
        [{"Model Size": r["N"], "tokens": r["D"], "eval_loss": r["loss"]} for r in _dense_rows()]
        + [
            {
                "Model Size": 1e8,
                "final_sparsity": 0.5,
                "prune_start_step": 100,
                "prune_end_step": 500,
                "prune_every": 50,
                "num_steps": 1000,
                "batch_tokens": 1e6,
                "eval_loss": 3.0,
            }
        ]  # fmt: skip
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_sparse_runs(rows)
        assert runs["N_avg"].iloc[-1] == pytest.approx(average_params(sched, 1e8), rel=1e-12)
        renamed = rows.rename(columns={"final_sparsity": "how_sparse"})
        explicit = load_sparse_runs(renamed, columns={"sparsity": "how_sparse"})
    np.testing.assert_allclose(explicit["N_avg"], runs["N_avg"], rtol=1e-15)
    with pytest.raises(RunLogError, match="not in the run log"):
        load_sparse_runs(rows, columns={"sparsity": "nope"})
