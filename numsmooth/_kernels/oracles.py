"""Kernels that evaluate a Numba-jitted oracle ``fun(x, g_out) -> f`` at many points.

`kernels_for` compiles, once per oracle, small kernels that call it: the oracle is a
compile-time constant of their closure, so a call costs an ordinary dispatch, not the typing of
a function argument (several microseconds per call). They cannot be cached on disk (the oracle
is not a global of this module); each new oracle compiles them once per process.

Each kernel that loops over points is a kernel twin (`numsmooth._kernels.twins`), one body
compiled serially and in parallel; the caller picks one through `numsmooth._parallel.pick`,
which never picks a parallel one in a forked child (GNU OpenMP kills a forked child that enters
a parallel region).
"""

from types import SimpleNamespace
from typing import Any

import numpy as np
import numba
from numba import njit, prange

from . import aggregate as _agg
from .twins import twin

_BY_ORACLE: dict[Any, SimpleNamespace] = {}


@njit(cache=True)
def build_points(x, sigma, U, lo, P):
    """``P[i] = x + sigma * U[lo + i]`` for every row of ``P``: the points handed to a per-point
    Python oracle, built a chunk at a time.

    Parameters
    ----------
    x : ndarray, shape (d,), float64
        The centre.
    sigma : float
        Scale of the perturbations.
    U : ndarray, shape (m, d), float64
        Unscaled perturbations (only read).
    lo : int
        First row of ``U`` to use.
    P : ndarray, shape (c, d), float64, C-contiguous
        Receives the points (``lo + c <= m``).

    Notes
    -----
    One compiled pass over the chunk replaces a multiply, an add and an allocation per point
    (about 1 us of NumPy call overhead each at d = 1000). Each element is ``x + sigma * u``,
    the same bits as NumPy's ``u * sigma + x`` and as the jitted-oracle kernels below (no
    contraction into a fused multiply-add: Numba does not enable it without fastmath).
    """
    d = x.shape[0]
    for i in range(P.shape[0]):
        for j in range(d):
            P[i, j] = x[j] + sigma * U[lo + i, j]
#: Flags of the fold kernels: reset the accumulator (and fold the x0 term) first; finalize after;
#: evaluate the x0 term itself first (the oracle at ``x``, into ``F[0]`` and ``g0``; with START).
START = 1
FINISH = 2
EVAL_X0 = 4
#: The fold kernels' ``bad`` when the oracle did not write the x0 term's gradient (`EVAL_X0`).
X0_UNWRITTEN = -2


@njit(cache=True)
def _start(code, F, acc, state, g0, flags):
    if flags & START:
        _agg.stream_init(state, acc)
        if g0.shape[0] > 0:
            _agg.stream_update(code, 0, F[0], g0, acc, state)


@njit(cache=True)
def _finish(code, acc, state, flags):
    if flags & FINISH:
        return _agg.stream_finalize(code, acc, state, acc)
    return np.nan


# Oracles whose kernels are kept; the oldest are dropped beyond it (the kernels hold the oracle,
# so a program that makes oracles in a loop would otherwise keep them all).
_MAX_ORACLES = 32


def kernels_for(fun: Any) -> SimpleNamespace:
    """``one``, ``call``, ``call_copy`` and the twins ``rows``, ``perturbed`` and ``fold`` for the
    jitted oracle ``fun``."""
    kernels = _BY_ORACLE.get(fun)
    if kernels is None:
        kernels = _BY_ORACLE[fun] = _build(fun)
        while len(_BY_ORACLE) > _MAX_ORACLES:
            del _BY_ORACLE[next(iter(_BY_ORACLE))]
    return kernels


#: Bits of a NaN with a payload no arithmetic produces: written to the first and last element of
#: ``g_out`` before each call, so a call that leaves them there did not write its gradient.
UNWRITTEN = np.int64(0x7FF4DEADBEEF0001)


