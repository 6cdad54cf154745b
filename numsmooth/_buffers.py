"""Buffers reused from one step to the next, handed out again only when nobody else holds them.

A step of an optimizer must not allocate memory that scales with the number of parameters (the
allocator's churn on large temporaries costs more than the arithmetic). The buffers a step hands
out (the point given to the oracle, the gradient, the update) may however be kept by the caller
(a user's oracle that records the points it saw, a run loop that keeps the objective of the
last step). :class:`Reusable` reuses its buffer only when no reference to it (or to a view of it:
NumPy views hold their base) exists outside, so a kept array never changes under its holder.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np


class Reusable:
    """One float buffer, reused by :meth:`get` unless something else refers to it."""

    def __init__(self) -> None:
        self._buf: np.ndarray | None = None
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, ...], dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` (float64 by default; uninitialised): the previous
        one if nobody kept it."""
        with self._lock:  # two threads must not both find the buffer free
            buf = self._buf
            if buf is None or buf.shape != shape or buf.dtype != dtype or sys.getrefcount(buf) > _FREE:
                buf = self._buf = np.empty(shape, dtype=dtype)
            return buf

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


def _calibrate() -> int:
    probe = Reusable()
    probe._buf = np.empty(1)
    buf = probe._buf  # as in Reusable.get: the attribute, one local and the call's argument
    return sys.getrefcount(buf)


#: The reference count :meth:`Reusable.get` sees when only the holder refers to the buffer
#: (measured, so it does not depend on the interpreter's reference-counting details).
_FREE = _calibrate()
