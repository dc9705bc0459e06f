"""Training: augmentation, optimizer, fit / early stopping / checkpoints, data parallelism,
inference (issue 4). Tiny WRN-10-1 on 8x8 images keeps this file fast on 2 CPU cores."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ads_jax.config_engine import to_dict
from ads_jax.models import build_model
from ads_jax.training import (
    TrainConfig, apply_augment, augment, augment_params, data_mesh, evaluate, fit,
    init_train_state, learning_rate_at, make_optimizer, predict, to_float, train_step_fn,
    weight_decay_mask,
)
from ads_jax.training.parallel import replicate, shard_batch
from ads_jax.training.steps import StepOptions

MODEL = build_model("wrn-10-1", 10)


from testutil import tree_close as _tree_close  # noqa: E402  (shared test helpers)


def _tree_equal(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


# ----------------------------------------------------------------------------- inputs / augmentation

def test_to_float_range():
    x = np.array([0, 1, 127, 128, 255], np.uint8).reshape(1, 5, 1, 1)
    f = np.asarray(to_float(x))
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.ravel(), np.array([0, 1, 127, 128, 255]) / 127.5 - 1, atol=1e-7)
    assert f.min() == -1.0 and f.max() == 1.0
    with pytest.raises(TypeError):
        to_float(np.zeros((1, 2, 2, 1), np.int32))


def _numpy_pad_crop_flip(x, dy, dx, flips, pad):
    """Independent reference: explicit reflect padding by index arithmetic."""
    b, h, w, c = x.shape
    out = np.empty_like(x)
    for i in range(b):
        for r in range(h):
            for s in range(w):
                rr, ss = r + dy[i] - pad, s + dx[i] - pad
                rr = -rr if rr < 0 else (2 * (h - 1) - rr if rr >= h else rr)
                ss = -ss if ss < 0 else (2 * (w - 1) - ss if ss >= w else ss)
                out[i, r, (w - 1 - s) if flips[i] else s] = x[i, rr, ss]
    return out


def test_augment_matches_numpy_reference_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 9, 7, 3)).astype(np.uint8)
    key = jax.random.key(3)
    a1, a2 = np.asarray(augment(key, jnp.asarray(x))), np.asarray(augment(key, jnp.asarray(x)))
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == x.shape and a1.dtype == x.dtype
    dy, dx, fl = map(np.asarray, augment_params(key, 16, pad=4, flip=True))
    assert dy.min() >= 0 and dy.max() <= 8 and dx.min() >= 0 and dx.max() <= 8
    np.testing.assert_array_equal(a1, _numpy_pad_crop_flip(x, dy, dx, fl, 4))
    # the draw really shifts and flips: some examples differ from the input
    moved = (dy != 4) | (dx != 4) | fl
    assert moved.sum() >= 8
    for i in np.flatnonzero(moved):
        assert not np.array_equal(a1[i], x[i])
    # another key -> another draw
    assert not np.array_equal(a1, np.asarray(augment(jax.random.key(4), jnp.asarray(x))))
    # jitted float input: same values
    f = jax.jit(lambda k, v: augment(k, v))(key, to_float(x))
    np.testing.assert_allclose(f, to_float(a1), atol=1e-7)


def test_augment_without_flip_and_identity_crop():
    x = np.arange(2 * 8 * 8).reshape(2, 8, 8, 1).astype(np.float32)
    _, _, fl = augment_params(jax.random.key(0), 256, flip=False)
    assert not bool(fl.any())
    same = apply_augment(jnp.asarray(x), jnp.array([4, 4]), jnp.array([4, 4]),
                         jnp.array([False, False]))
    np.testing.assert_array_equal(same, x)
    mirrored = apply_augment(jnp.asarray(x), jnp.array([4, 4]), jnp.array([4, 4]),
                             jnp.array([True, False]))
    np.testing.assert_array_equal(mirrored[0], x[0, :, ::-1])
    with pytest.raises(ValueError, match="crop_padding|pad"):
        augment(jax.random.key(0), jnp.zeros((1, 4, 4, 1)), pad=4)


# ----------------------------------------------------------------------------- optimizer / schedule

def _fake_params():
    r = np.random.default_rng(1)
    f = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)  # noqa: E731
    return {"stem": {"kernel": f(3, 3, 1, 4)},
            "block": {"bn1": {"scale": f(4), "bias": f(4)}, "conv1": {"kernel": f(3, 3, 4, 4)}},
            "classifier": {"kernel": f(4, 2), "bias": f(2)}}


def test_weight_decay_mask_excludes_batchnorm_and_biases():
    params = _fake_params()
    mask = weight_decay_mask(params)
    assert mask == {"stem": {"kernel": True},
                    "block": {"bn1": {"scale": False, "bias": False}, "conv1": {"kernel": True}},
                    "classifier": {"kernel": True, "bias": False}}
    # on the real model: every BN leaf is excluded, every conv kernel included
    v = jax.eval_shape(lambda: MODEL.init({"params": jax.random.key(0)}, jnp.zeros((1, 8, 8, 1))))
    flat = jax.tree_util.tree_flatten_with_path(weight_decay_mask(v["params"]))[0]
    for path, m in flat:
        names = [p.key for p in path]
        assert m == (names[-1] == "kernel"), names
    assert sum(m for _, m in flat) == 1 + 2 * 3 + 2 + 1  # stem, 6 block convs, 2 shortcuts, dense
    # zero gradients: decay moves kernels only
    tx = make_optimizer(TrainConfig(weight_decay=0.1, momentum=0.0, nesterov=False))
    d, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    _tree_close(d["stem"], {"kernel": 0.1 * params["stem"]["kernel"]})
    assert not np.any(np.asarray(d["block"]["bn1"]["scale"]))
    assert not np.any(np.asarray(d["classifier"]["bias"]))


@pytest.mark.parametrize("nesterov", [True, False])
def test_optimizer_equals_optax_sgd_with_masked_decay(nesterov):
    cfg = TrainConfig(learning_rate=0.3, momentum=0.9, nesterov=nesterov, weight_decay=5e-4,
                      schedule="cosine", epochs=4)
    total = 6
    sched = optax.cosine_decay_schedule(0.3, total)
    ref_tx = optax.chain(optax.add_decayed_weights(5e-4, mask=weight_decay_mask),
                         optax.sgd(sched, momentum=0.9, nesterov=nesterov))
    tx = make_optimizer(cfg)
    p_ref = p = _fake_params()
    s_ref, s = ref_tx.init(p), tx.init(p)
    r = np.random.default_rng(2)
    for t in range(total):
        g = jax.tree.map(lambda a: jnp.asarray(r.normal(size=a.shape), jnp.float32), p)
        u, s_ref = ref_tx.update(g, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, u)
        d, s = tx.update(g, s, p)
        lr = learning_rate_at(t, schedule="cosine", base_lr=0.3, total_steps=total)
        p = jax.tree.map(lambda a, b: a - lr * b, p, d)
    _tree_close(p, p_ref, rtol=1e-5, atol=1e-6)


def test_learning_rate_schedules():
    steps = np.arange(100)
    lr = lambda **kw: np.array([float(learning_rate_at(s, base_lr=0.1, total_steps=100, **kw))  # noqa
                                for s in steps])
    np.testing.assert_allclose(lr(schedule="cosine"),
                               [optax.cosine_decay_schedule(0.1, 100)(s) for s in steps], rtol=1e-5,
                               atol=1e-7)
    st = lr(schedule="step", milestones=(0.3, 0.6, 0.8), gamma=0.2)
    want = 0.1 * 0.2 ** ((steps >= 30).astype(int) + (steps >= 60) + (steps >= 80))
    np.testing.assert_allclose(st, want, rtol=1e-6)
    w = lr(schedule="constant", warmup_steps=10)
    np.testing.assert_allclose(w[:10], 0.1 * (steps[:10] + 1) / 10, rtol=1e-6)
    np.testing.assert_allclose(w[10:], 0.1, rtol=1e-6)


def test_train_config_validation_and_json():
    cfg = TrainConfig(step_milestones=[0.5, 0.75])
    assert cfg.step_milestones == (0.5, 0.75)
    assert TrainConfig(**json.loads(json.dumps(to_dict(cfg)))) == cfg
    for bad in ({"epochs": 0}, {"schedule": "linear"}, {"momentum": 1.0}, {"patience": 0},
                {"label_smoothing": 1.0}, {"step_milestones": (0.8, 0.3)}, {"batch_size": 2.5}):
        with pytest.raises((ValueError, TypeError)):
            TrainConfig(**bad)


# ----------------------------------------------------------------------------- fit

def test_wrn10_overfits_64_images(digits):
    x, y = digits
    cfg = TrainConfig(epochs=15, batch_size=32, learning_rate=0.1, augment=False, patience=None,
                      data_parallel=False)
    res = fit(jax.random.key(0), MODEL, x[:64], y[:64], None, None, cfg, progress=False)
    assert res.best_epoch == 15 and len(res.history) == 15 and not res.stopped_early
    assert res.history[-1]["loss"] < res.history[0]["loss"] / 5
    assert evaluate(MODEL, res.variables, x[:64], y[:64], data_parallel=False) == 1.0


def test_early_stopping_returns_best_epoch_variables(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    y_val = rng.permutation(y[300:360])  # random val labels: accuracy stalls, patience runs out
    cfg = TrainConfig(epochs=12, batch_size=50, learning_rate=0.05, patience=2, flip=False,
                      data_parallel=False)
    seen = {}
    res = fit(jax.random.key(1), MODEL, x[:100], y[:100], x[300:360], y_val, cfg, progress=False,
              callback=lambda rec, st: seen.__setitem__(rec["epoch"], st.variables))
    h = res.history
    assert res.stopped_early and len(h) < 12 and len(h) == res.best_epoch + 2
    scores = [(r["val_accuracy"], -r["val_loss"]) for r in h]
    assert res.best_epoch == 1 + max(range(len(h)), key=lambda i: (scores[i], -i))
    _tree_equal(res.variables, seen[res.best_epoch])
    out = predict(MODEL, res.variables, x[300:360], batch_size=64, data_parallel=False)
    assert np.mean(out["logits"].argmax(1) == y_val) == pytest.approx(
        h[res.best_epoch - 1]["val_accuracy"])


def test_checkpoint_kill_and_resume_is_exact(digits, tmp_path):
    x, y = digits
    cfg = TrainConfig(epochs=3, batch_size=24, learning_rate=0.05, patience=None, flip=False,
                      data_parallel=False)
    args = (MODEL, x[:48], y[:48], x[500:532], y[500:532], cfg)
    key = jax.random.key(7)
    full = fit(key, *args, progress=False)

    class Killed(Exception):
        pass

    def kill_after_1(rec, state):
        if rec["epoch"] == 1:
            raise Killed

    ckdir = str(tmp_path / "ck")
    with pytest.raises(Killed):
        fit(key, *args, checkpoint_dir=ckdir, callback=kill_after_1, progress=False)
    resumed = fit(key, *args, checkpoint_dir=ckdir, progress=False)
    assert resumed.resumed_from == 1 and resumed.best_epoch == full.best_epoch
    _tree_equal(resumed.variables, full.variables)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)
    # a finished run is returned from the checkpoint without training
    again = fit(key, *args, checkpoint_dir=ckdir, progress=False,
                callback=lambda *a: pytest.fail("should not train"))
    assert again.resumed_from == 3
    _tree_equal(again.variables, full.variables)
    # a different key / data cannot silently resume someone else's run
    with pytest.raises(ValueError, match="checkpoint_dir"):
        fit(jax.random.key(8), *args, checkpoint_dir=ckdir, progress=False)


def test_data_parallel_fit_equals_single_device(digits):
    """50 examples, batch 20 -> 3 batches of 17/17/16: padded to the fixed B=20 on 1 device,
    to B=24 (zero-weight, BN-masked padding) on 8 devices; the runs must agree."""
    assert jax.device_count() == 8
    x, y = digits
    mk = lambda dp: TrainConfig(epochs=2, batch_size=20, learning_rate=0.05, patience=None,  # noqa
                                data_parallel=dp)
    a = fit(jax.random.key(2), MODEL, x[:50], y[:50], x[600:630], y[600:630], mk(False),
            progress=False)
    b = fit(jax.random.key(2), MODEL, x[:50], y[:50], x[600:630], y[600:630], mk(True),
            progress=False)
    _tree_close(a.variables, b.variables, rtol=1e-4, atol=1e-5)
    for ra, rb in zip(a.history, b.history):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)
        assert ra["val_accuracy"] == rb["val_accuracy"]
    assert b.variables["params"]["stem"]["kernel"].sharding.is_fully_replicated


def test_data_parallel_step_on_8_devices_equals_single_device(digits):
    x, y = digits
    cfg = TrainConfig(learning_rate=0.1, epochs=2)
    opts = StepOptions.from_config(cfg)
    mesh = data_mesh(True)
    assert mesh.devices.size == 8
    state = init_train_state(jax.random.key(0), MODEL, (8, 8, 1), cfg)
    hp = {"base_lr": jnp.float32(0.1), "total_steps": jnp.int32(4), "warmup_steps": jnp.int32(0)}
    xb, yb, w = x[:16], y[:16], np.ones(16, np.float32)
    w[13:] = 0  # 13 real examples + 3 zero-weight padding slots
    key = jax.random.key(5)
    s1, m1 = train_step_fn(MODEL, opts, None)(state, hp, xb, yb, w, key)
    s1, m1 = train_step_fn(MODEL, opts, None)(s1, hp, xb, yb, w, key)
    s8, m8 = train_step_fn(MODEL, opts, mesh)(replicate(state, mesh), replicate(hp, mesh),
                                              shard_batch(xb, mesh), shard_batch(yb, mesh),
                                              shard_batch(w, mesh), key)
    s8, m8 = train_step_fn(MODEL, opts, mesh)(s8, replicate(hp, mesh), shard_batch(xb, mesh),
                                              shard_batch(yb, mesh), shard_batch(w, mesh), key)
    assert int(s8.step) == 2
    _tree_close(s1.params, s8.params, rtol=1e-4, atol=1e-5)
    _tree_close(s1.batch_stats, s8.batch_stats, rtol=1e-4, atol=1e-5)
    assert float(m8["weight"]) == 13.0
    assert float(m1["loss_sum"]) == pytest.approx(float(m8["loss_sum"]), rel=1e-5)
    # ... and the padding slots had no effect: same as training on the 13 examples alone
    s13b, _ = train_step_fn(MODEL, dataclasses.replace(opts, augment=False), None)(
        state, hp, xb[:13], yb[:13], w[:13], key)
    s16b, _ = train_step_fn(MODEL, dataclasses.replace(opts, augment=False), None)(
        state, hp, xb, yb, w, key)
    _tree_close(s13b.params, s16b.params, rtol=1e-5, atol=1e-6)
    _tree_close(s13b.batch_stats, s16b.batch_stats, rtol=1e-5, atol=1e-6)


def test_fit_input_checks(digits):
    x, y = digits
    cfg = TrainConfig(epochs=1, data_parallel=False)
    with pytest.raises(ValueError, match="y_train"):
        fit(jax.random.key(0), MODEL, x[:10], y[:10] + 10, None, None, cfg)
    with pytest.raises(ValueError, match="same number"):
        fit(jax.random.key(0), MODEL, x[:10], y[:9], None, None, cfg)
    with pytest.raises(ValueError, match="x_val"):
        fit(jax.random.key(0), MODEL, x[:10], y[:10], x[:5], None, cfg)
    with pytest.raises(ValueError, match="x_train"):
        fit(jax.random.key(0), MODEL, x[:10, :, :, 0], y[:10], None, None, cfg)
    with pytest.raises(TypeError, match="key"):
        fit(0, MODEL, x[:10], y[:10], None, None, cfg)
    with pytest.raises(RuntimeError, match="init_distributed"):
        fit(jax.random.key(0), MODEL, x[:10], y[:10], None, None,
            dataclasses.replace(cfg, multi_host=True))
    bad = x[:10].astype(np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fit(jax.random.key(0), MODEL, bad, y[:10], None, None, cfg)


# ----------------------------------------------------------------------------- inference

def test_predict_chunked_matches_direct_apply(digits):
    x, _ = digits
    x = x[:37]
    state = init_train_state(jax.random.key(0), MODEL, (8, 8, 1), TrainConfig())
    variables = dict(state.variables)
    # non-trivial running stats, so eval-mode BN is not the identity
    variables["batch_stats"] = jax.tree.map(lambda a: a + 0.3, variables["batch_stats"])
    logits, feats = MODEL.apply(variables, to_float(x), train=False)
    for bs, dp in ((7, False), (37, False), (5, True), (512, True)):
        out = predict(MODEL, variables, x, batch_size=bs, data_parallel=dp)
        assert set(out) == {"logits", "probs", "embeddings"}
        assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in out.values())
        np.testing.assert_allclose(out["logits"], logits, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out["embeddings"], feats, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out["probs"], jax.nn.softmax(logits), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        predict(MODEL, variables, x, batch_size=0)
    with pytest.raises(TypeError, match="uint8"):
        predict(MODEL, variables, x.astype(np.int64))
