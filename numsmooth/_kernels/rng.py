"""Counter-based random numbers for perturbations.

Every random element is a pure function of four unsigned 64-bit integers
``(key, stream, sample, coord)``; nothing is stateful, so a block of perturbations is the same
whatever the number of Numba threads, the scheduling, the block it was drawn in, or
``NUMBA_DISABLE_JIT``.

Counter layout
--------------
All arithmetic is modulo 2**64 on ``np.uint64``; ``mix`` is the SplitMix64 finaliser
(Steele, Lea & Flood 2014; constants of Vigna's ``splitmix64.c``), a bijection of 64-bit words::

    k_key    = mix(key ^ KEY_SALT)                          # one per key
    k_stream = mix(k_key + STREAM_GAMMA * (stream + 1))     # one per (key, stream)
    k_row    = mix(k_stream + SAMPLE_GAMMA * (sample + 1))  # one per (key, stream, sample)
    h(coord) = mix(k_row + GOLDEN_GAMMA * (coord + 1))      # one per element

so each row is a SplitMix64 sequence seeded by a hashed row key. ``coord = 2**64 - 1`` (the
last slot, never a real coordinate) is reserved for per-row scalars such as the radius of the
``"ball"`` distribution. Element draws that need more than 64 bits (the rare slow path of the
ziggurat) continue the element's own SplitMix64 sequence ``mix(h + j * GOLDEN_GAMMA)``,
``j = 1, 2, ...``.

Conversions of a 64-bit output ``h``:

- uniform [0, 1):  ``(h >> 11) * 2**-53`` (53 bits, exact);
- uniform (0, 1]:  ``((h >> 11) + 1) * 2**-53`` (for logarithms and powers);
- uniform [-1, 1): ``(h >> 11) * 2**-52 - 1``;
- Rademacher:      ``+1`` if the top bit of ``h`` is set, else ``-1``;
- standard normal: a 256-layer ziggurat (Marsaglia & Tsang 2000) reading the layer from bits
  0-7, the sign from bit 8 and the abscissa from bits 11-63. About 98.8% of elements are
  accepted by one multiply and one compare; the others use the exact wedge/tail tests, with
  extra uniforms from the element's own sequence, so the distribution is exact (up to the 53-bit
  resolution of the uniforms), not an approximation.

Caveat: two rows whose keys differ by a small multiple of ``GOLDEN_GAMMA`` would share shifted
sequences; with hashed row keys the chance is about ``m**2 * d / 2**64`` (1e-7 for
``m = 1e3, d = 1e6``).
"""

import math

import numpy as np
from numba import njit, prange

from .twins import twin

# Constants are np.uint64 so that numba never mixes int64 and uint64 (that promotes to float64).
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_S8 = np.uint64(8)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S63 = np.uint64(63)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
STREAM_GAMMA = np.uint64(0xD1B54A32D192ED03)
SAMPLE_GAMMA = np.uint64(0xAEF17502108EF2D9)
KEY_SALT = np.uint64(0x243F6A8885A308D3)  # digits of pi: keeps key 0 away from mix's fixed point 0
ROW_SCALAR_SLOT = np.uint64(0xFFFFFFFFFFFFFFFF)
_MASK8 = np.uint64(0xFF)
_TWO_M53 = 2.0**-53
_TWO_M52 = 2.0**-52

# Block of coordinates handled by one parallel task: large enough to amortise the row key,
# small enough that a single long row still spreads over the threads.
BLOCK = 4096


def _ziggurat_tables():
    """Layer abscissae ``X`` (257,) and densities ``F = exp(-X**2 / 2)`` for 256 equal layers.

    ``X[1] = r`` is the tail start, ``X[0] = v / f(r)`` the pseudo-width of the base strip
    (rectangle plus tail), ``X[256] = 0``; layer ``i >= 1`` is ``[0, X[i]] x [F[i], F[i+1]]``.
    """
    r = 3.6541528853610088  # Marsaglia & Tsang (2000), 256 layers
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    X = np.empty(257)
    X[0] = v / f(r)
    X[1] = r
    for i in range(1, 255):
        X[i + 1] = math.sqrt(-2.0 * math.log(v / X[i] + f(X[i])))
    X[256] = 0.0
    F = np.array([f(x) for x in X])
    return X, F, r


ZIG_X, ZIG_F, ZIG_R = _ziggurat_tables()


