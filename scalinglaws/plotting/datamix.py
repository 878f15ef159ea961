"""Figures for multi-domain data-mixture fits and plans (:mod:`scalinglaws.datamix`).

* :func:`plot_datamix_fit` — predicted against observed loss of proxy runs (held-out
  ones when given), each with its predictive interval, the identity line, and the
  interval's coverage and the Spearman rank correlation in the title;
* :func:`plot_datamix_plan` — a planned mixture's weights with their intervals against
  the baseline mixture, one row per training domain, binding constraints marked.

Both take ``ax=None`` (a new figure is made) and return the matplotlib
:class:`~matplotlib.figure.Figure` they drew on; nothing is shown or saved, and nothing
needs a display (safe under the Agg backend).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scalinglaws.errors import ScalingLawsError

__all__ = ["plot_datamix_fit", "plot_datamix_plan", "datamix_fit_table"]

#: Columns a plan table must have for :func:`plot_datamix_plan`.
PLAN_REQUIRED = ("domain", "weight")
#: Colours: inside / outside the interval, the chosen mixture, the baseline, binding marks.
_IN, _OUT, _CHOSEN, _BASE, _BIND = "C0", "C3", "C0", "0.6", "C3"


def _axes(ax, figsize=(6, 5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


# ---------------------------------------------------------------------- fit figure


def _check_fit(fit: Any) -> None:
    from scalinglaws.datamix.fit import DataMixFit

    if not isinstance(fit, DataMixFit):
        raise ScalingLawsError(
            f"plot_datamix_fit needs a DataMixFit (from fit_datamix), not {type(fit).__name__}"
        )


def _as_runs(runs: Any):
    from scalinglaws.datamix.runs import MixtureRuns, load_mixture_runs

    if isinstance(runs, MixtureRuns):
        return runs
    if isinstance(runs, pd.DataFrame):
        return load_mixture_runs(runs)
    raise ScalingLawsError(
        "runs must be MixtureRuns (load_mixture_runs) or a wide run table, "
        f"not {type(runs).__name__}"
    )


def _fit_for(fit: Any, domain: str | None):
    """The fit whose target is ``domain`` (or the fit's own target), and a label."""
    if domain is None:
        return fit, fit.target.describe()
    from scalinglaws.datamix.fit import target_spec

    if domain not in fit.domains:
        raise ScalingLawsError(
            f"domain {domain!r} is not a fitted validation domain "
            f"(fitted: {', '.join(fit.domains)})"
        )
    return dataclasses.replace(fit, target=target_spec(domain, list(fit.domains))), (
        f"{domain} validation loss"
    )


def datamix_fit_table(
    fit: Any,
    runs: Any = None,
    *,
    domain: str | None = None,
    level: float = 0.9,
    n_draws: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Observed and predicted loss of proxy runs with predictive intervals.

    The numbers behind :func:`plot_datamix_fit`: one row per run with a loss for every
    domain the target needs; columns ``observed``, ``predicted`` (the point prediction),
    ``pred_lo``/``pred_hi`` (the ``level`` predictive interval of a run's loss, noise
    included) and ``inside``. ``attrs`` hold ``coverage`` (share inside), ``spearman``
    (rank correlation of predicted and observed), ``label``, ``held_out`` and ``level``.

    Raises:
        ScalingLawsError: Not a fit, an unknown domain, runs of other training domains,
            fewer than 3 runs with the losses needed, or sizes or lengths the fit cannot
            predict.
    """
    from scipy.stats import spearmanr

    _check_fit(fit)
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ScalingLawsError(f"level must be in (0, 1), not {level!r}")
    held_out = runs is not None
    runs = fit.runs if runs is None else _as_runs(runs)
    missing = [d for d in fit.training_domains if d not in runs.domains]
    extra = [d for d in runs.domains if d not in fit.training_domains]
    if missing or extra:
        raise ScalingLawsError(
            "the runs' training domains differ from the fit's: "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not in the fit {extra}" if extra else "")
        )
    sub, label = _fit_for(fit, domain)
    tw = dict(sub.target.weights)
    absent = [d for d in tw if d not in runs.targets]
    if absent:
        raise ScalingLawsError(
            f"the runs have no loss column for {absent}, which the target "
            f"({label}) needs; pass domain= one of {', '.join(runs.targets)}"
        )
    lv = runs.losses[list(tw)].to_numpy(dtype=float)
    keep = np.all(np.isfinite(lv), axis=1)
    if keep.sum() < 3:
        raise ScalingLawsError(
            f"only {int(keep.sum())} runs have the losses {label} needs; at least 3 are "
            "needed to compare predictions with observations"
        )
    observed = lv[keep] @ np.asarray(list(tw.values()))
    w = runs.weights[list(fit.training_domains)].to_numpy(dtype=float)[keep]
    n = None
    if "N" in runs.meta.columns:
        n = runs.meta["N"].to_numpy(dtype=float)[keep]
    elif fit.nested:
        raise ScalingLawsError(
            "the fit is nested with a size law but these runs have no size column N: "
            "the sizes to predict at are unknown"
        )
    d = None
    if fit.length_nested:  # a fit without a length law predicts at its proxies' length
        col = fit.length_column or "D"
        if col not in runs.meta.columns:
            raise ScalingLawsError(
                f"the fit is nested with a length law but these runs have no {col} column: "
                "the lengths to predict at are unknown"
            )
        d = runs.meta[col].to_numpy(dtype=float)[keep]
    pred = sub.predict(w, N=n, D=d, level=level, n_draws=n_draws, seed=seed)
    out = pd.DataFrame(
        {
            "observed": observed,
            "predicted": pred["target"].to_numpy(),
            "pred_lo": pred["pred_lo"].to_numpy(),
            "pred_hi": pred["pred_hi"].to_numpy(),
        }
    )
    if d is not None:
        out.insert(0, "D", d)
    if n is not None:
        out.insert(0, "N", n)
    out["inside"] = (out["pred_lo"] <= out["observed"]) & (out["observed"] <= out["pred_hi"])
    rho = spearmanr(out["predicted"], out["observed"])[0]
    out.attrs.update(
        {
            "coverage": float(out["inside"].mean()),
            "spearman": float(rho),
            "label": label,
            "held_out": held_out,
            "level": float(level),
        }
    )
    return out


def plot_datamix_fit(
    fit: Any,
    runs: Any = None,
    *,
    domain: str | None = None,
    level: float = 0.9,
    ax=None,
    n_draws: int = 500,
    seed: int = 0,
):
    """Predicted against observed loss, each run with its predictive interval.

    Held-out runs when ``runs`` is given (a :class:`~scalinglaws.datamix.MixtureRuns` or
    a wide table), else the runs the model was fitted to. The quantity is the fit's
    target (``domain=None``) or one fitted validation domain. Each run is a point at
    (observed, predicted) with a vertical bar spanning the ``level`` predictive interval
    of a new run's loss (noise included); the bar crosses the dashed identity line exactly
    when the interval covers the observation. Runs outside their interval are drawn in
    red. The title gives the interval's coverage and the Spearman rank correlation; for
    a mixture decision the ranking is what matters.

    Returns:
        The Figure drawn on.

    Raises:
        ScalingLawsError: See :func:`datamix_fit_table`.
    """
    tab = datamix_fit_table(fit, runs, domain=domain, level=level, n_draws=n_draws, seed=seed)
    ax = _axes(ax)
    for inside, color, name in ((True, _IN, "inside"), (False, _OUT, "outside")):
        part = tab[tab["inside"] == inside]
        if not len(part):
            continue
        ax.errorbar(
            part["observed"],
            part["predicted"],
            yerr=np.vstack(
                [part["predicted"] - part["pred_lo"], part["pred_hi"] - part["predicted"]]
            ).clip(min=0),
            fmt="o",
            ms=3,
            lw=0.8,
            alpha=0.7,
            color=color,
            label=f"{len(part)} runs {name} their {level:.0%} interval",
        )
    lo = float(np.nanmin(tab[["observed", "pred_lo"]].to_numpy()))
    hi = float(np.nanmax(tab[["observed", "pred_hi"]].to_numpy()))
    pad = 0.03 * (hi - lo if hi > lo else 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="predicted = observed")
    which = "held-out" if tab.attrs["held_out"] else "fitted"
    ax.set_xlabel(f"observed {tab.attrs['label']}")
    ax.set_ylabel(f"predicted ({fit.model} model)")
    ax.set_title(
        f"{len(tab)} {which} runs: {level:.0%} predictive coverage "
        f"{tab.attrs['coverage']:.0%}, Spearman rho = {tab.attrs['spearman']:.3f}",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="upper left")
    return ax.figure


# ---------------------------------------------------------------------- plan figure


def _binding_label(value: Any) -> str:
    """'' when a constraint does not bind, else a short name of it ('binding' if unnamed)."""
    if value is None or value is False:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "binding" if value else ""
    if isinstance(value, int | np.integer | float | np.floating):
        return "binding" if value else ""
    text = str(value).strip()
    return "" if text.lower() in ("", "none", "false", "nan", "no", "-") else text


def plot_datamix_plan(plan_df: pd.DataFrame, *, ax=None):
    """The planned mixture against the baseline, one row per training domain.

    ``plan_df`` is a plan table (one row per training domain: ``domain``, ``weight`` and,
    when present, ``lo``/``hi`` (the weight's interval), ``baseline``, ``min``/``max``
    (the allowed range) and ``binding`` (which constraint holds the weight: a name, or a
    boolean)). The baseline weights are grey horizontal bars; the chosen weights are
    points with their intervals; finite bounds other than 0 and 1 are drawn as ``|``
    ticks, and a domain whose constraint binds is marked with a red ring and the
    constraint's name. When ``plan_df.attrs["summary"]`` holds the probability of
    beating the baseline it goes in the title.

    Returns:
        The Figure drawn on.

    Raises:
        ScalingLawsError: Not a DataFrame, missing columns, no rows, or weights that are
            not finite numbers in [0, 1].
    """
    if not isinstance(plan_df, pd.DataFrame):
        raise ScalingLawsError(
            f"plot_datamix_plan needs a plan DataFrame (plan_data_mixture), not "
            f"{type(plan_df).__name__}"
        )
    missing = [c for c in PLAN_REQUIRED if c not in plan_df.columns]
    if missing:
        raise ScalingLawsError(
            f"plan table lacks columns {missing} (found {list(plan_df.columns)}); "
            "give the output of plan_data_mixture"
        )
    if not len(plan_df):
        raise ScalingLawsError("plan table has no rows: nothing to plot")

    def col(name):
        if name not in plan_df.columns:
            return None
        try:
            v = pd.to_numeric(plan_df[name], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ScalingLawsError(f"plan column {name!r} must be numeric") from None
        return v

    w = col("weight")
    if not np.all(np.isfinite(w)) or np.any(w < -1e-9) or np.any(w > 1 + 1e-9):
        raise ScalingLawsError("plan weights must be finite numbers in [0, 1]")
    names = [str(d) for d in plan_df["domain"]]
    y = np.arange(len(names))[::-1]  # first domain on top
    ax = _axes(ax, figsize=(7, 0.35 * len(names) + 2.0))
    base = col("baseline")
    if base is not None and np.any(np.isfinite(base)):
        ax.barh(
            y,
            np.nan_to_num(base),
            height=0.6,
            color=_BASE,
            alpha=0.5,
            label="baseline",
        )
    lo, hi = col("lo"), col("hi")
    xerr = None
    if lo is not None and hi is not None:
        xerr = np.vstack([np.nan_to_num(w - lo), np.nan_to_num(hi - w)]).clip(min=0)
    has_interval = xerr is not None and np.any(xerr > 0)
    ax.errorbar(
        w,
        y,
        xerr=xerr,
        fmt="o",
        color=_CHOSEN,
        ms=5,
        capsize=3,
        lw=1.2,
        label="chosen" + (" (interval)" if has_interval else ""),
    )
    lower, upper = col("min"), col("max")
    for bound, side in ((lower, "min"), (upper, "max")):
        if bound is None:
            continue
        trivial = 0.0 if side == "min" else 1.0
        show = np.isfinite(bound) & ~np.isclose(bound, trivial)
        if show.any():
            ax.plot(
                bound[show],
                y[show],
                "|",
                color="0.2",
                ms=14,
                mew=1.5,
                label=f"{side} allowed",
            )
    binding = (
        [_binding_label(v) for v in plan_df["binding"]]
        if "binding" in plan_df.columns
        else [""] * len(names)
    )
    bind = np.array([bool(b) for b in binding])
    if bind.any():
        ax.plot(
            w[bind],
            y[bind],
            "o",
            ms=12,
            mfc="none",
            mec=_BIND,
            mew=1.5,
            label="constraint binds",
        )
        for yi, wi, text in zip(y[bind], w[bind], np.asarray(binding)[bind], strict=True):
            if text != "binding":
                ax.annotate(
                    text,
                    (wi, yi),
                    xytext=(8, 6),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=_BIND,
                )
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlabel("mixture weight")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_title(_plan_title(plan_df.attrs.get("summary")), fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax.figure


def _plan_title(summary: Any) -> str:
    title = "planned mixture against the baseline"
    if not isinstance(summary, Mapping):
        return title
    p = summary.get("p_beats_baseline")
    if isinstance(p, int | float | np.floating) and math.isfinite(float(p)):
        title += f"\nP(chosen beats baseline) = {float(p):.2f}"
    return title
