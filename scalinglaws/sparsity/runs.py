"""Run logs of dense and sparse runs: read, compute the average parameter count, validate.

Each row of a sparse run log gives its average parameter count N_avg in one of three ways
(checked in this order):

1. a ``counts_log`` column naming a per-step log of non-zero counts (a file path, relative
   to the run log's folder, or a key of the ``count_logs`` mapping);
2. the dense size ``N`` plus schedule columns: ``sparsity``, ``total_steps``, ``interval``
   (or the ``interval`` option), ``schedule`` (``geometric``/``cubic``; geometric when
   absent) and either ``start_step``/``end_step`` or ``start_compute``/``end_compute``
   (fractions of training compute), with ``tokens_per_step`` or ``D``;
3. an ``N_avg`` column given directly;

and a row with none of these and a dense size ``N`` is a dense run (N_avg = N). Training
compute is C = k N_avg D, never k N D for a sparse run (Jin et al. 2025, arXiv 2501.12486).

Each row describes a whole run: N_avg is averaged over all of its steps. With ``run`` and
``step`` columns the last checkpoint of each run is kept, as :func:`scalinglaws.load_runs`
does; give ``N_avg`` per row for fits on intermediate checkpoints of sparse runs.

A count log is a table with a non-zero count column (``count``/``nonzero``/``nnz``), and
optionally ``step`` (strictly increasing from 0; each count holds until the next logged
step, the last until ``total_steps``) and ``tokens`` (tokens per step). Counts may fall
and rise again (dense fine-tuning after sparse pre-training); they may not be negative
or exceed the run's dense size ``N``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RunLogError, ScalingLawsWarning
from scalinglaws.io.columns import (
    map_columns,
    normalize_name,
    numeric_column,
    read_table,
    row_label,
)
from scalinglaws.io.runs import ALIASES, DEFAULT_COMPUTE_RTOL, DEFAULT_K, load_runs, select_rows
from scalinglaws.sparsity.schedules import (
    DEFAULT_INTERVAL,
    PruningSchedule,
    ScheduleError,
    average_params,
    counts_per_step,
    final_params,
    schedule_from_compute,
    validate_counts,
)

#: Sparse-run columns -> accepted aliases (matched like :data:`scalinglaws.io.ALIASES`).
SPARSE_ALIASES: dict[str, tuple[str, ...]] = {
    "N_avg": ("n_avg", "avg_params", "average_params", "nbar", "n_bar", "average_param_count"),
    "sparsity": ("sparsity", "final_sparsity"),
    "start_step": ("start_step", "prune_start_step", "pruning_start_step", "t_s"),
    "end_step": ("end_step", "prune_end_step", "pruning_end_step", "t_e"),
    "start_compute": ("start_compute", "start_fraction", "prune_start_compute"),
    "end_compute": ("end_compute", "end_fraction", "prune_end_compute"),
    "interval": ("interval", "every", "prune_every", "pruning_interval", "prune_interval"),
    "total_steps": ("total_steps", "num_steps", "train_steps", "n_steps"),
    "tokens_per_step": ("tokens_per_step", "batch_tokens", "tokens_per_batch"),
    "schedule": ("schedule", "schedule_kind", "pruning_schedule"),
    "counts_log": ("counts_log", "count_log", "nonzero_log", "counts_path"),
    "dense_remainder": ("dense_remainder", "fixed_params", "unpruned_params"),
}
_COUNT_ALIASES = ("count", "counts", "nonzero", "non_zero", "nnz", "nonzero_params", "n", "params")
_TOKEN_ALIASES = ("tokens", "tokens_per_step", "batch_tokens", "b")
_STEP_ALIASES = ("step", "steps", "global_step", "iteration")
_SCHEDULE_COLS = ("sparsity", "start_step", "end_step", "start_compute", "end_compute")


def _find(
    df: pd.DataFrame,
    aliases: Mapping[str, tuple[str, ...]],
    taken: set[str],
    columns: Mapping[str, str] | None,
) -> dict[str, str]:
    found: dict[str, str] = {}
    for canon in aliases:
        if columns and canon in columns:
            if columns[canon] not in df.columns:
                raise RunLogError(
                    f"column {columns[canon]!r} given for {canon!r} is not in the run log; "
                    f"found columns: {', '.join(map(str, df.columns))}"
                )
            found[canon] = columns[canon]
            continue
        hits = [
            c
            for c in df.columns
            if normalize_name(c) in {normalize_name(a) for a in (canon, *aliases[canon])}
            and c not in taken
        ]
        if len(hits) > 1:
            raise RunLogError(f"columns {hits} all look like {canon!r}; say which with columns=...")
        if hits:
            found[canon] = hits[0]
    return found


def _optional_numeric(df: pd.DataFrame, col: str, kind: str) -> np.ndarray:
    """Numbers with blanks allowed (NaN); text and infinities are errors."""
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero((np.isnan(values) & raw.notna().to_numpy()) | np.isinf(values))
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{row_label(df, i, kind)}, column {col!r}: {raw.iloc[i]!r} is not a finite number"
        )
    return values


def _read_count_log(
    obj: Any, base: Path | None, where: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A count log -> (counts, steps or None, tokens per entry or None)."""
    if isinstance(obj, np.ndarray | list | tuple | pd.Series):
        return np.asarray(obj, dtype=float), None, None
    if isinstance(obj, pd.DataFrame):
        table = obj
    else:
        path = Path(str(obj))
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            table, _ = read_table(path)
        except RunLogError as exc:
            raise RunLogError(f"{where}: {exc}") from None
    by_norm = {normalize_name(c): c for c in table.columns}

    def pick(aliases: tuple[str, ...]) -> str | None:
        for a in aliases:
            if normalize_name(a) in by_norm:
                return by_norm[normalize_name(a)]
        return None

    ccol, scol, tcol = pick(_COUNT_ALIASES), pick(_STEP_ALIASES), pick(_TOKEN_ALIASES)
    if ccol is None:
        raise RunLogError(
            f"{where}: the count log needs a column of non-zero counts (count/nonzero/nnz); "
            f"found {', '.join(map(str, table.columns))}"
        )

    def num(col: str) -> np.ndarray:
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise RunLogError(
                f"{where}, count-log entry {int(bad[0])}, column {col!r}: not a finite number"
            )
        return v

    return num(ccol), (num(scol) if scol else None), (num(tcol) if tcol else None)


