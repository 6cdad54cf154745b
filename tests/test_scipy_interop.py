"""``ns.smoothed(...)`` as the ``fun`` of ``scipy.optimize.minimize(..., jac=True)``.

With fixed perturbations the smoothed objective is an ordinary deterministic function (an
average of ``f`` at shifted points), so quasi-Newton methods and line searches work on it, and
a Gaussian-homotopy continuation is a loop of warm-started ``minimize`` calls with a decreasing
``sigma`` (``examples/scipy_homotopy.py``).
"""

import numpy as np
import pytest
import scipy.optimize as so

import numsmooth as ns

RASTRIGIN = ns.problems.get("rastrigin")
L1 = ns.problems.get("l1")


def l1_point(x):
    return float(np.abs(x).sum()), np.sign(x)


def homotopy(fun, x0, method, sigma0=2.0, factor=0.5, sigma_min=1e-3, **kw):
    """Warm-started minimize() per sigma stage: obj.sigma = s; obj.redraw(); minimize."""
    obj = ns.smoothed(fun, sigma=sigma0, **kw)
    x, s = np.asarray(x0, float), sigma0
    while s > sigma_min:
        obj.sigma = s
        obj.redraw()
        x = so.minimize(obj, x, jac=True, method=method).x
        s *= factor
    return x


def test_plain_lbfgsb_stalls_on_rastrigin():
    res = so.minimize(RASTRIGIN, np.full(20, 3.3), jac=True, method="L-BFGS-B")
    assert res.fun > 100  # a local minimum near 3, f ~ 179


@pytest.mark.slow
@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS"])
def test_homotopy_reaches_rastrigin_global_minimum(method):
    x = homotopy(RASTRIGIN.fun, np.full(20, 3.3), method, n=256, distribution="sobol", seed=0,
                 include_x0=False)
    f = RASTRIGIN(x)[0]
    assert f < 1e-6, f
    assert np.abs(x).max() < 1e-4


@pytest.mark.parametrize("method", [pytest.param("L-BFGS-B", marks=pytest.mark.slow), "BFGS"])
@pytest.mark.parametrize("fun", [l1_point, pytest.param(L1.fun, marks=pytest.mark.slow)], ids=["per-point", "jitted"])
def test_smoothed_l1(method, fun):
    # The Gaussian-smoothed L1 norm is minimized at 0; antithetic pairs make the fixed-sample
    # estimate of its gradient odd in x, so the sample minimizer is exactly 0 up to the solver.
    d = 10
    obj = ns.smoothed(fun, sigma=0.5, n=65, seed=3, antithetic=True)
    res = so.minimize(obj, np.linspace(-2, 3, d), jac=True, method=method)
    assert res.success or "precision" in res.message
    assert np.abs(res.x).max() < 1e-3
    assert obj.num_evaluations == 65 * res.nfev


@pytest.mark.slow
def test_gradient_is_exact_for_fixed_perturbations():
    # the returned g is the gradient of the returned f (same points, same weights)
    obj = ns.smoothed(RASTRIGIN.fun, sigma=0.3, n=32, seed=1)
    x = np.linspace(-1, 1, 5)
    err = so.check_grad(lambda z: obj(z)[0], lambda z: obj(z)[1], x, epsilon=1e-7)
    assert err < 1e-4 * max(1.0, np.linalg.norm(obj(x)[1]))


@pytest.mark.parametrize("sigma", [pytest.param(0.3, marks=pytest.mark.slow), 1.0])
def test_sobol_estimate_close_to_closed_form(sigma):
    x = np.linspace(-1.7, 2.2, 6)
    obj = ns.smoothed(RASTRIGIN.fun, sigma=sigma, n=4096, distribution="sobol", seed=0, include_x0=False)
    f, g = obj(x)
    fs, gs = RASTRIGIN.smoothed_value(x, sigma), RASTRIGIN.smoothed_grad(x, sigma)
    assert abs(f - fs) <= 1e-2 * abs(fs)
    assert np.linalg.norm(g - gs) <= 2e-2 * np.linalg.norm(gs) + 1e-2


def test_smoothed_l1_gradient_matches_erf_closed_form():
    x = np.array([-1.0, -0.2, 0.05, 0.7])
    obj = ns.smoothed(L1.fun, sigma=0.5, n=8192, distribution="sobol", seed=2, include_x0=False)
    _, g = obj(x)
    np.testing.assert_allclose(g, L1.smoothed_grad(x, 0.5), atol=2e-2)


def test_redraw_changes_function_sigma_setter_takes_effect():
    obj = ns.smoothed(RASTRIGIN.fun, sigma=1.0, n=16, seed=0)
    x = np.full(3, 0.4)
    f1 = obj(x)[0]
    assert obj(x)[0] == f1  # common random numbers
    obj.redraw()
    f2 = obj(x)[0]
    assert f2 != f1
    obj.sigma = 0.0
    assert obj(x)[0] == pytest.approx(RASTRIGIN(x)[0], rel=1e-14)  # mean of 16 equal values
