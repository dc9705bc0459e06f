"""``fashion_mnist_noisy``: Fashion-MNIST, 80% noisy pool, WRN-10-1 -- the CPU-feasible
ADS comparison (RESULTS.md section 2).

Pool = 3,000 train images, 80% of them (seed set included, ``noisy_initial``)
with Beta(5, 2)-power white noise; 50 labeled to start; validation 500 and
test 2,000 images; 4 rounds of 50 picks; 3 seeds.

``data.dataset`` is the TFDS name; point it at a local copy with
``data.dataset=npz:/path/fashion_mnist.npz`` (see experiments/fashion_mnist_noisy.py).
"""

from ads_jax.configs import experiment, variant

#: Training recipe of the small CPU-feasible runs (tens to hundreds of labeled
#: images): SGD + cosine, small batches so that even the first round takes
#: enough steps, early stopping on the validation set.
SMALL_TRAIN = dict(epochs=40, batch_size=32, learning_rate=0.05, patience=10)


def get_config(arg: str = ""):
    return variant(arg, VARIANTS, experiment_name="fashion_mnist_noisy")


def _default():
    return experiment(
        data=dict(dataset="fashion_mnist", kind="noisy", noise_fraction=0.8, initial_labeled=50,
                  val_size=500, test_size=2000, pool_size=3000, noisy_initial=True),
        model=dict(depth=10, width=1),
        train=dict(SMALL_TRAIN),
        acquisition=dict(arm="ads+coreset", budget=50, preselect=dict(fraction=0.2)),
        loop=dict(rounds=4, arms=("ads+coreset", "coreset", "randfilter+coreset"),
                  seeds=(0, 1, 2), out_dir="runs/fashion_mnist_noisy"),
    )


#: Variant name -> builder (``get_config(name)``); listed by ``ads-jax list``.
VARIANTS = {"": _default}
