"""Collecting a sweep (``ads_jax.sweep.collect``): paired statistics per grid point.

Job directories are written by hand (``job.json`` + ``results.jsonl`` with
known accuracies), so the comparison is checked against an independent
computation (``scipy.stats.ttest_rel`` intervals, NumPy trapezoids) without
training anything. The collect/CSV path on real runs is in ``test_jobs.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from ads_jax import stats
from ads_jax import sweep as S
from ads_jax.cli import main

SEEDS = (0, 1, 2, 3)
LABELED = (10, 20, 40)
# accuracy[point][arm][seed] per round: different per point, so mixing points would be caught.
RNG = np.random.default_rng(7)
ACC = {p: {a: {s: np.round(RNG.uniform(0.2, 0.9, len(LABELED)), 4) for s in SEEDS}
           for a in ("coreset", "ads+coreset", "random")} for p in ("0.5", "0.8")}


def _write_root(root):
    for p, arms in ACC.items():
        for arm, by_seed in arms.items():
            for s, acc in by_seed.items():
                name = f"sw__f={p}__{arm.replace('+', '_plus_')}__seed{s}"
                d = root / name
                d.mkdir(parents=True)
                (d / "job.json").write_text(json.dumps({
                    "version": 1, "name": name, "sweep": "sw", "spec": "tiny",
                    "point": {"f": p}, "overrides": [f"data.noise_fraction={p}"],
                    "arms": [arm], "seed": s}))
                recs = [{"arm": arm, "seed": s, "round": k, "labeled": lab,
                         "test_accuracy": float(acc[k]), "acquired": 10 * (k < 2)}
                        for k, lab in enumerate(LABELED)]
                (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return _write_root(tmp_path_factory.mktemp("sweep"))


def _expected(p, arm, base, quantity):
    def q(acc):
        if quantity == "final":
            return acc[-1]
        x = np.asarray(LABELED, float)
        return float(np.sum(np.diff(x) * (acc[1:] + acc[:-1]) / 2) / (x[-1] - x[0]))

    a = np.array([q(ACC[p][arm][s]) for s in SEEDS])
    b = np.array([q(ACC[p][base][s]) for s in SEEDS])
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    return float(np.mean(a - b)), float(ci.low), float(ci.high), float(a.mean()), float(b.mean())


def test_comparison_is_paired_by_seed_within_each_grid_point(root):
    records = S.collect(root)
    with pytest.raises(ValueError, match="two different runs"):
        stats.compare(records, baseline="coreset")  # the points mixed: refused
    rows = S.collect_comparison(root, baseline="coreset")
    assert rows == S.compare_records(records, baseline="coreset")
    assert [(r["point"], r["arm"], r["quantity"]) for r in rows] == [
        ({"f": p}, a, q) for p in ("0.5", "0.8") for a in ("ads+coreset", "random")
        for q in ("final", "area")]
    for r in rows:
        assert r["sweep"] == "sw" and r["baseline"] == "coreset" and r["n"] == len(SEEDS)
        assert r["seeds"] == list(SEEDS)
        mean, lo, hi, am, bm = _expected(r["point"]["f"], r["arm"], "coreset", r["quantity"])
        assert r["mean"] == pytest.approx(mean, abs=1e-12)
        assert (r["lo"], r["hi"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
        assert (r["arm_mean"], r["baseline_mean"]) == (pytest.approx(am), pytest.approx(bm))
        assert r["verdict"] == ("better" if lo > 0 else "worse" if hi < 0 else "level")


def test_comparison_errors_and_partial_groups(root, tmp_path):
    with pytest.raises(ValueError, match="'nosuch' has no records.*coreset"):
        S.collect_comparison(root, baseline="nosuch")
    with pytest.raises(ValueError, match="No records"):
        S.compare_records([], baseline="coreset")
    # a grid point without the baseline is left out, the other compared
    recs = [r for r in S.collect(root) if not (r["point"]["f"] == "0.8"
                                               and r["arm"] == "coreset")]
    rows = S.compare_records(recs, baseline="coreset")
    assert {r["point"]["f"] for r in rows} == {"0.5"}
    text = S.format_comparisons(rows)
    assert text.startswith("sweep sw, point f=0.5:") and "| ads+coreset | coreset |" in text


def test_cli_collect_compare(root, tmp_path, capsys):
    out, rows_json = tmp_path / "recs.csv", tmp_path / "cmp.json"
    assert main(["sweep", "collect", str(root), "--compare", "coreset", "-o", str(out),
                 "--compare-output", str(rows_json)]) == 0
    cap = capsys.readouterr()
    expected = S.collect_comparison(root, baseline="coreset")
    assert cap.out == S.format_comparisons(expected)  # records to a file: the table to stdout
    assert json.loads(rows_json.read_text()) == json.loads(json.dumps(expected))
    assert out.read_text() == S.records_to_csv(S.collect(root))
    # records to stdout (JSON lines, unchanged); the table to stderr
    assert main(["sweep", "collect", str(root), "--compare", "random",
                 "--metric", "test_accuracy"]) == 0
    cap = capsys.readouterr()
    assert [json.loads(ln) for ln in cap.out.splitlines()] == S.collect(root)
    assert cap.err == S.format_comparisons(S.collect_comparison(root, baseline="random"))
    assert main(["sweep", "collect", str(root), "--compare", "nosuch", "-o",
                 str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ads-jax sweep: error: Baseline arm 'nosuch'")
    assert not (tmp_path / "x.json").exists()  # nothing written for a failed command
