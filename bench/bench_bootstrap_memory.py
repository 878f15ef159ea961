"""Peak memory of the bootstrap's refits, chunked (the default) against all at once.

A simulated Chinchilla log of ROWS rows (N in 1e7-1e10, D in 1e9-1e12, 1% log-loss noise)
is fitted once; then ``bootstrap(n=DRAWS)`` runs in a fresh process per setting and the
growth of the process's peak resident memory is reported (``ru_maxrss``). ``--at-once``
sets ``REFIT_CHUNK_BYTES`` beyond any size: the behaviour before refits were chunked.

    python bench/bench_bootstrap_memory.py ROWS DRAWS [--at-once]

Prints one line; bench/results/bootstrap_memory.txt holds the figures measured.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import time

import jax
import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("draws", type=int)
    ap.add_argument("--at-once", action="store_true")
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)  # a script may; the library never does
    import scalinglaws as sl

    boot = importlib.import_module("scalinglaws.uncertainty.bootstrap")
    if args.at_once:
        boot.REFIT_CHUNK_BYTES = 2**62
    rng = np.random.default_rng(0)
    n = 10 ** rng.uniform(7, 10, args.rows)
    d = 10 ** rng.uniform(9, 12, args.rows)
    loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    df = pd.DataFrame(
        {"N": n, "D": d, "loss": loss * np.exp(0.01 * rng.standard_normal(args.rows))}
    )
    fit = sl.fit(sl.laws.chinchilla(), df, uncertainty="none")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    sl.bootstrap(fit, n=args.draws)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mode = "at once" if args.at_once else "chunked"
    print(
        f"rows={args.rows} draws={args.draws} {mode}: peak memory +{(after - before) / 1024:.0f} MB, "
        f"bootstrap {wall:.1f} s"
    )


if __name__ == "__main__":
    main()
