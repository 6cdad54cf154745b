"""Bad input everywhere gets a clear TypeError/ValueError in the Python layer, and a failed step
loses nothing: one table of bad calls, then flaky oracles at every sample index."""

import math

import numpy as np
import pytest
from numba import njit

import numsmooth as ns
from numsmooth.problems import get

F64 = np.linspace(0.0, 1.0, 8)


def quad(x):
    return float(x @ x), 2 * x


def _step(fun, x0=np.ones(3), **gs):
    gs = {"n": 4, "seed": 0, **gs}
    opt = ns.Optimizer(x0, ns.GradientSampling([ns.LR(0.1)], **gs))
    opt.step(fun)


BAD_CALLS = [
    # laplacian_smooth
    ("laplacian int array", lambda: ns.laplacian_smooth(np.arange(8)), TypeError, "g must have dtype"),
    ("laplacian complex", lambda: ns.laplacian_smooth(F64 + 1j), TypeError, "complex128"),
    ("laplacian string", lambda: ns.laplacian_smooth("abc"), TypeError, "g must be"),
    ("laplacian order 0", lambda: ns.laplacian_smooth(F64, order=0), ValueError, "order must be >= 1"),
    ("laplacian order float", lambda: ns.laplacian_smooth(F64, order=1.5), TypeError, "order must be an integer"),
    ("laplacian power 0", lambda: ns.laplacian_smooth(F64, power=0.0), ValueError, "power must be > 0"),
    ("laplacian power nan", lambda: ns.laplacian_smooth(F64, power=math.nan), ValueError, "power must be finite"),
    ("laplacian sigma negative", lambda: ns.laplacian_smooth(F64, sigma=-1.0), ValueError, "sigma must be >= 0"),
    ("laplacian sigma inf", lambda: ns.laplacian_smooth(F64, sigma=math.inf), ValueError, "sigma must be finite"),
    ("laplacian axis", lambda: ns.laplacian_smooth(F64, axis=1), ValueError, "axis 1 is out of bounds"),
    ("laplacian method", lambda: ns.laplacian_smooth(F64, method="dct"), ValueError, "method must be one of"),
    ("laplacian recursive order 2", lambda: ns.laplacian_smooth(F64, order=2, method="recursive"), ValueError,
     "recursive"),
    ("laplacian out shape", lambda: ns.laplacian_smooth(F64, out=np.empty(7)), ValueError, "out must have the shape"),
    ("laplacian out dtype", lambda: ns.laplacian_smooth(F64, out=np.empty(8, np.float32)), TypeError, "out must have the dtype"),
    # LaplacianSmoothing
    ("module target", lambda: ns.LaplacianSmoothing(target="loss"), ValueError, "target must be one of"),
    ("module min_numel", lambda: ns.LaplacianSmoothing(min_numel=0), ValueError, "min_numel must be >= 1"),
    ("module layerwise", lambda: ns.LaplacianSmoothing(layerwise="yes"), TypeError, "layerwise"),
    ("module sigma", lambda: ns.LaplacianSmoothing(sigma=-0.5), ValueError, "sigma"),
    # modules
    ("LR negative", lambda: ns.LR(-1e-3), ValueError, "lr must be >= 0"),
    ("LR string", lambda: ns.LR("0.1"), TypeError, "lr must be a real number"),
    ("Momentum beta 1", lambda: ns.Momentum(1.0), ValueError, "beta must be < 1"),
    ("Adam betas", lambda: ns.Adam(betas=(0.9,)), ValueError, "betas must be a pair"),
    ("Adam eps", lambda: ns.Adam(eps=-1e-8), ValueError, "eps must be >= 0"),
    ("Backtracking beta", lambda: ns.Backtracking(beta=1.0), ValueError, "beta must be < 1"),
    ("Backtracking maxiter", lambda: ns.Backtracking(maxiter=0), ValueError, "maxiter must be >= 1"),
    # termination
    ("criterion n", lambda: ns.TerminateByGradientNorm(n=0), ValueError, "n must be >= 1"),
    ("criterion ord", lambda: ns.TerminateByUpdateNorm(ord="l7"), ValueError, "ord must be one of"),
    ("criterion tol nan", lambda: ns.TerminateOnNoImprovement(tol=math.nan), ValueError, "tol must be finite"),
    ("criterion steps", lambda: ns.TerminateAfterNSteps(-1), ValueError, "steps must be >= 0"),
    ("criterion any member", lambda: ns.TerminateAny(ns.LR(0.1)), TypeError, r"criteria\[0\]"),
    # smoothed / GradientSampling
    ("smoothed fun", lambda: ns.smoothed(3.0), TypeError, "fun must be callable"),
    ("smoothed aggregate", lambda: ns.smoothed(quad, aggregate="median"), ValueError, "aggregate must be one of"),
    ("smoothed n", lambda: ns.smoothed(quad, n=0), ValueError, "n must be >= 1"),
    ("smoothed sigma nan", lambda: ns.smoothed(quad, sigma=math.nan), ValueError, "sigma must be finite"),
    ("smoothed seed", lambda: ns.smoothed(quad, seed=1.5), TypeError, "seed"),
    ("smoothed perturbations shape", lambda: ns.smoothed(quad, n=4, distribution=np.ones(3)), ValueError,
     r"\(n - include_x0, d\)"),
    ("smoothed perturbations nan", lambda: ns.smoothed(quad, n=3, distribution=np.full((2, 3), np.nan)),
     ValueError, "finite"),
    ("smoothed chunksize", lambda: ns.smoothed(quad, chunksize=0), ValueError, "chunksize must be >= 1"),
    ("GS sigma_target bool", lambda: ns.GradientSampling(sigma_target=True), TypeError, "sigma_target"),
    ("GS termination list", lambda: ns.GradientSampling(termination=[ns.TerminateNever(), 2]), TypeError,
     r"termination\[1\]"),
    ("GS orthogonal too many", lambda: _step(quad, distribution="orthogonal", n=9), ValueError, "orthogonal"),
    # Optimizer / minimize
    ("x0 string", lambda: ns.Optimizer("abc", ns.LR(0.1)), TypeError, "x0 must be a NumPy array of floats; got str"),
    ("x0 complex", lambda: ns.Optimizer(np.ones(2) + 0j, ns.LR(0.1)), TypeError, "complex"),
    ("x0 empty", lambda: ns.Optimizer(np.array([]), ns.LR(0.1)), ValueError, "at least one element"),
    ("x0 nan", lambda: ns.Optimizer(np.array([1.0, math.nan]), ns.LR(0.1)), ValueError, "x0 must be finite"),
    ("x0 list member", lambda: ns.Optimizer([np.ones(2), np.ones(2, complex)], ns.LR(0.1)), TypeError, r"x0\[1\]"),
    ("module not a module", lambda: ns.Optimizer(np.ones(2), "LR"), TypeError, r"modules\[0\]"),
    ("minimize maxiter", lambda: ns.minimize(quad, np.ones(2), maxiter=-1), ValueError, "maxiter must be >= 0"),
    ("minimize callback", lambda: ns.minimize(quad, np.ones(2), callback=3), TypeError, "callback must be callable"),
    # a str is the progress label since the progress issue; a number is refused
    ("minimize progress", lambda: ns.minimize(quad, np.ones(2), progress=2), TypeError, "progress"),
    ("minimize disp", lambda: ns.minimize(quad, np.ones(2), disp=-1), ValueError, "disp must be >= 0"),
    ("minimize tol", lambda: ns.minimize(quad, np.ones(2), tol=float("nan")), ValueError, "tol must be finite"),
    # oracles returning garbage
    ("oracle not a pair", lambda: _step(lambda x: 1.0), ns.OracleError, "pair"),
    ("oracle value vector", lambda: _step(lambda x: (x, 2 * x)), ns.OracleError, "scalar"),
    ("oracle gradient shape", lambda: _step(lambda x: (1.0, np.ones(4))), ns.OracleError, "must have shape"),
    ("oracle gradient strings", lambda: _step(lambda x: (1.0, np.array(["a"] * 3))), ns.OracleError, "dtype"),
    ("oracle raising", lambda: _step(lambda x: 1 / 0), ns.OracleError, "ZeroDivisionError"),
    ("batched wrong F", lambda: _step(ns.batched(lambda X: (np.ones(2), 2 * X))), ns.OracleError, "F of shape"),
    ("batched wrong G", lambda: _step(ns.batched(lambda X: (np.ones(len(X)), X[:, :2]))), ns.OracleError, "G of shape"),
    # problems
    ("problem name", lambda: get("rosen"), ValueError, "rosenbrock"),
    ("problem dimension", lambda: get("maxquad").x0(9), ValueError, "d = 10"),
]


