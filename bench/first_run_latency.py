"""First-run latency of the command line, with and without the persistent compilation cache.

Every ``scalinglaws`` call is a fresh process that imports JAX and compiles its programs.
The command line (``scalinglaws.cli._setup_jax``) turns on JAX's persistent compilation
cache in ``$SCALINGLAWS_CACHE_DIR`` so that a second call can load what the first one
compiled, and keeps the fits' traced programs beside it (``exported/``,
``scalinglaws.exported``) so that it need not trace and lower them again either. For
each command below this measures the wall time of:

* empty cache: a fresh process with a new, empty ``SCALINGLAWS_CACHE_DIR`` (a new
  temporary folder every repetition);
* second process: another fresh process on that same, now filled, folder;
* warm in-process: the command run twice inside one Python process through
  ``scalinglaws.cli.main``, timing the second call (everything already compiled and
  loaded; the process is new and its first call reads the folder the two runs above
  filled);
* no cache (the "before" baseline): a fresh process whose ``SCALINGLAWS_CACHE_DIR`` lies
  under a regular file, so ``_setup_jax`` cannot create it and skips both caches. A
  probe process checks that this really leaves JAX's persistent cache and the exported
  programs off (and that the normal setting turns them on); the result is written with
  the table.

Fresh-process times are the whole command as a user sees it: interpreter start, imports,
compiling or loading programs, the fit and writing its record. Each repetition runs the
four measurements in turn (no cache, empty cache, second process, in-process), so slow
spells on a shared machine hit them alike; the table gives medians over repetitions.

Goals checked: a second process within 25% or 2 s (whichever is larger) of the warm
in-process time, and ``fit cmr`` (bootstrap, its default) from an empty cache in at most
15 s.

Run: ``python bench/first_run_latency.py`` from the repository's environment (about
9 minutes on 2 idle cores, more when busy); it writes ``bench/results/first_run_latency.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "first_run_latency.txt"

#: Draws per chain for ``--uncertainty bayes`` (the default is 1,000 per chain, 4 chains).
BAYES_SAMPLES = 250
#: (label, arguments, writes a record with --out, repetitions)
COMMANDS: list[tuple[str, list[str], bool, int]] = [
    (
        "fit chinchilla --uncertainty none",
        ["fit", "chinchilla", "data/chinchilla_sim/runs.csv", "--uncertainty", "none"],
        True,
        3,
    ),
    (
        "fit chinchilla --uncertainty bootstrap",
        ["fit", "chinchilla", "data/chinchilla_sim/runs.csv", "--uncertainty", "bootstrap"],
        True,
        3,
    ),
    (
        f"fit chinchilla --uncertainty bayes --samples {BAYES_SAMPLES}",
        [
            "fit",
            "chinchilla",
            "data/chinchilla_sim/runs.csv",
            "--uncertainty",
            "bayes",
            "--samples",
            str(BAYES_SAMPLES),
        ],
        True,
        2,
    ),
    (
        "fit chinchilla --uncertainty bayes (default draws)",
        ["fit", "chinchilla", "data/chinchilla_sim/runs.csv", "--uncertainty", "bayes"],
        True,
        2,
    ),
    ("fit cmr (bootstrap, 500 draws)", ["fit", "cmr", "data/cmr/simulated_curves.csv"], True, 2),
    (
        "plan compute --budget 1e22 5.76e23",
        [
            "plan",
            "compute",
            "fits/chinchilla/chinchilla_sim/v1.json",
            "--budget",
            "1e22",
            "5.76e23",
        ],
        False,
        3,
    ),
]
KINDS = ("empty", "second", "warm", "nocache")
HEADERS = {
    "empty": "empty cache",
    "second": "second process",
    "warm": "warm in-process",
    "nocache": "no cache",
}
GOAL_FRACTION, GOAL_SECONDS, CMR_EMPTY_GOAL = 0.25, 2.0, 15.0
TIMEOUT = 600.0

#: Run in a child: call the command line twice, print the wall time of each call.
IN_PROCESS = """
import json, sys, time
from scalinglaws.cli import main
args = json.loads(sys.argv[1])
times = []
for _ in range(2):
    t0 = time.perf_counter()
    code = main(args)
    times.append(time.perf_counter() - t0)
    if code:
        raise SystemExit(f"exit code {code}")
