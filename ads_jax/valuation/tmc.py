r"""Truncated Monte-Carlo (TMC) Shapley values for small models.

Public entry points:

* :func:`tmc_shapley` -- the generic estimator for ANY jittable utility of a
  subset given as a 0/1 mask;
* :func:`logistic_utility` -- a (multinomial) logistic-regression utility
  (fit on the masked subset, validation accuracy), a pytree so that one
  compiled program serves new data of the same shapes;
* :func:`tmc_logistic_values` -- both together: TMC-Shapley values of training
  points for a logistic-regression learner;
* :func:`fit_logistic` / :func:`logistic_predict_proba` -- the learner itself
  (the same code the utility uses), for experiments that train and value with
  one model.

Algorithm (Ghorbani & Zou 2019, "Data Shapley: Equitable Valuation of Data for
Machine Learning")
-----------------------------------------------------------------------------
The Shapley value of player ``i`` in a game ``U`` over ``N`` players is its
marginal contribution averaged over all ``N!`` orders in which the players can
join::

    phi_i = E_pi [ U(pre_pi(i) + {i}) - U(pre_pi(i)) ]

``pre_pi(i)`` being the players before ``i`` in the random permutation ``pi``.
Monte-Carlo: draw ``T`` permutations, walk each one, and the marginal of its
``j``-th player is ``U(first j) - U(first j-1)``; the estimate is the mean over
permutations, the standard error the sample standard deviation over
permutations divided by ``sqrt(T)``.

**Truncation.** Once a prefix already performs like the whole data set,
``|U(D) - U(prefix)| < truncation_tol * |U(D)|`` (for
``truncation_patience`` consecutive prefixes), the remaining players of that
permutation get marginal 0 and their utilities are never computed. This is
TMC's speed-up: for a learning curve that saturates, most of a permutation is
skipped. It biases the estimate by at most the truncation error: each
permutation's marginals sum to ``U(prefix) - U(empty)`` instead of
``U(D) - U(empty)``, so Shapley's efficiency axiom holds up to
``truncation_tol * |U(D)|``, exactly (up to float rounding) with
``truncation_tol=0``. (Ghorbani & Zou's reference code compares against a
bootstrapped mean score and waits for 5 consecutive hits before truncating;
here ``U(D)`` itself and ``truncation_patience`` are used.) ``U(D) = 0``
disables truncation (nothing is within 0 of it).

Vectorisation: ``batch_size`` permutations form one block, evaluated by one
jitted program: a ``lax.while_loop`` over positions ``j = 0..N-1`` whose body
evaluates ``jax.vmap(utility)`` on the ``batch_size`` prefix masks at once.
Each permutation (lane) carries its own ``done`` flag: a truncated lane keeps
being evaluated (SIMD) but its marginals are masked to 0 and its state frozen,
so truncation is exact per permutation; the loop itself stops as soon as every
lane of the block is truncated. The last position needs no evaluation
(``U(D)`` is known). With ``mesh=`` the blocks of all devices run in parallel
under ``jax.shard_map`` (``batch_size`` permutations per device per step).

Randomness: permutation ``t`` (0-based, over the whole run) is
``jax.random.permutation(jax.random.fold_in(key, t), N)``. The result is
therefore a function of ``key`` and the number of permutations only: the same
for every ``batch_size`` and mesh (up to early stopping, which acts at step
granularity).

Convergence diagnostic
----------------------
After every step (``batch_size x devices`` permutations) the host records:

* ``trace_error`` -- Ghorbani & Zou's criterion: with ``v_t`` the running mean
  after ``t`` permutations and ``w = convergence_window``,
  ``max_{t-w < s <= t} mean_i |v_s,i - v_t,i| / (|v_t,i| + 1e-12)``
  (``inf`` while ``t < w``). Their code stops at 0.05-0.1.
  Being relative, it is dominated by points whose value is near 0; it may
  not fall below a tolerance for a game with near-null players.
* ``trace_max_stderr`` -- ``max_i`` of the Monte-Carlo standard error (in
  utility units; ``inf`` with one permutation).

With ``convergence_tol`` the run stops at the first step where
``trace_error < convergence_tol``; ``num_permutations`` is then an upper
bound.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.sharding import check_mesh

__all__ = [
    "TMCResult",
    "tmc_shapley",
    "LogisticParams",
    "LogisticUtility",
    "FIT_METHODS",
    "fit_logistic",
    "logistic_logits",
    "logistic_predict_proba",
    "logistic_utility",
    "tmc_logistic_values",
]

FIT_METHODS = ("auto", "newton", "gd")
#: ``method="auto"`` uses Newton up to this many parameters ``(d + 1) * C``.
NEWTON_MAX_PARAMS = 64
_DEFAULT_STEPS = {"newton": 15, "gd": 300}
_LINE_SEARCH = (1.0, 0.5, 0.25, 0.125, 0.0)  # Newton step sizes tried, largest first
_NEWTON_RTOL = 1e-5  # objective increase tolerated by the step search (float32 noise)
_GZ_EPS = 1e-12  # denominator floor of Ghorbani & Zou's relative error
#: Full float32 products in the logistic-regression solver and its utility (no bf16 /
#: TF32 passes on TPU / GPU): Newton's Hessian and gradient must be exact for its
#: convergence, and the utility must score the model that was fitted.
_HI = lax.Precision.HIGHEST


# =============================================================================
# Generic TMC-Shapley
# =============================================================================
class TMCResult(NamedTuple):
    """Result of :func:`tmc_shapley`.

    Attributes:
      values: (N,) float32 Shapley value estimates (mean marginal contribution).
      stderr: (N,) float32 Monte-Carlo standard errors of ``values``
        (sample std over permutations / sqrt(T); ``inf`` when T = 1).
      num_permutations: T, permutations actually used (< the requested number
        after an early stop).
      fraction_truncated: fraction of the T permutations that were truncated
        (at least one trailing marginal skipped).
      utility_evaluations: number of utility calls that counted (including
        ``U(D)`` and ``U(empty)``; masked SIMD lanes are not counted).
      full_utility: ``U(D)`` (all players), float.
      empty_utility: ``U(empty)``, float.
      converged: True if ``convergence_tol`` was given and reached.
      trace_permutations: (S,) int64, permutations used at each checkpoint
        (end of each step).
      trace_error: (S,) float64, Ghorbani & Zou's convergence criterion at each
        checkpoint (module doc; ``inf`` before ``convergence_window``
        permutations).
      trace_max_stderr: (S,) float64, ``max_i stderr_i`` at each checkpoint.
    """

    values: jax.Array
    stderr: jax.Array
    num_permutations: int
    fraction_truncated: float
    utility_evaluations: int
    full_utility: float
    empty_utility: float
    converged: bool
    trace_permutations: np.ndarray
    trace_error: np.ndarray
    trace_max_stderr: np.ndarray


class _Static:
    """Identity-hashed wrapper: a non-pytree utility as a static jit argument."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __hash__(self):
        return id(self.fn)

    def __eq__(self, other):
        return isinstance(other, _Static) and other.fn is self.fn


