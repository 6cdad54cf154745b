"""When numsmooth may run a parallel (Numba-threaded) kernel.

Rule for the whole package: the choice between the serial and the parallel version of a kernel
is made here, in Python, never inside jitted code (no ``@njit`` function calls a
``parallel=True`` one). Serial and parallel versions give the same bits, so the choice changes
only speed.
"""

from __future__ import annotations

from . import config


def use_parallel(elements: int, knob: str = "parallel_min_elements") -> bool:
    """True when work on ``elements`` array elements should use the parallel kernel.

    ``knob`` names the :mod:`numsmooth.config` threshold that applies.
    """
    return bool(elements >= config.get(knob))
