"""Data sources and the active-learning scenarios of the paper.

``load_dataset(name)`` returns a `Dataset` (uint8 NHWC images, or float32
(N, d) features for ``features:PATH``; int32 labels, class names) from a
registered source (:mod:`ads_jax.data.sources`: TFDS, ``.npz`` files,
scikit-learn's digits, the CINIC-10 / Tiny ImageNet directory layouts, your
own embeddings, shifted copies). ``build_scenario(cfg, seed)`` turns a
`ScenarioConfig` into a `Scenario`: seed set, pool with per-point provenance
(`PROVENANCE`), validation and test sets, built by a registered scenario kind
(:mod:`ads_jax.data.kinds`). ``load_scenario_datasets(cfg)`` loads every data
set a scenario names once. Local copies live under the user-level data
directory (:mod:`ads_jax.data.location`, ``$ADS_JAX_DATA_DIR``).
"""

from ads_jax.data.dataset import FEATURES, IMAGES, DataFileError, Dataset
from ads_jax.data.location import data_dir
from ads_jax.data.scenario import (
    CLEAN,
    MISLABELED,
    NOISY,
    NON_CLEAN,
    OOD,
    PROVENANCE,
    PROVENANCES,
    SOURCE_DOMAIN,
    Provenance,
    PoolRows,
    Scenario,
    ScenarioConfig,
    build_scenario,
    count_from_fraction,
    load_scenario_datasets,
    scenario_dataset_names,
)
from ads_jax.data.kinds import available_kinds, register_kind  # noqa: I001
from ads_jax.data.kinds.noisy import add_white_noise
from ads_jax.data.sources import (
    DIGITS_TRAIN_SIZE,
    TFDS_DATASETS,
    available_sources,
    convert_images,
    load_cinic10,
    load_dataset,
    load_digits,
    load_features,
    load_npz,
    load_tfds,
    load_tiny_imagenet,
    register_source,
    shift_images,
)

__all__ = [
    "CLEAN",
    "DIGITS_TRAIN_SIZE",
    "Dataset",
    "DataFileError",
    "FEATURES",
    "IMAGES",
    "KINDS",
    "MISLABELED",
    "NOISY",
    "NON_CLEAN",
    "OOD",
    "PROVENANCE",
    "PROVENANCES",
    "Provenance",
    "SOURCE_DOMAIN",
    "PoolRows",
    "Scenario",
    "ScenarioConfig",
    "TFDS_DATASETS",
    "add_white_noise",
    "available_kinds",
    "available_sources",
    "build_scenario",
    "convert_images",
    "count_from_fraction",
    "data_dir",
    "load_cinic10",
    "load_dataset",
    "load_digits",
    "load_features",
    "load_npz",
    "load_scenario_datasets",
    "load_tfds",
    "load_tiny_imagenet",
    "register_kind",
    "register_source",
    "scenario_dataset_names",
    "shift_images",
]


def __getattr__(name: str):
    if name == "KINDS":  # the registered scenario kinds, read at access time
        return available_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
