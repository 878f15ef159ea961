"""Approach 2's slice weighting on simulated isoFLOP studies whose top slice is short.

Each study trains 6-8 budgets, three times apart, at a random base budget in
[1e18, 1e19] FLOPs. Every slice but the top one holds 7-12 model sizes; the top one holds
5 or 6 (the expensive slice a real study cuts short). Each slice spans a factor 100 in
tokens per parameter, centred within a factor e^0.4 of the true optimum. Losses come from
:func:`scalinglaws.simulate.simulate_runs` with a Chinchilla law (Hoffmann et al. 2022's
or Besiroglu et al. 2024's fit, alternating) and Gaussian noise of sd ``NOISE`` on log
loss. Every study is fitted clean and again with one outlier: an interior point of the
top slice with its loss raised by ``OUTLIER_SD`` noise sds (a run that went badly).

For each weighting (:data:`scalinglaws.approaches.isoflop.WEIGHTINGS`) Approach 2 with
its default minimiser (whole-slice parabola, residual bootstrap, ``N_BOOT`` draws per
slice) predicts the optimal tokens D_opt at 1000x the top budget. Reported: the median
|relative error| of D_opt against the truth, and the coverage of the 90% interval
Approach 2 reports (``predict``'s ``D_opt_lo``/``D_opt_hi``: the 5% and 95% percentiles
of G_D C^b over the power law refitted, with the same weights, to every bootstrap draw of
every slice's optimum). Also: the median share of the weight the top slice gets in the
fit of D* (equal weights give it 1/S).

Seeded and deterministic. Run: ``python bench/approach2_weighting.py`` (about 2 minutes
on 2 cores); it writes ``bench/results/approach2_weighting.txt``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglaws as sl
from scalinglaws.approaches import approach2
from scalinglaws.approaches.isoflop import DEFAULT_WEIGHTING, WEIGHTINGS
from scalinglaws.simulate import isoflop_design, simulate_runs

OUT = Path(__file__).resolve().parent / "results" / "approach2_weighting.txt"
TRUTHS = {"hoffmann2022": sl.laws.HOFFMANN_2022, "epoch2024": sl.laws.EPOCH_2024}
#: sd of the Gaussian noise on log loss (between Porian et al.'s measured seed sds,
#: 0.002 on RefinedWeb and 0.01 on OpenWebText2).
NOISES = (0.002, 0.005, 0.01)
OUTLIER_SD = 8.0
N_BOOT = 1000
LEVEL = 0.90
EXTRAPOLATE = 1000.0
SPAN = 100.0  # tokens per parameter covered by a slice, max / min
K = 6.0


def optimum(params: dict[str, float], c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True compute-optimal (N, D) of L = E + A/N^alpha + B/D^beta under C = 6 N D."""
    alpha, beta = params["alpha"], params["beta"]
    g = (alpha * params["A"] / (beta * params["B"])) ** (1.0 / (alpha + beta))
    n = g * (c / K) ** (beta / (alpha + beta))
    return n, c / (K * n)


def study(i: int, noise: float) -> tuple[pd.DataFrame, pd.DataFrame, float, dict[str, float]]:
    """Study ``i``: (clean runs, runs with one outlier, top budget, truth)."""
    rng = np.random.default_rng([20260, i])
    name = list(TRUTHS)[i % len(TRUTHS)]
    params = TRUTHS[name]
    n_budgets = int(rng.integers(6, 9))
    budgets = 10 ** rng.uniform(18, 19) * 3.0 ** np.arange(n_budgets)
    parts = []
    for j, c in enumerate(budgets):
        n_sizes = int(rng.integers(5, 7)) if j == n_budgets - 1 else int(rng.integers(7, 13))
        n_opt, d_opt = optimum(params, np.array([c]))
        centre = float(d_opt[0] / n_opt[0]) * float(np.exp(rng.uniform(-0.4, 0.4)))
        parts.append(isoflop_design([c], n_sizes, center=centre, tokens_per_param=(1.0, SPAN)))
    design = pd.concat(parts, ignore_index=True)
    clean = simulate_runs(sl.laws.chinchilla(), params, design, noise=noise, seed=i)
    top = np.flatnonzero(design["C"].to_numpy() == budgets[-1])
    hit = int(rng.choice(top[1:-1]))
    dirty = clean.copy()
    dirty.loc[hit, "loss"] *= float(np.exp(OUTLIER_SD * noise))
    return clean, dirty, float(budgets[-1]), params


