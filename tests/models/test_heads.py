"""LinearHead / MLPHead: the forward pass against NumPy, parameter names, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.models.heads import LinearHead, MLPHead


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 5)).astype(np.float32)


def test_linear_head_is_x_w_plus_b_and_returns_its_input(feats):
    head = LinearHead(num_classes=3)
    variables = head.init(jax.random.key(0), feats)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), variables) == {
        "params": {"classifier": {"kernel": ((5, 3), jnp.float32), "bias": ((3,), jnp.float32)}}}
    # Non-trivial params so the bias matters.
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    variables = {"params": {"classifier": {"kernel": w, "bias": b}}}
    logits, features = head.apply(variables, feats)
    np.testing.assert_allclose(logits, feats.astype(np.float64) @ w + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(features, feats)
    assert logits.dtype == features.dtype == jnp.float32
    # train / mask are accepted and change nothing (WideResNet's signature).
    logits2, features2 = head.apply(variables, feats, train=True, mask=np.zeros(7, bool))
    np.testing.assert_array_equal(logits2, logits)
    np.testing.assert_array_equal(features2, features)


def test_mlp_head_hidden_features_and_logits(feats):
    head = MLPHead(num_classes=4, hidden=6)
    variables = head.init(jax.random.key(0), feats)
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), variables)
    assert shapes == {"params": {
        "hidden": {"kernel": ((5, 6), jnp.float32), "bias": ((6,), jnp.float32)},
        "classifier": {"kernel": ((6, 4), jnp.float32), "bias": ((4,), jnp.float32)}}}
    p = jax.tree.map(np.asarray, variables["params"])
    p["hidden"]["bias"] = np.linspace(-1, 1, 6).astype(np.float32)  # some units dead
    logits, features = head.apply({"params": p}, feats, train=True, mask=None)
    h = np.maximum(feats.astype(np.float64) @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0)
    assert (h == 0).any() and (h > 0).any()
    np.testing.assert_allclose(features, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, h @ p["classifier"]["kernel"] + p["classifier"]["bias"],
                               rtol=1e-5, atol=1e-5)


def test_bfloat16_compute_keeps_float32_params_and_outputs(feats):
    head = MLPHead(num_classes=3, hidden=8, dtype=jnp.bfloat16)
    variables = head.init(jax.random.key(0), feats)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(variables))
    logits, features = head.apply(variables, feats)
    ref, _ = MLPHead(num_classes=3, hidden=8).apply(variables, feats)
    assert logits.dtype == features.dtype == jnp.float32
    np.testing.assert_allclose(logits, ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("head", [LinearHead(3), MLPHead(3, hidden=4)])
def test_heads_reject_non_feature_input(head):
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        head.init(jax.random.key(0), np.zeros((2, 4, 4, 1), np.float32))
