"""ads_jax.plan: the run's programs compiled on abstract inputs, and the round estimate.

The ``tiny`` config is planned once (8 simulated CPU devices, no data loaded for
the compile); its shapes are checked against the scenario the loop builds, its
costs against properties (loop bodies counted per iteration, a train step ~ 3
forward passes per image), and the estimate against the roofline's scaling.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from ads_jax import plan as PL
from ads_jax.config_engine import apply_overrides
from ads_jax.configs import resolve


@pytest.fixture(scope="module")
def cfg():
    return resolve("tiny")


@pytest.fixture(scope="module")
def report(cfg):
    return PL.plan(cfg, peak_flops=2e12, bandwidth=1e11)


def test_every_program_is_listed_with_positive_cost_and_memory(report, cfg):
    names = [p.name for p in report.programs]
    assert names == ["train_step", "predict"] + [f"acquire[{a}]" for a in cfg.arms]
    for p in report.programs:
        assert p.flops > 0 and p.bytes_accessed > 0, p.name
        assert p.flops >= p.xla_flops and p.bytes_accessed >= p.xla_bytes
        assert p.memory["total"] > 0 and p.memory["argument"] > 0, p.name
        assert p.compile_s > 0
    assert report.program("train_step").devices == jax.device_count() == 8
    assert report.calls["train_step"] == cfg.train.epochs * math.ceil(
        report.shapes.labeled_capacity / cfg.train.batch_size)
    text = PL.format_plan(report)
    for n in names:
        assert f"| {n} |" in text
    assert "| round |" in text and "Whole experiment" in text


def test_run_shapes_match_the_scenario_the_loop_builds(cfg):
    """Sizes from the config alone equal those of the built scenario (digits, no pool_size:
    the class bound is then exact too)."""
    from ads_jax.data import build_scenario
    from ads_jax.loop import _Capacity

    for c in (cfg, apply_overrides(cfg, ["data.pool_size=null", "data.test_size=null"])):
        rs = PL.run_shapes(c)
        sc = build_scenario(c.data, 0)
        cap = _Capacity(c, sc)
        assert rs.pool == sc.x_pool.shape[0] and rs.initial_labeled == len(sc.labeled_init)
        assert (rs.labeled_capacity, rs.pool_capacity) == (cap.labeled, cap.pool)
        assert (rs.val, rs.test) == (len(sc.y_val), len(sc.y_test))
        assert rs.image_shape == sc.x_pool.shape[1:] and rs.num_classes == sc.num_classes
        if c.data.pool_size is None:
            assert rs.class_bound == cap.class_bound


def test_train_step_costs_about_three_forward_passes(report):
    """Per image, forward + backward ~ 3 forwards (+ augmentation, BN, optimiser)."""
    train, pred = report.program("train_step"), report.program("predict")
    batch = int(train.shapes.split()[1])
    per_train = train.flops * train.devices / batch
    per_pred = pred.flops * pred.devices / report.eval_chunks["predict"]
    assert 2.0 < per_train / per_pred < 4.5


def test_static_loop_bodies_are_counted_per_iteration_dynamic_ones_reported():
    a = jax.ShapeDtypeStruct((64, 64), jnp.float32)

    def scanned(x):  # 10 matmuls in a scan: XLA's cost analysis counts one
        return lax.fori_loop(0, 10, lambda i, c: jnp.tanh(c @ x), x)

    one = PL._compile("one", jax.jit(lambda x: jnp.tanh(x @ x)), (a,), "", 1)
    ten = PL._compile("ten", jax.jit(scanned), (a,), "", 1)
    assert ten.xla_flops == pytest.approx(one.xla_flops, rel=0.05)
    assert ten.flops == pytest.approx(10 * one.flops, rel=0.05)
    assert ten.dynamic_loops == 0

    def dynamic(x, n):
        return lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ x), x)

    dyn = PL._compile("dyn", jax.jit(dynamic), (a, jax.ShapeDtypeStruct((), jnp.int32)), "", 1)
    assert dyn.dynamic_loops == 1 and dyn.flops == pytest.approx(one.flops, rel=0.05)


def test_in_place_loop_writes_count_the_update_not_the_buffer():
    buf = jax.ShapeDtypeStruct((100_000,), jnp.float32)

    def fill(b):  # 100 single-element writes into a 400 kB buffer
        return lax.fori_loop(0, 100, lambda i, c: c.at[i].set(i.astype(c.dtype)), b)

    p = PL._compile("fill", jax.jit(fill), (buf,), "", 1)
    assert p.bytes_accessed - p.xla_bytes < 100 * 64  # ~8 bytes per write, not 400 kB


def test_estimate_follows_the_roofline(report, cfg):
    # compute-bound (infinite bandwidth): halving the peak doubles every time
    fast = report.estimate(2e12, 1e30)
    slow = report.estimate(1e12, 1e30)
    for rf, rs_ in zip(fast.rounds, slow.rounds):
        assert rs_.training_s == pytest.approx(2 * rf.training_s, rel=1e-12)
        assert rs_.inference_s == pytest.approx(2 * rf.inference_s, rel=1e-12)
        for a in rf.acquisition_s:
            assert rs_.acquisition_s[a] == pytest.approx(2 * rf.acquisition_s[a], rel=1e-12)
    assert slow.experiment_s == pytest.approx(2 * fast.experiment_s, rel=1e-12)
    # memory-bound (infinite peak): the peak does not matter
    assert report.estimate(1e30, 1e11).experiment_s == pytest.approx(
        report.estimate(5e29, 1e11).experiment_s, rel=1e-12)
    # in between: at most twice as slow, never faster
    mid, mid2 = report, report.estimate(1e12, 1e11)
    assert mid.experiment_s <= mid2.experiment_s <= 2 * mid.experiment_s


def test_round_calls_and_totals(report, cfg):
    t = {p.name: p.seconds(report.peak_flops, report.bandwidth) for p in report.programs}
    rs, chunk = report.shapes, report.eval_chunks["predict"]
    assert [r.round for r in report.rounds] == list(range(cfg.loop.rounds + 1))
    for r in report.rounds:
        n = rs.initial_labeled + r.round * cfg.acquisition.budget
        assert r.labeled == n and r.train_steps == cfg.train.epochs * math.ceil(n / 32)
        val = cfg.train.epochs * math.ceil(rs.val / chunk) * t["predict"]
        assert r.training_s == pytest.approx(r.train_steps * t["train_step"] + val)
        last = r.round == cfg.loop.rounds
        chunks = math.ceil(rs.test / chunk) + (0 if last else math.ceil(rs.pool / chunk)
                                               + math.ceil(rs.val / chunk))
        assert r.inference_s == pytest.approx(chunks * t["predict"])
        assert set(r.acquisition_s) == (set() if last else set(cfg.arms))
    per_arm = {a: sum(r.seconds(a) for r in report.rounds) for a in cfg.arms}
    assert report.per_arm_s == pytest.approx(per_arm)
    r0 = report.rounds[0]
    shared = (len(cfg.arms) - 1) * (r0.training_s + r0.inference_s)
    assert report.experiment_s == pytest.approx(sum(per_arm.values()) - shared)


def test_known_and_npz_shapes_without_loading_images(tmp_path):
    assert PL.data_shapes("cifar10").image_shape == (32, 32, 3)
    assert PL.data_shapes("svhn_cropped+extra").train == 73_257 + 531_131
    assert PL.data_shapes("tfds:cifar10") == PL.data_shapes("cifar10")
    assert PL.data_shapes("shifted:cifar10") == PL.data_shapes("cifar10")
    assert PL.data_shapes("cinic10:/nowhere").num_classes == 10
    path = tmp_path / "d.npz"
    y = np.array([0, 1, 1, 2, 2, 2], np.int64)
    np.savez(path, x_train=np.zeros((6, 5, 4), np.uint8), y_train=y,
             x_test=np.zeros((3, 5, 4), np.uint8), y_test=np.zeros(3, np.int64))
    got = PL.data_shapes(f"npz:{path}")
    assert got == PL.DataShapes(6, 3, (5, 4, 1), 3, 0.5)
    with pytest.raises(ValueError, match="shapes=DataShapes"):
        PL.data_shapes("tfds:oxford_flowers102")


def test_domain_shift_pool_size_follows_the_mixture_rule():
    from ads_jax.data import build_scenario

    cfg = resolve("paper_domain_shift:paper")
    rs = PL.run_shapes(cfg)  # every CINIC-10 train image, plus the seed set
    assert rs.pool == 5000 + 90_000 and rs.test == 9_500
    tiny = resolve("paper_domain_shift:tiny")
    for sources, weights in ((("shifted:digits",), None), (("digits", "npz:/x"), (0.5, 0.5))):
        data = dataclasses.replace(tiny.data, pool_size=None, source_datasets=sources,
                                   source_weights=weights)
        c = dataclasses.replace(tiny, data=data)
        if sources[1:] == ("npz:/x",):  # a second source of 300 images, known by its shapes
            got = PL.run_shapes(c, source_shapes={"npz:/x": PL.DataShapes(
                300, 10, (8, 8, 1), 10, 0.1)})
            left = 1000 - tiny.data.initial_labeled  # digits train rows left for the pool
            assert got.pool == tiny.data.initial_labeled + min(2 * left, 2 * 300)
        else:
            assert PL.run_shapes(c).pool == build_scenario(data, 0).x_pool.shape[0]


def test_bad_arguments(cfg, report):
    with pytest.raises(ValueError, match="both"):
        PL.plan(cfg, peak_flops=1e12)
    with pytest.raises(TypeError, match="ExperimentConfig"):
        PL.plan(cfg.data)
    with pytest.raises(ValueError, match="peak_flops"):
        report.estimate(0.0, 1e11)


def test_plan_through_the_cli(capsys):
    from ads_jax.cli import main

    assert main(["plan", "tiny", "loop.arms=[coreset]", "--peak-tflops", "100",
                 "--bandwidth-tbs", "1"]) == 0
    out = capsys.readouterr().out
    assert "| train_step |" in out and "acquire[coreset]" in out
    assert main(["plan", "tiny", "--peak-tflops", "100"]) == 1
    assert "bandwidth" in capsys.readouterr().err
    assert main(["plan", "tiny", "model.name=linear"]) == 1
    assert "WideResNet" in capsys.readouterr().err
