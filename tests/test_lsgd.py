"""Laplacian smoothing gradient descent (LSGD) end to end, against the LSGD paper's claims.

Osher et al. (2022): on the ill-conditioned quadratic f = sum (x_i - 2)^2 / c_i^2 (c alternating
10 and 1), LSGD tolerates steps plain gradient descent cannot, and for white gradient noise
it reduces the variance of every coordinate by (1 + 2 sigma) / (1 + 4 sigma)^(3/2) (large N).
"""

import math

import numpy as np
import pytest

import numsmooth as ns

N = 100
C2 = np.where(np.arange(N) % 2 == 0, 10.0, 1.0) ** 2


def quadratic(x):
    r = x - 2.0
    return float(np.sum(r * r / C2)), 2.0 * r / C2


def variance_limit(sigma):
    return (1 + 2 * sigma) / (1 + 4 * sigma) ** 1.5


def variance_exact(sigma, n):
    """Per-coordinate variance of (I - sigma L)^-1 xi for white xi of length n: mean of 1/lambda^2."""
    lam = 1 + 4 * sigma * np.sin(np.pi * np.arange(n) / n) ** 2
    return float(np.mean(1 / lam**2))


def test_lsgd_converges_where_gradient_descent_cannot():
    lr = 1.0  # beyond 2 / L = 1 for the stiff coordinates (curvature 2)
    lsgd = ns.minimize(quadratic, np.zeros(N), ns.LaplacianSmoothing(sigma=1.0), ns.LR(lr), maxiter=3000)
    gd = ns.minimize(quadratic, np.zeros(N), ns.LR(lr), maxiter=3000)
    assert lsgd.fun < 1e-10
    assert np.allclose(lsgd.x, 2.0, atol=1e-4)
    assert gd.fun > 100  # the stiff coordinates oscillate forever at this step


def test_lsgd_matches_an_explicit_dense_iteration():
    """x_{k+1} = x_k - lr (I - sigma L)^-1 g(x_k), with the inverse from a dense solve."""
    sigma, lr, steps = 2.0, 0.5, 25
    L = -2 * np.eye(N) + np.eye(N, k=1) + np.eye(N, k=-1)
    L[0, -1] = L[-1, 0] = 1.0
    A = np.eye(N) - sigma * L
    x = np.zeros(N)
    opt = ns.Optimizer(np.zeros(N), ns.LaplacianSmoothing(sigma=sigma), ns.LR(lr))
    for _ in range(steps):
        x = x - lr * np.linalg.solve(A, quadratic(x)[1])
        opt.step(quadratic)
    np.testing.assert_allclose(opt.x, x, rtol=1e-11, atol=1e-13)


def test_finite_n_variance_is_close_to_the_papers_limit():
    for sigma in (0.5, 1.0, 3.0, 10.0):
        assert math.isclose(variance_exact(sigma, 4096), variance_limit(sigma), rel_tol=1e-9)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0, 10.0])
def test_variance_reduction_of_noisy_gradients(sigma):
    """The update of LSGD on pure white noise has the predicted variance per coordinate."""
    n, reps, lr = 1024, 1500, 0.1
    rng = np.random.default_rng(int(sigma * 10))
    noise = rng.standard_normal((reps, n))
    k = iter(range(reps))

    def noisy(x):
        return 0.0, noise[next(k)].copy()

    opt = ns.Optimizer(np.zeros(n), ns.LaplacianSmoothing(sigma=sigma), ns.LR(lr))
    updates = np.empty((reps, n))
    for i in range(reps):
        before = opt.x.copy()
        opt.step(noisy)
        updates[i] = (before - opt.x) / lr
    per_rep = np.mean(updates**2, axis=1)  # independent across repetitions
    est, se = per_rep.mean(), per_rep.std(ddof=1) / math.sqrt(reps)
    assert abs(est - variance_exact(sigma, n)) <= 4 * se
    assert abs(est - variance_limit(sigma)) <= 4 * se + 1e-9
    # and the reduction really happened: plain noise has variance 1
    assert est < 0.5
