"""Fixed-shape training (issue "one jitted program at fixed shapes"): on-device training set,
batches gathered on device, capacity buckets (compile counting), padded == unpadded training,
divergence errors. Tiny WRN-10-1 on 8x8 digits, 1-3 epochs: cheap on 2 CPU cores."""

import collections
import contextlib
import dataclasses
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ads_jax.checkpoint import Checkpointer
from ads_jax.models import build_model
from ads_jax.training import (
    TrainConfig, TrainingDivergedError, augment, default_capacity, fit, gather_step_fn,
    init_train_state, to_float, weight_decay_mask,
)

# the module (the package attribute `ads_jax.training.fit` is the function)
fit_mod = importlib.import_module("ads_jax.training.fit")
MODEL = build_model("wrn-10-1", 10)
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


from testutil import tree_close as _tree_close  # noqa: E402  (shared test helpers)


@contextlib.contextmanager
def _count_compiles():
    """Counter of XLA backend compilations by jitted-function name (jax.monitoring)."""
    counts = collections.Counter()

    def listener(event, duration, **kw):
        if event == COMPILE_EVENT:
            counts[str(kw.get("fun_name", "?"))] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _step_compiles(counts) -> int:
    return sum(v for k, v in counts.items() if "gathered_train_step" in k)


# ----------------------------------------------------------------------------- layout / plan

def test_default_capacity_buckets_and_layout():
    assert [default_capacity(n) for n in (1, 10, 50, 64, 65, 256, 257, 5000, 25000)] == \
        [64, 64, 64, 64, 256, 256, 1024, 16384, 65536]
    # a 5-round run 10..50 fits one bucket; 50..250 and 5000..25000 two
    for sizes in ((10, 20, 30, 40, 50), (50, 100, 150, 200, 250), (5000, 10000, 15000, 20000,
                                                                    25000)):
        assert len({default_capacity(n) for n in sizes}) <= 2
    lay = fit_mod._Layout.make(n=37, batch_size=12, n_cap=64, n_devices=8)
    assert (lay.steps, lay.batch, lay.s_cap) == (4, 16, 6)
    lay1 = fit_mod._Layout.make(n=37, batch_size=12, n_cap=64, n_devices=1)
    assert (lay1.steps, lay1.batch, lay1.s_cap) == (4, 12, 6)
    # B never exceeds the (device-rounded) capacity
    assert fit_mod._Layout.make(n=10, batch_size=128, n_cap=50, n_devices=8).batch == 56
    assert fit_mod._Layout.make(n=10, batch_size=128, n_cap=50, n_devices=1).batch == 50


def test_epoch_plan_keeps_batch_composition():
    perm = np.random.default_rng(0).permutation(37)
    lay = fit_mod._Layout.make(n=37, batch_size=12, n_cap=64, n_devices=8)
    plan = fit_mod._epoch_plan(perm, lay)
    assert plan["idx"].shape == plan["w"].shape == (lay.s_cap, lay.batch)
    assert plan["idx"].dtype == np.int32 and plan["w"].dtype == np.float32
    for s, chunk in enumerate(np.array_split(perm, lay.steps)):
        m = len(chunk)
        np.testing.assert_array_equal(plan["idx"][s, :m], chunk)
        np.testing.assert_array_equal(plan["w"][s, :m], 1.0)
        np.testing.assert_array_equal(plan["w"][s, m:], 0.0)
        np.testing.assert_array_equal(plan["idx"][s, m:], chunk[0])  # padding: a real row
    assert not plan["w"][lay.steps:].any()  # unused rows up to s_cap
    assert plan["w"].sum() == 37


def test_capacity_validation(digits):
    x, y = digits
    cfg = TrainConfig(epochs=1, data_parallel=False)
    with pytest.raises(ValueError, match="capacity.*smaller than the training set"):
        fit(jax.random.key(0), MODEL, x[:10], y[:10], None, None, cfg, capacity=9)
    with pytest.raises(ValueError, match="capacity"):
        fit(jax.random.key(0), MODEL, x[:10], y[:10], None, None, cfg, capacity=0)
    for bad in (2.5, True, "64"):
        with pytest.raises(TypeError, match="capacity"):
            fit(jax.random.key(0), MODEL, x[:10], y[:10], None, None, cfg, capacity=bad)


# ----------------------------------------------------------------------------- compile counting

