"""Continual-pre-training run logs: long rows ``model, ratio, tokens, split, loss``.

One row per evaluation checkpoint: ``model`` names the pre-trained model, ``ratio`` is
the domain share R in [0, 1] of the continual-training mixture, ``tokens`` the raw
continual-training tokens seen, ``split`` which validation loss (``general`` or
``domain``) and ``loss`` its value. Each model's losses *before* continual training are
baseline rows with ``tokens = 0`` and an empty ``ratio`` (one per model and split; they
apply to every ratio). Baselines repeated once per ratio (``tokens = 0`` with the ratio
filled in) are accepted when the copies agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RunLogError
from scalinglaws.io.columns import map_columns, read_table, row_label

SPLITS = ("general", "domain")
#: Canonical column -> accepted aliases (case-insensitive; spaces, dashes, underscores
#: ignored).
CPT_ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model", "model_name", "size", "model_size"),
    "ratio": ("ratio", "domain_ratio", "domain_share", "mixture_ratio", "share", "r"),
    "tokens": ("tokens", "t", "n_tokens", "train_tokens", "cpt_tokens", "num_tokens"),
    "split": ("split", "loss_type", "eval_split", "dataset"),
    "loss": ("loss", "eval_loss", "val_loss", "validation_loss"),
}
#: Checkpoints needed per (model, ratio, split): more than the parameters of its law
#: (3 for the domain change, 5 for the general change).
MIN_CHECKPOINTS = {"domain": 4, "general": 6}
#: Relative tolerance within which repeated baseline copies must agree.
BASELINE_RTOL = 1e-6
# Names a row by its position in the table read, for error messages.
_RowLabel = Callable[[int], str]


def select_curves(
    source: Any,
    columns: Mapping[str, str] | None = None,
    where: str | None = None,
) -> tuple[Any, list[str]]:
    """The curves a CMR fit reads: ``source`` itself, or the selected, renamed table.

    ``columns`` maps a canonical role (``model``, ``ratio``, ``tokens``, ``split``,
    ``loss``) to the log's own column; ``where`` is a row filter parsed as
    :func:`scalinglaws.io.query.row_mask` parses it (it sees the log's names and the roles
    given in ``columns``). Recorded in a CMR record's ``data.load_options`` so that a
    drift check refits the same rows.

    Returns:
        ``(source or table, notes)``.

    Raises:
        RunLogError: A role that is not canonical, a column that is absent, a filter that
            does not parse or selects no row.
    """
    from scalinglaws.io.query import row_mask

    columns = dict(columns or {})
    if not columns and where is None:
        return source, []
    table, _ = read_table(source)
    # The overrides checked as every loader checks them: known roles, present columns,
    # no column in two roles.
    map_columns(table, columns, CPT_ALIASES)
    notes = []
    if where is not None:
        view = table.copy()
        for role, col in columns.items():
            view[role] = table[col]
        mask = row_mask(view, where, label="--where filter")
        if not mask.any():
            raise RunLogError(f"--where {where!r} selects none of the curves' rows")
        notes.append(
            f"kept {int(mask.sum())} of {len(table)} rows where " + " ".join(where.split())
        )
        table = table[mask].reset_index(drop=True)
    for role, col in columns.items():
        if role in table.columns and role != col:
            table = table.drop(columns=role)
        table = table.rename(columns={col: role})
    return table, notes


def load_cpt_runs(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    token_unit_in: float = 1.0,
) -> pd.DataFrame:
    """Read and validate a continual-pre-training run log.

    Args:
        source: CSV/TSV/Parquet/JSON Lines path, DataFrame or mapping of columns.
        columns: Explicit ``{canonical: column}`` overrides.
        token_unit_in: Raw tokens per unit of the ``tokens`` column (1 for raw counts,
            the default; ``2e8`` for a log written in the paper's 0.2B-token unit).

    Returns:
        Columns ``model`` (str), ``ratio`` (float, NaN on baseline rows), ``tokens`` (raw,
        float), ``split`` (``general``/``domain``), ``loss``, ``baseline`` (the model's
        loss before continual training for that split) and ``dloss = loss - baseline``;
        checkpoint rows only (baselines are folded into the ``baseline`` column), sorted
        by model, ratio, split, tokens. ``attrs["baselines"]`` maps
        ``(model, split) -> loss``.

    Raises:
        RunLogError: One line naming the row and column of the first problem.
    """
    if not (isinstance(token_unit_in, int | float) and math.isfinite(token_unit_in)):
        raise RunLogError(f"token_unit_in must be a positive number, not {token_unit_in!r}")
    if token_unit_in <= 0:
        raise RunLogError(f"token_unit_in must be a positive number, not {token_unit_in!r}")
    df, kind = read_table(source)
    if df.shape[0] == 0:
        raise RunLogError("run log has no rows")
    found = _map(df, columns)
    label = functools.partial(row_label, df, kind=kind)
    rows = _parse_rows(df, found, label, float(token_unit_in))
    is_base = rows["tokens"].to_numpy() == 0
    baselines = _baselines(rows[is_base], found, label)
    ckpt = rows[~is_base]
    if ckpt.empty:
        raise RunLogError("run log has only baseline rows (tokens = 0); add checkpoints")
    _check_curves(ckpt, baselines, found, label)
    ckpt = ckpt.copy()
    ckpt["baseline"] = [
        baselines[(m, s)] for m, s in zip(ckpt["model"], ckpt["split"], strict=True)
    ]
    ckpt["dloss"] = ckpt["loss"] - ckpt["baseline"]
    ckpt["_model_order"] = ckpt["model"].map(model_order(ckpt["model"]))
    ckpt = ckpt.sort_values(["_model_order", "ratio", "split", "tokens"], kind="stable")
    ckpt = ckpt.drop(columns=["_row", "_model_order"]).reset_index(drop=True)
    ckpt.attrs["baselines"] = baselines
    ckpt.attrs["token_unit_in"] = float(token_unit_in)
    ckpt.attrs["source"] = str(source) if not isinstance(source, pd.DataFrame | Mapping) else None
    return ckpt


_SIZE_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def _model_size(name: str) -> float | None:
    """A model name's size when it reads as one (``"460M"`` -> 4.6e8, ``"1.6B"``), else None."""
    text = str(name).strip().lower()
    scale = _SIZE_SUFFIX.get(text[-1:], None)
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError:
        return None


def model_order(models: Any) -> dict[str, int]:
    """Rank of each model name: by size when every name reads as a size (``460M`` before
    ``1.6B``, not string order), else in string order."""
    names = list(pd.unique(pd.Series(models)))
    sizes = [_model_size(n) for n in names]
    if all(v is not None for v in sizes):
        order = sorted(range(len(names)), key=lambda i: (sizes[i], str(names[i])))
    else:
        order = sorted(range(len(names)), key=lambda i: str(names[i]))
    return {names[i]: rank for rank, i in enumerate(order)}


def _parse_rows(
    df: pd.DataFrame, found: Mapping[str, str], label: _RowLabel, token_unit_in: float
) -> pd.DataFrame:
    """Every row checked and in canonical form: ``model, ratio, tokens, split, loss, _row``."""
    models = df[found["model"]]
    bad = np.flatnonzero(models.isna().to_numpy())
    if bad.size:
        raise RunLogError(f"{label(int(bad[0]))}, column {found['model']!r}: model is empty")
    models = models.astype(str).str.strip().to_numpy()

    split_raw = df[found["split"]]
    split = split_raw.astype(str).str.strip().str.lower().to_numpy()
    bad = np.flatnonzero(~np.isin(split, SPLITS) | split_raw.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{label(i)}, column {found['split']!r}: split {split_raw.iloc[i]!r} is not one of "
            "'general', 'domain'"
        )

    tokens = _numbers(df, found["tokens"], label, allow_empty=False) * token_unit_in
    bad = np.flatnonzero(tokens < 0)
    if bad.size:
        i = int(bad[0])
        raise RunLogError(f"{label(i)}, column {found['tokens']!r}: {tokens[i]:g} must be >= 0")
    loss = _numbers(df, found["loss"], label, allow_empty=False)
    bad = np.flatnonzero(loss <= 0)
    if bad.size:
        i = int(bad[0])
        raise RunLogError(f"{label(i)}, column {found['loss']!r}: {loss[i]:g} must be > 0")
    ratio = _ratios(df, found, label, tokens)
    return pd.DataFrame(
        {
            "model": models,
            "ratio": ratio,
            "tokens": tokens,
            "split": split,
            "loss": loss,
            "_row": np.arange(len(df)),
        }
    )


def _ratios(
    df: pd.DataFrame, found: Mapping[str, str], label: _RowLabel, tokens: np.ndarray
) -> np.ndarray:
    """Domain shares in [0, 1]; empty (NaN) only on baseline rows (tokens = 0)."""
    ratio = _numbers(df, found["ratio"], label, allow_empty=True)
    bad = np.flatnonzero(~np.isnan(ratio) & ((ratio < 0) | (ratio > 1)))
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{label(i)}, column {found['ratio']!r}: ratio {ratio[i]:g} is outside [0, 1] "
            "(the domain share of the mixture)"
        )
    bad = np.flatnonzero(np.isnan(ratio) & (tokens != 0))
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{label(i)}, column {found['ratio']!r}: ratio is empty but tokens = {tokens[i]:g}; "
            "only baseline rows (tokens = 0) may leave the ratio empty"
        )
    return ratio


