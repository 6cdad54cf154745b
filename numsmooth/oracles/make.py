"""Which kind of function the user gave, and the :class:`~numsmooth.oracles.Oracle` for it."""

from __future__ import annotations

from typing import Any

from numba.core.dispatcher import Dispatcher

from .._layout import ParamLayout
from .base import Oracle
from .batched import BatchedOracle, batched
from .jitted import JittedOracle, jit_disabled, takes_two_arguments
from .point import PointOracle

__all__ = ["oracle_kind", "make_oracle", "KINDS"]

#: The class of each kind of function.
KINDS: dict[str, type[Oracle]] = {"point": PointOracle, "batched": BatchedOracle, "jitted": JittedOracle}


def oracle_kind(fun: Any) -> str:
    """``'batched'``, ``'jitted'`` or ``'point'``; TypeError for something that is not callable."""
    if isinstance(fun, batched):
        return "batched"
    if isinstance(fun, Dispatcher):
        return "jitted"
    if jit_disabled() and callable(fun) and takes_two_arguments(fun):
        # With NUMBA_DISABLE_JIT=1 @njit returns the plain function; recognise fun(x, g_out).
        return "jitted"
    if callable(fun):
        return "point"
    raise TypeError(f"fun must be callable (a function returning (f, g)); got {fun!r}")


def make_oracle(fun: Any, layout: ParamLayout) -> Oracle:
    """Wrap ``fun`` in the oracle of its kind (or return it when it already is an :class:`Oracle`)."""
    if isinstance(fun, Oracle):
        return fun
    return KINDS[oracle_kind(fun)](fun, layout)
