"""Shared fixtures of the tests of ``experiments/``: each paper script's ``tiny``
preset runs ONCE per session into temporary directories, and every test that
needs a finished tiny run (its own script's checks, resuming, the output-name
checks of ``test_outputs.py``) reuses it.

The scripts are imported by their package name (``experiments.paper.<script>``;
the ``experiments`` package is installed with ads_jax). This folder has no
``__init__.py`` on purpose: as a package it would be imported under the name
``experiments`` and shadow the package under test.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
#: the paper scripts (module names under experiments.paper).
SCRIPTS = ("fig3_toy", "fig4_efficiency", "table1_first_round", "fig5_curves", "ablation_grid")


def script(name: str):
    """The module ``experiments.paper.<name>``."""
    return importlib.import_module(f"experiments.paper.{name}")


def files_under(d: Path) -> set[str]:
    """Every file under ``d``, as POSIX paths relative to ``d``."""
    return {p.relative_to(d).as_posix() for p in Path(d).rglob("*") if p.is_file()}


@dataclasses.dataclass
class TinyRun:
    """A finished tiny run of one script.

    Attributes:
      module: the script's module.
      argv: the command line of the run (``--results-dir`` = ``out``).
      out: the results directory (a temporary one).
      root: the sweep root / cells directory (None for fig3_toy).
      first: what ``main(argv)`` returned.
      files: the files in ``out`` right after the run (relative paths), before
        any test touched them.
    """

    module: Any
    argv: list[str]
    out: Path
    root: Path | None
    first: dict
    files: set[str]


def _run(tmp_path_factory, name: str, extra: list[str], *, with_root: bool = True) -> TinyRun:
    base = tmp_path_factory.mktemp(name)
    out, root = base / "out", (base / "root" if with_root else None)
    argv = ["--preset", "tiny", "--results-dir", str(out), *extra]
    if root is not None:
        argv += ["--root", str(root)]
    mod = script(name)
    first = mod.main(argv)
    return TinyRun(mod, argv, out, root, first, files_under(out))


@pytest.fixture(scope="session")
def fig3_tiny(tmp_path_factory) -> TinyRun:
    return _run(tmp_path_factory, "fig3_toy", ["--seeds", "0,1"], with_root=False)


@pytest.fixture(scope="session")
def fig4_tiny(tmp_path_factory) -> TinyRun:
    """One pool size, ``coreset`` alone and behind ADS at both fractions, in this process."""
    return _run(tmp_path_factory, "fig4_efficiency",
                ["--sizes", "1000", "--methods", "coreset", "--quiet", "--in-process"])


@pytest.fixture(scope="session")
def table1_tiny(tmp_path_factory) -> TinyRun:
    return _run(tmp_path_factory, "table1_first_round", ["--quiet"])


@pytest.fixture(scope="session")
def fig5_tiny(tmp_path_factory) -> TinyRun:
    return _run(tmp_path_factory, "fig5_curves", ["--quiet"])


@pytest.fixture(scope="session")
def ablation_tiny(tmp_path_factory) -> TinyRun:
    return _run(tmp_path_factory, "ablation_grid", ["--quiet"])


@pytest.fixture(scope="session")
def tiny_runs(fig3_tiny, fig4_tiny, table1_tiny, fig5_tiny, ablation_tiny) -> dict[str, TinyRun]:
    """Every paper script's finished tiny run, by script name."""
    return {"fig3_toy": fig3_tiny, "fig4_efficiency": fig4_tiny,
            "table1_first_round": table1_tiny, "fig5_curves": fig5_tiny,
            "ablation_grid": ablation_tiny}
