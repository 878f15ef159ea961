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
from scalinglaws.io.columns import (
    map_columns,
    normalize_name,
    numeric_column,
    read_table,
    row_label,
)
from scalinglaws.io.query import row_mask

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
#: What the ``loss`` column may hold: cross-entropy in nats per token, or its perplexity.
LOSS_KINDS = ("loss", "perplexity")
#: Median above which a ``loss`` column is taken for perplexities. Cross-entropies of
#: language models sit between ~1.5 and ~4 nats per token for trained models and reach
#: ln(vocabulary) ~ 10-11 only at initialisation; logs of checkpoints past the first few
#: percent of training have medians well under 8. Perplexities are exp(loss): 9-22
#: (median ~15) for the OPT family, ~20-70 for small models.
PERPLEXITY_MEDIAN = 8.0


def parse_checkpoints(checkpoints: Any) -> tuple[str, float]:
    """``checkpoints`` option -> ``(mode, fraction)``.

    Accepted: ``"last"``, ``"all"``, ``"after-fraction F"`` (also ``"after-fraction=F"``
    or ``("after-fraction", F)``) with ``0 <= F < 1``.

    Raises:
        RunLogError: Anything else; one line saying what is valid.
    """
    if isinstance(checkpoints, str) and checkpoints in ("last", "all"):
        return checkpoints, 0.0
    parts: Sequence[Any]
    if isinstance(checkpoints, str):
        parts = checkpoints.replace("=", " ").replace(":", " ").split()
    elif isinstance(checkpoints, tuple | list):
        parts = checkpoints
    else:
        parts = ()
    if len(parts) == 2 and parts[0] in ("after-fraction", "after_fraction"):
        try:
            frac = float(parts[1])
        except (TypeError, ValueError):
            frac = math.nan
        if 0.0 <= frac < 1.0:
            return "after-fraction", frac
    raise RunLogError(
        f"checkpoints must be 'last', 'all' or 'after-fraction F' with 0 <= F < 1 (keep "
        f"each run's checkpoints from fraction F of its tokens on), not {checkpoints!r}"
    )


def checkpoints_label(checkpoints: Any) -> str:
    """The canonical text of a ``checkpoints`` option (``"after-fraction 0.1"``)."""
    mode, frac = parse_checkpoints(checkpoints)
    return f"after-fraction {frac:g}" if mode == "after-fraction" else mode


