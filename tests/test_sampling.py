"""GradientSampling and the smoothed objective beyond torchzero parity.

References used here are independent of the code under test: closed forms of Gaussian
smoothing, NumPy re-computations of one step, scipy's QP, and plain gradient descent.
"""

import math

import numba
import numpy as np
import pytest
import scipy.optimize

import numsmooth as ns
from numsmooth.problems import get, per_point

ROSEN = get("rosenbrock")
RASTRIGIN = get("rastrigin")
L1 = get("l1")


def rastrigin_np(x):
    f = 10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x))
    return float(f), 2 * x + 20 * np.pi * np.sin(2 * np.pi * x)


def quad(x):
    return float(x @ x), 2 * x


# -- the mean aggregate is an unbiased estimate of the smoothed gradient ----------------------

@pytest.mark.parametrize("sigma", [0.1, pytest.param(0.3, marks=pytest.mark.slow), pytest.param(0.6, marks=pytest.mark.slow)])
def test_mean_gradient_matches_smoothed_rastrigin(sigma):
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, size=6)
    n = 20000
    obj = ns.smoothed(rastrigin_np, sigma=sigma, n=n, include_x0=False, seed=11)
    _, g = obj(x)
    G = np.array([rastrigin_np(x + sigma * u)[1] for u in obj.perturbations])
    se = G.std(axis=0, ddof=1) / math.sqrt(n)
    exact = 2 * x + 20 * np.pi * np.exp(-2 * np.pi**2 * sigma**2) * np.sin(2 * np.pi * x)
    assert np.all(np.abs(g - exact) <= 5 * se + 1e-12)
    assert np.allclose(g, G.mean(axis=0), rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [0.2, 1.0])
def test_mean_gradient_matches_smoothed_l1(sigma):
    from scipy.special import erf

    x = np.linspace(-1.5, 1.5, 7)
    n = 20000
    obj = ns.smoothed(L1.fun, sigma=sigma, n=n, include_x0=False, seed=3)
    _, g = obj(x)
    # each coordinate of the gradient is sign(x + sigma u): Bernoulli, variance 1 - mean^2
    exact = erf(x / (sigma * math.sqrt(2)))
    se = np.sqrt(np.maximum(1 - exact**2, 1e-12) / n)
    assert np.all(np.abs(g - exact) <= 5 * se + 1e-12)


# -- aggregates --------------------------------------------------------------------------------

def test_hull_norm_bounds_and_qp():
    rng = np.random.default_rng(0)
    fun = per_point(get("maxquad"))
    for trial in range(5):
        x = rng.normal(size=10) * 0.3
        obj = {a: ns.smoothed(fun, sigma=0.2, n=25, aggregate=a, distribution="ball", seed=trial)
               for a in ("min-norm-hull", "min-norm", "mean")}
        g = {a: o(x)[1] for a, o in obj.items()}
        assert np.linalg.norm(g["min-norm-hull"]) <= np.linalg.norm(g["min-norm"]) * (1 + 1e-12)
        assert np.linalg.norm(g["min-norm-hull"]) <= np.linalg.norm(g["mean"]) * (1 + 1e-12)
        # the QP of gradient sampling, solved independently by scipy
        U = obj["mean"].perturbations
        G = np.array([fun(x)[1]] + [fun(x + 0.2 * u)[1] for u in U])
        m = G.shape[0]
        K = G @ G.T
        res = scipy.optimize.minimize(lambda w: w @ K @ w, np.full(m, 1 / m), jac=lambda w: 2 * K @ w,
                                      bounds=[(0, None)] * m, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                                      method="SLSQP", options={"ftol": 1e-16, "maxiter": 1000})
        qp_norm = math.sqrt(max(res.fun, 0.0))
        ours = np.linalg.norm(g["min-norm-hull"])
        assert ours <= qp_norm * (1 + 1e-6) + 1e-12
        # optimality: every sampled gradient has G_k . g >= ||g||^2 (the min-norm characterisation)
        h = g["min-norm-hull"]
        assert np.all(G @ h >= h @ h - 1e-10 * max(1.0, np.abs(G).max() ** 2))


