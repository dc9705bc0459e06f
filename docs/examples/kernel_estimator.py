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

import jax
import jax.numpy as jnp

from ads_jax.valuation import EstimateInputs, Estimator, register_estimator


def kernel(bandwidth: float = 1.0) -> Estimator:
    """The estimator factory: its keyword arguments are its options
    (``acquisition.estimator.options.bandwidth``), checked when a config is built.

    ``bandwidth``: squared kernel width, in units of the labeled set's mean
    squared spread (> 0).
    """
    if not bandwidth > 0:
        raise ValueError(f"`estimator.options.bandwidth` must be > 0, got {bandwidth}.")

    def estimate(x: EstimateInputs, *, valuation=None, mesh=None):
        """(U,) kernel-regressed values of the pool (traceable; labels unused).

        ``x.labeled_mask`` (L,) bool or None: False rows are padding of a
        fixed-size labeled buffer and get zero weight.
        """
        lx = jnp.asarray(x.labeled_emb, jnp.float32)
        q = jnp.asarray(x.pool_emb, jnp.float32)
        use = jnp.ones(lx.shape[0], bool) if x.labeled_mask is None else x.labeled_mask
        n = jnp.maximum(jnp.sum(use), 1)
        center = jnp.sum(jnp.where(use[:, None], lx, 0.0), 0) / n  # a shared offset cancels
        lx, q = lx - center, q - center
        spread = jnp.sum(jnp.where(use, jnp.sum(lx * lx, -1), 0.0)) / n
        h2 = bandwidth * jnp.maximum(spread, 1e-12)
        d2 = jnp.sum(q * q, -1)[:, None] + jnp.sum(lx * lx, -1)[None, :] - 2.0 * q @ lx.T
        logw = jnp.where(use[None, :], -jnp.maximum(d2, 0.0) / (2.0 * h2), -jnp.inf)
        w = jax.nn.softmax(logw, axis=1)  # normalised weights, stable for far queries
        return w @ jnp.asarray(x.labeled_values, jnp.float32)

    return Estimator(estimate=estimate)


register_estimator("kernel", kernel)
