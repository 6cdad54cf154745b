"""Kernels that evaluate a Numba-jitted oracle ``fun(x, g_out) -> f`` at many points.

The oracle is passed as a first-class function argument, so each distinct oracle compiles one
specialisation of these kernels (they cannot be cached on disk for that reason).
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True)
def eval_rows(fun, X, F, G):
    """F[i] = fun(X[i], G[i]) for every row, in parallel over rows."""
    for i in prange(X.shape[0]):
        F[i] = fun(X[i], G[i])


@njit(parallel=True)
def eval_perturbed(fun, x, sigma, U, F, G, offset):
    """Evaluate at ``x + sigma * U[i]`` into ``F[offset + i]``, ``G[offset + i]``.

    Each point is built in a buffer private to its iteration, so the ``(m, d)`` block of points
    is never materialised.
    """
    d = x.shape[0]
    for i in prange(U.shape[0]):
        pt = np.empty(d)
        for j in range(d):
            pt[j] = x[j] + sigma * U[i, j]
        F[offset + i] = fun(pt, G[offset + i])


@njit
def eval_perturbed_serial(fun, x, sigma, U, F, G, offset):
    """`eval_perturbed` on one thread, for blocks too small to pay for a parallel region."""
    d = x.shape[0]
    pt = np.empty(d)
    for i in range(U.shape[0]):
        for j in range(d):
            pt[j] = x[j] + sigma * U[i, j]
        F[offset + i] = fun(pt, G[offset + i])


@njit
def eval_one(fun, x, g):
    """One evaluation (keeps the call inside compiled code so the result types are checked)."""
    return fun(x, g)
