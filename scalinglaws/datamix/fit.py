"""``fit_datamix``: a mixture model per validation domain, and the target they predict.

Every validation domain gets its own model of loss as a function of the mixture (and
size N and training length D, when the proxies vary them): a :class:`~scalinglaws.laws.Law` fitted by the common :func:`scalinglaws.fit`
path (the data-mixing law, or RegMix's regression baselines) with its parameter
uncertainty, or the Gaussian-process model (:mod:`scalinglaws.datamix.gp`). The target a
plan minimises is one validation domain, a weighted average of several, or their mean.

Uncertainty is carried as *function draws*: S posterior draws of every domain's loss
surface, evaluated consistently at any mixtures asked (:meth:`DataMixFit.draw_fn`), so
that a planner can minimise each draw over the simplex and a design engine can score
candidate proxies from the same ensemble. Domains are fitted separately, so their draws
are independent.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalinglaws.datamix.laws import (
    DEFAULT_N_REF,
    LENGTH_REFS,
    make_law,
    pilot_starts,
    weight_inputs,
)
from scalinglaws.datamix.runs import MixtureRuns, load_mixture_runs
from scalinglaws.errors import FitError, PlanError, ScalingLawsWarning
from scalinglaws.fitting.result import FitResult

MODELS = ("mixing", "linear", "loglinear", "gp")
UNCERTAINTIES = ("laplace", "bootstrap", "none")
#: Huber threshold of the law fits: far above any log-loss residual of a proxy study
#: (RegMix's are ~0.01-0.05), so the fit is least squares, as Ye et al. and RegMix fit.
LEAST_SQUARES_DELTA = 1.0
#: Function draws kept per domain.
DEFAULT_DRAWS = 500
#: Relative spread of sizes below which a study counts as one scale.
ONE_SCALE_RTOL = 1e-6
TRANSFER_NOTE = (
    "the proxies were trained at one scale{at}: predicted values hold at that scale only; "
    "at other scales only the ranking of mixtures is claimed"
)
#: A fit nested in length but not in size (one proxy size, several lengths).
ONE_SIZE_NOTE = (
    "the proxies were trained at one model size{at}: the length law moves predicted values "
    "across training lengths at that size only; at other sizes only the ranking of "
    "mixtures is claimed"
)
#: A fit nested in size whose proxies were all trained for one length.
ONE_LENGTH_NOTE = (
    "the proxies were all trained for one length{at}: the size law moves predicted values "
    "across sizes at that length only; at other lengths only the ranking of mixtures is "
    "claimed"
)
#: A fit nested in size whose proxy sizes were each trained for their own length.
TIED_LENGTH_NOTE = (
    "each proxy size was trained for its own length ({col} {lengths}): the size law carries "
    "size and length together, so a prediction at N assumes the length grows with N as in "
    "the proxies"
)
#: What the length column means, for messages.
LENGTH_WHAT = {"D": "token counts D", "step": "steps"}


@dataclass(frozen=True)
class Target:
    """What a plan minimises: a weighted average of validation losses.

    Attributes:
        name: ``"mean"``, a domain name, or ``"weighted"``.
        weights: ``{validation domain: weight}``, summing to one.
    """

    name: str
    weights: Mapping[str, float]

    def describe(self) -> str:
        if self.name == "mean":
            return f"mean of {len(self.weights)} validation losses"
        if len(self.weights) == 1:
            return f"{next(iter(self.weights))} validation loss"
        return "weighted loss " + ", ".join(f"{d}={w:.3g}" for d, w in self.weights.items())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weights": dict(self.weights)}


def target_spec(target: Any, domains: Sequence[str]) -> Target:
    """A :class:`Target` from ``"mean"``, a domain name, ``"a=0.5,b=0.5"`` or a mapping.

    Raises:
        FitError: An unknown domain, or weights that are negative or all zero.
    """
    domains = list(domains)
    if isinstance(target, Target):
        target = dict(target.weights) if target.name != "mean" else "mean"
    if target is None or target == "mean":
        return Target("mean", {d: 1.0 / len(domains) for d in domains})
    if isinstance(target, str) and "=" not in target:
        if target not in domains:
            raise FitError(
                f"target domain {target!r} is not a validation domain of these runs "
                f"(they are: {', '.join(domains)}; or 'mean')"
            )
        return Target(target, {target: 1.0})
    if isinstance(target, str):
        pairs = {}
        for part in target.split(","):
            key, _, val = part.partition("=")
            try:
                pairs[key.strip()] = float(val)
            except ValueError:
                raise FitError(f"target weight {part.strip()!r} is not 'domain=number'") from None
        target = pairs
    if not isinstance(target, Mapping) or not target:
        raise FitError(
            f"target must be 'mean', a domain name or {{domain: weight}}, not {target!r}"
        )
    unknown = [d for d in target if d not in domains]
    if unknown:
        raise FitError(
            f"target domains {unknown} are not validation domains ({', '.join(domains)})"
        )
    w = {str(d): float(v) for d, v in target.items()}
    if any(not math.isfinite(v) or v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise FitError("target weights must be finite, non-negative and not all zero")
    total = sum(w.values())
    return Target("weighted", {d: v / total for d, v in w.items() if v > 0})


@dataclass(frozen=True)
class DomainModel:
    """One validation domain's fitted model, behind one interface.

    Attributes:
        domain: The validation domain.
        kind: ``"law"`` or ``"gp"``.
        fit: The :class:`FitResult` (law) or the GP model.
        noise: Standard deviation of a run's log loss around the model (its noise).
        n_runs: Runs with a loss for this domain.
    """

    domain: str
    kind: str
    fit: Any
    noise: float
    n_runs: int

    def mean(self, r: np.ndarray, n: np.ndarray | None, d: np.ndarray | None = None) -> np.ndarray:
        """Point prediction of the loss at mixtures ``r`` (m, K) (and sizes ``n``,
        lengths ``d``; each used only by a law nested in it)."""
        if self.kind == "gp":  # the GP's centre on the loss scale (the median with a log target)
            centre = np.asarray(self.fit.predict(r)[0])
            return np.exp(centre) if self.fit.target == "log" else centre
        return np.asarray(self.fit.predict(_inputs_frame(self.fit.law, r, n, d)))

    def draw_fn(self, n_draws: int, seed: int) -> Callable[..., Any]:
        """A pure JAX function ``f(r (m, K), n (m,) or None, d (m,) or None) -> (S, m)`` of
        loss draws (every parameter drawn, so a nested law's draws carry the uncertainty
        of its size and length exponents)."""
        if self.kind == "gp":
            g = self.fit.function_draws(n_draws, seed)
            log_target = self.fit.target == "log"

            def fg(r, n=None, d=None):
                out = g(r)
                return jnp.exp(out) if log_target else out

            return fg
        law = self.fit.law
        draws = self.fit.uncertainty.draws
        if draws:
            s = len(next(iter(draws.values())))
            idx = np.random.default_rng(seed).choice(s, size=n_draws, replace=s < n_draws)
            p = {k: jnp.asarray(np.asarray(v, dtype=float)[idx]) for k, v in draws.items()}
        else:  # no uncertainty: every draw is the point fit
            p = {k: jnp.full(n_draws, float(v)) for k, v in self.fit.params.items()}
        names = law.inputs

        def f(r, n=None, d=None):
            r = jnp.asarray(r)
            inputs = {w: r[:, j][None, :] for j, w in enumerate(names) if w.startswith("w_")}
            if "N" in names:
                inputs["N"] = jnp.asarray(n)[None, :]
            if "D" in names:
                inputs["D"] = jnp.asarray(d)[None, :]
            return law.predict({k: v[:, None] for k, v in p.items()}, inputs)

        return f


def _inputs_frame(
    law, r: np.ndarray, n: np.ndarray | None, d: np.ndarray | None = None
) -> pd.DataFrame:
    cols = {w: r[:, j] for j, w in enumerate(i for i in law.inputs if i.startswith("w_"))}
    if "N" in law.inputs:
        if n is None:
            raise PlanError("this mixture law is nested with size: give the model size N")
        cols["N"] = np.broadcast_to(np.asarray(n, dtype=float), (r.shape[0],))
    if "D" in law.inputs:
        if d is None:
            raise PlanError("this mixture law is nested with length: give the training length D")
        cols["D"] = np.broadcast_to(np.asarray(d, dtype=float), (r.shape[0],))
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class DataMixFit:
    """The outcome of :func:`fit_datamix`.

    Attributes:
        model: ``"mixing"``, ``"linear"``, ``"loglinear"`` or ``"gp"``.
        runs: The proxy runs fitted.
        target: What plans minimise.
        domains: Per validation domain, its :class:`DomainModel`.
        sizes: Distinct model sizes of the proxies (empty when unknown).
        nested: Whether the law is nested with a size law (several sizes).
        options: The settings used, for records and refits (``n_ref``, ``d_ref``,
            ``length_column``, ...).
        warnings: Messages the user should read.
        noise_corr: Correlation of a run's log-loss noise across the fitted validation
            domains (:attr:`domains` order), estimated from the runs' residuals and shrunk
            towards the identity; ``None`` means independent noise. A run's noise is
            shared by its domains (one data order, one seed), so intervals for a target
            over several domains are too narrow without it.
        lengths: Distinct training lengths of the proxies, in the unit of
            :attr:`length_column` (empty when the runs record none).
        length_nested: Whether the law is nested with a length law (some size trained
            for several lengths, or checkpoints of each run).
        length_column: ``"D"`` (tokens) or ``"step"``: the runs' column the lengths come
            from, and the unit of ``D`` in predictions and plans; None without one.
    """

    model: str
    runs: MixtureRuns
    target: Target
    domains: Mapping[str, DomainModel]
    sizes: tuple[float, ...]
    nested: bool
    options: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    noise_corr: np.ndarray | None = None
    lengths: tuple[float, ...] = ()
    length_nested: bool = False
    length_column: str | None = None
    _draw_cache: dict = field(default_factory=dict, compare=False, repr=False)

    # ---------------------------------------------------------------- properties
    @property
    def training_domains(self) -> tuple[str, ...]:
        return self.runs.domains

    @property
    def converged(self) -> bool:
        return all(m.kind == "gp" or m.fit.converged for m in self.domains.values())

    @property
    def one_scale(self) -> bool:
        """Neither nested in size nor in length: values hold at the proxies' scale only."""
        return not self.nested and not self.length_nested

    @property
    def length_name(self) -> str:
        """The length column's name in messages (``D`` or ``step``)."""
        return self.length_column or "D"

    def _at(self, size: bool, length: bool) -> str:
        parts = []
        if size and len(self.sizes) == 1:
            parts.append(f"N = {self.sizes[0]:.3g}")
        if length and len(self.lengths) == 1:
            parts.append(f"{self.length_name} = {self.lengths[0]:.3g}")
        return f" ({', '.join(parts)})" if parts else ""

    def transfer_note(self) -> str:
        """What the fit cannot carry across scales, in one sentence ("" when nested in
        both size and length)."""
        if self.one_scale:
            return TRANSFER_NOTE.format(at=self._at(True, True))
        if not self.nested:
            return ONE_SIZE_NOTE.format(at=self._at(True, False))
        if self.length_nested:
            return ""
        if len(self.lengths) == 1:
            return ONE_LENGTH_NOTE.format(at=self._at(False, True))
        if len(self.lengths) > 1:
            shown = f"{self.lengths[0]:.3g} .. {self.lengths[-1]:.3g}"
            return TIED_LENGTH_NOTE.format(col=self.length_name, lengths=shown)
        return ""

    # ---------------------------------------------------------------- inputs
    def mixtures(self, mixtures: Any) -> np.ndarray:
        """Mixtures as an ``(m, K)`` array over :attr:`training_domains`.

        Accepts a DataFrame or mapping with one column per training domain (names as in
        the runs, or ``w_<domain>``), a ``{domain: weight}`` dict for one mixture, or an
        array with K columns. Rows must be non-negative and sum to one within 1e-6.
        """
        k = len(self.training_domains)
        if isinstance(mixtures, Mapping) and all(np.ndim(v) == 0 for v in mixtures.values()):
            mixtures = pd.DataFrame([dict(mixtures)])
        if isinstance(mixtures, Mapping):
            mixtures = pd.DataFrame(dict(mixtures))
        if isinstance(mixtures, pd.DataFrame):
            cols = {c[2:] if str(c).startswith("w_") else str(c): c for c in mixtures.columns}
            unknown = [c for c in cols if c not in self.training_domains]
            if unknown:
                raise PlanError(
                    f"mixture columns {unknown} are not training domains "
                    f"({', '.join(self.training_domains)})"
                )
            r = np.column_stack(
                [
                    mixtures[cols[d]].to_numpy(dtype=float)
                    if d in cols
                    else np.zeros(len(mixtures))
                    for d in self.training_domains
                ]
            )
        else:
            r = np.atleast_2d(np.asarray(mixtures, dtype=float))
            if r.shape[-1] != k:
                raise PlanError(
                    f"a mixture has {k} weights (one per training domain), not {r.shape[-1]}"
                )
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise PlanError("mixture weights must be finite and non-negative")
        off = np.abs(r.sum(axis=1) - 1)
        if np.any(off > 1e-6):
            i = int(np.argmax(off))
            raise PlanError(f"mixture {i}: weights sum to {r[i].sum():.6g}, not 1")
        return r

    def sizes_for(self, r: np.ndarray, n: Any) -> np.ndarray | None:
        """Model sizes for predictions at ``r``: refuses a scale the fit cannot reach."""
        if not self.nested:
            if n is not None:
                asked = np.unique(np.asarray(n, dtype=float))
                at = self.sizes[0] if len(self.sizes) == 1 else None
                if at is None or np.any(np.abs(asked / at - 1) > ONE_SCALE_RTOL):
                    raise PlanError(
                        (
                            "the proxies were trained at one scale"
                            if self.one_scale
                            else "the proxies were trained at one model size"
                        )
                        + (f" (N = {at:.3g})" if at else " (no size column)")
                        + f", so values at N = {asked[0]:.3g} cannot be predicted; fit proxies "
                        "at 2-4 sizes (model='mixing' nests a size law), or compare mixtures "
                        "by rank at the proxy scale"
                    )
            return None
        if n is None:
            raise PlanError(
                "the fit is nested with a size law: give the model size N to predict at "
                f"(proxy sizes {', '.join(f'{s:.3g}' for s in self.sizes)})"
            )
        out = np.broadcast_to(np.asarray(n, dtype=float), (r.shape[0],)).copy()
        if not np.all(np.isfinite(out)) or np.any(out <= 0):
            raise PlanError("model size N must be a positive number")
        return out

    def lengths_for(self, r: np.ndarray, d: Any) -> np.ndarray | None:
        """Training lengths for predictions at ``r``: refuses a length the fit cannot reach.

        A fit nested with a length law needs ``d`` (in the unit of :attr:`length_column`);
        any other fit takes no ``d`` but its proxies' one length (values do not transfer
        across lengths without a length law).
        """
        what = "tokens" if self.length_column != "step" else "steps"
        if not self.length_nested:
            if d is not None:
                asked = np.unique(np.asarray(d, dtype=float))
                at = self.lengths[0] if len(self.lengths) == 1 else None
                if at is None or np.any(np.abs(asked / at - 1) > ONE_SCALE_RTOL):
                    if at is not None:
                        why = f"were trained for one length ({self.length_name} = {at:.3g})"
                    elif self.lengths:
                        why = (
                            f"have one length per size ({self.length_name} "
                            f"{self.lengths[0]:.3g} .. {self.lengths[-1]:.3g}, carried by the "
                            "size law)"
                        )
                    else:
                        why = "have no length column (D or step)"
                    raise PlanError(
                        f"the proxies {why}, so values at {self.length_name} = "
                        f"{asked[0]:.3g} {what} cannot be predicted (values do not transfer "
                        "across lengths); train proxies for 2-4 lengths per size or keep "
                        "several checkpoints of each (model='mixing' nests a length law), "
                        "or compare mixtures by rank"
                    )
            return None
        if d is None:
            raise PlanError(
                f"the fit is nested with a length law: give the training length D ({what}) "
                "to predict at (proxy lengths "
                f"{', '.join(f'{v:.3g}' for v in self.lengths)})"
            )
        out = np.broadcast_to(np.asarray(d, dtype=float), (r.shape[0],)).copy()
        if not np.all(np.isfinite(out)) or np.any(out <= 0):
            raise PlanError(f"training length D ({what}) must be a positive number")
        return out

    # ---------------------------------------------------------------- predictions
    def draw_fn(self, n_draws: int = DEFAULT_DRAWS, seed: int = 0):
        """``f(r (m, K), n, d) -> (S, m, V)``: consistent posterior draws of every validation
        domain's loss (a pure JAX function; the same S surfaces whatever ``r``); ``n`` and
        ``d`` (m,) sizes and lengths, or None where the fit is not nested in them."""
        key = (int(n_draws), int(seed))
        if key not in self._draw_cache:
            fns = [m.draw_fn(n_draws, seed + 7919 * i) for i, m in enumerate(self.domains.values())]

            def f(r, n=None, d=None):
                return jnp.stack([g(r, n, d) for g in fns], axis=-1)

            self._draw_cache[key] = f
        return self._draw_cache[key]

    def target_weights(self) -> np.ndarray:
        """The target's weight on each validation domain, in :attr:`domains` order."""
        return np.asarray([self.target.weights.get(d, 0.0) for d in self.domains])

    def predict(
        self,
        mixtures: Any,
        *,
        N: Any = None,
        D: Any = None,
        level: float = 0.9,
        n_draws: int = DEFAULT_DRAWS,
        seed: int = 0,
        per_domain: bool = False,
    ) -> pd.DataFrame:
        """Predicted target loss at mixtures, with intervals.

        ``N`` (model size) is needed by a fit nested in size, ``D`` (training length, in
        the unit of :attr:`length_column`) by one nested in length; a fit not nested in
        one of them predicts at its proxies' value only (:meth:`sizes_for`,
        :meth:`lengths_for`).

        Columns: ``target`` (point prediction), ``mean`` (posterior mean), ``lo``/``hi``
        (``level`` credible interval of the expected loss), ``pred_lo``/``pred_hi`` (of a
        new run's loss, noise included); with ``per_domain`` also ``<domain>`` point
        predictions per validation domain.
        """
        if not 0 < level < 1:
            raise PlanError(f"level must be in (0, 1), not {level!r}")
        r = self.mixtures(mixtures)
        n = self.sizes_for(r, N)
        d = self.lengths_for(r, D)
        point = np.column_stack([m.mean(r, n, d) for m in self.domains.values()])
        wt = self.target_weights()
        with jax.enable_x64(True):
            draws = np.asarray(
                self.draw_fn(n_draws, seed)(
                    jnp.asarray(r),
                    None if n is None else jnp.asarray(n),
                    None if d is None else jnp.asarray(d),
                )
            )
        tdraw = draws @ wt
        rng = np.random.default_rng(seed + 1)
        sig = np.asarray([m.noise for m in self.domains.values()])
        z = rng.standard_normal(draws.shape)
        if self.noise_corr is not None:
            z = z @ np.linalg.cholesky(self.noise_corr).T
        noisy = (draws * np.exp(sig * z)) @ wt
        a = (1 - level) / 2
        out = pd.DataFrame(
            {
                "target": point @ wt,
                "mean": tdraw.mean(axis=0),
                "lo": np.quantile(tdraw, a, axis=0),
                "hi": np.quantile(tdraw, 1 - a, axis=0),
                "pred_lo": np.quantile(noisy, a, axis=0),
                "pred_hi": np.quantile(noisy, 1 - a, axis=0),
            }
        )
        if per_domain:
            for j, domain in enumerate(self.domains):
                out[domain] = point[:, j]
        return out

    def report(self) -> str:
        """A plain-text summary: model, target, per-domain fit quality, notes."""
        n_runs = (
            f"{len(self.runs)} proxy runs"
            if len(self.runs)
            else f"{max((m.n_runs for m in self.domains.values()), default=0)} proxy runs "
            "(read from a record)"
        )
        lines = [
            f"data mixture: {self.model} model over {len(self.training_domains)} training "
            f"domains, {len(self.domains)} fitted validation domains, {n_runs}",
            f"  target: {self.target.describe()}",
            "  sizes: "
            + (", ".join(f"{s:.3g}" for s in self.sizes) or "not given")
            + ("  (nested size law)" if self.nested else ""),
            f"  lengths ({self.length_name}): "
            + (", ".join(f"{v:.3g}" for v in self.lengths) or "not given")
            + ("  (nested length law)" if self.length_nested else ""),
            "",
            f"  {'validation domain':<22} {'runs':>5} {'noise (log)':>12}  status",
        ]
        for d, m in self.domains.items():
            status = "gp" if m.kind == "gp" else m.fit.status
            lines.append(f"  {d:<22} {m.n_runs:>5} {m.noise:>12.4g}  {status}")
        if self.noise_corr is not None:
            off = self.noise_corr[np.triu_indices(len(self.domains), 1)]
            lines.append(
                f"  run noise shared across validation domains: correlation {off.mean():.2f} "
                f"on average ({off.min():.2f} .. {off.max():.2f}; shrunk towards 0)"
            )
        msgs = list(self.warnings)
        if msgs:
            lines += ["", "  notes:", *(f"  - {w}" for w in msgs)]
        return "\n".join(lines)