def test_table_has_at_least_forty_entries():
    assert len(BAD_CALLS) >= 40


@pytest.mark.parametrize("name, call, exc, fragment", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input(name, call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


# -- nothing lost ------------------------------------------------------------------------------

class Flaky:
    """Raises (or returns garbage) on its ``fail_at``-th call."""

    def __init__(self, fail_at, garbage=False):
        self.calls = 0
        self.fail_at = fail_at
        self.garbage = garbage

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.garbage:
                return "nonsense"
            raise RuntimeError("flaky")
        return quad(x)


def _chain():
    return [ns.GradientSampling([ns.Adam(0.05)], sigma=0.3, n=5, seed=1, sigma_strategy="value",
                                termination=[ns.TerminateAfterNSteps(2), ns.TerminateByUpdateNorm(1e-3)]),
            ns.LaplacianSmoothing(sigma=0.5), ns.Momentum(0.5)]


@pytest.mark.parametrize("garbage", [False, True])
@pytest.mark.parametrize("index", range(5))
def test_flaky_oracle_leaves_everything_as_before(index, garbage):
    opt = ns.Optimizer(np.array([1.0, -2.0, 0.5, 3.0]), *_chain())
    for _ in range(3):
        opt.step(quad)
    before = opt.state_dict()
    flaky = Flaky(fail_at=index + 1, garbage=garbage)
    # the x0 term is f(x) itself, shared with the step: its error names the point, not a sample
    with pytest.raises(ns.OracleError, match=f"sample {index}" if index else "at x = "):
        opt.step(flaky)
    after = opt.state_dict()
    assert np.array_equal(after["x"], before["x"])
    _assert_same_state(after["modules"], before["modules"])
    # and the optimizer carries on exactly as one that never saw the failure
    twin = ns.Optimizer(np.array([1.0, -2.0, 0.5, 3.0]), *_chain())
    twin.load_state_dict(before)
    opt.step(quad)
    twin.step(quad)
    assert np.array_equal(opt.x, twin.x)


def _assert_same_state(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same_state(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_state(x, y)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    else:
        assert a == b


@njit
def _jitted_fails_far_out(x, g):
    if x[0] > 1.2:
        raise ValueError("outside the model's domain")
    for i in range(x.size):
        g[i] = 2 * x[i]
    return (x * x).sum()


@pytest.mark.slow
def test_jitted_oracle_exception_names_the_sample():
    perts = np.zeros((7, 2))
    perts[4, 0] = 1.0  # only sample 5 (x0 is sample 0) leaves the domain
    opt = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=8, sigma=0.5, distribution=perts))
    with pytest.raises(ns.OracleError, match="outside the model's domain at sample 5"):
        opt.step(_jitted_fails_far_out)
    assert np.array_equal(opt.x, np.ones(2))
