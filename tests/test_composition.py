"""Module chains compose: GradientSampling after or inside GradientSampling, with Laplacian
smoothing and line searches in any order, against NumPy twins of the same chains."""

import numpy as np
import pytest

import numsmooth as ns
from numsmooth.perturbations import draw_perturbations


def quad(x):
    return float(x @ x + np.sum(np.abs(x))), 2 * x + np.sign(x)


def f_only(x):
    return quad(x)[0]


def g_only(x):
    return quad(x)[1]


def _perts(seed, n, d, stream=0, include_x0=True):
    key = ns.GradientSampling(seed=seed).initial_key
    return draw_perturbations("gaussian", np.uint64(key), stream, n - include_x0, d)


def twin_smoothed(grad_and_value, x, sigma, U):
    """Mean over x and x + sigma U_k of (f, g) given by ``grad_and_value``."""
    pts = [x] + [x + sigma * u for u in U]
    vals = [grad_and_value(p) for p in pts]
    return np.mean([v[0] for v in vals]), np.mean([v[1] for v in vals], axis=0)


def test_gradient_sampling_after_gradient_sampling():
    # the second sampler samples the first one's smoothed objective
    x0 = np.array([0.7, -1.2, 0.4])
    gs1 = ns.GradientSampling(None, sigma=0.3, n=4, seed=1)
    gs2 = ns.GradientSampling([ns.LR(0.1)], sigma=0.2, n=3, seed=2)
    opt = ns.Optimizer(x0.copy(), gs1, gs2)
    U1, U2 = _perts(1, 4, 3), _perts(2, 3, 3)
    x = x0.copy()
    for _ in range(3):
        opt.step(quad)

        def inner(p):
            return twin_smoothed(quad, p, 0.3, U1)

        _, g = twin_smoothed(inner, x, 0.2, U2)
        x = x - 0.1 * g
        np.testing.assert_allclose(opt.x, x, rtol=1e-13, atol=1e-15)
    assert opt.num_evaluations == 3 * (3 * 4)  # every outer point costs one inner evaluation of n=4


def test_gradient_sampling_nested():
    x0 = np.array([0.7, -1.2, 0.4])
    inner_gs = ns.GradientSampling([ns.LR(0.1)], sigma=0.2, n=3, seed=2)
    outer = ns.GradientSampling([inner_gs], sigma=0.3, n=4, seed=1)
    opt = ns.Optimizer(x0.copy(), outer)
    U1, U2 = _perts(1, 4, 3), _perts(2, 3, 3)
    x = x0.copy()
    for _ in range(3):
        opt.step(quad)

        def outer_obj(p):
            return twin_smoothed(quad, p, 0.3, U1)

        _, g = twin_smoothed(outer_obj, x, 0.2, U2)
        x = x - 0.1 * g
        np.testing.assert_allclose(opt.x, x, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("order", ["ls-then-gs", "gs-then-ls"])
def test_laplacian_and_gradient_sampling_in_either_order(order):
    x0 = np.linspace(-1.0, 1.5, 6)
    ls = ns.LaplacianSmoothing(sigma=0.5, target="grad")
    gs = ns.GradientSampling(None, sigma=0.25, n=5, seed=3)
    chain = [ls, gs, ns.LR(0.05)] if order == "ls-then-gs" else [gs, ls, ns.LR(0.05)]
    opt = ns.Optimizer(x0.copy(), *chain)
    U = _perts(3, 5, 6)

    def smooth(g):
        return ns.laplacian_smooth(g, 0.5, method="fft")

    x = x0.copy()
    for _ in range(2):
        opt.step(quad)
        if order == "ls-then-gs":
            _, g = twin_smoothed(lambda p: (f_only(p), smooth(g_only(p))), x, 0.25, U)
        else:
            _, g = twin_smoothed(quad, x, 0.25, U)
            g = smooth(g)
        x = x - 0.05 * g
        np.testing.assert_allclose(opt.x, x, rtol=1e-12, atol=1e-14)


def test_line_search_on_doubly_smoothed_objective_runs_and_decreases():
    x0 = np.array([1.5, -2.0])
    chain = [ns.GradientSampling(None, sigma=0.1, n=4, seed=0),
             ns.GradientSampling([ns.Backtracking()], sigma=0.1, n=4, seed=1)]
    res = ns.minimize(quad, x0, *chain, maxiter=5)
    assert res.fun < quad(x0)[0]


def test_the_issue_examples_run():
    f = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    ns.minimize(f, np.ones(3), ns.GradientSampling(None, n=4), ns.GradientSampling([ns.LR(0.1)], n=4), maxiter=2)
    ns.minimize(f, np.ones(3), ns.GradientSampling([ns.GradientSampling([ns.LR(0.1)], n=3)], n=4), maxiter=2)


def test_every_adapter_follows_the_protocol():
    from numsmooth.gradient_sampling import SmoothedStepOracle
    from numsmooth.oracles import GradientTransformOracle, Oracle
    from numsmooth.optimizer import _CountingOracle

    opt = ns.Optimizer(np.ones(2), ns.LR(0.1))
    root = opt.objective(quad)
    gs = ns.GradientSampling(n=3)
    for oracle in (root.oracle, GradientTransformOracle(root.oracle, lambda g: g),
                   SmoothedStepOracle(gs, root), root.oracle.base):
        assert isinstance(oracle, ns.OracleProtocol)
    assert isinstance(root.oracle, _CountingOracle) and isinstance(root.oracle.base, Oracle)
