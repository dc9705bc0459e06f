"""Input checks for the public boundary (run eagerly, outside ``jit``).

Every public function of ads_jax validates its arguments with these helpers
before handing them to jitted code, so that a user gets a ``ValueError`` or
``TypeError`` naming the offending argument and the fix, instead of a shape
error from deep inside XLA or a silent NaN.

All helpers are no-ops on tracers (they return the input unchanged), so a
public function stays usable inside a user's own ``jit``; the checks then run
once at the outermost eager call site, where the data is concrete.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "is_tracer",
    "check_key",
    "check_array",
    "check_finite",
    "check_labels",
    "check_positive_int",
    "check_nonneg_int",
    "check_same_length",
    "check_budget",
    "check_choice",
    "check_fraction",
    "check_int",
    "check_number",
    "check_bool",
]


def is_tracer(x: Any) -> bool:
    """True if ``x`` is an abstract JAX value (inside ``jit``/``vmap``/...)."""
    return isinstance(x, jax.core.Tracer)


def check_array(
    name: str,
    x: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    kind: str | None = None,
    allow_empty: bool = False,
) -> Any:
    """Check rank, dtype kind and non-emptiness of an array argument.

    Args:
      name: argument name used in the error message.
      x: array-like (NumPy or JAX array, or nested lists).
      ndim: required rank, or tuple of allowed ranks.
      kind: ``"f"`` (floating), ``"i"`` (integer, signed or unsigned),
        ``"b"`` (bool) or ``None`` for any numeric dtype.
      allow_empty: if False, arrays with a zero-sized axis are rejected.

    Returns:
      ``x`` unchanged (a tracer is returned without checks).
    """
    if is_tracer(x):
        return x
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        try:
            x = np.asarray(x)
        except Exception as e:  # pragma: no cover - exotic inputs
            raise TypeError(f"`{name}` must be an array, got {type(x).__name__}.") from e
    shape = tuple(x.shape)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if len(shape) not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(
                f"`{name}` must be a {want}-D array, got shape {shape}."
            )
    dt = np.dtype(x.dtype)
    if kind is not None:
        ok = {
            # jnp.issubdtype knows the ml_dtypes floats (bfloat16, float8...).
            "f": jnp.issubdtype(dt, jnp.floating),
            "i": np.issubdtype(dt, np.integer),
            "b": dt == np.bool_,
        }[kind]
        if not ok:
            what = {"f": "a floating-point", "i": "an integer", "b": "a boolean"}[kind]
            raise TypeError(
                f"`{name}` must have {what} dtype, got {dt}. "
                + ("Cast it with .astype(np.float32)." if kind == "f" else
                   "Cast it with .astype(np.int32)." if kind == "i" else
                   "Cast it with .astype(bool).")
            )
    elif not (np.issubdtype(dt, np.number) or dt == np.bool_ or jnp.issubdtype(dt, jnp.floating)):
        raise TypeError(f"`{name}` must be numeric, got dtype {dt}.")
    if not allow_empty and any(s == 0 for s in shape):
        raise ValueError(f"`{name}` must not be empty, got shape {shape}.")
    return x


def _is_float_dtype(dt: Any) -> bool:
    """Floating dtypes, ml_dtypes ones (bfloat16, float8...) included."""
    return bool(jnp.issubdtype(dt, jnp.floating))


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
    """() bool: every entry of ``x`` is finite (one reduction where ``x`` lives)."""
    return jnp.all(jnp.isfinite(x))


@jax.jit
def _first_non_finite(x: jax.Array):
    """Error path: ``(count, row, col)`` int32 scalars -- the number of non-finite
    entries, the first row (leading-axis slice) holding one and the flat index of
    the first one within that row. Scalars only (replicated, so readable from
    any process of a multi-process global array)."""
    bad = ~jnp.isfinite(x).reshape(x.shape[0], -1)
    n, m = bad.shape
    count = jnp.sum(jnp.sum(bad, axis=1, dtype=jnp.int32), dtype=jnp.int32)
    # reductions only (no dynamic slice of a possibly sharded array)
    rows = lax.broadcasted_iota(jnp.int32, bad.shape, 0)
    cols = lax.broadcasted_iota(jnp.int32, bad.shape, 1)
    row = jnp.min(jnp.where(bad, rows, n))
    col = jnp.min(jnp.where(bad & (rows == row), cols, m))
    return count, row, col


def _as_float_for_numpy(arr: np.ndarray) -> np.ndarray:
    """NumPy's isfinite does not know the ml_dtypes floats (bfloat16, float8...)."""
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float32)


