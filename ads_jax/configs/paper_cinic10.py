"""``paper_cinic10``: the paper's curated CINIC-10 experiment (pre-selection 20%).

The protocol of :mod:`ads_jax.configs.paper_cifar10` (5,000 initial labeled,
batches of 5,000, 5 rounds, 500 test images for validation and KNN-Shapley,
the rest of the test set for the results, WRN-28-10 for the paper's
"WRN-24-10", per-class KNN regression, top-10 classes, ``max``) on CINIC-10
(``cinic10:`` + :data:`CINIC10_DIR`: the train split, 90,000 images, is the
pool; 500 of the 90,000 test images validate, the other 89,500 test), with the
paper's 20% pre-selection.

CINIC-10 is not available offline here, so the ``cpu`` variant is the same
code path at the CPU sizes of ``paper_cifar10:cpu`` (pool 1,000, 100 labeled,
batches of 100, WRN-10-1) that runs once the directory exists
(``data.dataset=cinic10:/your/dir``); it was never run here. ``tiny`` runs
on the built-in digits (smoke tests only).
"""

from __future__ import annotations

from ads_jax.configs import variant
from ads_jax.configs.paper_cifar10 import (
    PRESELECT,
    WRN_28_10,
    cpu_data,
    paper_data,
    paper_experiment,
    standard_variants,
    tiny_data,
)

NAME = "paper_cinic10"
#: CINIC-10 directory (layout root/{train,valid,test}/<class>/*.png).
CINIC10_DIR = "/data/cinic10"
FRACTION = PRESELECT["cinic10"]


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name=NAME)


def _paper():
    return paper_experiment(name=NAME, variant_name="paper",
                            data=paper_data(dataset=f"cinic10:{CINIC10_DIR}", kind="curated"),
                            model=WRN_28_10, preselect_fraction=FRACTION,
                            loop=dict(checkpoint_training=True))


def _cpu_data() -> dict:
    return cpu_data(dataset=f"cinic10:{CINIC10_DIR}", kind="curated", val_source="test",
                    test_size=2000, pool_size=1000)


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = standard_variants(name=NAME, fraction=FRACTION, paper=_paper, cpu_data=_cpu_data,
                             tiny_data=lambda: tiny_data(kind="curated"))
