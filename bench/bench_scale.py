"""Fit time and peak memory of `fit(chinchilla)` on 1e4, 1e5 and 1e6 runs.

Each size runs in a fresh process (peak RSS is per process): the chunked search (today)
against the search vectorised over the whole start grid at once (before; set by lifting
the chunk budget in that process). The runs are drawn from Hoffmann et al.'s fit with
log-normal noise (sd 0.01): N log-uniform in [1e7, 1e10], D in [1e9, 1e12].

    python bench/bench_scale.py [--sizes 10000 100000 1000000] [--before-max 100000]

Writes ``bench/results/scale.txt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, jax
jax.config.update("jax_enable_x64", True)
import scalinglaws as sl
from scalinglaws.fitting import solver
n, before = int(sys.argv[1]), sys.argv[2] == "1"
if before:
    solver.SEARCH_CHUNK_BYTES = 2**62  # the whole grid in one vectorised call
rng = np.random.default_rng(0)
N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
p = sl.laws.HOFFMANN_2022
loss = p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
runs = pd.DataFrame({"N": N, "D": D, "loss": loss * np.exp(0.01 * rng.standard_normal(n))})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
res = sl.fit(sl.laws.chinchilla(), runs)
wall = time.perf_counter() - t0
t1 = time.perf_counter()
sl.fit(sl.laws.chinchilla(), runs)
warm = time.perf_counter() - t1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "before": before, "first_s": wall, "warm_s": warm,
                  "peak_gb": peak / 2**20, "data_gb": base / 2**20,
                  "alpha": res.params["alpha"], "beta": res.params["beta"],
                  "status": res.status}))
"""


def run(n: int, before: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), "1" if before else "0"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        return {"n": n, "before": before, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--before-max", type=int, default=100_000)
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        if n <= args.before_max:
            rows.append(run(n, True))
            print(rows[-1], flush=True)
        rows.append(run(n, False))
        print(rows[-1], flush=True)
    lines = [
        "fit(chinchilla) on n simulated runs (Hoffmann truth, noise 0.01), fresh process each",
        f"{'n':>9} {'search':>8} {'first s':>8} {'warm s':>7} {'peak GB':>8} {'alpha':>7} "
        f"{'beta':>7} status",
    ]
    for r in rows:
        tag = "before" if r["before"] else "chunked"
        if "error" in r:
            lines.append(f"{r['n']:>9} {tag:>8} failed: {r['error']}")
            continue
        lines.append(
            f"{r['n']:>9} {tag:>8} {r['first_s']:8.2f} {r['warm_s']:7.2f} {r['peak_gb']:8.2f} "
            f"{r['alpha']:7.4f} {r['beta']:7.4f} {r['status']}"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "scale.txt"
    out.write_text(text)


if __name__ == "__main__":
    main()
