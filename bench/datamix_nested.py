"""Nested data-mixing law: are its intervals honest when it extrapolates in model size?

Simulated proxy studies (``scalinglaws.simulate.datamix``): per study a fresh
``random_truth(K=5, seed=study)`` (5 training = 5 validation domains), 64 Dirichlet(1)
mixtures trained at each of 3 sizes (2e7, 5e7, 1e8; the same mixtures at every size),
log-loss noise sd 0.005. ``fit_datamix(model="mixing")`` nests the size law automatically
(L = c + exp(t.r) (N/1e8)^-alpha per validation domain: the truth's own family, so any
miscalibration is the uncertainty method's, not misspecification).

At 200 random Dirichlet(1) mixtures per study the fit predicts, at N = 4e8 (4x the largest
proxy) and, for reference, at N = 1e8 (inside the proxy range):

* the target (mean of the 5 validation losses) through ``DataMixFit.predict`` — point,
  90% credible interval of the expected loss (``lo``, ``hi``);
* every validation domain, from the same function draws (``DataMixFit.draw_fn``, the
  draws ``predict`` summarises; the target's interval is checked to equal predict's).

Scored against the TRUE noise-free loss (``MixtureTruth.loss``):

  coverage   share of (study, mixture) pairs whose true loss lies in the 90% interval
             (goal 85-95%); min-max over studies shows how clustered it is: the 200
             mixtures of one study share one fit, so the effective sample is ~studies.
  z-rms      root mean square of (truth - posterior mean) / posterior sd: 1 when the
             interval width matches the actual error, > 1 when intervals are too narrow.
  rel err    median |point - truth| / truth.
  half-w     median relative half-width (hi - lo) / 2 / truth.

Diagnostics: coverage of the true parameters (c, t_j + log k, alpha per validation domain)
by their 90% marginal intervals, the fitted noise against the true 0.005, and the same
numbers with ``uncertainty="bootstrap"``.

    python bench/datamix_nested.py [--studies 20] [--methods laplace bootstrap]

Writes bench/results/datamix_nested.txt (and prints it). A full run (20 studies, both
methods) takes about 3-5 minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scalinglaws.datamix import fit_datamix, load_mixture_runs  # noqa: E402
from scalinglaws.simulate.datamix import (  # noqa: E402
    random_truth,
    sample_mixtures,
    simulate_mixture_runs,
)

OUT = Path(__file__).resolve().parent / "results" / "datamix_nested.txt"
SIZES = (2e7, 5e7, 1e8)
N_PER_SIZE = 64
NOISE = 0.005
K = 5
N_MIXTURES = 200
N_EXTRAP = 4e8
N_INSIDE = 1e8
LEVEL = 0.9
N_DRAWS = 500


def true_params(truth) -> dict[str, dict[str, float]]:
    """Per validation domain, the truth in the fitted parameterisation (t_j + log k)."""
    out = {}
    for i, v in enumerate(truth.valid_domains):
        p = {"c": truth.c[i], "alpha": truth.alpha[i]}
        for j, d in enumerate(truth.train_domains):
            p[f"t_{d}"] = truth.t[i][j] + math.log(truth.k[i])
        out[v] = p
    return out


def one_study(study: int, method: str, samples: int) -> dict:
    truth = random_truth(K=K, seed=study)
    df = simulate_mixture_runs(
        truth, sizes=SIZES, n_per_size=N_PER_SIZE, noise=NOISE, seed=10_000 + study
    )
    runs = load_mixture_runs(df)
    t0 = time.perf_counter()
    fit = fit_datamix(runs, model="mixing", uncertainty=method, samples=samples, seed=study)
    fit_s = time.perf_counter() - t0
    assert fit.nested, "three proxy sizes must give a nested fit"
    R = sample_mixtures(N_MIXTURES, K, seed=20_000 + study, decimals=None)
    a = (1 - LEVEL) / 2
    rows = []
    for N in (N_INSIDE, N_EXTRAP):
        pred = fit.predict(R, N=N, level=LEVEL, n_draws=N_DRAWS, seed=study, per_domain=True)
        with jax.enable_x64(True):
            draws = np.asarray(
                fit.draw_fn(N_DRAWS, study)(jnp.asarray(R), jnp.full(len(R), N))
            )  # (S, m, V)
        true = truth.loss(R, N)  # (m, V), columns in truth.valid_domains order
        order = [list(truth.valid_domains).index(d) for d in fit.domains]
        true = true[:, order]
        tgt_draws = draws.mean(axis=-1)
        # predict's target interval is these draws' quantiles (same draws, same seed)
        assert np.allclose(pred["lo"], np.quantile(tgt_draws, a, axis=0), rtol=1e-9)
        quantities = {"target (mean)": (pred["target"].to_numpy(), tgt_draws, true.mean(axis=1))}
        for j, d in enumerate(fit.domains):
            quantities[f"domain {d}"] = (pred[d].to_numpy(), draws[:, :, j], true[:, j])
        for name, (point, dr, tv) in quantities.items():
            lo, hi = np.quantile(dr, [a, 1 - a], axis=0)
            sd = dr.std(axis=0)
            rows.append(
                {
                    "study": study,
                    "method": method,
                    "N": N,
                    "quantity": "target" if name.startswith("target") else "domain",
                    "name": name,
                    "inside": ((lo <= tv) & (tv <= hi)).mean(),
                    "z2": np.mean(((tv - dr.mean(axis=0)) / sd) ** 2),
                    "rel_err": np.median(np.abs(point - tv) / tv),
                    "half_w": np.median((hi - lo) / 2 / tv),
                    "m": len(tv),
                }
            )
    par_rows = []
    tp = true_params(truth)
    for d, m in fit.domains.items():
        draws = m.fit.uncertainty.draws
        for pname, tv in tp[d].items():
            v = np.asarray(draws[pname], dtype=float)
            lo, hi = np.quantile(v, [a, 1 - a])
            kind = "t_j + log k" if pname.startswith("t_") else pname
            par_rows.append(
                {
                    "study": study,
                    "method": method,
                    "param": kind,
                    "inside": float(lo <= tv <= hi),
                    "z": (tv - v.mean()) / v.std(),
                    "fitted_noise": m.noise,
                }
            )
    return {"rows": rows, "params": par_rows, "fit_s": fit_s, "converged": fit.converged}


def summarise(pred: pd.DataFrame, par: pd.DataFrame, times: dict, n_studies: int) -> str:
    lines = []
    lines.append(
        f"Nested data-mixing law, {n_studies} simulated studies: K = V = {K}, "
        f"{N_PER_SIZE} mixtures x sizes {', '.join(f'{s:.0e}' for s in SIZES)}, "
        f"log-noise sd {NOISE}; {N_MIXTURES} random mixtures per study; "
        f"{LEVEL:.0%} credible interval of the expected loss vs the TRUE noise-free loss"
    )
    lines.append(f"machine: {platform.machine()}, {jax.devices()[0].platform}; goal 85-95%")
    lines.append("")
    hdr = (
        f"{'method':<10} {'N':>6} {'quantity':<14} {'coverage':>8} {'studies min-max':>16} "
        f"{'z-rms':>6} {'rel err':>8} {'half-w':>8}"
    )
    lines += [hdr, "-" * len(hdr)]
    for (method, n, q), g in pred.groupby(["method", "N", "quantity"], sort=False):
        per_study = g.groupby("study").apply(
            lambda s: np.average(s["inside"], weights=s["m"]), include_groups=False
        )
        cov = np.average(g["inside"], weights=g["m"])
        lines.append(
            f"{method:<10} {n:>6.0e} {q + (' (5 doms)' if q == 'domain' else ''):<14} "
            f"{cov:>8.1%} {per_study.min():>7.0%} - {per_study.max():<6.0%} "
            f"{math.sqrt(np.average(g['z2'], weights=g['m'])):>6.2f} "
            f"{g['rel_err'].median():>8.2e} {g['half_w'].median():>8.2e}"
        )
    lines.append("")
    lines.append("per validation domain at N = 4e8 (coverage over studies x mixtures):")
    ext = pred[(pred["N"] == N_EXTRAP) & (pred["quantity"] == "domain")]
    tab = ext.pivot_table(index="name", columns="method", values="inside", aggfunc="mean")
    lines += ["  " + line for line in tab.map(lambda v: f"{v:.1%}").to_string().splitlines()]
    lines.append("")
    lines.append(
        f"parameter coverage ({LEVEL:.0%} marginal intervals; true values in the fitted "
        "parameterisation; z-rms of (truth - mean) / sd):"
    )
    pt = par.groupby(["method", "param"]).agg(
        coverage=("inside", "mean"),
        z_rms=("z", lambda z: float(np.sqrt(np.mean(np.square(z))))),
        n=("inside", "size"),
    )
    lines += ["  " + line for line in pt.to_string(float_format="{:.3f}".format).splitlines()]
    noise = par.groupby("method")["fitted_noise"].median()
    lines.append(
        "  fitted noise sd (median over domains and studies): "
        + ", ".join(f"{m} {v:.5f}" for m, v in noise.items())
        + f" (true {NOISE})"
    )
    lines.append("")
    lines.append("fit times (fit_datamix, 5 validation domains, 192 runs, 1000 draws):")
    for method, ts in times.items():
        ts = np.asarray(ts)
        lines.append(
            f"  {method:<10} first {ts[0]:.1f} s (includes compilation); then median "
            f"{np.median(ts[1:]) if len(ts) > 1 else float('nan'):.2f} s, "
            f"max {ts[1:].max() if len(ts) > 1 else float('nan'):.2f} s"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--methods", nargs="+", default=["laplace", "bootstrap"])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    t_all = time.perf_counter()
    pred, par, times, unconverged = [], [], {}, []
    for method in args.methods:
        times[method] = []
        for study in range(args.studies):
            res = one_study(study, method, args.samples)
            pred += res["rows"]
            par += res["params"]
            times[method].append(res["fit_s"])
            if not res["converged"]:
                unconverged.append((method, study))
            print(f"{method} study {study}: fit {res['fit_s']:.1f} s", flush=True)
    text = summarise(pd.DataFrame(pred), pd.DataFrame(par), times, args.studies)
    if unconverged:
        text += f"\nnot converged: {unconverged}"
    text += f"\n\ntotal wall time {time.perf_counter() - t_all:.0f} s"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
