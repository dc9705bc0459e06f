"""The active learning loop (kill-and-resume). The config tests are in
test_config_engine.py, the reporting tests in test_plotting.py."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.experiment import ExperimentConfig
from ads_jax.data import PROVENANCE, build_scenario

# ----------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------


def _tiny(out_dir, *overrides):
    return resolve_config("tiny", [f"loop.out_dir={out_dir}", *overrides])


def _strip_times(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """One uninterrupted tiny run (2 arms x 3 rounds), shared by the tests below."""
    from ads_jax.loop import load_state, run_experiment

    out = tmp_path_factory.mktemp("ref")
    cfg = _tiny(out)
    records = run_experiment(cfg)
    states = {arm: load_state(out, arm, 0) for arm in cfg.arms}
    return cfg, records, states


def test_round_keys_are_deterministic_and_distinct():
    from ads_jax.loop import round_keys

    ks = [round_keys(s, r) for s in (0, 1) for r in (0, 1)]
    data = [tuple(np.asarray(jax.random.key_data(k)).tolist()) for pair in ks for k in pair]
    assert len(set(data)) == len(data)
    again = round_keys(1, 1)
    assert np.array_equal(jax.random.key_data(again[0]), jax.random.key_data(ks[3][0]))


def test_loop_records_are_consistent(reference_run):
    from ads_jax.loop import results_path
    from ads_jax.plotting import load_results
    from ads_jax.records import TIME_FIELDS

    cfg, records, states = reference_run
    R, B = cfg.loop.rounds, cfg.acquisition.budget
    assert [(r["arm"], r["round"]) for r in records] == [
        (a, k) for a in cfg.arms for k in range(R + 1)]
    # results.jsonl holds exactly what run_experiment returned, config.json the config.
    assert load_results(results_path(cfg.loop.out_dir)) == records
    assert C.load_json(ExperimentConfig, os.path.join(cfg.loop.out_dir, "config.json")) == cfg
    sc = build_scenario(cfg.data, 0)
    n_init = sc.labeled_init.size
    for rec in records:
        assert rec["labeled"] == n_init + rec["round"] * B
        assert 0.0 <= rec["test_accuracy"] <= 1.0
        assert set(rec["time"]) == set(TIME_FIELDS)
        if rec["round"] < R:
            assert rec["acquired"] == B
            for key in ("picked_provenance", "pool_provenance", "candidate_provenance"):
                assert set(rec[key]) == set(PROVENANCE)
                assert sum(rec[key].values()) == pytest.approx(1.0)
            # the arm's program is compiled ahead of its first call, once: round 0 only
            assert (rec["time"]["compile"] > 0) == (rec["round"] == 0)
            assert rec["time"]["selection"] > 0
        else:
            assert rec["acquired"] == 0 and rec["picked_provenance"] is None
    # Round 0 does not depend on the arm (same keys, same initial labeled set).
    r0 = [_strip_times([r])[0] for r in records if r["round"] == 0]
    assert all({k: v for k, v in r.items() if k not in ("arm", "picked_provenance",
                "candidate_provenance", "preselected")} ==
               {k: v for k, v in r0[0].items() if k not in ("arm", "picked_provenance",
                "candidate_provenance", "preselected")} for r in r0)
    for arm, st in states.items():
        lab = st["labeled"]
        assert lab.dtype == np.int32 and lab.size == n_init + R * B
        assert np.array_equal(lab[:n_init], sc.labeled_init)
        assert np.unique(lab).size == lab.size  # never picks a labeled point twice
        # Provenance of the picks in the records matches the checkpointed picks.
        for k in range(R):
            picked = lab[n_init + k * B: n_init + (k + 1) * B]
            rec = [r for r in records if r["arm"] == arm and r["round"] == k][0]
            for i, name in enumerate(PROVENANCE):
                assert rec["picked_provenance"][name] == pytest.approx(
                    np.mean(sc.provenance[picked] == i))


class _Kill(Exception):
    pass


def test_kill_and_resume_gives_identical_results(reference_run, tmp_path):
    """Kill in the middle of a round, then between rounds; each resume finishes exactly."""
    from ads_jax.loop import load_state, run_experiment

    cfg_ref, ref_records, ref_states = reference_run
    cfg = _tiny(tmp_path)
    arms = cfg.arms
    events = []

    def killer(at):
        def cb(ev):
            events.append((ev["event"], ev["arm"], ev["round"]))
            if (ev["event"], ev["arm"], ev["round"]) == at:
                raise _Kill()
        return cb

    # 1) killed after the acquisition of round 1 of the first arm, before its checkpoint.
    with pytest.raises(_Kill):
        run_experiment(cfg, callback=killer(("acquired", arms[0], 1)))
    st = load_state(tmp_path, arms[0], 0)
    assert len(st["records"]) == 1  # only round 0 was saved
    # 2) resumed: redoes round 1, then killed right after saving round 0 of the second arm.
    events.clear()
    with pytest.raises(_Kill):
        run_experiment(cfg, callback=killer(("saved", arms[1], 0)))
    assert events[0] == ("trained", arms[0], 1)  # resumed at the unfinished round
    # 3) resumed to the end.
    events.clear()
    records = run_experiment(cfg, callback=killer(None))
    assert events[0] == ("trained", arms[1], 1)
    assert not any(a == arms[0] for _, a, _ in events)  # finished arm is not recomputed

    assert _strip_times(records) == _strip_times(ref_records)
    with open(os.path.join(tmp_path, "results.jsonl")) as f:
        on_disk = [json.loads(line) for line in f]
    assert _strip_times(on_disk) == _strip_times(ref_records)
    for arm in arms:
        st = load_state(tmp_path, arm, 0)
        assert np.array_equal(st["labeled"], ref_states[arm]["labeled"])
        assert _strip_times(st["records"]) == _strip_times(ref_states[arm]["records"])

    # A finished run directory is returned as is, without training.
    events.clear()
    again = run_experiment(cfg, callback=killer(None))
    assert events == [] and again == records


def test_resume_with_per_epoch_training_checkpoints(reference_run, tmp_path):
    """loop.checkpoint_training: a round killed after training reuses the finished fit."""
    from ads_jax.loop import fit_checkpoint_dir, run_experiment

    _, ref_records, _ = reference_run
    cfg = _tiny(tmp_path, "loop.checkpoint_training=true")
    arm = cfg.arms[1]

    def kill(ev):
        if (ev["event"], ev["arm"], ev["round"]) == ("trained", arm, 1):
            raise _Kill()

    with pytest.raises(_Kill):
        run_experiment(cfg, callback=kill)
    assert os.path.isdir(fit_checkpoint_dir(tmp_path, arm, 0, 1))
    assert not os.path.isdir(fit_checkpoint_dir(tmp_path, arm, 0, 0))  # finished rounds: removed
    records = run_experiment(cfg)
    assert _strip_times(records) == _strip_times(ref_records)
    assert not any(files for _, _, files in os.walk(tmp_path / "fit_checkpoints"))


def test_run_directory_with_other_config_is_refused(reference_run):
    from ads_jax.loop import run_experiment

    cfg = reference_run[0]
    other = C.apply_overrides(cfg, ["train.learning_rate=0.2"])
    with pytest.raises(ValueError, match="train.learning_rate"):
        run_experiment(other)


@pytest.mark.parametrize("overrides, words", [
    (["acquisition.budget=1000"], ["pool", "budget"]),
    (["loop.rounds=50"], ["pool", "rounds"]),
])
def test_budget_larger_than_pool_fails_before_training(tmp_path, overrides, words):
    from ads_jax.loop import run_experiment

    out = tmp_path / "run"
    with pytest.raises(ValueError) as e:
        run_experiment(_tiny(out, *overrides))
    for w in words:
        assert w in str(e.value)
    assert not out.exists()


def test_unknown_arm_fails_before_training(tmp_path):
    from ads_jax.loop import run_experiment

    with pytest.raises(ValueError, match="no_such"):
        run_experiment(_tiny(tmp_path / "run", "loop.arms=[coreset,ads+no_such]"))
    assert not (tmp_path / "run").exists()
