"""Memory independent of n: streamed evaluations give the batch path's bits and keep no (n, d) block."""

import tracemalloc

import numpy as np
import pytest

import numsmooth as ns
from numsmooth.problems import get

ROSEN = get("rosenbrock")


def _run(budget, chunk, aggregate, distribution, antithetic, include_x0, strategy, knobs):
    knobs(block_budget_bytes=budget, stream_chunk_elements=chunk)
    gs = ns.GradientSampling([ns.LR(1e-4)], sigma=0.2, n=13, aggregate=aggregate, distribution=distribution,
                             antithetic=antithetic, include_x0=include_x0, seed=4, fixed=False,
                             sigma_strategy=strategy)
    opt = ns.Optimizer(ROSEN.x0(40), gs)
    xs, sig = [], []
    for _ in range(3):
        opt.step(ROSEN.fun)
        xs.append(opt.x.copy())
        sig.append(gs.sigma)
    return np.array(xs), sig


@pytest.mark.parametrize("aggregate", ["mean", "max", "min", "min-norm", "min-value"])
@pytest.mark.parametrize("distribution, antithetic", [("gaussian", False), ("gaussian", True), ("uniform", False),
                                                      ("rademacher", True), ("sphere", False), ("ball", True)])
def test_streamed_steps_equal_batch_steps(aggregate, distribution, antithetic, knobs):
    for include_x0, strategy in [(True, "grad-norm"), (False, "value")]:
        batch = _run(1 << 40, 1 << 22, aggregate, distribution, antithetic, include_x0, strategy, knobs)
        # chunks of 3 points (120 elements) split the 12 or 13 points unevenly
        streamed = _run(1, 120, aggregate, distribution, antithetic, include_x0, strategy, knobs)
        assert np.array_equal(batch[0], streamed[0])
        assert batch[1] == streamed[1]


def test_streamed_errors_name_the_sample(knobs):
    knobs(block_budget_bytes=1, stream_chunk_elements=4)
    calls = []

    def fun(x):
        calls.append(1)
        if len(calls) == 7:
            raise ValueError("bad point")
        return float(x @ x), 2 * x

    opt = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=10, seed=0))
    with pytest.raises(ns.OracleError, match="sample 6"):
        opt.step(fun)
    assert np.array_equal(opt.x, np.ones(2))


def test_perturbations_are_available_after_a_streamed_step(knobs):
    knobs(block_budget_bytes=1)
    gs = ns.GradientSampling([ns.LR(0.1)], n=6, seed=3)
    opt = ns.Optimizer(np.ones(4), gs)
    opt.step(lambda x: (float(x @ x), 2 * x))
    expect = ns.smoothed(lambda x: (float(x @ x), 2 * x), n=6, seed=3)
    expect(np.ones(4))
    assert np.array_equal(gs.perturbations, expect.perturbations)


def _peak_bytes(n, d):
    gs = ns.GradientSampling([ns.LR(1e-9)], sigma=0.1, n=n, seed=0)
    opt = ns.Optimizer(np.ones(d), gs)
    opt.step(ROSEN.fun)  # compile outside the measurement
    tracemalloc.start()
    tracemalloc.reset_peak()
    opt.step(ROSEN.fun)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_peak_memory_does_not_grow_with_n(knobs):
    # small thresholds keep the test quick (also with NUMBA_DISABLE_JIT); the logic is the same
    # as at the defaults (a 256 MiB budget, chunks of 2M elements)
    knobs(block_budget_bytes=(1 << 14) * 16, stream_chunk_elements=1 << 12)
    d = 1000
    small, large = _peak_bytes(40, d), _peak_bytes(160, d)
    block = 160 * d * 8  # what one stored (n, d) block would take
    assert large < 0.5 * block
    assert large < 1.3 * small
