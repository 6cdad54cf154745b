"""Oracles: what evaluates values and gradients, one point or many.

An *oracle* returns the value and the gradient of the user's objective; numsmooth never
differentiates anything itself. Everything that evaluates points follows one protocol,
:class:`OracleProtocol`:

- :class:`Oracle` wraps the user's function (per-point, :class:`batched`, jitted, optionally on
  an executor), counts evaluations, checks every result and names the point in its errors;
- :class:`OracleBase` gives the many-point methods to an oracle that only knows one point
  (the smoothed objective of a :class:`~numsmooth.GradientSampling` step);
- :class:`ForwardingOracle` forwards everything to another oracle, so an adapter (counting,
  transforming gradients) overrides only what it changes.

An executor and a chunk size travel as arguments of the many-point methods.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import pickle
import threading
import weakref
from concurrent.futures import Executor, Future
from typing import Any, Callable, Protocol, runtime_checkable

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

from ._buffers import Reusable
from ._kernels import oracles as _ok
from ._layout import ParamLayout
from . import _passes, config
from ._parallel import threads_launched_in_parent, use_parallel
from ._validation import check_int, short_repr

__all__ = ["batched", "OracleProtocol", "OracleBase", "ForwardingOracle", "Oracle", "OracleError",
           "GradientTransformOracle", "make_oracle", "default_chunksize"]


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


class _BadValue(Exception):
    """A value that is not a real scalar; the caller adds where it came from."""


def _as_value(f: Any) -> float:
    """The oracle's value as a Python float (slow path: the caller handles float, np.float64 and
    np.float32 itself). Non-finite values are data, not errors."""
    if isinstance(f, (list, tuple)):
        raise _BadValue(f"oracle returned a {type(f).__name__} of {len(f)} items as the value; it must be a "
                        "real scalar (did it return (g, f) instead of (f, g)?)")
    if isinstance(f, (str, bytes, bool, np.bool_)):
        raise _BadValue(f"oracle returned a value {short_repr(f)} of type {type(f).__name__}; it must be a real scalar")
    if isinstance(f, np.ndarray):
        if f.ndim != 0:
            raise _BadValue(f"oracle returned a value of shape {f.shape} ({short_repr(f)}); it must be a scalar"
                            " (did it return (g, f) instead of (f, g)?)")
        if f.dtype.kind == "f":
            return float(f)
    if isinstance(f, (numbers.Complex, np.ndarray, np.generic)) and not isinstance(f, numbers.Real):
        if np.iscomplexobj(f):  # type: ignore[arg-type]
            raise _BadValue(f"oracle returned a complex value {short_repr(f)}; it must be real")
    try:
        return float(f)
    except OverflowError:
        raise _BadValue(f"oracle returned a value {short_repr(f)} too large for a float64") from None
    except (TypeError, ValueError):
        raise _BadValue(f"oracle returned a value {short_repr(f)} of type {type(f).__name__}; "
                        "it must be a real scalar") from None


def _evaluate_points_python(fun: Any, kind: str, layout: ParamLayout, X: np.ndarray, F: np.ndarray,
                            G: np.ndarray, first_index: int | None) -> None:
    """Evaluate a per-point or batched oracle at the rows of ``X`` (module level so it pickles)."""
    m = X.shape[0]
    if kind == "batched":
        where = " at x" if first_index is None else f" for samples {first_index}..{first_index + m - 1}"
        try:
            res = fun(X.copy())
        except Exception as exc:
            raise OracleError(f"batched oracle raised {type(exc).__name__}: {exc}{where}") from exc
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise OracleError(f"batched oracle must return a pair (F, G){where}; got {type(res).__name__}")
        Fv, Gv = np.asarray(res[0]), np.asarray(res[1])
        if Fv.shape != (m,) or Fv.dtype.kind not in "fiu":
            raise OracleError(f"batched oracle returned F of shape {Fv.shape} and dtype {Fv.dtype}{where}; "
                              f"expected shape ({m},) of floats")
        if Gv.shape != (m, layout.size) or Gv.dtype.kind not in "fiu":
            raise OracleError(f"batched oracle returned G of shape {Gv.shape} and dtype {Gv.dtype}{where}; "
                              f"expected shape ({m}, {layout.size}) of floats")
        F[:] = Fv
        G[:] = Gv
        return
    if kind == "jitted":
        kernels = _jitted_kernels(fun)
        rows = kernels.rows_parallel if use_parallel(X.size, "oracle_parallel_min_elements") else kernels.rows
        written = np.empty(m, dtype=np.bool_)
        try:
            rows(X, F, G, written)
        except Exception as exc:
            _raise_at_failing_row(fun, X, first_index, exc)
        _check_written(fun, written, X, first_index)
        return
    _evaluate_per_point(fun, layout, X, F, G, first_index)


def _evaluate_per_point(fun: Any, layout: ParamLayout, P: np.ndarray, F: np.ndarray, G: np.ndarray,
                        first_index: int | None) -> None:
    """Call a per-point oracle at every row of ``P`` (flat points, ``(m, d)``) into ``F[:m]`` and
    ``G[:m]``, checking every result.

    This loop runs once per evaluation, so its common case is as short as it can be: rows of
    ``P`` and ``G`` come from iterating the arrays (no index arithmetic, no slice objects), the
    point is handed over without a per-call reshape when there is one parameter, the tests that
    accept the usual results (a ``float``, ``np.float64``, ``np.float32`` or 0-d float array
    value; a float gradient array of the parameter's shape) come first and cost a few type and
    identity checks, and error messages are built only when raised. Everything else goes
    through the strict slow path (`_as_value`, `ParamLayout.flatten`).
    """
    args: Any
    if layout.single:
        shape = layout.shapes[0]
        if len(shape) == 1:
            args, grows = P, G  # zip() stops after the m rows of P
        else:  # rows in the parameter's shape: the user's point, and where its gradient goes
            m = P.shape[0]
            args, grows = P.reshape((m, *shape)), G[:m].reshape((m, *shape))
    else:
        shape = None
        args, grows = [layout.unflatten(row) for row in P], G
    # the names the loop tests against, as locals (a global and an attribute lookup each else)
    ndarray, float64, float32, f64 = np.ndarray, np.float64, np.float32, _F64
    i = -1
    for arg, grow in zip(args, grows):
        i += 1
        try:
            res = fun(arg)
        except Exception as exc:
            raise OracleError(f"oracle raised {type(exc).__name__}: {exc} {_where(first_index, i, P[i])}") from exc
        if type(res) is not tuple or len(res) != 2:
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise OracleError(f"oracle must return a pair (f, g) {_where(first_index, i, P[i])}; it returned "
                                  f"{short_repr(res, 80)} of type {type(res).__name__}")
        f, g = res
        tf = type(f)
        if tf is float or tf is float64 or tf is float32 or (
                tf is ndarray and f.ndim == 0 and f.dtype.kind == "f"):
            F[i] = f
        else:
            try:
                F[i] = _as_value(f)
            except _BadValue as bad:
                raise OracleError(f"{bad} {_where(first_index, i, P[i])}") from None
        if type(g) is ndarray and (g.dtype is f64 or g.dtype.kind == "f") and g.shape == shape:
            grow[...] = g
        else:
            try:
                layout.flatten(g, "gradient", out=G[i])
            except (TypeError, ValueError) as exc:
                raise OracleError(f"{exc} {_where(first_index, i, P[i])}") from None


#: float64's dtype: identity with it is the cheapest test of a gradient's dtype (NumPy's
#: built-in dtypes are singletons; any other float dtype still passes the ``kind`` test).
_F64 = np.dtype(np.float64)

#: Elements per chunk of points built for a per-point oracle: small enough to stay in cache
#: (256 KiB), large enough that the kernel call is amortised over many points.
_POINT_CHUNK_ELEMENTS = 1 << 15


def _evaluate_perturbed_per_point(fun: Any, layout: ParamLayout, x: np.ndarray, sigma: float, U: np.ndarray,
                                  F: np.ndarray, G: np.ndarray, first_index: int, pbuf: Reusable) -> None:
    """Evaluate a per-point oracle at ``x + sigma * U[i]`` into ``F[i]``, ``G[i]``.

    The points are built a chunk of rows at a time by one kernel (`_ok.build_points`) into a
    buffer reused across chunks and steps (``pbuf``), so no ``(m, d)`` block of points is held
    and nothing is allocated per point. A point the oracle keeps is never overwritten: the
    buffer is reused only when nothing refers to it (see :class:`~numsmooth._buffers.Reusable`).
    """
    m, d = U.shape
    sigma = float(sigma)
    c = _POINT_CHUNK_ELEMENTS // d if d else m
    if m <= c:  # one chunk (d <= 330 at n = 100 points): no chunk loop
        P = pbuf.get((m, d))
        _ok.build_points(x, sigma, U, 0, P)
        _evaluate_per_point(fun, layout, P, F, G, first_index)
        return
    c = max(1, c)
    for lo in range(0, m, c):
        k = min(c, m - lo)
        P = pbuf.get((c, d))
        if k < c:
            P = P[:k]
        _ok.build_points(x, sigma, U, lo, P)
        _evaluate_per_point(fun, layout, P, F[lo:lo + k], G[lo:lo + k], first_index + lo)
        del P  # before the next get(): our own reference must not count as the oracle keeping it


class GradientParts:
    """A gradient as the arrays the user's function returned, made one flat vector only when
    somebody needs it so.

    A step whose first module reads the gradient once (Laplacian smoothing, or the copy that
    starts the update) reads the user's arrays directly and saves a pass over the whole
    gradient. The user's function may reuse its output arrays from call to call, so the oracle
    that made this flattens it before it calls the function again (see :meth:`Oracle._settle`).

    Parameters
    ----------
    parts : list of ndarray or None
        C-contiguous float64 arrays in the layout's shapes (None when ``flat`` is given).
    flat : ndarray or None
        The flat gradient, when it already is one.
    layout : ParamLayout
        Shapes and offsets of the parameters.
    buffer : callable or None
        Returns the flat float64 vector to flatten into (called once, when needed).
    """

    __slots__ = ("_parts", "_flat", "_layout", "_buffer", "_lock", "__weakref__")

    def __init__(self, parts: list[np.ndarray] | None, flat: np.ndarray | None, layout: ParamLayout,
                 buffer: Callable[[], np.ndarray] | None = None):
        self._parts = parts
        self._flat = flat
        self._layout = layout
        self._buffer = buffer
        self._lock = threading.Lock()

    @classmethod
    def of_flat(cls, g: np.ndarray, layout: ParamLayout) -> "GradientParts":
        """A gradient that already is one flat vector."""
        return cls(None, g, layout)

    def parts(self) -> list[np.ndarray] | None:
        """The user's arrays (C-contiguous float64, in the layout's shapes; do not modify), or
        None once the gradient has been made flat."""
        return self._parts

    def flat(self) -> np.ndarray:
        """The flat float64 gradient (made on first use; do not modify)."""
        if self._flat is None:
            with self._lock:  # the oracle may settle it from another thread
                if self._flat is None:
                    assert self._parts is not None and self._buffer is not None
                    self._flat = self._layout.gather(self._parts, self._buffer())
                    self._parts = None
        return self._flat


def _parts_of(layout: ParamLayout, g: Any) -> list[np.ndarray] | None:
    """The gradient ``g`` as a list of arrays that can be read in place (C-contiguous, in the
    layout's dtype and exactly its shapes), or None when it needs converting or checking."""
    if layout.single:
        parts = [g]
    elif type(g) is list or type(g) is tuple:
        parts = list(g)
        if len(parts) != len(layout.shapes):
            return None
    else:
        return None
    dtype = layout.dtype  # float64, or float32 for an optimizer keeping float32 parameters
    for p, shape in zip(parts, layout.shapes):
        if type(p) is not np.ndarray or p.dtype is not dtype or p.shape != shape or not p.flags.c_contiguous:
            return None
    return parts


def _where(first_index: int | None, i: int, point: np.ndarray) -> str:
    """``at sample k (x = [...])`` for error messages, or ``at x = [...]`` outside sampling."""
    text = np.array2string(point, threshold=6, edgeitems=2, precision=4)
    return f"at x = {text}" if first_index is None else f"at sample {first_index + i} (x = {text})"


def _jitted_kernels(fun: Any) -> Any:
    """The kernels that call the jitted oracle ``fun``; the first use checks its signature."""
    _check_can_run_here(fun)
    kernels = _ok.kernels_for(fun)
    if not getattr(kernels, "checked", False):
        _check_jitted_signature(fun, kernels)
        kernels.checked = True
    return kernels


def _check_written(fun: Any, written: np.ndarray, X: np.ndarray, first_index: int | None) -> None:
    """Raise unless the jitted oracle wrote every gradient (``written`` from the kernels)."""
    if written.all():
        return
    i = int(np.argmin(written))
    raise OracleError(
        f"the jitted oracle {getattr(fun, '__name__', fun)!r} did not write its gradient into g_out "
        f"{_where(first_index, i, X[i])}; it must fill g_out on every call (and return the value)")


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


def _check_jitted_signature(fun: Any, kernels: Any) -> None:
    """Compile one call ``fun(x, g_out)`` and check that it returns a real number."""
    if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        return  # plain Python: a wrong signature raises at the call, with the point named
    try:
        kernels.one.compile((numba.types.float64[::1], numba.types.float64[::1]))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OracleError(
            f"a jitted oracle must be fun(x, g_out) -> f: it receives the point x and a gradient "
            f"buffer g_out (flat float64 arrays), writes the gradient into g_out and returns the "
            f"value as a float; Numba could not compile {getattr(fun, '__name__', fun)!r} called "
            f"that way: {first}") from None
    ret = kernels.one.nopython_signatures[-1].return_type
    if not isinstance(ret, (numba.types.Float, numba.types.Integer)) or isinstance(ret, numba.types.Boolean):
        raise OracleError(f"a jitted oracle must return its value as a float; "
                          f"{getattr(fun, '__name__', fun)!r} returns {ret}")


def _raise_at_failing_row(fun: Any, X: np.ndarray, first_index: int | None, exc: Exception,
                          x0: np.ndarray | None = None) -> None:
    """A jitted oracle raised inside a kernel: find the first failing row, serially, so the
    error can name the sample (only runs after a failure). ``x0``: a point the kernel
    evaluated before the rows (the x0 term), tried first and named as the point itself."""
    g = np.empty(X.shape[1])
    if x0 is not None:
        try:
            _ok.kernels_for(fun).one(x0.copy(), g)
        except Exception as row_exc:
            raise OracleError(f"oracle raised {type(row_exc).__name__}: {row_exc} {_where(None, 0, x0)}") from row_exc
    for i in range(X.shape[0]):
        try:
            _ok.kernels_for(fun).one(X[i].copy(), g)
        except Exception as row_exc:
            raise OracleError(
                f"oracle raised {type(row_exc).__name__}: {row_exc} {_where(first_index, i, X[i])}"
            ) from row_exc
    raise OracleError(f"oracle raised {type(exc).__name__}: {exc}") from exc


def _evaluate_chunk(fun: Any, kind: str, layout: ParamLayout, X: np.ndarray,
                    first_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Worker-side evaluation of one chunk (the serial code path); returns ``(F, G)``."""
    F = np.empty(X.shape[0])
    G = np.empty_like(X)
    _evaluate_points_python(fun, kind, layout, X, F, G, first_index)
    return F, G


def default_chunksize(executor: Executor, m: int) -> int:
    """Rows per task: about ``tasks_per_worker`` tasks per worker, or ``ceil(m / default_tasks)``
    (knobs of :mod:`numsmooth.config`).

    ``concurrent.futures`` pools expose their size as ``_max_workers``; a
    ``dask.distributed`` executor does not (the cluster may grow or shrink), so it gets
    ``default_tasks`` tasks, enough to keep a few workers busy with some load balancing.
    Pass ``chunksize=`` to choose: large chunks for cheap oracles (less pickling and
    scheduling overhead), ``chunksize=1`` for oracles that take seconds per point.
    """
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool) and int(workers) > 0:
        tasks = config.get("tasks_per_worker") * int(workers)
    else:
        tasks = config.get("default_tasks")
    return max(1, math.ceil(m / int(tasks)))


def _samples(first: int, last: int, sampling: bool = True) -> str:
    if not sampling:
        return "x"
    return f"sample {first}" if first == last else f"samples {first}..{last}"


def _worker_error(exc: BaseException, first: int, last: int, sampling: bool = True) -> OracleError:
    hint = ""
    if isinstance(exc, (pickle.PicklingError, AttributeError, TypeError)) and "pickl" in str(exc).lower():
        hint = (" (the oracle is sent to the workers by pickling: define it at module level of an "
                "importable module, not as a lambda or a closure)")
    return OracleError(f"worker failed with {type(exc).__name__}: {exc} for {_samples(first, last, sampling)}{hint}")


def evaluate_on_executor(executor: Executor, chunksize: int | None, fun: Any, kind: str,
                         layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                         first_index: int | None) -> None:
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
    sampling = first_index is not None
    base = first_index or 0
    futures: list[Future[tuple[np.ndarray, np.ndarray]]] = []
    try:
        for s in starts:
            stop = min(s + size, m)
            try:
                futures.append(executor.submit(_evaluate_chunk, fun, kind, layout,
                                               np.ascontiguousarray(X[s:stop]),
                                               base + s if sampling else None))
            except Exception as exc:
                raise _worker_error(exc, base + s, base + stop - 1, sampling) from exc
        for s, fut in zip(starts, futures):
            stop = min(s + size, m)
            try:
                Fc, Gc = fut.result()
            except OracleError:
                raise
            except Exception as exc:
                raise _worker_error(exc, base + s, base + stop - 1, sampling) from exc
            F[s:stop] = Fc
            G[s:stop] = Gc
    finally:
        for fut in futures:
            fut.cancel()




@runtime_checkable
class OracleProtocol(Protocol):
    """What evaluates values and gradients: the user's wrapped function, an adapter around it,
    or the smoothed objective of a gradient-sampling step.

    Points are flat float64 vectors. ``executor`` and ``chunksize`` say where the points of a
    many-point call are evaluated (``None``: here); only an :class:`Oracle` acts on them,
    adapters pass them on.
    """

    layout: ParamLayout

    @property
    def num_evaluations(self) -> int:
        """Evaluations of the user's function made through this oracle."""

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and flat gradient at one point ``x`` (``x`` is not modified)."""

    def value(self, x: np.ndarray) -> float:
        """Value at one point."""

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        """Evaluate at every row of ``X`` (C-contiguous ``(m, d)``) into ``F`` (m,) and ``G`` (m, d).

        Errors name sample ``first_index + i`` (or the point alone when ``first_index`` is None).
        """

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        """Evaluate at ``x + sigma * U[i]`` into rows ``offset + i`` of ``F`` and ``G``; errors
        name sample ``sample_base + offset + i``."""


class OracleBase:
    """An oracle that knows one point: the many-point methods call :meth:`evaluate` per row.

    Subclasses set ``layout`` and implement :meth:`evaluate` and ``num_evaluations``.
    """

    layout: ParamLayout

    @property
    def num_evaluations(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, x: np.ndarray) -> float:
        return self.evaluate(x)[0]

    def evaluate_parts(self, x: np.ndarray, arg: Any = None) -> tuple[float, GradientParts]:
        """:meth:`evaluate` with the gradient as :class:`GradientParts` (here always flat; the
        user's :class:`Oracle` keeps the arrays its function returned, and hands ``arg`` to its
        function instead of a copy of ``x`` when given)."""
        f, g = self.evaluate(x)
        return f, GradientParts.of_flat(g, self.layout)

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        for i in range(X.shape[0]):
            F[i], G[i] = self.evaluate(X[i])

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        m = U.shape[0]
        self.evaluate_points(x + sigma * U, F[offset:offset + m], G[offset:offset + m],
                             sample_base + offset, executor, chunksize)

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        """Whether :meth:`fold_perturbed` works here (with this executor): only the user's
        jitted oracles, evaluated in this process, fold; callers fall back to
        :meth:`evaluate_perturbed` and an aggregate over the gradient block otherwise."""
        return False

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        """Evaluate at ``x + sigma * U[i]``, write the values to ``F[offset + i]`` and fold each
        gradient, as sample ``offset + i``, into the streaming aggregate ``(acc, state)`` of
        ``numsmooth._kernels.aggregate`` with aggregate ``code``; no gradient block is kept.

        ``start``: reset the accumulator first, then fold this x0 gradient (value ``F[0]``) as
        sample 0 unless it is empty. ``x0_out``: instead of ``start``, evaluate the x0 term here
        first (``F[0]``, gradient into ``x0_out``), reset and fold it. ``finish``: finalize
        ``acc`` in place and return the aggregated value (else nan). Errors name sample
        ``offset + i``, and the point itself for the x0 term. Only when :meth:`folds_perturbed`
        says so."""
        raise NotImplementedError(f"{type(self).__name__} does not fold gradients; check folds_perturbed() first")


class ForwardingOracle(OracleBase):
    """Forward everything to ``base``; adapters override only what they change."""

    def __init__(self, base: OracleProtocol):
        self.base = base
        self.layout = base.layout

    @property
    def num_evaluations(self) -> int:
        return int(self.base.num_evaluations)

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.base.evaluate(x)

    def value(self, x: np.ndarray) -> float:
        return self.base.value(x)

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        self.base.evaluate_points(X, F, G, first_index, executor, chunksize)

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        self.base.evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        fold = getattr(self.base, "folds_perturbed", None)  # an oracle may predate the method
        return bool(fold(executor)) if fold is not None else False

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        return float(self.base.fold_perturbed(  # type: ignore[attr-defined]
            x, sigma, U, F, offset, code, acc, state, start=start, finish=finish, x0_out=x0_out))


class GradientTransformOracle(ForwardingOracle):
    """The oracle ``base`` with every gradient passed through ``fn`` (values unchanged)."""

    def __init__(self, base: OracleProtocol, fn: Callable[[np.ndarray], np.ndarray]):
        super().__init__(base)
        self.fn = fn

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.base.evaluate(x)
        return f, self.fn(g)

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        self.base.evaluate_points(X, F, G, first_index, executor, chunksize)
        for i in range(X.shape[0]):
            G[i] = self.fn(G[i])

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        self.base.evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)
        for i in range(offset, offset + U.shape[0]):
            G[i] = self.fn(G[i])

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        return False  # the base would fold untransformed gradients: callers take the block path


class Oracle(OracleBase):
    """The user's value-and-gradient function, wrapped for many-point evaluation.

    Parameters
    ----------
    fun : callable
        Per-point ``fun(x) -> (f, g)``, :class:`batched` ``fun(X) -> (F, G)``, or a Numba
        ``@njit`` function ``fun(x, g_out) -> f`` (detected automatically; it receives flat
        float64 vectors).
    layout : ParamLayout
        Shapes of the parameters (per-point oracles receive them in these shapes).

    Notes
    -----
    ``num_evaluations`` counts every point evaluated, including those that raised. Evaluating
    from several threads at once is safe; the count is then approximate only if two calls
    update it at the same instant (the GIL makes each ``+=`` of one call atomic in CPython).
    """

    def __init__(self, fun: Any, layout: ParamLayout):
        self.kind = _oracle_kind(fun)
        self.fun = fun
        self.layout = layout
        self._count = 0
        # the point handed to the function and the gradient returned by evaluate(): reused
        # from call to call unless the caller (or the user's function) kept them
        self._xbuf = Reusable()
        self._gbuf = Reusable()
        # the chunk of perturbed points handed to a per-point function, likewise
        self._pbuf = Reusable()
        # scratch of fold_perturbed: the point and gradient, or a chunk of gradients
        self._fold_buf = Reusable()
        #: The last GradientParts handed out still holding the user's arrays (a weak reference).
        self._outstanding: Callable[[], GradientParts | None] = _nothing
        #: (process id, kernels) of a jitted oracle: looked up and checked once per process, not
        #: once per call (the lookup hashes the dispatcher and re-checks fork safety, ~1 us)
        self._kernel_cache: tuple[int, Any] | None = None

    def _kernels(self) -> Any:
        """The kernels of this jitted oracle (see `_jitted_kernels`), cached for this process."""
        cached = self._kernel_cache
        pid = os.getpid()
        if cached is None or cached[0] != pid:
            cached = self._kernel_cache = (pid, _jitted_kernels(self.fun))
        return cached[1]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_kernel_cache"] = None  # compiled kernels do not pickle; looked up again on use
        state["_outstanding"] = _nothing  # a weak reference does not pickle either
        return state

    def _settle(self) -> None:
        """Flatten the gradient last handed out as the user's arrays, if somebody still holds
        it, before the user's function runs again and perhaps overwrites those arrays."""
        parts = self._outstanding()
        if parts is not None:
            self._outstanding = _nothing
            parts.flat()

    @property
    def num_evaluations(self) -> int:
        return self._count

    # -- many points ------------------------------------------------------------------------
    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        m = X.shape[0]
        if m == 0:
            return
        self._settle()
        self._count += m
        if executor is not None:
            evaluate_on_executor(executor, chunksize, self.fun, self.kind, self.layout, X, F, G, first_index)
        else:
            _evaluate_points_python(self.fun, self.kind, self.layout, X, F, G, first_index)

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        m = U.shape[0]
        if m == 0:
            return
        self._settle()
        if executor is None and self.kind == "jitted":
            self._count += m
            kernels = self._kernels()
            kernel = (kernels.perturbed_parallel if use_parallel(U.size, "oracle_parallel_min_elements")
                      else kernels.perturbed)
            written = np.empty(m, dtype=np.bool_)
            try:
                kernel(x, float(sigma), U, F, G, offset, written)
            except Exception as exc:
                _raise_at_failing_row(self.fun, x + sigma * U, sample_base + offset, exc)
            if not written.all():
                _check_written(self.fun, written, x + sigma * U, sample_base + offset)
            return
        if executor is None and self.kind == "point":
            # points built a chunk at a time just before their calls: no (m, d) block of points
            self._count += m
            _evaluate_perturbed_per_point(self.fun, self.layout, x, sigma, U, F[offset:], G[offset:],
                                          sample_base + offset, self._pbuf)
            return
        super().evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        return executor is None and self.kind == "jitted"

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        if not self.folds_perturbed():
            raise TypeError(f"only a jitted oracle evaluated here folds gradients; this one is {self.kind!r}")
        m, d = U.shape
        if x0_out is not None and offset < 1:
            raise ValueError(f"x0_out needs offset >= 1 (F[0] is the x0 term); got offset={offset}")
        self._settle()
        self._count += m if x0_out is None else m + 1
        kernels = self._kernels()
        flags = (0 if start is None and x0_out is None else _ok.START) | (_ok.FINISH if finish else 0)
        if x0_out is not None:
            flags |= _ok.EVAL_X0
            g0 = x0_out
        else:
            g0 = _NO_ROW if start is None else start
        sigma = float(sigma)
        try:
            if use_parallel(U.size, "oracle_parallel_min_elements"):
                # chunks of points in flight: at least a few per thread, at most about
                # stream_chunk_elements gradients at a time
                c = max(1, min(m, max(4, config.get("stream_chunk_elements") // d)))
                scratch = self._fold_buf.get((c, d))
                bad, f = kernels.fold_parallel(x, sigma, U, F, offset, code, acc, state, scratch,
                                               np.empty(c, dtype=np.bool_), g0, flags)
            else:
                scratch = self._fold_buf.get((2, d))
                bad, f = kernels.fold(x, sigma, U, F, offset, code, acc, state, scratch[0], scratch[1], g0, flags)
        except Exception as exc:
            _raise_at_failing_row(self.fun, x + sigma * U, offset, exc, x0=x if x0_out is not None else None)
        if bad == _ok.X0_UNWRITTEN:
            _check_written(self.fun, np.zeros(1, dtype=np.bool_), x.reshape(1, -1), None)
        if bad >= 0:
            _check_written(self.fun, np.zeros(1, dtype=np.bool_), (x + sigma * U[bad])[None], offset + bad)
        return float(f)

    # -- one point -------------------------------------------------------------------------
    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self._settle()
        shape = (1, self.layout.size)
        G = self._gbuf.get(shape)
        if (self.kind == "jitted" and type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == 1
                and x.flags.c_contiguous and x.shape[0] == shape[1]):
            # the common case in one dispatch: copy, call, check that g_out was written
            self._count += 1
            kernels = self._kernels()
            try:
                f, ok = kernels.call_copy(x, self._xbuf.get(shape)[0], G[0])
            except Exception as exc:
                _raise_at_failing_row(self.fun, x.reshape(1, -1), None, exc)
            if not ok:
                _check_written(self.fun, np.zeros(1, dtype=np.bool_), x.reshape(1, -1), None)
            return float(f), G[0]
        X = self._xbuf.get(shape)
        _passes.copy(X[0], x)
        if self.kind == "jitted":
            self._count += 1
            kernels = self._kernels()
            written = np.empty(1, dtype=np.bool_)
            try:
                f, written[0] = kernels.call(X[0], G[0])
            except Exception as exc:
                _raise_at_failing_row(self.fun, x.reshape(1, -1), None, exc)
            _check_written(self.fun, written, x.reshape(1, -1), None)
            return float(f), G[0]
        F = np.empty(1)
        self.evaluate_points(X, F, G, None)
        return float(F[0]), G[0]

    def evaluate_parts(self, x: np.ndarray, arg: Any = None) -> tuple[float, GradientParts]:
        """:meth:`evaluate`, the gradient kept as the user's arrays while they can be read in
        place (a per-point function returning C-contiguous float64 arrays of the right shapes);
        checked as strictly, with the same errors. ``arg``: what to hand to a per-point function
        instead of a copy of ``x`` (the caller's guarantee: it holds the values of ``x``, in the
        parameters' shapes)."""
        if self.kind != "point":
            f, g = self.evaluate(x)
            return f, GradientParts.of_flat(g, self.layout)
        self._settle()
        layout = self.layout
        if arg is None:
            X = self._xbuf.get((1, layout.size))
            _passes.copy(X[0], x)
            arg = X[0] if layout.single and layout.shapes[0] == (layout.size,) else layout.unflatten(X[0])
        else:
            X = x.reshape(1, -1)  # only for messages
        self._count += 1
        raised: Exception | None = None
        try:
            res = self.fun(arg)
        except Exception as exc:
            res, raised = None, exc
        else:
            if type(res) is tuple and len(res) == 2:
                f, g = res
                tf = type(f)
                if tf is float or tf is np.float64 or tf is np.float32 or (
                        tf is np.ndarray and f.ndim == 0 and f.dtype.kind == "f"):
                    parts = _parts_of(layout, g)
                    if parts is not None:
                        gbuf = self._gbuf
                        lazy = GradientParts(parts, None, layout, lambda: gbuf.get((1, layout.size), layout.dtype)[0])
                        self._outstanding = weakref.ref(lazy)
                        return float(f), lazy

        def replay(_: Any) -> Any:  # anything else: the per-point checks and their messages
            if raised is not None:
                raise raised
            return res

        F = np.empty(1)
        G = self._gbuf.get((1, layout.size))
        _evaluate_per_point(replay, layout, X, F, G, None)
        return float(F[0]), GradientParts.of_flat(G[0], layout)


#: The empty x0 gradient of fold_perturbed's kernels (no x0 term to fold).
_NO_ROW = np.empty(0)  # writable: a read-only array would compile the kernels once more


def _nothing() -> None:
    return None


def make_oracle(fun: Any, layout: ParamLayout) -> Oracle:
    """Wrap ``fun`` (or return it when it already is an :class:`Oracle`)."""
    if isinstance(fun, Oracle):
        return fun
    return Oracle(fun, layout)
