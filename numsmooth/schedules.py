"""Schedules: hyperparameter values as functions of the step, ``step -> value``.

Every step size and smoothing strength of the modules (``LR(lr)``, ``Adam(lr)``,
``Momentum(beta)``, ``Backtracking(init)``, ``WeightDecay(weight_decay)``,
``ClipNorm(max_norm)``, ``LaplacianSmoothing(sigma)``) takes a number or a callable
``step -> value``, where ``step`` counts the module's completed steps from 0 (refused steps do
not count). The module checks each value when it uses it; a bad one raises ``ValueError`` naming
the module, the hyperparameter and the step.

A schedule is a callable, so it cannot be saved: the module's state records its step counter,
and a run resumes with the same schedule when the rebuilt module is given it again. Any callable
works (``lambda step: 0.1 / (1 + step)``); the ones here check their arguments and print
readably.

Examples
--------
>>> import numpy as np, numsmooth as ns
>>> s = ns.schedules.warmup_cosine(0.1, warmup_steps=2, total_steps=6)
>>> [round(s(k), 4) for k in range(8)]
[0.0, 0.05, 0.1, 0.0854, 0.05, 0.0146, 0.0, 0.0]
>>> opt = ns.Optimizer(np.zeros(3),
...                    ns.LaplacianSmoothing(sigma=ns.schedules.constant(1.0)),
...                    ns.LR(ns.schedules.cosine(0.1, total_steps=100)))
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Sequence

from ._validation import check_int, check_real

__all__ = ["Schedule", "constant", "exponential", "cosine", "warmup_cosine", "piecewise"]


class Schedule:
    """Base of the schedules here: a callable ``step -> float`` with a readable ``repr``."""

    def __init__(self, name: str, **args: Any):
        self._name = name
        self._args = args

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args.items())
        return f"{self._name}({args})"


class _Constant(Schedule):
    def __init__(self, value: float):
        super().__init__("constant", value=value)
        self.value = value

    def __call__(self, step: int) -> float:
        return self.value


class _Exponential(Schedule):
    def __init__(self, init: float, decay: float, every: int, final: float):
        super().__init__("exponential", init=init, decay=decay, every=every, final=final)
        self.init, self.decay, self.every, self.final = init, decay, every, final

    def __call__(self, step: int) -> float:
        v = self.init * self.decay ** (step // self.every)
        return max(v, self.final) if self.decay < 1 else v


class _Cosine(Schedule):
    def __init__(self, init: float, total_steps: int, final: float):
        super().__init__("cosine", init=init, total_steps=total_steps, final=final)
        self.init, self.total, self.final = init, total_steps, final

    def __call__(self, step: int) -> float:
        t = min(step, self.total) / self.total
        return self.final + (self.init - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))


class _WarmupCosine(Schedule):
    def __init__(self, peak: float, warmup_steps: int, total_steps: int, init: float, final: float):
        super().__init__("warmup_cosine", peak=peak, warmup_steps=warmup_steps, total_steps=total_steps,
                         init=init, final=final)
        self.peak, self.warmup, self.total, self.init, self.final = peak, warmup_steps, total_steps, init, final

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.init + (self.peak - self.init) * step / self.warmup
        t = min(step - self.warmup, self.total - self.warmup) / (self.total - self.warmup)
        return self.final + (self.peak - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))


class _Piecewise(Schedule):
    def __init__(self, boundaries: list[int], values: list[float]):
        super().__init__("piecewise", boundaries=boundaries, values=values)
        self.boundaries, self.values = boundaries, values

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_right(self.boundaries, step)]


def constant(value: float) -> Schedule:
    """The same ``value`` at every step.

    Parameters
    ----------
    value : float
        Finite real.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numsmooth as ns
    >>> ns.schedules.constant(0.1)(7)
    0.1
    """
    return _Constant(check_real("value", value))


def exponential(init: float, decay: float, *, every: int = 1, final: float = 0.0) -> Schedule:
    """``init * decay ** (step // every)``, not below ``final`` when decaying.

    Parameters
    ----------
    init : float
        Value at step 0, finite.
    decay : float
        Factor per ``every`` steps, > 0.
    every : int
        Steps between two multiplications by ``decay``, >= 1.
    final : float
        Floor of a decaying schedule (``decay < 1``), finite.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numsmooth as ns
    >>> s = ns.schedules.exponential(1.0, 0.5, every=2, final=0.2)
    >>> [s(k) for k in range(7)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2]
    """
    return _Exponential(check_real("init", init), check_real("decay", decay, low=0.0, low_open=True),
                        check_int("every", every, low=1), check_real("final", final))


def cosine(init: float, total_steps: int, *, final: float = 0.0) -> Schedule:
    """Cosine decay from ``init`` at step 0 to ``final`` at ``total_steps``, ``final`` after.

    ``final + (init - final) * (1 + cos(pi * min(step, total_steps) / total_steps)) / 2``
    (Loshchilov & Hutter's SGDR without restarts).

    Parameters
    ----------
    init : float
        Value at step 0, finite.
    total_steps : int
        Length of the decay, >= 1.
    final : float
        Value from ``total_steps`` on, finite.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numsmooth as ns
    >>> s = ns.schedules.cosine(1.0, 4)
    >>> [round(s(k), 4) for k in range(6)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """
    return _Cosine(check_real("init", init), check_int("total_steps", total_steps, low=1),
                   check_real("final", final))


def warmup_cosine(peak: float, warmup_steps: int, total_steps: int, *, init: float = 0.0,
                  final: float = 0.0) -> Schedule:
    """Linear warm-up from ``init`` to ``peak`` over ``warmup_steps``, then cosine decay to
    ``final`` at ``total_steps``; ``final`` after.

    Parameters
    ----------
    peak : float
        Value at step ``warmup_steps``, finite.
    warmup_steps : int
        Length of the warm-up, >= 0 (0: no warm-up).
    total_steps : int
        Step at which ``final`` is reached, > ``warmup_steps``.
    init, final : float
        Values at step 0 and from ``total_steps`` on, finite.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numsmooth as ns
    >>> s = ns.schedules.warmup_cosine(1.0, warmup_steps=2, total_steps=4)
    >>> [s(k) for k in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
    total_steps = check_int("total_steps", total_steps, low=1)
    if total_steps <= warmup_steps:
        raise ValueError(f"total_steps must be > warmup_steps = {warmup_steps}; got {total_steps!r}")
    return _WarmupCosine(check_real("peak", peak), warmup_steps, total_steps, check_real("init", init),
                         check_real("final", final))


def piecewise(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """Piecewise constant: ``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]``.

    Parameters
    ----------
    boundaries : sequence of int
        Strictly increasing steps >= 1 at which the value changes.
    values : sequence of float
        ``len(boundaries) + 1`` finite values.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numsmooth as ns
    >>> s = ns.schedules.piecewise([2, 4], [0.1, 0.01, 0.001])
    >>> [s(k) for k in range(5)]
    [0.1, 0.1, 0.01, 0.01, 0.001]
    """
    if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"boundaries and values must be lists; got {type(boundaries).__name__} and "
                        f"{type(values).__name__}")
    b = [check_int(f"boundaries[{i}]", v, low=1) for i, v in enumerate(boundaries)]
    if any(x >= y for x, y in zip(b, b[1:])):
        raise ValueError(f"boundaries must be strictly increasing; got {list(boundaries)!r}")
    if len(values) != len(b) + 1:
        raise ValueError(f"values must have len(boundaries) + 1 = {len(b) + 1} entries; got {len(values)}")
    return _Piecewise(b, [check_real(f"values[{i}]", v) for i, v in enumerate(values)])