def test_min_value_and_min_norm_pick_the_right_sample():
    rng = np.random.default_rng(1)
    x = rng.normal(size=4)
    perts = rng.normal(size=(9, 4))
    pts = [x] + [x + 0.5 * u for u in perts]
    ev = [rastrigin_np(p) for p in pts]
    F = np.array([e[0] for e in ev])
    norms = [np.linalg.norm(e[1]) for e in ev]
    f, g = ns.smoothed(rastrigin_np, sigma=0.5, n=10, aggregate="min-value", distribution=perts)(x)
    k = int(np.argmin(F))
    assert f == F[k] and np.array_equal(g, ev[k][1])
    f, g = ns.smoothed(rastrigin_np, sigma=0.5, n=10, aggregate="min-norm", distribution=perts)(x)
    k = int(np.argmin(norms))
    assert f == F[k] and np.array_equal(g, ev[k][1])


def test_non_finite_evaluations_are_skipped():
    perts = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])

    def fun(x):
        if x[0] > 0.5:
            return math.nan, np.full(2, np.nan)
        return float(x @ x), 2 * x

    x = np.array([0.0, 0.0])
    f, g = ns.smoothed(fun, sigma=1.0, n=4, distribution=perts)(x)
    finite = [x, x + perts[1], x + perts[2]]
    assert math.isclose(f, np.mean([p @ p for p in finite]), rel_tol=1e-15)
    assert np.allclose(g, np.mean([2 * p for p in finite], axis=0), rtol=1e-15)


def test_all_non_finite_gives_inf_and_minimize_stops_at_last_finite_point():
    def fun(x):
        if x[0] < 0.5:
            return math.inf, np.zeros_like(x)
        return float(x @ x), 2 * x

    f, g = ns.smoothed(fun, sigma=0.1, n=5, seed=0)(np.zeros(3))
    assert f == math.inf and np.all(g == math.inf)
    res = ns.minimize(fun, np.ones(3), ns.GradientSampling([ns.LR(0.5)], sigma=0.01, n=5, seed=0), maxiter=10)
    assert not res.success and res.status == 3
    assert "non-finite" in res.message
    assert np.all(np.isfinite(res.x)) and res.x[0] >= 0.5


# -- oracle kinds, threads, seeds --------------------------------------------------------------

def _trajectory(fun, threads=None, aggregate="mean", steps=3):
    old = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        gs = ns.GradientSampling([ns.LR(1e-4)], sigma=0.1, n=16, aggregate=aggregate, seed=42, fixed=False)
        opt = ns.Optimizer(ROSEN.x0(40), gs)
        xs = []
        for _ in range(steps):
            opt.step(fun)
            xs.append(opt.x.copy())
        return np.array(xs)
    finally:
        numba.set_num_threads(old)


@pytest.mark.slow
def test_jitted_batched_and_per_point_oracles_agree():
    jit = _trajectory(ROSEN.fun)
    point = _trajectory(per_point(ROSEN))

    def many(X):
        out = [per_point(ROSEN)(row) for row in X]
        return np.array([o[0] for o in out]), np.array([o[1] for o in out])

    batch = _trajectory(ns.batched(many))
    assert np.array_equal(jit, point)
    assert np.array_equal(jit, batch)


@pytest.mark.parametrize("aggregate", ["mean", "max", "min", "min-norm", "min-value", "min-norm-hull"])
def test_bit_identical_with_one_and_two_threads(aggregate):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this machine should offer 2 Numba threads")
    a = _trajectory(ROSEN.fun, threads=1, aggregate=aggregate)
    b = _trajectory(ROSEN.fun, threads=2, aggregate=aggregate)
    assert np.array_equal(a, b)


def test_same_seed_same_run_and_different_seed_differs():
    a = ns.smoothed(quad, n=8, seed=7)
    b = ns.smoothed(quad, n=8, seed=7)
    c = ns.smoothed(quad, n=8, seed=8)
    x = np.arange(5.0)
    assert np.array_equal(a(x)[1], b(x)[1])
    assert not np.array_equal(a(x)[1], c(x)[1])


