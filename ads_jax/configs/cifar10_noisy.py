"""``cifar10_noisy``: CIFAR-10 with an 80% noisy pool (Beta(5, 2)-power white noise).

Variants:

* default: WRN-16-4, TFDS ``cifar10``, 1,000 labeled + 10 rounds of 1,000 (needs a GPU);
* ``cpu``: the local copy ``$ADS_JAX_DATA_DIR/cifar10/cifar10.npz`` (default data
  directory ``~/.cache/ads_jax/data``; override ``data.dataset=npz:...``), WRN-10-1,
  pool 2,000 (100 labeled, 4 rounds of 100), validation 500 and test 5,000 images
  **carved from the train split** (the copy these settings were made for holds only
  1,017 test images), at most 30 epochs: minutes on a CPU;
* ``tiny``: the built-in digits in place of CIFAR-10, seconds (smoke tests).

The paper-faithful presets of every experiment of the paper are the ``paper_*``
modules (e.g. ``paper_noisy``).
"""

from ads_jax.configs import cifar10_npz, experiment, variant

ARMS = ("ads+coreset", "coreset", "randfilter+coreset", "badge", "entropy", "random")


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name="cifar10_noisy")


def _default():
    return experiment(
        data=dict(dataset="cifar10", kind="noisy", noise_fraction=0.8, initial_labeled=1000,
                  noisy_initial=True),
        model=dict(depth=16, width=4),
        train=dict(epochs=100, batch_size=128, learning_rate=0.1, patience=10),
        acquisition=dict(arm="ads+coreset", budget=1000, preselect=dict(fraction=0.2)),
        loop=dict(rounds=10, arms=ARMS, seeds=(0, 1, 2), out_dir="runs/cifar10_noisy",
                  checkpoint_training=True),
    )


def _cpu():
    return experiment(
        data=dict(dataset=f"npz:{cifar10_npz()}", kind="noisy", noise_fraction=0.8,
                  initial_labeled=100, noisy_initial=True, pool_size=2000, val_size=500,
                  val_source="train", test_source="train", test_size=5000),
        model=dict(depth=10, width=1),
        train=dict(epochs=30, batch_size=32, learning_rate=0.05, patience=8),
        acquisition=dict(arm="ads+coreset", budget=100, preselect=dict(fraction=0.2)),
        loop=dict(rounds=4, arms=("ads+coreset", "coreset", "randfilter+coreset"),
                  seeds=(0, 1, 2), out_dir="runs/cifar10_noisy_cpu"),
    )


def _tiny():
    return experiment(
        data=dict(dataset="digits", kind="noisy", noise_fraction=0.8, initial_labeled=10,
                  noisy_initial=True, pool_size=150, val_size=50, test_size=100),
        model=dict(depth=10, width=1),
        train=dict(epochs=1, batch_size=32, learning_rate=0.05, patience=None, flip=False,
                   crop_padding=1),
        acquisition=dict(arm="ads+coreset", budget=10, preselect=dict(fraction=0.2)),
        loop=dict(rounds=1, arms=("ads+coreset", "coreset"), seeds=(0,),
                  out_dir="runs/cifar10_noisy_tiny"),
    )


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = {"": _default, "cpu": _cpu, "tiny": _tiny}
