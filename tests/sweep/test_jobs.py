"""Sweeps and jobs (``ads_jax.sweep.jobs``): stable job names, sharding, resume, sweep files.

Job enumeration and sharding are checked without running anything; one
sweep of two tiny jobs (``tiny`` config, 1 epoch, 1 round, the ``random``
arm) checks that shards run exactly their jobs, that a rerun skips finished
jobs without touching them, that a job whose results lost a record resumes
from its checkpoint, and that ``collect`` returns every record once with its
grid point (also through the command line, ``ads-jax sweep``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from ads_jax import sweep as S
from ads_jax.cli import main

TINY = ["train.epochs=1", "loop.rounds=1"]
NOISE = "data.noise_fraction"


# ----------------------------------------------------------------------------
# Jobs (nothing runs).
# ----------------------------------------------------------------------------


def _sweep(**kw):
    kw.setdefault("grid", {NOISE: [f"{NOISE}=0.5", f"{NOISE}=0.6", f"{NOISE}=0.8"]})
    return S.Sweep("tiny", arms=["random", "coreset"], seeds=[0, 1], overrides=TINY, **kw)


def test_jobs_deterministic_names_and_exact_sharding(tmp_path):
    jobs = _sweep().jobs(tmp_path)
    assert len(jobs) == 3 * 2 * 2
    assert [j.name for j in jobs] == [j.name for j in _sweep().jobs(tmp_path)]
    assert jobs[0].name == "tiny__noise_fraction=0.5__random__seed0"
    assert jobs[1].name == "tiny__noise_fraction=0.5__coreset__seed0"
    assert jobs[2].name == "tiny__noise_fraction=0.5__random__seed1"
    assert len({j.name for j in jobs}) == len(jobs)
    assert jobs[0].out_dir == os.path.join(str(tmp_path), jobs[0].name)
    cfg = jobs[3].config()
    assert cfg.arms == ("coreset",) and cfg.loop.seeds == (1,) and cfg.data.noise_fraction == 0.5
    assert cfg.loop.out_dir == jobs[3].out_dir and cfg.train.epochs == 1
    for n in range(1, 6):
        shards = [S.shard_jobs(jobs, i, n) for i in range(n)]
        flat = [j.name for sh in shards for j in sh]
        assert Counter(flat) == Counter(j.name for j in jobs)  # every job exactly once
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError):
        S.shard_jobs(jobs, 2, 2)
    grouped = _sweep(group_arms=True).jobs(tmp_path)
    assert len(grouped) == 6 and grouped[0].arms == ("random", "coreset")
    assert grouped[0].name == "tiny__noise_fraction=0.5__all_arms__seed0"
    assert all(j.status() == "todo" for j in jobs)
    with pytest.raises(ValueError, match="distinct names"):
        S.jobs_of([_sweep(), _sweep()], tmp_path)
    with pytest.raises(ValueError, match="nope"):
        S.Sweep("tiny", arms=["nope"]).jobs(tmp_path)


# ----------------------------------------------------------------------------
# Running, resuming, collecting (two tiny runs).
# ----------------------------------------------------------------------------


def _mtimes(root):
    return {d: os.stat(os.path.join(root, d, "results.jsonl")).st_mtime_ns
            for d in os.listdir(root)}


def test_run_shards_resume_and_collect(tmp_path, capsys):
    root = str(tmp_path / "sweep")
    sw = S.Sweep("tiny", grid={NOISE: [f"{NOISE}=0.5", f"{NOISE}=0.8"]}, arms=["random"],
                 seeds=[0], overrides=TINY)
    jobs = sw.jobs(root)
    assert len(jobs) == 2
    rep0 = S.run(jobs, shard=0, num_shards=2, progress=None)
    assert [(r["job"], r["status"]) for r in rep0] == [(jobs[0].name, "ran")]
    assert [j.status() for j in jobs] == ["done", "todo"]
    rep1 = S.run(jobs, shard=1, num_shards=2, progress=None)
    assert [(r["job"], r["status"]) for r in rep1] == [(jobs[1].name, "ran")]

    # rerun: everything is skipped and nothing is rewritten
    before = _mtimes(root)
    again = S.run(jobs, progress=None)
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    assert _mtimes(root) == before

    recs = S.collect(root)
    keys = [(r["job"], r["arm"], r["seed"], r["round"]) for r in recs]
    assert len(keys) == len(set(keys)) == 2 * 2  # 2 jobs x rounds 0, 1, each once
    assert {r["job"] for r in recs} == {j.name for j in jobs}
    for r in recs:
        job = next(j for j in jobs if j.name == r["job"])
        assert r["point"] == job.point == {NOISE: job.name.split("=")[1].split("__")[0]}
        assert r["spec"] == "tiny" and r["sweep"] == "tiny"
    assert {r["point"][NOISE] for r in recs} == {"0.5", "0.8"}
    assert S.collect(root, jobs=jobs[:1]) == [r for r in recs if r["job"] == jobs[0].name]

    # a job that lost a record (e.g. killed while writing) resumes from its checkpoint
    res = os.path.join(jobs[1].out_dir, "results.jsonl")
    lines = open(res).read().splitlines(keepends=True)
    open(res, "w").write(lines[0])
    assert jobs[1].status() == "partial"
    rep = S.run(jobs, progress=None)
    assert [r["status"] for r in rep] == ["skipped", "ran"]
    assert open(res).read().splitlines() == [ln.rstrip("\n") for ln in lines]

    # a changed sweep-level override makes the existing directories stale
    stale = S.Sweep("tiny", grid=sw.grid, arms=["random"], seeds=[0],
                    overrides=["train.epochs=2", "loop.rounds=1"]).jobs(root)
    assert [j.name for j in stale] == [j.name for j in jobs]
    assert stale[0].status() == "stale"
    with pytest.raises(ValueError, match="another config"):
        S.run(stale, progress=None)

    # the command line sees the same jobs
    cli = ["--root", root, "--arms", "random", "--seeds", "0", "--grid", f"{NOISE}=0.5|0.8",
           *TINY]
    capsys.readouterr()
    assert main(["sweep", "list", "tiny", *cli, "--format", "json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [(r["job"], r["status"]) for r in rows] == [(j.name, "done") for j in jobs]
    assert main(["sweep", "run", "tiny", *cli, "--quiet", "--shard", "1", "--num-shards", "2"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert rows == [{"job": jobs[1].name, "status": "skipped", "records": 2}]
    assert main(["sweep", "collect", root, "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 4 and {t[f"point.{NOISE}"] for t in table} == {"0.5", "0.8"}
    assert all(0.0 <= float(t["test_accuracy"]) <= 1.0 for t in table)
    out = tmp_path / "all.json"
    assert main(["sweep", "collect", root, "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())) == 4
    assert main(["sweep", "list", "tiny", "--root", root, "--arms", "nope"]) == 1  # one-line error
    assert "sweep: error" in capsys.readouterr().err


def test_sweep_file(tmp_path):
    spec = tmp_path / "sw.json"
    spec.write_text(json.dumps({"sweeps": [
        {"spec": "tiny", "grid": {"f": ["acquisition.preselect.fraction=0.2"]}, "seeds": [0, 1],
         "arms": ["random"], "overrides": TINY, "name": "a"},
        {"spec": "tiny", "seeds": [0], "arms": ["coreset"], "overrides": TINY, "name": "b"}]}))
    sweeps = S.load_sweeps(spec)
    jobs = S.jobs_of(sweeps, tmp_path / "root")
    assert [j.name for j in jobs] == ["a__f=0.2__random__seed0", "a__f=0.2__random__seed1",
                                      "b__base__coreset__seed0"]


def test_sweep_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        S.load_sweeps(bad)
    unk = tmp_path / "unk.json"
    unk.write_text(json.dumps({"spec": "tiny", "sedes": [0]}))
    with pytest.raises(ValueError, match="sedes"):
        S.load_sweeps(unk)
    assert S.is_sweep_file(str(unk)) and not S.is_sweep_file(str(bad))


def test_python_m_ads_jax_sweep_is_the_cli_sweep_command(tmp_path, capsys):
    args = ["list", "tiny", "--root", str(tmp_path), "--arms", "random,coreset", "--seeds", "0,1",
            "--format", "json", *TINY]
    assert main(["sweep", *args]) == 0
    expected = capsys.readouterr().out
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    p = subprocess.run([sys.executable, "-m", "ads_jax.sweep", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout == expected
    assert [json.loads(ln)["job"] for ln in expected.splitlines()] == [
        "tiny__base__random__seed0", "tiny__base__coreset__seed0",
        "tiny__base__random__seed1", "tiny__base__coreset__seed1"]
