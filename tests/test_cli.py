"""The ``ads-jax`` command: demo end to end (tiny), run/plot/config, clean user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.configs import load as load_config

from ads_jax.experiment import ExperimentConfig
from ads_jax.cli import main

# The demo config shrunk to seconds: tiny pool, 1 epoch, 2 rounds, all 5 arms.
TINY_DEMO = [
    "data.initial_labeled=10", "data.val_size=50", "data.test_size=100", "data.pool_size=150",
    "train.epochs=1", "train.patience=none", "train.batch_size=32", "loop.rounds=2",
    "acquisition.budget=10", "acquisition.preselect.fraction=0.3",
]


def _err_line(capsys):
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ads-jax: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out


def test_demo_end_to_end_tiny(demo_run, capsys):
    rc = main(["demo", "--out-dir", str(demo_run), *TINY_DEMO])
    out, err = capsys.readouterr()
    assert rc == 0
    arms = load_config("demo").arms
    for arm in arms:
        assert arm in out
        assert f"[{arm} | seed 0] round 1/2" in err  # progress while it runs
    assert "test accuracy" in out and "select s" in out
    assert os.path.isfile(demo_run / "curves.png")
    with open(demo_run / "curves.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(demo_run / "results.jsonl") as f:
        recs = [json.loads(line) for line in f]
    assert len(recs) == len(arms) * 3
    assert {r["arm"] for r in recs} == set(arms)
    cfg = C.load_json(ExperimentConfig, demo_run / "config.json")
    assert cfg == resolve_config("demo", TINY_DEMO + [f"loop.out_dir={demo_run}"])

    # Running the same command again resumes a finished run: nothing is recomputed.
    before = (demo_run / "results.jsonl").read_text()
    assert main(["demo", "--out-dir", str(demo_run), "--no-plot", *TINY_DEMO]) == 0
    out2, err2 = capsys.readouterr()
    assert "round 1/2" not in err2
    assert (demo_run / "results.jsonl").read_text() == before
    assert out2.split("results:")[0].strip() == out.split("\nplot:")[0].strip()


def test_plot_and_config_commands(demo_run, tmp_path, capsys):
    if not (demo_run / "results.jsonl").exists():
        pytest.skip("needs the demo run")
    png = tmp_path / "p.png"
    assert main(["plot", str(demo_run / "results.jsonl"), "-o", str(png), "--title", "x"]) == 0
    out, _ = capsys.readouterr()
    assert "ads+coreset" in out and png.exists()
    assert main(["config", "demo", "train.epochs=2"]) == 0
    out, _ = capsys.readouterr()
    cfg = C.from_dict(ExperimentConfig, json.loads(out))
    assert cfg == resolve_config("demo", ["train.epochs=2"])


def test_run_with_json_config(tmp_path, capsys):
    cfg = resolve_config("tiny", ["loop.rounds=1", "loop.arms=[random]", "train.epochs=1"])
    C.save_json(cfg, tmp_path / "exp.json")
    rc = main(["run", str(tmp_path / "exp.json"), "--out-dir", str(tmp_path / "run"), "--quiet",
               "--no-plot"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "random" in out
    with open(tmp_path / "run" / "results.jsonl") as f:
        assert len(f.readlines()) == 2


@pytest.mark.parametrize("argv, words", [
    (["run", "tiny", "loop.arms=[ads+nosuch]"], ["nosuch", "selector"]),
    (["run", "tiny", "acquisition.arm=frobnicate", "loop.arms=[]"], ["frobnicate"]),
    (["run", "tiny", "acquisition.budget=100000"], ["budget", "pool"]),
    (["run", "tiny", "data.dataset=npz:/no/such/file.npz"], ["/no/such/file.npz"]),
    (["run", "tiny", "train.epochz=3"], ["train.epochz", "epochs"]),
    (["run", "tiny", "train.epochs=many"], ["train.epochs", "integer"]),
    (["run", "tiny", "notanoverride"], ["FIELD=VALUE"]),
    (["run", "no_such_config"], ["no_such_config"]),
    (["run", "/no/such/config.json"], ["/no/such/config.json"]),
    (["plot", "/no/such/results.jsonl"], ["/no/such/results.jsonl"]),
])
def test_user_errors_give_one_line_no_traceback(argv, words, tmp_path, capsys):
    rc = main([*argv[:2], "--out-dir", str(tmp_path / "r"), *argv[2:]] if argv[0] == "run"
              else argv)
    assert rc == 1
    line = _err_line(capsys)
    for w in words:
        assert w in line
    assert not (tmp_path / "r").exists()  # nothing written for a failed start


def test_dataset_that_needs_tensorflow(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    try:
        import tensorflow  # noqa: F401
        pytest.skip("TensorFlow is installed: preparing would download")
    except ImportError:
        pass
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    rc = main(["run", "tiny", "data.dataset=cifar10", f"data.data_dir={tmp_path / 'tfds'}",
               "--out-dir", str(tmp_path / "r")])
    assert rc == 1
    line = _err_line(capsys)
    assert "TensorFlow" in line


def test_debug_reraises(tmp_path):
    with pytest.raises(ValueError, match="epochz"):
        main(["--debug", "run", "tiny", "train.epochz=3"])
    with pytest.raises(ValueError, match="epochz"):
        main(["run", "tiny", "train.epochz=3", "--debug"])


def test_python_m_entry_point_errors_cleanly(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    p = subprocess.run(
        [sys.executable, "-m", "ads_jax", "run", "tiny", "loop.arms=[ads+nosuch]",
         "--out-dir", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("ads-jax: error: ")
    assert "nosuch" in p.stderr
    p = subprocess.run([sys.executable, "-m", "ads_jax"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 2 and "demo" in p.stderr
