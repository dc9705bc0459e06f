"""The ``ads-jax`` command: demo end to end (tiny), run/plot/config, clean user errors."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.configs import load as load_config
from ads_jax.configs import available as available_configs

from ads_jax.experiment import ExperimentConfig
from ads_jax.cli import SMOKE_TEST_NOTE, main

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


# ----------------------------------------------------------------------------
# What a new user meets: usage, list, messages, the README run in order.
# ----------------------------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
QUICK = ["--quiet", "train.epochs=1", "loop.rounds=1"]


def _commands(block: str) -> list[list[str]]:
    """The ``ads-jax ...`` commands of a bash block (continuations joined, comments cut)."""
    text = block.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith("ads-jax "):
            out.append(shlex.split(line)[1:])
    return out


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_run_usage_says_overrides_are_optional(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "required: CONFIG" in err
    assert not any("required" in ln and "FIELD=VALUE" in ln for ln in err.splitlines())
    assert "CONFIG [FIELD=VALUE ...]" in err  # the usage line shows them as optional


def test_list_shows_variants_prefilters_and_models(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    from ads_jax.acquisition import available_prefilters
    from ads_jax.configs import variants
    from ads_jax.models import available_models

    lines = out.splitlines()
    for name in available_configs():
        row = next(ln for ln in lines if ln.split()[:1] == [name])
        assert row.split(None, 1)[1] == ", ".join(v or "(default)" for v in variants(name))
    assert "paper_noisy" in out and "cpu_ours" in out
    pre = next(ln for ln in lines if ln.startswith("pre-filters:"))
    assert pre.split(":", 1)[1].strip() == ", ".join(available_prefilters())
    models = next(ln for ln in lines if ln.startswith("models:"))
    assert models.split(":", 1)[1].strip() == ", ".join(available_models())


@pytest.mark.parametrize("argv, words, cause", [
    (["run", "tiny", "loop.seeds=[a]"], ["`loop.seeds[0]` must be an integer, got str 'a'",
                                         "loop.seeds=[0,1,2]"], None),
    (["config", "BADFILE", "train.epochs=1"], ["bad.py, line 3: ZeroDivisionError"],
     ZeroDivisionError),
    (["run", "BADFILE"], ["bad.py, line 3: ZeroDivisionError"], ZeroDivisionError),
])
def test_new_user_errors_are_one_line(argv, words, cause, tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text('"""A config with a bug."""\ndef get_config(arg=""):\n    return 1 / 0\n')
    argv = [str(bad) if a == "BADFILE" else a for a in argv]
    assert main([*argv, "--out-dir", str(tmp_path / "r")] if argv[0] == "run" else argv) == 1
    line = _err_line(capsys)
    for w in words:
        assert w in line
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError) as e:  # --debug: the traceback, with the original cause
        main([*argv, "--debug"])
    if cause is not None:
        assert isinstance(e.value.__cause__, cause)


def test_readme_config_file_example_works(tmp_path, monkeypatch, capsys):
    (block,) = [b for b in _blocks("python") if b.startswith("# my_experiment.py")]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_experiment.py").write_text(block)
    from ads_jax.configs import variants

    assert variants("my_experiment.py") == ("", "small")
    full, small = resolve_config("my_experiment.py"), resolve_config("my_experiment.py:small")
    assert full.loop.seeds == (0, 1, 2) and small.loop.out_dir == "runs/my_experiment_small"
    cmds = [c for b in _blocks("bash") for c in _commands(b) if "my_experiment.py:small" in c]
    assert ["run", "my_experiment.py:small"] in cmds
    assert main(["run", "my_experiment.py:small", "--no-plot", *QUICK]) == 0
    assert "ads+coreset" in capsys.readouterr().out
    with open(tmp_path / "runs" / "my_experiment_small" / "results.jsonl") as f:
        assert len(f.readlines()) == 2 * 2  # 2 arms x rounds 0, 1


def test_readme_import_examples_run_in_order(tmp_path, monkeypatch, capsys):
    """The `--import` block of the README, run as written in a fresh directory (with the
    repository's docs/), only made quick: a second run must not meet the first's directory."""
    (block,) = [b for b in _blocks("bash") if "--import docs/examples" in b]
    cmds = _commands(block)
    assert len(cmds) == 3 and [c[0] for c in cmds] == ["run", "run", "list"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").symlink_to(REPO / "docs")
    outs = []
    for cmd in cmds:
        extra = QUICK if cmd[0] == "run" else []
        assert main([*cmd, *extra]) == 0, capsys.readouterr().err
        outs.append(capsys.readouterr().out)
    dirs = [pathlib.Path(c[c.index("--out-dir") + 1]) for c in cmds[:2]]
    assert len(set(dirs)) == 2
    for d in dirs:
        with open(d / "results.jsonl") as f:
            assert {json.loads(ln)["arm"] for ln in f} == {"ads+coreset", "coreset"}
    for out in outs[:2]:
        assert SMOKE_TEST_NOTE in out  # tiny says it is a smoke test
        assert "shared by the arms" in out  # and the table says round 0 is shared
    assert "kernel" in next(ln for ln in outs[2].splitlines() if ln.startswith("estimators:"))


def test_readme_sweep_example_parses(tmp_path, monkeypatch, capsys):
    (block,) = [b for b in _blocks("bash") if "ads-jax sweep run" in b]
    run_cmd = next(c for c in _commands(block) if c[:2] == ["sweep", "run"])
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "list", *run_cmd[2:], "--format", "json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 * 2 * 3 and {r["status"] for r in rows} == {"todo"}
