"""Test helpers for users' own suites: the same drift gate as ``scalinglaws check``."""

from __future__ import annotations

from pathlib import Path

from scalinglaws import checking


def assert_fit_matches(record: str | Path, *, strict: bool = True) -> None:
    """Refit a recorded law from its data and fail if it drifted beyond its tolerances.

    Example (in a user's ``tests/test_laws.py``)::

        from scalinglaws.testing import assert_fit_matches

        def test_chinchilla_law_is_stable():
            assert_fit_matches("fits/chinchilla/our_runs/v3.json")

    Args:
        record: A record file, or a folder (its latest ``v<N>.json`` is used).
        strict: A missing data file fails (default); ``False`` lets it pass as skipped.

    Raises:
        AssertionError: With the comparison table, on drift, a changed data file, a
            missing data file (when strict) or an unusable record.
    """
    paths = checking.latest_records([record])
    if not paths:
        raise AssertionError(f"no fit record found at {record}")
    for path in paths:
        result = checking.check_record(path, strict=strict)
        if result.status not in (checking.PASS, checking.SKIPPED):
            raise AssertionError("fitted law drifted from its record:\n" + result.table())
