"""``proxy_paper``: the paper's Table 1 and Figure 5 at the paper's pool and batch sizes,
in proxy mode (a frozen backbone's features, a linear head retrained every round).

Protocol (the paper's numbers where they fit a CPU; :mod:`ads_jax.proxy`):

* **data** -- the local CIFAR-10 copy (:func:`~ads_jax.configs.cifar10_npz`).
  The backbones' 9,000 held-out train rows are excluded from everything
  (``data.backbone``); 500 validation images are carved from the train split
  and the test set is the copy's 1,017 official test images (all it holds), so
  the pool is the remaining 40,500 train images: 5,000 initial labels
  (class-balanced) and 35,500 unlabeled;
* **rounds** -- batches of B = 5,000, 5 rounds (Figure 5) or the first round
  (Table 1), 10 seeds;
* **model** -- ``model.name=linear`` (multinomial logistic regression with L2,
  to convergence) on the features of a frozen WRN-10-2 backbone: ``small``
  (trained on 2,000 held-out labels) or ``large`` (8,000), made by
  ``python experiments/proxy/backbones.py --preset cpu`` into
  ``runs/backbones/cpu_{small,large}`` (paths relative to the working
  directory; override ``data.backbone``);
* **settings** (Figure 5) -- ``curated`` (pre-selection 30%), ``noisy`` (80%
  of the unlabeled pool with Beta(2, 5)-power white noise, clean seed set,
  10%), ``ood`` (40% of the unlabeled pool replaced by Fashion-MNIST images
  with random labels and 20% mislabeled, 10%), ``shift`` (80% of the pool
  from a colour/contrast-shifted copy of CIFAR-10, 20%): the ``cpu`` variants'
  scenarios of :mod:`paper_cifar10`, :mod:`paper_noisy`, :mod:`paper_cheap10`
  (with 20% mislabeled instead of 40%, the value-quality study's pool) and
  :mod:`paper_domain_shift` at full size. With 35,500 unlabeled points the
  paper's 10% keeps 3,550 < B candidates: the pre-selection is then raised to
  B, i.e. ``ads+coreset`` ranks by value alone (``ads-top``) in ``noisy``/``ood``;
* **choices** -- the paper's value regression (k = 5, uniform, top-10, max) or,
  with the ``_ours`` suffix, ads_jax's defaults (k = 10, distance weights,
  mean); KNN-Shapley K = 5 in both.

Variants: ``<setting>_<quality>[_ours]`` with quality ``small``, ``large`` or
``tiny`` (digits, a pool of 400, batches of 10, 2 rounds, 2 seeds, the tiny
backbone: a smoke test) (Figure 5; arms ``ads+coreset``,
``coreset``, ``entropy``, ``random``, ``randfilter+coreset``) and
``table1_<quality>[_ours]`` (Table 1: Core-set, K-Medians and BADGE each alone,
after ADS and after the random pre-filter), e.g. ``proxy_paper:noisy_small``.
"""

from __future__ import annotations

from ads_jax.configs import cifar10_npz, variant
from ads_jax.configs.paper_cheap10 import OOD_FRACTION, cpu_ood
from ads_jax.configs.paper_cifar10 import (
    CURVE_ARMS,
    OURS_ESTIMATOR,
    PAPER_BUDGET,
    PAPER_INITIAL_LABELED,
    PAPER_ROUNDS,
    PAPER_VAL_SIZE,
    PRESELECT,
    TABLE1_ARMS,
    paper_experiment,
)
from ads_jax.configs.paper_domain_shift import SOURCE_WEIGHTS, shifted
from ads_jax.configs.paper_noisy import NOISE_FRACTION, PAPER_NOISE_BETA
from ads_jax.models import ModelConfig
from ads_jax.proxy import BackboneConfig
from ads_jax.training import TrainConfig

NAME = "proxy_paper"
#: Backbone directories (relative to the working directory), per embedding quality.
BACKBONES = {"small": "runs/backbones/cpu_small", "large": "runs/backbones/cpu_large"}
#: Where the ``tiny`` backbones of the smoke tests live.
TINY_BACKBONES = {"small": "runs/backbones/tiny_small", "large": "runs/backbones/tiny_large"}


