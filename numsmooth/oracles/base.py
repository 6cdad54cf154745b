"""The user's function wrapped: :class:`Oracle`, the base of one class per kind of function
(per point, batched, jitted; see :func:`~numsmooth.oracles.make_oracle`).

The base holds what every kind shares: the count of calls, the buffers reused from call to
call, the gradient last handed out as the user's own arrays, and the route of a many-point
call to an executor. A kind supplies its row function (the rows of a block of points, here or in
a worker) and overrides the paths it makes faster.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable, ClassVar

import numpy as np

from .._buffers import Reusable
from .._layout import ParamLayout
from .. import _passes
from .executor import Tally, evaluate_on_executor
from .parts import GradientParts
from .protocol import OracleBase

__all__ = ["Oracle"]


def _nothing() -> None:
    return None


class Oracle(OracleBase):
    """The user's value-and-gradient function, wrapped for many-point evaluation.

    Made by :func:`~numsmooth.oracles.make_oracle`, which picks the class of the function's
    kind: :class:`~numsmooth.oracles.PointOracle` (``fun(x) -> (f, g)``),
    :class:`~numsmooth.oracles.BatchedOracle` (:func:`~numsmooth.batched` ``fun(X) -> (F, G)``)
    or :class:`~numsmooth.oracles.JittedOracle` (Numba ``fun(x, g_out) -> f``). Each implements
    the whole :class:`~numsmooth.OracleProtocol`; with an ``executor``, the many-point methods
    of every kind send chunks of rows to it.

    Parameters
    ----------
    fun : callable
        The user's function.
    layout : ParamLayout
        Shapes of the parameters (per-point functions receive them in these shapes).

    Notes
    -----
    ``num_evaluations`` counts the calls of ``fun`` made (every point of a batched call), also
    when a call fails part way. Evaluating from several threads at once is safe; the count is
    then approximate only if two calls update it at the same instant (the GIL makes each
    ``+=`` of one call atomic in CPython).
    """

    #: 'point', 'batched' or 'jitted'
    kind: ClassVar[str]
    @staticmethod
    def rows(fun: Any, layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
             first_index: int | None, tally: Tally) -> None:  # pragma: no cover - abstract
        """Evaluate a block of points, here or in an executor's worker (a `RowFunction`: each
        kind sets its module-level function, which pickles by name)."""
        raise NotImplementedError

    def __init__(self, fun: Any, layout: ParamLayout):
        if type(self) is Oracle:
            raise TypeError("Oracle is the base of one class per kind of function; wrap a function with "
                            "numsmooth.oracles.make_oracle(fun, layout), which picks the class")
        self.fun = fun
        self.layout = layout
        self._tally = Tally()
        # the point handed to the function and the gradient returned by evaluate(): reused
        # from call to call unless the caller (or the user's function) kept them
        self._xbuf = Reusable()
        self._gbuf = Reusable()
        #: The last GradientParts handed out still holding the user's arrays (a weak reference).
        self._outstanding: Callable[[], GradientParts | None] = _nothing

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_outstanding"] = _nothing  # a weak reference does not pickle
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
        return self._tally.n

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Executor | None = None, chunksize: int | None = None) -> None:
        if X.shape[0] == 0:
            return
        self._settle()
        rows = type(self).rows
        if executor is not None:
            evaluate_on_executor(executor, chunksize, rows, self.fun, self.layout, X, F, G, first_index, self._tally)
        else:
            rows(self.fun, self.layout, X, F, G, first_index, self._tally)

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        shape = (1, self.layout.size)
        X = self._xbuf.get(shape)
        _passes.copy(X[0], x)
        G = self._gbuf.get(shape)
        F = np.empty(1)
        self.evaluate_points(X, F, G, None)
        return float(F[0]), G[0]
