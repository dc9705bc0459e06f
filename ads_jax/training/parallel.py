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

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["data_mesh", "init_distributed", "replicate", "shard_batch", "to_host", "num_shards"]

DATA_AXIS = "data"


def init_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None, **kwargs: Any) -> None:
    """Start the multi-host JAX runtime (``jax.distributed.initialize``); idempotent.

    Must run at program start, before any JAX array is created. Arguments default to
    auto-detection (SLURM, Cloud TPU, ...). Needed only with ``TrainConfig.multi_host``.
    """
    if jax.distributed.is_initialized():
        return
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id, **kwargs)


def data_mesh(data_parallel: bool = True) -> Mesh | None:
    """1-D mesh ``("data",)`` over all devices, or None for single-device execution.

    None is returned when ``data_parallel`` is False or only one device exists.
    """
    if not data_parallel or jax.device_count() == 1:
        return None
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                         axis_types=(jax.sharding.AxisType.Auto,))


def num_shards(mesh: Mesh | None) -> int:
    """Number of devices a batch is split over (1 without a mesh)."""
    return 1 if mesh is None else int(mesh.devices.size)


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """Place a pytree fully replicated on the mesh (or on the default device)."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(x: np.ndarray, mesh: Mesh | None) -> jax.Array:
    """Global array from a host batch (B, ...), split along B over the mesh.

    B must be divisible by ``num_shards(mesh)`` (callers pad).
    """
    if mesh is None:
        return jax.device_put(x)
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def to_host(x: jax.Array) -> np.ndarray:
    """Fetch a (possibly multi-host sharded) global array to a NumPy array."""
    if jax.process_count() > 1 and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
