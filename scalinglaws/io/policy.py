"""What ``scalinglaws check`` trusts in a record: nothing it has not validated.

Records arrive in pull requests, so the drift gate treats each one as untrusted input:

* **Data paths** resolve only under allowed roots: the repository that holds the record,
  plus external roots the repository declares in its own ``pyproject.toml``::

      [tool.scalinglaws.check]
      data-roots = ["../shared/data"]   # relative to the repository root

  The repository is the nearest folder above the record with a ``.git`` or a
  ``pyproject.toml``; a record outside any repository may name data under the folder
  that holds its registry (``ROOT`` in ``ROOT/fits/<family>/<dataset>/v<N>.json``). A path
  elsewhere is refused before the file is opened, so no byte of it reaches any output.
* **Loader keywords** (``data.load_options``) must be keywords the loader declares, with
  plain JSON values of bounded size; **refit options** come from an allowed list with
  allowed values (a record cannot ask for an hours-long search).
* **Tolerances**: the package default (tight enough that a 1% change of any parameter is
  drift) or the repository's ``params-rtol`` / ``anchor-rtol`` under
  ``[tool.scalinglaws.check]``; a record's own tolerances may only tighten them.
* A record without the data's SHA-256 is a failure, and every message that may quote a
  record or data is escaped to a single line.
"""

from __future__ import annotations

import inspect
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglaws.errors import RecordError
from scalinglaws.io.records import DEFAULT_ANCHOR_RTOL, DEFAULT_PARAM_RTOL
from scalinglaws.io.registry import version_of

#: Where a data file lies relative to the roots: inside the record's repository, or
#: under an external root the repository declares.
IN_REPOSITORY = "repository"
EXTERNAL = "external"

#: Longest string a record may hand a loader (a column name, a row filter).
MAX_OPTION_TEXT = 1_000

#: Seconds one record's check may take by default (``check --time-limit``); a record is
#: untrusted input, and one that asks for an endless refit must not stall a CI gate.
DEFAULT_TIME_LIMIT = 600.0
#: Share of new runs allowed outside the recorded law's predictive intervals (90% by
#: default) before the check fails: twice the nominal 10%. With 10 new runs that follow
#: the recorded law, 3 or more fall outside by chance with probability 7% (binomial), so
#: false alarms are rare, while a law that bends away at scale puts most large runs out.
DEFAULT_MAX_OUTSIDE = 0.2
#: Relative move of N_opt or D_opt at the budget that fails the check. The plan at 100x
#: the largest compute is sensitive: adding 10 runs that follow the law (0.5% loss
#: scatter, 3x-10x beyond 63 recorded runs) moved N_opt by 15% and D_opt by 17% in
#: tests/io/test_check_new_runs.py, while runs from a law whose floor is 0.1 nats higher
#: moved them by 32% and 24%. 25% flags moves beyond that scatter.
DEFAULT_PLAN_RTOL = 0.25


@dataclass(frozen=True)
class CheckPolicy:
    """The roots and tolerances that apply to the records of one repository."""

    root: Path
    external_roots: tuple[Path, ...] = ()
    params_rtol: float = DEFAULT_PARAM_RTOL
    anchor_rtol: float = DEFAULT_ANCHOR_RTOL

    def locate(self, data_path: Path) -> str:
        """``IN_REPOSITORY`` or ``EXTERNAL`` for a resolved data path.

        Raises:
            RecordError: The path lies under no allowed root.
        """
        p = data_path.resolve()
        if p.is_relative_to(self.root):
            return IN_REPOSITORY
        if any(p.is_relative_to(r) for r in self.external_roots):
            return EXTERNAL
        roots = [str(self.root), *map(str, self.external_roots)]
        raise RecordError(
            f"data path {one_line(str(data_path))} lies outside the allowed roots "
            f"({', '.join(roots)}); declare an external root under "
            "[tool.scalinglaws.check] data-roots in the repository's pyproject.toml"
        )

    def param_tolerance(self, recorded: Any) -> float:
        """The record's tolerance if it is tighter, else the policy's."""
        return _tighter(recorded, self.params_rtol)

    def anchor_tolerance(self, recorded: Any) -> float:
        return _tighter(recorded, self.anchor_rtol)


def _tighter(recorded: Any, cap: float) -> float:
    if isinstance(recorded, bool) or not isinstance(recorded, int | float):
        return cap
    v = float(recorded)
    return v if math.isfinite(v) and 0 <= v < cap else cap


def repository_root(record_path: Path) -> Path | None:
    """The nearest folder above the record holding ``.git`` or ``pyproject.toml``."""
    for folder in Path(record_path).resolve().parents:
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder
    return None


def _fallback_root(record_path: Path) -> Path:
    p = Path(record_path).resolve()
    try:
        version_of(p)
    except RecordError:
        return p.parent
    # ROOT/fits/<family>/<dataset>/v<N>.json -> ROOT
    return p.parents[3] if len(p.parents) > 3 else p.parent


