"""``shifted:<name>``: a deterministic colour/contrast-shifted copy of an image data set.

A second source of the same classes (scenario kind ``domain_shift``) where no
second real data set is at hand: ``load_dataset("shifted:digits")`` is
``load_dataset("digits")`` with `shift_images` applied to both splits; labels
and class names are unchanged. Only image data sets can be shifted
(``shifted:features:...`` is an error).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ads_jax.data.dataset import Dataset
from ads_jax.data.sources._registry import load_dataset, register_source

__all__ = ["shift_images", "SHIFT_GAMMA", "SHIFT_CONTRAST"]

#: Parameters of the synthetic domain shift of ``"shifted:NAME"`` data sets.
SHIFT_GAMMA = 0.6
SHIFT_CONTRAST = 0.6


def shift_images(x: np.ndarray) -> np.ndarray:
    """A synthetic domain shift (``"shifted:NAME"``): uint8 (N, H, W, C) -> same.

    ``f = (x / 255) ** 0.6`` (brighter, washed out), then ``0.5 + 0.6 (f - 0.5)``
    (lower contrast), then colour channels rotated RGB -> GBR (colour images
    only). Deterministic; labels and class names are unchanged, so the shifted
    copy can serve as a second source of the same classes (scenario kind
    ``domain_shift``) where no second real data set is at hand.
    """
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.uint8)
    for s in range(0, x.shape[0], 4096):  # chunks bound the float temporaries
        f = (x[s:s + 4096].astype(np.float32) / 255.0) ** SHIFT_GAMMA
        f = 0.5 + SHIFT_CONTRAST * (f - 0.5)
        if f.shape[-1] == 3:
            f = f[..., [1, 2, 0]]
        out[s:s + 4096] = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    return out


def _load(arg: str, *, kind: str, data_dir=None, download: bool = True,
          remap_labels: bool = False) -> Dataset:
    if not arg:
        raise ValueError(
            f"`name`={kind!r} needs the data set to shift: write it as 'shifted:NAME' (e.g. "
            "'shifted:digits', 'shifted:npz:/path/file.npz')."
        )
    inner = load_dataset(arg, data_dir=data_dir, download=download, remap_labels=remap_labels)
    if not inner.has_images:
        raise ValueError(
            f"'shifted:{arg}': '{inner.name}' holds feature vectors, not images; the synthetic "
            "shift changes colours and contrast of images, and features cannot be corrupted "
            "as images. Use an image data set, or a second features file as the other source."
        )
    return dataclasses.replace(inner, name=f"shifted:{inner.name}",
                               x_train=shift_images(inner.x_train),
                               x_test=shift_images(inner.x_test))


register_source("shifted", _load, takes_arg=True, remap_labels=True,
                usage="shifted:<any image name>")
