"""One kernel body, compiled twice: on one thread and on Numba's threads.

A kernel that loops with ``prange`` is written once and decorated with `twin`, which compiles
the same Python function as two dispatchers: ``serial`` (``parallel=False``: Numba runs each
``prange`` as a plain ``range``) and ``parallel`` (``parallel=True``). Both perform the same
operations in the same order on every element, so they give the same bits; only speed differs.
Python code picks one with `numsmooth._parallel.pick`, nowhere else.

Called directly (from Python, or from another jitted function) a twin runs its serial
dispatcher: Numba types a twin as that dispatcher (``_numba_type_``). So no jitted function can
reach a parallel kernel, which is the cache rule of `numsmooth._parallel` (a cached serial
kernel that links a parallel one crashes a later process), kept by construction.

A body that must know which one it is (to size its blocks: one thread wants few long blocks,
two want enough blocks to share) takes a last argument ``parallel=False``: callers omit it, and
the parallel twin compiles with ``True``. Numba types an omitted argument by its default value,
so in each twin it is a constant and the other branch is compiled away.

The parallel dispatcher compiles a copy of the function whose qualified name ends in
``_parallel``: Numba's on-disk cache is keyed by qualified name and signature, not by the
``parallel`` flag, so with one name the two would load each other's machine code.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable

from numba import njit

__all__ = ["Twin", "twin"]


class Twin:
    """The ``serial`` and ``parallel`` dispatchers of one kernel body (see the module docstring).

    Calling the twin calls ``serial``.
    """

    def __init__(self, fn: Callable[..., Any], cache: bool) -> None:
        copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, _parallel_defaults(fn), fn.__closure__)
        copy.__qualname__ = f"{fn.__qualname__}_parallel"
        copy.__module__ = fn.__module__
        copy.__doc__ = fn.__doc__
        self.serial = njit(cache=cache)(fn)
        self.parallel = njit(cache=cache, parallel=True)(copy)
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__doc__ = fn.__doc__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __call__(self, *args: Any) -> Any:
        return self.serial(*args)

    @property
    def _numba_type_(self) -> Any:
        # inside jitted code the twin is its serial dispatcher (never the parallel one)
        return self.serial._numba_type_

    def __repr__(self) -> str:
        return f"<twin kernel {self.__module__}.{self.__qualname__}>"


def _parallel_defaults(fn: Callable[..., Any]) -> tuple[Any, ...] | None:
    """``fn``'s default values with ``parallel=True`` where it has ``parallel=False``."""
    params = inspect.signature(fn).parameters
    if "parallel" not in params:
        return fn.__defaults__
    if params["parallel"].default is not False or params["parallel"].kind != params["parallel"].POSITIONAL_OR_KEYWORD:
        raise TypeError(f"a twin's 'parallel' argument must be positional with default False: {fn.__qualname__}")
    with_defaults = [name for name, p in params.items() if p.default is not p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
    return tuple(True if name == "parallel" else value for name, value in zip(with_defaults, fn.__defaults__ or ()))


def twin(fn: Callable[..., Any] | None = None, *, cache: bool = True) -> Any:
    """Decorator: compile ``fn`` as a serial and a parallel kernel (a `Twin`).

    ``cache`` as in ``numba.njit`` (False for kernels that close over a user's function). Either
    dispatcher compiles on its first call, so a twin whose parallel side is never picked costs
    no more compilation than a plain ``@njit`` kernel.
    """
    if fn is None:
        return lambda f: Twin(f, cache)
    return Twin(fn, cache)
