"""Regenerate the simulated continual-pre-training curves in this folder.

Run from the repository root: ``python data/cmr/regenerate.py``. Writes
``simulated_curves.csv`` (the run log) and ``simulated_truth.json`` (the parameters it
was drawn from). Deterministic for a given seed on a given platform.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scalinglaws.simulate.cmr import simulate_cpt_curves

SEED = 0
HERE = Path(__file__).resolve().parent


def _finite(obj):
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else "-inf"
    return obj


def main() -> None:
    runs, truth = simulate_cpt_curves(seed=SEED)
    runs.to_csv(HERE / "simulated_curves.csv", index=False, float_format="%.10g")
    truth = {"generator": "scalinglaws.simulate.cmr.simulate_cpt_curves", "seed": SEED, **truth}
    (HERE / "simulated_truth.json").write_text(json.dumps(_finite(truth), indent=1) + "\n")


if __name__ == "__main__":
    main()
