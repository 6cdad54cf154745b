"""Kernels that evaluate a Numba-jitted oracle ``fun(x, g_out) -> f`` at many points.

`kernels_for` compiles, once per oracle, small kernels that call it: the oracle is a
compile-time constant of their closure, so a call costs an ordinary dispatch, not the typing of
a function argument (several microseconds per call). They cannot be cached on disk (the oracle
is not a global of this module); each new oracle compiles them once per process.

Each kernel that loops over points has a serial and a ``*_parallel`` version, with the same
arithmetic per point; the caller picks one through `numsmooth._parallel.use_parallel`, which
never picks a parallel one in a forked child (GNU OpenMP kills a forked child that enters a
parallel region).
"""

from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import njit, prange

_BY_ORACLE: dict[Any, SimpleNamespace] = {}


@njit(cache=True)
def build_points(x, sigma, U, lo, P):
    """``P[i] = x + sigma * U[lo + i]`` for every row of ``P``: the points handed to a per-point
    Python oracle, built a chunk at a time.

    Parameters
    ----------
    x : ndarray, shape (d,), float64
        The centre.
    sigma : float
        Scale of the perturbations.
    U : ndarray, shape (m, d), float64
        Unscaled perturbations (only read).
    lo : int
        First row of ``U`` to use.
    P : ndarray, shape (c, d), float64, C-contiguous
        Receives the points (``lo + c <= m``).

    Notes
    -----
    One compiled pass over the chunk replaces a multiply, an add and an allocation per point
    (about 1 us of NumPy call overhead each at d = 1000). Each element is ``x + sigma * u``,
    the same bits as NumPy's ``u * sigma + x`` and as the jitted-oracle kernels below (no
    contraction into a fused multiply-add: Numba does not enable it without fastmath).
    """
    d = x.shape[0]
    for i in range(P.shape[0]):
        for j in range(d):
            P[i, j] = x[j] + sigma * U[lo + i, j]
# Oracles whose kernels are kept; the oldest are dropped beyond it (the kernels hold the oracle,
# so a program that makes oracles in a loop would otherwise keep them all).
_MAX_ORACLES = 32


def kernels_for(fun: Any) -> SimpleNamespace:
    """``one``, ``rows``, ``rows_parallel``, ``perturbed`` and ``perturbed_parallel`` for the
    jitted oracle ``fun``."""
    kernels = _BY_ORACLE.get(fun)
    if kernels is None:
        kernels = _BY_ORACLE[fun] = _build(fun)
        while len(_BY_ORACLE) > _MAX_ORACLES:
            del _BY_ORACLE[next(iter(_BY_ORACLE))]
    return kernels


#: Bits of a NaN with a payload no arithmetic produces: written to the first and last element of
#: ``g_out`` before each call, so a call that leaves them there did not write its gradient.
UNWRITTEN = np.int64(0x7FF4DEADBEEF0001)


def _build(fun: Any) -> SimpleNamespace:
    @njit
    def call(x, g):
        """``fun(x, g)`` and whether it wrote the ends of ``g`` (see `UNWRITTEN`)."""
        bits = g.view(np.int64)
        last = bits.shape[0] - 1
        bits[0] = UNWRITTEN
        bits[last] = UNWRITTEN
        f = fun(x, g)
        return f, bits[0] != UNWRITTEN and bits[last] != UNWRITTEN

    @njit
    def one(x, g):
        """One evaluation (inside compiled code, so the result types are checked)."""
        return fun(x, g)

    @njit
    def rows(X, F, G, written):
        """F[i] = fun(X[i], G[i]) for every row; ``written[i]`` says whether G[i] was written."""
        for i in range(X.shape[0]):
            F[i], written[i] = call(X[i], G[i])

    @njit(parallel=True)
    def rows_parallel(X, F, G, written):
        """`rows` in parallel over rows."""
        for i in prange(X.shape[0]):
            F[i], written[i] = call(X[i], G[i])

    @njit(parallel=True)
    def perturbed_parallel(x, sigma, U, F, G, offset, written):
        """Evaluate at ``x + sigma * U[i]`` into ``F[offset + i]``, ``G[offset + i]``.

        Each point is built in a buffer private to its iteration, so the ``(m, d)`` block of
        points is never materialised. ``written[i]`` says whether the gradient was written.
        """
        d = x.shape[0]
        for i in prange(U.shape[0]):
            pt = np.empty(d)
            for j in range(d):
                pt[j] = x[j] + sigma * U[i, j]
            F[offset + i], written[i] = call(pt, G[offset + i])

    @njit
    def perturbed(x, sigma, U, F, G, offset, written):
        """`perturbed_parallel` on one thread (one point buffer reused)."""
        d = x.shape[0]
        pt = np.empty(d)
        for i in range(U.shape[0]):
            for j in range(d):
                pt[j] = x[j] + sigma * U[i, j]
            F[offset + i], written[i] = call(pt, G[offset + i])

    return SimpleNamespace(one=one, call=call, rows=rows, rows_parallel=rows_parallel, perturbed=perturbed,
                           perturbed_parallel=perturbed_parallel)