class _Plan(NamedTuple):
    n: int
    block: int  # permutations per device per step
    mesh: Mesh | None
    axes: tuple[str, ...]


def _split_utility(utility) -> tuple[Any, _Static | None]:
    """(dynamic pytree or None, static wrapper or None).

    A utility whose pytree leaves are all arrays (e.g. :class:`LogisticUtility`,
    a ``jax.tree_util.Partial`` over arrays) is passed to the compiled program as
    an argument: new data of the same shapes reuses the compilation. Any other
    callable is a static argument (cached by identity; arrays it closes over
    become constants of the program).
    """
    leaves = jax.tree_util.tree_leaves(utility)
    if leaves and all(isinstance(l, (jax.Array, np.ndarray)) for l in leaves):
        return utility, None
    return None, _Static(utility)


def _call(dyn, static):
    return dyn if static is None else static.fn


@partial(jax.jit, static_argnames=("static", "n"))
def _endpoints(dyn, static, *, n):
    u = _call(dyn, static)
    full = jnp.asarray(u(jnp.ones((n,), jnp.float32)), jnp.float32)
    empty = jnp.asarray(u(jnp.zeros((n,), jnp.float32)), jnp.float32)
    return full, empty


def _block_local(dyn, static, key, start, u_full, u_empty, tol, patience, *, plan: _Plan):
    """Marginals (b, n) float32 (training order) and processed positions (b,) int32."""
    n, b = plan.n, plan.block
    util = jax.vmap(_call(dyn, static))
    idx = start + jnp.arange(b, dtype=jnp.int32)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, idx)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys).astype(jnp.int32)
    rows = jnp.arange(b)
    ranks = jnp.zeros((b, n), jnp.int32).at[rows[:, None], perms].set(
        jnp.arange(n, dtype=jnp.int32)[None, :])
    thresh = tol * jnp.abs(u_full)

    def cond(c):
        j, _, _, done, _, _ = c
        return (j < n) & ~jnp.all(done)

    def body(c):
        j, prev, streak, done, marg, processed = c

        def evaluate():
            masks = (ranks <= j).astype(jnp.float32)  # (b, n) prefix of length j + 1
            return jnp.asarray(util(masks), jnp.float32).reshape(b)

        u = lax.cond(j == n - 1, lambda: jnp.full((b,), u_full, jnp.float32), evaluate)
        live = ~done
        m = jnp.where(live, u - prev, jnp.zeros((), jnp.float32))
        marg = marg.at[rows, perms[:, j]].set(m)
        close = jnp.abs(u_full - u) < thresh
        streak = jnp.where(close, streak + 1, 0)
        done = done | (live & (streak >= patience))
        processed = processed + live.astype(jnp.int32)
        prev = jnp.where(live, u, prev)
        return j + 1, prev, streak, done, marg, processed

    init = (
        jnp.int32(0),
        jnp.full((b,), u_empty, jnp.float32),
        jnp.zeros((b,), jnp.int32),
        jnp.zeros((b,), bool),
        jnp.zeros((b, n), jnp.float32),
        jnp.zeros((b,), jnp.int32),
    )
    _, _, _, _, marg, processed = lax.while_loop(cond, body, init)
    return marg, processed


