"""Fused element-wise kernels of the basic modules (one pass over the update instead of several).

Every kernel is serial (the work is memory-bound; a parallel region costs more than it saves at
the sizes where it matters), writes into caller-allocated arrays and may be given the same array
for an input and an output where the docstring says so.
"""

import math

from numba import njit


@njit(cache=True)
def momentum_(buf, u, beta, nesterov, new_buf):
    """``new_buf = beta * buf + u``; ``u`` becomes ``new_buf`` or ``u + beta * new_buf`` (Nesterov).

    ``new_buf`` may be ``buf``; ``u`` must be neither.
    """
    for i in range(u.size):
        b = beta * buf[i] + u[i]
        new_buf[i] = b
        if nesterov:
            u[i] = u[i] + beta * b
        else:
            u[i] = b


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
def sumsq(u):
    """``sum(u * u)`` serially, in index order (nan or inf in ``u`` give a non-finite sum; used
    instead of ``np.dot``, whose BLAS threads contend with Numba's on a busy machine)."""
    s = 0.0
    for i in range(u.size):
        s += u[i] * u[i]
    return s
