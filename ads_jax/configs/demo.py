"""``demo``: the built-in digits demo (``ads-jax demo``), seconds to minutes on a CPU.

Pool = the 1,000 digits train images (scikit-learn's 8x8 digits, no
download), 80% of them with Beta(5, 2)-power white noise, the 20 labeled
(class-balanced) seed points included (``noisy_initial``: the seed set is
drawn from the same noisy pool, so the value regressor sees noisy labeled
points from round 0); validation 200 and test 597 images from the test
split. WRN-10-1, 4 rounds of 20 picks, 5 arms, one seed.
"""

from ads_jax.configs import DEMO_ARMS, experiment, variant


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name="demo")


def _demo():
    return experiment(
        data=dict(dataset="digits", kind="noisy", noise_fraction=0.8, initial_labeled=20,
                  val_size=200, noisy_initial=True),
        model=dict(depth=10, width=1),
        train=dict(epochs=60, batch_size=16, learning_rate=0.05, patience=15, flip=False,
                   crop_padding=1),
        acquisition=dict(arm="ads+coreset", budget=20, preselect=dict(fraction=0.2)),
        loop=dict(rounds=4, arms=DEMO_ARMS, seeds=(0,), out_dir="runs/demo"),
    )


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = {"": _demo}
