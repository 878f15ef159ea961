"""Coverage of the demo's plan intervals over many draws of its bundled design.

    .venv/bin/python bench/demo_coverage.py [--seeds 100] [--first-seed 1] [--n-boot 1000]
        [--out bench/results/demo_coverage.txt]

The bundled demo log (``data/demo/runs.csv``) is one draw of a simulated isoFLOP study;
its truth and design are in ``data/demo/generate.py``. This script draws the same design
from the same truth with other noise seeds (``--first-seed`` onwards; the bundled seed is
skipped), runs each through the demo's own method (``scalinglaws demo``: the point fit of
``fit(laws.chinchilla(), runs)``, a bootstrap of ``--n-boot`` resamples by run with seed
0, ``plan_compute`` at the demo's budgets) and reports at each budget:

* coverage: the share of logs whose 5-95% interval (a nominal 90% interval) holds the
  true tokens per parameter, and the true compute-optimal model size N_opt, with its
  binomial standard error;
* the median |relative error| of the point plan's tokens per parameter and N_opt.

It then runs the bundled log itself and reports where its errors rank among the others.
Timing on a shared 2-core CPU: about 0.5 s per log with 1,000 resamples (100 logs in
about a minute); results in ``bench/results/demo_coverage.txt``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("demo_generate", REPO / "data/demo/generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_demo_method(runs, n_boot: int, budgets):
    """The demo's fit, bootstrap (seed 0) and plan on one run log; returns the plan."""
    import scalinglaws as sl
    from scalinglaws.planning.compute import plan_compute
    from scalinglaws.uncertainty import attach

    result = sl.fit(sl.laws.chinchilla(), sl.load_runs(runs))
    result = attach(result, "bootstrap", samples=n_boot, seed=0)
    return plan_compute(result, list(budgets)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="simulated logs (default 100)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args()

    # Process-wide float64, as the command line sets it (a script, not library code).
    jax.config.update("jax_enable_x64", True)
    import pandas as pd

    from scalinglaws.cli.core import DEMO_BUDGETS
    from scalinglaws.cli.demo_truth import DEMO_DATA
    from scalinglaws.laws import chinchilla
    from scalinglaws.simulate import simulate_runs

    gen = _generator()
    truth = gen.true_plan(DEMO_BUDGETS)
    design = gen.design()
    seeds = [s for s in range(args.first_seed, args.first_seed + args.seeds + 1) if s != gen.SEED]
    seeds = seeds[: args.seeds]

    names = ("tokens_per_param", "N_opt")
    rows = []
    t0 = time.perf_counter()
    for i, seed in enumerate(seeds):
        runs = simulate_runs(chinchilla(), gen.TRUTH, design, noise=gen.NOISE, seed=seed)
        plan, result = run_demo_method(
            runs[["run", "N", "D", "C", "loss"]], args.n_boot, DEMO_BUDGETS
        )
        for j in range(len(plan)):
            row = {
                "seed": seed,
                "C": float(plan["C"].iat[j]),
                "boot_ok": result.uncertainty.converged,
            }
            for name in names:
                true = float(truth[name].iat[j])
                lo, hi = float(plan[f"{name}_q05"].iat[j]), float(plan[f"{name}_q95"].iat[j])
                row[f"{name}_covered"] = lo <= true <= hi
                row[f"{name}_relerr"] = float(plan[name].iat[j]) / true - 1.0
            rows.append(row)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(seeds)} logs, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    df = pd.DataFrame(rows)

    bundled_plan, _ = run_demo_method(DEMO_DATA, args.n_boot, DEMO_BUDGETS)

    out = [
        "# Coverage of `scalinglaws demo`'s 90% plan intervals over simulated logs of its design",
        f"# python bench/demo_coverage.py --seeds {args.seeds} --first-seed {args.first_seed} "
        f"--n-boot {args.n_boot}",
        f"# truth: {gen.SOURCE}",
        f"# design: {len(gen.BUDGETS)} isoFLOP budgets {gen.BUDGETS[0]:g}-{gen.BUDGETS[-1]:g} "
        f"FLOPs x {gen.SIZES_PER_BUDGET} sizes (N_opt/{gen.SPAN:g} to {gen.SPAN:g} N_opt), "
        f"noise sd {gen.NOISE} on log loss",
        f"# method: point fit + bootstrap ({args.n_boot} resamples by run, seed 0), "
        "plan_compute 5-95% interval, as the demo runs it",
        f"# {len(seeds)} logs, noise seeds {seeds[0]}..{seeds[-1]} (bundled seed {gen.SEED} "
        f"excluded); {elapsed:.0f} s on this machine; bootstraps converged in "
        f"{int(df.groupby('seed')['boot_ok'].first().sum())}/{len(seeds)}",
        "# coverage +- binomial s.e.; median |rel err| of the point plan",
        "",
        f"{'C (FLOPs)':>10}  {'true D/N':>8}  {'cover D/N':>12}  {'med|err| D/N':>12}  "
        f"{'true N_opt':>10}  {'cover N_opt':>12}  {'med|err| N':>10}",
    ]
    for j, c in enumerate(DEMO_BUDGETS):
        sub = df[np.isclose(df["C"], c)]
        cells = []
        for name in names:
            p = float(sub[f"{name}_covered"].mean())
            se = math.sqrt(p * (1 - p) / len(sub))
            med = float(np.median(np.abs(sub[f"{name}_relerr"])))
            cells.append((f"{p:.2f} +- {se:.2f}", f"{med:.3f}"))
        out.append(
            f"{c:>10.3g}  {float(truth['tokens_per_param'].iat[j]):>8.4g}  {cells[0][0]:>12}  "
            f"{cells[0][1]:>12}  {float(truth['N_opt'].iat[j]):>10.4g}  {cells[1][0]:>12}  "
            f"{cells[1][1]:>10}"
        )
    out += [
        "",
        f"# the bundled log (seed {gen.SEED}) among the {len(seeds)}: its |rel err| and the share "
        "of simulated logs with a smaller one (its percentile); whether its interval holds the truth",
        f"{'C (FLOPs)':>10}  {'D/N |err|':>9}  {'pctile':>6}  {'holds':>5}  "
        f"{'N |err|':>9}  {'pctile':>6}  {'holds':>5}",
    ]
    for j, c in enumerate(DEMO_BUDGETS):
        sub = df[np.isclose(df["C"], c)]
        cells = []
        for name in names:
            true = float(truth[name].iat[j])
            err = abs(float(bundled_plan[name].iat[j]) / true - 1.0)
            pct = float((np.abs(sub[f"{name}_relerr"]) < err).mean())
            lo = float(bundled_plan[f"{name}_q05"].iat[j])
            hi = float(bundled_plan[f"{name}_q95"].iat[j])
            cells.append(f"{err:>9.3f}  {pct:>6.2f}  {'yes' if lo <= true <= hi else 'NO':>5}")
        out.append(f"{c:>10.3g}  {cells[0]}  {cells[1]}")
    text = "\n".join(out) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
