"""Tables in: read a run-log file, match its columns to canonical names, name its rows.

The building blocks every run-log loader shares (:func:`scalinglaws.load_runs`, the sparse
and continual-pre-training loaders): one reader for CSV, TSV, Parquet and JSON Lines, one
case-insensitive alias matcher, and one way to name a row in an error message, so every
loader reports problems the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import RunLogError


def normalize_name(name: Any) -> str:
    """A column name as the alias matcher compares it: lower case, no spaces, dashes, underscores.

    Args:
        name: A column name (any object; its ``str`` is used).

    Returns:
        The normalised name (``"Model Size"`` -> ``"modelsize"``).
    """
    return "".join(ch for ch in str(name).lower() if ch not in " _-")


def read_table(source: Any) -> tuple[pd.DataFrame, str]:
    """Read a run-log source into a DataFrame.

    Args:
        source: A DataFrame (copied), a mapping of columns, or a path to a ``.csv``,
            ``.csv.gz``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``, ``.jsonl``, ``.ndjson``,
            ``.jsonl.gz`` or ``.json`` file.

    Returns:
        ``(table, kind)``: ``kind`` is ``"line"`` for a file (rows are named by their line
        in it) and ``"row"`` for an in-memory table (rows are named by their index); pass
        it to :func:`row_label`.

    Raises:
        RunLogError: The file is missing, a directory, of an unknown format or cannot be
            parsed, or the mapping does not make a table; one line.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(), "row"
    if isinstance(source, Mapping):
        try:
            return pd.DataFrame(dict(source)), "row"
        except ValueError as exc:
            raise RunLogError(f"cannot build a table from the mapping given: {exc}") from None
    path = Path(source)
    if not path.exists():
        raise RunLogError(f"run log {str(path)!r} does not exist")
    if path.is_dir():
        raise RunLogError(f"run log {str(path)!r} is a directory, not a file")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz", ".tsv", ".txt"):
            sep = "\t" if suffix == ".tsv" else ","
            df = pd.read_csv(path, sep=sep)
            # pandas renames a repeated header (loss, loss.1): which one is meant is unknown.
            first = pd.read_csv(
                path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False
            )
            head = [str(h) for h in first.iloc[0] if str(h).strip()]
            repeated = sorted({h for h in head if head.count(h) > 1})
            if repeated:
                raise RunLogError(
                    f"run log {str(path)!r}: repeated column names {repeated}; "
                    "rename or drop the extra columns"
                )
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson", ".json", ".jsonl.gz"):
            df = pd.read_json(path, lines=suffix != ".json")
        else:
            raise RunLogError(
                f"run log {str(path)!r}: unknown format {path.suffix!r}; "
                "use .csv, .tsv, .parquet or .jsonl"
            )
    except RunLogError:
        raise
    except Exception as exc:  # parser errors come in many types; report them in one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunLogError(f"cannot read run log {str(path)!r}: {msg}") from None
    return df, "line"


