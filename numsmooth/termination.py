"""Termination criteria (names and defaults follow torchzero).

A criterion is checked once per step with :meth:`~TerminationCriterion.should_terminate`; it
fires when its condition holds on ``n`` consecutive checks, and its consecutive counter then
restarts. :class:`~numsmooth.GradientSampling` uses criteria to decay ``sigma``;
:func:`~numsmooth.minimize` uses them to stop.

Some criteria mean that the run converged when they fire (:meth:`TerminationCriterion.converged`:
a small gradient, a target value reached); the others only end it (a budget of steps,
evaluations or time, a stalled ``x`` or value), and :func:`~numsmooth.minimize` then reports
``success`` from its stationarity certificate.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, ClassVar, cast

import numpy as np

from ._validation import check_int, check_norm_ord, check_real
from ._state import Stateful
from .objective import Objective

__all__ = [
    "TerminationCriterion",
    "TerminateAfterNSteps",
    "TerminateAfterNEvaluations",
    "TerminateAfterNSeconds",
    "TerminateByGradientNorm",
    "TerminateByUpdateNorm",
    "TerminateOnNoImprovement",
    "TerminateOnLossReached",
    "TerminateAny",
    "TerminateAll",
    "TerminateNever",
    "as_criterion",
]


def vector_metric(v: np.ndarray, ord: float | str) -> float:
    """The metric ``ord`` of a flat vector: a p-norm, or 'mad' (mean absolute value), or 'std'
    (sample standard deviation, ddof=1, as torch.std)."""
    if isinstance(ord, str):
        if ord == "mad":
            return float(np.mean(np.abs(v)))
        if ord == "std":
            return float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
        ord = {"l1": 1.0, "l2": 2.0, "linf": math.inf}[ord]
    if ord == 2.0:
        return float(np.sqrt(np.dot(v, v)))
    if ord == 0.0:
        return float(np.count_nonzero(v))
    return float(np.linalg.norm(v, ord=ord))


class TerminationCriterion(Stateful):
    """Base class: subclasses implement ``_condition(objective) -> bool``.

    A criterion is not a module: it does not transform a step, it is consulted by
    :class:`~numsmooth.GradientSampling` (to decay sigma) and :func:`~numsmooth.minimize` (to
    stop). Its counters are state like a module's, saved and restored with the optimizer.

    Parameters
    ----------
    n : int
        Consecutive checks on which the condition must hold for the criterion to fire.
    """

    #: Whether firing means convergence (see :meth:`converged`).
    means_convergence: ClassVar[bool] = False

    def __init__(self, n: int = 1):
        super().__init__()
        self.n = check_int("n", n, low=1)

    def config(self) -> dict[str, Any]:
        return {"n": self.n}

    def _condition(self, objective: Objective) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def converged(self) -> bool:
        """Whether the last firing means that the run converged (a small gradient, a target value
        reached), rather than that a budget ran out or ``x`` stalled."""
        return self.means_convergence

    def should_terminate(self, objective: Objective) -> bool:
        """Check the condition once; True when it has held on ``n`` consecutive checks."""
        if self._condition(objective):
            streak = self.state.get("streak", 0) + 1
            if streak >= self.n:
                self.state["streak"] = 0
                return True
            self.state["streak"] = streak
        else:
            self.state["streak"] = 0
        return False


class TerminateAfterNSteps(TerminationCriterion):
    """Fire on the check that follows ``steps`` earlier checks since the last reset.

    Parameters
    ----------
    steps : int
        Checks to let pass, >= 0.
    """

    def __init__(self, steps: int):
        super().__init__()
        self.steps = check_int("steps", steps, low=0)

    def config(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def _condition(self, objective: Objective) -> bool:
        seen = self.state.get("checks", 0)
        self.state["checks"] = seen + 1
        return cast(bool, seen >= self.steps)


class TerminateAfterNEvaluations(TerminationCriterion):
    """Fire once the optimizer's evaluation count reaches ``maxevals``."""

    def __init__(self, maxevals: int):
        super().__init__()
        self.maxevals = check_int("maxevals", maxevals, low=0)

    def config(self) -> dict[str, Any]:
        return {"maxevals": self.maxevals}

    def _condition(self, objective: Objective) -> bool:
        return objective.num_evaluations >= self.maxevals


class TerminateAfterNSeconds(TerminationCriterion):
    """Fire once ``seconds`` have passed since the first check (clock ``sec_fn``)."""

    def __init__(self, seconds: float, sec_fn: Callable[[], float] = time.time):
        super().__init__()
        self.seconds = check_real("seconds", seconds, low=0.0)
        if not callable(sec_fn):
            raise TypeError(f"sec_fn must be callable; got {sec_fn!r}")
        self.sec_fn = sec_fn

    def config(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def _condition(self, objective: Objective) -> bool:
        value = self.sec_fn()
        try:
            now = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"sec_fn must return the time in seconds as a number; {self.sec_fn!r} returned "
                            f"{value!r:.80}") from None
        if math.isnan(now):
            raise ValueError(f"sec_fn must return the time in seconds; {self.sec_fn!r} returned nan")
        if "start" not in self.state:
            self.state["start"] = now
            return False
        return cast(bool, now - self.state["start"] >= self.seconds)