@partial(jax.jit, static_argnames=("static", "plan"))
def _block(dyn, static, key, start, u_full, u_empty, tol, patience, *, plan: _Plan):
    if plan.mesh is None:
        return _block_local(dyn, static, key, start, u_full, u_empty, tol, patience, plan=plan)
    mesh, axes = plan.mesh, plan.axes

    def local(dyn, key, start, u_full, u_empty, tol, patience):
        offset = start + lax.axis_index(axes).astype(jnp.int32) * plan.block
        return _block_local(dyn, static, key, offset, u_full, u_empty, tol, patience, plan=plan)

    args = (dyn, key, start, u_full, u_empty, tol, patience)
    if any(t == AxisType.Explicit for t in mesh.axis_types):
        args = jax.tree_util.tree_map(
            lambda a: jax.reshard(a, NamedSharding(mesh, P())), args)
    return jax.shard_map(
        local, mesh=mesh, in_specs=(P(),) * 7, out_specs=(P(axes), P(axes)),
        check_vma=False,
    )(*args)


def _check_real(name: str, v: Any, *, low: float, low_inclusive: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(v).__name__} {v!r}.")
    f = float(v)
    ok = math.isfinite(f) and (f >= low if low_inclusive else f > low)
    if not ok:
        rel = ">=" if low_inclusive else ">"
        raise ValueError(f"`{name}` must be a finite number {rel} {low}, got {v!r}.")
    return f


def _check_mesh(mesh: Any) -> None:
    check_mesh("mesh", mesh, example="jax.make_mesh((8,), ('perm',))")


def _gz_error(hist: np.ndarray) -> float:
    """Ghorbani & Zou's error over the running means ``hist`` (w, N), last = current."""
    cur = hist[-1]
    rel = np.abs(hist - cur[None, :]) / (np.abs(cur)[None, :] + _GZ_EPS)
    return float(np.max(np.mean(rel, axis=1)))