def test_growing_sets_compile_the_train_step_once_per_capacity(digits, fresh_compiles):
    """Five fits on 10..50 labeled images: one compile with capacity=50, at most two with the
    default buckets; the control (capacity = n, i.e. a per-n shape as before this change)
    compiles five times, so the counter does see every compile."""
    x, y = digits
    cfg = TrainConfig(epochs=1, batch_size=16, learning_rate=0.05, patience=None, flip=False,
                      data_parallel=False)
    sizes = (10, 20, 30, 40, 50)
    opts = fit_mod.StepOptions.from_config(cfg)

    def run(capacity_of):
        gather_step_fn.cache_clear()  # a fresh jitted step: nothing compiled before this run
        with _count_compiles() as counts:
            for n in sizes:
                res = fit(jax.random.key(n), MODEL, x[:n], y[:n], None, None, cfg,
                          progress=False, capacity=capacity_of(n))
                assert len(res.history) == 1 and np.isfinite(res.history[0]["loss"])
        step = gather_step_fn(MODEL, opts, None)
        if hasattr(step, "_cache_size"):  # second opinion: the jitted function's own cache
            assert step._cache_size() == _step_compiles(counts)
        return _step_compiles(counts)

    assert run(lambda n: 50) == 1
    assert run(lambda n: None) <= 2
    assert run(lambda n: n) == len(sizes)


# ----------------------------------------------------------------------------- exactness

def _reference_run(key, x, y, cfg, epochs):
    """Direct optax loop on the unpadded batches of ``fit`` (same shuffles and step keys)."""
    k_init, k_shuffle, k_step = jax.random.split(key, 3)
    n = x.shape[0]
    steps = -(-n // cfg.batch_size)
    state = init_train_state(k_init, MODEL, x.shape[1:], cfg)
    params, stats = state.params, state.batch_stats
    tx = optax.chain(optax.add_decayed_weights(cfg.weight_decay, mask=weight_decay_mask),
                     optax.sgd(optax.cosine_decay_schedule(cfg.learning_rate, epochs * steps),
                               momentum=cfg.momentum, nesterov=cfg.nesterov))
    opt = tx.init(params)

    @jax.jit
    def step(params, stats, opt, xb, yb, key):
        k_aug, k_drop = jax.random.split(key)
        xb = to_float(xb)
        if cfg.augment:
            xb = augment(k_aug, xb, pad=cfg.crop_padding, flip=cfg.flip)

        def loss_fn(p):
            (logits, _), mut = MODEL.apply({"params": p, "batch_stats": stats}, xb, train=True,
                                           rngs={"dropout": k_drop}, mutable=["batch_stats"])
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
            return ce.mean(), (ce.sum(), mut["batch_stats"])

        (_, (loss_sum, stats)), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        u, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, u), stats, opt, loss_sum

    losses = []
    for epoch in range(1, epochs + 1):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_shuffle, epoch), n))
        k_epoch = jax.random.fold_in(k_step, epoch)
        tot = 0.0
        for s, chunk in enumerate(np.array_split(perm, steps)):
            params, stats, opt, ls = step(params, stats, opt, x[chunk], y[chunk],
                                          jax.random.fold_in(k_epoch, s))
            tot += float(ls)
        losses.append(tot / n)
    return {"params": params, "batch_stats": stats}, losses


def test_padded_fixed_shape_training_equals_unpadded_reference(digits):
    """40 examples, batch 16 -> batches of 14/13/13 padded to B=16 slots inside a 64-row
    buffer; after 2 epochs (augmentation on) params, BN stats and losses match a plain optax
    loop on the unpadded batches."""
    x, y = digits
    x, y = x[:40], y[:40]
    cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=0.1, patience=None, crop_padding=2,
                      data_parallel=False)
    key = jax.random.key(11)
    res = fit(key, MODEL, x, y, None, None, cfg, progress=False, capacity=64)
    ref_vars, ref_losses = _reference_run(key, x, y, cfg, epochs=2)
    _tree_close(res.variables["params"], ref_vars["params"], rtol=1e-4, atol=1e-5)
    _tree_close(res.variables["batch_stats"], ref_vars["batch_stats"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose([h["loss"] for h in res.history], ref_losses, rtol=1e-5)
    # the parameters really moved (the comparison is not between two initial states)
    init = init_train_state(jax.random.split(key, 3)[0], MODEL, (8, 8, 1), cfg)
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                         res.variables["params"], init.params)
    assert max(jax.tree.leaves(moved)) > 1e-2


def test_data_parallel_fixed_shape_fit_equals_single_device_without_step_transfers(
        digits, monkeypatch):
    """37 examples, batch 12 -> B=12 on 1 device, B=16 on 8 (sharded gather from the
    replicated on-device set); neither the step loop nor the validation pass of an epoch
    transfers anything from the host."""
    assert jax.device_count() == 8
    x, y = digits
    calls = collections.Counter()

    def guarded(name):
        """``fit_mod.<name>`` run with every host->device transfer (even explicit) refused."""
        fn = getattr(fit_mod, name)

        def wrapper(*a, **kw):
            calls[name] += 1
            with jax.transfer_guard("disallow"), \
                    jax.transfer_guard_host_to_device("disallow_explicit"):
                return fn(*a, **kw)

        monkeypatch.setattr(fit_mod, name, wrapper)

    guarded("_run_steps")  # the steps of an epoch: batches gathered on device
    guarded("_forward_chunks")  # the validation pass of an epoch: val set already on device
    mk = lambda dp: TrainConfig(epochs=2, batch_size=12, learning_rate=0.05, patience=None,  # noqa
                                flip=False, data_parallel=dp)
    a = fit(jax.random.key(4), MODEL, x[:37], y[:37], x[700:740], y[700:740], mk(False),
            progress=False, capacity=64)
    b = fit(jax.random.key(4), MODEL, x[:37], y[:37], x[700:740], y[700:740], mk(True),
            progress=False, capacity=64)
    assert calls == {"_run_steps": 4, "_forward_chunks": 4}
    _tree_close(a.variables, b.variables, rtol=1e-4, atol=1e-5)
    for ra, rb in zip(a.history, b.history):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)
        assert ra["val_accuracy"] == rb["val_accuracy"]
    assert b.variables["params"]["stem"]["kernel"].sharding.is_fully_replicated


