"""Config system, active learning loop (kill-and-resume) and result reporting."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.configs import load as load_config

from ads_jax.configs import available as available_configs
from ads_jax.experiment import ExperimentConfig, LoopConfig
from ads_jax.data import PROVENANCE, build_scenario

# ----------------------------------------------------------------------------
# Generic config utilities (no JAX work).
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Inner:
    n: int = 1
    beta: tuple[float, float] = (1.0, 2.0)
    names: tuple[str, ...] = ("a",)
    opt: int | None = None
    s: str = "x"
    flag: bool = False


@dataclasses.dataclass(frozen=True)
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    lr: float = 0.5
    opts: dict = dataclasses.field(default_factory=dict)


def test_generic_dict_json_round_trip(tmp_path):
    cfg = _Outer(_Inner(n=3, beta=(2.0, 5.0), names=("p", "q"), opt=7, s="hi", flag=True), 0.25,
                 {"k": 2})
    d = C.to_dict(cfg)
    assert d == {"inner": {"n": 3, "beta": [2.0, 5.0], "names": ["p", "q"], "opt": 7, "s": "hi",
                           "flag": True}, "lr": 0.25, "opts": {"k": 2}}
    assert C.from_dict(_Outer, json.loads(json.dumps(d))) == cfg
    C.save_json(cfg, tmp_path / "sub" / "c.json")
    assert C.load_json(_Outer, tmp_path / "sub" / "c.json") == cfg
    # Missing fields take defaults; ints are accepted for floats.
    assert C.from_dict(_Outer, {"inner": {"n": 4}, "lr": 1}) == _Outer(_Inner(n=4), 1.0)


@pytest.mark.parametrize("data, exc, words", [
    ({"bogus": 1}, ValueError, ["bogus", "Valid fields", "inner", "lr"]),
    ({"inner": {"n": "3"}}, TypeError, ["inner.n", "integer"]),
    ({"inner": {"n": 2.5}}, TypeError, ["inner.n"]),
    ({"inner": {"flag": 1}}, TypeError, ["inner.flag"]),
    ({"inner": {"beta": [1, 2, 3]}}, ValueError, ["inner.beta", "2 elements"]),
    ({"inner": {"names": "abc"}}, TypeError, ["inner.names", "list"]),
    ({"inner": 3}, TypeError, ["inner", "mapping"]),
    ({"lr": None}, TypeError, ["lr"]),
])
def test_from_dict_errors_name_the_field(data, exc, words):
    with pytest.raises(exc) as e:
        C.from_dict(_Outer, data)
    for w in words:
        assert w in str(e.value)


def test_overrides_parse_by_declared_type():
    cfg = C.apply_overrides(_Outer(), [
        "inner.n=3", "inner.beta=[2,5]", "inner.names=ads+badge,coreset", "inner.opt=none",
        "inner.s=5", "lr=1", "inner.flag=true", 'opts={"a": [1, 2]}',
    ])
    assert cfg == _Outer(_Inner(n=3, beta=(2.0, 5.0), names=("ads+badge", "coreset"), opt=None,
                                s="5", flag=True), 1.0, {"a": [1, 2]})
    assert isinstance(cfg.inner.n, int) and isinstance(cfg.lr, float)
    assert C.apply_overrides(cfg, ["inner.opt=4", "inner.names=[]", "inner.s='a b'"]).inner == \
        _Inner(n=3, beta=(2.0, 5.0), names=(), opt=4, s="a b", flag=True)
    # Overrides do not mutate the input.
    assert _Outer().inner.n == 1


@pytest.mark.parametrize("text, words", [
    ("inner.zz=1", ["inner.zz", "Valid fields", "beta"]),
    ("zz=1", ["zz", "Valid fields", "inner"]),
    ("inner.n=1.5", ["inner.n", "integer"]),
    ("inner.beta=[1]", ["inner.beta", "2"]),
    ("inner.flag=maybe", ["inner.flag", "true/false"]),
    ("inner.n.x=1", ["inner.n.x"]),
    ("noequals", ["FIELD=VALUE"]),
    ("=3", ["empty field"]),
    ("lr=abc", ["lr", "number"]),
    ("inner.opt=x", ["inner.opt"]),
])
def test_bad_overrides_raise_clear_errors(text, words):
    with pytest.raises(ValueError) as e:
        C.apply_overrides(_Outer(), [text])
    for w in words:
        assert w in str(e.value)


def test_config_diff():
    a, b = _Outer(), C.apply_overrides(_Outer(), ["inner.n=2", "lr=3"])
    assert C.config_diff(a, b) == ["inner.n", "lr"]
    assert C.config_diff(a, a) == []


# ----------------------------------------------------------------------------
# ExperimentConfig and the built-in configs.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_configs())
def test_builtin_configs_round_trip(name, tmp_path):
    cfg = load_config(name)
    assert isinstance(cfg, ExperimentConfig)
    assert C.from_dict(ExperimentConfig, json.loads(C.to_json(cfg))) == cfg
    C.save_json(cfg, tmp_path / "c.json")
    assert resolve_config(str(tmp_path / "c.json")) == cfg
    assert resolve_config(name) == cfg


def test_demo_config_matches_the_issue():
    cfg = load_config("demo")
    assert cfg.data.dataset == "digits" and cfg.data.kind == "noisy"
    assert cfg.data.noise_fraction >= 0.5  # "most pool images corrupted"
    assert cfg.arms == ("ads+coreset", "coreset", "randfilter+coreset", "entropy", "random")


def test_experiment_overrides():
    cfg = resolve_config("demo", [
        "train.epochs=3", "acquisition.arm=ads+badge", "data.noise_beta=[2,5]",
        "loop.seeds=[0,1]", "loop.arms=[]", "data.test_size=none", "model.width=2",
        "data.pool_size=600",
    ])
    assert cfg.train.epochs == 3 and cfg.model.width == 2
    assert cfg.acquisition.arm == "ads+badge" and cfg.arms == ("ads+badge",)
    assert cfg.data.noise_beta == (2.0, 5.0) and cfg.data.test_size is None
    assert cfg.loop.seeds == (0, 1)
    base = load_config("demo")
    assert sorted(C.config_diff(base, cfg)) == sorted([
        "train.epochs", "acquisition.arm", "loop.seeds", "loop.arms", "model.width",
        "data.pool_size", "data.noise_beta"])


@pytest.mark.parametrize("overrides, exc, words", [
    (["train.epochz=3"], ValueError, ["train.epochz", "Valid fields", "epochs"]),
    (["acquisition.arm=ads+nosuch"], ValueError, ["nosuch"]),
    (["train.epochs=0"], ValueError, ["epochs"]),
    (["loop.rounds=-1"], ValueError, ["loop.rounds"]),
    (["loop.seeds=[0,0]"], ValueError, ["duplicates"]),
    (["foo.bar=1"], ValueError, ["foo", "Valid fields", "acquisition"]),
])
def test_experiment_override_errors(overrides, exc, words):
    with pytest.raises(exc) as e:
        resolve_config("demo", overrides)
    for w in words:
        assert w in str(e.value)


def test_partial_json_and_missing_file(tmp_path):
    p = tmp_path / "exp.json"
    p.write_text(json.dumps({"train": {"epochs": 7}, "loop": {"rounds": 1}}))
    cfg = resolve_config(str(p))
    assert cfg.train.epochs == 7 and cfg.loop.rounds == 1
    assert cfg.model == ExperimentConfig().model
    with pytest.raises(FileNotFoundError):
        resolve_config(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="Built-in configs|built-in config"):
        resolve_config("no_such_config")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_config(str(tmp_path / "bad.json"))
    (tmp_path / "unk.json").write_text(json.dumps({"trian": {}}))
    with pytest.raises(ValueError, match="trian"):
        resolve_config(str(tmp_path / "unk.json"))


def test_loop_config_checks():
    with pytest.raises(ValueError, match="duplicates"):
        LoopConfig(arms=("coreset", "coreset"))
    with pytest.raises(ValueError, match="seeds"):
        LoopConfig(seeds=())
    with pytest.raises(TypeError, match="rounds"):
        LoopConfig(rounds=1.5)


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
    from ads_jax.loop import STAGES, results_path
    from ads_jax.plotting import load_results

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
        assert set(STAGES) <= set(rec["time"]) and "selection_first_call" in rec["time"]
        if rec["round"] < R:
            assert rec["acquired"] == B
            for key in ("picked_provenance", "pool_provenance", "candidate_provenance"):
                assert set(rec[key]) == set(PROVENANCE)
                assert sum(rec[key].values()) == pytest.approx(1.0)
            assert rec["time"]["selection_staged"] == pytest.approx(sum(
                rec["time"][s] for s in ("valuation", "regression", "preselection", "diversity")))
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


# ----------------------------------------------------------------------------
# Reporting.
# ----------------------------------------------------------------------------


def _fake_records():
    recs = []
    for arm, base in (("ads+coreset", 0.6), ("coreset", 0.5)):
        for seed in (0, 1, 2):
            for k in range(3):
                recs.append({
                    "arm": arm, "seed": seed, "round": k, "labeled": 10 + 5 * k,
                    "test_accuracy": base + 0.1 * k + 0.01 * seed,
                    "acquired": 5 if k < 2 else 0,
                    "picked_provenance": ({"clean": 0.8, "noisy": 0.2} if k < 2 else None),
                    "time": {"training": 1.0, "valuation": 0.1 * (arm != "coreset"),
                             "regression": 0.0, "preselection": 0.0, "diversity": 0.5},
                })
    return recs


def test_summary_table_and_plot(tmp_path):
    from ads_jax.plotting import format_table, load_results, plot_results, summarize

    recs = _fake_records()
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    loaded = load_results(tmp_path)  # a run directory works too
    assert loaded == recs
    s = summarize(loaded)
    assert list(s) == ["ads+coreset", "coreset"]
    accs = np.array([0.6 + 0.1 + 0.01 * sd for sd in (0, 1, 2)])
    assert s["ads+coreset"]["acc_mean"][1] == pytest.approx(accs.mean())
    assert s["ads+coreset"]["acc_std"][1] == pytest.approx(accs.std())
    assert s["ads+coreset"]["labeled"] == [10, 15, 20]
    assert s["ads+coreset"]["selection_time"]["valuation"] == pytest.approx(0.1)
    assert s["coreset"]["selection_time"]["valuation"] == 0.0
    assert s["coreset"]["picked_provenance"]["noisy"] == pytest.approx(0.2)
    table = format_table(loaded)
    assert "ads+coreset" in table and "71.0 +- 0.8" in table
    png = plot_results(loaded, tmp_path / "plots" / "c.png", title="t")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_load_results_errors(tmp_path):
    from ads_jax.plotting import load_results

    with pytest.raises(FileNotFoundError, match="results"):
        load_results(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{broken\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_results(tmp_path / "bad.jsonl")
    (tmp_path / "other.jsonl").write_text(json.dumps({"a": 1}) + "\n")
    with pytest.raises(ValueError, match="missing keys"):
        load_results(tmp_path / "other.jsonl")
