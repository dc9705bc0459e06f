"""Proxy mode (ads_jax.proxy): backbones saved and loaded with their fingerprint, held-out
rows excluded from every split, the embedding cache (reused, invalidated by a change of the
backbone or the scenario, never read when corrupt), and a tiny proxy run through the CLI,
killed and resumed with the records of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import jax
import numpy as np
import pytest

from ads_jax.cli import main
from ads_jax.configs import resolve as resolve_config
from ads_jax.data import ScenarioConfig, build_scenario, load_dataset
from ads_jax.data.holdout import holdout_rows, holdout_spec, read_holdout
from ads_jax.models import ModelConfig, build_model_component
from ads_jax.proxy import embed_scenario, load_backbone, save_backbone
from ads_jax.rundir import read_results

HOLDOUT = 200


def _save(directory, seed=0, model=ModelConfig(depth=10, width=1), count=HOLDOUT):
    """An untrained WRN-10-1 as a backbone (a random feature map is enough to test the plumbing)."""
    ds = load_dataset("digits")
    module = build_model_component(model, ds.num_classes).module
    variables = module.init({"params": jax.random.key(seed)}, np.zeros((1, 8, 8, 1), np.float32))
    spec = holdout_spec(ds.y_train, count=count, seed=7, dataset="digits")
    save_backbone(directory, variables=variables, holdout=spec, model=model,
                  num_classes=ds.num_classes, feature_dim=64 * model.width)
    return load_backbone(directory)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("backbone") / "bb")


def _scenario(backbone, **kw):
    cfg = ScenarioConfig(**dict(dict(dataset="digits", kind="noisy", noise_fraction=0.5,
                                     initial_labeled=10, val_size=50, test_size=100,
                                     pool_size=200, backbone=backbone.directory), **kw))
    return cfg, build_scenario(cfg, 0)


def test_backbone_round_trip_fingerprint_and_corruption(backbone, tmp_path):
    again = load_backbone(backbone.directory)
    assert again.fingerprint == backbone.fingerprint
    jax.tree.map(np.testing.assert_array_equal, again.variables, backbone.variables)
    x = load_dataset("digits").x_test[:7]
    want = np.asarray(backbone.module.apply(backbone.variables, x.astype(np.float32) / 127.5 - 1,
                                            train=False)[1])
    np.testing.assert_allclose(backbone.embed(x), want, rtol=1e-5, atol=1e-6)
    # another initialisation is another backbone
    other = _save(tmp_path / "other", seed=1)
    assert other.fingerprint != backbone.fingerprint
    # edited parameters no longer match the recorded fingerprint
    meta = json.loads((tmp_path / "other" / "backbone.json").read_text())
    meta["params_sha256"] = "0" * 64
    (tmp_path / "other" / "backbone.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="fingerprint"):
        load_backbone(tmp_path / "other")
    (tmp_path / "other" / "backbone.json").write_text("{cut")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_backbone(tmp_path / "other")
    with pytest.raises(FileNotFoundError):
        load_backbone(tmp_path / "nothing")


def test_user_flax_module_as_a_backbone(tmp_path):
    """Any Flax module, named by an importable factory, with its own variables."""
    fac = tmp_path / "my_backbone_mod.py"
    fac.write_text(
        "import flax.linen as nn, jax.numpy as jnp\n"
        "class Net(nn.Module):\n"
        "    dim: int\n"
        "    @nn.compact\n"
        "    def __call__(self, x, train=False):\n"
        "        f = nn.Dense(self.dim)(x.reshape((x.shape[0], -1)))\n"
        "        return nn.Dense(10)(f), f\n"
        "def make(dim):\n"
        "    return Net(dim)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import my_backbone_mod

        module = my_backbone_mod.make(5)
        variables = module.init(jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32))
        ds = load_dataset("digits")
        spec = holdout_spec(ds.y_train, count=0, seed=0, dataset="digits")
        save_backbone(tmp_path / "user", variables=variables, holdout=spec,
                      factory="my_backbone_mod:make", factory_kwargs={"dim": 5}, num_classes=10,
                      feature_dim=5)
        bb = load_backbone(tmp_path / "user")
        assert bb.embed(ds.x_test[:3]).shape == (3, 5)
        assert holdout_rows(read_holdout(tmp_path / "user")).size == 0
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(ValueError, match="exactly one"):
        save_backbone(tmp_path / "x", variables=variables, holdout=spec, num_classes=10,
                      feature_dim=5)


def test_held_out_rows_never_enter_a_split(backbone):
    cfg, sc = _scenario(backbone, val_source="train", test_source="train", test_size=100)
    held = set(holdout_rows(read_holdout(backbone.directory)).tolist())
    used = set(np.asarray(sc.origin_index)[np.asarray(sc.source) == 0].tolist())
    used |= set(np.asarray(sc.val_index).tolist()) | set(np.asarray(sc.test_index).tolist())
    assert len(held) == HOLDOUT and not (held & used)
    # another data set than the backbone's is refused
    with pytest.raises(ValueError, match="backbone"):
        build_scenario(ScenarioConfig(dataset="digits", backbone=backbone.directory,
                                      initial_labeled=10, val_size=50, pool_size=100),
                       0, datasets={"digits": _relabelled()})


def _relabelled():
    import dataclasses

    ds = load_dataset("digits")
    return dataclasses.replace(ds, y_train=(ds.y_train + 1) % 10)


def test_embedding_cache_reuse_invalidation_and_corruption(backbone, tmp_path):
    datasets = {"digits": load_dataset("digits")}
    cache = str(tmp_path / "cache")
    cfg, sc = _scenario(backbone)
    emb = embed_scenario(sc, backbone, datasets=datasets, cache_dir=cache)
    # the features are the backbone's embedding of the (corrupted) scenario images
    for a, b in (("x_pool", sc.x_pool), ("x_val", sc.x_val), ("x_test", sc.x_test)):
        np.testing.assert_allclose(getattr(emb, a), backbone.embed(b), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(emb.provenance, sc.provenance)
    np.testing.assert_array_equal(emb.y_pool, sc.y_pool)
    root = os.path.join(cache, backbone.fingerprint[:16])
    first = [f for f in os.listdir(root) if f.startswith("scenario-")]
    assert len(first) == 1
    path = os.path.join(root, first[0])
    # a second call reads the cache (no embedding)
    calls = []
    counting = backbone._replace(module=_Counting(backbone.module, calls))
    again = embed_scenario(sc, counting, datasets=datasets, cache_dir=cache)
    np.testing.assert_array_equal(again.x_pool, emb.x_pool)
    assert calls == []
    # another seed / scenario config / backbone -> another cache entry
    embed_scenario(build_scenario(cfg, 1), backbone, datasets=datasets, cache_dir=cache)
    _, sc2 = _scenario(backbone, noise_fraction=0.3)
    embed_scenario(sc2, backbone, datasets=datasets, cache_dir=cache)
    assert len([f for f in os.listdir(root) if f.startswith("scenario-")]) == 3
    other = _save(tmp_path / "other", seed=3)
    o = embed_scenario(sc, other, datasets=datasets, cache_dir=cache)
    assert not np.allclose(o.x_pool, emb.x_pool)
    # a corrupt cache file is never read: a warning, then it is recomputed and rewritten
    raw = open(path, "rb").read()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    for damage in (b"not an npz", bytes(flipped), raw[: len(raw) // 3]):
        with open(path, "wb") as f:
            f.write(damage)
        with pytest.warns(RuntimeWarning, match="corrupt or stale"):
            res = embed_scenario(sc, backbone, datasets=datasets, cache_dir=cache)
        np.testing.assert_allclose(res.x_pool, emb.x_pool, rtol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # rewritten whole: the next read is clean
            embed_scenario(sc, backbone, datasets=datasets, cache_dir=cache)


class _Counting:
    """A module wrapper counting apply calls (to show the cache was read)."""

    def __init__(self, module, calls):
        self._m, self._calls = module, calls

    def apply(self, *a, **kw):
        self._calls.append(1)
        return self._m.apply(*a, **kw)

    def __getattr__(self, name):
        return getattr(self._m, name)


CHILD = r'''
import sys
from ads_jax.cli import main
sys.exit(main(sys.argv[1:]))
'''


def _proxy_args(out, backbone, cache):
    return ["run", "tiny", "--out-dir", str(out), "--quiet", "model.name=linear",
            f"data.backbone={backbone.directory}", f"data.embedding_cache={cache}",
            "loop.rounds=3", "loop.arms=[ads+coreset]"]


def test_tiny_proxy_run_through_the_cli_killed_and_resumed(backbone, tmp_path):
    cache = tmp_path / "cache"
    ref = tmp_path / "ref"
    assert main(_proxy_args(ref, backbone, cache)) == 0
    want = [{k: v for k, v in r.items() if k != "time"} for r in read_results(ref / "results.jsonl")]
    assert [r["round"] for r in want] == [0, 1, 2, 3]
    assert all(0 <= r["test_balanced_accuracy"] <= 1 for r in want)
    # kill a second run once its first records are written, then rerun it
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *_proxy_args(out, backbone, cache)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        res = out / "results.jsonl"
        if res.exists() and len(res.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert main(_proxy_args(out, backbone, cache)) == 0
    got = [{k: v for k, v in r.items() if k != "time"} for r in read_results(out / "results.jsonl")]
    assert got == want
    # the features of a proxy config: a WRN on them is refused with a clear message
    cfg = resolve_config("tiny", [f"data.backbone={backbone.directory}",
                                  f"loop.out_dir={tmp_path / 'bad'}"])
    from ads_jax.loop import run_experiment

    with pytest.raises(ValueError, match="model.name=linear"):
        run_experiment(cfg)
