"""User code: ``--import MODULE`` of the CLI and sweeps, and running code from a user's file.

An exception raised by a user's file (a config file, a module imported with
``--import``) becomes a :class:`UserCodeError`, a ``ValueError`` whose
one-line message names the file, the line and the error, so the command line
prints one line instead of a traceback (``--debug`` shows the traceback: the
original exception is the ``__cause__``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from types import ModuleType
from typing import Any, Callable, Sequence

__all__ = ["import_user_modules", "import_user_module", "exec_user_file", "call_user_code",
           "UserCodeError"]


class UserCodeError(ValueError):
    """A user's file raised (or does not parse): the message names the file and line."""


def _location(exc: BaseException, path: str) -> tuple[str, int | None]:
    """(file, line) where ``exc`` happened in ``path`` (else its innermost frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    real = os.path.realpath(path)
    mine = [f for f in frames if os.path.realpath(f.filename) == real]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return path, None
    return frame.filename, frame.lineno


def _describe(exc: BaseException, path: str, what: str) -> str:
    file, line = _location(exc, path)
    where = f"{what} {file}" + (f", line {line}" if line else "")
    if isinstance(exc, SyntaxError):
        text = f"SyntaxError: {exc.msg}"
    elif isinstance(exc, (ValueError, TypeError)) and str(exc):
        text = str(exc)  # the library's own messages already say what to fix
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{where}: {text}"


def call_user_code(fn: Callable[..., Any], *args: Any, path: str, what: str) -> Any:
    """``fn(*args)``; an exception from it becomes a :class:`UserCodeError` naming
    the line of ``path`` where it happened (``what``: e.g. ``"Config file"``)."""
    try:
        return fn(*args)
    except UserCodeError:
        raise
    except Exception as e:  # noqa: BLE001 - any error of user code, re-raised as one line
        raise UserCodeError(_describe(e, path, what)) from e


def exec_user_file(path: str, module_name: str, *, what: str = "File") -> ModuleType:
    """Import the ``.py`` file ``path`` as module ``module_name`` (replacing any of that name).

    Raises:
      FileNotFoundError: no such file.
      UserCodeError: the file does not parse or raises while it runs (the
        module is then not left in ``sys.modules``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist.")
    spec = importlib.util.spec_from_file_location(module_name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    try:
        call_user_code(spec.loader.exec_module, mod, path=path, what=what)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return mod


def import_user_module(name: str, *, what: str = "Module") -> ModuleType:
    """``importlib.import_module(name)``; an error while the module runs becomes a
    :class:`UserCodeError` naming the line (a missing module stays a
    ``ModuleNotFoundError``).
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any error of user code, re-raised as one line
        path = getattr(e, "filename", None) or name
        frames = traceback.extract_tb(e.__traceback__)
        if not isinstance(e, SyntaxError) and frames:
            path = frames[-1].filename
        raise UserCodeError(_describe(e, path, what)) from e


def import_user_modules(specs: Sequence[str]) -> None:
    """Import each ``spec`` (a module name or a ``.py`` path), e.g. to register components.

    A file is imported once per process (a second run in one process reuses
    it; the same file reached through a symbolic link counts once).

    Raises:
      FileNotFoundError: a ``.py`` path that does not exist.
      UserCodeError: a ``.py`` file that does not parse or raises (names the line).
      ImportError: a module that cannot be imported (its own error).
    """
    for spec in specs:
        if spec.endswith(".py") or os.sep in spec:
            if not os.path.isfile(spec):
                raise FileNotFoundError(f"--import {spec!r}: no such file.")
            path = os.path.realpath(spec)
            name = "_ads_jax_user_" + "".join(c if c.isalnum() else "_" for c in path)
            if name in sys.modules:  # imported already (e.g. a second run in one process)
                continue
            exec_user_file(spec, name, what="--import file")
        else:
            import_user_module(spec, what="--import module")
