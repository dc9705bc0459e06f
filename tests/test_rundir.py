"""``ads_jax.rundir``: layout, the resume guard (``prepare``, ``matching``), results,
artefacts and the lock (``flock`` and the heartbeat lease), on a local directory and on
an object store without rename or flock (the ``gs://`` in-memory double of
``tests/_memfs.py``)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ads_jax import _files as F
from ads_jax import config_engine as C
from ads_jax import rundir as R
from ads_jax.configs import resolve as resolve_config
from ads_jax.experiment import ExperimentConfig
from ads_jax.rundir import RunDirectoryBusy, RunLock, read_results

import _memfs

ARM = "ads+coreset"


@pytest.fixture(params=["local", "gs"])
def where(request, tmp_path, monkeypatch):
    """(run directory, in-memory backend or None): local, or gs:// without rename/flock."""
    monkeypatch.delenv(R.LOCK_ENV, raising=False)
    monkeypatch.delenv(R.LEASE_INTERVAL_ENV, raising=False)
    if request.param == "local":
        return str(tmp_path / "run"), None
    return "gs://bucket/runs/run", _memfs.install(monkeypatch)


@pytest.fixture(scope="module")
def cfg_dict():
    return C.to_dict(resolve_config("tiny", ["loop.out_dir=runs/x"]))


def _with(d, field, value):
    d = json.loads(json.dumps(d))
    *head, last = field.split(".")
    node = d
    for h in head:
        node = node[h]
    node[last] = value
    return d


def _fake_checkpoint(out):
    F.atomic_write(f"{R.checkpoint_dir(out, ARM, 0)}/1/meta/metadata", "{}")


# ----------------------------------------------------------------------------
# Layout.
# ----------------------------------------------------------------------------


def test_layout_local_and_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert R.config_path("runs/x") == os.path.join("runs", "x", "config.json")
    assert R.results_path(tmp_path) == str(tmp_path / "results.jsonl")
    # checkpoint directories are absolute (Orbax needs that) ...
    assert R.checkpoint_dir("runs/x", ARM, 2) == str(
        tmp_path / "runs" / "x" / "checkpoints" / "ads_plus_coreset" / "seed_2")
    assert R.fit_checkpoint_dir("runs/x", "shared", 0, 3) == str(
        tmp_path / "runs" / "x" / "fit_checkpoints" / "shared" / "seed_0" / "round_3")
    # ... but a URI stays a URI (os.path.abspath would make it <cwd>/gs:/bucket/...).
    assert R.checkpoint_dir("gs://bucket/r", ARM, 0) == \
        "gs://bucket/r/checkpoints/ads_plus_coreset/seed_0"
    assert R.fit_checkpoint_dir("gs://bucket/r", ARM, 1, 2) == \
        "gs://bucket/r/fit_checkpoints/ads_plus_coreset/seed_1/round_2"
    assert R.artefact_path("gs://bucket/r", ARM, 1, 2) == \
        "gs://bucket/r/artefacts/ads_plus_coreset/seed_1/round_2.npz"
    assert R.config_path("gs://bucket/r") == "gs://bucket/r/config.json"
    assert R.slug("ads+coreset") == "ads_plus_coreset" and R.slug("+") == "_plus_"