def _law_domain(
    model: str,
    runs: MixtureRuns,
    domain: str,
    nested: bool,
    n_ref: float,
    uncertainty: str,
    samples: int,
    seed: int,
    delta: float,
    length_column: str | None = None,
    d_ref: float = LENGTH_REFS["D"],
) -> DomainModel:
    from scalinglaws.fitting.fit import fit as point_fit
    from scalinglaws.uncertainty import attach

    length = length_column is not None
    law = make_law(model, runs.domains, size=nested, n_ref=n_ref, length=length, d_ref=d_ref)
    y = runs.losses[domain].to_numpy(dtype=float)
    keep = np.isfinite(y)
    r = runs.weights.to_numpy(dtype=float)[keep]
    df = pd.DataFrame(r, columns=weight_inputs(runs.domains))
    n = runs.meta["N"].to_numpy(dtype=float)[keep] if nested else None
    if nested:
        df["N"] = n
    d = runs.meta[length_column].to_numpy(dtype=float)[keep] if length_column else None
    if length:
        df["D"] = d
    df["loss"] = y[keep]
    if "run" in runs.meta.columns:
        df["run"] = runs.meta["run"].to_numpy()[keep]
    starts = pilot_starts(law, r, y[keep], n, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        res: FitResult = point_fit(law, df, starts=starts, delta=delta, top_k=3)
        if uncertainty != "none":
            res = attach(res, uncertainty, samples=samples, seed=seed)
    resid = np.asarray(res.residuals)
    dof = max(len(resid) - len(law.params), 1)
    noise = float(np.sqrt(np.sum(resid**2) / dof))
    if law.residual == "linear":  # loss-scale residuals -> log scale
        noise = float(noise / np.mean(y[keep]))
    return DomainModel(domain=domain, kind="law", fit=res, noise=noise, n_runs=int(keep.sum()))


def _shared_run_noise(models: Mapping[str, DomainModel], uncertainty: str) -> str | None:
    """The caveat of Laplace or posterior draws on checkpoints of fewer runs (see
    :func:`scalinglaws.uncertainty.shared_run_noise`), or ``None``."""
    from scalinglaws.uncertainty import shared_run_noise

    if uncertainty not in ("laplace", "bayes"):
        return None
    fit = next((m.fit for m in models.values() if m.kind == "law"), None)
    if fit is None:
        return None
    return shared_run_noise(fit, "Laplace" if uncertainty == "laplace" else "The posterior")


def _gp_domain(
    runs: MixtureRuns, domain: str, seed: int, options: Mapping[str, Any]
) -> DomainModel:
    import importlib

    gp = importlib.import_module("scalinglaws.datamix.gp")

    y = runs.losses[domain].to_numpy(dtype=float)
    keep = np.isfinite(y)
    model = gp.fit_gp(runs.weights.to_numpy(dtype=float)[keep], y[keep], seed=seed, **options)
    noise = float(model.noise_log)
    return DomainModel(domain=domain, kind="gp", fit=model, noise=noise, n_runs=int(keep.sum()))


def _several_per_size(runs: MixtureRuns, col: str) -> tuple[float, np.ndarray] | None:
    """The first size (0.0 without a size column) with several values of ``col``, and
    those values; None when every size has one."""
    by = runs.meta["N"] if "N" in runs.meta.columns else pd.Series(0.0, index=runs.meta.index)
    frame = pd.DataFrame({"N": by.to_numpy(dtype=float), col: runs.meta[col].to_numpy()})
    counts = frame.dropna().groupby("N")[col].nunique()
    if not (counts > 1).any():
        return None
    n = float(counts[counts > 1].index[0])
    return n, np.unique(frame.loc[frame["N"] == n, col].dropna().to_numpy(dtype=float))


def length_design(runs: MixtureRuns) -> tuple[str | None, tuple[float, ...], bool]:
    """The runs' length column, its distinct values and whether a length law is needed.

    The column is ``D`` (tokens) when the runs have it, else ``step``; but when ``D`` is
    one value per size and ``step`` varies within a size (checkpoints of runs planned
    for one token count), ``step`` is the length. A length law is needed when some size
    was trained for several lengths (or each run has several checkpoints); lengths tied
    one-to-one to sizes are carried by the size law.

    Returns:
        ``(column or None, distinct lengths, nested in length)``.
    """
    present = [c for c in ("D", "step") if c in runs.meta.columns]
    if not present:
        return None, (), False
    varying = [c for c in present if _several_per_size(runs, c) is not None]
    col = (varying or present)[0]
    vals = np.unique(runs.meta[col].to_numpy(dtype=float))
    return col, tuple(float(v) for v in vals), bool(varying)


def _refuse_several_lengths(runs: MixtureRuns, col: str, model: str) -> None:
    """The regressions and the GP have no token or step term: proxies of one size trained
    for different lengths (or several checkpoints of each run) would be pooled as if they
    were alike."""
    found = _several_per_size(runs, col)
    if found is None:
        return
    n, vals = found
    at = f" at N = {n:.3g}" if "N" in runs.meta.columns else ""
    raise FitError(
        f"the proxies{at} were trained for {len(vals)} different {LENGTH_WHAT[col]} "
        f"({vals[0]:.3g} .. {vals[-1]:.3g}); model {model!r} has no token or step term, so "
        f"select one length per run (e.g. where='{col} == {vals[-1]:.6g}', the last "
        f"checkpoints), drop the {col} column if it does not matter, or use "
        "model='mixing' (nested with a length law)"
    )


def noise_correlation(
    runs: MixtureRuns, models: Mapping[str, DomainModel], length_column: str | None = None
) -> np.ndarray | None:
    """Correlation of the runs' log-loss residuals across the fitted validation domains.

    ``length_column`` names the runs' length column a length-nested model needs.

    Residuals are ``log(loss) - log(model)`` on the runs with every fitted domain's loss.
    The sample correlation is shrunk towards the identity with weight ``V / (V + n)``
    (V domains, n runs), which keeps it positive definite and leaves little of a
    correlation estimated from few runs. ``None`` for one domain or fewer than ``V + 2``
    complete runs (independent noise).
    """
    names = list(models)
    v = len(names)
    if v < 2:
        return None
    y = runs.losses[names].to_numpy(dtype=float)
    keep = np.all(np.isfinite(y) & (y > 0), axis=1)
    n_rows = int(keep.sum())
    if n_rows < v + 2:
        return None
    r = runs.weights.to_numpy(dtype=float)[keep]
    n = runs.meta["N"].to_numpy(dtype=float)[keep] if "N" in runs.meta.columns else None
    ln = (
        runs.meta[length_column].to_numpy(dtype=float)[keep]
        if length_column and length_column in runs.meta.columns
        else None
    )
    fitted = np.column_stack([models[d].mean(r, n, ln) for d in names])
    resid = np.log(y[keep]) - np.log(np.maximum(fitted, 1e-300))
    sd = resid.std(axis=0)
    if not np.all(np.isfinite(sd) & (sd > 0)):
        return None
    corr = np.corrcoef(resid, rowvar=False)
    lam = v / (v + n_rows)
    return (1 - lam) * corr + lam * np.eye(v)


def fit_datamix(
    runs: Any,
    *,
    target: Any = "mean",
    model: str = "mixing",
    uncertainty: str = "laplace",
    samples: int = 1000,
    seed: int = 0,
    n_ref: float = DEFAULT_N_REF,
    d_ref: float | None = None,
    delta: float = LEAST_SQUARES_DELTA,
    validation: Sequence[str] | None = None,
    gp_options: Mapping[str, Any] | None = None,
    **load_options: Any,
) -> DataMixFit:
    """Fit a data-mixture model to proxy runs: one model per validation domain.

    Args:
        runs: A :class:`MixtureRuns`, or a path/table for :func:`load_mixture_runs`
            (``losses=`` and the other loader options pass through ``load_options``).
        target: What plans minimise: ``"mean"`` of the validation losses, one domain's
            name, ``"a=0.7,b=0.3"`` or ``{domain: weight}``.
        model: ``"mixing"`` (Ye et al.'s law; nested with a size law when the proxies
            have several sizes N, and with a length law when some size was trained for
            several lengths, :func:`length_design`), ``"linear"``, ``"loglinear"``
            (RegMix's regressions) or ``"gp"`` (Gaussian process,
            :mod:`scalinglaws.datamix.gp`); these three have one scale and refuse several
            lengths per size.
        uncertainty: For the laws: ``"laplace"`` (default), ``"bootstrap"`` or ``"none"``.
            The GP's uncertainty is its posterior.
        samples: Parameter draws per domain.
        seed: Seed of every random choice.
        n_ref: Reference size of the nested size law.
        d_ref: Reference length of the nested length law, in the length column's unit
            (default :data:`~scalinglaws.datamix.laws.DEFAULT_D_REF` tokens for ``D``,
            :data:`~scalinglaws.datamix.laws.DEFAULT_STEP_REF` for ``step``).
        delta: Huber threshold of the law fits (default: least squares).
        validation: Fit only these validation domains (default: all; the target's
            domains are always fitted).
        gp_options: Options for :func:`scalinglaws.datamix.gp.fit_gp`.

    Returns:
        A :class:`DataMixFit`.

    Raises:
        FitError: Unknown model or target, too few runs, or cross-scale needs unmet.
        RunLogError: From loading.
    """
    if model not in MODELS:
        raise FitError(f"unknown mixture model {model!r}; known: {', '.join(MODELS)}")
    if uncertainty not in UNCERTAINTIES:
        raise FitError(
            f"uncertainty must be one of {', '.join(UNCERTAINTIES)}, not {uncertainty!r}"
        )
    if not isinstance(runs, MixtureRuns):
        runs = load_mixture_runs(runs, **load_options)
    elif load_options:
        raise FitError(
            f"loader options {sorted(load_options)} need a path or table, not loaded runs"
        )
    tgt = target_spec(target, runs.targets)
    fit_domains = list(runs.targets if validation is None else validation)
    unknown = [d for d in fit_domains if d not in runs.targets]
    if unknown:
        raise FitError(
            f"validation domains {unknown} are not in the runs ({', '.join(runs.targets)})"
        )
    for d in tgt.weights:
        if d not in fit_domains:
            fit_domains.append(d)
    length_col, lengths, length_nested = length_design(runs)
    if length_nested and model != "mixing":
        assert length_col is not None
        _refuse_several_lengths(runs, length_col, model)
    sizes = runs.sizes
    nested = len(sizes) > 1
    notes = list(runs.notes)
    if nested and model != "mixing":
        raise FitError(
            f"the proxies have {len(sizes)} sizes; model {model!r} has no size term "
            "(use model='mixing', nested with a size law, or select one size with where=)"
        )
    if d_ref is None:
        d_ref = LENGTH_REFS[length_col or "D"]
    if not (isinstance(d_ref, int | float) and math.isfinite(d_ref) and d_ref > 0):
        raise FitError(f"d_ref must be a positive number, not {d_ref!r}")
    n_params = len(runs.domains) + 1 + int(nested) + int(length_nested)
    if len(runs) <= n_params:
        raise FitError(
            f"{len(runs)} proxy runs cannot determine a mixture law over {len(runs.domains)} "
            f"training domains ({n_params} parameters per validation domain); at least "
            f"{n_params + 1} are needed, several times that in practice"
        )
    models: dict[str, DomainModel] = {}
    for i, d in enumerate(fit_domains):
        if model == "gp":
            models[d] = _gp_domain(runs, d, seed + i, dict(gp_options or {}))
        else:
            models[d] = _law_domain(
                model,
                runs,
                d,
                nested,
                n_ref,
                uncertainty,
                samples,
                seed + i,
                delta,
                length_column=length_col if length_nested else None,
                d_ref=float(d_ref),
            )
    corr = noise_correlation(runs, models, length_col if length_nested else None)
    options = {
        "model": model,
        "uncertainty": uncertainty if model != "gp" else "gp",
        "samples": int(samples),
        "seed": int(seed),
        "n_ref": float(n_ref),
        "d_ref": float(d_ref),
        "length_column": length_col,
        "delta": float(delta),
        "validation": list(fit_domains),
        **({"gp": dict(gp_options)} if gp_options else {}),
        # The loader keywords (all but the losses file), so a record can be refitted alike.
        **(
            {"load": load}
            if (load := {k: v for k, v in load_options.items() if k != "losses"})
            else {}
        ),
    }
    out = DataMixFit(
        model=model,
        runs=runs,
        target=tgt,
        domains=models,
        sizes=sizes,
        nested=nested,
        options=options,
        warnings=(),
        noise_corr=corr,
        lengths=lengths,
        length_nested=length_nested,
        length_column=length_col,
    )
    if note := out.transfer_note():
        notes.append(note)
    if caveat := _shared_run_noise(models, uncertainty):
        notes.append(caveat)
    bad = [d for d, m in models.items() if m.kind == "law" and not m.fit.converged]
    if bad:
        notes.append(
            f"the fits of {', '.join(bad)} did not converge; their predictions are suspect"
        )
    return dataclasses.replace(out, warnings=tuple(dict.fromkeys(notes)))
