"""Kernels of the limited-memory bundle method (:class:`numsmooth.LimitedMemoryBundle`).

Serial, float64, O(m d) per call: the limited-memory BFGS product by the two-loop recursion,
the limited-memory SR1 product in compact form, the products of a new pair with the stored ones,
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
def pair_products(S, U, rows, k, s, u, su, us, uu, ss):
    """Products of a new pair ``(s, u)`` with the stored pairs in rows ``rows[:k]``, in one
    pass over each: ``su[i] = s_r^T u``, ``us[i] = s^T u_r``, ``uu[i] = u_r^T u``, ``ss[i] =
    s_r^T s`` (``r = rows[i]``)."""
    d = s.size
    for i in range(k):
        r = rows[i]
        a = 0.0
        b = 0.0
        c = 0.0
        e = 0.0
        for j in range(d):
            a += S[r, j] * u[j]
            b += s[j] * U[r, j]
            c += U[r, j] * u[j]
            e += S[r, j] * s[j]
        su[i] = a
        us[i] = b
        uu[i] = c
        ss[i] = e


@njit(cache=True)
def _z_dot(S, U, rows, k, s, u, has_new, gamma, q, work):
    """``work[:n] = Z^T q`` for the columns ``z_i`` of :func:`lsr1_apply` (``n = k + has_new``)."""
    d = q.size
    for i in range(k):
        r = rows[i]
        a = 0.0
        for j in range(d):
            a += (S[r, j] - gamma * U[r, j]) * q[j]
        work[i] = a
    if has_new:
        a = 0.0
        for j in range(d):
            a += (s[j] - gamma * u[j]) * q[j]
        work[k] = a


@njit(cache=True)
def lsr1_apply(S, U, rows, k, s, u, has_new, gamma, Ninv, q, out, work):
    """``out = H q`` for the limited-memory SR1 matrix ``H = gamma I + Z Ninv Z^T``.

    The columns of ``Z`` are ``z_i = s_i - gamma u_i`` for the stored pairs in rows
    ``rows[:k]`` (oldest first), then, when ``has_new``, the pair ``(s, u)``; ``Ninv`` is the
    inverse of the middle matrix (its leading ``n x n`` block is used, ``n`` the number of
    columns). ``work`` is scratch of length ``>= 2 n``. ``out`` may not be ``q``. Cost:
    ``4 n d`` multiply-adds.
    """
    d = q.size
    n = k + 1 if has_new else k
    _z_dot(S, U, rows, k, s, u, has_new, gamma, q, work)
    for i in range(n):
        c = 0.0
        for l in range(n):
            c += Ninv[i, l] * work[l]
        work[n + i] = c
    for j in range(d):
        out[j] = gamma * q[j]
    for i in range(k):
        r = rows[i]
        c = work[n + i]
        for j in range(d):
            out[j] += c * (S[r, j] - gamma * U[r, j])
    if has_new:
        c = work[n + k]
        for j in range(d):
            out[j] += c * (s[j] - gamma * u[j])


@njit(cache=True)
def lsr1_quad(S, U, rows, k, s, u, has_new, gamma, Ninv, q, work):
    """``q^T H q`` for the matrix of :func:`lsr1_apply` (same arguments, no ``out``): ``gamma
    q^T q + r^T Ninv r`` with ``r = Z^T q``, one pass over the rows. ``work``: length ``>= n``."""
    d = q.size
    n = k + 1 if has_new else k
    qq = 0.0
    for j in range(d):
        qq += q[j] * q[j]
    _z_dot(S, U, rows, k, s, u, has_new, gamma, q, work)
    v = gamma * qq
    for i in range(n):
        for l in range(n):
            v += work[i] * Ninv[i, l] * work[l]
    return v


@njit(cache=True)
def diff(a, b, out):
    """``out = a - b``."""
    for j in range(out.size):
        out[j] = a[j] - b[j]


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