# -- the stepper's schedule -------------------------------------------------------------------

def test_fixed_keeps_perturbations_until_termination():
    gs = ns.GradientSampling([ns.LR(0.01)], sigma=0.5, n=6, seed=0, termination=ns.TerminateAfterNSteps(3))
    opt = ns.Optimizer(np.ones(4), gs)
    assert gs.perturbations is None
    blocks = []
    for _ in range(7):
        opt.step(quad)
        blocks.append(gs.perturbations.copy())
    same = [np.array_equal(blocks[i], blocks[i + 1]) for i in range(6)]
    # stages: steps 0-2, 3-5, 6: new perturbations exactly when sigma decays
    assert same == [True, True, False, True, True, False]
    assert gs.num_terminations == 2
    assert math.isclose(gs.sigma, 0.5 * (2 / 3) ** 2)


def test_fixed_false_redraws_every_step():
    gs = ns.GradientSampling([ns.LR(0.01)], sigma=0.5, n=6, seed=0, fixed=False)
    opt = ns.Optimizer(np.ones(4), gs)
    blocks = []
    for _ in range(3):
        opt.step(quad)
        blocks.append(gs.perturbations.copy())
    assert not np.array_equal(blocks[0], blocks[1]) and not np.array_equal(blocks[1], blocks[2])


