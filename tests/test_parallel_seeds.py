"""Seeds in parallel (loop.parallel_seeds): each seed on its own slice of the 8 simulated
devices, in its own thread, gives exactly the records of single-seed runs on a slice of the
same size; bad settings are refused."""

from __future__ import annotations

import jax
import pytest

from ads_jax.configs import resolve as resolve_config
from ads_jax.loop import run_experiment

QUICK = ["train.epochs=1", "loop.rounds=1", "loop.arms=[ads+coreset]"]


def _strip(records):
    return sorted(({k: v for k, v in r.items() if k != "time"} for r in records),
                  key=lambda r: (r["seed"], r["arm"], r["round"]))


def test_parallel_seeds_equal_single_seed_runs_on_equal_slices(tmp_path):
    assert jax.device_count() == 8
    par = run_experiment(resolve_config("tiny", [*QUICK, "loop.seeds=[0,1]",
                                                 "loop.parallel_seeds=2",
                                                 f"loop.out_dir={tmp_path / 'par'}"]))
    single = []
    for s in (0, 1):  # one seed at a time, on a slice of 4 devices (8 / 2)
        single += run_experiment(resolve_config("tiny", [*QUICK, f"loop.seeds=[{s}]",
                                                         "loop.parallel_seeds=2",
                                                         f"loop.out_dir={tmp_path / str(s)}"]))
    assert len(par) == 2 * 2 and _strip(par) == _strip(single)


def test_parallel_seeds_checks():
    with pytest.raises(ValueError, match="loop.parallel_seeds"):
        resolve_config("tiny", ["loop.parallel_seeds=0"])
    with pytest.raises(ValueError, match="loop.mesh"):
        resolve_config("tiny", ["loop.parallel_seeds=2", "loop.mesh=all"])
    with pytest.raises(ValueError, match="divide"):
        run_experiment(resolve_config("tiny", ["loop.parallel_seeds=3", "loop.seeds=[0,1,2]",
                                               "loop.out_dir=/tmp/ads_jax_never_made"]))
