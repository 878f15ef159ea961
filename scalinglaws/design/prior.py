"""A prior to design a first study from, when there are no runs yet."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scalinglaws.errors import ScalingLawsError
from scalinglaws.laws.base import Law, check_params


@dataclass(frozen=True)
class Prior:
    """Draws of a law's parameters before any run: the law's prior, or a published fit.

    Without a ``centre`` the draws come from the law's weakly-informative prior
    (:class:`~scalinglaws.laws.ParamSpec` ``prior_loc`` / ``prior_scale``, normal on the
    internal scale, clipped to the bounds). With a ``centre`` (e.g.
    :data:`~scalinglaws.laws.EPOCH_2024` or :data:`~scalinglaws.laws.HOFFMANN_2022`) they
    are normal around it on the internal scale with the stated ``spread``: the standard
    deviation of log(value) for log-scale parameters (``E, A, B``: 0.1 is about 10%), and
    of value / |centre| for the others (``alpha, beta``: 0.1 is 10% of the exponent).

    Attributes:
        law: The law.
        centre: Parameter values to centre on (natural units), or None.
        spread: Relative spread, one number or one per parameter.
        noise: Run-to-run noise sd expected on the residual scale (log loss: 0.01 is 1%).
        n: Number of draws.
        seed: Seed of the draws.
        k: FLOPs per parameter per token.
    """

    law: Law
    centre: Mapping[str, float] | None = None
    spread: float | Mapping[str, float] = 0.1
    noise: float = 0.01
    n: int = 1000
    seed: int = 0
    k: float = 6.0
    label: str = field(default="", compare=False)

    def draws(self) -> dict[str, np.ndarray]:
        """The prior draws in natural units, ``{name: (n,)}``.

        Raises:
            ScalingLawsError: Bad ``n``, ``noise``, ``spread`` or centre.
        """
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 2:
            raise ScalingLawsError(f"a prior needs at least 2 draws, not {self.n!r}")
        if not (math.isfinite(self.noise) and self.noise > 0):
            raise ScalingLawsError(f"the prior's noise must be positive, not {self.noise!r}")
        rng = np.random.default_rng(self.seed)
        centre = None if self.centre is None else check_params(self.law, self.centre)
        out = {}
        for p in self.law.params:
            z = rng.standard_normal(self.n)
            if centre is None:
                theta = p.prior_loc + p.prior_scale * z
            else:
                s = (
                    self.spread
                    if not isinstance(self.spread, Mapping)
                    else self.spread.get(p.name, 0.1)
                )
                if not (math.isfinite(float(s)) and float(s) >= 0):
                    raise ScalingLawsError(f"the prior spread of {p.name} must be >= 0, not {s}")
                c = p.to_internal(centre[p.name])
                theta = c + float(s) * (1.0 if p.log_scale else abs(c)) * z
            lo, hi = p.internal_bounds()
            theta = np.clip(theta, lo, hi)
            out[p.name] = np.exp(theta) if p.log_scale else theta
        return out

    def describe(self) -> str:
        """One line: what the prior is."""
        if self.centre is None:
            what = f"the {self.law.name} law's weakly-informative prior"
        else:
            name = self.label or "a given centre"
            what = f"normal around {name}, relative spread {self.spread}"
        return f"{what}; {self.n} draws (seed {self.seed}), noise sd {self.noise:g}"
