"""Honest results: the stationarity certificate, the best point, success, methods that stop by
themselves, non-finite regions, and the messages of minimize, the criteria and the recipes.

References are independent of the code under test: Clarke subdifferentials in closed form
(``|x|``, the L1 norm, a max of affine functions, whose min-norm elements are computed by hand or
by a dense QP with scipy's SLSQP), a lasso solved by proximal gradient (ISTA) written here, and
gradient-descent iterates in closed form.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import numsmooth as ns
from numsmooth import recipes
from numsmooth._certificate import EXTRA_POINTS, RecentGradients, certify
from numsmooth.hull import ONE_BLAS_THREAD_FROM, _one_blas_thread, min_norm_hull


def counting(fun):
    calls = {"n": 0}

    def wrapped(x):
        calls["n"] += 1
        return fun(x)

    return wrapped, calls


def dense_min_norm(G):
    """min ||G^T w|| over the simplex, by scipy's SLSQP on the dense QP (a reference)."""
    m = G.shape[0]
    K = G @ G.T
    res = scipy_minimize(lambda w: w @ K @ w, np.full(m, 1.0 / m), jac=lambda w: 2 * K @ w, method="SLSQP",
                         bounds=[(0.0, 1.0)] * m, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                         options={"ftol": 1e-16, "maxiter": 500})
    return float(np.sqrt(max(res.fun, 0.0)))


def l1(x):
    return float(np.abs(x).sum()), np.sign(x)


# three affine pieces a_i . x + b_i meeting at the origin (b = 0)
A3 = np.array([[1.0, 2.0], [-2.0, 1.0], [0.5, -3.0]])


def max_affine(x):
    v = A3 @ x
    i = int(np.argmax(v))
    return float(v[i]), A3[i].copy()


# -- the certificate against closed forms ------------------------------------------------------

def test_certificate_of_abs_at_its_kink_is_zero():
    # Clarke subdifferential of |x - 0.3| at 0.3 is [-1, 1]: min-norm element 0; the oracle
    # returns the one-sided gradient 1 at the kink itself
    fun = lambda x: (float(abs(x[0] - 0.3)), np.array([1.0 if x[0] >= 0.3 else -1.0]))
    x = np.array([0.3])
    ev, calls = counting(fun)
    c = certify(x, fun(x)[1], None, [], 1e-4, 1e-6, ev)
    assert c.stationarity == 0.0 and 0.0 < c.radius <= 1e-4
    assert calls["n"] == c.extra == 2  # min(10, 2 d) points: one antithetic pair


def test_certificate_of_l1_on_a_face_is_computed_by_hand():
    # ||x||_1 at x = (0, 0, 1, -2, 0): the Clarke subdifferential is {v: v_i in [-1, 1] where
    # x_i = 0, v_i = sign(x_i) elsewhere}; its min-norm element is (0, 0, 1, -1, 0), norm sqrt(2)
    x = np.array([0.0, 0.0, 1.0, -2.0, 0.0])
    c = certify(x, l1(x)[1], None, [], 1e-4, 1e-6, l1)
    assert c.stationarity == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert c.extra == EXTRA_POINTS and c.nonfinite == 0
    # at the minimum every sign pattern cancels: 0
    c0 = certify(np.zeros(5), l1(np.zeros(5))[1], None, [], 1e-4, 1e-6, l1)
    assert c0.stationarity == pytest.approx(0.0, abs=1e-15)


def test_certificate_on_a_ridge_of_a_max_of_affine_functions_matches_a_dense_qp():
    # on the ridge between pieces 0 and 1 (a_0 . x = a_1 . x > a_2 . x) the Clarke
    # subdifferential is the segment [a_0, a_1]; antithetic pairs always straddle the ridge
    x = np.array([-2.0, 6.0])  # (a_0 - a_1) . x = 0, a_0 . x = 10 > a_2 . x = -19
    assert A3[0] @ x == A3[1] @ x and A3[2] @ x < A3[0] @ x
    c = certify(x, max_affine(x)[1], None, [], 1e-4, 1e-6, max_affine)
    assert c.stationarity == pytest.approx(dense_min_norm(A3[:2]), rel=1e-9)
    # by hand: the projection of 0 on [a_0, a_1]
    t = float(A3[0] @ (A3[0] - A3[1]) / np.sum((A3[0] - A3[1]) ** 2))
    assert c.stationarity == pytest.approx(float(np.linalg.norm(A3[0] - t * (A3[0] - A3[1]))), rel=1e-12)