def load_runs(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    k: float = DEFAULT_K,
    compute_rtol: float = DEFAULT_COMPUTE_RTOL,
    checkpoints: Any = "last",
    duplicates: str = "keep",
    require: Sequence[str] = ("N", "D"),
    min_runs: int = 5,
    where: str | None = None,
    best_of: str | None = None,
    best_of_per: Sequence[str] = (),
    drop_nonfinite: bool = False,
    loss_is: str = "loss",
) -> pd.DataFrame:
    """Read and validate a run log.

    Accepts CSV, TSV, Parquet, JSON Lines, a DataFrame, or a dict of columns. Columns are
    matched case-insensitively through aliases (``"Model Size"`` -> ``N``, ``"Training
    FLOP"`` -> ``C``, ``tokens`` -> ``D``, ...). Given two of ``N``, ``D``, ``C`` the third
    follows from ``C = k * N * D``; when all three are given they must agree within
    ``compute_rtol``.

    The steps, in order: map columns; keep the rows ``where`` selects; drop non-finite
    losses (``drop_nonfinite``); validate and derive N, D, C; convert perplexities
    (``loss_is``); keep the best run of a sweep per (N, D) (``best_of``); choose
    checkpoints; handle duplicates; check the design.

    Args:
        source: Path, DataFrame or mapping of columns.
        columns: Explicit ``{canonical: column}`` overrides (``{"N": "non_embedding"}``,
            ``{"loss": "eval/loss"}``).
        k: FLOPs per parameter per token (6 for a dense transformer's forward+backward).
        compute_rtol: Relative tolerance for ``C`` against ``k*N*D`` when all are given.
        checkpoints: With ``run`` and ``step`` columns (several rows per run):
            ``"last"`` keeps each run's last checkpoint (final-loss fits); ``"all"`` keeps
            every row (every checkpoint a data point); ``"after-fraction F"`` keeps the
            checkpoints at or past fraction F of the run's final token count (the
            Hitchhiker's guide, arXiv 2410.11840, fits past ~10% of training).
            Resampling stays by run whichever is chosen.
        duplicates: Rows with the same (N, D) and no distinguishing ``run``: ``"keep"``
            (warn), ``"mean"`` (average their losses, warn), or ``"error"``.
        require: Which of N and D the law needs (derived from C when absent).
        min_runs: Fewest distinct runs accepted (the number of law parameters).
        where: A row filter, parsed (never evaluated): comparisons over the log's
            columns, canonical names included, joined by and/or, e.g.
            ``"D >= 1e10 and D <= 1.01e11"`` or ``"schedule == 'hot'"``
            (:mod:`scalinglaws.io.query`).
        best_of: A sweep column (e.g. ``"lr"``): per (N, final D), keep only the runs at
            the value of this column whose final loss is lowest (mean over repeats).
        best_of_per: Further columns that, with N and D, tell configurations apart for
            ``best_of`` (e.g. ``["unique_tokens"]`` in a repeated-data study, where runs of
            one (N, D) differ in how often their data repeat): the best value is then
            chosen per (N, D, *these*). Their values must be constant within a run.
        drop_nonfinite: Drop rows whose loss is empty, NaN or infinite (a diverged run)
            with a note, instead of refusing the log.
        loss_is: ``"loss"`` (cross-entropy in nats per token) or ``"perplexity"`` (the
            column holds exp(loss): its natural log is taken).

    Returns:
        A DataFrame with canonical columns ``N, D, C, loss`` (and ``run``, ``step`` when
        given) followed by the log's other columns. ``df.attrs`` holds ``k``,
        ``warnings`` (every message, notes included), ``notes`` (what was done on
        request: rows filtered or dropped, checkpoints kept, columns chosen),
        ``source_columns`` (``{file's name: canonical name}`` of renamed columns, which
        filters such as a backtest's hold-out query still accept) and ``source``.

    Raises:
        RunLogError: One line naming the row and column of the first problem.
    """
    mode, fraction = _check_options(checkpoints, duplicates, k, loss_is)
    df, kind = read_table(source)
    if df.shape[0] == 0:
        raise RunLogError("run log has no rows")
    notes: list[str] = []
    found = map_columns(df, columns, ALIASES, notes)
    _require_columns(df, found)
    df = select_rows(df, found, kind, where=where, drop_nonfinite=drop_nonfinite, k=k, notes=notes)
    _note_budget_columns(df, found, notes)
    values = _derive_compute(df, found, kind, k, compute_rtol, drop_nonfinite)
    if loss_is == "perplexity":
        values["loss"] = _perplexity_to_loss(df, found, kind, values["loss"], notes)
    out = _assemble(df, found, kind, values)
    messages: list[str] = []
    if best_of is not None:
        out = _best_of(out, best_of, notes, best_of_per)
    elif best_of_per:
        raise RunLogError(
            "best_of_per (--best-of-per) groups the runs of a best_of (--best-of) sweep; "
            "give best_of too"
        )
    if "run" in out and out["run"].duplicated().any():
        out = _take_checkpoints(out, mode, fraction, notes)
    elif "run" not in out:
        if mode == "after-fraction":
            raise RunLogError(
                f"checkpoints='after-fraction {fraction:g}' needs a run column to know where "
                "each run ends; name it with columns={'run': ...} (--column run=COLUMN), "
                f"found columns: {', '.join(map(str, df.columns))}"
            )
        out = _handle_duplicates(out, df, kind, duplicates, messages)
    if len(out) < min_runs:
        raise RunLogError(
            f"run log has {len(out)} runs; at least {min_runs} are needed to fit the law's "
            f"{min_runs} parameters"
        )
    messages.extend(_design_warnings(out, require, loss_is, found))
    for m in messages:
        warnings.warn(m, ScalingLawsWarning, stacklevel=2)
    out = out.reset_index(drop=True)
    out.attrs["k"] = float(k)
    out.attrs["warnings"] = [*notes, *messages]
    out.attrs["notes"] = notes
    out.attrs["source_columns"] = {str(src): canon for canon, src in found.items() if src != canon}
    out.attrs["source"] = str(source) if not isinstance(source, pd.DataFrame | Mapping) else None
    return out