def _raise_non_finite(name: str, n: int, first: tuple[int, ...]) -> None:
    raise ValueError(
        f"`{name}` contains {n} non-finite value(s) (NaN or inf), first at index "
        f"{first}. Remove or impute these points before calling."
    )


def _locate_non_finite(name: str, x: jax.Array) -> None:
    """Error path of a device array: count and first bad index from three scalars
    computed on the device (never a host copy of the array)."""
    if x.ndim == 0:
        _raise_non_finite(name, 1, ())
    count, row, col = (int(v) for v in jax.device_get(_first_non_finite(x)))
    first = (row,) + tuple(int(i) for i in np.unravel_index(col, x.shape[1:]))
    _raise_non_finite(name, count, first)


def check_finite(name: str, x: Any) -> Any:
    """Reject NaN / inf entries in a floating-point array.

    A ``jax.Array`` is checked where it lives: one jitted reduction
    (``jnp.isfinite(x).all()``) and one scalar read back -- no host copy of
    the array (sharded and multi-process global arrays included). Only when
    it fails are the count and the first bad index computed, again on the
    device (three scalars). NumPy (and other host) inputs are checked on the
    host.
    Non-float arrays always pass.

    Raises:
      ValueError: naming ``name``, the number of non-finite values and the
        index of the first one.
    """
    if is_tracer(x):
        return x
    if isinstance(x, jax.Array):
        if _is_float_dtype(x.dtype) and x.size:
            ok = _all_finite(x)
            if is_tracer(ok):  # a concrete array closed over inside a user's jit: unchecked
                return x
            if not bool(jax.device_get(ok)):
                _locate_non_finite(name, x)
        return x
    arr = np.asarray(x)
    if _is_float_dtype(arr.dtype):
        bad = ~np.isfinite(_as_float_for_numpy(arr))
        if bad.any():
            _raise_non_finite(name, int(bad.sum()),
                              tuple(int(i) for i in np.argwhere(bad)[0]))
    return x


@jax.jit
def _min_max(y: jax.Array):
    return jnp.min(y), jnp.max(y)


def check_labels(name: str, y: Any, num_classes: int) -> Any:
    """Check that integer labels lie in ``[0, num_classes)``."""
    check_positive_int("num_classes", num_classes)
    if is_tracer(y):
        return y
    arr = check_array(name, y, ndim=1, kind="i", allow_empty=True)
    if arr.shape[0] == 0:
        return y
    if isinstance(arr, jax.Array):  # two scalars back, no host copy of the labels
        mm = _min_max(arr)
        if is_tracer(mm[0]):  # a concrete array closed over inside a user's jit: unchecked
            return y
        lo, hi = (int(v) for v in jax.device_get(mm))
    else:
        arr = np.asarray(arr)
        lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"`{name}` must contain labels in [0, {num_classes}) "
            f"(num_classes={num_classes}), got values in [{lo}, {hi}]. "
            "Re-index the labels or pass the right num_classes."
        )
    return y


def check_positive_int(name: str, v: Any) -> int:
    """Check a Python integer >= 1 (e.g. K, budget, chunk size)."""
    return check_int(name, v, minimum=1)


def check_nonneg_int(name: str, v: Any) -> int:
    """Check a Python integer >= 0."""
    return check_int(name, v, minimum=0)


def check_same_length(**arrays: Any) -> int:
    """Check that all given arrays share their leading dimension; return it."""
    lengths = {k: int(v.shape[0]) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"`{k}` has {n}" for k, n in lengths.items())
        raise ValueError(f"Arrays must have the same number of points (leading axis): {desc}.")
    return next(iter(lengths.values())) if lengths else 0


