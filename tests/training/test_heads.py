"""fit_linear_head against scikit-learn and its own optimality conditions;
fit_mlp_head on a problem a linear head cannot solve, with its early stopping
checked by recomputation; padding, jit and vmap."""

import dataclasses

import jax
import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ads_jax.models.heads import LinearHead, MLPHead
from ads_jax.training.heads import LinearHeadOptions, MLPHeadOptions, fit_linear_head, fit_mlp_head

C = 10
L2 = 1e-3
N_TRAIN = 1000


@pytest.fixture(scope="module")
def digits_feats():
    """Standardised 64-pixel digits as stand-in frozen features: train / test."""
    d = load_digits()
    x = StandardScaler().fit_transform(d.data).astype(np.float32)
    y = d.target.astype(np.int32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def _np_objective_and_grad(x, y, w, kern, bias, l2):
    """The documented objective and its gradient, float64 NumPy."""
    x, kern, bias = (np.asarray(a, np.float64) for a in (x, kern, bias))
    w = np.asarray(w, np.float64)
    logits = x @ kern + bias
    ce = logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]
    sw = w.sum()
    f = (w * ce).sum() / sw + 0.5 * l2 * (kern ** 2).sum()
    r = (softmax(logits, axis=1) - np.eye(kern.shape[1])[y]) * w[:, None] / sw
    return f, x.T @ r + l2 * kern, r.sum(0)


def _kb(v):
    p = v["params"]["classifier"]
    return np.asarray(p["kernel"]), np.asarray(p["bias"])


@pytest.fixture(scope="module")
def fitted(digits_feats):
    x, y, _, _ = digits_feats
    # Integer sample weights (0 to 3): the Data-OOB use, and zeros are padding-like.
    w = np.random.default_rng(0).integers(0, 4, N_TRAIN).astype(np.float32)
    v, info = fit_linear_head(jax.random.key(0), x, y, w, num_classes=C, l2=L2, max_iter=500,
                              tol=1e-6)
    return w, v, info


def test_linear_head_solves_its_objective(digits_feats, fitted):
    x, y, _, _ = digits_feats
    w, v, info = fitted
    kern, bias = _kb(v)
    f, g_kern, g_bias = _np_objective_and_grad(x, y, w, kern, bias, L2)
    assert bool(info["converged"]) and float(info["grad_norm"]) < 1e-6
    assert 0 < int(info["iterations"]) < 500
    np.testing.assert_allclose(float(info["loss"]), f, rtol=1e-5)
    # The float64 gradient at the returned params (the bias is unpenalised).
    assert np.sqrt((g_kern ** 2).sum() + (g_bias ** 2).sum()) < 1e-5


def test_linear_head_matches_sklearn_logistic_regression(digits_feats, fitted):
    x, y, xt, yt = digits_feats
    w, v, _ = fitted
    # scikit-learn minimises mean_w CE + ||W||^2 / (2 C sum w): C = 1 / (l2 sum w).
    sk = LogisticRegression(C=1.0 / (L2 * w.sum()), tol=1e-10, max_iter=10_000)
    sk.fit(x.astype(np.float64), y, sample_weight=w)  # float32 X would make sklearn stop early
    logits, feats = LinearHead(C).apply(v, xt)
    np.testing.assert_array_equal(feats, xt)
    p = np.asarray(jax.nn.softmax(logits))
    ps = sk.predict_proba(xt)
    acc, acc_sk = (p.argmax(1) == yt).mean(), (ps.argmax(1) == yt).mean()
    assert abs(acc - acc_sk) <= 0.005
    # Parameter error <= |grad| / l2 (l2-strongly convex): ~1e-3 for tol 1e-6.
    assert np.abs(p - ps).max() < 1e-3
    f_ours = _np_objective_and_grad(x, y, w, *_kb(v), L2)[0]
    f_sk = _np_objective_and_grad(x, y, w, sk.coef_.T, sk.intercept_, L2)[0]
    np.testing.assert_allclose(f_ours, f_sk, rtol=1e-6)


