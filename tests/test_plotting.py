"""Tables and plots of result files (``ads_jax.plotting``, ``ads-jax plot``).

Records are written by hand with known accuracies and times, so every
aggregate is checked against a NumPy computation of what it must be, and
the rules of what may be averaged with what are checked on run directories
built to break them: two runs of one (arm, seed), two different configs,
one config split over two directories, seeds with different schedules.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ads_jax import config_engine as C
from ads_jax import plotting as P
from ads_jax.cli import main
from ads_jax.configs import resolve as resolve_config
from ads_jax.records import NON_CLEAN_NOTE

from _memfs import install as install_memfs

PNG = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------
# Moved from test_loop.py (reporting), adapted to the records of today: per-stage
# times are no longer recorded (``time.selection`` is the whole acquisition).
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
                             "regression": 0.0, "preselection": 0.0, "diversity": 0.5,
                             "selection": 0.1 * (arm != "coreset") + 0.5},
                })
    return recs


def test_summary_table_and_plot(tmp_path):
    recs = _fake_records()
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    loaded = P.load_results(tmp_path)  # a run directory works too
    assert loaded == recs
    s = P.summarize(loaded)
    assert list(s) == ["ads+coreset", "coreset"]
    accs = np.array([0.6 + 0.1 + 0.01 * sd for sd in (0, 1, 2)])
    assert s["ads+coreset"]["acc_mean"][1] == pytest.approx(accs.mean())
    assert s["ads+coreset"]["acc_std"][1] == pytest.approx(accs.std())
    assert s["ads+coreset"]["labeled"] == [10, 15, 20]
    assert s["ads+coreset"]["selection_time"] == pytest.approx(0.6)
    assert s["coreset"]["selection_time"] == pytest.approx(0.5)
    assert s["coreset"]["picked_provenance"]["noisy"] == pytest.approx(0.2)
    table = P.format_table(loaded)
    assert "ads+coreset" in table and "71.0 +- 0.8" in table
    png = P.plot_results(loaded, tmp_path / "plots" / "c.png", title="t")
    with open(png, "rb") as f:
        assert f.read(8) == PNG


def test_load_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="results"):
        P.load_results(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{broken\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        P.load_results(tmp_path / "bad.jsonl")
    (tmp_path / "other.jsonl").write_text(json.dumps({"a": 1}) + "\n")
    with pytest.raises(ValueError, match="missing keys"):
        P.load_results(tmp_path / "other.jsonl")


# ----------------------------------------------------------------------------
# Run directories built by hand.
# ----------------------------------------------------------------------------

SCHED = (10, 20, 30)


def _acc(arm: str, seed: int, k: int, shift: float = 0.0) -> float:
    return round(0.3 + 0.1 * k + 0.02 * seed + (0.05 if arm == "ads+coreset" else 0) + shift, 6)


def _records(arms=("ads+coreset", "coreset"), seeds=(0,), shift=0.0, sched=SCHED, sel=0.2,
             comp=3.0):
    """One run's records: round 0 shared (training 4 s), own rounds 1 s, first
    acquisition compiles (``comp`` s), each acquisition ``sel`` (+0.1 for ads) s."""
    recs = []
    for seed in seeds:
        for arm in arms:
            for k, lab in enumerate(sched):
                last = k == len(sched) - 1
                recs.append({
                    "arm": arm, "seed": seed, "round": k, "labeled": lab,
                    "test_accuracy": _acc(arm, seed, k, shift), "acquired": 0 if last else 10,
                    "picked_provenance": None if last else {"clean": 0.7, "noisy": 0.3},
                    "pool_provenance": None if last else {"clean": 0.2, "noisy": 0.8},
                    "shared_training": k == 0,
                    "time": {"training": 4.0 if k == 0 else 1.0, "inference": 0.1,
                             "selection": 0.0 if last else sel + 0.1 * (arm == "ads+coreset"),
                             "compile": comp if (k == 0 and seed == seeds[0]) else 0.0},
                })
    return recs


def _run_dir(path, records, *overrides):
    path.mkdir(parents=True, exist_ok=True)
    cfg = resolve_config("tiny", [f"loop.out_dir={path}", *overrides])
    (path / "config.json").write_text(C.to_json(cfg))
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_two_runs_of_one_arm_and_seed_are_shown_side_by_side(tmp_path):
    a = _run_dir(tmp_path / "t2", _records())
    b = _run_dir(tmp_path / "t3", _records(shift=0.1))
    sources = P.load_sources([a, b])
    assert [s.label for s in sources] == ["t2", "t3"]
    summ = P.summarize(sources)
    assert list(summ) == ["ads+coreset [t2]", "coreset [t2]", "ads+coreset [t3]",
                          "coreset [t3]"]
    for lab, shift in (("coreset [t2]", 0.0), ("coreset [t3]", 0.1)):
        assert summ[lab]["n_seeds"] == [1, 1, 1]  # never "over 1 seeds" of two runs
        assert summ[lab]["acc_mean"] == pytest.approx([_acc("coreset", 0, k, shift)
                                                       for k in range(3)])
    table = P.format_table(sources)
    assert "both hold arm 'ads+coreset' seed 0" in table
    assert "coreset [t3]" in table and "never averaged" in table
    with pytest.raises(ValueError, match="different experiments.*load_sources"):
        P.load_results([a, b])


def test_different_configs_are_never_averaged(tmp_path):
    a = _run_dir(tmp_path / "t1", _records(seeds=(0,)))
    b = _run_dir(tmp_path / "demo", _records(seeds=(1,), shift=0.2), "data.pool_size=160")
    summ = P.summarize(P.load_sources([a, b]))
    assert set(summ) == {"ads+coreset [t1]", "coreset [t1]", "ads+coreset [demo]",
                         "coreset [demo]"}
    assert summ["coreset [demo]"]["seeds"] == [1] and summ["coreset [t1]"]["seeds"] == [0]
    assert "configs differ in data.pool_size" in P.format_table(P.load_sources([a, b]))
    # a results.jsonl without config.json cannot be matched: shown apart too
    c = tmp_path / "loose.jsonl"
    c.write_text("".join(json.dumps(r) + "\n" for r in _records(seeds=(2,))))
    summ = P.summarize(P.load_sources([a, c]))
    assert "coreset [loose]" in summ and "no config.json in loose" in P.format_table(
        P.load_sources([a, c]))


def test_one_config_split_over_directories_is_averaged(tmp_path):
    # same config (only out_dir and seeds differ), disjoint seeds: one experiment
    a = _run_dir(tmp_path / "s01", _records(seeds=(0, 1)), "loop.seeds=[0,1]")
    b = _run_dir(tmp_path / "s2", _records(seeds=(2,)), "loop.seeds=[2]")
    summ = P.summarize(P.load_sources([a, b]))
    assert list(summ) == ["ads+coreset", "coreset"]
    accs = np.array([[_acc("coreset", s, k) for k in range(3)] for s in (0, 1, 2)])
    assert summ["coreset"]["acc_mean"] == pytest.approx(accs.mean(0).tolist())
    assert summ["coreset"]["acc_std"] == pytest.approx(accs.std(0).tolist())
    assert summ["coreset"]["seeds"] == [0, 1, 2]
    assert "averaged together" in P.format_table(P.load_sources([a, b]))
    assert len(P.load_results([a, b])) == 2 * 3 * 3


def test_rounds_are_averaged_only_over_one_schedule():
    recs = (_records(arms=("coreset",), seeds=(0, 1))
            + _records(arms=("coreset",), seeds=(2,), sched=(10, 25, 40))
            + _records(arms=("coreset",), seeds=(3,), sched=(10, 20)))  # unfinished: a prefix
    summ = P.summarize(recs)
    assert list(summ) == ["coreset (labeled 10, 20, 30)", "coreset (labeled 10, 25, 40)"]
    a = summ["coreset (labeled 10, 20, 30)"]
    assert a["seeds"] == [0, 1, 3] and a["n_seeds"] == [3, 3, 2]
    assert a["acc_mean"][2] == pytest.approx(np.mean([_acc("coreset", s, 2) for s in (0, 1)]))
    assert summ["coreset (labeled 10, 25, 40)"]["labeled"] == [10, 25, 40]
    table = P.format_table(recs)
    assert "another labeled-set schedule" in table  # one accuracy table per schedule


def test_a_list_mixing_two_runs_is_refused():
    recs = _records()
    dup = dict(recs[1], test_accuracy=0.99)
    with pytest.raises(ValueError, match="appears twice.*two runs.*side by side"):
        P.summarize(recs + [dup])
    assert P.summarize(recs + [recs[1]]) == P.summarize(recs)  # an identical copy counts once


def test_table_columns_times_and_shared_round_zero():
    recs = _records(seeds=(0, 1)) + _records(seeds=(2,), comp=5.0)
    # one run directory may hold a compile per (re)start: here seeds 0 and 2 compiled
    summ = P.summarize(recs)
    s = summ["ads+coreset"]
    assert s["selection_time"] == pytest.approx(0.3)  # warm call, acquisitions only
    assert s["compile_time"] == pytest.approx(np.mean([3.0, 5.0]))
    assert s["training_time"] == pytest.approx(1.0)  # the shared round 0 is not the arm's
    assert s["shared_training_time"] == pytest.approx(4.0)
    assert s["picked_provenance"] == {"clean": pytest.approx(0.7), "noisy": pytest.approx(0.3)}
    assert s["pool_non_clean"] == pytest.approx(0.8)
    table = P.format_table(recs)
    for name, text in P.COLUMNS:
        assert f"{name}: {text}" in table
    assert NON_CLEAN_NOTE.split(" = ", 1)[1] in table
    assert "shared by the arms: trained in 4.0 s" in table
    row = next(ln for ln in table.splitlines() if ln.startswith("ads+coreset "))
    assert row.split() == ["ads+coreset", "3", "0.300", "4.00", "1.0", "30"]


def test_plot_and_sources_on_gs(monkeypatch):
    be = install_memfs(monkeypatch)
    from ads_jax._files import atomic_write

    recs = _records()
    atomic_write("gs://b/runs/x/results.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    atomic_write("gs://b/runs/x/config.json", C.to_json(resolve_config("tiny")))
    (src,) = P.load_sources("gs://b/runs/x")
    assert src.label == "x" and src.run_dir == "gs://b/runs/x" and src.config is not None
    assert P.load_results("gs://b/runs/x") == recs
    out = P.plot_results([src], "gs://b/runs/x/curves.png")
    assert out == "gs://b/runs/x/curves.png"
    assert be.files()["gs://b/runs/x/curves.png"][:8] == PNG
    assert be.renames == 0


# ----------------------------------------------------------------------------
# ads-jax plot
# ----------------------------------------------------------------------------


def test_cli_plot_writes_only_into_a_run_directory_or_o(tmp_path, monkeypatch, capsys):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    a = _run_dir(tmp_path / "t2", _records())
    b = _run_dir(tmp_path / "t3", _records(shift=0.1))
    assert main(["plot", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "coreset [t3]" in out and "add -o FILE.png" in out
    assert os.listdir(work) == [] and not (a / "curves.png").exists()
    assert not (b / "curves.png").exists()

    assert main(["plot", str(a / "results.jsonl")]) == 0  # a file in a run directory
    assert "plot: " + str(a / "curves.png") in capsys.readouterr().out
    assert (a / "curves.png").read_bytes()[:8] == PNG

    loose = work / "x.jsonl"
    loose.write_text((a / "results.jsonl").read_text())
    assert main(["plot", str(loose)]) == 0
    assert "not in a run directory" in capsys.readouterr().out
    assert os.listdir(work) == ["x.jsonl"]

    assert main(["plot", str(a), str(b), "-o", str(tmp_path / "both.png")]) == 0
    assert (tmp_path / "both.png").read_bytes()[:8] == PNG
