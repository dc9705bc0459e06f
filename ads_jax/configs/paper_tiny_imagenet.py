"""``paper_tiny_imagenet``: the paper's curated Tiny ImageNet experiment (pre-selection 20%).

The protocol of :mod:`ads_jax.configs.paper_cifar10` (5,000 initial labeled =
25 per class, batches of 5,000, 5 rounds, 500 test images for validation and
KNN-Shapley, the rest for the results, WRN-28-10 for the paper's "WRN-24-10",
per-class KNN regression, value of the top-10 of the 200 classes, ``max``) on
Tiny ImageNet 200 (``tiny_imagenet:`` + :data:`TINY_IMAGENET_DIR`, 64x64 RGB:
the 100,000 train images are the pool; its labelled ``val`` split, 10,000
images, serves as test split: 500 validate, 9,500 test), with the paper's 20%
pre-selection.

Tiny ImageNet is not available offline here, so ``cpu`` is the same code
path at small sizes (pool 4,000, 400 labeled = 2 per class, batches of 400,
WRN-10-1) that runs once the directory exists
(``data.dataset=tiny_imagenet:/your/dir``); it was never run here. ``tiny``
runs on the built-in digits (smoke tests only).
"""

from __future__ import annotations

from ads_jax.configs import variant
from ads_jax.configs.paper_cifar10 import (
    CPU_MODEL,
    CPU_TRAIN,
    PRESELECT,
    WRN_28_10,
    paper_data,
    paper_experiment,
    standard_variants,
    tiny_data,
)

NAME = "paper_tiny_imagenet"
#: Tiny ImageNet directory (layout root/train/<wnid>/images, root/val/images).
TINY_IMAGENET_DIR = "/data/tiny-imagenet-200"
FRACTION = PRESELECT["tiny_imagenet"]


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name=NAME)


def _paper():
    return paper_experiment(
        name=NAME, variant_name="paper",
        data=paper_data(dataset=f"tiny_imagenet:{TINY_IMAGENET_DIR}", kind="curated"),
        model=WRN_28_10, preselect_fraction=FRACTION, loop=dict(checkpoint_training=True))


def _cpu_exp(variant_name: str, estimator=None):
    return paper_experiment(
        name=NAME, variant_name=variant_name,
        data=dict(dataset=f"tiny_imagenet:{TINY_IMAGENET_DIR}", kind="curated",
                  initial_labeled=400, val_size=500, val_source="test", test_size=2000,
                  pool_size=4000),
        model=CPU_MODEL, train=CPU_TRAIN, budget=400, preselect_fraction=FRACTION,
        estimator=estimator)


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = standard_variants(name=NAME, fraction=FRACTION, paper=_paper, cpu=_cpu_exp,
                             tiny_data=lambda: tiny_data(kind="curated"))
