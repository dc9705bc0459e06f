"""The result record: one definition, round trip, older records load, bad ones are named."""

from __future__ import annotations

import json

import pytest

from ads_jax.records import REQUIRED, TIME_FIELDS, Record, Times, non_clean_share
from ads_jax.rundir import ENVIRONMENT_NAME, record_environment


def test_round_trip_and_key():
    r = Record(arm="ads+coreset", seed=1, round=2, labeled=30, test_accuracy=0.5,
               test_balanced_accuracy=0.45, picked_provenance={"clean": 0.7, "noisy": 0.3},
               shared_training=False, processor="cpu", time=Times(training=1.0, selection=0.5))
    d = json.loads(json.dumps(r.to_dict()))
    assert Record.from_dict(d) == r and r.key == ("ads+coreset", 1, 2)
    assert list(d)[:5] == list(REQUIRED) and set(d["time"]) == set(TIME_FIELDS)
    assert non_clean_share(r.picked_provenance, ("noisy", "ood")) == pytest.approx(0.3)
    assert non_clean_share(None, ("noisy",)) is None


def test_records_of_earlier_versions_load():
    old = {"arm": "coreset", "seed": 0, "round": 1, "labeled": 20, "test_accuracy": 0.4,
           "val_accuracy": 0.41, "best_epoch": 3, "acquired": 10, "preselected": 100,
           "picked_provenance": None, "candidate_provenance": None, "pool_provenance": None,
           "time": {"training": 2.0, "inference": 0.1, "valuation": 0.0, "regression": 0.0,
                    "preselection": 0.0, "diversity": 0.02, "selection": 0.03,
                    "selection_first_call": 1.2, "selection_staged": 0.02}}
    r = Record.from_dict(old)
    assert r.time == Times(training=2.0, inference=0.1, selection=0.03)
    assert r.test_balanced_accuracy is None and r.processor is None


@pytest.mark.parametrize("bad, msg", [
    ([1, 2], "JSON object"),
    ({"arm": "a", "seed": 0, "round": 0, "labeled": 1}, "missing keys"),
    ({"arm": "a", "seed": 0.5, "round": 0, "labeled": 1, "test_accuracy": 0.1}, "seed"),
    ({"arm": 3, "seed": 0, "round": 0, "labeled": 1, "test_accuracy": 0.1}, "arm"),
    ({"arm": "a", "seed": 0, "round": 0, "labeled": 1, "test_accuracy": "x"}, "test_accuracy"),
    ({"arm": "a", "seed": 0, "round": 0, "labeled": 1, "test_accuracy": 0.1, "time": [1]},
     "time"),
])
def test_bad_records_are_named(bad, msg):
    with pytest.raises(ValueError, match=msg):
        Record.from_dict(bad, where="results.jsonl:7")


def test_environment_sessions_are_appended_and_survive_corruption(tmp_path):
    record_environment(tmp_path, {"processor": "A"})
    record_environment(tmp_path, {"processor": "B"})
    s = json.loads((tmp_path / ENVIRONMENT_NAME).read_text())
    assert [e["processor"] for e in s] == ["A", "B"] and all("started" in e for e in s)
    (tmp_path / ENVIRONMENT_NAME).write_text("{cut")
    record_environment(tmp_path, {"processor": "C"})
    assert [e["processor"] for e in json.loads((tmp_path / ENVIRONMENT_NAME).read_text())] == ["C"]
