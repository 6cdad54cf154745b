"""Minimum-norm element of the convex hull of sampled gradients (the QP of gradient sampling).

Solves ``min ||G^T w||^2`` subject to ``w >= 0``, ``sum(w) = 1`` with Wolfe's nearest point
algorithm (Wolfe 1976) on the Gram matrix ``K = G G^T``:

- a *corral* ``S`` of affinely independent rows and weights ``lam > 0`` on it, starting from the
  row of smallest norm (lowest index on ties);
- major cycle: with ``x = G^T w``, take ``j = argmin_k G[k] . x``; stop when the gap
  ``||x||^2 - G[j] . x <= tol * max_k ||G[k]||^2`` (the gap bounds ``||x - x*||^2`` and is zero
  exactly at the optimum), else add ``j`` to ``S``;
- minor cycle: the affine minimiser of ``S``, ``alpha = A^{-1} 1 / (1^T A^{-1} 1)`` with
  ``A = K_SS + c 1 1^T`` (``c = max diag K``; on ``sum(alpha) = 1`` the shift only adds ``c``
  to the objective, and it makes ``A`` positive definite exactly when ``S`` is affinely
  independent, so duplicates and collinear rows are detected rather than divided by). If
  ``alpha > 0`` it becomes ``lam``; else step from ``lam`` towards ``alpha`` until a weight hits
  zero, drop it, repeat.

``A`` is kept as a Cholesky factor, appended in O(|S|^2) per new row and rebuilt after a removal,
so a solve costs O(m^2 d) for ``K`` (BLAS) plus O(|S|^2) per iteration.

The kernels assume ``G`` of moderate magnitude (its Gram matrix neither overflows nor underflows):
the driver :func:`numsmooth.hull.min_norm_hull` scales ``G`` by a power of two first. ``G^T w``
and ``G x`` are kernel twins (`numsmooth._kernels.twins`): the Python side chooses their serial
or parallel version (same bits either way); jitted code here calls the serial one.

References
----------
P. Wolfe, "Finding the nearest point in a polytope", Math. Programming 11 (1976) 128-149.
"""

import math

import numpy as np
from numba import njit, prange

from .twins import twin

# Return codes other than an iteration count.
MAXITER = -1   # maxiter reached; w and out hold the last iterate (feasible)
STALLED = -2   # rounding prevents progress (the gap is above tol but no row improves safely)
NONFINITE = -3  # G holds nan or inf; w and out are nan

# A new row whose squared distance (in the lifted metric) to the corral's affine hull is below
# this fraction of its squared length is treated as affinely dependent on the corral.
_DEPENDENT = 1e-15
_BLOCK = 2048


@njit(cache=True)
def _chol_append(L, n, K, S, j, c):
    """Append row ``j`` to the Cholesky factor ``L[:n, :n]`` of ``K_SS + c``; False if dependent."""
    for s in range(n):
        a = K[S[s], j] + c
        for t in range(s):
            a -= L[s, t] * L[n, t]
        L[n, s] = a / L[s, s]
    dd = K[j, j] + c
    for t in range(n):
        dd -= L[n, t] * L[n, t]
    if dd <= _DEPENDENT * (K[j, j] + c):
        return False
    L[n, n] = math.sqrt(dd)
    return True


@njit(cache=True)
def _affine_minimizer(L, n, alpha, z):
    """``alpha = A^{-1} 1 / sum(A^{-1} 1)`` from ``A = L L^T`` (two triangular solves)."""
    for s in range(n):
        a = 1.0
        for t in range(s):
            a -= L[s, t] * z[t]
        z[s] = a / L[s, s]
    for s in range(n - 1, -1, -1):
        a = z[s]
        for t in range(s + 1, n):
            a -= L[t, s] * alpha[t]
        alpha[s] = a / L[s, s]
    tot = 0.0
    for s in range(n):
        tot += alpha[s]
    for s in range(n):
        alpha[s] /= tot