def _row_from_counts(
    obj: Any,
    base: Path | None,
    where: str,
    n0: float,
    total_steps: float,
    tokens_per_step: float,
    d: float,
    remainder: float,
) -> dict[str, float]:
    counts, steps, tokens = _read_count_log(obj, base, where)
    n0_known = np.isfinite(n0)
    try:
        counts = validate_counts(
            counts, steps=steps, dense_params=n0 if n0_known else None, where=where
        )
    except ScheduleError as exc:
        raise RunLogError(str(exc)) from None
    if steps is None:
        steps = np.arange(counts.size, dtype=float)
    if tokens is not None and np.any(tokens <= 0):
        raise RunLogError(f"{where}: tokens in the count log must be > 0")
    T = int(total_steps) if np.isfinite(total_steps) else int(steps[-1]) + 1
    if T <= steps[-1]:
        raise RunLogError(
            f"{where}: total_steps {T} must exceed the last logged step {steps[-1]:g}"
        )
    per_step = counts_per_step(counts, steps, T)
    if tokens is not None:
        b = counts_per_step(tokens, steps, T)
    elif np.isfinite(tokens_per_step):
        b = np.full(T, tokens_per_step)
    elif np.isfinite(d):
        b = np.full(T, d / T)
    else:
        raise RunLogError(f"{where}: give D, tokens_per_step, or a tokens column in the count log")
    total = float(b.sum())
    if np.isfinite(d) and abs(total / d - 1) > 1e-6:
        raise RunLogError(
            f"{where}: D = {d:.6g} but the count log's steps carry {total:.6g} tokens"
        )
    return {
        "N_avg": float(np.sum(per_step * b) / total) + remainder,
        "N0": float(n0) if n0_known else float(counts.max()),
        "N_final": float(per_step[-1]) + remainder,
        "D": total,
    }


