"""Record registries on disk: ``fits/<family>/<dataset>/v<N>.json``, append-only.

Records are never edited: a new fit is a new version, and tools read the latest version
(numeric order: v10 after v9). Data paths inside a record are relative to the record's
own folder, so a registry works from any checkout location.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from scalinglaws.errors import RecordError
from scalinglaws.io.files import nearest_existing

_VERSION = re.compile(r"^v(\d+)\.json$")


def version_of(path: Path) -> int:
    """The version number of a record file named ``v<N>.json``.

    Raises:
        RecordError: The file is not named ``v<N>.json``.
    """
    m = _VERSION.match(path.name)
    if not m:
        raise RecordError(f"{path}: record files are named v<N>.json")
    return int(m.group(1))


def latest_records(paths: Iterable[str | Path]) -> list[Path]:
    """The latest version in every record folder under the given files or folders.

    A record file named explicitly is returned as it is.

    Raises:
        RecordError: A path does not exist.
    """
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found[p.resolve()] = p
            continue
        if not p.exists():
            raise RecordError(f"{p} does not exist")
        for f in p.rglob("v*.json"):
            if not _VERSION.match(f.name):
                continue
            key = f.parent.resolve()
            if key not in found or version_of(f) > version_of(found[key]):
                found[key] = f
    return sorted(found.values())


def next_version_path(folder: str | Path) -> Path:
    """``folder/v<N+1>.json`` where ``N`` is the latest version there (0 when none)."""
    folder = Path(folder)
    versions = [version_of(f) for f in folder.glob("v*.json") if _VERSION.match(f.name)]
    return folder / f"v{max(versions, default=0) + 1}.json"


def resolve_data_path(record_path: Path, data_path: str) -> Path:
    """A record's data path, resolved against the record's folder when relative."""
    p = Path(data_path)
    return p if p.is_absolute() else (Path(record_path).parent / p).resolve()


def registry_target(fits_dir: str | Path, family: str, dataset: str, *, bump: bool = False) -> Path:
    """The next record path ``FITS_DIR/FAMILY/DATASET/v<N>.json`` (records are append-only).

    Args:
        fits_dir: Registry root.
        family: The law or pipeline name (the first folder level).
        dataset: Dataset name (the second folder level).
        bump: Return the next version when one exists.

    Raises:
        RecordError: A version exists and ``bump`` is false, or the dataset name is empty
            or contains a path separator.
    """
    if (
        not dataset
        or "/" in dataset
        or "\\" in dataset
        or dataset in (".", "..")
        or not dataset.isprintable()
    ):
        raise RecordError(f"dataset must be a plain folder name, not {dataset!r}")
    folder = Path(fits_dir) / family / dataset
    above = nearest_existing(folder)
    if above.exists() and not above.is_dir():  # refused before the fit, not at the write
        raise RecordError(
            f"registry folder {str(folder)!r} lies under {str(above)!r}, not a folder"
        )
    existing = latest_records([folder]) if folder.exists() else []
    if existing and not bump:
        raise RecordError(
            f"{existing[0]} exists and records are append-only; pass --bump to write "
            f"{next_version_path(folder).name}"
        )
    return next_version_path(folder)
