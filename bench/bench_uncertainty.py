"""Benchmark: bootstrap refits and NUTS posterior on the 245-run Epoch file.

    .venv/bin/python bench/bench_uncertainty.py [--devices 4] [--repeats 3] [--n-boot 1000]
        [--skip-nuts] [--out bench/results/uncertainty.json]

Reports, in one process and run, after compilation (the first call of each is timed
separately as "compile + run"):
  * ``bootstrap(fit, n)``: median wall time of ``--repeats`` runs (target: 1,000 refits
    <= 2 s on a 2-core CPU; 100,000 <= 1 s on one H100/H200);
  * ``sample_posterior``: 4 chains x (1,000 warm-up + 1,000 draws), median wall time
    (target <= 10 s), minimum bulk ESS over parameters per second, max R-hat,
    divergences;
  * the baseline in the same run: numpyro's default NUTS setup on the same model
    (parameters sampled directly on the internal scale, diagonal mass matrix, target
    acceptance 0.8, default uniform initialisation), same chains, draws and likelihood;
  * peak resident memory of the process (``resource.getrusage``), and on a GPU the
    device's peak bytes in use.

Parallel chains on a CPU need several host devices, so this script sets
``XLA_FLAGS=--xla_force_host_platform_device_count=<devices>`` before importing JAX.
The CPU load average is printed: on a shared machine, wall times are inflated by other
processes and the process CPU time is reported beside them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys

if __name__ == "__main__":
    _n = next((a.split("=")[1] for a in sys.argv if a.startswith("--devices=")), None)
    if _n is None and "--devices" in sys.argv:
        _n = sys.argv[sys.argv.index("--devices") + 1]
    _flag = f"--xla_force_host_platform_device_count={_n or 4}"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import scalinglaws as sl  # noqa: E402
from scalinglaws.uncertainty import bootstrap, sample_posterior  # noqa: E402

EPOCH = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "chinchilla-epoch"
    / "svg_extracted_data.csv"
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def device_peak_mib() -> float | None:
    try:
        stats = jax.local_devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        return None
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"] / 2**20


def timed(fn):
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall0, time.process_time() - cpu0


def bench_bootstrap(fit, n: int, repeats: int) -> dict:
    _, first, _ = timed(lambda: bootstrap(fit, n=n, seed=0))
    walls, cpus, last = [], [], None
    for i in range(repeats):
        last, wall, cpu = timed(lambda i=i: bootstrap(fit, n=n, seed=i + 1))
        walls.append(wall)
        cpus.append(cpu)
    return {
        "n_refits": n,
        "compile_plus_run_s": first,
        "median_s": statistics.median(walls),
        "runs_s": walls,
        "median_cpu_s": statistics.median(cpus),
        "status_counts": last.uncertainty.diagnostics["status_counts"],
        "devices": last.uncertainty.extra["devices"],
    }


def _baseline_model(law, inputs, log_target, sigma0, dof):
    """numpyro's plain setup: parameters on the internal scale, no reparametrisation."""
    import numpyro
    import numpyro.distributions as dist

    theta = []
    for p in law.params:
        lo, hi = p.internal_bounds()
        if math.isfinite(lo) or math.isfinite(hi):
            d = dist.TruncatedNormal(p.prior_loc, p.prior_scale, low=lo, high=hi)
        else:
            d = dist.Normal(p.prior_loc, p.prior_scale)
        theta.append(numpyro.sample(p.name, d))
    sigma = numpyro.sample("sigma", dist.LogNormal(jnp.log(sigma0), 2.0))
    params = law.to_natural(jnp.stack(theta))
    numpyro.sample(
        "obs", dist.StudentT(dof, law.log_predict(params, inputs), sigma), obs=log_target
    )


def _summaries(per_chain: dict, wall: float, divergences: int) -> dict:
    import arviz as az

    r_hat = {k: float(az.rhat(v)) for k, v in per_chain.items()}
    ess = {k: float(az.ess(v, method="bulk")) for k, v in per_chain.items()}
    return {
        "wall_s": wall,
        "min_ess_bulk": min(ess.values()),
        "min_ess_per_s": min(ess.values()) / wall,
        "max_r_hat": max(r_hat.values()),
        "divergences": divergences,
        "r_hat": r_hat,
        "ess_bulk": ess,
    }


