"""Experiment configs as code: one module per experiment, ``get_config(arg)``.

Following big_vision and the Flax examples, every named experiment is a small
Python module of this package whose ``get_config(arg: str = "")`` returns an
:class:`~ads_jax.experiment.ExperimentConfig`; ``arg`` picks a variant
(``"cpu"``, ``"paper"``, ``"tiny"``, ...). The command line finds them by
name and applies dotted overrides on top::

    ads-jax run fashion_mnist_noisy                 # the module's default variant
    ads-jax run cifar10_noisy:cpu train.epochs=3    # variant "cpu", one override
    ads-jax run path/to/my_exp.py:small             # any file with a get_config
    ads-jax run my_pkg.my_exp:paper                 # any importable module

A new experiment is one file here (or anywhere, named by path or module).
Helpers for writing one: :func:`experiment` (sections as plain dicts, typed
and validated by the config engine) and :func:`variant` (pick a variant by
name with a clear error).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from typing import Any, Callable, Mapping, Sequence

from ads_jax.config_engine import apply_overrides, from_dict, load_json
from ads_jax.data.location import data_dir, local_path
from ads_jax.experiment import ExperimentConfig

__all__ = ["available", "load", "resolve", "experiment", "variant", "DEMO_ARMS", "DATA_DIR",
           "CIFAR10_NPZ", "FASHION_MNIST_NPZ", "cifar10_npz", "fashion_mnist_npz"]

# Local data copies live under the user-level data directory
# (:func:`ads_jax.data.location.data_dir`: ``$ADS_JAX_DATA_DIR``, default
# ``~/.cache/ads_jax/data``), read when a config is built, so the variable can
# be set at any time before. Configs name files under it;
# ``data.dataset=npz:/other/file.npz`` overrides any of them. A missing file is
# reported when the data are loaded, with the directory in use, the files
# expected under it and how to get them. The module attributes ``DATA_DIR``,
# ``CIFAR10_NPZ`` and ``FASHION_MNIST_NPZ`` are computed on access (see
# ``__getattr__`` below).


def cifar10_npz() -> str:
    """The local CIFAR-10 copy, ``<data dir>/cifar10/cifar10.npz`` (the copy these configs
    were tuned on holds 50,000 train images and only 1,017 test images)."""
    return local_path("cifar10/cifar10.npz")


def fashion_mnist_npz() -> str:
    """The local Fashion-MNIST copy, ``<data dir>/fashion_mnist/fashion_mnist.npz``
    (complete train and test splits)."""
    return local_path("fashion_mnist/fashion_mnist.npz")


_LAZY = {"DATA_DIR": data_dir, "CIFAR10_NPZ": cifar10_npz, "FASHION_MNIST_NPZ": fashion_mnist_npz}


def __getattr__(name: str):
    if name in _LAZY:  # the data directory as of now ($ADS_JAX_DATA_DIR read on access)
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: The arms of the built-in comparison: the paper's ADS with its diversity
#: selector, the selector alone, the random pre-filter control, uncertainty, random.
DEMO_ARMS = ("ads+coreset", "coreset", "randfilter+coreset", "entropy", "random")


def available() -> tuple[str, ...]:
    """Names of the experiment modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if not m.name.startswith("_")))


def experiment(**sections: Mapping[str, Any]):
    """An :class:`~ads_jax.experiment.ExperimentConfig` from plain dict sections
    (``data=``, ``model=``, ``train=``, ``acquisition=``, ``loop=``), typed and
    validated by :func:`ads_jax.config_engine.from_dict`; missing fields take defaults."""
    return from_dict(ExperimentConfig, sections)


def variant(arg: str, variants: Mapping[str, Callable[[], Any]], *, experiment_name: str):
    """``variants[arg]()``, or a ValueError listing the variants of ``experiment_name``."""
    if arg not in variants:
        names = [v if v else "(default)" for v in variants]
        raise ValueError(f"Experiment {experiment_name!r} has no variant {arg!r}; variants: "
                         f"{names} (use {experiment_name}:<variant>).")
    return variants[arg]()


def _module_from_file(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file {path!r} does not exist.")
    name = "_ads_jax_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load(spec: str):
    """Resolve ``name[:arg]`` / ``file.py[:arg]`` / ``pkg.module[:arg]`` to a config.

    Raises:
      FileNotFoundError: a ``.py`` file that does not exist.
      ValueError: unknown name (the message lists the built-in experiments),
        a module without ``get_config``, or a ``get_config`` that does not
        return an ExperimentConfig.
    """
    name, _, arg = spec.partition(":")
    if name.endswith(".py"):
        mod = _module_from_file(name)
    elif name in available():
        mod = importlib.import_module(f"{__name__}.{name}")
    elif "." in name and not os.sep in name:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            raise ValueError(f"Unknown config {spec!r}: no module {name!r}.") from None
    else:
        raise ValueError(
            f"Unknown config {spec!r}. Built-in configs: {list(available())}; or pass a "
            "JSON file, a .py file with get_config(arg), or a module name.")
    get = getattr(mod, "get_config", None)
    if not callable(get):
        raise ValueError(f"Config module {name!r} has no get_config(arg) function.")
    cfg = get(arg)
    if not isinstance(cfg, ExperimentConfig):
        raise ValueError(f"{name}.get_config({arg!r}) returned {type(cfg).__name__}, not an "
                         "ExperimentConfig.")
    return cfg


def resolve(spec: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """A named experiment, a Python config file or a JSON file, with overrides applied.

    ``spec`` is ``name[:arg]`` (a module of this package),
    ``path/to/exp.py[:arg]`` or ``package.module[:arg]`` (any module with a
    ``get_config(arg)``), or ``path/to/config.json``.

    Raises:
      FileNotFoundError: ``spec`` names a file that does not exist.
      ValueError: unknown name, bad JSON, unknown field, bad override.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("The config must be a built-in name, a .py/.json file or a module, "
                         f"got {spec!r}.")
    if spec.endswith(".json"):
        cfg = load_json(ExperimentConfig, spec)
    else:
        cfg = load(spec)
    return apply_overrides(cfg, overrides)
