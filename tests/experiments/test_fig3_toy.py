"""Smoke test of the Figure-3 toy experiment (``experiments/paper/fig3_toy.py``).

The ``tiny`` preset's run into a temporary directory (the session's
``fig3_tiny``, conftest.py): checks the JSON results (structure, ranges,
consistency with the per-seed files), the PNG, and that a rerun resumes
instead of recomputing (and that a changed seed file is redone).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.paper import fig3_toy


@pytest.fixture(scope="module")
def fig3():
    return fig3_toy


def _in01(v):
    return v is not None and 0.0 <= v <= 1.0


def test_presets_are_frozen_and_complete(fig3):
    assert set(fig3.PRESETS) == {"paper", "cpu", "tiny"}
    p = fig3.PRESETS["tiny"]
    with pytest.raises(Exception):
        p.budget = 3  # frozen dataclass
    for preset in fig3.PRESETS.values():
        assert preset.budget <= preset.n_pool - preset.n_initial
        assert 0 < preset.preselect_fraction <= 1 and len(preset.seeds) >= 2


def test_cli_rejects_bad_seeds(fig3):
    with pytest.raises(SystemExit):
        fig3.parse_args(["--preset", "tiny", "--seeds", "0,x"])
    with pytest.raises(SystemExit):
        fig3.parse_args(["--preset", "tiny", "--seeds", "1,1"])
    with pytest.raises(SystemExit):
        fig3.parse_args(["--preset", "nope"])


def test_tiny_run_outputs_and_resume(fig3, fig3_tiny):
    preset = fig3.PRESETS["tiny"]
    argv, tmp_path = fig3_tiny.argv, fig3_tiny.out
    out = fig3_tiny.first
    assert out["computed"] == [0, 1] and out["resumed"] == []

    # ---- summary JSON (a non-default preset: its own name, never fig3_toy.json)
    assert not (tmp_path / "fig3_toy.json").exists()
    summary = json.loads((tmp_path / "fig3_toy_tiny.json").read_text())
    assert summary["preset"] == "tiny" and summary["seeds"] == [0, 1]
    assert summary["config"] == fig3.run_config(preset)
    assert set(summary["methods"]) == set(fig3.METHODS + fig3.EXTRA_METHODS)
    for m, s in summary["methods"].items():
        acc = s["test_accuracy"]
        assert len(acc["per_seed"]) == 2 and all(_in01(v) for v in acc["per_seed"])
        assert acc["min"] <= acc["mean"] <= acc["max"] and acc["std"] >= 0
        assert all(_in01(v) for v in s["minority_test_accuracy"]["per_seed"])
    assert sorted(summary["ranking_by_mean_test_accuracy"]) == sorted(summary["methods"])
    sp = summary["spearman_tmc_vs_knn"]["per_seed"]
    assert all(v is None or -1.0 <= v <= 1.0 for v in sp)
    diag = summary["tmc_diagnostics"]
    assert diag["num_permutations"]["per_seed"] == [preset.tmc_permutations] * 2
    assert all(_in01(v) for v in diag["fraction_truncated"]["per_seed"])
    # efficiency up to the truncation tolerance
    for gap, full in zip(diag["efficiency_gap"]["per_seed"], diag["full_utility"]["per_seed"]):
        assert abs(gap) <= preset.tmc_truncation_tol * abs(full) + 1e-5

    # ---- per-seed files agree with the summary and are valid selections
    seed_files = {s: tmp_path / "fig3_toy_tiny" / f"seed_{s}.json" for s in (0, 1)}
    for i, (s, path) in enumerate(seed_files.items()):
        r = json.loads(path.read_text())
        assert r["seed"] == s and r["config"] == summary["config"]
        labeled = set(r["initial"]["labeled"])
        assert len(labeled) == preset.n_initial
        for m in fig3.METHODS + fig3.EXTRA_METHODS:
            rm = r["methods"][m]
            sel = rm["selected"]
            assert len(set(sel)) == preset.budget and not labeled & set(sel)
            assert all(0 <= j < preset.n_pool for j in sel)
            assert rm["test_accuracy"] == summary["methods"][m]["test_accuracy"]["per_seed"][i]
            if "candidates" in rm:
                assert set(sel) <= set(rm["candidates"])
                assert not labeled & set(rm["candidates"])
        assert len(r["values"]["tmc"]) == len(r["values"]["knn"]) == preset.n_initial
        assert np.all(np.isfinite(r["values"]["tmc"]))

    # ---- PNG
    png = (tmp_path / "fig3_toy_tiny.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(png) < 400_000

    # ---- rerun: resumed, files untouched
    before = {s: (p.stat().st_mtime_ns, p.read_bytes()) for s, p in seed_files.items()}
    again = fig3.main(argv)
    assert again["computed"] == [] and again["resumed"] == [0, 1]
    assert {s: (p.stat().st_mtime_ns, p.read_bytes()) for s, p in seed_files.items()} == before
    assert json.loads((tmp_path / "fig3_toy_tiny.json").read_text())["methods"] == \
        summary["methods"]

    # ---- a seed file from another config is recomputed; a new seed is computed
    r1 = json.loads(seed_files[1].read_text())
    r1["config"]["budget"] = preset.budget + 1
    seed_files[1].write_text(json.dumps(r1))
    third = fig3.main(["--preset", "tiny", "--results-dir", str(tmp_path), "--seeds", "0,1,2"])
    assert third["computed"] == [1, 2] and third["resumed"] == [0]
    redo, orig = json.loads(seed_files[1].read_bytes()), json.loads(before[1][1])
    redo.pop("elapsed_s"), orig.pop("elapsed_s")
    assert redo == orig  # deterministic for a seed