def policy_for(record_path: str | Path) -> CheckPolicy:
    """The policy of the repository holding a record (see the module docstring).

    Raises:
        RecordError: The repository's ``[tool.scalinglaws.check]`` table is malformed.
    """
    root = repository_root(Path(record_path))
    if root is None:
        return CheckPolicy(root=_fallback_root(Path(record_path)))
    config = _config(root)
    roots = config.get("data-roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise RecordError(f"{root}/pyproject.toml: data-roots must be a list of paths")
    return CheckPolicy(
        root=root,
        external_roots=tuple((root / r).resolve() for r in roots),
        params_rtol=_rtol(config, "params-rtol", DEFAULT_PARAM_RTOL, root),
        anchor_rtol=_rtol(config, "anchor-rtol", DEFAULT_ANCHOR_RTOL, root),
    )


def _config(root: Path) -> Mapping[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RecordError(f"{path}: unreadable ({one_line(str(exc))})") from None
    table = doc.get("tool", {}).get("scalinglaws", {}).get("check", {})
    if not isinstance(table, dict):
        raise RecordError(f"{path}: [tool.scalinglaws.check] must be a table")
    return table


def _rtol(config: Mapping[str, Any], key: str, default: float, root: Path) -> float:
    v = config.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1):
        raise RecordError(f"{root}/pyproject.toml: {key} must be a number in (0, 1)")
    return float(v)


# ------------------------------------------------------------------ options
def _is_plain(value: Any, depth: int = 0) -> bool:
    """A JSON scalar, or a short flat list / dict of them, with short strings."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value) and abs(value) < 1e300
    if isinstance(value, str):
        return len(value) <= MAX_OPTION_TEXT
    if depth == 0 and isinstance(value, list):
        return len(value) <= 64 and all(_is_plain(v, 1) for v in value)
    if depth == 0 and isinstance(value, dict):
        return len(value) <= 64 and all(
            isinstance(k, str) and len(k) <= MAX_OPTION_TEXT and _is_plain(v, 1)
            for k, v in value.items()
        )
    return False


def loader_options(loader: Callable[..., Any], options: Any) -> dict[str, Any]:
    """A record's ``data.load_options`` validated against the loader's own keywords.

    Raises:
        RecordError: Not a mapping, a keyword the loader does not declare, or a value that
            is not a plain JSON value of bounded size.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise RecordError("data.load_options must be a mapping")
    params = inspect.signature(loader).parameters
    allowed = {
        n
        for i, (n, p) in enumerate(params.items())
        if i > 0 and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    for key, value in options.items():
        if key not in allowed:
            raise RecordError(
                f"data.load_options: {one_line(str(key))!s} is not an option of the loader "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        if not _is_plain(value):
            raise RecordError(f"data.load_options.{key}: not a plain value of bounded size")
    return dict(options)


def _number(lo: float, hi: float, *, integer: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        if integer and (not isinstance(v, int) and not float(v).is_integer()):
            return False
        return math.isfinite(v) and lo <= v <= hi

    return ok


#: Refit options a law record may set, each with the test its value must pass. ``search``
#: excludes ``"hoffmann"`` (a dense grid of minutes per record); the others bound the cost.
LAW_REFIT_OPTIONS: Mapping[str, Callable[[Any], bool]] = {
    "search": lambda v: v in ("auto", "varpro", "grid"),
    "delta": _number(1e-8, 10.0),
    "top_k": _number(1, 64, integer=True),
    "max_iter": _number(1, 5_000, integer=True),
}

#: Point options a CMR pipeline record may set for its refit.
CMR_REFIT_OPTIONS: Mapping[str, Callable[[Any], bool]] = {
    "lam": lambda v: v in ("inf",) or _number(1e-12, 1e12)(v),
    "epsilon": _number(0.0, 10.0),
    "token_unit": _number(1e-30, 1e30),
    "token_unit_in": _number(1e-30, 1e30),
    "delta": lambda v: v == "auto" or _number(1e-8, 10.0)(v),
}


def refit_options(
    options: Mapping[str, Any], allowed: Mapping[str, Callable[[Any], bool]]
) -> dict[str, Any]:
    """The allowed refit options of a record, each value tested; others are descriptive
    and ignored.

    Raises:
        RecordError: An allowed option with a value outside what it may take.
    """
    out = {}
    for key, test in allowed.items():
        if key not in options or options[key] is None:
            continue
        if not test(options[key]):
            raise RecordError(
                f"options.{key} = {one_line(repr(options[key]))[:80]} is not allowed in a "
                "checked record"
            )
        out[key] = options[key]
    return out


# ------------------------------------------------------------------ output
def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: a value from a
    record or a data file can never start a new output line (a CI workflow command)."""
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append(" ")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029\u0085":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)