def tmc_shapley(
    key: Any,
    utility: Callable[[jax.Array], jax.Array],
    num_players: int,
    *,
    num_permutations: int = 1000,
    batch_size: int = 64,
    truncation_tol: float = 0.01,
    truncation_patience: int = 1,
    convergence_tol: float | None = None,
    convergence_window: int = 100,
    mesh: Mesh | None = None,
) -> TMCResult:
    """Truncated Monte-Carlo Shapley values of ``num_players`` players.

    Args:
      key: ``jax.random.key(seed)`` (or a legacy ``PRNGKey``). The result is a
        deterministic function of the key (module doc: permutation ``t`` uses
        ``fold_in(key, t)``).
      utility: ``utility(weights) -> ()`` float, jittable and vmappable;
        ``weights`` is an (N,) float32 0/1 membership mask of the subset. A
        pytree whose leaves are all arrays (e.g. :class:`LogisticUtility`, a
        ``jax.tree_util.Partial`` over arrays) is traced as an argument (no recompilation for new data of the same
        shapes); any other callable is static and cached by identity.
      num_players: N >= 1.
      num_permutations: maximum number T of permutations (>= 1).
      batch_size: permutations per device per step, evaluated together with
        ``vmap`` (memory ~ batch_size x the utility's own footprint).
      truncation_tol: truncate a permutation once
        ``|U(D) - U(prefix)| < truncation_tol * |U(D)|``; in [0, 1]; 0
        disables truncation.
      truncation_patience: consecutive prefixes that must satisfy the
        truncation test (>= 1; Ghorbani & Zou's code uses 6).
      convergence_tol: stop early at the first step where Ghorbani & Zou's
        criterion (module doc) is below this (> 0); None runs all T.
      convergence_window: the criterion's window ``w`` in permutations (>= 1;
        Ghorbani & Zou use 100).
      mesh: optional ``jax.sharding.Mesh``; each step runs ``batch_size``
        permutations on every device of the mesh (all axes). Same values as
        one device for the same number of permutations.

    Returns:
      :class:`TMCResult` (values and stderr (N,) float32, diagnostics).

    Call it outside ``jit`` (a host loop drives the compiled steps and checks
    convergence). The last step is computed in full; permutations beyond
    ``num_permutations`` are discarded.

    Raises:
      TypeError / ValueError: bad key, non-callable utility or one that does
      not map an (N,) float32 mask to a scalar, bad counts or tolerances, a
      non-finite utility value.
    """
    key = V.check_key("key", key)
    if not callable(utility):
        raise TypeError(
            f"`utility` must be a callable weights -> scalar, got {type(utility).__name__}.")
    n = V.check_positive_int("num_players", num_players)
    num_permutations = V.check_positive_int("num_permutations", num_permutations)
    batch_size = V.check_positive_int("batch_size", batch_size)
    truncation_tol = V.check_fraction("truncation_tol", truncation_tol, inclusive_zero=True)
    patience = V.check_positive_int("truncation_patience", truncation_patience)
    if convergence_tol is not None:
        convergence_tol = _check_real("convergence_tol", convergence_tol, low=0.0,
                                      low_inclusive=False)
    window = V.check_positive_int("convergence_window", convergence_window)
    _check_mesh(mesh)
    try:
        out = jax.eval_shape(utility, jax.ShapeDtypeStruct((n,), jnp.float32))
    except Exception as e:
        raise TypeError(
            f"`utility` must accept an ({n},) float32 0/1 mask (num_players={n}) and be "
            f"traceable by jax.jit / jax.vmap; tracing it failed with "
            f"{type(e).__name__}: {e}"
        ) from e
    if not (hasattr(out, "shape") and tuple(out.shape) == ()
            and (jnp.issubdtype(out.dtype, jnp.floating)
                 or jnp.issubdtype(out.dtype, jnp.integer))):
        raise ValueError(
            f"`utility` must return a real scalar (shape ()), got "
            f"{getattr(out, 'shape', out)!r} of dtype {getattr(out, 'dtype', None)}. "
            "Reduce it, e.g. return the mean validation accuracy."
        )

    dyn, static = _split_utility(utility)
    u_full, u_empty = _endpoints(dyn, static, n=n)
    full_f, empty_f = float(u_full), float(u_empty)
    if not (math.isfinite(full_f) and math.isfinite(empty_f)):
        raise ValueError(
            f"`utility` must be finite, got U(all players) = {full_f} and U(empty) = "
            f"{empty_f}. Define the empty / degenerate subsets explicitly.")

    axes = tuple(mesh.axis_names) if mesh is not None else ()
    ndev = int(math.prod(mesh.shape[a] for a in axes)) if mesh is not None else 1
    plan = _Plan(n=n, block=batch_size, mesh=mesh, axes=axes)
    step = batch_size * ndev
    tol = jnp.float32(truncation_tol)
    pat = jnp.int32(min(patience, n))

    def launch(t):
        return _block(dyn, static, key, jnp.int32(t), u_full, u_empty, tol, pat, plan=plan)

    sum1 = np.zeros(n, np.float64)
    sum2 = np.zeros(n, np.float64)
    hist = np.zeros((0, n), np.float64)
    t = truncated = 0
    evals = 2
    tr_perm, tr_err, tr_se = [], [], []
    converged = False
    pending = launch(0)
    while t < num_permutations:
        marg_d, proc_d = pending
        if t + step < num_permutations:  # dispatch the next block before syncing
            pending = launch(t + step)
        take = min(step, num_permutations - t)
        marg = np.asarray(marg_d, np.float64)[:take]
        proc = np.asarray(proc_d)[:take]
        if not np.all(np.isfinite(marg)):
            raise ValueError(
                "`utility` returned a non-finite value (NaN or inf) on some subset; "
                "make it finite for every 0/1 mask (e.g. handle tiny subsets).")
        counts = t + np.arange(1, take + 1, dtype=np.float64)
        running = (sum1[None, :] + np.cumsum(marg, axis=0)) / counts[:, None]
        hist = np.concatenate([hist, running[-window:]])[-window:]
        sum1 += marg.sum(0)
        sum2 += np.square(marg).sum(0)
        t += take
        truncated += int(np.sum(proc < n))
        evals += int(np.sum(np.minimum(proc, n - 1)))
        err = _gz_error(hist) if t >= window else math.inf
        se = _stderr(sum1, sum2, t)
        tr_perm.append(t)
        tr_err.append(err)
        tr_se.append(float(np.max(se)))
        if convergence_tol is not None and err < convergence_tol:
            converged = True
            break

    values = sum1 / t
    return TMCResult(
        values=jnp.asarray(values, jnp.float32),
        stderr=jnp.asarray(_stderr(sum1, sum2, t), jnp.float32),
        num_permutations=t,
        fraction_truncated=truncated / t,
        utility_evaluations=evals,
        full_utility=full_f,
        empty_utility=empty_f,
        converged=converged,
        trace_permutations=np.asarray(tr_perm, np.int64),
        trace_error=np.asarray(tr_err, np.float64),
        trace_max_stderr=np.asarray(tr_se, np.float64),
    )


