"""Kernels of the limited-memory bundle method (:class:`numsmooth.LimitedMemoryBundle`).

Serial, float64, O(m d) per call: the limited-memory BFGS product by the two-loop recursion
over a circular store of ``m`` pairs, the twelve inner products of a null step's aggregation
in one pass, the three-term combinations, and the aggregation's quadratic program over the
unit simplex in three variables (scalar work). The store keeps pair ``i`` in rows ``S[i]``,
``U[i]``; ``head`` is the row the next pair is written to and ``count`` the number of pairs,
so the newest pair is row ``(head - 1) % m`` and the oldest ``(head - count) % m``.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def lbfgs_apply(S, U, rho, head, count, theta, scale, q, out, alpha):
    """``out = scale H q``: the inverse L-BFGS matrix of the stored pairs applied to ``q``.

    ``H`` is built from ``H_0 = theta I`` by the BFGS updates with the pairs oldest first;
    ``rho[i] = 1 / (s_i^T u_i)``; ``alpha`` is scratch of length ``m``. ``out`` may not be
    ``q``. Cost: ``4 count d`` multiply-adds.
    """
    m = S.shape[0]
    d = q.size
    for j in range(d):
        out[j] = scale * q[j]  # H is linear: scale H q = H (scale q)
    for k in range(count):  # newest first
        i = (head - 1 - k) % m
        a = 0.0
        for j in range(d):
            a += S[i, j] * out[j]
        a *= rho[i]
        alpha[i] = a
        for j in range(d):
            out[j] -= a * U[i, j]
    for j in range(d):
        out[j] *= theta
    for k in range(count - 1, -1, -1):  # oldest first
        i = (head - 1 - k) % m
        b = 0.0
        for j in range(d):
            b += U[i, j] * out[j]
        c = alpha[i] - rho[i] * b
        for j in range(d):
            out[j] += c * S[i, j]


@njit(cache=True)
def dot_norms(a, b):
    """``(a^T b, a^T a, b^T b)`` in one pass."""
    ab = 0.0
    aa = 0.0
    bb = 0.0
    for j in range(a.size):
        ab += a[j] * b[j]
        aa += a[j] * a[j]
        bb += b[j] * b[j]
    return ab, aa, bb


@njit(cache=True)
def gram3(a, b, c, Da, Db, Dc, shift, G):
    """``G[i, j] = v_i^T (D + shift I) v_j`` for ``v = (a, b, c)``, given ``D v_i``; one pass.

    ``D`` is symmetric, so the entries above the diagonal are computed once and mirrored.
    """
    aDa = 0.0
    aDb = 0.0
    aDc = 0.0
    bDb = 0.0
    bDc = 0.0
    cDc = 0.0
    aa = 0.0
    ab = 0.0
    ac = 0.0
    bb = 0.0
    bc = 0.0
    cc = 0.0
    for j in range(a.size):
        aj = a[j]
        bj = b[j]
        cj = c[j]
        aDa += aj * Da[j]
        aDb += aj * Db[j]
        aDc += aj * Dc[j]
        bDb += bj * Db[j]
        bDc += bj * Dc[j]
        cDc += cj * Dc[j]
        aa += aj * aj
        ab += aj * bj
        ac += aj * cj
        bb += bj * bj
        bc += bj * cj
        cc += cj * cj
    G[0, 0] = aDa + shift * aa
    G[0, 1] = G[1, 0] = aDb + shift * ab
    G[0, 2] = G[2, 0] = aDc + shift * ac
    G[1, 1] = bDb + shift * bb
    G[1, 2] = G[2, 1] = bDc + shift * bc
    G[2, 2] = cDc + shift * cc


@njit(cache=True)
def combine3(l0, l1, l2, a, b, c, out):
    """``out = l0 a + l1 b + l2 c``; ``out`` may be any of the inputs (entry by entry)."""
    for j in range(out.size):
        out[j] = l0 * a[j] + l1 * b[j] + l2 * c[j]


@njit(cache=True)
def _value3(G, r, l0, l1, l2):
    v = 0.0
    lam = (l0, l1, l2)
    for i in range(3):
        v += 2.0 * r[i] * lam[i]
        for j in range(3):
            v += lam[i] * G[i, j] * lam[j]
    return v


@njit(cache=True)
def simplex_qp3(G, r):
    """Minimize ``l^T G l + 2 r^T l`` over ``l >= 0``, ``l_0 + l_1 + l_2 = 1``.

    ``G`` is symmetric positive semidefinite. Every face of the simplex is tried (the three
    vertices, the three edges' stationary points clipped to the edge, and the interior
    stationary point when the 2x2 system is regular and its solution is feasible); the least
    value wins, ties to the first found. Returns ``(l0, l1, l2)``.
    """
    best0, best1, best2 = 1.0, 0.0, 0.0
    best = _value3(G, r, 1.0, 0.0, 0.0)
    for k in range(1, 3):
        lam = np.zeros(3)
        lam[k] = 1.0
        v = _value3(G, r, lam[0], lam[1], lam[2])
        if v < best:
            best, best0, best1, best2 = v, lam[0], lam[1], lam[2]
    # edges: l_i = 1 - s, l_j = s
    for i in range(3):
        for j in range(i + 1, 3):
            # phi(s) = (1-s)^2 Gii + 2 s (1-s) Gij + s^2 Gjj + 2 (1-s) ri + 2 s rj
            curv = G[i, i] - 2.0 * G[i, j] + G[j, j]
            slope = G[i, j] - G[i, i] + r[j] - r[i]  # half of phi'(0)
            if curv > 0.0:
                s = -slope / curv
                if s > 0.0 and s < 1.0:
                    lam = np.zeros(3)
                    lam[i] = 1.0 - s
                    lam[j] = s
                    v = _value3(G, r, lam[0], lam[1], lam[2])
                    if v < best:
                        best, best0, best1, best2 = v, lam[0], lam[1], lam[2]
    # interior: l = (1 - a - b, a, b); gradient zero in (a, b)
    a11 = G[0, 0] - 2.0 * G[0, 1] + G[1, 1]
    a12 = G[0, 0] - G[0, 1] - G[0, 2] + G[1, 2]
    a22 = G[0, 0] - 2.0 * G[0, 2] + G[2, 2]
    b1 = G[0, 0] - G[0, 1] + r[0] - r[1]
    b2 = G[0, 0] - G[0, 2] + r[0] - r[2]
    det = a11 * a22 - a12 * a12
    if det > 1e-14 * max(a11 * a22, 1e-300):
        a = (b1 * a22 - b2 * a12) / det
        b = (a11 * b2 - a12 * b1) / det
        c = 1.0 - a - b
        if a > 0.0 and b > 0.0 and c > 0.0:
            v = _value3(G, r, c, a, b)
            if v < best:
                best, best0, best1, best2 = v, c, a, b
    return best0, best1, best2


@njit(cache=True)
def lowrank_sub(V, vscale, nv, q, out):
    """``out -= sum_i vscale[i] (V[i]^T q) V[i]`` over the first ``nv`` rows (the symmetric
    rank-one corrections of null steps); ``out`` may not be ``q``."""
    d = q.size
    for i in range(nv):
        a = 0.0
        for j in range(d):
            a += V[i, j] * q[j]
        a *= vscale[i]
        for j in range(d):
            out[j] -= a * V[i, j]


@njit(cache=True)
def sr1_correction(py, pm, gy, g, p, t, v):
    """The SR1 correction of a null step: ``v = D u - s`` with ``D u = py - pm``,
    ``u = gy - g`` and ``s = -t p``, written into ``v``; returns ``(u^T v, ||u||^2, ||v||^2)``."""
    uv = 0.0
    uu = 0.0
    vv = 0.0
    for j in range(v.size):
        vj = py[j] - pm[j] + t * p[j]
        uj = gy[j] - g[j]
        v[j] = vj
        uv += uj * vj
        uu += uj * uj
        vv += vj * vj
    return uv, uu, vv


@njit(cache=True)
def rank_one_update(a, v, c, out):
    """``out = a - c v``; ``out`` may be ``a``."""
    for j in range(out.size):
        out[j] = a[j] - c * v[j]



@njit(cache=True)
def dot(a, b):
    """``a^T b``, serially (BLAS threads would fight over a shared machine's cores)."""
    s = 0.0
    for j in range(a.size):
        s += a[j] * b[j]
    return s


@njit(cache=True)
def same(a, b):
    """Whether ``a`` and ``b`` hold the same values (no temporary, stops at the first difference)."""
    for j in range(a.size):
        if a[j] != b[j]:
            return False
    return True


@njit(cache=True)
def trial_point(x, p, t, u, y):
    """``u = t p`` and ``y = x - u``: the point ``x -= u`` reaches, bit for bit."""
    for j in range(x.size):
        uj = t * p[j]
        u[j] = uj
        y[j] = x[j] - uj
