"""WideResNet: shapes, depth rule, dtypes, structure (issue 4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.models import PRESETS, ModelConfig, WideResNet, build_model


def _init(model, shape, seed=0):
    x = jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)
    return x, model.init({"params": jax.random.key(seed)}, x, train=False)


@pytest.mark.parametrize("depth,width,shape", [
    (10, 1, (3, 8, 8, 1)),
    (16, 2, (2, 28, 28, 1)),
    (10, 2, (2, 32, 32, 3)),
    (22, 1, (2, 32, 32, 3)),
    (16, 1, (2, 64, 64, 3)),
    (10, 1, (2, 7, 9, 5)),  # odd sizes, any channel count
])
def test_output_shapes(depth, width, shape):
    model = build_model(ModelConfig(depth=depth, width=width), num_classes=7)
    x, variables = _init(model, shape)
    logits, feats = model.apply(variables, x, train=False)
    assert logits.shape == (shape[0], 7) and logits.dtype == jnp.float32
    assert feats.shape == (shape[0], 64 * width) and feats.dtype == jnp.float32
    assert model.feature_dim == 64 * width
    # features are average-pooled post-ReLU activations, logits a dense layer of them
    assert float(feats.min()) >= 0
    p = variables["params"]["classifier"]
    np.testing.assert_allclose(logits, feats @ p["kernel"] + p["bias"], rtol=1e-5, atol=1e-5)
    # train mode: same shapes, batch stats mutate
    (lt, ft), mutated = model.apply(variables, x, train=True, mutable=["batch_stats"])
    assert lt.shape == logits.shape and ft.shape == feats.shape
    assert set(mutated) == {"batch_stats"}


@pytest.mark.parametrize("depth", [16, 22, 28])
def test_structure_follows_depth_and_width(depth):
    """n = (depth - 4) / 6 blocks per group, widths 16k/32k/64k, 1x1 shortcut only on shape change."""
    width = 2
    model = WideResNet(depth=depth, width=width, num_classes=3)
    shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)},
                                               jnp.zeros((1, 16, 16, 3)), train=False))
    params = shapes["params"]
    n = (depth - 4) // 6
    blocks = sorted(k for k in params if k.startswith("group"))
    assert len(blocks) == 3 * n
    # reference counting (Zagoruyko & Komodakis): stem + 6n block convs + classifier + 2
    assert 1 + 2 * len(blocks) + 1 + 2 == depth
    assert params["stem"]["kernel"].shape == (3, 3, 3, 16)
    for g, c in ((1, 16 * width), (2, 32 * width), (3, 64 * width)):
        for b in range(1, n + 1):
            blk = params[f"group{g}_block{b}"]
            assert blk["conv1"]["kernel"].shape[-1] == c
            assert blk["conv2"]["kernel"].shape == (3, 3, c, c)
            assert ("shortcut" in blk) == (b == 1)  # 16 -> 16k (k=2), then stride 2
            assert "bias" not in blk["conv1"]
    assert params["classifier"]["kernel"].shape == (64 * width, 3)
    # spatial: 16 -> 16 -> 8 -> 4 ; shortcut of group1 block1 when width 1 is absent
    p1 = jax.eval_shape(lambda: WideResNet(depth=depth, width=1, num_classes=3).init(
        {"params": jax.random.key(0)}, jnp.zeros((1, 16, 16, 3)), train=False))["params"]
    assert "shortcut" not in p1["group1_block1"] and "shortcut" in p1["group2_block1"]


@pytest.mark.parametrize("depth", [0, 4, 9, 12, 24, 27, -2])
def test_invalid_depth_rejected(depth):
    with pytest.raises(ValueError, match="6n \\+ 4"):
        ModelConfig(depth=depth)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        WideResNet(depth=depth)


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="width"):
        ModelConfig(width=0)
    with pytest.raises(ValueError, match="dtype"):
        ModelConfig(dtype="float16")
    with pytest.raises(ValueError, match="dropout_rate"):
        ModelConfig(dropout_rate=1.0)
    with pytest.raises(TypeError):
        ModelConfig(depth=16.0)
    with pytest.raises(ValueError, match="preset"):
        build_model("wrn-24-10", 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("wrn-10-1", 0)
    for name in ("wrn-10-1", "wrn-16-1", "wrn-16-2", "wrn-16-8", "wrn-28-10"):
        assert PRESETS[name].label == name
    m = build_model("wrn-28-10", 100)
    assert (m.depth, m.width, m.num_classes) == (28, 10, 100)


def test_bfloat16_compute_keeps_float32_params():
    cfg32 = ModelConfig(depth=10, width=1)
    cfg16 = ModelConfig(depth=10, width=1, dtype="bfloat16")
    m32, m16 = build_model(cfg32, 5), build_model(cfg16, 5)
    x, v16 = _init(m16, (4, 12, 12, 3))
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(v16))
    (l16, f16), mut = m16.apply(v16, x, train=True, mutable=["batch_stats"])
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(mut))
    l16, f16 = m16.apply(v16, x, train=False)
    assert l16.dtype == jnp.float32 and f16.dtype == jnp.float32
    # same parameters, float32 compute: close but not bitwise equal (bf16 has ~3 digits)
    l32, f32 = m32.apply(v16, x, train=False)
    np.testing.assert_allclose(f16, f32, rtol=0.1, atol=0.05)
    assert not np.array_equal(np.asarray(f16), np.asarray(f32))


def test_dropout_only_in_train_mode():
    model = build_model(ModelConfig(depth=10, width=1, dropout_rate=0.5), 4)
    x, v = _init(model, (3, 8, 8, 2))
    a = model.apply(v, x, train=False)[0]
    b = model.apply(v, x, train=False)[0]
    np.testing.assert_array_equal(a, b)
    run = lambda k: model.apply(v, x, train=True, rngs={"dropout": jax.random.key(k)},  # noqa
                                mutable=["batch_stats"])[0][0]
    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))


def test_batchnorm_mask_excludes_padding():
    """Masked examples do not influence the train-mode output of the real ones."""
    model = build_model("wrn-10-1", 3)
    x, v = _init(model, (6, 8, 8, 1))
    junk = jnp.concatenate([x[:4], 100.0 + x[4:] * 50])
    mask = jnp.array([1, 1, 1, 1, 0, 0], bool)
    (la, _), sa = model.apply(v, x[:4], train=True, mutable=["batch_stats"])
    (lb, _), sb = model.apply(v, junk, train=True, mask=mask, mutable=["batch_stats"])
    np.testing.assert_allclose(la, lb[:4], rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), sa, sb)