def _stderr(sum1: np.ndarray, sum2: np.ndarray, t: int) -> np.ndarray:
    if t < 2:
        return np.full_like(sum1, np.inf)
    var = np.maximum(sum2 - sum1 * sum1 / t, 0.0) / (t - 1)
    return np.sqrt(var / t)


# =============================================================================
# Logistic regression (the learner and its utility)
# =============================================================================
class LogisticParams(NamedTuple):
    """Multinomial logistic regression: ``logits = x @ w + b``.

    Attributes:
      w: (d, C) float32 weights.
      b: (C,) float32 intercepts.
    """

    w: jax.Array
    b: jax.Array


def logistic_logits(params: LogisticParams, x: jax.Array) -> jax.Array:
    """(M, d) features -> (M, C) logits. Traceable."""
    return jnp.matmul(jnp.asarray(x, jnp.float32), params.w, precision=_HI) + params.b


def logistic_predict_proba(params: LogisticParams, x: jax.Array) -> jax.Array:
    """(M, d) features -> (M, C) float32 class probabilities (softmax). Traceable."""
    return jax.nn.softmax(logistic_logits(params, x), axis=-1)


def _resolve_method(method: str, d: int, num_classes: int) -> str:
    V.check_choice("method", method, FIT_METHODS)
    if method == "auto":
        return "newton" if (d + 1) * num_classes <= NEWTON_MAX_PARAMS else "gd"
    return method


def _fit_impl(x, y, weights, l2, bias_l2, lip, *, num_classes, steps, method):
    """Weighted multinomial LR (module doc of :func:`fit_logistic`). Traceable."""
    n, d = x.shape
    c = num_classes
    f32 = jnp.float32
    w = weights.astype(f32)
    sw = jnp.sum(w)
    # Fit on features centred at the subset's weighted mean (an exact
    # reparametrisation b = b' - mu @ w that decouples the intercept and
    # conditions both methods); converted back below.
    mu = jnp.sum(w[:, None] * x.astype(f32), axis=0) / jnp.maximum(sw, jnp.finfo(f32).tiny)
    xt = jnp.concatenate([x.astype(f32) - mu, jnp.ones((n, 1), f32)], axis=1)  # (n, d+1)
    yy = jax.nn.one_hot(y, c, dtype=f32)
    reg = jnp.concatenate([jnp.full((d,), l2, f32), jnp.full((1,), bias_l2, f32)])[:, None]

    def objective(theta):
        logits = jnp.matmul(xt, theta, precision=_HI)
        ce = jax.nn.logsumexp(logits, axis=1) - jnp.sum(yy * logits, axis=1)
        return jnp.sum(w * ce) + 0.5 * jnp.sum(reg * theta * theta)

    def grad(theta):
        p = jax.nn.softmax(jnp.matmul(xt, theta, precision=_HI), axis=1)
        return jnp.matmul(xt.T, w[:, None] * (p - yy), precision=_HI) + reg * theta

    theta0 = jnp.zeros((d + 1, c), f32)
    if method == "newton":
        npar = (d + 1) * c
        # The softmax is invariant to adding the same vector to every class
        # column; the optimum has zero class-sum (the ridge picks it) and the
        # Hessian commutes with the projector J onto class sums, so adding J
        # removes the near-null direction without changing the step.
        proj = jnp.kron(jnp.eye(d + 1, dtype=f32), jnp.full((c, c), 1.0 / c, f32))
        ts = jnp.asarray(_LINE_SEARCH, f32)

        def newton(theta, _):
            p = jax.nn.softmax(jnp.matmul(xt, theta, precision=_HI), axis=1)
            g = jnp.matmul(xt.T, w[:, None] * (p - yy), precision=_HI) + reg * theta
            s = p[:, :, None] * jnp.eye(c, dtype=f32)[None] - p[:, :, None] * p[:, None, :]
            h = jnp.einsum("i,ia,ib,ice->acbe", w, xt, xt, s,
                           precision=_HI).reshape(npar, npar)
            h = h + jnp.diag(jnp.broadcast_to(reg, (d + 1, c)).reshape(-1))
            h = h + (1.0 + jnp.trace(h) / npar) * proj
            chol = jnp.linalg.cholesky(h)  # h is symmetric positive definite
            delta = jax.scipy.linalg.cho_solve((chol, True), g.reshape(-1)).reshape(d + 1, c)
            delta = delta - jnp.mean(delta, axis=1, keepdims=True)
            delta = jnp.where(jnp.isfinite(delta), delta, 0.0)  # never poison theta
            cands = theta[None] - ts[:, None, None] * delta[None]
            objs = jax.vmap(objective)(cands)
            # The largest step that does not increase the objective beyond
            # float32 resolution (comparing objective values more finely
            # would stall Newton at ~sqrt(eps) from the optimum); t = 0 last.
            f0 = objs[-1]
            ok = jnp.isfinite(objs) & (objs <= f0 + _NEWTON_RTOL * (jnp.abs(f0) + 1.0))
            return cands[jnp.argmax(ok)], None

        theta, _ = lax.scan(newton, theta0, None, length=steps)
    else:
        # Nesterov-accelerated gradient descent, step 1/L with
        # L = 0.5 * lambda_max(sum_i w_i xt_i xt_i^T) + max(reg) (the softmax
        # cross-entropy Hessian is <= 1/2 I in the logits). With centred
        # features that Gram matrix is block-diagonal, [[S, 0], [0, sum w]];
        # lambda_max(S) is bounded by min(trace S, lip).
        trace = jnp.sum(w * jnp.sum(jnp.square(xt[:, :d]), axis=1))
        lmax = jnp.maximum(jnp.minimum(trace, lip), sw)
        step = 1.0 / (0.5 * lmax + jnp.maximum(l2, bias_l2))

        def nesterov(carry, _):
            theta, prev, k = carry
            mom = (k - 1.0) / (k + 2.0)
            look = theta + mom * (theta - prev)
            g = grad(look)
            new = look - step * g
            # Adaptive restart (O'Donoghue & Candes 2015): drop the momentum
            # when it points uphill; keeps the fixed-step method monotone-ish
            # on ill-conditioned (nearly separable) subsets.
            restart = jnp.sum(g * (new - theta)) > 0
            return (new, theta, jnp.where(restart, 1.0, k + 1.0)), None

        (theta, _, _), _ = lax.scan(nesterov, (theta0, theta0, jnp.float32(1.0)), None,
                                    length=steps)

    # Fewer than 2 classes with positive weight: the constant predictor of the
    # Laplace-smoothed class frequencies (empty set: uniform).
    counts = jnp.sum(w[:, None] * yy, axis=0)
    present = jnp.sum(counts > 0)
    const_b = jnp.log((counts + 1.0) / (jnp.sum(counts) + c))
    const = jnp.concatenate([jnp.zeros((d, c), f32), const_b[None, :]], axis=0)
    w_out = jnp.where(present >= 2, theta[:d], const[:d])
    b_out = jnp.where(present >= 2, theta[d] - jnp.matmul(mu, theta[:d], precision=_HI),
                      const[d])
    return LogisticParams(w_out, b_out)


