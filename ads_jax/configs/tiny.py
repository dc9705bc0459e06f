"""``tiny``: the smallest end-to-end config (tests, smoke checks): seconds on a CPU.

Digits, 80% noisy pool of 150 (10 labeled), validation 50, test 100, WRN-10-1
trained 2 epochs, 2 rounds of 10 picks, arms ``ads+coreset`` and ``coreset``.
"""

from ads_jax.configs import experiment, variant


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name="tiny")


def _tiny():
    return experiment(
        data=dict(dataset="digits", kind="noisy", noise_fraction=0.8, initial_labeled=10,
                  val_size=50, test_size=100, pool_size=150),
        model=dict(depth=10, width=1),
        train=dict(epochs=2, batch_size=32, learning_rate=0.05, patience=None, flip=False,
                   crop_padding=1),
        acquisition=dict(arm="ads+coreset", budget=10, preselect=dict(fraction=0.3)),
        loop=dict(rounds=2, arms=("ads+coreset", "coreset"), seeds=(0,), out_dir="runs/tiny"),
    )


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = {"": _tiny}
