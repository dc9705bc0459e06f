"""Truth tests for TMC-Shapley and the logistic-regression utility.

References are independent of the estimator: exact Shapley values by
enumerating every subset of tiny games (N <= 7), closed forms, a plain-Python
TMC walk over the documented permutations (``fold_in(key, t)``), scikit-learn
for the logistic-regression fit, and the Shapley axioms. Monte-Carlo checks
use a fixed key and a 4-standard-error band, so they are deterministic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.valuation.tmc import (
    LogisticUtility,
    fit_logistic,
    logistic_predict_proba,
    logistic_utility,
    tmc_logistic_values,
    tmc_shapley,
)


# ---------------------------------------------------------------- references
def all_masks(n):
    """(2^n, n) 0/1 float32 masks; row s is the subset with bits of s."""
    s = np.arange(2**n)
    return ((s[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float32)


def exact_shapley(utilities, n):
    """Shapley values from the definition. ``utilities``: (2^n,) U of each bitmask."""
    u = np.asarray(utilities, np.float64)
    phi = np.zeros(n)
    fact = [math.factorial(k) for k in range(n + 1)]
    for s in range(2**n):
        size = bin(s).count("1")
        for i in range(n):
            if not (s >> i) & 1:
                w = fact[size] * fact[n - size - 1] / fact[n]
                phi[i] += w * (u[s | (1 << i)] - u[s])
    return phi


def _lookup(table, m):
    pw = 2 ** jnp.arange(m.shape[-1], dtype=jnp.int32)
    return table[jnp.sum(m.astype(jnp.int32) * pw)]


def table_game(table):
    """Utility looking up a (2^n,) table by the mask's bit pattern.

    A ``jax.tree_util.Partial`` over an array is a pytree with array leaves, so
    games of the same size share one compiled program (the table is an argument).
    """
    return jax.tree_util.Partial(_lookup, jnp.asarray(table, jnp.float32))


def reference_tmc(table, n, key, num_perm, tol, patience):
    """Plain-Python TMC over the documented permutations, float32 arithmetic."""
    table = np.asarray(table, np.float32)
    u_full, u_empty = table[2**n - 1], table[0]
    thresh = np.float32(tol) * np.abs(u_full)
    marg = np.zeros((num_perm, n), np.float64)
    truncated = 0
    evals = 2
    perms = np.asarray(jax.jit(jax.vmap(  # the documented contract, t = 0..T-1
        lambda t: jax.random.permutation(jax.random.fold_in(key, t), n)))(jnp.arange(num_perm)))
    for t in range(num_perm):
        perm = perms[t]
        prev, streak, mask = u_empty, 0, 0
        for j, p in enumerate(perm):
            mask |= 1 << int(p)
            if j == n - 1:
                uj = u_full
            else:
                uj = table[mask]
                evals += 1
            marg[t, p] = np.float32(uj - prev)
            prev = uj
            streak = streak + 1 if np.abs(u_full - uj) < thresh else 0
            if streak >= patience:
                truncated += j < n - 1
                break
    return marg.mean(0), truncated / num_perm, evals


def within_error(est, se, exact, slack=1e-5):
    est, se = np.asarray(est, np.float64), np.asarray(se, np.float64)
    return np.abs(est - exact) <= 4 * se + slack


@pytest.fixture(scope="module")
def tiny_lr():
    """Tiny 2-D binary problem: 6 training points, 40 validation points."""
    rng = np.random.default_rng(7)
    x = np.array([[-1.0, 0.2], [-0.5, -0.8], [0.3, 0.9], [1.2, 0.1], [0.8, -0.6],
                  [-0.2, 0.4]], np.float32)
    y = np.array([0, 0, 1, 1, 1, 0], np.int32)
    vx = rng.normal(size=(40, 2)).astype(np.float32)
    vy = (vx[:, 0] + 0.3 * vx[:, 1] > 0).astype(np.int32)
    return x, y, vx, vy


# ------------------------------------------------------- against exact values
def test_additive_interaction_game_matches_closed_form_and_enumeration():
    a = np.array([0.1, 0.2, 0.3, -0.1, 0.05], np.float32)

    def u(m):
        return jnp.sum(jnp.asarray(a) * m) + 0.4 * m[0] * m[1]

    masks = all_masks(5)
    exact = exact_shapley(a @ masks.T + 0.4 * masks[:, 0] * masks[:, 1], 5)
    np.testing.assert_allclose(exact, a + np.array([0.2, 0.2, 0, 0, 0]), atol=1e-6)
    r = tmc_shapley(jax.random.key(0), u, 5, num_permutations=2000, batch_size=128,
                    truncation_tol=0.0)
    assert r.num_permutations == 2000 and r.fraction_truncated == 0.0
    assert within_error(r.values, r.stderr, exact).all(), (r.values, exact, r.stderr)
    # Players 2..4 are additive: every marginal is a_i, so the estimate is exact.
    np.testing.assert_allclose(r.values[2:], a[2:], atol=1e-6)
    assert float(np.max(r.stderr[2:])) < 1e-6 < float(np.min(r.stderr[:2]))


def test_weighted_majority_game_with_truncation():
    w = np.array([4, 3, 2, 1, 1, 1, 1])
    quota = 7
    masks = all_masks(7)
    table = (masks @ w >= quota).astype(np.float32)
    exact = exact_shapley(table, 7)
    r = tmc_shapley(jax.random.key(1), table_game(table), 7, num_permutations=3000,
                    batch_size=256, truncation_tol=0.01)
    # Monotone 0/1 game: a prefix that wins stays winning, so truncation loses
    # nothing -- unbiased, and efficiency holds exactly in every permutation.
    assert r.fraction_truncated > 0.5
    assert within_error(r.values, r.stderr, exact).all(), (r.values, exact, r.stderr)
    assert abs(float(np.sum(r.values)) - 1.0) < 1e-5
    assert r.utility_evaluations < 3000 * 6 + 2


def test_random_game_without_truncation_matches_enumeration():
    table = np.random.default_rng(3).uniform(-1, 1, size=2**6).astype(np.float32)
    exact = exact_shapley(table, 6)
    r = tmc_shapley(jax.random.key(2), table_game(table), 6, num_permutations=4000,
                    batch_size=256, truncation_tol=0.0)
    assert within_error(r.values, r.stderr, exact).all(), (r.values, exact, r.stderr)
    assert abs(float(np.sum(r.values)) - (table[-1] - table[0])) < 1e-5


def test_logistic_utility_matches_enumeration(tiny_lr):
    x, y, vx, vy = tiny_lr
    ut = logistic_utility(x, y, vx, vy, num_classes=2)
    exact = exact_shapley(np.asarray(jax.vmap(ut)(jnp.asarray(all_masks(6)))), 6)
    r = tmc_logistic_values(jax.random.key(3), x, y, vx, vy, num_classes=2,
                            num_permutations=3000, batch_size=256, truncation_tol=0.0,
                            return_result=True)
    assert within_error(r.values, r.stderr, exact).all(), (r.values, exact, r.stderr)
    assert np.ptp(exact) > 0.05  # a non-trivial game
    # efficiency without truncation
    assert abs(float(np.sum(r.values)) - (r.full_utility - r.empty_utility)) < 1e-5
    assert r.empty_utility == pytest.approx(0.5)  # uniform prediction of C = 2


# ------------------------------------------------ truncation under vmap/mesh
@pytest.mark.parametrize("tol,patience", [(0.15, 1), (0.15, 2), (0.0, 1)])
def test_truncation_matches_plain_python_walk(tol, patience):
    n = 6
    table = np.random.default_rng(11).uniform(0.2, 1.0, size=2**n).astype(np.float32)
    key = jax.random.key(5)
    ref, frac, evals = reference_tmc(table, n, key, 90, tol, patience)
    u = table_game(table)
    for kw in ({"batch_size": 90}, {"batch_size": 7},
               {"batch_size": 4, "mesh": jax.make_mesh((8,), ("perm",))}):
        r = tmc_shapley(key, u, n, num_permutations=90, truncation_tol=tol,
                        truncation_patience=patience, **kw)
        np.testing.assert_allclose(r.values, ref, atol=1e-6, err_msg=str(kw))
        assert r.fraction_truncated == pytest.approx(frac)
        assert r.utility_evaluations == evals
    if tol > 0:
        assert 0 < frac < 1  # both kinds of lanes share blocks


def test_efficiency_with_truncation_within_tolerance(tiny_lr):
    x, y, vx, vy = tiny_lr
    tol = 0.05
    r = tmc_logistic_values(jax.random.key(4), x, y, vx, vy, num_classes=2,
                            num_permutations=512, batch_size=256, truncation_tol=tol,
                            return_result=True)
    assert r.fraction_truncated > 0.2
    gap = float(np.sum(np.asarray(r.values, np.float64))) - (r.full_utility - r.empty_utility)
    assert abs(gap) <= tol * abs(r.full_utility) + 1e-6


# ---------------------------------------------------------------- symmetry
def test_symmetric_players_get_equal_values():
    n = 6
    table = np.random.default_rng(5).uniform(size=2**n).astype(np.float32)
    s = np.arange(2**n)
    swapped = (s & ~3) | ((s & 1) << 1) | ((s >> 1) & 1)  # swap players 0 and 1
    table = 0.5 * (table + table[swapped])
    exact = exact_shapley(table, n)
    assert exact[0] == pytest.approx(exact[1], abs=1e-12)
    r = tmc_shapley(jax.random.key(6), table_game(table), n, num_permutations=4000,
                    batch_size=256, truncation_tol=0.0)
    se = float(np.hypot(r.stderr[0], r.stderr[1]))
    assert abs(float(r.values[0] - r.values[1])) <= 4 * se + 1e-6
    assert within_error(r.values, r.stderr, exact).all()


def test_duplicated_training_points_get_equal_values(tiny_lr):
    x, y, vx, vy = tiny_lr
    x2, y2 = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1]])  # point 6 == point 0
    ut = logistic_utility(x2, y2, vx, vy, num_classes=2)
    exact = exact_shapley(np.asarray(jax.vmap(ut)(jnp.asarray(all_masks(7)))), 7)
    assert exact[0] == pytest.approx(exact[6], abs=1e-6)
    r = tmc_shapley(jax.random.key(8), ut, 7, num_permutations=3000, batch_size=256,
                    truncation_tol=0.0)
    se = float(np.hypot(r.stderr[0], r.stderr[6]))
    assert abs(float(r.values[0] - r.values[6])) <= 4 * se + 1e-6


# ------------------------------------------------- determinism, diagnostics
def test_deterministic_for_a_key():
    table = np.random.default_rng(1).uniform(size=2**5).astype(np.float32)
    u = table_game(table)
    a = tmc_shapley(jax.random.key(9), u, 5, num_permutations=100, batch_size=128)
    b = tmc_shapley(jax.random.key(9), u, 5, num_permutations=100, batch_size=128)
    c = tmc_shapley(jax.random.key(10), u, 5, num_permutations=100, batch_size=128)
    legacy = tmc_shapley(jax.random.PRNGKey(9), u, 5, num_permutations=100, batch_size=128)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.stderr, b.stderr)
    np.testing.assert_array_equal(a.trace_error, b.trace_error)
    np.testing.assert_array_equal(a.values, legacy.values)  # same key data
    assert np.abs(np.asarray(a.values) - np.asarray(c.values)).max() > 1e-4


def test_convergence_diagnostic_decreases():
    table = np.random.default_rng(2).uniform(size=2**6).astype(np.float32)
    r = tmc_shapley(jax.random.key(11), table_game(table), 6, num_permutations=3000,
                    batch_size=50, truncation_tol=0.0, convergence_window=50)
    np.testing.assert_array_equal(r.trace_permutations, np.arange(50, 3001, 50))
    assert np.all(np.isfinite(r.trace_error))  # window reached at the first checkpoint
    assert r.trace_error[-1] < r.trace_error[0] / 5
    assert r.trace_max_stderr[-1] < r.trace_max_stderr[0] / 5
    # The stderr reported is the last trace entry.
    assert float(np.max(r.stderr)) == pytest.approx(r.trace_max_stderr[-1], rel=1e-6)
    assert not r.converged  # no convergence_tol given


def test_early_stop_at_first_converged_checkpoint():
    table = np.random.default_rng(2).uniform(size=2**6).astype(np.float32)
    u = table_game(table)
    kw = dict(batch_size=50, truncation_tol=0.0, convergence_window=50)
    r = tmc_shapley(jax.random.key(11), u, 6, num_permutations=5000,
                    convergence_tol=0.05, **kw)
    assert r.converged and r.num_permutations < 5000
    assert r.trace_error[-1] < 0.05 and np.all(r.trace_error[:-1] >= 0.05)
    full = tmc_shapley(jax.random.key(11), u, 6, num_permutations=r.num_permutations, **kw)
    np.testing.assert_allclose(r.values, full.values, atol=1e-7)
    single = tmc_shapley(jax.random.key(11), u, 6, num_permutations=1, batch_size=50)
    assert single.num_permutations == 1 and np.all(np.isinf(single.stderr))


def test_pytree_utility_does_not_recompile(tiny_lr):
    x, y, vx, vy = tiny_lr
    from ads_jax.valuation import tmc as T

    u1 = logistic_utility(x, y, vx, vy, num_classes=2)
    u2 = logistic_utility(x[::-1].copy(), y[::-1].copy(), vx, vy, num_classes=2)
    assert isinstance(u1, LogisticUtility) and len(jax.tree_util.tree_leaves(u1)) == 7
    tmc_shapley(jax.random.key(0), u1, 6, num_permutations=8, batch_size=256)
    before = T._block._cache_size()
    r2 = tmc_shapley(jax.random.key(0), u2, 6, num_permutations=8, batch_size=256)
    assert T._block._cache_size() == before
    r1 = tmc_shapley(jax.random.key(0), u1, 6, num_permutations=8, batch_size=256)
    assert np.any(np.asarray(r1.values) != np.asarray(r2.values))  # u2's data was used


# ------------------------------------------------------- logistic regression
def _blobs(n, d, c, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 1.5
    y = rng.integers(0, c, n).astype(np.int32)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.parametrize("n,d,c,method,steps,atol", [
    (60, 2, 3, "newton", None, 1e-5),
    (60, 2, 3, "gd", None, 1e-3),
    (150, 30, 4, "auto", None, 3e-3),  # auto -> gradient descent
])
def test_fit_matches_sklearn_multinomial(n, d, c, method, steps, atol):
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(n, d, c, seed=d)
    sk = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(x.astype(np.float64), y)
    p = fit_logistic(x, y, num_classes=c, l2=1.0, bias_l2=1e-6, method=method, steps=steps)
    np.testing.assert_allclose(np.asarray(logistic_predict_proba(p, x)), sk.predict_proba(x),
                               atol=atol)


def test_binary_fit_matches_sklearn_and_weights_are_repeats():
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(50, 2, 2, seed=1)
    # symmetric two-class softmax with ridge l2  ==  binary LR with C = 2 / l2
    sk = LogisticRegression(C=2.0, tol=1e-10, max_iter=10000).fit(x.astype(np.float64), y)
    p = fit_logistic(x, y, num_classes=2, bias_l2=1e-6)
    np.testing.assert_allclose(np.asarray(logistic_predict_proba(p, x)), sk.predict_proba(x),
                               atol=1e-5)
    # integer weights == repeated points; zero weight == dropped point
    w = np.array([2.0] * 10 + [0.0] * 10 + [1.0] * 30, np.float32)
    xr = np.concatenate([x[:10], x[:10], x[20:]])
    yr = np.concatenate([y[:10], y[:10], y[20:]])
    for method, steps in (("newton", None), ("gd", 3000)):
        pw = fit_logistic(x, y, num_classes=2, weights=w, method=method, steps=steps)
        pr = fit_logistic(xr, yr, num_classes=2, method=method, steps=steps)
        np.testing.assert_allclose(pw.w, pr.w, atol=1e-4, err_msg=method)
        np.testing.assert_allclose(pw.b, pr.b, atol=1e-4, err_msg=method)


def test_degenerate_subsets(tiny_lr):
    x, y, vx, vy = tiny_lr
    masks = jnp.asarray([[0.0] * 6,
                         [1.0, 1.0, 0, 0, 0, 0],  # two points, both class 0
                         [0, 0, 1.0, 0, 0, 0]])  # one point of class 1
    for c, vyc in ((2, vy), (3, np.where(np.arange(40) % 5 == 0, 2, vy).astype(np.int32))):
        ut = logistic_utility(x, y, vx, vyc, num_classes=c)
        u = np.asarray(jax.vmap(ut)(masks))
        np.testing.assert_allclose(u, [1.0 / c, np.mean(vyc == 0), np.mean(vyc == 1)],
                                   atol=1e-6)
    p = fit_logistic(x, y, num_classes=2, weights=np.zeros(6, np.float32))
    assert np.all(np.asarray(p.w) == 0) and np.all(np.asarray(p.b) == np.asarray(p.b)[0])
    p = fit_logistic(x, y, num_classes=2, weights=np.array([0, 0, 1, 1, 0, 0], np.float32))
    assert np.argmax(np.asarray(p.b)) == 1 and np.all(np.asarray(p.w) == 0)


def test_standardized_utility_is_affine_invariant(tiny_lr):
    x, y, vx, vy = tiny_lr
    scale, shift = np.array([10.0, 0.1], np.float32), np.array([3.0, -5.0], np.float32)
    u1 = logistic_utility(x, y, vx, vy, num_classes=2)
    u2 = logistic_utility(x * scale + shift, y, vx * scale + shift, vy, num_classes=2)
    u3 = logistic_utility(x * scale + shift, y, vx * scale + shift, vy, num_classes=2,
                          standardize=False)
    masks = jnp.asarray(all_masks(6))
    a, b, c = (np.asarray(jax.vmap(u)(masks)) for u in (u1, u2, u3))
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(a - c).max() > 0.01  # without standardisation the ridge acts differently


def test_embedding_sized_utility_runs_with_gradient_path():
    x, y = _blobs(24, 64, 10, seed=4)
    vx, vy = _blobs(50, 64, 10, seed=4)
    ut = logistic_utility(x, y, vx, vy, num_classes=10)
    assert ut.method == "gd" and ut.steps == 300
    r = tmc_shapley(jax.random.key(0), ut, 24, num_permutations=16, batch_size=16)
    assert r.values.shape == (24,) and np.all(np.isfinite(r.values))
    assert r.full_utility > 0.5  # separable blobs: the fit learns something


# ------------------------------------------------------------- bad inputs
def _u5(m):
    return jnp.sum(m)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"key": "seed"}, TypeError, "key"),
    ({"key": jax.random.split(jax.random.key(0), 2)}, ValueError, "key"),
    ({"utility": 3}, TypeError, "utility"),
    ({"utility": lambda m: m * 2}, ValueError, "scalar"),
    ({"utility": lambda m: m.reshape(3, 3).sum()}, TypeError, "utility"),
    ({"utility": lambda m: jnp.where(jnp.sum(m) == 2, jnp.nan, jnp.sum(m))}, ValueError,
     "non-finite"),
    ({"utility": lambda m: jnp.sum(m) / 0.0}, ValueError, "finite"),
    ({"num_players": 0}, ValueError, "num_players"),
    ({"num_players": 2.5}, TypeError, "num_players"),
    ({"num_permutations": 0}, ValueError, "num_permutations"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"truncation_tol": -0.1}, ValueError, "truncation_tol"),
    ({"truncation_tol": 1.5}, ValueError, "truncation_tol"),
    ({"truncation_tol": "0.1"}, TypeError, "truncation_tol"),
    ({"truncation_patience": 0}, ValueError, "truncation_patience"),
    ({"convergence_tol": 0.0}, ValueError, "convergence_tol"),
    ({"convergence_tol": float("nan")}, ValueError, "convergence_tol"),
    ({"convergence_window": 0}, ValueError, "convergence_window"),
    ({"mesh": "cpu"}, TypeError, "mesh"),
])
def test_tmc_bad_inputs(kwargs, exc, match):
    args = {"key": jax.random.key(0), "utility": _u5, "num_players": 5}
    args.update(kwargs)
    key, utility, n = args.pop("key"), args.pop("utility"), args.pop("num_players")
    args.setdefault("num_permutations", 8)
    with pytest.raises(exc, match=match):
        tmc_shapley(key, utility, n, **args)


@pytest.mark.parametrize("change,exc,match", [
    (lambda a: a.update(train_x=a["train_x"].astype(np.int32)), TypeError, "train_x"),
    (lambda a: a.update(train_y=a["train_y"][:5]), ValueError, "same number"),
    (lambda a: a.update(val_x=a["val_x"][:, :1]), ValueError, "feature dimension"),
    (lambda a: a.update(train_y=a["train_y"] + 1), ValueError, "train_y"),
    (lambda a: a["val_x"].__setitem__((0, 0), np.nan), ValueError, "val_x"),
    (lambda a: a.update(num_classes=1), ValueError, "num_classes"),
    (lambda a: a.update(l2=0.0), ValueError, "l2"),
    (lambda a: a.update(steps=0), ValueError, "steps"),
    (lambda a: a.update(method="lbfgs"), ValueError, "method"),
    (lambda a: a.update(standardize=1), TypeError, "standardize"),
    (lambda a: a.update(return_result="yes"), TypeError, "return_result"),
    (lambda a: a.update(key=0), TypeError, "key"),
])
def test_logistic_bad_inputs(tiny_lr, change, exc, match):
    x, y, vx, vy = tiny_lr
    a = dict(key=jax.random.key(0), train_x=x.copy(), train_y=y.copy(), val_x=vx.copy(),
             val_y=vy.copy(), num_classes=2, num_permutations=4)
    change(a)
    with pytest.raises(exc, match=match):
        tmc_logistic_values(a.pop("key"), a.pop("train_x"), a.pop("train_y"), a.pop("val_x"),
                            a.pop("val_y"), **a)


def test_fit_bad_weights(tiny_lr):
    x, y, _, _ = tiny_lr
    with pytest.raises(ValueError, match="weights"):
        fit_logistic(x, y, num_classes=2, weights=-np.ones(6, np.float32))
    with pytest.raises(ValueError, match="same number"):
        fit_logistic(x, y, num_classes=2, weights=np.ones(5, np.float32))