_fit_jit = jax.jit(_fit_impl, static_argnames=("num_classes", "steps", "method"))


def _scatter_lmax(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Upper bound on the largest eigenvalue of the weighted scatter matrix
    ``sum_i w_i (x_i - mu_w)(x_i - mu_w)^T`` (host, float64).

    With 0/1 weights and ``weights=None`` (all points) this bounds the scatter
    of every subset too (a subset's scatter about its own mean is <= its
    scatter about any point, <= the full set's scatter in PSD order).
    """
    x = np.asarray(x, np.float64)
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, np.float64)
    mu = (w[:, None] * x).sum(0) / max(w.sum(), np.finfo(np.float64).tiny)
    xc = (x - mu) * np.sqrt(w)[:, None]
    return float(np.linalg.eigvalsh(xc.T @ xc)[-1]) * (1.0 + 1e-5) + 1e-6


def _check_fit_args(l2, bias_l2, steps, method, d, num_classes):
    l2 = _check_real("l2", l2, low=0.0, low_inclusive=False)
    bias_l2 = _check_real("bias_l2", bias_l2, low=0.0, low_inclusive=False)
    method = _resolve_method(method, d, num_classes)
    steps = _DEFAULT_STEPS[method] if steps is None else V.check_positive_int("steps", steps)
    return l2, bias_l2, steps, method


def fit_logistic(
    x: jax.Array,
    y: jax.Array,
    *,
    num_classes: int,
    weights: jax.Array | None = None,
    l2: float = 1.0,
    bias_l2: float = 1e-4,
    steps: int | None = None,
    method: str = "auto",
) -> LogisticParams:
    """Fit weighted multinomial logistic regression (deterministic, jitted).

    Minimises ``sum_i w_i CE(x_i w + b, y_i) + l2/2 |w|^2 + bias_l2/2 |b|^2``
    (scikit-learn's ``C = 1 / l2`` convention for C >= 3 classes; for C = 2
    the symmetric softmax equals binary LR with ``C = 2 / l2``), intercept
    almost unpenalised, from zero with a fixed number of iterations. The fit
    runs on features centred at the subset's weighted mean (the intercept
    ridge acts on that centred intercept; exact otherwise):

    * ``"newton"``: Newton steps with a step-size search (the largest of
      1, 1/2, 1/4, 1/8 that does not increase the objective beyond float32
      noise, else no step); exact Hessian of size ``(d+1) C`` squared;
    * ``"gd"``: Nesterov-accelerated gradient descent with a safe constant step
      (for d up to a few hundred);
    * ``"auto"``: Newton if ``(d + 1) * C <= 64``, else gradient descent.

    Degenerate subsets (documented convention): if fewer than two classes have
    positive weight, the model is the constant predictor ``w = 0``,
    ``b = log((n_c + 1) / (n + C))`` (Laplace-smoothed class frequencies): it
    predicts the one present class; the empty set predicts uniformly.

    Args:
      x: (N, d) float features.
      y: (N,) int labels in ``[0, num_classes)``.
      num_classes: C >= 2.
      weights: optional (N,) float sample weights >= 0 (e.g. a 0/1 subset
        mask); default all ones.
      l2: ridge on ``w`` (> 0). bias_l2: ridge on ``b`` (> 0, keeps a class
        absent from the subset finite).
      steps: iterations (default 15 Newton / 300 gradient).
      method: ``"auto"`` | ``"newton"`` | ``"gd"``.

    Returns:
      :class:`LogisticParams` with ``w`` (d, C) and ``b`` (C,) float32.
    """
    x = V.check_array("x", x, ndim=2, kind="f")
    y = V.check_array("y", y, ndim=1, kind="i")
    num_classes = V.check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be >= 2 for classification, got {num_classes}.")
    V.check_same_length(x=x, y=y)
    V.check_finite("x", x)
    V.check_labels("y", y, num_classes)
    n, d = (int(s) for s in x.shape)
    if weights is None:
        weights = np.ones((n,), np.float32)
    else:
        weights = V.check_array("weights", weights, ndim=1, kind="f")
        V.check_same_length(x=x, weights=weights)
        V.check_finite("weights", weights)
        if not V.is_tracer(weights) and np.any(np.asarray(weights) < 0):
            raise ValueError("`weights` must be >= 0 (sample weights / a 0/1 mask).")
    l2, bias_l2, steps, method = _check_fit_args(l2, bias_l2, steps, method, d, num_classes)
    if method == "gd" and not V.is_tracer(x) and not V.is_tracer(weights):
        lip = _scatter_lmax(np.asarray(x), np.asarray(weights))
    else:
        lip = math.inf  # trace bound only
    return _fit_jit(
        jnp.asarray(x, jnp.float32), jnp.asarray(y).astype(jnp.int32),
        jnp.asarray(weights, jnp.float32), jnp.float32(l2), jnp.float32(bias_l2),
        jnp.float32(lip), num_classes=num_classes, steps=steps, method=method,
    )


def _tie_accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Accuracy with ties split evenly (expected accuracy of random tie-breaking)."""
    ismax = logits >= jnp.max(logits, axis=1, keepdims=True)
    hit = jnp.take_along_axis(ismax, y[:, None], axis=1)[:, 0]
    return jnp.mean(hit / jnp.sum(ismax, axis=1))


@partial(jax.tree_util.register_dataclass,
         data_fields=["train_x", "train_y", "val_x", "val_y", "l2", "bias_l2", "lip"],
         meta_fields=["num_classes", "steps", "method"])
@dataclasses.dataclass(frozen=True)
class LogisticUtility:
    """Validation accuracy of logistic regression fit on a weighted subset.

    ``utility(weights) -> ()`` float32: fits :func:`fit_logistic` (same
    objective, method and degenerate-subset convention) on the training points
    weighted by ``weights`` ((N,) float, a 0/1 mask for Shapley), then returns
    the accuracy on the validation set, ties in the logits split evenly (so
    the uniform predictor of the empty set scores exactly ``1/C``; a
    one-class subset scores that class's share of the validation set).

    A pytree (arrays are leaves; ``num_classes``, ``steps``, ``method`` are
    static): it can be passed through ``jit`` and reuses compilations for new
    data of the same shapes. Build it with :func:`logistic_utility`.

    Attributes:
      train_x: (N, d) float32 (standardised if requested), train_y: (N,) int32,
      val_x: (M, d) float32, val_y: (M,) int32, l2, bias_l2: () float32 ridges,
      lip: () float32 bound on ``lambda_max`` of the training features' scatter
      matrix (gradient step size, valid for every subset), num_classes, steps,
      method ("newton" | "gd").
    """

    train_x: jax.Array
    train_y: jax.Array
    val_x: jax.Array
    val_y: jax.Array
    l2: jax.Array
    bias_l2: jax.Array
    lip: jax.Array
    num_classes: int
    steps: int
    method: str

    def fit(self, weights: jax.Array) -> LogisticParams:
        """Parameters fit on ``weights`` ((N,) float), in the utility's feature space."""
        return _utility_fit(self, weights)

    def __call__(self, weights: jax.Array) -> jax.Array:
        return _utility_value(self, weights)


@jax.jit
def _utility_fit(u: LogisticUtility, weights: jax.Array) -> LogisticParams:
    return _fit_impl(u.train_x, u.train_y, jnp.asarray(weights, jnp.float32), u.l2, u.bias_l2,
                     u.lip, num_classes=u.num_classes, steps=u.steps, method=u.method)


@jax.jit
def _utility_value(u: LogisticUtility, weights: jax.Array) -> jax.Array:
    return _tie_accuracy(logistic_logits(_utility_fit(u, weights), u.val_x), u.val_y)


def _check_supervised(train_x, train_y, val_x, val_y, num_classes):
    num_classes = V.check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be >= 2 for classification, got {num_classes}.")
    *_, num_classes = V.check_train_val(train_x, train_y, val_x, val_y, num_classes)
    return num_classes


def logistic_utility(
    train_x: jax.Array,
    train_y: jax.Array,
    val_x: jax.Array,
    val_y: jax.Array,
    *,
    num_classes: int,
    l2: float = 1.0,
    bias_l2: float = 1e-4,
    steps: int | None = None,
    method: str = "auto",
    standardize: bool = True,
) -> LogisticUtility:
    """Build the logistic-regression validation-accuracy utility.

    Args:
      train_x: (N, d) float features of the N players (training points).
      train_y: (N,) int labels in ``[0, num_classes)``.
      val_x: (M, d) float validation features. val_y: (M,) int labels.
      num_classes: C >= 2.
      l2, bias_l2, steps, method: as in :func:`fit_logistic`.
      standardize: if True (default), both feature sets are standardised with
        the mean and std of ``train_x`` (all N points, so the same for every
        subset; zero-variance features are only centred) before fitting -- it
        conditions the gradient path on raw embeddings. The regularisation
        then acts in the standardised units.

    Returns:
      A :class:`LogisticUtility` ``u`` with ``u(weights) -> ()`` float32.
    """
    num_classes = _check_supervised(train_x, train_y, val_x, val_y, num_classes)
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"`standardize` must be a bool, got {type(standardize).__name__}.")
    d = int(train_x.shape[1])
    l2, bias_l2, steps, method = _check_fit_args(l2, bias_l2, steps, method, d, num_classes)
    tx = np.asarray(train_x, np.float64)
    vx = np.asarray(val_x, np.float64)
    if standardize:
        mu = tx.mean(0)
        sd = tx.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        tx, vx = (tx - mu) / sd, (vx - mu) / sd
    return LogisticUtility(
        train_x=jnp.asarray(tx, jnp.float32),
        train_y=jnp.asarray(train_y).astype(jnp.int32),
        val_x=jnp.asarray(vx, jnp.float32),
        val_y=jnp.asarray(val_y).astype(jnp.int32),
        l2=jnp.float32(l2),
        bias_l2=jnp.float32(bias_l2),
        lip=jnp.float32(_scatter_lmax(tx)),
        num_classes=num_classes,
        steps=steps,
        method=method,
    )


