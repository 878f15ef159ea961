"""Retrospective on the 245 Epoch runs: would ``design`` have grown the study better?

Start from the 40 cheapest runs; the other 205 form the pool, their losses revealed only
when picked. Grow the study three ways at equal added FLOPs and compare, at 10%, 25% and
50% of the pool's FLOPs, the 90% interval of compute-optimal tokens per parameter at
5.76e23 FLOPs and its error against the answer from all 245 runs:

* compute order — add pool runs cheapest first (how studies grow);
* random — add pool runs in random order while they fit (20 repeats);
* design — rounds of ``design_runs`` (batches of --batch runs from the remaining pool,
  fantasised outcomes within a round), each round's picks revealed and the law refitted.

Every fit uses all 245 rows with 0/1 weights (one compiled program for every subset), and
its draws are Gauss-Newton Laplace draws (the fit's weighted covariance), so all three ways
are judged by the same interval method.

    python bench/design_retrospective.py [--repeats 20] [--batch 4]

Writes bench/results/design_retrospective.txt (and prints it).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalinglaws as sl  # noqa: E402
from scalinglaws.design import design_runs  # noqa: E402
from scalinglaws.fitting.result import Uncertainty  # noqa: E402
from scalinglaws.laws.chinchilla import tokens_per_param  # noqa: E402

EPOCH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla-epoch"
    / "svg_extracted_data.csv"
)
TARGET = 5.76e23
FRACTIONS = (0.10, 0.25, 0.50)
START = 40
OUT = Path(__file__).resolve().parent / "results" / "design_retrospective.txt"


def fit_subset(law, runs, mask, n_draws, seed):
    """Fit on the rows in ``mask`` (weights), with Gauss-Newton Laplace draws."""
    res = sl.fit(law, runs, weights=mask.astype(float))
    names = law.param_names
    theta = np.array([law.spec(n).to_internal(res.params[n]) for n in names])
    rng = np.random.default_rng(seed)
    cov = res.covariance
    if cov is None:
        raise RuntimeError("singular covariance")
    chol = np.linalg.cholesky(0.5 * (cov + cov.T))
    thetas = theta + rng.standard_normal((n_draws, theta.size)) @ chol.T
    draws = {
        n: (np.exp(thetas[:, i]) if law.spec(n).log_scale else thetas[:, i])
        for i, n in enumerate(names)
    }
    resid = np.asarray(res.residuals)[mask]
    sigma = float(np.sqrt(np.sum(resid**2) / max(resid.size - len(names), 1)))
    unc = Uncertainty(method="laplace", draws=draws, extra={"noise_scale": sigma})
    return dataclasses.replace(
        res,
        uncertainty=unc,
        data=runs[mask].reset_index(drop=True),
        residuals=resid,
        n_runs=int(mask.sum()),
    )


def summary(result):
    draws = {k: np.asarray(v) for k, v in result.uncertainty.draws.items()}
    with jax.enable_x64(True):
        tpp = np.asarray(tokens_per_param(draws, TARGET))
        point = float(tokens_per_param(dict(result.params), TARGET))
    tpp = tpp[np.isfinite(tpp)]
    lo, hi = np.quantile(tpp, [0.05, 0.95])
    return point, lo, hi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--method", default="linear", choices=("linear", "importance"))
    ap.add_argument("--selection", default="per_flop", choices=("auto", "per_flop", "absolute"))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    if not EPOCH.exists():
        raise SystemExit(f"{EPOCH} is not present")
    t_start = time.perf_counter()
    law = sl.laws.chinchilla()
    runs = sl.load_runs(EPOCH).sort_values("C", kind="stable").reset_index(drop=True)
    c = runs["C"].to_numpy(float)
    n_all = len(runs)
    start = np.zeros(n_all, dtype=bool)
    start[:START] = True
    pool_flops = float(c[~start].sum())
    full = fit_subset(law, runs, np.ones(n_all, dtype=bool), args.draws, 0)
    truth, *_ = summary(full)
    caught_total = 0
    rows = []

    def record(strategy, repeat, frac, mask):
        res = fit_subset(law, runs, mask, args.draws, 1)
        point, lo, hi = summary(res)
        rows.append(
            {
                "strategy": strategy,
                "repeat": repeat,
                "fraction": frac,
                "added_flops": float(c[mask & ~start].sum()),
                "n_runs": int(mask.sum()),
                "point": point,
                "lo": lo,
                "hi": hi,
                "width": hi - lo,
                "log_width": float(np.log(hi / lo)),
                "abs_log_error": abs(float(np.log(point / truth))),
                "covers_all245": bool(lo <= truth <= hi),
            }
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # compute order: cheapest first, up to each fraction of the pool's FLOPs.
        order = np.flatnonzero(~start)
        for frac in FRACTIONS:
            mask, spent = start.copy(), 0.0
            for j in order:
                if spent + c[j] > frac * pool_flops:
                    break
                mask[j], spent = True, spent + c[j]
            record("compute_order", 0, frac, mask)
        # random order, while runs fit.
        for r in range(args.repeats):
            perm = np.random.default_rng(r).permutation(order)
            for frac in FRACTIONS:
                mask, spent = start.copy(), 0.0
                for j in perm:
                    if spent + c[j] <= frac * pool_flops:
                        mask[j], spent = True, spent + c[j]
                record("random", r, frac, mask)
        # design: rounds of batches from the remaining pool, growing one study.
        mask, spent, rounds = start.copy(), 0.0, 0
        design_seconds = []
        for frac in FRACTIONS:
            limit = frac * pool_flops
            while True:
                left = limit - spent
                pool = np.flatnonzero(~mask & (c <= left))
                if pool.size == 0:
                    break
                current = fit_subset(law, runs, mask, args.draws, 100 + rounds)
                t0 = time.perf_counter()
                plan = design_runs(
                    current,
                    target=TARGET,
                    study_budget=left,
                    k=args.batch,
                    candidates=runs.iloc[pool][["N", "D", "C"]],
                    quantity="tokens_per_param",
                    method=args.method,
                    selection=args.selection,
                    seed=rounds,
                    # Batches are rounds of one growing study: run slots are not scarce.
                    run_slots=max(int(pool.size), args.batch),
                )
                design_seconds.append(time.perf_counter() - t0)
                rounds += 1
                if not len(plan):
                    break
                for _, pick in plan.iterrows():
                    j = pool[
                        np.flatnonzero(
                            np.isclose(runs["N"].to_numpy()[pool], pick["N"], rtol=1e-12)
                            & np.isclose(runs["D"].to_numpy()[pool], pick["D"], rtol=1e-12)
                        )[0]
                    ]
                    mask[j], spent = True, spent + c[j]
            record("design", 0, frac, mask)
        caught_total = len(caught)
    df = pd.DataFrame(rows)
    lines = [
        "Retrospective on the 245 Epoch runs (issue 16)",
        f"start: the {START} cheapest runs; pool: the other {n_all - START} "
        f"({pool_flops:.3g} FLOPs); quantity: tokens/param at {TARGET:.3g} FLOPs",
        f"answer from all 245 runs: {truth:.4g} tokens/param (90% Laplace interval "
        f"{summary(full)[1]:.4g}-{summary(full)[2]:.4g})",
        f"intervals: Gauss-Newton Laplace draws ({args.draws}); design: method {args.method}, selection {args.selection}, "
        f"batches of {args.batch}, {rounds} rounds; random: {args.repeats} repeats (medians)",
        f"warnings raised during fits (counted): {caught_total}",
        "",
        f"{'fraction':>8} {'strategy':<14} {'runs':>5} {'added FLOPs':>12} {'point':>8} "
        f"{'90% interval':>19} {'width':>8} {'|log err|':>9} {'covers':>7}",
    ]
    for frac in FRACTIONS:
        for strategy in ("compute_order", "random", "design"):
            sub = df[(df["fraction"] == frac) & (df["strategy"] == strategy)]
            lines.append(
                f"{frac:>8.0%} {strategy:<14} {sub['n_runs'].median():>5.0f} "
                f"{sub['added_flops'].median():>12.3g} {sub['point'].median():>8.4g} "
                f"{sub['lo'].median():>9.4g}-{sub['hi'].median():<9.4g} "
                f"{sub['width'].median():>8.4g} {sub['abs_log_error'].median():>9.3f} "
                f"{sub['covers_all245'].mean():>7.2f}"
            )
    lines.append("")
    for frac in FRACTIONS:
        d = df[(df["fraction"] == frac) & (df["strategy"] == "design")]["width"].iloc[0]
        co = df[(df["fraction"] == frac) & (df["strategy"] == "compute_order")]["width"].iloc[0]
        lines.append(
            f"at {frac:.0%}: design width / compute-order width = {d / co:.3g} "
            f"({'no wider' if d <= co else 'WIDER'})"
        )
    lines.append(
        f"design_runs wall time per round (s): median {np.median(design_seconds):.2f}"
        if design_seconds
        else "no design rounds"
    )
    lines.append(f"total wall time: {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    df.to_csv(out.with_suffix(".csv"), index=False)
    figure(df, truth, out.with_suffix(".png"))


def figure(df, truth, path):
    """Interval and error against added FLOPs, per strategy (random: median of repeats)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for strategy, color in (("compute_order", "C0"), ("random", "C1"), ("design", "C2")):
        sub = df[df["strategy"] == strategy].groupby("fraction").median(numeric_only=True)
        x = sub.index.to_numpy() * 100
        ax1.fill_between(x, sub["lo"], sub["hi"], color=color, alpha=0.2)
        ax1.plot(x, sub["point"], "o-", color=color, label=strategy)
        ax2.plot(x, sub["abs_log_error"], "o-", color=color, label=strategy)
    ax1.axhline(truth, color="k", ls="--", lw=1, label="all 245 runs")
    ax1.set_yscale("log")
    ax1.set_xlabel("added FLOPs (% of the pool)")
    ax1.set_ylabel(f"tokens/param at {TARGET:.3g} (90% interval)")
    ax1.legend(fontsize=8)
    ax2.set_xlabel("added FLOPs (% of the pool)")
    ax2.set_ylabel("|log error| against all 245 runs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