class _NormCriterion(TerminationCriterion):
    """A criterion comparing a vector metric with ``tol`` (``ord`` as :func:`vector_metric`)."""

    def __init__(self, tol: float = 1e-8, n: int = 3, ord: float | str = 2):
        super().__init__(n)
        self.tol = check_real("tol", tol, low=0.0)
        self.ord = check_norm_ord("ord", ord)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "tol": self.tol, "ord": self.ord}


class TerminateByGradientNorm(_NormCriterion):
    """Fire when ``||g(x)||_ord <= tol`` on ``n`` consecutive checks (uses the cached ``g(x)``).

    ``ord`` is a number (``inf`` allowed) or one of ``'l1', 'l2', 'linf', 'mad', 'std'``.
    Firing means convergence.
    """

    means_convergence = True

    def _condition(self, objective: Objective) -> bool:
        return vector_metric(objective.grad(), self.ord) <= self.tol


class TerminateByUpdateNorm(_NormCriterion):
    """Fire when the change of ``x`` since the previous check has ``norm_ord <= tol``."""

    def _condition(self, objective: Objective) -> bool:
        prev = self.state.get("x_prev")
        self.state["x_prev"] = objective.x.copy()
        if prev is None:
            return False
        return vector_metric(prev - objective.x, self.ord) <= self.tol


class TerminateOnNoImprovement(TerminationCriterion):
    """Fire when the best value so far improved by ``<= tol`` on ``n`` consecutive checks."""

    def __init__(self, tol: float = 1e-8, n: int = 10):
        super().__init__(n)
        self.tol = check_real("tol", tol, low=0.0)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "tol": self.tol}

    def _condition(self, objective: Objective) -> bool:
        f = objective.loss()
        if "f_min" not in self.state:
            self.state["f_min"] = f
            return False
        f_min = self.state["f_min"]
        self.state["f_min"] = min(f, f_min)
        return cast(bool, f_min - f <= self.tol)


class TerminateOnLossReached(TerminationCriterion):
    """Fire when ``f(x) <= value``. Firing means convergence (the target was reached)."""

    means_convergence = True

    def __init__(self, value: float):
        super().__init__()
        self.value = check_real("value", value, allow_inf=True)

    def config(self) -> dict[str, Any]:
        return {"value": self.value}

    def _condition(self, objective: Objective) -> bool:
        return objective.loss() <= self.value


class _Combination(TerminationCriterion):
    def __init__(self, *criteria: TerminationCriterion):
        super().__init__()
        if not criteria:
            raise ValueError(f"{type(self).__name__}() needs at least one criterion; got none")
        for i, c in enumerate(criteria):
            if not isinstance(c, TerminationCriterion):
                raise TypeError(f"criteria[{i}] must be a termination criterion; got {c!r}")
        self.criteria = list(criteria)
        #: The members' conditions at the last check (what :meth:`converged` reads).
        self._held: list[bool] = [False] * len(self.criteria)

    def children(self) -> list[Stateful]:
        return list(self.criteria)

    def config(self) -> dict[str, Any]:
        return {"criteria": [type(c).__name__ for c in self.criteria]}

    def _conditions(self, objective: Objective) -> list[bool]:
        # Every member is consulted on every check (no short-circuit), so stateful members such
        # as TerminateByUpdateNorm keep an up-to-date record.
        self._held = [c._condition(objective) for c in self.criteria]
        return self._held

    def converged(self) -> bool:
        """Whether a member whose condition held at the last check means convergence."""
        return any(h and c.converged() for c, h in zip(self.criteria, self._held))


class TerminateAny(_Combination):
    """Fire when any member's condition holds (members' own ``n`` are not used)."""

    def _condition(self, objective: Objective) -> bool:
        return any(self._conditions(objective))


class TerminateAll(_Combination):
    """Fire when every member's condition holds (members' own ``n`` are not used)."""

    def _condition(self, objective: Objective) -> bool:
        return all(self._conditions(objective))


class TerminateNever(TerminationCriterion):
    """Never fires."""

    def _condition(self, objective: Objective) -> bool:
        return False


def as_criterion(termination: Any, name: str = "termination") -> TerminationCriterion | None:
    """``None``, a criterion, or a list of criteria (combined with :class:`TerminateAny`)."""
    if termination is None:
        return None
    if isinstance(termination, TerminationCriterion):
        return termination
    if isinstance(termination, (list, tuple)):
        for i, c in enumerate(termination):
            if not isinstance(c, TerminationCriterion):
                raise TypeError(f"{name}[{i}] must be a termination criterion; got {c!r}")
        if len(termination) == 0:
            return None
        return termination[0] if len(termination) == 1 else TerminateAny(*termination)
    raise TypeError(f"{name} must be a termination criterion, a list of them, or None; got {termination!r}")