def tmc_logistic_values(
    key: Any,
    train_x: jax.Array,
    train_y: jax.Array,
    val_x: jax.Array,
    val_y: jax.Array,
    *,
    num_classes: int,
    num_permutations: int = 500,
    batch_size: int = 64,
    truncation_tol: float = 0.01,
    truncation_patience: int = 1,
    convergence_tol: float | None = None,
    convergence_window: int = 100,
    l2: float = 1.0,
    bias_l2: float = 1e-4,
    steps: int | None = None,
    method: str = "auto",
    standardize: bool = True,
    mesh: Mesh | None = None,
    return_result: bool = False,
) -> jax.Array | TMCResult:
    """TMC-Shapley values of training points for a logistic-regression learner.

    :func:`logistic_utility` (validation accuracy of LR fit on the subset)
    valued with :func:`tmc_shapley`. Cost: ``num_permutations x N`` LR fits at
    most (fewer with truncation), each O(steps x N x d x C): meant for small
    models / small labeled sets.

    Args:
      key: PRNG key.
      train_x, train_y, val_x, val_y, num_classes: data (see
        :func:`logistic_utility`).
      num_permutations, batch_size, truncation_tol, truncation_patience,
      convergence_tol, convergence_window, mesh: see :func:`tmc_shapley`.
      l2, bias_l2, steps, method, standardize: see :func:`logistic_utility`.
      return_result: return the full :class:`TMCResult` instead of the values.

    Returns:
      (N,) float32 values, or the :class:`TMCResult`.
    """
    if not isinstance(return_result, (bool, np.bool_)):
        raise TypeError(f"`return_result` must be a bool, got {type(return_result).__name__}.")
    key = V.check_key("key", key)
    utility = logistic_utility(train_x, train_y, val_x, val_y, num_classes=num_classes, l2=l2,
                               bias_l2=bias_l2, steps=steps, method=method,
                               standardize=standardize)
    res = tmc_shapley(key, utility, int(train_x.shape[0]), num_permutations=num_permutations,
                      batch_size=batch_size, truncation_tol=truncation_tol,
                      truncation_patience=truncation_patience,
                      convergence_tol=convergence_tol, convergence_window=convergence_window,
                      mesh=mesh)
    return res if return_result else res.values
