"""Fused element-wise kernels of the basic modules and the optimizer (one pass over the update
instead of several).

The work is memory-bound. The kernel twins (`numsmooth._kernels.twins`) run a block body over
blocks of ``BLOCK`` elements with ``prange``; waking the threads costs about 100 us, so Python
picks the parallel one (``numsmooth._passes``) only for vectors of about a million elements, and
``copy_parallel_`` and ``subtract_parallel_`` only then (NumPy does the small ones).
Element-wise results are the same bits either way; sums of squares add per-block partial sums
in block order in both twins, so they too are the same bits whatever the number of threads. Kernels write into
caller-allocated arrays and may be given the same array for an input and an output where the
docstring says so.
"""

import math

import numpy as np
from numba import njit, prange

from .twins import twin

#: Elements per block of the blocked kernels (and per partial sum of squares).
BLOCK = 1 << 14


@njit(cache=True)
def _momentum_block(buf, u, beta, nesterov, new_buf, lo, hi):
    # unsigned bounds: Numba drops its negative-index check, which stops LLVM vectorising a loop
    # whose start is not a constant
    for i in range(np.uint64(lo), np.uint64(hi)):
        b = beta * buf[i] + u[i]
        new_buf[i] = b
        if nesterov:
            u[i] = u[i] + beta * b
        else:
            u[i] = b


@twin
def momentum_(buf, u, beta, nesterov, new_buf):
    """``new_buf = beta * buf + u``; ``u`` becomes ``new_buf`` or ``u + beta * new_buf`` (Nesterov).

    ``new_buf`` may be ``buf``; ``u`` must be neither. Over blocks, in parallel in the parallel twin.
    """
    n = u.size
    for b in prange((n + BLOCK - 1) // BLOCK):
        _momentum_block(buf, u, beta, nesterov, new_buf, b * BLOCK, min(n, (b + 1) * BLOCK))


@njit(cache=True)
def adam_(m, v, u, b1, b2, bc1, bc2, lr, eps, new_m, new_v):
    """One Adam update: moments into ``new_m``/``new_v``, the step into ``u``.

    ``bc1 = 1 - b1**t`` and ``bc2 = 1 - b2**t`` are the bias corrections; ``new_m`` may be ``m``
    and ``new_v`` may be ``v``.
    """
    c1 = 1.0 - b1
    c2 = 1.0 - b2
    for i in range(u.size):
        g = u[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * (g * g)
        new_m[i] = mi
        new_v[i] = vi
        u[i] = lr * (mi / bc1) / (math.sqrt(vi / bc2) + eps)


@njit(cache=True)
def axpy_(y, a, x):
    """``y += a * x`` in place."""
    for i in range(y.size):
        y[i] = y[i] + a * x[i]


@njit(cache=True)
def _sumsq_block(u, lo, hi):
    # four interleaved partial sums: the order is fixed (so are the bits) and the four
    # dependency chains let the CPU (and LLVM's vectoriser) overlap the additions
    s0 = s1 = s2 = s3 = 0.0
    stop = lo + (hi - lo) // 4 * 4
    for i in range(lo, stop, 4):
        s0 += u[i] * u[i]
        s1 += u[i + 1] * u[i + 1]
        s2 += u[i + 2] * u[i + 2]
        s3 += u[i + 3] * u[i + 3]
    for i in range(stop, hi):
        s0 += u[i] * u[i]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True)
def _scale_sumsq_block(u, a, lo, hi):
    # u *= a and _sumsq_block of the result in the same pass (the same order, so the same bits)
    s0 = s1 = s2 = s3 = 0.0
    stop = lo + (hi - lo) // 4 * 4
    for i in range(lo, stop, 4):
        v0 = u[i] * a
        v1 = u[i + 1] * a
        v2 = u[i + 2] * a
        v3 = u[i + 3] * a
        u[i] = v0
        u[i + 1] = v1
        u[i + 2] = v2
        u[i + 3] = v3
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
    for i in range(stop, hi):
        v = u[i] * a
        u[i] = v
        s0 += v * v
    return (s0 + s1) + (s2 + s3)


@twin
def sumsq(u):
    """``sum(u * u)``: per-block sums (in parallel in the parallel twin) added in block order (nan
    or inf in ``u`` give a non-finite sum; used instead of ``np.dot``, whose BLAS threads contend
    with Numba's on a busy machine)."""
    n = u.size
    partial = np.empty((n + BLOCK - 1) // BLOCK)
    for b in prange(partial.size):
        partial[b] = _sumsq_block(u, b * BLOCK, min(n, (b + 1) * BLOCK))
    s = 0.0
    for b in range(partial.size):
        s += partial[b]
    return s


@twin
def scale_sumsq_(u, a):
    """``u *= a`` and return :func:`sumsq` of the result, in one pass (the same bits as the two)."""
    n = u.size
    partial = np.empty((n + BLOCK - 1) // BLOCK)
    for b in prange(partial.size):
        partial[b] = _scale_sumsq_block(u, a, b * BLOCK, min(n, (b + 1) * BLOCK))
    s = 0.0
    for b in range(partial.size):
        s += partial[b]
    return s


@njit(cache=True, fastmath={"reassoc"})
def scale_sumsq_f32_(u, a):
    """:func:`scale_sumsq_` for a float32 ``u``, serial, the sum vectorised (float64 lanes in
    the order LLVM picks for this machine, fixed for a compiled kernel; nan and inf propagate).

    Only for the step's own check of the update (finite?) and its reported norm, not for
    anything that moves ``x``: the fixed-order sum costs four times the scaling itself (one
    scalar chain per partial sum), which made LS-SGD on float32 models 1.5x a hand loop.
    """
    s = 0.0
    for i in range(u.size):
        v = u[i] * a
        u[i] = v
        s += v * v
    return s


@njit(cache=True, parallel=True)
def copy_parallel_(dst, src):
    """``dst[:] = src`` (1-D, the same size) over blocks in parallel."""
    n = dst.size
    for b in prange((n + BLOCK - 1) // BLOCK):
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            dst[i] = src[i]


@njit(cache=True, parallel=True)
def subtract_parallel_(x, u):
    """``x -= u`` (1-D, the same size) over blocks in parallel."""
    n = x.size
    for b in prange((n + BLOCK - 1) // BLOCK):
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            x[i] = x[i] - u[i]
