"""The paper presets (``ads_jax/configs/paper_*.py``) and the paper scripts
(``experiments/paper/{table1_first_round,fig5_curves,ablation_grid}.py``).

* every variant of every preset module builds, and the ``paper`` variants
  hold the paper's stated values (5,000 initial labeled, batches of 5,000,
  500 validation images from the test split, the rest for testing, 5 rounds,
  ``max`` over the top-10 classes, the pre-selection fractions, WRN-28-10 /
  WRN-16-8); the ``cpu`` variants keep the paper's choices and ``cpu_ours``
  ads_jax's; only ``tiny`` variants are run, on the built-in digits (nothing
  here reads /work/shared);
* each script's ``tiny`` preset runs end to end into a temporary directory
  (the session's runs of conftest.py) and writes well-formed JSON / CSV / PNG
  (/ Markdown), and a rerun resumes: every job is skipped and no results file
  is rewritten.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ads_jax.configs import resolve as resolve_config
from ads_jax.valuation import ESTIMATORS

MODULES = {  # module -> (variants, pre-selection fraction of the paper)
    "paper_cifar10": (("paper", "paper_gpu", "cpu", "cpu_ours", "tiny"), 0.3),
    "paper_noisy": (("paper", "paper_gpu", "paper_svhn", "cpu", "cpu_ours", "cpu_cifar10",
                     "tiny"), 0.1),
    "paper_cheap10": (("paper", "paper_gpu", "cpu", "cpu_ours", "tiny"), 0.1),
    "paper_domain_shift": (("paper", "paper_gpu", "cpu", "cpu_ours", "tiny"), 0.2),
    "paper_cinic10": (("paper", "paper_gpu", "cpu", "cpu_ours", "tiny"), 0.2),
    "paper_tiny_imagenet": (("paper", "paper_gpu", "cpu", "cpu_ours", "tiny"), 0.2),
}
PNG = b"\x89PNG\r\n\x1a\n"


def _opts(cfg):
    est = cfg.acquisition.estimator
    return ESTIMATORS.typed(est.name, est.options)


# ----------------------------------------------------------------------------
# Presets.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(MODULES))
def test_paper_variants_have_the_papers_values(module):
    variants, fraction = MODULES[module]
    mod = importlib.import_module(f"ads_jax.configs.{module}")
    assert mod.__doc__ and "paper" in mod.__doc__
    default = resolve_config(module)
    assert default == resolve_config(f"{module}:paper")
    with pytest.raises(ValueError, match="variants"):
        resolve_config(f"{module}:nope")
    for v in variants:
        cfg = resolve_config(f"{module}:{v}")
        assert cfg.acquisition.preselect.fraction == fraction, (module, v)
        assert cfg.acquisition.estimator.name == "knn_regression"
        assert _opts(cfg).top_t == 10
        assert cfg.acquisition.valuation.name == "jia" and cfg.acquisition.valuation.k == 5
        if not v.startswith("paper"):
            continue
        d = cfg.data
        assert (d.initial_labeled, cfg.acquisition.budget, d.val_size) == (5000, 5000, 500)
        assert d.val_source == "test" and d.test_size is None and d.pool_size is None
        assert cfg.loop.rounds == 5 and len(cfg.loop.seeds) == 3
        o = _opts(cfg)
        assert (o.aggregate, o.k, o.weights) == ("max", 5, "uniform")
        wrn = (16, 8) if v == "paper_svhn" else (28, 10)
        assert (cfg.model.depth, cfg.model.width) == wrn
        assert not d.dataset.startswith("npz:/work/shared")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_paper_gpu_variant_is_the_paper_variant_for_accelerators(module):
    """paper_gpu changes exactly the accelerator fields (and its run directory)."""
    from ads_jax.config_engine import config_diff

    paper, gpu = resolve_config(f"{module}:paper"), resolve_config(f"{module}:paper_gpu")
    assert config_diff(paper, gpu) == ["loop.out_dir", "model.dtype", "train.async_checkpoint",
                                       "train.checkpoint_every"]
    assert gpu.model.dtype == "bfloat16" and gpu.train.checkpoint_every == 5
    assert gpu.train.async_checkpoint and gpu.train.deterministic and paper.train.deterministic
    assert gpu.loop.checkpoint_training  # the epoch checkpoints checkpoint_every thins out
    assert gpu.loop.out_dir == f"runs/{module}/paper_gpu"


def test_svhn500k_runs_the_noisy_loop_at_500k():
    cfg = resolve_config("paper_noisy:svhn500k")
    paper = resolve_config("paper_noisy:paper_svhn")
    d = cfg.data
    assert d.dataset == "svhn_cropped+extra" and d.pool_size == 500_000
    assert (d.kind, d.noise_fraction, d.noise_beta, d.noisy_initial) == (
        "noisy", 0.8, (2.0, 5.0), False)
    assert (d.initial_labeled, cfg.acquisition.budget, cfg.loop.rounds) == (5000, 5000, 5)
    assert (cfg.model.depth, cfg.model.width, cfg.model.dtype) == (16, 8, "bfloat16")
    assert cfg.acquisition == paper.acquisition and cfg.train.flip is False
    assert cfg.train.checkpoint_every == 5 and cfg.train.async_checkpoint
    assert cfg.loop.mesh == "all" and cfg.loop.out_dir == "runs/paper_noisy/svhn500k"


def test_paper_scenarios_and_arms():
    noisy = resolve_config("paper_noisy:paper").data
    assert noisy.kind == "noisy" and noisy.noise_fraction == 0.8 and noisy.dataset == "cifar10"
    assert noisy.noisy_initial is False and noisy.noise_beta == (2.0, 5.0)
    assert resolve_config("paper_noisy:paper_svhn").data.dataset == "svhn_cropped"
    cheap = resolve_config("paper_cheap10:paper").data
    assert cheap.kind == "cheap" and cheap.ood_fraction > 0 and cheap.mislabel_fraction > 0
    ds = resolve_config("paper_domain_shift:paper").data
    assert ds.kind == "domain_shift" and ds.dataset == "cifar10"
    assert ds.source_datasets[0].startswith("cinic10:")
    assert resolve_config("paper_cifar10:paper").data.kind == "curated"
    from ads_jax.configs.paper_cifar10 import CURVE_ARMS, TABLE1_ARMS

    assert set(CURVE_ARMS) == {"ads+coreset", "coreset", "entropy", "random",
                               "randfilter+coreset"}
    assert {a.split("+")[-1] for a in TABLE1_ARMS} == {"coreset", "kmedians", "badge"}
    assert {a.split("+")[0] for a in TABLE1_ARMS if "+" in a} == {"ads", "randfilter"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_cpu_and_tiny_variants(module):
    paper = resolve_config(f"{module}:paper")
    cpu, ours, tiny = (resolve_config(f"{module}:{v}") for v in ("cpu", "cpu_ours", "tiny"))
    for cfg in (cpu, ours, tiny):  # same code path as the paper's
        assert cfg.data.kind == paper.data.kind and cfg.arms == paper.arms
        assert (cfg.model.depth, cfg.model.width) == (10, 1)
        need = cfg.data.initial_labeled + cfg.loop.rounds * cfg.acquisition.budget
        assert cfg.data.pool_size is not None and need <= cfg.data.pool_size
    assert _opts(cpu) == _opts(paper)  # the paper's choices at CPU scale
    assert _opts(ours).aggregate == "mean" and _opts(ours).weights == "distance"
    assert _opts(ours).k == 10
    assert cpu.loop.rounds == 5 and cpu.acquisition.budget == cpu.data.initial_labeled
    assert tiny.data.dataset == "digits" and tiny.loop.rounds == 1 and tiny.train.epochs == 1
    for name in [tiny.data.dataset, *tiny.data.source_datasets, tiny.data.ood_dataset or ""]:
        assert "/work/shared" not in name
    if module in ("paper_cifar10", "paper_noisy", "paper_cheap10", "paper_domain_shift"):
        assert cpu.data.dataset.startswith("npz:")  # local copies (never read by tests)
    if module == "paper_noisy":
        assert ours.data.noisy_initial and ours.data.noise_beta == (5.0, 2.0)
        assert not cpu.data.noisy_initial and cpu.data.noise_beta == (2.0, 5.0)


def test_cpu_cifar10_variants_carve_validation_and_test_from_train():
    """The shared CIFAR-10 copy holds only 1,017 test images: every CIFAR-10-based
    ``cpu`` variant takes validation (500) and test (5,000) from the train split."""
    specs = ["paper_cifar10:cpu", "paper_cifar10:cpu_ours", "paper_cheap10:cpu",
             "paper_cheap10:cpu_ours", "paper_domain_shift:cpu", "paper_domain_shift:cpu_ours",
             "paper_noisy:cpu_cifar10"]
    for spec in specs:
        d = resolve_config(spec).data
        assert d.dataset.endswith("cifar10.npz"), spec
        assert (d.val_source, d.test_source, d.val_size, d.test_size) == (
            "train", "train", 500, 5000), spec
    fm = resolve_config("paper_noisy:cpu").data  # Fashion-MNIST: complete test split
    assert (fm.val_source, fm.test_source) == ("test", "test")


def test_domain_shift_uses_the_shifted_spec():
    from ads_jax.data import build_scenario, load_dataset, shift_images

    cpu = resolve_config("paper_domain_shift:cpu").data
    assert cpu.source_datasets == (cpu.dataset, f"shifted:{cpu.dataset}")
    tiny = resolve_config("paper_domain_shift:tiny").data
    assert tiny.source_datasets == ("digits", "shifted:digits")
    base, sh = load_dataset("digits"), load_dataset("shifted:digits")
    assert sh.class_names == base.class_names
    np.testing.assert_array_equal(sh.y_train, base.y_train)
    np.testing.assert_array_equal(sh.x_train, shift_images(base.x_train))
    assert not np.array_equal(sh.x_train, base.x_train)
    sc = build_scenario(tiny, seed=0)
    assert sc.pool_size == tiny.pool_size
    counts = sc.provenance_counts()
    assert counts["source_domain"] > 0.6 * sc.pool_size and counts["clean"] > 0


def test_scripts_group_arms_by_default():
    """The arms of one seed share one job (and its round-0 model) unless --no-group-arms."""
    from experiments.paper import _common as C

    p = C.parser("x", "x")
    assert p.parse_args([]).group_arms is True
    assert p.parse_args(["--group-arms"]).group_arms is True
    assert p.parse_args(["--no-group-arms"]).group_arms is False
    from ads_jax.sweep import jobs_of

    t1 = _load("table1_first_round")
    args = p.parse_args(["--preset", "tiny"])
    jobs = jobs_of(t1.build_sweeps("tiny", ["paper_cifar10"], [0], args.group_arms), "/none")
    assert len(jobs) == 1 and len(jobs[0].arms) == 3


def test_threshold_radius_valuation():
    import jax.numpy as jnp

    from ads_jax.valuation import (
        ValuationConfig,
        available_valuations,
        build_valuation,
        knn_shapley,
    )
    from experiments.plugins import threshold_radius as TR

    assert TR.NAME in available_valuations()
    rng = np.random.default_rng(0)
    tx, vx = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(12, 4)).astype(
        np.float32)
    ty, vy = rng.integers(0, 3, 30).astype(np.int32), rng.integers(0, 3, 12).astype(np.int32)
    d = ((vx[:, None, :] - tx[None, :, :]) ** 2).sum(-1)
    tau = float(np.quantile(np.sort(d, axis=1)[:, 4], 0.5))
    np.testing.assert_allclose(float(TR.radius(jnp.asarray(tx), jnp.asarray(vx), k=5,
                                               metric="sqeuclidean", quantile=0.5)),
                               tau, rtol=1e-4)
    got = build_valuation(ValuationConfig(name=TR.NAME, k=5)).values(
        jnp.asarray(tx), jnp.asarray(ty), jnp.asarray(vx), jnp.asarray(vy), num_classes=3)
    want = knn_shapley(tx, ty, vx, vy, num_classes=3, k=5, variant="threshold", tau=tau)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError):
        ValuationConfig(name=TR.NAME, options={"quantile": 2.0})


# ----------------------------------------------------------------------------
# Scripts (tiny presets, end to end).
# ----------------------------------------------------------------------------


def _load(name):
    return importlib.import_module(f"experiments.paper.{name}")


def _results_mtimes(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("results.jsonl")}


def _finite_json(path: Path):
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


def _run_twice(run):
    """The session's first tiny run of a script (conftest.py) and a second, resuming one."""
    script, out, root, argv, first = run.module, run.out, run.root, run.argv, run.first
    assert first["jobs"]["missing"] == [] and first["jobs"]["total"] > 0
    assert {r["status"] for r in first["reports"]} == {"ran"}
    before = _results_mtimes(root)
    assert len(before) == first["jobs"]["total"]
    second = script.main(argv)  # resumes: nothing recomputed or rewritten
    assert {r["status"] for r in second["reports"]} == {"skipped"}
    assert _results_mtimes(root) == before
    for p in second["paths"].values():
        assert Path(p).is_file() and Path(p).stat().st_size > 0
        if p.endswith(".png"):
            assert Path(p).read_bytes()[:8] == PNG and Path(p).stat().st_size < 400_000
    return first, second, out


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_table1_tiny_end_to_end_and_resume(table1_tiny, capsys):
    first, second, out = _run_twice(table1_tiny)
    js = _finite_json(out / "table1_first_round_tiny.json")
    assert js["preset"] == "tiny" and js["settings"] == second["settings"]
    arms = js["settings"]["paper_cifar10"]["arms"]
    assert set(arms) == {"coreset", "ads+coreset", "randfilter+coreset"}
    for a in arms.values():
        assert a["labeled"] == 20 and a["test_accuracy"]["n"] == 1
        assert 0.0 <= a["test_accuracy"]["mean"] <= 1.0
        assert a["selection_seconds"]["mean"] >= 0
    assert js["settings"]["paper_cifar10"]["paired_differences"]["ads+coreset - coreset"]["n"] == 1
    rows = _csv(out / "table1_first_round_tiny.csv")
    assert len(rows) == 3 and {r["arm"] for r in rows} == set(arms)
    md = (out / "table1_first_round_tiny.md").read_text()
    assert "| paper_cifar10 | coreset |" in md and md in capsys.readouterr().out


