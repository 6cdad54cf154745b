"""Aggregation of sampled values ``F`` (m,) and gradients ``G`` (m, d) into one value and gradient.

Rows are in evaluation order (x0 first when included). Row ``k`` takes part iff ``F[k]`` is
finite; only the value decides (SPEC 3.4), so a finite value with a non-finite gradient passes
its nan/inf on, as in torchzero. With no finite row every kernel writes ``inf`` to ``out`` and
returns ``inf``.

Reproducibility: batch kernels are parallel over blocks of coordinates and serial over samples in
row order, and the streaming kernels apply exactly the same operations in the same order, so
``agg_*`` and a sequence of `stream_update` calls give identical bits, whatever the number of
threads. Selections (``min-norm``, ``min-value``) keep the earliest row on ties (strict ``<``, as
torchzero).

Serial and parallel: every kernel that does O(m d) work is a `~numsmooth._kernels.twins.twin`,
one body compiled serially and in parallel, so the two give the same bits; the caller (Python)
picks one through `numsmooth._parallel.pick`.

Aggregate codes (shared by the streaming kernels)::

    MEAN = 0, MAX = 1, MIN = 2, MIN_NORM = 3, MIN_VALUE = 4
"""

import math

import numpy as np
from numba import njit, prange

from .twins import twin

MEAN = 0
MAX = 1
MIN = 2
MIN_NORM = 3
MIN_VALUE = 4

# Streaming state layout (float64 array of STATE_SIZE):
#   state[0] number of finite rows seen
#   state[1] value accumulator: running sum (mean), max, min, or the selected row's value
#   state[2] squared L2 norm of the selected row (min-norm only)
#   state[3] index k of the selected row (min-norm, min-value), or of the first finite row
STATE_SIZE = 4

# Coordinates per parallel task: one block of every row stays in L1/L2 while rows are scanned.
BLOCK = 2048

# What `_stream_step` asks the caller to do with the gradient row.
_KEEP = 0
_COPY = 1
_COMBINE = 2


@njit(cache=True)
def _first_finite(F):
    """Index of the first finite value, or -1."""
    for k in range(F.shape[0]):
        if math.isfinite(F[k]):
            return k
    return -1


@njit(cache=True)
def _sqnorm(g):
    """Squared L2 norm, summed left to right (one fixed order)."""
    s = 0.0
    for j in range(g.shape[0]):
        s += g[j] * g[j]
    return s


@njit(cache=True)
def _fill(out, value):
    # serial: once per evaluation over d elements, next to O(m d) work
    for j in range(out.shape[0]):
        out[j] = value


@njit(cache=True)
def _copy_row(src, out):
    for j in range(out.shape[0]):
        out[j] = src[j]


@njit(cache=True)
def _mean_scan(F):
    """``(first, count, mean)`` of the finite values; ``first = -1`` when none is finite."""
    first = _first_finite(F)
    if first < 0:
        return first, 0, np.inf
    count = 0
    fsum = 0.0
    for k in range(first, F.shape[0]):
        if math.isfinite(F[k]):
            fsum = F[k] if count == 0 else fsum + F[k]
            count += 1
    return first, count, fsum / count


@njit(cache=True)
def _mean_block(F, G, first, count, lo, hi, out):
    # unsigned bounds: Numba drops its negative-index check, which stops LLVM vectorising a loop
    # whose start is not a constant (blocks of a twin run several times slower without this)
    # (G[k, j], not a row view G[k]: a view costs a reference count per row and block)
    lo, hi = np.uint64(lo), np.uint64(hi)
    for j in range(lo, hi):
        out[j] = G[first, j]  # start from the row (not 0.0) so a lone -0.0 stays -0.0
    for k in range(first + 1, G.shape[0]):
        if math.isfinite(F[k]):
            for j in range(lo, hi):
                out[j] += G[k, j]
    for j in range(lo, hi):
        out[j] /= count


