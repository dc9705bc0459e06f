"""Data parallelism over all devices: a 1-D ``"data"`` mesh, batch sharding, host I/O.

Parameters are replicated (``PartitionSpec()``), batches are split along their
leading axis (``PartitionSpec("data")``); XLA's SPMD partitioner inserts the
gradient and batch-norm all-reduces, so a sharded step computes the same
function as the single-device step. Host arrays are turned into global arrays
with ``jax.make_array_from_callback``, which also works with several processes
as long as every process holds the same host batch (the case here: every host
loads the full dataset and derives the same shuffles from the same key).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ads_jax.distributed import to_host

__all__ = ["data_mesh", "replicate", "shard_batch", "put_global", "num_shards"]

DATA_AXIS = "data"


def data_mesh(data_parallel: bool = True, *, local: bool = False,
              devices: Sequence[jax.Device] | None = None) -> Mesh | None:
    """1-D mesh ``("data",)`` over all devices, or None for single-device execution.

    ``local``: only this process's devices (a computation on this process's
    own data, e.g. embedding its slice of the pool in a multi-process run).
    ``devices``: exactly these devices (a run's slice of the machine when
    seeds run in parallel, ``loop.parallel_seeds``); computations without a
    mesh then run on the default device (``jax.default_device``).
    None is returned when ``data_parallel`` is False or only one device exists.
    """
    if devices is not None:
        devices = list(devices)
        if not data_parallel or len(devices) == 1:
            return None
        return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
    devices = jax.local_devices() if local else jax.devices()
    if not data_parallel or len(devices) == 1:
        return None
    if local and jax.process_count() > 1:
        return Mesh(np.asarray(devices), (DATA_AXIS,),
                    axis_types=(jax.sharding.AxisType.Auto,))
    return jax.make_mesh((len(devices),), (DATA_AXIS,),
                         axis_types=(jax.sharding.AxisType.Auto,))


def num_shards(mesh: Mesh | None) -> int:
    """Number of devices a batch is split over (1 without a mesh)."""
    return 1 if mesh is None else int(mesh.devices.size)


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Place a pytree fully replicated on the mesh (or on the default device).

    With several processes each leaf is built from this process's full copy
    (``jax.make_array_from_callback``; every process holds the same values).
    """
    if mesh is None:
        return jax.device_put(tree)
    sharding = NamedSharding(mesh, P())
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)),
                                            impl=jax.random.key_impl(x))
        host = np.asarray(to_host(x) if isinstance(x, jax.Array) else x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(put, tree)


def put_global(x: np.ndarray, mesh: Mesh | None, spec: P) -> jax.Array:
    """Global array from a host array laid out as ``spec`` on the mesh (one transfer).

    Uses ``jax.make_array_from_callback``, so it also works with several processes
    when every process holds the same host array. Without a mesh: ``device_put``.
    Sharded axes must be divisible by ``num_shards(mesh)`` (callers pad).
    """
    if mesh is None:
        return jax.device_put(x)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec), lambda idx: x[idx])


def shard_batch(x: np.ndarray, mesh: Mesh | None) -> jax.Array:
    """Global array from a host batch (B, ...), split along B over the mesh.

    B must be divisible by ``num_shards(mesh)`` (callers pad).
    """
    return put_global(x, mesh, P(DATA_AXIS))


