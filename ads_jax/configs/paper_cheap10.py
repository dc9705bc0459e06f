"""``paper_cheap10``: a stand-in for the paper's web-scraped Cheap-10 pool -- out-of-
distribution images and wrong labels mixed into a CIFAR-10 pool -- with the top-10%
pre-selection.

The paper's Cheap-10 (images found on the web for the ten CIFAR-10 class
names) is not available, so this preset builds its two kinds of defect into
the target's own pool (scenario kind ``cheap``, :mod:`ads_jax.data.kinds.cheap`): a
fraction ``ood_fraction`` of the unlabeled pool images is *replaced* by images
of another data set carrying a uniformly random CIFAR-10 label (provenance
``ood``), and a disjoint fraction ``mislabel_fraction`` keeps its image but
gets a wrong label (provenance ``mislabeled``). Validation and test are clean
CIFAR-10 images, the seed set is clean (kind ``cheap`` has no corrupted seed
set).

Our picks (the paper does not give Cheap-10's make-up):

* 40% OOD + 40% mislabeled = 80% non-clean, as in the 80% noisy pool
  (``data.ood_fraction=0.4, data.mislabel_fraction=0.4``; e.g.
  ``data.ood_fraction=0.3 data.mislabel_fraction=0.3`` for a milder pool);
* OOD images: CIFAR-100 (``paper``: TFDS ``tfds:cifar100``, natural 32x32
  photos of 100 classes disjoint from CIFAR-10's -- the nearest stand-in for
  off-topic web images); ``cpu``: Fashion-MNIST (the only other data set
  available offline here), converted to 32x32 RGB (``convert_images``) --
  grey clothing images, easier to tell apart than web photos, so this
  stand-in flatters any filter.
* everything else as in ``paper_cifar10`` (regression k = 5, uniform, max over
  the top-10 classes; K = 5).

With the paper's numbers the 10% pre-selection of the 45,000 unlabeled
CIFAR-10 images keeps 4,500 < B = 5,000 candidates, clipped to B (``ads+coreset``
= ``ads-top`` there; see ``paper_noisy``).

Variants: ``paper`` (default; CIFAR-10 + CIFAR-100 from TFDS, WRN-28-10),
``cpu`` (local CIFAR-10 + Fashion-MNIST ``npz`` copies, pool 3,000, 100
labeled, batches of 100; the local CIFAR-10 copy holds only 1,017 test
images, so validation (500) and test (5,000) are both carved from its train
split, disjoint from the pool: ``val_source="train"``, ``test_source="train"``,
``test_size=5000``; WRN-10-1, 5 rounds, 3 seeds), ``cpu_ours`` (``cpu`` with ads_jax's regression
defaults: k = 10, distance weights, ``mean``), ``tiny`` (built-in digits;
its "OOD" images are other digits images with random labels, which only
exercises the code path).
"""

from __future__ import annotations

from ads_jax.configs import fashion_mnist_npz, variant
from ads_jax.configs.paper_cifar10 import (
    PRESELECT,
    WRN_28_10,
    cpu_cifar10_data,
    paper_data,
    paper_experiment,
    standard_variants,
    tiny_data,
)

NAME = "paper_cheap10"
OOD_FRACTION = 0.4
MISLABEL_FRACTION = 0.4
PAPER_OOD = "tfds:cifar100"
FRACTION = PRESELECT["cheap10"]


def cpu_ood() -> str:
    """The OOD data set of the ``cpu`` variants: the local Fashion-MNIST copy."""
    return f"npz:{fashion_mnist_npz()}"


def _cheap(ood: str) -> dict:
    return dict(kind="cheap", ood_dataset=ood, ood_fraction=OOD_FRACTION,
                mislabel_fraction=MISLABEL_FRACTION, convert_images=True)


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name=NAME)


def _paper():
    return paper_experiment(name=NAME, variant_name="paper",
                            data=paper_data(dataset="cifar10", **_cheap(PAPER_OOD)),
                            model=WRN_28_10, preselect_fraction=FRACTION,
                            loop=dict(checkpoint_training=True))


def _cpu_data() -> dict:
    return cpu_cifar10_data(pool_size=3000, **_cheap(cpu_ood()))


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = standard_variants(name=NAME, fraction=FRACTION, paper=_paper, cpu_data=_cpu_data,
                             tiny_data=lambda: tiny_data(**_cheap("digits")))
