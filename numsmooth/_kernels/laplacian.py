"""Numba kernels of the exact O(N) periodic Laplacian solve (private).

The system ``(I - s L) y = x`` with ``L`` the periodic 1-D Laplacian has the symbol
``1 + 2s - s (z + 1/z) = (s / r) (1 - r z) (1 - r / z)``, ``r`` the root in (0, 1) of
``s r^2 - (1 + 2s) r + s = 0``. So ``y = c * B(F(x))`` with ``c = r / s = (1 - r)^2``, the causal
filter ``F``: ``w[i] = x[i] + r w[i-1]`` and the anti-causal ``B``: ``v[i] = w[i] + r v[i+1]``,
both periodic (circular). The gain is split evenly, ``sqrt(c) = 1 - r`` applied to the input
of each recursion, so every intermediate stays of the size of ``x`` (no overflow for any finite
sigma): ``w[i] = (1 - r) x[i] + r w[i-1]``, ``y[i] = (1 - r) w[i] + r y[i+1]``.

Each line is cut into chunks whose boundaries depend only on ``N`` and ``r`` (never on the thread
count). The state of each filter at a chunk boundary is the geometric sum over the preceding
(following) samples, truncated after ``halo`` terms where ``r^halo < 1e-17``; when the halo covers
the whole line the sum is the exact periodic one, divided by ``1 - r^N``. A first parallel pass
computes the boundary states (reading ``x`` only), a second runs the recursions chunk by chunk in
place, so ``out`` may be ``x`` itself and the result is independent of threads and scheduling.

Kernels take C-contiguous float arrays and scalars, write into caller-allocated ``out`` and do no
validation. The boundary sums are float64. The recursions run in the type of ``r`` and
``gain``: float64, or float32 when the caller passes float32 scalars with float32 arrays (it does
so for small enough ``sigma``, see ``numsmooth.laplacian``); each specialisation is compiled only
when first used.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fma import fma as _fma
from .twins import twin



#: The recursions are chains of ``a * b + c``; one FMA per step halves their latency (pass 1) and
#: their instruction count (pass 2) (see `numsmooth._kernels.fma` for why it is written out).


@njit(cache=True)
def _causal_state(x, a, n, r, gain, halo, inv_one_minus_rn):
    """gain * sum_{j=0}^{m-1} r^j x[(a-1-j) mod n], m = min(halo, n); the exact periodic sum if m == n."""
    m = halo if halo < n else n
    s = 0.0
    # Horner from the far end x[(a - m) mod n] up to x[a - 1]: the same operations as running the
    # recursion over m samples. The circular range is walked as (at most) two plain ones, with
    # unsigned indices (see _solve_group).
    k0 = a - m
    if k0 < 0:
        for k in range(np.uint64(n + k0), np.uint64(n)):
            s = _fma(s, r, x[k])
        k0 = 0
    for k in range(np.uint64(k0), np.uint64(a)):
        s = _fma(s, r, x[k])
    if m == n:
        s *= inv_one_minus_rn
    return gain * s


@njit(cache=True)
def _anticausal_state(x, b, n, r, gain, halo, inv_one_minus_rn):
    """gain * sum_{j>=0} r^j w[(b+j) mod n] with w the causal filter output, from ``x`` only.

    ``w[b-1]`` is the causal state at ``b``; ``w`` is then continued over ``m = min(halo, n)``
    samples and summed with weights ``r^j`` (exact periodic sum with the ``1/(1-r^n)`` factor when
    ``m == n``).
    """
    m = halo if halo < n else n
    bb = b if b < n else b - n
    w = _causal_state(x, bb, n, r, gain, halo, inv_one_minus_rn)
    # Horner needs the samples in reverse order; accumulate forward with explicit powers instead.
    s = 0.0
    p = 1.0
    for j in range(m):
        k = bb + j
        if k >= n:
            k -= n
        w = _fma(r, w, gain * x[k])
        s += p * w
        p *= r
    if m == n:
        s *= inv_one_minus_rn
    return gain * s


@njit(cache=True)
def _lane_bounds(lane, n, nchunks):
    """Flat ``[lo, hi)`` of lane ``lane`` (row ``lane // nchunks``, chunk ``lane % nchunks``)."""
    i = lane // nchunks
    k = lane - i * nchunks
    return i * n + (k * n) // nchunks, i * n + ((k + 1) * n) // nchunks


@njit(cache=True)
def _whole_row_bstate(of, lo, n, r, gain, halo, inv_one_minus_rn):
    """Anti-causal periodic state of a whole row from its causal output ``of[lo:lo+n]``."""
    m = halo if halo < n else n
    v = 0.0
    for j in range(m - 1, -1, -1):
        v = _fma(v, r, of[lo + j])
    if m == n:
        v *= inv_one_minus_rn
    return gain * v


@njit(cache=True)
def _causal_run(xf, of, w, lo, hi, r, gain):
    """The causal recursion over ``[lo, hi)`` of one lane from state ``w``; returns the last state."""
    for j in range(lo, hi):
        w = _fma(r, w, gain * xf[j])
        of[j] = w
    return w


@njit(cache=True)
def _anticausal_run(of, v, lo, hi, r, gain):
    """The anti-causal recursion over ``[lo, hi)`` of one lane (in place, from ``hi - 1`` down)."""
    for j in range(hi - 1, lo - 1, -1):
        v = _fma(r, v, gain * of[j])
        of[j] = v
    return v


@njit(cache=True)
def _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend, gi):
    """Pass 2 for lanes ``4 gi .. 4 gi + 3``: both recursions, in lockstep when four lanes exist.

    ``wend[t]`` receives the final causal state of lane ``t``: it is finite exactly when the lane
    and its halo hold finite values only (an inf stays inf, ``+inf`` meeting ``-inf`` or a nan
    gives nan), which :func:`_nonfinite_rows` uses.
    """
    t0 = 4 * gi
    if t0 + 4 <= nlane:
        lo0, hi0 = _lane_bounds(t0, n, nchunks)
        lo1, hi1 = _lane_bounds(t0 + 1, n, nchunks)
        lo2, hi2 = _lane_bounds(t0 + 2, n, nchunks)
        lo3, hi3 = _lane_bounds(t0 + 3, n, nchunks)
        m = min(min(hi0 - lo0, hi1 - lo1), min(hi2 - lo2, hi3 - lo3))
        w0 = fstate[t0]
        w1 = fstate[t0 + 1]
        w2 = fstate[t0 + 2]
        w3 = fstate[t0 + 3]
        # Unsigned offsets in the lockstep loops: with signed ones Numba guards every access
        # against negative indices (a shift, an and and an add each), which made these loops
        # about 1.5x slower than their arithmetic. uint64 is added to uint64 only (uint64 +
        # int64 would be float64 in Numba).
        u0 = np.uint64(lo0)
        u1 = np.uint64(lo1)
        u2 = np.uint64(lo2)
        u3 = np.uint64(lo3)
        for jj in range(m):
            j = np.uint64(jj)
            w0 = _fma(r, w0, gain * xf[u0 + j])
            w1 = _fma(r, w1, gain * xf[u1 + j])
            w2 = _fma(r, w2, gain * xf[u2 + j])
            w3 = _fma(r, w3, gain * xf[u3 + j])
            of[u0 + j] = w0
            of[u1 + j] = w1
            of[u2 + j] = w2
            of[u3 + j] = w3
        # tails (chunk lengths differ by at most one)
        w0 = _causal_run(xf, of, w0, lo0 + m, hi0, r, gain)
        w1 = _causal_run(xf, of, w1, lo1 + m, hi1, r, gain)
        w2 = _causal_run(xf, of, w2, lo2 + m, hi2, r, gain)
        w3 = _causal_run(xf, of, w3, lo3 + m, hi3, r, gain)
        wend[t0] = w0
        wend[t0 + 1] = w1
        wend[t0 + 2] = w2
        wend[t0 + 3] = w3
        if nchunks == 1:  # through bstate, which rounds them to the type of the arithmetic
            bstate[t0] = _whole_row_bstate(of, lo0, n, r, gain, halo, inv_one_minus_rn)
            bstate[t0 + 1] = _whole_row_bstate(of, lo1, n, r, gain, halo, inv_one_minus_rn)
            bstate[t0 + 2] = _whole_row_bstate(of, lo2, n, r, gain, halo, inv_one_minus_rn)
            bstate[t0 + 3] = _whole_row_bstate(of, lo3, n, r, gain, halo, inv_one_minus_rn)
        v0 = bstate[t0]
        v1 = bstate[t0 + 1]
        v2 = bstate[t0 + 2]
        v3 = bstate[t0 + 3]
        # backward: first the tails (the last element of the longer lanes), then lockstep
        v0 = _anticausal_run(of, v0, lo0 + m, hi0, r, gain)
        v1 = _anticausal_run(of, v1, lo1 + m, hi1, r, gain)
        v2 = _anticausal_run(of, v2, lo2 + m, hi2, r, gain)
        v3 = _anticausal_run(of, v3, lo3 + m, hi3, r, gain)
        for jj in range(m - 1, -1, -1):
            j = np.uint64(jj)
            v0 = _fma(r, v0, gain * of[u0 + j])
            v1 = _fma(r, v1, gain * of[u1 + j])
            v2 = _fma(r, v2, gain * of[u2 + j])
            v3 = _fma(r, v3, gain * of[u3 + j])
            of[u0 + j] = v0
            of[u1 + j] = v1
            of[u2 + j] = v2
            of[u3 + j] = v3
    else:
        for t in range(t0, nlane):
            lo, hi = _lane_bounds(t, n, nchunks)
            wend[t] = _causal_run(xf, of, fstate[t], lo, hi, r, gain)
            if nchunks == 1:
                bstate[t] = _whole_row_bstate(of, lo, n, r, gain, halo, inv_one_minus_rn)
            _anticausal_run(of, bstate[t], lo, hi, r, gain)


