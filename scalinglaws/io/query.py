"""Row filters written as comparisons over a table's columns, parsed, never evaluated.

A filter such as ``"D >= 1e10 and D <= 1.01e11"`` or ``"schedule == 'hot' and N > 1e8"``
selects rows of a run log (``--where`` on the command line, ``where=`` in
:func:`scalinglaws.load_runs`) or the held-out runs of a backtest. Grammar::

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "(" expr ")" | "not" factor | operand OP operand
    OP      := "<" | "<=" | ">" | ">=" | "==" | "!="
    operand := column name | number | 'text' | "text"

Names match columns exactly, else case-insensitively, else (in a loaded run log) by the
name the file gave a canonical column (``model`` for ``run``); a column whose name is not a plain
identifier (``eval/loss``) is written in backticks (```eval/loss` < 3``). Text compares
only with ``==`` and ``!=``. A small recursive-descent parser reads the expression: nothing
in it is evaluated as Python, so a filter from a shared script or a record cannot run code.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<paren>[()])"
    r"|'(?P<sq>[^']*)'"
    r"|\"(?P<dq>[^\"]*)\""
    r"|`(?P<quoted>[^`]+)`"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_WORDS = ("and", "or", "not")


def _tokenize(expr: str, label: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = expr.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ScalingLawsError(
                f"{label} {expr!r}: cannot read {text[pos:].strip()[:20]!r} at character "
                f"{pos + 1}; use comparisons like 'C >= 1e21' or \"model == 'hot'\" joined "
                "by and/or"
            )
        kind = str(m.lastgroup)
        value = m.group(kind)
        if kind in ("sq", "dq"):
            kind = "text"
        elif kind == "quoted":
            kind = "name"
        elif kind == "name" and value.lower() in _WORDS:
            kind, value = "bool", value.lower()
        tokens.append((kind, value))
        pos = m.end()
    if not tokens:
        raise ScalingLawsError(f"{label} is empty; give e.g. 'C >= 1e21'")
    return tokens


def row_mask(table: pd.DataFrame, expr: str, *, label: str = "row filter") -> np.ndarray:
    """Rows of ``table`` that the comparison expression ``expr`` selects.

    Args:
        table: The rows.
        expr: A filter in the grammar of the module docstring.
        label: How messages name the expression (``"--where filter"``).

    Returns:
        A boolean array, one entry per row. A row whose compared value is missing (NaN)
        is not selected by any comparison but ``!=``.

    Raises:
        ScalingLawsError: One line naming the unreadable token, the unknown column, or a
            comparison of text with a number.
    """
    if not isinstance(expr, str):
        raise ScalingLawsError(f"{label} must be a string, not {type(expr).__name__}")
    parser = _Parser(table, expr, label)
    mask = parser.disjunction()
    if parser.pos != len(parser.tokens):
        raise ScalingLawsError(
            f"{label} {expr!r}: unexpected {parser.tokens[parser.pos][1]!r}; join "
            "comparisons with 'and' / 'or'"
        )
    return np.asarray(mask, dtype=bool)


class _Parser:
    """Recursive descent over the tokens of one filter (see :func:`row_mask`)."""

    def __init__(self, table: pd.DataFrame, expr: str, label: str) -> None:
        self.table, self.expr, self.label = table, expr, label
        self.tokens = _tokenize(expr, label)
        self.pos = 0

    def fail(self, message: str) -> ScalingLawsError:
        return ScalingLawsError(f"{self.label} {self.expr!r}: {message}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ScalingLawsError(f"{self.label} {self.expr!r} ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def column(self, name: str) -> pd.Series:
        cols = list(self.table.columns)
        if name in cols:
            return self.table[name]
        hits = [c for c in cols if str(c).lower() == name.lower()]
        if len(hits) == 1:
            return self.table[hits[0]]
        # A loaded run log renamed its columns to canonical roles (model -> run); it keeps
        # the file's names in attrs so a filter may still use them.
        renamed = dict(self.table.attrs.get("source_columns") or {})
        if renamed.get(name) in cols:
            return self.table[renamed[name]]
        raise self.fail(f"unknown column {name!r}; columns are {', '.join(map(str, cols))}")

    def operand(self) -> tuple[str, np.ndarray]:
        """``("num" | "text", values)`` of one operand, broadcast to the rows."""
        kind, value = self.take()
        n = len(self.table)
        if kind == "num":
            return "num", np.full(n, float(value))
        if kind == "text":
            return "text", np.full(n, value, dtype=object)
        if kind == "name":
            col = self.column(value)
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                return "num", col.to_numpy(dtype=float)
            return "text", col.to_numpy(dtype=object)
        raise self.fail(f"expected a column, a number or 'text', got {value!r}")

    def factor(self) -> np.ndarray:
        if self.peek() == ("paren", "("):
            self.take()
            out = self.disjunction()
            if self.take() != ("paren", ")"):
                raise self.fail("missing ')'")
            return out
        if self.peek() == ("bool", "not"):
            self.take()
            return ~self.factor()
        left_kind, left = self.operand()
        kind, op = self.take()
        if kind != "op":
            raise self.fail(f"expected a comparison (< <= > >= == !=), got {op!r}")
        right_kind, right = self.operand()
        if left_kind != right_kind:
            raise self.fail(
                f"'{op}' compares text with a number; quote text ('hot') and compare numeric "
                "columns with numbers"
            )
        if left_kind == "text":
            if op not in ("==", "!="):
                raise self.fail(f"text compares with == or != only, not {op!r}")
            same = np.array([str(a) == str(b) for a, b in zip(left, right, strict=True)])
            return same if op == "==" else ~same
        with np.errstate(invalid="ignore"):
            return np.asarray(_OPS[op](left, right), dtype=bool)

    def conjunction(self) -> np.ndarray:
        out = self.factor()
        while self.peek() == ("bool", "and"):
            self.take()
            out = out & self.factor()
        return out

    def disjunction(self) -> np.ndarray:
        out = self.conjunction()
        while self.peek() == ("bool", "or"):
            self.take()
            out = out | self.conjunction()
        return out
