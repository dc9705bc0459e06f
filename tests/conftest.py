"""Test configuration: 8 simulated CPU devices so sharded code runs everywhere.

XLA_FLAGS must be set before JAX initialises its backends, i.e. before the
first ``import jax`` anywhere in the test session; conftest.py is imported
first by pytest.
"""

import os

_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Never reach the network from tests (TFDS, hubs).
os.environ.setdefault("TFDS_DATA_DIR", os.path.join(os.path.dirname(__file__), ".tfds_never_used"))
os.environ.setdefault("NO_GCE_CHECK", "true")
# A persistent compilation cache for the session (and the subprocesses it starts):
# the same small programs are compiled by many modules (each module drops JAX's
# in-memory caches, see below), and loading them back costs far less than compiling.
# Tests that count compilations turn it off (the `fresh_compiles` fixture).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="ads_jax_test_xla_")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402
from jax.experimental.compilation_cache import compilation_cache as _cc  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def fresh_compiles():
    """Compile every program for real (no persistent cache): for tests that count
    backend compilations."""
    prev = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    _cc.reset_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", prev)
        _cc.reset_cache()


@pytest.fixture
def x64():
    """Enable float64 for the duration of one test."""
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits as uint8 images (1797, 8, 8, 1) and int32 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images[..., None] * 16, 0, 255).astype(np.uint8)
    return x, d.target.astype(np.int32)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    One pytest process compiles thousands of XLA programs; each keeps memory
    mappings for its code, and a whole-suite run would otherwise approach the
    kernel's per-process mapping limit (vm.max_map_count), where XLA crashes.
    """
    yield
    jax.clear_caches()
