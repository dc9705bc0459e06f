"""Reliability under faults: SIGKILL at several points, two runs on one directory,
corrupt run state, misnamed or late errors. Every case either recovers with exactly the
records of an uninterrupted run or fails with one message naming the file and the fix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import jax
import numpy as np
import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.experiment import ExperimentConfig
from ads_jax.checkpoint import CheckpointError
from ads_jax.rundir import LEASE_INTERVAL_ENV, LOCK_ENV, RunDirectoryBusy, read_results

# One arm, two acquisition rounds, 2 epochs: the smallest run with every kind of state.
OVERRIDES = ["loop.arms=[ads+coreset]", "loop.rounds=2"]
ARM = "ads+coreset"


def _cfg(out, *extra):
    return resolve_config("tiny", [f"loop.out_dir={out}", *OVERRIDES, *extra])


def _strip(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from ads_jax.loop import run_experiment

    out = tmp_path_factory.mktemp("reference")
    records = run_experiment(_cfg(out))
    return out, _strip(records)


def _copy(reference, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(reference[0], dst)
    cfg = C.load_json(ExperimentConfig, dst / "config.json")
    cfg = C.apply_overrides(cfg, [f"loop.out_dir={dst}"])
    return dst, cfg


def _on_disk(out):
    return _strip(read_results(out / "results.jsonl"))


# ----------------------------------------------------------------------------
# SIGKILL at several points, then the same run again.
# ----------------------------------------------------------------------------

CHILD = r'''
import json, os, signal, sys
from ads_jax import config_engine as C
from ads_jax.configs import resolve as resolve_config
from ads_jax.experiment import ExperimentConfig
from ads_jax.loop import run_experiment

out, overrides, mode, arg = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = resolve_config("tiny", [f"loop.out_dir={out}", *overrides])


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


callback = None
if mode == "event":  # "event:arm:round": at that loop event
    ev, arm, rnd = arg.split(":")

    def callback(e):
        if (e["event"], e["arm"], str(e["round"])) == (ev, arm, rnd):
            die()
elif mode == "train":  # in the middle of the training of round `arg`, after its epoch 1
    import ads_jax.training.models as T  # the WRN component trains with this `fit`

    orig, calls = T.fit, []

    def fit(*a, **kw):
        calls.append(1)
        if len(calls) == int(arg) + 1:
            kw["callback"] = lambda rec, state: die() if rec["epoch"] == 1 else None
        return orig(*a, **kw)

    T.fit = fit
elif mode == "checkpoint":  # a torn write of the loop checkpoint of step `arg`
    import ads_jax.checkpoint as K

    orig = K.Checkpointer.save

    def save(self, step, **values):
        orig(self, step, **values)
        if step == int(arg) and os.sep + "checkpoints" + os.sep in self.directory:
            self.wait()
            step_dir = os.path.join(self.directory, str(step))
            for root, _, files in os.walk(step_dir):
                for f in files:
                    if os.sep + "d" in root or f == "metadata":
                        p = os.path.join(root, f)
                        with open(p, "r+b") as fh:
                            fh.truncate(os.path.getsize(p) // 2)
            os.makedirs(os.path.join(self.directory, f"{step + 1}.orbax-checkpoint-tmp-1"))
            die()

    K.Checkpointer.save = save
run_experiment(cfg, callback=callback)
print("FINISHED")
'''


def _child(out, mode, arg, extra=()):
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(out), json.dumps([*OVERRIDES, *extra]), mode, arg],
        env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("mode, arg, extra", [
    ("train", "1", ["loop.checkpoint_training=true"]),   # during training (per-epoch ckpts)
    ("train", "2", []),                                  # during training (round restarts)
    ("checkpoint", "2", []),                             # during a checkpoint write
    ("event", f"checkpointed:{ARM}:1", []),              # between checkpoint and results line
])
def test_sigkill_then_rerun_gives_the_records_of_an_uninterrupted_run(reference, tmp_path, mode,
                                                                      arg, extra):
    from ads_jax.loop import run_experiment

    out = tmp_path / "run"
    proc = _child(out, mode, arg, extra)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert "FINISHED" not in proc.stdout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = run_experiment(_cfg(out, *extra))
    assert _strip(records) == reference[1]
    assert _on_disk(out) == reference[1]
    if mode == "checkpoint":  # the torn step was named and skipped
        assert any("unreadable or incomplete" in str(w.message) and f"{os.sep}2" in
                   str(w.message) for w in caught)


# ----------------------------------------------------------------------------
# Two runs on one directory.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flock", "lease"])
def test_second_run_on_a_busy_directory_fails_at_once(reference, tmp_path, capsys, monkeypatch,
                                                      kind):
    from ads_jax.cli import main
    from ads_jax.loop import run_experiment

    monkeypatch.setenv(LOCK_ENV, kind)  # this process and the child use one lock kind
    monkeypatch.setenv(LEASE_INTERVAL_ENV, "2")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), json.dumps(OVERRIDES),
                             "none", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lock = out / ".lock"
    t0 = time.time()
    while not (lock.exists() and lock.read_text().strip()) and time.time() - t0 < 120:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    holder = json.loads(lock.read_text())
    assert holder["pid"] == proc.pid
    assert ("token" in holder) == (kind == "lease")
    events = []
    with pytest.raises(RunDirectoryBusy, match=f"in use by process {proc.pid}"):
        run_experiment(_cfg(out), callback=events.append)
    assert events == []  # refused before any training
    capsys.readouterr()
    assert main(["run", "tiny", "--out-dir", str(out), *OVERRIDES]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by process" in err[0] and "--out-dir" in err[0]
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-2000:]
    assert _on_disk(out) == reference[1]  # one record per (arm, seed, round)
    if kind == "lease":
        assert not lock.exists()  # the finished run deleted its lease


# ----------------------------------------------------------------------------
# Corrupt run state.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["partial_last_line", "duplicate", "broken_first_line",
                                    "lost_records"])
def test_partial_or_duplicated_results_lines_are_repaired(reference, tmp_path, damage):
    """(read_results' own messages for these files: tests/test_rundir.py.)"""
    from ads_jax.loop import run_experiment

    out, cfg = _copy(reference, tmp_path)
    res = out / "results.jsonl"
    text = res.read_text()
    res.write_text({
        "partial_last_line": text + '{"arm": "ads+coreset", "seed": 0, "rou',  # killed mid-write
        "duplicate": text + text.splitlines(keepends=True)[0],  # a record written twice
        "broken_first_line": "{broken\n" + text,
        "lost_records": text.splitlines(keepends=True)[0],
    }[damage])
    assert _strip(run_experiment(cfg)) == reference[1]  # rebuilt from the checkpoints
    assert _on_disk(out) == reference[1]


@pytest.mark.parametrize("damage", ["data", "metadata"])
def test_unreadable_newest_checkpoint_falls_back_to_the_previous_one(reference, tmp_path,
                                                                     damage):
    from ads_jax.loop import checkpoint_dir, run_experiment

    out, cfg = _copy(reference, tmp_path)
    step = os.path.join(checkpoint_dir(out, ARM, 0), "3")
    for root, _, files in os.walk(step):
        for f in files:
            p = os.path.join(root, f)
            if damage == "data" and f"{os.sep}d" in root:
                with open(p, "r+b") as fh:
                    fh.truncate(os.path.getsize(p) // 2)
            elif damage == "metadata" and f == "metadata" and root.endswith("meta"):
                with open(p, "w") as fh:
                    fh.write("{not json")
    with pytest.warns(UserWarning, match=f"{step}.*falling back"):
        records = run_experiment(cfg)
    assert _strip(records) == reference[1]
    assert _on_disk(out) == reference[1]


def test_no_readable_checkpoint_is_one_clear_error(reference, tmp_path):
    from ads_jax.loop import checkpoint_dir, run_experiment

    out, cfg = _copy(reference, tmp_path)
    for root, _, files in os.walk(checkpoint_dir(out, ARM, 0)):
        for f in files:
            if f == "metadata":
                with open(os.path.join(root, f), "w") as fh:
                    fh.write("garbage")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError) as e:
        run_experiment(cfg)
    msg = str(e.value)
    assert checkpoint_dir(out, ARM, 0) in msg and "Delete that directory" in msg
    assert len(msg) < 2000


@pytest.mark.parametrize("case", ["corrupt", "deleted", "edited"])
def test_resume_guard_is_never_switched_off(reference, tmp_path, case):
    from ads_jax.loop import run_experiment

    out, cfg = _copy(reference, tmp_path)
    cfg_json = out / "config.json"
    if case == "corrupt":
        cfg_json.write_text('{"data": ')
        words = ["config.json", "unreadable", "--overwrite"]
    elif case == "deleted":
        cfg_json.unlink()
        words = ["no config.json", "--overwrite"]
    else:
        d = json.loads(cfg_json.read_text())
        d["train"]["learning_rate"] = 0.5
        cfg_json.write_text(json.dumps(d))
        words = ["train.learning_rate", "config.json", "--overwrite"]
    other = C.apply_overrides(cfg, ["train.learning_rate=0.07"]) if case != "edited" else cfg
    with pytest.raises(ValueError) as e:
        run_experiment(other)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert _on_disk(out) == reference[1]  # nothing was adopted or overwritten
    # --overwrite discards the old run and starts over.
    assert _strip(run_experiment(cfg, overwrite=True)) == reference[1]


def test_checkpointing_off_refuses_a_directory_with_checkpoints(reference, tmp_path):
    from ads_jax.loop import run_experiment

    out, cfg = _copy(reference, tmp_path)
    with pytest.raises(ValueError, match="loop.checkpoint=false.*stale"):
        run_experiment(C.apply_overrides(cfg, ["loop.checkpoint=false"]))


# ----------------------------------------------------------------------------
# Late or misnamed errors.
# ----------------------------------------------------------------------------


def test_diverging_training_stops_with_the_config_field(tmp_path):
    from ads_jax.loop import run_experiment

    cfg = _cfg(tmp_path, "train.learning_rate=1e30")
    for _ in range(2):  # the run directory stays usable: the same clear error again
        with pytest.raises(ValueError, match="train.learning_rate"):
            run_experiment(cfg)
        assert read_results(tmp_path / "results.jsonl") == []  # no NaN record


@pytest.mark.parametrize("out_dir, words", [("FILE", ["is a file"]), ("", ["empty"])])
def test_out_dir_is_validated(tmp_path, capsys, out_dir, words):
    from ads_jax.cli import main

    if out_dir == "FILE":
        out_dir = str(tmp_path / "a_file")
        open(out_dir, "w").close()
    assert main(["run", "tiny", "--out-dir", out_dir]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err


@pytest.mark.parametrize("key", [0, None, "seed", np.zeros(3, np.uint32)])
def test_acquire_names_a_bad_key(key):
    from ads_jax.acquisition import AcquisitionConfig, AcquisitionInputs, acquire

    r = np.random.default_rng(0)
    inputs = AcquisitionInputs(
        labeled_emb=r.normal(size=(8, 3)).astype(np.float32),
        labeled_y=np.arange(8, dtype=np.int32) % 2,
        pool_emb=r.normal(size=(20, 3)).astype(np.float32),
        pool_probs=np.full((20, 2), 0.5, np.float32), num_classes=2)
    with pytest.raises(TypeError, match="`key`"):
        acquire(key, inputs, AcquisitionConfig(arm="coreset", budget=3))
    ok = acquire(jax.random.key(0), inputs, AcquisitionConfig(arm="coreset", budget=3))
    assert np.unique(np.asarray(ok.indices)).size == 3


# ----------------------------------------------------------------------------
# A run directory on an object store (gs://): no atomic rename, no flock.
# ----------------------------------------------------------------------------


def test_run_on_an_object_store_without_rename_or_flock(monkeypatch):
    """The loop writes config, results, artefacts and its lease through epath. (Orbax
    checkpoints of arrays on gs:// need TensorStore's GCS driver, which no in-memory
    double reaches: loop.checkpoint=false here; tests/test_checkpoint.py covers the rest.)"""
    import _memfs

    from ads_jax.loop import run_experiment
    from ads_jax.rundir import load_artefacts

    gcs = _memfs.install(monkeypatch)
    monkeypatch.delenv(LOCK_ENV, raising=False)
    out = "gs://bucket/runs/tiny"
    cfg = resolve_config("tiny", [f"loop.out_dir={out}", "loop.checkpoint=false",
                                  "loop.arms=[ads+coreset]", "loop.rounds=1", "train.epochs=1"])
    lines = []
    records = run_experiment(cfg, progress=lines.append)
    assert [(r["arm"], r["round"]) for r in records] == [(ARM, 0), (ARM, 1)]
    assert read_results(f"{out}/results.jsonl") == records
    assert C.from_dict(ExperimentConfig, json.loads(gcs.files()[f"{out}/config.json"])) == cfg
    art = load_artefacts(out, ARM, 0, 0)
    assert art["picked"].size == records[0]["acquired"]
    assert sorted(gcs.files()) == [f"{out}/artefacts/ads_plus_coreset/seed_0/round_0.npz",
                                   f"{out}/config.json", f"{out}/environment.json",
                                   f"{out}/results.jsonl"]  # lease gone
    assert gcs.renames == 0
    assert not os.path.exists("gs:")  # nothing went to a local "gs:" directory
    # A live lease of another run: refused at once, before any training.
    live = {"kind": "lease", "host": "other-host", "pid": 4242, "token": "x" * 32,
            "heartbeat": time.time(), "acquired": time.time(), "stale_after": 600}
    from ads_jax._files import atomic_write_json

    atomic_write_json(f"{out}/.lock", live)
    events = []
    with pytest.raises(RunDirectoryBusy, match="process 4242 on host 'other-host'"):
        run_experiment(cfg, callback=events.append)
    assert events == [] and read_results(f"{out}/results.jsonl") == records
