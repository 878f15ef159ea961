"""Porian et al. 2024's isoFLOP points: settings, reference exponents, Approach 2 per setting.

Porian, Wortsman, Jitsev, Schmidt, Carmon, "Resolving Discrepancies in Compute-Optimal
Scaling of Language Models" (arXiv 2406.19146). They reproduce Kaplan et al.'s N*
exponent (a ~ 0.85) and move it to Hoffmann et al.'s (~ 0.5) by fixing, one at a time,
how parameters are counted (the last layer's FLOPs), the warmup length, the learning-rate
decay, and the optimiser's tuning. The flattened file of their released summary tables
(``isoflop_points_flat.csv``) holds one setting per (``source_file``, ``config_index``).

Their exponent estimate (from the paper and their released analysis code): per budget,
an Akima spline of log loss against log N minimised on a fine grid; the spread of that
minimiser under Gaussian seed noise added to the losses (sd 0.002 on RefinedWeb, 0.01 on
OpenWebText2) gives sd(log N*), floored at a third of the size spacing and inflated by
the fraction of noisy draws with an interior minimum; the median of the noisy minimisers
is the budget's N*; the power law is a least-squares line in log-log space weighted by
1/sd^2, and its 95% interval is the percentile interval of the line refitted to each
noisy draw. :func:`porian_approach2` runs :func:`~scalinglaws.approaches.approach2` that
way (``method="akima"``); any other Approach 2 option can be passed instead.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.approaches.isoflop import approach2
from scalinglaws.errors import RunLogError, ScalingLawsWarning
from scalinglaws.io.runs import load_runs

#: The five steps of the paper's main summary table, in order: (label, hparams, warmup,
#: decay, param_count, loss_type). The Kaplan setup is read from the train loss; the
#: cosine step uses the ``chinchilla`` decay.
PORIAN_2024_STEPS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("Kaplan setup", "base", "long", "kaplan", "kaplan", "train"),
    ("standard parameter counting", "base", "long", "kaplan", "standard", "val"),
    ("short warmup", "base", "short", "kaplan", "standard", "val"),
    ("cosine decay", "base", "short", "chinchilla", "standard", "val"),
    ("tuned, constant LR", "tuned", "short", "const", "standard", "val"),
)

#: Published N* exponent a per step, (a, 95% low, 95% high); OpenWebText2's intervals are
#: not quoted here (NaN).
PORIAN_2024_A: dict[str, tuple[tuple[float, float, float], ...]] = {
    "rw": (
        (0.835, 0.824, 0.846),
        (0.706, 0.691, 0.717),
        (0.602, 0.591, 0.617),
        (0.571, 0.560, 0.589),
        (0.497, 0.491, 0.505),
    ),
    "owt2": tuple((a, math.nan, math.nan) for a in (0.864, 0.699, 0.603, 0.574, 0.518)),
}

#: Seed-to-seed loss sd Porian et al.'s bootstrap adds (their code, for losses below e^3).
PORIAN_2024_SEED_NOISE: dict[str, float] = {"rw": 0.002, "owt2": 0.01}

_SETTING_COLUMNS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_type")
_REQUIRED = ("source_file", "config_index", *_SETTING_COLUMNS, "flops", "n", "t", "loss")


def _read(source: Any) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise RunLogError(f"Porian et al. isoFLOP file {str(path)!r} does not exist")
        df = pd.read_csv(path)
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise RunLogError(
            f"Porian et al. isoFLOP table lacks columns {missing}; found {list(df.columns)}"
        )
    return df


def porian_settings(source: Any) -> pd.DataFrame:
    """One row per experimental setting, labelled with the main table's steps.

    Each (``source_file``, ``config_index``) group must hold a single value of every
    setting column; a group that does not is refused (the grouping would be wrong).

    Returns:
        Columns ``source_file, config_index, dataset, hparams, warmup, decay,
        param_count, loss_type, n_points, n_budgets, step`` (0-4 for the main table's
        settings, else -1), ``label``, ``reference_a``, ``reference_lo``,
        ``reference_hi``.
    """
    df = _read(source)
    rows = []
    for (src, idx), g in df.groupby(["source_file", "config_index"], sort=True):
        row: dict[str, Any] = {"source_file": src, "config_index": int(idx)}
        for c in _SETTING_COLUMNS:
            vals = g[c].unique()
            if len(vals) != 1:
                raise RunLogError(
                    f"setting ({src}, {idx}): column {c!r} holds several values "
                    f"{sorted(map(str, vals))}; one setting must have one value"
                )
            row[c] = str(vals[0])
        row["n_points"] = len(g)
        row["n_budgets"] = int(g["flops"].nunique())
        key = tuple(row[c] for c in _SETTING_COLUMNS[1:])
        step = next((i for i, s in enumerate(PORIAN_2024_STEPS) if tuple(s[1:]) == key), -1)
        ref = PORIAN_2024_A.get(row["dataset"])
        row["step"] = step
        row["label"] = PORIAN_2024_STEPS[step][0] if step >= 0 else ""
        a, lo, hi = ref[step] if (ref is not None and step >= 0) else (math.nan,) * 3
        row.update({"reference_a": a, "reference_lo": lo, "reference_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def porian_main_settings(source: Any, dataset: str = "rw") -> pd.DataFrame:
    """The five settings of the main summary table for one dataset, in step order.

    Checks that exactly one setting matches each step's column values and that, within
    its source file, the settings appear in step order (the paper's table order).

    Raises:
        RunLogError: A step matched by no setting or by several, or out of order.
    """
    table = porian_settings(source)
    sub = table[(table["dataset"] == dataset) & (table["step"] >= 0)]
    for i, step in enumerate(PORIAN_2024_STEPS):
        hits = sub[sub["step"] == i]
        if len(hits) != 1:
            raise RunLogError(
                f"dataset {dataset!r}: step {i} ({step[0]}) matches {len(hits)} settings; "
                "expected exactly one"
            )
    sub = sub.sort_values("step").reset_index(drop=True)
    if sub["source_file"].nunique() == 1 and not sub["config_index"].is_monotonic_increasing:
        raise RunLogError(
            f"dataset {dataset!r}: config_index order {sub['config_index'].tolist()} does "
            "not follow the main table's step order"
        )
    return sub


def porian_runs(source: Any, source_file: str, config_index: int) -> pd.DataFrame:
    """One setting's isoFLOP points as a canonical run log (``N, D, C, loss``)."""
    df = _read(source)
    g = df[(df["source_file"] == source_file) & (df["config_index"] == config_index)]
    if g.empty:
        raise RunLogError(f"no rows for setting ({source_file!r}, {config_index})")
    return load_runs(
        g[["n", "t", "flops", "loss"]].reset_index(drop=True),
        columns={"N": "n", "D": "t", "C": "flops", "loss": "loss"},
        min_runs=3,
        require=("N",),
    )


def porian_approach2(
    source: Any,
    *,
    datasets: tuple[str, ...] = ("rw", "owt2"),
    main_only: bool = True,
    method: str = "akima",
    **options: Any,
) -> pd.DataFrame:
    """Approach 2 on every setting of Porian et al.'s isoFLOP points.

    With ``method="akima"`` and no other options this is their procedure (see the module
    docstring); the seed-noise sd defaults to theirs per dataset. Other options go to
    :func:`~scalinglaws.approaches.approach2` unchanged (e.g. ``method="local"``).
    Every method weights the budgets as they did (``weighting="inverse-variance"``,
    1/sd(log N*)^2) unless ``weighting`` (or the legacy ``weighted``) is given.

    Returns:
        One row per setting: the setting's columns, ``step``, ``label``, the fitted
        ``a, a_lo, a_hi, b, b_lo, b_hi, n_slices``, and ``reference_a`` /
        ``reference_lo`` / ``reference_hi`` with ``a_minus_reference``.
    """
    df = _read(source)
    if main_only:
        settings = pd.concat([porian_main_settings(df, d) for d in datasets], ignore_index=True)
    else:
        settings = porian_settings(df)
        settings = settings[settings["dataset"].isin(datasets)].reset_index(drop=True)
    out = []
    for _, s in settings.iterrows():
        runs = porian_runs(df, s["source_file"], int(s["config_index"]))
        opts = dict(options)
        if "weighted" not in opts:
            # Their fit weights each budget by 1/sd^2, whatever approach2's default is.
            opts.setdefault("weighting", "inverse-variance")
        if method == "akima":
            opts.setdefault("bootstrap", "noise")
            opts.setdefault("observation", "median")
        if opts.get("bootstrap") == "noise":
            opts.setdefault("loss_noise", PORIAN_2024_SEED_NOISE.get(s["dataset"], 0.01))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingLawsWarning)
            res = approach2(runs, method=method, **opts)
        a_lo, a_hi = res.interval("a")
        b_lo, b_hi = res.interval("b")
        row = s.to_dict()
        row.update(
            {
                "a": res.a,
                "a_lo": a_lo,
                "a_hi": a_hi,
                "b": res.b,
                "b_lo": b_lo,
                "b_hi": b_hi,
                "n_slices": int(res.powerlaws.loc["N", "n_points"]),
                "a_minus_reference": res.a - row["reference_a"],
                "warnings": len(res.warnings),
            }
        )
        out.append(row)
    table = pd.DataFrame(out)
    table.attrs["method"] = method
    table.attrs["options"] = {k: v for k, v in options.items() if np.isscalar(v) or v is None}
    return table
