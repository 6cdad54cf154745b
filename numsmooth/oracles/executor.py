"""Evaluation of many points on an executor (process pool, Dask, MPI), for every oracle kind:
chunks of rows evaluated in the workers by the kind's own row function, so the numbers are the
bits of a serial run."""

from __future__ import annotations

import math
import numbers
import pickle
from concurrent.futures import Executor, Future
from typing import Any, Callable

import numpy as np

from .. import config
from .._layout import ParamLayout
from .errors import OracleError

__all__ = ["Tally", "RowFunction", "evaluate_on_executor", "default_chunksize"]


class Tally:
    """A count of calls of the user's function, shared by an oracle and its row functions."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


#: ``rows(fun, layout, X, F, G, first_index, tally)``: evaluate ``fun`` at the rows of ``X``
#: into ``F``, ``G``, adding the calls made to ``tally`` (also when it raises part way). A
#: module-level function, so it pickles by name and a worker runs the same code.
RowFunction = Callable[[Any, ParamLayout, np.ndarray, np.ndarray, np.ndarray, "int | None", Tally], None]


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


#: What a worker returns: the chunk's values and gradients, the calls it made, and the error
#: that stopped it (returned rather than raised, so the calls made before it are counted).
ChunkResult = tuple[np.ndarray, np.ndarray, int, "OracleError | None"]


def _evaluate_chunk(rows: RowFunction, fun: Any, layout: ParamLayout, X: np.ndarray,
                    first_index: int | None) -> ChunkResult:
    """Worker-side evaluation of one chunk with the kind's row function."""
    F = np.empty(X.shape[0])
    G = np.empty_like(X)
    tally = Tally()
    try:
        rows(fun, layout, X, F, G, first_index, tally)
    except OracleError as exc:
        return F, G, tally.n, exc
    return F, G, tally.n, None


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


def evaluate_on_executor(executor: Executor, chunksize: int | None, rows: RowFunction, fun: Any,
                         layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                         first_index: int | None, tally: Tally) -> None:
    """Evaluate the rows of ``X`` on ``executor`` in chunks; results land in ``F``, ``G`` in row order.

    Every chunk is evaluated by ``rows`` in a worker with the same code as the serial path, so
    the numbers are bit-identical to a serial run. A failure (the oracle raising, a bad result, a
    dead worker, an oracle that does not pickle) raises :class:`OracleError` naming the samples;
    the tasks not started are cancelled, those already running are waited for, and ``F``, ``G``
    are left partly written (the callers discard them). ``tally`` receives the calls the
    workers made: every row of a finished chunk, the rows a failing chunk got through (the
    failing one included), none for a chunk whose worker died.
    """
    m = X.shape[0]
    size = default_chunksize(executor, m) if chunksize is None else int(chunksize)
    starts = list(range(0, m, size))
    sampling = first_index is not None
    base = first_index or 0
    futures: list[Future[ChunkResult]] = []
    done = 0  # futures whose calls are counted
    try:
        for s in starts:
            stop = min(s + size, m)
            try:
                futures.append(executor.submit(_evaluate_chunk, rows, fun, layout, np.ascontiguousarray(X[s:stop]),
                                               base + s if sampling else None))
            except Exception as exc:
                raise _worker_error(exc, base + s, base + stop - 1, sampling) from exc
        for s, fut in zip(starts, futures):
            stop = min(s + size, m)
            try:
                Fc, Gc, calls, error = fut.result()
            except Exception as exc:
                raise _worker_error(exc, base + s, base + stop - 1, sampling) from exc
            finally:
                done += 1
            tally.n += calls
            if error is not None:
                raise error
            F[s:stop] = Fc
            G[s:stop] = Gc
    except BaseException as exc:
        for fut in futures[done:]:
            # running or finished: wait for it and count its calls (not on an interrupt)
            if not fut.cancel() and isinstance(exc, Exception):
                try:
                    tally.n += fut.result()[2]
                except Exception:
                    pass
        raise
