"""Row padding to a few bucket sizes, so that logs of nearby sizes share compiled programs.

A compiled fit is specialised to the number of rows. A run log that grows by a few runs
(the daily refit of a CI gate, a study adding its next sizes) would otherwise compile every
program again, in-process and in JAX's persistent cache alike. Fits pad their rows up to
the next *bucket*: 16 rows at least, then four buckets per doubling (n in (2^k, 2^(k+1)]
rounds up to a multiple of 2^(k-2)), so padding adds at most a quarter of the rows and a
log's size maps to one of about 4 log2(n) shapes.

Padded rows copy the first row's inputs and target (finite values, so no NaN can reach a
gradient) and carry weight zero. Every objective here is a weighted sum over rows, so
zero-weight rows change no objective, gradient or fitted value: the fitted parameters agree
with an unpadded fit to floating-point summation order (tests/fitting/test_padding.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["bucket_rows", "pad_rows"]

#: Fewest rows a padded fit has.
MIN_BUCKET = 16


def bucket_rows(n: int) -> int:
    """The padded row count for ``n`` rows (>= n; at most 25% more above 16)."""
    n = int(n)
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    step = 1 << max((n - 1).bit_length() - 3, 0)  # a quarter of the power of two below n
    return -(-n // step) * step


def pad_rows(
    inputs: Mapping[str, np.ndarray], target: np.ndarray, weights: np.ndarray, size: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``(inputs, target, weights)`` padded to ``size`` rows (first row's values, weight 0)."""
    n = int(np.shape(target)[0])
    extra = int(size) - n
    if extra < 0:
        raise ValueError(f"cannot pad {n} rows to {size}")
    if extra == 0 or n == 0:
        return dict(inputs), np.asarray(target), np.asarray(weights)

    def pad(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        return np.concatenate([a, np.repeat(a[:1], extra, axis=0)])

    w = np.concatenate([np.asarray(weights, dtype=float), np.zeros(extra)])
    return {k: pad(v) for k, v in inputs.items()}, pad(target), w
