"""A gradient kept as the arrays the user's function returned: :class:`GradientParts`."""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from .._layout import ParamLayout

__all__ = ["GradientParts", "parts_of", "F64"]

#: float64's dtype: identity with it is the cheapest test of a gradient's dtype (NumPy's
#: built-in dtypes are singletons; any other float dtype still passes the ``kind`` test).
F64 = np.dtype(np.float64)


class GradientParts:
    """A gradient as the arrays the user's function returned, made one flat vector only when
    somebody needs it so.

    A step whose first module reads the gradient once (Laplacian smoothing, or the copy that
    starts the update) reads the user's arrays directly and saves a pass over the whole
    gradient. The user's function may reuse its output arrays from call to call, so the oracle
    that made this flattens it before it calls the function again (see
    :meth:`~numsmooth.oracles.Oracle._settle`).

    Parameters
    ----------
    parts : list of ndarray or None
        C-contiguous float64 arrays in the layout's shapes (None when ``flat`` is given).
    flat : ndarray or None
        The flat gradient, when it already is one.
    layout : ParamLayout
        Shapes and offsets of the parameters.
    buffer : callable or None
        Returns the flat float64 vector to flatten into (called once, when needed).
    """

    __slots__ = ("_parts", "_flat", "_layout", "_buffer", "_lock", "__weakref__")

    def __init__(self, parts: list[np.ndarray] | None, flat: np.ndarray | None, layout: ParamLayout,
                 buffer: Callable[[], np.ndarray] | None = None):
        self._parts = parts
        self._flat = flat
        self._layout = layout
        self._buffer = buffer
        self._lock = threading.Lock()

    @classmethod
    def of_flat(cls, g: np.ndarray, layout: ParamLayout) -> "GradientParts":
        """A gradient that already is one flat vector."""
        return cls(None, g, layout)

    def parts(self) -> list[np.ndarray] | None:
        """The user's arrays (C-contiguous float64, in the layout's shapes; do not modify), or
        None once the gradient has been made flat."""
        return self._parts

    def flat(self) -> np.ndarray:
        """The flat float64 gradient (made on first use; do not modify)."""
        if self._flat is None:
            with self._lock:  # the oracle may settle it from another thread
                if self._flat is None:
                    assert self._parts is not None and self._buffer is not None
                    self._flat = self._layout.gather(self._parts, self._buffer())
                    self._parts = None
        return self._flat


def parts_of(layout: ParamLayout, g: Any) -> list[np.ndarray] | None:
    """The gradient ``g`` as a list of arrays that can be read in place (C-contiguous, in the
    layout's dtype and exactly its shapes), or None when it needs converting or checking."""
    if layout.single:
        parts = [g]
    elif type(g) is list or type(g) is tuple:
        parts = list(g)
        if len(parts) != len(layout.shapes):
            return None
    else:
        return None
    dtype = layout.dtype  # float64, or float32 for an optimizer keeping float32 parameters
    for p, shape in zip(parts, layout.shapes):
        if type(p) is not np.ndarray or p.dtype is not dtype or p.shape != shape or not p.flags.c_contiguous:
            return None
    return parts
