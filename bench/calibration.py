"""Calibration of uncertainty intervals on simulated Chinchilla data with known truth.

    .venv/bin/python bench/calibration.py --method bootstrap laplace [--datasets 200]
    .venv/bin/python bench/calibration.py --method bayes --datasets 100 --warmup 500 --samples 500
    .venv/bin/python bench/calibration.py --real

Simulation: Hoffmann et al. 2022's unrounded coefficients (E 1.69337, A 406.401,
B 410.723, alpha 0.33917, beta 0.28491) on an isoFLOP design of 7 budgets from 1e18 to
1e22 FLOPs with 9 model sizes each (63 runs), Gaussian log-loss noise (sd ``--noise``,
default 0.01), one seed per dataset. For each dataset and method it checks:

* tokens per parameter at C = 5.76e23 (closed form, C-optimal: with
  G = (alpha A / (beta B))^(1/(alpha+beta)), N_opt = G (C/6)^(beta/(alpha+beta)),
  D_opt = (C/6) / N_opt): does the 90% interval (5%-95% quantiles of the per-draw values)
  cover the true value?
* the loss at a held-out larger budget, C = 1e23 at the true compute-optimal N and D: does
  the 90% predictive interval (parameter draws plus residual noise) cover a fresh noisy
  observation there?

Coverage is reported with its binomial standard error. ``--real`` instead reports the 80%
interval (10%-90%) of tokens per parameter at C = 5.76e23 on the Epoch file (all 245
runs, and the 240 left after dropping the 5 highest losses, as Besiroglu et al. 2024,
arXiv 2404.10102, do; their bootstrap interval is about 10-29), with R-hat and
divergences for the posterior.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    _flag = "--xla_force_host_platform_device_count=4"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import scalinglaws as sl  # noqa: E402
from scalinglaws.laws.chinchilla import HOFFMANN_2022  # noqa: E402
from scalinglaws.simulate import isoflop_design, simulate_runs  # noqa: E402
from scalinglaws.uncertainty import attach, per_draw, predictive, quantiles  # noqa: E402
from scalinglaws.uncertainty.bayes import sample_posterior  # noqa: E402

EPOCH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla-epoch"
    / "svg_extracted_data.csv"
)
C_TPP = 5.76e23
C_HOLDOUT = 1e23
BUDGETS = tuple(np.geomspace(1e18, 1e22, 7).tolist())


def tokens_per_param(params, inputs):
    """D_opt / N_opt at compute inputs["C"] (pure jnp; vmapped over draws)."""
    a, b = params["alpha"], params["beta"]
    g = (a * params["A"] / (b * params["B"])) ** (1.0 / (a + b))
    n_opt = g * (inputs["C"] / 6.0) ** (b / (a + b))
    return inputs["C"] / 6.0 / n_opt**2


def n_opt(params, c):
    a, b = params["alpha"], params["beta"]
    g = (a * params["A"] / (b * params["B"])) ** (1.0 / (a + b))
    return g * (c / 6.0) ** (b / (a + b))


def with_uncertainty(fit, method, seed, args):
    if method == "bayes":
        return sample_posterior(
            fit,
            chains=args.chains,
            warmup=args.warmup,
            samples=args.samples,
            seed=seed,
            discrepancy=args.discrepancy,
        )
    return attach(fit, method, samples=args.draws, seed=seed)


def summarize_rows(m, rs, args):
    """Coverage (with binomial standard errors), convergence and timing for one method."""
    n = len(rs)
    summary = {"datasets": n}
    for key in ("tpp_covered", "pred_covered"):
        p = float(np.mean([r[key] for r in rs]))
        summary[key] = p
        summary[key + "_se"] = math.sqrt(p * (1 - p) / n)
    conv = [r for r in rs if r["converged"]]
    summary["converged"] = len(conv)
    if conv and len(conv) < n:
        summary["tpp_covered_converged_only"] = float(np.mean([r["tpp_covered"] for r in conv]))
        summary["pred_covered_converged_only"] = float(np.mean([r["pred_covered"] for r in conv]))
    summary["median_wall_s"] = float(np.median([r["wall_s"] for r in rs]))
    summary["median_tpp_interval"] = [
        float(np.median([r["tpp_lo"] for r in rs])),
        float(np.median([r["tpp_hi"] for r in rs])),
    ]
    if m == "bayes":
        summary["settings"] = {
            "chains": args.chains,
            "warmup": args.warmup,
            "samples": args.samples,
            "discrepancy": args.discrepancy,
        }
    else:
        summary["draws"] = args.draws
    return summary


def write(args, out):
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=float) + "\n")


def simulate(args):
    law = sl.laws.chinchilla()
    truth = dict(HOFFMANN_2022)
    design = isoflop_design(BUDGETS, 9)
    tpp_true = float(tokens_per_param(truth, {"C": C_TPP}))
    n_hold = float(n_opt(truth, C_HOLDOUT))
    hold = {"N": [n_hold], "D": [C_HOLDOUT / 6.0 / n_hold]}
    loss_true = float(law.predict(truth, {"N": hold["N"][0], "D": hold["D"][0]}))
    rows = {m: [] for m in args.method}
    t_start = time.perf_counter()
    for i in range(args.first_seed, args.first_seed + args.datasets):
        runs = simulate_runs(law, truth, design, noise=args.noise, seed=i)
        fit = sl.fit(law, runs)
        fresh = loss_true * math.exp(
            args.noise * np.random.default_rng(10_000 + i).standard_normal()
        )
        for m in args.method:
            t0 = time.perf_counter()
            res = with_uncertainty(fit, m, i, args)
            wall = time.perf_counter() - t0
            unc = res.uncertainty
            tpp = per_draw(res, tokens_per_param, {"C": np.asarray(C_TPP)}, allow_unconverged=True)
            lo, hi = quantiles(tpp, (0.05, 0.95))
            pred = predictive(res, hold, seed=20_000 + i, allow_unconverged=True)[:, 0]
            plo, phi = quantiles(pred, (0.05, 0.95))
            rows[m].append(
                {
                    "seed": i,
                    "tpp_covered": bool(lo <= tpp_true <= hi),
                    "tpp_lo": float(lo),
                    "tpp_hi": float(hi),
                    "pred_covered": bool(plo <= fresh <= phi),
                    "pred_lo": float(plo),
                    "pred_hi": float(phi),
                    "converged": bool(unc.converged),
                    "wall_s": wall,
                }
            )
        if (i + 1 - args.first_seed) % 10 == 0:
            msg = ", ".join(
                f"{m} tpp {np.mean([r['tpp_covered'] for r in rows[m]]):.2f} "
                f"pred {np.mean([r['pred_covered'] for r in rows[m]]):.2f}"
                for m in args.method
            )
            print(
                f"[{i + 1 - args.first_seed}/{args.datasets} {time.perf_counter() - t_start:.0f}s] {msg}",
                file=sys.stderr,
                flush=True,
            )
    out = {
        "truth": truth,
        "budgets": list(BUDGETS),
        "runs_per_dataset": len(design),
        "noise": args.noise,
        "tpp_true": tpp_true,
        "holdout": {"C": C_HOLDOUT, "N": hold["N"][0], "D": hold["D"][0], "loss": loss_true},
        "methods": {},
    }
    for m, rs in rows.items():
        n = len(rs)
        summary = summarize_rows(m, rs, args)
        out["methods"][m] = {"summary": summary, "datasets": rs}
        print(
            f"{m:>9}: {n} datasets; 90% tokens-per-param coverage {summary['tpp_covered']:.3f} "
            f"(se {summary['tpp_covered_se']:.3f}); 90% predictive coverage at C=1e23 "
            f"{summary['pred_covered']:.3f} (se {summary['pred_covered_se']:.3f}); "
            f"converged {summary['converged']}/{n}; median {summary['median_wall_s']:.2f} s",
            flush=True,
        )
    return out


def real(args):
    if not EPOCH.exists():
        print(f"skipped: real data {EPOCH} is not present", file=sys.stderr)
        return {}
    law = sl.laws.chinchilla()
    runs = sl.load_runs(EPOCH)
    subsets = {"all_245": runs, "lowest_240": runs.nsmallest(240, "loss")}
    out = {}
    for name, data in subsets.items():
        fit = sl.fit(law, data)
        out[name] = {"params": dict(fit.params), "objective": fit.objective, "methods": {}}
        for m in ("laplace", "bootstrap", "bayes"):
            if m == "bayes":
                res = sample_posterior(fit, chains=4, warmup=1000, samples=1000, seed=0)
            else:
                res = attach(fit, m, samples=1000, seed=0)
            tpp = per_draw(res, tokens_per_param, {"C": np.asarray(C_TPP)}, allow_unconverged=True)
            q10, q50, q90 = quantiles(tpp, (0.1, 0.5, 0.9))
            row = {
                "tpp_q10": float(q10),
                "tpp_q50": float(q50),
                "tpp_q90": float(q90),
                "converged": bool(res.uncertainty.converged),
            }
            if m == "bayes":
                d = res.uncertainty.diagnostics
                row.update(
                    max_r_hat=max(d["r_hat"].values()),
                    min_ess_bulk=min(d["ess_bulk"].values()),
                    divergences=d["divergences"],
                    r_hat=d["r_hat"],
                )
            out[name]["methods"][m] = row
            extra = (
                f"; max r_hat {row['max_r_hat']:.4f}, divergences {row['divergences']}, "
                f"min ess {row['min_ess_bulk']:.0f}"
                if m == "bayes"
                else ""
            )
            print(
                f"{name} {m:>9}: tokens/param at C=5.76e23 median {q50:.1f}, 80% interval "
                f"[{q10:.1f}, {q90:.1f}]{extra}",
                flush=True,
            )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--method",
        nargs="+",
        default=["bootstrap", "laplace"],
        choices=["bootstrap", "laplace", "bayes"],
    )
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=0, help="seed of the first dataset")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument(
        "--discrepancy", choices=["none", "quadratic"], default="none", help="bayes only"
    )
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    write(args, real(args) if args.real else simulate(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
