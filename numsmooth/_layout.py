"""Parameter layout: one array or a list of arrays, kept as one flat float64 (or float32) buffer."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _passes
from ._validation import check_float_array


class ParamLayout:
    """Shapes and offsets of the user's parameters inside one flat vector.

    Parameters
    ----------
    shapes : sequence of tuple of int
        Shape of each parameter, in order.
    single : bool
        True when the user gave one array (the oracle then receives one array, not a list).
    dtype : numpy dtype
        float64, or float32 for an optimizer whose parameters are all float32 and kept in
        their own storage (``inplace=True``): the dtype of the point, the gradient and the
        update.

    Notes
    -----
    Optimizers work in float64 unless told to keep float32 parameters in float32; this keeps
    at most two compiled specialisations per kernel (float64 and one float32 twin, made only
    when float32 is used).
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], single: bool, dtype: Any = np.float64):
        #: The dtype of the flat buffers (a NumPy dtype singleton: identity tests are valid).
        self.dtype = np.dtype(dtype)
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float64 or float32; got {self.dtype}")
        self.shapes = [tuple(int(s) for s in shape) for shape in shapes]
        self.single = bool(single)
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)]).astype(np.int64)
        self.size = int(self.offsets[-1])
        #: ``(lo, hi)`` of each parameter in the flat vector, as Python ints (fast to slice with).
        self.bounds = list(zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist()))

    @classmethod
    def from_params(cls, params: Any, name: str = "x0",
                    keep_float32: bool = False) -> tuple["ParamLayout", np.ndarray]:
        """Build a layout from one array or a list of arrays; return it with a flat copy.

        The copy is float64, or float32 when ``keep_float32`` and every array is float32
        (mixed dtypes give float64)."""
        # A list of ndarrays is a list of parameters; anything else (an array, a list of numbers)
        # is one parameter.
        if isinstance(params, (list, tuple)) and len(params) > 0 and all(isinstance(p, np.ndarray) for p in params):
            arrays = [_float_or_int_array(f"{name}[{i}]", p) for i, p in enumerate(params)]
            single = False
        else:
            arrays = [_float_or_int_array(name, params)]
            single = True
        for i, a in enumerate(arrays):
            if a.dtype.kind in "iu":  # integer starting points are common and exact in float64
                arrays[i] = a = a.astype(np.float64)
            if a.size == 0:
                label = name if single else f"{name}[{i}]"
                raise ValueError(f"{label} must have at least one element; got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                label = name if single else f"{name}[{i}]"
                raise ValueError(f"{label} must be finite; got non-finite values in {a!r}")
        f32 = keep_float32 and all(a.dtype == np.float32 for a in arrays)
        layout = cls([a.shape for a in arrays], single, np.float32 if f32 else np.float64)
        flat = np.empty(layout.size, dtype=layout.dtype)
        for a, lo, hi in zip(arrays, layout.offsets[:-1], layout.offsets[1:]):
            flat[lo:hi] = a.ravel()
        return layout, flat

    def unflatten(self, flat: np.ndarray) -> Any:
        """Views of ``flat`` in the user's shapes (one array, or a list of arrays)."""
        if self.single:
            return flat.reshape(self.shapes[0])
        views = [flat[lo:hi].reshape(shape) for shape, (lo, hi) in zip(self.shapes, self.bounds)]
        return views[0] if self.single else views

    def gather(self, parts: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
        """Copy already checked arrays, one per parameter in its shape, into the flat ``out``."""
        for (lo, hi), p in zip(self.bounds, parts):
            _passes.copy(out[lo:hi], p.reshape(-1))
        return out

    def flatten(self, value: Any, name: str = "gradient", out: np.ndarray | None = None) -> np.ndarray:
        """A flat float64 vector from an object shaped like the parameters (written into ``out``
        when given, which is then returned, partly written if this raises).

        Raises ``ValueError``/``TypeError`` naming ``name`` when the structure or a shape differs.
        """
        if self.single:
            arr = value if isinstance(value, np.ndarray) else _as_array(value, name, self.shapes[0])
            if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
                raise TypeError(f"{name} must be a real float array; got dtype {arr.dtype}")
            if arr.shape != self.shapes[0] and not (arr.size == self.size and arr.ndim == 1):
                raise ValueError(f"{name} must have shape {self.shapes[0]}; got shape {arr.shape}")
            if out is not None:
                out[:] = arr.reshape(-1)
                return out
            return np.asarray(arr, dtype=self.dtype).ravel()
        if not isinstance(value, (list, tuple)) or len(value) != len(self.shapes):
            raise ValueError(
                f"{name} must be a list of {len(self.shapes)} arrays shaped like the parameters; got "
                f"{type(value).__name__}" + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else "")
            )
        if out is None:
            out = np.empty(self.size, dtype=self.dtype)
        for i, (v, shape, (lo, hi)) in enumerate(zip(value, self.shapes, self.bounds)):
            if type(v) is np.ndarray and v.dtype.kind == "f" and v.shape == shape:  # the common case
                _passes.copy(out[lo:hi], v)
                continue
            arr = v if isinstance(v, np.ndarray) else _as_array(v, f"{name} of parameter {i}", shape)
            if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
                raise TypeError(f"{name} of parameter {i} must be a real float array; got dtype {arr.dtype}")
            if arr.shape != shape:
                raise ValueError(f"{name} of parameter {i} must have shape {shape}; got shape {arr.shape}")
            _passes.copy(out[lo:hi], arr)
        return out


#: The dtypes an optimizer works in.
FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _as_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``np.asarray(value)`` with a message in the caller's terms when it is ragged."""
    try:
        return np.asarray(value)
    except ValueError:
        raise ValueError(f"{name} must be an array of shape {shape}; got a ragged "
                         f"{type(value).__name__}") from None


def _float_or_int_array(name: str, value: Any) -> np.ndarray:
    """A float array, or an integer one (to be cast); anything else is rejected."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return value
    return check_float_array(name, value)


def flat_params(arrays: Sequence[Any]) -> list[np.ndarray]:
    """Copies of ``arrays`` as views of one new flat float64 vector, back to back in order.

    An optimizer made with ``inplace=True`` from such a list uses that vector as its own
    storage: each step moves the arrays without copying anything back, and the oracle receives
    the arrays themselves at the current point, as in a hand-written training loop.

    Parameters
    ----------
    arrays : sequence of array_like
        The parameters (any real dtype; they are converted to float64).

    Returns
    -------
    list of ndarray
        Writeable, C-contiguous float64 arrays of the same shapes and values.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> W, b = ns.flat_params([np.ones((2, 3)), np.zeros(2)])
    >>> W.base is b.base, W.flags.c_contiguous
    (True, True)
    >>> opt = ns.Optimizer([W, b], ns.LR(0.5), inplace=True)
    >>> _ = opt.step(lambda p: (0.0, [np.ones((2, 3)), np.ones(2)]))
    >>> W[0, 0], b[0]
    (np.float64(0.5), np.float64(-0.5))
    """
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise TypeError(f"arrays must be a non-empty list of arrays; got {type(arrays).__name__}")
    converted = [_float_or_int_array(f"arrays[{i}]", a) for i, a in enumerate(arrays)]
    flat = np.empty(sum(a.size for a in converted), dtype=np.float64)
    views, lo = [], 0
    for a in converted:
        view = flat[lo:lo + a.size].reshape(a.shape)
        view[...] = a
        views.append(view)
        lo += a.size
    return views
