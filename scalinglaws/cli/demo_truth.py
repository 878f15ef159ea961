"""What ``scalinglaws demo`` prints beside its plan: the notes, and the truth of its log.

The bundled demo log (``data/demo/runs.csv``) is simulated from known parameters, recorded
in ``truth.json`` beside it. When the demo runs on that file it prints the true parameters
next to the fitted ones and the true compute-optimal model size N_opt and tokens per
parameter next to the plan's, with whether the plan's 5-95% interval holds them, so a
reader sees how far a fit of this design can be trusted. The notes are those of the
written report (:func:`scalinglaws.report.plan_notes`): budgets beyond the largest run's
compute, and the plan's own warnings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalinglaws.errors import ScalingLawsError

if TYPE_CHECKING:
    import pandas as pd

#: The bundled demo log; its truth lies beside it in ``truth.json``.
DEMO_DATA = Path(__file__).resolve().parents[2] / "data" / "demo" / "runs.csv"
_FORM_PARAMS = ("E", "A", "B", "alpha", "beta")


def bundled_truth(path: str | Path) -> dict[str, Any] | None:
    """The truth record of ``path`` when it is the bundled demo log, else None.

    Parameters
    ----------
    path : str or Path
        The run log the demo read.

    Returns
    -------
    dict or None
        The parsed ``truth.json`` (``params``, ``seed``, ``source``, ``design``, ``noise``)
        when ``path`` is the bundled ``data/demo/runs.csv``; None for any other log.

    Raises
    ------
    ScalingLawsError
        The bundled truth file is missing or unreadable.
    """
    try:
        same = Path(path).resolve() == DEMO_DATA
    except OSError:
        return None
    if not same:
        return None
    truth_path = DEMO_DATA.with_name("truth.json")
    try:
        record = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScalingLawsError(f"cannot read the demo's truth file {truth_path}: {exc}") from None
    params = record.get("params") if isinstance(record, dict) else None
    if not isinstance(params, dict) or any(k not in params for k in _FORM_PARAMS):
        raise ScalingLawsError(f"{truth_path} lacks the true parameters {list(_FORM_PARAMS)}")
    return record


def true_plan(truth: dict[str, Any], budgets: Any, k: float) -> pd.DataFrame:
    """The true compute-optimal plan of a truth record.

    N_opt = G (C/k)^(beta/(alpha+beta)), D_opt = (C/k)/N_opt with
    G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, arXiv 2203.15556).

    Parameters
    ----------
    truth : dict
        A record from :func:`bundled_truth`.
    budgets : array_like
        Compute budgets C in FLOPs.
    k : float
        FLOPs per parameter per token (C = k N D).

    Returns
    -------
    pandas.DataFrame
        Columns ``C`` (FLOPs), ``N_opt`` (parameters), ``D_opt`` (tokens),
        ``tokens_per_param``.
    """
    import jax
    import pandas as pd

    from scalinglaws.laws.chinchilla import compute_optimal

    p = {name: float(truth["params"][name]) for name in _FORM_PARAMS}
    c = np.asarray(budgets, dtype=float)
    with jax.enable_x64(True):  # scoped: float64 for this computation only
        n_opt, d_opt = (np.asarray(x, dtype=float) for x in compute_optimal(p, c, k))
    return pd.DataFrame({"C": c, "N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt})


def _holds(plan: pd.DataFrame, i: int, name: str, value: float) -> bool | None:
    lo, hi = f"{name}_q05", f"{name}_q95"
    if lo not in plan.columns or hi not in plan.columns:
        return None
    return bool(float(plan[lo].iat[i]) <= value <= float(plan[hi].iat[i]))


def truth_comparison(result: Any, plan: pd.DataFrame, truth: dict[str, Any]) -> dict[str, Any]:
    """The fit and the plan against the truth, as plain data (the demo's JSON ``truth``).

    Parameters
    ----------
    result : FitResult
        The demo's fit.
    plan : pandas.DataFrame
        Its compute-optimal plan (quantile columns ``*_q05``, ``*_q95`` when the fit
        carries draws).
    truth : dict
        A record from :func:`bundled_truth`.

    Returns
    -------
    dict
        ``params`` (name -> fitted, true), ``plan`` (one row per budget: C in FLOPs, the
        fitted and true N_opt in parameters and tokens per parameter, and whether the
        5-95% interval holds the truth: true, false, or None without an interval),
        ``source`` and ``seed``.
    """
    tp = true_plan(truth, plan["C"].to_numpy(dtype=float), float(result.k))
    rows = []
    for i in range(len(plan)):
        row: dict[str, Any] = {"C": float(plan["C"].iat[i])}
        for name in ("N_opt", "tokens_per_param"):
            true = float(tp[name].iat[i])
            row[name] = float(plan[name].iat[i])
            row[f"{name}_true"] = true
            row[f"{name}_interval_holds_truth"] = _holds(plan, i, name, true)
        rows.append(row)
    return {
        "params": {
            n: {"fitted": float(result.params[n]), "true": float(truth["params"][n])}
            for n in _FORM_PARAMS
        },
        "plan": rows,
        "source": truth.get("source"),
        "seed": truth.get("seed"),
    }


def _interval(plan: pd.DataFrame, i: int, name: str) -> str:
    value = f"{float(plan[name].iat[i]):.4g}"
    lo, hi = f"{name}_q05", f"{name}_q95"
    if lo in plan.columns and hi in plan.columns:
        return f"{value} [{float(plan[lo].iat[i]):.3g}, {float(plan[hi].iat[i]):.3g}]"
    return value


def truth_text(result: Any, plan: pd.DataFrame, truth: dict[str, Any], data: str) -> str:
    """The console block comparing the fit and the plan with the bundled log's truth.

    Parameters
    ----------
    result : FitResult
        The demo's fit.
    plan : pandas.DataFrame
        Its compute-optimal plan.
    truth : dict
        A record from :func:`bundled_truth`.
    data : str
        The run log's path, for the heading.

    Returns
    -------
    str
        Lines without a trailing newline.
    """
    cmp = truth_comparison(result, plan, truth)
    truth_file = Path(data).with_name("truth.json")
    lines = [
        f"Truth of the bundled simulated log ({truth_file}; seed {cmp['seed']})",
        f"  true parameters: {cmp['source']}",
        "",
        f"  {'parameter':<10}{'fitted':>12}{'true':>12}",
    ]
    for name, pair in cmp["params"].items():
        lines.append(f"  {name:<10}{pair['fitted']:>12.5g}{pair['true']:>12.5g}")
    with_interval = any(col.endswith("_q05") for col in plan.columns)
    lines += [
        "",
        "  Plan against the true optimum"
        + (
            " (fitted value [5-95% interval]; holds = the interval holds the truth)"
            if with_interval
            else " (no uncertainty attached: no intervals)"
        ),
        f"  {'C (FLOPs)':>10}  {'tokens/param':>24}  {'true':>8}  {'holds':>5}  "
        f"{'N_opt (parameters)':>30}  {'true':>10}  {'holds':>5}",
    ]

    def yes_no(v: bool | None) -> str:
        return "n/a" if v is None else ("yes" if v else "NO")

    for i, row in enumerate(cmp["plan"]):
        lines.append(
            f"  {row['C']:>10.3g}  {_interval(plan, i, 'tokens_per_param'):>24}  "
            f"{row['tokens_per_param_true']:>8.4g}  "
            f"{yes_no(row['tokens_per_param_interval_holds_truth']):>5}  "
            f"{_interval(plan, i, 'N_opt'):>30}  {row['N_opt_true']:>10.4g}  "
            f"{yes_no(row['N_opt_interval_holds_truth']):>5}"
        )
    return "\n".join(lines)


def notes(result: Any, plan: pd.DataFrame) -> list[str]:
    """The plan's notes as ``report.md`` gives them: extrapolation per budget, warnings.

    Parameters
    ----------
    result : FitResult
        The demo's fit.
    plan : pandas.DataFrame
        Its compute-optimal plan.

    Returns
    -------
    list of str
        ``"C = <budget> FLOPs: extrapolated: Rx the largest run's compute"`` for each
        budget beyond the runs, then the plan's warnings.
    """
    from scalinglaws.report import plan_notes

    out = [
        f"C = {float(c):.3g} FLOPs: {note}"
        for c, note in zip(plan["C"], plan_notes(result, plan), strict=True)
        if note
    ]
    return out + [str(w) for w in plan.attrs.get("warnings", [])]
