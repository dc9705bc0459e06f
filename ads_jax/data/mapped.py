"""Memory-mapped copies of data sets, so that each process of a multi-process run reads
only the rows it uses.

A multi-process run (:mod:`ads_jax.distributed`) builds each process's slice of
the pool (``build_scenario(rows=)``). Decoding a whole TFDS split or a
compressed ``.npz`` on every process would still read (and hold) every image;
instead, :func:`load_mapped` keeps one uncompressed copy of each data set
(``x_train.npy``, ``y_train.npy``, ``x_test.npy``, ``y_test.npy`` and
``meta.json``, written whole, ``meta.json`` last) and opens the image arrays with
``np.load(mmap_mode="r")``: a process then reads from disk only the pages of
the rows it gathers (its slice of the pool, the labeled points, validation
and test). Collective: every process calls it for the same names in the same
order. The copy is written the first time a data set is used by a
multi-process run (every process then decodes it once, as a run without copies
would; on a file system that the processes share, process 0 writes it and the
others read it, on host-local directories each host writes its own); every
later run, seed or sweep job reads only its rows.

Copies live under ``$ADS_JAX_MAPPED_DIR`` (default ``~/.cache/ads_jax/mapped``),
one directory per data set keyed by its name, ``data_dir`` and, for names with
a local path, the path's size and modification time (a changed file is a new
key). A copy whose files do not match its ``meta.json`` raises a
:class:`~ads_jax.data.DataFileError` naming the directory (delete it to rebuild).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable

import numpy as np

from ads_jax import distributed
from ads_jax._files import atomic_write_json, atomic_write_with
from ads_jax.data.dataset import DataFileError, Dataset
from ads_jax.data.location import name_path

__all__ = ["MAPPED_ENV", "default_mapped_dir", "mapped_path", "write_mapped", "read_mapped",
           "load_mapped"]

#: Environment variable naming the directory of the memory-mapped copies.
MAPPED_ENV = "ADS_JAX_MAPPED_DIR"
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_VERSION = 1


def default_mapped_dir() -> str:
    """``$ADS_JAX_MAPPED_DIR``, else ``~/.cache/ads_jax/mapped``."""
    return os.environ.get(MAPPED_ENV) or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "ads_jax", "mapped")


def mapped_path(name: str, data_dir: str | os.PathLike | None = None,
                root: str | os.PathLike | None = None) -> str:
    """The directory of the copy of data set ``name`` (see the module docstring)."""
    parts: list = [_VERSION, name, None if data_dir is None else os.fspath(data_dir)]
    path = name_path(name)
    if path and os.path.exists(path):
        st = os.stat(path)
        parts += [os.path.realpath(path), st.st_size, st.st_mtime_ns]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]
    return os.path.join(os.fspath(root or default_mapped_dir()), f"{safe}-{key}")


def write_mapped(ds: Dataset, directory: str | os.PathLike) -> None:
    """Write ``ds`` as the uncompressed copy in ``directory`` (``meta.json`` last)."""
    directory = os.fspath(directory)
    for a in _ARRAYS:
        arr = np.ascontiguousarray(getattr(ds, a))
        atomic_write_with(os.path.join(directory, f"{a}.npy"),
                          lambda f, arr=arr: np.save(f, arr, allow_pickle=False), suffix=".npy")
    meta = {"version": _VERSION, "name": ds.name, "class_names": list(ds.class_names),
            "original_labels": None if ds.original_labels is None else list(ds.original_labels),
            "arrays": {a: {"shape": list(np.shape(getattr(ds, a))),
                           "dtype": str(np.asarray(getattr(ds, a)).dtype)} for a in _ARRAYS}}
    atomic_write_json(os.path.join(directory, "meta.json"), meta)


def read_mapped(directory: str | os.PathLike) -> Dataset | None:
    """The copy in ``directory`` (images memory-mapped, labels in memory), or None if there
    is none (no ``meta.json``).

    Raises:
      DataFileError: a copy whose files are missing, unreadable or do not match its
        ``meta.json``; the message names the directory and the fix (delete it).
    """
    directory = os.fspath(directory)
    meta_path = os.path.join(directory, "meta.json")
    if not os.path.exists(meta_path):
        return None

    def bad(why: str) -> DataFileError:
        return DataFileError(f"The memory-mapped data copy in '{directory}' is unusable: {why}. "
                             "Delete that directory; the next multi-process run rewrites it.")

    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        arrays = {}
        for a in _ARRAYS:
            want = meta["arrays"][a]
            arr = np.load(os.path.join(directory, f"{a}.npy"),
                          mmap_mode="r" if a.startswith("x_") else None, allow_pickle=False)
            if list(arr.shape) != list(want["shape"]) or str(arr.dtype) != want["dtype"]:
                raise bad(f"{a}.npy holds {arr.dtype} {arr.shape}, meta.json says "
                          f"{want['dtype']} {tuple(want['shape'])}")
            arrays[a] = arr
        if meta.get("version") != _VERSION:
            raise bad(f"version {meta.get('version')!r}, expected {_VERSION}")
        return Dataset(name=meta["name"], class_names=tuple(meta["class_names"]),
                       original_labels=meta["original_labels"], **arrays)
    except DataFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise bad(f"{type(e).__name__}: {e}") from None


def load_mapped(names, load: Callable[[str], Dataset], *,
                data_dir: str | os.PathLike | None = None,
                root: str | os.PathLike | None = None) -> dict[str, Dataset]:
    """``{name: Dataset}`` read from the memory-mapped copies, written first where missing.

    Collective over the processes of a multi-process run (one process: plain).
    Whether copies must be written is decided from every process's view at
    once, so either every process calls ``load(name)`` (TFDS preparation
    coordinates them) or none does.

    Args:
      names: data set names.
      load: ``load(name) -> Dataset``, e.g. ``load_dataset`` with the run's ``data_dir``.
      data_dir: part of each copy's key (the ``data_dir`` the names resolve in).
      root: directory of the copies (None: :func:`default_mapped_dir`).
    """
    out = {}
    for name in names:
        directory = mapped_path(name, data_dir, root)
        missing = read_mapped(directory) is None
        if distributed.any_process(missing, f"mapped-{name}"):
            ds = load(name)
            if distributed.is_primary() and missing:
                write_mapped(ds, directory)
            distributed.barrier(f"mapped-written-{name}")
            if read_mapped(directory) is None:  # a host-local directory: this host writes
                write_mapped(ds, directory)
            del ds
        out[name] = read_mapped(directory)
    return out
