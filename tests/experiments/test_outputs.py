"""Published results are never overwritten: where the paper scripts write.

* every script declares the files a preset writes (``output_files(preset)``),
  and its tiny run (conftest.py, into a temporary results directory) writes
  exactly those -- so the declaration is the truth;
* for every preset but the ones the committed results were measured with
  (``paper``, ``cpu``), no declared file is a file tracked under
  ``experiments/results`` (``git ls-files``): ``--preset tiny`` with the default
  results directory cannot overwrite a published result;
* every script takes ``--results-dir`` (alias ``--out``), default
  ``experiments/results``;
* no script under ``experiments/`` edits ``sys.path``.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "experiments" / "results"
SCRIPTS = ("fig3_toy", "fig4_efficiency", "table1_first_round", "fig5_curves", "ablation_grid")
#: presets whose outputs are (or may be) the committed results.
PUBLISHED = ("paper", "cpu")


def _module(name):
    return importlib.import_module(f"experiments.paper.{name}")


def _presets(mod) -> tuple[str, ...]:
    presets = getattr(mod, "PRESETS", None)
    if isinstance(presets, dict):
        return tuple(presets)
    return tuple(importlib.import_module("experiments.paper._common").PRESETS)


@pytest.fixture(scope="module")
def tracked() -> set[str]:
    """Files tracked under experiments/results, relative to it."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "experiments/results"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = {Path(line).relative_to("experiments/results").as_posix()
             for line in out.splitlines() if line.strip()}
    assert files, "no tracked results: the check below would be vacuous"
    return files


def test_tiny_runs_write_exactly_their_declared_files(tiny_runs):
    for name, run in tiny_runs.items():
        declared = set(run.module.output_files("tiny"))
        assert run.files == declared, name


@pytest.mark.parametrize("name", SCRIPTS)
def test_unpublished_presets_never_name_a_tracked_file(name, tracked):
    mod = _module(name)
    presets = _presets(mod)
    assert "tiny" in presets
    for preset in presets:
        files = mod.output_files(preset)
        assert files and len(set(files)) == len(files), (name, preset)
        if preset in PUBLISHED:
            continue
        clash = set(files) & tracked
        assert not clash, f"{name} --preset {preset} would overwrite {sorted(clash)}"
        dirs = {f.split("/", 1)[0] for f in files if "/" in f}
        assert not {t for t in tracked if t.split("/", 1)[0] in dirs}, (name, preset)


def test_the_committed_results_keep_their_names(tracked):
    """Every committed result of a paper script is a file its ``cpu`` preset (the one
    they were measured with) still writes, under the same name."""
    for name in SCRIPTS:
        mine = {f for f in tracked if f.startswith((name + "_", name + "."))}
        assert mine, name
        assert mine <= set(_module(name).output_files("cpu")), name


@pytest.mark.parametrize("name", SCRIPTS)
def test_results_dir_option(name):
    mod = _module(name)
    parse = getattr(mod, "parse_args", None)
    if parse is not None:  # fig3_toy and fig4_efficiency parse by themselves
        assert Path(parse([]).out) == RESULTS
        assert parse(["--results-dir", "/tmp/x"]).out == parse(["--out", "/tmp/x"]).out
        return
    common = importlib.import_module("experiments.paper._common")
    p = common.parser("x", name)
    assert Path(p.parse_args([]).out) == RESULTS
    assert p.parse_args(["--results-dir", "/tmp/x"]).out == Path("/tmp/x")


def test_no_sys_path_edits():
    offenders = []
    for path in (REPO / "experiments").rglob("*.py"):
        text = path.read_text()
        if re.search(r"sys\.path\s*(\.|\[|=|\+)", text):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders


def test_no_module_shadows_the_standard_library():
    names = {p.stem for p in (REPO / "experiments").rglob("*.py")}
    assert not names & set(sys.stdlib_module_names)
