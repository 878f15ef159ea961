"""Simulated studies: spend extra study compute three ways, compare the plan's interval.

Every study starts from the same grid (issue 16): isoFLOP budgets 1e18, 3e18, 1e19, seven
sizes each log-spaced from 1/4x to 4x of the truth's N_opt; truths alternate between
Epoch's refit and Hoffmann's unrounded coefficients; log-loss noise sd 0.01. The extra
compute is that of one more slice at 3e19 with seven sizes (~2.1e20 FLOPs), spent

  (a) on that slice, the usual way;
  (b) on random candidates (N in [1e7, 3e9], D in [1e8, 1e11]) up to the same FLOPs;
  (c) on the runs ``design_runs`` picks from the same candidate set.

After each, the law is refitted with the chosen uncertainty method and the 90% interval
of compute-optimal tokens per parameter at 1e24 FLOPs is recorded: its width and whether
it covers the truth.

    python bench/design_simulated.py --studies 40 [--uncertainty laplace] [--k 7]

Writes bench/results/design_simulated.txt (and prints it).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.design import design_runs  # noqa: E402
from scalinglaws.laws.chinchilla import (  # noqa: E402
    EPOCH_2024,
    HOFFMANN_2022,
    compute_optimal,
    tokens_per_param,
)
from scalinglaws.simulate import simulate_runs  # noqa: E402

TARGET = 1e24
BASE_BUDGETS = (1e18, 3e18, 1e19)
EXTRA_BUDGET = 3e19
SIZES = 7
NOISE = 0.01
N_BOX, D_BOX = (1e7, 3e9), (1e8, 1e11)
OUT = Path(__file__).resolve().parent / "results" / "design_simulated.txt"


def slice_runs(truth, budget):
    n_opt = float(compute_optimal(truth, budget)[0])
    n = np.geomspace(n_opt / 4, n_opt * 4, SIZES)
    return pd.DataFrame({"N": n, "D": budget / (6 * n), "C": np.full(SIZES, budget)})


def interval(result):
    """(lo, hi) of the 90% interval of tokens/param at TARGET from the fit's draws."""
    draws = {k: np.asarray(v) for k, v in result.uncertainty.draws.items()}
    with jax.enable_x64(True):
        tpp = np.asarray(tokens_per_param(draws, TARGET))
    tpp = tpp[np.isfinite(tpp)]
    return np.quantile(tpp, 0.05), np.quantile(tpp, 0.95)


def refit(base, extra, truth, seed, method, samples):
    law = sl.laws.chinchilla()
    new = simulate_runs(law, truth, extra, noise=NOISE, seed=seed)
    runs = pd.concat([base, new], ignore_index=True)
    return sl.fit(law, runs, uncertainty=method, samples=samples, seed=seed)


