"""Whole ``Optimizer.step`` of gradient sampling, with each kind of oracle.

The configuration is the one of the torchzero comparison (``compare.py``)::

    Optimizer(x0, GradientSampling([LR(1e-6)], sigma=0.1, n=100, seed=0))

on chained Rosenbrock from its standard start ``(-1.2, 1, -1.2, 1, ...)``. JIT compilation is
done in ``setup`` (compile time is not run time); :class:`FirstCall` tracks it separately, in a
fresh interpreter.

The NumPy oracles below are also imported by ``compare.py``, so the suite and the comparison
time the same functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

import numsmooth as ns

ROSENBROCK = ns.problems.get("rosenbrock")

#: The step configuration of the issue: n = 100 samples, sigma = 0.1, a tiny fixed step.
LR = 1e-6
SIGMA = 0.1


# -- oracles: the same function three ways ----------------------------------------------------
def rosenbrock_numpy(x):
    """Per-point NumPy oracle of chained Rosenbrock: ``(f, g)`` for one flat ``x``."""
    a = x[1:] - x[:-1] ** 2
    b = 1.0 - x[:-1]
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * x[:-1] - 2.0 * b
    g[1:] += 200.0 * a
    return float(100.0 * np.dot(a, a) + np.dot(b, b)), g


def _rosenbrock_rows(X):
    a = X[:, 1:] - X[:, :-1] ** 2
    b = 1.0 - X[:, :-1]
    G = np.zeros_like(X)
    G[:, :-1] = -400.0 * a * X[:, :-1] - 2.0 * b
    G[:, 1:] += 200.0 * a
    return 100.0 * np.einsum("ij,ij->i", a, a) + np.einsum("ij,ij->i", b, b), G


#: Batched NumPy oracle: all points of a step in one call.
rosenbrock_batched = ns.batched(_rosenbrock_rows)

ORACLES = {
    "jitted": ROSENBROCK.fun,
    "numpy": rosenbrock_numpy,
    "batched": rosenbrock_batched,
}


def make_optimizer(d: int, n: int, aggregate: str = "mean") -> ns.Optimizer:
    """The optimizer of the comparison at dimension ``d`` with ``n`` samples."""
    gs = ns.GradientSampling([ns.LR(LR)], sigma=SIGMA, n=n, aggregate=aggregate, seed=0)
    return ns.Optimizer(ROSENBROCK.x0(d), gs)


# -- benchmarks --------------------------------------------------------------------------------
class GradientSamplingStep:
    """One step, per oracle kind, over a small grid of ``n`` and ``d``."""

    params = (["jitted", "numpy", "batched"], [10, 100], [100, 1000])
    param_names = ["oracle", "n", "d"]

    def setup(self, oracle, n, d):
        self.fun = ORACLES[oracle]
        self.opt = make_optimizer(d, n)
        for _ in range(3):  # JIT warm-up, first perturbation block drawn
            self.opt.step(self.fun)

    def time_step(self, oracle, n, d):
        self.opt.step(self.fun)


class GradientSamplingStepIssue:
    """The issue's headline case: jitted Rosenbrock, d = 1000, n = 100 (see compare.py)."""

    def setup(self):
        self.fun = ROSENBROCK.fun
        self.opt = make_optimizer(1000, 100)
        for _ in range(3):
            self.opt.step(self.fun)

    def time_step(self):
        self.opt.step(self.fun)


class GradientSamplingAggregate:
    """One step with each aggregate (jitted oracle, d = 1000, n = 100)."""

    params = ["mean", "max", "min", "min-norm", "min-value", "min-norm-hull"]
    param_names = ["aggregate"]

    def setup(self, aggregate):
        self.fun = ROSENBROCK.fun
        self.opt = make_optimizer(1000, 100, aggregate)
        for _ in range(3):
            self.opt.step(self.fun)

    def time_step(self, aggregate):
        self.opt.step(self.fun)


class GradientSamplingMemory:
    """Peak memory of a step at d = 1e6, n = 1000 (jitted oracle, mean aggregate).

    Perturbations are regenerated from their counters in chunks and gradients folded into the
    aggregate as they arrive, so memory does not grow with n: a stored ``(n, d)`` block would be
    8 GB. Target: under 300 MB for the whole process (measured about 280 MB, of which about
    200 MB is Python, NumPy, SciPy and Numba after compilation).
    """

    timeout = 600

    def setup(self):
        self.fun = ROSENBROCK.fun
        warm = make_optimizer(100, 1000)
        import numsmooth as ns

        with ns.config.override(block_budget_bytes=1):
            warm.step(self.fun)  # compile the streaming path on a small problem
        self.opt = make_optimizer(1_000_000, 1000)

    def peakmem_step(self):
        self.opt.step(self.fun)


_FIRST_CALL_SCRIPT = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    import numsmooth as ns
    t1 = time.perf_counter()
    p = ns.problems.get("rosenbrock")
    opt = ns.Optimizer(p.x0(1000), ns.GradientSampling([ns.LR(1e-6)], sigma=0.1, n=100, seed=0))
    opt.step(p.fun)
    t2 = time.perf_counter()
    print(t1 - t0, t2 - t1)
    """
)


def first_call_seconds(cache_dir: str) -> tuple[float, float]:
    """(import time, first-step time) of a fresh interpreter using ``cache_dir`` as Numba's cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL_SCRIPT], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    t_import, t_step = (float(v) for v in out.split())
    return t_import, t_step


class FirstCall:
    """Compile time: ``import numsmooth`` plus the first step, in a fresh interpreter.

    ``cold``: an empty ``NUMBA_CACHE_DIR`` (everything compiles). ``warm``: the cache populated
    by a previous run (the ``cache=True`` kernels load from disk; the oracle-evaluating kernels
    take the oracle as a first-class function and are compiled again in every process).
    """

    params = ["cold", "warm"]
    param_names = ["cache"]
    unit = "seconds"
    timeout = 900
    number = 1
    repeat = 1

    def setup(self, cache):
        self._tmp = tempfile.TemporaryDirectory(prefix="numsmooth-numba-cache-")
        if cache == "warm":
            first_call_seconds(self._tmp.name)

    def teardown(self, cache):
        self._tmp.cleanup()

    def track_time_first_call(self, cache):
        t_import, t_step = first_call_seconds(self._tmp.name)
        return t_import + t_step