@njit(cache=True)
def mix64(z):
    """SplitMix64 finaliser: a bijective avalanche of a uint64 word."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def row_key(key, stream, sample):
    """Hashed key of row ``sample`` of ``(key, stream)``; all arguments uint64."""
    k = mix64(np.uint64(key) ^ KEY_SALT)
    k = mix64(k + STREAM_GAMMA * (np.uint64(stream) + _U1))
    return mix64(k + SAMPLE_GAMMA * (np.uint64(sample) + _U1))


@njit(cache=True)
def derive_key(key, tag):
    """A new key for an auxiliary draw (e.g. the norms of ``"orthogonal"``) tagged by ``tag``."""
    return mix64(mix64(np.uint64(key) ^ KEY_SALT) ^ mix64(np.uint64(tag) + GOLDEN_GAMMA))


@njit(cache=True)
def element_hash(rkey, coord):
    """64 random bits of coordinate ``coord`` (uint64) of the row with key ``rkey``."""
    return mix64(rkey + GOLDEN_GAMMA * (coord + _U1))


@njit(cache=True)
def _u01_open_low(h):
    """Uniform on (0, 1] with 53 bits (safe for ``log``)."""
    return np.float64((h >> _S11) + _U1) * _TWO_M53


@njit(cache=True)
def _normal_slow(h, i, x):
    """Wedge and tail tests of the ziggurat; rare (about 1.2% of elements).

    ``h`` is the element's first hash, ``i`` its layer and ``x`` its rejected abscissa. Extra
    uniforms continue the element's SplitMix64 sequence ``mix(h + j * GOLDEN_GAMMA)``.
    """
    neg = ((h >> _S8) & _U1) == _U1
    state = h
    while True:
        if i == 0:
            # Tail beyond r (Marsaglia 1964): exact for the conditional tail distribution.
            while True:
                state = state + GOLDEN_GAMMA
                a = _u01_open_low(mix64(state))
                state = state + GOLDEN_GAMMA
                b = _u01_open_low(mix64(state))
                xt = -math.log(a) / ZIG_R
                y = -math.log(b)
                if y + y > xt * xt:
                    x = ZIG_R + xt
                    break
            break
        # Wedge of layer i: accept if a uniform height under the layer lies below the density.
        state = state + GOLDEN_GAMMA
        u = np.float64(mix64(state) >> _S11) * _TWO_M53
        y = ZIG_F[i] + u * (ZIG_F[i + 1] - ZIG_F[i])
        if y < math.exp(-0.5 * x * x):
            break
        # Rejected: a fresh ziggurat draw (layer, sign, abscissa) from the next hash.
        state = state + GOLDEN_GAMMA
        h2 = mix64(state)
        i = np.int64(h2 & _MASK8)
        neg = ((h2 >> _S8) & _U1) == _U1
        x = np.float64(h2 >> _S11) * _TWO_M53 * ZIG_X[i]
        if x < ZIG_X[i + 1]:
            break
    return -x if neg else x


@njit(cache=True)
def normal_from_hash(h):
    """Standard normal from one element hash (ziggurat; the fast path is one multiply)."""
    i = np.int64(h & _MASK8)
    x = np.float64(h >> _S11) * _TWO_M53 * ZIG_X[i]
    if x < ZIG_X[i + 1]:
        return -x if ((h >> _S8) & _U1) == _U1 else x
    return _normal_slow(h, i, x)


@njit(cache=True)
def uniform_from_hash(h):
    """U[-1, 1) with 53 bits."""
    return np.float64(h >> _S11) * _TWO_M52 - 1.0


@njit(cache=True)
def rademacher_from_hash(h):
    """+1.0 or -1.0 from the top bit."""
    return 1.0 if (h >> _S63) == _U1 else -1.0


@njit(cache=True)
def normal_row(key, stream, sample, out_row):
    """Fill ``out_row`` (d,) with row ``sample`` of the standard-normal draw of ``(key, stream)``.

    Serial, for use inside other kernels (a fused perturb-and-evaluate kernel regenerates row
    ``sample`` without storing the block). Bit-identical to row ``sample`` of ``fill_normal``.
    """
    rk = row_key(key, stream, sample)
    for j in range(out_row.shape[0]):
        out_row[j] = normal_from_hash(element_hash(rk, np.uint64(j)))


@njit(cache=True)
def uniform_row(key, stream, sample, out_row):
    """Row ``sample`` of ``fill_uniform`` (U[-1, 1)), serial."""
    rk = row_key(key, stream, sample)
    for j in range(out_row.shape[0]):
        out_row[j] = uniform_from_hash(element_hash(rk, np.uint64(j)))


@njit(cache=True)
def rademacher_row(key, stream, sample, out_row):
    """Row ``sample`` of ``fill_rademacher`` (+-1), serial."""
    rk = row_key(key, stream, sample)
    for j in range(out_row.shape[0]):
        out_row[j] = rademacher_from_hash(element_hash(rk, np.uint64(j)))


@njit(cache=True)
def row_radius(key, stream, sample, d):
    """Radius ``U**(1/d)``, ``U`` in (0, 1], of a uniform point of the d-ball, for row ``sample``.

    ``U`` comes from the reserved coordinate slot ``2**64 - 1`` of the row, so it is independent
    of the row's direction.
    """
    rk = row_key(key, stream, sample)
    u = _u01_open_low(element_hash(rk, ROW_SCALAR_SLOT))
    return u ** (1.0 / d)


@njit(cache=True)
def _fill_task(kind, key, stream, first, nb, t, out):
    """Task ``t``: row ``t // nb``, coordinate block ``t % nb``."""
    d = out.shape[1]
    i = t // nb
    lo = (t - i * nb) * BLOCK
    hi = min(lo + BLOCK, d)
    rk = row_key(key, stream, first + np.uint64(i))
    if kind == 0:
        for j in range(lo, hi):
            out[i, j] = normal_from_hash(element_hash(rk, np.uint64(j)))
    elif kind == 1:
        for j in range(lo, hi):
            out[i, j] = uniform_from_hash(element_hash(rk, np.uint64(j)))
    else:
        for j in range(lo, hi):
            out[i, j] = rademacher_from_hash(element_hash(rk, np.uint64(j)))


