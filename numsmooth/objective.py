"""Oracles (per-point, batched, jitted, executor-backed) and the per-step :class:`Objective`.

An *oracle* returns the value and the gradient of the user's objective; numsmooth never
differentiates anything itself. :func:`make_oracle` wraps whatever the user passed in an
:class:`Oracle` that evaluates many points at once, counts evaluations, checks every result and
names the sample in its errors.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
import numbers
import pickle
from concurrent.futures import Executor, Future
from typing import Any, Callable, Iterator, cast

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

from ._kernels import oracles as _ok
from ._layout import ParamLayout
from ._parallel import threads_launched_in_parent, use_parallel
from ._validation import check_int

__all__ = ["batched", "Oracle", "OracleError", "Objective", "make_oracle", "executor_scope", "default_chunksize"]


class OracleError(RuntimeError):
    """The oracle raised, or returned something that is not a value-and-gradient pair."""


class batched:
    """Mark ``fun(X) -> (F, G)`` as a batched oracle: one call evaluates all points of a step.

    ``X`` has shape ``(m, d)`` with one (flattened) point per row; ``F`` must have shape ``(m,)``
    and ``G`` shape ``(m, d)``.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> @ns.batched
    ... def sphere(X):
    ...     return (X * X).sum(axis=1), 2 * X
    >>> obj = ns.smoothed(sphere, sigma=0.1, n=8, seed=0)
    >>> f, g = obj(np.ones(3))
    >>> g.shape
    (3,)
    """

    def __init__(self, fun: Callable[[np.ndarray], tuple[Any, Any]]):
        if not callable(fun):
            raise TypeError(f"batched() needs a callable; got {fun!r}")
        self.fun = fun
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__name__ = getattr(fun, "__name__", "batched")

    def __call__(self, X: np.ndarray) -> tuple[Any, Any]:
        return self.fun(X)

    def __repr__(self) -> str:
        return f"batched({self.fun!r})"


def _oracle_kind(fun: Any) -> str:
    if isinstance(fun, batched):
        return "batched"
    if isinstance(fun, Dispatcher):
        return "jitted"
    if numba.config.DISABLE_JIT and callable(fun) and _takes_two_arguments(fun):  # type: ignore[attr-defined]
        # With NUMBA_DISABLE_JIT=1 @njit returns the plain function; recognise fun(x, g_out).
        return "jitted"
    if callable(fun):
        return "point"
    raise TypeError(f"fun must be callable (a function returning (f, g)); got {fun!r}")


def _takes_two_arguments(fun: Any) -> bool:
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2 and all(p.default is p.empty for p in positional)


def _as_value(f: Any, where: str) -> float:
    """The oracle's value as a Python float; non-finite values are data, not errors."""
    if isinstance(f, float):
        return f
    if isinstance(f, (str, bytes, bool, np.bool_)):
        raise OracleError(f"oracle returned a value {f!r} of type {type(f).__name__} {where}; it must be a real scalar")
    if isinstance(f, (numbers.Complex, np.ndarray, np.generic)) and not isinstance(f, numbers.Real):
        fa: Any = f
        if np.ndim(fa) != 0:
            raise OracleError(f"oracle returned a value of shape {np.shape(fa)} {where}; it must be a scalar")
        if np.iscomplexobj(fa):
            raise OracleError(f"oracle returned a complex value {f!r} {where}; it must be real")
    try:
        return float(f)
    except (TypeError, ValueError):
        raise OracleError(f"oracle returned a value {f!r} of type {type(f).__name__} {where}; it must be a real scalar") from None


