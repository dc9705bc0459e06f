"""Size a run before it starts: compile its programs on abstract inputs, estimate a round.

::

    rep = plan(resolve_config("paper_cifar10:paper_gpu"), peak_flops=989e12, bandwidth=3.35e12)
    print(format_plan(rep))

:func:`plan` lowers and compiles, on the present backend and with abstract
inputs (``jax.ShapeDtypeStruct``: no data is loaded), the programs a run of
the config executes, at the run's fixed shapes (``ads_jax.loop``):

* ``train_step`` -- ``fit``'s train step at the run's labeled capacity
  ``L0 + R x B`` and its static batch (:func:`ads_jax.training.steps.gather_step_fn`);
* ``predict`` -- the eval forward pass at the evaluation chunk
  (``loop.eval_batch_size``; also ``train.eval_batch_size`` for the per-epoch
  validation when it differs), rounded up to the device count (at most the
  pool); smaller sets are counted as whole chunks;
* ``acquire[<arm>]`` -- one acquisition program per arm at the run's capacities
  (labeled ``L0 + R x B``, pool ``P - L0``, validation ``M``):
  :func:`~ads_jax.acquisition.make_acquire_fn` (``loop.mesh="none"``) or
  :func:`~ads_jax.acquisition.make_pool_acquire_fn` on every device
  (``loop.mesh="all"``).

For each: per-device memory (``compiled.memory_analysis()``: arguments +
outputs + temporaries + code - aliased), FLOPs and bytes accessed
(``compiled.cost_analysis()``, a dict in this JAX; per device for sharded
programs) and the compile time. XLA counts the body of a loop once, whatever
its trip count; the acquisition programs loop (greedy selectors, row blocks,
the KNN-Shapley recursion), so their loops with a static trip count (``scan``,
``fori_loop`` with Python bounds) are added ``trip - 1`` more times from an
unfused count of the loop body's jaxpr (dot/conv FLOPs exact, one FLOP per
element otherwise, every operand and result read/written: an upper bound on
bytes); loops with a traced trip count (``while``) are counted once and
reported (``dynamic_loops``): there the estimate is a lower bound.
Programs are compiled for the present backend, and some components choose
their algorithm by backend: the k-center selector runs its ``lazy`` kernel on
CPU (its work is in dynamic loops) and ``matvec`` on accelerators; plan a GPU
run on CPU with ``acquisition.selector.options.method=matvec`` for those arms.

Round-time estimate (:meth:`PlanReport.estimate`), given one device's peak
FLOP/s and memory bandwidth (bytes/s): a roofline ``max(flops / peak, bytes /
bandwidth)`` per call times the calls of a round -- ``epochs x ceil(n_r /
batch)`` train steps (the epoch cap: early stopping only shortens it) and
``epochs x ceil(M / chunk)`` validation chunks for the fit of round r
(``n_r = L0 + r B`` labeled), ``ceil(T / chunk)`` test chunks, and, in every
round but the last, ``ceil(P / chunk) + ceil(M / chunk)`` embedding chunks and
one acquisition per arm. Host work (data loading, the transfers, Python, the
checkpoint writes) is not included.

Shapes without data (:func:`data_shapes`): the image shape, class count and
split sizes of the data set come from a table of known data sets
(:data:`KNOWN_DATASETS`: CIFAR-10/100, SVHN (+extra), (Fashion-)MNIST,
CINIC-10, Tiny ImageNet), from the array headers of an ``npz:`` file (its
labels only are read), or by loading the built-in ``digits`` (small); sizes
then follow the scenario rules of :mod:`ads_jax.data.scenario` (pool, validation
and test carving; the domain-shift mixture size). The per-class bound of the
value estimator is ``min(L0 + R B, ceil(f P))`` with ``f`` the data set's
largest class share. Other data sets: pass ``shapes=DataShapes(...)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import zipfile
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.acquisition import AcquisitionInputs, make_acquire_fn, make_pool_acquire_fn
from ads_jax.data import load_dataset
from ads_jax.data.kinds.domain_shift import _apportion
from ads_jax.experiment import ExperimentConfig
from ads_jax.models import build_model
from ads_jax.sharding import POOL_AXIS, pool_mesh
from ads_jax.training.fit import _Layout, init_train_state
from ads_jax.training.parallel import DATA_AXIS, data_mesh, num_shards
from ads_jax.training.steps import StepOptions, forward_fn, gather_step_fn

__all__ = ["plan", "format_plan", "PlanReport", "ProgramPlan", "RoundPlan", "DataShapes",
           "RunShapes", "data_shapes", "run_shapes", "KNOWN_DATASETS"]


# ----------------------------------------------------------------------------
# Shapes from the config.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataShapes:
    """A data set's sizes, without its data.

    Attributes:
      train: images in the train split.
      test: images in the test split.
      image_shape: (H, W, C).
      num_classes: C.
      max_class_fraction: largest class share of the train split (sizes the
        value estimator's per-class layout).
    """

    train: int
    test: int
    image_shape: tuple[int, int, int]
    num_classes: int
    max_class_fraction: float


#: Known data sets (train / test sizes as ads_jax's loaders read them).
KNOWN_DATASETS: dict[str, DataShapes] = {
    "cifar10": DataShapes(50_000, 10_000, (32, 32, 3), 10, 0.1),
    "cifar100": DataShapes(50_000, 10_000, (32, 32, 3), 100, 0.01),
    "svhn_cropped": DataShapes(73_257, 26_032, (32, 32, 3), 10, 13_861 / 73_257),
    # train + extra; the class shares of 'extra' are taken as those of 'train'
    "svhn_cropped+extra": DataShapes(604_388, 26_032, (32, 32, 3), 10, 0.19),
    "fashion_mnist": DataShapes(60_000, 10_000, (28, 28, 1), 10, 0.1),
    "mnist": DataShapes(60_000, 10_000, (28, 28, 1), 10, 6_742 / 60_000),
    "cinic10": DataShapes(90_000, 90_000, (32, 32, 3), 10, 0.1),
    "tiny_imagenet": DataShapes(100_000, 10_000, (64, 64, 3), 200, 0.005),
}


def _npz_header(zf: zipfile.ZipFile, key: str) -> tuple[int, ...] | None:
    name = f"{key}.npy"
    if name not in zf.namelist():
        return None
    with zf.open(name) as f:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, _ = read(f)
    return tuple(int(s) for s in shape)


def _npz_shapes(path: str) -> DataShapes:
    """Sizes of an ``npz:`` data set from its array headers (labels read, images not)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"plan: npz file {path!r} does not exist; pass "
                                "shapes=DataShapes(...) to plan without it.")
    with zipfile.ZipFile(path) as zf:
        x_train = _npz_header(zf, "x_train")
        test_key = "x_test" if _npz_header(zf, "x_test") is not None else "x_test_partial"
        x_test = _npz_header(zf, test_key)
    if x_train is None or x_test is None:
        raise ValueError(f"plan: {path!r} lacks x_train / x_test arrays.")
    with np.load(path) as d:
        y = np.asarray(d["y_train"]).astype(np.int64)
    counts = np.bincount(y - y.min())
    image = x_train[1:] if len(x_train) == 4 else (*x_train[1:], 1)
    return DataShapes(x_train[0], x_test[0], tuple(image), int(counts.size),
                      float(counts.max() / counts.sum()))


