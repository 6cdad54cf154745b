"""Interleaved median-of-rounds timing, shared by the ``track_`` ratio benchmarks and compare.py.

A ratio is only as good as the conditions of its two sides, so both are timed in the same
process, with the same Numba threads, round by round (A, B, then B, A in the next round so
neither side always runs first), and the result is the median of the per-round ratios: a burst
of load from another process hits both sides of a round.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Callable, Sequence

__all__ = ["Contender", "interleave", "median", "median_ratio"]


class Contender:
    """A callable to time, with an optional untimed ``reset`` run before every call (e.g. put
    the optimizer back at ``x0`` so every timed step evaluates the same points)."""

    def __init__(self, fn: Callable[[], object], reset: Callable[[], object] | None = None):
        self.fn = fn
        self.reset = reset

    def per_call(self, number: int) -> float:
        """Mean seconds per call over ``number`` calls (resets excluded)."""
        fn, reset = self.fn, self.reset
        if reset is None:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - t0) / number
        total = 0.0
        for _ in range(number):
            reset()
            t0 = time.perf_counter()
            fn()
            total += time.perf_counter() - t0
        return total / number

    def calibrate(self, round_time: float) -> int:
        """Calls per round so that a round lasts about ``round_time`` seconds (at least 1)."""
        self.per_call(1)  # first call of the process: page faults, plans, caches
        t = self.per_call(1)
        number = max(1, int(round_time / max(t, 1e-7)))
        if number > 1:
            t = self.per_call(min(number, 1000))
            number = max(1, int(round_time / max(t, 1e-7)))
        return number


def interleave(contenders: Sequence[Contender | Callable[[], object]], rounds: int = 7,
               round_time: float = 0.05) -> list[list[float]]:
    """Per-call seconds of each contender in each of ``rounds`` interleaved rounds.

    Returns ``times`` with ``times[k][r]`` the mean per-call time of contender ``k`` in round
    ``r``. The garbage collector is off while timing (as in asv and timeit).
    """
    cs = [c if isinstance(c, Contender) else Contender(c) for c in contenders]
    numbers = [c.calibrate(round_time) for c in cs]
    times: list[list[float]] = [[] for _ in cs]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = range(len(cs)) if r % 2 == 0 else range(len(cs) - 1, -1, -1)
            for k in order:
                times[k].append(cs[k].per_call(numbers[k]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def median_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over rounds of ``num[r] / den[r]``."""
    return statistics.median(a / b for a, b in zip(num, den))


def copy_pair(g: "np.ndarray") -> "np.ndarray":
    """An empty array like ``g`` that ``np.copyto(out, g)`` copies into at full speed.

    On AMD Zen the copy is about 15x slower when the destination lies 1-31 bytes above the source
    modulo 4096 (4K aliasing of loads and stores), and an allocator hands out such a pair now and
    then: a copy baseline taken on one would flatter every ratio over it.
    """
    import numpy as np

    keep = []
    out = np.empty_like(g)
    while 0 < (out.ctypes.data - g.ctypes.data) % 4096 < 32:
        keep.append(out)  # held until a good one comes, so the allocator hands out another
        out = np.empty_like(g)
    return out