def test_pre_generate_false_draws_per_evaluation():
    # Under a line search every trial sees new perturbations; with pre_generate the same ones.
    seen = []

    def fun(x):
        seen.append(x.copy())
        return quad(x)

    gs = ns.GradientSampling(None, sigma=0.5, n=3, seed=0, pre_generate=False, include_x0=False)
    opt = ns.Optimizer(np.ones(2), gs, ns.Backtracking(init=100.0, maxiter=3))
    opt.step(fun)
    pts = np.array(seen)
    # first evaluation at x, then trials at x - t d: offsets from their centres differ per call
    offsets = [pts[3 * k:3 * k + 3] for k in range(len(pts) // 3)]
    assert len(offsets) >= 2
    assert not np.allclose(offsets[0] - offsets[0].mean(0), offsets[1] - offsets[1].mean(0))


def test_reset_on_termination_resets_inner_and_following_modules():
    inner = ns.Momentum(0.9)
    gs = ns.GradientSampling([inner, ns.LR(0.01)], sigma=0.5, n=4, seed=0, termination=ns.TerminateAfterNSteps(2))
    opt = ns.Optimizer(np.ones(3), gs)
    opt.step(quad)
    opt.step(quad)
    buf_before = inner.state["buf"].copy()
    opt.step(quad)  # fires: momentum restarts from this step's update alone
    smooth = ns.smoothed(quad, sigma=0.5 * 2 / 3, n=4, distribution=gs.perturbations)
    x_prev = opt.x + inner.state["buf"] * 0.01
    assert np.allclose(inner.state["buf"], smooth(x_prev)[1], rtol=1e-13)
    assert not np.allclose(inner.state["buf"], 0.9 * buf_before + smooth(x_prev)[1])

    following = ns.Momentum(0.9)
    gs = ns.GradientSampling(None, sigma=0.5, n=4, seed=0, termination=ns.TerminateAfterNSteps(1))
    opt = ns.Optimizer(np.ones(3), gs, following, ns.LR(0.01))
    opt.step(quad)
    opt.step(quad)  # fires on the second check: Momentum after it starts afresh
    smooth = ns.smoothed(quad, sigma=0.5 * 2 / 3, n=4, distribution=gs.perturbations)
    x_prev = opt.x + following.state["buf"] * 0.01
    assert np.allclose(following.state["buf"], smooth(x_prev)[1], rtol=1e-13)


@pytest.mark.slow
def test_sigma_target_count_and_fraction():
    perts = np.random.default_rng(0).normal(size=(9, 2))
    for target, strategy in [(0.2, "value"), (3, "value"), (0.5, "grad-norm"), (9, "grad-norm")]:
        gs = ns.GradientSampling([ns.LR(1e-3)], sigma=0.1, n=10, distribution=perts, sigma_strategy=strategy,
                                 sigma_target=target)
        opt = ns.Optimizer(np.array([-1.2, 1.0]), gs)
        x = opt.x.copy()
        opt.step(ROSEN.fun)
        ev = [per_point(ROSEN)(x)] + [per_point(ROSEN)(x + 0.1 * u) for u in perts]
        if strategy == "value":
            good = sum(e[0] < ev[0][0] for e in ev[1:])
        else:
            good = sum(np.linalg.norm(e[1]) < np.linalg.norm(ev[0][1]) for e in ev[1:])
        need = target if isinstance(target, int) else int(max(1, 10 * target))
        assert math.isclose(gs.sigma, 0.1 * (4 / 3 if good >= need else 2 / 3))


def test_strategy_without_x0_compares_with_true_f_at_x():
    perts = np.random.default_rng(2).normal(size=(10, 2))
    gs = ns.GradientSampling([ns.LR(1e-3)], sigma=0.1, n=10, include_x0=False, distribution=perts,
                             sigma_strategy="value", sigma_target=5)
    opt = ns.Optimizer(np.array([-1.2, 1.0]), gs)
    x = opt.x.copy()
    opt.step(ROSEN.fun)
    assert opt.num_evaluations == 11  # the extra evaluation at x
    f_x = per_point(ROSEN)(x)[0]
    good = sum(per_point(ROSEN)(x + 0.1 * u)[0] < f_x for u in perts)
    assert math.isclose(gs.sigma, 0.1 * (4 / 3 if good >= 5 else 2 / 3))


def test_homotopy_escapes_rastrigin_local_minima():
    d = 10
    x0 = np.full(d, 3.3)
    gd = ns.minimize(RASTRIGIN.fun, x0, ns.LR(1e-3), maxiter=2000)
    assert gd.fun > 10  # stuck in a local minimum
    # Quasi-Monte-Carlo points keep the error of the fixed-sample smoothed gradient small, so no
    # spurious minima appear at intermediate sigma (Rastrigin's per-sample gradient has a
    # standard deviation of about 44 per coordinate).
    gs = ns.GradientSampling([ns.LR(0.004)], sigma=1.0, n=256, distribution="sobol", seed=0, decay=0.5,
                             termination=ns.TerminateByUpdateNorm(tol=1e-4, n=3))
    res = ns.minimize(RASTRIGIN.fun, x0, gs, maxiter=2000, termination=ns.TerminateOnLossReached(1e-8))
    assert res.fun < 1e-6, res.fun
    assert np.abs(res.x).max() < 1e-4
    assert gs.num_terminations >= 5  # it really was a homotopy: sigma decayed stage by stage


# -- smoothed() API ----------------------------------------------------------------------------

def test_smoothed_api_and_scipy():
    obj = ns.smoothed(quad, sigma=0.3, n=12, seed=1)
    x = np.array([1.0, -2.0, 3.0])
    f, g = obj(x)
    assert obj.perturbations.shape == (11, 3)
    assert obj.value(x) == f
    first = obj.perturbations.copy()
    obj.redraw()
    obj(x)
    assert not np.array_equal(first, obj.perturbations)
    obj.sigma = 0.0
    f0, g0 = obj(x)
    assert math.isclose(f0, 14.0) and np.allclose(g0, 2 * x)
    with pytest.raises(ValueError, match="sigma"):
        obj.sigma = -1.0
    res = scipy.optimize.minimize(ns.smoothed(quad, sigma=0.3, n=12, seed=1), x, jac=True, method="BFGS")
    # E[(x+s u)^2] = x^2 + s^2: the minimizer of the smoothed quadratic is still 0 (up to the
    # sample mean of the fixed perturbations)
    assert np.abs(res.x).max() < 0.3
    # shapes: 2-D x gives a 2-D gradient
    f2, g2 = ns.smoothed(quad_flat := (lambda x: (float(np.sum(x**2)), 2 * x)), n=4, seed=0)(np.ones((2, 3)))
    assert g2.shape == (2, 3)
    del quad_flat


def test_list_parameters_reach_the_oracle_in_user_shapes():
    shapes = []

    def fun(params):
        w, b = params
        shapes.append((w.shape, b.shape))
        return float(np.sum(w**2) + np.sum(b**2)), [2 * w, 2 * b]

    opt = ns.Optimizer([np.ones((2, 3)), np.ones(4)], ns.GradientSampling([ns.LR(0.1)], n=5, seed=0))
    opt.step(fun)
    assert set(shapes) == {((2, 3), (4,))}
    w, b = opt.params
    assert w.shape == (2, 3) and b.shape == (4,)


@pytest.mark.parametrize("shape", [(5,), (8000,), (40, 200), "list"])
def test_per_point_oracle_sees_exactly_x_plus_sigma_u_and_may_keep_it(shape):
    # The points are built a chunk of rows at a time into a reused buffer (d = 8000 gives
    # chunks of 4 rows, so several chunks per evaluation): each must be x + sigma * u bit for
    # bit, in the user's shapes, and a point the oracle keeps must never change afterwards.
    x0 = [np.ones((2, 3)), np.arange(4.0)] if shape == "list" else np.linspace(-1, 1, int(np.prod(shape))).reshape(shape)
    seen = []

    def fun(p):
        seen.append((p, [a.copy() for a in p] if shape == "list" else p.copy()))
        if shape == "list":
            return float(sum(np.sum(a * a) for a in p)), [2 * a for a in p]
        return float(np.sum(p * p)), 2 * p

    gs = ns.GradientSampling(None, sigma=0.3, n=11, seed=1)
    opt = ns.Optimizer(x0, gs)
    x = opt.x.copy()
    opt.step(fun)
    U = gs.perturbations
    flat = [np.concatenate([a.ravel() for a in kept]) if shape == "list" else kept.ravel() for _, kept in seen]
    assert len(flat) == 11
    assert np.array_equal(flat[0], x)
    assert np.array_equal(np.array(flat[1:]), U * 0.3 + x)  # NumPy's order of operations, same bits
    opt.step(fun)  # reuses the buffers only where nobody kept them
    for p, kept in seen[:11]:
        if shape == "list":
            assert all(np.array_equal(a, b) for a, b in zip(p, kept)) and [a.shape for a in p] == [(2, 3), (4,)]
        else:
            assert p.shape == kept.shape == x0.shape and np.array_equal(p, kept)


def test_per_point_oracle_reusing_its_gradient_buffer():
    # an oracle that returns the same gradient array every call, overwritten in place: each
    # gradient is copied at once, so the mean is that of the distinct gradients
    buf = np.empty(3)

    def fun(x):
        np.multiply(x, 2.0, out=buf)
        return float(x @ x), buf

    obj = ns.smoothed(fun, sigma=0.5, n=6, seed=3)
    f, g = obj(np.ones(3))
    P = np.vstack([np.ones(3), np.ones(3) + 0.5 * obj.perturbations])
    assert np.array_equal(g, ns.smoothed(quad, sigma=0.5, n=6, seed=3)(np.ones(3))[1])
    np.testing.assert_allclose(g, (2 * P).mean(axis=0), rtol=1e-14)


def test_include_x0_shares_f_and_g_with_criteria():
    gs = ns.GradientSampling([ns.LR(0.01)], n=7, seed=0,
                             termination=[ns.TerminateByGradientNorm(1e-12), ns.TerminateOnNoImprovement()])
    opt = ns.Optimizer(np.ones(3), gs)
    for _ in range(3):
        before = opt.num_evaluations
        opt.step(quad)
        assert opt.num_evaluations - before == 7


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, fragment", [
    (dict(sigma=-1.0), ValueError, "sigma"),
    (dict(sigma=float("nan")), ValueError, "sigma"),
    (dict(n=0), ValueError, "n must be"),
    (dict(n=2.5), TypeError, "n must be an integer"),
    (dict(aggregate="avg"), ValueError, "aggregate must be one of"),
    (dict(distribution="cauchy"), ValueError, "distribution must be one of"),
    (dict(distribution=np.ones((3, 2))), ValueError, r"shape \(n - include_x0, d\)"),
    (dict(distribution=np.ones((9, 2), dtype=int)), TypeError, "distribution array"),
    (dict(include_x0="yes"), TypeError, "include_x0"),
    (dict(fixed=1), TypeError, "fixed"),
    (dict(decay=0.0), ValueError, "decay"),
    (dict(sigma_strategy="loss"), ValueError, "sigma_strategy must be one of"),
    (dict(sigma_target=-0.5), ValueError, "sigma_target"),
    (dict(sigma_nplus=0), ValueError, "sigma_nplus"),
    (dict(sigma_nminus=-1.0), ValueError, "sigma_nminus"),
    (dict(seed=-3), ValueError, "seed"),
    (dict(seed="abc"), TypeError, "seed"),
    (dict(termination=3), TypeError, "termination"),
    (dict(modules=[ns.LR(0.1), "LR"]), TypeError, r"modules\[1\]"),
    (dict(executor="pool"), TypeError, "executor"),
    (dict(antithetic=None), TypeError, "antithetic"),
])
def test_bad_arguments(kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        ns.GradientSampling(**kwargs)


def test_perturbation_array_of_wrong_dimension():
    gs = ns.GradientSampling(None, n=3, distribution=np.ones((2, 5)))
    opt = ns.Optimizer(np.ones(4), gs, ns.LR(0.1))
    with pytest.raises(ValueError, match=r"expected \(2, 4\)"):
        opt.step(quad)
    assert np.array_equal(opt.x, np.ones(4))


@pytest.mark.parametrize("bad, fragment", [
    (lambda x: (1.0, np.ones(3)), r"gradient must have shape .* at sample 1 \(x = \[.*\]\)"),
    (lambda x: (np.ones(2), 2 * x), "shape"),
    (lambda x: 1.0, "pair"),
    (lambda x: (1 + 2j, 2 * x), "complex"),
    (lambda x: ("f", 2 * x), "real scalar"),
])
def test_bad_oracle_results_name_the_sample(bad, fragment):
    def fun(x):
        # good at the x0 term, bad at every perturbed point
        if np.array_equal(x, np.ones(2)):
            return quad(x)
        return bad(x)

    opt = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=4, seed=0))
    with pytest.raises(ns.OracleError, match=fragment):
        opt.step(fun)
    assert np.array_equal(opt.x, np.ones(2))


