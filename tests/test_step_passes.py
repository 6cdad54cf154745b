"""The passes of an optimizer step over the whole parameter vector: the fused and parallel
kernels against NumPy twins, the update's norm taken from the module that wrote it last, and
the gradient read from the user's arrays without a flat copy."""

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from naive import naive_fma

import numsmooth as ns
from numsmooth import _passes
from numsmooth._kernels.modules import BLOCK
from numsmooth.modules import Module

SIZES = [1, 3, 4, 5, BLOCK - 1, BLOCK, 3 * BLOCK + 7]


def _sumsq_twin(u):
    """The order the kernels promise: per block of BLOCK, four interleaved sequential sums
    combined as (s0 + s1) + (s2 + s3); blocks added in order."""
    total = 0.0
    for lo in range(0, u.size, BLOCK):
        block = [float(v) * float(v) for v in u[lo:lo + BLOCK]]
        s = [0.0, 0.0, 0.0, 0.0]
        full = len(block) // 4 * 4
        for i in range(full):
            s[i % 4] += block[i]
        for v in block[full:]:
            s[0] += v
        total += (s[0] + s[1]) + (s[2] + s[3])
    return total


@pytest.fixture(params=["serial", "parallel"])
def path(request, knobs):
    # parallel: every size takes the parallel kernels (the busy-machine check is off)
    if request.param == "parallel":
        knobs(pass_parallel_min_elements=1, load_check_seconds=0)
    else:
        knobs(pass_parallel_min_elements=1 << 62)
    return request.param


@pytest.mark.parametrize("n", SIZES)
def test_sumsq_and_scale_sumsq_match_the_numpy_twin_bit_for_bit(n, path):
    u = np.random.default_rng(n).standard_normal(n) * 1e3
    assert _passes.sumsq(u) == _sumsq_twin(u)
    assert math.isclose(_passes.sumsq(u), float(np.sum(u * u)), rel_tol=1e-13)
    v = u.copy()
    s = _passes.scale_sumsq(v, 0.3)
    assert_array_equal(v, u * 0.3)
    assert s == _sumsq_twin(u * 0.3)


@pytest.mark.parametrize("n", SIZES)
def test_copy_subtract_momentum_match_numpy(n, path):
    rng = np.random.default_rng(n)
    x, u, buf = rng.standard_normal((3, n))
    dst = np.empty(n)
    _passes.copy(dst, x)
    assert_array_equal(dst, x)
    y = x.copy()
    _passes.subtract(y, u)
    assert_array_equal(y, x - u)
    for nesterov in (False, True):
        w, new = u.copy(), np.empty(n)
        _passes.momentum(buf, w, 0.9, nesterov, new)
        b = 0.9 * buf + u
        assert_array_equal(new, b)
        assert_array_equal(w, naive_fma(b, 0.9, u) if nesterov else b)  # torch's u.add(b, alpha=0.9)
    y = x.copy()
    _passes.axpy(y, -0.3, u)
    assert_array_equal(y, naive_fma(u, -0.3, x))


def test_nonfinite_entries_give_a_nonfinite_sum(path):
    for bad in (np.nan, np.inf, -np.inf):
        u = np.ones(3 * BLOCK + 7)
        u[2 * BLOCK + 5] = bad
        assert not math.isfinite(_passes.sumsq(u))


def test_copy_of_other_dtypes_and_layouts(path):
    src = np.arange(12, dtype=np.float32).reshape(3, 4).T  # float32, not contiguous
    dst = np.empty((4, 3))
    _passes.copy(dst, src)
    assert_array_equal(dst, src.astype(np.float64))


# ---------------------------------------------------------------------------------------------
# the update's norm: LR computes it as it scales; any later module invalidates it
# ---------------------------------------------------------------------------------------------


def test_update_norm_is_the_norm_of_the_final_update():
    g = np.array([3.0, -4.0, 12.0])
    for chain, expected in (([ns.LR(0.5)], 0.5 * 13.0),
                            ([ns.LR(0.5), ns.ClipNorm(1.0)], 1.0),  # ClipNorm after LR rescales
                            ([ns.Momentum(0.9), ns.LR(2.0)], 26.0)):
        opt = ns.Optimizer(np.zeros(3), *chain)
        opt.step(lambda x: (0.0, g))
        assert math.isclose(opt.last_update_norm, expected, rel_tol=1e-15)
        assert math.isclose(opt.last_update_norm, float(np.linalg.norm(opt.x)), rel_tol=1e-15)


def test_an_update_that_overflows_in_lr_is_refused():
    opt = ns.Optimizer(np.ones(2), ns.LR(1e300), on_refused="ignore")
    opt.step(lambda x: (0.0, np.array([1e10, 1.0])))
    assert opt.num_refused == 1 and opt.num_steps == 0
    assert_array_equal(opt.x, np.ones(2))