def test_certificate_at_the_vertex_of_a_max_of_affine_functions():
    # at the origin all three pieces are active; 0 is in conv{a_i} (a minimizer), and the dense
    # QP agrees; the certificate found from ten points (seed 0) reaches it
    assert dense_min_norm(A3) < 1e-7
    x = np.zeros(2)
    c = certify(x, max_affine(x)[1], None, [], 1e-4, 1e-6, max_affine, extra=10)
    _, v, _ = min_norm_hull(A3)
    assert c.stationarity <= 1e-12 and float(np.linalg.norm(v)) <= 1e-12


def test_certificate_uses_recent_iterates_within_the_radius_only():
    x = np.array([0.3])
    rec = RecentGradients(1, 1e-4)
    rec.add(np.array([0.3 - 5e-5]), np.array([-1.0]), step_norm=5e-5)  # near, the other side
    rec.add(np.array([0.5]), np.array([1.0]), step_norm=1.0)  # a long step: not kept
    assert len(rec.pairs) == 1
    c = certify(x, np.array([1.0]), rec, [], 1e-4, 1e-6, None)
    assert c.stationarity == 0.0 and c.radius == pytest.approx(5e-5) and c.extra == 0
    far = certify(x, np.array([1.0]), rec, [], 1e-5, 1e-6, None)  # radius too small for it
    assert far.stationarity == 1.0 and far.radius == 0.0


# -- minimize's result --------------------------------------------------------------------------

def test_smooth_quadratic_certificate_is_the_gradient_norm():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((6, 6))
    Q = M @ M.T + np.eye(6)
    b = rng.standard_normal(6)
    fun = lambda x: (float(0.5 * x @ Q @ x - b @ x), Q @ x - b)
    res = ns.minimize(fun, np.zeros(6))  # the default method
    x_star = np.linalg.solve(Q, b)
    assert res.success and np.allclose(res.x, x_star, atol=1e-8)
    gnorm = float(np.linalg.norm(Q @ res.x - b))
    assert res.stationarity <= gnorm + 1e-300 and res.stationarity <= 1e-6
    # a certificate from the run, not one that is too good to be true: its gradients are real
    assert res.stationarity_radius <= 1e-4


def test_unconverged_run_is_not_a_success_and_extra_evaluations_are_counted():
    fun, calls = counting(lambda x: (float(x @ x), 2 * x))
    res = ns.minimize(fun, np.ones(6), ns.LR(0.1), maxiter=3)
    assert res.status == 1 and not res.success
    assert res.nfev == calls["n"] == 3 + 1 + min(EXTRA_POINTS, 12)
    calls["n"] = 0
    res2 = ns.minimize(fun, np.ones(6), ns.LR(0.1), maxiter=3, certify=False)
    assert res2.nfev == calls["n"] == 4 and not res2.success
    # x_k = 0.8^k x0: g(x_3) = 2 * 0.8^3 * ones; hull of g(x_2), g(x_3) (step 0.2*0.8^2*... long)
    assert res2.stationarity <= float(np.linalg.norm(2 * 0.8**3 * np.ones(6))) + 1e-15


def test_maxiter_with_a_certified_point_is_a_success():
    # GD on x.x with step 0.5 lands on 0 at once: maxiter stopped it, the certificate holds
    res = ns.minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), ns.LR(0.5), maxiter=2)
    assert res.status == 1 and res.success and res.stationarity == 0.0