def _evaluate_points_python(fun: Any, kind: str, layout: ParamLayout, X: np.ndarray, F: np.ndarray,
                            G: np.ndarray, first_index: int) -> None:
    """Evaluate a per-point or batched oracle at the rows of ``X`` (module level so it pickles)."""
    m = X.shape[0]
    if kind == "batched":
        where = f"for samples {first_index}..{first_index + m - 1}"
        try:
            res = fun(X.copy())
        except Exception as exc:
            raise OracleError(f"batched oracle raised {type(exc).__name__}: {exc} {where}") from exc
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise OracleError(f"batched oracle must return a pair (F, G) {where}; got {type(res).__name__}")
        Fv, Gv = np.asarray(res[0]), np.asarray(res[1])
        if Fv.shape != (m,) or Fv.dtype.kind not in "fiu":
            raise OracleError(f"batched oracle returned F of shape {Fv.shape} and dtype {Fv.dtype} {where}; expected shape ({m},) of floats")
        if Gv.shape != (m, layout.size) or Gv.dtype.kind not in "fiu":
            raise OracleError(f"batched oracle returned G of shape {Gv.shape} and dtype {Gv.dtype} {where}; expected shape ({m}, {layout.size}) of floats")
        F[:] = Fv
        G[:] = Gv
        return
    if kind == "jitted":
        _check_can_run_here(fun)
        kernels = _ok.kernels_for(fun)
        rows = kernels.rows_parallel if use_parallel(X.size, "oracle_parallel_min_elements") else kernels.rows
        try:
            rows(X, F, G)
        except Exception as exc:
            _raise_at_failing_row(fun, X, first_index, exc)
        return
    _evaluate_per_point(fun, layout, X.__getitem__, m, F, G, first_index)


def _check_can_run_here(fun: Any) -> None:
    """A ``parallel=True`` jitted oracle cannot run in a process forked from one that launched
    Numba's threads (GNU OpenMP would kill it): say so at once, and what to do."""
    if getattr(fun, "targetoptions", {}).get("parallel") and threads_launched_in_parent():
        raise OracleError(
            f"the jitted oracle {getattr(fun, '__name__', fun)!r} is compiled with parallel=True and "
            "this process was forked from one that already runs Numba threads, where GNU OpenMP "
            "cannot start a parallel region; use a process pool with a 'spawn' or 'forkserver' "
            "context, e.g. ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))"
        )


def _evaluate_per_point(fun: Any, layout: ParamLayout, row_at: Callable[[int], np.ndarray], m: int,
                        F: np.ndarray, G: np.ndarray, first_index: int) -> None:
    """Call a per-point oracle at ``row_at(i)`` for ``i < m``, checking every result."""
    single_shape = layout.shapes[0] if layout.single else None
    flat_single = layout.single and single_shape == (layout.size,)
    for i in range(m):
        row = row_at(i)
        arg = row if flat_single else layout.unflatten(row)
        try:
            res = fun(arg)
        except Exception as exc:
            raise OracleError(f"oracle raised {type(exc).__name__}: {exc} {_where(first_index + i, row)}") from exc
        if type(res) is not tuple or len(res) != 2:
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise OracleError(
                    f"oracle must return a pair (f, g) {_where(first_index + i, row)}; it returned "
                    f"{type(res).__name__}"
                )
        f, g = res
        # the messages are built only on the slow paths: this loop runs once per evaluation
        F[i] = f if type(f) is float else _as_value(f, _where(first_index + i, row))
        if flat_single and type(g) is np.ndarray and g.shape == single_shape and g.dtype.kind == "f":
            G[i] = g
        else:
            try:
                G[i] = layout.flatten(g, name=f"gradient {_where(first_index + i, row)}")
            except (TypeError, ValueError) as exc:
                raise OracleError(str(exc)) from None


def _where(index: int, point: np.ndarray) -> str:
    """``at sample k (x = [...])`` for error messages, the point abbreviated."""
    return f"at sample {index} (x = {np.array2string(point, threshold=6, edgeitems=2, precision=4)})"


def _raise_at_failing_row(fun: Any, X: np.ndarray, first_index: int, exc: Exception) -> None:
    """A jitted oracle raised inside a parallel kernel: find the first failing row, serially,
    so the error can name the sample (only runs after a failure)."""
    g = np.empty(X.shape[1])
    for i in range(X.shape[0]):
        try:
            _ok.kernels_for(fun).one(X[i].copy(), g)
        except Exception as row_exc:
            raise OracleError(
                f"oracle raised {type(row_exc).__name__}: {row_exc} {_where(first_index + i, X[i])}"
            ) from row_exc
    raise OracleError(f"oracle raised {type(exc).__name__}: {exc}") from exc


