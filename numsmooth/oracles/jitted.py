"""Numba-jitted functions ``fun(x, g_out) -> f``: :class:`JittedOracle`, which evaluates every
point inside compiled kernels (`numsmooth._kernels.oracles`) and folds gradients into the
aggregate there; the checks of the function's signature and of what it wrote.

When a kernel raises, the calls it made are counted as far as they are knowable: a serial
kernel made the calls up to the failing point (found by evaluating again, serially, the points
it was given, which also names that point in the error; those diagnostic calls are not
counted); a parallel one made at least the calls that returned, plus the failing one (other
threads may have been part way through more).
"""

from __future__ import annotations

import inspect
import os
from concurrent.futures import Executor
from typing import Any, Callable

import numba
import numpy as np

from .._buffers import Reusable
from .._kernels import oracles as _ok
from .._layout import ParamLayout
from .._parallel import pick, threads_launched_in_parent, use_parallel
from .. import config
from .base import Oracle
from .errors import OracleError, where
from .executor import Tally

__all__ = ["JittedOracle", "evaluate_jitted_rows", "jit_disabled", "takes_two_arguments"]


def jit_disabled() -> bool:
    """Whether Numba runs functions as plain Python (``NUMBA_DISABLE_JIT=1``)."""
    return bool(numba.config.__dict__.get("DISABLE_JIT", False))


def takes_two_arguments(fun: Any) -> bool:
    """Whether ``fun`` takes exactly two positional arguments without defaults."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2 and all(p.default is p.empty for p in positional)


def _name(fun: Any) -> str:
    return repr(getattr(fun, "__name__", fun))


def jitted_kernels(fun: Any) -> Any:
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
    try:  # a call that raised on one of Numba's threads leaves its gradient unwritten too
        _ok.kernels_for(fun).one(X[i].copy(), np.empty(X.shape[1]))
    except Exception as exc:
        raise OracleError(f"oracle raised {type(exc).__name__}: {exc} {where(first_index, i, X[i])}") from exc
    raise OracleError(
        f"the jitted oracle {_name(fun)} did not write its gradient into g_out "
        f"{where(first_index, i, X[i])}; it must fill g_out on every call (and return the value)")


def _check_can_run_here(fun: Any) -> None:
    """A ``parallel=True`` jitted oracle cannot run in a process forked from one that launched
    Numba's threads (GNU OpenMP would kill it): say so at once, and what to do."""
    if getattr(fun, "targetoptions", {}).get("parallel") and threads_launched_in_parent():
        raise OracleError(
            f"the jitted oracle {_name(fun)} is compiled with parallel=True and "
            "this process was forked from one that already runs Numba threads, where GNU OpenMP "
            "cannot start a parallel region; use a process pool with a 'spawn' or 'forkserver' "
            "context, e.g. ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))"
        )


#: What a jitted oracle must look like, for the errors that say it does not.
_SHAPE = ("a jitted oracle must be fun(x, g_out) -> f: it receives the point x and a gradient buffer "
          "g_out, both flat float64 arrays of the same length, writes the gradient into g_out and returns "
          "the value as a float")


def _numba_detail(exc: BaseException) -> str:
    """The informative lines of a Numba typing error: not its pipeline banner, not its
    'During: ...' trail, not the source excerpt it quotes."""
    keep = []
    for line in str(exc).splitlines():
        text = line.strip()
        if (not text or text.startswith(("Failed in ", "During:", "File ", "^", "<source", "- Resolution failure",
                                         "[1]", "[2]", "[3]", "Rewrite failed", "This error may"))
                or text.startswith(">") or text[:1].isdigit() and ":" in text[:6]):
            continue
        keep.append(text)
        if len(keep) == 2:
            break
    return " ".join(keep) if keep else type(exc).__name__


