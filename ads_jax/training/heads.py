r"""Fitting the classifier heads of proxy mode on frozen features.

Pure, jittable functions that train :class:`ads_jax.models.heads.LinearHead`
and :class:`~ads_jax.models.heads.MLPHead` from scratch on a fixed-capacity
buffer of labeled features, and return Flax variables for ``head.apply``.

Padding convention (the loop's fixed-shape buffers, ARCHITECTURE.md): every
function takes ``weight`` (N,) float32, 0 for padding rows, else 1 or a
sample weight. Rows of weight 0 never influence the result: the linear fit
gives the unpadded solution (up to float summation order), and the MLP fit
draws its shuffles so that a buffer whose valid rows come first gives the
same mini-batches as the unpadded data. Padding rows must still hold finite
features (zeros are fine; they are multiplied by 0, and 0 * NaN is NaN); their
labels may be anything (e.g. -1).

Features are **not standardised** here: the L2 problem depends on the feature
scale, so the caller decides (the proxy embeddings of a frozen backbone are
used as they come, or standardised once for the whole run, outside the
round). The linear fit centres the features internally at the weighted mean,
an exact reparametrisation (the intercept is unpenalised) that only improves
the conditioning of L-BFGS.

Linear head: multinomial logistic regression
--------------------------------------------
:func:`fit_linear_head` minimises

.. math::

    F(W, b) = \frac{\sum_i w_i \, \mathrm{CE}(x_i W + b, y_i)}{\sum_i w_i}
              + \frac{\lambda}{2} \lVert W \rVert_F^2 \qquad (\lambda = \texttt{l2})

from ``W = 0, b = 0`` with full-batch L-BFGS (``optax.lbfgs``, memory 10, its
zoom line search) inside a ``lax.while_loop`` that stops when the Euclidean
norm of the full gradient (W and b) falls below ``tol`` or after ``max_iter``
iterations. ``F`` is strictly convex in ``W``; its minimiser is the one of
scikit-learn's ``LogisticRegression(C=1 / (l2 * sum_i w_i), solver="lbfgs")``
with ``sample_weight=w`` for C >= 3 classes (scikit-learn minimises
``mean_w CE + ||W||^2 / (2 C sum_i w_i)``, intercept unpenalised). For C = 2,
scikit-learn fits one weight vector; the symmetric softmax here is the same
model with ``C_sklearn = 2 / (l2 * sum_i w_i)``.

The fit is deterministic: ``key`` is accepted (a uniform ``fit(key, ...)``
interface for both heads, and so that ``vmap`` over ``(key, weight)`` works)
but unused. A class absent from the weighted data (possible in a bootstrap
bag) has its unpenalised bias driven towards ``-inf``; L-BFGS stops at a
finite value once the gradient is below ``tol`` (that class then gets a
negligible probability), as scikit-learn does. All weights 0: ``W = 0, b = 0``
(uniform prediction).

MLP head
--------
:func:`fit_mlp_head` trains ``MLPHead`` with AdamW (decoupled weight decay on
the two kernels only) on mini-batches of the weighted mean cross-entropy, one
shuffle per epoch, and early stopping on validation accuracy (ties broken by
the lower validation loss), all inside one ``lax.while_loop`` over epochs that
keeps the best epoch's parameters; it jits and vmaps (e.g. over seeds).

Defaults (:class:`LinearHeadOptions`, :class:`MLPHeadOptions`)
--------------------------------------------------------------
* ``l2 = 1e-3``: for features of unit-ish scale, the same strength as
  scikit-learn's default ``C = 1`` on 1,000 labeled points (mid-range of an
  active-learning run); as a per-example penalty it does not fade as the
  labeled set grows, which keeps the linear probe from fitting the
  labeled set to zero loss when the classes separate (frequent with
  pretrained features). ``tol = 1e-5``: ``F`` is ``l2``-strongly convex, so
  the parameter error is at most ``grad_norm / l2`` (1e-2 here), well below
  what changes predictions; ask for 1e-6 or less when the probabilities
  matter (float32 L-BFGS reaches ~1e-8). On 30,000 x 128 features with 10
  classes L-BFGS reaches 1e-5 in about 30 iterations, on the digits ~75;
  ``max_iter = 500`` is a safety net.
* MLP: ``hidden = 256`` (the usual probe width, >= the class count of every
  supported dataset), Adam's standard ``learning_rate = 1e-3``, AdamW's
  default ``weight_decay = 1e-4``, ``batch_size = 256``, ``epochs = 100``
  with ``patience = 10`` (the WideResNet's own patience, ads_jax.training).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jax import lax

from ads_jax import _validation as V
from ads_jax.models.heads import MLPHead
from ads_jax.training.state import weight_decay_mask

__all__ = [
    "LinearHeadOptions",
    "MLPHeadOptions",
    "fit_linear_head",
    "fit_mlp_head",
    "fit_linear_head_unchecked",
    "fit_mlp_head_unchecked",
]

_F32 = jnp.float32
#: Full float32 products in the solver (no bf16 / TF32 passes on TPU / GPU): L-BFGS
#: stops on a gradient-norm tolerance and the centring ``mu`` must cancel exactly.
_HI = lax.Precision.HIGHEST


# =============================================================================
# Options
# =============================================================================
@dataclasses.dataclass(frozen=True)
class LinearHeadOptions:
    """Options of :func:`fit_linear_head` (module doc for the defaults).

    Attributes:
      l2: ridge strength ``lambda > 0`` on the kernel, per-example scale (the
        objective is the weighted MEAN cross-entropy + ``l2 / 2 ||W||^2``).
      max_iter: maximum L-BFGS iterations (>= 1).
      tol: stop when the gradient norm is below ``tol`` (>= 0).
    """

    l2: float = 1e-3
    max_iter: int = 500
    tol: float = 1e-5

    def __post_init__(self):
        V.check_number("model.options.l2", self.l2, lo=0, lo_open=True)
        V.check_int("model.options.max_iter", self.max_iter, minimum=1)
        V.check_number("model.options.tol", self.tol, lo=0)


@dataclasses.dataclass(frozen=True)
class MLPHeadOptions:
    """Options of :func:`fit_mlp_head` (module doc for the defaults).

    Attributes:
      hidden: hidden-layer width (>= 1).
      learning_rate: Adam step size (> 0).
      weight_decay: AdamW decoupled weight decay on the kernels (>= 0).
      epochs: maximum epochs (>= 1).
      batch_size: mini-batch size (>= 1).
      patience: stop after this many epochs without a better validation
        accuracy (ties: lower validation loss); ``None`` trains all epochs
        (the best epoch's parameters are still returned).
    """

    hidden: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 100
    batch_size: int = 256
    patience: int | None = 10

    def __post_init__(self):
        V.check_int("model.options.hidden", self.hidden, minimum=1)
        V.check_number("model.options.learning_rate", self.learning_rate, lo=0, lo_open=True)
        V.check_number("model.options.weight_decay", self.weight_decay, lo=0)
        V.check_int("model.options.epochs", self.epochs, minimum=1)
        V.check_int("model.options.batch_size", self.batch_size, minimum=1)
        V.check_int("model.options.patience", self.patience, minimum=1, allow_none=True)


# =============================================================================
# Shared input checks (eager; no-ops on tracers)
# =============================================================================
def _check_num_classes(num_classes: Any) -> int:
    num_classes = V.check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be >= 2 for classification, got {num_classes}.")
    return num_classes


def _check_weight(name: str, weight: Any, n: int) -> Any:
    weight = V.check_array(name, weight, ndim=1, kind="f")
    if not V.is_tracer(weight):
        if int(weight.shape[0]) != n:
            raise ValueError(f"`{name}` must have one entry per row ({n}), got shape "
                             f"{tuple(weight.shape)}.")
        V.check_finite(name, weight)
        if np.any(np.asarray(weight) < 0):
            raise ValueError(f"`{name}` must be >= 0 (0 for padding rows, else 1 or a sample "
                             "weight).")
    return weight


def _check_data(x_name: str, x: Any, y_name: str, y: Any, w_name: str, weight: Any,
                num_classes: int) -> None:
    """x (N, d) finite float, y (N,) int, weight (N,) >= 0; labels checked where weight > 0."""
    V.check_array(x_name, x, ndim=2, kind="f")
    V.check_array(y_name, y, ndim=1, kind="i")
    V.check_same_length(**{x_name: x, y_name: y})
    V.check_finite(x_name, x)
    _check_weight(w_name, weight, int(x.shape[0]))
    if not (V.is_tracer(y) or V.is_tracer(weight)):
        V.check_labels(y_name, np.asarray(y)[np.asarray(weight) > 0], num_classes)


# =============================================================================
# Linear head
# =============================================================================
def fit_linear_head_unchecked(key, x, y, weight, l2, tol, *, num_classes: int, max_iter: int):
    """Core of :func:`fit_linear_head` without input checks. Traceable.

    Args:
      key: unused (the fit is deterministic).
      x: (N, d) float features; y: (N,) int labels; weight: (N,) float >= 0.
      l2, tol: () float (traced: no recompilation when they change).
      num_classes, max_iter: static ints.

    Returns:
      ``(variables, info)`` as :func:`fit_linear_head`.
    """
    del key
    x = jnp.asarray(x, _F32)
    d = x.shape[1]
    c = num_classes
    w = jnp.asarray(weight, _F32)
    l2 = jnp.asarray(l2, _F32)
    tol = jnp.asarray(tol, _F32)
    sw = jnp.sum(w)
    inv_sw = 1.0 / jnp.maximum(sw, jnp.finfo(_F32).tiny)
    # (d,) weighted mean: centred, exact reparametrisation
    mu = jnp.matmul(w, x, precision=_HI) * inv_sw
    # Labels of weight-0 rows may be garbage (e.g. -1): any valid class will do.
    y1h = jax.nn.one_hot(jnp.where(w > 0, y, 0), c, dtype=_F32)

    def objective(p):
        kern = p["kernel"]
        logits = (jnp.matmul(x, kern, precision=_HI)
                  + (p["bias"] - jnp.matmul(mu, kern, precision=_HI)))  # = (x - mu) @ W + b'
        ce = jax.nn.logsumexp(logits, axis=1) - jnp.sum(y1h * logits, axis=1)
        return jnp.sum(w * ce) * inv_sw + 0.5 * l2 * jnp.sum(kern * kern)

    opt = optax.lbfgs()
    p0 = {"kernel": jnp.zeros((d, c), _F32), "bias": jnp.zeros((c,), _F32)}
    v0, g0 = jax.value_and_grad(objective)(p0)

    def cond(carry):
        _, _, k, _, _, gnorm = carry
        return (k < max_iter) & (gnorm >= tol)

    def body(carry):
        p, s, k, value, grad, _ = carry
        updates, s = opt.update(grad, s, p, value=value, grad=grad, value_fn=objective)
        p = optax.apply_updates(p, updates)
        # The line search stored F and its gradient at the new iterate (what
        # optax.value_and_grad_from_state reads, without its lax.cond, which
        # under vmap would evaluate the objective every iteration).
        value, grad = otu.tree_get(s, "value"), otu.tree_get(s, "grad")
        return p, s, k + 1, value, grad, otu.tree_norm(grad)

    init = (p0, opt.init(p0), jnp.int32(0), v0, g0, otu.tree_norm(g0))
    p, _, iters, loss, _, gnorm = lax.while_loop(cond, body, init)
    kern = p["kernel"]
    bias = p["bias"] - jnp.matmul(mu, kern, precision=_HI)
    variables = {"params": {"classifier": {"kernel": kern, "bias": bias}}}
    info = {"iterations": iters, "loss": loss, "grad_norm": gnorm, "converged": gnorm < tol}
    return variables, info


_fit_linear_jit = jax.jit(fit_linear_head_unchecked, static_argnames=("num_classes", "max_iter"))


def fit_linear_head(key, x, y, weight, *, num_classes: int, l2: float = 1e-3,
                    max_iter: int = 500, tol: float = 1e-5):
    """Fit :class:`~ads_jax.models.heads.LinearHead` by L2 multinomial logistic regression.

    Objective (module doc): weighted mean cross-entropy ``+ l2 / 2 ||W||^2``
    (bias unpenalised), minimised by full-batch L-BFGS with a zoom line search
    until the gradient norm is ``< tol`` or ``max_iter`` iterations. Features
    are used as given (no standardisation). Deterministic (``key`` unused).

    Jittable with static ``num_classes`` and ``max_iter``
    (``jax.jit(fit_linear_head, static_argnames=("num_classes", "max_iter"))``)
    and vmappable over a leading axis of ``(key, weight)``; the checks below
    run only on concrete inputs.

    Args:
      key: PRNG key (typed or legacy), unused; kept for a uniform interface.
      x: (N, d) float features (finite, padding rows included).
      y: (N,) int labels in ``[0, num_classes)`` where ``weight > 0``
        (anything elsewhere).
      weight: (N,) float32 >= 0: 0 for padding rows, else 1 or a sample weight.
      num_classes: C >= 2 (static).
      l2: ridge strength > 0 (per-example scale).
      max_iter: maximum L-BFGS iterations >= 1 (static).
      tol: gradient-norm tolerance >= 0.

    Returns:
      ``(variables, info)``: ``variables = {"params": {"classifier": {"kernel":
      (d, C), "bias": (C,)}}}`` float32, for ``LinearHead(C).apply``; ``info``:
      dict of () jnp scalars ``iterations`` (int32), ``loss`` (final objective,
      float32), ``grad_norm`` (float32), ``converged`` (bool, ``grad_norm < tol``).
    """
    key = V.check_key("key", key)
    num_classes = _check_num_classes(num_classes)
    _check_data("x", x, "y", y, "weight", weight, num_classes)
    if not V.is_tracer(l2):
        V.check_number("l2", l2, lo=0, lo_open=True)
    if not V.is_tracer(tol):
        V.check_number("tol", tol, lo=0)
    max_iter = V.check_int("max_iter", max_iter, minimum=1)
    return _fit_linear_jit(key, x, jnp.asarray(y, jnp.int32), jnp.asarray(weight, _F32),
                           l2, tol, num_classes=num_classes, max_iter=max_iter)


# =============================================================================
# MLP head
# =============================================================================
def _row_uniforms(key: jax.Array, n: int) -> jax.Array:
    """(n,) uniforms in [0, 1); row i's depends only on (key, i), not on n.

    So a buffer that extends the data with padding rows at the end shuffles
    the valid rows exactly as the unpadded data.
    """
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i)))(
        jnp.arange(n, dtype=jnp.uint32))


def _weighted_ce(logits: jax.Array, y: jax.Array, w: jax.Array):
    """(sum_i w_i CE_i, accuracy numerator sum_i w_i [argmax == y])."""
    ce = jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0]
    hit = (jnp.argmax(logits, axis=1) == y).astype(_F32)
    return jnp.sum(w * ce), jnp.sum(w * hit)


def fit_mlp_head_unchecked(key, x, y, weight, x_val, y_val, val_weight, learning_rate,
                           weight_decay, *, num_classes: int, hidden: int, epochs: int,
                           batch_size: int, patience: int | None):
    """Core of :func:`fit_mlp_head` without input checks. Traceable.

    ``learning_rate`` and ``weight_decay`` are () floats (traced); the rest
    as :func:`fit_mlp_head`; ``val_weight`` (M,) float (ones for none).
    """
    x = jnp.asarray(x, _F32)
    x_val = jnp.asarray(x_val, _F32)
    n = x.shape[0]
    w = jnp.asarray(weight, _F32)
    vw = jnp.asarray(val_weight, _F32)
    y = jnp.where(w > 0, y, 0).astype(jnp.int32)
    y_val = jnp.where(vw > 0, y_val, 0).astype(jnp.int32)
    inv_vw = 1.0 / jnp.maximum(jnp.sum(vw), jnp.finfo(_F32).tiny)
    valid = w > 0
    n_valid = jnp.sum(valid.astype(jnp.int32))
    bs = min(batch_size, n)
    nb = -(-n // bs)

    model = MLPHead(num_classes=num_classes, hidden=hidden)
    k_init, k_shuffle = jax.random.split(key)
    params = model.init(k_init, x[:1])["params"]
    tx = optax.adamw(learning_rate, weight_decay=weight_decay, mask=weight_decay_mask)
    opt_state = tx.init(params)

    def batch_loss(p, xb, yb, wb):
        logits, _ = model.apply({"params": p}, xb)
        total, _ = _weighted_ce(logits, yb, wb)
        return total / jnp.maximum(jnp.sum(wb), jnp.finfo(_F32).tiny), total

    grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

    def train_epoch(p, s, epoch):
        # Valid rows first, in a random order; then padding (weight 0).
        u = _row_uniforms(jax.random.fold_in(k_shuffle, epoch), n)
        order = jnp.argsort(jnp.where(valid, u, 2.0), stable=True)
        order = jnp.concatenate([order, jnp.zeros((nb * bs - n,), order.dtype)])
        pos = jnp.arange(nb * bs)
        wb_all = jnp.where(pos < n_valid, w[order], 0.0)

        def step(carry, b):
            p, s, tot = carry
            idx = lax.dynamic_slice_in_dim(order, b * bs, bs)
            wb = lax.dynamic_slice_in_dim(wb_all, b * bs, bs)
            (_, total), g = grad_fn(p, x[idx], y[idx], wb)
            upd, s_new = tx.update(g, s, p)
            p_new = optax.apply_updates(p, upd)
            live = jnp.sum(wb) > 0  # batches of padding only: no step at all
            p, s = jax.tree.map(lambda a, o: jnp.where(live, a, o), (p_new, s_new), (p, s))
            return (p, s, tot + jnp.where(live, total, 0.0)), None

        (p, s, tot), _ = lax.scan(step, (p, s, jnp.float32(0.0)), jnp.arange(nb))
        return p, s, tot / jnp.maximum(jnp.sum(w), jnp.finfo(_F32).tiny)

    def evaluate(p):
        logits, _ = model.apply({"params": p}, x_val)
        total, hits = _weighted_ce(logits, y_val, vw)
        return hits * inv_vw, total * inv_vw

    nan = jnp.full((epochs,), jnp.nan, _F32)
    init = dict(params=params, opt_state=opt_state, epoch=jnp.int32(0), best=params,
                best_acc=jnp.float32(-jnp.inf), best_loss=jnp.float32(jnp.inf),
                best_epoch=jnp.int32(-1), train_loss=nan, val_acc=nan, val_loss=nan)

    def cond(c):
        go = c["epoch"] < epochs
        if patience is not None:
            go &= c["epoch"] - c["best_epoch"] <= patience
        return go

    def body(c):
        e = c["epoch"]
        p, s, tl = train_epoch(c["params"], c["opt_state"], e)
        acc, vl = evaluate(p)
        better = (acc > c["best_acc"]) | ((acc == c["best_acc"]) & (vl < c["best_loss"]))
        pick = lambda new, old: jax.tree.map(lambda a, o: jnp.where(better, a, o), new, old)  # noqa: E731
        return dict(params=p, opt_state=s, epoch=e + 1, best=pick(p, c["best"]),
                    best_acc=jnp.where(better, acc, c["best_acc"]),
                    best_loss=jnp.where(better, vl, c["best_loss"]),
                    best_epoch=jnp.where(better, e, c["best_epoch"]),
                    train_loss=c["train_loss"].at[e].set(tl),
                    val_acc=c["val_acc"].at[e].set(acc), val_loss=c["val_loss"].at[e].set(vl))

    out = lax.while_loop(cond, body, init)
    history = {k: out[k] for k in ("train_loss", "val_acc", "val_loss", "best_epoch")}
    history["epochs_run"] = out["epoch"]
    return {"params": out["best"]}, history


_fit_mlp_jit = jax.jit(fit_mlp_head_unchecked,
                       static_argnames=("num_classes", "hidden", "epochs", "batch_size", "patience"))


def fit_mlp_head(key, x, y, weight, x_val, y_val, *, num_classes: int, hidden: int = 256,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, epochs: int = 100,
                 batch_size: int = 256, patience: int | None = 10, val_weight=None):
    """Train :class:`~ads_jax.models.heads.MLPHead` with AdamW and early stopping.

    Each epoch draws one shuffle of the rows of positive weight from
    ``fold_in(key_shuffle, epoch)`` (row ``i``'s sort key depends on ``i`` only,
    so padding appended after the valid rows changes nothing) and runs
    ``ceil(N / min(batch_size, N))`` steps of fixed size; a step's loss is the
    weighted mean cross-entropy of its rows, padding excluded; steps with only
    padding are skipped (no Adam update). After every epoch the validation
    accuracy (ties: lower loss) decides the best epoch, whose parameters are
    kept inside the loop and returned; training stops once ``patience``
    epochs pass without a better one. One ``lax.while_loop`` over epochs:
    jittable with static ``num_classes, hidden, epochs, batch_size,
    patience`` and vmappable (e.g. over ``key``).

    Args:
      key: PRNG key (initialisation and shuffles).
      x: (N, d) float training features (finite, padding included).
      y: (N,) int labels in ``[0, num_classes)`` where ``weight > 0``.
      weight: (N,) float32 >= 0, 0 for padding rows.
      x_val: (M, d) float validation features; y_val: (M,) int labels.
      num_classes: C >= 2. hidden: hidden width >= 1.
      learning_rate: > 0. weight_decay: AdamW decay >= 0 (kernels only).
      epochs: >= 1. batch_size: >= 1. patience: >= 1 or None (no early stop).
      val_weight: optional (M,) float >= 0 (0 for padding validation rows);
        default all ones.

    Returns:
      ``(variables, history)``: ``variables = {"params": {"hidden": {...},
      "classifier": {...}}}`` of the best epoch (float32) for
      ``MLPHead(C, hidden).apply``; ``history``: ``train_loss``, ``val_acc``,
      ``val_loss`` (epochs,) float32 per epoch (NaN after the last epoch run;
      ``train_loss`` is the weighted mean loss over the epoch's steps),
      ``best_epoch`` () int32 (0-based), ``epochs_run`` () int32.
    """
    key = V.check_key("key", key)
    num_classes = _check_num_classes(num_classes)
    _check_data("x", x, "y", y, "weight", weight, num_classes)
    m = int(x_val.shape[0]) if hasattr(x_val, "shape") else len(x_val)
    if val_weight is None:
        val_weight = jnp.ones((m,), _F32)
    _check_data("x_val", x_val, "y_val", y_val, "val_weight", val_weight, num_classes)
    if not (V.is_tracer(x) or V.is_tracer(x_val)) and x.shape[1] != x_val.shape[1]:
        raise ValueError(f"`x_val` must have the feature size of `x` ({x.shape[1]}), "
                         f"got {x_val.shape[1]}.")
    for name, v in (("weight", weight), ("val_weight", val_weight)):
        if not V.is_tracer(v) and not np.any(np.asarray(v) > 0):
            raise ValueError(f"`{name}` has no positive entry: nothing to "
                             f"{'train on' if name == 'weight' else 'validate on'}.")
    hidden = V.check_positive_int("hidden", hidden)
    if not V.is_tracer(learning_rate):
        V.check_number("learning_rate", learning_rate, lo=0, lo_open=True)
    if not V.is_tracer(weight_decay):
        V.check_number("weight_decay", weight_decay, lo=0)
    epochs = V.check_positive_int("epochs", epochs)
    batch_size = V.check_positive_int("batch_size", batch_size)
    patience = V.check_int("patience", patience, minimum=1, allow_none=True)
    return _fit_mlp_jit(key, x, jnp.asarray(y, jnp.int32), jnp.asarray(weight, _F32), x_val,
                        jnp.asarray(y_val, jnp.int32), jnp.asarray(val_weight, _F32),
                        jnp.asarray(learning_rate, _F32), jnp.asarray(weight_decay, _F32),
                        num_classes=num_classes, hidden=hidden, epochs=epochs,
                        batch_size=batch_size, patience=patience)