@njit(cache=True)
def _combine_block(G, w, lo, hi, out):
    # unsigned bounds: Numba drops its negative-index check, which stops LLVM vectorising a loop
    # whose start is not a constant
    lo, hi = np.uint64(lo), np.uint64(hi)
    for j in range(lo, hi):
        out[j] = 0.0
    for k in range(G.shape[0]):
        if w[k] != 0.0:
            wk = w[k]
            for j in range(lo, hi):
                out[j] += wk * G[k, j]


@twin
def combine_rows(G, w, out):
    """``out = G^T w``, summing rows in index order (rows with ``w[k] == 0`` skipped), parallel
    over blocks of coordinates."""
    d = G.shape[1]
    for b in prange((d + _BLOCK - 1) // _BLOCK):
        _combine_block(G, w, b * _BLOCK, min(b * _BLOCK + _BLOCK, d), out)


@njit(cache=True)
def min_norm_hull(G, w_out, out, tol, maxiter):
    """Minimum-norm point of the convex hull of the rows of ``G`` (Wolfe's algorithm).

    Parameters
    ----------
    G : ndarray, shape (m, d), float64, C-contiguous, m >= 1
        The (finite) sampled gradients.
    w_out : ndarray, shape (m,), float64
        Receives the weights (``w >= 0``, ``sum(w) = 1``, zero off the final corral).
    out : ndarray, shape (d,), float64
        Receives the point ``G^T w``.
    tol : float
        Stop when ``||x||^2 - min_k G[k] . x <= tol * max_k ||G[k]||^2`` (e.g. 1e-12).
    maxiter : int
        Budget of major plus minor iterations.

    Returns
    -------
    int
        The number of iterations (>= 0) on convergence; ``MAXITER`` (-1), ``STALLED`` (-2) or
        ``NONFINITE`` (-3) otherwise. Except for ``NONFINITE``, ``w_out`` and ``out`` always hold
        a feasible point, so the caller can judge it with `hull_gap`.

    Notes
    -----
    Deterministic: ``K`` comes from one BLAS call and everything after it is serial (this
    all-in-one kernel forms ``G^T w`` serially; the driver uses :func:`min_norm_hull_weights` and
    picks the serial or parallel product). ``G`` must be of moderate magnitude (see the module
    docstring). Duplicate and collinear rows, and
    ``m = 1``, need no special case: a row affinely dependent on the corral is never added.
    """
    status = min_norm_hull_weights(G, w_out, tol, maxiter)
    if status == NONFINITE:
        for t in range(out.shape[0]):
            out[t] = np.nan
    else:
        combine_rows(G, w_out, out)
    return status


@njit(cache=True)
def min_norm_hull_weights(G, w_out, tol, maxiter):
    """The weights of :func:`min_norm_hull` only (``w_out``; nan when ``G`` is not finite), so
    that the caller may form ``G^T w`` with the serial or the parallel kernel; same return codes.
    """
    m, d = G.shape
    K = G @ G.T
    scale = 0.0
    for k in range(m):
        for i in range(m):
            if not math.isfinite(K[k, i]):
                for t in range(m):
                    w_out[t] = np.nan
                return NONFINITE
        if K[k, k] > scale:
            scale = K[k, k]
    # Start at the shortest row (lowest index on ties).
    i0 = 0
    for k in range(1, m):
        if K[k, k] < K[i0, i0]:
            i0 = k
    for t in range(m):
        w_out[t] = 0.0
    if scale == 0.0:  # every row is zero: the origin
        w_out[i0] = 1.0
        return 0
    c = scale
    cap = min(m, d + 1)  # no affinely independent set is larger
    L = np.zeros((cap, cap))
    S = np.empty(cap, dtype=np.int64)
    lam = np.zeros(cap)
    alpha = np.zeros(cap)
    z = np.zeros(cap)
    v = np.empty(m)
    S[0] = i0
    lam[0] = 1.0
    L[0, 0] = math.sqrt(K[i0, i0] + c)
    n = 1
    it = 0
    status = MAXITER
    while it < maxiter:
        it += 1
        # v[k] = G[k] . x and ||x||^2 from the corral's columns of K.
        for k in range(m):
            a = 0.0
            for s in range(n):
                a += K[k, S[s]] * lam[s]
            v[k] = a
        xx = 0.0
        for s in range(n):
            xx += lam[s] * v[S[s]]
        j = 0
        for k in range(1, m):
            if v[k] < v[j]:
                j = k
        if xx - v[j] <= tol * scale:
            status = it
            break
        in_corral = False
        for s in range(n):
            if S[s] == j:
                in_corral = True
        if in_corral or n == cap or not _chol_append(L, n, K, S, j, c):
            status = STALLED
            break
        S[n] = j
        lam[n] = 0.0
        n += 1
        # Minor cycles: move to the affine minimiser of the corral, dropping rows that leave it.
        while it < maxiter:
            _affine_minimizer(L, n, alpha, z)
            positive = True
            for s in range(n):
                if alpha[s] <= 0.0:
                    positive = False
            if positive:
                for s in range(n):
                    lam[s] = alpha[s]
                break
            it += 1
            theta = 1.0
            drop = -1
            for s in range(n):
                if alpha[s] <= 0.0:
                    t = lam[s] / (lam[s] - alpha[s])
                    if t < theta:
                        theta = t
                        drop = s
            for s in range(n):
                lam[s] = (1.0 - theta) * lam[s] + theta * alpha[s]
            if drop == n - 1 and theta == 0.0:
                # The row just added is not in its own affine minimiser: exact arithmetic rules
                # this out, so rounding dominates and the last corral is as good as it gets.
                n -= 1
                status = STALLED
                break
            if drop >= 0:
                lam[drop] = 0.0
            # Compact the corral (keep order) and refactor.
            kept = 0
            for s in range(n):
                if lam[s] > 0.0:
                    S[kept] = S[s]
                    lam[kept] = lam[s]
                    kept += 1
            n = kept
            L[0, 0] = math.sqrt(K[S[0], S[0]] + c)
            ok = True
            for s in range(1, n):
                if not _chol_append(L, s, K, S, S[s], c):
                    ok = False
            if not ok:  # cannot happen in exact arithmetic: a subset of the corral is independent
                status = STALLED
                break
        if status == STALLED:
            break
    tot = 0.0
    for s in range(n):
        tot += lam[s]
    for s in range(n):
        w_out[S[s]] = lam[s] / tot
    return status


@njit(cache=True)
def _row_dot(G, k, x):
    a = 0.0
    for j in range(G.shape[1]):
        a += G[k, j] * x[j]
    return a


@twin
def row_dots(G, x, out):
    """``out[k] = G[k] . x``, parallel over rows, each a serial sum over coordinates in index order."""
    for k in prange(G.shape[0]):
        out[k] = _row_dot(G, k, x)


@njit(cache=True)
def hull_gap(G, x):
    """Relative optimality gap ``(||x||^2 - min_k G[k] . x) / max_k ||G[k]||^2`` of a hull point.

    Zero exactly at the minimum-norm point (the gap bounds ``||x - x*||^2`` from above, in the
    same units); computed directly from ``G``, not from the Gram matrix.
    """
    dots = np.empty(G.shape[0])
    row_dots(G, x, dots)
    return hull_gap_dots(G, x, dots)


@njit(cache=True)
def hull_gap_dots(G, x, dots):
    """:func:`hull_gap` with ``dots = G x`` computed by the caller (serially or in parallel)."""
    m, d = G.shape
    xx = 0.0
    for j in range(d):
        xx += x[j] * x[j]
    scale = 0.0
    lo = np.inf
    for k in range(m):
        s = 0.0
        for j in range(d):
            s += G[k, j] * G[k, j]
        if s > scale:
            scale = s
        if dots[k] < lo:
            lo = dots[k]
    if scale == 0.0:
        return 0.0
    return (xx - lo) / scale