def _check_jitted_signature(fun: Any, kernels: Any) -> None:
    """Compile one call ``fun(x, g_out)`` and check that it returns a real number."""
    if jit_disabled():
        return  # plain Python: a wrong signature raises at the call, with the point named
    py = getattr(fun, "py_func", None)
    if py is not None and not takes_two_arguments(py):
        try:
            text = f"{fun.__name__}{inspect.signature(py)}"
        except (TypeError, ValueError):
            text = _name(fun)
        raise OracleError(f"{_SHAPE}; {text} does not take two arguments (x, g_out)")
    try:
        kernels.one.compile((numba.types.float64[::1], numba.types.float64[::1]))
    except Exception as exc:
        raise OracleError(f"{_SHAPE}; Numba could not compile {_name(fun)} called as fun(x, g_out) with two "
                          f"flat float64 arrays: {_numba_detail(exc)}") from None
    ret = kernels.one.nopython_signatures[-1].return_type
    if not isinstance(ret, (numba.types.Float, numba.types.Integer)) or isinstance(ret, numba.types.Boolean):
        raise OracleError(f"a jitted oracle must return its value as a float; {_name(fun)} returns {ret} "
                          f"({_SHAPE})")


def _raise_at_failing_row(fun: Any, X: np.ndarray, first_index: int | None, exc: Exception,
                          count: Callable[[int | None], None], x0: np.ndarray | None = None) -> None:
    """A jitted oracle raised inside a kernel: find the first failing row, serially, so the
    error can name the sample (only runs after a failure), and tell ``count`` which (-1: the
    point ``x0`` the kernel evaluated before the rows, named as the point itself; None: none
    fails on its own)."""
    g = np.empty(X.shape[1])
    one = _ok.kernels_for(fun).one
    if x0 is not None:
        try:
            one(x0.copy(), g)
        except Exception as row_exc:
            count(-1)
            raise OracleError(f"oracle raised {type(row_exc).__name__}: {row_exc} {where(None, 0, x0)}") from row_exc
    for i in range(X.shape[0]):
        try:
            one(X[i].copy(), g)
        except Exception as row_exc:
            count(i)
            raise OracleError(
                f"oracle raised {type(row_exc).__name__}: {row_exc} {where(first_index, i, X[i])}"
            ) from row_exc
    count(None)
    raise OracleError(f"oracle raised {type(exc).__name__}: {exc}") from exc


def _rows_count(tally: Tally, m: int, parallel: bool, written: np.ndarray) -> Callable[[int | None], None]:
    """What `_raise_at_failing_row` counts after `rows` or `perturbed` raised (``written`` was
    zeroed before the kernel ran)."""
    def count(i: int | None) -> None:
        if parallel or i is None:
            tally.n += min(m, int(np.count_nonzero(written)) + 1)
        else:
            tally.n += i + 1
    return count


def evaluate_jitted_rows(fun: Any, layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                         first_index: int | None, tally: Tally) -> None:
    """The jitted ``fun`` at every row of ``X`` in one kernel call."""
    m = X.shape[0]
    kernels = jitted_kernels(fun)
    parallel = use_parallel(X.size, "oracle_parallel_min_elements")
    written = np.zeros(m, dtype=np.bool_)
    try:
        pick(kernels.rows, X.size, parallel=parallel)(X, F, G, written)
    except Exception as exc:
        _raise_at_failing_row(fun, X, first_index, exc, _rows_count(tally, m, parallel, written))
    tally.n += m
    _check_written(fun, written, X, first_index)


#: The empty x0 gradient of fold_perturbed's kernels (no x0 term to fold).
_NO_ROW = np.empty(0)  # writable: a read-only array would compile the kernels once more


