"""Data sources and the active-learning scenarios of the paper.

``load_dataset(name)`` returns a `Dataset` (uint8 NHWC images, int32 labels,
class names) from TFDS, a ``.npz`` file, scikit-learn's digits, or the
CINIC-10 / Tiny ImageNet directory layouts. ``build_scenario(cfg, seed)``
turns a `ScenarioConfig` into a `Scenario`: seed set, pool with per-point
provenance (`PROVENANCE`), validation and test sets.
"""

from ads_jax.data.pools import (
    CLEAN,
    KINDS,
    MISLABELED,
    NOISY,
    NON_CLEAN,
    OOD,
    PROVENANCE,
    PROVENANCES,
    SOURCE_DOMAIN,
    Provenance,
    Scenario,
    ScenarioConfig,
    add_white_noise,
    build_scenario,
    count_from_fraction,
)
from ads_jax.data.sources import (
    DIGITS_TRAIN_SIZE,
    DataFileError,
    TFDS_DATASETS,
    Dataset,
    convert_images,
    load_cinic10,
    load_dataset,
    load_digits,
    load_npz,
    load_tfds,
    load_tiny_imagenet,
    shift_images,
)

__all__ = [
    "CLEAN",
    "DIGITS_TRAIN_SIZE",
    "Dataset",
    "DataFileError",
    "KINDS",
    "MISLABELED",
    "NOISY",
    "NON_CLEAN",
    "OOD",
    "PROVENANCE",
    "PROVENANCES",
    "Provenance",
    "SOURCE_DOMAIN",
    "Scenario",
    "ScenarioConfig",
    "TFDS_DATASETS",
    "add_white_noise",
    "build_scenario",
    "convert_images",
    "count_from_fraction",
    "load_cinic10",
    "load_dataset",
    "load_digits",
    "load_npz",
    "load_tfds",
    "load_tiny_imagenet",
    "shift_images",
]
