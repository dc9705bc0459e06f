"""Smoke test of ``experiments/paper/fig4_efficiency.py`` (Figure 4, selection time).

The ``tiny`` preset (built-in digits, nothing read from /work/shared) for one
method, one pool size (the session's ``fig4_tiny``, conftest.py): the
embeddings are trained and cached, every cell (``coreset`` alone,
``ads+coreset`` at both fractions) is timed in this process, the outputs are
well-formed, the profiled stages pick what the one program picks, a rerun
skips every cell, a deleted cell is recomputed alone, in a worker process,
with its peak RSS, and a cell file of the earlier script version (staged /
fused paths) is never reused.
"""

from __future__ import annotations

import csv
import json
import math

from experiments.paper import fig4_efficiency as f4

PNG = b"\x89PNG\r\n\x1a\n"


def test_presets():
    assert f4.PRESETS["paper"].sizes == (50_000, 100_000, 250_000, 500_000)
    assert (f4.PRESETS["paper"].budget, f4.PRESETS["paper"].dim) == (5000, 640)
    assert f4.PRESETS["paper"].fractions == (0.3, 0.1) and f4.PRESETS["paper"].labeled == 5000
    assert f4.PRESETS["paper"].methods == f4.METHODS and not f4.PRESETS["paper"].in_process
    assert "/work/shared" not in f4.PRESETS["tiny"].data
    assert f4.PRESETS["tiny"].in_process  # tiny: no worker processes


def test_fig4_tiny_end_to_end_and_resume(fig4_tiny):
    root, out, argv = fig4_tiny.root, fig4_tiny.out, fig4_tiny.argv
    first = fig4_tiny.first
    cells = {c["cell"]: c for c in first["cells"]}
    assert set(cells) == {"1000__coreset", "1000__ads_plus_coreset__f0.3",
                          "1000__ads_plus_coreset__f0.1"}
    for c in cells.values():
        assert c["status"] == "measured" and c["size"] == 1000
        assert c["stages_same_picks"], c["cell"]
        assert c["stages"]["total"] > 0 and c["program_seconds"] > 0
        assert c["program_compile_seconds"] > 0 and c["program_first_call_seconds"] > 0
        assert c["program_seconds"] == sorted(c["program_calls_seconds"])[
            len(c["program_calls_seconds"]) // 2]
        assert math.isclose(c["stages"]["total"], sum(c["stages"][s] for s in f4.STAGES))
        assert c["memory"]["peak_rss_bytes"] > c["memory"]["input_bytes"] > 0
        assert c["memory"]["pool_x_budget_float32_bytes"] == 4 * 1000 * 20
    alone, ads = cells["1000__coreset"], cells["1000__ads_plus_coreset__f0.3"]
    assert alone["candidates"] == 1000 and ads["candidates"] == 300
    assert alone["stages"]["valuation"] == 0.0 and ads["stages"]["valuation"] > 0
    assert cells["1000__ads_plus_coreset__f0.1"]["candidates"] == 100
    sp = [r for r in first["speedups"] if r["method"] == "coreset"]
    assert {r["fraction"] for r in sp} == {0.3, 0.1}
    for r in sp:
        assert math.isclose(r["speedup_stages"], r["alone_stages"] / r["ads_stages"])
        assert math.isclose(r["speedup"], r["alone_program"] / r["ads_program"])
    js = json.loads((out / "fig4_efficiency_tiny.json").read_text())
    assert js["embeddings"]["feature_dim"] == 64 and js["config"]["dim"] == 128
    assert set(js["measures"]) >= {"program_seconds", "stages", "speedup", "speedup_stages"}
    assert js["old_cells_ignored"] == []
    rows = list(csv.DictReader(open(out / "fig4_efficiency_tiny.csv")))
    assert len(rows) == 3 and {r["arm"] for r in rows} == {"coreset", "ads+coreset"}
    assert {"program_seconds", "program_compile_seconds", "stage_valuation_seconds",
            "stage_total_seconds"} <= set(rows[0])
    md = (out / "fig4_efficiency_tiny.md").read_text()
    assert "| 1,000 | `ads+coreset` | 0.3 | 300 |" in md and "| coreset | 1,000 |" in md
    png = (out / "fig4_efficiency_tiny.png").read_bytes()
    assert png[:8] == PNG and len(png) < 400_000

    cell_dir = root / "cells"
    mtimes = {p.name: p.stat().st_mtime_ns for p in cell_dir.iterdir()}
    second = f4.main(argv)  # resumes: nothing recomputed
    assert {p.name: p.stat().st_mtime_ns for p in cell_dir.iterdir()} == mtimes
    assert [c["stages"] for c in second["cells"]] == [c["stages"] for c in first["cells"]]

    # a cell file of the earlier script version (staged / fused): never reused
    old_path = cell_dir / "1000__ads_plus_coreset__f0.3.json"
    kept = old_path.read_bytes()
    old = dict(cells["1000__ads_plus_coreset__f0.3"], staged={"total": 1.0}, fused=1.0)
    old["config"] = {k: v for k, v in old["config"].items() if k != "cell_version"}
    old_path.write_text(json.dumps(old))
    collected = f4.main(argv + ["--no-run"])
    assert [c["cell"] for c in collected["cells"]] == ["1000__coreset",
                                                       "1000__ads_plus_coreset__f0.1"]
    assert collected["old_cells_ignored"] == [str(old_path)]
    old_path.write_bytes(kept)

    (cell_dir / "1000__ads_plus_coreset__f0.1.json").unlink()
    worker_argv = [a for a in argv if a != "--in-process"] + ["--no-in-process"]
    third = f4.main(worker_argv)  # the one missing cell, in a worker process
    new = {c["cell"]: c for c in third["cells"]}
    assert new["1000__coreset"]["stages"] == alone["stages"]
    assert new["1000__ads_plus_coreset__f0.3"]["stages"] == ads["stages"]
    redo = new["1000__ads_plus_coreset__f0.1"]
    assert redo["status"] == "measured" and redo["stages_same_picks"]
    assert redo["config"]["cell_version"] == f4.CELL_VERSION and redo["candidates"] == 100
    assert redo["memory"]["peak_rss_bytes"] > 0 and redo["cell_wall_seconds"] > 0
