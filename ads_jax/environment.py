"""The machine and software a result was computed on (recorded with every run).

XLA compiles for the processor it runs on (vector width, cache-dependent
blocking of matrix products), so the same code and versions can round floats
differently on another processor, and early stopping and near-ties amplify
that into different picks. Results therefore reproduce bit for bit on the same
processor type with the same versions (``constraints.txt``) and only
statistically elsewhere; :func:`describe` is what a run records
(``environment.json`` in its run directory; the paper scripts' JSON outputs)
so a reader can tell which case applies.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import jax

__all__ = ["describe", "processor"]

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scipy",
             "scikit-learn", "dacite", "etils")


def processor() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _isa() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(f for f in flags if f.startswith(("avx", "fma", "amx")))
    except OSError:
        pass
    return []


def describe() -> dict:
    """A JSON-able description: processor, cores, ISA extensions, backend, devices,
    package versions, Python, and the XLA flags in effect."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices = jax.devices()
    return {
        "processor": processor(),
        "cpu_count": os.cpu_count(),
        "isa": _isa(),
        "machine": platform.machine(),
        "backend": jax.default_backend(),
        "devices": f"{len(devices)} x {devices[0].device_kind}" if devices else "",
        "process_count": jax.process_count(),
        "python": sys.version.split()[0],
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
