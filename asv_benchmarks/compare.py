"""Side-by-side ratios for the performance targets of the issue, as a markdown table.

Run from anywhere, preferably with a Python that has torch and torchzero 0.4.4 as well::

    python asv_benchmarks/compare.py [--repeats 7] [--quick]

Each row times its two contenders in the same process, interleaved (A, B, A, B, ...), and
reports the median over ``--repeats`` rounds (at least 5) of the per-round time, and of the
per-round ratio. Interleaving matters on a shared machine: a burst of load hits both sides of a
round, so the ratio is steadier than either time. Columns that need torchzero read "n/a" when
torch or torchzero cannot be imported. If ``compare_laplacian.py`` sits next to this file, its
output is appended.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import numba  # noqa: E402
from numba import njit  # noqa: E402

import numsmooth as ns  # noqa: E402
from bench_steps import LR, ROSENBROCK, SIGMA, make_optimizer, rosenbrock_numpy  # noqa: E402
from numsmooth.perturbations import draw_perturbations, seed_to_key  # noqa: E402

D, N = 1000, 100
_ENV_KEYS = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
             "OMP_NUM_THREADS", "NUMBA_DISABLE_JIT")

try:
    import torch
    import torchzero as tz

    HAVE_TZ = True
except Exception:  # pragma: no cover - depends on the environment
    torch = tz = None
    HAVE_TZ = False


# -- timing ------------------------------------------------------------------------------------
def per_call(fn, number: int) -> float:
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def calibrate(fn, target: float = 0.2) -> int:
    """Calls per round so that a round lasts about ``target`` seconds."""
    fn()
    t = per_call(fn, 1)
    number = max(1, int(target / max(t, 1e-7)))
    t = per_call(fn, number)
    return max(1, int(target / max(t, 1e-7)))


def interleaved(fns, repeats: int, target: float = 0.2):
    """Median per-call time of each function, timed in interleaved rounds, plus per-round times."""
    numbers = [calibrate(f, target) for f in fns]
    rounds = [[] for _ in fns]
    for _ in range(repeats):
        for k, (f, num) in enumerate(zip(fns, numbers)):
            rounds[k].append(per_call(f, num))
    return [statistics.median(r) for r in rounds], rounds


def median_ratio(num_rounds, den_rounds) -> float:
    return statistics.median(a / b for a, b in zip(num_rounds, den_rounds))


def fmt_t(t: float | None) -> str:
    if t is None:
        return "n/a"
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


# -- contenders ----------------------------------------------------------------------------------
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


@njit
def _oracle_loop(fun, X, G):
    s = 0.0
    for i in range(X.shape[0]):
        s += fun(X[i], G[i])
    return s


@njit(parallel=True)
def _oracle_loop_parallel(fun, X, F, G):
    for i in numba.prange(X.shape[0]):
        F[i] = fun(X[i], G[i])


# -- rows ------------------------------------------------------------------------------------------
def machine() -> list[str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "n/a"
    import scipy

    versions = (f"Python {platform.python_version()}, numsmooth {ns.__version__}, numpy {np.__version__}, "
                f"numba {numba.__version__}, scipy {scipy.__version__}")
    if HAVE_TZ:
        import importlib.metadata as md

        versions += f", torch {torch.__version__}, torchzero {md.version('torchzero')}"
    else:
        versions += ", torch/torchzero not importable"
    return [
        f"- CPU: {cpu}",
        f"- cores: {os.cpu_count()} logical, {affinity} usable; load average at start: {load}",
        f"- numba threads: {numba.get_num_threads()} (threading layer: {numba.threading_layer()})"
        + (f"; torch threads: {torch.get_num_threads()}" if HAVE_TZ else ""),
        f"- {versions}",
        "- environment: " + (", ".join(f"{k}={os.environ[k]}" for k in _ENV_KEYS if k in os.environ) or "defaults")
        + " (OpenMP spin-waiting makes every parallel region very slow on a loaded machine)",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (>= 5)")
    ap.add_argument("--quick", action="store_true", help="shorter rounds (0.05 s instead of 0.2 s)")
    args = ap.parse_args(argv)
    repeats = max(5, args.repeats)
    target = 0.05 if args.quick else 0.2
    if HAVE_TZ:
        torch.set_num_threads(2)

    rows = []  # (metric, numsmooth, reference, value, target, ok)

    def add(metric, a, b, value, target_txt, ok):
        rows.append((metric, a, b, value, target_txt, "yes" if ok else ("n/a" if ok is None else "**no**")))

    jit_step = numsmooth_step(ROSENBROCK.fun)
    np_step = numsmooth_step(rosenbrock_numpy)

    # 1-2. GS step vs torchzero
    if HAVE_TZ:
        tz_step = torchzero_step()
        (t_jit, t_np, t_tz), r = interleaved([jit_step, np_step, tz_step], repeats, target)
        ratio_jit = median_ratio(r[2], r[0])
        ratio_np = median_ratio(r[2], r[1])
        add("GS step, jitted Rosenbrock d=1000 n=100, speedup vs torchzero", fmt_t(t_jit), fmt_t(t_tz),
            f"{ratio_jit:.0f}x", ">= 200x (min 100x)", ratio_jit >= 100)
        add("GS step, per-point NumPy oracle, speedup vs torchzero", fmt_t(t_np), fmt_t(t_tz),
            f"{ratio_np:.1f}x", ">= 10x", ratio_np >= 10)
    else:
        (t_jit, t_np), r = interleaved([jit_step, np_step], repeats, target)
        add("GS step, jitted Rosenbrock d=1000 n=100, speedup vs torchzero", fmt_t(t_jit), "n/a", "n/a",
            ">= 200x (min 100x)", None)
        add("GS step, per-point NumPy oracle, speedup vs torchzero", fmt_t(t_np), "n/a", "n/a", ">= 10x", None)

    # 3. numsmooth overhead over the bare oracle cost (jitted step)
    opt = make_optimizer(D, N)
    U = ns.GradientSampling(sigma=SIGMA, n=N, seed=0).sampler.block(D)
    X = np.ascontiguousarray(np.vstack([opt.x, opt.x + SIGMA * U]))
    G = np.empty_like(X)
    F = np.empty(N)
    fun = ROSENBROCK.fun
    _oracle_loop(fun, X, G)
    _oracle_loop_parallel(fun, X, F, G)
    (t_step, t_ser, t_par), r = interleaved(
        [jit_step, lambda: _oracle_loop(fun, X, G), lambda: _oracle_loop_parallel(fun, X, F, G)],
        repeats, target)
    ov_ser = statistics.median((a - b) / b for a, b in zip(r[0], r[1]))
    ov_par = statistics.median((a - b) / b for a, b in zip(r[0], r[2]))
    add("numsmooth overhead: (step - n serial jitted evals) / n evals", fmt_t(t_step), fmt_t(t_ser),
        f"{100 * ov_ser:.0f}%", "<= 50%", ov_ser <= 0.5)
    add("  same, against n evals in a 2-thread prange loop (stricter)", fmt_t(t_step), fmt_t(t_par),
        f"{100 * ov_par:.0f}%", "(info)", None)

    # 4. per-point Python oracle overhead per evaluation
    for d in (10, D):
        g0 = np.ones(d)

        def canned(x, _g=g0):
            return 1.0, _g

        Xc = np.zeros((N, d))

        def bare(_X=Xc):
            for i in range(N):
                canned(_X[i])

        opts = {}
        for m in (N, 10 * N):
            o = ns.Optimizer(np.zeros(d), ns.GradientSampling([ns.LR(LR)], sigma=SIGMA, n=m, seed=0))
            o.step(canned)
            opts[m] = o
        (t_small, t_big, t_bare), r = interleaved(
            [lambda: opts[N].step(canned), lambda: opts[10 * N].step(canned), bare], repeats, target)
        # slope per evaluation (removes the fixed cost of a step), minus the bare call
        per_eval = statistics.median((b - a) / (9 * N) - c / N for a, b, c in zip(r[0], r[1], r[2]))
        add(f"per-point Python oracle overhead per evaluation, d={d}",
            fmt_t((t_big - t_small) / (9 * N)), fmt_t(t_bare / N) + " bare call",
            f"{per_eval * 1e6:.2f} us", "<= 3 us", per_eval <= 3e-6)

    # 5. perturbation throughput
    key = seed_to_key(0)
    out = np.empty((1000, 1000))
    draw_perturbations("gaussian", key, 0, 1000, 1000, out=out)
    rng = np.random.default_rng(0)
    (t_ns, t_rng), r = interleaved(
        [lambda: draw_perturbations("gaussian", key, 0, 1000, 1000),
         lambda: rng.standard_normal((1000, 1000))], repeats, target)
    ratio = median_ratio(r[1], r[0])
    add("perturbations: draw_perturbations('gaussian', 1000x1000) vs default_rng.standard_normal",
        fmt_t(t_ns), fmt_t(t_rng), f"{ratio:.2f}x", ">= 2x", ratio >= 2)
    (t_ns_o, t_rng_o), r = interleaved(
        [lambda: draw_perturbations("gaussian", key, 0, 1000, 1000, out=out),
         lambda: rng.standard_normal((1000, 1000), out=out)], repeats, target)
    ratio_o = median_ratio(r[1], r[0])
    add("  same, both writing into a preallocated out", fmt_t(t_ns_o), fmt_t(t_rng_o), f"{ratio_o:.2f}x",
        "(info)", None)

    print("# numsmooth performance targets\n")
    print("\n".join(machine()))
    print(f"- method: interleaved rounds of ~{target} s each, median of {repeats} rounds; "
          "ratios are medians of per-round ratios\n")
    print("| metric | numsmooth | reference | result | target | met |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()

    lap = os.path.join(HERE, "compare_laplacian.py")
    if os.path.exists(lap):
        print("\n## Laplacian smoothing (compare_laplacian.py)\n")
        sys.stdout.flush()
        res = subprocess.run([sys.executable, lap], capture_output=True, text=True)
        print(res.stdout.rstrip())
        if res.returncode != 0:
            print(f"\ncompare_laplacian.py exited with {res.returncode}:\n{res.stderr[-2000:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
