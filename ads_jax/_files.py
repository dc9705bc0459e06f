"""Writing files so that a reader never sees half of one: the one home of file writing.

Every file ads_jax writes for a reader to trust later (configs, results,
artefacts, sweep manifests, tables, figures, the run lease) goes through this
module. Paths are ``etils.epath`` paths (what Orbax uses), so a path may be
local or a cloud URI such as ``gs://bucket/run``; a URI is never passed
through ``os.path`` (``os.path.abspath("gs://b/x")`` would make it a local
path ``<cwd>/gs:/b/x``).

How a write is made whole, by file system:

* **local** (no ``scheme://``): the bytes go to a temporary file next to the
  target, are flushed to disk (``fsync``) and the temporary file is renamed
  over the target (``os.replace``, atomic on POSIX), so a kill at any moment
  leaves either the old file or the new one.
* **any other scheme** (``gs://``, ``s3://``, ...): object stores have no
  atomic rename (a "rename" there is copy + delete), so the object is written
  directly, in one upload of bytes prepared in memory first. An object write
  is atomic per object on these stores: readers see the old object or the new
  one, never a part (a failing writer leaves the old object). Nothing is
  renamed.

:func:`append_line` appends in place on a local file; an object cannot be
appended to, so there the object is read and rewritten whole (one writer at a
time -- the run lock guarantees that for run directories).

This module imports nothing of ads_jax (the config engine at the bottom of the
package uses it).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from typing import Any, Callable

import numpy as np
from etils import epath

__all__ = ["as_path", "is_local", "absolute", "makedirs", "atomic_write", "atomic_write_json",
           "atomic_savez", "atomic_savefig", "atomic_write_with", "append_line", "read_json",
           "read_bytes", "iter_files", "remove", "rmtree", "move"]

def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: Permissions of the files written here (those of ``open(path, "w")``: 0666 minus the umask).
_FILE_MODE = _file_mode()

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def as_path(path: str | os.PathLike) -> epath.Path:
    """``path`` as an ``epath.Path`` (local, or a cloud URI like ``gs://bucket/x``)."""
    if isinstance(path, epath.Path):
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path (str or os.PathLike), got {type(path).__name__} "
                        f"{path!r}.")
    return epath.Path(path)


def is_local(path: str | os.PathLike) -> bool:
    """True for a path on the local file system (no ``scheme://`` prefix).

    Local paths get atomic renames and OS file locks; any other scheme is
    treated as an object store (no atomic rename, no ``flock``).
    """
    return not _SCHEME.match(os.fspath(path))


def absolute(path: str | os.PathLike) -> str:
    """``os.path.abspath`` of a local path; a URI is returned unchanged (as ``str``)."""
    s = os.fspath(path)
    return os.path.abspath(s) if is_local(s) else str(as_path(s))


def makedirs(path: str | os.PathLike) -> None:
    """Create a local directory and its parents; no-op on an object store.

    Object stores have no directories (a "directory" exists once an object
    under it does), and asking some of them to make one has side effects
    (``gcsfs`` creates a missing *bucket*).
    """
    p = as_path(path)
    if is_local(p) and str(p) not in ("", "."):
        p.mkdir(parents=True, exist_ok=True)


def _mkparent(p: epath.Path) -> None:
    makedirs(p.parent)