def _build(fun: Any) -> SimpleNamespace:
    @njit
    def call(x, g):
        """``fun(x, g)`` and whether it wrote the ends of ``g`` (see `UNWRITTEN`)."""
        bits = g.view(np.int64)
        last = bits.shape[0] - 1
        bits[0] = UNWRITTEN
        bits[last] = UNWRITTEN
        f = fun(x, g)
        return f, bits[0] != UNWRITTEN and bits[last] != UNWRITTEN

    @njit
    def call_copy(x, pt, g):
        """`call` at a copy ``pt`` of ``x`` (the oracle may scribble on its argument): one
        dispatch for a single evaluation."""
        for j in range(x.shape[0]):
            pt[j] = x[j]
        return call(pt, g)

    @njit
    def one(x, g):
        """One evaluation (inside compiled code, so the result types are checked)."""
        return fun(x, g)

    @twin(cache=False)
    def rows(X, F, G, written):
        """F[i] = fun(X[i], G[i]) for every row, in parallel over rows in the parallel twin;
        ``written[i]`` says whether G[i] was written."""
        for i in prange(X.shape[0]):
            F[i], written[i] = call(X[i], G[i])

    @twin(cache=False)
    def perturbed(x, sigma, U, F, G, offset, written):
        """Evaluate at ``x + sigma * U[i]`` into ``F[offset + i]``, ``G[offset + i]``.

        The rows are split into one run per Numba thread (in parallel in the parallel twin),
        each building its points in one buffer of its own, so the ``(m, d)`` block of points is
        never materialised. ``written[i]`` says whether the gradient was written.
        """
        d = x.shape[0]
        m = U.shape[0]
        runs = min(m, numba.get_num_threads())
        for t in prange(runs):
            pt = np.empty(d)
            for i in range(t * m // runs, (t + 1) * m // runs):
                for j in range(d):
                    pt[j] = x[j] + sigma * U[i, j]
                F[offset + i], written[i] = call(pt, G[offset + i])

    @twin(cache=False)
    def fold(x, sigma, U, F, k0, code, acc, state, P, Gc, written, g0, flags):
        """Evaluate at ``x + sigma * U[i]`` and fold each gradient into a streaming aggregate.

        Parameters
        ----------
        x : ndarray, shape (d,)
            The centre.
        sigma : float
            Scale of the perturbations.
        U : ndarray, shape (c, d)
            Unscaled perturbations (only read).
        F : ndarray, shape (n,)
            Values: row ``i`` goes to ``F[k0 + i]``, and is folded as sample ``k0 + i``.
        k0 : int
            Sample index of row 0.
        code : int
            Aggregate code of `numsmooth._kernels.aggregate` (an argument, not a constant, so
            one compilation serves every aggregate).
        acc, state : ndarray
            The streaming accumulator (see ``aggregate.stream_update``), updated in place.
        P, Gc : ndarray, shape (c, d)
            Scratch: the points and the gradients of a chunk of ``c`` rows.
        written : ndarray, shape (c,), bool
            Scratch.
        g0 : ndarray, shape (d,) or (0,)
            With `START`: the x0 term's gradient (value ``F[0]``), folded first as sample 0;
            empty for none. With `EVAL_X0` it is evaluated here first: ``F[0] = fun(x, g0)``
            (the step's own f(x), g(x): one dispatch less than evaluating it apart).
        flags : int
            `START`: reset ``acc`` and ``state`` first. `FINISH`: finalize ``acc`` in place
            afterwards and return the aggregated value. `EVAL_X0`: see ``g0``. (One dispatch
            per evaluation instead of four.)

        Returns
        -------
        bad : int
            ``-1``, `X0_UNWRITTEN`, or the first row whose gradient the oracle did not write
            (the fold stops there; the caller raises).
        f : float
            The aggregated value with `FINISH`, else nan.

        Notes
        -----
        A chunk of points is evaluated (in parallel over points in the parallel twin), then
        folded in row order: which rows replace or combine into ``acc`` is decided serially,
        the elementwise work runs over blocks of coordinates (in parallel in the parallel twin),
        so every element of ``acc`` sees the operations of ``stream_update`` row after row, the
        same as the batch aggregates: the same bits whatever the chunk and the threads. With
        ``c = 1`` (the serial caller) it is one pass per point: the point and its gradient stay
        in cache between the call and the fold.
        """
        if flags & EVAL_X0:
            F[0], ok = call_copy(x, P[0], g0)
            if not ok:
                return X0_UNWRITTEN, np.nan
        _start(code, F, acc, state, g0, flags)
        d = x.shape[0]
        m = U.shape[0]
        c = Gc.shape[0]
        nb = (d + _agg.BLOCK - 1) // _agg.BLOCK
        acts = np.empty(c, dtype=np.int64)
        for start in range(0, m, c):
            k = min(c, m - start)
            for i in prange(k):
                written[i] = False  # stays False if the call raises (Numba's threads drop it)
                pt = P[i]
                for j in range(d):
                    pt[j] = x[j] + sigma * U[start + i, j]
                F[k0 + start + i], written[i] = call(pt, Gc[i])
            for i in range(k):
                if not written[i]:
                    return start + i, np.nan
            for i in range(k):
                acts[i] = _agg._stream_step(code, k0 + start + i, F[k0 + start + i], Gc[i], state)
            for b in prange(nb):
                lo = b * _agg.BLOCK
                hi = min(lo + _agg.BLOCK, d)
                for i in range(k):
                    if acts[i] == _agg._COPY:
                        _agg._copy_range(Gc[i], acc, lo, hi)
                    elif acts[i] == _agg._COMBINE:
                        _agg._combine_range(code, Gc[i], acc, lo, hi)
        return -1, _finish(code, acc, state, flags)

    return SimpleNamespace(one=one, call=call, call_copy=call_copy, rows=rows, perturbed=perturbed, fold=fold)
