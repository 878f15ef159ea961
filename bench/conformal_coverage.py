"""Coverage of 90% predictive intervals at held-out larger budgets, with and without
split-conformal calibration, on simulated logs where the law is right and where it is
mildly misspecified.

    .venv/bin/python bench/conformal_coverage.py [--datasets 200] [--method none laplace]
    .venv/bin/python bench/conformal_coverage.py --method bootstrap
    .venv/bin/python bench/conformal_coverage.py --scenario curved --kappa 0.008
    .venv/bin/python bench/conformal_coverage.py --epoch --method none laplace bootstrap bayes

Results of these runs are in bench/results/conformal_coverage_*.json.

Simulation: Besiroglu et al. 2024's Chinchilla coefficients (``EPOCH_2024``: E 1.8172,
A 482.01, B 2085.43, alpha 0.3478, beta 0.3658) on an isoFLOP design of 7 training budgets
from 1e18 to 1e21 FLOPs with 9 model sizes each (63 runs), plus 2 held-out budgets (3e21,
1e22) with 15 sizes each at 5-80 tokens per parameter; Gaussian log-loss noise of sd 0.01;
one seed per dataset. Scenarios:

* ``right`` — the data follow the Chinchilla law the fit assumes.
* ``curved`` — a slightly curved log-log: loss x exp(-kappa log10(C / 1e18)^2), kappa
  ``--kappa`` (default 0.004: 0.4% lower loss at 1e19, 3.6% at 1e21, 6.4% at 1e22), a
  gain at scale that no Chinchilla curve has.

Per dataset: :func:`scalinglaws.approaches.backtest` above 1e21 with ``calibrate=
"conformal"`` (calibration on the largest-compute 20% of the *training* runs), so each
held-out observation is a fresh noisy draw at a larger budget. Reported: pooled coverage
with and without calibration, its standard error over datasets (the held-out runs of one
log share its fit's error, so the dataset is the unit), the median calibration factor,
and the median log interval width. ``--epoch`` runs the same on the Epoch file.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    _flag = "--xla_force_host_platform_device_count=2"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

jax.config.update("jax_enable_x64", True)

import scalinglaws as sl  # noqa: E402
from scalinglaws.approaches.backtest import backtest  # noqa: E402
from scalinglaws.simulate import isoflop_design, simulate_runs  # noqa: E402

LAW = sl.laws.chinchilla()
TRUTH = sl.laws.EPOCH_2024
TRAIN = isoflop_design(np.geomspace(1e18, 1e21, 7), 9)
HELD = isoflop_design([3e21, 1e22], 15, tokens_per_param=(5.0, 80.0))
DESIGN = pd.concat([TRAIN, HELD], ignore_index=True)
EPOCH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla-epoch"
    / "svg_extracted_data.csv"
)


def simulate(seed: int, scenario: str, kappa: float) -> pd.DataFrame:
    runs = simulate_runs(LAW, TRUTH, DESIGN, noise=0.01, seed=seed)
    if scenario == "curved":
        c = runs["C"].to_numpy(dtype=float)
        runs["loss"] = runs["loss"] * np.exp(-kappa * np.log10(c / 1e18) ** 2)
    return runs


def one(runs, method: str, args, seed: int) -> dict:
    res = backtest(
        runs,
        holdout_above_compute=1e21,
        uncertainty=method,
        samples=args.samples,
        seed=seed,
        calibrate="conformal",
    )
    s = res.summary
    return {
        "coverage": s["coverage"],
        "coverage_uncalibrated": s["coverage_uncalibrated"],
        "factor": s["calibration"]["factor"],
        "quantile": s["calibration"]["quantile"],
        "width": s["interval_width_log"],
        "width_uncalibrated": s["interval_width_log_uncalibrated"],
        "n_holdout": s["n_holdout"],
        "median_abs_rel_error": s["median_abs_rel_error"],
    }


def epoch(method: str, args) -> dict:
    """The Epoch file, backtest above 1e21, calibrated on the training runs only."""
    from scalinglaws.uncertainty.conformal import conformal_calibrate, widen
    from scalinglaws.uncertainty.intervals import load_law_runs

    runs = load_law_runs(EPOCH, LAW, None)
    train = runs[runs["C"] <= 1e21]
    cal = conformal_calibrate(train, uncertainty=method, samples=args.samples)
    res = backtest(runs, holdout_above_compute=1e21, uncertainty=method, samples=args.samples)
    r = res.rows
    lo, hi = widen(r["predicted"], r["q05"], r["q95"], cal.factor)
    obs = r["observed"].to_numpy(dtype=float)
    unc = res.fit.uncertainty
    return {
        "n_holdout": len(r),
        "coverage": float(np.mean((obs >= lo) & (obs <= hi))),
        "coverage_uncalibrated": res.summary["coverage"],
        "factor": cal.factor,
        "quantile": cal.quantile,
        "n_calibration": cal.n_calibration,
        "calibration_coverage_uncalibrated": cal.coverage_uncalibrated,
        "width": float(np.median(np.log(hi / lo))),
        "width_uncalibrated": res.summary["interval_width_log"],
        "median_abs_rel_error": res.summary["median_abs_rel_error"],
        "uncertainty_converged": bool(unc.converged) if unc.n_draws else None,
    }


def pooled(rows: list[dict]) -> dict:
    df = pd.DataFrame(rows)
    d = len(df)

    def mean_se(col):
        v = df[col].to_numpy(dtype=float)
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(d)) if d > 1 else float("nan")

    cov, cov_se = mean_se("coverage")
    unc, unc_se = mean_se("coverage_uncalibrated")
    return {
        "datasets": d,
        "coverage": cov,
        "coverage_se": cov_se,
        "coverage_uncalibrated": unc,
        "coverage_uncalibrated_se": unc_se,
        "median_factor": float(df["factor"].median()),
        "share_widened": float((df["factor"] > 1.0).mean()),
        "median_width_log": float(df["width"].median()),
        "median_width_log_uncalibrated": float(df["width_uncalibrated"].median()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--method", nargs="+", default=["none", "laplace"])
    ap.add_argument("--scenario", nargs="+", default=["right", "curved"])
    ap.add_argument("--kappa", type=float, default=0.004)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--epoch", action="store_true", help="the Epoch file instead")
    ap.add_argument("--out", default=None, help="write the JSON summary here")
    args = ap.parse_args()
    out: dict = {"args": vars(args), "results": []}
    warnings.simplefilter("ignore", sl.ScalingLawsWarning)
    for method in args.method:
        if args.epoch:
            t0 = time.time()
            r = epoch(method, args)
            r.update({"method": method, "seconds": round(time.time() - t0, 1)})
            print(json.dumps(r), flush=True)
            out["results"].append(r)
            continue
        for scenario in args.scenario:
            t0 = time.time()
            rows = [
                one(simulate(seed, scenario, args.kappa), method, args, seed)
                for seed in range(args.datasets)
            ]
            r = pooled(rows)
            r.update({"method": method, "scenario": scenario})
            r["seconds"] = round(time.time() - t0, 1)
            print(json.dumps(r), flush=True)
            out["results"].append(r)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