def test_table1_first_call_time_from_new_and_old_records(table1_tiny):
    t1 = table1_tiny.module
    # records of this version: compile + one call; of earlier versions: selection_first_call
    assert t1.first_call_seconds({"selection": 0.25, "compile": 1.5}) == 1.75
    assert t1.first_call_seconds({"selection": 0.25, "compile": 0.0}) == 0.25
    assert t1.first_call_seconds({"selection": 0.25, "selection_first_call": 3.0,
                                  "selection_staged": 0.5}) == 3.0
    assert t1.first_call_seconds({"selection": 0.25}) is None
    for a in table1_tiny.first["settings"]["paper_cifar10"]["arms"].values():
        first, warm = a["selection_first_call_seconds"], a["selection_seconds"]
        assert first["n"] == warm["n"] == 1 and first["mean"] > warm["mean"] >= 0


def test_table1_settings_may_name_their_variant():
    t1 = _load("table1_first_round")
    sweeps = t1.build_sweeps("cpu", ["paper_cifar10", "paper_cifar10:cpu_ours"], [0], True)
    assert [sw.spec for sw in sweeps] == ["paper_cifar10:cpu", "paper_cifar10:cpu_ours"]
    from ads_jax.sweep import jobs_of

    assert len({j.name for j in jobs_of(sweeps, "/nonexistent")}) == 2
    ours = sweeps[1].base_config().acquisition.estimator
    assert ours.name == "knn_regression" and ours.options == {}
    assert _opts(sweeps[0].base_config()).aggregate == "max"