class JittedOracle(Oracle):
    """A Numba function ``fun(x, g_out) -> f``: points are built, evaluated and (without an
    executor) folded into the aggregate inside compiled kernels."""

    kind = "jitted"
    rows = staticmethod(evaluate_jitted_rows)

    def __init__(self, fun: Any, layout: ParamLayout):
        super().__init__(fun, layout)
        # scratch of fold_perturbed: the point and gradient, or a chunk of gradients
        self._fold_buf = Reusable()
        #: (process id, kernels): looked up and checked once per process, not once per call
        #: (the lookup hashes the dispatcher and re-checks fork safety, ~1 us)
        self._kernel_cache: tuple[int, Any] | None = None

    def _kernels(self) -> Any:
        """The kernels of this oracle (see `jitted_kernels`), cached for this process."""
        cached = self._kernel_cache
        pid = os.getpid()
        if cached is None or cached[0] != pid:
            cached = self._kernel_cache = (pid, jitted_kernels(self.fun))
        return cached[1]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_kernel_cache"] = None  # compiled kernels do not pickle; looked up again on use
        return state

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        shape = (1, self.layout.size)
        if not (type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == 1 and x.flags.c_contiguous
                and x.shape[0] == shape[1]):
            return super().evaluate(x)
        # the common case in one dispatch: copy, call, check that g_out was written
        G = self._gbuf.get(shape)
        self._tally.n += 1
        kernels = self._kernels()
        try:
            f, ok = kernels.call_copy(x, self._xbuf.get(shape)[0], G[0])
        except Exception as exc:
            _raise_at_failing_row(self.fun, x.reshape(1, -1), None, exc, _ignore)
        if not ok:
            _check_written(self.fun, np.zeros(1, dtype=np.bool_), x.reshape(1, -1), None)
        return float(f), G[0]

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        m = U.shape[0]
        if m == 0:
            return
        if executor is not None:
            super().evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)
            return
        kernels = self._kernels()
        parallel = use_parallel(U.size, "oracle_parallel_min_elements")
        written = np.zeros(m, dtype=np.bool_)
        try:
            pick(kernels.perturbed, U.size, parallel=parallel)(x, float(sigma), U, F, G, offset, written)
        except Exception as exc:
            _raise_at_failing_row(self.fun, x + sigma * U, sample_base + offset, exc,
                                  _rows_count(self._tally, m, parallel, written))
        self._tally.n += m
        if not written.all():
            _check_written(self.fun, written, x + sigma * U, sample_base + offset)

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        return executor is None

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        m, d = U.shape
        if x0_out is not None and offset < 1:
            raise ValueError(f"x0_out needs offset >= 1 (F[0] is the x0 term); got offset={offset}")
        kernels = self._kernels()
        flags = (0 if start is None and x0_out is None else _ok.START) | (_ok.FINISH if finish else 0)
        if x0_out is not None:
            flags |= _ok.EVAL_X0
            g0 = x0_out
        else:
            g0 = _NO_ROW if start is None else start
        sigma = float(sigma)
        k0 = int(x0_out is not None)  # calls before the rows
        parallel = use_parallel(U.size, "oracle_parallel_min_elements")
        # rows evaluated at once: in parallel, chunks of at least a few points per thread and at
        # most about stream_chunk_elements gradients; serially one (each gradient is folded
        # while it is in cache)
        c = max(1, min(m, max(4, config.get("stream_chunk_elements") // d))) if parallel else 1
        try:
            scratch = self._fold_buf.get((2 * c, d))  # the chunk's points, then its gradients
            bad, f = pick(kernels.fold, U.size, parallel=parallel)(
                x, sigma, U, F, offset, code, acc, state, scratch[:c], scratch[c:],
                np.zeros(c, dtype=np.bool_), g0, flags)
        except Exception as exc:
            def count(i: int | None) -> None:
                # the rows before the failing one's chunk, and the failing one (parallel: a
                # lower bound, the other rows of its chunk may have been called too)
                self._tally.n += k0 + m if i is None else (1 if i < 0 else k0 + (i // c) * c + 1)
            _raise_at_failing_row(self.fun, x + sigma * U, offset, exc, count, x0=x if x0_out is not None else None)
        if bad == _ok.X0_UNWRITTEN:
            self._tally.n += 1
            _check_written(self.fun, np.zeros(1, dtype=np.bool_), x.reshape(1, -1), None)
        if bad >= 0:  # the kernel stopped after the chunk of the row whose gradient is missing
            self._tally.n += k0 + min(m, (bad // c + 1) * c)
            _check_written(self.fun, np.zeros(1, dtype=np.bool_), (x + sigma * U[bad])[None], offset + bad)
        self._tally.n += k0 + m
        return float(f)


def _ignore(_: int | None) -> None:
    """A single call counts itself before it runs."""