def _check_options(checkpoints: Any, duplicates: str, k: float, loss_is: str) -> tuple[str, float]:
    mode = parse_checkpoints(checkpoints)
    if duplicates not in ("keep", "mean", "error"):
        raise RunLogError(f"duplicates must be 'keep', 'mean' or 'error', not {duplicates!r}")
    if not (isinstance(k, int | float) and math.isfinite(k) and k > 0):
        raise RunLogError(f"k (FLOPs per parameter per token) must be a positive number, not {k!r}")
    if loss_is not in LOSS_KINDS:
        raise RunLogError(f"loss_is must be 'loss' or 'perplexity', not {loss_is!r}")
    return mode


def select_rows(
    df: pd.DataFrame,
    found: Mapping[str, str],
    kind: str,
    *,
    where: str | None,
    drop_nonfinite: bool,
    k: float,
    notes: list[str],
) -> pd.DataFrame:
    """The rows a loader goes on with: those ``where`` selects, less non-finite losses.

    Shared by the run-log loaders (:func:`load_runs`, the sparse loader) so both filter
    the same way. Rows keep their index labels, so messages still name the file's lines.

    Args:
        df: The table read.
        found: ``{canonical: column}`` from :func:`~scalinglaws.io.columns.map_columns`.
        kind: Row naming, as returned by :func:`~scalinglaws.io.columns.read_table`.
        where: Row filter (:mod:`scalinglaws.io.query`), or None.
        drop_nonfinite: Drop rows whose loss is empty, NaN or infinite.
        k: FLOPs per parameter per token (a filter on ``C`` when C is derived).
        notes: Receives one line per step taken.

    Returns:
        The selected rows.

    Raises:
        RunLogError: The filter cannot be read or selects nothing; every loss non-finite.
    """
    if where is not None:
        df = _filter_rows(df, found, where, k, notes)
    if drop_nonfinite:
        df = _drop_nonfinite(df, found, kind, notes)
    return df


def _filter_rows(
    df: pd.DataFrame, found: Mapping[str, str], where: str, k: float, notes: list[str]
) -> pd.DataFrame:
    """The rows a ``where`` filter selects; the filter sees canonical names and the log's."""
    view = pd.DataFrame(index=df.index)
    for canon, col in found.items():
        raw = df[col]
        view[canon] = (
            pd.to_numeric(raw, errors="coerce") if canon in ("N", "D", "C", "loss") else raw
        )
    with np.errstate(all="ignore"):
        if "C" not in view and {"N", "D"} <= set(view):
            view["C"] = k * view["N"] * view["D"]
        elif "D" not in view and {"N", "C"} <= set(view):
            view["D"] = view["C"] / (k * view["N"])
        elif "N" not in view and {"D", "C"} <= set(view):
            view["N"] = view["C"] / (k * view["D"])
    for col in df.columns:
        if col not in view.columns:
            view[col] = df[col]
    mask = row_mask(view, where, label="where filter")
    if not mask.any():
        raise RunLogError(f"where filter {where!r} selects none of the {len(df)} rows")
    shown = " ".join(str(where).split())  # a note is one line, whatever the filter holds
    notes.append(f"kept {int(mask.sum())} of {len(df)} rows where {shown}")
    return df[mask]


