"""num_evaluations counts the calls of the user's function actually made, also when a step fails
part way, for every kind of oracle (per point, batched, on an executor, jitted); and the
messages of the oracle's and GradientSampling's bad input say what is wrong.

The reference is the user's function counting its own calls (a brute-force count), or, for a
jitted function, which cannot count, the points a serial evaluation reaches before the one that
raises (known from the perturbations, given explicitly)."""

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import numsmooth as ns
from numsmooth.oracles import make_oracle
from numsmooth._layout import ParamLayout

SERIAL = dict(oracle_parallel_min_elements=1 << 62)


class Counting:
    """Per-point sum of squares that counts its calls and raises at call ``fail_at``."""

    def __init__(self, fail_at=None):
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return float(x @ x), 2 * x


def _fails_in_second_step(modules, fail_in_step, executor=None):
    """The calls made and the optimizer's count when the oracle raises at call ``fail_in_step``
    of the second step."""
    probe = Counting()
    ns.Optimizer(np.ones(4), *modules()).step(probe)
    per_step = probe.calls
    fun = Counting(fail_at=per_step + fail_in_step)
    opt = ns.Optimizer(np.ones(4), *modules())
    opt.step(fun)
    with pytest.raises(ns.OracleError, match="boom"):
        opt.step(fun)
    return per_step, fun.calls, opt.num_evaluations


@pytest.mark.parametrize("fail_in_step", [1, 3, 6])
def test_a_six_point_step_that_fails_at_call_k_counts_k(fail_in_step):
    per_step, calls, counted = _fails_in_second_step(
        lambda: [ns.GradientSampling([ns.LR(0.1)], sigma=0.1, n=6, seed=0)], fail_in_step)
    assert per_step == 6
    assert calls == counted == per_step + fail_in_step


@pytest.mark.parametrize("fail_in_step", [2, 7, 11])
def test_a_step_with_a_line_search_counts_the_calls_it_made(fail_in_step):
    # the gradient-sampling step and the backtracking trials: 6 points per trial
    per_step, calls, counted = _fails_in_second_step(
        lambda: [ns.GradientSampling([ns.Backtracking(init=100.0)], sigma=0.1, n=6, seed=0)], fail_in_step)
    assert per_step > 11
    assert calls == counted == per_step + fail_in_step


@pytest.mark.parametrize("chunksize", [1, 2, None])
def test_an_executor_counts_the_calls_its_workers_made(chunksize):
    with ThreadPoolExecutor(2) as pool:
        for k in (1, 4, 9):
            per_step, calls, counted = _fails_in_second_step(
                lambda: [ns.GradientSampling([ns.LR(0.1)], sigma=0.1, n=10, seed=0, executor=pool,
                                             chunksize=chunksize)], k)
            # the workers may have started points after the failing one: they count, as called
            assert calls >= per_step + k
            assert counted == calls


def test_a_batched_call_counts_the_points_it_was_handed():
    calls = []

    @ns.batched
    def fun(X):
        calls.append(X.shape[0])
        if len(calls) == 3:
            raise RuntimeError("boom")
        return (X * X).sum(axis=1), 2 * X

    # include_x0=False: one batched call of 5 points per evaluation; a line search evaluates again
    opt = ns.Optimizer(np.ones(3), ns.GradientSampling([ns.Backtracking(init=100.0)], sigma=0.1, n=5,
                                                        include_x0=False, seed=0))
    with pytest.raises(ns.OracleError, match="boom"):
        for _ in range(3):
            opt.step(fun)
    assert opt.num_evaluations == sum(calls)


