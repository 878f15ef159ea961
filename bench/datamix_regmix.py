"""RegMix Pile data: the GP mixture model against LightGBM, the exponential law and OLS.

Fit on the 512 training mixtures (1M-parameter proxy models), evaluate on the 256 held-out
mixtures at 1M (same scale) and at 60M (same mixtures, larger models: ranking only, since
1M losses do not predict 60M levels). Data: ../shared/data/regmix-pile (RegMix, Liu et
al. 2024, MIT), read in place.

Metrics, per target (Pile-CC validation loss; the mean of the 13 validation losses):
  rho     Spearman rank correlation of predicted and true loss over the 256 mixtures.
  regret  true loss of the mixture the model ranks best, minus the best true loss.
  hit5    1 if the truly best mixture is among the model's 5 best, else 0.
  ovl5    share of the model's 5 best that are among the true 5 best.
For the mean of 13 every method is fitted per domain and its 13 predictions averaged.
Coverage: share of the 256 held-out 1M losses inside the GP's 90% predictive interval,
per domain and over all 13 x 256.

Top of the ranking. The held-out losses carry run noise (Pile-CC: about 0.0055 in log
loss, 0.02 in loss), so the single-argmin regret over 256 mixtures mostly says which of
several near-tied mixtures had the luckiest run. Also reported, per method and scale:
  sub64, sub128    mean regret of the method's top pick over 2000 random subsets of 64
                   (128) of the 256 mixtures: the true loss of the pick minus the subset's
                   best; the same subsets (fixed seed) for every method, so differences
                   are paired. The subsets share the 256 runs, so their spread is not an
                   error bar of the mean.
  hit64, hit128    share of those subsets where the pick is the subset's best.
  top5/top10 ex    mean true loss of the method's 5 (10) best minus that of the true 5
                   (10) best.

Model choice by cross-validation (training runs only, Pile-CC): 4 folds of 128 of the
512 training runs (fixed permutation); per fold each GP variant (restarts, RBF kernel,
the law mean: ``fit_gp(mean="law")``, the exponential law fitted first and the GP on its
residual) and, for reference, LightGBM and the exp law are fitted on the other 384 and
scored on the fold: rho, RMSE of log loss, single regret, regret and hit share over 2000
random subsets of 32 and of 64 of the fold's 128, top-5/10 excess; means over folds. The
held-out 256 play no part in the choice; "GP law" is then evaluated on them once, beside
the default GP.

Baselines (same process, same data):
  LightGBM  lightgbm.train (the core API behind LGBMRegressor; scikit-learn is not
            installed): objective "regression" (L2), 1000 boosting rounds, learning rate
            0.01, seed 42, library defaults otherwise (31 leaves, 20 rows per leaf, no
            bagging), one thread, no early stopping (all 512 runs train). "LightGBM-es" shows
            the RegMix notebook's early stopping (3 rounds) on 64 of the 512 held back.
  exp law   L = c + k exp(t . r) per domain, scipy least_squares (trf), 4 starts.
  linear    ordinary least squares on the 17 weights (min-norm; rows sum to one).

    python bench/datamix_regmix.py --restarts 1        # the results file (about 20 min
                                                       # on 2 shared cores)
    python bench/datamix_regmix.py --restarts 1 --targets pile-cc --no-variants --no-cv
                                                       # Pile-CC only, a few minutes

Writes bench/results/datamix_regmix.txt (and prints it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.optimize  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from scalinglaws.datamix.gp import fit_gp  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix-pile"
OUT = Path(__file__).resolve().parent / "results" / "datamix_regmix.txt"
PILE_CC = "metric/the_pile_pile_cc_val_loss"
LGB_PARAMS = {
    "objective": "regression",
    "learning_rate": 0.01,
    "seed": 42,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,  # OpenMP threads spin when cores are shared; one thread is faster here
}
LGB_ROUNDS = 1000


def load(mixture: str, loss: str):
    mix = pd.read_csv(DATA / mixture)
    frame = mix.merge(pd.read_csv(DATA / loss), on="index")
    weights = [c for c in mix.columns if c != "index"]
    return frame[weights].to_numpy(dtype=np.float64), frame


# ------------------------------------------------------------------------- baselines


def fit_lgb(X, y, early_stop=False):
    if early_stop:
        train = lgb.Dataset(X[64:], y[64:])
        valid = lgb.Dataset(X[:64], y[:64], reference=train)
        booster = lgb.train(
            LGB_PARAMS,
            train,
            LGB_ROUNDS,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(3, verbose=False)],
        )
    else:
        booster = lgb.train(LGB_PARAMS, lgb.Dataset(X, y), LGB_ROUNDS)
    return booster.predict


def fit_exp(X, y):
    """L = c + k exp(t . r), least squares on the loss scale, best of 4 starts."""
    k_dim = X.shape[1]

    def resid(p):
        return p[0] + np.exp(p[1] + X @ p[2:]) - y

    def jac(p):
        e = np.exp(p[1] + X @ p[2:])
        return np.column_stack([np.ones_like(e), e, e[:, None] * X])

    best = None
    for frac in (0.0, 0.5, 0.8, 0.95):
        c0 = frac * y.min()
        start = np.concatenate([[c0, np.log(max(y.mean() - c0, 1e-3))], np.zeros(k_dim)])
        res = scipy.optimize.least_squares(resid, start, jac=jac, method="trf", max_nfev=2000)
        if best is None or res.cost < best.cost:
            best = res
    p = best.x
    return lambda Xn: p[0] + np.exp(p[1] + Xn @ p[2:])


def fit_linear(X, y):
    A = np.column_stack([np.ones(len(X)), X])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return lambda Xn: np.column_stack([np.ones(len(Xn)), Xn]) @ coef


def gp_method(restarts, **kw):
    def fit(X, y):
        model = fit_gp(X, y, restarts=restarts, **kw)
        return lambda Xn: model.predict_loss(Xn)[0]

    return fit


# --------------------------------------------------------------------------- metrics


def rank_metrics(pred, true):
    rho = spearmanr(pred, true).statistic
    order = np.argsort(pred)
    regret = true[order[0]] - true.min()
    true_top = set(np.argsort(true)[:5])
    hit5 = float(np.argmin(true) in set(order[:5]))
    ovl5 = len(true_top & set(order[:5])) / 5
    return rho, regret, hit5, ovl5


N_SUBSETS = 2000  # random subsets per size for the subset regret
SUBSET_SEED = 20240917  # the same subsets for every method (paired comparison)


def subsets(n, size, count=N_SUBSETS, seed=SUBSET_SEED):
    """``count`` random subsets of ``size`` of ``range(n)``, as a (count, size) index array."""
    rng = np.random.default_rng([seed, n, size])
    return np.argsort(rng.random((count, n)), axis=1)[:, :size]


def subset_regret(pred, true, idx):
    """Mean regret of the top pick over the subsets ``idx`` and the share of subsets where
    the pick is the subset's best."""
    p, t = pred[idx], true[idx]
    pick = t[np.arange(len(idx)), np.argmin(p, axis=1)]
    regret = pick - t.min(axis=1)
    return float(regret.mean()), float(np.mean(regret == 0.0))


