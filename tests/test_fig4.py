"""Smoke test of ``experiments/paper/fig4_efficiency.py`` (Figure 4, selection time).

The ``tiny`` preset (built-in digits, nothing read from /work/shared) for one
method, one pool size: the embeddings are trained and cached, every cell
(``coreset`` alone, ``ads+coreset`` at both fractions) is timed in this
process, the outputs are well-formed, the fused program picks what the staged
path picks, a rerun skips every cell, and a deleted cell is recomputed alone,
in a worker process (the default mode), with its peak RSS.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _load():
    path = REPO / "experiments" / "paper" / "fig4_efficiency.py"
    spec = importlib.util.spec_from_file_location("fig4_efficiency_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_fig4_tiny_end_to_end_and_resume(tmp_path):
    f4 = _load()
    assert f4.PRESETS["paper"].sizes == (50_000, 100_000, 250_000, 500_000)
    assert (f4.PRESETS["paper"].budget, f4.PRESETS["paper"].dim) == (5000, 640)
    assert f4.PRESETS["paper"].fractions == (0.3, 0.1) and f4.PRESETS["paper"].labeled == 5000
    assert "/work/shared" not in f4.PRESETS["tiny"].data
    root, out = tmp_path / "root", tmp_path / "out"
    argv = ["--preset", "tiny", "--sizes", "1000", "--methods", "coreset", "--root", str(root),
            "--out", str(out), "--quiet"]
    first = f4.main(argv + ["--in-process"])
    cells = {c["cell"]: c for c in first["cells"]}
    assert set(cells) == {"1000__coreset", "1000__ads_plus_coreset__f0.3",
                          "1000__ads_plus_coreset__f0.1"}
    for c in cells.values():
        assert c["status"] == "measured" and c["size"] == 1000
        assert c["fused_same_picks"], c["cell"]
        assert c["staged"]["total"] > 0 and c["fused"] > 0 and c["fused_compile"] > 0
        assert c["memory"]["peak_rss_bytes"] > c["memory"]["input_bytes"] > 0
        assert c["memory"]["pool_x_budget_float32_bytes"] == 4 * 1000 * 20
    alone, ads = cells["1000__coreset"], cells["1000__ads_plus_coreset__f0.3"]
    assert alone["candidates"] == 1000 and ads["candidates"] == 300
    assert alone["staged"]["valuation"] == 0.0 and ads["staged"]["valuation"] > 0
    assert cells["1000__ads_plus_coreset__f0.1"]["candidates"] == 100
    sp = [r for r in first["speedups"] if r["method"] == "coreset"]
    assert {r["fraction"] for r in sp} == {0.3, 0.1}
    for r in sp:
        assert math.isclose(r["speedup_staged"], r["alone_staged"] / r["ads_staged"])
    js = json.loads((out / "fig4_efficiency_tiny.json").read_text())
    assert js["embeddings"]["feature_dim"] == 64 and js["config"]["dim"] == 128
    rows = list(csv.DictReader(open(out / "fig4_efficiency_tiny.csv")))
    assert len(rows) == 3 and {r["arm"] for r in rows} == {"coreset", "ads+coreset"}
    md = (out / "fig4_efficiency_tiny.md").read_text()
    assert "| 1,000 | `ads+coreset` | 0.3 | 300 |" in md and "| coreset | 1,000 |" in md
    png = (out / "fig4_efficiency_tiny.png").read_bytes()
    assert png[:8] == PNG and len(png) < 400_000

    cell_dir = root / "cells"
    mtimes = {p.name: p.stat().st_mtime_ns for p in cell_dir.iterdir()}
    second = f4.main(argv + ["--in-process"])  # resumes: nothing recomputed
    assert {p.name: p.stat().st_mtime_ns for p in cell_dir.iterdir()} == mtimes
    assert [c["staged"] for c in second["cells"]] == [c["staged"] for c in first["cells"]]

    (cell_dir / "1000__ads_plus_coreset__f0.1.json").unlink()
    third = f4.main(argv)  # the one missing cell, in a worker process
    new = {c["cell"]: c for c in third["cells"]}
    assert new["1000__coreset"]["staged"] == alone["staged"]
    redo = new["1000__ads_plus_coreset__f0.1"]
    assert redo["status"] == "measured" and redo["fused_same_picks"]
    assert redo["memory"]["peak_rss_bytes"] > 0 and redo["cell_wall_seconds"] > 0