@njit(cache=True)
def _lane_buffers(nlane, r):
    """The per-lane boundary states, in the type of ``r`` (the type of pass 2's arithmetic, see
    :func:`periodic_solve_rows`), and the float64 final causal states."""
    zero = r - r  # a zero of r's type: np.full takes its dtype from it
    return np.full(nlane, zero), np.full(nlane, zero), np.zeros(nlane, dtype=np.float64)


@njit(cache=True)
def _lane_states(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t):
    """Pass 1 for lane ``t`` (reads ``x`` only): the boundary states of its two recursions."""
    i = t // nchunks
    if nchunks > 1:
        lo, hi = _lane_bounds(t, n, nchunks)
        xi = x[i]
        fstate[t] = _causal_state(xi, lo - i * n, n, r, gain, halo, inv_one_minus_rn)
        bstate[t] = _anticausal_state(xi, hi - i * n, n, r, gain, halo, inv_one_minus_rn)
    else:
        fstate[t] = _causal_state(x[i], 0, n, r, gain, halo, inv_one_minus_rn)


@njit(cache=True)
def _nonfinite_rows(of, n, nchunks, wend):
    """Overwrite each row that holds a non-finite value with the limit of the solve: ``+inf``
    (``-inf``) everywhere if its non-finite values are all ``+inf`` (``-inf``), nan otherwise.

    Every entry of ``(I - s L)^{-1}`` is positive, so one infinite input sends every output to
    infinity of its sign; the rows are read off the lanes' final causal states ``wend``.
    """
    rows = wend.shape[0] // nchunks
    for i in range(rows):
        v = 0.0
        for t in range(i * nchunks, (i + 1) * nchunks):
            w = wend[t]
            if not math.isfinite(w):
                if math.isnan(w) or (v != 0.0 and v != w):
                    v = np.nan
                elif v == 0.0:
                    v = w
        if v != 0.0:
            for j in range(i * n, (i + 1) * n):
                of[j] = v