def map_columns(
    df: pd.DataFrame,
    columns: Mapping[str, str] | None,
    aliases: Mapping[str, tuple[str, ...]],
    notes: list[str] | None = None,
) -> dict[str, str]:
    """Canonical name -> source column name, for the canonical columns present.

    Explicit ``columns`` win; the rest are matched through ``aliases`` (case, spaces,
    dashes and underscores ignored, see :func:`normalize_name`). When several columns
    match one canonical name and exactly one of them is the canonical name itself (``D``
    beside ``train_tokens``), that one is taken and a note says which was left aside.

    Args:
        df: The table read.
        columns: Explicit ``{canonical: column}`` overrides (or None).
        aliases: Canonical name -> accepted aliases, e.g. :data:`scalinglaws.io.ALIASES`.
        notes: A list that receives one-line notes (a column left aside); optional.

    Returns:
        ``{canonical: column}`` for every canonical name found.

    Raises:
        RunLogError: An override names an unknown role or a missing column, or several
            columns match one canonical name and none of them is that name.
    """
    found: dict[str, str] = {}
    if columns:
        for canon, src in columns.items():
            if canon not in aliases:
                raise RunLogError(f"unknown column role {canon!r}; use one of {', '.join(aliases)}")
            if src not in df.columns:
                raise RunLogError(
                    f"column {src!r} given for {canon!r} is not in the run log; "
                    f"found columns: {', '.join(map(str, df.columns))}"
                )
            twice = [role for role, col in found.items() if col == src]
            if twice:
                raise RunLogError(f"column {src!r} is given for both {twice[0]!r} and {canon!r}")
            found[canon] = src
    by_norm: dict[str, list[str]] = {}
    for col in df.columns:
        by_norm.setdefault(normalize_name(col), []).append(col)
    for canon, names in aliases.items():
        if canon in found:
            continue
        hits = []
        for alias in (canon, *names):
            for col in by_norm.get(normalize_name(alias), []):
                if col not in hits and col not in found.values():
                    hits.append(col)
        exact = [c for c in hits if str(c) == canon]
        if len(hits) > 1 and len(exact) == 1:
            others = [c for c in hits if c != exact[0]]
            if notes is not None:
                notes.append(
                    f"columns {hits} all look like {canon!r}; used the canonical {canon!r} and "
                    f"left {', '.join(map(repr, others))} aside (--column {canon}=COLUMN "
                    "picks another)"
                )
            hits = exact
        if len(hits) > 1:
            raise RunLogError(
                f"columns {hits} all look like {canon!r}; say which with columns={{'{canon}': ...}}"
                " (or --column on the command line)"
            )
        if hits:
            found[canon] = hits[0]
    return found


def row_label(df: pd.DataFrame, pos: int, kind: str) -> str:
    """How an error message names the row at position ``pos``.

    Args:
        df: The table read.
        pos: Zero-based position of the row.
        kind: ``"line"`` (a file: its line number, the header being line 1) or ``"row"``
            (an in-memory table: its index label), as returned by :func:`read_table`.

    Returns:
        ``"line 7"`` or ``"row 'a'"``.
    """
    if kind == "line":
        # The header is line 1; a file's rows keep their position in the file as index
        # labels, so the line stays right after rows were filtered out.
        label = df.index[pos]
        return f"line {(int(label) if isinstance(label, int | np.integer) else pos) + 2}"
    label = df.index[pos]
    return f"row {label.item() if isinstance(label, np.generic) else label!r}"


def numeric_column(
    df: pd.DataFrame, col: str, canon: str, kind: str, positive: bool, hint: str = ""
) -> np.ndarray:
    """A column as finite floats, or a one-line error naming the first bad row.

    Args:
        df: The table read.
        col: Column to convert.
        canon: Canonical name of the quantity, for the message (``"loss"``).
        kind: Row naming, as returned by :func:`read_table`.
        positive: Also require every value to be > 0.
        hint: Text appended to the message about a missing or infinite value (an
            option that would drop such rows).

    Returns:
        The values as a float array.

    Raises:
        RunLogError: A value is not a number, is empty, NaN or infinite, or (with
            ``positive``) is not > 0; the count of such rows is given when there are several.
    """
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{row_label(df, i, kind)}, column {col!r}: {raw.iloc[i]!r} is not a number"
            + (f" ({bad.size} such rows)" if bad.size > 1 else "")
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise RunLogError(
            f"{row_label(df, i, kind)}, column {col!r}: value is {raw.iloc[i]!r}; "
            f"every {canon} must be a finite number"
            + (f" ({bad.size} such rows)" if bad.size > 1 else "")
            + hint
        )
    if positive:
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            i = int(bad[0])
            raise RunLogError(
                f"{row_label(df, i, kind)}, column {col!r}: {values[i]:g} must be > 0"
                + (f" ({bad.size} such rows)" if bad.size > 1 else "")
            )
    return values
