"""ads_jax.data.scenario: config validation (dotted messages), splits, seed set,
determinism, pinned streams, label noise in the seed and validation sets,
and `load_scenario_datasets`."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from ads_jax.config_engine import from_dict, to_dict
from ads_jax.data import (
    DIGITS_TRAIN_SIZE,
    MISLABELED,
    NOISY,
    PROVENANCE,
    Dataset,
    PoolRows,
    Scenario,
    ScenarioConfig,
    build_scenario,
    count_from_fraction,
    load_scenario_datasets,
    scenario_dataset_names,
)

from ._helpers import SCENARIO_FIELDS, assert_scenarios_equal, make_ds, make_features


def test_val_from_train_is_held_out_of_pool(digits):
    cfg = ScenarioConfig(initial_labeled=20, val_size=100, val_source="train")
    sc = build_scenario(cfg, 1, datasets={"digits": digits})
    assert np.intersect1d(sc.val_index, sc.origin_index).size == 0
    np.testing.assert_array_equal(sc.x_val, digits.x_train[sc.val_index])
    assert sc.pool_size == DIGITS_TRAIN_SIZE - 100 and sc.x_test.shape[0] == 797


def test_balanced_seed_set_with_a_rare_class():
    y = np.r_[np.zeros(2), np.ones(50), np.full(50, 2), np.full(50, 3)].astype(int)
    ds = make_ds(y_train=y, C=4)
    sc = build_scenario(ScenarioConfig(dataset="s", initial_labeled=30, val_size=10), 0,
                        datasets={"s": ds})
    counts = np.bincount(sc.y_pool[sc.labeled_init], minlength=4)
    # class 0 gives all it has, the other 28 are spread evenly
    assert counts[0] == 2 and sorted(counts[1:].tolist()) == [9, 9, 10]
    assert counts.sum() == 30
    unb = build_scenario(ScenarioConfig(dataset="s", initial_labeled=30, val_size=10,
                                        balanced_init=False), 0, datasets={"s": ds})
    assert unb.labeled_init.size == 30


def test_scenario_determinism_and_seed_dependence(digits):
    cfg = ScenarioConfig(kind="noisy", initial_labeled=30, val_size=200, pool_size=300)
    a = build_scenario(cfg, 11, datasets={"digits": digits})
    b = build_scenario(cfg, 11, datasets={"digits": digits})
    assert_scenarios_equal(a, b)
    c = build_scenario(cfg, 12, datasets={"digits": digits})
    assert not np.array_equal(a.origin_index, c.origin_index)
    assert not np.array_equal(a.val_index, c.val_index)
    assert not np.array_equal(a.noise_std, c.noise_std)


def test_scenario_from_npz_name(tmp_path):
    ds = make_ds(n_train=80, n_test=17)
    p = tmp_path / "s.npz"
    np.savez(p, x_train=ds.x_train, y_train=ds.y_train, x_test_partial=ds.x_test,
             y_test_partial=ds.y_test)
    sc = build_scenario(ScenarioConfig(dataset=f"npz:{p}", initial_labeled=5, val_size=10), 0)
    assert sc.x_val.shape[0] == 10 and sc.x_test.shape[0] == 7 and sc.pool_size == 80


def test_config_json_round_trip():
    cfg = ScenarioConfig(dataset="cifar10", kind="domain_shift", initial_labeled=5000,
                         source_datasets=["cinic10:/d", "cifar10"], source_weights=[3, 1])
    assert cfg.source_datasets == ("cinic10:/d", "cifar10")  # lists normalised to tuples
    back = from_dict(ScenarioConfig, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg
    with pytest.raises(ValueError, match="Unknown ScenarioConfig"):
        from_dict(ScenarioConfig, {"datset": "digits"})
    assert PROVENANCE == ("clean", "noisy", "ood", "mislabeled", "source_domain")


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(kind="shifted"), ValueError, "kind"),
        (dict(noise_fraction=1.5), ValueError, "noise_fraction"),
        (dict(noise_fraction=-0.1), ValueError, "noise_fraction"),
        (dict(kind="cheap", mislabel_fraction=1.2), ValueError, "mislabel_fraction"),
        (dict(kind="cheap", mislabel_fraction=0.6, ood_fraction=0.6, ood_dataset="x"),
         ValueError, "exceeds 1"),
        (dict(kind="cheap", ood_fraction=0.2), ValueError, "ood_dataset"),
        (dict(kind="cheap"), ValueError, "mislabel_fraction"),
        (dict(mislabel_fraction=0.2), ValueError, "only used by kind='cheap'"),
        (dict(source_datasets=("a",)), ValueError, "only used by kind='domain_shift'"),
        (dict(kind="domain_shift"), ValueError, "source_datasets"),
        (dict(kind="domain_shift", source_datasets=("a", "b"), source_weights=(1,)),
         ValueError, "one weight per source"),
        (dict(initial_labeled=0), ValueError, "initial_labeled"),
        (dict(initial_labeled=2.5), TypeError, "initial_labeled"),
        (dict(initial_labeled=50, pool_size=50), ValueError, "pool_size"),
        (dict(noise_beta=(0, 1)), ValueError, "noise_beta"),
        (dict(noisy_initial=True), ValueError, "only used by kind='noisy'"),
        (dict(kind="noisy", noisy_initial=1), TypeError, "noisy_initial"),
        (dict(val_source="both"), ValueError, "val_source"),
    ],
)
def test_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ScenarioConfig(**kwargs)


def test_build_errors_for_sizes_beyond_the_data(digits):
    d = {"digits": digits}
    with pytest.raises(ValueError, match="val_size"):
        build_scenario(ScenarioConfig(val_size=797), 0, datasets=d)
    with pytest.raises(ValueError, match="test_size"):
        build_scenario(ScenarioConfig(val_size=500, test_size=298), 0, datasets=d)
    with pytest.raises(ValueError, match="initial_labeled"):
        build_scenario(ScenarioConfig(initial_labeled=1000), 0, datasets=d)
    with pytest.raises(ValueError, match="pool_size"):
        build_scenario(ScenarioConfig(pool_size=1001), 0, datasets=d)
    with pytest.raises(ValueError, match="seed"):
        build_scenario(ScenarioConfig(), -1, datasets=d)
    with pytest.raises(TypeError, match="cfg"):
        build_scenario({"dataset": "digits"}, 0, datasets=d)
    small_ood = make_ds("o", n_train=3, shape=(8, 8, 1))
    with pytest.raises(ValueError, match="OOD"):
        build_scenario(ScenarioConfig(kind="cheap", ood_dataset="o", ood_fraction=0.5,
                                      initial_labeled=10), 0, datasets={**d, "o": small_ood})
    with pytest.raises(ValueError, match="Unknown dataset"):
        build_scenario(ScenarioConfig(dataset="nonexistent"), 0)


def test_test_set_carved_from_the_train_split():
    from ads_jax.data import ScenarioConfig, build_scenario

    cfg = ScenarioConfig(dataset="digits", initial_labeled=10, val_size=50, test_size=100,
                         val_source="train", test_source="train", pool_size=300)
    sc = build_scenario(cfg, 0)
    assert sc.x_test.shape[0] == 100 and sc.x_val.shape[0] == 50 and sc.pool_size == 300
    pool_rows = set(sc.origin_index.tolist())
    test_rows, val_rows = set(sc.test_index.tolist()), set(sc.val_index.tolist())
    assert not pool_rows & test_rows and not pool_rows & val_rows and not test_rows & val_rows
    from ads_jax.data import load_digits

    ds = load_digits()
    np.testing.assert_array_equal(sc.x_test, ds.x_train[sc.test_index])  # from train
    again = build_scenario(cfg, 0)
    np.testing.assert_array_equal(again.test_index, sc.test_index)  # deterministic
    with pytest.raises(ValueError, match="test_size"):
        ScenarioConfig(dataset="digits", test_source="train")
    with pytest.raises(ValueError, match="test_source"):
        ScenarioConfig(dataset="digits", test_source="val")


# ----------------------------------------------------------------------------- streams


def test_spawn_keeps_the_first_children():
    """New stages add SeedSequence children after the first five; spawn(n)[:5] must give
    the same streams for every n >= 5 (what keeps existing scenarios unchanged)."""
    for seed in (0, 1, 12345, 2**40):
        ref = [np.random.default_rng(s).integers(0, 2**62, 8)
               for s in np.random.SeedSequence(seed).spawn(5)]
        for n in (6, 7, 11):
            got = [np.random.default_rng(s).integers(0, 2**62, 8)
                   for s in np.random.SeedSequence(seed).spawn(n)[:5]]
            for a, b in zip(ref, got):
                np.testing.assert_array_equal(a, b)


INDEX_FIELDS = ("y_pool", "provenance", "labeled_init", "y_val", "y_test", "y_true", "source",
                "origin_index", "val_index", "test_index")
ALL_FIELDS = INDEX_FIELDS + ("x_pool", "x_val", "x_test", "noise_std")


def _digest(sc, fields):
    h = hashlib.sha256()
    for f in fields:
        a = np.ascontiguousarray(getattr(sc, f))
        h.update(f.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


@pytest.fixture(scope="module")
def pinned_datasets(digits):
    r = np.random.default_rng(9)
    ood = Dataset("ood", r.integers(0, 256, (400, 8, 8, 1), dtype=np.uint8),
                  r.integers(0, 3, 400).astype(np.int32),
                  r.integers(0, 256, (10, 8, 8, 1), dtype=np.uint8),
                  r.integers(0, 3, 10).astype(np.int32), ("a", "b", "c"))
    return {"digits": digits, "ood": ood}


#: Digests of scenarios built by the code before the data layer was split into
#: plugins (commit 1659686). Pool / split / label arrays always; the float-derived
#: images (white noise, the shifted copy) only where they are plain copies, since
#: Beta draws and powers go through the platform's libm. A NumPy release that
#: changes its Generator streams would change them too (regenerate then).
PINNED = {
    "curated": (dict(initial_labeled=20, val_size=100, test_size=200, pool_size=300), 1,
                ALL_FIELDS, "bcb0b242cb95f6bf82f1a954"),
    "noisy": (dict(kind="noisy", noisy_initial=True, initial_labeled=20, val_size=100,
                   pool_size=300), 2, INDEX_FIELDS, "c95570b0b0fb7c4f8cf9c8a6"),
    "domain_shift": (dict(kind="domain_shift", source_datasets=("digits", "shifted:digits"),
                          source_weights=(1, 3), val_source="train", test_source="train",
                          test_size=100, val_size=50, pool_size=300, initial_labeled=10), 3,
                     INDEX_FIELDS, "3755f20a8d8d540fb9d950b3"),
    "cheap": (dict(kind="cheap", ood_dataset="ood", ood_fraction=0.2, mislabel_fraction=0.3,
                   initial_labeled=30, val_size=100, pool_size=400), 4, ALL_FIELDS,
              "0aae5bbb568fde3bb7c3a4c4"),
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_default_scenarios_are_unchanged(pinned_datasets, kind):
    kw, seed, fields, want = PINNED[kind]
    sc = build_scenario(ScenarioConfig(**kw), seed, datasets=pinned_datasets)
    assert _digest(sc, fields) == want
    explicit = build_scenario(ScenarioConfig(**kw, seed_label_noise=0.0, val_label_noise=0.0),
                              seed, datasets=pinned_datasets)
    assert_scenarios_equal(sc, explicit)
    np.testing.assert_array_equal(sc.y_val_true, sc.y_val)
    assert sc.val_flipped.dtype == bool and not sc.val_flipped.any()


# ----------------------------------------------------------------------------- per-host builds


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_per_host_builds_hold_exactly_the_rows_of_the_full_build(pinned_datasets, kind):
    """Two "processes" each build their half of the pool (rows interleaved, as a sharded
    pool's would not be, to stress the bookkeeping): every held row, the seed set
    included, equals the full build's (noise, OOD images, shifted copies), and every
    other array is the full build's."""
    kw, seed, _, _ = PINNED[kind]
    cfg = ScenarioConfig(**kw, seed_label_noise=0.2)
    full = build_scenario(cfg, seed, datasets=pinned_datasets)
    P = full.pool_size
    halves = [np.arange(0, P, 2), np.arange(1, P, 2)[::-1]]  # any order, as given
    got_rows = []
    for half in halves:
        part = build_scenario(cfg, seed, datasets=pinned_datasets, rows=lambda n, h=half: h)
        assert isinstance(part.x_pool, PoolRows) and part.x_pool.shape == full.x_pool.shape
        held = np.union1d(half, full.labeled_init)
        np.testing.assert_array_equal(part.x_pool.rows, held)
        np.testing.assert_array_equal(part.x_pool[held], full.x_pool[held])
        for f in set(SCENARIO_FIELDS) - {"x_pool"}:
            np.testing.assert_array_equal(getattr(part, f), getattr(full, f), err_msg=f)
        got_rows.append(held)
        other = np.setdiff1d(np.arange(P), held)[:3]
        with pytest.raises(KeyError, match="not held by this process"):
            part.x_pool[other]
        with pytest.raises(TypeError, match="PoolRows"):
            np.asarray(part.x_pool)
        part.x_pool.add(other, full.x_pool[other])  # e.g. gathered labeled rows
        np.testing.assert_array_equal(part.x_pool[np.sort(other)[::-1]],
                                      full.x_pool[np.sort(other)[::-1]])
    assert np.union1d(*got_rows).size == P
    with pytest.raises(ValueError, match="outside"):
        build_scenario(cfg, seed, datasets=pinned_datasets, rows=lambda n: [n])


# ----------------------------------------------------------------------------- label noise


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_label_noise_changes_only_the_chosen_rows(pinned_datasets, kind):
    kw, seed, _, _ = PINNED[kind]
    ref = build_scenario(ScenarioConfig(**kw), seed, datasets=pinned_datasets)
    sc = build_scenario(ScenarioConfig(**kw, seed_label_noise=0.3, val_label_noise=0.25), seed,
                        datasets=pinned_datasets)
    L, V = ref.labeled_init.size, ref.y_val.size
    # everything but the revealed seed labels, their provenance and the validation labels
    for f in set(SCENARIO_FIELDS) - {"y_pool", "provenance", "y_val"}:
        np.testing.assert_array_equal(getattr(sc, f), getattr(ref, f), err_msg=f)
    changed = np.flatnonzero(sc.y_pool != ref.y_pool)
    assert changed.size == count_from_fraction(0.3, L)
    assert np.isin(changed, ref.labeled_init).all()  # seed rows only
    np.testing.assert_array_equal(np.flatnonzero(sc.provenance != ref.provenance), changed)
    assert (sc.provenance[changed] == MISLABELED).all()
    assert np.all(sc.y_pool[changed] != sc.y_true[changed])  # never the true label
    assert sc.y_pool.min() >= 0 and sc.y_pool.max() < sc.num_classes
    # validation: exactly the flagged rows differ, and never to the true label
    np.testing.assert_array_equal(sc.y_val_true, ref.y_val)
    assert sc.val_flipped.sum() == count_from_fraction(0.25, V)
    np.testing.assert_array_equal(np.flatnonzero(sc.y_val != ref.y_val),
                                  np.flatnonzero(sc.val_flipped))
    assert sc.y_val.dtype == np.int32 and sc.y_val.max() < sc.num_classes


def test_label_noise_counts_round_half_up(digits):
    d = {"digits": digits}
    for L, f in ((37, 0.3), (3, 0.5), (10, 0.04), (10, 0.05), (10, 1.0)):
        sc = build_scenario(ScenarioConfig(initial_labeled=L, val_size=101, pool_size=300,
                                           seed_label_noise=f, val_label_noise=f), 0, datasets=d)
        k = int(np.floor(f * L + 0.5))
        assert (sc.provenance == MISLABELED).sum() == k, (L, f)
        assert sc.val_flipped.sum() == int(np.floor(f * 101 + 0.5)), (L, f)


def test_flipped_labels_are_uniform_over_the_other_classes(digits):
    sc = build_scenario(ScenarioConfig(initial_labeled=500, val_size=700, seed_label_noise=1.0,
                                       val_label_noise=1.0), 3, datasets={"digits": digits})
    C = 10
    for got, true in ((sc.y_val, sc.y_val_true),
                      (sc.y_pool[sc.labeled_init], sc.y_true[sc.labeled_init])):
        shift = np.bincount((got - true) % C, minlength=C)
        n = got.size
        assert shift[0] == 0 and shift.sum() == n
        expected = n / (C - 1)  # 55.6 (seed) / 77.8 (val) per other class
        # chi-square with 8 degrees of freedom: P(> 26.1) = 0.001
        chi2 = float(((shift[1:] - expected) ** 2 / expected).sum())
        assert chi2 < 26.1, (shift, chi2)


def test_seed_label_noise_on_a_noisy_seed_set(digits):
    base = dict(kind="noisy", noisy_initial=True, initial_labeled=40, val_size=100,
                pool_size=300)
    ref = build_scenario(ScenarioConfig(**base), 1, datasets={"digits": digits})
    sc = build_scenario(ScenarioConfig(**base, seed_label_noise=1.0), 1,
                        datasets={"digits": digits})
    seed = sc.labeled_init
    assert (sc.provenance[seed] == MISLABELED).all()  # the label defect is recorded ...
    np.testing.assert_array_equal(sc.noise_std, ref.noise_std)  # ... the noise still is
    assert (ref.provenance[seed] == NOISY).sum() > 0
    np.testing.assert_array_equal(sc.x_pool, ref.x_pool)
    unl = sc.unlabeled_mask()
    np.testing.assert_array_equal(sc.provenance[unl], ref.provenance[unl])


def test_label_noise_on_features_and_one_class():
    ds = make_features(n_train=120, n_test=50, d=3, C=4)
    sc = build_scenario(ScenarioConfig(dataset="f", initial_labeled=20, val_size=30,
                                       seed_label_noise=0.5, val_label_noise=0.5), 2,
                        datasets={"f": ds})
    assert (sc.provenance == MISLABELED).sum() == 10 and sc.val_flipped.sum() == 15
    assert sc.x_pool.dtype == np.float32
    one = Dataset("one", np.zeros((30, 2), np.float32), np.zeros(30, np.int32),
                  np.zeros((20, 2), np.float32), np.zeros(20, np.int32), ("only",))
    for field in ("seed_label_noise", "val_label_noise"):
        cfg = ScenarioConfig(dataset="one", initial_labeled=5, val_size=10, **{field: 0.2})
        with pytest.raises(ValueError, match=f"`data.{field}` > 0 needs at least 2 classes"):
            build_scenario(cfg, 0, datasets={"one": one})


def test_scenario_fills_the_validation_bookkeeping():
    sc = Scenario(x_pool=np.zeros((3, 2), np.float32), y_pool=np.zeros(3, np.int32),
                  provenance=np.zeros(3, np.int8), labeled_init=np.array([0], np.int32),
                  x_val=np.zeros((2, 2), np.float32), y_val=np.array([1, 0], np.int32),
                  x_test=np.zeros((1, 2), np.float32), y_test=np.zeros(1, np.int32),
                  num_classes=2, class_names=("a", "b"), y_true=np.zeros(3, np.int32),
                  noise_std=np.zeros(3, np.float32), source=np.zeros(3, np.int16),
                  origin_index=np.arange(3), val_index=np.arange(2), test_index=np.arange(1),
                  sources=("d",), config=ScenarioConfig(), seed=0)
    np.testing.assert_array_equal(sc.y_val_true, [1, 0])
    assert sc.val_flipped.tolist() == [False, False]


# ----------------------------------------------------------------------------- messages


@pytest.mark.parametrize("kwargs,exc,field", [
    (dict(dataset=""), TypeError, "data.dataset"),
    (dict(kind="shifted"), ValueError, "data.kind"),
    (dict(val_source="both"), ValueError, "data.val_source"),
    (dict(test_source="val"), ValueError, "data.test_source"),
    (dict(test_source="train"), ValueError, "data.test_size"),
    (dict(initial_labeled=0), ValueError, "data.initial_labeled"),
    (dict(val_size=0), ValueError, "data.val_size"),
    (dict(test_size=-1), ValueError, "data.test_size"),
    (dict(pool_size=50, initial_labeled=50), ValueError, "data.pool_size"),
    (dict(balanced_init=1), TypeError, "data.balanced_init"),
    (dict(noisy_initial=True), ValueError, "data.noisy_initial"),
    (dict(kind="noisy", noisy_initial=1), TypeError, "data.noisy_initial"),
    (dict(convert_images="yes"), TypeError, "data.convert_images"),
    (dict(noise_fraction=1.5), ValueError, "data.noise_fraction"),
    (dict(noise_beta=(0, 1)), ValueError, "data.noise_beta"),
    (dict(noise_scale=0), ValueError, "data.noise_scale"),
    (dict(source_datasets=(1,)), TypeError, "data.source_datasets"),
    (dict(kind="domain_shift", source_datasets=("a",), source_weights=(-1,)), ValueError,
     "data.source_weights"),
    (dict(kind="domain_shift"), ValueError, "data.source_datasets"),
    (dict(source_datasets=("a",)), ValueError, "data.source_datasets"),
    (dict(kind="cheap", ood_fraction=2), ValueError, "data.ood_fraction"),
    (dict(kind="cheap", mislabel_fraction=0.6, ood_fraction=0.6, ood_dataset="x"), ValueError,
     "data.mislabel_fraction"),
    (dict(kind="cheap", ood_fraction=0.2), ValueError, "data.ood_dataset"),
    (dict(kind="cheap", mislabel_fraction=0.1, ood_dataset=3), TypeError, "data.ood_dataset"),
    (dict(mislabel_fraction=0.2), ValueError, "data.mislabel_fraction"),
    (dict(seed_label_noise=1.5), ValueError, "data.seed_label_noise"),
    (dict(seed_label_noise=-0.1), ValueError, "data.seed_label_noise"),
    (dict(seed_label_noise="0.1"), TypeError, "data.seed_label_noise"),
    (dict(val_label_noise=2.0), ValueError, "data.val_label_noise"),
    (dict(val_label_noise=float("nan")), ValueError, "data.val_label_noise"),
])
def test_config_messages_name_the_dotted_path(kwargs, exc, field):
    with pytest.raises(exc) as info:
        ScenarioConfig(**kwargs)
    assert f"`{field}`" in str(info.value), str(info.value)


def test_build_messages_name_the_dotted_path(digits):
    d = {"digits": digits}
    for kw, field in ((dict(val_size=797), "data.val_size"),
                      (dict(val_size=500, test_size=298), "data.test_size"),
                      (dict(initial_labeled=1000), "data.initial_labeled"),
                      (dict(pool_size=1001), "data.pool_size"),
                      (dict(val_source="train", val_size=1000), "data.val_size")):
        with pytest.raises(ValueError, match=f"`{field}`"):
            build_scenario(ScenarioConfig(**kw), 0, datasets=d)


# ----------------------------------------------------------------------------- data sets


def test_load_scenario_datasets_loads_each_name_once(tmp_path, digits):
    ds = make_ds(n_train=120, n_test=40, shape=(8, 8, 1), C=10)
    ds = Dataset("t", ds.x_train, ds.y_train, ds.x_test, ds.y_test, digits.class_names)
    p = ds.save_npz(tmp_path / "t.npz")
    cfg = ScenarioConfig(dataset=f"npz:{p}", kind="domain_shift", initial_labeled=10,
                         val_size=20, source_datasets=(f"npz:{p}", "digits", "shifted:digits"))
    assert scenario_dataset_names(cfg) == (f"npz:{p}", "digits", "shifted:digits")
    loaded = load_scenario_datasets(cfg)
    assert list(loaded) == [f"npz:{p}", "digits", "shifted:digits"]
    np.testing.assert_array_equal(loaded[f"npz:{p}"].x_train, ds.x_train)
    np.testing.assert_array_equal(loaded["digits"].x_test, digits.x_test)
    assert_scenarios_equal(build_scenario(cfg, 2, datasets=loaded), build_scenario(cfg, 2))
    cheap = ScenarioConfig(kind="cheap", mislabel_fraction=0.1, ood_dataset="shifted:digits")
    assert scenario_dataset_names(cheap) == ("digits", "shifted:digits")
    with pytest.raises(TypeError, match="cfg"):
        scenario_dataset_names({"dataset": "digits"})
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_scenario_datasets(ScenarioConfig(dataset=f"npz:{tmp_path / 'nope.npz'}"))
