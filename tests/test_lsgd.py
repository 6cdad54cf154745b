"""Laplacian smoothing gradient descent (LSGD) end to end, against the LSGD paper's claims.

Osher et al. (2022): on the ill-conditioned quadratic f = sum (x_i - 2)^2 / c_i^2 (c alternating
10 and 1), LSGD tolerates steps plain gradient descent cannot, and for white gradient noise
it reduces the variance of every coordinate by (1 + 2 sigma) / (1 + 4 sigma)^(3/2) (large N).
"""

import functools
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


# -- float32 parameters end to end ----------------------------------------------------------------
# An optimizer given float32 arrays with inplace=True keeps them float32 (storage, gradient,
# update, module buffers). Each chain is compared with a float64 NumPy twin written here from the
# formulas (not with numsmooth), to float32 accuracy.

F32_SHAPES = [(40, 64), (64,), (10, 40), (10,)]


@functools.lru_cache(maxsize=None)
def _dense_smoother(n, sigma):
    """(I - sigma L)^-1 of the periodic 1-D Laplacian, dense (n >= 3); computed once per size."""
    L = -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    L[0, -1] = L[-1, 0] = 1.0
    return np.linalg.inv(np.eye(n) - sigma * L)


def _f32_storage(seed=0):
    """float32 parameters as views of one flat float32 buffer, and float64 copies."""
    rng = np.random.default_rng(seed)
    flat = rng.standard_normal(sum(math.prod(s) for s in F32_SHAPES)).astype(np.float32)
    views, lo = [], 0
    for s in F32_SHAPES:
        views.append(flat[lo:lo + math.prod(s)].reshape(s))
        lo += math.prod(s)
    return flat, views, [v.astype(np.float64) for v in views]


def _grad(params, dtype):
    return [(np.sin(3 * p) + 0.5 * p).astype(dtype) for p in params]


def _twin(kind, params, steps):
    """The float64 twin of each chain of test_float32_chain_matches_a_float64_twin."""
    x = [p.copy() for p in params]
    state = [dict(buf=np.zeros_like(p), m=np.zeros_like(p), v=np.zeros_like(p)) for p in x]
    for t in range(1, steps + 1):
        g = _grad(x, np.float64)
        if kind == "lsgd_clip":
            s = [(_dense_smoother(gi.size, 1.0) @ gi.ravel()).reshape(gi.shape) for gi in g]
            norm = math.sqrt(sum(float(np.sum(si * si)) for si in s))
            scale = min(1.0, 4.0 / norm)
            lr = 0.1 * 0.5 ** (t - 1)  # schedules.exponential(0.1, 0.5)
            x = [xi - lr * scale * si for xi, si in zip(x, s)]
            continue
        for xi, gi, st in zip(x, g, state):
            if kind == "sgd":
                st["buf"] = 0.9 * st["buf"] + (gi + 1e-2 * xi)
                xi -= 0.05 * st["buf"]
            else:  # adam
                st["m"] = 0.9 * st["m"] + 0.1 * gi
                st["v"] = 0.999 * st["v"] + 0.001 * gi * gi
                mh, vh = st["m"] / (1 - 0.9**t), st["v"] / (1 - 0.999**t)
                xi -= 0.01 * mh / (np.sqrt(vh) + 1e-8)
    return x


def _chain(kind):
    if kind == "sgd":
        return [ns.WeightDecay(1e-2), ns.Momentum(0.9), ns.LR(0.05)]
    if kind == "adam":
        return [ns.Adam(0.01)]
    return [ns.LaplacianSmoothing(1.0), ns.ClipNorm(4.0), ns.LR(ns.schedules.exponential(0.1, 0.5))]


