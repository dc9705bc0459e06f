"""train.deterministic: --xla_gpu_deterministic_ops=true in XLA_FLAGS before JAX starts
its backends (the CLI's code path, checked in a fresh process), no effect on CPU, and a
clear error on a GPU backend started without it (the GPU is simulated by patching the
platform query: no GPU here)."""

import json
import os
import subprocess
import sys

import pytest

from ads_jax import determinism as D
from ads_jax.training import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("flags,want", [
    (None, False), ("", False), ("--xla_force_host_platform_device_count=8", False),
    ("--xla_gpu_deterministic_ops=true", True), ("--xla_gpu_deterministic_ops", True),
    ("--xla_gpu_deterministic_ops=1", True), ("--xla_gpu_deterministic_ops=false", False),
    ("--xla_gpu_deterministic_ops=true --xla_gpu_deterministic_ops=false", False),
    ("--xla_gpu_deterministic_ops=false --a=1 --xla_gpu_deterministic_ops=true", True),
    ("--xla_gpu_deterministic_ops_extra=true", False),
])
def test_flag_parsing(flags, want):
    assert D.deterministic_ops_requested(flags) is want


def test_request_keeps_other_flags_and_replaces_a_false_value():
    env = {"XLA_FLAGS": "--a=1 --xla_gpu_deterministic_ops=false --b"}
    D.request_deterministic_ops(env)
    assert env["XLA_FLAGS"] == "--a=1 --b --xla_gpu_deterministic_ops=true"
    env = {}
    D.request_deterministic_ops(env)
    assert env["XLA_FLAGS"] == D.DETERMINISTIC_FLAG


def test_before_the_backends_start_the_flag_is_set(monkeypatch):
    monkeypatch.setattr(D, "backends_initialized", lambda: False)
    env = {"XLA_FLAGS": "--a=1"}
    D.ensure_deterministic_ops(False, environ=env)
    assert env == {"XLA_FLAGS": "--a=1"}  # not asked: untouched
    D.ensure_deterministic_ops(True, environ=env)
    assert D.deterministic_ops_requested(env["XLA_FLAGS"]) and "--a=1" in env["XLA_FLAGS"]


def test_started_cpu_backend_needs_nothing():
    import jax

    jax.devices()  # backends started (CPU in tests)
    env = {"XLA_FLAGS": ""}
    D.ensure_deterministic_ops(True, environ=env)  # no error, nothing changed
    assert env == {"XLA_FLAGS": ""} and "gpu" not in D.running_platforms()


def test_started_gpu_backend_without_the_flag_raises_with_the_fix(monkeypatch):
    monkeypatch.setattr(D, "backends_initialized", lambda: True)
    monkeypatch.setattr(D, "running_platforms", lambda: {"cpu", "cuda", "gpu"})
    with pytest.raises(RuntimeError, match=r"XLA_FLAGS.*--xla_gpu_deterministic_ops=true.*"
                                           r"train.deterministic=false"):
        D.ensure_deterministic_ops(True, environ={"XLA_FLAGS": "--a=1"})
    D.ensure_deterministic_ops(True, environ={"XLA_FLAGS": D.DETERMINISTIC_FLAG})
    D.ensure_deterministic_ops(False, environ={})


def test_fit_refuses_a_gpu_started_without_the_flag(monkeypatch, digits):
    import jax

    from ads_jax.models import build_model
    from ads_jax.training import fit

    monkeypatch.setattr(D, "backends_initialized", lambda: True)
    monkeypatch.setattr(D, "running_platforms", lambda: {"gpu"})
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    x, y = digits
    with pytest.raises(RuntimeError, match="train.deterministic"):
        fit(jax.random.key(0), build_model("wrn-10-1", 10), x[:8], y[:8], cfg=TrainConfig(epochs=1),
            progress=False)


_CLI_PROBE = r"""
import json, os, sys
from ads_jax import cli, determinism
seen = {}

class Stop(Exception):
    pass

def fake_run_experiment(cfg, **kw):
    seen["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    seen["backends_started_before_run"] = determinism.backends_initialized()
    raise Stop

cli.run_experiment = fake_run_experiment
try:
    cli.main(sys.argv[1:])
except Stop:
    pass
import jax, jax.numpy as jnp  # the flag is accepted by the CPU backend: no effect, no error
seen["sum"] = float(jnp.ones(3).sum())
seen["backend"] = jax.default_backend()
print(json.dumps(seen))
"""


def _cli(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", _CLI_PROBE, *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_sets_the_flag_before_jax_starts_its_backends(tmp_path):
    got = _cli("run", "tiny", "--out-dir", str(tmp_path / "a"), "--no-plot")
    assert not got["backends_started_before_run"]
    assert got["xla_flags"] == "--xla_force_host_platform_device_count=2 " + D.DETERMINISTIC_FLAG
    assert got["sum"] == 3.0 and got["backend"] == "cpu"
    off = _cli("run", "tiny", "train.deterministic=false", "--out-dir", str(tmp_path / "b"))
    assert off["xla_flags"] == "--xla_force_host_platform_device_count=2"
