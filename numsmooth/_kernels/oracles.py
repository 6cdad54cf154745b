"""Kernels that evaluate a Numba-jitted oracle ``fun(x, g_out) -> f`` at many points.

`kernels_for` compiles, once per oracle, small kernels that call it: the oracle is a
compile-time constant of their closure, so a call costs an ordinary dispatch, not the typing of
a function argument (several microseconds per call). They cannot be cached on disk (the oracle
is not a global of this module); each new oracle compiles them once per process.
"""

from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import njit, prange

_BY_ORACLE: dict[Any, SimpleNamespace] = {}
# Oracles whose kernels are kept; the oldest are dropped beyond it (the kernels hold the oracle,
# so a program that makes oracles in a loop would otherwise keep them all).
_MAX_ORACLES = 32


def kernels_for(fun: Any) -> SimpleNamespace:
    """``one``, ``rows``, ``perturbed`` and ``perturbed_serial`` for the jitted oracle ``fun``."""
    kernels = _BY_ORACLE.get(fun)
    if kernels is None:
        kernels = _BY_ORACLE[fun] = _build(fun)
        while len(_BY_ORACLE) > _MAX_ORACLES:
            del _BY_ORACLE[next(iter(_BY_ORACLE))]
    return kernels


def _build(fun: Any) -> SimpleNamespace:
    @njit
    def one(x, g):
        """One evaluation (inside compiled code, so the result types are checked)."""
        return fun(x, g)

    @njit(parallel=True)
    def rows(X, F, G):
        """F[i] = fun(X[i], G[i]) for every row, in parallel over rows."""
        for i in prange(X.shape[0]):
            F[i] = fun(X[i], G[i])

    @njit
    def rows_serial(X, F, G):
        """`rows` on one thread."""
        for i in range(X.shape[0]):
            F[i] = fun(X[i], G[i])

    @njit(parallel=True)
    def perturbed(x, sigma, U, F, G, offset):
        """Evaluate at ``x + sigma * U[i]`` into ``F[offset + i]``, ``G[offset + i]``.

        Each point is built in a buffer private to its iteration, so the ``(m, d)`` block of
        points is never materialised.
        """
        d = x.shape[0]
        for i in prange(U.shape[0]):
            pt = np.empty(d)
            for j in range(d):
                pt[j] = x[j] + sigma * U[i, j]
            F[offset + i] = fun(pt, G[offset + i])

    @njit
    def perturbed_serial(x, sigma, U, F, G, offset):
        """`perturbed` on one thread, for blocks too small to pay for a parallel region."""
        d = x.shape[0]
        pt = np.empty(d)
        for i in range(U.shape[0]):
            for j in range(d):
                pt[j] = x[j] + sigma * U[i, j]
            F[offset + i] = fun(pt, G[offset + i])

    return SimpleNamespace(one=one, rows=rows, rows_serial=rows_serial, perturbed=perturbed,
                           perturbed_serial=perturbed_serial)