def test_a_converging_criterion_succeeds_without_extra_evaluations():
    fun, calls = counting(lambda x: (float(x @ x), 2 * x))
    res = ns.minimize(fun, np.ones(4), ns.LR(0.25), tol=1e-10, maxiter=1000)
    assert res.status == 0 and res.success and res.nfev == calls["n"]
    res = ns.minimize(fun, np.ones(4), ns.LR(0.25), maxiter=1000,
                      termination=[ns.TerminateAfterNSteps(5), ns.TerminateOnLossReached(1e-3)])
    # step 5 is reached before f <= 1e-3 (f_k = 4 * 0.25^k): a budget, not convergence
    assert res.nit == 5 and not res.success


def test_best_point_is_kept_when_the_run_ends_above_it():
    # LR(1.1) on x^2 overshoots: x_k = (-1.2)^k x0 grows, the best iterate is x0
    x0 = np.array([0.5, -1.0])
    res = ns.minimize(lambda x: (float(x @ x), 2 * x), x0, ns.LR(1.1), maxiter=6)
    assert np.allclose(res.x, (-1.2) ** 6 * x0, rtol=1e-12)
    assert np.array_equal(res.x_best, x0) and res.fun_best == float(x0 @ x0)
    assert res.fun > res.fun_best
    # a descent method: the best is the final point
    res = ns.minimize(l1, np.array([3.0, -1.0]), ns.BFGS(), ns.WeakWolfe())
    assert res.fun_best == res.fun and np.array_equal(res.x_best, res.x)


def test_x_best_has_the_shapes_of_x0():
    x0 = [np.ones((2, 2)), np.ones(3)]
    res = ns.minimize(lambda p: (float(sum((a * a).sum() for a in p)), [2 * a for a in p]), x0, ns.LR(0.25),
                      maxiter=5)
    assert [a.shape for a in res.x_best] == [(2, 2), (3,)]


# -- non-finite regions -------------------------------------------------------------------------

def nan_beyond_one(x):
    """(x_1 - 2)^2 + x_2^2, not defined (nan) where x_1 >= 1: the infimum, 1, is at the edge."""
    if x[0] >= 1.0:
        return math.nan, np.full(2, math.nan)
    return float((x[0] - 2.0) ** 2 + x[1] ** 2), np.array([2 * (x[0] - 2.0), 2 * x[1]])


@pytest.mark.parametrize("modules", [
    lambda: [ns.BFGS(), ns.WeakWolfe()],
    lambda: recipes.hanso(2, seed=0),
    lambda: recipes.gradient_sampling(2, seed=0),
    lambda: [],  # the default method
], ids=["bfgs", "hanso", "gradient-sampling", "default"])
def test_a_run_stuck_at_the_edge_of_a_nan_region_says_so(modules):
    res = ns.minimize(nan_beyond_one, np.array([-1.0, 0.5]), *modules(), maxiter=2000)
    assert res.status == 6 and not res.success
    assert "not finite" in res.message
    # it went to the edge: the best value is close to the infimum 1, and finite
    assert 1.0 < res.fun_best < 1.1 and res.x_best[0] < 1.0
    assert res.stationarity > 1.0  # the gradient there is about (-2, 0)


def test_weak_wolfe_treats_a_nan_gradient_as_too_far():
    # f(x) = -x is finite everywhere but its gradient is nan for x >= 1: the search must not
    # double its step through that region (it would with the nan read as "curvature fails")
    def fun(x):
        return float(-x[0]), np.array([-1.0 if x[0] < 1.0 else math.nan])

    ww = ns.WeakWolfe(maxiter=30)
    opt = ns.Optimizer(np.array([0.0]), ww)
    opt.step(fun)
    assert ww.state["failed"] and ww.state["stop_reason"] == ww.EDGE_REASON
    assert 0.9 < opt.x[0] < 1.0 and ww.state["num_nonfinite"] >= 1
    # the next step asks to stop and says why
    opt.step(fun)
    assert "not finite" in opt.stop_message