def test_check_out_dir(tmp_path):
    R.check_out_dir(tmp_path / "missing")  # fine: created later
    R.check_out_dir(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        R.check_out_dir(tmp_path / "f")


# ----------------------------------------------------------------------------
# Does a run directory belong to a config? (matching, prepare)
# ----------------------------------------------------------------------------


def test_matching_a_run_started_before_a_config_field_was_added(tmp_path, cfg_dict):
    # A run directory written before `loop.parallel_seeds` existed: the field at
    # its default is no difference when the config type is given (so finished
    # runs resume after an upgrade), a non-default value still is.
    old = json.loads(json.dumps(cfg_dict))
    del old["loop"]["parallel_seeds"]
    F.atomic_write_json(R.config_path(tmp_path), old)
    assert R.matching(tmp_path, cfg_dict) == ["loop.parallel_seeds"]
    assert R.matching(tmp_path, cfg_dict, config_type=ExperimentConfig) == []
    assert R.matching(tmp_path, _with(cfg_dict, "loop.parallel_seeds", 2),
                      config_type=ExperimentConfig) == ["loop.parallel_seeds"]
    # A field since removed (unknown now) still differs.
    gone = dict(old, loop=dict(old["loop"], retired_option=3))
    F.atomic_write_json(R.config_path(tmp_path), gone)
    assert R.matching(tmp_path, cfg_dict, config_type=ExperimentConfig) == [
        "loop.parallel_seeds", "loop.retired_option"]


def test_matching(where, cfg_dict):
    out, _ = where
    with pytest.raises(FileNotFoundError, match="no config.json"):
        R.matching(out, cfg_dict)
    F.atomic_write_json(R.config_path(out), cfg_dict)
    assert R.matching(out, cfg_dict) == []
    # Fields a resume may change are ignored, others are named (sorted, dotted).
    new = _with(_with(cfg_dict, "loop.seeds", [0, 1, 2]), "loop.out_dir", "elsewhere")
    assert R.matching(out, new) == []
    new = _with(_with(new, "train.learning_rate", 0.5), "data.pool_size", 7)
    assert R.matching(out, new) == ["data.pool_size", "train.learning_rate"]
    assert R.matching(out, new, ["train.learning_rate"]) == ["data.pool_size", "loop.out_dir",
                                                             "loop.seeds"]
    assert set(R.RESUMABLE_FIELDS) >= {"loop.out_dir", "loop.arms", "loop.seeds"}
    with pytest.raises(TypeError, match="config_dict"):
        R.matching(out, resolve_config("tiny"))
    F.atomic_write(R.config_path(out), '{"data": ')
    with pytest.raises(ValueError, match="config.json is unreadable.*not valid JSON"):
        R.matching(out, cfg_dict)
    F.atomic_write(R.config_path(out), "[1, 2]")
    with pytest.raises(ValueError, match="does not hold a config object"):
        R.matching(out, cfg_dict)


def test_prepare_fresh_resume_and_overwrite(where, cfg_dict):
    out, be = where
    R.prepare(out, cfg_dict)
    assert F.read_json(R.config_path(out)) == cfg_dict
    cfg = C.load_json(ExperimentConfig, R.config_path(out))
    assert C.to_dict(cfg) == cfg_dict
    # A directory with checkpoints and the same config (up to resumable fields) resumes.
    _fake_checkpoint(out)
    R.save_artefacts(out, ARM, 0, 0, picked=np.arange(3))
    F.atomic_write(R.results_path(out), "")
    assert R.has_checkpoints(out)
    R.prepare(out, _with(cfg_dict, "loop.seeds", [0, 5]))
    assert F.read_json(R.config_path(out))["loop"]["seeds"] == [0, 5]  # the new config
    assert R.has_checkpoints(out)
    # overwrite discards the earlier run.
    R.prepare(out, _with(cfg_dict, "train.epochs", 9), overwrite=True)
    assert not R.has_checkpoints(out)
    assert list(R.iter_artefacts(out)) == []
    assert not F.as_path(R.results_path(out)).exists()
    assert F.read_json(R.config_path(out))["train"]["epochs"] == 9
    if be is not None:
        assert be.renames == 0


@pytest.mark.parametrize("case", ["corrupt", "deleted", "edited", "no_checkpointing"])
def test_prepare_refuses_checkpoints_it_cannot_match(where, cfg_dict, case):
    out, _ = where
    R.prepare(out, cfg_dict)
    _fake_checkpoint(out)
    new = cfg_dict
    if case == "corrupt":
        F.atomic_write(R.config_path(out), '{"data": ')
        words = ["config.json", "unreadable", "checkpoints", "--overwrite"]
    elif case == "deleted":
        F.remove(R.config_path(out))
        words = ["no config.json", "--overwrite"]
    elif case == "edited":
        new = _with(cfg_dict, "train.learning_rate", 0.5)
        words = ["train.learning_rate", "config.json", "--overwrite"]
    else:
        new = _with(cfg_dict, "loop.checkpoint", False)
        words = ["loop.checkpoint=false", "stale", "--overwrite"]
    before = F.read_bytes(R.config_path(out)) if case != "deleted" else None
    with pytest.raises(ValueError) as e:
        R.prepare(out, new)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert R.has_checkpoints(out)  # nothing was adopted or deleted
    if before is not None:
        assert F.read_bytes(R.config_path(out)) == before
    R.prepare(out, new, overwrite=True)  # --overwrite starts over
    assert F.read_json(R.config_path(out)) == new and not R.has_checkpoints(out)


def test_remove_fit_checkpoints(where):
    out, _ = where
    F.atomic_write(f"{R.fit_checkpoint_dir(out, 'shared', 0, 1)}/3/x", "1")
    F.atomic_write(f"{R.fit_checkpoint_dir(out, 'shared', 0, 2)}/3/x", "1")
    assert R.remove_fit_checkpoints(out, "shared", 0, 1) is True
    assert R.remove_fit_checkpoints(out, "shared", 0, 1) is False
    assert not F.as_path(R.fit_checkpoint_dir(out, "shared", 0, 1)).exists()
    assert F.as_path(R.fit_checkpoint_dir(out, "shared", 0, 2)).is_dir()


# ----------------------------------------------------------------------------
# Results.
# ----------------------------------------------------------------------------


def _records(n, arm=ARM):
    return [{"arm": arm, "seed": 0, "round": r, "labeled": 10 + r, "test_accuracy": 0.5 + r / 100,
             "picked_provenance": {"clean": 1.0}, "time": {"training": 0.25}} for r in range(n)]


def test_results_writer_round_trip(where):
    out, be = where
    recs = _records(3)
    w = R.ResultsWriter(out, recs[:1])
    assert read_results(R.results_path(out)) == recs[:1]  # written at once
    for rec in recs[1:]:
        w.append(rec)
        raw = F.read_bytes(R.results_path(out))
        assert raw.endswith(b"\n")  # never a half-written line
    assert read_results(R.results_path(out)) == recs and len(w) == 3
    R.write_results(R.results_path(out), recs[::-1])
    assert read_results(R.results_path(out)) == recs[::-1]
    assert R.ResultsWriter(out).path == R.results_path(out)
    assert read_results(R.results_path(out)) == []  # a fresh writer starts the file over
    if be is not None:
        assert be.renames == 0


def test_results_writer_holds_ten_thousand_records(tmp_path):
    recs = _records(10_000)
    w = R.ResultsWriter(tmp_path, recs)
    w.append({**recs[0], "round": 10_000})
    back = read_results(R.results_path(tmp_path))
    assert len(back) == 10_001 and back[:10_000] == recs and back[-1]["round"] == 10_000


def test_read_results_recovery_and_errors(where):
    out, _ = where
    path = R.results_path(out)
    text = "".join(json.dumps(r) + "\n" for r in _records(3))
    F.atomic_write(path, text + '{"arm": "ads+coreset", "seed": 0, "rou')  # killed mid-write
    with pytest.warns(UserWarning, match="partial last line"):
        assert read_results(path) == _records(3)
    F.atomic_write(path, text + text.splitlines(keepends=True)[0])  # a record written twice
    with pytest.raises(ValueError, match=r"results.jsonl:4 repeats .* round 0"):
        read_results(path)
    F.atomic_write(path, "{broken\n" + text)
    with pytest.raises(ValueError, match="results.jsonl:1 is not valid JSON"):
        read_results(path)
    lines = text.splitlines(keepends=True)
    F.atomic_write(path, lines[0] + "{broken\n" + lines[1])  # a malformed middle line
    with pytest.raises(ValueError, match="results.jsonl:2 is not valid JSON.*Delete that line"):
        read_results(path)
    F.atomic_write(path, lines[0] + '{"cut": \n')  # complete last line: not a kill, an error
    with pytest.raises(ValueError, match="results.jsonl:2 is not valid JSON"):
        read_results(path)
    F.atomic_write(path, json.dumps({"arm": "a", "seed": 0}) + "\n")
    with pytest.raises(ValueError, match=r"results.jsonl:1 is not a result record: missing keys "
                                         r"\['round', 'labeled', 'test_accuracy'\]"):
        read_results(path)
    F.remove(path)
    with pytest.raises(FileNotFoundError, match="No results file"):
        read_results(path)


# ----------------------------------------------------------------------------
# Artefacts.
# ----------------------------------------------------------------------------


def test_artefacts_round_trip_listing_and_errors(where):
    out, be = where
    rng = np.random.default_rng(0)
    arrays = {"labeled": np.arange(5, dtype=np.int32), "pool_index": np.arange(5, 12, dtype=np.int32),
              "picked": np.array([7, 9], np.int32), "preselect_mask": rng.random(7) < 0.5,
              "values": rng.random(7).astype(np.float32)}
    path = R.save_artefacts(out, ARM, 1, 0, **arrays, train_values=None)
    assert path == R.artefact_path(out, ARM, 1, 0)
    got = R.load_artefacts(out, ARM, 1, 0)
    assert sorted(got) == sorted(arrays)  # None entries are left out
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype
    R.save_artefacts(out, "coreset", 0, 2, picked=np.array([1], np.int32))
    R.save_artefacts(out, ARM, 1, 1, picked=np.array([2], np.int32))
    F.atomic_write(f"{out}/artefacts/coreset/notes.txt", "ignored")
    assert [(a, s, r) for a, s, r, _ in R.iter_artefacts(out)] == [
        ("ads_plus_coreset", 1, 0), ("ads_plus_coreset", 1, 1), ("coreset", 0, 2)]
    assert all(p == R.artefact_path(out, a.replace("_plus_", "+"), s, r)
               for a, s, r, p in R.iter_artefacts(out))
    with pytest.raises(ValueError, match="unknown artefact.*bogus"):
        R.save_artefacts(out, ARM, 0, 0, bogus=np.zeros(1))
    with pytest.raises(FileNotFoundError, match=r"Saved: \['ads_plus_coreset/seed 1/round 0'"):
        R.load_artefacts(out, ARM, 1, 7)
    F.atomic_write(R.artefact_path(out, ARM, 1, 1), b"not a zip")
    with pytest.raises(ValueError, match="round_1.npz.* is corrupt.*delete it"):
        R.load_artefacts(out, ARM, 1, 1)
    raw = F.read_bytes(R.artefact_path(out, ARM, 1, 0))
    F.atomic_write(R.artefact_path(out, ARM, 1, 0), raw[: len(raw) // 2])  # cut off
    with pytest.raises(ValueError, match="is corrupt"):
        R.load_artefacts(out, ARM, 1, 0)
    if be is not None:
        assert be.renames == 0


# ----------------------------------------------------------------------------
# The lock: flock (local) and lease (anywhere).
# ----------------------------------------------------------------------------

FAST = dict(interval=0.1, settle=0.02)


def _wait_for(cond, timeout=10.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_lock_kind_choice_and_validation(where, monkeypatch):
    out, be = where
    with RunLock(out, **FAST) as lock:
        assert lock.kind == ("flock" if be is None else "lease")
    monkeypatch.setenv(R.LOCK_ENV, "lease")
    with RunLock(out, **FAST) as lock:
        assert lock.kind == "lease"
    monkeypatch.setenv(R.LOCK_ENV, "bogus")
    with pytest.raises(ValueError, match="ADS_JAX_RUN_LOCK"):
        RunLock(out)
    monkeypatch.setenv(R.LOCK_ENV, "auto")
    monkeypatch.setenv(R.LEASE_INTERVAL_ENV, "2.5")
    lock = RunLock(out)
    assert (lock.interval, lock.stale_after, lock.settle) == (2.5, 7.5, 0.625)
    monkeypatch.setenv(R.LEASE_INTERVAL_ENV, "soon")
    with pytest.raises(ValueError, match="ADS_JAX_LEASE_INTERVAL"):
        RunLock(out)
    with pytest.raises(ValueError, match="`interval`"):
        RunLock(out, interval=0)
    with pytest.raises(ValueError, match="`stale_after`.*must exceed"):
        RunLock(out, interval=1, stale_after=1)
    with pytest.raises(ValueError, match="`settle`"):
        RunLock(out, interval=1, settle=-1)
    if be is not None:
        with pytest.raises(ValueError, match="'flock' needs a local path"):
            RunLock(out, kind="flock", interval=1).acquire()


@pytest.mark.parametrize("kind", ["flock", "lease"])
def test_lock_busy_release_and_context(tmp_path, kind):
    with RunLock(tmp_path, kind=kind, **FAST) as lock:
        holder = json.loads((tmp_path / ".lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"]
        assert lock.previous is None
        t0 = time.monotonic()
        with pytest.raises(RunDirectoryBusy, match=f"in use by process {os.getpid()}.*--out-dir"):
            RunLock(tmp_path, kind=kind, **FAST).acquire()  # at once, never waits
        assert time.monotonic() - t0 < 5
        with pytest.raises(RuntimeError, match="already held"):
            lock.acquire()
    # released: the next one takes it without reporting a stopped run
    with RunLock(tmp_path, kind=kind, **FAST) as again:
        assert again.previous is None
    if kind == "lease":
        assert not (tmp_path / ".lock").exists()  # a released lease is deleted
    lock.release()  # a second release is a no-op


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    code = ("import os, signal, sys; from ads_jax.rundir import RunLock; "
            "RunLock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          env={**os.environ, "ADS_JAX_RUN_LOCK": "flock"})
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / ".lock").read_text())["pid"] != os.getpid()
    with RunLock(tmp_path, kind="flock") as lock:
        assert lock.previous is not None and lock.previous["pid"] != os.getpid()
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(RunDirectoryBusy):
            RunLock(tmp_path, kind="flock").acquire()  # a second holder in this process too
    RunLock(tmp_path, kind="flock").acquire().release()  # released


def test_a_lease_left_by_a_killed_run_is_taken_over_once_stale(tmp_path):
    code = ("import os, signal, sys, time; from ads_jax.rundir import RunLock; "
            "RunLock(sys.argv[1], kind='lease', interval=0.2, settle=0).acquire(); "
            "time.sleep(0.5); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    dead = json.loads((tmp_path / ".lock").read_text())
    assert dead["pid"] != os.getpid() and dead["heartbeat"] > dead["acquired"]  # it beat
    # Fresh for a lock with a long stale timeout (60 s): busy, naming the dead holder.
    with pytest.raises(RunDirectoryBusy, match=f"process {dead['pid']}.*renewed"):
        RunLock(tmp_path, kind="lease", interval=20, settle=0).acquire()
    _wait_for(lambda: time.time() - dead["heartbeat"] > 0.6)  # 3 x its interval
    with RunLock(tmp_path, kind="lease", **FAST) as lock:
        assert lock.previous["pid"] == dead["pid"] and lock.previous["token"] == dead["token"]
        now = json.loads((tmp_path / ".lock").read_text())
        assert now["pid"] == os.getpid() and now["token"] != dead["token"]


def test_lease_takes_the_larger_stale_timeout(tmp_path):
    old = {"kind": "lease", "host": "elsewhere", "pid": 4242, "token": "t" * 32,
           "heartbeat": time.time() - 5, "acquired": time.time() - 50, "stale_after": 30}
    (tmp_path / ".lock").write_text(json.dumps(old))
    # This lock would call a 5 s old lease stale (0.3 s), the holder declared 30 s: busy.
    with pytest.raises(RunDirectoryBusy, match=r"process 4242 on host 'elsewhere'.*30 s"):
        RunLock(tmp_path, kind="lease", **FAST).acquire()
    old["heartbeat"] = time.time() - 31
    (tmp_path / ".lock").write_text(json.dumps(old))
    with RunLock(tmp_path, kind="lease", **FAST) as lock:
        assert lock.previous == old
    for junk in ("", "not json", "[1]", json.dumps({"host": "h", "pid": 1})):  # not a lease
        (tmp_path / ".lock").write_text(junk)
        with RunLock(tmp_path, kind="lease", **FAST) as lock:
            assert lock.kind == "lease"


def test_lease_heartbeat_and_release_only_of_its_own_token(where):
    out, _ = where
    lock = RunLock(out, kind="lease", **FAST).acquire()
    first = F.read_json(f"{out}/.lock")
    assert first["token"] and first["interval"] == 0.1 and first["stale_after"] == pytest.approx(0.3)
    _wait_for(lambda: F.read_json(f"{out}/.lock")["heartbeat"] > first["heartbeat"])
    assert F.read_json(f"{out}/.lock")["token"] == first["token"]
    lock.release()
    assert not F.as_path(f"{out}/.lock").exists()
    # A lease another run holds now is not deleted on release.
    lock = RunLock(out, kind="lease", interval=60, settle=0).acquire()
    other = {**F.read_json(f"{out}/.lock"), "token": "someone-else", "pid": 1}
    F.atomic_write_json(f"{out}/.lock", other)
    lock.release()
    assert F.read_json(f"{out}/.lock") == other


def test_lost_lease_stops_the_results_writes(where):
    out, _ = where
    lock = RunLock(out, kind="lease", **FAST).acquire()
    w = R.ResultsWriter(out, _records(1), lock=lock)
    thief = {**F.read_json(f"{out}/.lock"), "token": "thief", "pid": 99, "host": "other"}
    with pytest.warns(RuntimeWarning, match="lost its lease to process 99"):
        F.atomic_write_json(f"{out}/.lock", thief)
        _wait_for(lambda: lock.lost is not None)
    assert lock.lost["token"] == "thief"
    with pytest.raises(RunDirectoryBusy, match="taken over by process 99 on host 'other'"):
        w.append(_records(2)[1])
    assert read_results(R.results_path(out)) == _records(1)  # nothing written after the loss
    lock.release()
    assert F.read_json(f"{out}/.lock")["token"] == "thief"  # the thief's lease stays


def test_lease_two_contenders_exactly_one_wins(where):
    out, _ = where
    n = 4
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def contend(i):
        lock = RunLock(out, kind="lease", interval=5, settle=0.3)
        barrier.wait()
        try:
            results[i] = lock.acquire()
        except RunDirectoryBusy as e:
            results[i] = e

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, RunLock)]
    assert len(winners) == 1, results
    assert all(isinstance(r, RunDirectoryBusy) and "in use by process" in str(r)
               for r in results if r is not winners[0])
    assert F.read_json(f"{out}/.lock")["token"] == winners[0]._token
    winners[0].release()


def test_flock_unavailable_falls_back_to_a_lease(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with RunLock(tmp_path, **FAST) as lock:
        assert lock.kind == "lease"
        assert json.loads((tmp_path / ".lock").read_text())["kind"] == "lease"
        with pytest.raises(RunDirectoryBusy):
            RunLock(tmp_path, **FAST).acquire()
    with pytest.raises(OSError, match="does not support flock.*lease"):
        RunLock(tmp_path, kind="flock").acquire()