def _row_from_schedule(
    values: Mapping[str, float], kind_name: str, where: str, interval_default: int, remainder: float
) -> tuple[dict[str, float], PruningSchedule]:
    n0, s, T = (
        values.get("N", math.nan),
        values.get("sparsity", math.nan),
        values.get("total_steps", math.nan),
    )
    need = [
        name for name, v in (("N", n0), ("sparsity", s), ("total_steps", T)) if not np.isfinite(v)
    ]
    if need:
        raise RunLogError(
            f"{where}: a sparse run given by schedule columns needs {', '.join(need)}"
        )
    interval = values.get("interval", math.nan)
    interval = interval_default if not np.isfinite(interval) else interval
    b = values.get("tokens_per_step", math.nan)
    d = values.get("D", math.nan)
    if not np.isfinite(b):
        if not np.isfinite(d):
            raise RunLogError(
                f"{where}: a sparse run given by schedule columns needs D or tokens_per_step"
            )
        b = d / T
    elif np.isfinite(d) and abs(b * T / d - 1) > 1e-6:
        raise RunLogError(
            f"{where}: D = {d:.6g} disagrees with total_steps * tokens_per_step = {b * T:.6g}"
        )
    ts, te = values.get("start_step", math.nan), values.get("end_step", math.nan)
    fs, fe = values.get("start_compute", math.nan), values.get("end_compute", math.nan)
    try:
        if np.isfinite(ts) and np.isfinite(te):
            sched = PruningSchedule(kind_name, s, ts, te, interval, T)
        elif np.isfinite(fs) and np.isfinite(fe):
            if not (_whole(T) and _whole(interval)):
                raise ScheduleError("total_steps and interval must be whole numbers")
            sched = schedule_from_compute(
                float(s),
                int(T),
                start_compute=float(fs),
                end_compute=float(fe),
                interval=int(interval),
                kind=kind_name,
                tokens_per_step=None,
            )
        else:
            raise ScheduleError(
                "give start_step and end_step, or start_compute and end_compute (fractions of compute)"
            )
        n_avg = average_params(sched, n0, None, remainder)
        n_final = final_params(sched, n0, remainder)
    except ScheduleError as exc:
        raise RunLogError(f"{where}: {exc}") from None
    return {"N_avg": n_avg, "N0": float(n0), "N_final": n_final, "D": float(b * T)}, sched


def _whole(x: float) -> bool:
    return bool(np.isfinite(x) and float(x).is_integer())