def test_backtracking_backs_off_a_nan_region():
    def fun(x):
        if x[0] > 0.5:
            return math.nan, np.array([math.nan])
        return float((x[0] - 2) ** 2), np.array([2 * (x[0] - 2)])

    bt = ns.Backtracking(init=1.0, beta=0.5)
    opt = ns.Optimizer(np.array([0.0]), bt)
    opt.step(fun)  # d = -4: trials 4, 2, 1, 0.5 are nan, 0.25 (x = 0.25... no: x = t * 4)
    assert 0.0 < opt.x[0] <= 0.5 and np.isfinite(fun(opt.x)[0])


# -- methods that stop by themselves ------------------------------------------------------------

def lasso_problem():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((30, 20))
    b = A @ np.where(rng.random(20) < 0.3, rng.standard_normal(20), 0.0) + 0.1 * rng.standard_normal(30)
    lam = 2.0

    def fun(x):
        r = A @ x - b
        return float(0.5 * r @ r + lam * np.abs(x).sum()), A.T @ r + lam * np.sign(x)

    # reference: ISTA (proximal gradient) to convergence
    L = np.linalg.norm(A, 2) ** 2
    x = np.zeros(20)
    for _ in range(20000):
        z = x - A.T @ (A @ x - b) / L
        x = np.sign(z) * np.maximum(np.abs(z) - lam / L, 0.0)
    return fun, fun(x)[0]


@pytest.mark.parametrize("make", [lambda: ns.BFGS(), lambda: ns.LBFGS(history=10)], ids=["bfgs", "lbfgs"])
def test_quasi_newton_with_weak_wolfe_stops_by_itself_on_a_lasso(make):
    fun, f_ref = lasso_problem()
    res = ns.minimize(fun, np.zeros(20), make(), ns.WeakWolfe(), maxiter=1_000_000)
    assert res.status == 4 and res.nfev < 20_000  # it ran 303,372 evaluations before
    close = res.fun - f_ref <= 1e-6 * (1 + abs(f_ref))
    # BFGS gets there; L-BFGS stops short (f - f* = 6e-5 relative) and must not claim success
    assert close or not res.success
    if isinstance(make(), ns.BFGS):
        assert close


def test_weak_wolfe_stop_rules_can_be_switched_off_and_gtol_means_convergence():
    fun, _ = lasso_problem()
    res = ns.minimize(fun, np.zeros(20), ns.BFGS(), ns.WeakWolfe(stop=False), maxiter=300)
    assert res.status == 1 and res.nit == 300
    quad = lambda x: (float(x @ x), 2 * x)
    res = ns.minimize(quad, np.ones(3), ns.LR(0.5), ns.WeakWolfe(gtol=1e-8))
    assert res.status == 4 and res.success and "gtol" in res.message


def test_weak_wolfe_hanso_test_on_nearby_gradients_stops_at_the_kink():
    # f = |x_1| + 2 |x_2 - 1|: at (0, 1) the Clarke subdifferential [-1, 1] x [-2, 2] holds 0;
    # BFGS zigzags across the kinks, and the hull of the gradients at the nearby iterates
    # certifies the point long before the line search fails
    fun = lambda x: (float(abs(x[0]) + 2 * abs(x[1] - 1)),
                     np.array([1.0 if x[0] >= 0 else -1.0, 2.0 if x[1] >= 1 else -2.0]))
    ww = ns.WeakWolfe(normtol=1e-6)
    res = ns.minimize(fun, np.array([3.3, -2.1]), ns.BFGS(), ww, certify=False)
    assert res.status == 4 and res.success and "approximately stationary" in res.message
    assert ww.state["stop_reason"] == 6 and np.allclose(res.x, [0.0, 1.0], atol=1e-4)
    plain = ns.minimize(fun, np.array([3.3, -2.1]), ns.BFGS(), ns.WeakWolfe(), certify=False)
    assert plain.nfev > res.nfev
    # each kept iterate is within evaldist of the next, and no more are kept than allowed
    assert 1 <= len(ww.state["near_g"]) <= min(100, 2 * 2, 2 + 10)


