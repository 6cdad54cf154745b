"""What bounds the compare.py rows that miss their targets on this machine: each row's time
taken apart into parts measured in one process (interleaved rounds, medians).

Run:  python asv_benchmarks/bounds.py [--repeats 9] [--only threads,step,pointwise,laplacian]

Sections:

- ``threads``: what a Numba parallel region costs before any work (waking the other thread
  and the barrier at its end), and 2 x 70 us of work on two threads against one.
- ``step``: the jitted GS step at d = 1e3, n = 100 (mean, fixed perturbations) against its
  floor: the floor on one thread and on two, the step's fused kernel alone, the two things
  that kernel adds to the oracle calls (building each point from ``x + sigma * u`` and folding
  each gradient into the mean) and the Python layer (the step minus its kernel).
- ``pointwise``: the overhead per evaluation of a per-point oracle at d = 1e3, next to the same
  at d = 10 (the part that does not grow with d), and the passes over the (n, d) block that
  grow with d: building the points, copying each returned gradient, the aggregate.
- ``laplacian``: ``laplacian_smooth`` against ``np.copyto`` per element, with the recursive
  solve forced onto one thread and onto two.

These use private kernels of numsmooth (they take the library apart); compare.py and the asv
suite use the public API only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.isdir(os.path.join(ROOT, "numsmooth")):
    sys.path.insert(0, ROOT)  # the checkout this file belongs to
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

import numsmooth as ns  # noqa: E402
import numsmooth._kernels.oracles as _ok  # noqa: E402
from _machine import decisions, kernels_run  # noqa: E402
from _machine import header as machine_header  # noqa: E402
from _machine import loadavg  # noqa: E402
from _timing import Contender, interleave, median  # noqa: E402
from bench_overhead import FloorCase, PointwiseCase  # noqa: E402
from numsmooth._kernels import aggregate as _agg  # noqa: E402
from numsmooth.laplacian import laplacian_smooth  # noqa: E402
from numsmooth.oracles import _jitted_kernels  # noqa: E402

SECTIONS = ("threads", "step", "pointwise", "laplacian")


def us(t: float) -> str:
    return f"{t * 1e6:.1f} us"


def row(part: str, value: str, note: str = "") -> None:
    print(f"| {part} | {value} | {note} |")


def header(title: str) -> None:
    print(f"\n### {title}\n")
    if _KERNELS:  # what the section's timings ran
        print(f"numsmooth kernels (load {loadavg()}): " + "; ".join(f"{k}: {v}" for k, v in _KERNELS.items()) + "\n")
        _KERNELS.clear()
    print("| part | time | note |")
    print("|---|---|---|")


def timed(fns: dict, repeats: int, round_time: float = 0.05) -> dict:
    """Median per-call seconds of each callable (or :class:`Contender`), interleaved; then prints
    which kernels numsmooth runs for each (three more calls each, untimed; see
    ``_machine.kernels_run``), since the busy-machine switch may have turned them serial."""
    t = interleave(list(fns.values()), repeats, round_time)
    _KERNELS.clear()
    for name, fn in fns.items():
        before = decisions()
        (fn if isinstance(fn, Contender) else Contender(fn)).per_call(3)
        _KERNELS[name] = kernels_run(before)
    return {k: median(v) for k, v in zip(fns, t)}


#: contender -> which kernels numsmooth ran for it in the last `timed` call (printed by `header`).
_KERNELS: dict[str, str] = {}


# -- threads -------------------------------------------------------------------------------------
@njit(parallel=True)
def _touch_parallel(a):
    for i in prange(a.shape[0]):
        a[i] += 1.0


@njit
def _touch_serial(a):
    for i in range(a.shape[0]):
        a[i] += 1.0


@njit
def _spin(a, i, reps):
    s = 0.0
    for k in range(reps):
        s += np.sqrt(k + a[i])
    a[i] = s


@njit(parallel=True)
def _work_parallel(a, reps):
    for i in prange(a.shape[0]):
        _spin(a, i, reps)


@njit
def _work_serial(a, reps):
    for i in range(a.shape[0]):
        _spin(a, i, reps)


def section_threads(repeats: int) -> None:
    header(f"Threads (Numba {numba.config.THREADING_LAYER}, {numba.get_num_threads()} threads, "
           f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})")
    a = np.zeros(2)
    _work_parallel(a, 1)
    one = a[:1]
    reps = 1
    while reps < 1 << 26:  # about 70 us of work per element
        elapsed = []
        for _ in range(3):  # the least of three: the first call of a type pays for the dispatch
            t0 = time.perf_counter()
            _work_serial(one, reps)
            elapsed.append(time.perf_counter() - t0)
        if min(elapsed) > 70e-6:
            break
        reps *= 2
    t = timed({"empty parallel": lambda: _touch_parallel(a), "empty serial": lambda: _touch_serial(a),
               "work parallel": lambda: _work_parallel(a, reps), "work serial": lambda: _work_serial(a, reps)},
              repeats)
    row("an empty parallel region (2 iterations)", us(t["empty parallel"]),
        f"the same loop serial: {us(t['empty serial'])}")
    row("2 x ~70 us of work, two threads", us(t["work parallel"]),
        f"one thread: {us(t['work serial'])} (saved: {us(t['work serial'] - t['work parallel'])})")


# -- the jitted step at d = 1e3 ------------------------------------------------------------------
def section_step(repeats: int) -> None:
    d, n = 1000, 100
    case = FloorCase(d, "mean", True)
    kernels = _jitted_kernels(case.fun)
    x, sigma = case.x0, case.gs.sigma
    U = np.ascontiguousarray((case.X[1:] - x) / sigma)  # near the step's perturbations; cost only
    F = np.empty(n)
    acc, state = np.empty(d), np.empty(_agg.STATE_SIZE)
    pt, g, g0 = np.empty((1, d)), np.empty((1, d)), case.G[0].copy()
    written = np.empty(1, dtype=np.bool_)
    P, G = np.empty((n - 1, d)), case.G[1:].copy()
    code = 0  # mean

    @njit
    def floor_serial(X, F, G, fun=case.fun):
        for i in range(X.shape[0]):
            F[i] = fun(X[i], G[i])

    floor_serial(case.X, case.F, case.G)

    def fused():  # as in the step: the x0 term evaluated in the kernel too, 100 evaluations
        kernels.fold.serial(x, sigma, U, F, 1, code, acc, state, pt, g, written, g0,
                            _ok.START | _ok.FINISH | _ok.EVAL_X0)

    def fold_only():
        _agg.stream_init(state, acc)
        _agg.stream_update_rows(code, 1, F[1:], G, acc, state)

    # the step with its kernel timed from inside: step - kernel = the Python layer
    kernel_times: list[float] = []
    fold = kernels.fold

    def timing(kernel):
        def timed_kernel(*args):
            t0 = time.perf_counter()
            out = kernel(*args)
            kernel_times.append(time.perf_counter() - t0)
            return out
        return timed_kernel

    t = timed({"floor": case.floor, "floor serial": lambda: floor_serial(case.X, case.F, case.G),
               "fused": fused, "build": lambda: _ok.build_points(x, sigma, U, 0, P), "fold": fold_only,
               "step": Contender(case.step, case.reset)}, repeats)
    kernels.fold = SimpleNamespace(serial=timing(fold.serial), parallel=timing(fold.parallel))
    try:
        steps = []
        for _ in range(max(repeats, 5) * 20):
            case.reset()
            t0 = time.perf_counter()
            case.step()
            steps.append(time.perf_counter() - t0)
    finally:
        kernels.fold = fold
    python = median([s - k for s, k in zip(steps, kernel_times[-len(steps):])])

    header(f"Jitted GS step, Rosenbrock d = {d}, n = {n}, mean, fixed perturbations")
    row("floor: the 100 prebuilt points through a `prange` loop", us(t["floor"]), "what the ratio divides by")
    row("the same loop on one thread", us(t["floor serial"]), "")
    row("the step's fused kernel (x0 term, then build point, oracle, fold), one thread", us(t["fused"]),
        f"{t['fused'] / t['floor']:.2f}x the floor")
    row("  of which: building 99 points", us(t["build"]), f"{t['build'] / (n - 1) / d * 1e9:.2f} ns per element")
    row("  of which: folding 99 gradients into the mean", us(t["fold"]), f"{t['fold'] / (n - 1) / d * 1e9:.2f} ns per element")
    row("the step", us(t["step"]), f"{t['step'] / t['floor']:.2f}x the floor (target 1.25x)")
    row("  of which: the Python layer (step - kernel)", us(python), f"{python / t['floor']:.0%} of the floor")


# -- per-point oracles -----------------------------------------------------------------------------
def section_pointwise(repeats: int) -> None:
    n = 100
    big, small = PointwiseCase("float64", d=1000, n=n), PointwiseCase("float64", d=10, n=n)
    d = 1000
    U, P = np.random.default_rng(0).standard_normal((n - 1, d)), np.empty((n - 1, d))
    G, F, out, g = np.empty((n, d)), np.zeros(n), np.empty(d), np.ones(d)
    x = np.zeros(d)

    def copy_gradients():  # what the evaluation loop does with each returned gradient
        for grow in G[1:]:
            grow[...] = g

    t = timed({"step": big.step, "loop": big.loop, "step10": small.step, "loop10": small.loop,
               "build": lambda: _ok.build_points(x, 0.1, U, 0, P), "copy": copy_gradients,
               "aggregate": lambda: _agg.agg_mean(F, G, out)}, repeats)
    per = (t["step"] - t["loop"]) / n
    per10 = (t["step10"] - t["loop10"]) / n
    header(f"Per-point oracle returning np.float64, n = {n}: overhead per evaluation")
    row("d = 1000: (step - 100 plain calls) / 100", us(per), "target 2 us")
    row("d = 10: the same", us(per10), "calls, checks, the step's fixed cost: does not grow with d")
    row("d = 1000, building 99 points, per evaluation", us(t["build"] / (n - 1)), "")
    row("d = 1000, copying 99 returned gradients, per evaluation", us(t["copy"] / (n - 1)), "")
    row("d = 1000, the mean over the (100, 1000) block, per evaluation", us(t["aggregate"] / n), "")


# -- Laplacian smoothing ---------------------------------------------------------------------------
def section_laplacian(repeats: int) -> None:
    header("Laplacian smoothing (sigma = 1) against np.copyto, per element")
    cases = [((1 << 16,), "float64"), ((1 << 16,), "float32"), ((1 << 20,), "float32"), ((64, 1 << 14), "float32")]
    for shape, dtype in cases:
        gvec = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        out = np.empty_like(gvec)
        size = gvec.size

        def serial():
            with ns.config.override(laplacian_serial_max_elements=1 << 40):
                laplacian_smooth(gvec, 1.0, out=out)

        def parallel():
            with ns.config.override(laplacian_serial_max_elements=1):
                laplacian_smooth(gvec, 1.0, out=out)

        t = timed({"copy": lambda: np.copyto(out, gvec), "auto": lambda: laplacian_smooth(gvec, 1.0, out=out),
                   "serial": serial, "parallel": parallel}, repeats)
        per = {k: v / size * 1e9 for k, v in t.items()}
        label = "x".join(str(s) for s in shape)
        row(f"{label} {dtype}: np.copyto", f"{per['copy']:.2f} ns", us(t["copy"]))
        row(f"{label} {dtype}: laplacian_smooth", f"{per['auto']:.2f} ns",
            f"{t['auto'] / t['copy']:.2f}x the copy (target 2x), kernel {_KERNELS['auto']} (load {loadavg()}); "
            f"one thread {per['serial']:.2f} ns, two threads {per['parallel']:.2f} ns ({_KERNELS['parallel']})")
        _KERNELS.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="interleaved rounds")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated subset of " + ",".join(SECTIONS))
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    for s in only:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}; choose from {SECTIONS}")
    print(f"# What bounds the missed rows (numsmooth {ns.__version__})\n")
    print("\n".join(machine_header()))
    print(f"- numba threads: {numba.get_num_threads()}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    for s in only:
        globals()[f"section_{s}"](args.repeats)


if __name__ == "__main__":
    main()
