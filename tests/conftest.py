"""Test setup: float64 on (as the command line does), seeded, real data located."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EPOCH_CSV = SHARED_DATA / "chinchilla-epoch" / "svg_extracted_data.csv"
PORIAN_CSV = SHARED_DATA / "isoflops-porian" / "isoflop_points_flat.csv"


def require_shared(path: Path) -> Path:
    """Skip the calling test with a reason when ../shared data is absent."""
    if not path.exists():
        pytest.skip(f"real data {path} is not present (../shared/data sits beside the repo)")
    return path


@pytest.fixture
def epoch_csv() -> Path:
    return require_shared(EPOCH_CSV)


@pytest.fixture
def porian_csv() -> Path:
    return require_shared(PORIAN_CSV)