sys.stderr.write(json.dumps(times) + "\\n")
"""

#: Run in a child: set JAX up as the command line does, compile one program, report
#: whether JAX's persistent cache is on and how many entries it wrote.
PROBE = """
import json, os
from scalinglaws.cli import _setup_jax
from scalinglaws import exported
_setup_jax()
import jax, jax.numpy as jnp
from jax._src import compilation_cache as cc
jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)(jnp.arange(7.0)).block_until_ready()
folder = jax.config.jax_compilation_cache_dir
entries = len(os.listdir(folder)) if folder and os.path.isdir(folder) else 0
print(json.dumps({
    "jax_compilation_cache_dir": folder,
    "persistent_cache_enabled": cc.is_persistent_cache_enabled(),
    "cache_object": cc._cache is not None,
    "entries_written": entries,
    "exported_folder": None if exported.folder() is None else str(exported.folder()),
}))
"""


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "scalinglaws"
    return [str(script)] if script.exists() else [sys.executable, "-m", "scalinglaws"]


def child_env(cache_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # only the command line's own setting
    env.pop("SCALINGLAWS_DEBUG", None)
    env["SCALINGLAWS_CACHE_DIR"] = cache_dir
    return env


def full_args(args: list[str], writes: bool, out_dir: str) -> list[str]:
    extra = ["--out", os.path.join(out_dir, "fit.json")] if writes else []
    return [*args, *extra, "--quiet"]


def run_checked(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc


def fresh_process(args: list[str], cache_dir: str) -> float:
    t0 = time.perf_counter()
    run_checked([*cli_command(), *args], child_env(cache_dir))
    return time.perf_counter() - t0


def in_process(args: list[str], cache_dir: str) -> tuple[float, float]:
    proc = run_checked([sys.executable, "-c", IN_PROCESS, json.dumps(args)], child_env(cache_dir))
    first, second = json.loads(proc.stderr.strip().splitlines()[-1])
    return float(first), float(second)


#: Run in a fresh child: the fixed cost of any command (interpreter, imports of every
#: feature module, JAX set-up and its first tiny program), with no fit.
STARTUP = """
from scalinglaws.cli import _setup_jax, build_parser
build_parser()
_setup_jax()
import jax.numpy as jnp
jnp.zeros(1).block_until_ready()
"""


def startup(cache_dir: str) -> float:
    t0 = time.perf_counter()
    run_checked([sys.executable, "-c", STARTUP], child_env(cache_dir))
    return time.perf_counter() - t0


def entries(cache_dir: str) -> int:
    """Files written: compiled executables and exported programs."""
    return sum(
        len(os.listdir(f))
        for f in (os.path.join(cache_dir, "jax"), os.path.join(cache_dir, "exported"))
        if os.path.isdir(f)
    )


def probe(cache_dir: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=child_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=None, help="repetitions for every command")
    parser.add_argument("--only", type=int, nargs="*", help="command numbers (1-based) to run")
    parser.add_argument("--out", type=Path, default=OUT)
    opts = parser.parse_args()

    work = tempfile.mkdtemp(prefix="sl_latency_")
    blocker = os.path.join(work, "not_a_folder")
    Path(blocker).write_text("a regular file: no cache folder can be made under it\n")
    blocked = os.path.join(blocker, "cache")
    load_start, started = load(), time.perf_counter()

    probes = {"normal": probe(os.path.join(work, "probe_cache")), "blocked": probe(blocked)}
    if (
        probes["blocked"]["persistent_cache_enabled"]
        or probes["blocked"]["cache_object"]
        or probes["blocked"]["exported_folder"]
    ):
        raise SystemExit(f"the blocked cache path did not disable the cache: {probes}")
    if not (probes["normal"]["persistent_cache_enabled"] and probes["normal"]["entries_written"]):
        raise SystemExit(f"the normal cache path did not enable the cache: {probes}")

    fixed = statistics.median(startup(blocked) for _ in range(3))

    rows = []
    chosen = [i for i in range(len(COMMANDS)) if not opts.only or i + 1 in opts.only]
    for i in chosen:
        label, args, writes, reps = COMMANDS[i]
        reps = opts.reps or reps
        times: dict[str, list[float]] = {k: [] for k in (*KINDS, "first_in_process")}
        n_entries = []
        for rep in range(reps):
            out_dir = tempfile.mkdtemp(dir=work)
            cmd = full_args(args, writes, out_dir)
            times["nocache"].append(fresh_process(cmd, blocked))
            if os.path.exists(blocked):
                raise SystemExit(f"a cache folder appeared at {blocked}")
            cache_dir = tempfile.mkdtemp(dir=work, prefix="cache_")
            times["empty"].append(fresh_process(cmd, cache_dir))
            n_entries.append(entries(cache_dir))
            times["second"].append(fresh_process(cmd, cache_dir))
            first, second = in_process(cmd, cache_dir)
            times["first_in_process"].append(first)
            times["warm"].append(second)
            shutil.rmtree(cache_dir, ignore_errors=True)
            sys.stderr.write(
                f"[{time.perf_counter() - started:6.0f} s] {label} rep {rep + 1}/{reps}: "
                + "  ".join(f"{k} {v[-1]:.2f}" for k, v in times.items())
                + "\n"
            )
        rows.append(
            (
                i + 1,
                label,
                reps,
                {k: statistics.median(v) for k, v in times.items()},
                times,
                statistics.median(n_entries),
            )
        )

    total = time.perf_counter() - started
    load_end = load()
    shutil.rmtree(work, ignore_errors=True)

    import jax

    lines = [
        "First-run latency of the command line (wall seconds, medians over repetitions)",
        "",
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()},"
        f" jax {jax.__version__}",
        f"load average (1, 5, 15 min) at start: {load_start}; at end: {load_end}"
        " (other jobs shared the machine: compare columns within a row, not with other runs)",
        f"total run: {total:.0f} s",
        f"fixed start-up cost of a fresh process (interpreter, imports of all feature modules,"
        f" JAX set-up, one tiny program; no fit), median of 3: {fixed:.2f} s",
        "",
    ]
    w = max(len(r[1]) for r in rows) + 5
    head = f"{'command':<{w}}" + "".join(f"{HEADERS[k]:>17}" for k in KINDS) + f"{'reps':>6}"
    lines += [head, "-" * len(head)]
    for num, label, reps, med, _, _ in rows:
        lines.append(
            f"{f'{num}. {label}':<{w}}" + "".join(f"{med[k]:>17.2f}" for k in KINDS) + f"{reps:>6}"
        )
    lines += [
        "",
        "Goal: second process <= warm in-process + max(25% of it, 2 s)",
        "",
        f"{'command':<{w}}{'second/warm':>12}{'allowed':>10}{'goal met':>10}"
        f"{'empty/nocache':>15}{'second/nocache':>16}{'cache entries':>15}",
    ]
    for num, label, _, med, _, n_entries in rows:
        allowed = med["warm"] + max(GOAL_FRACTION * med["warm"], GOAL_SECONDS)
        lines.append(
            f"{f'{num}. {label}':<{w}}{med['second'] / med['warm']:>12.2f}{allowed:>10.2f}"
            f"{'yes' if med['second'] <= allowed else 'no':>10}"
            f"{med['empty'] / med['nocache']:>15.2f}{med['second'] / med['nocache']:>16.2f}"
            f"{n_entries:>15.0f}"
        )
    cmr = [r for r in rows if r[1].startswith("fit cmr")]
    if cmr:
        empty = cmr[0][3]["empty"]
        lines += [
            "",
            f"fit cmr (bootstrap) from an empty cache <= {CMR_EMPTY_GOAL:.0f} s: "
            f"{'yes' if empty <= CMR_EMPTY_GOAL else 'no'} ({empty:.2f} s)",
        ]
    lines += [
        "",
        "Columns: empty cache = fresh process, new empty SCALINGLAWS_CACHE_DIR; second process ="
        " fresh process on the folder the first one filled; warm in-process = second call of"
        " scalinglaws.cli.main in one process; no cache = fresh process with"
        " SCALINGLAWS_CACHE_DIR under a regular file. Fresh-process times include interpreter"
        " start and imports. cache entries = files the empty-cache run wrote (compiled"
        " executables and exported programs).",
        f"Row 3 uses --samples {BAYES_SAMPLES} (draws per chain) to keep the run short; there"
        " the bundled log's chains are extended once (more calls of the same sampler program). Row 4 is the"
        " default (1000 draws per chain), which converges without an extension.",
        "Repetitions: 2 for the slowest commands (bayes, fit cmr; the median of two is"
        " their mean), 3 for the others, unless --reps was given.",
        "",
        "Cache probe (a child sets JAX up through _setup_jax and compiles one program):",
        f"  normal folder:        {json.dumps(probes['normal'])}",
        f"  under a regular file: {json.dumps(probes['blocked'])}",
        "",
        "First call in the in-process child (reads the filled folder), medians:",
    ]
    for num, label, _, med, _, _ in rows:
        lines.append(f"  {num}. {label}: {med['first_in_process']:.2f} s")
    lines += ["", "Every repetition (seconds):"]
    for num, label, _, _, times, _ in rows:
        lines.append(f"  {num}. {label}")
        for k, v in times.items():
            lines.append(f"     {k:<17}" + " ".join(f"{x:7.2f}" for x in v))
    text = "\n".join(lines) + "\n"
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(text)
    sys.stderr.write("\n")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