def _drop_nonfinite(
    df: pd.DataFrame, found: Mapping[str, str], kind: str, notes: list[str]
) -> pd.DataFrame:
    """Rows whose loss is empty, NaN or infinite, dropped with a one-line note."""
    raw = df[found["loss"]]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = raw.isna().to_numpy() | np.isinf(values)
    if not bad.any():
        return df
    first = row_label(df, int(np.flatnonzero(bad)[0]), kind)
    if bad.all():
        raise RunLogError(f"every loss in column {found['loss']!r} is empty, NaN or infinite")
    notes.append(
        f"dropped {int(bad.sum())} rows whose loss is empty, NaN or infinite (first at {first})"
    )
    return df[~bad]


def _note_budget_columns(df: pd.DataFrame, found: Mapping[str, str], notes: list[str]) -> None:
    """A nominal budget column (``compute_budget``) is not a run's compute: say it is unused."""
    if "C" in found:
        return
    budgets = [c for c in df.columns if "budget" in normalize_name(c)]
    if budgets:
        notes.append(
            f"column {budgets[0]!r} is a nominal budget, not a run's compute: C = k*N*D is "
            f"used (--column C={budgets[0]} takes it as the compute)"
        )


def _perplexity_to_loss(
    df: pd.DataFrame, found: Mapping[str, str], kind: str, ppl: np.ndarray, notes: list[str]
) -> np.ndarray:
    """loss = ln(perplexity); a perplexity below 1 is impossible and is refused."""
    bad = np.flatnonzero(ppl < 1.0)
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{row_label(df, i, kind)}, column {found['loss']!r}: {ppl[i]:g} is not a "
            "perplexity (perplexities are >= 1); is the column a loss already?"
        )
    notes.append(f"converted column {found['loss']!r} from perplexity to loss: loss = ln(ppl)")
    return np.log(ppl)


#: The loader's own columns, which a sweep option cannot name.
_CANONICAL = ("N", "D", "C", "loss", "run", "step")


def _log_column(out: pd.DataFrame, column: str, what: str) -> str:
    """``column`` as the log spells it (matched case-insensitively when not exact)."""
    if column in out.columns:
        return column
    hits = [c for c in out.columns if str(c).lower() == str(column).lower()]
    if len(hits) != 1:
        raise RunLogError(
            f"{what} column {column!r} is not in the run log; columns are "
            f"{', '.join(map(str, out.columns))}"
        )
    return hits[0]


