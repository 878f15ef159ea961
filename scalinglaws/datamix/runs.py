"""Proxy-run logs for data-mixture laws: one row per small run trained on a mixture.

A proxy study trains many small models, each on a mixture r of K training domains
(weights >= 0 summing to one), and measures the loss on V validation domains. The
published RegMix files (Liu et al. 2024, arXiv 2407.01492) keep the weights and the
losses in two files joined on ``index``; other studies keep one wide table (a weight
column and a loss column per domain) or a long one (one row per run and domain).
:func:`load_mixture_runs` reads all three into one :class:`MixtureRuns`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RunLogError
from scalinglaws.io.columns import read_table

#: Rows whose weights sum to within this of one are renormalised with one summary note
#: (published files round each weight to 3 decimals: in RegMix's training file 189 of
#: 512 rows are off by more than 1e-3, up to 0.004).
SUM_NOTE = 0.01
#: Rows off by more than SUM_NOTE but at most this are renormalised with a warning-level
#: note naming the worst row; beyond it a row is refused.
SUM_REFUSE = 0.05
#: Prefixes tried, in order, to find the weight columns when none are named.
WEIGHT_PREFIXES = ("w_", "weight_", "weight:", "w:", "train_", "mix_")
#: Prefixes tried to find the loss columns in a single wide table.
LOSS_PREFIXES = ("loss_", "loss:", "val_", "valid_", "eval_", "metric/")
#: Columns taken as the join key of a weights file and a losses file, in order.
JOIN_KEYS = ("index", "run", "id", "run_id", "name")
#: Optional per-run columns kept beside the mixture.
META_COLUMNS = ("run", "N", "D", "step")


@dataclass(frozen=True)
class MixtureRuns:
    """Proxy runs: the mixture each was trained on and the losses it reached.

    Attributes:
        weights: ``(n, K)`` mixture weights, one column per training domain (short names),
            rows summing to one.
        losses: ``(n, V)`` validation losses, one column per validation domain; NaN where
            a run has no loss for that domain.
        meta: ``(n, ...)`` the optional per-run columns present: ``run`` (id), ``N``
            (parameters), ``D`` (tokens), ``step``.
        source: Where the runs came from (paths, or ``"<table>"``).
        notes: Messages the user should read (renormalised rows, dropped columns).
    """

    weights: pd.DataFrame
    losses: pd.DataFrame
    meta: pd.DataFrame
    source: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def domains(self) -> tuple[str, ...]:
        """Training domains (weight columns), in file order."""
        return tuple(self.weights.columns)

    @property
    def targets(self) -> tuple[str, ...]:
        """Validation domains (loss columns), in file order."""
        return tuple(self.losses.columns)

    @property
    def sizes(self) -> tuple[float, ...]:
        """Distinct model sizes N present (empty when the log has no size column)."""
        if "N" not in self.meta.columns:
            return ()
        return tuple(float(v) for v in np.unique(self.meta["N"].to_numpy(dtype=float)))

    def __len__(self) -> int:
        return len(self.weights)

    def frame(self) -> pd.DataFrame:
        """One wide table: ``w_<domain>`` weights, ``loss_<domain>`` losses, meta columns."""
        return pd.concat(
            [
                self.meta.reset_index(drop=True),
                self.weights.add_prefix("w_").reset_index(drop=True),
                self.losses.add_prefix("loss_").reset_index(drop=True),
            ],
            axis=1,
        )

    def subset(self, rows: Any) -> MixtureRuns:
        """The runs at the given positions (an integer array or a boolean mask)."""
        idx = np.arange(len(self))[np.asarray(rows)]
        return MixtureRuns(
            weights=self.weights.iloc[idx].reset_index(drop=True),
            losses=self.losses.iloc[idx].reset_index(drop=True),
            meta=self.meta.iloc[idx].reset_index(drop=True),
            source=self.source,
            notes=self.notes,
        )


def _name(source: Any) -> str:
    return os.fspath(source) if isinstance(source, str | os.PathLike) else "<table>"


def _strip_common(names: Sequence[str]) -> list[str]:
    """Short names: the longest common prefix and suffix of several names removed."""
    names = [str(n) for n in names]
    if len(names) < 2:
        return names
    pre = os.path.commonprefix(names)
    suf = os.path.commonprefix([n[::-1] for n in names])[::-1]
    short = []
    for n in names:
        s = n[len(pre) : len(n) - len(suf) if suf else None]
        short.append(s)
    if any(not s for s in short) or len(set(short)) != len(short):
        return names
    return short


def _by_prefix(df: pd.DataFrame, prefixes: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    for p in prefixes:
        cols = [c for c in df.columns if str(c).lower().startswith(p) and c not in exclude]
        if cols:
            return cols
    return []


def _pivot_long(df: pd.DataFrame, key: str, value: str, what: str) -> pd.DataFrame:
    """A long table (key, domain, value) as a wide one (key, one column per domain)."""
    if df.duplicated([key, "domain"]).any():
        row = int(np.flatnonzero(df.duplicated([key, "domain"]).to_numpy())[0])
        raise RunLogError(
            f"{what}: run {df[key].iloc[row]!r} has domain {df['domain'].iloc[row]!r} twice"
        )
    wide = df.pivot(index=key, columns="domain", values=value)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def _columns(
    df: pd.DataFrame, explicit: Sequence[str] | None, prefix: str | None, what: str, defaults
) -> list[str]:
    if explicit is not None:
        cols = list(explicit)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise RunLogError(
                f"{what} columns {missing} are not in the table (columns: {list(df.columns)})"
            )
        return cols
    if prefix is not None:
        cols = [c for c in df.columns if str(c).startswith(prefix)]
        if not cols:
            raise RunLogError(
                f"no {what} column starts with {prefix!r} (columns: {list(df.columns)})"
            )
        return cols
    return _by_prefix(df, defaults)


def _numeric(df: pd.DataFrame, cols: Sequence[str], what: str, row_name) -> np.ndarray:
    out = np.empty((len(df), len(cols)))
    for j, c in enumerate(cols):
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(v) & df[c].notna().to_numpy())
        if bad.size:
            raise RunLogError(
                f"{row_name(bad[0])}, {what} column {c!r}: {df[c].iloc[bad[0]]!r} is not a number"
            )
        out[:, j] = v
    return out


def load_mixture_runs(
    source: Any,
    losses: Any = None,
    *,
    weight_columns: Sequence[str] | None = None,
    weight_prefix: str | None = None,
    loss_columns: Sequence[str] | None = None,
    loss_prefix: str | None = None,
    on: str | None = None,
    columns: Mapping[str, str] | None = None,
    where: str | None = None,
) -> MixtureRuns:
    """Read proxy runs: mixture weights per training domain and losses per validation domain.

    Three layouts:

    * **Two files** (RegMix): ``source`` holds a key column and one weight column per
      training domain, ``losses`` the same key and one loss column per validation domain;
      they are joined on ``on`` (default: the first of ``index``, ``run``, ``id``,
      ``run_id``, ``name`` present in both)::

          load_mixture_runs("train_mixture_1m.csv", losses="train_pile_loss_1m.csv")

    * **One wide table**: weight columns found by ``weight_prefix`` / ``weight_columns``
      (default prefixes ``w_``, ``weight_``, ``train_``, ...), loss columns by
      ``loss_prefix`` / ``loss_columns`` (default prefixes ``loss_``, ``val_``,
      ``metric/``, ...).
    * **Long tables**: a weights table with columns (key, ``domain``, ``weight``) and/or a
      losses table with (key, ``domain``, ``loss``) are pivoted to the wide layout.

    Domain names are the column names with their common prefix and suffix removed
    (``train_the_pile_arxiv`` -> ``arxiv``, ``metric/the_pile_arxiv_val_loss`` ->
    ``arxiv``). Optional columns ``run``, ``N`` (parameters), ``D`` (tokens), ``step``
    are kept (``columns={"N": "params"}`` maps other names onto them).

    Weights must be finite and non-negative; a row summing to within 0.01 of one is
    renormalised (one summary note for all such rows), within 0.05 renormalised with a
    note naming the worst row, beyond that refused. A loss may be missing (empty) for some
    runs of a domain; present losses must be finite and positive.

    Args:
        source: Path (CSV, TSV, Parquet, JSON Lines), DataFrame or mapping of columns.
        losses: A second table with the losses, joined to ``source`` on ``on``.
        weight_columns: Exactly these weight columns.
        weight_prefix: The weight columns are those starting with this prefix.
        loss_columns: Exactly these loss columns.
        loss_prefix: The loss columns are those starting with this prefix.
        on: The join key of two tables.
        columns: ``{canonical: column}`` for the optional ``run``, ``N``, ``D``, ``step``.
        where: Keep the rows this query selects (comparisons over the optional columns,
            e.g. ``"N >= 1e7"``; see :func:`scalinglaws.io.query.row_mask`).

    Returns:
        A :class:`MixtureRuns`.

    Raises:
        RunLogError: A missing file or column, a bad weight row, an empty domain, no loss
            columns, or an unknown join key; one line naming the row or column.
    """
    wdf, kind = read_table(source)
    source_names = [_name(source)]
    notes: list[str] = []

    def row_name(i: int) -> str:
        return f"line {int(i) + 2}" if kind == "line" else f"row {int(i)}"

    if {"domain", "weight"} <= set(wdf.columns):
        key = on or next((k for k in JOIN_KEYS if k in wdf.columns), None)
        if key is None:
            raise RunLogError("a long weights table needs a run key column (run, index or id)")
        wdf = _pivot_long(wdf, key, "weight", "weights")
        weight_columns = [c for c in wdf.columns if c != key]
    if losses is not None:
        ldf, _ = read_table(losses)
        source_names.append(_name(losses))
        key = on or next((k for k in JOIN_KEYS if k in wdf.columns and k in ldf.columns), None)
        if key is None or key not in wdf.columns or key not in ldf.columns:
            raise RunLogError(
                f"cannot join the weights and losses tables: no common key column "
                f"{'(' + repr(on) + ')' if on else 'among ' + ', '.join(JOIN_KEYS)}; "
                "pass on=<column>"
            )
        if {"domain", "loss"} <= set(ldf.columns):
            ldf = _pivot_long(ldf, key, "loss", "losses")
        for name, t in (("weights", wdf), ("losses", ldf)):
            if t[key].duplicated().any():
                dup = t[key][t[key].duplicated()].iloc[0]
                raise RunLogError(f"{name} table: key {key}={dup!r} appears twice")
        if loss_columns is None and loss_prefix is None:
            loss_columns = [c for c in ldf.columns if c != key and c not in META_COLUMNS]
        lcols = _columns(ldf, loss_columns, loss_prefix, "loss", LOSS_PREFIXES)
        keep = [key, *[c for c in ldf.columns if c in META_COLUMNS and c != key], *lcols]
        unmatched = int((~wdf[key].isin(ldf[key])).sum())
        extra = int((~ldf[key].isin(wdf[key])).sum())
        if unmatched:
            raise RunLogError(
                f"{unmatched} runs of the weights table have no row in the losses table "
                f"(key {key!r}; first: {wdf[key][~wdf[key].isin(ldf[key])].iloc[0]!r})"
            )
        if extra:
            notes.append(f"{extra} rows of the losses table have no mixture and were left out")
        df = wdf.merge(ldf[keep], on=key, how="left", suffixes=("", "_loss"), validate="1:1")
        keys = df[key].to_numpy()

        def row_name(i: int) -> str:  # rows of a joined table are named by their key
            return f"run {key}={keys[int(i)]}"
    else:
        df = wdf
        lcols = []
    wcols = _columns(df, weight_columns, weight_prefix, "weight", WEIGHT_PREFIXES)
    if not wcols:
        raise RunLogError(
            "no weight columns found (looked for prefixes "
            f"{', '.join(WEIGHT_PREFIXES)}); name them with weight_columns=[...] or "
            "weight_prefix=... (--weights-prefix)"
        )
    if losses is None:
        lcols = _columns(df, loss_columns, loss_prefix, "loss", LOSS_PREFIXES)
        lcols = [c for c in lcols if c not in wcols]
    if not lcols:
        raise RunLogError(
            "no loss columns found (looked for prefixes "
            f"{', '.join(LOSS_PREFIXES)}); name them with loss_columns=[...] or loss_prefix=..."
        )
    overlap = set(wcols) & set(lcols)
    if overlap:
        raise RunLogError(f"columns {sorted(overlap)} cannot be both weights and losses")
    if len(df) == 0:
        raise RunLogError("the run log has no rows")

    meta = _meta(df, columns, kind, row_name)
    if where is not None:
        from scalinglaws.io.query import row_mask

        mask = np.asarray(row_mask(meta, where, label="where"), dtype=bool)
        if not mask.any():
            raise RunLogError(f"where={where!r} selects no run")
        labels = [row_name(int(i)) for i in np.flatnonzero(mask)]
        df, meta = df[mask].reset_index(drop=True), meta[mask].reset_index(drop=True)

        def row_name(i: int) -> str:  # after a selection, rows keep their original names
            return labels[int(i)]

    w = _numeric(df, wcols, "weight", row_name)
    w = _check_weights(w, wcols, row_name, notes)
    lv = _numeric(df, lcols, "loss", row_name)
    _check_losses(lv, lcols, row_name)

    bad = [str(c) for c in [*wcols, *lcols] if not str(c).isprintable()]
    if bad:  # domain names are printed: a newline in one would start a new output line
        raise RunLogError(f"column names {bad} hold a line break or control character")
    wnames, lnames = _strip_common(wcols), _strip_common(lcols)
    if weight_prefix and len(wcols) == 1:
        wnames = [str(wcols[0])[len(weight_prefix) :] or str(wcols[0])]
    weights = pd.DataFrame(w, columns=wnames)
    loss_df = pd.DataFrame(lv, columns=lnames)
    return MixtureRuns(
        weights=weights,
        losses=loss_df,
        meta=meta,
        source=tuple(source_names),
        notes=tuple(notes),
    )


def _meta(df: pd.DataFrame, columns: Mapping[str, str] | None, kind: str, row_name) -> pd.DataFrame:
    out: dict[str, Any] = {}
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in META_COLUMNS]
    if unknown:
        raise RunLogError(
            f"columns= maps {unknown}; only {', '.join(META_COLUMNS)} are optional columns"
        )
    for canon in META_COLUMNS:
        col = columns.get(canon, canon if canon in df.columns else None)
        if col is None:
            continue
        if col not in df.columns:
            raise RunLogError(f"column {col!r} (for {canon}) is not in the table")
        if canon == "run":
            out["run"] = df[col].astype(str).to_numpy()
            continue
        v = _numeric(df, [col], canon, row_name)[:, 0]
        bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
        if bad.size:
            raise RunLogError(
                f"{row_name(bad[0])}, column {col!r}: {float(v[bad[0]]):g} must be a positive number"
            )
        out[canon] = v
    return pd.DataFrame(out, index=range(len(df)))


def _check_weights(w: np.ndarray, cols: Sequence[str], row_name, notes: list[str]) -> np.ndarray:
    bad = np.argwhere(~np.isfinite(w))
    if bad.size:
        i, j = bad[0]
        raise RunLogError(
            f"{row_name(i)}, weight column {cols[j]!r}: weight is missing or not finite"
        )
    bad = np.argwhere(w < 0)
    if bad.size:
        i, j = bad[0]
        raise RunLogError(
            f"{row_name(i)}, weight column {cols[j]!r}: weight {w[i, j]:g} is negative"
        )
    total = w.sum(axis=1)
    off = np.abs(total - 1.0)
    worst = int(np.argmax(off))
    if off[worst] > SUM_REFUSE:
        raise RunLogError(
            f"{row_name(worst)}: the weights sum to {total[worst]:.4g}, not 1 "
            f"(rows off by up to {SUM_REFUSE} are renormalised; this is beyond that)"
        )
    empty = [c for c, s in zip(cols, w.sum(axis=0), strict=True) if s == 0]
    if empty:
        raise RunLogError(
            f"training domain(s) {empty} have zero weight in every run, so nothing can be "
            "learned about them; leave them out with weight_columns=[...]"
        )
    n_off = int(np.count_nonzero(off > 1e-9))
    if n_off:
        msg = (
            f"renormalised the weights of {n_off} of {len(w)} runs to sum to 1 "
            f"(largest deviation {off[worst]:.3g}, {row_name(worst)})"
        )
        if off[worst] > SUM_NOTE:
            msg += f"; deviations above {SUM_NOTE} suggest weights from a different mixture"
        notes.append(msg)
    return w / total[:, None]


def _check_losses(lv: np.ndarray, cols: Sequence[str], row_name) -> None:
    bad = np.argwhere(np.isinf(lv) | (lv <= 0))
    if bad.size:
        i, j = bad[0]
        raise RunLogError(
            f"{row_name(i)}, loss column {cols[j]!r}: {lv[i, j]:g} is not a positive finite loss"
        )
    empty = [c for j, c in enumerate(cols) if not np.isfinite(lv[:, j]).any()]
    if empty:
        raise RunLogError(f"validation domain(s) {empty} have no loss in any run")
