"""User code that registers components: ``--import MODULE`` of the CLI and sweeps."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Sequence

__all__ = ["import_user_modules"]


def import_user_modules(specs: Sequence[str]) -> None:
    """Import each ``spec`` (a module name or a ``.py`` path), e.g. to register components.

    A file is imported once per process (a second run in one process reuses it).

    Raises:
      FileNotFoundError: a ``.py`` path that does not exist.
      ImportError: a module that cannot be imported (its own error).
    """
    for spec in specs:
        if spec.endswith(".py") or os.sep in spec:
            if not os.path.isfile(spec):
                raise FileNotFoundError(f"--import {spec!r}: no such file.")
            path = os.path.abspath(spec)
            name = "_ads_jax_user_" + "".join(c if c.isalnum() else "_" for c in path)
            if name in sys.modules:  # imported already (e.g. a second run in one process)
                continue
            mod_spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = mod
            mod_spec.loader.exec_module(mod)
        else:
            importlib.import_module(spec)