def atomic_write_with(path: str | os.PathLike, write: Callable[[Any], None], *,
                      binary: bool = True, suffix: str = "") -> str:
    """Call ``write(f)`` and put what it wrote at ``path`` whole (see the module docstring).

    Local: ``f`` is a temporary file beside ``path`` that is flushed, synced
    and renamed over ``path``. Object store: ``f`` is an in-memory buffer
    uploaded as one object once ``write`` returns (if ``write`` raises, nothing
    is written).

    Args:
      path: target file (local parent directories are created).
      write: writes the content to the open file object ``f``.
      binary: ``f`` takes bytes (else text, UTF-8).
      suffix: suffix of the local temporary file name (some writers infer the
        format from it).

    Returns:
      ``path`` as a string.
    """
    p = as_path(path)
    if not is_local(p):
        buf = io.BytesIO() if binary else io.StringIO()
        write(buf)
        data = buf.getvalue()
        with p.open("wb") as f:  # one object write: atomic per object
            f.write(data if binary else data.encode("utf-8"))
        return str(p)
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=suffix + ".tmp",
                               dir=parent or ".")
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600 files; results are for everyone to read
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else
                                                        {"encoding": "utf-8"})) as f:
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
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` whole; returns ``path`` (str)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write_with(path, lambda f: f.write(raw))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2,
                      allow_nan: bool = True) -> str:
    """``json.dumps(obj, indent=indent, allow_nan=allow_nan)`` plus a newline to ``path`` whole.

    Raises:
      ValueError: ``allow_nan=False`` and ``obj`` holds NaN or infinity
        (nothing is written).
    """
    return atomic_write(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")


def atomic_savez(path: str | os.PathLike, *, compress: bool = True, **arrays: Any) -> str:
    """``numpy.savez_compressed(path, **arrays)`` (``numpy.savez`` if not ``compress``) whole.

    ``path`` should end in ``.npz`` (it is used as given).
    """
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def atomic_savefig(fig: Any, path: str | os.PathLike, *, dpi: float | None = None,
                   palette: int | None = None, close: bool = True, **savefig_kwargs: Any
                   ) -> str:
    """Save a matplotlib figure to ``path`` whole (format from the suffix, default PNG).

    Args:
      fig: a ``matplotlib.figure.Figure``.
      path: target file; its suffix (``.png``, ``.pdf``, ``.svg`` ...) picks the format.
      dpi: resolution (None: matplotlib's ``savefig.dpi``).
      palette: for a PNG, quantize to this many colours (keeps committed
        images small; needs Pillow, which comes with matplotlib; skipped
        without it). None keeps full colour.
      close: close the figure afterwards.
      **savefig_kwargs: passed to ``fig.savefig``.

    Returns:
      ``path`` as a string.
    """
    # matplotlib is optional for ads_jax: only code that draws imports it, here at call time.
    import matplotlib.pyplot as plt

    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    fmt = suffix or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, **savefig_kwargs)
    if close:
        plt.close(fig)
    data = buf.getvalue()
    if palette is not None and fmt == "png":
        try:
            from PIL import Image  # optional at import time: only palette PNGs need it
        except ImportError:  # pragma: no cover - Pillow comes with matplotlib
            pass
        else:
            out = io.BytesIO()
            Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=int(palette)).save(
                out, format="PNG", optimize=True)
            data = out.getvalue()
    return atomic_write(path, data)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (a newline is added) and make it durable.

    Local: appended in place and synced. Object store: the object is read and
    rewritten whole with the line added (objects cannot be appended to; one
    writer at a time).
    """
    text = line.rstrip("\n") + "\n"
    p = as_path(path)
    if not is_local(p):
        old = p.read_bytes() if p.exists() else b""
        atomic_write(p, old + text.encode("utf-8"))
        return
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_bytes(path: str | os.PathLike, *, what: str = "file") -> bytes:
    """The content of a file.

    Raises:
      FileNotFoundError: ``path`` does not exist or is a directory.
      ValueError: it cannot be read (names the file).
    """
    p = as_path(path)
    if not p.exists() or p.is_dir():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist.")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist.") from None
    except OSError as e:
        raise ValueError(f"{what} {str(p)!r} cannot be read ({type(e).__name__}: {e}).") from None


def read_json(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Parse a JSON file, with one clear error for a missing, unreadable or corrupt file.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file cannot be read or is not valid JSON (names the file).
    """
    raw = read_bytes(path, what=what)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {str(as_path(path))!r} is not valid JSON ({e}); it may have "
                         "been cut off by a kill or edited by hand.") from None


def iter_files(path: str | os.PathLike):
    """Every file under a directory, recursively (``epath.Path`` s; nothing if it is absent).

    Lists with ``iterdir`` (which keeps the URI scheme on every backend).
    """
    p = as_path(path)
    if not p.is_dir():
        return
    for child in sorted(p.iterdir(), key=str):
        if child.is_dir():
            yield from iter_files(child)
        else:
            yield child


def remove(path: str | os.PathLike) -> bool:
    """Delete a file if it exists; returns whether it did."""
    p = as_path(path)
    try:
        if not p.exists() or p.is_dir():
            return False
        p.unlink()
    except FileNotFoundError:
        return False
    return True


def rmtree(path: str | os.PathLike) -> bool:
    """Delete a directory tree if it exists; returns whether it did."""
    p = as_path(path)
    if not p.is_dir():
        return False
    if is_local(p):
        shutil.rmtree(os.fspath(p), ignore_errors=True)
    else:
        p.rmtree(missing_ok=True)
    return True


def move(src: str | os.PathLike, dst: str | os.PathLike) -> str:
    """Move a file or directory tree to ``dst`` (its parent is created); returns ``dst``.

    Local: a rename (``shutil.move``). Object store: a copy of every object,
    then the source is deleted (not atomic; use it only for data that is
    being set aside, e.g. an unreadable checkpoint).
    """
    s, d = as_path(src), as_path(dst)
    _mkparent(d)
    if is_local(s) and is_local(d):
        shutil.move(os.fspath(s), os.fspath(d))
        return str(d)
    if not s.is_dir():
        s.copy(d, overwrite=True)
        s.unlink()
        return str(d)
    for f in iter_files(s):
        target = d / f.relative_to(s)
        _mkparent(target)
        f.copy(target, overwrite=True)
    s.rmtree(missing_ok=True)
    return str(d)
