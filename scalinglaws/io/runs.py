"""Run logs in: read, map column aliases, derive N/D/C, validate.

Every problem is reported as one line naming the row and column and what would be valid;
nothing is dropped silently. Reading files, matching column aliases and naming rows are
shared with the other run-log loaders through :mod:`scalinglaws.io.columns`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RunLogError, ScalingLawsWarning
from scalinglaws.io.columns import map_columns, numeric_column, read_table, row_label

#: Canonical column -> accepted aliases (matched case-insensitively, ignoring spaces,
#: dashes and underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("n", "params", "n_params", "num_params", "model_size", "parameters", "param_count"),
    "D": ("d", "tokens", "n_tokens", "train_tokens", "num_tokens", "training_tokens", "t"),
    "C": ("c", "flops", "compute", "training_flop", "training_flops", "train_flops"),
    "loss": ("loss", "eval_loss", "val_loss", "final_loss", "validation_loss", "test_loss"),
    "run": ("run", "run_id", "run_name", "name"),
    "step": ("step", "steps", "global_step", "iteration"),
}

DEFAULT_K = 6.0
DEFAULT_COMPUTE_RTOL = 0.05


def load_runs(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    k: float = DEFAULT_K,
    compute_rtol: float = DEFAULT_COMPUTE_RTOL,
    checkpoints: str = "last",
    duplicates: str = "keep",
    require: Sequence[str] = ("N", "D"),
    min_runs: int = 5,
) -> pd.DataFrame:
    """Read and validate a run log.

    Accepts CSV, TSV, Parquet, JSON Lines, a DataFrame, or a dict of columns. Columns are
    matched case-insensitively through aliases (``"Model Size"`` -> ``N``, ``"Training
    FLOP"`` -> ``C``, ``tokens`` -> ``D``, ...). Given two of ``N``, ``D``, ``C`` the third
    follows from ``C = k * N * D``; when all three are given they must agree within
    ``compute_rtol``.

    Args:
        source: Path, DataFrame or mapping of columns.
        columns: Explicit ``{canonical: column}`` overrides (``{"N": "non_embedding"}``).
        k: FLOPs per parameter per token (6 for a dense transformer's forward+backward).
        compute_rtol: Relative tolerance for ``C`` against ``k*N*D`` when all are given.
        checkpoints: With ``run`` and ``step`` columns, ``"last"`` keeps each run's last
            checkpoint (final-loss fits); ``"all"`` keeps every row.
        duplicates: Rows with the same (N, D) and no distinguishing ``run``: ``"keep"``
            (warn), ``"mean"`` (average their losses, warn), or ``"error"``.
        require: Which of N and D the law needs (derived from C when absent).
        min_runs: Fewest distinct runs accepted (the number of law parameters).

    Returns:
        A DataFrame with canonical columns ``N, D, C, loss`` (and ``run``, ``step`` when
        given) followed by the log's other columns. ``df.attrs`` holds ``k``,
        ``warnings`` and ``source``.

    Raises:
        RunLogError: One line naming the row and column of the first problem.
    """
    _check_options(checkpoints, duplicates, k)
    df, kind = read_table(source)
    if df.shape[0] == 0:
        raise RunLogError("run log has no rows")
    found = map_columns(df, columns, ALIASES)
    _require_columns(df, found)
    values = _derive_compute(df, found, kind, k, compute_rtol)
    out = _assemble(df, found, kind, values)
    messages: list[str] = []
    if "run" in out and out["run"].duplicated().any():
        out = _take_checkpoints(out, checkpoints, messages)
    elif "run" not in out:
        out = _handle_duplicates(out, df, kind, duplicates, messages)
    if len(out) < min_runs:
        raise RunLogError(
            f"run log has {len(out)} runs; at least {min_runs} are needed to fit the law's "
            f"{min_runs} parameters"
        )
    messages.extend(_design_warnings(out, require))
    for m in messages:
        if not m.startswith("kept the last"):
            warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    out = out.reset_index(drop=True)
    out.attrs["k"] = float(k)
    out.attrs["warnings"] = messages
    out.attrs["source"] = str(source) if not isinstance(source, pd.DataFrame | Mapping) else None
    return out


def _check_options(checkpoints: str, duplicates: str, k: float) -> None:
    if checkpoints not in ("last", "all"):
        raise RunLogError(f"checkpoints must be 'last' or 'all', not {checkpoints!r}")
    if duplicates not in ("keep", "mean", "error"):
        raise RunLogError(f"duplicates must be 'keep', 'mean' or 'error', not {duplicates!r}")
    if not (isinstance(k, int | float) and math.isfinite(k) and k > 0):
        raise RunLogError(f"k (FLOPs per parameter per token) must be a positive number, not {k!r}")


def _require_columns(df: pd.DataFrame, found: Mapping[str, str]) -> None:
    """A loss column and two of N, D, C, or one line listing what was found."""
    present = [c for c in ("N", "D", "C") if c in found]
    if "loss" in found and len(present) >= 2:
        return
    missing = [c for c in ("N", "D", "C") if c not in found]
    need = []
    if len(present) < 2:
        need.append(f"two of N, D, C (missing {', '.join(missing)})")
    if "loss" not in found:
        need.append("loss")
    raise RunLogError(
        f"run log needs {' and '.join(need)}; found columns: "
        f"{', '.join(map(str, df.columns))} (aliases: N=params/'Model Size', "
        "D=tokens, C=flops/'Training FLOP', loss=eval_loss/val_loss)"
    )


def _derive_compute(
    df: pd.DataFrame, found: Mapping[str, str], kind: str, k: float, compute_rtol: float
) -> dict[str, np.ndarray]:
    """N, D, C and loss as arrays: the missing one of N, D, C from C = k N D, checked."""
    present = [c for c in ("N", "D", "C") if c in found]
    values = {c: numeric_column(df, found[c], c, kind, positive=True) for c in present}
    values["loss"] = numeric_column(df, found["loss"], "loss", kind, positive=True)
    if "N" in values and "D" in values:
        kcd = k * values["N"] * values["D"]
        if "C" not in values:
            values["C"] = kcd
            return values
        rel = np.abs(values["C"] / kcd - 1.0)
        bad = np.flatnonzero(rel > compute_rtol)
        if bad.size:
            i = int(bad[0])
            raise RunLogError(
                f"{row_label(df, i, kind)}: C = {values['C'][i]:.4g} disagrees with "
                f"k*N*D = {kcd[i]:.4g} (k = {k:g}) by {rel[i]:.1%} > {compute_rtol:.0%} "
                f"in {bad.size} rows; set k, or drop one of N, D, C"
            )
    elif "D" not in values:
        values["D"] = values["C"] / (k * values["N"])
    else:
        values["N"] = values["C"] / (k * values["D"])
    return values


def _assemble(
    df: pd.DataFrame, found: Mapping[str, str], kind: str, values: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Canonical columns first (``run``, ``step`` checked non-empty), then the log's others."""
    out = pd.DataFrame(index=df.index)
    for c in ("N", "D", "C", "loss"):
        out[c] = values[c]
    for c in ("run", "step"):
        if c in found:
            out[c] = df[found[c]].to_numpy()
    if "step" in out and out["step"].isna().any():
        i = int(np.flatnonzero(out["step"].isna().to_numpy())[0])
        raise RunLogError(f"{row_label(df, i, kind)}, column {found['step']!r}: step is empty")
    if "run" in out and out["run"].isna().any():
        i = int(np.flatnonzero(out["run"].isna().to_numpy())[0])
        raise RunLogError(f"{row_label(df, i, kind)}, column {found['run']!r}: run id is empty")
    used = set(found.values())
    for col in df.columns:
        if col not in used and col not in out.columns:
            out[col] = df[col].to_numpy()
    return out


def _take_checkpoints(out: pd.DataFrame, checkpoints: str, messages: list[str]) -> pd.DataFrame:
    """Several rows per run are checkpoints; final-loss fits take each run's last one."""
    if "step" not in out:
        dup = out[out["run"].duplicated(keep=False)]["run"].iloc[0]
        raise RunLogError(
            f"run {dup!r} has several rows but there is no step column to order its "
            "checkpoints; add a step column or give each row its own run id"
        )
    if checkpoints != "last":
        return out
    before = len(out)
    out = out.sort_values(["run", "step"], kind="stable").groupby("run", sort=False).tail(1)
    out = out.sort_index()
    messages.append(
        f"kept the last checkpoint of each of {len(out)} runs ({before - len(out)} "
        "earlier checkpoints not used; checkpoints='all' keeps them)"
    )
    return out


def _handle_duplicates(
    out: pd.DataFrame, df: pd.DataFrame, kind: str, duplicates: str, messages: list[str]
) -> pd.DataFrame:
    """Rows repeating an (N, D) pair without a run column: keep, average or refuse them."""
    key = out[["N", "D"]]
    dups = key.duplicated(keep=False).to_numpy()
    if not dups.any():
        return out
    first = int(np.flatnonzero(dups)[0])
    n_dup = int(key.duplicated().sum())
    where = row_label(df, first, kind)
    if duplicates == "error":
        raise RunLogError(
            f"{where}: {n_dup} rows repeat an earlier (N, D) pair; pass "
            "duplicates='keep' or 'mean' (or add a run column)"
        )
    if duplicates == "mean":
        agg = {c: "first" for c in out.columns if c not in ("N", "D")}
        agg["loss"] = "mean"
        agg["C"] = "mean"
        out = out.groupby(["N", "D"], sort=False, as_index=False).agg(agg)
        messages.append(f"averaged {n_dup} duplicated (N, D) rows (first at {where})")
    else:
        messages.append(
            f"{n_dup} rows repeat an earlier (N, D) pair (first at {where}); kept "
            "as separate runs (duplicates='mean' averages them)"
        )
    return out


def _design_warnings(out: pd.DataFrame, require: Sequence[str]) -> list[str]:
    msgs = []
    loss = out["loss"].to_numpy()
    if np.median(loss) > 20:
        msgs.append(
            f"loss values look like perplexities (median {np.median(loss):.3g}); the laws "
            "expect cross-entropy in nats per token: take the natural log first"
        )
    if out["D"].max() < 1e6:
        msgs.append(
            f"token counts look like they are in millions or billions (largest {out['D'].max():g});"
            " the laws expect raw token counts"
        )
    if out["N"].max() < 1e4:
        msgs.append(
            f"parameter counts look like they are in millions or billions (largest "
            f"{out['N'].max():g}); the laws expect raw parameter counts"
        )
    ratio = np.log(out["D"].to_numpy() / out["N"].to_numpy())
    if "N" in require and "D" in require:
        if np.ptp(np.log(out["N"].to_numpy())) < 1e-9:
            msgs.append(
                "every run has the same N: the parameter term (A, alpha) is not identifiable"
            )
        elif np.ptp(np.log(out["D"].to_numpy())) < 1e-9:
            msgs.append("every run has the same D: the data term (B, beta) is not identifiable")
        elif np.ptp(ratio) < np.log(1.05):
            msgs.append(
                f"UNIDENTIFIABLE DESIGN: every run has the same tokens-per-parameter ratio "
                f"(~{np.exp(np.median(ratio)):.3g}); alpha and beta cannot be separated. Add "
                "runs at other ratios (an isoFLOP sweep) before trusting any fit or plan"
            )
    return msgs
