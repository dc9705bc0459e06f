"""Writing files so that a reader never sees half of one: the one home of atomic writes.

Every file ads_jax writes for a reader to trust later (configs, results,
artefacts, sweep manifests, tables, figures) goes through this module: the
bytes go to a temporary file next to the target, are flushed to disk, and the
temporary file is renamed over the target (``os.replace``, atomic on POSIX),
so a kill at any moment leaves either the old file or the new one.

This module imports nothing of ads_jax (the config engine at the bottom of the
package uses it).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any, Callable

import numpy as np

__all__ = ["atomic_write", "atomic_write_json", "atomic_savez", "atomic_write_with",
           "append_line", "read_json"]


def _prepare(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    return path


def atomic_write_with(path: str | os.PathLike, write: Callable[[Any], None], *,
                      binary: bool = True, suffix: str = "") -> str:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    Args:
      path: target file (parent directories are created).
      write: writes the content to the open file object ``f``.
      binary: open the temporary file in binary mode.
      suffix: suffix of the temporary file name (some writers, e.g.
        ``matplotlib.savefig``, infer the format from it).

    Returns:
      ``path`` as a string.
    """
    path = _prepare(path)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=suffix + ".tmp",
                               dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write(path: str | os.PathLike, data: bytes | str) -> str:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write_with(path, lambda f: f.write(raw))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> str:
    """``json.dumps(obj)`` plus a newline to ``path`` atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent) + "\n")


def atomic_savez(path: str | os.PathLike, **arrays: Any) -> str:
    """``numpy.savez_compressed(path, **arrays)`` atomically (``path`` ends in ``.npz``)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (a newline is added) and flush it to disk."""
    path = _prepare(path)
    with open(path, "a") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_json(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Parse a JSON file, with one clear error for a missing, unreadable or corrupt file.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file cannot be read or is not valid JSON (names the file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist.")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"{what} {path!r} cannot be read ({type(e).__name__}: {e}).") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path!r} is not valid JSON ({e}); it may have been cut off "
                         "by a kill or edited by hand.") from None
