"""A ``gs://`` file system in memory, for tests: no network, no atomic rename, no flock.

``etils.epath`` 1.15 has no ``memory://`` scheme (its URI schemes are gs, s3,
az and hf), so this test double routes epath's ``gs://`` backend to an fsspec
in-memory file system of its own. Renames raise (an object store has no
atomic rename; code under test must never rely on one), and ``fcntl.flock``
is never reached for a ``gs://`` path (the code under test sees a non-local
scheme). Orbax cannot use it for arrays: its TensorStore driver talks to GCS
itself, outside epath.
"""

from __future__ import annotations

import errno
import os

from etils.epath import backend as epath_backend
from etils.epath import gpath
from fsspec.implementations.memory import MemoryFileSystem


class _GCSInMemoryFS(MemoryFileSystem):
    """fsspec's MemoryFileSystem that takes ``gs://bucket/x`` paths, with its own store."""

    protocol = ("gs-in-memory",)

    @classmethod
    def _strip_protocol(cls, path):
        path = os.fspath(path) if not isinstance(path, str) else path
        return MemoryFileSystem._strip_protocol(path.removeprefix("gs://"))


class MemoryGCSBackend(epath_backend._FileSystemSpecBackend):  # noqa: SLF001 - test double
    """epath backend of the double: every ``gs://`` path lives in one in-memory store."""

    def __init__(self):
        self._fs = _GCSInMemoryFS(global_store=False, skip_instance_cache=True)
        self.renames = 0

    def fs(self, path):
        return self._fs

    def rename(self, path, dst):
        self.renames += 1
        raise OSError(errno.EOPNOTSUPP, "no atomic rename on this object store (test double)",
                      os.fspath(path))

    replace = rename

    def files(self) -> dict[str, bytes]:
        """``{"gs://bucket/x": content}`` of every object."""
        return {"gs:/" + k: bytes(v.getbuffer()) for k, v in self._fs.store.items()}


def install(monkeypatch) -> MemoryGCSBackend:
    """Route ``gs://`` epath paths to a fresh in-memory store for one test."""
    be = MemoryGCSBackend()
    monkeypatch.setitem(gpath._PREFIX_TO_BACKEND, "gs", be)  # noqa: SLF001 - test double
    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)
    return be
