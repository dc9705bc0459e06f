"""A real multi-process run: 2 processes x 4 CPU devices on localhost (gloo collectives)
run the ``tiny`` experiment as one program, are killed, resume, and end with exactly the
picks and records of a single-process run on 8 devices."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from ads_jax.configs import resolve as resolve_config
from ads_jax.rundir import load_artefacts, read_results

OVERRIDES = ["loop.rounds=2", "train.epochs=1", "loop.arms=[ads+coreset,randfilter+badge]",
             "loop.mesh=all"]

CHILD = r'''
import json, os, signal, sys
from ads_jax.configs import resolve as resolve_config
from ads_jax.loop import run_experiment

out, overrides, kill_at = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
cfg = resolve_config("tiny", [f"loop.out_dir={out}", "train.multi_host=true", *overrides])


def callback(ev):
    if kill_at != "-" and f"{ev['event']}:{ev['arm']}:{ev['round']}" == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


records = run_experiment(cfg, callback=callback)
import jax
from ads_jax.data import PoolRows, build_scenario
from ads_jax.loop import _scenario_rows
print("PROCESS", jax.process_index(), jax.process_count(), jax.device_count(),
      jax.local_device_count())
sc = build_scenario(cfg.data, 0, rows=_scenario_rows(cfg))  # what each process built
compact = dict(separators=(",", ":"))
print("HELD", type(sc.x_pool).__name__, json.dumps(sc.x_pool.rows.tolist(), **compact),
      sc.pool_size, json.dumps(sc.labeled_init.tolist(), **compact))
print("RECORDS", json.dumps([{k: v for k, v in r.items() if k != "time"} for r in records]))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out, kill_at="-"):
    port = _free_port()
    procs = []
    for pid in range(2):
        env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                   ADS_JAX_MAPPED_DIR=str(out.parent / "mapped"),
                   JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid),
                   XLA_FLAGS="--xla_force_host_platform_device_count=4")
        procs.append(subprocess.Popen(
            [sys.executable, "-c", CHILD, str(out), json.dumps(OVERRIDES), kill_at], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append((p.returncode, stdout, stderr))
    return outs


def _strip(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo CPU collectives on localhost")
def test_two_processes_resume_and_match_a_single_process_run(tmp_path):
    from ads_jax.loop import load_state, run_experiment

    assert jax.device_count() == 8  # the single-process reference: same device count
    ref_dir = tmp_path / "single"
    ref_cfg = resolve_config("tiny", [f"loop.out_dir={ref_dir}", *OVERRIDES])
    reference = _strip(run_experiment(ref_cfg))

    out = tmp_path / "multi"
    # Killed (both processes) after the first arm's round 1 was saved ...
    killed = _launch(out, kill_at="saved:ads+coreset:1")
    assert [rc for rc, _, _ in killed] == [-signal.SIGKILL] * 2, killed[0][2][-3000:]
    st = load_state(out, "ads+coreset", 0)
    assert st is not None and len(st["records"]) == 2
    # ... and resumed to the end.
    done = _launch(out)
    for rc, stdout, stderr in done:
        assert rc == 0, stderr[-4000:]
    info = [ln.split()[1:] for _, so, _ in done for ln in so.splitlines()
            if ln.startswith("PROCESS")]
    assert sorted(info) == [["0", "2", "8", "4"], ["1", "2", "8", "4"]]
    # Per-host data: each process built (and noised) its half of the pool and the seed set.
    held = [ln.split(maxsplit=4)[1:] for _, so, _ in done for ln in so.splitlines()
            if ln.startswith("HELD")]
    assert [h[0] for h in held] == ["PoolRows", "PoolRows"]
    p, init = int(held[0][2]), json.loads(held[0][3])
    rows = [set(json.loads(h[1])) - set(init) for h in held]
    assert not rows[0] & rows[1] and len(rows[0] | rows[1] | set(init)) == p
    assert all(len(r) <= p // 2 for r in rows)
    # ... from the memory-mapped copy of the data set (written by the first, killed run).
    (copy,) = os.listdir(tmp_path / "mapped")
    assert copy.startswith("digits-") and (tmp_path / "mapped" / copy / "meta.json").exists()
    for _, stdout, _ in done:  # every process returns the whole run's records
        line = next(ln for ln in stdout.splitlines() if ln.startswith("RECORDS "))
        assert json.loads(line[len("RECORDS "):]) == reference
    # Files: written once (by process 0), equal to the single-process run's.
    assert _strip(read_results(out / "results.jsonl")) == reference
    for arm in ref_cfg.arms:
        np.testing.assert_array_equal(load_state(out, arm, 0)["labeled"],
                                      load_state(ref_dir, arm, 0)["labeled"])
        for r in range(ref_cfg.loop.rounds):
            a, b = load_artefacts(out, arm, 0, r), load_artefacts(ref_dir, arm, 0, r)
            assert a.keys() == b.keys()
            np.testing.assert_array_equal(a["picked"], b["picked"])
            np.testing.assert_array_equal(a["preselect_mask"], b["preselect_mask"])
            if "values" in a:
                np.testing.assert_allclose(a["values"], b["values"], rtol=1e-5, atol=1e-7)
    assert json.loads((out / "config.json").read_text())["train"]["multi_host"] is True


def test_mesh_all_picks_what_the_host_path_picks(tmp_path):
    """loop.mesh=all (pool on the devices) and mesh=none (gathered on the host) agree."""
    from ads_jax.loop import run_experiment

    base = ["loop.rounds=1", "train.epochs=1", "loop.arms=[ads+coreset,badge]"]
    a = run_experiment(resolve_config("tiny", [f"loop.out_dir={tmp_path / 'a'}", *base]))
    b = run_experiment(resolve_config("tiny", [f"loop.out_dir={tmp_path / 'b'}", *base,
                                                 "loop.mesh=all"]))
    assert _strip(a) == _strip(b)
