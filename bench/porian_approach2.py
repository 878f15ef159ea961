"""Approach 2 on every setting of Porian et al. 2024's isoFLOP points, per minimiser.

Usage (from the repository root, with ../shared/data beside it):

    .venv/bin/python bench/porian_approach2.py [path/to/isoflop_points_flat.csv]

Prints, for each setting, the N* exponent a with its 95% bootstrap interval under three
minimisers: Porian et al.'s own procedure (``akima``: spline minimum, seed-noise
bootstrap, 1/sd^2-weighted fit), the robust ``local`` parabola (5 sizes nearest the best
loss, residual bootstrap) and the whole-slice ``parabola`` (Hoffmann et al.), beside the
paper's reference values (arXiv 2406.19146, main summary table).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from scalinglaws.approaches.porian import porian_approach2

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "isoflops-porian"
DEFAULT = DEFAULT / "isoflop_points_flat.csv"


def main(path: Path) -> int:
    if not path.exists():
        print(f"skipped: {path} not found (../shared/data sits beside the repository)")
        return 0
    tables = {}
    for method in ("akima", "local", "parabola"):
        t0 = time.perf_counter()
        tables[method] = porian_approach2(path, main_only=False, method=method)
        elapsed = time.perf_counter() - t0
        print(f"{method:>8}: 15 settings in {elapsed:.2f} s (1000 bootstrap draws per slice)")
    base = tables["akima"][
        ["dataset", "source_file", "config_index", "param_count", "loss_type", "label"]
    ].copy()
    base["ref"] = tables["akima"]["reference_a"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    base["ref 95%"] = [
        "" if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]"
        for lo, hi in zip(
            tables["akima"]["reference_lo"], tables["akima"]["reference_hi"], strict=True
        )
    ]
    for method, t in tables.items():
        base[method] = [
            f"{a:.3f} [{lo:.3f}, {hi:.3f}]"
            for a, lo, hi in zip(t["a"], t["a_lo"], t["a_hi"], strict=True)
        ]
    base["source_file"] = base["source_file"].str.replace(".pickle.xz", "", regex=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(base.to_string(index=False))
    main_rows = tables["akima"]["step"] >= 0
    for method, t in tables.items():
        diff = (t.loc[main_rows, "a"] - t.loc[main_rows, "reference_a"]).abs()
        print(
            f"{method:>8}: max |a - reference| over the 10 main-table settings = {diff.max():.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