def backbone_configs(preset: str) -> dict:
    """The backbones of a preset, ``{quality: BackboneConfig}``: ``cpu`` -- WRN-10-2 (128-d
    features; ~3x faster to embed than WRN-16-2 on a CPU) on 2,000 / 8,000 of 9,000
    held-out CIFAR-10 train rows, 1,000 more for early stopping; ``tiny`` -- WRN-10-1 on
    digits, 2 epochs (seconds)."""
    if preset == "cpu":
        model = ModelConfig(depth=10, width=2)
        common = dict(dataset=f"npz:{cifar10_npz()}", holdout=9000, holdout_seed=20261204,
                      val_rows=1000, model=model)
        return {"small": BackboneConfig(labels=2000, train=TrainConfig(
                    epochs=60, batch_size=128, learning_rate=0.1, patience=12), **common),
                "large": BackboneConfig(labels=8000, train=TrainConfig(
                    epochs=30, batch_size=128, learning_rate=0.1, patience=8), **common)}
    if preset == "tiny":
        train = TrainConfig(epochs=2, batch_size=32, learning_rate=0.05, patience=None,
                            flip=False, crop_padding=1)
        return {q: BackboneConfig(dataset="digits", holdout=300, holdout_seed=1, labels=n,
                                  val_rows=50, model=ModelConfig(depth=10, width=1), train=train)
                for q, n in (("small", 100), ("large", 250))}
    raise ValueError(f"no backbones for preset {preset!r}; presets: cpu, tiny.")
#: 10 seeds: enough to resolve a 1-2 point paired difference.
SEEDS = tuple(range(10))
#: Pool rows: 50,000 train - 9,000 held out - 500 validation.
POOL_SIZE = 40500
HEAD = dict(name="linear")
#: Mislabeled share of the ``ood`` setting: 20% (with 40% OOD), the value-quality
#: study's setting (experiments/value_quality.py); paper_cheap10's ``cpu`` uses 40%.
MISLABEL_FRACTION = 0.2


def _data(quality: str, **kw) -> dict:
    if quality == "tiny":  # digits, a pool of 400, the tiny backbone (smoke tests)
        d = dict(dataset="digits", initial_labeled=20, val_size=50, test_size=100,
                 pool_size=400, backbone=TINY_BACKBONES["large"])
        if kw.get("kind") == "cheap":
            kw = dict(kw, ood_dataset="digits")
        if kw.get("kind") == "domain_shift":
            kw = dict(kw, source_datasets=("digits", shifted("digits")))
        return dict(d, **kw)
    dataset = f"npz:{cifar10_npz()}"
    return dict(dict(dataset=dataset, initial_labeled=PAPER_INITIAL_LABELED,
                     val_size=PAPER_VAL_SIZE, val_source="train", test_source="test",
                     pool_size=POOL_SIZE, backbone=BACKBONES[quality]), **kw)


def _setting(name: str, quality: str) -> tuple[dict, float]:
    """(data section, pre-selection fraction) of a Figure 5 setting."""
    if name == "curated":
        return _data(quality, kind="curated"), PRESELECT["cifar10"]
    if name == "noisy":
        return _data(quality, kind="noisy", noise_fraction=NOISE_FRACTION,
                     noise_beta=PAPER_NOISE_BETA), PRESELECT["noisy"]
    if name == "ood":
        return _data(quality, kind="cheap", ood_dataset=cpu_ood(), ood_fraction=OOD_FRACTION,
                     mislabel_fraction=MISLABEL_FRACTION, convert_images=True), \
            PRESELECT["cheap10"]
    if name == "shift":
        d = _data(quality, kind="domain_shift", source_weights=SOURCE_WEIGHTS,
                  source_datasets=("x",))
        return dict(d, source_datasets=(d["dataset"], shifted(d["dataset"]))), \
            PRESELECT["cinic10"]
    raise ValueError(name)  # pragma: no cover - the variants below name the settings


#: Figure 5's settings, in the paper's order.
SETTINGS = ("curated", "noisy", "ood", "shift")
QUALITIES = ("small", "large")


def _experiment(setting: str, quality: str, ours: bool, *, table1: bool = False):
    data, fraction = _setting("curated" if table1 else setting, quality)
    vname = f"{'table1' if table1 else setting}_{quality}{'_ours' if ours else ''}"
    tiny = quality == "tiny"
    return paper_experiment(
        name=NAME, variant_name=vname, data=data, model=dict(HEAD), train=dict(epochs=1),
        preselect_fraction=fraction, estimator=OURS_ESTIMATOR if ours else None,
        budget=10 if tiny else PAPER_BUDGET,
        rounds=1 if table1 else (2 if tiny else PAPER_ROUNDS),
        arms=TABLE1_ARMS if table1 else CURVE_ARMS, seeds=(0, 1) if tiny else SEEDS)


def variants() -> dict:
    """Every variant's builder (``{name: () -> ExperimentConfig}``)."""
    out = {}
    out[""] = lambda: _experiment("curated", "small", False)  # the default: curated, small
    for q in QUALITIES + ("tiny",):
        for ours in (False, True):
            sfx = "_ours" if ours else ""
            for s in SETTINGS:
                out[f"{s}_{q}{sfx}"] = (lambda s=s, q=q, o=ours: _experiment(s, q, o))
            out[f"table1_{q}{sfx}"] = (lambda q=q, o=ours: _experiment("curated", q, o,
                                                                       table1=True))
    return out


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name=NAME)


VARIANTS = variants()
