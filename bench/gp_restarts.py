"""Does the data-mixture GP need more than one L-BFGS-B start?

``fit_gp`` maximises the log marginal likelihood from ``restarts`` starts (default 3: the
first from a data-scaled default, the others jittered from it) and keeps the best. A
start costs about a third of the fit, so one start would fit a 13-domain target three
times as fast. This fits every validation domain of the RegMix Pile 1M training runs
(512 mixtures, 17 training domains) with 1 and with 3 starts and reports the log marginal
likelihoods, the largest difference between the two models' predicted log losses on the
256 held-out mixtures, and the fit times (this machine, one run each: indicative only).

Run: ``python bench/gp_restarts.py``; writes ``bench/results/gp_restarts.txt`` (needs
``../shared/data/regmix-pile``; about 2 minutes on 2 idle cores).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from scalinglaws.datamix.gp import fit_gp

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "regmix-pile"
OUT = ROOT / "bench" / "results" / "gp_restarts.txt"


def load(mixture: str, loss: str):
    mix = pd.read_csv(DATA / mixture)
    frame = mix.merge(pd.read_csv(DATA / loss), on="index")
    weights = [c for c in mix.columns if c != "index"]
    return frame[weights].to_numpy(dtype=np.float64), frame


def main() -> None:
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found: this bench needs the RegMix data")
    x_train, train = load("train_mixture_1m.csv", "train_pile_loss_1m.csv")
    x_test, _ = load("test_mixture_1m.csv", "test_pile_loss_1m.csv")
    domains = [c for c in train.columns if c.startswith("metric/")]
    lines = [
        "Data-mixture GP: 1 start against 3 (the default), every RegMix Pile validation domain",
        f"machine: {platform.machine()}, {jax.default_backend()}; 512 training runs, 256 "
        "held-out mixtures; fit_gp defaults otherwise",
        "",
        f"{'domain':34s} {'log ML 1':>11s} {'log ML 3':>11s} {'3 - 1':>8s} "
        f"{'max |d pred|':>12s} {'s (1)':>6s} {'s (3)':>6s}",
    ]
    better = 0
    for col in domains:
        y = train[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        t = time.perf_counter()
        one = fit_gp(x_train[ok], y[ok], restarts=1)
        t_one = time.perf_counter() - t
        t = time.perf_counter()
        three = fit_gp(x_train[ok], y[ok], restarts=3)
        t_three = time.perf_counter() - t
        gain = three.log_marginal_likelihood - one.log_marginal_likelihood
        diff = float(np.max(np.abs(one.predict(x_test)[0] - three.predict(x_test)[0])))
        better += gain > 0.01
        name = col.removeprefix("metric/the_pile_").removesuffix("_val_loss")
        lines.append(
            f"{name:34s} {one.log_marginal_likelihood:11.3f} "
            f"{three.log_marginal_likelihood:11.3f} {gain:8.4f} {diff:12.2e} "
            f"{t_one:6.1f} {t_three:6.1f}"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        f"3 starts found a better optimum (log ML higher by more than 0.01) on {better} of "
        f"{len(domains)} domains",
        "(d pred: predicted log loss on the held-out mixtures, 1 start against 3)",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
