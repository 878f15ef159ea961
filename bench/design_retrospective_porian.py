"""Retrospective on Porian et al.'s RefinedWeb isoFLOP points: q = Approach 2's exponent a.

The fully corrected setting (tuned hyper-parameters, short warmup, constant learning rate,
standard parameter count, validation loss; published a = 0.497 [0.491, 0.505]), 121 runs
on 12 budgets. Start from the --start cheapest runs; the rest form the pool, their losses
revealed only when picked. Grow the study three ways at equal added FLOPs and compare, at
10%, 25% and 50% of the pool's FLOPs, the 90% interval of a and its error against the
all-runs answer:

* compute order — add pool runs cheapest first (how studies grow);
* random — add pool runs in random order while they fit (--repeats repeats);
* design — rounds of :func:`~scalinglaws.design.engine.select_batch` (batches of --batch
  from the remaining pool) on the ensemble of :mod:`scalinglaws.design.isoflop` (Laplace
  draws of the isoFLOP surface, q = a), each round's picks revealed and the surface refitted.

Every subset is judged the same way: the isoFLOP surface's 90% Laplace interval of a, and
|a - a_all| against both all-runs answers (the surface's, and Porian et al.'s own Approach 2
procedure run here on all 121 points). Porian's Approach 2 (Akima minimum, seed-noise
bootstrap) is also run on each subset where it can be (slices with enough sizes) and its a
reported beside.

    python bench/design_retrospective_porian.py [--repeats 20] [--batch 4]

Writes bench/results/design_retrospective_porian.txt, .csv and .png (and prints the table).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglaws.approaches.isoflop import approach2
from scalinglaws.approaches.porian import PORIAN_2024_SEED_NOISE, porian_main_settings, porian_runs
from scalinglaws.design.engine import select_batch
from scalinglaws.design.isoflop import approach2_ensemble, fit_surface

PORIAN = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "isoflops-porian"
    / "isoflop_points_flat.csv"
)
FRACTIONS = (0.10, 0.25, 0.50)
OUT = Path(__file__).resolve().parent / "results" / "design_retrospective_porian.txt"


def porian_a2(runs: pd.DataFrame, mask: np.ndarray) -> float:
    """Porian et al.'s Approach 2 exponent on the subset (NaN where it cannot run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = approach2(
                runs[mask].reset_index(drop=True),
                method="akima",
                bootstrap="noise",
                observation="median",
                loss_noise=PORIAN_2024_SEED_NOISE["rw"],
                n_boot=200,
                drop_small=True,
                weighting="inverse-variance",  # Porian et al.'s 1/sd^2 weights
            )
        return float(res.a)
    except Exception:  # noqa: BLE001 - a subset Approach 2 cannot fit reports NaN
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--start", type=int, default=40)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    if not PORIAN.exists():
        raise SystemExit(f"{PORIAN} is not present")
    t_start = time.perf_counter()
    setting = porian_main_settings(PORIAN, "rw").iloc[4]
    runs = porian_runs(PORIAN, setting["source_file"], int(setting["config_index"]))
    runs = runs.sort_values(["C", "N"], kind="stable").reset_index(drop=True)
    c = runs["C"].to_numpy(float)
    n_all = len(runs)
    start = np.zeros(n_all, dtype=bool)
    start[: args.start] = True
    pool_flops = float(c[~start].sum())
    c_ref = float(np.exp(np.mean(np.log(c))))
    full = fit_surface(runs, c_ref=c_ref)
    truth = full.a
    truth_a2 = porian_a2(runs, np.ones(n_all, dtype=bool))
    rows = []

    def record(strategy, repeat, frac, mask):
        s = fit_surface(runs, mask.astype(float), c_ref=c_ref)
        lo, hi = s.interval(0.9, seed=1)
        a2 = porian_a2(runs, mask)
        rows.append(
            {
                "strategy": strategy,
                "repeat": repeat,
                "fraction": frac,
                "added_flops": float(c[mask & ~start].sum()),
                "n_runs": int(mask.sum()),
                "n_budgets": int(np.unique(c[mask]).size),
                "a": s.a,
                "lo": lo,
                "hi": hi,
                "width": hi - lo,
                "abs_error": abs(s.a - truth),
                "abs_error_vs_porian": abs(s.a - truth_a2),
                "covers_all": bool(lo <= truth <= hi),
                "a_porian_procedure": a2,
                "abs_error_porian_procedure": abs(a2 - truth_a2),
            }
        )

    order = np.flatnonzero(~start)
    for frac in FRACTIONS:
        mask, spent = start.copy(), 0.0
        for j in order:
            if spent + c[j] > frac * pool_flops:
                break
            mask[j], spent = True, spent + c[j]
        record("compute_order", 0, frac, mask)
    for r in range(args.repeats):
        perm = np.random.default_rng(r).permutation(order)
        for frac in FRACTIONS:
            mask, spent = start.copy(), 0.0
            for j in perm:
                if spent + c[j] <= frac * pool_flops:
                    mask[j], spent = True, spent + c[j]
            record("random", r, frac, mask)
    mask, spent, rounds = start.copy(), 0.0, 0
    design_seconds = []
    for frac in FRACTIONS:
        limit = frac * pool_flops
        while True:
            left = limit - spent
            pool = np.flatnonzero(~mask & (c <= left))
            if pool.size == 0:
                break
            surface = fit_surface(runs, mask.astype(float), c_ref=c_ref)
            t0 = time.perf_counter()
            ens = approach2_ensemble(surface, runs.iloc[pool], n_draws=args.draws, seed=rounds)
            sel = select_batch(
                ens, c[pool], budget=left, k=args.batch, slots=max(int(pool.size), args.batch)
            )
            design_seconds.append(time.perf_counter() - t0)
            rounds += 1
            if not sel.picks.size:
                break
            for j in pool[sel.picks]:
                mask[j], spent = True, spent + c[j]
        record("design", 0, frac, mask)
    df = pd.DataFrame(rows)
    lo_all, hi_all = full.interval(0.9, seed=1)
    lines = [
        "Retrospective on Porian et al.'s RefinedWeb isoFLOP points (issue 16)",
        f"setting: {setting['label']} (config {int(setting['config_index'])}; published a "
        f"{setting['reference_a']:.3f} [{setting['reference_lo']:.3f}, "
        f"{setting['reference_hi']:.3f}]), {n_all} runs on {np.unique(c).size} budgets",
        f"start: the {args.start} cheapest runs; pool: the other {n_all - args.start} "
        f"({pool_flops:.3g} FLOPs); quantity: Approach 2's exponent a (N* ~ C^a)",
        f"answer from all {n_all} runs: isoFLOP surface a = {truth:.4f} (90% Laplace "
        f"{lo_all:.4f}-{hi_all:.4f}, residual sd {full.sigma:.3g}); Porian's Approach 2 "
        f"procedure a = {truth_a2:.4f}",
        f"intervals: the isoFLOP surface's Laplace draws (scalinglaws.design.isoflop); design: "
        f"linear engine, per-FLOP rule, batches of {args.batch}, {rounds} rounds; random: "
        f"{args.repeats} repeats (medians)",
        "",
        f"{'fraction':>8} {'strategy':<14} {'runs':>5} {'budgets':>7} {'added FLOPs':>12} "
        f"{'a':>7} {'90% interval':>15} {'width':>7} {'|err|':>7} {'|err| vs P':>10} "
        f"{'covers':>7} {'a (Porian proc.)':>16} {'its |err|':>9}",
    ]
    for frac in FRACTIONS:
        for strategy in ("compute_order", "random", "design"):
            sub = df[(df["fraction"] == frac) & (df["strategy"] == strategy)]
            lines.append(
                f"{frac:>8.0%} {strategy:<14} {sub['n_runs'].median():>5.0f} "
                f"{sub['n_budgets'].median():>7.0f} {sub['added_flops'].median():>12.3g} "
                f"{sub['a'].median():>7.4f} {sub['lo'].median():>7.4f}-{sub['hi'].median():<7.4f} "
                f"{sub['width'].median():>7.4f} {sub['abs_error'].median():>7.4f} "
                f"{sub['abs_error_vs_porian'].median():>10.4f} {sub['covers_all'].mean():>7.2f} "
                f"{sub['a_porian_procedure'].median():>16.4f} "
                f"{sub['abs_error_porian_procedure'].median():>9.4f}"
            )
    lines.append("")
    for frac in FRACTIONS:
        d = df[(df["fraction"] == frac) & (df["strategy"] == "design")]["width"].iloc[0]
        co = df[(df["fraction"] == frac) & (df["strategy"] == "compute_order")]["width"].iloc[0]
        rnd = df[(df["fraction"] == frac) & (df["strategy"] == "random")]["width"].median()
        lines.append(
            f"at {frac:.0%}: design width / compute-order width = {d / co:.3g} "
            f"({'no wider' if d <= co else 'WIDER'}); / random median = {d / rnd:.3g}"
        )
    lines.append(
        f"design engine wall time per round (s): median {np.median(design_seconds):.3f}"
        if design_seconds
        else "no design rounds"
    )
    lines.append(
        "|err|: surface a against the surface's all-runs a; |err| vs P: against Porian's "
        "procedure on all runs; its |err|: Porian's procedure on the subset against it on all"
    )
    lines.append(f"total wall time: {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    df.to_csv(out.with_suffix(".csv"), index=False)
    figure(df, truth, truth_a2, out.with_suffix(".png"))


def figure(df, truth, truth_a2, path):
    """Interval of a and its error against added FLOPs, per strategy (random: medians)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for strategy, color in (("compute_order", "C0"), ("random", "C1"), ("design", "C2")):
        sub = df[df["strategy"] == strategy].groupby("fraction").median(numeric_only=True)
        x = sub.index.to_numpy() * 100
        ax1.fill_between(x, sub["lo"], sub["hi"], color=color, alpha=0.2)
        ax1.plot(x, sub["a"], "o-", color=color, label=strategy)
        ax2.plot(x, sub["abs_error"], "o-", color=color, label=strategy)
    ax1.axhline(truth, color="k", ls="--", lw=1, label="all runs (surface)")
    ax1.axhline(truth_a2, color="k", ls=":", lw=1, label="all runs (Porian's procedure)")
    ax1.set_xlabel("added FLOPs (% of the pool)")
    ax1.set_ylabel("Approach 2 exponent a (90% interval)")
    ax1.legend(fontsize=8)
    ax2.set_xlabel("added FLOPs (% of the pool)")
    ax2.set_ylabel("|a - a(all runs)| (surface)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
