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

The second pass runs eight chunks (lanes) at a time in SIMD registers: an LLVM vector loop built
with llvmlite (Numba has no vector types), which loads eight consecutive elements of each of
eight lanes, transposes them into lane order (one register per position, eight float32 or four
float64 lanes a register), runs the recursion one FMA per position for all lanes at once and
stores the forward result lane-interleaved in a scratch buffer; the backward loop reads it back
and transposes once more into ``out``. Every lane does the scalar recursion's operations in the
same order, so the vector path gives the scalar path's bits (``_periodic_solve_rows_scalar``,
kept for the tests); lanes it does not take (too short, too long, fewer than eight left) run
four at a time in scalar lockstep. The solve is bound by the latency of each lane's chain of
FMAs: one 4-cycle FMA per position and pass for eight (float32) or four (float64) lanes.

Kernels take C-contiguous float arrays and scalars, write into caller-allocated ``out`` and do no
validation. The boundary sums are float64. The recursions run in the type of ``r`` and
``gain``: float64, or float32 when the caller passes float32 scalars with float32 arrays (it does
so for small enough ``sigma``, see ``numsmooth.laplacian``); each specialisation is compiled only
when first used.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import config as numba_config
from numba import njit, prange, types
from numba.extending import intrinsic

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


# ---------------------------------------------------------------------------------------------
# Lanes in SIMD registers
# ---------------------------------------------------------------------------------------------
#: Lanes solved together by the vector path: one 256-bit register of float32 lanes, two of
#: float64 lanes. Each lane is a chain of dependent FMAs, so one group is one (float32) or two
#: (float64) chains of 4-cycle FMAs; more groups side by side (their chains interleaved, the
#: groups a step apart so that their lines fall in different L1 sets) measured slower, by 10-40 %:
#: their lanes' streams and registers cost more than the latency they hide.
_GROUP = 8
#: Elements of each lane per step of the vector loop: one 64-byte cache line of the lane, loaded
#: (stored) whole within the step, so the group's eight lines (all in one L1 set when the lanes
#: are 2^k elements apart) fit the set's eight ways.
_STEP = 16
#: Longest lane (elements) the vector path takes: its scratch holds the group's forward output,
#: ``8 * len * itemsize`` bytes (1 MiB for float64 at this length). Longer lanes (sigma above
#: ~700, where chunks are 8 halos long) take the scalar path.
_VECTOR_MAX_LANE = 16384
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _c32(idx):
    return ir.Constant(ir.VectorType(_I32, len(idx)), idx)


def _transpose(b, rows):
    """The L x L transpose of ``rows`` (L vectors of L elements; L = 8 or 4): ``out[j][k] =
    rows[k][j]``, as the two-input shuffles of the textbook AVX transposes (unpack, shuffle and
    128-bit permute: 24 shuffles for 8 x 8, 8 for 4 x 4). Its own inverse."""
    sh = b.shuffle_vector
    if len(rows) == 8:
        t = []
        for a in range(0, 8, 2):
            t.append(sh(rows[a], rows[a + 1], _c32([0, 8, 1, 9, 4, 12, 5, 13])))
            t.append(sh(rows[a], rows[a + 1], _c32([2, 10, 3, 11, 6, 14, 7, 15])))
        lo, hi = _c32([0, 1, 8, 9, 4, 5, 12, 13]), _c32([2, 3, 10, 11, 6, 7, 14, 15])
        s = [sh(t[0], t[2], lo), sh(t[0], t[2], hi), sh(t[1], t[3], lo), sh(t[1], t[3], hi),
             sh(t[4], t[6], lo), sh(t[4], t[6], hi), sh(t[5], t[7], lo), sh(t[5], t[7], hi)]
        l128, h128 = _c32([0, 1, 2, 3, 8, 9, 10, 11]), _c32([4, 5, 6, 7, 12, 13, 14, 15])
        return [sh(s[j], s[j + 4], l128) for j in range(4)] + [sh(s[j], s[j + 4], h128) for j in range(4)]
    t0 = sh(rows[0], rows[1], _c32([0, 4, 2, 6]))
    t1 = sh(rows[0], rows[1], _c32([1, 5, 3, 7]))
    t2 = sh(rows[2], rows[3], _c32([0, 4, 2, 6]))
    t3 = sh(rows[2], rows[3], _c32([1, 5, 3, 7]))
    lo, hi = _c32([0, 1, 4, 5]), _c32([2, 3, 6, 7])
    return [sh(t0, t2, lo), sh(t1, t3, lo), sh(t0, t2, hi), sh(t1, t3, hi)]


