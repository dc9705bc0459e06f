"""Memory-mapped data copies (per-host data of multi-process runs): round trip, per-host
builds from them, keys, and corrupt copies."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ads_jax.data import DataFileError, ScenarioConfig, build_scenario, load_scenario_datasets
from ads_jax.data.mapped import mapped_path, read_mapped, write_mapped

from ._helpers import assert_scenarios_equal, make_ds


def test_round_trip_is_memory_mapped_and_builds_the_same_scenarios(tmp_path, monkeypatch,
                                                                    digits):
    monkeypatch.setenv("ADS_JAX_MAPPED_DIR", str(tmp_path))
    cfg = ScenarioConfig(kind="noisy", initial_labeled=20, val_size=100, pool_size=300)
    plain = load_scenario_datasets(cfg)
    mapped = load_scenario_datasets(cfg, mapped=True)  # writes the copy, then reads it
    again = load_scenario_datasets(cfg, mapped=True)   # reads it
    (copy,) = os.listdir(tmp_path)
    for ds in (mapped["digits"], again["digits"]):
        assert isinstance(ds.x_train.base, np.memmap) and not ds.x_train.flags.writeable
        for a in ("x_train", "y_train", "x_test", "y_test", "class_names"):
            np.testing.assert_array_equal(getattr(ds, a), getattr(digits, a), err_msg=a)
    full = build_scenario(cfg, 3, datasets=plain)
    assert_scenarios_equal(build_scenario(cfg, 3, datasets=again), full)
    part = build_scenario(cfg, 3, datasets=again, rows=lambda p: np.arange(1, p, 4))
    np.testing.assert_array_equal(part.x_pool[part.x_pool.rows], full.x_pool[part.x_pool.rows])


def test_keys_follow_the_source_file_and_corrupt_copies_are_refused(tmp_path):
    ds = make_ds(n_train=40, n_test=10)
    src = tmp_path / "d.npz"
    ds.save_npz(src)
    key = mapped_path(f"npz:{src}", root=tmp_path / "m")
    assert mapped_path(f"npz:{src}", root=tmp_path / "m") == key
    assert mapped_path(f"npz:{src}", data_dir="/x", root=tmp_path / "m") != key
    ds.save_npz(tmp_path / "other.npz")
    os.replace(tmp_path / "other.npz", src)  # a changed file: another size or mtime
    os.utime(src, ns=(1, 1))
    assert mapped_path(f"npz:{src}", root=tmp_path / "m") != key
    d = tmp_path / "copy"
    assert read_mapped(d) is None
    write_mapped(ds, d)
    got = read_mapped(d)
    np.testing.assert_array_equal(got.x_train, ds.x_train)
    np.testing.assert_array_equal(got.y_test, ds.y_test)
    # A truncated image file, and a meta.json that does not match the arrays.
    raw = (d / "x_train.npy").read_bytes()
    (d / "x_train.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="Delete that directory"):
        read_mapped(d)
    write_mapped(ds, d)
    meta = json.loads((d / "meta.json").read_text())
    meta["arrays"]["y_train"]["shape"] = [39]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataFileError, match="y_train.npy"):
        read_mapped(d)