def score(runs: pd.DataFrame, weighting: str, seed: int, c_pred: float, d_true: float) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawsWarning)
        res = approach2(runs, weighting=weighting, n_boot=N_BOOT, level=LEVEL, seed=seed)
    p = res.predict([c_pred]).iloc[0]
    used = res.slices[res.slices["used"]]
    top_share = (
        float(used["weight_D"].iloc[-1]) if used["budget"].iloc[-1] == runs["C"].max() else 0.0
    )
    return {
        "rel_err": abs(p["D_opt"] / d_true - 1.0),
        "log_err": float(np.log(p["D_opt"] / d_true)),
        "covered": bool(p["D_opt_lo"] <= d_true <= p["D_opt_hi"]),
        "width": float(np.log(p["D_opt_hi"] / p["D_opt_lo"])),
        "top_share": top_share,
        "equal_share": 1.0 / len(used),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=120)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for noise in NOISES:
        for i in range(args.studies):
            clean, dirty, top, params = study(i, noise)
            c_pred = EXTRAPOLATE * top
            d_true = float(optimum(params, np.array([c_pred]))[1][0])
            for case, runs in (("clean", clean), ("outlier", dirty)):
                for w in WEIGHTINGS:
                    r = score(runs, w, i, c_pred, d_true)
                    rows.append({"noise": noise, "study": i, "case": case, "weighting": w, **r})
    df = pd.DataFrame(rows)
    elapsed = time.perf_counter() - t0
    summary = (
        df.groupby(["noise", "case", "weighting"], sort=False)
        .agg(
            median_abs_rel_err=("rel_err", "median"),
            mean_abs_rel_err=("rel_err", "mean"),
            median_log_err=("log_err", "median"),
            coverage90=("covered", "mean"),
            median_log_width=("width", "median"),
            top_weight_share=("top_share", "median"),
            equal_share=("equal_share", "median"),
        )
        .reset_index()
    )
    # Paired comparison with unweighted: the share of studies a weighting does better on.
    base = df[df["weighting"] == "unweighted"].set_index(["noise", "study", "case"])["rel_err"]
    wins = []
    for _, s in summary.iterrows():
        sel = df[(df["noise"] == s["noise"]) & (df["case"] == s["case"])]
        mine = sel[sel["weighting"] == s["weighting"]].set_index(["noise", "study", "case"])
        wins.append(float((mine["rel_err"] < base.loc[mine.index]).mean()))
    summary["beats_unweighted"] = wins
    lines = [
        "Approach 2 slice weighting: D_opt at 1000x the top budget, simulated isoFLOP studies",
        f"studies: {args.studies} per noise level, each clean and with one top-slice outlier "
        f"(+{OUTLIER_SD:g} noise sd); 6-8 budgets 3x apart; slices of 7-12 sizes, top 5-6",
        f"noise sd on log loss: {', '.join(f'{n:g}' for n in NOISES)}; bootstrap draws per "
        f"slice: {N_BOOT}; interval level: {LEVEL:g}; minimiser: parabola (default)",
        f"library default weighting: {DEFAULT_WEIGHTING}",
        "",
        summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        "",
        "median_abs_rel_err: median over studies of |D_opt / D_true - 1|; coverage90: share of",
        "studies whose 90% interval (percentiles of the bootstrap refits) holds D_true;",
        "top_weight_share: median share of the D* fit's weight on the top slice (equal_share = 1/S);",
        "beats_unweighted: share of studies with a smaller |error| than the unweighted fit.",
    ]
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text + f"elapsed: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
