"""Deterministic XLA kernels on GPU (``train.deterministic``).

On GPU, XLA picks scatter-add, reduction and cuDNN convolution kernels that may
accumulate in a different order from one run to the next, so two runs of the
same program -- in particular a killed-and-resumed run and an uninterrupted one
-- can differ in the last bits, and those differences grow through training.
``--xla_gpu_deterministic_ops=true`` in ``XLA_FLAGS`` makes XLA use
deterministic kernels only. XLA reads ``XLA_FLAGS`` once, when JAX initialises
its backends (the first computation, ``jax.devices()``, ...), so the flag has
to be in the environment before that: setting it later does nothing.

* :func:`ensure_deterministic_ops` -- what ``ads-jax run`` / ``demo``,
  :func:`ads_jax.loop.run_experiment` and :func:`ads_jax.training.fit` call: before
  the backends start it puts the flag into ``os.environ["XLA_FLAGS"]``; once they
  run on a GPU without it, it raises a RuntimeError that says how to set it.
  CPU and TPU backends need nothing (their kernels are deterministic): no
  effect, no error.
* :func:`deterministic_ops_requested` -- whether an ``XLA_FLAGS`` string turns
  the flag on.

Cost (GPU only): deterministic scatter and reductions are slower than the
atomic ones, and some of the fastest cuDNN convolution algorithms are
excluded; set ``train.deterministic=false`` to trade reproducibility for speed.
"""

from __future__ import annotations

import os
from typing import MutableMapping

# The backends' state: no public API reads it. Importing it starts no backend.
from jax._src import xla_bridge

__all__ = ["DETERMINISTIC_FLAG", "deterministic_ops_requested", "request_deterministic_ops",
           "ensure_deterministic_ops", "backends_initialized", "running_platforms"]

_NAME = "xla_gpu_deterministic_ops"
#: The XLA flag ``train.deterministic`` needs on GPU.
DETERMINISTIC_FLAG = f"--{_NAME}=true"
_TRUE = ("", "true", "1")  # "--flag" alone means true


def _flag_tokens(xla_flags: str) -> list[str]:
    return [t for t in xla_flags.split() if t.lstrip("-").split("=", 1)[0] == _NAME]


def deterministic_ops_requested(xla_flags: str | None) -> bool:
    """Whether an ``XLA_FLAGS`` string sets ``--xla_gpu_deterministic_ops`` to true
    (the last occurrence counts, as in XLA's flag parser)."""
    tokens = _flag_tokens(xla_flags or "")
    if not tokens:
        return False
    _, _, value = tokens[-1].partition("=")
    return value.strip().lower() in _TRUE


def backends_initialized() -> bool:
    """True once JAX has started its backends (``XLA_FLAGS`` is read then, once)."""
    return xla_bridge.backends_are_initialized()


def running_platforms() -> set[str]:
    """Platforms of the started backends (``{"cpu"}``, ``{"cpu", "gpu"}``, ...);
    empty before the backends start (this function never starts them)."""
    if not backends_initialized():
        return set()
    out = set()
    for name, client in xla_bridge.backends().items():  # e.g. "cuda" -> platform "gpu"
        out |= {str(name).lower(), str(client.platform).lower()}
    return out


def request_deterministic_ops(environ: MutableMapping[str, str] | None = None) -> str:
    """Put ``--xla_gpu_deterministic_ops=true`` into ``XLA_FLAGS`` (replacing any other
    value of that flag, keeping every other flag); returns the new ``XLA_FLAGS``.

    Only useful before JAX starts its backends (see the module doc).
    """
    env = os.environ if environ is None else environ
    old = env.get("XLA_FLAGS", "")
    kept = [t for t in old.split() if t not in _flag_tokens(old)]
    env["XLA_FLAGS"] = " ".join([*kept, DETERMINISTIC_FLAG])
    return env["XLA_FLAGS"]


def ensure_deterministic_ops(deterministic: bool = True, *,
                             environ: MutableMapping[str, str] | None = None) -> None:
    """Make sure GPU programs of this process use deterministic kernels, if asked.

    ``deterministic=False``: nothing. Otherwise, before JAX has started its
    backends: sets the flag in ``XLA_FLAGS`` (it then applies on a GPU and is
    ignored on CPU / TPU). After: checks that no GPU backend runs without it
    (by reading ``XLA_FLAGS``: a flag added to the environment after the
    backends started is not seen by XLA, and not detected here either).

    Raises:
      RuntimeError: a GPU backend is running and ``XLA_FLAGS`` does not turn
        the flag on; the message says how to set it (or to pass
        ``train.deterministic=false``).
    """
    if not deterministic:
        return
    env = os.environ if environ is None else environ
    if deterministic_ops_requested(env.get("XLA_FLAGS")):
        return
    if not backends_initialized():
        request_deterministic_ops(env)
        return
    gpu = running_platforms() & {"gpu", "cuda", "rocm"}
    if gpu:
        raise RuntimeError(
            "train.deterministic=true needs deterministic GPU kernels, but JAX started its "
            f"GPU backend without {DETERMINISTIC_FLAG} in XLA_FLAGS (XLA reads it once, when "
            "the backends start, so it cannot be turned on now). Set it before the first JAX "
            f"computation: `export XLA_FLAGS=\"$XLA_FLAGS {DETERMINISTIC_FLAG}\"` in the "
            "shell, or call ads_jax.determinism.ensure_deterministic_ops() at the top of your "
            "script before any JAX array is created (the ads-jax command does it for you). "
            "Or set train.deterministic=false to accept non-deterministic GPU kernels (faster; "
            "a killed and resumed run may then differ from an uninterrupted one).")