@pytest.mark.parametrize("where", [0, 1, 3])
def test_exception_in_oracle_names_sample_and_keeps_state(where):
    calls = []

    def fun(x):
        calls.append(1)
        if len(calls) == 4 + where + 1:  # during the second step
            raise RuntimeError("simulation diverged")
        return quad(x)

    gs = ns.GradientSampling([ns.Momentum(0.9), ns.LR(0.1)], n=4, seed=0, sigma_strategy="value")
    opt = ns.Optimizer(np.ones(2), gs)
    opt.step(fun)
    before = (opt.x.copy(), gs.sigma, gs.state_dict())
    label = f"sample {where}" if where else "at x = "
    with pytest.raises(ns.OracleError, match=f"{label}.*simulation diverged|simulation diverged.*{label}"):
        opt.step(fun)
    assert np.array_equal(opt.x, before[0]) and gs.sigma == before[1]
    after = gs.state_dict()
    assert np.array_equal(after["children"][0]["state"]["buf"], before[2]["children"][0]["state"]["buf"])


def test_per_oracle_kernels_are_bounded():
    from numba import njit

    from numsmooth._kernels import oracles

    funs = []
    for k in range(oracles._MAX_ORACLES + 8):
        @njit
        def f(x, g, k=k):  # distinct dispatchers; never called, so nothing compiles
            return 0.0
        funs.append(f)
        oracles.kernels_for(f)
    assert len(oracles._BY_ORACLE) <= oracles._MAX_ORACLES
    assert funs[-1] in oracles._BY_ORACLE and funs[0] not in oracles._BY_ORACLE
