"""ads_jax.data.location: the user-level data directory and the missing-local-data error.

``$ADS_JAX_DATA_DIR`` is monkeypatched to directories in ``tmp_path``; no real
data files are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ads_jax import configs
from ads_jax.configs import resolve
from ads_jax.data import load_dataset, load_scenario_datasets
from ads_jax.data.location import ENV_VAR, LOCAL_FILES, data_dir, missing_local_data_error

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "my data"
    monkeypatch.setenv(ENV_VAR, str(home))
    return home


def test_default_is_a_user_level_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == str(tmp_path / ".cache" / "ads_jax" / "data")
    monkeypatch.setenv(ENV_VAR, "")  # empty: the default too
    assert data_dir() == str(tmp_path / ".cache" / "ads_jax" / "data")
    monkeypatch.setenv(ENV_VAR, "~/elsewhere")
    assert data_dir() == str(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "rel/data")
    assert data_dir() == str(tmp_path / "rel" / "data")


def test_configs_read_the_variable_when_built(data_home):
    assert configs.DATA_DIR == str(data_home)
    assert configs.CIFAR10_NPZ == str(data_home / "cifar10" / "cifar10.npz")
    assert configs.FASHION_MNIST_NPZ == str(data_home / "fashion_mnist" / "fashion_mnist.npz")
    d = resolve("paper_cheap10:cpu").data
    assert d.dataset == f"npz:{data_home / 'cifar10' / 'cifar10.npz'}"
    assert d.ood_dataset == f"npz:{data_home / 'fashion_mnist' / 'fashion_mnist.npz'}"
    assert resolve("paper_noisy:cpu").data.dataset == f"npz:{configs.fashion_mnist_npz()}"
    assert resolve("cifar10_noisy:cpu").data.dataset == f"npz:{configs.cifar10_npz()}"
    with pytest.raises(AttributeError):
        configs.NO_SUCH_NAME


def test_missing_files_name_the_directory_the_files_and_the_fix(data_home):
    cfg = resolve("paper_cheap10:cpu").data  # CIFAR-10 target + Fashion-MNIST OOD images
    with pytest.raises(FileNotFoundError) as info:
        load_scenario_datasets(cfg)
    msg = str(info.value)
    assert "\n" not in msg  # one line for the command line
    assert f"data directory '{data_home}'" in msg
    assert "'cifar10/cifar10.npz' (MISSING)" in msg
    assert "'fashion_mnist/fashion_mnist.npz' (MISSING)" in msg
    assert f"export {ENV_VAR}=/path/to/data" in msg and "default ~/.cache/ads_jax/data" in msg
    for info_ in LOCAL_FILES.values():
        assert info_.url in msg and f"load_dataset('{info_.tfds_name}')" in msg
    assert f".save_npz('{data_home / 'cifar10' / 'cifar10.npz'}')" in msg
    assert "data.dataset=npz:" in msg

    # one file present: it is listed as found, only the other one is explained
    r = np.random.default_rng(0)
    (data_home / "cifar10").mkdir(parents=True)
    np.savez(data_home / "cifar10" / "cifar10.npz",
             x_train=r.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8), y_train=np.arange(20) % 10,
             x_test=r.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8), y_test=np.arange(10))
    with pytest.raises(FileNotFoundError) as info:
        load_scenario_datasets(cfg)
    msg = str(info.value)
    assert "'cifar10/cifar10.npz' (found)" in msg
    assert "'fashion_mnist/fashion_mnist.npz' (MISSING)" in msg
    assert "load_dataset('cifar10')" not in msg and "load_dataset('fashion_mnist')" in msg


def test_loading_one_missing_local_file_directly(data_home, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(f"npz:{configs.cifar10_npz()}")
    msg = str(info.value)
    assert "npz file not found" in msg and f"'{data_home}'" in msg
    assert "'cifar10/cifar10.npz' (MISSING)" in msg
    # a file elsewhere: the plain message, no data-directory advice
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(f"npz:{tmp_path / 'other.npz'}")
    assert ENV_VAR not in str(info.value) and "Check the path" in str(info.value)


def test_missing_local_data_error_ignores_other_paths(data_home, tmp_path):
    assert missing_local_data_error([str(tmp_path / "x.npz"), "cifar100", ""]) is None
    (data_home / "mine").mkdir(parents=True)
    assert missing_local_data_error([str(data_home / "mine")]) is None
    err = missing_local_data_error([str(data_home / "mine" / "emb.npz"), str(data_home)])
    assert "'mine/emb.npz' (MISSING)" in str(err)
    assert f"copy it to '{data_home / 'mine' / 'emb.npz'}'" in str(err)


def test_cli_run_reports_the_missing_data_on_one_line(data_home, tmp_path, capsys):
    from ads_jax.cli import main

    rc = main(["run", "cifar10_noisy:cpu", "--out-dir", str(tmp_path / "run")])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ads-jax: error: ")
    assert str(data_home) in err[0] and "'cifar10/cifar10.npz' (MISSING)" in err[0]
    assert not (tmp_path / "run").exists()


def test_no_development_machine_paths_in_the_package():
    files = sorted((REPO / "ads_jax").rglob("*.py")) + [REPO / "README.md"]
    for f in files:
        text = f.read_text(encoding="utf-8")
        for bad in ("/work/shared", "../shared/"):
            assert bad not in text, f"{f.relative_to(REPO)} names {bad!r}"
