"""``ads_jax.checkpoint.Checkpointer``: numbered Orbax checkpoints of named items, the
fallback past partial or corrupt steps, and ``gs://`` directories.

Orbax on ``gs://`` is exercised against the in-memory double of ``tests/_memfs.py``
for JSON items (Orbax writes those through ``etils.epath``; its ``gs://`` path commits
with a marker file, never a rename). Array items cannot be: Orbax writes them with
TensorStore's own GCS driver, outside epath, which no in-memory double reaches.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from ads_jax import _files as F
from ads_jax.checkpoint import CheckpointError, Checkpointer

import _memfs

ITEMS = {"state": "pytree", "meta": "json"}


def _state(step):
    return {"labeled": np.arange(step + 3, dtype=np.int32), "key": np.array([step, 7], np.uint32),
            "w": {"b": np.full((2, 3), step / 4, np.float32)}}


def _save(ckpt, steps):
    for s in steps:
        ckpt.save(s, state=_state(s), meta={"records": list(range(s)), "note": f"step {s}"})
    ckpt.wait()


def _assert_step(items, s):
    assert items["meta"] == {"records": list(range(s)), "note": f"step {s}"}
    want = _state(s)
    for k in ("labeled", "key"):
        got = np.asarray(items["state"][k])
        np.testing.assert_array_equal(got, want[k])
        assert got.dtype == want[k].dtype
    np.testing.assert_array_equal(np.asarray(items["state"]["w"]["b"]), want["w"]["b"])


def _truncate_data(step_dir):
    n = 0
    for root, _, files in os.walk(step_dir):
        for f in files:
            if f"{os.sep}d" in root:  # OCDBT data files
                p = os.path.join(root, f)
                with open(p, "r+b") as fh:
                    fh.truncate(os.path.getsize(p) // 2)
                n += 1
    assert n, "no data file found to damage"


def test_round_trip_keeps_and_lists_steps(tmp_path):
    with Checkpointer(tmp_path / "ck", ITEMS, max_to_keep=2) as ck:
        assert ck.steps() == [] and ck.latest_step() is None and ck.restore_latest() is None
        _save(ck, [1, 2, 3])
        assert ck.steps() == [2, 3] and ck.latest_step() == 3  # max_to_keep
        _assert_step(ck.restore(2), 2)
        templates = {"state": _state(3)}
        _assert_step(ck.restore(3, templates), 3)
        step, items = ck.restore_latest()
        assert step == 3
        _assert_step(items, 3)
    with Checkpointer(str(tmp_path / "ck"), ITEMS) as again:  # reopened from disk
        assert again.steps() == [2, 3]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="'meta'.*'pytree' or 'json'"):
        Checkpointer(tmp_path, {"meta": "yaml"})
    with Checkpointer(tmp_path, ITEMS) as ck:
        with pytest.raises(ValueError, match=r"exactly the items \['meta', 'state'\]"):
            ck.save(1, state=_state(1))


def test_relative_directory_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Checkpointer("rel/ck", {"meta": "json"}) as ck:
        assert ck.directory == str(tmp_path / "rel" / "ck")
        ck.save(1, meta={"a": 1})
        ck.wait()
    assert (tmp_path / "rel" / "ck" / "1").is_dir()


@pytest.mark.parametrize("damage", ["data", "metadata", "step_metadata"])
def test_partial_newest_step_falls_back_and_is_set_aside(tmp_path, damage):
    d = tmp_path / "ck"
    with Checkpointer(d, ITEMS, max_to_keep=5) as ck:
        _save(ck, [1, 2])
    step2 = d / "2"
    if damage == "data":  # a kill while the arrays were written
        _truncate_data(step2)
    elif damage == "metadata":
        (step2 / "meta" / "metadata").write_text("{not json")
    else:
        (step2 / "_CHECKPOINT_METADATA").write_text("")
        (step2 / "state" / "_METADATA").write_text("{")
    # an interrupted save of step 3 (Orbax's temporary directory) is not a step
    (d / "3.orbax-checkpoint-tmp-1").mkdir()
    with Checkpointer(d, ITEMS, max_to_keep=5) as ck:
        assert ck.steps() == [1, 2]
        with pytest.warns(UserWarning, match=rf"{step2} is unreadable or incomplete.*"
                                             r"falling back.*moved to .*ck\.unreadable"):
            step, items = ck.restore_latest()
        assert step == 1
        _assert_step(items, 1)
        assert ck.steps() == [1]
    moved = list((tmp_path / "ck.unreadable").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith("2-")


def test_no_readable_step_is_one_clear_error(tmp_path):
    d = tmp_path / "ck"
    with Checkpointer(d, ITEMS, max_to_keep=5) as ck:
        _save(ck, [1, 2])
    for s in ("1", "2"):
        (d / s / "meta" / "metadata").write_text("garbage")
    with Checkpointer(d, ITEMS) as ck:
        with pytest.warns(UserWarning), pytest.raises(CheckpointError) as e:
            ck.restore_latest()
    msg = str(e.value)
    assert str(d) in msg and "Delete that directory" in msg and "step 2" in msg
    assert len(msg) < 2000


def test_check_rejects_inconsistent_steps_and_passes_other_errors(tmp_path):
    d = tmp_path / "ck"
    with Checkpointer(d, ITEMS, max_to_keep=5) as ck:
        _save(ck, [1, 2, 3])

    def check(step, items):
        if len(items["meta"]["records"]) != step or step == 3:
            raise CheckpointError(f"step {step} is inconsistent")

    with Checkpointer(d, ITEMS) as ck:
        with pytest.warns(UserWarning, match="step 3 is inconsistent"):
            step, items = ck.restore_latest(check=check)
        assert step == 2
        _assert_step(items, 2)

        def other(step, items):
            raise KeyError("a checkpoint of another run")

        with pytest.raises(KeyError, match="another run"):
            ck.restore_latest(check=other)
        assert ck.steps() == [1, 2]  # not set aside


# ----------------------------------------------------------------------------
# gs:// (in memory: no rename, no network).
# ----------------------------------------------------------------------------


@pytest.fixture
def gcs(monkeypatch):
    be = _memfs.install(monkeypatch)
    # Orbax asks the GCS API whether the bucket has a hierarchical namespace; the
    # in-memory bucket has none (the only Orbax internal replaced here).
    from orbax.checkpoint._src.path import gcs_utils

    monkeypatch.setattr(gcs_utils, "is_hierarchical_namespace_enabled", lambda path: False)
    return be


JSON_ITEMS = {"meta": "json", "more": "json"}


def _save_json(ck, steps):
    for s in steps:
        ck.save(s, meta={"records": list(range(s))}, more={"s": s})
    ck.wait()


def test_gs_directory_round_trip_without_rename(gcs):
    d = "gs://bucket/run/checkpoints/ads_plus_coreset/seed_0"
    with Checkpointer(d, JSON_ITEMS, max_to_keep=2) as ck:
        assert ck.directory == d  # not <cwd>/gs:/bucket/...
        _save_json(ck, [1, 2, 3])
        assert ck.steps() == [2, 3]
        assert ck.restore(2) == {"meta": {"records": [0, 1]}, "more": {"s": 2}}
    files = gcs.files()
    assert f"{d}/3/commit_success.txt" in files and not any("/1/" in f for f in files)
    assert gcs.renames == 0
    assert not os.path.exists("gs:")  # nothing landed in a local "gs:" directory
    with Checkpointer(d, JSON_ITEMS) as ck:  # reopened
        step, items = ck.restore_latest()
        assert (step, items["more"]) == (3, {"s": 3})


def test_gs_uncommitted_and_corrupt_steps(gcs):
    d = "gs://bucket/run/ck"
    with Checkpointer(d, JSON_ITEMS, max_to_keep=5) as ck:
        _save_json(ck, [1, 2, 3])
    F.remove(f"{d}/3/commit_success.txt")  # a kill before the commit marker: not a step
    F.atomic_write(f"{d}/2/meta/metadata", "{garbage")  # a corrupt object
    with Checkpointer(d, JSON_ITEMS, max_to_keep=5) as ck:
        assert ck.steps() == [1, 2]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step, items = ck.restore_latest()
        assert (step, items["meta"]) == (1, {"records": [0]})
        assert any(f"{d}/2 is unreadable or incomplete" in str(w.message) and
                   "gs://bucket/run/ck.unreadable/2-" in str(w.message) for w in caught)
        assert ck.steps() == [1]
    aside = [f for f in gcs.files() if f.startswith("gs://bucket/run/ck.unreadable/2-")]
    assert any(f.endswith("/meta/metadata") for f in aside)
    assert gcs.renames == 0
