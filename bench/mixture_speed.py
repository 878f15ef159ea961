"""Speed of the CMR pipeline: point fit and bootstrap, warm (after compilation).

Usage: ``python bench/mixture_speed.py [samples]``. 4 sizes x 6 ratios x 100 checkpoints.
Curve fits and the CMR law go through :func:`scalinglaws.fitting.many.fit_many`, the
bootstrap through :func:`scalinglaws.uncertainty.curves.bootstrap_curves`.
Targets (issue 5): point pipeline <= 2 s warm; with 1,000 draws <= 20 s. Also times the
Bayesian path (``uncertainty="bayes"``, the exact grid posterior of every curve).
Warm times are medians of ``repeats`` runs after a first (compiling) call.

Recorded on an idle 2-core CPU (``bench/results/mixture_speed.txt``): point pipeline
0.85-0.90 s warm; 1,000 bootstrap draws 8.4-9.2 s warm (each draw refitted by the
shared-basis exponent-grid search and one polished start, 50 Newton steps); the grid
posterior with 1,000 draws per curve 3.9 s warm. Bootstrap history: 19 s warm-started (which
under-covered), 71 s with one vmapped grid search per draw and both starts polished for
100 steps, 26 s with the shared-basis search (``bench/mixture_variants.py``).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import jax

from scalinglaws.mixture import fit_cmr
from scalinglaws.simulate.cmr import simulate_cpt_curves


def _time(fn, repeats: int = 3) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs, _ = simulate_cpt_curves(seed=0)
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, warm = _time(lambda: fit_cmr(runs, uncertainty="none"))
        print(f"point pipeline: first call {first:.2f} s, warm {warm:.3f} s (target <= 2 s)")
        first, warm = _time(lambda: fit_cmr(runs, samples=samples))
        print(
            f"with {samples} bootstrap draws: first call {first:.2f} s, warm {warm:.2f} s "
            "(target <= 20 s for 1,000)"
        )
        first, warm = _time(lambda: fit_cmr(runs, uncertainty="bayes", samples=samples))
        print(
            f"with the exact grid posterior, {samples} draws per curve: first call "
            f"{first:.2f} s, warm {warm:.2f} s"
        )
    print(f"devices: {jax.devices()}")


if __name__ == "__main__":
    main()