@twin
def periodic_solve_rows(x, r, gain, halo, inv_one_minus_rn, nchunks, out):
    """Solve ``(I - s L) y = x[i]`` for every row ``i`` of the 2-D C-contiguous ``x`` into ``out``.

    Scalars come from the caller: ``r`` the filter pole, ``gain = 1 - r``, ``halo`` the
    truncation length of boundary sums, ``inv_one_minus_rn = 1 / (1 - r^N)``, ``nchunks`` the
    number of chunks per row (chunk ``k`` is ``[k N // nchunks, (k+1) N // nchunks)``; with one
    chunk the anti-causal state is computed from the row's own causal output). ``out`` may be
    ``x``.

    A *lane* is one (row, chunk) pair. Lanes are processed four at a time in lockstep (four
    independent recursions hide the latency of each), but every lane performs the same
    operations in the same order whatever its group and thread, so the result depends only on
    ``x``, the scalars and ``nchunks``, on one thread or on several.
    """
    rows, n = x.shape
    xf = x.reshape(rows * n)
    of = out.reshape(rows * n)
    nlane = rows * nchunks
    fstate, bstate, wend = _lane_buffers(nlane, r)
    for t in prange(nlane):  # pass 1 reads x only, before anything is written to out
        _lane_states(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t)
    for gi in prange((nlane + 3) // 4):  # pass 2: each group owns its output segments
        _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend, gi)
    _nonfinite_rows(of, n, nchunks, wend)