def test_a_module_that_sets_a_wrong_norm_cannot_leak_it_past_a_later_module():
    class Liar(Module):
        def step(self, objective):
            objective.get_update()
            objective.update_sumsq = 1.0  # claims a norm, then the next module changes the update
            return objective

    opt = ns.Optimizer(np.zeros(2), Liar(), ns.WeightDecay(0.0), on_refused="ignore")
    opt.step(lambda x: (0.0, np.array([np.nan, 1.0])))
    assert opt.num_refused == 1  # the chain cleared the claim before WeightDecay ran


# ---------------------------------------------------------------------------------------------
# the gradient read from the user's arrays
# ---------------------------------------------------------------------------------------------

SHAPES = [(8, 6), (8,), (3, 8), (3,)]


def _grads(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


@pytest.mark.parametrize("chain", [
    lambda: [ns.LaplacianSmoothing(1.0), ns.LR(0.1)],
    lambda: [ns.LaplacianSmoothing(0.5, axis=0), ns.Momentum(0.9), ns.LR(0.1)],
    lambda: [ns.Momentum(0.9), ns.LR(0.1)],
    lambda: [ns.LaplacianSmoothing(1.0, layerwise=False), ns.LR(0.1)],
])
def test_steps_from_the_users_arrays_equal_steps_from_copies(chain):
    # the same gradients as C-contiguous float64 arrays (read in place) and as Fortran-ordered
    # arrays (converted to a flat copy first): bit-identical runs
    grads = [_grads(k) for k in range(5)]
    direct = ns.Optimizer([np.zeros(s) for s in SHAPES], *chain())
    copied = ns.Optimizer([np.zeros(s) for s in SHAPES], *chain())
    for k in range(5):
        direct.step(lambda p, k=k: (0.0, grads[k]))
        copied.step(lambda p, k=k: (0.0, [np.asfortranarray(g) for g in grads[k]]))
    assert_array_equal(direct.x, copied.x)


def test_arrays_an_oracle_reuses_are_flattened_before_it_runs_again():
    # the oracle writes every gradient into the same arrays; a module that reads g(x) after
    # evaluating another point must still see g(x)
    out = [np.empty(s) for s in SHAPES]
    seen = {}

    def fun(p):
        for o, a in zip(out, p):
            np.multiply(a, 2.0, out=o)
        return 0.0, out

    class LooksAround(Module):
        def step(self, objective):
            assert objective.grad_parts() is not None  # held as the user's arrays
            objective.evaluate(objective.x + 1.0)      # the oracle overwrites them
            seen["g"] = objective.grad().copy()
            return objective

    x0 = [np.full(s, 0.5) for s in SHAPES]
    opt = ns.Optimizer(x0, LooksAround(), ns.LR(0.1))
    opt.step(fun)
    assert_array_equal(seen["g"], np.full(opt.x.size, 1.0))  # 2 * 0.5, not 2 * 1.5
    assert_array_equal(opt.x, np.full(opt.x.size, 0.5 - 0.1))


def test_bad_gradients_raise_the_same_errors_through_a_step():
    opt = ns.Optimizer([np.zeros(s) for s in SHAPES], ns.LaplacianSmoothing(1.0), ns.LR(0.1))
    bad = _grads(0)[:3]
    with pytest.raises(ns.OracleError, match=r"list of 4 arrays"):
        opt.step(lambda p: (0.0, bad))
    with pytest.raises(ns.OracleError, match=r"oracle raised ZeroDivisionError"):
        opt.step(lambda p: (1 / 0, _grads(0)))
    wrong = _grads(0)
    wrong[2] = np.zeros((8, 3))
    with pytest.raises(ns.OracleError, match=r"parameter 2 must have shape \(3, 8\)"):
        opt.step(lambda p: (0.0, wrong))
    assert opt.num_steps == 0
    assert_array_equal(opt.x, np.zeros(opt.x.size))


@pytest.mark.parametrize("as_value", [float, np.float64, np.float32, np.array, int],
                         ids=["float", "float64", "float32", "0d-array", "int"])
def test_every_value_type_steps_like_a_float(as_value):
    # the step reads g(x) from the user's arrays whatever the value's type (the fast checks and
    # the strict path for the rest); the reported loss is the value as a float
    grads = _grads(3)
    ref = ns.Optimizer([np.zeros(s) for s in SHAPES], ns.LaplacianSmoothing(1.0), ns.LR(0.1))
    opt = ns.Optimizer([np.zeros(s) for s in SHAPES], ns.LaplacianSmoothing(1.0), ns.LR(0.1))
    f_ref = ref.step(lambda p: (2.0, grads))
    f = opt.step(lambda p: (as_value(2.0) if as_value is not int else 2, grads))
    assert f == f_ref == 2.0
    assert_array_equal(opt.x, ref.x)
