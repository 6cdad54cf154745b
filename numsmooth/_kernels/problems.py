"""Jitted value-and-(sub)gradient functions of the benchmark problems (private).

Every function here has the signature of numsmooth's *jitted oracle*::

    fun(x, g_out) -> float

``x`` is a flat, C-contiguous float64 array of length ``d``; the function writes the gradient
(or, at a kink, one element of the Clarke subdifferential) into ``g_out`` (same length, caller
allocated, fully overwritten) and returns the value as a float. The functions allocate nothing,
hold no state and can be called from other ``@njit`` code, including inside ``prange`` loops.
They do not validate ``d``: :mod:`numsmooth.problems` does that at the public boundary.

Ties between the pieces of a max are broken towards the lowest index (the first piece in the
formula), as in the Fortran test routines of Haarala, Miettinen and Mäkelä (2004); the
returned vector is then the gradient of that piece, which is a valid subgradient.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "rosenbrock",
    "rastrigin",
    "ackley",
    "l1",
    "maxquad",
    "chebyshev_rosenbrock",
    "chebyshev_rosenbrock_2",
    "maxq",
    "mxhilb",
    "chained_lq",
    "chained_cb3_1",
    "chained_cb3_2",
    "active_faces",
    "brown2",
    "chained_mifflin2",
    "chained_crescent_1",
    "chained_crescent_2",
    "maxquad_data",
]


@njit(cache=True)
def _sign(v):
    """``sign(v)`` as a float, 0 at 0."""
    return 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)


# --------------------------------------------------------------------------------------------
# smooth and classical problems
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def rosenbrock(x, g_out):
    """Chained Rosenbrock: ``sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`` (``d >= 2``)."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
        g_out[i] += -400.0 * a * x[i] - 2.0 * b
        g_out[i + 1] += 200.0 * a
    return f


@njit(cache=True)
def rastrigin(x, g_out):
    """Rastrigin: ``10 d + sum x_i^2 - 10 cos(2 pi x_i)``."""
    d = x.shape[0]
    tau = 2.0 * math.pi
    f = 10.0 * d
    for i in range(d):
        xi = x[i]
        f += xi * xi - 10.0 * math.cos(tau * xi)
        g_out[i] = 2.0 * xi + 10.0 * tau * math.sin(tau * xi)
    return f


@njit(cache=True)
def ackley(x, g_out):
    """Ackley (a = 20, b = 0.2, c = 2 pi); subgradient 0 at the origin.

    Written as ``20 (1 - exp(-0.2 r)) + (e - exp(m))`` with ``r = sqrt(mean x_i^2)`` and
    ``m = mean cos(2 pi x_i)``, so the value at the origin is exactly 0.
    """
    d = x.shape[0]
    tau = 2.0 * math.pi
    sq = 0.0
    cs = 0.0
    for i in range(d):
        sq += x[i] * x[i]
        cs += math.cos(tau * x[i])
    r = math.sqrt(sq / d)
    e1 = math.exp(-0.2 * r)
    e2 = math.exp(cs / d)
    f = 20.0 * (1.0 - e1) + (math.e - e2)
    # d/dx_i of -20 exp(-0.2 r) is 4 exp(-0.2 r) x_i / (d r); its limit set at r = 0 contains 0.
    c1 = 4.0 * e1 / (d * r) if r > 0.0 else 0.0
    c2 = tau * e2 / d
    for i in range(d):
        g_out[i] = c1 * x[i] + c2 * math.sin(tau * x[i])
    return f


@njit(cache=True)
def l1(x, g_out):
    """L1 norm ``sum |x_i|``; subgradient ``sign(x_i)`` (0 at 0)."""
    d = x.shape[0]
    f = 0.0
    for i in range(d):
        f += abs(x[i])
        g_out[i] = _sign(x[i])
    return f


def maxquad_data():
    """Return ``(A, b)`` of MAXQUAD (Lemaréchal & Mifflin 1978), shapes ``(5, 10, 10)``, ``(5, 10)``.

    With 1-based indices: ``A_j[k, i] = A_j[i, k] = exp(i/k) cos(i k) sin(j)`` for ``i < k``,
    ``A_j[i, i] = (i/10) |sin j| + sum_{k != i} |A_j[i, k]|``, ``b_j[i] = exp(i/j) sin(i j)``.
    """
    A = np.zeros((5, 10, 10))
    b = np.zeros((5, 10))
    for j in range(1, 6):
        for k in range(1, 11):
            for i in range(1, k):
                v = math.exp(i / k) * math.cos(i * k) * math.sin(j)
                A[j - 1, k - 1, i - 1] = v
                A[j - 1, i - 1, k - 1] = v
        for i in range(1, 11):
            A[j - 1, i - 1, i - 1] = (i / 10.0) * abs(math.sin(j)) + np.abs(A[j - 1, i - 1]).sum()
            b[j - 1, i - 1] = math.exp(i / j) * math.sin(i * j)
    return A, b


# Module-level constants: Numba freezes global arrays into the compiled code.
_MAXQUAD_A, _MAXQUAD_B = maxquad_data()