@pytest.mark.parametrize("kind", ["sgd", "adam", "lsgd_clip"])
def test_float32_chain_matches_a_float64_twin(kind):
    flat, views, p64 = _f32_storage()
    opt = ns.Optimizer(views, *_chain(kind), inplace=True)
    assert opt.x.dtype == np.float32 and np.shares_memory(opt.x, flat)
    seen = []

    def fun(p):
        seen.append(p)
        return 0.0, _grad(p, np.float32)

    steps = 20
    for _ in range(steps):
        opt.step(fun)
    assert all(a is b for s in seen for a, b in zip(s, views))  # the arrays themselves, no copies
    assert flat.dtype == np.float32 and all(v.dtype == np.float32 for v in views)
    for m in opt.modules:  # every buffer a module keeps is float32 too
        for v in m.state.values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32, (type(m).__name__, v.dtype)
    ref = _twin(kind, p64, steps)
    for v, r in zip(views, ref):
        np.testing.assert_allclose(v, r, rtol=0, atol=2e-5 * max(1.0, float(np.abs(r).max())))
    # and the float64 twin of the optimizer itself agrees with the reference much better
    opt64 = ns.Optimizer([p.copy() for p in p64], *_chain(kind))
    for _ in range(steps):
        opt64.step(lambda p: (0.0, _grad(p, np.float64)))
    for v, r in zip(opt64.params, ref):
        np.testing.assert_allclose(v, r, rtol=0, atol=1e-11)


def test_float32_update_is_float32_in_the_chain():
    dtypes = []

    class Probe(ns.modules.Module):
        float32 = True

        def step(self, objective):
            dtypes.append((objective.x.dtype, objective.get_update().dtype, objective.grad().dtype))
            return objective

    _, views, _ = _f32_storage()
    opt = ns.Optimizer(views, ns.Momentum(0.5), Probe(), ns.LR(0.1), inplace=True)
    opt.step(lambda p: (0.0, _grad(p, np.float32)))
    assert dtypes == [(np.float32, np.float32, np.float32)]


def test_float32_parameters_refuse_float64_only_modules_before_anything():
    flat, views, _ = _f32_storage()
    before = flat.copy()
    with pytest.raises(TypeError, match="GradientSampling works in float64 only"):
        ns.Optimizer(views, ns.GradientSampling(sigma=0.1, n=4), ns.LR(0.1), inplace=True)
    with pytest.raises(TypeError, match="Backtracking works in float64 only"):
        ns.Optimizer(views, ns.Backtracking(), inplace=True)
    np.testing.assert_array_equal(flat, before)
    # without inplace=True the same float32 arrays are copied into float64 as before
    opt = ns.Optimizer(views, ns.GradientSampling(sigma=0.1, n=4, seed=0), ns.LR(0.1))
    assert opt.x.dtype == np.float64


def test_float32_state_resumes_bit_for_bit(tmp_path):
    flat, views, _ = _f32_storage()
    opt = ns.Optimizer(views, *_chain("sgd"), inplace=True)
    for _ in range(3):
        opt.step(lambda p: (0.0, _grad(p, np.float32)))
    opt.save(tmp_path / "s.npz")
    for _ in range(4):
        opt.step(lambda p: (0.0, _grad(p, np.float32)))
    flat2, views2, _ = _f32_storage(seed=1)
    opt2 = ns.Optimizer(views2, *_chain("sgd"), inplace=True)
    opt2.load(tmp_path / "s.npz")
    assert opt2.modules[1].state["buf"].dtype == np.float32
    for _ in range(4):
        opt2.step(lambda p: (0.0, _grad(p, np.float32)))
    np.testing.assert_array_equal(flat2, flat)


@pytest.mark.parametrize("kind", ["jitted", "batched"])
def test_float32_parameters_with_jitted_and_batched_oracles(kind):
    import numba

    if kind == "jitted":
        @numba.njit
        def fun(x, g):  # jitted oracles receive float64 points: numsmooth converts both ways
            for i in range(x.size):
                g[i] = 2.0 * x[i] + math.sin(x[i])
            return float(np.sum(x * x))
    else:
        fun = ns.batched(lambda X: ((X * X).sum(axis=1), 2.0 * X + np.sin(X)))
    x32 = np.linspace(-1, 1, 7).astype(np.float32)
    x64 = x32.astype(np.float64)
    opt = ns.Optimizer(x32, ns.Momentum(0.5), ns.LR(0.1), inplace=True)
    for _ in range(10):
        opt.step(fun)
    buf = np.zeros(7)
    for _ in range(10):  # the float64 twin
        buf = 0.5 * buf + 2.0 * x64 + np.sin(x64)
        x64 = x64 - 0.1 * buf
    assert x32.dtype == np.float32 and opt.x.dtype == np.float32
    np.testing.assert_allclose(x32, x64, rtol=0, atol=2e-6)
