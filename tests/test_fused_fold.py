"""Jitted oracles fold each gradient into the aggregate inside the evaluation kernel: the same
bits as the gradient-block path, whatever the number of threads, kept or streamed block."""

import weakref

import numba
import numpy as np
import pytest

import numsmooth as ns
from numsmooth import config
from numsmooth.oracles import GradientTransformOracle, make_oracle
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


def _smoothed(fun, agg, budget, d=2100, n=17, include_x0=True):
    # d > aggregate.BLOCK (2048): the fold's elementwise work spans two coordinate blocks
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


@pytest.mark.slow
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
    base = make_oracle(noisy, layout)
    assert base.folds_perturbed(None)
    assert not make_oracle(noisy_point, layout).folds_perturbed(None)
    assert not GradientTransformOracle(base, lambda g: 2 * g).folds_perturbed(None)
    # through a gradient transform the smoothed gradient is the transformed one
    x = np.linspace(-1, 1, 3)
    sampler = ns.sampler.Sampler(n=6, aggregate="mean")
    f, g = sampler.evaluate(GradientTransformOracle(base, lambda g: 2 * g), x, 0.5, 7, 0)[:2]
    f0, g0 = sampler.evaluate(base, x, 0.5, 7, 0)[:2]
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



def _with_x0_out(sampler, oracle, x):
    """``sampler.evaluate`` with the x0 term evaluated in the fold kernel: ``(f, g, F, g(x))``."""
    ev = sampler.evaluate(oracle, x, 0.6, 5, 1)
    assert ev.x0 is not None and ev.x0[0] == ev.F[0]
    return ev.f, ev.g, ev.F, ev.x0[1]


@pytest.mark.parametrize("agg", FOLDABLE)
@pytest.mark.parametrize("lo", [-1.1, -1.3])  # f(x) finite, f(x) = inf (skipped by the aggregate)
def test_x0_term_evaluated_in_the_kernel_equals_it_evaluated_apart(agg, lo, threads, knobs):
    """f(x), g(x) evaluated by the fold kernel itself (``x0_out``) give the bits of the x0 term
    evaluated apart and handed over (``x0_term``): kept or streamed block, serial or parallel
    fold, 1 or 2 threads; the kernel counts the extra evaluation."""
    d, n = 2100, 17  # two coordinate blocks of the fold, five chunks of points when streamed
    layout, _ = ParamLayout.from_params(np.zeros(d))
    x = np.linspace(lo, 1.4, d)
    g_ref = np.empty(d)
    f_ref = noisy(x, g_ref)
    sampler = ns.sampler.Sampler(n=n, aggregate=agg)
    for k in (SERIAL, PARALLEL):
        for budget in (1 << 62, 1):
            knobs(**k, block_budget_bytes=budget, stream_chunk_elements=4 * d)
            oracle = make_oracle(noisy, layout)
            f0, g0, F0, _, x0 = sampler.evaluate(oracle, x, 0.6, 5, 1, (f_ref, g_ref))
            assert x0 is None  # given, not evaluated
            assert oracle.num_evaluations == n - 1
            for f1, g1, F1, gx in threads(lambda: _with_x0_out(sampler, oracle, x)):
                assert repr(f1) == repr(f0)
                assert np.array_equal(g1, g0, equal_nan=True) and np.array_equal(np.signbit(g1), np.signbit(g0))
                assert np.array_equal(F1, F0, equal_nan=True) and float(F1[0]) == float(f_ref)
                assert np.array_equal(gx, g_ref, equal_nan=True)
            assert oracle.num_evaluations == n - 1 + 2 * n


@pytest.mark.parametrize("fun", [noisy, noisy_point])
def test_the_x0_term_is_evaluated_once_by_the_route_the_sampler_picks(fun):
    """Given: used, nothing evaluated at x. Not given: evaluated (in the fold kernel for a
    jitted oracle, apart for a per-point one) and handed back. Not included: neither."""
    layout, _ = ParamLayout.from_params(np.zeros(4))
    x = np.array([0.3, -0.2, 0.5, 0.1])
    g_ref = np.empty(4)
    f_ref = noisy(x, g_ref)
    for include_x0 in (True, False):
        sampler = ns.sampler.Sampler(n=5, include_x0=include_x0)
        oracle = make_oracle(fun, layout)
        ev = sampler.evaluate(oracle, x, 0.5, 1, 0)
        assert oracle.num_evaluations == 5
        if include_x0:
            assert ev.x0[0] == f_ref == ev.F[0] and np.array_equal(ev.x0[1], g_ref)
            given = sampler.evaluate(oracle, x, 0.5, 1, 0, ev.x0)
            assert oracle.num_evaluations == 9 and given.x0 is None
            assert given.f == ev.f and np.array_equal(given.g, ev.g) and np.array_equal(given.F, ev.F)
        else:
            assert ev.x0 is None


