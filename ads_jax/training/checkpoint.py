"""Per-epoch Orbax checkpoints of a ``fit`` run (train state, best variables, metadata)."""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

__all__ = ["EpochCheckpointer"]


class EpochCheckpointer:
    """Thin wrapper over ``ocp.CheckpointManager`` with three items per epoch.

    Items: ``state`` (the ``TrainState`` pytree), ``best`` (variables of the best
    epoch so far) and ``meta`` (JSON: history, early-stopping counters, a
    fingerprint of config/key/data). Step number = epoch number (1-based).
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2):
        self.directory = os.path.abspath(os.fspath(directory))
        self._mngr = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            item_names=("state", "best", "meta"),
        )

    def latest_epoch(self) -> int | None:
        """Last fully written epoch, or None for an empty directory."""
        return self._mngr.latest_step()

    def save(self, epoch: int, state: Any, best: Any, meta: dict[str, Any]) -> None:
        """Write epoch ``epoch`` (asynchronously; ``close`` waits)."""
        self._mngr.save(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), best=ocp.args.StandardSave(best),
            meta=ocp.args.JsonSave(meta)))

    def restore(self, epoch: int, state_like: Any, best_like: Any) -> tuple[Any, Any, dict]:
        """Read epoch ``epoch`` into pytrees shaped and sharded like the templates."""
        abstract = lambda t: jax.tree.map(ocp.utils.to_shape_dtype_struct, t)  # noqa: E731
        res = self._mngr.restore(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract(state_like)),
            best=ocp.args.StandardRestore(abstract(best_like)),
            meta=ocp.args.JsonRestore()))
        return res["state"], res["best"], dict(res["meta"])

    def wait(self) -> None:
        self._mngr.wait_until_finished()

    def close(self) -> None:
        self._mngr.close()
