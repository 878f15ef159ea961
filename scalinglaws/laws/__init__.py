"""Scaling laws as data: :class:`Law` specs and the registry records refer to."""

from __future__ import annotations

from collections.abc import Callable

from scalinglaws.errors import ScalingLawsError
from scalinglaws.laws.avgparams import avgparams
from scalinglaws.laws.base import Law, LinearForm, ParamSpec, check_params
from scalinglaws.laws.chinchilla import (
    EPOCH_2024,
    HOFFMANN_2022,
    HOFFMANN_2022_ROUNDED,
    chinchilla,
)
from scalinglaws.laws.cmr import (
    GU_2024_FINANCE_CMR,
    PAPER_TOKEN_UNIT,
    cmr_law,
    domain_change_law,
    general_change_law,
    loss_ratio_law,
)

_REGISTRY: dict[str, Callable[[], Law]] = {
    "chinchilla": chinchilla,
    "avgparams": avgparams,
    "cmr": cmr_law,
    "cmr_loss_ratio": loss_ratio_law,
    "cmr_domain_change": domain_change_law,
    "cmr_general_change": general_change_law,
}


def register(name: str, factory: Callable[[], Law]) -> None:
    """Register a law factory so records naming ``name`` can be loaded and checked."""
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove a registered law (for tests and notebooks that register one of their own).

    Raises:
        ScalingLawsError: When no law is registered under ``name``.
    """
    if _REGISTRY.pop(name, None) is None:
        raise ScalingLawsError(f"no law registered as {name!r}; known: {', '.join(available())}")


def get(name: str) -> Law:
    """The registered law called ``name``."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ScalingLawsError(
            f"unknown law {name!r}; known: {', '.join(sorted(_REGISTRY))} "
            "(register a custom law with scalinglaws.laws.register)"
        ) from None


def available() -> list[str]:
    return sorted(_REGISTRY)


__all__ = [
    "EPOCH_2024",
    "GU_2024_FINANCE_CMR",
    "PAPER_TOKEN_UNIT",
    "HOFFMANN_2022",
    "HOFFMANN_2022_ROUNDED",
    "Law",
    "LinearForm",
    "ParamSpec",
    "available",
    "avgparams",
    "check_params",
    "chinchilla",
    "cmr_law",
    "domain_change_law",
    "general_change_law",
    "loss_ratio_law",
    "get",
    "register",
    "unregister",
]