def data_shapes(spec: str, data_dir: str | None = None) -> DataShapes:
    """Sizes of the data set named ``spec`` (a ``data.dataset`` value) without its data.

    Raises:
      ValueError: a data set this function does not know (pass ``shapes=`` to :func:`plan`).
    """
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("tfds",) and arg.lower() in KNOWN_DATASETS:
        kind = arg.lower()
    kind = {"cinic-10": "cinic10", "cinic": "cinic10"}.get(kind, kind)
    if kind in KNOWN_DATASETS:
        return KNOWN_DATASETS[kind]
    if kind == "digits":

        ds = load_dataset("digits")
        counts = np.bincount(np.asarray(ds.y_train))
        return DataShapes(len(ds.y_train), len(ds.y_test), tuple(ds.x_train.shape[1:]),
                          len(ds.class_names), float(counts.max() / counts.sum()))
    if kind == "npz":
        return _npz_shapes(arg or (data_dir or ""))
    if kind == "shifted":  # a synthetic shift of another data set: its sizes
        return data_shapes(arg, data_dir)
    raise ValueError(f"plan does not know the sizes of data set {spec!r} (known: "
                     f"{sorted(KNOWN_DATASETS)}, digits, npz:PATH); pass "
                     "shapes=DataShapes(train, test, image_shape, num_classes, "
                     "max_class_fraction).")


