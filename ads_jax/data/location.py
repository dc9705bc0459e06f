"""Where local data copies live: a user-level data directory.

Configs that read local files (the ``cpu`` variants: ``npz:`` copies of
CIFAR-10 and Fashion-MNIST) name them under :func:`data_dir`:
``$ADS_JAX_DATA_DIR`` if set, else ``~/.cache/ads_jax/data``. The files a
built-in config expects there are listed in `LOCAL_FILES` (paths relative to
the data directory). When one is missing, loading fails with
:func:`missing_local_data_error`'s message: the data directory in use, the
files expected under it (found / missing), how to make them and how to point
``ADS_JAX_DATA_DIR`` at a copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ENV_VAR", "DEFAULT_DATA_DIR", "LOCAL_FILES", "LocalFile", "data_dir", "local_path",
           "missing_local_data_error", "name_path"]

#: Environment variable that overrides the data directory.
ENV_VAR = "ADS_JAX_DATA_DIR"
#: The data directory when ``$ADS_JAX_DATA_DIR`` is unset (user-expanded).
DEFAULT_DATA_DIR = os.path.join("~", ".cache", "ads_jax", "data")


class LocalFile(NamedTuple):
    """A local copy some built-in configs read."""

    description: str
    tfds_name: str  # the TFDS data set it can be converted from
    url: str  # where the original data are published


#: Files the built-in configs expect under the data directory (relative path -> what).
LOCAL_FILES: dict[str, LocalFile] = {
    "cifar10/cifar10.npz": LocalFile(
        "CIFAR-10", "cifar10", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "fashion_mnist/fashion_mnist.npz": LocalFile(
        "Fashion-MNIST", "fashion_mnist", "https://github.com/zalandoresearch/fashion-mnist"),
}


def data_dir() -> str:
    """The data directory in use: ``$ADS_JAX_DATA_DIR`` if set and non-empty, else
    ``~/.cache/ads_jax/data``; ``~`` expanded, made absolute. Read on every call."""
    raw = os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    return os.path.abspath(os.path.expanduser(raw))


def local_path(relpath: str) -> str:
    """``relpath`` (e.g. ``"cifar10/cifar10.npz"``) under :func:`data_dir`."""
    return os.path.join(data_dir(), *relpath.split("/"))


def _relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` ('/'-separated) if it lies inside it, else None."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        return None
    path = os.path.abspath(path)
    try:
        if os.path.commonpath([path, root]) != root:
            return None
    except ValueError:  # different drives (Windows)
        return None
    rel = os.path.relpath(path, root)
    return None if rel == "." else rel.replace(os.sep, "/")


def missing_local_data_error(paths: Iterable[str]) -> FileNotFoundError | None:
    """The error for data files under the data directory that do not exist.

    Args:
      paths: the file/directory paths a config names (any; those outside
        :func:`data_dir` are ignored).

    Returns:
      None if every path under the data directory exists (or none lies under
      it); else a FileNotFoundError whose message names the data directory in
      use, each expected file relative to it (found / missing), how to make
      the known ones (`LOCAL_FILES`) and how to point ``$ADS_JAX_DATA_DIR`` at a
      copy. One line (the command line prints it as is).
    """
    root = data_dir()
    expected: dict[str, bool] = {}
    for p in paths:
        rel = _relative(p, root)
        if rel is not None and rel not in expected:
            expected[rel] = os.path.exists(os.path.join(root, *rel.split("/")))
    missing = [r for r, ok in expected.items() if not ok]
    if not missing:
        return None
    listing = ", ".join(f"'{r}' ({'found' if ok else 'MISSING'})" for r, ok in expected.items())
    how = []
    for rel in missing:
        known = LOCAL_FILES.get(rel)
        target = os.path.join(root, *rel.split("/"))
        if known is None:
            how.append(f"'{rel}': copy it to '{target}'")
            continue
        how.append(
            f"'{rel}': {known.description} as an .npz of x_train, y_train, x_test, y_test "
            f"(uint8 images, integer labels; originals at {known.url}), e.g. converted once "
            f"from TFDS with mkdir -p '{os.path.dirname(target)}' && python -c \"from "
            f"ads_jax.data import load_dataset; load_dataset('{known.tfds_name}')"
            f".save_npz('{target}')\" (the first download needs pip install "
            "'ads_jax[tensorflow]')"
        )
    return FileNotFoundError(
        f"Local data missing: this config reads its data from the data directory '{root}' "
        f"(${ENV_VAR}, default {DEFAULT_DATA_DIR}) and expects under it: {listing}. "
        f"To get them: {'; '.join(how)}. Or point {ENV_VAR} at a directory that already "
        f"holds these files (export {ENV_VAR}=/path/to/data), or name another file with an "
        "override such as data.dataset=npz:/path/to/file.npz."
    )


def name_path(name: str) -> str:
    """The ARG of a data set name ``[shifted:]*KIND:ARG`` (the path of the file and
    directory sources; empty when the name carries none)."""
    while name.strip().lower().startswith("shifted:"):
        name = name.strip()[len("shifted:"):]
    return name.partition(":")[2]
