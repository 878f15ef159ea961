"""Simulated studies shared by several benches (not a test fixture: benches only)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def repeated_data_study(seed: int = 0) -> pd.DataFrame:
    """270 final losses: 6 sizes x 3 tokens-per-parameter x 5 repetition counts x 3
    learning rates. Loss = E + A/N^alpha + B/D'^beta with D' the effective data of
    Muennighoff et al. (R* = 15.4) and Hoffmann et al.'s coefficients, times a learning
    rate penalty of 3-4.5% per octave squared, times log-normal noise (sd 0.01)."""
    rng = np.random.default_rng(seed)
    e, a, b, alpha, beta, r_star = 1.69, 406.4, 410.7, 0.34, 0.28, 15.4
    rows = []
    for n in (2e7, 5e7, 1e8, 2e8, 4e8, 8e8):
        for ratio in (5, 20, 80):
            for epochs in (1, 4, 16, 60, 125):
                d = ratio * n
                unique = d / epochs
                d_eff = unique + unique * r_star * (1 - np.exp(-(epochs - 1) / r_star))
                for octave in (-1, 0, 1):
                    loss = e + a / n**alpha + b / d_eff**beta
                    loss += 0.03 * octave**2 * (1 + 0.5 * rng.random())
                    loss *= np.exp(0.01 * rng.standard_normal())
                    rows.append({"N": n, "D": d, "unique_tokens": unique, "lr_octave": octave,
                                 "loss": loss})  # fmt: skip
    return pd.DataFrame(rows)