def bench_nuts(fit, repeats: int, chains: int, warmup: int, samples: int) -> dict:
    _, first, _ = timed(
        lambda: sample_posterior(fit, chains=chains, warmup=warmup, samples=samples, seed=0)
    )
    ours = []
    for i in range(repeats):
        post, wall, cpu = timed(
            lambda i=i: sample_posterior(
                fit, chains=chains, warmup=warmup, samples=samples, seed=i + 1
            )
        )
        unc = post.uncertainty
        d = unc.diagnostics
        ours.append(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "min_ess_bulk": min(d["ess_bulk"].values()),
                "min_ess_per_s": min(d["ess_bulk"].values()) / wall,
                "max_r_hat": max(d["r_hat"].values()),
                "divergences": d["divergences"],
                "converged": unc.converged,
                "mean_tree_size": d["mean_tree_size"],
                "chain_method": unc.extra["chain_method"],
            }
        )

    # Baseline: numpyro defaults (diagonal mass, target 0.8, init_to_uniform).
    from numpyro.infer import MCMC, NUTS

    from scalinglaws.fitting import prepare

    law = fit.law
    _, inputs_np, target_np, _ = prepare(law, fit.data)
    resid = np.asarray(fit.residuals)
    sigma0 = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    chain_method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    mcmc = MCMC(
        NUTS(functools.partial(_baseline_model, law)),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
        jit_model_args=True,
    )
    inputs = {k: jnp.asarray(v) for k, v in inputs_np.items()}
    log_target = jnp.log(jnp.asarray(target_np))
    names = [*law.param_names, "sigma"]
    base = []
    for i in range(repeats + 1):
        _, wall, cpu = timed(
            lambda i=i: mcmc.run(
                jax.random.PRNGKey(i),
                inputs,
                log_target,
                sigma0,
                5.0,
                extra_fields=("diverging",),
            )
        )
        if i == 0:
            base_first = wall
            continue
        s = mcmc.get_samples(group_by_chain=True)
        div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
        row = _summaries({k: np.asarray(s[k]) for k in names}, wall, div)
        row["cpu_s"] = cpu
        base.append(row)
    med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    return {
        "chains": chains,
        "warmup": warmup,
        "samples": samples,
        "ours": {
            "compile_plus_run_s": first,
            "median_s": med(ours, "wall_s"),
            "median_cpu_s": med(ours, "cpu_s"),
            "median_min_ess_per_s": med(ours, "min_ess_per_s"),
            "runs": ours,
        },
        "numpyro_default": {
            "compile_plus_run_s": base_first,
            "median_s": med(base, "wall_s"),
            "median_cpu_s": med(base, "cpu_s"),
            "median_min_ess_per_s": med(base, "min_ess_per_s"),
            "runs": [{k: v for k, v in r.items() if k not in ("r_hat", "ess_bulk")} for r in base],
        },
        "ess_per_s_ratio": med(ours, "min_ess_per_s") / max(med(base, "min_ess_per_s"), 1e-12),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-boot", type=int, nargs="+", default=[1000])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--skip-nuts", action="store_true")
    ap.add_argument("--skip-bootstrap", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if not EPOCH.exists():
        print(f"skipped: real data {EPOCH} is not present", file=sys.stderr)
        return 0
    warnings.simplefilter("ignore")
    runs = sl.load_runs(EPOCH)
    fit = sl.fit(sl.laws.chinchilla(), runs)
    report = {
        "platform": jax.default_backend(),
        "device": str(jax.local_devices()[0].device_kind),
        "devices": jax.local_device_count(),
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "fit_objective": fit.objective,
        "bootstrap": [],
    }
    for n in [] if args.skip_bootstrap else args.n_boot:
        row = bench_bootstrap(fit, n, args.repeats)
        row["peak_rss_mib"] = peak_rss_mib()
        row["device_peak_mib"] = device_peak_mib()
        report["bootstrap"].append(row)
        print(
            f"bootstrap {n:>7} refits: median {row['median_s']:.3f} s over {args.repeats} "
            f"(compile+run {row['compile_plus_run_s']:.2f} s, cpu {row['median_cpu_s']:.2f} s); "
            f"{row['status_counts']}",
            flush=True,
        )
    if not args.skip_nuts:
        nuts = bench_nuts(fit, args.repeats, args.chains, args.warmup, args.samples)
        nuts["peak_rss_mib"] = peak_rss_mib()
        report["nuts"] = nuts
        o, b = nuts["ours"], nuts["numpyro_default"]
        print(
            f"NUTS {args.chains}x({args.warmup}+{args.samples}) ours: median {o['median_s']:.2f} s "
            f"(compile+run {o['compile_plus_run_s']:.2f} s), min-ESS/s "
            f"{o['median_min_ess_per_s']:.0f}; runs "
            + "; ".join(
                f"r_hat {r['max_r_hat']:.4f} div {r['divergences']} ess {r['min_ess_bulk']:.0f}"
                for r in o["runs"]
            ),
            flush=True,
        )
        print(
            f"NUTS numpyro default: median {b['median_s']:.2f} s, min-ESS/s "
            f"{b['median_min_ess_per_s']:.1f}; runs "
            + "; ".join(
                f"r_hat {r['max_r_hat']:.4f} div {r['divergences']} ess {r['min_ess_bulk']:.0f}"
                for r in b["runs"]
            )
            + f"\nESS/s ratio ours / default: {nuts['ess_per_s_ratio']:.1f}x",
            flush=True,
        )
    report["peak_rss_mib"] = peak_rss_mib()
    report["load_average_end"] = os.getloadavg()
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB; load average {report['load_average_end']}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
