"""The data-source registry: a data set name (``"digits"``, ``"npz:PATH"``, ...) -> its loader.

A source family is one module of :mod:`ads_jax.data.sources` that calls
`register_source` for each name it serves; `load_dataset` parses a name and
dispatches to the registered loader. A new source is one module plus its test:
register it and import the module from ``ads_jax/data/sources/__init__.py``
(or from your own code, before the first `load_dataset` call that names it).

Name grammar: ``KIND`` or ``KIND:ARG``. ``KIND`` is matched case-insensitively
(surrounding blanks ignored) against the registered names and aliases; ``ARG``
(everything after the first colon, e.g. a path) is passed on verbatim. A
source registered with ``splits=True`` also matches ``KIND+SUFFIX`` (e.g.
``svhn_cropped+extra``); its loader gets the whole ``KIND+SUFFIX`` as ``kind``
and decides which suffixes it accepts.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import numpy as np

from ads_jax.data.dataset import Dataset

__all__ = ["register_source", "available_sources", "load_dataset", "need_path", "Loader"]

#: ``loader(arg, *, kind, data_dir, download, remap_labels) -> Dataset``: ``arg`` is
#: the text after ``KIND:`` ("" when absent), ``kind`` the lower-cased ``KIND`` as
#: written (an alias, or ``KIND+SUFFIX``); the keywords are those of `load_dataset`.
Loader = Callable[..., Dataset]


class _Source(NamedTuple):
    name: str
    loader: Loader
    takes_arg: bool
    aliases: tuple[str, ...]
    splits: bool
    remap_labels: bool
    usage: str


_SOURCES: dict[str, _Source] = {}  # canonical name -> source
_LOOKUP: dict[str, str] = {}  # name or alias (lower case) -> canonical name


def _check_key(what: str, key: object) -> str:
    if not isinstance(key, str) or not key.strip() or key != key.strip().lower() \
            or any(c in key for c in ":+"):
        raise ValueError(f"{what} must be a non-empty lower-case string without ':' or '+', "
                         f"got {key!r}.")
    return key


def register_source(
    name: str,
    loader: Loader,
    *,
    takes_arg: bool,
    aliases: tuple[str, ...] | list[str] = (),
    splits: bool = False,
    remap_labels: bool = False,
    usage: str | None = None,
) -> None:
    """Register a data source under ``name`` (and ``aliases``).

    Args:
      name: lower-case name without ``:`` or ``+`` (e.g. ``"npz"``).
      loader: ``loader(arg, *, kind, data_dir, download, remap_labels) -> Dataset``
        (see `Loader`).
      takes_arg: True if the source is written ``name:ARG`` (a path, a TFDS
        name, ...); the loader then gets ARG ("" if the user left it out, e.g.
        to use ``data_dir``). False: ``name:ARG`` is rejected as unknown.
      aliases: other spellings dispatching to the same loader.
      splits: also match ``name+SUFFIX`` (the loader validates the suffix).
      remap_labels: the loader handles ``remap_labels=True``; for other
        sources `load_dataset` rejects it with a clear error.
      usage: how the form is shown in the unknown-name error (default
        ``name`` or ``name:ARG``).

    Raises:
      ValueError: a bad name, or a name / alias already registered (register
        each source once; import its module once).
    """
    _check_key("`name`", name)
    if not callable(loader):
        raise TypeError(f"`loader` must be callable, got {type(loader).__name__}.")
    aliases = tuple(aliases)
    for a in aliases:
        _check_key("Every alias", a)
    for key in (name, *aliases):
        if key in _LOOKUP:
            raise ValueError(f"Data source {key!r} is already registered (by "
                             f"{_LOOKUP[key]!r}); pick another name.")
    if usage is None:
        usage = f"{name}:ARG" if takes_arg else name
    _SOURCES[name] = _Source(name, loader, bool(takes_arg), aliases, bool(splits),
                             bool(remap_labels), usage)
    for key in (name, *aliases):
        _LOOKUP[key] = name


def available_sources() -> tuple[str, ...]:
    """The registered source names, in registration order (aliases not included)."""
    return tuple(_SOURCES)


def _forms() -> str:
    return ", ".join(repr(s.usage) for s in _SOURCES.values())


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"Unknown dataset `name`={name!r}. Registered forms: {_forms()}."
    )


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    remap_labels: bool = False,
) -> Dataset:
    """Load a data set by name, dispatching to the registered source.

    Args:
      name: ``KIND`` or ``KIND:ARG`` (see `available_sources`); built in:
        ``"digits"``; ``"npz:PATH"``; ``"features:PATH"`` (float (N, d)
        embeddings); a TFDS short name from `TFDS_DATASETS`, optionally
        ``"svhn_cropped+extra"``; ``"tfds:NAME"`` (any TFDS image
        classification set, ``"tfds:NAME+SPLIT"`` to append another split to
        train); ``"cinic10:DIR"`` or ``"tiny_imagenet:DIR"``;
        ``"shifted:<any image name>"``. For the directory and file forms the
        path may be left out (``"cinic10"``), in which case ``data_dir`` is used.
      data_dir: TFDS data directory (default: ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``), or the path for the directory/file forms
        when ``name`` carries none.
      download: TFDS only: if the data set is not prepared in ``data_dir``,
        download and prepare it (needs TensorFlow). With ``False`` a missing
        data set raises ``FileNotFoundError`` instead.
      remap_labels: ``"npz:"`` / ``"features:"`` only: map the sorted distinct
        labels of the file to 0..C-1 and record the originals in
        `Dataset.original_labels` (see `load_npz`). The other loaders index
        their own class lists, so asking for it there is an error.

    Returns:
      `Dataset` with uint8 (N, H, W, C) images (float32 (N, d) features for
      ``features:``) and int32 labels.

    Raises:
      ValueError: unknown name (the message lists the registered forms);
      `DataFileError` (a ValueError) for an unreadable or inconsistent npz
      file. FileNotFoundError: missing file/directory or unprepared TFDS data
      with ``download=False``. ImportError: TFDS data must be prepared but
      TensorFlow is not installed.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")
    if not isinstance(remap_labels, (bool, np.bool_)):
        raise TypeError(f"`remap_labels` must be True or False, got {remap_labels!r}.")
    kind, colon, arg = name.partition(":")
    kind = kind.strip().lower()
    key = _LOOKUP.get(kind)
    if key is None and "+" in kind:
        base = _LOOKUP.get(kind.split("+")[0])
        if base is not None and _SOURCES[base].splits:
            key = base
    if key is None:
        raise _unknown(name)
    src = _SOURCES[key]
    if arg and not src.takes_arg:
        raise _unknown(name)
    if remap_labels and not src.remap_labels:
        raise ValueError(
            f"`remap_labels=True` applies only to 'npz:PATH' and 'features:PATH' data sets; "
            f"{name!r} gets its labels from its own class list (already 0..C-1). Drop "
            "remap_labels."
        )
    return src.loader(arg, kind=kind, data_dir=data_dir, download=bool(download),
                      remap_labels=bool(remap_labels))


def need_path(name: str, arg: str, data_dir: str | os.PathLike | None) -> str:
    """The path of a ``KIND:PATH`` source: ``arg``, else ``data_dir``, else a ValueError."""
    path = arg or (os.fspath(data_dir) if data_dir is not None else "")
    if not path:
        raise ValueError(
            f"`name`={name!r} needs a path: write it as '{name}:/path' or pass `data_dir`."
        )
    return path