def test_padding_rows_do_not_change_the_fit(digits_feats):
    x, y, _, _ = digits_feats
    x, y = x[:300], y[:300]
    rng = np.random.default_rng(1)
    n_pad = N_TRAIN - 300  # the fixture's buffer size: its compilation is reused
    # Padding rows anywhere, with finite junk features and invalid labels.
    order = rng.permutation(300 + n_pad)
    xp = np.concatenate([x, 5 * rng.normal(size=(n_pad, 64)).astype(np.float32)])[order]
    yp = np.concatenate([y, -np.ones(n_pad, np.int32)])[order]
    wp = np.concatenate([np.ones(300, np.float32), np.zeros(n_pad, np.float32)])[order]
    kw = dict(num_classes=C, l2=1e-2, max_iter=500, tol=1e-6)  # l2, tol: traced
    v, _ = fit_linear_head(jax.random.key(0), x, y, np.ones(300, np.float32), **kw)
    vp, _ = fit_linear_head(jax.random.key(0), xp, yp, wp, **kw)
    for a, b in zip(_kb(v), _kb(vp)):
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_jit_and_vmap_over_key_and_weight_equal_a_python_loop(digits_feats):
    x, y, _, _ = digits_feats
    x, y = x[:300], y[:300]  # the shapes of the padding test: its compilation is reused
    rng = np.random.default_rng(2)
    weights = rng.integers(0, 3, (2, 300)).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    fit = jax.jit(fit_linear_head, static_argnames=("num_classes", "max_iter"))
    v_b, info_b = jax.vmap(lambda k, w: fit(k, x, y, w, num_classes=C, l2=1e-2, max_iter=500,
                                            tol=1e-6))(keys, weights)
    assert not np.allclose(_kb(v_b)[0][0], _kb(v_b)[0][1], atol=1e-2)  # different bags
    for i in range(2):
        v, info = fit_linear_head(keys[i], x, y, weights[i], num_classes=C, l2=1e-2,
                                  max_iter=500, tol=1e-6)
        assert bool(info_b["converged"][i]) and bool(info["converged"])
        for a, b in zip(_kb(v), (t[i] for t in _kb(v_b))):
            np.testing.assert_allclose(a, b, atol=2e-4)


def test_degenerate_weights(digits_feats):
    x, y, _, _ = digits_feats
    x, y = x[:300], y[:300]  # the shapes of the padding test: its compilation is reused
    kw = dict(num_classes=C, l2=1e-2, max_iter=500, tol=1e-6)
    # All weights 0: the objective is the ridge only -> W = 0, b = 0.
    v, info = fit_linear_head(jax.random.key(0), x, y, np.zeros(300, np.float32), **kw)
    assert all(np.all(a == 0) for a in _kb(v)) and bool(info["converged"])
    # Class 2 absent (weight 0): finite params, negligible probability for it.
    w = (y != 2).astype(np.float32)
    v, _ = fit_linear_head(jax.random.key(0), x, y, w, **kw)
    kern, bias = _kb(v)
    assert np.isfinite(kern).all() and np.isfinite(bias).all()
    p = softmax(x @ kern + bias, axis=1)
    assert p[:, 2].max() < 1e-3 < p[:, 3].max()


def test_linear_head_input_errors():
    x = np.zeros((5, 2), np.float32)
    y = np.array([0, 1, 0, 1, 7], np.int32)
    ok = np.ones(5, np.float32)
    key = jax.random.key(0)
    x_nan = x.copy()
    x_nan[0, 0] = np.nan
    # (Junk labels on padding rows are fine: test_padding_rows_do_not_change_the_fit.)
    with pytest.raises(ValueError, match="`y` must contain labels in"):
        fit_linear_head(key, x, y, ok, num_classes=2)
    with pytest.raises(ValueError, match="`weight` must be >= 0"):
        fit_linear_head(key, x, y, -ok, num_classes=8)
    with pytest.raises(ValueError, match="`weight` must have one entry per row"):
        fit_linear_head(key, x, y, ok[:3], num_classes=8)
    with pytest.raises(ValueError, match="`l2` must be in"):
        fit_linear_head(key, x, y, ok, num_classes=8, l2=0.0)
    with pytest.raises(ValueError, match="`x` contains 1 non-finite"):
        fit_linear_head(key, x_nan, y, ok, num_classes=8)
    with pytest.raises(ValueError, match="`num_classes` must be >= 2"):
        fit_linear_head(key, x, np.zeros(5, np.int32), ok, num_classes=1)
    with pytest.raises(TypeError, match="`key` must be a PRNG key"):
        fit_linear_head(0, x, y, ok, num_classes=8)