def test_fig5_tiny_end_to_end_and_resume(fig5_tiny):
    first, second, out = _run_twice(fig5_tiny)
    js = _finite_json(out / "fig5_curves_tiny.json")
    assert list(js["settings"]) == ["curated", "noisy", "cheap", "domain_shift"]
    for s, d in js["settings"].items():
        assert set(d["arms"]) == {"ads+coreset", "random"}
        for arm, rounds in d["arms"].items():
            assert [x["round"] for x in rounds] == [0, 1]
            assert [x["labeled"] for x in rounds] == [10, 20]
            assert all(0 <= x["test_accuracy"]["mean"] <= 1 for x in rounds)
            pk = rounds[0]["picked"]
            assert pk is not None and rounds[1]["picked"] is None
            assert math.isclose(sum(v for k, v in pk.items() if k != "non_clean"), 1.0,
                                abs_tol=1e-9)
            pool = rounds[0]["pool"]
            if s == "curated":
                assert pool["non_clean"]["mean"] == 0.0
            else:
                assert pool["non_clean"]["mean"] > 0.5
            key = {"noisy": "noisy", "cheap": "ood", "domain_shift": "source_domain"}.get(s)
            if key:
                assert pool[key] > 0.3
    rows = _csv(out / "fig5_curves_tiny.csv")
    assert len(rows) == 4 * 2 * 2
    assert {"picked_non_clean", "picked_ood", "picked_mislabeled", "picked_source_domain",
            "test_accuracy_mean", "test_accuracy_std"} <= set(rows[0])


