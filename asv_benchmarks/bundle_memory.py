"""Peak memory of the limited-memory bundle method, in float64 words per dimension (d words).

    python asv_benchmarks/bundle_memory.py [D]        # default D = 100000

For chained crescent I, chained CB3 I and chained LQ at ``d = D`` with ``history = 7``,
``tracemalloc`` measures (``x0`` itself not counted): the peak of 40 steps taken with the memory
already full, above the state at their start; and the peak and the memory kept of a fresh
optimizer built and run for 80 steps. The docs' large-scale page quotes its output.
"""

from __future__ import annotations

import sys
import tracemalloc

import numsmooth as ns


def main(d: int = 100_000, m: int = 7) -> None:
    for name in ("chained_crescent_1", "chained_cb3_1", "chained_lq"):
        p = ns.problems.get(name)
        ns.minimize(p.fun, p.x0(50), ns.LimitedMemoryBundle(history=m), maxiter=5)  # compile first
        x0 = p.x0(d)
        opt = ns.Optimizer(x0, ns.LimitedMemoryBundle(history=m))
        for _ in range(40):  # the memory fills, null steps happen
            opt.step(p.fun)
        tracemalloc.start()
        for _ in range(40):
            opt.step(p.fun)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        st = opt.modules[0].state
        print(f"{name}: d={d} m={m}: 40 steps with the memory full: peak {peak / 8 / d:.1f} d words above the "
              f"state at their start (the pairs alone: {2 * m} d); null {st['num_null']}, serious {st['num_serious']}")
        tracemalloc.start()
        opt = ns.Optimizer(x0, ns.LimitedMemoryBundle(history=m))
        for _ in range(80):
            opt.step(p.fun)
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"   optimizer built and run for 80 steps: peak {peak / 8 / d:.1f} d words, kept {cur / 8 / d:.1f} d")


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 100_000)