# ----------------------------------------------------------------------------- divergence

def test_divergence_raises_named_error_and_leaves_no_bad_checkpoint(digits, tmp_path):
    x, y = digits
    cfg = TrainConfig(epochs=3, batch_size=16, learning_rate=1e30, patience=None, flip=False,
                      data_parallel=False)
    ckdir = str(tmp_path / "ck")
    with pytest.raises(TrainingDivergedError, match=r"train\.learning_rate") as info:
        fit(jax.random.key(0), MODEL, x[:32], y[:32], x[800:832], y[800:832], cfg,
            progress=False, checkpoint_dir=ckdir)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.epoch == 1
    msg = str(err)
    assert "epoch 1" in msg and "train.weight_decay" in msg and "train.momentum" in msg
    assert "1e+30" in msg
    with Checkpointer(ckdir, {"state": "pytree", "best": "pytree", "meta": "json"}) as ck:
        assert ck.steps() == []  # the diverged epoch was not checkpointed
    # the fixed config runs in the same directory (nothing there blocks it)
    ok = fit(jax.random.key(0), MODEL, x[:32], y[:32], x[800:832], y[800:832],
             dataclasses.replace(cfg, learning_rate=0.05, epochs=1), progress=False,
             checkpoint_dir=ckdir)
    assert np.isfinite(ok.history[0]["loss"]) and ok.resumed_from is None


def test_divergence_in_a_later_epoch_keeps_earlier_checkpoints_usable(digits, tmp_path,
                                                                      monkeypatch):
    """A NaN loss in epoch 2 (injected into the fetched metrics) stops the run before epoch 2
    is saved; the finite epoch-1 checkpoint then resumes into the uninterrupted result."""
    x, y = digits
    cfg = TrainConfig(epochs=3, batch_size=16, learning_rate=0.05, patience=None, flip=False,
                      data_parallel=False)
    args = (MODEL, x[:32], y[:32], x[800:832], y[800:832], cfg)
    key = jax.random.key(3)
    full = fit(key, *args, progress=False)

    run_steps, seen = fit_mod._run_steps, []

    def poisoned(*a, **kw):
        state, metrics = run_steps(*a, **kw)
        seen.append(1)
        if len(seen) == 2:
            metrics[-1] = dict(metrics[-1], loss_sum=jnp.float32(np.nan))
        return state, metrics

    ckdir = str(tmp_path / "ck")
    monkeypatch.setattr(fit_mod, "_run_steps", poisoned)
    with pytest.raises(TrainingDivergedError, match="epoch 2") as info:
        fit(key, *args, progress=False, checkpoint_dir=ckdir)
    assert info.value.epoch == 2 and np.isnan(info.value.value)
    assert ckdir in str(info.value) and "train.learning_rate" in str(info.value)
    monkeypatch.setattr(fit_mod, "_run_steps", run_steps)
    with Checkpointer(ckdir, {"state": "pytree", "best": "pytree", "meta": "json"}) as ck:
        assert ck.steps() == [1]
    resumed = fit(key, *args, progress=False, checkpoint_dir=ckdir)
    assert resumed.resumed_from == 1
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)),
                 resumed.variables, full.variables)
    # non-finite parameters with a finite loss are caught too (the step's `finite` flag)
    seen.clear()

    def bad_params(*a, **kw):
        state, metrics = run_steps(*a, **kw)
        metrics[0] = dict(metrics[0], finite=jnp.float32(0.0))
        return state, metrics

    monkeypatch.setattr(fit_mod, "_run_steps", bad_params)
    with pytest.raises(TrainingDivergedError, match="non-finite") as info:
        fit(key, *args, progress=False)
    assert info.value.epoch == 1 and np.isfinite(info.value.value)