def test_fig5_cpu_sweeps():
    """The cpu preset: 3 rounds, the four paper settings with all arms, and the noisy
    pool with ads_jax's choices (``paper_noisy:cpu_ours``) with ADS and its controls."""
    f5 = _load("fig5_curves")
    sweeps = f5.build_sweeps("cpu", f5.DEFAULT_SETTINGS["cpu"], None, True)
    by = {sw.name: sw for sw in sweeps}
    assert list(by) == ["curated-cpu", "noisy-cpu", "cheap-cpu", "domain_shift-cpu",
                        "noisy_ours-cpu"]
    assert by["noisy_ours-cpu"].spec == "paper_noisy:cpu_ours"
    assert by["noisy-cpu"].spec == "paper_noisy:cpu"
    assert set(by["noisy_ours-cpu"].arms) == {"ads+coreset", "coreset", "randfilter+coreset"}
    assert len(by["curated-cpu"].arms) == 5
    for sw in sweeps:
        assert sw.overrides == ("loop.rounds=3",) and sw.base_config().loop.rounds == 3
    assert f5.build_sweeps("tiny", ["curated"], None, False)[0].overrides == ()


def test_ablation_tiny_end_to_end_and_resume(ablation_tiny):
    ab = ablation_tiny.module
    first, second, out = _run_twice(ablation_tiny)
    js = _finite_json(out / "ablation_grid_tiny.json")
    pts = {p["point"]: p for p in js["points"]}
    assert set(pts) == {"base", "aggregate=mean", "valuation=threshold"}
    assert pts["base"]["levels"] == ab.BASE
    assert pts["valuation=threshold"]["levels"]["valuation"] == "threshold"
    for p in pts.values():
        m = p["metrics"]
        assert 0 <= m["final_accuracy"]["mean"] <= 1
        assert 0 <= m["picked_non_clean"]["mean"] <= 1 and m["selection_seconds"]["mean"] >= 0
    assert set(pts["base"]["blocks"]) == {"aggregate", "valuation"}
    for metric in ab.METRICS:
        assert (out / f"ablation_grid_tiny_{metric}.png").read_bytes()[:8] == PNG
    rows = _csv(out / "ablation_grid_tiny.csv")
    assert len(rows) == 3 and "level.aggregate" in rows[0]
    # every point sets all factors explicitly
    cpu = ab.design_points("cpu")
    assert len(cpu) == 21 and all(len(p["overrides"]) == len(ab.FACTORS) for p in cpu)
    cfgs = [resolve_config("paper_noisy:cpu", p["overrides"]) for p in cpu[:3]]
    assert _opts(cfgs[1]).weights == "distance" and _opts(cfgs[0]).weights == "uniform"
