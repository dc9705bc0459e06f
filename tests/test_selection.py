"""Selectors: registry, properties every selector must have, sharding, errors.

Algorithm-specific truth checks live in test_selection_kcenter_badge.py,
test_selection_kmedians.py and test_selection_scores.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ads_jax.selection import (
    available_selectors,
    get_selector,
    register_selector,
    select_coreset,
)

NAMES = ("coreset", "kmedians", "badge", "entropy", "margin", "least_confidence", "random",
         "top_value")
N, D, C, BUDGET = 300, 8, 4, 20


def make_pool(seed=0, n=N, d=D, c=C):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.normal(size=(n, c))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return {
        "embeddings": rng.normal(size=(n, d)).astype(np.float32),
        "probs": probs.astype(np.float32),
        "scores": rng.normal(size=(n,)).astype(np.float32),
    }


def make_masks(seed=1, n=N):
    rng = np.random.default_rng(seed)
    labeled = np.zeros(n, bool)
    labeled[rng.choice(n, 30, replace=False)] = True
    mask = rng.random(n) < 0.7
    return labeled, mask


POOL = make_pool()
LABELED, MASK = make_masks()


# ---------------------------------------------------------------- registry


def test_registry_names_and_alias():
    assert set(NAMES) | {"kcenter"} == set(available_selectors())
    assert get_selector("kcenter") is get_selector("coreset") is select_coreset
    with pytest.raises(ValueError, match="unknown selector 'nope'.*available"):
        get_selector("nope")


def test_register_custom_selector_and_duplicates():
    @register_selector("_test_first_budget")
    def first(key, pool, budget, *, labeled=None, mask=None):
        return jnp.arange(budget, dtype=jnp.int32)

    assert get_selector("_test_first_budget") is first
    with pytest.raises(ValueError, match="already registered"):
        register_selector("_test_first_budget", lambda *a, **k: None)
    register_selector("_test_first_budget", select_coreset, overwrite=True)
    assert get_selector("_test_first_budget") is select_coreset
    with pytest.raises(TypeError, match="callable"):
        register_selector("_test_bad", 3)
    with pytest.raises(TypeError, match="non-empty string"):
        register_selector("", select_coreset)


# ---------------------------------------------------------------- properties


def _check_valid(idx, budget, labeled=None, mask=None):
    idx = np.asarray(idx)
    assert idx.dtype == np.int32 and idx.shape == (budget,)
    assert len(np.unique(idx)) == budget, "duplicate picks"
    assert idx.min() >= 0 and idx.max() < N
    if labeled is not None:
        assert not labeled[idx].any(), "picked a labeled point"
    if mask is not None:
        assert mask[idx].all(), "picked a masked-out point"


@pytest.mark.parametrize("name", NAMES)
def test_properties_and_determinism(name):
    sel = get_selector(name)
    key = jax.random.key(3)
    plain = sel(key, POOL, BUDGET)
    _check_valid(plain, BUDGET)
    a = sel(key, POOL, BUDGET, labeled=LABELED, mask=MASK)
    b = sel(key, POOL, BUDGET, labeled=LABELED, mask=MASK)
    _check_valid(a, BUDGET, LABELED, MASK)
    np.testing.assert_array_equal(a, b)  # fixed key -> same selection
    # Legacy uint32 keys are accepted and mean the same key.
    c = sel(jax.random.PRNGKey(3), POOL, BUDGET, labeled=LABELED, mask=MASK)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", ("coreset", "kmedians", "badge", "random"))
def test_randomized_selectors_depend_on_key(name):
    sel = get_selector(name)
    outs = {tuple(np.asarray(sel(jax.random.key(s), POOL, BUDGET)).tolist()) for s in range(4)}
    assert len(outs) > 1


@pytest.mark.parametrize("name", NAMES)
def test_budget_equal_to_candidates_takes_them_all(name):
    sel = get_selector(name)
    labeled = np.zeros(N, bool)
    labeled[:5] = True
    mask = np.zeros(N, bool)
    mask[::14] = True  # 22 points, indices 0 and 70 labeled -> BUDGET candidates
    labeled[70] = True
    cand = np.flatnonzero(mask & ~labeled)
    assert len(cand) == BUDGET  # same shapes as above: no recompilation
    idx = sel(jax.random.key(0), POOL, BUDGET, labeled=labeled, mask=mask)
    assert sorted(np.asarray(idx).tolist()) == cand.tolist()


# ---------------------------------------------------------------- sharding


@pytest.fixture(scope="module")
def mesh8():
    if jax.device_count() < 8:
        pytest.skip("needs 8 (simulated) devices; see tests/conftest.py")
    return jax.make_mesh((8,), ("data",))


@pytest.mark.parametrize("name", NAMES)
def test_sharded_equals_single_device(name, mesh8):
    sel = get_selector(name)
    key = jax.random.key(5)
    assert N % 8  # the pool is not a multiple of the device count
    single = sel(key, POOL, BUDGET, labeled=LABELED, mask=MASK)
    sharded = sel(key, POOL, BUDGET, labeled=LABELED, mask=MASK, mesh=mesh8)
    np.testing.assert_array_equal(single, sharded)


def test_sharded_coreset_matvec_equals_single_device(mesh8):
    x = {"embeddings": POOL["embeddings"]}
    for lab in (LABELED, None):
        a = select_coreset(jax.random.key(1), x, BUDGET, labeled=lab, method="matvec")
        b = select_coreset(jax.random.key(1), x, BUDGET, labeled=lab, method="matvec", mesh=mesh8)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ("coreset", "badge", "entropy"))
def test_sharded_inputs_are_detected(name, mesh8):
    """A pool already sharded along N (explicit-sharding mesh, 2-D mesh) is run
    sharded and still matches the single-device selection."""
    sel = get_selector(name)
    key = jax.random.key(6)
    n = 256
    pool = {k: v[:n] for k, v in POOL.items()}
    lab, msk = LABELED[:n], MASK[:n]
    single = np.asarray(sel(key, pool, BUDGET, labeled=lab, mask=msk))
    mesh2 = jax.make_mesh((2, 4), ("a", "b"))
    sh = NamedSharding(mesh2, P(("a", "b")))
    spool = {k: jax.device_put(v, sh) for k, v in pool.items()}
    assert len(spool["embeddings"].sharding.device_set) == 8
    out = sel(key, spool, BUDGET, labeled=lab, mask=msk)
    np.testing.assert_array_equal(single, out)
    assert out.sharding.mesh == mesh2  # picks come back on the caller's mesh


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name", NAMES)
def test_budget_errors(name):
    sel = get_selector(name)
    key = jax.random.key(0)
    n_cand = int((MASK & ~LABELED).sum())
    msg = f"budget`={n_cand + 1} is larger than the number of candidate"
    with pytest.raises(ValueError, match=msg):
        sel(key, POOL, n_cand + 1, labeled=LABELED, mask=MASK)
    with pytest.raises(ValueError, match="budget` must be >= 1"):
        sel(key, POOL, 0)
    with pytest.raises(TypeError, match="budget` must be an integer"):
        sel(key, POOL, 2.0)


FIELD_OF = {"coreset": "embeddings", "kmedians": "embeddings", "badge": "probs",
            "entropy": "probs", "margin": "probs", "least_confidence": "probs",
            "top_value": "scores"}


@pytest.mark.parametrize("name", sorted(FIELD_OF))
def test_input_errors(name):
    sel = get_selector(name)
    key = jax.random.key(0)
    field = FIELD_OF[name]
    bad = dict(POOL)
    bad[field] = POOL[field].copy()
    bad[field][7] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*first at index \(7"):
        sel(key, bad, 5)
    bad[field][7] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        sel(key, bad, 5)
    short = dict(POOL, **{field: POOL[field][:-1]})
    with pytest.raises(ValueError, match="same number of points"):
        sel(key, short, 5)
    ints = dict(POOL, **{field: POOL[field].astype(np.int32)})
    with pytest.raises(TypeError, match="floating-point dtype"):
        sel(key, ints, 5)
    missing = {k: v for k, v in POOL.items() if k != field}
    with pytest.raises(ValueError, match=f"needs pool\\['{field}'\\]"):
        sel(key, missing, 5)
    with pytest.raises(TypeError, match="dict of per-point arrays"):
        sel(key, POOL[field], 5)
    with pytest.raises(ValueError, match="same number of points"):
        sel(key, POOL, 5, labeled=LABELED[:-3])
    with pytest.raises(TypeError, match="`mask` must have a boolean dtype"):
        sel(key, POOL, 5, mask=MASK.astype(np.int32))
    with pytest.raises(ValueError, match="`labeled` must be a 1-D array"):
        sel(key, POOL, 5, labeled=LABELED[:, None])


@pytest.mark.parametrize("name", ("badge", "entropy", "margin", "least_confidence"))
def test_probs_must_be_probabilities(name):
    sel = get_selector(name)
    logits = dict(POOL, probs=np.log(POOL["probs"]))
    with pytest.raises(ValueError, match="softmax"):
        sel(jax.random.key(0), logits, 5)


def test_key_and_misc_errors():
    with pytest.raises(TypeError, match="PRNG key"):
        get_selector("badge")(123, POOL, 5)
    with pytest.raises(TypeError, match="needs a PRNG key"):
        get_selector("random")(None, POOL, 5)
    with pytest.raises(TypeError, match="needs a PRNG key when no point is labeled"):
        select_coreset(None, POOL, 5)
    # With labeled points the k-center selection is deterministic: key unused.
    a = select_coreset(None, POOL, 5, labeled=LABELED)
    b = select_coreset(jax.random.key(9), POOL, 5, labeled=LABELED)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="at least 2 classes"):
        get_selector("margin")(None, dict(POOL, probs=np.ones((N, 1), np.float32)), 5)
    with pytest.raises(ValueError, match="single PRNG key"):
        get_selector("random")(jax.random.split(jax.random.key(0), 2), POOL, 5)
    with pytest.raises(ValueError, match="power of two"):
        select_coreset(jax.random.key(0), POOL, 5, block_size=12)
    # Traceable (inside the caller's jit: the fused acquisition program), same picks.
    traced = jax.jit(lambda e: select_coreset(jax.random.key(0), {"embeddings": e}, 5))(
        POOL["embeddings"])
    np.testing.assert_array_equal(traced, select_coreset(jax.random.key(0), POOL, 5))
