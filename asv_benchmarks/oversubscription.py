"""numsmooth on a busy machine: quiet vs loaded, for several threading settings.

Each setting runs in 5 fresh processes (a setting such as ``OMP_WAIT_POLICY`` is read once, when
GNU OpenMP loads) first on the machine as it is ("quiet"), then with two CPU-bound competing
processes ("loaded"). Every process prints the median of

- one ``Optimizer.step`` of ``GradientSampling(None, sigma=0.1, n=100, seed=0)`` with the jitted
  Rosenbrock oracle ``ns.problems.get("rosenbrock").fun`` at d = 1000, and
- ``laplacian_smooth`` of one line of N = 2^20 (sigma = 1, method "auto"), and
- one step of the Burke-Lewis-Overton recipe ``ns.recipes.gradient_sampling(100)`` on maxq at
  d = 100 (200 points a step, then the min-norm-hull QP whose Gram matrix is a BLAS product),
  with the jitted oracle and with a batched NumPy one.

Usage::

    python asv_benchmarks/oversubscription.py [setting ...]

Settings: ``default`` (numsmooth as shipped, no user setting), ``gomp-default`` (libgomp's own
default, spin-waiting, as before numsmooth chose a wait policy: ``GOMP_SPINCOUNT=300000``),
``active`` (``OMP_WAIT_POLICY=ACTIVE``), ``workqueue`` (Numba's workqueue layer) and
``serial`` (every parallel threshold above the work, via ``NUMSMOOTH_*``), ``blas-unlimited``
(the hull QP's BLAS product on OpenBLAS's default threads, as before numsmooth limited it to one)
and ``openblas-1`` (``OPENBLAS_NUM_THREADS=1`` for the whole process). The background load
(``uptime``) is printed with the figures: the machine may be shared.
"""

import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "default": {},
    "gomp-default": {"GOMP_SPINCOUNT": "300000"},
    "active": {"OMP_WAIT_POLICY": "ACTIVE"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "serial": {"NUMSMOOTH_PARALLEL_MIN_ELEMENTS": str(1 << 62),
               "NUMSMOOTH_REDUCE_PARALLEL_MIN_ELEMENTS": str(1 << 62),
               "NUMSMOOTH_ORACLE_PARALLEL_MIN_ELEMENTS": str(1 << 62),
               "NUMSMOOTH_LAPLACIAN_SERIAL_MAX_ELEMENTS": str(1 << 62)},
    "blas-unlimited": {"OVERSUBSCRIPTION_BLAS_UNLIMITED": "1"},
    "openblas-1": {"OPENBLAS_NUM_THREADS": "1"},
}
PROCESSES = 5
OWN_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER", "OPENBLAS_NUM_THREADS",
           "OVERSUBSCRIPTION_BLAS_UNLIMITED")

WORKER = r"""
import os, time, statistics, numpy as np, numsmooth as ns, numsmooth.hull
if os.environ.get("OVERSUBSCRIPTION_BLAS_UNLIMITED"):
    numsmooth.hull.ONE_BLAS_THREAD_FROM = 1 << 62
fun = ns.problems.get("rosenbrock").fun
opt = ns.Optimizer(np.full(1000, 0.5), ns.GradientSampling(None, sigma=0.1, n=100, seed=0), ns.LR(1e-9))
g = np.random.default_rng(0).standard_normal(1 << 20)
out = np.empty_like(g)
for _ in range(20):
    opt.step(fun); ns.laplacian_smooth(g, 1.0, out=out)
def med(f, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
step = med(lambda: opt.step(fun), 300)
lap = med(lambda: ns.laplacian_smooth(g, 1.0, out=out), 60)
maxq = ns.problems.get("maxq")
@ns.batched
def maxq_batched(X):
    i = np.argmax(X * X, axis=1)
    r = np.arange(X.shape[0])
    G = np.zeros_like(X)
    G[r, i] = 2 * X[r, i]
    return X[r, i] ** 2, G
recipe = []
for oracle in (maxq.fun, maxq_batched):
    blo = ns.Optimizer(maxq.x0(100), *ns.recipes.gradient_sampling(100, seed=0))
    for _ in range(3):
        blo.step(oracle)
    recipe.append(med(lambda: blo.step(oracle), 30))
print(f"{step * 1e3:.4f} {lap * 1e3:.4f} {recipe[0] * 1e3:.4f} {recipe[1] * 1e3:.4f}")
"""

BUSY = "while True: pass"


def run_setting(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in OWN_ENV}
    env.update(env_extra)
    res = []
    for _ in range(PROCESSES):
        out = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True,
                             check=True).stdout.split()
        res.append(tuple(float(v) for v in out))
    return res


def fmt(res):
    cols = (("step", 3), ("laplacian", 2), ("BLO recipe jitted", 2), ("BLO recipe batched", 2))
    parts = []
    for k, (name, digits) in enumerate(cols):
        vals = [r[k] for r in res]
        parts.append(f"{name} ms: median {statistics.median(vals):.{digits}f}, worst {max(vals):.{digits}f} "
                     f"[{' '.join(f'{v:.{digits}f}' for v in vals)}]")
    return "; ".join(parts)


def main(names):
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"cores: {os.cpu_count()}, {PROCESSES} processes per setting, medians per process")
    for name in names:
        quiet = run_setting(SETTINGS[name])
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
        try:
            time.sleep(0.5)
            loaded = run_setting(SETTINGS[name])
        finally:
            for p in busy:
                p.kill()
                p.wait()
        print(f"{name:13s} quiet : {fmt(quiet)}")
        print(f"{name:13s} loaded: {fmt(loaded)}")
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(SETTINGS))
