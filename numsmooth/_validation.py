"""Argument checks shared by every public entry point.

Each helper raises ``TypeError``/``ValueError`` naming the argument and repeating the bad value,
so no kernel ever sees input it was not written for.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence, cast

import numpy as np


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if isinstance(value, str) or value is None:
        if value in choices:
            return value
    allowed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real in the given interval."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} of type {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}; got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}; got {value!r}")
    return v


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer (not a bool) >= ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r} of type {type(value).__name__}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}; got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (Python or NumPy), else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_float_array(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as an ndarray after checking it holds real floating-point numbers.

    Integer, boolean, complex and object arrays are rejected: silently casting them would hide a
    mistake (an int gradient truncated, a complex one losing its imaginary part).
    """
    if not isinstance(value, np.ndarray):
        if isinstance(value, (list, tuple, numbers.Real)) and not isinstance(value, bool):
            try:
                value = np.asarray(value)
            except ValueError:  # NumPy's message does not say which argument
                raise ValueError(f"{name} must be a rectangular array of floats; got a ragged "
                                 f"{type(value).__name__} {short_repr(value, 80)}") from None
            if value.dtype.kind in "iu":
                value = value.astype(np.float64)
        else:
            raise TypeError(f"{name} must be a NumPy array of floats; got {type(value).__name__}")
    if value.dtype.kind != "f" or value.dtype == np.float16 or value.dtype.itemsize > 8:
        raise TypeError(f"{name} must have dtype float32 or float64; got dtype {value.dtype}")
    return cast(np.ndarray, value)


def check_norm_ord(name: str, value: Any) -> float | str:
    """Return a norm order: a number (``inf`` allowed, not nan) or 'l1', 'l2', 'linf', 'mad', 'std'."""
    if isinstance(value, str):
        return cast(str, check_choice(name, value, ("l1", "l2", "linf", "mad", "std")))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(
            f"{name} must be a number (inf allowed) or one of 'l1', 'l2', 'linf', 'mad', 'std'; got {value!r}"
        )
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return float(value)


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` abbreviated for error messages (arrays summarised, long text cut)."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=6, edgeitems=2, precision=4)
    else:
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ must not hide the real error
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 4] + " ..."
