"""Image directories: CINIC-10 and Tiny ImageNet layouts, and image conversion helpers.

``"cinic10:DIR"`` (aliases ``cinic-10``, ``cinic``) and ``"tiny_imagenet:DIR"``
(aliases ``tiny-imagenet``, ``tinyimagenet``): the standard directory layouts
of two data sets TFDS lacks (`load_cinic10`, `load_tiny_imagenet`). Without a
path the name uses ``data_dir``. `convert_images` resizes / channel-converts
uint8 images (used to match pool sources to a target).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ads_jax._validation import check_array
from ads_jax.data.dataset import Dataset
from ads_jax.data.sources._registry import need_path, register_source

__all__ = ["load_cinic10", "load_tiny_imagenet", "convert_images"]

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _pil():
    try:
        from PIL import Image  # decodes image folders only
    except ImportError as e:  # pragma: no cover - pillow ships with matplotlib
        raise ImportError(
            "Reading image directories needs Pillow (a dependency of matplotlib): "
            "pip install pillow"
        ) from e
    return Image


def _read_images(paths: Sequence[Path], what: str) -> np.ndarray:
    """Decode image files into uint8 (N, H, W, 3); all must share H and W."""
    Image = _pil()
    if not paths:
        raise FileNotFoundError(f"No image files found for {what}.")
    out = None
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if out is None:
            out = np.empty((len(paths), *a.shape), dtype=np.uint8)
        elif a.shape != out.shape[1:]:
            raise ValueError(
                f"{what}: image '{p}' has shape {a.shape}, expected {out.shape[1:]} "
                "like the first image; all images must share one size."
            )
        out[i] = a
    return out


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS
    )


def _need_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: directory '{path}' not found.")


def load_cinic10(
    root: str | os.PathLike,
    *,
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
) -> Dataset:
    """Load CINIC-10 from its standard directory layout.

    Layout: ``root/{train,valid,test}/<class>/*.png`` (10 classes, 32x32 RGB;
    CIFAR-10 images plus down-sampled ImageNet images). Classes are the
    sub-directories of ``root/<train_splits[0]>`` in sorted order, which for
    CINIC-10 equals the CIFAR-10 label order (airplane .. truck). Files are
    read in sorted order; greyscale images are converted to RGB.

    Args:
      root: the CINIC-10 directory.
      train_splits: split directories concatenated into the train split, e.g.
        ``("train", "valid")`` as the CINIC-10 authors suggest for final runs.
      test_split: split directory used as test split.

    Returns:
      `Dataset` "cinic10", uint8 (N, 32, 32, 3) images.
    """
    root = Path(root).expanduser()
    _need_dir(root, "CINIC-10")
    first = root / train_splits[0]
    _need_dir(first, "CINIC-10 train split")
    classes = sorted(p.name for p in first.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"CINIC-10: no class directories in '{first}'.")

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        d = root / name
        _need_dir(d, f"CINIC-10 split '{name}'")
        files, labels = [], []
        for c, cls in enumerate(classes):
            fs = _image_files(d / cls) if (d / cls).is_dir() else []
            files += fs
            labels += [c] * len(fs)
        return _read_images(files, f"CINIC-10 split '{name}'"), np.asarray(labels, np.int32)

    tr = [split(s) for s in train_splits]
    x_test, y_test = split(test_split)
    return Dataset(
        name="cinic10",
        x_train=np.concatenate([t[0] for t in tr]),
        y_train=np.concatenate([t[1] for t in tr]),
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(classes),
    )


def load_tiny_imagenet(root: str | os.PathLike) -> Dataset:
    """Load Tiny ImageNet 200 from its standard directory layout.

    Layout: ``root/wnids.txt`` (one WordNet id per line; its order defines
    the label ids), ``root/words.txt`` (``wnid<TAB>names``; optional),
    ``root/train/<wnid>/images/*.JPEG`` and ``root/val/images/*.JPEG`` with
    ``root/val/val_annotations.txt`` (``file<TAB>wnid<TAB>bbox...``). The
    official test split has no labels, so the labelled val split (10,000
    images) is used as test split. Class names are the first synonym in
    words.txt (``"goldfish, Carassius auratus"`` -> ``"goldfish"``), else the
    wnid. Greyscale JPEGs are converted to RGB.

    Returns:
      `Dataset` "tiny_imagenet", uint8 (N, 64, 64, 3) images.
    """
    root = Path(root).expanduser()
    _need_dir(root, "Tiny ImageNet")
    wnids_file = root / "wnids.txt"
    if not wnids_file.is_file():
        raise FileNotFoundError(f"Tiny ImageNet: '{wnids_file}' not found.")
    wnids = [w.strip() for w in wnids_file.read_text().splitlines() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    words: dict[str, str] = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text().splitlines():
            wnid, _, label = line.partition("\t")
            if wnid in index:
                words[wnid] = label.split(",")[0].strip() or wnid
    names = tuple(words.get(w, w) for w in wnids)

    files, labels = [], []
    for w in wnids:
        d = root / "train" / w / "images"
        _need_dir(d, f"Tiny ImageNet train class '{w}'")
        fs = _image_files(d)
        files += fs
        labels += [index[w]] * len(fs)
    x_train = _read_images(files, "Tiny ImageNet train")

    ann = root / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise FileNotFoundError(f"Tiny ImageNet: '{ann}' not found.")
    vfiles, vlabels = [], []
    for line in ann.read_text().splitlines():
        parts = re.split(r"\s+", line.strip())
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise ValueError(f"Tiny ImageNet: '{ann}' names wnid {parts[1]!r} not in wnids.txt.")
        vfiles.append(root / "val" / "images" / parts[0])
        vlabels.append(index[parts[1]])
    x_test = _read_images(vfiles, "Tiny ImageNet val")
    return Dataset(
        name="tiny_imagenet",
        x_train=x_train,
        y_train=np.asarray(labels, np.int32),
        x_test=x_test,
        y_test=np.asarray(vlabels, np.int32),
        class_names=names,
    )


# --------------------------------------------------------------------------
# Image conversion
# --------------------------------------------------------------------------


def convert_images(
    x: np.ndarray, *, size: tuple[int, int] | None = None, channels: int | None = None
) -> np.ndarray:
    """Resize and/or change the channel count of uint8 images.

    Channels: 1 -> 3 repeats the grey channel; 3 -> 1 takes the ITU-R 601
    luma ``round(0.299 R + 0.587 G + 0.114 B)`` (PIL's "L" conversion).
    Resizing is bilinear (PIL), applied per image.

    Args:
      x: uint8 (N, H, W, C) images, C in {1, 3}.
      size: target (H', W') or None to keep the size.
      channels: target channel count (1 or 3) or None to keep it.

    Returns:
      uint8 (N, H', W', C') images (a new array).
    """
    check_array("x", x, ndim=4, allow_empty=True)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"`x` must be uint8 images, got dtype {x.dtype}.")
    c = x.shape[-1]
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels}.")
    if channels is not None and channels != c:
        if c == 1 and channels == 3:
            x = np.repeat(x, 3, axis=-1)
        elif c == 3 and channels == 1:
            w = np.asarray([0.299, 0.587, 0.114])
            x = np.rint(x.astype(np.float64) @ w).clip(0, 255).astype(np.uint8)[..., None]
        else:
            raise ValueError(f"Cannot convert images with {c} channels to {channels}.")
    if size is not None and tuple(size) != x.shape[1:3]:
        h, w = (int(s) for s in size)
        if h < 1 or w < 1:
            raise ValueError(f"`size` must be two positive ints, got {size}.")
        Image = _pil()
        out = np.empty((x.shape[0], h, w, x.shape[-1]), dtype=np.uint8)
        for i, im in enumerate(x):
            pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
            r = np.asarray(pil.resize((w, h), Image.BILINEAR), dtype=np.uint8)
            out[i] = r.reshape(h, w, -1)
        x = out
    return np.array(x, dtype=np.uint8, copy=True)


def _load_cinic10(arg: str, *, kind: str, data_dir=None, **_) -> Dataset:
    return load_cinic10(need_path(kind, arg, data_dir))


def _load_tiny_imagenet(arg: str, *, kind: str, data_dir=None, **_) -> Dataset:
    return load_tiny_imagenet(need_path(kind, arg, data_dir))


register_source("cinic10", _load_cinic10, takes_arg=True, aliases=("cinic-10", "cinic"),
                usage="cinic10:/dir")
register_source("tiny_imagenet", _load_tiny_imagenet, takes_arg=True,
                aliases=("tiny-imagenet", "tinyimagenet"), usage="tiny_imagenet:/dir")
