"""``cifar10_noisy``: CIFAR-10 with an 80% noisy pool and WRN-16-4 (needs a GPU).

The default variant is the original built-in config; the paper-faithful
presets of every experiment of the paper are the ``paper_*`` modules.
"""

from ads_jax.configs import experiment, variant


def get_config(arg: str = ""):
    return variant(arg, {"": _default}, experiment_name="cifar10_noisy")


def _default():
    return experiment(
        data=dict(dataset="cifar10", kind="noisy", noise_fraction=0.8, initial_labeled=1000,
                  noisy_initial=True),
        model=dict(depth=16, width=4),
        train=dict(epochs=100, batch_size=128, learning_rate=0.1, patience=10),
        acquisition=dict(arm="ads+coreset", budget=1000, preselect=dict(fraction=0.2)),
        loop=dict(rounds=10,
                  arms=("ads+coreset", "coreset", "randfilter+coreset", "badge", "entropy",
                        "random"),
                  seeds=(0, 1, 2), out_dir="runs/cifar10_noisy", checkpoint_training=True),
    )
