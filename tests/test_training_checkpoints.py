"""fit checkpoints: ``checkpoint_every`` (which epochs are written), asynchronous writes,
and exact kill-and-resume for every policy (tiny WRN-10-1 on 8x8 digits)."""

import dataclasses

import jax
import numpy as np
import pytest

from ads_jax.checkpoint import Checkpointer
from ads_jax.config_engine import to_dict
from ads_jax.models import build_model
from ads_jax.training import TrainConfig, fit
from ads_jax.training.fit import should_checkpoint

MODEL = build_model("wrn-10-1", 10)
BASE = TrainConfig(epochs=6, batch_size=24, learning_rate=0.05, patience=None, flip=False,
                   data_parallel=False, keep_checkpoints=50)


class Killed(Exception):
    pass


def _tree_equal(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


def _strip(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


def _written(ckdir):
    with Checkpointer(ckdir, {"state": "pytree", "best": "pytree", "meta": "json"}) as c:
        return c.steps()


def _expected_written(history, cfg, has_val):
    """The policy of TrainConfig.checkpoint_every, recomputed from the history alone."""
    out, best = [], None
    for i, h in enumerate(history):
        e = h["epoch"]
        score = (h["val_accuracy"], -h["val_loss"]) if has_val else None
        improved = has_val and (best is None or score > best)
        if improved:
            best = score
        if e % cfg.checkpoint_every == 0 or improved or i == len(history) - 1:
            out.append(e)
    return out


@pytest.fixture(scope="module")
def data(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    # random validation labels: the validation accuracy stalls, so new best epochs are rare
    return x[:48], y[:48], x[500:540], rng.permutation(y[500:540])


@pytest.fixture(scope="module")
def uninterrupted(data):
    """Reference fits without checkpoints (with / without validation data)."""
    x, y, xv, yv = data
    key = jax.random.key(3)
    return {True: fit(key, MODEL, x, y, xv, yv, BASE, progress=False),
            False: fit(key, MODEL, x, y, None, None, BASE, progress=False)}


@pytest.mark.parametrize("every,has_val,async_", [(2, False, False), (3, True, False),
                                                  (4, True, True), (1, False, True)])
def test_killed_fit_resumes_exactly_for_every_checkpoint_policy(
        data, uninterrupted, tmp_path, every, has_val, async_):
    x, y, xv, yv = data
    if not has_val:
        xv = yv = None
    cfg = dataclasses.replace(BASE, checkpoint_every=every, async_checkpoint=async_)
    full = uninterrupted[has_val]
    want_written = _expected_written(full.history, cfg, has_val)
    # kill after the last epoch that is *not* written (so epochs are replayed on resume)
    unsaved = [h["epoch"] for h in full.history if h["epoch"] not in want_written]
    kill_at = unsaved[-1] if unsaved else 2
    resume_from = max([e for e in want_written if e <= kill_at], default=None)

    def kill(rec, state):
        if rec["epoch"] == kill_at:
            raise Killed

    ckdir = str(tmp_path / "ck")
    key = jax.random.key(3)
    with pytest.raises(Killed):
        fit(key, MODEL, x, y, xv, yv, cfg, checkpoint_dir=ckdir, callback=kill, progress=False)
    assert _written(ckdir) == [e for e in want_written if e <= kill_at]
    resumed = fit(key, MODEL, x, y, xv, yv, cfg, checkpoint_dir=ckdir, progress=False)
    assert resumed.resumed_from == resume_from
    assert resumed.best_epoch == full.best_epoch and _strip(resumed.history) == _strip(
        full.history)
    _tree_equal(resumed.variables, full.variables)
    assert _written(ckdir) == want_written
    # the last epoch is always written: a rerun returns the finished fit without training
    again = fit(key, MODEL, x, y, xv, yv, cfg, checkpoint_dir=ckdir, progress=False,
                callback=lambda *a: pytest.fail("should not train"))
    assert again.resumed_from == BASE.epochs
    _tree_equal(again.variables, full.variables)


def test_policy_sparse_without_validation_and_on_improvement_with_it(uninterrupted):
    """Without validation only multiples of k and the last epoch are written; with it
    every improvement is (the reference run's history says which epochs improved)."""
    cfg = dataclasses.replace(BASE, checkpoint_every=4)
    hist = uninterrupted[False].history
    assert [h["epoch"] for h in hist if should_checkpoint(
        h["epoch"], True, h["epoch"] == BASE.epochs, cfg, False)] == [4, 6]
    assert should_checkpoint(5, True, False, cfg, True)
    assert not should_checkpoint(5, False, False, cfg, True)
    assert should_checkpoint(8, False, False, cfg, True)
    assert should_checkpoint(3, False, True, cfg, False)


def test_bookkeeping_fields_may_change_between_kill_and_resume(data, uninterrupted, tmp_path):
    """checkpoint_every / async_checkpoint / keep_checkpoints / deterministic do not change
    results, so a fit written with one value resumes with another."""
    x, y, xv, yv = data
    key = jax.random.key(3)
    ckdir = str(tmp_path / "ck")

    def kill(rec, state):
        if rec["epoch"] == 3:
            raise Killed

    with pytest.raises(Killed):
        fit(key, MODEL, x, y, xv, yv, dataclasses.replace(BASE, checkpoint_every=1),
            checkpoint_dir=ckdir, callback=kill, progress=False)
    other = dataclasses.replace(BASE, checkpoint_every=5, async_checkpoint=True,
                                keep_checkpoints=3, deterministic=False)
    resumed = fit(key, MODEL, x, y, xv, yv, other, checkpoint_dir=ckdir, progress=False)
    assert resumed.resumed_from == 3
    _tree_equal(resumed.variables, uninterrupted[True].variables)
    # a change that matters is still refused
    with pytest.raises(ValueError, match="different"):
        fit(key, MODEL, x, y, xv, yv, dataclasses.replace(BASE, learning_rate=0.04),
            checkpoint_dir=ckdir, progress=False)


def test_train_config_new_fields_validate_and_round_trip():
    cfg = TrainConfig(checkpoint_every=5, async_checkpoint=True, deterministic=False)
    assert TrainConfig(**to_dict(cfg)) == cfg
    assert TrainConfig().checkpoint_every == 1 and not TrainConfig().async_checkpoint
    assert TrainConfig().deterministic
    for bad in ({"checkpoint_every": 0}, {"checkpoint_every": 1.5},
                {"async_checkpoint": "yes"}, {"deterministic": 1}):
        with pytest.raises((ValueError, TypeError)):
            TrainConfig(**bad)
