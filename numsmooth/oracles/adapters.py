"""Adapters: :class:`ForwardingOracle` forwards the whole protocol to another oracle, so an
adapter overrides only what it changes (:class:`GradientTransformOracle`, the optimizer's
counting oracle)."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Callable

import numpy as np

from .protocol import OracleBase, OracleProtocol

__all__ = ["ForwardingOracle", "GradientTransformOracle"]


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
        return self.base.folds_perturbed(executor)

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        return self.base.fold_perturbed(x, sigma, U, F, offset, code, acc, state, start=start, finish=finish,
                                        x0_out=x0_out)


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

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        return OracleBase.fold_perturbed(self, x, sigma, U, F, offset, code, acc, state, start=start,
                                         finish=finish, x0_out=x0_out)
