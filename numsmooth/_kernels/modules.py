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

import numpy as np
from numba import njit, prange

from .fma import fma
from .twins import twin

#: Elements per block of the blocked kernels (and per partial sum of squares).
BLOCK = 1 << 14


@njit(cache=True)
def _momentum_block(buf, u, beta, nesterov, new_buf, lo, hi):
    # unsigned bounds: Numba drops its negative-index check, which stops LLVM vectorising a loop
    # whose start is not a constant
    for i in range(np.uint64(lo), np.uint64(hi)):
        b = buf[i] * beta + u[i]
        new_buf[i] = b
        if nesterov:
            u[i] = fma(b, beta, u[i])
        else:
            u[i] = b


@twin
def momentum_(buf, u, beta, nesterov, new_buf):
    """``new_buf = buf * beta + u``; ``u`` becomes ``new_buf`` or ``u + beta * new_buf`` (Nesterov,
    rounded once): torch.optim.SGD's operations, in the arrays' dtype when ``beta`` is of it.

    ``new_buf`` may be ``buf``; ``u`` must be neither. Over blocks, in parallel in the parallel twin.
    """
    n = u.size
    for b in prange((n + BLOCK - 1) // BLOCK):
        _momentum_block(buf, u, beta, nesterov, new_buf, b * BLOCK, min(n, (b + 1) * BLOCK))


@njit(cache=True)
def _lerp(start, end, coeff, small):
    # torch's lerp on CPU (ATen's lerp_vec): one fused multiply-add from the nearer end
    return fma(coeff, end - start, start if small else end)


@njit(cache=True)
def adam_(m, v, u, coeff, small, b2, c2, bc2_sqrt, step_size, eps, new_m, new_v):
    """One Adam update: moments into ``new_m``/``new_v``, the step into ``u`` (the gradient on
    entry), with the operations of torch.optim.Adam (``_single_tensor_adam`` on CPU), in the
    arrays' dtype when the scalars are of it.

    ``m <- lerp(m, g, 1 - b1)`` (``coeff`` and ``small`` give the weight: ``coeff = 1 - b1`` and
    ``small`` when it is < 0.5, else ``coeff = -b1`` and the lerp starts from ``g``);
    ``v <- fma(c2 * g, g, v * b2)`` with ``c2 = 1 - b2``; ``u = (step_size * m) / (sqrt(v) /
    bc2_sqrt + eps)`` with ``step_size = lr / (1 - b1**t)`` and ``bc2_sqrt = (1 - b2**t) ** 0.5``.
    ``new_m`` may be ``m`` and ``new_v`` may be ``v``.
    """
    for i in range(u.size):
        g = u[i]
        mi = _lerp(m[i], g, coeff, small)
        vi = fma(c2 * g, g, v[i] * b2)
        new_m[i] = mi
        new_v[i] = vi
        u[i] = (step_size * mi) / (np.sqrt(vi) / bc2_sqrt + eps)


@njit(cache=True)
def adam_moments_(m, v, u, coeff, small, b2, c2, new_m, new_v):
    """The moments of :func:`adam_` only (``u``, the gradient, is read and left alone)."""
    for i in range(u.size):
        g = u[i]
        new_m[i] = _lerp(m[i], g, coeff, small)
        new_v[i] = fma(c2 * g, g, v[i] * b2)


@njit(cache=True)
def adam_direction_(m, root, u, bc2_sqrt, step_size, eps):
    """The step of :func:`adam_` from the first moment ``m`` and ``root = sqrt(v)`` computed
    elsewhere; ``root`` may be ``u``."""
    for i in range(u.size):
        u[i] = (step_size * m[i]) / (root[i] / bc2_sqrt + eps)


@njit(cache=True)
def _axpy_block(y, a, x, lo, hi):
    for i in range(np.uint64(lo), np.uint64(hi)):
        y[i] = fma(x[i], a, y[i])


@twin
def axpy_(y, a, x):
    """``y += a * x`` in place, rounded once (torch's ``y.add_(x, alpha=a)``). Over blocks, in
    parallel in the parallel twin."""
    n = y.size
    for b in prange((n + BLOCK - 1) // BLOCK):
        _axpy_block(y, a, x, b * BLOCK, min(n, (b + 1) * BLOCK))


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


@njit(cache=True, fastmath={"reassoc"})
def sumsq_f32_(u):
    """The sum of :func:`scale_sumsq_f32_` without the scaling (the same use: a check of the
    update and its reported norm)."""
    s = 0.0
    for i in range(u.size):
        v = np.float64(u[i])
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