def load_sparse_runs(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    count_logs: Mapping[str, Any] | None = None,
    interval: int = DEFAULT_INTERVAL,
    dense_remainder: float = 0.0,
    k: float = DEFAULT_K,
    compute_rtol: float = DEFAULT_COMPUTE_RTOL,
    duplicates: str = "keep",
    min_runs: int = 5,
    checkpoints: Any = "last",
    where: str | None = None,
    best_of: str | None = None,
    best_of_per: Sequence[str] = (),
    drop_nonfinite: bool = False,
    loss_is: str = "loss",
) -> pd.DataFrame:
    """Read a log of dense and sparse runs and compute each run's average parameter count.

    N_avg = (1/D) sum_t N_t b_t over the run's steps (token-weighted non-zero prunable
    parameters, Jin et al. 2025, arXiv 2501.12486) and C = k N_avg D. See the module
    docstring for the three ways a row can describe a sparse run.

    Args:
        source: Path (CSV, TSV, Parquet, JSON Lines), DataFrame, or mapping of columns.
        columns: Explicit ``{canonical: column}`` overrides, for the core columns (``N``,
            ``D``, ``C``, ``loss``, ``run``) and the sparse ones (``N_avg``, ``sparsity``,
            ``start_step``, ``counts_log``, ...).
        count_logs: Count logs by key, for a ``counts_log`` column holding keys rather than
            paths: arrays of per-step counts, or tables with ``count`` (and optionally
            ``step`` and ``tokens``) columns.
        interval: Pruning interval for rows whose ``interval`` is blank or absent.
        dense_remainder: Parameters never pruned, added to every count, for rows without a
            ``dense_remainder`` column (0 counts only prunable linear layers, as the paper).
        k: FLOPs per parameter per token.
        compute_rtol: Tolerance of a given ``C`` (or ``N_avg``) against the computed one.
        duplicates: As :func:`scalinglaws.load_runs`.
        min_runs: Fewest runs accepted.
        checkpoints: As :func:`scalinglaws.load_runs`.
        where: As :func:`scalinglaws.load_runs` (applied to the log's own rows first).
        best_of: As :func:`scalinglaws.load_runs`.
        best_of_per: As :func:`scalinglaws.load_runs`.
        drop_nonfinite: As :func:`scalinglaws.load_runs`.
        loss_is: As :func:`scalinglaws.load_runs`.

    Returns:
        DataFrame with ``N_avg, D, C, loss`` and ``N0`` (dense prunable size; NaN when only
        N_avg was given), ``N_final`` (deployed non-zero count), ``sparsity``,
        ``average_density`` (N_avg / N0 without the remainder), ``source_kind``
        (``dense``/``schedule``/``counts``/``n_avg``), the run's schedule columns and any
        other columns of the log. ``attrs`` hold ``k``, ``warnings`` and ``source``.

    Raises:
        RunLogError: One line naming the row and column of the first problem.
    """
    df, kind = read_table(source)
    if df.shape[0] == 0:
        raise RunLogError("run log has no rows")
    base = None
    if not isinstance(source, pd.DataFrame | Mapping):
        base = Path(source).resolve().parent
    found, sparse = _sparse_columns(df, columns)
    notes: list[str] = []
    df = select_rows(df, found, kind, where=where, drop_nonfinite=drop_nonfinite, k=k, notes=notes)
    loss = numeric_column(df, found["loss"], "loss", kind, positive=True)
    ctx = _RowContext(
        df=df,
        kind=kind,
        found=found,
        sparse=sparse,
        count_logs=count_logs,
        base=base,
        interval=interval,
        dense_remainder=dense_remainder,
        k=k,
        compute_rtol=compute_rtol,
    )
    num = _sparse_numbers(ctx)
    rows = [_sparse_row(ctx, i, {c: float(a[i]) for c, a in num.items()}) for i in range(len(df))]
    frame = _runs_frame(ctx, rows, loss)
    # The common checks (duplicates, run count, design) are load_runs'; its warnings are
    # re-raised here so they point at the caller of this function.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingLawsWarning)
        loaded = load_runs(
            frame,
            k=k,
            compute_rtol=compute_rtol,
            duplicates=duplicates,
            min_runs=min_runs,
            checkpoints=checkpoints,
            best_of=best_of,
            best_of_per=best_of_per,
            loss_is=loss_is,
        )
    for c in caught:
        warnings.warn(str(c.message), ScalingLawsWarning, stacklevel=2)
    loaded = loaded.rename(columns={"N": "N_avg"})
    loaded.attrs["source"] = str(source) if base is not None else None
    loaded.attrs["notes"] = [*notes, *loaded.attrs.get("notes", [])]
    loaded.attrs["warnings"] = [*notes, *loaded.attrs.get("warnings", [])]
    return loaded


@dataclass(frozen=True)
class _RowContext:
    """What every row of one sparse run log is read against: the table and the options."""

    df: pd.DataFrame
    kind: str
    found: Mapping[str, str]
    sparse: Mapping[str, str]
    count_logs: Mapping[str, Any] | None
    base: Path | None
    interval: int
    dense_remainder: float
    k: float
    compute_rtol: float