@njit(cache=True)
def maxquad(x, g_out):
    """MAXQUAD: ``max_{j=1..5} x^T A_j x - b_j^T x`` (``d = 10``); ties go to the lowest ``j``."""
    A = _MAXQUAD_A
    b = _MAXQUAD_B
    n = 10
    best = -np.inf
    hit = 0
    for j in range(5):
        v = 0.0
        for i in range(n):
            s = 0.0
            for k in range(n):
                s += A[j, i, k] * x[k]
            v += x[i] * s - b[j, i] * x[i]
        if v > best:
            best = v
            hit = j
    for i in range(n):
        s = 0.0
        for k in range(n):
            s += A[hit, i, k] * x[k]
        g_out[i] = 2.0 * s - b[hit, i]
    return best


@njit(cache=True)
def chebyshev_rosenbrock(x, g_out):
    """Nesterov's first nonsmooth Chebyshev-Rosenbrock function:
    ``(x_1 - 1)^2 / 4 + sum_{i<d} |x_{i+1} - 2 x_i^2 + 1|`` (sign 0 at the kinks)."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.25 * (x[0] - 1.0) * (x[0] - 1.0)
    g_out[0] = 0.5 * (x[0] - 1.0)
    for i in range(d - 1):
        r = x[i + 1] - 2.0 * x[i] * x[i] + 1.0
        s = _sign(r)
        f += abs(r)
        g_out[i + 1] += s
        g_out[i] += -4.0 * s * x[i]
    return f


@njit(cache=True)
def chebyshev_rosenbrock_2(x, g_out):
    """Nesterov's second nonsmooth Chebyshev-Rosenbrock function:
    ``|x_1 - 1| / 4 + sum_{i<d} |x_{i+1} - 2 |x_i| + 1|`` (sign 0 at the kinks)."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.25 * abs(x[0] - 1.0)
    g_out[0] = 0.25 * _sign(x[0] - 1.0)
    for i in range(d - 1):
        r = x[i + 1] - 2.0 * abs(x[i]) + 1.0
        s = _sign(r)
        f += abs(r)
        g_out[i + 1] += s
        g_out[i] += -2.0 * s * _sign(x[i])
    return f


# --------------------------------------------------------------------------------------------
# Haarala, Miettinen & Mäkelä (2004), problems 1-10
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def maxq(x, g_out):
    """Generalization of MAXQ: ``max_i x_i^2``."""
    d = x.shape[0]
    f = x[0] * x[0]
    hit = 0
    g_out[0] = 0.0
    for i in range(1, d):
        g_out[i] = 0.0
        y = x[i] * x[i]
        if y > f:
            f = y
            hit = i
    g_out[hit] = 2.0 * x[hit]
    return f


@njit(cache=True)
def mxhilb(x, g_out):
    """Generalization of MXHILB: ``max_i |sum_j x_j / (i + j - 1)|`` (1-based ``i, j``)."""
    d = x.shape[0]
    f = -1.0
    hit = 0
    sgn = 1.0
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += x[j] / (i + j + 1.0)
        a = abs(s)
        if a > f:
            f = a
            hit = i
            sgn = -1.0 if s < 0.0 else 1.0
    for j in range(d):
        g_out[j] = sgn / (hit + j + 1.0)
    return f


@njit(cache=True)
def chained_lq(x, g_out):
    """Chained LQ: ``sum max(-x_i - x_{i+1}, -x_i - x_{i+1} + x_i^2 + x_{i+1}^2 - 1)``."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        u = x[i]
        v = x[i + 1]
        a = -u - v
        b = a + (u * u + v * v - 1.0)
        if a >= b:
            f += a
            g_out[i] -= 1.0
            g_out[i + 1] -= 1.0
        else:
            f += b
            g_out[i] += -1.0 + 2.0 * u
            g_out[i + 1] += -1.0 + 2.0 * v
    return f


@njit(cache=True)
def chained_cb3_1(x, g_out):
    """Chained CB3 I: ``sum max(x_i^4 + x_{i+1}^2, (2 - x_i)^2 + (2 - x_{i+1})^2, 2 e^{x_{i+1} - x_i})``."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        u = x[i]
        v = x[i + 1]
        a = u * u * u * u + v * v
        b = (2.0 - u) * (2.0 - u) + (2.0 - v) * (2.0 - v)
        c = 2.0 * math.exp(v - u)
        if a >= b and a >= c:
            f += a
            g_out[i] += 4.0 * u * u * u
            g_out[i + 1] += 2.0 * v
        elif b >= c:
            f += b
            g_out[i] += 2.0 * u - 4.0
            g_out[i + 1] += 2.0 * v - 4.0
        else:
            f += c
            g_out[i] -= c
            g_out[i + 1] += c
    return f


