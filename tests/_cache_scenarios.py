"""Workloads for ``test_cache_processes.py``, run as ``python _cache_scenarios.py NAME...``.

Each name exercises kernels that have a serial and a parallel version (aggregates, streaming,
perturbation draws, jitted oracles) at sizes below ("small") or above ("large") the parallel
thresholds, so that a sequence of processes sharing one ``NUMBA_CACHE_DIR`` compiles and loads
them in different orders.
"""

import os
import sys

import numpy as np

import numsmooth as ns
from numsmooth.perturbations import draw_perturbations

AGGREGATES = ("mean", "max", "min", "min-norm", "min-value")
ROSENBROCK = ns.problems.get("rosenbrock").fun  # jitted, cached kernel


def nan_oracle(x):
    return float("nan"), np.full_like(x, np.nan)


def aggregates(d, n, stream):
    """Every aggregate on the batch or the streaming path, with all-NaN and with jitted values."""
    with ns.config.override(block_budget_bytes=1 if stream else 1 << 62):
        for agg in AGGREGATES:
            ns.smoothed(nan_oracle, sigma=0.1, n=4, aggregate=agg, seed=0)(np.zeros(d))
            f, g = ns.smoothed(ROSENBROCK, sigma=0.1, n=n, aggregate=agg, seed=0)(np.full(d, 0.5))
            assert np.isfinite(f) and g.shape == (d,)


def draws(m, d):
    for dist in ("gaussian", "uniform", "rademacher", "sphere", "ball"):
        U = draw_perturbations(dist, 7, 0, m, d)
        assert np.isfinite(U).all()


def step(d):
    """The report's workload: one GradientSampling step (n = 100, so it streams at this d)."""
    opt = ns.Optimizer(np.zeros(d), ns.GradientSampling(None, sigma=0.1, seed=0), ns.LR(1e-3))
    opt.step(ROSENBROCK)
    assert np.isfinite(opt.x).all()


def laplacian(parallel):
    """The recursive solve of one long line with the serial or the parallel kernel, saved for
    the test to compare bit for bit (the two kernels must agree whichever process compiled them)."""
    g = np.random.default_rng(3).standard_normal((2, 2**19 + 3))
    knobs = {"load_check_seconds": 0, "laplacian_serial_max_elements": 0 if parallel else 1 << 40}
    with ns.config.override(**knobs):
        y = ns.laplacian_smooth(g, 1.0, method="recursive")
        y32 = ns.laplacian_smooth(g.astype(np.float32), 1.0, method="recursive")
    name = "parallel" if parallel else "serial"
    np.save(os.path.join(os.environ["NUMSMOOTH_SCENARIO_OUT"], f"laplacian-{name}.npy"), y)
    np.save(os.path.join(os.environ["NUMSMOOTH_SCENARIO_OUT"], f"laplacian32-{name}.npy"), y32)


SCENARIOS = {
    # the observed crash: tiny all-NaN aggregates, then a large step, twice
    "A": lambda: aggregates(5, 4, False),
    "B": lambda: step(100_000),
    "small": lambda: (aggregates(5, 4, False), aggregates(5, 4, True), draws(3, 5)),
    "large": lambda: (aggregates(70_000, 16, False), aggregates(70_000, 4, True), draws(4, 70_000)),
    "lap-serial": lambda: laplacian(False),
    "lap-parallel": lambda: laplacian(True),
}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        SCENARIOS[name]()
    print("ok")