def topk_excess(pred, true, k):
    """Mean true loss of the model's k best minus the mean of the k truly best."""
    return float(np.mean(true[np.argsort(pred)[:k]]) - np.mean(np.sort(true)[:k]))


def top_metrics(pred, true, sizes):
    """Single-argmin regret, subset regret and hit share per size, top-5/10 excess."""
    out = [float(true[np.argmin(pred)] - true.min())]
    for size in sizes:
        out += subset_regret(pred, true, subsets(len(true), size))
    return out + [topk_excess(pred, true, 5), topk_excess(pred, true, 10)]


def median_time(fn, reps=3):
    fn()  # warm (compilation, caches)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


CV_VARIANTS = {  # name: fit_gp options (restarts given separately unless set here)
    "GP (default)": {},
    "GP restarts=3": {"restarts": 3},
    "GP rbf": {"kernel": "rbf_ard"},
    "GP law mean": {"mean": "law"},
    "GP law mean, rbf": {"mean": "law", "kernel": "rbf_ard"},
}
CV_SIZES = (32, 64)  # subset sizes within a 128-run fold


def cross_validate(X, y, restarts, folds=4, seed=0):
    """K-fold CV on the training runs only: per fold, fit on the rest and score the
    held-out fold's ranking; metrics are averaged over the folds."""
    perm = np.random.default_rng(seed).permutation(len(y))
    parts = np.array_split(perm, folds)
    methods = {
        name: gp_method(
            opts.get("restarts", restarts), **{k: v for k, v in opts.items() if k != "restarts"}
        )
        for name, opts in CV_VARIANTS.items()
    }
    methods |= {"LightGBM": fit_lgb, "exp law": fit_exp}
    rows = {}
    for name, fit in methods.items():
        scores, secs = [], 0.0
        for held in parts:
            train = np.setdiff1d(perm, held)
            t0 = time.perf_counter()
            f = fit(X[train], y[train])
            secs += time.perf_counter() - t0
            pred, true = np.asarray(f(X[held])), y[held]
            rmse = float(np.sqrt(np.mean((np.log(pred) - np.log(true)) ** 2)))
            scores.append(
                [spearmanr(pred, true).statistic, rmse, *top_metrics(pred, true, CV_SIZES)]
            )
        rows[name] = (np.mean(scores, axis=0), secs / folds)
        print(f"  CV {name}: {np.round(rows[name][0], 4)} ({secs / folds:.1f} s/fold)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--no-variants", action="store_true", help="skip the GP variants table")
    ap.add_argument("--no-cv", action="store_true", help="skip the cross-validation table")
    ap.add_argument(
        "--targets",
        choices=("all", "pile-cc"),
        default="all",
        help="pile-cc: fit Pile-CC only (no mean of 13, no per-domain coverage)",
    )
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    Xtr, tr = load("train_mixture_1m.csv", "train_pile_loss_1m.csv")
    Xte, te1 = load("test_mixture_1m.csv", "test_pile_loss_1m.csv")
    X60, te60 = load("test_mixture_60m.csv", "test_pile_loss_60m.csv")
    assert np.allclose(Xte, X60), "1M and 60M test mixtures differ"
    domains = [c for c in tr.columns if c.startswith("metric/")]
    if args.targets == "pile-cc":
        domains = [PILE_CC]
    y_cc = tr[PILE_CC].to_numpy()
    lines = [
        "RegMix Pile: fit on 512 1M runs, evaluate on 256 held-out mixtures (1M; 60M rank only)",
        f"GP: fit_gp defaults (restarts={args.restarts}); predictions = exp(posterior mean "
        "of log loss). GP law: the same with mean='law' (the exponential law as GP mean).",
        f"Targets: {'Pile-CC and the mean of 13' if len(domains) > 1 else 'Pile-CC only'}",
        "",
    ]

    if not args.no_cv:
        t0 = time.perf_counter()
        cv = cross_validate(Xtr, y_cc, args.restarts)
        lines.append(
            "Model choice: 4-fold cross-validation on the 512 training runs only (Pile-CC, "
            f"restarts={args.restarts} unless named;"
        )
        lines.append(
            "128 runs per fold; subset regret over 2000 random subsets of 32 and of 64 of the "
            "fold's 128; averaged over the 4 folds)"
        )
        cv_head = (
            f"{'variant':<18}{'rho':>7}{'rmse log':>9}{'regret':>8}{'sub32':>8}{'hit32':>7}"
            f"{'sub64':>8}{'hit64':>7}{'top5 ex':>8}{'top10 ex':>9}{'s/fold':>7}"
        )
        lines += [cv_head, "-" * len(cv_head)]
        for name, (m, secs) in cv.items():
            lines.append(
                f"{name:<18}{m[0]:>7.4f}{m[1]:>9.5f}{m[2]:>8.4f}{m[3]:>8.4f}{m[4]:>7.3f}"
                f"{m[5]:>8.4f}{m[6]:>7.3f}{m[7]:>8.4f}{m[8]:>9.4f}{secs:>7.1f}"
            )
        lines.append(
            "(rmse log: of log loss; regret: single argmin within the fold; top5/10 ex: mean "
            "true loss of the model's 5/10 best minus that of the true 5/10 best)"
        )
        lines.append(f"(cross-validation: {time.perf_counter() - t0:.0f} s)")
        lines.append("")

    methods = {
        "GP": gp_method(args.restarts),
        "GP law": gp_method(args.restarts, mean="law"),
        "LightGBM": fit_lgb,
        "LightGBM-es": lambda X, y: fit_lgb(X, y, early_stop=True),
        "exp law": fit_exp,
        "linear": fit_linear,
    }

    # Per-domain predictions of every method (the mean of 13 needs them all).
    preds = {name: {} for name in methods}
    gp_models = {}
    t_start = time.perf_counter()
    for d in domains:
        y = tr[d].to_numpy()
        for name, fit in methods.items():
            if name == "GP":
                model = fit_gp(Xtr, y, restarts=args.restarts)
                gp_models[d] = model
                f = lambda Xn, m=model: m.predict_loss(Xn)[0]  # noqa: E731
            else:
                f = fit(Xtr, y)
            preds[name][d] = (np.asarray(f(Xte)), np.asarray(f(X60)))
        print(f"  fitted {d} ({time.perf_counter() - t_start:.0f} s)", flush=True)
    fit_all_s = time.perf_counter() - t_start

    targets = [("Pile-CC", [PILE_CC])]
    if len(domains) > 1:
        targets.append(("mean of 13", domains))
    header = (
        f"{'target':<11}{'method':<13}{'rho 1M':>8}{'rho 60M':>9}{'regret 1M':>11}"
        f"{'regret 60M':>11}{'hit5 1M':>8}{'hit5 60M':>9}{'ovl5 1M':>8}{'ovl5 60M':>9}"
    )
    top_head = (
        f"{'target':<11}{'method':<13}{'scale':<6}{'regret':>8}{'sub64':>8}{'hit64':>7}"
        f"{'sub128':>8}{'hit128':>7}{'top5 ex':>8}{'top10 ex':>9}"
    )
    lines += [header, "-" * len(header)]
    top_lines = [
        "Top of the ranking on the 256 held-out mixtures: regret = single argmin (as above);",
        "sub64/sub128 = mean regret of the top pick over 2000 random subsets of 64/128 of the 256",
        "(the same subsets for every method), hit64/hit128 = share of those subsets where the",
        "pick is the subset's best; top5/10 ex = mean true loss of the method's 5/10 best minus",
        "that of the true 5/10 best.",
        top_head,
        "-" * len(top_head),
    ]
    for label, cols in targets:
        t1 = te1[cols].mean(axis=1).to_numpy()
        t60 = te60[cols].mean(axis=1).to_numpy()
        for name in methods:
            p1 = np.mean([preds[name][d][0] for d in cols], axis=0)
            p60 = np.mean([preds[name][d][1] for d in cols], axis=0)
            r1, g1, h1, o1 = rank_metrics(p1, t1)
            r6, g6, h6, o6 = rank_metrics(p60, t60)
            lines.append(
                f"{label:<11}{name:<13}{r1:>8.4f}{r6:>9.4f}{g1:>11.4f}{g6:>11.4f}"
                f"{h1:>8.0f}{h6:>9.0f}{o1:>8.1f}{o6:>9.1f}"
            )
            for scale, p, t in (("1M", p1, t1), ("60M", p60, t60)):
                m = top_metrics(p, t, (64, 128))
                top_lines.append(
                    f"{label:<11}{name:<13}{scale:<6}{m[0]:>8.4f}{m[1]:>8.4f}{m[2]:>7.3f}"
                    f"{m[3]:>8.4f}{m[4]:>7.3f}{m[5]:>8.4f}{m[6]:>9.4f}"
                )
        lines.append("")
        top_lines.append("")
    lines += top_lines

    # Coverage of the GP's 90% predictive intervals at 1M, per domain.
    lines.append("GP 90% predictive intervals on the 256 held-out 1M losses")
    lines.append(f"{'domain':<22}{'coverage':>9}{'rho 1M':>8}{'noise sd (log)':>16}")
    inside_all = []
    for d in domains:
        m = gp_models[d]
        _, lo, hi = m.predict_loss(Xte, 0.9)
        y = te1[d].to_numpy()
        inside = (y >= lo) & (y <= hi)
        inside_all.append(inside)
        short = d.removeprefix("metric/the_pile_").removesuffix("_val_loss")
        lines.append(
            f"{short:<22}{inside.mean():>9.3f}{spearmanr(preds['GP'][d][0], y).statistic:>8.4f}"
            f"{m.y_scale * np.sqrt(m.noise_var):>16.4f}"
        )
    lines.append(f"{'all ' + str(len(domains)) + ' x 256':<22}{np.mean(inside_all):>9.3f}")
    lines.append("")

    # Warm fit times on Pile-CC, median of 3.
    lines.append("Fit time, Pile-CC, 512 runs (median of 3 warm fits, this machine)")
    for name, fit in methods.items():
        lines.append(f"  {name:<13}{median_time(lambda f=fit: f(Xtr, y_cc)):>8.2f} s")
    lines.append(
        f"  (all {len(domains)} domains x {len(methods)} methods, first pass incl. "
        f"compilation: {fit_all_s:.0f} s)"
    )
    lines.append("")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")  # the main table, in case variants are cut short
    print("\n".join(lines), flush=True)

    if not args.no_variants:
        lines.append("GP variants on Pile-CC (restarts=1): choice of feature, kernel, mean, target")
        lines.append(
            f"{'feature':<8}{'kernel':<14}{'mean':<10}{'target':<8}{'rho 1M':>8}{'rho 60M':>9}"
            f"{'cov90 1M':>9}{'log ML':>10}{'fit s':>7}"
        )
        y_te = te1[PILE_CC].to_numpy()
        for feature in ("sqrt", "raw"):
            for kernel in ("matern52_ard", "rbf_ard"):
                for mean in ("constant", "linear"):
                    for target in ("log", "raw"):
                        if target == "raw" and (mean, kernel) != ("constant", "matern52_ard"):
                            continue
                        t0 = time.perf_counter()
                        m = fit_gp(
                            Xtr,
                            y_cc,
                            feature=feature,
                            kernel=kernel,
                            mean=mean,
                            target=target,
                            restarts=1,
                        )
                        dt = time.perf_counter() - t0
                        c1, lo, hi = m.predict_loss(Xte, 0.9)
                        c6 = m.predict_loss(X60)[0]
                        lml = m.log_marginal_likelihood
                        if target == "log":  # on the loss scale, comparable across targets
                            lml -= float(np.sum(np.log(y_cc)))
                        lines.append(
                            f"{feature:<8}{kernel:<14}{mean:<10}{target:<8}"
                            f"{spearmanr(c1, y_te).statistic:>8.4f}"
                            f"{spearmanr(c6, te60[PILE_CC]).statistic:>9.4f}"
                            f"{np.mean((y_te >= lo) & (y_te <= hi)):>9.3f}{lml:>10.1f}{dt:>7.1f}"
                        )
                        print(lines[-1], flush=True)
        lines.append("(log ML of the losses: log-target models include the log Jacobian)")

    text = "\n".join(lines)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
