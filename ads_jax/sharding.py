"""Device meshes: the one home of mesh checks and of the acquisition's axis handling.

Functions that accept a ``mesh`` shard their point axis over it and give the
results of one device. Every such boundary checks the argument with
:func:`check_mesh`; programs that mix arrays from several components (the
acquisition program: valuation, estimation and selectors) work on the
:func:`auto_mesh` view of the user's mesh, whose axes are ``Auto`` (XLA
propagates shardings), so arrays produced by different components always live
on one mesh type. :func:`pool_mesh` is the loop's 1-D mesh over every device.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import AxisType, Mesh

__all__ = ["check_mesh", "auto_mesh", "pool_mesh", "POOL_AXIS"]

#: Axis name of the loop's acquisition mesh (:func:`pool_mesh`).
POOL_AXIS = "pool"


def check_mesh(name: str, mesh: Any, *, example: str = "jax.make_mesh((8,), ('val',))"
               ) -> Mesh | None:
    """``mesh`` if it is a :class:`jax.sharding.Mesh` or None, else a TypeError naming ``name``."""
    if mesh is not None and not isinstance(mesh, Mesh):
        raise TypeError(f"`{name}` must be a jax.sharding.Mesh (e.g. {example}) or None, got "
                        f"{type(mesh).__name__}.")
    return mesh


def auto_mesh(mesh: Mesh | None) -> Mesh | None:
    """The same devices and axis names with every axis ``AxisType.Auto`` (None stays None)."""
    if mesh is None:
        return None
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def pool_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis :data:`POOL_AXIS`, Auto."""
    return jax.make_mesh((jax.device_count(),), (POOL_AXIS,), axis_types=(AxisType.Auto,))
