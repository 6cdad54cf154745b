"""Jitted oracles fold each gradient into the aggregate inside the evaluation kernel: the same
bits as the gradient-block path, whatever the number of threads, kept or streamed block."""

import numba
import numpy as np
import pytest

import numsmooth as ns
from numsmooth import config
from numsmooth.oracles import GradientTransformOracle, Oracle
from numsmooth._layout import ParamLayout

FOLDABLE = ["mean", "max", "min", "min-norm", "min-value"]
PARALLEL = dict(parallel_min_elements=1, reduce_parallel_min_elements=1, oracle_parallel_min_elements=1,
                load_check_seconds=0)
SERIAL = dict(oracle_parallel_min_elements=1 << 62)


@numba.njit
def noisy(x, g):
    """nan and inf values, ties, -0.0 and nan gradient elements: every branch of the folds."""
    f = 0.0
    for j in range(x.shape[0]):
        r = np.round(x[j], 1)
        f += r * r
        g[j] = -0.0 if abs(x[j]) < 0.05 else r
    if x[0] > 1.0:
        f = np.nan
    elif x[0] < -1.2:
        f = np.inf
    if x[1] > 1.3:
        g[2] = np.nan
    return f


def noisy_point(x):
    """The same function as a per-point Python oracle (gradient block path, same bits per point)."""
    g = np.empty_like(x)
    return float(noisy(x, g)), g


def _smoothed(fun, agg, budget, d=3000, n=33, include_x0=True):
    with ns.config.override(block_budget_bytes=budget, stream_chunk_elements=4 * d):
        obj = ns.smoothed(fun, sigma=0.6, n=n, aggregate=agg, seed=3, include_x0=include_x0)
        return obj(np.linspace(-1, 1, d))


@pytest.mark.parametrize("agg", FOLDABLE)
@pytest.mark.parametrize("include_x0", [True, False])
def test_fold_equals_block_path_bit_for_bit(agg, include_x0, threads):
    f0, g0 = _smoothed(noisy_point, agg, 1 << 62, include_x0=include_x0)
    for knobs in (SERIAL, PARALLEL):
        for budget in (1 << 62, 1):  # kept block, streamed chunks
            with ns.config.override(**knobs):
                for f1, g1 in threads(lambda: _smoothed(noisy, agg, budget, include_x0=include_x0)):
                    assert repr(f1) == repr(f0)
                    assert np.array_equal(np.signbit(g1), np.signbit(g0))
                    assert np.array_equal(g1, g0, equal_nan=True)


def test_fold_counts_every_evaluation():
    for fun in (noisy, noisy_point):
        opt = ns.Optimizer(np.linspace(-1, 1, 50), ns.GradientSampling([ns.LR(1e-3)], sigma=0.1, n=20, seed=0))
        opt.step(fun)
        assert opt.num_evaluations == 20


def test_fold_names_the_failing_sample(knobs):
    @numba.njit
    def raises(x, g):
        for j in range(x.shape[0]):
            g[j] = x[j]
        if x[0] > 1.5:
            raise ValueError("too far")
        return 0.0

    for k in (SERIAL, PARALLEL):
        knobs(**k)
        obj = ns.smoothed(raises, sigma=1.0, n=40, seed=0)
        with pytest.raises(ns.OracleError, match="at sample"):
            obj(np.ones(5))


def test_gradient_transforms_are_not_bypassed():
    layout, _ = ParamLayout.from_params(np.zeros(3))
    base = Oracle(noisy, layout)
    assert base.folds_perturbed(None)
    assert not Oracle(noisy_point, layout).folds_perturbed(None)
    assert not GradientTransformOracle(base, lambda g: 2 * g).folds_perturbed(None)
    # through a gradient transform the smoothed gradient is the transformed one
    x = np.linspace(-1, 1, 3)
    sampler = ns.sampler.Sampler(n=6, aggregate="mean")
    f, g, _, _ = sampler.evaluate(GradientTransformOracle(base, lambda g: 2 * g), x, 0.5, 7, 0)
    f0, g0, _, _ = sampler.evaluate(base, x, 0.5, 7, 0)
    assert f == f0 and np.array_equal(g, 2 * g0)


def test_default_block_budget_suits_a_laptop():
    # an eighth of physical memory, clamped: d = 1e6, n = 100 perturbations (792 MB) are kept
    # on an 8 GiB machine, and never more than 1 GiB is held
    assert 1 << 28 <= config.KNOBS["block_budget_bytes"].default <= 1 << 30


@pytest.mark.parametrize("budget", [1 << 62, 1])
def test_fold_with_only_the_x0_term(budget, knobs):
    knobs(block_budget_bytes=budget)
    x = np.linspace(-1, 1, 7)
    g = np.empty(7)
    f = noisy(x, g)
    fs, gs = ns.smoothed(noisy, n=1, seed=0)(x)
    assert fs == f and np.array_equal(gs, g)
