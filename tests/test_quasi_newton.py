"""Tests of BFGS, LBFGS (numsmooth.quasi_newton) and WeakWolfe (numsmooth.line_search).

Trajectories are compared with plain-NumPy twins written here from the textbook formulas (the
explicit product form of the BFGS update, the L-BFGS matrix built pair by pair, the weak Wolfe
bracketing of Lewis & Overton written on ``d``), with closed forms on quadratics (finite
termination, ``H_d = A^{-1}``), and with the Wolfe conditions checked at every accepted point.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import numsmooth as ns
from numsmooth.modules import Module

# ---------------------------------------------------------------------------------------------
# test functions
# ---------------------------------------------------------------------------------------------


def rosen(x):
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return float(f), g


_W = np.array([1.0, 2.0, 0.5, 3.0, 1.5])


def nonsmooth(x):
    """A weighted L1 norm plus a quadratic: kinks on every coordinate hyperplane."""
    return float(_W @ np.abs(x - 0.3) + 0.1 * x @ x), _W * np.sign(x - 0.3) + 0.2 * x


_rng = np.random.default_rng(7)
_M = _rng.standard_normal((6, 6))
A = _M @ _M.T + 0.3 * np.eye(6)
b = _rng.standard_normal(6)
XQ = _rng.standard_normal(6) * 2


def quad(x):
    return float(0.5 * x @ A @ x - b @ x), A @ x - b


class ExactQuadraticSearch(Module):
    """Exact line search on ``quad``: ``t = g.u / u^T A u``."""

    def step(self, objective):
        u = objective.get_update()
        t = float(objective.grad() @ u) / float(u @ A @ u)
        u *= t
        return objective


class Spy(Module):
    """Record the incoming update (the search direction the next module sees)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def step(self, objective):
        self.seen.append(objective.get_update().copy())
        return objective


# ---------------------------------------------------------------------------------------------
# NumPy twins
# ---------------------------------------------------------------------------------------------


def twin_weak_wolfe(fun, x, f0, g0, d, c1=1e-4, c2=0.9, t=1.0, maxiter=60):
    """Lewis & Overton's bracketing search on the direction d; returns (t, failed, trials)."""
    s0 = g0 @ d
    if s0 >= 0:
        return 0.0, True, 0
    lo, hi = 0.0, math.inf
    best_t, best_f = 0.0, f0
    for k in range(maxiter):
        ft, gt = fun(x + t * d)
        if np.isfinite(ft) and ft < best_f:
            best_t, best_f = t, ft
        if not ft < f0 + c1 * t * s0:
            hi = t
        elif not gt @ d > c2 * s0:
            lo = t
        else:
            return t, False, k + 1
        t = 2 * lo if hi == math.inf else (lo + hi) / 2
    return best_t, True, maxiter


def twin_bfgs(fun, x0, nsteps, h0=1.0, auto=True, search="wolfe"):
    x = x0.copy()
    n = x.size
    H = h0 * np.eye(n)
    xs, xp, gp, scaled = [x.copy()], None, None, not auto
    for _ in range(nsteps):
        f, g = fun(x)
        if xp is not None:
            s, y = x - xp, g - gp
            if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
                if not scaled:
                    H = (s @ y) / (y @ y) * H
                    scaled = True
                rho = 1 / (s @ y)
                V = np.eye(n) - rho * np.outer(y, s)
                H = V.T @ H @ V + rho * np.outer(s, s)
        xp, gp = x.copy(), g.copy()
        d = -H @ g
        if search == "wolfe":
            t = twin_weak_wolfe(fun, x, f, g, d)[0]
        else:  # exact, on quad
            t = -(g @ d) / (d @ A @ d)
        x = x + t * d
        xs.append(x.copy())
    return np.array(xs), H


def twin_lbfgs_matrix(S, Y):
    """H of L-BFGS as a matrix: BFGS updates from (s^T y / y^T y) I of the newest pair."""
    n = S[0].size if S else 0
    H = (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) * np.eye(n)
    for s, y in zip(S, Y):
        rho = 1 / (s @ y)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def twin_lbfgs(fun, x0, nsteps, m):
    x = x0.copy()
    S, Y, xs, xp, gp = [], [], [x.copy()], None, None
    for _ in range(nsteps):
        f, g = fun(x)
        if xp is not None:
            s, y = x - xp, g - gp
            if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
                S, Y = (S + [s])[-m:], (Y + [y])[-m:]
        xp, gp = x.copy(), g.copy()
        d = -(twin_lbfgs_matrix(S, Y) @ g if S else g)
        t = twin_weak_wolfe(fun, x, f, g, d)[0]
        x = x + t * d
        xs.append(x.copy())
    return np.array(xs)


