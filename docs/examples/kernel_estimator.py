"""A new value estimator in one file: Nadaraya-Watson kernel regression.

Stage 2 of ADS (values of the labeled points -> values of the pool) with a
Gaussian kernel over all labeled points instead of the paper's per-class
KNN regressors::

    value(q) = sum_j w_j(q) v_j / sum_j w_j(q),
    w_j(q) = exp(-|q - x_j|^2 / (2 h^2)),   h^2 = bandwidth * mean_j |x_j - mean(x)|^2

Register it and run the whole loop with it::

    ads-jax run tiny --import docs/examples/kernel_estimator.py \\
        acquisition.estimator.name=kernel acquisition.estimator.options.bandwidth=0.5
"""

import dataclasses

import jax
import jax.numpy as jnp

from ads_jax.valuation import register_estimator


@dataclasses.dataclass(frozen=True)
class KernelOptions:
    """bandwidth: squared kernel width, in units of the labeled set's mean squared spread (> 0)."""

    bandwidth: float = 1.0

    def __post_init__(self):
        if not self.bandwidth > 0:
            raise ValueError(f"`estimator.options.bandwidth` must be > 0, got {self.bandwidth}.")


def kernel_estimator(train_emb, train_y, train_values, query_emb, query_probs, *, num_classes,
                     options, mesh=None, max_class_count=None, train_mask=None):
    """(Q,) kernel-regressed values of the query points (traceable; labels unused).

    ``train_mask`` (L,) bool or None: False rows are padding of a fixed-size
    labeled buffer and get zero weight.
    """
    x = jnp.asarray(train_emb, jnp.float32)
    q = jnp.asarray(query_emb, jnp.float32)
    use = jnp.ones(x.shape[0], bool) if train_mask is None else train_mask
    n = jnp.maximum(jnp.sum(use), 1)
    center = jnp.sum(jnp.where(use[:, None], x, 0.0), 0) / n  # a shared offset cancels
    x, q = x - center, q - center
    spread = jnp.sum(jnp.where(use, jnp.sum(x * x, -1), 0.0)) / n
    h2 = options.bandwidth * jnp.maximum(spread, 1e-12)
    d2 = jnp.sum(q * q, -1)[:, None] + jnp.sum(x * x, -1)[None, :] - 2.0 * q @ x.T
    logw = jnp.where(use[None, :], -jnp.maximum(d2, 0.0) / (2.0 * h2), -jnp.inf)
    w = jax.nn.softmax(logw, axis=1)  # normalised weights, stable for far queries
    return w @ jnp.asarray(train_values, jnp.float32)


register_estimator("kernel", kernel_estimator, options=KernelOptions)