def _evaluate_chunk(fun: Any, kind: str, layout: ParamLayout, X: np.ndarray,
                    first_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Worker-side evaluation of one chunk (the serial code path); returns ``(F, G)``."""
    F = np.empty(X.shape[0])
    G = np.empty_like(X)
    _evaluate_points_python(fun, kind, layout, X, F, G, first_index)
    return F, G


#: Tasks per worker when the executor says how many workers it has (``_max_workers``).
TASKS_PER_WORKER = 4
#: Tasks per evaluation when it does not (``dask.distributed``'s ``ClientExecutor``,
#: ``mpi4py.futures.MPIPoolExecutor`` before it starts): ``chunksize = ceil(m / DEFAULT_TASKS)``.
DEFAULT_TASKS = 8

_SCOPED_EXECUTOR: contextvars.ContextVar[tuple[Executor, int | None] | None] = contextvars.ContextVar(
    "numsmooth_executor", default=None)


@contextlib.contextmanager
def executor_scope(executor: Executor | None, chunksize: int | None = None) -> Iterator[None]:
    """Within the block, :class:`Oracle` objects that have no executor of their own use ``executor``.

    :class:`~numsmooth.GradientSampling` uses it to send its perturbed points to its executor
    through whatever oracle wrappers (evaluation counting, gradient transforms) the optimizer put
    around the user's function. ``executor=None`` changes nothing.
    """
    if executor is None:
        yield
        return
    token = _SCOPED_EXECUTOR.set((executor, chunksize))
    try:
        yield
    finally:
        _SCOPED_EXECUTOR.reset(token)


def default_chunksize(executor: Executor, m: int) -> int:
    """Rows per task: about :data:`TASKS_PER_WORKER` tasks per worker, or ``ceil(m / 8)``.

    ``concurrent.futures`` pools expose their size as ``_max_workers``; a
    ``dask.distributed`` executor does not (the cluster may grow or shrink), so it gets
    :data:`DEFAULT_TASKS` tasks, enough to keep a few workers busy with some load balancing.
    Pass ``chunksize=`` to choose: large chunks for cheap oracles (less pickling and
    scheduling overhead), ``chunksize=1`` for oracles that take seconds per point.
    """
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool) and int(workers) > 0:
        tasks = TASKS_PER_WORKER * int(workers)
    else:
        tasks = DEFAULT_TASKS
    return max(1, math.ceil(m / tasks))


def _samples(first: int, last: int) -> str:
    return f"sample {first}" if first == last else f"samples {first}..{last}"


def _worker_error(exc: BaseException, first: int, last: int) -> OracleError:
    hint = ""
    if isinstance(exc, (pickle.PicklingError, AttributeError, TypeError)) and "pickl" in str(exc).lower():
        hint = (" (the oracle is sent to the workers by pickling: define it at module level of an "
                "importable module, not as a lambda or a closure)")
    return OracleError(f"worker failed with {type(exc).__name__}: {exc} for {_samples(first, last)}{hint}")


def evaluate_on_executor(executor: Executor, chunksize: int | None, fun: Any, kind: str,
                         layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                         first_index: int) -> None:
    """Evaluate the rows of ``X`` on ``executor`` in chunks; results land in ``F``, ``G`` in row order.

    Every chunk is evaluated by :func:`_evaluate_chunk` in a worker with the same code as the
    serial path, so the numbers are bit-identical to a serial run. A failure (the oracle raising,
    a bad result, a dead worker, an oracle that does not pickle) raises :class:`OracleError`
    naming the samples; the outstanding tasks are cancelled and ``F``, ``G`` are left partly
    written (the callers discard them).
    """
    m = X.shape[0]
    size = default_chunksize(executor, m) if chunksize is None else int(chunksize)
    starts = list(range(0, m, size))
    futures: list[Future[tuple[np.ndarray, np.ndarray]]] = []
    try:
        for s in starts:
            stop = min(s + size, m)
            try:
                futures.append(executor.submit(_evaluate_chunk, fun, kind, layout,
                                               np.ascontiguousarray(X[s:stop]), first_index + s))
            except Exception as exc:
                raise _worker_error(exc, first_index + s, first_index + stop - 1) from exc
        for s, fut in zip(starts, futures):
            stop = min(s + size, m)
            try:
                Fc, Gc = fut.result()
            except OracleError:
                raise
            except Exception as exc:
                raise _worker_error(exc, first_index + s, first_index + stop - 1) from exc
            F[s:stop] = Fc
            G[s:stop] = Gc
    finally:
        for fut in futures:
            fut.cancel()


class Oracle:
    """The user's value-and-gradient function, wrapped for many-point evaluation.

    Parameters
    ----------
    fun : callable
        Per-point ``fun(x) -> (f, g)``, :class:`batched` ``fun(X) -> (F, G)``, or a Numba
        ``@njit`` function ``fun(x, g_out) -> f`` (detected automatically; it receives flat
        float64 vectors).
    layout : ParamLayout
        Shapes of the parameters (per-point oracles receive them in these shapes).
    executor : concurrent.futures.Executor, optional
        Evaluate points on this executor in chunks of ``chunksize`` rows.
    chunksize : int, optional
        Rows per task. Default: about four tasks per worker for executors that expose their
        size (``concurrent.futures`` pools), ``ceil(m / 8)`` for the others (``dask``'s
        ``ClientExecutor``); see :func:`default_chunksize`.

    Notes
    -----
    ``num_evaluations`` counts every point evaluated, including those that raised.
    """

    def __init__(self, fun: Any, layout: ParamLayout, executor: Executor | None = None,
                 chunksize: int | None = None):
        self.kind = _oracle_kind(fun)
        self.fun = fun
        self.layout = layout
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be a concurrent.futures.Executor; got {executor!r}")
        self.executor = executor
        self.chunksize = None if chunksize is None else check_int("chunksize", chunksize, low=1)
        self.num_evaluations = 0

    def _effective_executor(self) -> tuple[Executor | None, int | None]:
        """This oracle's executor, else the one of an enclosing :func:`executor_scope`."""
        if self.executor is not None:
            return self.executor, self.chunksize
        scoped = _SCOPED_EXECUTOR.get()
        return scoped if scoped is not None else (None, None)

    # -- many points ------------------------------------------------------------------------
    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int = 0) -> None:
        """Evaluate at every row of ``X`` (C-contiguous ``(m, d)`` float64) into ``F`` and ``G``."""
        m = X.shape[0]
        if m == 0:
            return
        self.num_evaluations += m
        executor, chunksize = self._effective_executor()
        if executor is not None:
            evaluate_on_executor(executor, chunksize, self.fun, self.kind, self.layout, X, F, G, first_index)
        else:
            _evaluate_points_python(self.fun, self.kind, self.layout, X, F, G, first_index)

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0) -> None:
        """Evaluate at ``x + sigma * U[i]`` into rows ``offset + i`` of ``F`` and ``G``.

        Errors name sample ``sample_base + offset + i``.
        """
        m = U.shape[0]
        if m == 0:
            return
        if self.kind == "jitted" and self._effective_executor()[0] is None:
            _check_can_run_here(self.fun)
            self.num_evaluations += m
            kernels = _ok.kernels_for(self.fun)
            parallel = use_parallel(U.size, "oracle_parallel_min_elements")
            kernel = kernels.perturbed_parallel if parallel else kernels.perturbed
            try:
                kernel(x, float(sigma), U, F, G, offset)
            except Exception as exc:
                _raise_at_failing_row(self.fun, x + sigma * U, sample_base + offset, exc)
            return
        if self.kind == "point" and self._effective_executor()[0] is None:
            # each point built just before its call: no (m, d) block of points, and the oracle
            # still gets an array of its own (x + sigma * u, the same bits as the block would hold)
            self.num_evaluations += m

            def point(i: int) -> np.ndarray:
                row: np.ndarray = U[i] * sigma
                row += x
                return row

            _evaluate_per_point(self.fun, self.layout, point, m, F[offset:], G[offset:], sample_base + offset)
            return
        X = x + sigma * U
        self.evaluate_points(X, F[offset:offset + m], G[offset:offset + m], first_index=sample_base + offset)

    def _evaluate_on_executor(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int) -> None:
        assert self.executor is not None
        evaluate_on_executor(self.executor, self.chunksize, self.fun, self.kind, self.layout, X, F, G,
                             first_index)

    # -- one point -------------------------------------------------------------------------
    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and flat gradient at one flat point ``x`` (not modified)."""
        if self.kind == "jitted" and self._effective_executor()[0] is None:
            # one point: a serial call, no parallel-region start-up
            _check_can_run_here(self.fun)
            self.num_evaluations += 1
            g = np.empty(self.layout.size)
            try:
                return float(_ok.kernels_for(self.fun).one(x.copy(), g)), g
            except Exception as exc:
                raise OracleError(f"oracle raised {type(exc).__name__}: {exc} at x") from exc
        F = np.empty(1)
        G = np.empty((1, self.layout.size))
        self.evaluate_points(x.reshape(1, -1).copy(), F, G)
        return float(F[0]), G[0]

    def value(self, x: np.ndarray) -> float:
        """Value at ``x`` (oracles always compute the gradient too; it is discarded)."""
        return self.evaluate(x)[0]


def make_oracle(fun: Any, layout: ParamLayout, executor: Executor | None = None,
                chunksize: int | None = None) -> Oracle:
    """Wrap ``fun`` (or return it when it already is an :class:`Oracle`)."""
    if isinstance(fun, Oracle):
        return fun
    return Oracle(fun, layout, executor=executor, chunksize=chunksize)


class _GradientTransformOracle:
    """An oracle whose gradients are those of ``base`` passed through ``fn``."""

    def __init__(self, base: Any, fn: Callable[[np.ndarray], np.ndarray]):
        self.base = base
        self.fn = fn
        self.layout = base.layout

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.base.evaluate(x)
        return f, self.fn(g)

    def value(self, x: np.ndarray) -> float:
        return cast(float, self.base.value(x))

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0) -> None:
        self.base.evaluate_perturbed(x, sigma, U, F, G, offset, sample_base)
        for i in range(offset, offset + U.shape[0]):
            G[i] = self.fn(G[i])

    @property
    def num_evaluations(self) -> int:
        return cast(int, self.base.num_evaluations)


class Objective:
    """What one optimizer step knows, passed along the module chain.

    Attributes
    ----------
    x : ndarray
        The current point, flat float64. Modules must not modify it.
    oracle : object
        Has ``evaluate(x) -> (f, g)`` and ``value(x) -> f`` (possibly a smoothed objective).
    layout : ParamLayout
        Shapes and offsets of the parameters inside ``x``.
    update : ndarray or None
        The flat update (``x_new = x - update``); ``None`` until a module asks for it, when it
        starts as a copy of the gradient.
    counter : object
        Has ``num_evaluations``: all oracle evaluations of the optimizer so far.
    """

    def __init__(self, x: np.ndarray, oracle: Any, layout: ParamLayout, counter: Any = None):
        self.x = x
        self.oracle = oracle
        self.layout = layout
        self.counter = counter if counter is not None else oracle
        self.update: np.ndarray | None = None
        self._f: float | None = None
        self._g: np.ndarray | None = None
        # Set by a module to ask that every module after it in the chain be reset.
        self.reset_following = False
        # The value a step reports when f(x) itself was not evaluated (e.g. a smoothed value).
        self.reported_loss: float | None = None

    @property
    def num_evaluations(self) -> int:
        """Oracle evaluations made by the optimizer so far (every perturbed point counts)."""
        return int(self.counter.num_evaluations)

    @property
    def has_loss(self) -> bool:
        """True once ``f(x)`` has been evaluated for this objective."""
        return self._f is not None

    def loss_and_grad(self) -> tuple[float, np.ndarray]:
        """``f(x)`` and ``g(x)``, evaluated once and cached."""
        if self._g is None:
            self._f, self._g = self.oracle.evaluate(self.x)
        assert self._f is not None
        return self._f, self._g

    def loss(self) -> float:
        """``f(x)`` (cached)."""
        return self.loss_and_grad()[0]

    def grad(self) -> np.ndarray:
        """``g(x)`` (cached; do not modify)."""
        return self.loss_and_grad()[1]

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient at another point ``x`` (uses the cache when ``x`` is this point)."""
        if x is self.x:
            return self.loss_and_grad()
        return cast("tuple[float, np.ndarray]", self.oracle.evaluate(x))

    def value(self, x: np.ndarray) -> float:
        """Value at another point ``x``."""
        if x is self.x and self._f is not None:
            return self._f
        return cast(float, self.oracle.value(x))

    def get_update(self) -> np.ndarray:
        """The update, created from the gradient on first use; modules may modify it in place."""
        if self.update is None:
            self.update = np.array(self.grad(), dtype=np.float64, copy=True)
        return self.update

    def with_oracle(self, oracle: Any) -> "Objective":
        """A new objective at the same point with another oracle (caches and update empty)."""
        return Objective(self.x, oracle, self.layout, self.counter)

    def transform_gradient(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Objective":
        """A new objective whose gradients, at ``x`` and every other point, are ``fn(g)``.

        A cached ``f(x)``/``g(x)`` carries over (transformed), so nothing is evaluated twice.
        """
        new = Objective(self.x, _GradientTransformOracle(self.oracle, fn), self.layout, self.counter)
        if self._g is not None:
            new._f, new._g = self._f, fn(self._g)
        if self.update is not None:
            new.update = self.update
        return new
