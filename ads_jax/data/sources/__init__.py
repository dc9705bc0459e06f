"""Data sources: one `Dataset` type, one registered loader per source family.

`load_dataset(name)` parses ``KIND`` or ``KIND:ARG`` and dispatches to the
loader registered for ``KIND`` (`register_source`; `available_sources` lists
them). Built-in sources, one module each:

=========================  ====================================================
``"digits"``               scikit-learn's 8x8 digits (bundled with
                           scikit-learn, no download); fixed train/test split
                           (:mod:`.digits`).
``"npz:/path/file.npz"``   arrays ``x_train, y_train`` and ``x_test, y_test``
                           (or ``x_test_partial, y_test_partial``), thoroughly
                           validated (:mod:`.npz`).
``"features:/path.npz"``   your own embeddings: float (N, d) ``x_train`` /
                           ``x_test`` and integer labels (:mod:`.features`).
``"cifar10"``,             TFDS through ``tfds.data_source`` (ArrayRecord
``"svhn_cropped"``,        files, read without TensorFlow). ``"+extra"``
``"svhn_cropped+extra"``,  appends SVHN's 531,131 'extra' images to train.
``"fashion_mnist"``,       ``"tfds:NAME"`` reads any other TFDS data set with
``"mnist"``, ``"tfds:N"``  ``image`` and ``label`` features (:mod:`.tfds`).
``"cinic10:/dir"``         CINIC-10 directory layout (TFDS lacks it).
``"tiny_imagenet:/dir"``   Tiny ImageNet 200 directory layout (:mod:`.folders`).
``"shifted:<name>"``       a colour/contrast-shifted copy of an image data set
                           (:mod:`.shifted`).
=========================  ====================================================

A new source family is one module here that calls `register_source` (and its
test); add its import below.
"""

from ads_jax.data.dataset import DataFileError, Dataset
from ads_jax.data.sources._registry import (
    available_sources,
    load_dataset,
    register_source,
)

# Each module registers its sources on import (the order is the order of the
# forms listed in the unknown-name error).
from ads_jax.data.sources import digits, npz, features, tfds, folders, shifted  # noqa: E402,I001
from ads_jax.data.sources.digits import DIGITS_TRAIN_SIZE, load_digits
from ads_jax.data.sources.features import load_features
from ads_jax.data.sources.folders import convert_images, load_cinic10, load_tiny_imagenet
from ads_jax.data.sources.npz import load_npz
from ads_jax.data.sources.shifted import SHIFT_CONTRAST, SHIFT_GAMMA, shift_images
from ads_jax.data.sources.tfds import TFDS_DATASETS, load_tfds

__all__ = [
    "Dataset",
    "DataFileError",
    "register_source",
    "available_sources",
    "load_dataset",
    "load_digits",
    "load_npz",
    "load_features",
    "load_tfds",
    "load_cinic10",
    "load_tiny_imagenet",
    "convert_images",
    "shift_images",
    "SHIFT_GAMMA",
    "SHIFT_CONTRAST",
    "TFDS_DATASETS",
    "DIGITS_TRAIN_SIZE",
]
