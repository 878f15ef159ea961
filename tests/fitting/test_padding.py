"""Row padding to bucket sizes (scalinglaws.fitting.padding)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import exported
from scalinglaws.fitting.padding import MIN_BUCKET, bucket_rows, pad_rows

fit_mod = importlib.import_module("scalinglaws.fitting.fit")

DATA = "data/chinchilla_sim/runs.csv"


def test_bucket_sizes():
    assert [bucket_rows(n) for n in (1, 16, 17, 20, 21, 33, 81, 128, 129, 1000)] == [
        16, 16, 20, 20, 24, 40, 96, 128, 160, 1024,
    ]  # fmt: skip
    sizes = np.arange(1, 20_000)
    b = np.array([bucket_rows(n) for n in sizes])
    assert np.all(b >= sizes) and np.all(np.diff(b) >= 0)
    big = sizes > MIN_BUCKET
    assert np.max(b[big] / sizes[big]) <= 1.25  # at most a quarter more rows
    # Few shapes: about four per doubling.
    assert len(np.unique(b)) <= 4 * np.log2(20_000) + 2


def test_pad_rows_copies_the_first_row_with_zero_weight():
    inputs = {"N": np.array([1.0, 2.0, 3.0]), "D": np.array([4.0, 5.0, 6.0])}
    x, y, w = pad_rows(inputs, np.array([7.0, 8.0, 9.0]), np.array([1.0, 2.0, 1.0]), 5)
    np.testing.assert_array_equal(x["N"], [1, 2, 3, 1, 1])
    np.testing.assert_array_equal(x["D"], [4, 5, 6, 4, 4])
    np.testing.assert_array_equal(y, [7, 8, 9, 7, 7])
    np.testing.assert_array_equal(w, [1, 2, 1, 0, 0])
    with pytest.raises(ValueError, match="cannot pad"):
        pad_rows(inputs, np.zeros(3), np.ones(3), 2)


def test_padding_leaves_the_fit_unchanged():
    """Rows of weight zero change no sum: a fit with extra zero-weight rows (as padding
    adds) equals the plain fit. Tolerance 1e-7 relative: the parameters sit on a flat ridge
    (A-alpha correlation 0.999), where a change of summation order moves them by ~1e-9;
    the objective agrees to 1e-12."""
    law = sl.laws.get("chinchilla")
    runs = sl.load_runs(DATA)
    plain = sl.fit(law, runs, uncertainty="none")
    junk = runs.iloc[:7].copy()
    junk["loss"] = junk["loss"] * 3.0  # far off the law: any weight on them would show
    both = pd.concat([runs, junk], ignore_index=True)
    w = np.r_[np.ones(len(runs)), np.zeros(len(junk))]
    zero = sl.fit(law, both, weights=w, uncertainty="none")
    assert zero.objective == pytest.approx(plain.objective, rel=1e-12)
    for k, v in plain.params.items():
        assert zero.params[k] == pytest.approx(v, rel=1e-7)
    assert len(plain.residuals) == len(runs)  # padding is cut off the residuals


@pytest.mark.slow
def test_nearby_log_sizes_share_one_compiled_fit():
    law = sl.laws.get("chinchilla")
    runs = sl.load_runs(DATA)
    assert bucket_rows(70) == bucket_rows(75) == 80
    # Counted on jax.jit's own cache, so with exported programs off (the library default).
    was = exported.folder()
    exported.disable()
    try:
        sl.fit(law, runs.iloc[:70], uncertainty="none")
        before = fit_mod._varpro_fit._cache_size()
        assert before >= 1
        sl.fit(law, runs.iloc[:75], uncertainty="none")
        assert fit_mod._varpro_fit._cache_size() == before  # no new program for 75 rows
    finally:
        if was is not None:
            exported.enable(was)
