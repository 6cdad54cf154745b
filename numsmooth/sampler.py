"""The sampler: evaluate an oracle at ``n`` points around ``x`` and aggregate.

:class:`Sampler` holds what does not change during a run (``n``, the aggregate, the
distribution, ``include_x0``, the executor) and the buffers; what does change (``sigma``, the
generator's key and stream) belongs to its owner — :class:`~numsmooth.SmoothedObjective` or
:class:`~numsmooth.GradientSampling` — and is passed to :meth:`Sampler.evaluate` on each call.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Executor
from typing import Any, NamedTuple

import numpy as np

from . import config
from ._buffers import Reusable
from ._kernels import aggregate as _agg
from ._parallel import pick, use_parallel
from ._validation import check_bool, check_choice, check_int
from .aggregates import AGGREGATES, STREAM_CODES, aggregate
from .objective import X0Term
from .oracles import OracleProtocol
from .perturbations import DISTRIBUTIONS, ROW_WISE, draw_perturbations, draw_rows

__all__ = ["Sampler", "Evaluation"]

class Evaluation(NamedTuple):
    """What :meth:`Sampler.evaluate` returns."""

    #: the aggregated value
    f: float
    #: the aggregated gradient
    g: np.ndarray
    #: every point's value, the x0 term first when included
    F: np.ndarray
    #: every point's gradient norm (None unless asked for)
    norms: np.ndarray | None
    #: f(x), g(x) when this evaluation evaluated them itself (None when given or not included)
    x0: X0Term | None


class Sampler:
    """Points around ``x``, their evaluation and the aggregate.

    Parameters
    ----------
    n : int
        Evaluations per call, counting the x0 term when ``include_x0``.
    aggregate : str
        One of ``'mean', 'max', 'min', 'min-norm', 'min-value', 'min-norm-hull'``.
    distribution : str, callable or ndarray
        Unscaled perturbations (see :func:`~numsmooth.smoothed`).
    include_x0 : bool
        Evaluate at ``x`` itself as the first point.
    antithetic : bool
        Draw perturbations in ``+u, -u`` pairs.
    executor : concurrent.futures.Executor, optional
        Evaluate the points on this executor.
    chunksize : int, optional
        Points per executor task.

    Notes
    -----
    Evaluation: with a jitted oracle (no executor) and every aggregate but ``'min-norm-hull'``,
    one kernel builds each point, calls the oracle and folds the gradient into the aggregate
    (``fold_perturbed``): no ``(n, d)`` gradient block exists. Other oracles write the gradient
    block and aggregate it.

    Memory: the ``(n - include_x0, d)`` perturbation block is kept (drawn once per ``(key,
    stream)`` on its second use, so fixed perturbations are not redrawn; a block used once is
    streamed) while it fits the ``block_budget_bytes``
    knob of :mod:`numsmooth.config` — counted together with the ``(n, d)`` gradient block when
    the oracle does not fold. Above it (row-wise distributions, every aggregate but
    ``'min-norm-hull'``) perturbations are regenerated chunk by chunk and gradients folded as
    they arrive, so memory does not grow with ``n``. Every path gives the same bits.

    Calls from several threads at once are safe: each call takes a gradient block of its own.
    """

    def __init__(self, n: int = 100, aggregate: str = "mean", distribution: Any = "gaussian",
                 include_x0: bool = True, *, antithetic: bool = False, executor: Executor | None = None,
                 chunksize: int | None = None):
        self.n = check_int("n", n, low=1)
        self.aggregate = check_choice("aggregate", aggregate, AGGREGATES)
        self.include_x0 = check_bool("include_x0", include_x0)
        self.antithetic = check_bool("antithetic", antithetic)
        self.distribution, self.explicit = _check_distribution(distribution, self.n - self.include_x0)
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be a concurrent.futures.Executor; got {executor!r}")
        self.executor = executor
        self.chunksize = None if chunksize is None else check_int("chunksize", chunksize, low=1)
        self._block_cache: tuple[int, int, int, np.ndarray] | None = None
        #: (key, stream, d) of the last block streamed because it was new (see _streams_first_use)
        self._streamed_once: tuple[int, int, int] | None = None
        self._free_blocks: list[np.ndarray] = []
        self._lock = threading.Lock()
        #: the arguments of the last check_memory that passed (steps repeat them)
        self._memory_checked: tuple[Any, ...] | None = None
        #: the x0 term's gradient when the fold kernel evaluates it (see `x0_gradient_buffer`)
        self._x0_grad = Reusable()

    @property
    def num_perturbed(self) -> int:
        """Perturbed points per evaluation: ``n - include_x0``."""
        return self.n - self.include_x0

    @property
    def distribution_name(self) -> str:
        """The distribution's name, ``'array'`` or ``'custom'`` (a callable)."""
        return self.distribution if isinstance(self.distribution, str) else "custom"

    def config(self) -> dict[str, Any]:
        """The configuration, for state checks and ``repr``."""
        return {"n": self.n, "aggregate": self.aggregate, "distribution": self.distribution_name,
                "include_x0": self.include_x0, "antithetic": self.antithetic}

    # -- perturbations --------------------------------------------------------------------------
    def block(self, key: int, stream: int, d: int) -> np.ndarray:
        """Unscaled perturbations of ``(key, stream)`` for dimension ``d`` (drawn once, cached)."""
        m = self.num_perturbed
        if self.explicit is not None:
            if self.explicit.shape[1] != d:
                raise ValueError(f"distribution array has shape {self.explicit.shape}; expected ({m}, {d}) "
                                 f"for {d} parameters")
            return self.explicit
        cached = self._block_cache  # one read: another thread may replace it
        if cached is not None and cached[:3] == (key, stream, d):
            return cached[3]
        block = draw_perturbations(self.distribution, np.uint64(key), stream, m, d, antithetic=self.antithetic)
        block.flags.writeable = False
        self._block_cache = (key, stream, d, block)
        return block

    def x0_gradient_buffer(self, d: int) -> np.ndarray:
        """The flat float64 buffer of ``d`` that ``g(x)`` is evaluated into: the one of
        the last evaluation unless somebody still holds it (a step allocates nothing that grows
        with ``d``)."""
        return self._x0_grad.get((d,))

    def folds(self, oracle: OracleProtocol, need_norms: bool = False) -> bool:
        """Whether this evaluation folds each gradient into the aggregate inside the oracle's
        kernel (no gradient block): a foldable aggregate and an oracle that can."""
        if need_norms or self.aggregate not in STREAM_CODES:
            return False
        return oracle.folds_perturbed(self.executor)

    def streams(self, d: int, folds: bool = False) -> bool:
        """Whether an evaluation at dimension ``d`` streams (regenerates its perturbations chunk
        by chunk) rather than keeping the perturbation block.

        The block is kept while it fits the ``block_budget_bytes`` knob: the ``(n - include_x0,
        d)`` perturbations alone when the oracle folds its gradients (``folds``), else together
        with the ``(n, d)`` gradient block. Only row-wise distributions and foldable aggregates
        can stream.
        """
        nbytes = 8 * d * (self.num_perturbed if folds else 2 * self.n)
        return (nbytes > config.get("block_budget_bytes") and self.explicit is None
                and self.aggregate in STREAM_CODES and self.distribution in ROW_WISE)

    def _streams_first_use(self, key: int, stream: int, d: int) -> bool:
        """Stream the first evaluation of a streamable ``(key, stream)`` block and keep it only
        when it is evaluated again (fixed perturbations, a line search): a block used once
        (``fixed=False``) is cheaper regenerated chunk by chunk in cache than drawn whole into
        fresh pages and read back from memory. Same bits either way."""
        if self.explicit is not None or self.distribution not in ROW_WISE:
            return False
        cached = self._block_cache
        if cached is not None and cached[:3] == (key, stream, d):
            return False
        if self._streamed_once == (key, stream, d):
            return False
        self._streamed_once = (key, stream, d)  # a hint: a race between threads costs a draw
        return True

    def check_memory(self, d: int, streams: bool | None = None, folds: bool = False) -> None:
        """Refuse, before allocating, an evaluation whose buffers cannot fit in this machine's memory
        (``streams``: `streams` of ``d`` when the caller already knows it; ``folds``: the oracle
        folds its gradients, so no gradient block is allocated)."""
        chunk_elements = config.get("stream_chunk_elements")
        key = (d, streams, folds, chunk_elements, config.get("block_budget_bytes"))
        if key == self._memory_checked:  # the same answer as last time: no need to work it out again
            return
        chunk = 8 * min(self.n, max(1, chunk_elements // d)) * d
        if self.streams(d, folds) if streams is None else streams:
            need = 16 * self.n + 3 * chunk
        elif folds:
            need = 16 * self.n + 8 * self.num_perturbed * d + chunk
        else:
            need = 16 * self.n + 2 * 8 * self.n * d
        available = config.physical_memory()
        if available is not None and need > available:
            raise ValueError(f"n = {self.n} points of dimension d = {d} need about {need / 2**30:.3g} GiB, "
                             f"more than this machine's {available / 2**30:.3g} GiB; use a smaller n")
        self._memory_checked = key

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, oracle: OracleProtocol, x: np.ndarray, sigma: float, key: int, stream: int,
                 x0_term: X0Term | None = None, need_norms: bool = False) -> Evaluation:
        """Evaluate at the ``n`` points around flat ``x`` and aggregate.

        Parameters
        ----------
        oracle : OracleProtocol
            Evaluates the points.
        x : ndarray
            Flat float64 point.
        sigma : float
            Scale of the perturbations.
        key, stream : int
            Position of the perturbations in the counter-based generator.
        x0_term : (float, ndarray), optional
            ``f(x)`` and ``g(x)`` already known; used for the x0 term instead of evaluating.
        need_norms : bool
            Also return the gradient norm of every point.

        Returns
        -------
        Evaluation
            ``(f, g, F, norms, x0)``: the aggregated value and gradient, every point's value and
            gradient norm (``None`` unless ``need_norms``), x0 term first when included, and the
            ``f(x)``, ``g(x)`` this call evaluated itself (``None`` when given or not included;
            the gradient is the caller's to keep).

        Notes
        -----
        How the x0 term is had is decided here, in one place: not at all without
        ``include_x0``; ``x0_term`` when given; when the oracle folds, evaluated first by the
        kernel that evaluates the other points (one dispatch for the whole evaluation; an error
        there names the point itself); otherwise evaluated apart, before the other points and
        where they are (on the executor, if any). Every route gives the same bits.
        """
        d = x.shape[0]
        folds = self.folds(oracle, need_norms)
        streams = self.streams(d, folds) or (folds and self._streams_first_use(key, stream, d))
        self.check_memory(d, streams, folds)
        x0: X0Term | None = None
        if self.include_x0 and x0_term is None and not folds:
            # where the other points go (the executor, if any); a copy, which the oracle may
            # scribble on; errors name the point itself
            F0, G0 = np.empty(1), self.x0_gradient_buffer(d).reshape(1, d)
            oracle.evaluate_points(x.reshape(1, d).copy(), F0, G0, None, self.executor, self.chunksize)
            x0_term = x0 = (float(F0[0]), G0[0])
        if folds:
            x0_out = self.x0_gradient_buffer(d) if self.include_x0 and x0_term is None else None
            f, g, F = self._evaluate_folded(oracle, x, sigma, key, stream, x0_term, streams, x0_out)
            if x0_out is not None:
                x0 = (float(F[0]), x0_out)
            return Evaluation(f, g, F, None, x0)
        if streams:
            return self._evaluate_streaming(oracle, x, sigma, key, stream, x0_term, need_norms)._replace(x0=x0)
        U = self.block(key, stream, d)
        k0 = int(self.include_x0)
        F = np.empty(self.n)
        G = self._take_gradient_block(d)
        try:
            if x0_term is not None:
                F[0], G[0] = x0_term
            oracle.evaluate_perturbed(x, sigma, U, F, G, k0, 0, self.executor, self.chunksize)
            f, g = aggregate(self.aggregate, F, G)
            norms = np.sqrt(np.einsum("ij,ij->i", G, G)) if need_norms else None
        finally:
            self._give_gradient_block(G)
        return Evaluation(f, g, F, norms, x0)

    def _evaluate_folded(self, oracle: OracleProtocol, x: np.ndarray, sigma: float, key: int, stream: int,
                         x0_term: X0Term | None, streams: bool,
                         x0_out: np.ndarray | None) -> tuple[float, np.ndarray, np.ndarray]:
        """`evaluate` through the oracle's ``fold_perturbed``: each gradient is folded into the
        aggregate as soon as it is computed; ``(f, g, F)``. The perturbation block is kept (one
        kernel call does the whole evaluation) or, when ``streams``, regenerated chunk by chunk
        (same bits either way). ``x0_out``: the kernel evaluates the x0 term first, its
        gradient into ``x0_out``; else ``x0_term`` is folded first when given."""
        d, n, k0 = x.shape[0], self.n, int(self.include_x0)
        m = n - k0
        code = STREAM_CODES[self.aggregate]
        F = np.empty(n)
        acc = np.empty(d)
        state = np.empty(_agg.STATE_SIZE)
        g0: np.ndarray | None = None if x0_out is not None else _NO_ROW
        if x0_term is not None:
            F[0] = float(x0_term[0])
            g0 = np.ascontiguousarray(x0_term[1], dtype=np.float64)
            if not g0.flags.writeable:  # one array type for the kernels: no second compilation
                g0 = g0.copy()
        fold = oracle.fold_perturbed
        if not streams:
            f = fold(x, sigma, self.block(key, stream, d), F, k0, code, acc, state, start=g0, finish=True,
                     x0_out=x0_out)
            return float(f), acc, F
        c = max(1, min(m, config.get("stream_chunk_elements") // d))
        U = self._take_gradient_block(d, c)
        try:
            f = math.nan
            for start in range(0, max(m, 1), c):  # one call even without rows: start and finish
                k = max(0, min(c, m - start))
                if k:
                    # drawn on the threads the fold of these rows will use (see draw_rows)
                    draw_rows(self.distribution, np.uint64(key), stream, start, U[:k], antithetic=self.antithetic,
                              parallel=use_parallel(k * d, "oracle_parallel_min_elements"))
                first = start == 0
                f = fold(x, sigma, U[:k], F, k0 + start, code, acc, state, start=g0 if first else None,
                         finish=start + c >= m, x0_out=x0_out if first else None)
        finally:
            self._give_gradient_block(U)
        return float(f), acc, F

    def _take_gradient_block(self, d: int, rows: int | None = None) -> np.ndarray:
        """An ``(n, d)`` gradient block (or ``(rows, d)`` chunk) of this call's own: reused
        across calls (a fresh block costs page faults on every call), never shared by two calls
        at once; hand it back with `_give_gradient_block`."""
        shape = (self.n if rows is None else rows, d)
        with self._lock:
            for i, b in enumerate(self._free_blocks):
                if b.shape == shape:
                    return self._free_blocks.pop(i)
        return np.empty(shape)

    def _give_gradient_block(self, G: np.ndarray) -> None:
        with self._lock:
            self._free_blocks = [b for b in self._free_blocks if b.shape == G.shape][:1] + [G]

    def _evaluate_streaming(self, oracle: OracleProtocol, x: np.ndarray, sigma: float, key: int, stream: int,
                            x0_term: X0Term | None, need_norms: bool) -> Evaluation:
        """`evaluate` in chunks of points: perturbations are regenerated from their counters
        and gradients folded into the aggregate as they arrive (same bits as the batch path);
        ``x0_term``, when included, is folded first."""
        d, n, k0 = x.shape[0], self.n, int(self.include_x0)
        m = n - k0
        code = STREAM_CODES[self.aggregate]
        F = np.empty(n)
        norms = np.empty(n)
        state = np.empty(_agg.STATE_SIZE)
        acc = np.empty(d)
        _agg.stream_init(state, acc)
        norms[0] = math.nan
        if x0_term is not None:
            f0, g0 = x0_term
            F[0], norms[0] = f0, math.sqrt(float(np.dot(g0, g0)))
            _agg.stream_update(code, 0, float(f0), np.ascontiguousarray(g0), acc, state)
        c = max(1, min(m, config.get("stream_chunk_elements") // d))
        update_rows = pick(_agg.stream_update_rows, d)
        U, Fc, Gc = np.empty((c, d)), np.empty(c), np.empty((c, d))
        for start in range(0, m, c):
            k = min(c, m - start)
            draw_rows(self.distribution, np.uint64(key), stream, start, U[:k], antithetic=self.antithetic)
            oracle.evaluate_perturbed(x, sigma, U[:k], Fc, Gc, 0, k0 + start, self.executor, self.chunksize)
            F[k0 + start:k0 + start + k] = Fc[:k]
            if need_norms:
                norms[k0 + start:k0 + start + k] = np.sqrt(np.einsum("ij,ij->i", Gc[:k], Gc[:k]))
            update_rows(code, k0 + start, Fc[:k], Gc[:k], acc, state)
        out = np.empty(d)
        f = _agg.stream_finalize(code, acc, state, out)
        return Evaluation(float(f), out, F, norms if need_norms else None, None)

    # -- pickling ---------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        if self.executor is not None:
            raise TypeError(
                f"cannot pickle a sampler that holds the executor {self.executor!r}: executors do not "
                "pickle. Save the run with Optimizer.state_dict() or Optimizer.save(), and pass "
                "executor= again when you rebuild the modules")
        # caches are rebuilt on demand: the perturbation block from (key, stream), buffers anew
        state = self.__dict__.copy()
        state.update(_block_cache=None, _streamed_once=None, _free_blocks=[], _lock=None,
                     _memory_checked=None)  # checked again on the machine that loads it
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_streamed_once", None)  # pickled before these attributes existed
        self.__dict__.setdefault("_memory_checked", None)
        self.__dict__.setdefault("_x0_grad", Reusable())
        self._lock = threading.Lock()


#: No x0 gradient to fold (see OracleProtocol.fold_perturbed).
_NO_ROW = np.empty(0)


def _check_distribution(distribution: Any, m: int) -> tuple[Any, np.ndarray | None]:
    """Validate a distribution name, callable or explicit ``(m, d)`` array."""
    if isinstance(distribution, str):
        return check_choice("distribution", distribution, DISTRIBUTIONS), None
    if isinstance(distribution, np.ndarray):
        arr = distribution
        if arr.dtype.kind != "f":
            raise TypeError(f"distribution array must hold floats; got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[0] != m:
            raise ValueError(
                f"distribution array must have shape (n - include_x0, d) = ({m}, d); got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("distribution array must be finite")
        explicit = np.ascontiguousarray(arr, dtype=np.float64).copy()
        explicit.flags.writeable = False
        return "array", explicit
    if callable(distribution):
        return distribution, None
    names = ", ".join(repr(d) for d in DISTRIBUTIONS)
    raise ValueError(f"distribution must be one of {names}, a callable or an array; got {distribution!r}")