def _baselines(
    base: pd.DataFrame, found: Mapping[str, str], label: _RowLabel
) -> dict[tuple[str, str], float]:
    """One baseline loss per (model, split); repeated copies must agree."""
    baselines: dict[tuple[str, str], float] = {}
    first_row: dict[tuple[str, str], int] = {}
    columns = (base["model"], base["split"], base["loss"], base["_row"])
    for model, sp, loss, i in zip(*columns, strict=True):
        key = (model, sp)
        if key in baselines:
            ref = baselines[key]
            if abs(loss - ref) > BASELINE_RTOL * abs(ref):
                raise RunLogError(
                    f"{label(int(i))}, column {found['loss']!r}: baseline {loss:g} for model "
                    f"{key[0]!r}, split {key[1]!r} disagrees with {ref:g} at "
                    f"{label(first_row[key])}; repeated baselines must agree"
                )
        else:
            baselines[key] = float(loss)
            first_row[key] = int(i)
    return baselines


def _check_curves(
    ckpt: pd.DataFrame,
    baselines: Mapping[tuple[str, str], float],
    found: Mapping[str, str],
    label: _RowLabel,
) -> None:
    """Baselines for every model; per run, increasing tokens and enough checkpoints."""
    for model in pd.unique(ckpt["model"]):
        for sp in SPLITS:
            if (model, sp) not in baselines:
                raise RunLogError(
                    f"model {model!r} has no {sp} baseline: add a row with tokens = 0, an "
                    f"empty ratio, split {sp!r} and the loss before continual training"
                )
    # Within a run (model, ratio, split) tokens must increase strictly in file order.
    for (model, r, sp), g in ckpt.groupby(["model", "ratio", "split"], sort=False):
        t = g["tokens"].to_numpy()
        steps = np.flatnonzero(np.diff(t) <= 0)
        if steps.size:
            i = int(g["_row"].iloc[steps[0] + 1])
            raise RunLogError(
                f"{label(i)}, column {found['tokens']!r}: tokens {t[steps[0] + 1]:g} do not "
                f"increase after {t[steps[0]]:g} within model {model!r}, ratio {r:g}, split "
                f"{sp!r}; checkpoints of one run must have strictly increasing token counts"
            )
        need = MIN_CHECKPOINTS[sp]
        if len(t) < need:
            raise RunLogError(
                f"model {model!r}, ratio {r:g}, split {sp!r}: {len(t)} checkpoints cannot "
                f"determine the {need - 1} parameters of the {sp}-loss change; at least "
                f"{need} are needed"
            )
    for (model, r), g in ckpt.groupby(["model", "ratio"], sort=False):
        present = set(g["split"])
        for sp in SPLITS:
            if sp not in present:
                raise RunLogError(
                    f"model {model!r}, ratio {r:g} has no {sp} checkpoints; each ratio needs "
                    "both the general and the domain loss"
                )


def _map(df: pd.DataFrame, columns: Mapping[str, str] | None) -> dict[str, str]:
    found = map_columns(df, columns, CPT_ALIASES)
    missing = [c for c in CPT_ALIASES if c not in found]
    if missing:
        raise RunLogError(
            f"continual-pre-training log needs columns model, ratio, tokens, split, loss; "
            f"missing {', '.join(missing)} (found: {', '.join(map(str, df.columns))})"
        )
    return found


def _numbers(df: pd.DataFrame, col: str, label: _RowLabel, allow_empty: bool) -> np.ndarray:
    raw = df[col]
    empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    values = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values) & ~empty)
    if bad.size:
        i = int(bad[0])
        raise RunLogError(f"{label(i)}, column {col!r}: {raw.iloc[i]!r} is not a number")
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        i = int(bad[0])
        raise RunLogError(f"{label(i)}, column {col!r}: value must be finite")
    if not allow_empty:
        bad = np.flatnonzero(empty)
        if bad.size:
            i = int(bad[0])
            raise RunLogError(f"{label(i)}, column {col!r}: value is empty")
    return values