def test_options_dataclasses_validate_with_config_names():
    assert dataclasses.asdict(LinearHeadOptions()) == {"l2": 1e-3, "max_iter": 500, "tol": 1e-5}
    assert MLPHeadOptions().hidden == 256 and MLPHeadOptions(patience=None).patience is None
    with pytest.raises(ValueError, match=r"`model\.options\.l2` must be in \(0"):
        LinearHeadOptions(l2=-1.0)
    with pytest.raises(TypeError, match=r"`model\.options\.max_iter` must be an integer"):
        LinearHeadOptions(max_iter=2.5)
    with pytest.raises(ValueError, match=r"`model\.options\.learning_rate`"):
        MLPHeadOptions(learning_rate=0.0)
    with pytest.raises(ValueError, match=r"`model\.options\.patience` must be >= 1"):
        MLPHeadOptions(patience=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        LinearHeadOptions().l2 = 1.0  # type: ignore[misc]


# =============================================================================
# MLP head
# =============================================================================
def _xor_blobs(rng, n):
    """Four Gaussian blobs at (+-1, +-1); label = XOR of the signs (not linearly separable)."""
    s = rng.integers(0, 2, (n, 2))
    x = (2 * s - 1) + 0.25 * rng.normal(size=(n, 2))
    return x.astype(np.float32), (s[:, 0] ^ s[:, 1]).astype(np.int32)


MLP_KW = dict(num_classes=2, hidden=16, learning_rate=1e-2, weight_decay=1e-4, epochs=40,
              batch_size=64, patience=5)


@pytest.fixture(scope="module")
def xor():
    rng = np.random.default_rng(0)
    x, y = _xor_blobs(rng, 300)
    xv, yv = _xor_blobs(rng, 100)
    xt, yt = _xor_blobs(rng, 400)
    return x, y, xv, yv, xt, yt


@pytest.fixture(scope="module")
def mlp_fit(xor):
    x, y, xv, yv, _, _ = xor
    return fit_mlp_head(jax.random.key(0), x, y, np.ones(300, np.float32), xv, yv, **MLP_KW)


def test_mlp_head_learns_xor_that_the_linear_head_cannot(xor, mlp_fit):
    x, y, _, _, xt, yt = xor
    v, _ = mlp_fit
    logits, feats = MLPHead(2, hidden=16).apply(v, xt)
    assert feats.shape == (400, 16)
    assert (np.asarray(logits).argmax(1) == yt).mean() > 0.95
    vl, _ = fit_linear_head(jax.random.key(0), x, y, np.ones(300, np.float32), num_classes=2)
    lin, _ = LinearHead(2).apply(vl, xt)
    assert (np.asarray(lin).argmax(1) == yt).mean() < 0.7


def test_two_classes_match_sklearn_binary_logistic_regression(xor):
    # (Shapes of the XOR linear fit: one compilation.) scikit-learn fits one
    # vector v = w_1 - w_0; the symmetric softmax penalises |w_0|^2 + |w_1|^2
    # = |v|^2 / 2 at the optimum, hence C = 2 / (l2 * n).
    x, _, _, _, _, _ = xor
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    v, _ = fit_linear_head(jax.random.key(0), x, y, np.ones(300, np.float32), num_classes=2,
                           l2=1e-2, tol=1e-7)
    kern, bias = _kb(v)
    sk = LogisticRegression(C=2 / (1e-2 * 300), tol=1e-12, max_iter=10_000)
    sk.fit(x.astype(np.float64), y)
    np.testing.assert_allclose(kern[:, 1] - kern[:, 0], sk.coef_[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bias[1] - bias[0], sk.intercept_[0], rtol=1e-4, atol=1e-5)


def test_mlp_early_stopping_returns_the_best_validation_epoch(xor):
    x, y, xv, _, _, _ = xor
    # Coin-flip validation labels: the validation accuracy wanders, peaks at
    # some epoch, and early stopping must fire and return that epoch's params.
    # (Same shapes as the `mlp_fit` fixture: no new compilation.)
    yv = np.random.default_rng(1).integers(0, 2, 100).astype(np.int32)
    v, h = fit_mlp_head(jax.random.key(0), x, y, np.ones(300, np.float32), xv, yv, **MLP_KW)
    run = int(h["epochs_run"])
    best = int(h["best_epoch"])
    acc, loss = np.asarray(h["val_acc"]), np.asarray(h["val_loss"])
    assert np.isfinite(acc[:run]).all() and np.isnan(acc[run:]).all()
    # Best = highest accuracy, ties -> lowest loss; stopped `patience` epochs later.
    top = np.flatnonzero(acc[:run] == acc[:run].max())
    assert len(top) > 1  # this run has ties in accuracy: the lower loss must win
    assert best == top[np.argmin(loss[top])]
    assert run == min(MLP_KW["epochs"], best + MLP_KW["patience"] + 1)
    assert best < run - 1 and run < MLP_KW["epochs"]  # stopped early, best not the last
    # The returned params are that epoch's: recompute the validation metrics
    # (the loss identifies the epoch: every epoch's loss is different).
    logits, _ = MLPHead(2, hidden=16).apply(v, xv)
    logits = np.asarray(logits, np.float64)
    np.testing.assert_allclose((logits.argmax(1) == yv).mean(), acc[best], atol=1e-6)
    ce = (logsumexp(logits, axis=1) - logits[np.arange(100), yv]).mean()
    gaps = np.abs(loss[:run] - ce)
    assert np.argmin(gaps) == best and gaps[best] < 1e-5 * ce
    assert np.delete(gaps, best).min() > 1e-3 * ce


def test_mlp_padding_rows_are_excluded(xor, mlp_fit):
    x, y, xv, yv, _, _ = xor
    v, h = mlp_fit
    rng = np.random.default_rng(5)
    # Valid rows first, then padding (the loop's buffers): same shuffles, same fit.
    xp = np.concatenate([x, 3 * rng.normal(size=(100, 2)).astype(np.float32)])
    yp = np.concatenate([y, -np.ones(100, np.int32)])
    wp = np.concatenate([np.ones(300, np.float32), np.zeros(100, np.float32)])
    xvp = np.concatenate([xv, np.zeros((20, 2), np.float32)])
    yvp = np.concatenate([yv, np.zeros(20, np.int32)])
    vwp = np.concatenate([np.ones(100, np.float32), np.zeros(20, np.float32)])
    vp, hp = fit_mlp_head(jax.random.key(0), xp, yp, wp, xvp, yvp, val_weight=vwp, **MLP_KW)
    assert int(hp["best_epoch"]) == int(h["best_epoch"])
    np.testing.assert_allclose(hp["val_acc"], h["val_acc"], atol=1e-6)
    for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(vp)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_mlp_input_errors(xor):
    x, y, xv, yv, _, _ = xor
    ok = np.ones(300, np.float32)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`weight` has no positive entry"):
        fit_mlp_head(key, x, y, 0 * ok, xv, yv, num_classes=2)
    with pytest.raises(ValueError, match="`x_val` must have the feature size"):
        fit_mlp_head(key, x, y, ok, np.zeros((4, 3), np.float32), yv[:4], num_classes=2)
    with pytest.raises(ValueError, match="`y_val` must contain labels"):
        fit_mlp_head(key, x, y, ok, xv, yv + 2, num_classes=2)
    with pytest.raises(ValueError, match="`patience` must be >= 1"):
        fit_mlp_head(key, x, y, ok, xv, yv, num_classes=2, patience=0)
