"""Batched functions ``fun(X) -> (F, G)``: the :class:`batched` marker and :class:`BatchedOracle`."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._layout import ParamLayout
from .base import Oracle
from .errors import OracleError
from .executor import Tally

__all__ = ["batched", "BatchedOracle", "evaluate_batched_rows"]


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


def evaluate_batched_rows(fun: Any, layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                          first_index: int | None, tally: Tally) -> None:
    """One call of the batched ``fun`` at the rows of ``X``, its result checked. Every row counts
    as evaluated, whatever the call did with it: numsmooth cannot see inside it."""
    m = X.shape[0]
    where = " at x" if first_index is None else f" for samples {first_index}..{first_index + m - 1}"
    tally.n += m
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


class BatchedOracle(Oracle):
    """A :class:`batched` function: every many-point call is one call of it (or one per chunk on
    an executor); one point is a batch of one."""

    kind = "batched"
    rows = staticmethod(evaluate_batched_rows)