def run(fun, x0, *modules, nsteps):
    opt = ns.Optimizer(x0.copy(), *modules)
    xs = [opt.x.copy()]
    for _ in range(nsteps):
        opt.step(fun)
        xs.append(opt.x.copy())
    return np.array(xs), opt


X_ROSEN = np.array([-1.2, 1.0, -1.2, 1.0])


@pytest.mark.parametrize("init_scale", ["auto", 1.0, 4.0])
def test_bfgs_weak_wolfe_matches_numpy_twin(init_scale):
    n = 20  # rounding differences grow along Rosenbrock's valley: ~1e-10 after 30 steps
    xs, opt = run(rosen, X_ROSEN, ns.BFGS(init_scale=init_scale), ns.WeakWolfe(), nsteps=n)
    auto = init_scale == "auto"
    want, H = twin_bfgs(rosen, X_ROSEN, n, h0=1.0 if auto else 1 / init_scale, auto=auto)
    assert_allclose(xs, want, rtol=1e-12, atol=1e-12)
    assert rosen(xs[-1])[0] < 0.1 * rosen(xs[0])[0]  # the comparison covers real progress
    # H after n steps: the twin's is one update behind (it updates at the start of a step)
    assert opt.modules[0].state["num_updates"] == n - 1


@pytest.mark.parametrize("history", [1, 3, 10])
def test_lbfgs_weak_wolfe_matches_numpy_twin(history):
    n = 15
    xs, _ = run(rosen, X_ROSEN, ns.LBFGS(history=history), ns.WeakWolfe(), nsteps=n)
    want = twin_lbfgs(rosen, X_ROSEN, n, history)
    assert_allclose(xs, want, rtol=1e-12, atol=1e-12)
    assert rosen(xs[-1])[0] < 0.5 * rosen(xs[0])[0]