@njit(cache=True)
def _block_size(G, parallel):
    """Coordinates per task: at most BLOCK (a block of every row stays in cache), and in parallel
    small enough to give both cores work when there are many rows. Each coordinate is reduced
    over rows in the same order whatever the blocks, so the result does not depend on them."""
    if not parallel:
        return BLOCK
    return min(BLOCK, max(128, (G.shape[1] + 7) // 8))


@twin
def agg_mean(F, G, out, parallel=False):
    """Mean of the finite rows, parallel over blocks of coordinates (serial over rows).

    Parameters
    ----------
    F : ndarray, shape (m,), float64
        Values; row ``k`` is used iff ``F[k]`` is finite.
    G : ndarray, shape (m, d), float64, C-contiguous
        Gradients.
    out : ndarray, shape (d,), float64
        Receives the mean gradient (``inf`` if no row is finite).
    parallel : bool
        Omitted by callers: True in the parallel twin (see `numsmooth._kernels.twins`).

    Returns
    -------
    float
        Mean of the finite values (``inf`` if none).

    Notes
    -----
    Each coordinate is accumulated from the first finite row in row order, then divided by the
    count (torchzero's order).
    """
    first, count, fmean = _mean_scan(F)
    if first < 0:
        _fill(out, np.inf)
        return np.inf
    d = G.shape[1]
    bs = _block_size(G, parallel)
    for b in prange((d + bs - 1) // bs):
        _mean_block(F, G, first, count, b * bs, min(b * bs + bs, d), out)
    return fmean


@njit(cache=True)
def _extreme_block(F, G, first, largest, lo, hi, out):
    """Per coordinate in ``lo:hi``: the largest (or smallest) |G[k, j]| over finite rows,
    NaN-propagating like ``torch.maximum``, with the sign bit of ``G[first, j]`` (unsigned
    bounds as in `_mean_block`)."""
    lo, hi = np.uint64(lo), np.uint64(hi)
    for j in range(lo, hi):
        out[j] = abs(G[first, j])
    for k in range(first + 1, G.shape[0]):
        if math.isfinite(F[k]):
            for j in range(lo, hi):
                a = abs(G[k, j])
                if largest:
                    if a > out[j] or a != a:
                        out[j] = a
                else:
                    if a < out[j] or a != a:
                        out[j] = a
    for j in range(lo, hi):
        out[j] = math.copysign(out[j], G[first, j])


@njit(cache=True)
def _extreme_value(F, first, largest):
    best = F[first]
    for k in range(first + 1, F.shape[0]):
        if math.isfinite(F[k]) and ((F[k] > best) if largest else (F[k] < best)):
            best = F[k]
    return best


@twin
def agg_max(F, G, out, parallel=False):
    """Per element the largest magnitude over finite rows, signed like the first finite row.

    ``out[j] = copysign(max_k |G[k, j]|, G[first, j])`` (torchzero's semantics; the sign bit
    is copied, so a first element of ``-0.0`` gives a negative result). A nan among the
    magnitudes propagates, as ``torch.maximum``. Returns the largest finite value, or ``inf``
    (and ``out = inf``) when no value is finite. Arguments as in `agg_mean`; parallel over blocks
    of coordinates.
    """
    first = _first_finite(F)
    if first < 0:
        _fill(out, np.inf)
        return np.inf
    d = G.shape[1]
    bs = _block_size(G, parallel)
    for b in prange((d + bs - 1) // bs):
        _extreme_block(F, G, first, True, b * bs, min(b * bs + bs, d), out)
    return _extreme_value(F, first, True)


# agg_max with largest=False: a prange loop is parallel only in the body of the kernel that is
# compiled with parallel=True, so each entry point spells out its loop.
@twin
def agg_min(F, G, out, parallel=False):
    """Per element the smallest magnitude over finite rows, signed like the first finite row.

    As `agg_max` with ``min``; returns the smallest finite value.
    """
    first = _first_finite(F)
    if first < 0:
        _fill(out, np.inf)
        return np.inf
    d = G.shape[1]
    bs = _block_size(G, parallel)
    for b in prange((d + bs - 1) // bs):
        _extreme_block(F, G, first, False, b * bs, min(b * bs + bs, d), out)
    return _extreme_value(F, first, False)


@njit(cache=True)
def _select_min(F, norms, first):
    """The finite row with the smallest ``norms[k]`` (strict ``<``: earliest on ties, and a nan
    never replaces the current choice)."""
    best = first
    for k in range(first + 1, F.shape[0]):
        if math.isfinite(F[k]) and norms[k] < norms[best]:
            best = k
    return best


@twin
def agg_min_norm(F, G, out):
    """The finite row with the smallest L2 norm; returns that row's value.

    Norms are compared squared with strict ``<``, so the earliest row wins ties and a nan norm
    never replaces the current choice (torchzero's comparison). ``inf`` when no value is finite.
    Arguments as in `agg_mean`. The norms are computed in parallel over rows, each row summed
    left to right.
    """
    first = _first_finite(F)
    if first < 0:
        _fill(out, np.inf)
        return np.inf
    norms = np.empty(F.shape[0])
    for k in prange(F.shape[0]):
        norms[k] = _sqnorm(G[k])
    best = _select_min(F, norms, first)
    _copy_row(G[best], out)
    return F[best]


@njit(cache=True)
def agg_min_value(F, G, out):
    """The gradient of the finite row with the lowest value (earliest on ties); returns that value.

    ``inf`` when no value is finite. Arguments as in `agg_mean`. O(m + d) work: no parallel twin.
    """
    first = _first_finite(F)
    if first < 0:
        _fill(out, np.inf)
        return np.inf
    best = _select_min(F, F, first)
    _copy_row(G[best], out)
    return F[best]


@njit(cache=True)
def aggregate(code, F, G, out):
    """Dispatch on ``code`` (MEAN, MAX, MIN, MIN_NORM, MIN_VALUE) to the serial batch kernels."""
    if code == MEAN:
        return agg_mean(F, G, out)
    if code == MAX:
        return agg_max(F, G, out)
    if code == MIN:
        return agg_min(F, G, out)
    if code == MIN_NORM:
        return agg_min_norm(F, G, out)
    return agg_min_value(F, G, out)


# -- streaming: memory independent of the number of samples -------------------------------------


@njit(cache=True)
def stream_init(state, acc_g):
    """Reset a streaming accumulator: ``state`` (STATE_SIZE,) and ``acc_g`` (d,).

    ``acc_g`` is only read after the first finite row has overwritten it; it is zeroed for
    tidiness.
    """
    state[0] = 0.0
    state[1] = np.inf
    state[2] = np.inf
    state[3] = -1.0
    _fill(acc_g, 0.0)


@njit(cache=True)
def _combine_range(code, g_row, acc_g, lo, hi):
    """acc_g[lo:hi] <- acc_g (+) g_row elementwise, for MEAN, MAX or MIN.

    One loop per code, each branch-free per element, so the compiler vectorises it (a fold of
    every row costs about as much as the batch kernels' pass over the block). For MAX/MIN,
    ``copysign(|acc|, acc)`` is ``acc`` bit for bit, so keeping ``|acc|`` equals the batch
    kernels' result. Unsigned bounds as in `_mean_block`.
    """
    lo, hi = np.uint64(lo), np.uint64(hi)
    if code == MEAN:
        for j in range(lo, hi):
            acc_g[j] += g_row[j]
    elif code == MAX:
        for j in range(lo, hi):
            a = abs(g_row[j])
            c = abs(acc_g[j])
            acc_g[j] = math.copysign(a if (a > c or a != a) else c, acc_g[j])
    else:
        for j in range(lo, hi):
            a = abs(g_row[j])
            c = abs(acc_g[j])
            acc_g[j] = math.copysign(a if (a < c or a != a) else c, acc_g[j])


@njit(cache=True)
def _copy_range(g_row, acc_g, lo, hi):
    for j in range(np.uint64(lo), np.uint64(hi)):  # unsigned: see _mean_block
        acc_g[j] = g_row[j]


@njit(cache=True)
def _stream_step(code, k, f, g_row, state):
    """Fold row ``k``'s value into ``state``; return what to do with its gradient: `_KEEP`
    (nothing), `_COPY` (it replaces ``acc_g``) or `_COMBINE` (``acc_g (+)= g_row``)."""
    if not math.isfinite(f):
        return _KEEP
    if state[0] == 0.0:
        state[0] = 1.0
        state[1] = f
        state[3] = k
        if code == MIN_NORM:
            state[2] = _sqnorm(g_row)
        # MAX/MIN: the batch kernel starts from |G[first]| and copies its sign bit back, which
        # reproduces G[first] exactly, so a copy is already the same state.
        return _COPY
    state[0] += 1.0
    if code == MEAN:
        state[1] += f
        return _COMBINE
    if code == MAX:
        if f > state[1]:
            state[1] = f
        return _COMBINE
    if code == MIN:
        if f < state[1]:
            state[1] = f
        return _COMBINE
    if code == MIN_NORM:
        s = _sqnorm(g_row)
        if s < state[2]:
            state[1] = f
            state[2] = s
            state[3] = k
            return _COPY
        return _KEEP
    if f < state[1]:
        state[1] = f
        state[3] = k
        return _COPY
    return _KEEP


@njit(cache=True)
def stream_update(code, k, f, g_row, acc_g, state):
    """Fold evaluation ``k`` (value ``f``, gradient ``g_row``) into a streaming accumulator.

    Parameters
    ----------
    code : int
        MEAN (0), MAX (1), MIN (2), MIN_NORM (3) or MIN_VALUE (4).
    k : int
        Row index of this evaluation (recorded for selections; rows must arrive in order).
    f : float
        Value; a non-finite ``f`` is skipped.
    g_row : ndarray, shape (d,), float64
        Gradient (only read during the call).
    acc_g : ndarray, shape (d,), float64
        Gradient accumulator, updated in place.
    state : ndarray, shape (STATE_SIZE,), float64
        See the module constants; updated in place.

    Notes
    -----
    The operations and their order are those of the batch kernels, so `stream_finalize` after
    rows ``0..m-1`` equals ``aggregate(code, F, G, out)`` bit for bit.
    """
    act = _stream_step(code, k, f, g_row, state)
    if act == _COPY:
        _copy_range(g_row, acc_g, 0, acc_g.shape[0])
    elif act == _COMBINE:
        _combine_range(code, g_row, acc_g, 0, acc_g.shape[0])


@twin
def stream_update_rows(code, k0, F, G, acc_g, state):
    """`stream_update` for rows ``k0, k0 + 1, ...`` given as the rows of ``F`` (c,) and ``G`` (c, d),
    each row folded in parallel over blocks of coordinates (the same elementwise operations in
    the same row order: the same bits)."""
    d = acc_g.shape[0]
    nb = (d + BLOCK - 1) // BLOCK
    for i in range(F.shape[0]):
        act = _stream_step(code, k0 + i, F[i], G[i], state)
        if act != _KEEP:
            for b in prange(nb):
                lo = b * BLOCK
                hi = min(lo + BLOCK, d)
                if act == _COPY:
                    _copy_range(G[i], acc_g, lo, hi)
                else:
                    _combine_range(code, G[i], acc_g, lo, hi)


@njit(cache=True)
def stream_finalize(code, acc_g, state, out):
    """Write the aggregated gradient to ``out`` (d,) and return the aggregated value.

    ``out`` may be ``acc_g`` itself. ``inf`` everywhere when no finite row was seen. O(d) work:
    no parallel twin.
    """
    if state[0] == 0.0:
        _fill(out, np.inf)
        return np.inf
    if code == MEAN:
        n = state[0]
        for j in range(out.shape[0]):
            out[j] = acc_g[j] / n
        return state[1] / state[0]
    _copy_row(acc_g, out)
    return state[1]