@dataclasses.dataclass(frozen=True)
class RunShapes:
    """The fixed shapes of a run (as ``ads_jax.loop`` sizes its buffers).

    Attributes:
      image_shape, num_classes: of the target data set.
      pool: P, pool points (seed set included).
      initial_labeled: L0.
      labeled_capacity: L0 + R x B, rows of the labeled buffers (training and
        acquisition).
      pool_capacity: P - L0, rows of the unlabeled-pool buffer.
      val: M, validation points.
      test: T, test points.
      class_bound: static bound on the labeled points of one class.
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    pool: int
    initial_labeled: int
    labeled_capacity: int
    pool_capacity: int
    val: int
    test: int
    class_bound: int


def _mixture_unlabeled(cfg, remaining: int, l0: int,
                       shapes: Mapping[str, DataShapes] | None) -> int:
    """U of a domain-shift pool with ``pool_size=None``: as large as the weights and the
    source sizes allow (the rule of :mod:`ads_jax.data.kinds.domain_shift`)."""

    d = cfg.data
    names = list(d.source_datasets)
    w = np.asarray(d.source_weights or [1.0] * len(names), dtype=np.float64)
    w = w / w.sum()
    tgt = d.dataset
    caps = []
    for name in names:
        if name in (tgt, f"shifted:{tgt}"):  # rows of the target left after val/test/seed
            caps.append(remaining - l0)
        else:
            caps.append(((shapes or {}).get(name) or data_shapes(name, d.data_dir)).train)
    caps = np.asarray(caps)
    u = int(min(math.floor(c / wi + 1e-9) for c, wi in zip(caps, w)))
    while u > 0 and np.any(_apportion(u, w) > caps):
        u -= 1
    return u


def run_shapes(cfg, shapes: DataShapes | None = None,
               source_shapes: Mapping[str, DataShapes] | None = None) -> RunShapes:
    """The :class:`RunShapes` of ``cfg`` (an ExperimentConfig) without loading its data."""
    d = cfg.data
    ds = shapes or data_shapes(d.dataset, d.data_dir)
    l0 = int(d.initial_labeled)
    remaining = ds.train
    if d.val_source == "train":
        remaining -= d.val_size
    if d.test_source == "train":
        remaining -= int(d.test_size or 0)
    if d.pool_size is not None:
        pool = int(d.pool_size)
    elif d.kind == "domain_shift":
        pool = l0 + _mixture_unlabeled(cfg, remaining, l0, source_shapes)
    else:
        pool = remaining
    if d.test_source == "train":
        test = int(d.test_size)
    else:
        left = ds.test - (d.val_size if d.val_source == "test" else 0)
        test = left if d.test_size is None else min(int(d.test_size), left)
    cap = l0 + cfg.loop.rounds * cfg.acquisition.budget
    return RunShapes(image_shape=tuple(ds.image_shape), num_classes=int(ds.num_classes),
                     pool=pool, initial_labeled=l0, labeled_capacity=cap,
                     pool_capacity=pool - l0, val=int(d.val_size), test=int(test),
                     class_bound=max(1, min(cap, math.ceil(ds.max_class_fraction * pool))))


# ----------------------------------------------------------------------------
# Cost of one program.
# ----------------------------------------------------------------------------

# Primitives that move no data through the ALUs (XLA fuses or aliases them).
_FREE = {"reshape", "broadcast_in_dim", "squeeze", "expand_dims", "convert_element_type",
         "iota", "bitcast_convert_type", "copy", "copy_p", "pvary", "sharding_constraint",
         "mesh_cast", "reshard", "random_wrap", "random_unwrap"}
# Primitives that read only what they produce (index ops) or write only their update.
_READS_OUTPUT = {"gather", "dynamic_slice", "slice"}
_WRITES_UPDATE = {"dynamic_update_slice", "scatter", "scatter-add", "scatter_add",
                  "scatter_mul", "scatter_min", "scatter_max"}


def _nbytes(aval) -> float:
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0.0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # extended dtypes (PRNG keys)
        itemsize = 8
    return float(np.prod(shape, dtype=np.float64)) * itemsize


def _nelems(aval) -> float:
    return float(np.prod(getattr(aval, "shape", ()), dtype=np.float64))


def _sub_jaxprs(eqn):
    """The sub-jaxprs of an equation (loop / branch bodies, nested calls)."""
    out = []
    for v in eqn.params.values():
        for j in (v if isinstance(v, (tuple, list)) else (v,)):
            core = getattr(j, "jaxpr", j)
            if hasattr(core, "eqns"):
                out.append(core)
    return out


@dataclasses.dataclass
class _Cost:
    flops: float = 0.0
    bytes: float = 0.0
    dynamic_loops: int = 0

    def add(self, other: "_Cost", times: float = 1.0) -> None:
        self.flops += times * other.flops
        self.bytes += times * other.bytes
        self.dynamic_loops += other.dynamic_loops


def _eqn_cost(eqn) -> _Cost:
    name = eqn.primitive.name
    ins = [v.aval for v in eqn.invars if hasattr(v, "aval") and not hasattr(v, "val")]
    outs = [v.aval for v in eqn.outvars]
    if name in _FREE:
        return _Cost()
    if name == "dot_general":
        (lc, _), _ = eqn.params["dimension_numbers"]
        k = float(np.prod([eqn.invars[0].aval.shape[i] for i in lc], dtype=np.float64))
        flops = 2.0 * _nelems(outs[0]) * k
    elif name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        dn = eqn.params["dimension_numbers"]
        out_feat = rhs[dn.rhs_spec[0]] if dn is not None else rhs[0]
        flops = 2.0 * _nelems(outs[0]) * float(np.prod(rhs, dtype=np.float64)) / out_feat
    else:
        flops = max([sum(_nelems(a) for a in outs)] + [_nelems(a) for a in ins])
    if name in _READS_OUTPUT:
        nbytes = 2.0 * sum(_nbytes(a) for a in outs)
    elif name in _WRITES_UPDATE:
        # dynamic_update_slice(operand, update, *indices); scatter(operand, indices, updates)
        upd = eqn.invars[1].aval if name == "dynamic_update_slice" else eqn.invars[2].aval
        nbytes = 2.0 * _nbytes(upd)
    else:
        nbytes = sum(_nbytes(a) for a in ins) + sum(_nbytes(a) for a in outs)
    return _Cost(flops, nbytes)


def _jaxpr_cost(jaxpr, *, repeat: bool) -> _Cost:
    """Unfused cost of one execution of ``jaxpr``; loop bodies times their static trip
    count if ``repeat`` (else once, as XLA counts them)."""
    total = _Cost()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        subs = _sub_jaxprs(eqn)
        if name == "scan":
            body = _jaxpr_cost(subs[0], repeat=repeat)
            total.add(body, float(eqn.params["length"]) if repeat else 1.0)
        elif name == "while":
            for s in subs:
                total.add(_jaxpr_cost(s, repeat=repeat))
            total.dynamic_loops += 1
        elif name == "cond":
            branches = [_jaxpr_cost(s, repeat=repeat) for s in subs]
            worst = max(branches, key=lambda c: (c.flops, c.bytes))
            total.add(worst)
        elif subs:  # pjit, shard_map, custom_jvp/vjp, remat, ...: run their body once
            for s in subs:
                total.add(_jaxpr_cost(s, repeat=repeat))
        else:
            total.add(_eqn_cost(eqn))
    return total


@dataclasses.dataclass(frozen=True)
class ProgramPlan:
    """One compiled program of the run (per device, per call).

    Attributes:
      name: ``train_step``, ``predict`` / ``validate``, ``acquire[<arm>]``.
      shapes: its main input shapes, in words.
      devices: devices it runs on.
      flops: FLOPs per device per call (XLA's count plus the repeated loop bodies).
      bytes_accessed: bytes per device per call (likewise).
      xla_flops, xla_bytes: ``compiled.cost_analysis()`` alone (loop bodies once).
      memory: per-device bytes from ``memory_analysis()``: ``argument``,
        ``output``, ``temp``, ``code``, ``alias`` and ``total`` (= argument +
        output + temp + code - alias).
      compile_s: lowering + compile time on this backend.
      dynamic_loops: loops with a traced trip count, counted once (the FLOPs /
        bytes are then a lower bound).
    """

    name: str
    shapes: str
    devices: int
    flops: float
    bytes_accessed: float
    xla_flops: float
    xla_bytes: float
    memory: dict[str, int]
    compile_s: float
    dynamic_loops: int

    def seconds(self, peak_flops: float, bandwidth: float) -> float:
        """Roofline time of one call: ``max(flops / peak_flops, bytes / bandwidth)``."""
        return max(self.flops / peak_flops, self.bytes_accessed / bandwidth)


def _as_dict(cost: Any) -> dict:
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per program
        cost = cost[0] if cost else {}
    return dict(cost or {})


def _compile(name: str, fn, args: tuple, shapes: str, devices: int) -> ProgramPlan:
    t0 = time.perf_counter()
    traced = fn.trace(*args)
    compiled = traced.lower().compile()
    compile_s = time.perf_counter() - t0
    cost = _as_dict(compiled.cost_analysis())
    xla_flops = float(cost.get("flops", 0.0))
    xla_bytes = float(cost.get("bytes accessed", 0.0))
    jaxpr = traced.jaxpr.jaxpr
    once, rep = _jaxpr_cost(jaxpr, repeat=False), _jaxpr_cost(jaxpr, repeat=True)
    m = compiled.memory_analysis()
    mem = {"argument": int(m.argument_size_in_bytes), "output": int(m.output_size_in_bytes),
           "temp": int(m.temp_size_in_bytes), "code": int(m.generated_code_size_in_bytes),
           "alias": int(m.alias_size_in_bytes)}
    mem["total"] = mem["argument"] + mem["output"] + mem["temp"] + mem["code"] - mem["alias"]
    return ProgramPlan(name=name, shapes=shapes, devices=devices,
                       flops=xla_flops + max(rep.flops - once.flops, 0.0),
                       bytes_accessed=xla_bytes + max(rep.bytes - once.bytes, 0.0),
                       xla_flops=xla_flops, xla_bytes=xla_bytes, memory=mem,
                       compile_s=compile_s, dynamic_loops=rep.dynamic_loops)


# ----------------------------------------------------------------------------
# The run's programs on abstract inputs.
# ----------------------------------------------------------------------------


def _sds(shape, dtype, sharding=None):
    return jax.ShapeDtypeStruct(tuple(int(s) for s in shape), dtype, sharding=sharding)


def _abstract(tree, sharding=None):
    return jax.tree.map(lambda a: _sds(a.shape, a.dtype, sharding), tree)


def _train_program(cfg, model, rs: RunShapes, mesh) -> tuple[ProgramPlan, dict]:

    nd = num_shards(mesh)
    lay = _Layout.make(rs.labeled_capacity, cfg.train.batch_size, rs.labeled_capacity, nd)
    repl = None if mesh is None else NamedSharding(mesh, P())
    along_b = None if mesh is None else NamedSharding(mesh, P(None, DATA_AXIS))
    key = jax.eval_shape(lambda: jax.random.key(0))
    state = jax.eval_shape(lambda k: init_train_state(k, model, rs.image_shape, cfg.train), key)
    args = (_abstract(state, repl),
            {"base_lr": _sds((), jnp.float32, repl), "total_steps": _sds((), jnp.int32, repl),
             "warmup_steps": _sds((), jnp.int32, repl),
             "steps_per_epoch": _sds((), jnp.int32, repl)},
            _sds((), key.dtype, repl),
            {"x": _sds((lay.n_cap, *rs.image_shape), jnp.uint8, repl),
             "y": _sds((lay.n_cap,), jnp.int32, repl)},
            {"idx": _sds((lay.s_cap, lay.batch), jnp.int32, along_b),
             "w": _sds((lay.s_cap, lay.batch), jnp.float32, along_b)})
    step = gather_step_fn(model, StepOptions.from_config(cfg.train), mesh)
    desc = (f"batch {lay.batch} of a ({lay.n_cap}, {', '.join(map(str, rs.image_shape))}) "
            f"uint8 buffer")
    variables = jax.eval_shape(lambda s: s.variables, state)
    return _compile("train_step", step, args, desc, nd), variables


def _predict_program(name, model, variables, rs: RunShapes, chunk: int, mesh) -> ProgramPlan:

    repl = None if mesh is None else NamedSharding(mesh, P())
    batch = None if mesh is None else NamedSharding(mesh, P(DATA_AXIS))
    args = (_abstract(variables, repl), _sds((chunk, *rs.image_shape), jnp.uint8, batch))
    return _compile(name, forward_fn(model, mesh), args, f"chunk of {chunk} images",
                    num_shards(mesh))


def _acquire_program(cfg, arm: str, rs: RunShapes, d: int) -> ProgramPlan:

    acq = dataclasses.replace(cfg.acquisition, arm=arm)
    c, lc, uc, m = rs.num_classes, rs.labeled_capacity, rs.pool_capacity, rs.val
    f32, i32 = jnp.float32, jnp.int32
    key = jax.eval_shape(lambda: jax.random.key(0))
    if cfg.loop.mesh == "all":  # the pool as global arrays over every device
        mesh = pool_mesh()
        nd = int(mesh.devices.size)
        p_pad = -(-rs.pool // nd) * nd
        rows, repl = NamedSharding(mesh, P(POOL_AXIS)), NamedSharding(mesh, P())
        fn = make_pool_acquire_fn(acq, num_classes=c, mesh=mesh, class_capacity=rs.class_bound)
        args = (_sds((), key.dtype, repl), _sds((p_pad, d), f32, rows),
                _sds((p_pad, c), f32, rows), _sds((lc,), i32, repl), _sds((lc,), bool, repl),
                _sds((lc,), i32, repl), _sds((uc,), i32, repl), _sds((uc,), bool, repl),
                _sds((m, d), f32, repl), _sds((m,), i32, repl))
        desc = f"pool {p_pad}x{d} on {nd} devices; L {lc}, U {uc}, M {m}"
        return _compile(f"acquire[{arm}]", fn, args, desc, nd)
    inputs = AcquisitionInputs(
        labeled_emb=_sds((lc, d), f32), labeled_y=_sds((lc,), i32),
        pool_emb=_sds((uc, d), f32), pool_probs=_sds((uc, c), f32),
        val_emb=_sds((m, d), f32), val_y=_sds((m,), i32), num_classes=c,
        labeled_probs=_sds((lc, c), f32), labeled_mask=_sds((lc,), bool),
        pool_mask=_sds((uc,), bool), class_capacity=rs.class_bound)
    desc = f"L {lc}x{d}, U {uc}x{d}, M {m}x{d}, C {c}"
    return _compile(f"acquire[{arm}]", make_acquire_fn(acq), (_sds((), key.dtype), inputs),
                    desc, 1)


# ----------------------------------------------------------------------------
# Report and round estimate.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    """Estimated seconds of round r of one (seed, arm), on one device of each program.

    Attributes:
      round: r (0..R).
      labeled: n_r = L0 + r B.
      train_steps: epochs x ceil(n_r / batch) (the epoch cap).
      training_s: the train steps plus the per-epoch validation passes.
      inference_s: test accuracy, and (r < R) the pool and validation embeddings.
      acquisition_s: {arm: s} of the one acquisition call (empty in the last round).
    """

    round: int
    labeled: int
    train_steps: int
    training_s: float
    inference_s: float
    acquisition_s: dict[str, float]

    def seconds(self, arm: str) -> float:
        return self.training_s + self.inference_s + self.acquisition_s.get(arm, 0.0)


@dataclasses.dataclass(frozen=True)
class PlanReport:
    """What :func:`plan` found (see the module doc).

    Attributes:
      config: a one-line description of the run.
      backend, device_kind: where it was compiled.
      shapes: the run's :class:`RunShapes`.
      programs: every compiled program (:class:`ProgramPlan`).
      calls: per program name, its calls in the largest round (the fit of round
        R at the epoch cap with its validation passes, the test, pool and
        validation embeddings of a round, one acquisition).
      epochs, batch_size, budget, rounds_total: ``train.epochs``,
        ``train.batch_size``, ``acquisition.budget``, ``loop.rounds``.
      eval_chunks: chunk size of ``predict`` (and ``validate``).
      arms, seeds, share_initial_round: of the loop.
      peak_flops, bandwidth: the device the estimate is for (None: no estimate).
      rounds: per-round estimates (empty without a device).
      per_arm_s: {arm: estimated seconds of one (seed, arm) run, all rounds}.
      experiment_s: all seeds and arms (round 0 shared per seed when
        ``loop.share_initial_round``).
    """

    config: str
    backend: str
    device_kind: str
    shapes: RunShapes
    programs: tuple[ProgramPlan, ...]
    calls: dict[str, int]
    epochs: int
    batch_size: int
    budget: int
    rounds_total: int
    eval_chunks: dict[str, int]
    arms: tuple[str, ...]
    seeds: int
    share_initial_round: bool
    peak_flops: float | None = None
    bandwidth: float | None = None
    rounds: tuple[RoundPlan, ...] = ()
    per_arm_s: dict[str, float] = dataclasses.field(default_factory=dict)
    experiment_s: float | None = None

    def program(self, name: str) -> ProgramPlan:
        for p in self.programs:
            if p.name == name:
                return p
        raise KeyError(name)

    def estimate(self, peak_flops: float, bandwidth: float) -> "PlanReport":
        """This report with round-time estimates for a device of ``peak_flops`` FLOP/s
        and ``bandwidth`` bytes/s (per device; no recompilation)."""

        V.check_number("peak_flops", peak_flops, lo=0, lo_open=True)
        V.check_number("bandwidth", bandwidth, lo=0, lo_open=True)
        t = {p.name: p.seconds(peak_flops, bandwidth) for p in self.programs}
        rs = self.shapes
        val_name = "validate" if "validate" in t else "predict"
        val_chunks = math.ceil(rs.val / self.eval_chunks[val_name])
        chunk = self.eval_chunks["predict"]
        rounds = []
        for r in range(self.rounds_total + 1):
            n = rs.initial_labeled + r * self.budget
            steps = self.epochs * math.ceil(n / self.batch_size)
            train = steps * t["train_step"] + self.epochs * val_chunks * t[val_name]
            last = r == self.rounds_total
            chunks = math.ceil(rs.test / chunk) + (0 if last else math.ceil(rs.pool / chunk)
                                                   + math.ceil(rs.val / chunk))
            acq = {} if last else {a: t[f"acquire[{a}]"] for a in self.arms}
            rounds.append(RoundPlan(r, n, steps, train, chunks * t["predict"], acq))
        per_arm = {a: sum(rp.seconds(a) for rp in rounds) for a in self.arms}
        total = self.seeds * sum(per_arm.values())
        if self.share_initial_round and rounds:
            r0 = rounds[0]
            total -= self.seeds * (len(self.arms) - 1) * (r0.training_s + r0.inference_s)
        return dataclasses.replace(self, peak_flops=float(peak_flops),
                                   bandwidth=float(bandwidth), rounds=tuple(rounds),
                                   per_arm_s=per_arm, experiment_s=total)


def plan(cfg, *, peak_flops: float | None = None, bandwidth: float | None = None,
         shapes: DataShapes | None = None,
         source_shapes: Mapping[str, DataShapes] | None = None) -> PlanReport:
    """Compile the run's programs on abstract inputs and estimate its rounds.

    Args:
      cfg: an :class:`~ads_jax.experiment.ExperimentConfig`.
      peak_flops: one device's peak FLOP/s for the model's compute dtype
        (e.g. 989e12 for an H100 SXM in bf16 dense); None: no time estimate.
      bandwidth: one device's memory bandwidth in bytes/s (e.g. 3.35e12).
      shapes: sizes of the target data set (default :func:`data_shapes` of
        ``cfg.data.dataset``); ``source_shapes``: of the domain-shift sources.

    Returns:
      :class:`PlanReport` (``format_plan`` prints it).

    Raises:
      ValueError: unknown data set (pass ``shapes``), a config the loop would
        refuse (pool smaller than L0 + R x B), a ``peak_flops`` / ``bandwidth``
        given without the other.
    """

    if not isinstance(cfg, ExperimentConfig):
        raise TypeError(f"`cfg` must be an ExperimentConfig, got {type(cfg).__name__}.")
    if (peak_flops is None) != (bandwidth is None):
        raise ValueError("Pass both `peak_flops` and `bandwidth` (one device's FLOP/s and "
                         "bytes/s), or neither (no time estimate).")
    if cfg.model.name != "wrn":
        raise ValueError(f"plan sizes WideResNet runs; `model.name`={cfg.model.name!r} trains a "
                         "head on frozen features (proxy mode), which takes seconds per round "
                         "on a CPU (BENCHMARKS.md).")
    rs = run_shapes(cfg, shapes, source_shapes)
    if rs.labeled_capacity > rs.pool:
        raise ValueError(f"The pool is too small: L0 + R x B = {rs.labeled_capacity} > "
                         f"P = {rs.pool}. Lower acquisition.budget or loop.rounds.")
    model = build_model(cfg.model, rs.num_classes)
    mesh = data_mesh(cfg.train.data_parallel)
    nd = num_shards(mesh)
    train, variables = _train_program(cfg, model, rs, mesh)
    feats = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((1, *rs.image_shape), jnp.float32),
                                                 train=False), variables)[1]
    d = int(feats.shape[-1])
    def chunk(bs: int) -> int:  # inference._chunk_size of the largest set (the pool)
        return min(-(-bs // nd) * nd, -(-rs.pool // nd) * nd)

    programs = [train, _predict_program("predict", model, variables, rs,
                                        chunk(cfg.loop.eval_batch_size), mesh)]
    eval_chunks = {"predict": chunk(cfg.loop.eval_batch_size)}
    if chunk(cfg.train.eval_batch_size) != eval_chunks["predict"]:
        eval_chunks["validate"] = chunk(cfg.train.eval_batch_size)
        programs.append(_predict_program("validate", model, variables, rs,
                                         eval_chunks["validate"], mesh))
    arms = tuple(cfg.arms)
    if cfg.loop.rounds > 0:
        programs += [_acquire_program(cfg, a, rs, d) for a in arms]
    calls = {"train_step": cfg.train.epochs * math.ceil(rs.labeled_capacity
                                                        / cfg.train.batch_size),
             "predict": (math.ceil(rs.test / eval_chunks["predict"])
                         + math.ceil(rs.pool / eval_chunks["predict"])
                         + math.ceil(rs.val / eval_chunks["predict"]))}
    val_chunks = math.ceil(rs.val / eval_chunks.get("validate", eval_chunks["predict"]))
    if "validate" in eval_chunks:
        calls["validate"] = cfg.train.epochs * val_chunks
    else:
        calls["predict"] += cfg.train.epochs * val_chunks
    for a in arms:
        calls[f"acquire[{a}]"] = 1
    dev = jax.devices()[0]
    d_cfg = cfg.data
    desc = (f"{d_cfg.dataset} ({d_cfg.kind}), P={rs.pool}, L0={rs.initial_labeled}, "
            f"B={cfg.acquisition.budget}, R={cfg.loop.rounds}, {cfg.model.name} "
            f"{cfg.model.dtype}, batch {cfg.train.batch_size}, <= {cfg.train.epochs} epochs, "
            f"{len(arms)} arm(s) x {len(cfg.loop.seeds)} seed(s), loop.mesh={cfg.loop.mesh}")
    rep = PlanReport(config=desc, backend=jax.default_backend(),
                     device_kind=f"{jax.device_count()} x {dev.device_kind}", shapes=rs,
                     programs=tuple(programs), calls=calls, epochs=cfg.train.epochs,
                     batch_size=cfg.train.batch_size, budget=cfg.acquisition.budget,
                     rounds_total=cfg.loop.rounds, eval_chunks=eval_chunks, arms=arms,
                     seeds=len(cfg.loop.seeds),
                     share_initial_round=bool(cfg.loop.share_initial_round))
    if peak_flops is not None:
        rep = rep.estimate(peak_flops, bandwidth)
    return rep


# ----------------------------------------------------------------------------
# Text.
# ----------------------------------------------------------------------------


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def _si(x: float, unit: str = "") -> str:
    for p, s in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= p:
            return f"{x / p:.3g} {s}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.3g} ms"


def format_plan(report: PlanReport) -> str:
    """Markdown tables of a :class:`PlanReport`: the programs, then (with a device)
    the per-round estimate and the totals."""
    rs = report.shapes
    lines = [f"Run: {report.config}",
             f"Compiled on: {report.backend} ({report.device_kind}).",
             f"Shapes: image {rs.image_shape}, C={rs.num_classes}, pool P={rs.pool}, "
             f"labeled capacity {rs.labeled_capacity}, pool capacity {rs.pool_capacity}, "
             f"validation M={rs.val}, test T={rs.test}, class bound {rs.class_bound}.", ""]
    est = report.peak_flops is not None
    head = ("| program | shapes | devices | memory / device (GiB) | FLOPs / call | bytes / call "
            "| compile | calls (largest round) |")
    if est:
        head += " est. / call |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for p in report.programs:
        dyn = f" (+{p.dynamic_loops} dynamic loops: lower bound)" if p.dynamic_loops else ""
        row = (f"| {p.name} | {p.shapes} | {p.devices} | {_gib(p.memory['total'])} "
               f"(temp {_gib(p.memory['temp'])}) | {_si(p.flops)}{dyn} | "
               f"{_si(p.bytes_accessed, 'B')} | {p.compile_s:.1f} s | "
               f"{report.calls.get(p.name, 0)} |")
        if est:
            row += f" {_dur(p.seconds(report.peak_flops, report.bandwidth))} |"
        lines.append(row)
    if not est:
        return "\n".join(lines)
    lines += ["", f"Estimate for a device of {_si(report.peak_flops, 'FLOP/s')} and "
              f"{_si(report.bandwidth, 'B/s')} (roofline per call; epochs at their cap "
              f"{report.epochs}; host work excluded):", ""]
    arms = list(report.arms)
    head = "| round | labeled | train steps | training | inference |" + "".join(
        f" acquire {a} |" for a in arms) + " round (slowest arm) |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in report.rounds:
        acq = "".join(f" {_dur(r.acquisition_s[a]) if a in r.acquisition_s else '-'} |"
                      for a in arms)
        worst = max(r.seconds(a) for a in arms)
        lines.append(f"| {r.round} | {r.labeled} | {r.train_steps} | {_dur(r.training_s)} | "
                     f"{_dur(r.inference_s)} |{acq} {_dur(worst)} |")
    lines += ["", "Per (seed, arm) run: " + ", ".join(f"{a} {_dur(s)}"
                                                      for a, s in report.per_arm_s.items()),
              f"Whole experiment ({report.seeds} seed(s) x {len(arms)} arm(s)"
              + (", round 0 shared per seed" if report.share_initial_round else "")
              + f", one device): {_dur(report.experiment_s)}."]
    return "\n".join(lines)
