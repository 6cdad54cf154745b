"""Memory-bound passes over flat float64 vectors, in parallel when the vector is large.

One place decides, with the ``pass_parallel_min_elements`` knob (and
:func:`~numsmooth._parallel.use_parallel`, which says no on a busy machine or in a forked
child). Every function gives the same bits on either path.
"""

from __future__ import annotations

import numpy as np

from ._kernels import modules as _km
from ._parallel import pick, use_parallel

_KNOB = "pass_parallel_min_elements"


def _large(a: np.ndarray) -> bool:
    return use_parallel(a.size, _KNOB)


def copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for arrays of the same number of elements (any dtypes and layouts;
    two contiguous 1-D float64 vectors of a million elements are copied by two threads)."""
    if (_large(dst) and dst.ndim == 1 and src.ndim == 1 and dst.dtype == np.float64
            and src.dtype == np.float64 and dst.flags.c_contiguous and src.flags.c_contiguous):
        _km.copy_parallel_(dst, src)
    elif dst.shape == src.shape:
        dst[...] = src
    else:
        dst[...] = src.reshape(dst.shape)


def subtract(x: np.ndarray, u: np.ndarray) -> None:
    """``x -= u`` for flat float64 vectors."""
    if _large(x):
        _km.subtract_parallel_(x, u)
    else:
        np.subtract(x, u, out=x)


def sumsq(u: np.ndarray) -> float:
    """Sum of squares of a flat float64 vector, in a fixed order (see ``_kernels.modules``)."""
    return float(pick(_km.sumsq, u.size, _KNOB)(u))


def sumsq_check(u: np.ndarray) -> float:
    """Sum of squares of a flat vector for the step's check (finite?) and reported norm only:
    :func:`sumsq` for float64, the vectorised order of ``sumsq_f32_`` for float32."""
    if u.dtype == np.float32:
        return float(_km.sumsq_f32_(u))
    return sumsq(u)


def axpy(x: np.ndarray, a: float, u: np.ndarray) -> None:
    """``x += a * u`` rounded once (``a`` rounded to ``x``'s dtype first: torch's ``x.add_(u,
    alpha=a)``), for flat vectors of one dtype."""
    pick(_km.axpy_, x.size, _KNOB)(x, x.dtype.type(a), u)


def scale_sumsq(u: np.ndarray, a: float) -> float:
    """``u *= a`` and the sum of squares of the result (as :func:`sumsq`), in one pass.

    For float32 ``u`` the sum is added in a vectorised order (serial, the same whatever the
    number of threads; see ``scale_sumsq_f32_``): it serves only to check the update and
    report its norm."""
    if u.dtype == np.float32:
        return float(_km.scale_sumsq_f32_(u, a))
    return float(pick(_km.scale_sumsq_, u.size, _KNOB)(u, a))


def momentum(buf: np.ndarray, u: np.ndarray, beta: float, nesterov: bool, new_buf: np.ndarray) -> None:
    """``new_buf = beta * buf + u`` and the momentum update into ``u`` (see ``_kernels.modules``)."""
    pick(_km.momentum_, u.size, _KNOB)(buf, u, beta, nesterov, new_buf)
