"""A report folder for a fitted Chinchilla-form law: markdown summary plus PNG figures.

``write_report(result, out_dir)`` writes ``report.md`` (what was fitted, the parameters
with approximate standard errors, what to distrust, a compute-optimal plan table, links to
the figures), ``plan.csv`` and four figures. Every file is written to a temporary name and
renamed into place, so a reader never sees a half-written file; ``report.md`` is written
last.

The plan follows Hoffmann et al. 2022 (arXiv 2203.15556, eq. 4): with C = k N D,
N_opt(C) = G (C/k)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)),
D_opt = (C/k)/N_opt.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglaws._version import __version__
from scalinglaws.errors import ScalingLawsError
from scalinglaws.fitting.result import FitResult
from scalinglaws.planning.compute import plan_compute
from scalinglaws.plotting.chinchilla import (
    isoflop_profiles_note,
    plot_isoflop_profiles,
    plot_loss_contours,
    plot_parity,
    plot_posterior_bands,
)

#: Compute budgets (FLOPs) of the default plan table; 5.76e23 is Chinchilla's own budget.
DEFAULT_BUDGETS = (1e20, 1e21, 1e22, 1e23, 5.76e23, 1e24)
_FORM_PARAMS = ("E", "A", "B", "alpha", "beta")

#: File name -> one-line caption, in the order the report shows them. The caption of
#: ``isoflop_profiles.png`` gains the figure's note on budgets not drawn, when it has one.
FIGURES = {
    "loss_contours.png": "Predicted loss over model size N and tokens D, with the "
    "compute-optimal frontier and isoFLOP lines.",
    "isoflop_profiles.png": "IsoFLOP profiles: observed loss against model size at fixed "
    "compute, with the fitted law's curves and their minima.",
    "parity.png": "Predicted against observed loss for every run, and residuals against compute.",
    "compute_optimal.png": "Compute-optimal model size and the loss it reaches, against "
    "compute (5-95% band over uncertainty draws when the fit carries them).",
}


def write_report(
    result: FitResult,
    out_dir: str | os.PathLike[str],
    *,
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Write a report folder for a fitted Chinchilla-form law; return the ``report.md`` path.

    L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, arXiv 2203.15556). The
    plan table gives, per compute budget C, N_opt = G (C/k)^(beta/(alpha+beta)),
    D_opt = (C/k)/N_opt, tokens per parameter and the loss there; with uncertainty draws
    attached (``result.uncertainty``) each entry carries its 5-95% interval.

    Args:
        result: A fit of a Chinchilla-form law (``E, A, B, alpha, beta``), e.g.
            ``fit(laws.chinchilla(), runs)``; the figures of the runs need ``result.data``.
        out_dir: Folder to write into (created if missing; files of the same names are
            replaced).
        budgets: Compute budgets C in FLOPs for the plan table.
        title: Heading of the report (default: names the law).
        dpi: Resolution of the PNG figures.

    Returns:
        Path of the written ``report.md``.

    Raises:
        ScalingLawsError: The law is not of the Chinchilla form, a budget is not a positive
            number, or the folder cannot be written.
    """
    missing = [n for n in _FORM_PARAMS if n not in result.params]
    if missing:
        raise ScalingLawsError(
            f"write_report needs a Chinchilla-form law (parameters {list(_FORM_PARAMS)}); "
            f"{result.law.name!r} lacks {missing}"
        )
    budget_arr = np.atleast_1d(np.asarray(budgets, dtype=float))
    bad = np.flatnonzero(~np.isfinite(budget_arr) | (budget_arr <= 0))
    if budget_arr.size == 0 or bad.size:
        shown = budget_arr[bad[0]] if bad.size else "none"
        raise ScalingLawsError(f"budgets must be positive FLOP counts; got {shown}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScalingLawsError(f"cannot create report folder {out}: {exc.strerror}") from None

    plan = plan_table(result, budget_arr)
    _atomic_write_text(out / "plan.csv", plan.to_csv(index=False))
    figures = _write_figures(result, out, dpi)
    text = _markdown(result, plan, figures, title or f"{result.law.name} scaling-law fit")
    path = out / "report.md"
    _atomic_write_text(path, text)
    return path


def plan_table(result: FitResult, budgets: Sequence[float]) -> pd.DataFrame:
    """Compute-optimal plan per budget, with quantile columns when draws are attached.

    The table of :func:`scalinglaws.planning.plan_compute`: N_opt = G (C/k)^(beta/(alpha+beta)),
    D_opt = (C/k)/N_opt (Hoffmann et al. 2022, arXiv 2203.15556).

    Returns:
        Columns ``C, N_opt, D_opt, tokens_per_param, loss`` and, with draws,
        ``<column>_q05, <column>_q50, <column>_q95``.
    """
    return plan_compute(result, budgets)


# ---------------------------------------------------------------------- figures
def _write_figures(result: FitResult, out: Path, dpi: int) -> dict[str, str]:
    """Write the figures; return file name -> caption, in the order written."""
    # Figures are built with the object API (no pyplot), so writing a report keeps no
    # global figure state and needs no display. matplotlib is imported here, on first use,
    # because it is slow to import and only the figures need it.
    from matplotlib.figure import Figure

    written = []
    captions = dict(FIGURES)
    has_runs = result.data is not None

    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    plot_loss_contours(result, ax=fig.add_subplot())
    written.append(_save(fig, out / "loss_contours.png", dpi))

    if has_runs:
        fig = Figure(figsize=(7.0, 5.0), layout="constrained")
        plot_isoflop_profiles(result, ax=fig.add_subplot())
        written.append(_save(fig, out / "isoflop_profiles.png", dpi))
        note = isoflop_profiles_note(result)
        if note:
            captions["isoflop_profiles.png"] += f" {note}"

        fig = Figure(figsize=(11.0, 4.6), layout="constrained")
        plot_parity(result, axes=fig.subplots(1, 2))
        written.append(_save(fig, out / "parity.png", dpi))

    fig = Figure(figsize=(12.0, 4.8), layout="constrained")
    plot_posterior_bands(result, axes=fig.subplots(1, 2))
    written.append(_save(fig, out / "compute_optimal.png", dpi))
    return {name: captions[name] for name in written}


def _save(fig, path: Path, dpi: int) -> str:
    tmp = _temp_beside(path)
    try:
        fig.savefig(tmp, format="png", dpi=dpi)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScalingLawsError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.name


def _temp_beside(path: Path) -> Path:
    # A unique hidden name in the same folder, so the final rename is atomic; created by
    # the writer with the default mode (the user's umask applies).
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _temp_beside(path)
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScalingLawsError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- markdown
def _si(x: float, unit: str = "") -> str:
    """69.1e9 -> '69.1B' (K, M, B, T); small or huge values in scientific notation."""
    if not math.isfinite(x):
        return "n/a"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale and abs(x) < 1e3 * scale:
            return f"{x / scale:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}"


def _flops(x: float) -> str:
    exp = math.floor(math.log10(x))
    return f"{x / 10**exp:.3g}e{exp}"


def _with_interval(plan: pd.DataFrame, i: int, name: str, fmt: Callable[[float], str]) -> str:
    value = fmt(float(plan[name].iat[i]))
    lo, hi = f"{name}_q05", f"{name}_q95"
    if lo in plan.columns and hi in plan.columns:
        return f"{value} [{fmt(float(plan[lo].iat[i]))}, {fmt(float(plan[hi].iat[i]))}]"
    return value


def _markdown(result: FitResult, plan: pd.DataFrame, figures: Mapping[str, str], title: str) -> str:
    lines = [f"# {title}", "", f"Written by scalinglaws {__version__}.", ""]
    lines += _fitted_section(result)
    lines += _parameters_section(result)
    lines += _warnings_section(result, plan)
    lines += _plan_section(result, plan)
    lines += _figures_section(figures)
    return "\n".join(lines)


def _fitted_section(result: FitResult) -> list[str]:
    """What was fitted: the law, the runs, the objective and solver, the uncertainty."""
    law = result.law
    unc = result.uncertainty
    lines = ["## What was fitted", ""]
    lines.append(f"- Law: `{law.name}` (version {law.version}), {law.description}")
    if law.reference:
        lines.append(f"- Reference: {law.reference}")
    data = result.data
    if data is not None and {"N", "D"} <= set(data.columns):
        n, d = data["N"].to_numpy(float), data["D"].to_numpy(float)
        c = data["C"].to_numpy(float) if "C" in data.columns else result.k * n * d
        ratio = d / n
        lines.append(
            f"- Runs: {result.n_runs}; N {_si(n.min())} to {_si(n.max())} parameters, "
            f"D {_si(d.min())} to {_si(d.max())} tokens, C {_flops(c.min())} to "
            f"{_flops(c.max())} FLOPs, {ratio.min():.3g} to {ratio.max():.3g} tokens per "
            "parameter"
        )
    else:
        lines.append(f"- Runs: {result.n_runs}")
    delta = result.options.get("delta")
    objective = "sum of Huber losses" + (f" (delta {delta:g})" if delta else "")
    residual = "log-loss" if law.residual == "log" else "loss"
    lines.append(
        f"- Objective: {objective} on {residual} residuals = {result.objective:.10g}; "
        f"solver status **{result.status}**; search `{result.options.get('search')}`, "
        f"{len(result.starts)} starts polished"
    )
    rms = float(np.sqrt(np.mean(np.asarray(result.residuals) ** 2)))
    lines.append(f"- RMS {residual} residual: {rms:.4g}")
    lines.append(f"- FLOPs per parameter per token k = {result.k:g} (C = k N D)")
    if unc.method == "none":
        lines.append(
            "- Uncertainty: none attached; standard errors below are Gauss-Newton "
            "approximations at the optimum and the plan has no intervals"
        )
    else:
        state = "converged" if unc.converged else "**FAILED its diagnostics**"
        lines.append(f"- Uncertainty: {unc.method}, {unc.n_draws} draws, {state}")
    lines.append("")
    return lines


def _parameters_section(result: FitResult) -> list[str]:
    """One row per parameter: value, approximate s.e. and, with draws, its 5-95% range."""
    lines = ["## Parameters", ""]
    se = result.standard_errors()
    draws = result.uncertainty.draws
    header = "| parameter | meaning | value | approx. s.e. |"
    rule = "|---|---|---:|---:|"
    if draws:
        header += " 5% | 95% |"
        rule += "---:|---:|"
    lines += [header, rule]
    for spec in result.law.params:
        row = f"| {spec.name} | {spec.doc} | {result.params[spec.name]:.6g} | {se[spec.name]:.3g} |"
        if draws:
            if spec.name in draws:
                q05, q95 = np.nanquantile(np.asarray(draws[spec.name], float), [0.05, 0.95])
                row += f" {q05:.4g} | {q95:.4g} |"
            else:
                row += " | |"
        lines.append(row)
    lines.append("")
    return lines


def _warnings_section(result: FitResult, plan: pd.DataFrame) -> list[str]:
    """The fit's flags and warnings and the plan's, each once, in order."""
    lines = ["## Warnings", ""]
    messages = [*result.flags(), *result.warnings, *plan.attrs.get("warnings", [])]
    seen = []
    for msg in messages:
        if msg not in seen:
            seen.append(msg)
    lines += [f"- {m}" for m in seen] if seen else ["None: nothing in this fit was flagged."]
    lines.append("")
    return lines


def _plan_section(result: FitResult, plan: pd.DataFrame) -> list[str]:
    """The compute-optimal plan table; budgets beyond the largest run are flagged."""
    unc = result.uncertainty
    lines = ["## Compute-optimal plan", ""]
    lines.append(
        "N_opt = G (C/k)^(beta/(alpha+beta)) with G = (alpha A / (beta B))^(1/(alpha+beta)), "
        "D_opt = (C/k) / N_opt (Hoffmann et al. 2022, arXiv 2203.15556)."
    )
    if any(col.endswith("_q05") for col in plan.columns):
        lines.append(f"Brackets: 5-95% interval over the {unc.n_draws} {unc.method} draws.")
    lines.append("")
    lines.append(
        "| compute C (FLOPs) | model size N_opt (parameters) | tokens D_opt | "
        "tokens per parameter | loss (nats/token) | note |"
    )
    lines.append("|---:|---:|---:|---:|---:|---|")
    for i, note in enumerate(plan_notes(result, plan)):
        c = float(plan["C"].iat[i])
        lines.append(
            f"| {_flops(c)} | {_with_interval(plan, i, 'N_opt', _si)} | "
            f"{_with_interval(plan, i, 'D_opt', _si)} | "
            f"{_with_interval(plan, i, 'tokens_per_param', lambda x: f'{x:.3g}')} | "
            f"{_with_interval(plan, i, 'loss', lambda x: f'{x:.4g}')} | {note} |"
        )
    lines += ["", "The same table at full precision: [plan.csv](plan.csv).", ""]
    return lines


def largest_compute(result: FitResult) -> float | None:
    """The largest training compute among the fit's runs, in FLOPs (None without runs).

    Parameters
    ----------
    result : FitResult
        A fit carrying its data (``N`` and ``D``, and ``C`` when the log had it).

    Returns
    -------
    float or None
        max C over the runs, with C = k N D where the log gave no compute.
    """
    data = result.data
    if data is None or not {"N", "D"} <= set(data.columns):
        return None
    return float(
        data["C"].max() if "C" in data.columns else (result.k * data["N"] * data["D"]).max()
    )


def plan_notes(result: FitResult, plan: pd.DataFrame) -> list[str]:
    """The note of each row of a compute-optimal plan, as ``report.md`` prints it.

    A budget beyond the largest run's compute is marked ``"extrapolated: Rx the largest
    run's compute"`` (R = C / max C over the runs); other rows get ``""``.

    Parameters
    ----------
    result : FitResult
        The fit the plan came from (its runs give the largest compute).
    plan : pandas.DataFrame
        A plan with a ``C`` column (budgets in FLOPs), e.g. :func:`plan_table`.

    Returns
    -------
    list of str
        One note per row of ``plan``.
    """
    largest = largest_compute(result)
    notes = []
    for c in plan["C"].to_numpy(dtype=float):
        note = ""
        if largest is not None and c > largest:
            ratio = c / largest
            times = f"{ratio:.3g}" if ratio < 100 else f"{ratio:,.0f}"
            note = f"extrapolated: {times}x the largest run's compute"
        notes.append(note)
    return notes


def _figures_section(figures: Mapping[str, str]) -> list[str]:
    """Each figure with its caption (file name -> caption, as written)."""
    lines = ["## Figures", ""]
    for name, caption in figures.items():
        alt = name.removesuffix(".png").replace("_", " ")
        lines += [f"![{alt}]({name})", "", f"*{caption}*", ""]
    if "parity.png" not in figures:
        lines += ["The fit carries no runs, so the figures of the data are left out.", ""]
    return lines
