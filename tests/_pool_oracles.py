"""Module-level oracles for ``test_process_pools.py`` (importable in spawned workers)."""

import numba
import numpy as np


@numba.njit
def jitted(x, g):
    f = 0.0
    for i in range(x.shape[0]):
        f += x[i] ** 4 - 3 * x[i] ** 2 + abs(x[i])
        g[i] = 4 * x[i] ** 3 - 6 * x[i] + np.sign(x[i])
    return f


@numba.njit(parallel=True)
def jitted_parallel(x, g):
    for i in numba.prange(x.shape[0]):
        g[i] = 2.0 * x[i]
    return float(np.dot(x, x))


def point(x):
    return float(np.sum(x**4 - 3 * x**2) + np.abs(x).sum()), 4 * x**3 - 6 * x + np.sign(x)


def _batched(X):
    return np.sum(X**4 - 3 * X**2, axis=1) + np.abs(X).sum(axis=1), 4 * X**3 - 6 * X + np.sign(X)


def make_batched():
    import numsmooth as ns

    return ns.batched(_batched)
