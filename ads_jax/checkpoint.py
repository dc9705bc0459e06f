"""The one Orbax wrapper of ads_jax: numbered checkpoints of named items.

Both the active-learning loop (loop state after every round) and ``fit``
(train state after every epoch) checkpoint through :class:`Checkpointer`:
a directory of numbered steps, each holding named items that are either
pytrees of arrays (``"pytree"``, Orbax ``StandardSave``) or JSON
(``"json"``, Orbax ``JsonSave``).

Robustness: :meth:`Checkpointer.restore_latest` restores the newest step that
reads back; a newest step that is incomplete or unreadable (a run killed
mid-write, a truncated file, corrupt metadata) is moved aside to
``<directory>.unreadable/`` with a warning that names it, and the previous
step is used (its successor is recomputed and saved again). If no step reads
back the error names the directory and the fix.

The directory may be local (made absolute) or a cloud URI such as
``gs://bucket/run/checkpoints/x``: it is handed to Orbax as an
``etils.epath.Path`` and never passed through ``os.path``. (Orbax writes a
``gs://`` step with a commit marker instead of a rename; a local one is
renamed into place.)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import warnings
from typing import Any, Callable, Mapping

import jax

from ads_jax._files import absolute, as_path, move

__all__ = ["Checkpointer", "CheckpointError"]


@contextlib.contextmanager
def _quiet_orbax_threads():
    """Drop the "Event loop is closed" traceback that Orbax's I/O threads print after a
    failed restore (the failure itself is reported by the caller)."""
    old_thread, old_unraisable = threading.excepthook, sys.unraisablehook

    def quiet(exc) -> bool:
        return isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc)

    def thread_hook(args):
        if not quiet(args.exc_value):
            old_thread(args)

    def unraisable_hook(args):
        if not quiet(args.exc_value):
            old_unraisable(args)

    threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook
    try:
        yield
    finally:
        threading.excepthook, sys.unraisablehook = old_thread, old_unraisable


class CheckpointError(ValueError):
    """No usable checkpoint in a directory that has some (message names it and the fix)."""


class Checkpointer:
    """Numbered Orbax checkpoints with named items.

    Args:
      directory: checkpoint directory, local or a URI like ``gs://...`` (created on
        first save). :attr:`directory` is it as a string (absolute if local).
      items: item name -> ``"pytree"`` or ``"json"``.
      max_to_keep: steps kept (older ones are deleted).
      asynchronous: write in the background (``wait``/``close`` block);
        False writes synchronously.
    """

    def __init__(self, directory: str | os.PathLike, items: Mapping[str, str], *,
                 max_to_keep: int = 2, asynchronous: bool = False):
        import orbax.checkpoint as ocp  # heavy (TensorStore): loaded when checkpoints are used

        for name, kind in items.items():
            if kind not in ("pytree", "json"):
                raise ValueError(f"checkpoint item {name!r}: kind must be 'pytree' or 'json', "
                                 f"got {kind!r}.")
        self.directory = absolute(directory)
        self.items = dict(items)
        opts = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=asynchronous,
            cleanup_tmp_directories=True)
        self._mgr = ocp.CheckpointManager(as_path(self.directory), options=opts,
                                          item_names=tuple(self.items))

    # ------------------------------------------------------------------ query
    def steps(self) -> list[int]:
        """Finished steps, ascending."""
        return sorted(self._mgr.all_steps())

    def latest_step(self) -> int | None:
        """The newest finished step, or None."""
        return self._mgr.latest_step()

    # ------------------------------------------------------------------ write
    def save(self, step: int, **values: Any) -> None:
        """Write ``step`` with one value per item (pytrees of arrays or JSON-able dicts)."""
        import orbax.checkpoint as ocp  # heavy (TensorStore): loaded when checkpoints are used

        if set(values) != set(self.items):
            raise ValueError(f"save() needs exactly the items {sorted(self.items)}, got "
                             f"{sorted(values)}.")
        args = {n: (ocp.args.JsonSave(v) if self.items[n] == "json" else ocp.args.StandardSave(v))
                for n, v in values.items()}
        self._mgr.save(step, args=ocp.args.Composite(**args), force=True)

    def wait(self) -> None:
        """Block until pending asynchronous writes are done."""
        self._mgr.wait_until_finished()

    # ------------------------------------------------------------------- read
    def restore(self, step: int, templates: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Read ``step``; pytree items are laid out like ``templates[name]`` if given.

        Raises whatever Orbax raises for an unreadable step (see
        :meth:`restore_latest` for the robust path).
        """
        import orbax.checkpoint as ocp  # heavy (TensorStore): loaded when checkpoints are used

        templates = templates or {}
        args = {}
        for n, kind in self.items.items():
            if kind == "json":
                args[n] = ocp.args.JsonRestore()
            elif n in templates:
                abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, templates[n])
                args[n] = ocp.args.StandardRestore(abstract)
            else:
                args[n] = ocp.args.StandardRestore()
        out = self._mgr.restore(step, args=ocp.args.Composite(**args))
        return {n: out[n] for n in self.items}

    def restore_latest(self, templates: Mapping[str, Any] | None = None, *,
                       check: Callable[[int, dict], None] | None = None
                       ) -> tuple[int, dict[str, Any]] | None:
        """The newest step that reads back (and passes ``check``), or None if there is none.

        Unreadable newer steps are skipped with a ``UserWarning`` naming them
        (their work is redone by the caller). ``check(step, items)`` may raise
        :class:`CheckpointError` to reject a step whose content is inconsistent
        (treated like an unreadable step); any other exception it raises
        propagates (e.g. a checkpoint of another run).

        Raises:
          CheckpointError: steps exist but none of them reads back.
        """
        steps = self.steps()
        errors = []
        with _quiet_orbax_threads():
            got = self._restore_first_readable(steps, templates, check, errors)
        if got is not None:
            return got
        if steps:
            raise CheckpointError(
                f"No checkpoint in {self.directory} can be read back ({'; '.join(errors)}). "
                "Delete that directory to start this run over, or restore it from a backup.")
        return None

    def _restore_first_readable(self, steps, templates, check, errors):
        for step in reversed(steps):
            try:
                items = self.restore(step, templates)
            except Exception as e:  # noqa: BLE001 - any read failure: try the previous step
                items, err = None, e
            else:
                err = None
                if check is not None:
                    try:
                        check(step, items)
                    except CheckpointError as e:
                        err = e
            if err is not None:
                e = err
                msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                errors.append(f"step {step}: {type(e).__name__}: {msg}")
                moved = self._quarantine(step)
                warnings.warn(
                    f"Checkpoint {as_path(self.directory) / str(step)} is unreadable or "
                    f"incomplete ({type(e).__name__}: {msg}); falling back to the previous "
                    f"step (its work will be redone; the bad step was moved to {moved}).",
                    UserWarning, stacklevel=2)
                continue
            return step, items
        return None

    def _quarantine(self, step: int) -> str:
        """Move an unreadable step out of the manager's directory (kept for inspection)."""
        d = as_path(self.directory)
        dst = d.parent / f"{d.name}.unreadable" / f"{step}-{int(time.time() * 1e3)}"
        moved = move(d / str(step), dst)
        self._mgr.reload()
        return moved

    def close(self) -> None:
        """Finish pending writes and release the manager."""
        self._mgr.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
