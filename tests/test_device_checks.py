"""Input checks on device arrays: one reduction on the device, no host copy of the array.

``_validation.check_finite`` / ``check_labels`` read back scalars only for a
``jax.Array`` (checked with JAX's transfer guard, which rejects every implicit
device-to-host copy such as ``np.asarray``, and by recording what
``jax.device_get`` fetches); the error messages equal those of the NumPy path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.valuation import knn_shapley


@pytest.fixture
def fetched(monkeypatch):
    """Every leaf that ``jax.device_get`` brings to the host, as (shape, dtype)."""
    seen = []
    real = jax.device_get

    def spy(x):
        out = real(x)
        seen.extend((np.shape(v), np.asarray(v).dtype) for v in jax.tree.leaves(out))
        return out

    monkeypatch.setattr(jax, "device_get", spy)
    return seen


def _message(fn):
    with pytest.raises(ValueError) as e:
        fn()
    return str(e.value)


def test_finite_device_array_is_checked_without_a_host_copy(rng, fetched):
    x = jnp.asarray(rng.normal(size=(4096, 64)).astype(np.float32))
    sharded = jax.device_put(x, NamedSharding(jax.make_mesh((8,), ("d",)), P("d")))
    with jax.transfer_guard_device_to_host("disallow"):  # np.asarray(x) would raise here
        assert V.check_finite("x", x) is x
        assert V.check_finite("x", sharded) is sharded
    assert fetched and all(shape == () for shape, _ in fetched)  # scalars only


@pytest.mark.parametrize("dtype", [np.float32, jnp.bfloat16])
@pytest.mark.parametrize("shape,bad", [((50, 7), [(3, 5), (3, 6), (40, 0)]),
                                       ((20,), [(11,), (19,)]),
                                       ((6, 4, 3), [(2, 3, 1), (5, 0, 0)])])
def test_non_finite_device_array_message_equals_numpy_path(rng, fetched, dtype, shape, bad):
    host = rng.normal(size=shape).astype(np.float32)
    for i, idx in enumerate(bad):
        host[idx] = (np.nan, np.inf, -np.inf)[i % 3]
    host = host.astype(dtype)
    want = _message(lambda: V.check_finite("emb", host))  # host path (independent)
    assert f"contains {len(bad)} non-finite" in want and f"first at index {bad[0]}" in want
    dev = jnp.asarray(host)
    sharded = jax.device_put(dev, NamedSharding(jax.make_mesh((2,), ("d",)), P("d")))
    with jax.transfer_guard_device_to_host("disallow"):
        assert _message(lambda: V.check_finite("emb", dev)) == want
        assert _message(lambda: V.check_finite("emb", sharded)) == want
    assert all(shape == () for shape, _ in fetched)


def test_non_float_and_empty_device_arrays_pass_without_work(fetched):
    with jax.transfer_guard_device_to_host("disallow"):
        V.check_finite("y", jnp.arange(5))
        V.check_finite("e", jnp.zeros((0, 3)))
    assert fetched == []


def test_labels_on_device_read_back_two_scalars(fetched):
    y = jnp.asarray(np.arange(1000) % 7, jnp.int32)
    with jax.transfer_guard_device_to_host("disallow"):
        V.check_labels("y", y, 7)
        got = _message(lambda: V.check_labels("y", y, 5))
    assert got == _message(lambda: V.check_labels("y", np.asarray(np.arange(1000) % 7), 5))
    assert "[0, 6]" in got
    assert all(shape == () for shape, _ in fetched)


def test_public_function_checks_device_inputs_on_device(rng):
    """knn_shapley's boundary checks (finite features, labels) copy nothing to the host;
    a NaN in a device array is reported by name and index as before."""
    tx = jnp.asarray(rng.normal(size=(64, 5)).astype(np.float32))
    ty = jnp.asarray(rng.integers(0, 3, 64).astype(np.int32))
    vx = jnp.asarray(rng.normal(size=(9, 5)).astype(np.float32))
    vy = jnp.asarray(rng.integers(0, 3, 9).astype(np.int32))
    with jax.transfer_guard_device_to_host("disallow"):
        values = knn_shapley(tx, ty, vx, vy, num_classes=3, k=3)
    ref = knn_shapley(np.asarray(tx), np.asarray(ty), np.asarray(vx), np.asarray(vy),
                      num_classes=3, k=3)
    np.testing.assert_array_equal(np.asarray(values), np.asarray(ref))
    bad = tx.at[17, 2].set(jnp.nan)
    with pytest.raises(ValueError, match=r"`train_x` contains 1 non-finite .* index \(17, 2\)"):
        knn_shapley(bad, ty, vx, vy, num_classes=3, k=3)
