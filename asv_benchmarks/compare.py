"""Performance targets of numsmooth as one markdown table: each row a ratio over a floor or a
reference, both sides timed in the same process.

Run from anywhere (it measures the checkout it sits in), preferably with a Python that also has
torch and torchzero 0.4.4 for the torchzero rows::

    python asv_benchmarks/compare.py [--only floor,pointwise,laplacian,dask] [--quick]
                                     [--repeats 7] [--dims 1e3,1e5,1e6] [--passive-omp] [--busy 1]

Sections (``--only`` takes a comma-separated subset; default all):

- ``torchzero``: the GS step (jitted and per-point NumPy oracles) against torchzero's same step;
- ``floor``: a GS step with the jitted Rosenbrock oracle (n = 100) over the *floor*, the same
  100 prebuilt points through a plain ``numba.prange`` loop over the oracle; with
  ``fixed=False`` over floor + the time to draw the ``(n - 1, d)`` normals; with
  ``fixed=True`` also over the same loop on one thread (the floor of a serial step: on a busy
  machine numsmooth runs serially, the user's ``prange`` floor does not);
- ``pointwise``: microseconds per evaluation a step adds to a per-point Python oracle, by the
  type of the value it returns;
- ``perturbations``: the counter-based generator against NumPy's;
- ``laplacian``: ``laplacian_smooth`` over ``np.copyto`` (then ``compare_laplacian.py``);
- ``dask``: a 20 ms oracle on a 2-process Dask cluster against ``n * 20 ms / 2``.

Every ratio is the median over ``--repeats`` interleaved rounds (A B, B A, ...) of the per-round
ratio; both sides share the process, the Numba threads and the points (see
``benchmarks/_timing.py``; the asv ``track_`` benchmarks of ``bench_overhead.py`` use the same
code). ``--quick`` shortens the rounds (and the Dask and Laplacian grids), not their number.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.path.join(HERE, "benchmarks")
if os.path.isdir(os.path.join(ROOT, "numsmooth")):
    sys.path.insert(0, ROOT)  # the checkout this file belongs to, not whatever is installed
sys.path.insert(0, BENCH)
# subprocesses (Dask workers, compare_laplacian.py) import the same numsmooth and oracles
os.environ["PYTHONPATH"] = os.pathsep.join(
    [p for p in (ROOT, BENCH, os.environ.get("PYTHONPATH")) if p])
if "--passive-omp" in sys.argv:  # must precede the first OpenMP parallel region
    os.environ["GOMP_SPINCOUNT"] = "0"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import numba  # noqa: E402
import numpy as np  # noqa: E402

import numsmooth as ns  # noqa: E402
from _machine import decisions, kernels_run  # noqa: E402
from _machine import header as machine_header  # noqa: E402
from _machine import loadavg  # noqa: E402
from _timing import interleave, median, median_ratio  # noqa: E402
from bench_overhead import (LAPLACIAN_SHAPES, VALUE_TYPES, FloorCase, LaplacianCase,  # noqa: E402
                            PointwiseCase)
from bench_steps import LR, ROSENBROCK, SIGMA, make_optimizer, rosenbrock_numpy  # noqa: E402
from numsmooth.perturbations import draw_perturbations, seed_to_key  # noqa: E402

D, N = 1000, 100
SECTIONS = ("torchzero", "floor", "pointwise", "perturbations", "laplacian", "dask")
_ENV_KEYS = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
             "OMP_NUM_THREADS", "NUMBA_DISABLE_JIT")
#: Dask: oracle cost (seconds), points per step, worker processes.
DASK_SLEEP, DASK_N, DASK_WORKERS = 0.02, 64, 2

try:
    import torch
    import torchzero as tz

    HAVE_TZ = True
except Exception:  # pragma: no cover - depends on the environment
    torch = tz = None
    HAVE_TZ = False


def fmt_t(t: float | None) -> str:
    if t is None:
        return "n/a"
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


def fmt_d(d: int) -> str:
    """1000 -> '1e3', 100000 -> '1e5'; other sizes as they are."""
    e = len(str(d)) - 1
    return f"1e{e}" if d == 10**e else str(d)


class Table:
    """The rows; each records which kernels numsmooth ran for it (serial or parallel, see
    ``_machine.kernels_run``): the decisions numsmooth took since the previous row."""

    def __init__(self):
        self.rows: list[tuple[str, ...]] = []
        self._since = decisions()

    def add(self, work, a, b, value, target, ok):
        met = "n/a" if ok is None else ("yes" if ok else "**no**")
        kernels = kernels_run(self._since)
        self._since = decisions()
        self.rows.append((work, a, b, value, target, met, kernels))
        print(f"  {work}: {value} ({kernels})", file=sys.stderr, flush=True)  # progress

    def print(self):
        print("| work | numsmooth | floor / reference | ratio | target | met | numsmooth kernels |")
        print("|---|---|---|---|---|---|---|")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


# -- torchzero ---------------------------------------------------------------------------------
def torchzero_step(d: int = D, n: int = N):
    """One torchzero 0.4.4 step of the same configuration (torch autograd on Rosenbrock)."""
    torch.set_num_threads(2)
    x = torch.tensor(ROSENBROCK.x0(d), dtype=torch.float64, requires_grad=True)
    opt = tz.Optimizer([x], tz.m.GradientSampling([tz.m.LR(LR)], sigma=SIGMA, n=n, seed=0))

    def closure(backward=True):
        loss = (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
        if backward:
            opt.zero_grad()
            loss.backward()
        return loss

    return lambda: opt.step(closure)


def numsmooth_step(fun, d: int = D, n: int = N):
    opt = make_optimizer(d, n)
    for _ in range(3):
        opt.step(fun)
    return lambda: opt.step(fun)


def section_torchzero(t: Table, rounds: int, rt: float) -> None:
    jit_step = numsmooth_step(ROSENBROCK.fun)
    np_step = numsmooth_step(rosenbrock_numpy)
    if not HAVE_TZ:
        r = interleave([jit_step, np_step], rounds, rt)
        t.add("GS step, jitted Rosenbrock d=1000 n=100, speedup vs torchzero", fmt_t(median(r[0])), "n/a",
              "n/a", ">= 200x (min 100x)", None)
        t.add("GS step, per-point NumPy oracle, speedup vs torchzero", fmt_t(median(r[1])), "n/a", "n/a",
              ">= 10x", None)
        return
    r = interleave([jit_step, np_step, torchzero_step()], rounds, rt)
    ratio_jit, ratio_np = median_ratio(r[2], r[0]), median_ratio(r[2], r[1])
    t.add("GS step, jitted Rosenbrock d=1000 n=100, speedup vs torchzero", fmt_t(median(r[0])),
          fmt_t(median(r[2])), f"{ratio_jit:.0f}x", ">= 200x (min 100x)", ratio_jit >= 100)
    t.add("GS step, per-point NumPy oracle, speedup vs torchzero", fmt_t(median(r[1])), fmt_t(median(r[2])),
          f"{ratio_np:.1f}x", ">= 10x", ratio_np >= 10)


# -- floor -------------------------------------------------------------------------------------
def section_floor(t: Table, rounds: int, rt: float, dims: list[int]) -> None:
    for d in dims:
        for aggregate in ("mean", "max"):
            for fixed in (True, False):
                case = FloorCase(d, aggregate, fixed=fixed)
                r = case.times(rounds, rt, serial=fixed)
                step, floor = median(r[0]), median(r[1])
                if fixed:
                    ratio = median_ratio(r[0], r[1])
                    ref = f"floor {fmt_t(floor)}"
                else:
                    ratio = median_ratio(r[0], [a + b for a, b in zip(r[1], r[2])])
                    ref = f"floor {fmt_t(floor)} + gen {fmt_t(median(r[2]))}"
                t.add(f"GS step / floor, jitted Rosenbrock d={fmt_d(d)} n={N}, {aggregate}, "
                      f"fixed={fixed}", fmt_t(step), ref, f"{ratio:.2f}x", "<= 1.25x", ratio <= 1.25)
                if fixed:  # the floor a serial step has: the same loop on one thread
                    ratio = median_ratio(r[0], r[-1])
                    t.add("  same, over the floor loop on one thread", fmt_t(step),
                          f"serial floor {fmt_t(median(r[-1]))}", f"{ratio:.2f}x", "<= 1.25x", ratio <= 1.25)
                del case, r
                gc.collect()  # d = 1e6 holds 1.6 GB of points and gradients


# -- per-point overhead ------------------------------------------------------------------------
def section_pointwise(t: Table, rounds: int, rt: float) -> None:
    for kind in VALUE_TYPES:
        case = PointwiseCase(kind, d=D, n=N)
        r = case.times(rounds, rt)
        per_eval = median([(a - b) / N for a, b in zip(r[0], r[1])])
        t.add(f"per-point oracle overhead per evaluation, d={D} n={N}, value {kind}",
              f"step {fmt_t(median(r[0]))}", f"{N} plain calls {fmt_t(median(r[1]))}",
              f"{per_eval * 1e6:.2f} us", "<= 2 us", per_eval <= 2e-6)


# -- perturbations -----------------------------------------------------------------------------
def section_perturbations(t: Table, rounds: int, rt: float) -> None:
    key = seed_to_key(0)
    out = np.empty((1000, 1000))
    draw_perturbations("gaussian", key, 0, 1000, 1000, out=out)
    rng = np.random.default_rng(0)
    r = interleave([lambda: draw_perturbations("gaussian", key, 0, 1000, 1000),
                    lambda: rng.standard_normal((1000, 1000))], rounds, rt)
    ratio = median_ratio(r[1], r[0])
    t.add("perturbations: draw_perturbations('gaussian', 1000x1000) vs default_rng.standard_normal "
          "(speedup)", fmt_t(median(r[0])), fmt_t(median(r[1])), f"{ratio:.2f}x", ">= 2x", ratio >= 2)
    r = interleave([lambda: draw_perturbations("gaussian", key, 0, 1000, 1000, out=out),
                    lambda: rng.standard_normal((1000, 1000), out=out)], rounds, rt)
    ratio = median_ratio(r[1], r[0])
    t.add("  same, both writing into a preallocated out", fmt_t(median(r[0])), fmt_t(median(r[1])),
          f"{ratio:.2f}x", "(info)", None)


# -- Laplacian ---------------------------------------------------------------------------------
def section_laplacian(t: Table, rounds: int, rt: float) -> None:
    for shape in LAPLACIAN_SHAPES:
        for dtype in ("float32", "float64"):
            case = LaplacianCase(shape, dtype)
            r = case.times(rounds, rt)
            ratio = median_ratio(r[0], r[1])
            t.add(f"laplacian_smooth(g, 1.0, out=out) / np.copyto, {shape} {dtype}", fmt_t(median(r[0])),
                  f"copy {fmt_t(median(r[1]))}", f"{ratio:.2f}x", "<= 2x", ratio <= 2)
            del case


# -- Dask --------------------------------------------------------------------------------------
def section_dask(t: Table, rounds: int, chunksizes: list) -> None:
    ideal = DASK_N * DASK_SLEEP / DASK_WORKERS
    ref = f"{DASK_N} x {DASK_SLEEP * 1e3:.0f} ms / {DASK_WORKERS} = {fmt_t(ideal)}"
    try:
        from dask.distributed import Client, LocalCluster

        import _oracles
    except Exception as exc:  # pragma: no cover - depends on the environment
        t.add("Dask step / ideal", "n/a", ref, "n/a", "<= 1.15x", None)
        print(f"dask unavailable: {exc}", file=sys.stderr)
        return
    with LocalCluster(n_workers=DASK_WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        executor = client.get_executor()
        for cs in chunksizes:
            gs = ns.GradientSampling(None, sigma=SIGMA, n=DASK_N, seed=0, executor=executor, chunksize=cs)
            opt = ns.Optimizer(np.zeros(10), gs)
            opt.step(_oracles.sleepy)  # ships the function, warms the workers
            r = interleave([lambda: opt.step(_oracles.sleepy)], rounds, 0.0)[0]
            ratio = median(r) / ideal
            t.add(f"Dask step / ideal: 20 ms oracle, n={DASK_N}, LocalCluster 2 processes x 1 thread, "
                  f"chunksize={cs}", fmt_t(median(r)), ref, f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15)


# -- header ------------------------------------------------------------------------------------
def machine() -> list[str]:
    import scipy

    versions = (f"Python {platform.python_version()}, numsmooth {ns.__version__} "
                f"({os.path.dirname(ns.__file__)}), numpy {np.__version__}, numba {numba.__version__}, "
                f"scipy {scipy.__version__}")
    if HAVE_TZ:
        import importlib.metadata as md

        versions += f", torch {torch.__version__}, torchzero {md.version('torchzero')}"
    else:
        versions += ", torch/torchzero not importable"
    return [
        *machine_header(),
        f"- numba threads: {numba.get_num_threads()} (threading layer: {numba.threading_layer()})"
        + (f"; torch threads: {torch.get_num_threads()}" if HAVE_TZ else ""),
        f"- {versions}",
        "- environment: " + (", ".join(f"{k}={os.environ[k]}" for k in _ENV_KEYS if k in os.environ) or "defaults")
        + " (OpenMP spin-waiting makes every parallel region very slow on a loaded machine)",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (>= 5)")
    ap.add_argument("--quick", action="store_true",
                    help="rounds of ~0.02 s instead of 0.1 s, fewer Dask chunk sizes and Laplacian sizes")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections among {', '.join(SECTIONS)}")
    ap.add_argument("--dims", default="1e3,1e5,1e6", help="dimensions of the floor rows")
    ap.add_argument("--passive-omp", action="store_true",
                    help="GOMP_SPINCOUNT=0 OMP_WAIT_POLICY=PASSIVE (for a loaded machine; say so next to the numbers)")
    ap.add_argument("--busy", type=int, default=0, metavar="K",
                    help="run K CPU-bound processes beside the measurement (the 'another process busy' "
                         "table: numsmooth's busy-machine switch then runs its kernels serially)")
    args = ap.parse_args(argv)
    if args.busy < 0:
        ap.error(f"--busy must be >= 0; got {args.busy}")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        return _run(ap, args)
    finally:
        for p in burners:
            p.kill()
            p.wait()


def _run(ap, args) -> int:
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"--only must name sections among {', '.join(SECTIONS)}; got {', '.join(unknown)}")
    rounds = max(5, args.repeats)
    rt = 0.02 if args.quick else 0.1
    dims = [int(float(v)) for v in args.dims.split(",")]
    if HAVE_TZ:
        torch.set_num_threads(2)
    header = machine()

    table = Table()
    if "torchzero" in only:
        section_torchzero(table, rounds, rt)
    if "floor" in only:
        section_floor(table, rounds, rt, dims)
    if "pointwise" in only:
        section_pointwise(table, rounds, rt)
    if "perturbations" in only:
        section_perturbations(table, rounds, rt)
    if "laplacian" in only:
        section_laplacian(table, rounds, rt)
    if "dask" in only:
        section_dask(table, 3 if args.quick else rounds, [None, 1, 8, 32] if args.quick else [None, 1, 2, 4, 8, 16, 32])

    print("# numsmooth performance targets\n")
    print("\n".join(header))
    print(f"- load average at end: {loadavg()}")
    if args.busy:
        print(f"- busy: {args.busy} CPU-bound process(es) ran beside the measurement (--busy {args.busy})")
    print(f"- method: {rounds} interleaved rounds of ~{rt} s per contender (Dask: one step per round), "
          "medians; ratios are medians of per-round ratios")
    print("- numsmooth kernels: what numsmooth ran for the row's work that is large enough for its "
          "parallel kernels: parallel, serial (busy: another process had the cores), serial (size: "
          "below every parallel threshold) or mixed\n")
    table.print()
    sys.stdout.flush()

    lap = os.path.join(HERE, "compare_laplacian.py")
    if "laplacian" in only and os.path.exists(lap):
        print("\n## Laplacian smoothing (compare_laplacian.py)\n")
        sys.stdout.flush()
        extra = ["--repeats", "5", "--sizes", "16,20"] if args.quick else []
        res = subprocess.run([sys.executable, lap, *extra], capture_output=True, text=True)
        print(res.stdout.rstrip())
        if res.returncode != 0:
            print(f"\ncompare_laplacian.py exited with {res.returncode}:\n{res.stderr[-2000:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