def test_weak_wolfe_matches_twin_on_nonsmooth_function():
    x0 = np.array([2.0, -1.0, 0.7, 1.3, -0.4])
    n = 15
    xs, _ = run(nonsmooth, x0, ns.BFGS(), ns.WeakWolfe(), nsteps=n)
    want, _ = twin_bfgs(nonsmooth, x0, n)
    assert_allclose(xs, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# closed forms on a convex quadratic
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init_scale", [1.0, "auto", 0.1])
def test_bfgs_exact_search_terminates_in_d_steps(init_scale):
    d = A.shape[0]
    bfgs = ns.BFGS(init_scale=init_scale)
    xs, _ = run(quad, XQ, bfgs, ExactQuadraticSearch(), nsteps=d)
    x_star = np.linalg.solve(A, b)
    g0 = np.linalg.norm(quad(XQ)[1])
    assert np.linalg.norm(quad(xs[d])[1]) < 1e-10 * g0
    assert_allclose(xs[d], x_star, rtol=1e-9, atol=1e-9)
    assert np.linalg.norm(quad(xs[d - 1])[1]) > 1e-6 * g0  # not earlier: the test can fail
    want_x, _ = twin_bfgs(quad, XQ, d, h0=1.0 if init_scale == "auto" else 1 / init_scale,
                          auto=init_scale == "auto", search="exact")
    assert_allclose(xs, want_x, rtol=1e-9, atol=1e-9)


def test_bfgs_exact_search_recovers_inverse_hessian():
    d = A.shape[0]
    bfgs = ns.BFGS(init_scale=1.0)
    opt = ns.Optimizer(XQ.copy(), bfgs, ExactQuadraticSearch())
    for _ in range(d):
        opt.step(quad)
    # the d-th pair enters H at the start of step d + 1 (here a plain quasi-Newton step)
    ns.Optimizer(opt.x.copy(), bfgs).step(quad)
    assert bfgs.state["num_updates"] == d
    assert_allclose(bfgs.H, np.linalg.inv(A), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("history", [6, 10])
def test_lbfgs_full_memory_matches_bfgs_on_quadratic(history):
    d = A.shape[0]
    xl, _ = run(quad, XQ, ns.LBFGS(history=history), ExactQuadraticSearch(), nsteps=d)
    xb, _ = run(quad, XQ, ns.BFGS(), ExactQuadraticSearch(), nsteps=d)
    assert_allclose(xl, xb, rtol=1e-9, atol=1e-9)
    assert np.linalg.norm(quad(xl[d])[1]) < 1e-10 * np.linalg.norm(quad(XQ)[1])
    # (memoryless BFGS, history=1, gives the same conjugate-gradient iterates under exact
    # searches; steepest descent does not, so the comparison can fail)
    xs, _ = run(quad, XQ, ExactQuadraticSearch(), nsteps=d)
    assert np.max(np.abs(xs - xb)) > 1e-3


def test_lbfgs_two_loop_equals_explicit_matrix():
    rng = np.random.default_rng(3)
    n = 7
    lb = ns.LBFGS(history=4)
    spy = Spy()
    opt = ns.Optimizer(rng.standard_normal(n), lb, ns.WeakWolfe(), spy)
    fun = lambda x: (float(np.sum(np.cosh(x))), np.sinh(x))  # noqa: E731
    for _ in range(6):
        opt.step(fun)
    S, Y = lb.state["s"], lb.state["y"]
    assert len(S) == 4
    g = rng.standard_normal(n)
    o = ns.Optimizer(np.zeros(n), ns.LBFGS(history=4))
    o.modules[0].load_state_dict(lb.state_dict())
    o.modules[0].state["x_prev"] = np.zeros(n)  # s = 0 at the probe: no new pair is stored
    o.modules[0].state["g_prev"] = g.copy()
    before = o.x.copy()
    o.step(lambda x: (0.0, g.copy()))
    assert_allclose(before - o.x, twin_lbfgs_matrix(S, Y) @ g, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# convergence on Rosenbrock d = 10 (SPEC §9)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [ns.BFGS, ns.LBFGS], ids=["BFGS", "LBFGS"])
def test_rosenbrock_10(make):
    p = ns.problems.get("rosenbrock")
    res = ns.minimize(p.fun, p.x0(10), make(), ns.WeakWolfe(), maxiter=500)
    assert res.fun < 1e-10
    f = np.array(res.history["f"])
    k = int(np.argmax(f < 1e-10))
    assert f[k] < 1e-10 and k < 150  # measured: BFGS 71 steps (164 evaluations), LBFGS 68 (156)


# ---------------------------------------------------------------------------------------------
# the weak Wolfe conditions at accepted points
# ---------------------------------------------------------------------------------------------


def _check_wolfe_along(fun, x0, modules, nsteps, c1=1e-4, c2=0.9):
    spy = Spy()
    ww = ns.WeakWolfe(c1=c1, c2=c2)
    opt = ns.Optimizer(x0.copy(), *modules, spy, ww)
    checked = 0
    for _ in range(nsteps):
        x = opt.x.copy()
        f0, g0 = fun(x)
        opt.step(fun)
        d = -spy.seen[-1]
        t = ww.state["last_step"]
        if ww.state["failed"]:
            continue
        f1, g1 = fun(opt.x.copy())
        assert_array_equal(opt.x, x - t * spy.seen[-1])  # the accepted point is the trial point
        assert f1 < f0 + c1 * t * (g0 @ d)
        assert g1 @ d > c2 * (g0 @ d)
        checked += 1
    return checked


def test_wolfe_conditions_hold_on_smooth_function():
    assert _check_wolfe_along(rosen, X_ROSEN, [ns.BFGS()], 30) == 30


def test_wolfe_conditions_hold_on_nonsmooth_functions():
    n = _check_wolfe_along(nonsmooth, np.array([2.0, -1.0, 0.7, 1.3, -0.4]), [ns.BFGS()], 30)
    assert n >= 10
    p = ns.problems.get("chebyshev_rosenbrock")
    fg = ns.problems.per_point(p)
    # the standard start lies on a kink where the returned subgradient is not a descent
    # direction; start nearby
    x0 = p.x0(4) + np.array([0.1, -0.05, 0.02, 0.03])
    n = _check_wolfe_along(fg, x0, [ns.BFGS()], 40, c2=0.5)
    assert n >= 20
    # with the gradient itself as the direction (no quasi-Newton)
    n = _check_wolfe_along(nonsmooth, np.array([2.0, -1.0, 0.7, 1.3, -0.4]), [], 20)
    assert n >= 5


def test_weak_wolfe_expands_and_bisects():
    # f = |x|: along d from 10 with |d| = 1, t = 1 fails curvature (still descending) -> t = 2,
    # 4, 8 (8 still descending: 10 - 8 = 2 > 0), 16 fails Armijo? f(-6) = 6 < 10 - 1.6e-3, and
    # curvature g.d = +1 > -0.9: accepted at t = 16.
    fun = lambda x: (float(abs(x[0])), np.sign(x))  # noqa: E731
    ww = ns.WeakWolfe()
    opt = ns.Optimizer(np.array([10.0]), ww)
    opt.step(fun)
    assert ww.state["last_step"] == 16.0 and ww.state["num_trials"] == 5
    assert opt.x.tolist() == [-6.0]
    t, failed, k = twin_weak_wolfe(fun, np.array([10.0]), 10.0, np.ones(1), -np.ones(1))
    assert (t, failed, k) == (16.0, False, 5)


# ---------------------------------------------------------------------------------------------
# failures, evaluations, skipping, reset
# ---------------------------------------------------------------------------------------------


class Negate(Module):
    def step(self, objective):
        objective.get_update()[...] *= -1
        return objective


def test_ascent_direction_gives_zero_step_and_failure():
    ww = ns.WeakWolfe()
    opt = ns.Optimizer(np.array([1.0, 2.0]), Negate(), ww)
    opt.step(lambda x: (float(x @ x), 2 * x))
    assert opt.x.tolist() == [1.0, 2.0]
    assert ww.state["failed"] and ww.state["last_step"] == 0.0 and ww.state["num_trials"] == 0
    assert ww.state["num_failures"] == 1 and opt.num_evaluations == 1


def test_failed_search_takes_best_decreasing_trial_like_backtracking():
    # f = x^2 from x = 1, u = 2: t = 1 -> x = -1 (f = 1, Armijo fails), t = 0.5 -> 0 (accepted
    # by Armijo; curvature g.d = 0 > 0.9 * -4 holds) -- with maxiter=1 only t = 1 is tried.
    fun = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    ww = ns.WeakWolfe(maxiter=1)
    opt = ns.Optimizer(np.array([1.0]), ww)
    opt.step(fun)
    assert ww.state["failed"] and ww.state["last_step"] == 0.0 and opt.x.tolist() == [1.0]
    # init 0.1: x = 0.8, Armijo holds, curvature g.d = -3.2 <= -3.6? no: -3.2 > -3.6 holds ->
    # accepted; take init 0.01 instead: g.d = -3.92 <= -3.6 fails curvature, f decreased
    ww = ns.WeakWolfe(init=0.01, maxiter=1)
    opt = ns.Optimizer(np.array([1.0]), ww)
    opt.step(fun)
    assert ww.state["failed"] and ww.state["last_step"] == 0.01
    assert_allclose(opt.x, [0.98], rtol=1e-15)
    assert ww.state["num_failures"] == 1


def test_evaluations_per_step_are_trials_plus_one():
    ww = ns.WeakWolfe()
    opt = ns.Optimizer(X_ROSEN.copy(), ns.BFGS(), ww)
    for _ in range(10):
        before = opt.num_evaluations
        opt.step(rosen)
        assert opt.num_evaluations - before == ww.state["num_trials"] + 1


def test_bfgs_skips_pairs_without_positive_curvature():
    # f = -x.x/2 with LR: y = -s, s.y < 0 at every step; H stays I exactly
    fun = lambda x: (float(-0.5 * x @ x), -x)  # noqa: E731
    bfgs = ns.BFGS()
    opt = ns.Optimizer(np.array([1.0, -2.0]), bfgs, ns.LR(0.1))
    for _ in range(3):
        opt.step(fun)
    assert bfgs.state["num_skipped"] == 2 and bfgs.state["num_updates"] == 0
    assert_array_equal(bfgs.H, np.eye(2))
    assert_allclose(opt.x, np.array([1.0, -2.0]) * 1.1**3, rtol=1e-15)
    lb = ns.LBFGS()
    opt = ns.Optimizer(np.array([1.0, -2.0]), lb, ns.LR(0.1))
    for _ in range(3):
        opt.step(fun)
    assert lb.state["num_skipped"] == 2 and lb.state["s"] == []


def test_zero_step_is_skipped():
    # the ascent direction makes WeakWolfe return a zero step: s = 0 is skipped at the next step
    bfgs = ns.BFGS()
    opt = ns.Optimizer(np.array([1.0, 2.0]), bfgs, Negate(), ns.WeakWolfe())
    fun = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    opt.step(fun)
    opt.step(fun)
    assert bfgs.state["num_skipped"] == 1 and bfgs.state["num_updates"] == 0


@pytest.mark.parametrize("make", [ns.BFGS, ns.LBFGS], ids=["BFGS", "LBFGS"])
def test_reset_clears_memory(make):
    m = make()
    opt = ns.Optimizer(X_ROSEN.copy(), m, ns.WeakWolfe())
    for _ in range(5):
        opt.step(rosen)
    assert m.state["num_updates"] == 4
    m.reset()
    assert m.state == {}
    spy = Spy()
    opt2 = ns.Optimizer(opt.x.copy(), m, spy)
    opt2.step(rosen)
    assert_array_equal(spy.seen[0], rosen(opt.x.copy())[1])  # H = I again


# ---------------------------------------------------------------------------------------------
# saving and resuming
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: ns.BFGS(), lambda: ns.LBFGS(history=3)], ids=["BFGS", "LBFGS"])
def test_state_dict_resumes_bit_identically(make):
    p = ns.problems.get("rosenbrock")
    opt = ns.Optimizer(p.x0(6), make(), ns.WeakWolfe())
    for _ in range(7):
        opt.step(p.fun)
    saved = opt.state_dict()
    pickled = pickle.dumps(opt)
    ref = []
    for _ in range(10):
        opt.step(p.fun)
        ref.append(opt.x.copy())
    fresh = ns.Optimizer(p.x0(6), make(), ns.WeakWolfe())
    fresh.load_state_dict(saved)
    for restored in (fresh, pickle.loads(pickled)):
        got = []
        for _ in range(10):
            restored.step(p.fun)
            got.append(restored.x.copy())
        assert_array_equal(np.array(got), np.array(ref))
    # a different configuration is refused
    with pytest.raises(ValueError, match="configuration"):
        ns.Optimizer(p.x0(6), ns.LBFGS(history=4) if isinstance(opt.modules[0], ns.LBFGS)
                     else ns.BFGS(init_scale=2.0), ns.WeakWolfe()).load_state_dict(saved)


def test_failed_step_rolls_back_state():
    # a non-finite update is refused by the optimizer: BFGS's x_prev/g_prev are not advanced
    bfgs = ns.BFGS()
    opt = ns.Optimizer(np.array([1.0, 2.0]), bfgs, ns.WeakWolfe(), on_refused="ignore")
    fun = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    opt.step(fun)
    before = bfgs.state_dict()
    opt.step(lambda x: (float(x @ x), np.full(2, np.nan)))
    assert not opt.last_step_finite
    after = bfgs.state_dict()
    assert_array_equal(after["state"]["x_prev"], before["state"]["x_prev"])
    assert after["state"]["num_skipped"] == before["state"]["num_skipped"]


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "name"),
    [
        (lambda: ns.BFGS(init_scale="identity"), ValueError, "init_scale"),
        (lambda: ns.BFGS(init_scale=0.0), ValueError, "init_scale"),
        (lambda: ns.BFGS(init_scale=-1.0), ValueError, "init_scale"),
        (lambda: ns.BFGS(init_scale=True), TypeError, "init_scale"),
        (lambda: ns.BFGS(init_scale=None), TypeError, "init_scale"),
        (lambda: ns.BFGS(tol=-1e-3), ValueError, "tol"),
        (lambda: ns.BFGS(tol=1.0), ValueError, "tol"),
        (lambda: ns.LBFGS(history=0), ValueError, "history"),
        (lambda: ns.LBFGS(history=2.0), TypeError, "history"),
        (lambda: ns.LBFGS(tol=math.nan), ValueError, "tol"),
        (lambda: ns.WeakWolfe(c1=0.0), ValueError, "c1"),
        (lambda: ns.WeakWolfe(c1=1.0), ValueError, "c1"),
        (lambda: ns.WeakWolfe(c2=1.0), ValueError, "c2"),
        (lambda: ns.WeakWolfe(c1=0.5, c2=0.5), ValueError, "c2"),
        (lambda: ns.WeakWolfe(c2="0.9"), TypeError, "c2"),
        (lambda: ns.WeakWolfe(init=0.0), ValueError, "init"),
        (lambda: ns.WeakWolfe(maxiter=0), ValueError, "maxiter"),
        (lambda: ns.WeakWolfe(maxiter=1.5), TypeError, "maxiter"),
    ],
)
def test_bad_arguments(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_config_and_repr():
    assert ns.BFGS().config() == {"init_scale": "auto", "tol": 1e-12}
    assert ns.LBFGS(history=5).config() == {"history": 5, "tol": 1e-12}
    assert ns.WeakWolfe().config() == {"c1": 1e-4, "c2": 0.9, "init": 1.0, "maxiter": 60, "stop": True,
                                       "xtol": 1e-12, "gtol": 0.0, "patience": 3, "normtol": 0.0,
                                       "evaldist": 1e-4}
    assert repr(ns.LBFGS(3)) == "LBFGS(history=3, tol=1e-12)"