def _best_of(
    out: pd.DataFrame, column: str, notes: list[str], per: Sequence[str] = ()
) -> pd.DataFrame:
    """Per (N, final D, *per), the rows of the runs at the best value of a sweep column."""
    column = _log_column(out, column, "best_of")
    if column in _CANONICAL:
        raise RunLogError(f"best_of takes a sweep column (e.g. a learning rate), not {column!r}")
    if isinstance(per, str):
        per = [per]
    per = [_log_column(out, p, "best_of_per") for p in per]
    for p in per:
        if p in _CANONICAL or p == column:
            raise RunLogError(
                f"best_of_per takes columns that tell configurations apart besides N and D "
                f"(e.g. unique_tokens), not {p!r}"
            )
    for c in (column, *per):
        if out[c].isna().any():
            raise RunLogError(
                f"{'best_of' if c == column else 'best_of_per'} column {c!r} has empty values"
            )
    if "run" in out and "step" in out:
        for p in per:
            varying = out.groupby("run", sort=False)[p].nunique() > 1
            if varying.any():
                raise RunLogError(
                    f"best_of_per column {p!r} changes within run "
                    f"{varying.index[varying.argmax()]!r}; it must describe the whole run"
                )
        last = out.sort_values(["run", "step"], kind="stable").groupby("run", sort=False).tail(1)
        finals = last.reset_index(drop=True)
        key_d = out["run"].map(last.set_index("run")["D"])
    else:
        finals = out.reset_index(drop=True)
        key_d = out["D"]
    groups = [finals["N"], finals["D"], *(finals[p] for p in per)]
    names = [f"_group_{i}" for i in range(len(groups))]
    finals = finals.assign(**dict(zip(names, groups, strict=True)))
    score = finals.groupby([*names, column], sort=False)["loss"].mean()
    levels = list(range(len(names)))
    best = score.groupby(level=levels, sort=False).idxmin()
    winners = {key: idx[-1] for key, idx in best.items()}
    row_keys = zip(out["N"], key_d, *(out[p] for p in per), strict=True)
    chosen = np.array(
        [winners[key] == v for key, v in zip(row_keys, out[column], strict=True)], dtype=bool
    )
    n_groups = len(winners)
    n_values = int(score.groupby(level=levels).size().max())
    dropped = len(out) - int(chosen.sum())
    label = ", ".join(["N", "D", *map(str, per)])
    notes.append(
        f"kept the best {column!r} (lowest final loss) in each of {n_groups} ({label}) groups "
        f"of up to {n_values} values; {dropped} rows of other {column!r} values not used"
    )
    return out[chosen]


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
    hint = ""
    if "loss" not in found:
        # W&B exports name losses 'eval/loss', 'train/loss': suggest the held-out one.
        losses = [c for c in df.columns if "loss" in str(c).lower() or "ppl" in str(c).lower()]
        held = [c for c in losses if any(w in str(c).lower() for w in ("eval", "val", "test"))]
        if losses:
            pick = (held or losses)[0]
            ppl = "ppl" in str(pick).lower() or "perplex" in str(pick).lower()
            hint = f"; name the loss column, e.g. --column loss={pick}"
            hint += " --loss-is perplexity" if ppl else ""
            hint += f" (Python: columns={{'loss': {pick!r}}}{', loss_is=...' if ppl else ''})"
    raise RunLogError(
        f"run log needs {' and '.join(need)}; found columns: "
        f"{', '.join(map(str, df.columns))} (aliases: N=params/'Model Size', "
        f"D=tokens, C=flops/'Training FLOP', loss=eval_loss/val_loss){hint}"
    )


def _derive_compute(
    df: pd.DataFrame,
    found: Mapping[str, str],
    kind: str,
    k: float,
    compute_rtol: float,
    dropped: bool = False,
) -> dict[str, np.ndarray]:
    """N, D, C and loss as arrays: the missing one of N, D, C from C = k N D, checked."""
    present = [c for c in ("N", "D", "C") if c in found]
    values = {c: numeric_column(df, found[c], c, kind, positive=True) for c in present}
    hint = "" if dropped else "; drop_nonfinite=True (--drop-nonfinite) drops such rows"
    values["loss"] = numeric_column(df, found["loss"], "loss", kind, positive=True, hint=hint)
    if "N" in values and "D" in values:
        with np.errstate(over="ignore"):
            kcd = k * values["N"] * values["D"]
        huge = np.flatnonzero(~np.isfinite(kcd))
        if huge.size:
            i = int(huge[0])
            raise RunLogError(
                f"{row_label(df, i, kind)}: compute k*N*D overflows (N = {values['N'][i]:.4g}, "
                f"D = {values['D'][i]:.4g}) in {huge.size} rows"
            )
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


