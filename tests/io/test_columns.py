"""How an error message names a row: its index label as the user wrote it, never a
numpy repr such as ``row np.int64(7)``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.io.columns import row_label


def _frame(index) -> pd.DataFrame:
    return pd.DataFrame({"loss": [3.0] * len(index)}, index=index)


@pytest.mark.parametrize(
    ("index", "numpy_label", "want"),
    [
        (pd.Index(np.array([5, 7], dtype=np.int64)), True, "row 7"),
        (pd.Index(np.array([5, 7], dtype=np.int32)), True, "row 7"),
        (pd.Index(np.array([5, 7], dtype=np.uint64)), True, "row 7"),
        (pd.Index(np.array([0.5, 2.5])), True, "row 2.5"),
        (pd.Index(["a", "b"]), False, "row 'b'"),
        (pd.RangeIndex(2), False, "row 1"),
    ],
    ids=["int64", "int32", "uint64", "float64", "str", "range"],
)
def test_row_label_names_the_index_label_plainly(index, numpy_label, want):
    # The numpy cases really hand row_label a numpy scalar (what the fix is about).
    assert isinstance(index[1], np.generic) is numpy_label
    label = row_label(_frame(index), 1, "row")
    assert label == want
    assert "np." not in label


def test_line_label_of_a_file_reads_numpy_labels_too():
    # A file's rows keep their position as index labels (here numpy integers after a
    # filter): the header is line 1, so label 7 is line 9.
    assert row_label(_frame(pd.Index(np.array([5, 7], dtype=np.int64))), 1, "line") == "line 9"


def test_load_runs_names_a_bad_row_of_a_numpy_indexed_frame():
    df = pd.DataFrame(
        {
            "params": [1e8, 2e8, 4e8, 8e8, 1e8, 4e8],
            "tokens": [2e9, 1e9, 5e8, 0.0, 8e9, 4e9],
            "loss": [3.1, 3.0, 3.05, 3.2, 2.9, 2.85],
        },
        index=pd.Index(np.array([3, 5, 7, 11, 13, 17], dtype=np.int64)),
    )
    assert type(df.index[3]) is np.int64  # the label the message must not show as np.int64(11)
    with pytest.raises(sl.RunLogError) as info:
        sl.load_runs(df)
    msg = str(info.value)
    assert msg.startswith("row 11, column 'tokens': 0 must be > 0"), msg
    assert "np." not in msg and "int64" not in msg
