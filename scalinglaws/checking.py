"""Drift checks: refit a recorded fit from its data and compare (DESIGN §7).

One checker for every kind of record (:mod:`scalinglaws.io.records`), dispatched on
``kind``: a ``law`` record is refitted with :func:`scalinglaws.fit` and the recorded
options; a ``pipeline`` record (``cmr``) is refitted from the data with
:func:`scalinglaws.mixture.fit_cmr` and its recorded options and seed, and the point
parameters of every part and the derived quantities at the anchors are compared.
:func:`check_new_runs` answers the other CI question: do runs added after recording fall
inside the recorded law's predictive intervals, and how far does the plan move?

A registry lays records out as ``fits/<law>/<dataset>/v<N>.json``
(:mod:`scalinglaws.io.registry`); the check compares the latest version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import jax
import numpy as np
import pandas as pd

from scalinglaws.datamix import record as datamix_record  # registers the "datamix" reader
from scalinglaws.errors import RecordError, RunLogError, ScalingLawsError, ScalingLawsWarning
from scalinglaws.fitting.fit import fit
from scalinglaws.fitting.result import FitResult
from scalinglaws.io import policy as _policy
from scalinglaws.io.columns import read_table
from scalinglaws.io.policy import (
    DEFAULT_MAX_OUTSIDE,
    DEFAULT_PLAN_RTOL,
    DEFAULT_TIME_LIMIT,
)
from scalinglaws.io.records import (
    LAW,
    describe_record,
    read_record,
    record_name,
    record_object,
    result_from_record,
    sha256_file,
)
from scalinglaws.io.registry import (
    latest_records,
    next_version_path,
    resolve_data_path,
    version_of,
)
from scalinglaws.io.runs import load_runs
from scalinglaws.laws.base import Law
from scalinglaws.laws.cmr import DOMAIN_KEYS
from scalinglaws.mixture.pipeline import CMRFit, fit_cmr, ratio_key
from scalinglaws.mixture.record import cmr_fit_from_record
from scalinglaws.mixture.runs import select_curves
from scalinglaws.sparsity import load_sparse_runs
from scalinglaws.uncertainty.conformal import predictive_interval

__all__ = [
    "CheckResult",
    "CheckRow",
    "LOADERS",
    "check_paths",
    "check_record",
    "exit_code",
    "latest_records",
    "load_law_data",
    "next_version_path",
    "resolve_data_path",
    "summary",
    "version_of",
]

PASS, DRIFT, SKIPPED, DIGEST, MISSING, UNUSABLE = (
    "ok",
    "DRIFT",
    "skipped",
    "DATA DIGEST MISMATCH",
    "DATA MISSING",
    "UNUSABLE",
)
#: Verdict of a row shown but not judged: a quantity the record's own fit did not
#: determine (the parameters of a curve fit stopped by its iteration limit).
NOT_COMPARED = "not compared"


@dataclass(frozen=True)
class CheckRow:
    """One compared quantity: recorded and refitted values, tolerance, verdict."""

    item: str
    recorded: float | str
    now: float | str
    tolerance: float | str
    verdict: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of checking one record."""

    path: Path
    status: str  # ok | DRIFT | skipped | DATA DIGEST MISMATCH | DATA MISSING | UNUSABLE
    message: str = ""
    rows: tuple[CheckRow, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        """Drift, a changed data file, or (with ``strict``) a missing one."""
        return self.status in (DRIFT, DIGEST, MISSING)

    def table(self) -> str:
        """The comparison as a text table, headed by the record and its status."""
        head = f"{self.path}: {self.status}" + (f" — {self.message}" if self.message else "")
        if not self.rows:
            return head
        width = max(34, *(len(r.item) for r in self.rows))
        lines = [
            head,
            f"  {'parameter/anchor':<{width}} {'recorded':>14} {'now':>14} {'tolerance':>10}  "
            "verdict",
        ]
        for r in self.rows:
            rec = f"{r.recorded:.8g}" if isinstance(r.recorded, float) else str(r.recorded)
            now = f"{r.now:.8g}" if isinstance(r.now, float) else str(r.now)
            tol = f"{r.tolerance:.1e}" if isinstance(r.tolerance, float) else str(r.tolerance)
            lines.append(f"  {r.item:<{width}} {rec:>14} {now:>14} {tol:>10}  {r.verdict}")
        return "\n".join(lines)


# ------------------------------------------------------------------ data of a law
#: law name -> loader(path, **load_options) for laws whose logs need their own reader.
#: Laws with N and D inputs use :func:`scalinglaws.load_runs`; any other law is read as a
#: plain table whose columns are its input names and its target name.
LOADERS: dict[str, Callable[..., pd.DataFrame]] = {"avgparams": load_sparse_runs}


def _loader_for(law: Law) -> Callable[..., pd.DataFrame] | None:
    """The run-log loader of a law, or None for a law read as a plain table."""
    if law.name in LOADERS:
        return LOADERS[law.name]
    if set(law.inputs) == {"N", "D"} and law.target == "loss":
        return load_runs
    return None


def _record_load_options(law: Law, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``data.load_options``, validated against the law's loader (untrusted)."""
    opts = (record.get("data") or {}).get("load_options")
    loader = _loader_for(law)
    if loader is None:
        if opts:
            raise RecordError("data.load_options: the law is refitted from a plain table")
        return {}
    return _policy.loader_options(loader, opts)


def load_law_data(
    law: Law, path: str | Path, load_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Load the data a law is fitted to, the way ``scalinglaws check`` refits it.

    Args:
        law: The law.
        path: The data file.
        load_options: Keywords of the loader (as recorded in ``data.load_options``).

    Returns:
        The runs: from the law's registered loader (:data:`LOADERS`), from
        :func:`scalinglaws.load_runs` for a law of N and D, or else the file as a plain
        table with the law's input and target columns.

    Raises:
        RunLogError: The file cannot be read or lacks a column the law needs.
    """
    opts = dict(load_options or {})
    loader = _loader_for(law)
    if loader is not None:
        return loader(path, **opts)
    if opts:
        raise RunLogError(
            f"law {law.name!r} is refitted from a plain table, which takes no load options "
            f"(got {sorted(opts)})"
        )
    table, _ = read_table(path)
    needed = [*law.inputs, law.target]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise RunLogError(
            f"{path}: law {law.name!r} is refitted from a table with columns {needed}; "
            f"{missing} missing (found {list(table.columns)})"
        )
    return table


def _data_file(path: Path, record: Mapping[str, Any], strict: bool) -> Path | CheckResult:
    """The record's data file, or the result to return when it is absent or changed.

    The path must lie under an allowed root (:mod:`scalinglaws.io.policy`); nothing
    outside is opened. Absent data under the record's repository is a failure with
    ``strict``; absent data under a declared external root is skipped, so a clone
    without that folder still passes ``--strict``.
    """
    data = record.get("data") or {}
    if not data.get("path") or not isinstance(data["path"], str):
        return CheckResult(path, UNUSABLE, "record names no data file, so it cannot be refitted")
    data_file = resolve_data_path(path, data["path"])
    try:
        where = _policy.policy_for(path).locate(data_file)
    except RecordError as exc:
        return CheckResult(path, UNUSABLE, str(exc))
    if not data_file.is_file():
        if where == _policy.EXTERNAL:
            return CheckResult(
                path, SKIPPED, f"data file {data_file} under an external root is absent"
            )
        return CheckResult(
            path,
            MISSING if strict else SKIPPED,
            f"data file {data_file} is absent"
            + (" (--strict: counted as a failure)" if strict else ""),
        )
    if not isinstance(data.get("sha256"), str) or not data["sha256"]:
        return CheckResult(
            path, DIGEST, "record has no sha256 of its data, so a changed file would pass"
        )
    digest = sha256_file(data_file)
    if digest != data["sha256"]:
        return CheckResult(
            path,
            DIGEST,
            f"data file {data_file} changed: sha256 {digest[:12]}… != recorded "
            f"{data['sha256'][:12]}…",
            (CheckRow("data sha256", data["sha256"][:16], digest[:16], "exact", DIGEST),),
        )
    return data_file


def _tolerances(record: Mapping[str, Any]) -> Mapping[str, Any]:
    rtols = (record.get("tolerances") or {}).get("params_rtol")
    return rtols if isinstance(rtols, dict) else {}


def _close(now: float, recorded: float, rtol: float) -> bool:
    return math.isclose(now, recorded, rel_tol=rtol, abs_tol=1e-12)


def _verdict(path: Path, rows: list[CheckRow]) -> CheckResult:
    drift = [r.item for r in rows if r.verdict not in (PASS, NOT_COMPARED)]
    if drift:
        return CheckResult(path, DRIFT, "drift in " + ", ".join(drift), tuple(rows))
    return CheckResult(path, PASS, "", tuple(rows))


# ------------------------------------------------------------------ law records
def refit_law(result: FitResult, runs: pd.DataFrame, options: Mapping[str, Any]) -> FitResult:
    """Refit a recorded law to runs with the recorded point-fit options."""
    options = _policy.refit_options(options, _policy.LAW_REFIT_OPTIONS)
    return fit(
        result.law,
        runs,
        search=options.get("search", "auto"),
        delta=float(options.get("delta", 1e-3)),
        top_k=int(options.get("top_k", 4)),
        max_iter=int(options.get("max_iter", 200)),
    )


def _check_law(path: Path, record: Mapping[str, Any], data_file: Path) -> CheckResult:
    result = result_from_record(record, where=str(path))
    policy = _policy.policy_for(path)
    load_opts = _record_load_options(result.law, record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        runs = load_law_data(result.law, data_file, load_opts)
        now = refit_law(result, runs, record.get("options") or {})
    rows = []
    rtols = _tolerances(record)
    for name, recorded in record["params"].items():
        tol = policy.param_tolerance(rtols.get(name))
        value = float(now.params[name])
        ok = _close(value, recorded, tol)
        rows.append(CheckRow(name, float(recorded), value, tol, PASS if ok else DRIFT))
    for anchor in record.get("anchors") or []:
        inputs = anchor["inputs"]
        value = float(np.asarray(now.predict(**inputs)).reshape(-1)[0])
        tol = policy.anchor_tolerance(anchor.get("rtol"))
        label = "pred@" + ",".join(f"{k}={v:.3g}" for k, v in inputs.items())
        ok = math.isclose(value, float(anchor["prediction"]), rel_tol=tol)
        rows.append(CheckRow(label, float(anchor["prediction"]), value, tol, PASS if ok else DRIFT))
    return _verdict(path, rows)


# ------------------------------------------------------------------ the CMR pipeline
#: The keywords of :func:`fit_cmr` a record's options may set (others are descriptive).
_FIT_CMR_OPTIONS = frozenset(inspect.signature(fit_cmr).parameters) - {"runs"}


def _option(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf") else value


#: Options of the uncertainty draws: they cannot change the point estimate (its weights
#: are the delta-method variances of the curve fits, DESIGN §5), so the check runs the
#: point pipeline only and leaves them out.
_DRAW_OPTIONS = frozenset(
    {"uncertainty", "samples", "seed", "sampler", "chains", "warmup", "max_tree_depth"}
)


def refit_cmr(record: Mapping[str, Any], data_file: str | Path) -> CMRFit:
    """Refit a CMR pipeline record's point estimate from its data with its recorded options.

    The point estimate depends on the data and the point options only, never on the draws'
    method, count or seed, so the refit skips the draws (``uncertainty="none"``): the same
    numbers, minutes faster on a CI machine.

    Raises:
        ScalingLawsError: The run log cannot be loaded or fitted.
    """
    settings = (record.get("parts") or {}).get("settings") or {}
    kwargs: dict[str, Any] = {
        "lam": settings.get("lambda"),
        "epsilon": settings.get("epsilon"),
        "token_unit": settings.get("token_unit"),
    }
    options = record.get("options") or {}
    kwargs.update(
        (k, v) for k, v in options.items() if k in _FIT_CMR_OPTIONS and k not in _DRAW_OPTIONS
    )
    kwargs = _policy.refit_options(kwargs, _policy.CMR_REFIT_OPTIONS)
    kwargs["uncertainty"] = "none"
    kwargs = {k: _option(v) for k, v in kwargs.items() if v is not None}
    load = ((record.get("data") or {}).get("load_options")) or {}
    curves, _ = select_curves(str(data_file), load.get("columns"), load.get("where"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        return fit_cmr(curves, **kwargs)


def _leaves(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(label, parameter name, value) for every number in a nested parameter dict."""
    for key, value in params.items():
        label = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _leaves(value, label)
        else:
            yield label, str(key), value


def _unconverged_curves(was: CMRFit) -> dict[tuple[str, str], dict[str, Any]]:
    """The record's curve fits stopped before converging, by (model, ratio key), with
    their split, status and objective."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in was.curves.itertuples(index=False):
        if str(row.status) != "converged":
            key = (str(row.model), ratio_key(float(row.ratio)))
            out.setdefault(key, {})[str(row.split)] = {
                "status": str(row.status),
                "objective": float(row.objective),
            }
    return out


def _cmr_param_rows(
    record: Mapping[str, Any], was: CMRFit, now: CMRFit, policy: _policy.CheckPolicy
) -> list[CheckRow]:
    """Every recorded point parameter against the refit's.

    A curve fit that the record says stopped before converging (its iteration limit, on
    a flat ridge of the general-loss law) has parameters that its data do not determine:
    where the search stopped along the ridge depends on rounding, so on another CPU they
    differ by far more than any tolerance while the fit is as good (measured: the
    bundled curves' one such fit moved its exponents by 0.5% between two CPUs, at the
    same objective to 1e-5). Its parameters are shown as not compared, and its objective
    (the fit's quality, which the data do determine) is compared instead. The T0 it
    gives is still judged through the CMR law's parameters and the anchors.
    """
    rtols = _tolerances(record)
    now_params = dict(_leaves_by_label(now.params))
    unconverged = _unconverged_curves(was)
    rows = []
    for model, parts in (record.get("params") or {}).items():
        for label, name, recorded in _leaves(parts):
            if recorded is None:
                continue  # not fitted when recorded (too few turning points)
            item = f"{model}: {label}"
            value = now_params.get(f"{model}/{label}", math.nan)
            value = math.nan if value is None else float(value)
            bits = label.split("/")
            split = "domain" if name in DOMAIN_KEYS else "general"
            stopped = (
                unconverged.get((str(model), bits[1]), {}).get(split)
                if len(bits) == 3 and bits[0] == "ratios"
                else None
            )
            if stopped is not None:
                why = str(stopped["status"])
                rows.append(CheckRow(item, float(recorded), value, why, NOT_COMPARED))
                continue
            tol = policy.param_tolerance(rtols.get(name))
            ok = _close(value, float(recorded), tol)
            rows.append(CheckRow(item, float(recorded), value, tol, PASS if ok else DRIFT))
    curves = now.curves.assign(key=[ratio_key(float(r)) for r in now.curves["ratio"]])
    for (model, rk), splits in unconverged.items():
        for split, info in splits.items():
            sel = curves[
                (curves["model"] == model) & (curves["key"] == rk) & (curves["split"] == split)
            ]
            value = float(sel["objective"].iloc[0]) if len(sel) else math.nan
            tol = policy.param_tolerance(None)
            ok = _close(value, info["objective"], tol)
            rows.append(
                CheckRow(
                    f"{model}: {split} fit objective at ratio {rk} ({info['status']})",
                    info["objective"],
                    value,
                    tol,
                    PASS if ok else DRIFT,
                )
            )
    return rows


def _leaves_by_label(params: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for label, _, value in _leaves(params):
        yield label, value


def _used_ratios(critical: pd.DataFrame, model: str) -> list[float]:
    sel = critical[(critical["model"] == model) & critical["used_in_cmr_fit"].astype(bool)]
    return sorted(float(r) for r in sel["ratio"])


def _cmr_anchor_rows(
    record: Mapping[str, Any], was: CMRFit, now: CMRFit, policy: _policy.CheckPolicy
) -> list[CheckRow]:
    rows = []
    for model in was.models:
        rec_used, now_used = _used_ratios(was.critical, model), _used_ratios(now.critical, model)
        if rec_used != now_used:
            fmt = ",".join
            rows.append(
                CheckRow(
                    f"{model}: ratios in CMR fit",
                    fmt(f"{r:.4g}" for r in rec_used),
                    fmt(f"{r:.4g}" for r in now_used),
                    "exact",
                    DRIFT,
                )
            )
    cmr = now.cmr.set_index("model")
    for anchor in record.get("anchors") or []:
        model, tok = anchor.get("model"), float(anchor.get("tokens", math.nan))
        value = math.nan
        if model in cmr.index:
            p = cmr.loc[model]
            value = float(p["alpha4"] * (tok / now.token_unit) ** p["s4"] + p["beta3"])
        recorded = float(anchor.get("cmr_unclipped", anchor["cmr"]))
        tol = policy.anchor_tolerance(anchor.get("rtol"))
        ok = math.isclose(value, recorded, rel_tol=tol)
        rows.append(
            CheckRow(f"{model}: cmr@{tok:.3g} tokens", recorded, value, tol, PASS if ok else DRIFT)
        )
    return rows


def _check_cmr(path: Path, record: Mapping[str, Any], data_file: Path) -> CheckResult:
    """Critical-mixture-ratio pipeline (Gu et al. 2024, arXiv 2407.17467): a refit from
    the data with the recorded options and seed; every part's point parameters, the
    ratios in each CMR-law fit and the CMR at the anchors are compared."""
    was = cmr_fit_from_record(record, where=str(path))  # validates every field
    now = refit_cmr(record, data_file)
    policy = _policy.policy_for(path)
    rows = _cmr_param_rows(record, was, now, policy) + _cmr_anchor_rows(record, was, now, policy)
    return _verdict(path, rows)


# ------------------------------------------------------------------ data-mixture pipeline
def _check_datamix(path: Path, record: Mapping[str, Any], data_file: Path) -> CheckResult:
    """Data-mixture pipeline (:mod:`scalinglaws.datamix`): a refit of every validation
    domain's point model from the recorded data file(s) with the recorded, validated
    options; each domain's parameters (a GP's hyperparameters), the run count and the
    predicted target at the anchors are compared."""
    datamix_record.datamix_from_record(record, where=str(path))  # validates every field
    policy = _policy.policy_for(path)
    data = record.get("data") or {}
    losses_file = None
    if data.get("losses_path") is not None:
        losses_file = resolve_data_path(path, data["losses_path"])
        policy.locate(losses_file)  # located and digested by _second_data_file already
    now = datamix_record.refit_datamix(record, data_file, losses_file)
    rtols = _tolerances(record)
    now_params = {
        (d, label): v
        for d, label, _, v in datamix_record.param_leaves(datamix_record.fit_params(now))
    }
    rows = []
    n_rec, n_now = data.get("n_runs"), len(now.runs)
    if isinstance(n_rec, int) and not isinstance(n_rec, bool):
        rows.append(
            CheckRow("runs", float(n_rec), float(n_now), "exact", PASS if n_rec == n_now else DRIFT)
        )
    for domain, label, name, recorded in datamix_record.param_leaves(record["params"]):
        value = now_params.get((domain, label), math.nan)
        value = math.nan if value is None else float(value)
        tol = policy.param_tolerance(rtols.get(name))
        ok = _close(value, float(recorded), tol)
        rows.append(
            CheckRow(f"{domain}: {label}", float(recorded), value, tol, PASS if ok else DRIFT)
        )
    for anchor in record.get("anchors") or []:
        recorded = float(anchor["target"])
        value = datamix_record.anchor_value(now, anchor)
        tol = policy.anchor_tolerance(anchor.get("rtol"))
        ok = math.isclose(value, recorded, rel_tol=tol)
        label = f"target@{anchor.get('label', 'mixture')}"
        rows.append(CheckRow(label, recorded, value, tol, PASS if ok else DRIFT))
    return _verdict(path, rows)


def _second_data_file(
    path: Path, record: Mapping[str, Any], strict: bool
) -> Path | CheckResult | None:
    """A record's second data file (``data.losses_path``, e.g. a data-mixture study's
    losses), validated like the first: allowed roots, presence, SHA-256."""
    data = record.get("data") or {}
    if data.get("losses_path") is None:
        if data.get("losses_sha256") is not None:
            return CheckResult(path, UNUSABLE, "record has data.losses_sha256 but no losses_path")
        return None
    if not isinstance(data["losses_path"], str) or not data["losses_path"]:
        return CheckResult(path, UNUSABLE, "data.losses_path must be a path")
    return _data_file(
        path, {"data": {"path": data["losses_path"], "sha256": data.get("losses_sha256")}}, strict
    )


#: pipeline name -> checker(path, record, data file).
PIPELINE_CHECKERS: dict[str, Callable[[Path, Mapping[str, Any], Path], CheckResult]] = {
    "cmr": _check_cmr,
    "datamix": _check_datamix,
}


# ------------------------------------------------------------------ the one checker
def _checker_for(record: Mapping[str, Any], path: Path) -> Callable[..., CheckResult]:
    if record["kind"] == LAW:
        return _check_law
    if record_name(record) in PIPELINE_CHECKERS:
        return PIPELINE_CHECKERS[record_name(record)]
    raise RecordError(f"{path}: no drift check for {describe_record(record)}")


class _TimeLimit(BaseException):
    """Raised inside a check by the interval timer when its time is up (a BaseException,
    like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_TimeLimit` in this thread after ``seconds`` of wall time.

    Uses the POSIX interval timer, so it acts only in the main thread of a POSIX process
    (elsewhere there is no limit), and between computations: a single compiled call runs
    to its end before the limit is noticed.
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _expire(signum: int, frame: Any) -> None:
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def check_record(
    path: str | Path, *, strict: bool = False, time_limit: float | None = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """Refit one record from its data and compare with its tolerances.

    Dispatches on the record's ``kind``: a law record is refitted with
    :func:`scalinglaws.fit`, a pipeline record with its pipeline's checker
    (:data:`PIPELINE_CHECKERS`). A record that cannot be read, or refitted, is
    ``UNUSABLE``; a changed data file is a digest mismatch; an absent one is skipped (a
    failure with ``strict``). A check that takes longer than ``time_limit`` seconds (None
    or 0: no limit) is stopped and ``UNUSABLE``.
    """
    path = Path(path)
    try:
        with _time_limit(time_limit):
            res = _check_record(path, strict)
    except _TimeLimit:
        res = CheckResult(
            path,
            UNUSABLE,
            f"the check took longer than its time limit of {time_limit:g} s and was stopped "
            "(--time-limit raises it)",
        )
    # Messages may quote the record or the data: one line each, whatever they hold.
    return dataclasses.replace(res, message=_policy.one_line(res.message))


def _check_record(path: Path, strict: bool) -> CheckResult:
    try:
        record = read_record(path)
        check = _checker_for(record, path)
        record_object(record, where=str(path))  # every field validated: unusable, not skipped
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, str(exc))
    data_file = _data_file(path, record, strict)
    if isinstance(data_file, CheckResult):
        return data_file
    second = _second_data_file(path, record, strict)
    if isinstance(second, CheckResult):
        return second
    try:
        return check(path, record, data_file)
    except RecordError as exc:
        return CheckResult(path, UNUSABLE, str(exc))
    except ScalingLawsError as exc:
        return CheckResult(path, UNUSABLE, f"refit failed: {exc}")
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        # A malformed field the envelope validation let through: unusable, never a crash.
        return CheckResult(path, UNUSABLE, f"malformed record ({type(exc).__name__}: {exc})")


def check_paths(
    paths: Iterable[str | Path],
    *,
    strict: bool = False,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> list[CheckResult]:
    """:func:`check_record` on the latest record in every folder under ``paths``."""
    return [check_record(p, strict=strict, time_limit=time_limit) for p in latest_records(paths)]


def exit_code(results: list[CheckResult]) -> int:
    """2 if any record is unusable, else 1 on drift or digest mismatch, else 0."""
    if any(r.status == UNUSABLE for r in results):
        return 2
    if any(r.failed for r in results):
        return 1
    return 0


def summary(results: list[CheckResult]) -> dict[str, Any]:
    """Number of records and the count of each status."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"records": len(results), **counts}


# ------------------------------------------------------------------ new runs
#: Default budget of the plan comparison, as a multiple of the largest compute among
#: the old and new runs: the extrapolation a team plans for (as the records' anchors).
PLAN_BUDGET_FACTOR = 100.0


@dataclass(frozen=True)
class NewRunsCheck:
    """Outcome of checking new runs against a law record (:func:`check_new_runs`).

    Attributes:
        rows: One dict per new run: its name, inputs, observed and predicted value, the
            predictive interval, whether it is inside, the residual and how far beyond
            the interval (on the law's residual scale: log loss for loss laws), and the
            residual in predictive standard deviations.
        summary: Counts, the share outside, the plan at the budget before and after
            adding the runs, the thresholds, ``failed`` and ``exit_code``.
        warnings: Messages the user should read (e.g. a plan move not checked).
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    warnings: list[str]

    @property
    def failed(self) -> bool:
        """Too many runs outside their intervals, or the plan moved too far."""
        return bool(self.summary["failed"])

    def table(self) -> str:
        """A text report: the runs outside their intervals and the plan move."""
        s = self.summary
        lines = [
            f"{s['record']}: {s['n_outside']} of {s['n_new_runs']} new runs outside the "
            f"{s['level']:.0%} predictive intervals (share {s['share_outside']:.2f}, allowed "
            f"{s['max_outside']:.2f})"
        ]
        resid = (
            "log_residual" if "log_residual" in (self.rows[0] if self.rows else {}) else "residual"
        )
        for r in self.rows:
            if not r["inside"]:
                lines.append(
                    f"  {r['run']}: observed {r['observed']:.6g}, interval "
                    f"[{r['lo']:.6g}, {r['hi']:.6g}], {resid} {r[resid]:+.4g} "
                    f"({r['beyond']:+.4g} beyond the interval, {r['sd']:+.2f} sd)"
                )
        if s.get("plan_checked"):
            lines.append(
                f"  plan at C={s['budget']:.3g}: N_opt {s['N_opt_recorded']:.4g} -> "
                f"{s['N_opt_refit']:.4g} ({s['N_opt_rel_change']:+.2%}), D_opt "
                f"{s['D_opt_recorded']:.4g} -> {s['D_opt_refit']:.4g} "
                f"({s['D_opt_rel_change']:+.2%}); allowed {s['plan_rtol']:.2%}"
            )
        lines.append("FAIL" if self.failed else "ok")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _run_names(runs: pd.DataFrame) -> list[str]:
    if "run" in runs.columns:
        return [str(v) for v in runs["run"]]
    return [f"row {i}" for i in range(len(runs))]


def _interval_rows(result: FitResult, runs: pd.DataFrame, seed: int) -> tuple[list[dict], float]:
    """Per run: the recorded law's predictive interval and where the observation fell."""
    law = result.law
    if result.uncertainty.n_draws == 0 and result.calibration is None:
        raise RecordError(
            f"the {law.name} record carries no uncertainty draws and no calibration, so it "
            "has no predictive intervals; record it with --uncertainty laplace, bootstrap "
            "or bayes"
        )
    inputs = {c: runs[c].to_numpy(dtype=float) for c in law.inputs}
    interval = predictive_interval(result, inputs, seed=seed)
    level = float(interval.attrs["level"])
    z = NormalDist().inv_cdf(0.5 + 0.5 * level)
    scale = np.log if law.residual == "log" else np.asarray
    obs = runs[law.target].to_numpy(dtype=float)
    pred, lo, hi = (interval[c].to_numpy(dtype=float) for c in ("predicted", "lo", "hi"))
    resid = scale(obs) - scale(pred)
    half = np.where(resid >= 0, scale(hi) - scale(pred), scale(pred) - scale(lo))
    beyond = np.where(
        obs > hi, scale(obs) - scale(hi), np.where(obs < lo, scale(obs) - scale(lo), 0.0)
    )
    key = "log_residual" if law.residual == "log" else "residual"
    rows = []
    for i, name in enumerate(_run_names(runs)):
        rows.append(
            {
                "run": name,
                **{c: float(inputs[c][i]) for c in law.inputs},
                "observed": float(obs[i]),
                "predicted": float(pred[i]),
                "lo": float(lo[i]),
                "hi": float(hi[i]),
                "inside": bool(lo[i] <= obs[i] <= hi[i]),
                key: float(resid[i]),
                "beyond": float(beyond[i]),
                "sd": float(resid[i] / (half[i] / z)) if half[i] > 0 else math.inf,
            }
        )
    return rows, level


def _compute_optimal(law: Law, params: Mapping[str, float], budget: float, k: float):
    with jax.enable_x64(True):
        size, tokens = law.derived_fn("compute_optimal")(dict(params), budget, k)
    return float(np.asarray(size)), float(np.asarray(tokens))


def _plan_move(
    path: Path,
    record: Mapping[str, Any],
    result: FitResult,
    new: pd.DataFrame,
    budget: float | None,
) -> tuple[dict[str, Any], list[str]]:
    """Refit on old + new runs and compare the compute-optimal plan at the budget."""
    law = result.law
    if not law.has("compute_optimal"):
        return {}, [f"law {law.name!r} has no compute-optimal frontier: plan move not checked"]
    data = record.get("data") or {}
    data_file = resolve_data_path(path, data["path"]) if data.get("path") else None
    if data_file is not None:
        _policy.policy_for(path).locate(data_file)  # never open a file outside the roots
    if data_file is None or not data_file.is_file():
        return {}, [f"the record's data file ({data.get('path')}) is absent: plan move not checked"]
    warns = []
    if data.get("sha256") and sha256_file(data_file) != data["sha256"]:
        warns.append(f"data file {data_file} changed since the record was made")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        old = load_law_data(law, data_file, _record_load_options(law, record))
        combined = pd.concat([old, new], ignore_index=True)
        refit = refit_law(result, combined, record.get("options") or {})
    if budget is None:
        if "C" not in combined.columns:
            return {}, [*warns, "no compute column and no --budget: plan move not checked"]
        budget = PLAN_BUDGET_FACTOR * float(combined["C"].max())
    n0, d0 = _compute_optimal(law, result.params, budget, result.k)
    n1, d1 = _compute_optimal(law, refit.params, budget, result.k)
    return {
        "budget": budget,
        "N_opt_recorded": n0,
        "N_opt_refit": n1,
        "N_opt_rel_change": n1 / n0 - 1.0,
        "D_opt_recorded": d0,
        "D_opt_refit": d1,
        "D_opt_rel_change": d1 / d0 - 1.0,
        "refit_params": dict(refit.params),
    }, warns


def check_new_runs(
    record_path: str | Path,
    new_runs: str | Path,
    *,
    budget: float | None = None,
    max_outside: float = DEFAULT_MAX_OUTSIDE,
    plan_rtol: float = DEFAULT_PLAN_RTOL,
    seed: int = 0,
) -> NewRunsCheck:
    """Check runs added after a law was recorded: intervals, and how far the plan moves.

    The new runs are loaded with the record's load options. Each gets the recorded law's
    predictive interval (its draws and calibration, as ``scalinglaws predict`` uses);
    runs outside are listed with how far (on the law's residual scale and in predictive
    standard deviations). The law is then refitted on the old and new runs together, and
    the compute-optimal N_opt and D_opt at ``budget`` (default 100x the largest compute)
    compared with the record's, for laws with a compute-optimal frontier.

    Args:
        record_path: A ``kind: "law"`` record.
        new_runs: The new runs (same format as the record's data).
        budget: Compute budget (FLOPs) of the plan comparison.
        max_outside: Largest share of new runs outside their intervals that passes.
        plan_rtol: Largest relative move of N_opt or D_opt that passes.
        seed: Seed of the predictive draws.

    Returns:
        A :class:`NewRunsCheck`; ``failed`` when the share outside exceeds
        ``max_outside`` or the plan moves beyond ``plan_rtol``.

    Raises:
        RecordError: Not a law record, or a record without predictive intervals.
        RunLogError: The new runs cannot be loaded.
    """
    if not 0.0 <= max_outside <= 1.0 or not plan_rtol > 0:
        raise ScalingLawsError("max_outside must be in [0, 1] and plan_rtol positive")
    path = Path(record_path)
    record = read_record(path)
    if record["kind"] != LAW:
        raise RecordError(
            f"{path} is {describe_record(record)}; checking new runs is supported for law "
            "records only (not yet for pipeline records)"
        )
    result = result_from_record(record, where=str(path))
    load_opts = _record_load_options(result.law, record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawsWarning)
        new = load_law_data(result.law, new_runs, load_opts)
    rows, level = _interval_rows(result, new, seed)
    outside = [r["run"] for r in rows if not r["inside"]]
    share = len(outside) / len(rows)
    plan, warns = _plan_move(path, record, result, new, budget)
    moved = (
        bool(plan) and max(abs(plan["N_opt_rel_change"]), abs(plan["D_opt_rel_change"])) > plan_rtol
    )
    failed = share > max_outside or moved
    summary = {
        "record": str(path),
        "new_runs": str(new_runs),
        "n_new_runs": len(rows),
        "n_outside": len(outside),
        "outside_runs": outside,
        "share_outside": share,
        "max_outside": max_outside,
        "level": level,
        "plan_checked": bool(plan),
        **plan,
        "plan_rtol": plan_rtol,
        "plan_moved": moved,
        "failed": failed,
        "exit_code": 1 if failed else 0,
    }
    return NewRunsCheck(rows=rows, summary=summary, warnings=warns)