def _lanes_function(module, sty, aty, forward):
    """LLVM function: the vector loop of one pass over a group of eight lanes.

    ``void f(S* x, S* o, S* buf, i64* lo, i64 nit, A r, A g, A* st)``, ``S`` the storage and
    ``A`` the arithmetic type: lane ``k`` starts at ``lo[k]`` and keeps its state in ``st[k]``
    (read, then overwritten with the last value); its scratch is ``buf[8 p + k]`` for positions
    ``p < nit * _STEP``. Forward: ``w = fma(r, w, g * x[lo[k] + p])`` for ascending ``p``,
    stored (rounded to ``S``) in the scratch; backward: ``v = fma(r, v, g * buf[8 p + k])`` for
    descending ``p``, stored in ``o[lo[k] + p]``. Each lane does exactly the scalar recursion's
    operations (IEEE, no reassociation); ``L`` consecutive elements of ``L`` lanes are moved
    into (forward) or out of (backward) lane order by one transpose.
    """
    single = isinstance(sty, ir.FloatType)
    L = 8 if single else 4
    G = _GROUP // L  # vectors per group
    U = _STEP // L  # transposes per lane and step
    name = f"numsmooth_laplacian_lanes_{'fwd' if forward else 'bwd'}_{sty}_{aty}"
    if name in module.globals:
        return module.globals[name]
    svec, avec = ir.VectorType(sty, L), ir.VectorType(aty, L)
    isz = 4 if single else 8
    asz = 4 if isinstance(aty, ir.FloatType) else 8
    fnty = ir.FunctionType(ir.VoidType(),
                           [sty.as_pointer()] * 3 + [_I64.as_pointer(), _I64, aty, aty, aty.as_pointer()])
    fn = ir.Function(module, fnty, name)
    fn.linkage = "internal"
    x, o, buf, lo, nit, r, g, st = fn.args
    entry, loop, done = fn.append_basic_block("entry"), fn.append_basic_block("loop"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    fma_name = f"llvm.fma.v{L}f{8 * asz}"
    fma = module.globals.get(fma_name) or ir.Function(module, ir.FunctionType(avec, [avec] * 3), fma_name)

    def const(i):
        return ir.Constant(_I64, i)

    def splat(v):
        u = b.insert_element(ir.Constant(avec, ir.Undefined), v, ir.Constant(_I32, 0))
        return b.shuffle_vector(u, ir.Constant(avec, ir.Undefined), _c32([0] * L))

    rv, gv = splat(r), splat(g)
    base = [b.load(b.gep(lo, [const(k)])) for k in range(_GROUP)]
    stv = b.bitcast(st, avec.as_pointer())
    init = [b.load(b.gep(stv, [const(q)]), align=asz) for q in range(G)]
    bufv = b.bitcast(buf, svec.as_pointer())
    b.cbranch(b.icmp_signed(">", nit, const(0)), loop, done)

    b = ir.IRBuilder(loop)
    it = b.phi(_I64)
    it.add_incoming(const(0), entry)
    phis = [b.phi(avec) for _ in init]
    for ph, v in zip(phis, init):
        ph.add_incoming(v, entry)
    pos = b.mul(it if forward else b.sub(b.sub(nit, const(1)), it), const(_STEP))

    def buf_ptr(q, u, j):  # vector q of position pos + u L + j
        return b.gep(bufv, [b.add(b.mul(b.add(pos, const(u * L + j)), const(G)), const(q))])

    def row_ptr(arr, q, k, u):  # L elements of lane q L + k from position pos + u L
        return b.bitcast(b.gep(arr, [b.add(base[q * L + k], b.add(pos, const(u * L)))]), svec.as_pointer())

    cur = list(phis)
    if forward:
        for u in range(U):
            cols = []
            for q in range(G):
                rows = [b.load(row_ptr(x, q, k, u), align=isz) for k in range(L)]
                cols.append([c if sty == aty else b.fpext(c, avec) for c in _transpose(b, rows)])
            for j in range(L):
                for q in range(G):
                    cur[q] = b.call(fma, [rv, cur[q], b.fmul(gv, cols[q][j])])
                    b.store(cur[q] if sty == aty else b.fptrunc(cur[q], svec), buf_ptr(q, u, j), align=isz)
    else:
        out_rows = [[None] * U for _ in range(G)]
        for u in range(U - 1, -1, -1):
            cols = [[None] * L for _ in range(G)]
            for j in range(L - 1, -1, -1):
                for q in range(G):
                    c = b.load(buf_ptr(q, u, j), align=isz)
                    cur[q] = b.call(fma, [rv, cur[q], b.fmul(gv, c if sty == aty else b.fpext(c, avec))])
                    cols[q][j] = cur[q] if sty == aty else b.fptrunc(cur[q], svec)
            for q in range(G):
                out_rows[q][u] = _transpose(b, cols[q])
        for q in range(G):
            for k in range(L):
                for u in range(U):
                    b.store(out_rows[q][u][k], row_ptr(o, q, k, u), align=isz)
    nxt = b.add(it, const(1))
    it.add_incoming(nxt, loop)
    for ph, v in zip(phis, cur):
        ph.add_incoming(v, loop)
    b.cbranch(b.icmp_signed("<", nxt, nit), loop, done)

    b = ir.IRBuilder(done)
    fins = [b.phi(avec) for _ in init]
    for ph, v0, v1 in zip(fins, init, cur):
        ph.add_incoming(v0, entry)
        ph.add_incoming(v1, loop)
    for q in range(G):
        b.store(fins[q], b.gep(stv, [const(q)]), align=asz)
    b.ret_void()
    return fn


def _float_ir(ty):
    return ir.FloatType() if ty == types.float32 else ir.DoubleType()


@intrinsic
def _lanes_intrinsic(typingctx, x, o, buf, lanelo, t0, nit, r, gain, state, forward):
    """One pass of the vector loop (:func:`_lanes_function`) over the group of lanes ``t0 ..
    t0 + 7`` (their first elements at ``lanelo[t]``, their states in ``state[t]``, updated);
    ``forward`` a literal bool."""
    aty = typingctx.unify_types(r, gain)
    if (not isinstance(aty, types.Float) or x.dtype not in (types.float32, types.float64)
            or not isinstance(forward, types.BooleanLiteral)
            or any(a.layout != "C" for a in (x, o, buf, lanelo, state))):  # raw pointers: contiguous only
        return None
    fwd = forward.literal_value
    sig = types.none(x, o, buf, lanelo, t0, nit, r, gain, state, forward)

    def codegen(context, builder, signature, args):
        tys = signature.args
        xp, op, bp, lop, sp = (context.make_array(tys[i])(context, builder, args[i]).data for i in (0, 1, 2, 3, 8))
        if tys[0].dtype.bitwidth > aty.bitwidth:  # never called (see _vector_plan): no code
            return context.get_dummy_value()
        t0v = context.cast(builder, args[4], tys[4], types.int64)
        fn = _lanes_function(builder.module, _float_ir(tys[0].dtype), _float_ir(aty), fwd)
        builder.call(fn, [xp, op, bp, builder.gep(lop, [t0v]), context.cast(builder, args[5], tys[5], types.int64),
                          context.cast(builder, args[6], tys[6], aty), context.cast(builder, args[7], tys[7], aty),
                          builder.gep(sp, [t0v])])
        return context.get_dummy_value()

    return sig, codegen


def _lanes_python(x, o, buf, lanelo, t0, nit, r, gain, state, forward):
    """:func:`_lanes_intrinsic` in plain Python (NUMBA_DISABLE_JIT): the same recursions, lane by
    lane."""
    m = nit * _STEP
    for k in range(_GROUP):
        v = state[t0 + k]
        if forward:
            for p in range(m):
                v = _fma(r, v, gain * x[lanelo[t0 + k] + p])
                buf[p * _GROUP + k] = v
        else:
            for p in range(m - 1, -1, -1):
                v = _fma(r, v, gain * buf[p * _GROUP + k])
                o[lanelo[t0 + k] + p] = v
        state[t0 + k] = v


_lanes = _lanes_python if numba_config.DISABLE_JIT else _lanes_intrinsic


@njit(cache=True)
def _whole_row_bstate_buf(buf, base, of, lo, n, nvec, r, gain, halo, inv_one_minus_rn):
    """:func:`_whole_row_bstate` of lane ``base`` of a group, whose causal output is at ``buf[base + 8 p]`` for
    positions ``p < nvec`` and in ``of[lo + p]`` beyond (the same operations)."""
    m = halo if halo < n else n
    v = 0.0
    for j in range(m - 1, -1, -1):
        if j < nvec:
            v = _fma(v, r, buf[base + j * _GROUP])
        else:
            v = _fma(v, r, of[lo + j])
    if m == n:
        v *= inv_one_minus_rn
    return gain * v


@njit(cache=True)
def _solve_groups(x, xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, wend, lanelo, g0, g1,
                  nit, states, buf):
    """Pass 2 of the groups of eight lanes ``g0 .. g1 - 1`` on the vector path, group by group:
    the vector loop forward, the scalar part of each lane (its last ``len - nit * _STEP``
    elements both ways, and for whole-row lanes the anti-causal state), the vector loop
    backward. ``states``: pass 1 of each group is computed here first (for an ``out`` apart
    from ``x``). ``buf``: this run's scratch, ``_GROUP * nit * _STEP`` elements."""
    nvec = nit * _STEP
    for gi in range(g0, g1):
        t0 = _GROUP * gi
        if states:
            _lane_states4(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t0)
            _lane_states4(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t0 + 4)
        _lanes(xf, of, buf, lanelo, t0, nit, r, gain, fstate, True)
        for k in range(_GROUP):
            t = t0 + k
            lo, hi = _lane_bounds(t, n, nchunks)
            wend[t] = _causal_run(xf, of, fstate[t], lo + nvec, hi, r, gain)
            if nchunks == 1:
                bstate[t] = _whole_row_bstate_buf(buf, k, of, lo, n, nvec, r, gain, halo, inv_one_minus_rn)
            bstate[t] = _anticausal_run(of, bstate[t], lo + nvec, hi, r, gain)
        _lanes(xf, of, buf, lanelo, t0, nit, r, gain, bstate, False)


@njit(cache=True)
def steps_per_lane(n, nchunks):
    """Steps of ``_STEP`` elements the vector path runs per lane of a row of ``n`` in
    ``nchunks`` chunks: 0 (the scalar path) when the lanes are shorter than a step or longer
    than ``_VECTOR_MAX_LANE``."""
    m = n // nchunks  # the shortest lane
    return 0 if m > _VECTOR_MAX_LANE else m // _STEP


@njit(cache=True)
def vector_plan(n, nchunks, nlane, scratch_size, parallel, wide_enough=True):
    """``(groups, nit, runs)`` of the vector path: its groups of eight lanes, its steps per
    lane, and the runs (scratch buffers of ``_GROUP * nit * _STEP`` elements, one per prange
    iteration) the groups are split into: one serially, as many as ``scratch_size`` holds (at
    most one per group) in parallel. No groups when `steps_per_lane` is 0, when the scratch
    holds no run, or when the arithmetic type is narrower than the storage (float64 data with
    float32 scalars, which numsmooth never passes: ``wide_enough`` False)."""
    nit = steps_per_lane(n, nchunks)
    if nit == 0 or not wide_enough:
        return 0, 0, 0
    ngroups = nlane // _GROUP
    runs = min(ngroups, scratch_size // (_GROUP * nit * _STEP))
    if not parallel:
        runs = min(runs, 1)
    if runs == 0:
        return 0, 0, 0
    return ngroups, nit, runs


def scratch_elements(rows, n, nchunks, parallel, max_runs):
    """Scratch elements the vector path wants for ``rows`` lines of ``n`` in ``nchunks`` chunks:
    one run's buffer serially, up to ``max_runs`` runs (at most one per group) in parallel.
    Runs split the work, not the arithmetic: the bits do not depend on their number."""
    runs = min((rows * nchunks) // _GROUP, max_runs if parallel else 1)
    return runs * _GROUP * _STEP * int(steps_per_lane(n, nchunks))


@njit(cache=True)
def _lane_starts(nlane, n, nchunks):
    lanelo = np.empty(nlane, dtype=np.int64)
    for t in range(nlane):
        lanelo[t] = _lane_bounds(t, n, nchunks)[0]
    return lanelo


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
def _lane_states4(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t0):
    """:func:`_lane_states` for lanes ``t0 .. t0 + 3`` (those that exist), their sums in lockstep:
    each sum is a chain of dependent FMAs, so four (eight) of them side by side run about as
    fast as one. Every lane gets the operations of :func:`_lane_states`, in the same order (the
    circular ranges walked as one, wrapping the index), so the same bits."""
    # lanes past the last one repeat it: the same operations, the same values written twice
    last = fstate.shape[0] - 1
    t1, t2, t3 = min(t0 + 1, last), min(t0 + 2, last), min(t0 + 3, last)
    m = halo if halo < n else n
    i0, i1, i2, i3 = t0 // nchunks, t1 // nchunks, t2 // nchunks, t3 // nchunks
    x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
    # causal states at the lanes' starts a (and, for the anti-causal ones, at their ends b):
    # sums over x[a - m .. a - 1] (mod n)
    a0 = _lane_bounds(t0, n, nchunks)[0] - i0 * n
    a1 = _lane_bounds(t1, n, nchunks)[0] - i1 * n
    a2 = _lane_bounds(t2, n, nchunks)[0] - i2 * n
    a3 = _lane_bounds(t3, n, nchunks)[0] - i3 * n
    b0 = _lane_bounds(t0, n, nchunks)[1] - i0 * n
    b1 = _lane_bounds(t1, n, nchunks)[1] - i1 * n
    b2 = _lane_bounds(t2, n, nchunks)[1] - i2 * n
    b3 = _lane_bounds(t3, n, nchunks)[1] - i3 * n
    if b0 >= n:
        b0 -= n
    if b1 >= n:
        b1 -= n
    if b2 >= n:
        b2 -= n
    if b3 >= n:
        b3 -= n
    s0 = s1 = s2 = s3 = 0.0
    c0 = c1 = c2 = c3 = 0.0
    inner = (nchunks > 1 and min(min(a0, a1), min(a2, a3)) >= m and min(min(b0, b1), min(b2, b3)) >= m
             and max(max(b0, b1), max(b2, b3)) + m <= n)
    if inner:  # no sum wraps around the row: plain unsigned offsets (no index arithmetic to spare)
        u0, u1, u2, u3 = np.uint64(a0 - m), np.uint64(a1 - m), np.uint64(a2 - m), np.uint64(a3 - m)
        v0, v1, v2, v3 = np.uint64(b0 - m), np.uint64(b1 - m), np.uint64(b2 - m), np.uint64(b3 - m)
        for jj in range(m):
            j = np.uint64(jj)
            s0 = _fma(s0, r, x0[u0 + j])
            s1 = _fma(s1, r, x1[u1 + j])
            s2 = _fma(s2, r, x2[u2 + j])
            s3 = _fma(s3, r, x3[u3 + j])
            c0 = _fma(c0, r, x0[v0 + j])
            c1 = _fma(c1, r, x1[v1 + j])
            c2 = _fma(c2, r, x2[v2 + j])
            c3 = _fma(c3, r, x3[v3 + j])
    for j in range(0 if inner else m):
        k0, k1, k2, k3 = a0 - m + j, a1 - m + j, a2 - m + j, a3 - m + j
        s0 = _fma(s0, r, x0[k0 + n if k0 < 0 else k0])
        s1 = _fma(s1, r, x1[k1 + n if k1 < 0 else k1])
        s2 = _fma(s2, r, x2[k2 + n if k2 < 0 else k2])
        s3 = _fma(s3, r, x3[k3 + n if k3 < 0 else k3])
        if nchunks > 1:
            k0, k1, k2, k3 = b0 - m + j, b1 - m + j, b2 - m + j, b3 - m + j
            c0 = _fma(c0, r, x0[k0 + n if k0 < 0 else k0])
            c1 = _fma(c1, r, x1[k1 + n if k1 < 0 else k1])
            c2 = _fma(c2, r, x2[k2 + n if k2 < 0 else k2])
            c3 = _fma(c3, r, x3[k3 + n if k3 < 0 else k3])
    if m == n:
        s0 *= inv_one_minus_rn
        s1 *= inv_one_minus_rn
        s2 *= inv_one_minus_rn
        s3 *= inv_one_minus_rn
        c0 *= inv_one_minus_rn
        c1 *= inv_one_minus_rn
        c2 *= inv_one_minus_rn
        c3 *= inv_one_minus_rn
    fstate[t0] = gain * s0
    fstate[t1] = gain * s1
    fstate[t2] = gain * s2
    fstate[t3] = gain * s3
    if nchunks == 1:
        return
    # anti-causal states: the causal filter continued from b over m samples, summed with r^j
    w0, w1, w2, w3 = gain * c0, gain * c1, gain * c2, gain * c3
    s0 = s1 = s2 = s3 = 0.0
    p = 1.0
    v0, v1, v2, v3 = np.uint64(b0), np.uint64(b1), np.uint64(b2), np.uint64(b3)
    un = np.uint64(n)
    for jj in range(m):
        j = np.uint64(jj)
        k0, k1, k2, k3 = v0 + j, v1 + j, v2 + j, v3 + j
        w0 = _fma(r, w0, gain * x0[k0 - un if k0 >= un else k0])
        w1 = _fma(r, w1, gain * x1[k1 - un if k1 >= un else k1])
        w2 = _fma(r, w2, gain * x2[k2 - un if k2 >= un else k2])
        w3 = _fma(r, w3, gain * x3[k3 - un if k3 >= un else k3])
        s0 += p * w0
        s1 += p * w1
        s2 += p * w2
        s3 += p * w3
        p *= r
    if m == n:
        s0 *= inv_one_minus_rn
        s1 *= inv_one_minus_rn
        s2 *= inv_one_minus_rn
        s3 *= inv_one_minus_rn
    bstate[t0] = gain * s0
    bstate[t1] = gain * s1
    bstate[t2] = gain * s2
    bstate[t3] = gain * s3


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
def periodic_solve_rows(x, r, gain, halo, inv_one_minus_rn, nchunks, out, scratch, parallel=False):
    """Solve ``(I - s L) y = x[i]`` for every row ``i`` of the 2-D C-contiguous ``x`` into ``out``.

    Scalars come from the caller: ``r`` the filter pole, ``gain = 1 - r``, ``halo`` the
    truncation length of boundary sums, ``inv_one_minus_rn = 1 / (1 - r^N)``, ``nchunks`` the
    number of chunks per row (chunk ``k`` is ``[k N // nchunks, (k+1) N // nchunks)``; with one
    chunk the anti-causal state is computed from the row's own causal output). ``out`` may be
    ``x``.

    A *lane* is one (row, chunk) pair. Lanes are solved in SIMD registers, eight at a time
    (:func:`_solve_groups`); the lanes left over (fewer than eight), and
    all lanes when they are too short or too long for the vector path, four at a time in scalar
    lockstep (:func:`_solve_group`). Every lane performs the same operations in the same order
    whatever its path, group and thread, so the result depends only on ``x``, the scalars and
    ``nchunks``, on one thread or on several.
    """
    rows, n = x.shape
    xf = x.reshape(rows * n)
    of = out.reshape(rows * n)
    nlane = rows * nchunks
    fstate, bstate, wend = _lane_buffers(nlane, r)
    for q in prange((nlane + 3) // 4):  # pass 1 reads x only, before anything is written to out
        _lane_states4(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, 4 * q)
    ngroups, nit, runs = vector_plan(n, nchunks, nlane, scratch.size, parallel, xf.itemsize <= fstate.itemsize)
    lanelo = _lane_starts(nlane if ngroups > 0 else 0, n, nchunks)
    width = _GROUP * nit * _STEP
    g4 = 2 * ngroups  # the first group of four left
    for k in prange(runs + (nlane - 4 * g4 + 3) // 4):  # pass 2: each iteration owns its lanes
        if k < runs:
            _solve_groups(x, xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, wend, lanelo,
                          (k * ngroups) // runs, ((k + 1) * ngroups) // runs, nit, False,
                          scratch[k * width:(k + 1) * width])
        else:
            _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend,
                         g4 + k - runs)
    _nonfinite_rows(of, n, nchunks, wend)


@twin
def periodic_solve_rows_apart(x, r, gain, halo, inv_one_minus_rn, nchunks, out, scratch, parallel=False):
    """:func:`periodic_solve_rows` for an ``out`` that does not overlap ``x``: both passes of
    each group of lanes in one iteration, so the threads wake once instead of twice (with a
    passive wait policy a wake-up costs tens of microseconds). Same operations, same bits.

    (With ``out`` overlapping ``x`` a group's pass 2 could overwrite input that another
    group's pass 1 still reads, hence the two regions of :func:`periodic_solve_rows`.)
    """
    rows, n = x.shape
    xf = x.reshape(rows * n)
    of = out.reshape(rows * n)
    nlane = rows * nchunks
    fstate, bstate, wend = _lane_buffers(nlane, r)
    ngroups, nit, runs = vector_plan(n, nchunks, nlane, scratch.size, parallel, xf.itemsize <= fstate.itemsize)
    lanelo = _lane_starts(nlane if ngroups > 0 else 0, n, nchunks)
    width = _GROUP * nit * _STEP
    g4 = 2 * ngroups
    for k in prange(runs + (nlane - 4 * g4 + 3) // 4):
        if k < runs:
            _solve_groups(x, xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, wend, lanelo,
                          (k * ngroups) // runs, ((k + 1) * ngroups) // runs, nit, True,
                          scratch[k * width:(k + 1) * width])
        else:
            gi = g4 + k - runs
            _lane_states4(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, 4 * gi)
            _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend, gi)
    _nonfinite_rows(of, n, nchunks, wend)


@njit(cache=True)
def _periodic_solve_rows_scalar(x, r, gain, halo, inv_one_minus_rn, nchunks, out):
    """:func:`periodic_solve_rows` with every lane on the scalar path (serial): the reference
    the vector path must match bit for bit (tests only)."""
    rows, n = x.shape
    xf = x.reshape(rows * n)
    of = out.reshape(rows * n)
    nlane = rows * nchunks
    fstate, bstate, wend = _lane_buffers(nlane, r)
    for t in range(nlane):
        _lane_states(x, n, r, gain, halo, inv_one_minus_rn, nchunks, fstate, bstate, t)
    for gi in range((nlane + 3) // 4):
        _solve_group(xf, of, n, r, gain, halo, inv_one_minus_rn, nchunks, nlane, fstate, bstate, wend, gi)
    _nonfinite_rows(of, n, nchunks, wend)


@njit(cache=True)
def periodic_solve_segments_serial(x, out, seg, r, gain, halo, inv_one_minus_rn, nchunks, scratch):
    """:func:`periodic_solve_rows` (serial) on several segments of the flat float64 ``x`` in one
    call (a model's parameters: one Python call instead of one per array).

    Segment ``k`` holds ``seg[k, 1]`` lines of ``seg[k, 2]`` elements from ``seg[k, 0]``, solved
    with its own scalars ``r[k]``, ``gain[k]``, ``halo[k]``, ``inv_one_minus_rn[k]``,
    ``nchunks[k]`` into the same place of ``out``; ``nchunks[k] == 0`` marks a segment copied
    unchanged. ``out`` may be ``x``. Each segment gets exactly the operations of a call of
    :func:`periodic_solve_rows` on it, so the bits are those of per-array calls; ``scratch``
    is the vector path's, as large as the largest segment wants (`scratch_elements`).
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
                            inv_one_minus_rn[k], nchunks[k], out[lo:hi].reshape((rows, n)), scratch)
