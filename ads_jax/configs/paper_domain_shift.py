"""``paper_domain_shift``: the paper's domain-shift pool -- unlabeled images from another
source than the one the model is evaluated on -- with the top-20% pre-selection.

Paper: the pool is CINIC-10 (CIFAR-10's classes, mostly down-sampled ImageNet
images), validation and test are CIFAR-10 (scenario kind ``domain_shift``:
``source_datasets`` make up the unlabeled pool, validation / test / the seed
set come from the target ``dataset``; pool points from a source other than
the target have provenance ``source_domain``). Pre-selection 20% (the paper's
fraction for CINIC-10). Everything else as in ``paper_cifar10``.

Variants:

* ``paper`` (default): target TFDS ``cifar10``, pool = the CINIC-10 train split
  (``cinic10:`` + :data:`CINIC10_DIR`, a directory in CINIC-10's layout; override
  with ``data.source_datasets=[cinic10:/your/dir]``). WRN-28-10. The 5,000
  initial labeled images are CIFAR-10 train images (ads_jax always draws the
  seed set from the target; the paper does not say).
* ``cpu``: **a synthetic shift, not CINIC-10.** No second real data set with
  CIFAR-10's classes is available offline here, so the second source is the
  dataset spec ``shifted:<target>`` (:func:`ads_jax.data.shift_images`: gamma
  0.6, contrast x0.6 around mid-grey, colour channels rotated RGB -> GBR), a
  deterministic colour/contrast-shifted copy of the local CIFAR-10 copy
  :func:`~ads_jax.configs.cifar10_npz`, computed when the data are loaded (nothing is written
  to disk). The pool mixes 20% clean CIFAR-10 with 80% shifted images
  (``source_weights=[0.2, 0.8]``; CINIC-10 itself is about 78% ImageNet
  images), pool 2,000 (so 20% of the 1,900 unlabeled = 380 candidates = 3.8
  batches, about the paper's 20% of ~85,000 = 3.4 batches), 100 labeled,
  batches of 100, WRN-10-1, 5 rounds, 3 seeds. The local copy holds only
  1,017 test images, so validation (500) and test (5,000) are carved from the
  CIFAR-10 train split (``val_source="train"``, ``test_source="train"``,
  ``test_size=5000``). Both pool sources (the target and ``shifted:<target>``)
  are drawn from the target's train rows left after validation, test and the
  seed set, and never the same row twice: the pool holds no image together
  with its shifted twin, and no shifted copy of a validation or test image.
* ``cpu_ours``: ``cpu`` with ads_jax's regression defaults (k = 10, distance
  weights, ``mean``).
* ``tiny``: seconds; built-in digits with ``shifted:digits`` (the same
  transform without the channel rotation), 20% / 80%.
"""

from __future__ import annotations

from ads_jax.configs import variant
from ads_jax.configs.paper_cifar10 import (
    PRESELECT,
    WRN_28_10,
    cpu_cifar10_data,
    paper_data,
    paper_experiment,
    standard_variants,
    tiny_data,
)

NAME = "paper_domain_shift"
#: CINIC-10 directory of the paper variant (override data.source_datasets).
CINIC10_DIR = "/data/cinic10"
FRACTION = PRESELECT["cinic10"]
#: Mixture of the CPU stand-in: (clean target, shifted copy).
SOURCE_WEIGHTS = (0.2, 0.8)


def shifted(spec: str) -> str:
    """The dataset spec of the synthetic shift of ``spec`` (``shifted:<spec>``)."""
    return f"shifted:{spec}"


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name=NAME)


def _paper():
    return paper_experiment(
        name=NAME, variant_name="paper",
        data=paper_data(dataset="cifar10", kind="domain_shift",
                        source_datasets=(f"cinic10:{CINIC10_DIR}",)),
        model=WRN_28_10, preselect_fraction=FRACTION, loop=dict(checkpoint_training=True))


def _cpu_data() -> dict:
    data = cpu_cifar10_data(kind="domain_shift", pool_size=2000,
                            source_weights=SOURCE_WEIGHTS)
    return dict(data, source_datasets=(data["dataset"], shifted(data["dataset"])))


def _tiny_data() -> dict:
    return tiny_data(kind="domain_shift", source_datasets=("digits", shifted("digits")),
                     source_weights=SOURCE_WEIGHTS)


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = standard_variants(name=NAME, fraction=FRACTION, paper=_paper, cpu_data=_cpu_data,
                             tiny_data=_tiny_data)
