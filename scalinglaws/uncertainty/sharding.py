"""Batch-axis sharding: spread resamples, chains or starts over every visible device.

The heavy work of uncertainty quantification is embarrassingly parallel along one batch
axis. :func:`shard_rows` pads that axis to a multiple of the device count and places it
on a one-dimensional :class:`jax.sharding.Mesh` with a :class:`~jax.sharding.NamedSharding`;
everything else is replicated. Compiled functions then run one slice per device with no
change to their code (DESIGN §9). With one device this is a plain ``device_put``.

On a CPU host, several devices exist only when ``XLA_FLAGS`` contains
``--xla_force_host_platform_device_count=N`` before JAX is first imported; the library
never sets it (it is process-wide state).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def batch_mesh(devices: Any = None) -> Mesh:
    """A 1-D mesh named ``"batch"`` over ``devices`` (all local devices by default)."""
    devs = np.asarray(jax.local_devices() if devices is None else list(devices))
    return Mesh(devs.reshape(-1), (BATCH_AXIS,))


def padded_size(n: int, n_devices: int) -> int:
    """Smallest multiple of ``n_devices`` that is at least ``n``."""
    return -(-n // n_devices) * n_devices


def shard_rows(*arrays: Any, mesh: Mesh | None = None) -> tuple[list[Any], int]:
    """Pad arrays along axis 0 to a multiple of the device count and shard that axis.

    Padding repeats the first row, so padded entries are valid problems whose results are
    simply dropped by the caller (slice ``[:n]``).

    Args:
        *arrays: Arrays with the same leading (batch) dimension ``n``.
        mesh: The mesh to use (default :func:`batch_mesh`).

    Returns:
        ``(sharded arrays, n)``: the placed arrays and the original batch size.
    """
    mesh = batch_mesh() if mesh is None else mesh
    n_dev = mesh.devices.size
    n = int(np.shape(arrays[0])[0])
    size = padded_size(n, n_dev)
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    out = []
    for a in arrays:
        # Arrays already on a device are padded there (no host round trip).
        xp = jnp if isinstance(a, jax.Array) else np
        a = xp.asarray(a)
        if a.shape[0] != n:
            raise ValueError(f"batch arrays disagree on their leading size: {a.shape[0]} != {n}")
        if size > n:
            a = xp.concatenate([a, xp.repeat(a[:1], size - n, axis=0)], axis=0)
        out.append(jax.device_put(a, sharding))
    return out, n


def replicate(tree: Any, mesh: Mesh | None = None) -> Any:
    """Place every leaf of ``tree`` on all devices of ``mesh`` (no partitioning)."""
    mesh = batch_mesh() if mesh is None else mesh
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda x: jax.device_put(np.asarray(x), sharding), tree)
