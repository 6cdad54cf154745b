"""Slow, obviously correct NumPy twins of the Numba kernels.

Each twin is written independently of the kernel it checks (plain NumPy or Python loops, no
shared helpers), so agreement is evidence, not tautology.
"""

import math
from fractions import Fraction

import numba
import numpy as np


# ---------------------------------------------------------------------------------------------
# Fused multiply-add (numsmooth/_kernels/fma.py)
def naive_fma(a, b, c):
    """``a * b + c`` rounded once to float64, element-wise, in exact rational arithmetic (finite
    inputs). Under ``NUMBA_DISABLE_JIT`` the kernels' float64 fma rounds twice (they check logic
    there, not bits), and so does this twin."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c)))
    if numba.config.DISABLE_JIT:
        return a * b + c
    out = np.empty(a.shape)
    for i, (x, y, z) in enumerate(zip(a.flat, b.flat, c.flat)):
        out.flat[i] = float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
    return out

# ---------------------------------------------------------------------------------------------
# Counter-based RNG (twin of numsmooth/_kernels/rng.py, same bits)
# ---------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_STREAM_GAMMA = 0xD1B54A32D192ED03
_SAMPLE_GAMMA = 0xAEF17502108EF2D9
_KEY_SALT = 0x243F6A8885A308D3


def _mix64_int(z):
    """SplitMix64 finaliser on a Python int (mod 2**64)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix64_arr(z):
    """SplitMix64 finaliser on a uint64 array (NumPy wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def naive_row_key(key, stream, sample):
    """Row key with Python integers."""
    k = _mix64_int((int(key) ^ _KEY_SALT) & _MASK64)
    k = _mix64_int((k + _STREAM_GAMMA * (int(stream) + 1)) & _MASK64)
    return _mix64_int((k + _SAMPLE_GAMMA * (int(sample) + 1)) & _MASK64)


def naive_hashes(key, stream, first_sample, m, d):
    """(m, d) uint64 element hashes."""
    out = np.empty((m, d), dtype=np.uint64)
    coords = np.arange(1, d + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(m):
            rk = np.uint64(naive_row_key(key, stream, first_sample + i))
            out[i] = _mix64_arr(rk + np.uint64(_GOLDEN) * coords)
    return out


def _zig_tables():
    r = 3.6541528853610088
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    X = [v / f(r), r]
    for i in range(1, 255):
        X.append(math.sqrt(-2.0 * math.log(v / X[i] + f(X[i]))))
    X.append(0.0)
    return np.array(X), np.array([f(x) for x in X]), r


_ZX, _ZF, _ZR = _zig_tables()


def _naive_normal_slow(h, i, x):
    """Scalar wedge/tail of the ziggurat on Python ints and floats (math = the C library)."""
    neg = (h >> 8) & 1
    state = h
    while True:
        if i == 0:
            while True:
                state = (state + _GOLDEN) & _MASK64
                a = ((_mix64_int(state) >> 11) + 1) * 2.0**-53
                state = (state + _GOLDEN) & _MASK64
                b = ((_mix64_int(state) >> 11) + 1) * 2.0**-53
                xt = -math.log(a) / _ZR
                y = -math.log(b)
                if y + y > xt * xt:
                    x = _ZR + xt
                    break
            break
        state = (state + _GOLDEN) & _MASK64
        u = float(_mix64_int(state) >> 11) * 2.0**-53
        y = _ZF[i] + u * (_ZF[i + 1] - _ZF[i])
        if y < math.exp(-0.5 * x * x):
            break
        state = (state + _GOLDEN) & _MASK64
        h2 = _mix64_int(state)
        i = h2 & 0xFF
        neg = (h2 >> 8) & 1
        x = float(h2 >> 11) * 2.0**-53 * _ZX[i]
        if x < _ZX[i + 1]:
            break
    return -x if neg else x


def naive_normal(key, stream, first_sample, m, d):
    """Twin of ``fill_normal``: vectorised fast path, scalar loop for the ~1.2% slow path."""
    h = naive_hashes(key, stream, first_sample, m, d)
    layer = (h & np.uint64(0xFF)).astype(np.int64)
    neg = ((h >> np.uint64(8)) & np.uint64(1)).astype(bool)
    x = (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 * _ZX[layer]
    fast = x < _ZX[layer + 1]
    out = np.where(neg, -x, x)
    for i, j in zip(*np.nonzero(~fast)):
        out[i, j] = _naive_normal_slow(int(h[i, j]), int(layer[i, j]), float(x[i, j]))
    return out


def naive_uniform(key, stream, first_sample, m, d):
    """Twin of ``fill_uniform``: U[-1, 1) from the top 53 bits."""
    h = naive_hashes(key, stream, first_sample, m, d)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0


def naive_rademacher(key, stream, first_sample, m, d):
    """Twin of ``fill_rademacher``: the top bit."""
    h = naive_hashes(key, stream, first_sample, m, d)
    return np.where((h >> np.uint64(63)) == 1, 1.0, -1.0)


def naive_sphere(key, stream, first_sample, m, d, ball=False):
    """Twin of normal + ``scale_rows_to_sphere``: sequential norms (``cumsum`` adds in order)."""
    g = naive_normal(key, stream, first_sample, m, d)
    for i in range(m):
        nrm = math.sqrt(np.cumsum(g[i] * g[i])[-1])
        scale = 1.0 / nrm if nrm > 0 else 0.0
        if ball:
            rk = naive_row_key(key, stream, first_sample + i)
            hu = _mix64_int((rk + _GOLDEN * (_MASK64 + 1)) & _MASK64)
            u = ((hu >> 11) + 1) * 2.0**-53
            scale = scale * math.pow(u, 1.0 / d)
        g[i] = g[i] * scale
    return g


# ---------------------------------------------------------------------------------------------
# Aggregates (twins of numsmooth/_kernels/aggregate.py and hull.py)
# ---------------------------------------------------------------------------------------------


def _finite_rows(F):
    return [k for k in range(len(F)) if math.isfinite(F[k])]


def naive_agg_mean(F, G):
    """Mean over rows with finite value; (inf, inf) if none."""
    rows = _finite_rows(F)
    if not rows:
        return math.inf, np.full(G.shape[1], math.inf)
    return float(np.mean(F[rows])), np.mean(G[rows], axis=0)


def _naive_extreme(F, G, largest):
    rows = _finite_rows(F)
    d = G.shape[1]
    if not rows:
        return math.inf, np.full(d, math.inf)
    out = np.empty(d)
    for j in range(d):
        mags = [abs(G[k, j]) for k in rows]
        if any(math.isnan(a) for a in mags):
            mag = math.nan
        else:
            mag = max(mags) if largest else min(mags)
        out[j] = math.copysign(mag, G[rows[0], j])
    vals = [F[k] for k in rows]
    return (max(vals) if largest else min(vals)), out


def naive_agg_max(F, G):
    """Largest magnitude per element, sign bit of the first finite row."""
    return _naive_extreme(F, G, True)


def naive_agg_min(F, G):
    """Smallest magnitude per element, sign bit of the first finite row."""
    return _naive_extreme(F, G, False)


def _sequential_sqnorm(g):
    """sum g_j^2 added left to right, as the kernel does (np.linalg.norm sums pairwise, so two
    rows holding the same numbers in another order could compare unequal by one ulp)."""
    total = 0.0
    for v in g.tolist():
        total += v * v
    return total


def naive_agg_min_norm(F, G):
    """Row (finite value) of smallest norm; earliest on ties."""
    rows = _finite_rows(F)
    if not rows:
        return math.inf, np.full(G.shape[1], math.inf)
    best = rows[0]
    for k in rows[1:]:
        if _sequential_sqnorm(G[k]) < _sequential_sqnorm(G[best]):
            best = k
    return float(F[best]), G[best].copy()


def naive_agg_min_value(F, G):
    """Row of lowest finite value; earliest on ties."""
    rows = _finite_rows(F)
    if not rows:
        return math.inf, np.full(G.shape[1], math.inf)
    best = min(rows, key=lambda k: (F[k], k))
    return float(F[best]), G[best].copy()


NAIVE_AGGREGATES = {
    0: naive_agg_mean,
    1: naive_agg_max,
    2: naive_agg_min,
    3: naive_agg_min_norm,
    4: naive_agg_min_value,
}


def naive_min_norm_hull(G):
    """Minimum-norm point of conv(rows of G) by SLSQP at tight tolerance; returns (w, G^T w).

    Slow and only as accurate as SLSQP (about 1e-8 in the weights), which is why the tests also
    check the optimality conditions directly.
    """
    from scipy.optimize import minimize

    m = G.shape[0]
    K = G @ G.T
    res = minimize(
        lambda w: w @ K @ w,
        np.full(m, 1.0 / m),
        jac=lambda w: 2.0 * K @ w,
        method="SLSQP",
        bounds=[(0.0, None)] * m,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(m)}],
        options={"ftol": 1e-16, "maxiter": 2000},
    )
    w = np.clip(res.x, 0.0, None)
    w /= w.sum()
    return w, G.T @ w