def check_train_val(train_x: Any, train_y: Any, val_x: Any, val_y: Any,
                    num_classes: Any) -> tuple[Any, Any, Any, Any, int]:
    """Check a labeled training set and a validation set in one feature space.

    Args:
      train_x: (N, d) float, finite. train_y: (N,) int in [0, num_classes).
      val_x: (M, d) float, finite. val_y: (M,) int in [0, num_classes).
      num_classes: int >= 1.

    Returns:
      ``(train_x, train_y, val_x, val_y, num_classes)``, checked.

    Raises:
      ValueError / TypeError naming the argument: ranks, dtypes, lengths,
      feature dimensions, NaN/inf, labels out of range.
    """
    train_x = check_array("train_x", train_x, ndim=2, kind="f")
    val_x = check_array("val_x", val_x, ndim=2, kind="f")
    train_y = check_array("train_y", train_y, ndim=1, kind="i")
    val_y = check_array("val_y", val_y, ndim=1, kind="i")
    num_classes = check_positive_int("num_classes", num_classes)
    check_same_length(train_x=train_x, train_y=train_y)
    check_same_length(val_x=val_x, val_y=val_y)
    if train_x.shape[1] != val_x.shape[1]:
        raise ValueError(
            f"`train_x` and `val_x` must have the same feature dimension, got "
            f"{train_x.shape[1]} and {val_x.shape[1]}. Embed both with the same model.")
    check_finite("train_x", train_x)
    check_finite("val_x", val_x)
    check_labels("train_y", train_y, num_classes)
    check_labels("val_y", val_y, num_classes)
    return train_x, train_y, val_x, val_y, num_classes


def check_budget(budget: Any, available: int, *, what: str = "candidate points") -> int:
    """Check ``1 <= budget <= available``."""
    budget = check_positive_int("budget", budget)
    if budget > available:
        raise ValueError(
            f"`budget`={budget} is larger than the number of {what} ({available}). "
            "Lower the budget or enlarge the pool / pre-selection."
        )
    return budget


def check_choice(name: str, v: Any, choices: Any) -> str:
    """Check that ``v`` is one of ``choices`` (strings)."""
    choices = tuple(choices)
    if v not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {v!r}.")
    return v


def check_fraction(name: str, v: Any, *, inclusive_zero: bool = False) -> float:
    """Check a float in (0, 1] (or [0, 1] with ``inclusive_zero``)."""
    return check_number(name, v, lo=0, hi=1, lo_open=not inclusive_zero)


def check_int(name: str, v: Any, *, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """Check a Python integer (not a bool) ``>= minimum``; ``None`` if ``allow_none``.

    The one integer check of ads_jax (config fields and function arguments).
    """
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(v).__name__} {v!r}.")
    if minimum is not None and v < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {v}.")
    return int(v)


def check_number(name: str, v: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False,
                 allow_none: bool = False) -> float | None:
    """Check a finite real number (not a bool) in the interval given by ``lo``/``hi``.

    ``lo_open`` / ``hi_open`` exclude the bounds. NaN and +-inf are always rejected.
    Returns the value as a Python float (``None`` if ``allow_none``).
    """
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {type(v).__name__} {v!r}.")
    bad = not math.isfinite(v) or ((lo is not None and (v <= lo if lo_open else v < lo))
                     or (hi is not None and (v >= hi if hi_open else v > hi)))
    if bad:
        lb, rb = ("(" if lo_open else "["), (")" if hi_open else "]")
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"`{name}` must be in {lb}{lo_s}, {hi_s}{rb}, got {v!r}.")
    return float(v)


def check_bool(name: str, v: Any) -> bool:
    """Check a Python bool (``np.bool_`` accepted)."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be true or false, got {type(v).__name__} {v!r}.")
    return bool(v)


def check_key(name: str, key: Any) -> jax.Array:
    """Coerce a PRNG key to a typed key; reject anything else.

    Accepts a typed key from ``jax.random.key(seed)`` (shape ``()``) or a legacy
    ``jax.random.PRNGKey(seed)`` (uint32, shape ``(2,)``, wrapped with
    ``jax.random.wrap_key_data``). Works on tracers too (no data is read).

    Returns:
      A typed PRNG key of shape ().
    """
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"`{name}` must be a single PRNG key (shape ()), got shape {key.shape}; "
                "split it and pass one key."
            )
        return key
    arr = key if isinstance(key, jax.Array) else np.asarray(key)
    if arr.dtype == np.uint32 and tuple(arr.shape) == (2,):
        return jax.random.wrap_key_data(jnp.asarray(arr))
    raise TypeError(
        f"`{name}` must be a PRNG key from jax.random.key(seed) (or a legacy "
        f"jax.random.PRNGKey(seed)), got {type(key).__name__} with "
        f"dtype {getattr(arr, 'dtype', None)} and shape {getattr(arr, 'shape', None)}."
    )