@numba.njit
def bowl(x, g):
    f = 0.0
    for j in range(x.shape[0]):
        f += (j + 1.0) * x[j] * x[j]
        g[j] = 2.0 * (j + 1.0) * x[j]
    return f


def bowl_point(x):
    g = np.empty_like(x)
    return float(bowl(x, g)), g


def test_step_reports_and_caches_the_x0_term_from_the_kernel():
    """A GS step with a jitted oracle evaluates f(x) in its fold kernel: it reports f(x) exactly,
    counts n evaluations per step, and moves x as the per-point twin (whose f(x) is evaluated
    apart, through the objective) does, bit for bit."""
    x0 = np.linspace(-1, 1, 40)
    opts = [ns.Optimizer(x0, ns.GradientSampling([ns.LR(1e-2)], sigma=0.3, n=9, seed=2)) for _ in range(2)]
    for k in range(3):
        x = opts[0].x.copy()
        g = np.empty_like(x)
        f_jit, f_point = opts[0].step(bowl), opts[1].step(bowl_point)
        assert repr(f_jit) == repr(float(bowl(x, g))) == repr(f_point)
        assert opts[0].num_evaluations == 9 * (k + 1)
        assert np.array_equal(opts[0].x, opts[1].x)


@pytest.mark.slow
def test_x0_term_errors_in_the_kernel_name_the_point(knobs):
    @numba.njit
    def raises_at_x(x, g):
        for j in range(x.shape[0]):
            g[j] = x[j]
        if abs(x[0] - 2.0) < 1e-12:  # the step's point only
            raise ValueError("bad point")
        return 0.0

    @numba.njit
    def forgets_g_at_x(x, g):
        if abs(x[0] - 2.0) < 1e-12:
            return 0.0
        for j in range(x.shape[0]):
            g[j] = x[j]
        return 0.0

    for k in (SERIAL, PARALLEL):
        knobs(**k)
        for fun, message in ((raises_at_x, "bad point"), (forgets_g_at_x, "did not write its gradient")):
            opt = ns.Optimizer(np.full(6, 2.0), ns.GradientSampling([ns.LR(0.1)], sigma=0.5, n=8, seed=0))
            with pytest.raises(ns.OracleError, match=message) as info:
                opt.step(fun)
            assert "at x = " in str(info.value) and "sample" not in str(info.value)
            assert np.array_equal(opt.x, np.full(6, 2.0)) and opt.num_steps == 0


def test_x0_gradient_buffer_is_reused_unless_kept():
    """The step's g(x), evaluated in the fold kernel, lands in a buffer reused from step to step;
    a g(x) somebody still holds (an objective kept by the caller) is never overwritten."""
    gs = ns.GradientSampling([ns.LR(1e-2)], sigma=0.3, n=5, seed=1)
    opt = ns.Optimizer(np.linspace(-1, 1, 12), gs)
    opt.step(bowl)
    first = weakref.ref(gs.sampler.x0_gradient_buffer(12))  # the buffer, without holding it
    opt.step(bowl)
    assert gs.sampler.x0_gradient_buffer(12) is first()  # reused: nothing kept it
    obj = opt.objective(bowl)  # a root objective the caller keeps
    gs.step(obj).get_update()
    held, g_expected = obj.grad(), np.empty(12)
    bowl(obj.x, g_expected)
    opt.step(bowl)
    opt.step(bowl)
    assert np.array_equal(held, g_expected) and np.array_equal(obj.grad(), g_expected)


def test_fold_perturbed_x0_out_needs_room_for_the_x0_term():
    layout, _ = ParamLayout.from_params(np.zeros(4))
    U, F = np.zeros((3, 4)), np.empty(4)
    with pytest.raises(ValueError, match="x0_out needs offset >= 1"):
        make_oracle(bowl, layout).fold_perturbed(np.zeros(4), 0.1, U, F, 0, 0, np.empty(4), np.empty(8),
                                            finish=True, x0_out=np.empty(4))
