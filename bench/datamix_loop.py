"""Simulated studies of the mixture plan and of the proposal loop (writes
bench/results/datamix_loop.txt).

(a) plan accuracy: per study a random 5-domain truth (``random_truth``), 64 proxies at
    each of 3 sizes (2e7, 5e7, 1e8; noise sd 0.005 on log loss), the nested mixing law
    fitted with Laplace uncertainty, the mixture planned at the largest proxy size and at
    4x it. Reported: the share of studies whose chosen mixture's TRUE target loss is
    within 0.5% of the true optimum's, the relative regret, the coverage of the true
    optimal weights by the plan's weight intervals, stability and P(beats uniform).
(b) the loop "fit -> propose -> train -> fit" at one size (1e8): 16 random proxies (--start),
    then rounds of 8 more (--per-round), either proposed by ``propose_mixtures`` or drawn at random
    (Dirichlet(1)), until ``--max-runs``. Reported: the runs each arm needs before the
    planned mixture's true loss is within 0.5% (and 0.1%, 0.05%) of the true optimum
    (median over studies; a study that never gets there counts as max-runs + per-round).

Usage: python bench/datamix_loop.py [--studies 20] [--max-runs 64] [--methods regret]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from scalinglaws.datamix import fit_datamix, load_mixture_runs
from scalinglaws.datamix.plan import plan_data_mixture
from scalinglaws.datamix.propose import propose_mixtures
from scalinglaws.simulate.datamix import (
    loss_column,
    random_truth,
    round_mixtures,
    simulate_mixture_runs,
    weight_column,
)

NOISE = 0.005
SIZES = (2e7, 5e7, 1e8)
LOOP_N = 1e8
THRESHOLDS = (0.005, 1e-4, 3e-5)
OUT = Path(__file__).resolve().parent / "results" / "datamix_loop.txt"


def _fit(frame):
    with jax.enable_x64(True):
        return fit_datamix(
            load_mixture_runs(frame), model="mixing", uncertainty="laplace", samples=400
        )


def _regret(truth, r, n) -> float:
    opt = truth.optimum("mean", N=n)
    got = float(truth.loss(np.asarray(r, dtype=float), n).mean())
    return (got - opt.loss) / opt.loss


def study_plan(seed: int) -> list[dict]:
    truth = random_truth(5, seed=seed)
    frame = simulate_mixture_runs(truth, sizes=SIZES, n_per_size=64, noise=NOISE, seed=seed)
    fit = _fit(frame)
    out = []
    for n in (SIZES[-1], 4 * SIZES[-1]):
        plan = plan_data_mixture(fit, N=n, baseline="uniform", n_draws=300, seed=seed)
        s = plan.attrs["summary"]
        opt = truth.optimum("mean", N=n).r
        cover = np.mean(
            (opt >= plan["lo"].to_numpy() - 1e-6) & (opt <= plan["hi"].to_numpy() + 1e-6)
        )
        out.append(
            {
                "study": seed,
                "N": n,
                "regret": _regret(truth, plan["weight"].to_numpy(), n),
                "tv_to_optimum": 0.5 * float(np.abs(plan["weight"].to_numpy() - opt).sum()),
                "weight_coverage": float(cover),
                "stability": s["stability"],
                "p_beats_uniform": s["p_beats_baseline"],
            }
        )
    return out


def _train(truth, mixtures: np.ndarray, n: float, rng, start: int) -> pd.DataFrame:
    """Simulated proxy runs at the given mixtures (as simulate_mixture_runs writes them)."""
    r = round_mixtures(mixtures)
    loss = truth.loss(r, n) * np.exp(NOISE * rng.standard_normal((len(r), truth.V)))
    df = pd.DataFrame({"run": [f"r{start + i:04d}" for i in range(len(r))], "N": n})
    for j, d in enumerate(truth.train_domains):
        df[weight_column(d)] = r[:, j]
    for i, d in enumerate(truth.valid_domains):
        df[loss_column(d)] = loss[:, i]
    return df


def run_loop(
    truth,
    *,
    arm: str = "regret",
    start: int = 16,
    per_round: int = 8,
    max_runs: int = 64,
    seed: int = 0,
    n: float = LOOP_N,
    n_draws: int = 200,
    n_candidates: int = 1000,
) -> list[tuple[int, float]]:
    """Fit -> choose -> propose (or draw at random) -> train -> fit, until ``max_runs``.

    ``arm``: a ``propose_mixtures`` method (``"regret"``, ``"value"``, ``"thompson"``) or
    ``"random"`` (Dirichlet(1) mixtures). Returns ``[(runs, relative regret of the
    planned mixture)]`` after each fit.
    """
    rng = np.random.default_rng(seed + 1)
    frame = simulate_mixture_runs(truth, sizes=(n,), n_per_size=start, noise=NOISE, seed=seed)
    frame = frame[["run", "N", *[c for c in frame.columns if c.startswith(("w_", "loss_"))]]]
    history = []
    round_ = 0
    while True:
        fit = _fit(frame)
        last = len(frame) + per_round > max_runs
        if arm == "random" or last:
            plan = plan_data_mixture(fit, n_draws=20, seed=seed + round_)
            chosen = plan["weight"].to_numpy()
        if not last and arm != "random":
            prop = propose_mixtures(
                fit,
                per_round,
                method=arm,
                seed=seed + round_,
                n_draws=n_draws,
                n_candidates=n_candidates,
            )
            chosen = np.asarray(list(prop.attrs["summary"]["plan_mixture"].values()))
            new = prop[list(truth.train_domains)].to_numpy()
        elif not last:
            new = rng.dirichlet(np.ones(truth.K), size=per_round)
        history.append((len(frame), _regret(truth, chosen, n)))
        if last:
            return history
        frame = pd.concat([frame, _train(truth, new, n, rng, len(frame))], ignore_index=True)
        round_ += 1


def runs_needed(history, threshold: float, max_runs: int, per_round: int) -> int:
    for n, reg in history:
        if reg <= threshold:
            return n
    return max_runs + per_round


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--max-runs", type=int, default=64)
    ap.add_argument("--methods", default="regret", help="comma-separated proposal methods")
    ap.add_argument("--skip-plan", action="store_true")
    ap.add_argument("--start", type=int, default=16, help="random proxies before the loop")
    ap.add_argument("--per-round", type=int, default=8, help="proxies added per round")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    lines = [
        "datamix_loop: simulated data-mixture studies (bench/datamix_loop.py)",
        f"studies={args.studies}  K=5 training = 5 validation domains  noise sd={NOISE} (log loss)"
        "  model=mixing, uncertainty=laplace",
        "",
    ]
    t0 = time.time()
    if not args.skip_plan:
        rows = [r for s in range(args.studies) for r in study_plan(s)]
        df = pd.DataFrame(rows)
        lines.append(
            "(a) plan from 64 proxies x 3 sizes (2e7, 5e7, 1e8), nested law; target = mean loss"
        )
        lines.append(
            f"{'N':>8} {'within 0.5%':>12} {'within 0.1%':>12} {'median regret':>14} "
            f"{'max regret':>11} {'median TV':>10} {'w-coverage':>11} {'stability':>10} "
            f"{'P(beats unif)':>14}"
        )
        for n, g in df.groupby("N"):
            lines.append(
                f"{n:>8.3g} {np.mean(g.regret <= 0.005):>12.0%} {np.mean(g.regret <= 0.001):>12.0%} "
                f"{g.regret.median():>14.2e} {g.regret.max():>11.2e} {g.tv_to_optimum.median():>10.3f} "
                f"{g.weight_coverage.mean():>11.0%} {g.stability.mean():>10.2f} "
                f"{g.p_beats_uniform.mean():>14.2f}"
            )
        lines.append(
            "  (regret: (true target at the chosen mixture - true optimum) / true optimum; "
            "w-coverage: share of weights whose 90% interval holds the true optimal weight)"
        )
        lines.append(f"  time {time.time() - t0:.0f} s")
        lines.append("")
    arms = ["random", *[m.strip() for m in args.methods.split(",") if m.strip()]]
    t1 = time.time()
    needed = {a: {t: [] for t in THRESHOLDS} for a in arms}
    curves = {a: [] for a in arms}
    for s in range(args.studies):
        truth = random_truth(5, seed=1000 + s)
        for a in arms:
            h = run_loop(
                truth,
                arm=a,
                start=args.start,
                per_round=args.per_round,
                max_runs=args.max_runs,
                seed=1000 + s,
            )
            curves[a].append([r for _, r in h])
            for t in THRESHOLDS:
                needed[a][t].append(runs_needed(h, t, args.max_runs, args.per_round))
        print(
            f"study {s}: "
            + "  ".join(
                f"{a}={needed[a][THRESHOLDS[0]][-1]}/{needed[a][THRESHOLDS[1]][-1]}" for a in arms
            ),
            flush=True,
        )
    lines.append(
        f"(b) loop at one size (N=1e8): {args.start} random proxies, +{args.per_round} per round, "
        f"up to {args.max_runs}; "
        "runs needed until the planned mixture is within the threshold of the true optimum"
    )
    lines.append(f"    (median over studies [mean]; never reached counts as {args.max_runs + args.per_round})")
    lines.append(f"{'arm':>10} " + " ".join(f"{'<= ' + format(t, '.3%'):>16}" for t in THRESHOLDS))
    for a in arms:
        lines.append(
            f"{a:>10} "
            + " ".join(
                f"{np.median(needed[a][t]):>8.0f} [{np.mean(needed[a][t]):>5.1f}]"
                for t in THRESHOLDS
            )
        )
    lines.append("")
    lines.append("    median relative regret of the planned mixture after each fit:")
    lines.append(f"{'runs':>10} " + " ".join(f"{a:>10}" for a in arms))
    n_fits = min(len(c) for a in arms for c in curves[a])
    for i in range(n_fits):
        lines.append(
            f"{args.start + args.per_round * i:>10} "
            + " ".join(f"{np.median([c[i] for c in curves[a]]):>10.2e}" for a in arms)
        )
    lines.append(f"  time {time.time() - t1:.0f} s")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
