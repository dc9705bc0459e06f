"""Every registered valuation and estimator through the component shape: built from a
config, run inside one jitted program on a padded fixed-capacity buffer, equal to the
unpadded values (padding rows absent); the config checks; insertion = the joining value."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.config_engine import FrozenMap, from_dict
from ads_jax.valuation import (
    ESTIMATORS,
    VALUATIONS,
    EstimateInputs,
    EstimatorConfig,
    ValuationConfig,
    available_valuations,
    build_estimator,
    build_valuation,
    insertion_estimate,
    knn_shapley,
)

C = 3


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(0)
    mu = r.normal(size=(C, 4)) * 2

    def pts(n):
        y = r.integers(0, C, n).astype(np.int32)
        return (mu[y] + r.normal(size=(n, 4))).astype(np.float32), y

    tx, ty = pts(14)
    vx, vy = pts(9)
    qx, _ = pts(11)
    q = r.random((11, C)).astype(np.float32)
    return tx, ty, vx, vy, qx, q / q.sum(1, keepdims=True)


def _options(name, tx, vx):
    if name == "threshold":
        d = ((vx[:, None] - tx[None]) ** 2).sum(-1)
        return {"tau": float(np.median(d))}
    if name == "data_oob":
        return {"num_bags": 6, "max_iter": 50}
    if name == "banzhaf":
        return {}
    return {}


@pytest.mark.parametrize("name", sorted(available_valuations()))
def test_every_valuation_runs_jitted_on_a_padded_buffer(data, name):
    tx, ty, vx, vy, _, _ = data
    comp = build_valuation(ValuationConfig(name=name, k=3, options=_options(name, tx, vx)))
    key = jax.random.key(1)
    ref = np.asarray(comp.values(tx, ty, vx, vy, num_classes=C, train_mask=None, mesh=None,
                                 key=key))
    assert ref.shape == (14,) and np.isfinite(ref).all()
    # a padded buffer: padding rows (copies of real rows) interleaved, masked out
    slots = np.sort(np.random.default_rng(2).choice(20, 14, replace=False))
    src = np.zeros(20, np.int64)
    src[slots] = np.arange(14)
    mask = np.zeros(20, bool)
    mask[slots] = True
    run = jax.jit(lambda x, y, m, k: comp.values(x, y, vx, vy, num_classes=C, train_mask=m,
                                                 mesh=None, key=k))
    got = np.asarray(run(tx[src], ty[src], mask, key))
    assert (got[~mask] == 0).all()
    if name in ("random", "data_oob"):  # randomised: same law, not the same draws per slot
        assert np.isfinite(got[mask]).all()
        return
    np.testing.assert_allclose(got[mask], ref, rtol=1e-5, atol=1e-6)


def test_the_kshapley_variants_by_name_and_by_component_agree(data):
    tx, ty, vx, vy, _, _ = data
    for name in ("jia", "soft"):
        a = np.asarray(knn_shapley(tx, ty, vx, vy, num_classes=C, k=3, variant=name))
        b = np.asarray(build_valuation(ValuationConfig(name=name, k=3)).values(
            tx, ty, vx, vy, num_classes=C, train_mask=None, mesh=None, key=None))
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="not a KNN-Shapley recursion"):
        knn_shapley(tx, ty, vx, vy, num_classes=C, variant="loo")


def test_insertion_estimator_is_the_aggregated_joining_value(data):
    tx, ty, vx, vy, qx, q = data
    val = build_valuation(ValuationConfig(name="jia", k=3))
    for agg in ("max", "mean", "prob_weighted"):
        est = build_estimator(EstimatorConfig(name="insertion",
                                              options={"aggregate": agg, "top_t": 2}))
        x = EstimateInputs(labeled_emb=tx, labeled_y=ty, labeled_values=jnp.zeros(14),
                           labeled_mask=None, pool_emb=qx, pool_probs=q, val_emb=vx, val_y=vy,
                           num_classes=C)
        got = np.asarray(est.estimate(x, valuation=val, mesh=None))
        want = np.asarray(insertion_estimate(tx, ty, vx, vy, qx, q, num_classes=C, k=3,
                                             top_t=2, aggregate=agg))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_configs_check_options_once_and_hash_by_value():
    a = ValuationConfig(name="banzhaf", options={"method": "msr", "num_samples": 10})
    b = from_dict(ValuationConfig, {"name": "banzhaf",
                                    "options": {"num_samples": 10.0, "method": "msr"}})
    assert a == b and hash(a) == hash(b) and isinstance(a.options, FrozenMap)
    assert b.options["num_samples"] == 10 and isinstance(b.options["num_samples"], int)
    for bad, err, msg in [
        (dict(name="banzhaf", options={"method": "x"}), ValueError, "valuation.options.method"),
        (dict(name="loo", options={"k": 3}), ValueError, "does not take"),
        (dict(name="threshold"), ValueError, "needs the option"),
        (dict(name="nope"), ValueError, "unknown valuation"),
    ]:
        with pytest.raises(err, match=msg):
            ValuationConfig(**bad)
    with pytest.raises(ValueError, match="joining value"):
        from ads_jax.acquisition import AcquisitionConfig

        AcquisitionConfig(valuation=ValuationConfig(name="loo"),
                          estimator=EstimatorConfig(name="insertion"))
    with pytest.raises(ValueError, match="estimator.options.aggregate"):
        EstimatorConfig(name="insertion", options={"aggregate": "median"})
    assert set(VALUATIONS.names()) >= {"jia", "soft", "threshold", "loo", "banzhaf",
                                       "data_oob", "random"}
    assert set(ESTIMATORS.names()) >= {"knn_regression", "insertion"}
