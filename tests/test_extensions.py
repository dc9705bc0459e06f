"""Extension points end to end: a valuation variant and a value estimator registered
from outside the package (the docs examples), checked by brute force and run through
the CLI on the ``tiny`` experiment; per-round artefacts; configs as code."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ads_jax import config_engine as C

from ads_jax.configs import resolve as resolve_config

from ads_jax.configs import load as load_config

from ads_jax.configs import available as available_configs

from ads_jax.experiment import ExperimentConfig
from ads_jax.cli import main
from ads_jax.plugins import import_user_modules
from ads_jax.rundir import iter_artefacts, load_artefacts
from ads_jax.valuation import build_valuation, knn_shapley
from ads_jax.valuation.testing import brute_force_values

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "examples")
VALUATION_EX = os.path.join(EXAMPLES, "rank_weighted_valuation.py")
ESTIMATOR_EX = os.path.join(EXAMPLES, "kernel_estimator.py")
# tiny with one arm and one acquisition round: seconds
QUICK = ["loop.rounds=1", "loop.arms=[ads+coreset]", "train.epochs=1", "--no-plot", "-q"]


@pytest.fixture(scope="module", autouse=True)
def registered():
    import_user_modules([VALUATION_EX, ESTIMATOR_EX])


def test_rank_weighted_variant_is_exact_by_brute_force(x64):
    rng = np.random.default_rng(0)
    worst = 0.0
    for n in (1, 2, 5, 7):
        tx, vx = rng.normal(size=(n, 2)), rng.normal(size=(3, 2))
        ty, vy = rng.integers(0, 2, n), rng.integers(0, 2, 3)
        dist = ((vx[:, None] - tx[None]) ** 2).sum(-1)
        for power in (0.0, 1.0, 2.5):
            for k in range(1, n + 3):
                for method in ("parallel", "scan"):
                    _, got = knn_shapley(tx, ty, vx, vy, num_classes=2, k=k,
                                         variant="rank_weighted", options={"power": power},
                                         method=method, return_matrix=True)
                    want = brute_force_values("rank_weighted", dist, ty, vy, k=k, num_classes=2,
                                              options={"power": power})
                    worst = max(worst, float(np.abs(np.asarray(got) - want).max()))
    assert worst <= 1e-10, worst
    # power 0 is Jia et al.'s utility when K <= N
    tx, vx = rng.normal(size=(30, 3)), rng.normal(size=(8, 3))
    ty, vy = rng.integers(0, 3, 30), rng.integers(0, 3, 8)
    a = knn_shapley(tx, ty, vx, vy, num_classes=3, k=4, variant="rank_weighted",
                    options={"power": 0.0})
    b = knn_shapley(tx, ty, vx, vy, num_classes=3, k=4)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-14)


def _run(out, *args):
    rc = main(["run", "tiny", "--out-dir", str(out), "--import", VALUATION_EX,
               "--import", ESTIMATOR_EX, *QUICK, *args])
    assert rc == 0
    cfg = C.load_json(ExperimentConfig, out / "config.json")
    return cfg, load_artefacts(out, "ads+coreset", 0, 0)


def test_user_variant_and_estimator_run_the_loop_through_the_cli(tmp_path, capsys):
    cfg_j, jia = _run(tmp_path / "jia")
    cfg_0, rw0 = _run(tmp_path / "rw0", "acquisition.valuation.name=rank_weighted",
                      "acquisition.valuation.options.power=0")
    cfg_2, rw2 = _run(tmp_path / "rw2", "acquisition.valuation.name=rank_weighted",
                      "acquisition.valuation.options.power=2")
    assert cfg_2.acquisition.valuation.name == "rank_weighted"
    assert build_valuation(cfg_2.acquisition.valuation).options.power == 2.0
    # Same round-0 model and labeled set in all runs (same seed): the stage-1 values
    # are the variant's. power 0 with K=5 <= 10 labeled points is Jia's game.
    np.testing.assert_array_equal(jia["labeled"], rw2["labeled"])
    np.testing.assert_allclose(rw0["train_values"], jia["train_values"], atol=1e-6)
    assert np.abs(rw2["train_values"] - jia["train_values"]).max() > 1e-4
    # The user estimator: Nadaraya-Watson values are convex combinations of the
    # labeled values, and differ from the default KNN regression.
    cfg_k, kern = _run(tmp_path / "kernel", "acquisition.estimator.name=kernel",
                       "acquisition.estimator.options.bandwidth=0.5")
    assert cfg_k.acquisition.estimator.name == "kernel"
    tv, v = kern["train_values"], kern["values"]
    assert v.shape == kern["pool_index"].shape
    assert tv.min() - 1e-6 <= v.min() and v.max() <= tv.max() + 1e-6
    assert np.abs(v - jia["values"]).max() > 1e-4
    with open(tmp_path / "kernel" / "results.jsonl") as f:
        assert len(f.readlines()) == 2  # rounds 0 and 1
    # Unknown names and options fail at once, naming the field.
    capsys.readouterr()
    assert main(["run", "tiny", "--out-dir", str(tmp_path / "bad"),
                 "acquisition.estimator.name=nope"]) == 1
    assert "estimator" in capsys.readouterr().err
    assert main(["run", "tiny", "--out-dir", str(tmp_path / "bad"), "--import", ESTIMATOR_EX,
                 "acquisition.estimator.name=kernel",
                 "acquisition.estimator.options.width=3"]) == 1
    err = capsys.readouterr().err
    assert "width" in err and "bandwidth" in err
    assert not (tmp_path / "bad").exists()


def test_artefacts_match_the_records_and_checkpoints(tmp_path):
    from ads_jax.loop import load_state, run_experiment

    cfg = resolve_config("tiny", [f"loop.out_dir={tmp_path}", "train.epochs=1"])
    records = run_experiment(cfg)
    found = list(iter_artefacts(tmp_path))
    assert [(a, s, r) for a, s, r, _ in found] == [
        (a, 0, r) for a in ("ads_plus_coreset", "coreset") for r in range(cfg.loop.rounds)]
    for arm in cfg.arms:
        st = load_state(tmp_path, arm, 0)
        n0 = cfg.data.initial_labeled
        for r in range(cfg.loop.rounds):
            art = load_artefacts(tmp_path, arm, 0, r)
            rec = next(x for x in records if x["arm"] == arm and x["round"] == r)
            B = cfg.acquisition.budget
            lab = st["labeled"]
            np.testing.assert_array_equal(art["labeled"], lab[: n0 + r * B])
            np.testing.assert_array_equal(art["picked"], lab[n0 + r * B: n0 + (r + 1) * B])
            assert set(art["pool_index"]) == set(range(cfg.data.pool_size)) - set(art["labeled"])
            mask = art["preselect_mask"]
            assert mask.dtype == bool and int(mask.sum()) == rec["preselected"]
            local = np.searchsorted(art["pool_index"], art["picked"])
            assert mask[local].all()  # every pick was a candidate
            if arm.startswith("ads+"):
                assert art["train_values"].shape == art["labeled"].shape
                v = art["values"]
                assert v.shape == art["pool_index"].shape and np.isfinite(v).all()
                # the candidates are the top-m of the predicted values
                m = int(mask.sum())
                order = np.argsort(-v, kind="stable")
                assert set(order[:m]) == set(np.flatnonzero(mask))
            else:
                assert "values" not in art and "train_values" not in art and mask.all()
    with pytest.raises(FileNotFoundError, match="Saved"):
        load_artefacts(tmp_path, "coreset", 0, 7)
    bad = found[0][3]
    with open(bad, "wb") as f:
        f.write(b"not a zip")
    with pytest.raises(ValueError, match="corrupt"):
        load_artefacts(tmp_path, "ads+coreset", 0, 0)


def test_configs_as_code(tmp_path):
    assert {"demo", "tiny", "fashion_mnist_noisy", "cifar10_noisy"} <= set(available_configs())
    with pytest.raises(ValueError, match="variant"):
        resolve_config("tiny:nope")
    with pytest.raises(ValueError, match="Built-in configs"):
        resolve_config("no_such_experiment")
    p = tmp_path / "my_exp.py"
    p.write_text(
        "from ads_jax.configs import experiment, variant\n"
        "def get_config(arg=''):\n"
        "    return variant(arg, {'': lambda: experiment(train=dict(epochs=3)),\n"
        "                         'big': lambda: experiment(train=dict(epochs=30))},\n"
        "                   experiment_name='my_exp')\n")
    assert resolve_config(str(p)).train.epochs == 3
    assert resolve_config(f"{p}:big", ["train.epochs=31"]).train.epochs == 31
    with pytest.raises(FileNotFoundError):
        resolve_config(str(tmp_path / "missing.py"))
    # module form
    cfg = resolve_config("ads_jax.configs.tiny")
    assert cfg == load_config("tiny")


def test_selector_options_are_checked_when_the_config_resolves():
    with pytest.raises(ValueError, match=r"coreset.*foo.*Valid options: \['method', 'block_size'\]"):
        resolve_config("tiny", ["acquisition.selector.options.foo=1"])
    cfg = resolve_config("tiny", ["acquisition.selector.options.method=matvec"])
    assert dict(cfg.acquisition.selector.options) == {"method": "matvec"}
    with pytest.raises(ValueError, match="ads-top"):
        resolve_config("tiny", ["acquisition.arm=ads-top", "loop.arms=[]",
                                  "acquisition.selector.options.method=lazy"])