def speed(lines, n=1000):
    """Warm wall time: rank n candidates with n draws (engine and design_runs), batch of 8."""
    from scalinglaws.design.engine import Ensemble, score

    law = sl.laws.chinchilla()
    truth = EPOCH_2024
    base = simulate_runs(law, truth, pd.concat([slice_runs(truth, c) for c in BASE_BUDGETS]))
    fit = sl.fit(law, base, uncertainty="laplace", samples=n, seed=0)
    rng = np.random.default_rng(0)
    n_c = np.exp(rng.uniform(*np.log(N_BOX), n))
    d_c = np.exp(rng.uniform(*np.log(D_BOX), n))
    cands = pd.DataFrame({"N": n_c, "D": d_c})
    lines.append(f"speed ({n} candidates x {n} draws, warm, best of 3, this machine's load):")
    for method in ("linear", "importance"):
        for k in (1, 8):
            times = []
            for _ in range(4):
                t0 = time.perf_counter()
                design_runs(
                    fit,
                    target=TARGET,
                    study_budget=1e30,
                    k=k,
                    candidates=cands,
                    quantity="tokens_per_param",
                    method=method,
                )
                times.append(time.perf_counter() - t0)
            lines.append(f"  design_runs {method:<10} k={k}: {min(times[1:]):.3f} s")
    ens = Ensemble(np.asarray(rng.standard_normal(n)), rng.standard_normal((n, n, 1)), 0.01)
    for method in ("linear", "importance"):
        score(ens, method=method)
        t0 = time.perf_counter()
        score(ens, method=method)
        lines.append(
            f"  engine score (all candidates) {method:<10}: {time.perf_counter() - t0:.3f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=40)
    ap.add_argument("--uncertainty", default="laplace", choices=("laplace", "bootstrap"))
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--method", default="linear", choices=("linear", "importance"))
    ap.add_argument("--selection", default="per_flop", choices=("auto", "per_flop", "absolute"))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--speed", action="store_true", help="also time the ranking and a batch")
    args = ap.parse_args()
    law = sl.laws.chinchilla()
    speed_lines: list[str] = []
    if args.speed:
        speed(speed_lines)
        print("\n".join(speed_lines), flush=True)
    rows = []
    caught_total = 0
    t_start = time.perf_counter()
    design_times = []
    for i in range(args.studies):
        truth, name = (EPOCH_2024, "epoch") if i % 2 == 0 else (HOFFMANN_2022, "hoffmann")
        with jax.enable_x64(True):
            truth_tpp = float(tokens_per_param(truth, TARGET))
        rng = np.random.default_rng(1000 + i)
        base_design = pd.concat([slice_runs(truth, c) for c in BASE_BUDGETS], ignore_index=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            base = simulate_runs(law, truth, base_design, noise=NOISE, seed=10_000 + i)
            base_fit = sl.fit(law, base, uncertainty=args.uncertainty, samples=args.samples, seed=i)
            slice_a = slice_runs(truth, EXTRA_BUDGET)
            budget = float(slice_a["C"].sum())
            # Exactly --candidates runs within the budget (one shape: one compilation).
            n_c = np.exp(rng.uniform(*np.log(N_BOX), 4 * args.candidates))
            d_c = np.exp(rng.uniform(*np.log(D_BOX), 4 * args.candidates))
            cands = pd.DataFrame({"N": n_c, "D": d_c, "C": 6 * n_c * d_c})
            cands = cands[cands["C"] <= budget].head(args.candidates).reset_index(drop=True)
            # (b) random candidates, in random order, while they fit the budget.
            spent, pick_b = 0.0, []
            for j in rng.permutation(len(cands)):
                if spent + cands["C"][j] <= budget:
                    pick_b.append(j)
                    spent += cands["C"][j]
            random_b = cands.iloc[pick_b].reset_index(drop=True)
            t0 = time.perf_counter()
            plan = design_runs(
                base_fit,
                target=TARGET,
                study_budget=budget,
                k=args.k,
                candidates=cands,
                quantity="tokens_per_param",
                method=args.method,
                selection=args.selection,
                seed=i,
            )
            design_times.append(time.perf_counter() - t0)
            design_c = plan[["N", "D", "C"]]
            for label, extra in (
                ("a_slice", slice_a),
                ("b_random", random_b),
                ("c_design", design_c),
            ):
                res = refit(base, extra, truth, 20_000 + i, args.uncertainty, args.samples)
                lo, hi = interval(res)
                rows.append(
                    {
                        "study": i,
                        "truth": name,
                        "arm": label,
                        "n_runs": len(extra),
                        "flops": float(extra["C"].sum()),
                        "lo": lo,
                        "hi": hi,
                        "width": hi - lo,
                        "log_width": np.log(hi / lo),
                        "covered": bool(lo <= truth_tpp <= hi),
                        "converged": res.converged and res.uncertainty.converged,
                        "expected_ratio": float(plan["width_ratio"].iloc[-1])
                        if label == "c_design" and len(plan)
                        else np.nan,
                    }
                )
            base_lo, base_hi = interval(base_fit)
            rows.append(
                {
                    "study": i,
                    "truth": name,
                    "arm": "base",
                    "n_runs": 0,
                    "flops": 0.0,
                    "lo": base_lo,
                    "hi": base_hi,
                    "width": base_hi - base_lo,
                    "log_width": np.log(base_hi / base_lo),
                    "covered": bool(base_lo <= truth_tpp <= base_hi),
                    "converged": base_fit.converged,
                    "expected_ratio": np.nan,
                }
            )
        caught_total += len(caught)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1} studies, {time.perf_counter() - t_start:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    lines = [
        "Experiment design on simulated studies (issue 16)",
        f"studies: {args.studies} (truths: Epoch refit / Hoffmann unrounded, half each); "
        f"noise sd {NOISE} on log loss",
        f"uncertainty for the fits and intervals: {args.uncertainty} ({args.samples} draws); "
        f"design: method {args.method}, selection {args.selection}, at most {args.k} runs, "
        f"{args.candidates} random candidates (log-uniform) in N {N_BOX}, D {D_BOX} within the budget",
        "quantity: 90% interval of compute-optimal tokens per parameter at 1e24 FLOPs",
        f"warnings raised during fits (counted, not errors): {caught_total}",
        "",
        f"{'arm':<10} {'median width':>13} {'median log-width':>17} {'coverage':>9} "
        f"{'runs (median)':>14} {'FLOPs (median)':>15} {'converged':>10}",
    ]
    for arm in ("base", "a_slice", "b_random", "c_design"):
        sub = df[df["arm"] == arm]
        lines.append(
            f"{arm:<10} {sub['width'].median():>13.4g} {sub['log_width'].median():>17.4g} "
            f"{sub['covered'].mean():>9.3f} {sub['n_runs'].median():>14.1f} "
            f"{sub['flops'].median():>15.3g} {sub['converged'].mean():>10.2f}"
        )
    med = df.pivot(index="study", columns="arm", values="width")
    lines += [
        "",
        f"median width ratio (a)/(c): {med['a_slice'].median() / med['c_design'].median():.3g}"
        f"   (b)/(c): {med['b_random'].median() / med['c_design'].median():.3g}",
        f"per-study (c) narrower than (a): {(med['c_design'] < med['a_slice']).mean():.2f}; "
        f"than (b): {(med['c_design'] < med['b_random']).mean():.2f}",
        "design's own expected width ratio (after/before, median): "
        f"{df.loc[df['arm'] == 'c_design', 'expected_ratio'].median():.3g}; realised "
        f"(c)/base: {(med['c_design'] / med['base']).median():.3g}",
        f"design_runs wall time per study (s): median {np.median(design_times):.2f}, "
        f"max {np.max(design_times):.2f}",
        "",
        "per truth:",
    ]
    for truth in ("epoch", "hoffmann"):
        sub = df[df["truth"] == truth]
        parts = []
        for arm in ("a_slice", "b_random", "c_design"):
            s = sub[sub["arm"] == arm]
            parts.append(f"{arm} width {s['width'].median():.4g} cov {s['covered'].mean():.2f}")
        lines.append(f"  {truth:<9} " + "; ".join(parts))
    lines += ["", *speed_lines]
    lines.append(f"\ntotal wall time: {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    df.to_csv(out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