def _sparse_columns(
    df: pd.DataFrame, columns: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(core columns, sparse columns) found in the log; a loss column is required."""
    core_over = {
        c: v for c, v in (columns or {}).items() if c in ("N", "D", "C", "loss", "run", "step")
    }
    found = map_columns(df, core_over, ALIASES)
    sparse = _find(df, SPARSE_ALIASES, set(found.values()), columns)
    if "loss" not in found:
        raise RunLogError(
            f"run log needs a loss column (loss/eval_loss/val_loss); found columns: "
            f"{', '.join(map(str, df.columns))}"
        )
    return found, sparse


def _sparse_numbers(ctx: _RowContext) -> dict[str, np.ndarray]:
    """The numeric core and sparse columns (blanks as NaN), range-checked."""
    df, kind, found, sparse = ctx.df, ctx.kind, ctx.found, ctx.sparse
    num: dict[str, np.ndarray] = {}
    for canon in ("N", "D", "C"):
        if canon in found:
            num[canon] = _optional_numeric(df, found[canon], kind)
    for canon in SPARSE_ALIASES:
        if canon in sparse and canon not in ("schedule", "counts_log"):
            num[canon] = _optional_numeric(df, sparse[canon], kind)
    for canon in ("N", "D", "C", "N_avg", "total_steps", "tokens_per_step", "interval"):
        if canon in num:
            bad = np.flatnonzero(num[canon] <= 0)
            if bad.size:
                col = found.get(canon, sparse.get(canon))
                raise RunLogError(
                    f"{row_label(df, int(bad[0]), kind)}, column {col!r}: "
                    f"{num[canon][bad[0]]:g} must be > 0"
                )
    if "sparsity" in num:
        bad = np.flatnonzero((num["sparsity"] < 0) | (num["sparsity"] >= 1))
        if bad.size:
            raise RunLogError(
                f"{row_label(df, int(bad[0]), kind)}, column {sparse['sparsity']!r}: sparsity "
                f"{num['sparsity'][bad[0]]:g} must lie in [0, 1)"
            )
    return num


def _sparse_row(ctx: _RowContext, i: int, v: Mapping[str, float]) -> dict[str, Any]:
    """One run: its N_avg (from counts, schedule, N_avg or dense size), D, C and sparsity."""
    where = row_label(ctx.df, i, ctx.kind)
    remainder = v.get("dense_remainder", math.nan)
    remainder = ctx.dense_remainder if not np.isfinite(remainder) else remainder
    if remainder < 0:
        if "dense_remainder" in ctx.sparse:
            raise RunLogError(f"{where}, column {ctx.sparse['dense_remainder']!r}: must be >= 0")
        raise RunLogError(f"dense_remainder must be >= 0, not {remainder:g}")
    row = _average_count(ctx, i, v, where, remainder)
    # N_avg given beside a schedule or count log must agree with what they imply.
    if row["source_kind"] in ("counts", "schedule") and np.isfinite(v.get("N_avg", math.nan)):
        rel = abs(v["N_avg"] / row["N_avg"] - 1)
        if rel > ctx.compute_rtol:
            raise RunLogError(
                f"{where}, column {ctx.sparse['N_avg']!r}: N_avg {v['N_avg']:.6g} disagrees with "
                f"{row['N_avg']:.6g} computed from the {row['source_kind']} by {rel:.1%}"
            )
    _tokens_and_compute(ctx, row, v.get("C", math.nan), where)
    row["sparsity"] = v.get("sparsity", math.nan) if row["source_kind"] != "dense" else 0.0
    if row["source_kind"] == "counts" and np.isfinite(row["N0"]):
        row["sparsity"] = 1.0 - (row["N_final"] - remainder) / row["N0"]
    if row["source_kind"] == "schedule" and not np.isfinite(row["sparsity"]):
        row["sparsity"] = 0.0
    row["average_density"] = (
        (row["N_avg"] - remainder) / row["N0"] if np.isfinite(row["N0"]) else math.nan
    )
    return row


def _average_count(
    ctx: _RowContext, i: int, v: Mapping[str, float], where: str, remainder: float
) -> dict[str, Any]:
    """``N_avg, N0, N_final, D, source_kind`` of row ``i``, in the module docstring's order."""
    df, sparse = ctx.df, ctx.sparse
    log_ref = df[sparse["counts_log"]].iloc[i] if "counts_log" in sparse else None
    has_log = (
        log_ref is not None
        and not (isinstance(log_ref, float) and math.isnan(log_ref))
        and str(log_ref).strip() != ""
    )
    if has_log:
        logs = ctx.count_logs
        obj = logs[log_ref] if logs and log_ref in logs else log_ref
        row = _row_from_counts(
            obj,
            ctx.base,
            f"{where}, count log {str(log_ref)!r}",
            v.get("N", math.nan),
            v.get("total_steps", math.nan),
            v.get("tokens_per_step", math.nan),
            v.get("D", math.nan),
            remainder,
        )
        return {**row, "source_kind": "counts"}
    if np.isfinite(v.get("sparsity", math.nan)) and v["sparsity"] > 0:
        sched_kind = "geometric"
        if "schedule" in sparse and isinstance(df[sparse["schedule"]].iloc[i], str):
            sched_kind = df[sparse["schedule"]].iloc[i].strip().lower()
        row, _ = _row_from_schedule(v, sched_kind, where, ctx.interval, remainder)
        return {**row, "source_kind": "schedule"}
    if np.isfinite(v.get("N_avg", math.nan)):
        n0 = v.get("N", math.nan)
        if np.isfinite(n0) and v["N_avg"] > n0 + remainder:
            raise RunLogError(f"{where}: N_avg {v['N_avg']:.6g} exceeds the dense size {n0:.6g}")
        return {
            "N_avg": v["N_avg"],
            "N0": n0,
            "N_final": math.nan,
            "D": v.get("D", math.nan),
            "source_kind": "n_avg",
        }
    if np.isfinite(v.get("N", math.nan)):
        n = v["N"] + remainder
        d = v.get("D", math.nan)
        if (
            np.isfinite(v.get("total_steps", math.nan))
            and np.isfinite(v.get("tokens_per_step", math.nan))
            and not np.isfinite(d)
        ):
            d = v["total_steps"] * v["tokens_per_step"]
        return {"N_avg": n, "N0": v["N"], "N_final": n, "D": d, "source_kind": "dense"}
    raise RunLogError(
        f"{where}: no model size; give N_avg, or the dense size N (with schedule columns "
        "sparsity, total_steps, start/end steps or fractions for a sparse run), or counts_log; "
        f"found columns: {', '.join(map(str, df.columns))}"
    )


def _tokens_and_compute(ctx: _RowContext, row: dict[str, Any], c_given: float, where: str) -> None:
    """Fill ``D`` (from C when absent) and ``C = k N_avg D``; a given C must agree."""
    k = ctx.k
    if not np.isfinite(row["D"]):
        if not np.isfinite(c_given):
            raise RunLogError(
                f"{where}: no token count; give D (tokens), or C, or total_steps and tokens_per_step"
            )
        row["D"] = c_given / (k * row["N_avg"])
    row["C"] = k * row["N_avg"] * row["D"]
    if not np.isfinite(c_given):
        return
    rel = abs(c_given / row["C"] - 1)
    if rel > ctx.compute_rtol:
        hint = ""
        if (
            np.isfinite(row["N0"])
            and abs(c_given / (k * row["N0"] * row["D"]) - 1) <= ctx.compute_rtol
        ):
            hint = " (it matches k*N*D with the dense size: a sparse run's compute is k*N_avg*D)"
        raise RunLogError(
            f"{where}, column {ctx.found['C']!r}: C = {c_given:.4g} disagrees with k*N_avg*D = "
            f"{row['C']:.4g} by {rel:.1%}{hint}"
        )


def _runs_frame(ctx: _RowContext, rows: list[dict[str, Any]], loss: np.ndarray) -> pd.DataFrame:
    """The table handed to :func:`~scalinglaws.load_runs`: N (= N_avg), D, C, loss first."""
    df, found, sparse = ctx.df, ctx.found, ctx.sparse
    out = pd.DataFrame(rows)
    frame = pd.DataFrame(
        {
            "N": out["N_avg"].to_numpy(),
            "D": out["D"].to_numpy(),
            "C": out["C"].to_numpy(),
            "loss": loss,
        }
    )
    if "run" in found:
        frame["run"] = df[found["run"]].to_numpy()
    if "step" in found:
        frame["step"] = df[found["step"]].to_numpy()
    for col in ("N0", "N_final", "sparsity", "average_density", "source_kind"):
        frame[col] = out[col].to_numpy()
    for canon, col in sparse.items():
        if canon not in ("N_avg", "sparsity"):
            frame[canon] = df[col].to_numpy()
    used = set(found.values()) | set(sparse.values())
    for col in df.columns:
        if col not in used and col not in frame.columns:
            frame[col] = df[col].to_numpy()
    return frame
