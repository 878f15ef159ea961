"""Figures for continual-pre-training mixtures (Gu et al. 2024, arXiv 2407.17467).

Every function takes ``ax=None`` (a new figure is made) and returns the Axes; nothing is
shown or saved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalinglaws.mixture.pipeline import CMRFit, signed_term


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def plot_trajectories(fit: CMRFit, model: str, *, ax=None, n_points: int = 200):
    """Fitted trajectories per ratio in the (dL_dom, dL_gen) plane; feasible ones marked.

    Each curve runs from the first to the last observed checkpoint; feasible ratios
    (T0 <= T_max and dL_gen(T_max) <= epsilon) are solid, infeasible dashed; a dot marks
    T0 where it lies on the observed range; the horizontal line is epsilon.
    """
    ax = _axes(ax)
    import matplotlib.pyplot as plt

    cv = fit.curves[fit.curves["model"] == model]
    crit = fit.critical[fit.critical["model"] == model].set_index("ratio")
    ratios = sorted(cv["ratio"].unique())
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(ratios)))
    unit = fit.token_unit
    for color, r in zip(colors, ratios, strict=True):
        d = cv[(cv["ratio"] == r) & (cv["split"] == "domain")].iloc[0]
        g = cv[(cv["ratio"] == r) & (cv["split"] == "general")].iloc[0]
        t = np.geomspace(g["tokens_min"], g["tokens_max"], n_points) / unit
        x = d["alpha1"] * t ** d["s1"] + d["beta1"]
        y = g["alpha2"] * t ** g["s2"] + g["alpha3"] * t ** g["s3"] + g["beta2"]
        feasible = bool(crit.loc[r, "feasible"])
        ax.plot(
            x,
            y,
            color=color,
            ls="-" if feasible else "--",
            label=f"R = {r:.3g}" + (" (feasible)" if feasible else ""),
        )
        t0 = crit.loc[r, "T0"] / unit
        if np.isfinite(t0) and t.min() <= t0 <= t.max():
            ax.plot(
                d["alpha1"] * t0 ** d["s1"] + d["beta1"],
                g["alpha2"] * t0 ** g["s2"] + g["alpha3"] * t0 ** g["s3"] + g["beta2"],
                "o",
                color=color,
            )
    ax.axhline(fit.epsilon, color="0.4", lw=0.8, ls=":", label=f"epsilon = {fit.epsilon:g}")
    ax.set_xlabel("domain-loss change dL_dom")
    ax.set_ylabel("general-loss change dL_gen")
    ax.set_title(f"{model}: continual-training trajectories (dots: T0)")
    ax.legend(fontsize="small")
    return ax


def plot_loss_ratio(fit: CMRFit, model: str, *, split: str = "general", ax=None):
    """L(R) at the final budget with its fitted law; for ``general`` the epsilon band.

    The band spans the baseline to baseline + epsilon: ratios whose general loss ends
    inside it keep the general ability within tolerance.
    """
    ax = _axes(ax)
    lr = fit.loss_ratio[(fit.loss_ratio["model"] == model) & (fit.loss_ratio["split"] == split)]
    if fit.data is not None:
        sub = fit.data[(fit.data["model"] == model) & (fit.data["split"] == split)]
        last = sub.sort_values("tokens").groupby("ratio").tail(1)
        ax.plot(last["ratio"], last["loss"], "o", color="C0", label="final checkpoint")
    if len(lr) and np.isfinite(lr["alpha_R"].iloc[0]):
        p = lr.iloc[0]
        rr = np.linspace(0.05, 1.0, 200)
        ax.plot(
            rr,
            p["alpha_R"] * rr ** p["s_R"] + p["beta_R"],
            color="C1",
            label=f"L(R) = {p['alpha_R']:.3g} R^{p['s_R']:.3g} {signed_term(p['beta_R'], '.4g')}",
        )
    base = fit.baselines[(model, split)]
    if split == "general":
        ax.axhspan(
            base,
            base + fit.epsilon,
            color="C2",
            alpha=0.15,
            label=f"baseline .. baseline + epsilon ({fit.epsilon:g})",
        )
    ax.axhline(base, color="0.4", lw=0.8, ls=":", label="baseline")
    ax.set_xlabel("domain share R")
    ax.set_ylabel(f"{split} loss at the final budget")
    ax.set_title(f"{model}: {split} loss against mixture ratio")
    ax.legend(fontsize="small")
    return ax


def plot_cmr_law(
    fit: CMRFit,
    model: str,
    *,
    tokens: Sequence[float] | None = None,
    ax=None,
    quantiles: tuple[float, float] = (0.05, 0.95),
):
    """The CMR law against the token budget with its interval and the turning points.

    Turning points used in the fit are filled (hollow when extrapolated beyond the
    observed tokens); the line is the clipped law, the band its draw quantiles.
    """
    ax = _axes(ax)
    crit = fit.critical[(fit.critical["model"] == model) & fit.critical["used_in_cmr_fit"]]
    c = fit.cmr[fit.cmr["model"] == model].iloc[0]
    unit = fit.token_unit
    if tokens is None:
        lo = np.nanmin(crit["T0"]) / 2 if len(crit) else 1e8
        hi = np.nanmax(crit["tokens_max"]) * 2 if len(crit) else 1e11
        tokens = np.geomspace(lo, hi, 200)
    t = np.asarray(tokens, dtype=float)
    tu = t / unit
    if np.isfinite(c["alpha4"]):
        ax.plot(
            t,
            np.clip(c["alpha4"] * tu ** c["s4"] + c["beta3"], 0, 1),
            color="C0",
            label=f"R = {c['alpha4']:.3g} T^{c['s4']:.3g} {signed_term(c['beta3'], '.3g')}",
        )
    draws = fit.cmr_draws.get(model)
    if draws:
        a = np.asarray(draws["alpha4"])[:, None]
        s = np.asarray(draws["s4"])[:, None]
        b = np.asarray(draws["beta3"])[:, None]
        with np.errstate(all="ignore"):
            r = np.clip(a * tu[None] ** s + b, 0, 1)
        ok = np.all(np.isfinite(r), axis=1)
        if ok.any():
            lo_q, hi_q = np.quantile(r[ok], quantiles, axis=0)
            ax.fill_between(
                t,
                lo_q,
                hi_q,
                color="C0",
                alpha=0.2,
                label=f"{round(100 * (quantiles[1] - quantiles[0]))}% interval",
            )
    ext = crit["extrapolated"].to_numpy(dtype=bool)
    ax.plot(crit["T0"][~ext], crit["ratio"][~ext], "o", color="C1", label="T0(R), observed")
    ax.plot(
        crit["T0"][ext],
        crit["ratio"][ext],
        "o",
        mfc="none",
        color="C1",
        label="T0(R), extrapolated",
    )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("continual-training tokens")
    ax.set_ylabel("critical mixture ratio (domain share)")
    ax.set_title(f"{model}: CMR scaling law")
    ax.legend(fontsize="small")
    return ax
