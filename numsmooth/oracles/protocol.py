"""The oracle protocol, whole: :class:`OracleProtocol`, and :class:`OracleBase`, which gives its
many-point methods to an oracle that only knows one point."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._layout import ParamLayout
from .parts import GradientParts

__all__ = ["OracleProtocol", "OracleBase"]


@runtime_checkable
class OracleProtocol(Protocol):
    """What evaluates values and gradients: the user's wrapped function, an adapter around it,
    or the smoothed objective of a gradient-sampling step.

    Points are flat float64 vectors. ``executor`` and ``chunksize`` say where the points of a
    many-point call are evaluated (``None``: here); only the user's wrapped function
    (:class:`~numsmooth.oracles.Oracle`) acts on them, adapters pass them on. The fast paths
    (:meth:`evaluate_parts`, :meth:`folds_perturbed`, :meth:`fold_perturbed`) are part of the
    protocol: :class:`OracleBase` gives every oracle their plain versions.
    """

    layout: ParamLayout

    @property
    def num_evaluations(self) -> int:
        """Calls of the user's function made through this oracle (every point of a many-point
        call counts; a call that fails part way counts the points it evaluated)."""

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and flat gradient at one point ``x`` (``x`` is not modified)."""

    def value(self, x: np.ndarray) -> float:
        """Value at one point."""

    def evaluate_parts(self, x: np.ndarray, arg: Any = None) -> tuple[float, GradientParts]:
        """:meth:`evaluate` with the gradient as :class:`~numsmooth.oracles.GradientParts`: the
        user's arrays while they can be read in place. ``arg``: what to hand to a per-point
        function instead of a copy of ``x`` (the caller's guarantee: it holds the values of
        ``x``, in the parameters' shapes); others ignore it."""

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

    def folds_perturbed(self, executor: Executor | None = None) -> bool:
        """Whether :meth:`fold_perturbed` works here (with this executor)."""

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


class OracleBase:
    """An oracle that knows one point: the many-point methods call :meth:`evaluate` per row,
    the gradient is always flat, and nothing folds.

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
        """Only the user's jitted oracles, evaluated in this process, fold; callers fall back to
        :meth:`evaluate_perturbed` and an aggregate over the gradient block otherwise."""
        return False

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        raise TypeError(f"{type(self).__name__} does not fold gradients; check folds_perturbed() first")