@pytest.mark.parametrize("d", [5, 30])
def test_default_method_converges_on_smooth_and_nonsmooth_problems(d):
    rosen = ns.problems.get("rosenbrock")
    res = ns.minimize(rosen.fun, rosen.x0(d), maxiter=5000)
    assert res.fun < 1e-10 and res.success
    p = ns.problems.get("chained_cb3_2")
    res = ns.minimize(p.fun, p.x0(d), maxiter=5000)
    assert res.fun - p.optimal_value(d) <= 1e-6 * (1 + abs(p.optimal_value(d)))


def test_default_method_does_not_diverge_from_where_gradient_descent_did():
    # unit-step gradient descent (the old default) diverges on 10 x^2
    fun = lambda x: (float(10 * x @ x), 20 * x)
    with np.errstate(all="raise"):
        res = ns.minimize(fun, np.ones(4))
    assert res.fun < 1e-12 and res.success


def test_hanso_bfgs_phase_is_not_capped_by_default():
    # maxq at d = 60: BFGS needs more than 1,000 steps (the old cap) to finish
    p = ns.problems.get("maxq")
    (sw,) = recipes.hanso(60, seed=0)
    res = ns.minimize(p.fun, p.x0(60), sw, maxiter=20000)
    assert sw.switch_step > 1000 and res.fun < 1e-12
    (capped,) = recipes.hanso(60, seed=0, bfgs_steps=1000)
    ns.minimize(p.fun, p.x0(60), capped, maxiter=1001)
    assert capped.switch_step == 999


# -- messages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["yes", "True", "on", "1", ""])
def test_progress_word_that_reads_as_a_switch_is_refused(word):
    with pytest.raises(ValueError, match=f"progress.*{word!r}"):
        ns.minimize(lambda x: (0.0, 0 * x), np.ones(2), ns.LR(0.1), progress=word)


@pytest.mark.parametrize("kw, match", [(dict(certify="yes"), "certify"), (dict(certify_tol=0.0), "certify_tol"),
                                       (dict(certify_radius=-1.0), "certify_radius")])
def test_certify_arguments_are_checked(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ns.minimize(lambda x: (0.0, 0 * x), np.ones(2), ns.LR(0.1), **kw)


def test_sec_fn_returning_a_string_names_the_argument_and_the_value():
    crit = ns.TerminateAfterNSeconds(1.0, sec_fn=lambda: "noon")
    with pytest.raises(TypeError, match=r"sec_fn must return .*'noon'"):
        ns.minimize(lambda x: (0.0, 0 * x), np.ones(2), ns.LR(0.1), termination=crit)


@pytest.mark.parametrize("build, name", [(lambda: recipes.gradient_sampling(2), "gradient_sampling"),
                                         (lambda: recipes.hanso(2), "hanso")])
def test_recipe_built_for_another_size_raises_before_any_evaluation(build, name):
    fun, calls = counting(lambda x: (float(x @ x), 2 * x))
    opt = ns.Optimizer(np.ones(50), *build())
    with pytest.raises(ValueError, match=rf"recipes\.{name}\(d=2\) .* the problem has 50"):
        opt.step(fun)
    assert calls["n"] == 0 and opt.num_steps == 0


# -- BLAS threads of the hull QP ----------------------------------------------------------------

def test_hull_solve_limits_blas_to_one_thread_and_restores_it():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with _one_blas_thread():
        assert set(blas_threads()) == {1}
        with _one_blas_thread():  # nested: shares the limit
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
    # concurrent solves, large enough to take the limit: the original count is restored
    G = np.random.default_rng(0).standard_normal((80, 60))
    assert 80 * 80 * 60 >= ONE_BLAS_THREAD_FROM
    ref = min_norm_hull(G)
    out = []
    threads = [threading.Thread(target=lambda: out.append(min_norm_hull(G))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert blas_threads() == before
    assert all(np.array_equal(o[0], ref[0]) for o in out)
