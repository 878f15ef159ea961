"""Speed of the CMR pipeline: point fit and bootstrap, warm (after compilation).

Usage: ``python bench/mixture_speed.py [samples]``. 4 sizes x 6 ratios x 100 checkpoints.
Targets (issue 5): point pipeline <= 2 s warm; with 1,000 draws <= 20 s.
Recorded on a 2-core CPU: point 1.17 s warm; 1,000 draws 71 s warm with each draw
refitted by the exponent-grid search (19 s before, warm-started, which under-covered:
``bench/results/mixture_coverage_bootstrap.txt``). Target missed.
"""

from __future__ import annotations

import sys
import time
import warnings

import jax

from scalinglaws.mixture import fit_cmr
from scalinglaws.simulate.cmr import simulate_cpt_curves


def _time(fn, repeats: int = 2) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return first, best


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs, _ = simulate_cpt_curves(seed=0)
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, warm = _time(lambda: fit_cmr(runs, uncertainty="none"))
        print(f"point pipeline: first call {first:.2f} s, warm {warm:.3f} s (target <= 2 s)")
        first, warm = _time(lambda: fit_cmr(runs, samples=samples), repeats=1)
        print(
            f"with {samples} bootstrap draws: first call {first:.2f} s, warm {warm:.2f} s "
            "(target <= 20 s for 1,000)"
        )
    print(f"devices: {jax.devices()}")


if __name__ == "__main__":
    main()
