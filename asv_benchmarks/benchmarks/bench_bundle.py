"""The limited-memory bundle method's own work per iteration against one oracle evaluation.

``track_own_work_ratio``: the time of one :class:`~numsmooth.LimitedMemoryBundle` iteration
minus the time of the oracle calls it makes, over the time of one evaluation of the oracle
itself, on the chained problems of Haarala, Miettinen & Mäkelä (2004). The target (issue 24) is
at most 1 at d >= 10^4. Both sides are timed in one process, interleaved (``_timing``): a
segment of iterations is replayed from a saved state (so every round runs the same points), and
the oracle is called on the segment's last point as often as the segment called it.
"""

from __future__ import annotations

import numpy as np

import numsmooth as ns

from ._timing import Contender, interleave, median_ratio

PROBLEMS = ("chained_lq", "chained_cb3_1", "chained_crescent_1")
#: Iterations run before the timed segment (the memory fills), and in the segment.
WARMUP, SEGMENT = 60, 20


class BundleCase:
    """One problem at one ``d``: a saved state after ``WARMUP`` iterations and its segment."""

    def __init__(self, name: str, d: int):
        p = ns.problems.get(name)
        self.fun = p.fun
        self.opt = ns.Optimizer(p.x0(d), ns.LimitedMemoryBundle())
        for _ in range(WARMUP):
            self.opt.step(self.fun)
        self.saved = self.opt.state_dict()
        n0 = self.opt.num_evaluations
        self.reset()
        self.segment()
        self.calls = self.opt.num_evaluations - n0
        self.x = self.opt.x.copy()
        self.g = np.empty_like(self.x)

    def reset(self) -> None:
        """Back to the saved state (untimed)."""
        self.opt.load_state_dict(self.saved)

    def segment(self) -> None:
        for _ in range(SEGMENT):
            self.opt.step(self.fun)

    def oracle(self) -> None:
        for _ in range(self.calls):
            self.fun(self.x, self.g)

    def times(self, rounds: int = 7, round_time: float = 0.2) -> list[list[float]]:
        return interleave([Contender(self.segment, self.reset), self.oracle], rounds=rounds,
                          round_time=round_time)

    def ratio(self, rounds: int = 7, round_time: float = 0.2) -> float:
        """Own work per iteration over one oracle evaluation (median over rounds)."""
        seg, orc = self.times(rounds, round_time)
        per_eval = [t / self.calls for t in orc]
        own = [(s - o) / SEGMENT for s, o in zip(seg, orc)]
        return median_ratio(own, per_eval)


class TrackOwnWork:
    """``track_own_work_ratio``: own work of an iteration / one oracle evaluation (target <= 1)."""

    params = (list(PROBLEMS), [10_000, 100_000])
    param_names = ["problem", "d"]
    timeout = 600
    unit = "ratio"

    def setup(self, name: str, d: int) -> None:
        self.case = BundleCase(name, d)

    def track_own_work_ratio(self, name: str, d: int) -> float:
        return self.case.ratio()


if __name__ == "__main__":  # python -m benchmarks.bench_bundle from asv_benchmarks/: the table
    for d in (10_000, 100_000):
        for name in PROBLEMS:
            case = BundleCase(name, d)
            seg, orc = case.times()
            print(f"{name:20s} d={d:>6}  iteration own work {np.median([(s - o) / SEGMENT for s, o in zip(seg, orc)]) * 1e6:8.1f} us"
                  f"  oracle {np.median([t / case.calls for t in orc]) * 1e6:8.1f} us  ratio {case.ratio():.2f}"
                  f"  ({case.calls} calls in {SEGMENT} iterations)")
