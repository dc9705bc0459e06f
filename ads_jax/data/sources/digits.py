"""``digits``: scikit-learn's 8x8 handwritten digits (bundled, no download)."""

from __future__ import annotations

import numpy as np

from ads_jax.data.dataset import Dataset
from ads_jax.data.sources._registry import register_source

__all__ = ["load_digits", "DIGITS_TRAIN_SIZE"]

#: Size of the fixed train split of the built-in digits data (the other
#: 1797 - 1000 = 797 images form its test split).
DIGITS_TRAIN_SIZE = 1000


def load_digits() -> Dataset:
    """scikit-learn's handwritten digits as a small real image data set.

    1,797 greyscale 8x8 images of the digits 0-9 (bundled with scikit-learn,
    no download). Pixel values 0..16 are scaled to uint8 0..255 by
    ``round(v * 255 / 16)``. The split is fixed: a permutation drawn with
    ``np.random.default_rng(0)``; its first `DIGITS_TRAIN_SIZE` = 1000 images
    are the train split, the remaining 797 the test split.

    Returns:
      `Dataset` "digits": x_train uint8 (1000, 8, 8, 1), y_train int32 (1000,),
      x_test uint8 (797, 8, 8, 1), y_test int32 (797,), class names "0".."9".
    """
    from sklearn.datasets import load_digits as _sk_load_digits  # ~1 s: only for digits

    bunch = _sk_load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    x = images.astype(np.uint8)[..., None]
    y = np.asarray(bunch.target, dtype=np.int32)
    perm = np.random.default_rng(0).permutation(len(x))
    tr, te = perm[:DIGITS_TRAIN_SIZE], perm[DIGITS_TRAIN_SIZE:]
    return Dataset(
        name="digits",
        x_train=x[tr],
        y_train=y[tr],
        x_test=x[te],
        y_test=y[te],
        class_names=tuple(str(i) for i in range(10)),
    )


def _load(arg: str, **_) -> Dataset:
    return load_digits()


register_source("digits", _load, takes_arg=False)