@njit(cache=True)
def chained_cb3_2(x, g_out):
    """Chained CB3 II: the max of the three sums of Chained CB3 I's pieces."""
    d = x.shape[0]
    a = 0.0
    b = 0.0
    c = 0.0
    for i in range(d - 1):
        u = x[i]
        v = x[i + 1]
        a += u * u * u * u + v * v
        b += (2.0 - u) * (2.0 - u) + (2.0 - v) * (2.0 - v)
        c += 2.0 * math.exp(v - u)
    for i in range(d):
        g_out[i] = 0.0
    if a >= b and a >= c:
        for i in range(d - 1):
            g_out[i] += 4.0 * x[i] * x[i] * x[i]
            g_out[i + 1] += 2.0 * x[i + 1]
        return a
    if b >= c:
        for i in range(d - 1):
            g_out[i] += 2.0 * x[i] - 4.0
            g_out[i + 1] += 2.0 * x[i + 1] - 4.0
        return b
    for i in range(d - 1):
        e = 2.0 * math.exp(x[i + 1] - x[i])
        g_out[i] -= e
        g_out[i + 1] += e
    return c


@njit(cache=True)
def active_faces(x, g_out):
    """Number of active faces: ``max(g(-sum x_i), max_i g(x_i))`` with ``g(y) = ln(|y| + 1)``."""
    d = x.shape[0]
    s = 0.0
    f = -1.0
    hit = 0
    for i in range(d):
        s += x[i]
        g_out[i] = 0.0
        v = math.log(abs(x[i]) + 1.0)
        if v > f:
            f = v
            hit = i
    v = math.log(abs(s) + 1.0)
    if v > f:
        # d/dx_j ln(|s| + 1) = sign(s) / (|s| + 1) for every j
        c = _sign(s) / (abs(s) + 1.0)
        for i in range(d):
            g_out[i] = c
        return v
    g_out[hit] = _sign(x[hit]) / (abs(x[hit]) + 1.0)
    return f


@njit(cache=True)
def brown2(x, g_out):
    """Nonsmooth Brown 2: ``sum |x_i|^{x_{i+1}^2 + 1} + |x_{i+1}|^{x_i^2 + 1}``.

    ``|a|^p ln|a|`` is taken as its limit 0 at ``a = 0``, and ``sign(0) = 0``.
    """
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        u = x[i]
        v = x[i + 1]
        au = abs(u)
        av = abs(v)
        pu = v * v + 1.0  # exponent on |u|
        pv = u * u + 1.0  # exponent on |v|
        tu = au**pu
        tv = av**pv
        f += tu + tv
        lu = math.log(au) if au > 0.0 else 0.0
        lv = math.log(av) if av > 0.0 else 0.0
        # d/du: pu |u|^{pu-1} sign(u) + |v|^{pv} ln|v| 2u ; d/dv symmetric
        g_out[i] += pu * au ** (pu - 1.0) * _sign(u) + tv * lv * 2.0 * u
        g_out[i + 1] += pv * av ** (pv - 1.0) * _sign(v) + tu * lu * 2.0 * v
    return f


@njit(cache=True)
def chained_mifflin2(x, g_out):
    """Chained Mifflin 2: ``sum -x_i + 2 y_i + 1.75 |y_i|``, ``y_i = x_i^2 + x_{i+1}^2 - 1``.

    At ``y_i = 0`` the subgradient of ``|y_i|`` is taken as +1, as in the Fortran original.
    """
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        u = x[i]
        v = x[i + 1]
        y = u * u + v * v - 1.0
        f += -u + 2.0 * y + 1.75 * abs(y)
        c = (-3.5 if y < 0.0 else 3.5) + 4.0
        g_out[i] += c * u - 1.0
        g_out[i + 1] += c * v
    return f


@njit(cache=True)
def chained_crescent_1(x, g_out):
    """Chained Crescent I: ``max(sum p_i, sum q_i)``, with
    ``p_i = x_i^2 + (x_{i+1} - 1)^2 + x_{i+1} - 1`` and ``q_i = -x_i^2 - (x_{i+1} - 1)^2 + x_{i+1} + 1``.
    """
    d = x.shape[0]
    sp = 0.0
    sq = 0.0
    for i in range(d - 1):
        u = x[i]
        w = x[i + 1] - 1.0
        sp += u * u + w * w + w
        sq += -u * u - w * w + w + 2.0
    for i in range(d):
        g_out[i] = 0.0
    sgn = 1.0 if sp >= sq else -1.0
    for i in range(d - 1):
        g_out[i] += sgn * 2.0 * x[i]
        g_out[i + 1] += sgn * 2.0 * (x[i + 1] - 1.0) + 1.0
    return sp if sp >= sq else sq


@njit(cache=True)
def chained_crescent_2(x, g_out):
    """Chained Crescent II: ``sum max(p_i, q_i)`` with ``p_i, q_i`` as in Chained Crescent I."""
    d = x.shape[0]
    for i in range(d):
        g_out[i] = 0.0
    f = 0.0
    for i in range(d - 1):
        u = x[i]
        w = x[i + 1] - 1.0
        p = u * u + w * w + w
        q = -u * u - w * w + w + 2.0
        if p >= q:
            f += p
            g_out[i] += 2.0 * u
            g_out[i + 1] += 2.0 * w + 1.0
        else:
            f += q
            g_out[i] -= 2.0 * u
            g_out[i + 1] += -2.0 * w + 1.0
    return f