@twin
def fill_kind(kind, key, stream, first_sample, out):
    """Shared body of the ``fill_*`` kernels: kind 0 normal, 1 uniform, 2 Rademacher.

    Works in (row, coordinate block) tasks, in parallel in the parallel twin (so one long row
    still uses every thread). Each element is a pure function of its counters, so both give the
    same bits.
    """
    nb = (out.shape[1] + BLOCK - 1) // BLOCK
    first = np.uint64(first_sample)
    for t in prange(out.shape[0] * nb):
        _fill_task(kind, key, stream, first, nb, t, out)


@njit(cache=True)
def fill_normal(key, stream, first_sample, out):
    """Standard normals: ``out[i, j]`` is element ``(first_sample + i, j)`` of ``(key, stream)``.

    Parameters
    ----------
    key, stream, first_sample : uint64
        Counters (see the module docstring for the layout).
    out : ndarray, shape (m, d), float64, C-contiguous
        Written in place.
    """
    fill_kind(0, key, stream, first_sample, out)


@njit(cache=True)
def fill_uniform(key, stream, first_sample, out):
    """U[-1, 1) elements, counters as in `fill_normal`."""
    fill_kind(1, key, stream, first_sample, out)


@njit(cache=True)
def fill_rademacher(key, stream, first_sample, out):
    """+-1.0 elements, counters as in `fill_normal`."""
    fill_kind(2, key, stream, first_sample, out)


@njit(cache=True)
def _scale_row(key, stream, first, ball, i, out):
    d = out.shape[1]
    s = 0.0
    for j in range(d):
        s += out[i, j] * out[i, j]
    nrm = math.sqrt(s)
    scale = 1.0 / nrm if nrm > 0.0 else 0.0
    if ball:
        scale = scale * row_radius(key, stream, first + np.uint64(i), d)
    for j in range(d):
        out[i, j] = out[i, j] * scale


@twin
def scale_rows_to_sphere(key, stream, first_sample, ball, out):
    """Rescale each row of a Gaussian block to the unit sphere (or a uniform point of the ball).

    Row ``i`` is divided by its L2 norm (summed serially, left to right, so the result does not
    depend on threads) and, when ``ball``, multiplied by `row_radius` of sample
    ``first_sample + i``. A zero row (probability 0) is left at zero. Parallel over rows.
    """
    first = np.uint64(first_sample)
    for i in prange(out.shape[0]):
        _scale_row(key, stream, first, ball, i, out)
