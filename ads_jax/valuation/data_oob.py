r"""Data-OOB: data values from out-of-bag accuracy (Kwon & Zou, ICML 2023).

Kwon & Zou, "Data-OOB: Out-of-bag Estimate as a Simple and Efficient Data
Value". Train ``B`` models on bootstrap resamples ("bags") of the training
set; the value of point ``i`` is its out-of-bag accuracy, the fraction of the
bags that do not contain ``i`` whose model predicts ``y_i`` correctly::

    value_i = sum_b 1[c_bi = 0] 1[f_b(x_i) = y_i] / sum_b 1[c_bi = 0]

``c_bi`` being the number of copies of ``i`` in bag ``b``. A mislabeled or
atypical point is predicted wrongly by the models that did not see it and gets
a low value. The paper uses random forests; here the model is the linear head
of proxy mode (:func:`ads_jax.training.heads.fit_linear_head`: L2 multinomial
logistic regression on the frozen features), fitted on all bags at once
(``vmap`` over bags, or over chunks of bags: ``bag_batch``), with the bag
counts as sample weights.

Conventions
-----------
* **Bags.** Bag ``b`` draws ``n`` indices uniformly with replacement among the
  ``n`` valid rows (``train_mask``); ``c_bi`` counts them (a multinomial
  draw). Draw ``j`` of bag ``b`` uses ``fold_in(fold_in(key, b), j)`` and picks
  the ``floor(u n)``-th valid row in buffer order, so the counts of the valid
  rows depend only on ``key``, the bag index and the valid rows' order: a
  buffer padded with masked rows (anywhere) gives the same values as the
  unpadded data. :func:`bag_counts` returns them, for tests and diagnostics.
* **Never out of bag.** A valid point present in every bag (probability
  about ``(1 - e^{-1})^B``, i.e. ~2e-13 for B = 64, but certain for n = 1)
  gets the mean value of the valid points that do have out-of-bag
  predictions (0 if none has).
* **Padding rows** (``train_mask`` False) are never drawn and get value 0.
* **Fit.** Each bag minimises ``sum_i c_bi CE_i / sum_i c_bi + l2/2 ||W||^2``
  (scikit-learn's ``LogisticRegression(C=1/(l2 n))`` with ``sample_weight =
  counts``; n = sum of the counts), ``max_iter`` L-BFGS iterations at most,
  gradient tolerance ``tol``. Prediction is the argmax of the logits (first
  class on exact ties).

Cost: ``B`` fits of the linear head, batched, on the same (N, d) features;
the bags' weights are the only (B, N) arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ads_jax import _validation as V
from ads_jax.training.heads import fit_linear_head_unchecked
from ads_jax.valuation.registry import Valuation, register_valuation

__all__ = ["data_oob_values", "bag_counts"]

_F32 = jnp.float32


def _bag_counts(key: jax.Array, mask: jax.Array, num_bags: int) -> jax.Array:
    """(num_bags, N) float32 bootstrap counts over the rows where ``mask``. Traceable."""
    n_buf = mask.shape[0]
    n = jnp.sum(mask.astype(jnp.int32))
    # valid_rows[r] = buffer index of the r-th valid row (valid rows first, stable).
    valid_rows = jnp.argsort(~mask, stable=True)
    draws = jnp.arange(n_buf, dtype=jnp.uint32)

    def one_bag(b):
        kb = jax.random.fold_in(key, b)
        u = jax.vmap(lambda j: jax.random.uniform(jax.random.fold_in(kb, j)))(draws)
        rank = jnp.minimum(jnp.floor(u * n).astype(jnp.int32), jnp.maximum(n - 1, 0))
        live = draws.astype(jnp.int32) < n  # exactly n draws
        return jnp.zeros((n_buf,), _F32).at[valid_rows[rank]].add(live.astype(_F32))

    return jax.vmap(one_bag)(jnp.arange(num_bags, dtype=jnp.uint32))


def _data_oob_core(key, train_x, train_y, mask, l2, tol, *, num_classes, num_bags, max_iter,
                   bag_batch):
    """Traceable core of :func:`data_oob_values` (no checks)."""
    x = jnp.asarray(train_x, _F32)
    y = jnp.asarray(train_y, jnp.int32)
    counts = _bag_counts(key, mask, num_bags)  # (B, N)

    def fit(w):
        return fit_linear_head_unchecked(None, x, y, w, l2, tol, num_classes=num_classes,
                                         max_iter=max_iter)[0]

    if bag_batch is None or bag_batch >= num_bags:
        variables = jax.vmap(fit)(counts)
    elif bag_batch == 1:  # one bag after the other, unbatched
        variables = lax.map(fit, counts)
    else:  # vmap within chunks of bag_batch bags, one chunk after the other
        variables = lax.map(fit, counts, batch_size=bag_batch)
    p = variables["params"]["classifier"]
    logits = (jnp.einsum("nd,bdc->bnc", x, p["kernel"], precision=lax.Precision.HIGHEST)
              + p["bias"][:, None, :])
    correct = (jnp.argmax(logits, axis=-1) == y[None, :]).astype(_F32)  # (B, N)
    oob = ((counts == 0) & mask[None, :]).astype(_F32)
    n_oob = jnp.sum(oob, axis=0)
    has = n_oob > 0
    value = jnp.sum(oob * correct, axis=0) / jnp.maximum(n_oob, 1.0)
    n_has = jnp.sum(has.astype(_F32))
    fill = jnp.sum(jnp.where(has, value, 0.0)) / jnp.maximum(n_has, 1.0)
    return jnp.where(mask, jnp.where(has, value, fill), 0.0).astype(_F32)


_data_oob_jit = jax.jit(_data_oob_core,
                        static_argnames=("num_classes", "num_bags", "max_iter", "bag_batch"))
_bag_counts_jit = jax.jit(_bag_counts, static_argnames=("num_bags",))


def _check_mask(train_mask, n: int):
    if train_mask is None:
        return jnp.ones((n,), bool)
    train_mask = V.check_array("train_mask", train_mask, ndim=1, kind="b")
    if not V.is_tracer(train_mask):
        if int(train_mask.shape[0]) != n:
            raise ValueError(f"`train_mask` must have one entry per row of `train_x` ({n}), "
                             f"got shape {tuple(train_mask.shape)}.")
        if not np.any(np.asarray(train_mask)):
            raise ValueError("`train_mask` selects no row: Data-OOB needs training points.")
    return jnp.asarray(train_mask, bool)


def bag_counts(key, n: int, *, num_bags: int = 64, train_mask=None) -> jax.Array:
    """The bootstrap counts :func:`data_oob_values` uses (module doc, "Bags").

    Args:
      key: PRNG key (typed or legacy).
      n: number of rows N of the buffer.
      num_bags: B >= 1.
      train_mask: optional (N,) bool, the valid rows (default all).

    Returns:
      (B, N) float32 counts; each row sums to the number of valid rows, and is
      0 on masked rows.
    """
    key = V.check_key("key", key)
    n = V.check_positive_int("n", n)
    num_bags = V.check_positive_int("num_bags", num_bags)
    return _bag_counts_jit(key, _check_mask(train_mask, n), num_bags=num_bags)


def data_oob_values(key, train_x, train_y, *, num_classes: int, num_bags: int = 64,
                    l2: float = 1e-3, max_iter: int = 500, tol: float = 1e-5,
                    train_mask=None, bag_batch: int | None = None) -> jax.Array:
    """Data-OOB values of training points with the linear head (module doc).

    Jittable with static ``num_classes, num_bags, max_iter, bag_batch`` (the
    checks run only on concrete inputs).

    Args:
      key: PRNG key (typed or legacy): the bags.
      train_x: (N, d) float features (finite everywhere, padding included).
      train_y: (N,) int labels in ``[0, num_classes)`` on valid rows.
      num_classes: C >= 2.
      num_bags: number of bootstrap bags B >= 1 (the paper's default is
        larger, but each bag is a full L-BFGS fit here; 64 gives each point
        ~23 out-of-bag predictions).
      l2: ridge strength of the linear head (> 0), as in
        :func:`~ads_jax.training.heads.fit_linear_head`.
      max_iter: L-BFGS iterations per bag (>= 1). tol: gradient tolerance.
      train_mask: optional (N,) bool, False for padding rows.
      bag_batch: ``None`` (default) fits all bags in one ``vmap``; an int k
        fits chunks of k bags (vmapped) one after the other
        (``lax.map(..., batch_size=k)``). Same values. A vmapped
        ``while_loop`` runs until its slowest lane converges and evaluates
        both branches of the line search's ``lax.cond``: on a CPU, k = 1
        (plain ``lax.map``, no vmap) is about 3x faster than one vmap of
        64 bags (5,000 x 128 features, 10 classes: 7.7 s vs 25.6 s on 2
        cores, experiments/benchmarks/heads.py); on an accelerator the vmap
        should fill the device (not measured).

    Returns:
      (N,) float32 values in [0, 1]; 0 on padding rows.
    """
    key = V.check_key("key", key)
    num_classes = V.check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be >= 2 for classification, got {num_classes}.")
    train_x = V.check_array("train_x", train_x, ndim=2, kind="f")
    train_y = V.check_array("train_y", train_y, ndim=1, kind="i")
    n = V.check_same_length(train_x=train_x, train_y=train_y)
    V.check_finite("train_x", train_x)
    mask = _check_mask(train_mask, n)
    if not (V.is_tracer(train_y) or V.is_tracer(mask)):
        V.check_labels("train_y", np.asarray(train_y)[np.asarray(mask)], num_classes)
    num_bags = V.check_positive_int("num_bags", num_bags)
    max_iter = V.check_positive_int("max_iter", max_iter)
    if not V.is_tracer(l2):
        V.check_number("l2", l2, lo=0, lo_open=True)
    if not V.is_tracer(tol):
        V.check_number("tol", tol, lo=0)
    bag_batch = V.check_int("bag_batch", bag_batch, minimum=1, allow_none=True)
    return _data_oob_jit(key, train_x, jnp.asarray(train_y, jnp.int32), mask, l2, tol,
                         num_classes=num_classes, num_bags=num_bags, max_iter=max_iter,
                         bag_batch=bag_batch)


def data_oob(*, k: int, metric: str, num_bags: int = 64, l2: float = 1e-3, max_iter: int = 500,
             tol: float = 1e-5, bag_batch: int | None = 8) -> Valuation:
    """``data_oob``: Data-OOB values (:func:`data_oob_values`; ``k``/``metric`` unused, no
    validation set). ``bag_batch`` bags are fitted per ``vmap`` (8: the CPU's best
    trade-off, BENCHMARKS.md; ``None``: all bags in one ``vmap``)."""
    V.check_positive_int("valuation.options.num_bags", num_bags)
    V.check_number("valuation.options.l2", l2, lo=0)
    V.check_positive_int("valuation.options.max_iter", max_iter)
    V.check_number("valuation.options.tol", tol, lo=0)
    V.check_int("valuation.options.bag_batch", bag_batch, minimum=1, allow_none=True)

    def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
               key=None):
        return data_oob_values(key, train_x, train_y, num_classes=num_classes,
                               num_bags=num_bags, l2=l2, max_iter=max_iter, tol=tol,
                               train_mask=train_mask, bag_batch=bag_batch)

    return Valuation(values=values, needs_validation=False)


register_valuation("data_oob", data_oob)
