"""Release the compiled programs that JAX and this package keep for reuse."""

from __future__ import annotations


def clear_caches() -> None:
    """Drop every compiled program JAX and scalinglaws hold for reuse.

    Each distinct law, data shape and method compiles once per process and stays loaded,
    so that the next fit of the same shape is fast. A long-lived process that fits many
    different shapes (a notebook kernel, a service, a test run) accumulates them: each
    loaded program holds memory and memory mappings, and a Linux process is limited to
    ``vm.max_map_count`` mappings (65,530 by default), beyond which the compiler fails.
    Call this between unrelated pieces of work; the next fit compiles again.
    """
    import jax

    from scalinglaws import exported
    from scalinglaws.datamix import laws as datamix_laws
    from scalinglaws.mixture import posterior
    from scalinglaws.uncertainty import bayes

    bayes._sampler.cache_clear()
    datamix_laws._make_law.cache_clear()
    posterior.domain_anchor_law.cache_clear()
    posterior.general_anchor_law.cache_clear()
    exported.clear()
    jax.clear_caches()