def _take_checkpoints(
    out: pd.DataFrame, mode: str, fraction: float, notes: list[str]
) -> pd.DataFrame:
    """Several rows per run are checkpoints: keep the last, all, or those past a fraction."""
    if "step" not in out:
        dup = out[out["run"].duplicated(keep=False)]["run"].iloc[0]
        raise RunLogError(
            f"run {dup!r} has several rows but there is no step column to order its "
            "checkpoints; add a step column or give each row its own run id"
        )
    if mode == "all":
        notes.append(
            f"kept all {len(out)} checkpoints of {out['run'].nunique()} runs as data points "
            "(resampled by run)"
        )
        return out
    before = len(out)
    if mode == "after-fraction":
        final_d = out.groupby("run", sort=False)["D"].transform("max").to_numpy()
        out = out[out["D"].to_numpy() >= fraction * final_d * (1.0 - 1e-12)]
        notes.append(
            f"kept the {len(out)} checkpoints at or past {fraction:g} of each run's final "
            f"tokens ({before - len(out)} earlier ones not used) from "
            f"{out['run'].nunique()} runs (resampled by run)"
        )
        return out
    out = out.sort_values(["run", "step"], kind="stable").groupby("run", sort=False).tail(1)
    out = out.sort_index()
    notes.append(
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


def _design_warnings(
    out: pd.DataFrame, require: Sequence[str], loss_is: str, found: Mapping[str, str]
) -> list[str]:
    msgs = []
    loss = out["loss"].to_numpy()
    if loss_is == "loss" and np.median(loss) > PERPLEXITY_MEDIAN and np.min(loss) >= 1.0:
        msgs.append(
            f"LOSS LOOKS LIKE PERPLEXITY: column {found['loss']!r} has median "
            f"{np.median(loss):.3g} (range {np.min(loss):.3g} to {np.max(loss):.3g}); "
            f"cross-entropy losses of language models are rarely above {PERPLEXITY_MEDIAN:g} "
            "nats per token, and perplexity = exp(loss). If these are perplexities pass "
            "--loss-is perplexity (Python: loss_is='perplexity') to fit their natural log"
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
    if "N" in require and "D" in require:
        problem = separation_problem(out["N"].to_numpy(), out["D"].to_numpy())
        if problem is not None:
            msgs.append(problem)
    return msgs


#: Start of every message of :func:`separation_problem`; a fit whose warnings hold one
#: gives no compute-optimal plan (:func:`scalinglaws.planning.compute.plan_compute`).
UNIDENTIFIABLE_DESIGN = "UNIDENTIFIABLE DESIGN"


def separation_problem(n: Any, d: Any) -> str | None:
    """Why runs of sizes ``n`` and token counts ``d`` cannot separate the parameter term
    from the data term of a law of N and D, or None when they can.

    A compute-optimal allocation trades N against D at fixed compute, so the runs must
    vary D otherwise than as a function of N. They cannot when every run has the same N,
    or the same D (that term is then a constant: its exponent is set by nothing but the
    optimiser's path), or the same tokens-per-parameter ratio (within 5%), or more
    generally when log D is an exact affine function of log N (``D = k N^c``, on the
    distinct (N, D) pairs to 1e-9 of their spread): no run then shows what more data at
    the same size does. Whatever allocation a fit of such runs gives depends on rounding
    (on one log at a single token count, Approach 3 gave 3 tokens per parameter on one
    CPU and 2,800 on another), so it must not be taken as a plan.

    Returns:
        A message that starts with :data:`UNIDENTIFIABLE_DESIGN`, or None.
    """
    pairs = np.unique(np.log(np.column_stack([n, d]).astype(float)), axis=0)
    log_n, log_d = pairs[:, 0], pairs[:, 1]
    head = f"{UNIDENTIFIABLE_DESIGN}: "
    if np.ptp(log_n) < 1e-9:
        return head + "every run has the same N: the parameter term (A, alpha) is not identifiable"
    if np.ptp(log_d) < 1e-9:
        return head + "every run has the same D: the data term (B, beta) is not identifiable"
    ratio = log_d - log_n
    if np.ptp(ratio) < np.log(1.05):
        return head + (
            f"every run has the same tokens-per-parameter ratio (~{np.exp(np.median(ratio)):.3g}); "
            "alpha and beta cannot be separated. Add runs at other ratios (an isoFLOP sweep) "
            "before trusting any fit or plan"
        )
    if len(pairs) >= 3:
        sv = np.linalg.svd(pairs - pairs.mean(axis=0), compute_uv=False)
        if sv[1] <= 1e-9 * sv[0]:
            slope = float(np.polyfit(log_n, log_d, 1)[0])
            return head + (
                f"the runs' token counts are a fixed power of their sizes (D ~ N^{slope:.3g}); "
                "no run shows what more data at the same size does, so alpha and beta cannot "
                "be separated. Add runs at other token counts for the same size"
            )
    return None