@twin
def periodic_solve_rows_apart(x, r, gain, halo, inv_one_minus_rn, nchunks, out):
    """:func:`periodic_solve_rows` for an ``out`` that does not overlap ``x``: both passes of a
    group of four lanes in one iteration, so the threads wake once instead of twice (with a
    passive wait policy a wake-up costs tens of microseconds). Same operations, same bits.

    (With ``out`` overlapping ``x`` a group's pass 2 could overwrite input that another
    group's pass 1 still reads, hence the two regions of :func:`periodic_solve_rows`.)
    """
    rows, n = x.shape
    xf = x.reshape(rows * n)
    of = out.reshape(rows * n)
    nlane = rows * nchunks
    fstate, bstate, wend = _lane_buffers(nlane, r)
    for gi in prange((nlane + 3) // 4):
        for t in range(4 * gi, min(4 * gi + 4, nlane)):
            _lane_states(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t)
        _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend, gi)
    _nonfinite_rows(of, n, nchunks, wend)


@njit(cache=True)
def periodic_solve_segments_serial(x, out, seg, r, gain, halo, inv_one_minus_rn, nchunks):
    """:func:`periodic_solve_rows` (serial) on several segments of the flat float64 ``x`` in one
    call (a model's parameters: one Python call instead of one per array).

    Segment ``k`` holds ``seg[k, 1]`` lines of ``seg[k, 2]`` elements from ``seg[k, 0]``, solved
    with its own scalars ``r[k]``, ``gain[k]``, ``halo[k]``, ``inv_one_minus_rn[k]``,
    ``nchunks[k]`` into the same place of ``out``; ``nchunks[k] == 0`` marks a segment copied
    unchanged. ``out`` may be ``x``. Each segment gets exactly the operations of a call of
    :func:`periodic_solve_rows` on it, so the bits are those of per-array calls.
    """
    for k in range(seg.shape[0]):
        lo = seg[k, 0]
        rows = seg[k, 1]
        n = seg[k, 2]
        hi = lo + rows * n
        if nchunks[k] == 0:
            for j in range(lo, hi):
                out[j] = x[j]
            continue
        periodic_solve_rows(x[lo:hi].reshape((rows, n)), r[k], gain[k], halo[k],
                            inv_one_minus_rn[k], nchunks[k], out[lo:hi].reshape((rows, n)))