@numba.njit
def _raises_far_out(x, g):
    """A bowl that raises where x[0] > 10."""
    if x[0] > 10.0:
        raise ValueError("boom")
    g[:] = 2 * x
    return (x * x).sum()


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="counts the kernels' calls")
@pytest.mark.parametrize("aggregate", ["mean", "min-norm-hull"])  # the fold kernel and the block kernel
@pytest.mark.parametrize("failing", [0, 2, 4])
def test_a_serial_jitted_kernel_that_raises_counts_up_to_the_failing_point(aggregate, failing, knobs):
    knobs(**SERIAL)
    U = np.zeros((5, 3))
    U[failing, 0] = 100.0  # x + sigma u has x[0] > 10 at this point only
    gs = ns.GradientSampling([ns.LR(0.1)], sigma=1.0, n=6, aggregate=aggregate, distribution=U, seed=0)
    opt = ns.Optimizer(np.ones(3), gs)
    with pytest.raises(ns.OracleError, match=f"boom at sample {failing + 1}"):
        opt.step(_raises_far_out)
    assert opt.num_evaluations == 1 + failing + 1  # f(x), the points before, the failing one


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="counts the kernels' calls")
@pytest.mark.parametrize("aggregate", ["mean", "min-norm-hull"])
def test_a_parallel_jitted_kernel_that_raises_counts_at_least_the_failing_call(aggregate, knobs):
    knobs(oracle_parallel_min_elements=1, parallel_min_elements=1, load_check_seconds=0)
    U = np.zeros((7, 3))
    U[5, 0] = 100.0
    gs = ns.GradientSampling([ns.LR(0.1)], sigma=1.0, n=8, aggregate=aggregate, distribution=U, seed=0)
    opt = ns.Optimizer(np.ones(3), gs)
    # inside a parallel region Numba drops the exception: the point's gradient is missing, and
    # the error names it and what it raised
    with pytest.raises(ns.OracleError, match="raised ValueError: boom at sample 6"):
        opt.step(_raises_far_out)
    # f(x) and the failing point at least; never more than were handed over
    assert 2 <= opt.num_evaluations <= 8


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="counts the kernels' calls")
def test_a_jitted_oracle_counts_each_point_of_a_block_it_was_given(knobs):
    knobs(**SERIAL)
    layout, _ = ParamLayout.from_params(np.zeros(2))
    oracle = make_oracle(_raises_far_out, layout)
    X = np.array([[0.0, 1.0], [2.0, 3.0], [11.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ns.OracleError, match="boom at sample 2"):
        oracle.evaluate_points(X, np.empty(4), np.empty((4, 2)))
    assert oracle.num_evaluations == 3
    oracle.evaluate_points(X[:2], np.empty(2), np.empty((2, 2)))
    assert oracle.num_evaluations == 5


# -- messages -----------------------------------------------------------------------------------
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="signatures are only checked by compiling")
def test_a_jitted_oracle_with_one_argument_is_told_what_it_must_look_like():
    @numba.njit
    def one_arg(x):
        return x @ x

    with pytest.raises(ns.OracleError) as info:
        ns.minimize(one_arg, np.ones(3), ns.LR(0.1), maxiter=1)
    text = str(info.value)
    assert "fun(x, g_out) -> f" in text and "one_arg(x) does not take two arguments" in text
    assert "nopython" not in text and "Failed in" not in text


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="signatures are only checked by compiling")
def test_a_jitted_oracle_that_does_not_compile_for_two_arrays_is_told_why_without_numbas_banner():
    @numba.njit
    def scalar_g(x, g):
        return x @ g.foo

    with pytest.raises(ns.OracleError) as info:
        ns.minimize(scalar_g, np.ones(3), ns.LR(0.1), maxiter=1)
    text = str(info.value)
    assert "fun(x, g_out) -> f" in text and "'scalar_g'" in text and "foo" in text
    assert "nopython" not in text and "Failed in" not in text


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_gradient_sampling_refuses_a_sigma_that_is_not_positive(sigma):
    with pytest.raises(ValueError, match=rf"sigma must be > 0.0; got {sigma}"):
        ns.GradientSampling(sigma=sigma)


def test_the_oracle_base_class_is_not_made_directly():
    layout, _ = ParamLayout.from_params(np.zeros(2))
    with pytest.raises(TypeError, match="make_oracle"):
        ns.oracles.Oracle(lambda x: (0.0, x), layout)
    oracle = make_oracle(lambda x: (0.0, x), layout)
    assert isinstance(oracle, ns.oracles.PointOracle) and make_oracle(oracle, layout) is oracle
    assert isinstance(make_oracle(ns.batched(lambda X: (X[:, 0], X)), layout), ns.oracles.BatchedOracle)
    assert isinstance(make_oracle(_raises_far_out, layout), ns.oracles.JittedOracle)
