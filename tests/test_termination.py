"""Tests of numsmooth.termination: the ten criteria, the n-consecutive rule, reset, norms, and
termination inside ``minimize``.

Expected verdicts are written out by hand from the definitions in SPEC §6 (or come from an
independent gradient-descent loop in NumPy), never copied from the code under test.
"""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import numsmooth as ns


# ---------------------------------------------------------------------------------------------
# a stub objective whose x, f, g and evaluation count the test sets directly
# ---------------------------------------------------------------------------------------------


class Stub:
    """Exposes what a criterion may read: ``x``, ``loss()``, ``grad()``, ``num_evaluations``."""

    def __init__(self, x=(0.0, 0.0, 0.0), f=0.0, g=(0.0, 0.0, 0.0), num_evaluations=0):
        self.x = np.asarray(x, dtype=np.float64)
        self.f = float(f)
        self.g = np.asarray(g, dtype=np.float64)
        self.num_evaluations = num_evaluations

    def loss(self):
        return self.f

    def grad(self):
        return self.g

    def loss_and_grad(self):
        return self.f, self.g


def verdicts(crit, stubs):
    return [crit.should_terminate(s) for s in stubs]


def f_stubs(values):
    return [Stub(f=v) for v in values]


def g_stubs(norms, d=3):
    # gradient with l2 norm == given value (all mass in the first coordinate)
    out = []
    for v in norms:
        g = np.zeros(d)
        g[0] = v
        out.append(Stub(g=g))
    return out


def x_stubs(points):
    return [Stub(x=p) for p in points]


# ---------------------------------------------------------------------------------------------
# TerminateAfterNSteps
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, 1, 3, 6])
def test_after_n_steps_fires_on_check_after_steps_checks(steps):
    crit = ns.TerminateAfterNSteps(steps)
    got = verdicts(crit, [Stub()] * (steps + 4))
    # checked `steps` times -> the (steps+1)-th check fires, and every later check too
    assert got == [False] * steps + [True] * 4


def test_after_n_steps_reset_starts_over():
    crit = ns.TerminateAfterNSteps(2)
    assert verdicts(crit, [Stub()] * 3) == [False, False, True]
    crit.reset()
    assert verdicts(crit, [Stub()] * 3) == [False, False, True]


# ---------------------------------------------------------------------------------------------
# TerminateAfterNEvaluations
# ---------------------------------------------------------------------------------------------


def test_after_n_evaluations_reads_the_count():
    crit = ns.TerminateAfterNEvaluations(10)
    stubs = [Stub(num_evaluations=k) for k in (0, 9, 10, 11, 3, 10)]
    assert verdicts(crit, stubs) == [False, False, True, True, False, True]


def test_after_zero_evaluations_fires_immediately():
    assert ns.TerminateAfterNEvaluations(0).should_terminate(Stub(num_evaluations=0))


def _quad(x):
    return float(0.5 * np.dot(x, x)), x.copy()


def test_after_n_evaluations_in_minimize_with_backtracking():
    # independent record: cumulative oracle calls after each step of an uninterrupted run
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return float(np.sum(x**4) + np.dot(x, x)), 4 * x**3 + 2 * x

    after_step = []

    def cb(r):
        after_step.append(calls["n"])

    x0 = np.array([1.5, -2.0, 0.7])
    ns.minimize(fun, x0, ns.Backtracking(init=2.0), maxiter=10, callback=cb)
    assert after_step[-1] > after_step[0] > 1  # several trials per step, so the test bites
    maxevals = after_step[3] - 1  # reached during step 4
    expected_nit = next(k + 1 for k, c in enumerate(after_step) if c >= maxevals)
    assert expected_nit == 4
    calls["n"] = 0
    res = ns.minimize(fun, x0, ns.Backtracking(init=2.0), maxiter=10,
                      termination=ns.TerminateAfterNEvaluations(maxevals), certify=False)
    # a budget is not convergence: success only by the certificate, far from met after 4 steps
    assert res.status == 0 and not res.success and res.stationarity > 1e-4
    assert res.nit == expected_nit


# ---------------------------------------------------------------------------------------------
# TerminateAfterNSeconds with a fake clock
# ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, times):
        self.times = list(times)
        self.calls = 0

    def __call__(self):
        t = self.times[self.calls]
        self.calls += 1
        return t


def test_after_n_seconds_fake_clock():
    clock = FakeClock([100.0, 100.5, 101.9, 102.0, 105.0, 200.0, 200.5, 202.25])
    crit = ns.TerminateAfterNSeconds(2.0, sec_fn=clock)
    assert verdicts(crit, [Stub()] * 5) == [False, False, False, True, True]
    assert clock.calls == 5  # read once per check
    crit.reset()  # forgets the start time: 200.0 is the new start
    assert verdicts(crit, [Stub()] * 3) == [False, False, True]


def test_after_zero_seconds_needs_a_second_check():
    crit = ns.TerminateAfterNSeconds(0.0, sec_fn=FakeClock([5.0, 5.0]))
    assert verdicts(crit, [Stub(), Stub()]) == [False, True]


def test_after_n_seconds_default_clock_is_time_time():
    assert inspect.signature(ns.TerminateAfterNSeconds).parameters["sec_fn"].default is time.time


def test_after_n_seconds_in_minimize():
    clock = FakeClock([float(k) for k in range(100)])  # one second per check
    res = ns.minimize(_quad, np.ones(2), ns.LR(0.1), maxiter=50,
                      termination=ns.TerminateAfterNSeconds(3.0, sec_fn=clock))
    # checks at t=0 (start), 1, 2, 3 (fires) -> three steps taken
    assert res.status == 0 and res.nit == 3


# ---------------------------------------------------------------------------------------------
# TerminateByGradientNorm and the n-consecutive rule
# ---------------------------------------------------------------------------------------------


def test_gradient_norm_defaults():
    c = ns.TerminateByGradientNorm()
    assert (c.tol, c.n, c.ord) == (1e-8, 3, 2)


def test_gradient_norm_n_consecutive_rule():
    crit = ns.TerminateByGradientNorm(tol=0.1, n=3)
    norms = [1.0, 0.05, 0.05, 1.0, 0.05, 0.1, 0.01, 0.0, 0.0, 0.02, 5.0, 0.0]
    expected = [False, False, False, False,  # streak broken at index 3
                False, False, True,           # 3 consecutive (tol inclusive) -> fires
                False, False, True,           # streak restarted after firing
                False, False]
    assert verdicts(crit, g_stubs(norms)) == expected


def test_gradient_norm_n1_fires_every_time():
    crit = ns.TerminateByGradientNorm(tol=0.5, n=1)
    assert verdicts(crit, g_stubs([0.4, 0.6, 0.5, 0.5])) == [True, False, True, True]


RNG_V = np.random.default_rng(7).standard_normal(11)
RNG_V[3] = 0.0


def _np_metric(v, ord):
    if ord == "mad":
        return np.mean(np.abs(v))
    if ord == "std":
        return np.std(v, ddof=1)
    p = {"l1": 1, "l2": 2, "linf": np.inf}.get(ord, ord)
    return np.linalg.norm(v, ord=p)


ORDS = ["l1", "l2", "linf", "mad", "std", 0, 0.5, 1, 1.5, 2, 3, 2.0, math.inf, np.inf]


@pytest.mark.parametrize("ord", ORDS, ids=repr)
def test_gradient_norm_every_ord_against_numpy(ord):
    ref = float(_np_metric(RNG_V, ord))
    assert ref > 0
    # std of a constant vector is 0, of RNG_V is not: make sure each ord bites on its own value
    above = ns.TerminateByGradientNorm(tol=ref * (1 + 1e-12), n=1, ord=ord)
    below = ns.TerminateByGradientNorm(tol=ref * (1 - 1e-12), n=1, ord=ord)
    assert above.should_terminate(Stub(g=RNG_V))
    assert not below.should_terminate(Stub(g=RNG_V))


def test_std_is_sample_std_not_population():
    v = np.array([1.0, 2.0, 3.0, 4.0])
    pop, samp = np.std(v), np.std(v, ddof=1)
    mid = 0.5 * (pop + samp)
    # sample std (ddof=1, as torch.std) is larger than population std
    assert not ns.TerminateByGradientNorm(tol=mid, n=1, ord="std").should_terminate(Stub(g=v))


def test_gradient_norm_in_minimize_uses_cached_gradient():
    # GD on 0.5||x - b||^2 with lr: g_k = (1 - lr)^k (x0 - b); independent loop
    b = np.array([1.0, -2.0, 0.5])
    x0 = np.zeros(3)
    lr, tol = 0.3, 1e-3
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        r = x - b
        return float(0.5 * r @ r), r

    x = x0.copy()
    k = 0
    while np.linalg.norm(x - b) > tol:
        x = x - lr * (x - b)
        k += 1
    res = ns.minimize(fun, x0, ns.LR(lr), maxiter=1000,
                      termination=ns.TerminateByGradientNorm(tol=tol, n=1))
    assert res.status == 0
    assert res.nit == k
    assert_allclose(res.x, x, rtol=0, atol=1e-15)
    # the criterion's evaluation is shared with the step, and the final value is the cached one
    assert res.nfev == k + 1 == calls["n"]


# ---------------------------------------------------------------------------------------------
# TerminateByUpdateNorm
# ---------------------------------------------------------------------------------------------


def test_update_norm_first_check_never_fires_and_streak():
    crit = ns.TerminateByUpdateNorm(tol=0.1, n=2)
    pts = [[0, 0, 0],          # first check: nothing to compare -> False
           [0, 0, 0],          # change 0 -> streak 1
           [0.05, 0, 0],       # change 0.05 -> streak 2 -> fire
           [0.05, 0, 0],       # streak restarted: 1
           [1.0, 0, 0],        # change 0.95 -> broken
           [1.0, 0.1, 0],      # change 0.1 (inclusive) -> 1
           [1.0, 0.1, 0.0]]    # change 0 -> 2 -> fire
    assert verdicts(crit, x_stubs(pts)) == [False, False, True, False, False, False, True]


@pytest.mark.parametrize("ord", ORDS, ids=repr)
def test_update_norm_every_ord_against_numpy(ord):
    x1 = np.linspace(-1.0, 2.0, RNG_V.size)
    x2 = x1 - RNG_V  # change x1 - x2 == RNG_V
    ref = float(_np_metric(RNG_V, ord))
    above = ns.TerminateByUpdateNorm(tol=ref * (1 + 1e-12), n=1, ord=ord)
    below = ns.TerminateByUpdateNorm(tol=ref * (1 - 1e-12), n=1, ord=ord)
    assert verdicts(above, x_stubs([x1, x2])) == [False, True]
    assert verdicts(below, x_stubs([x1, x2])) == [False, False]


def test_update_norm_compares_with_previous_check_not_first():
    crit = ns.TerminateByUpdateNorm(tol=0.5, n=1)
    # 0 -> 1 -> 1.2: vs the first point the change is 1.2, vs the previous 0.2
    assert verdicts(crit, x_stubs([[0.0], [1.0], [1.2]])) == [False, False, True]


def test_update_norm_does_not_alias_x():
    crit = ns.TerminateByUpdateNorm(tol=0.5, n=1)
    s = Stub(x=[0.0, 0.0])
    crit.should_terminate(s)
    s.x[0] = 3.0  # mutate in place; the criterion must have kept a copy
    assert not crit.should_terminate(s)


def test_update_norm_reset_forgets_previous_point():
    crit = ns.TerminateByUpdateNorm(tol=0.5, n=1)
    assert verdicts(crit, x_stubs([[0.0], [0.0]])) == [False, True]
    crit.reset()
    assert verdicts(crit, x_stubs([[0.0]])) == [False]


def test_update_norm_in_minimize():
    # GD on 0.5 x^2, lr: change at check k (k>=1) = lr * (1-lr)^(k-1) * |x0|
    lr, tol, x0 = 0.25, 1e-4, 3.0
    x, prev, k = x0, None, 0
    while True:
        if prev is not None and abs(prev - x) <= tol:
            break
        prev, x, k = x, x - lr * x, k + 1
    res = ns.minimize(_quad, np.array([x0]), ns.LR(lr), maxiter=1000,
                      termination=ns.TerminateByUpdateNorm(tol=tol, n=1))
    assert res.status == 0 and res.nit == k


# ---------------------------------------------------------------------------------------------
# TerminateOnNoImprovement
# ---------------------------------------------------------------------------------------------


def test_no_improvement_defaults_differ_from_torchzero_tol():
    c = ns.TerminateOnNoImprovement()
    assert c.tol == 1e-8 and c.n == 10


def test_no_improvement_uses_best_so_far():
    crit = ns.TerminateOnNoImprovement(tol=0.1, n=2)
    f = [5.0,    # first: records best, False
         4.0,    # improved by 1 -> streak 0
         3.95,   # 0.05 <= tol -> streak 1
         3.92,   # 0.03 -> streak 2 -> fire
         3.91,   # restarted: 1
         3.0,    # 0.91 -> broken
         3.5,    # worse than best: -0.5 <= tol -> 1
         2.95]   # vs best 3.0: 0.05 -> 2 -> fire (vs previous 3.5 it would be 0.55)
    assert verdicts(crit, f_stubs(f)) == [False, False, False, True, False, False, False, True]


def test_no_improvement_tol_is_inclusive_and_default_tol_bites():
    crit = ns.TerminateOnNoImprovement(n=1)
    # improvement of 1e-9 <= 1e-8 fires, 1e-7 does not
    assert verdicts(crit, f_stubs([1.0, 1.0 - 1e-7, 1.0 - 1e-7 - 1e-9])) == [False, False, True]
    crit = ns.TerminateOnNoImprovement(tol=0.25, n=1)
    assert verdicts(crit, f_stubs([1.0, 0.75])) == [False, True]


def test_no_improvement_reset_forgets_best():
    crit = ns.TerminateOnNoImprovement(tol=0.1, n=1)
    assert verdicts(crit, f_stubs([1.0, 1.0])) == [False, True]
    crit.reset()
    assert verdicts(crit, f_stubs([1.0])) == [False]


def test_no_improvement_streak_reset():
    crit = ns.TerminateOnNoImprovement(tol=0.1, n=3)
    assert verdicts(crit, f_stubs([1.0, 1.0, 1.0])) == [False, False, False]
    crit.reset()  # streak of 2 and the best both forgotten
    assert verdicts(crit, f_stubs([1.0, 1.0, 1.0, 1.0])) == [False, False, False, True]


# ---------------------------------------------------------------------------------------------
# TerminateOnLossReached
# ---------------------------------------------------------------------------------------------


def test_loss_reached():
    crit = ns.TerminateOnLossReached(1.0)
    f = [3.0, 2.0, 1.0000001, 1.0, 0.5, 2.0]
    assert verdicts(crit, f_stubs(f)) == [False, False, False, True, True, False]


def test_loss_reached_infinite_targets():
    assert ns.TerminateOnLossReached(math.inf).should_terminate(Stub(f=1e300))
    assert not ns.TerminateOnLossReached(-math.inf).should_terminate(Stub(f=-1e300))


def test_loss_reached_in_minimize_matches_gd_loop():
    Q = np.diag([1.0, 4.0, 0.5, 2.0])
    b = np.array([1.0, -1.0, 2.0, 0.0])

    def f_np(x):
        return 0.5 * x @ Q @ x - b @ x

    def fun(x):
        return float(f_np(x)), Q @ x - b

    x0 = np.array([3.0, 3.0, -3.0, 1.0])
    lr = 0.2
    fstar = f_np(np.linalg.solve(Q, b))
    target = fstar + 1e-3
    # independent GD: first k whose start value f(x_k) <= target
    x, k, fs = x0.copy(), 0, []
    while f_np(x) > target:
        fs.append(f_np(x))
        x = x - lr * (Q @ x - b)
        k += 1
    assert k > 5
    res = ns.minimize(fun, x0, ns.LR(lr), maxiter=10_000,
                      termination=ns.TerminateOnLossReached(target))
    assert res.status == 0 and res.success
    assert res.nit == k
    assert res.fun <= target
    assert_allclose(res.fun, f_np(x), rtol=1e-13)
    assert_allclose(res.x, x, rtol=1e-13, atol=1e-15)
    assert_allclose(res.history["f"], fs, rtol=1e-13)
    assert all(v > target for v in res.history["f"])


# ---------------------------------------------------------------------------------------------
# TerminateAny / TerminateAll / TerminateNever
# ---------------------------------------------------------------------------------------------


def test_never():
    crit = ns.TerminateNever()
    stubs = [Stub(f=-1e300, g=np.zeros(3), num_evaluations=10**9)] * 50
    assert not any(verdicts(crit, stubs))


def test_any_fires_when_one_member_holds():
    crit = ns.TerminateAny(ns.TerminateOnLossReached(0.0), ns.TerminateByGradientNorm(1e-3, n=1))
    stubs = [Stub(f=1.0, g=[1, 0, 0]), Stub(f=-1.0, g=[1, 0, 0]),
             Stub(f=1.0, g=[1e-4, 0, 0]), Stub(f=-1.0, g=[0, 0, 0])]
    assert verdicts(crit, stubs) == [False, True, True, True]


def test_all_fires_when_every_member_holds():
    crit = ns.TerminateAll(ns.TerminateOnLossReached(0.0), ns.TerminateByGradientNorm(1e-3, n=1))
    stubs = [Stub(f=1.0, g=[1, 0, 0]), Stub(f=-1.0, g=[1, 0, 0]),
             Stub(f=1.0, g=[1e-4, 0, 0]), Stub(f=-1.0, g=[0, 0, 0])]
    assert verdicts(crit, stubs) == [False, False, False, True]


def test_members_own_n_is_not_used():
    crit = ns.TerminateAny(ns.TerminateByGradientNorm(0.1, n=5))
    assert verdicts(crit, g_stubs([1.0, 0.01])) == [False, True]


def test_any_consults_every_member_no_short_circuit():
    # The loss member holds on checks 1 and 2; the step counter must still be advanced by them,
    # so on check 3 (loss above target) the counter has seen 2 checks and fires.
    crit = ns.TerminateAny(ns.TerminateOnLossReached(0.0), ns.TerminateAfterNSteps(2))
    assert verdicts(crit, f_stubs([-1.0, -1.0, 1.0])) == [True, True, True]
    crit = ns.TerminateAny(ns.TerminateOnLossReached(0.0), ns.TerminateAfterNSteps(3))
    assert verdicts(crit, f_stubs([-1.0, -1.0, 1.0, 1.0])) == [True, True, False, True]


def test_all_consults_every_member_no_short_circuit():
    # The loss member fails on checks 1, 2; the step counter must still count them.
    crit = ns.TerminateAll(ns.TerminateOnLossReached(0.0), ns.TerminateAfterNSteps(2))
    assert verdicts(crit, f_stubs([1.0, 1.0, -1.0])) == [False, False, True]


def test_any_keeps_update_norm_member_current():
    crit = ns.TerminateAny(ns.TerminateOnLossReached(0.0), ns.TerminateByUpdateNorm(0.1, n=1))
    stubs = [Stub(x=[0.0], f=-1.0), Stub(x=[5.0], f=-1.0), Stub(x=[5.05], f=1.0)]
    # check 3: change since check 2 (not since check 1) is 0.05 <= 0.1
    assert verdicts(crit, stubs) == [True, True, True]


def test_combination_reset_resets_members():
    crit = ns.TerminateAny(ns.TerminateAfterNSteps(1))
    assert verdicts(crit, [Stub()] * 2) == [False, True]
    crit.reset()
    assert verdicts(crit, [Stub()] * 2) == [False, True]


def test_nested_combinations():
    inner = ns.TerminateAll(ns.TerminateOnLossReached(0.0), ns.TerminateByGradientNorm(0.5, n=1))
    crit = ns.TerminateAny(inner, ns.TerminateAfterNEvaluations(100))
    stubs = [Stub(f=-1, g=[1, 0, 0]), Stub(f=-1, g=[0.1, 0, 0]),
             Stub(f=1, g=[0, 0, 0], num_evaluations=100)]
    assert verdicts(crit, stubs) == [False, True, True]


# ---------------------------------------------------------------------------------------------
# reset() of the n-consecutive streak
# ---------------------------------------------------------------------------------------------


def test_reset_clears_streak():
    crit = ns.TerminateByGradientNorm(tol=0.1, n=3)
    assert verdicts(crit, g_stubs([0.0, 0.0])) == [False, False]
    crit.reset()
    assert verdicts(crit, g_stubs([0.0, 0.0, 0.0])) == [False, False, True]


def test_criterion_is_not_a_module():
    # criteria are consulted by GradientSampling and minimize; a chain refuses them
    crit = ns.TerminateOnLossReached(0.0)
    assert not isinstance(crit, ns.Module)
    with pytest.raises(TypeError, match=r"modules\[0\] must be a numsmooth module"):
        ns.Optimizer(np.ones(2), crit)


def test_criterion_state_dict_roundtrip():
    a = ns.TerminateOnNoImprovement(tol=0.1, n=3)
    verdicts(a, f_stubs([1.0, 1.0, 1.0]))  # best 1.0, streak 2
    b = ns.TerminateOnNoImprovement(tol=0.1, n=3)
    b.load_state_dict(a.state_dict())
    assert b.should_terminate(Stub(f=1.0))
    with pytest.raises(ValueError, match="configuration"):
        ns.TerminateOnNoImprovement(tol=0.2, n=3).load_state_dict(a.state_dict())


# ---------------------------------------------------------------------------------------------
# minimize(termination=...)
# ---------------------------------------------------------------------------------------------


def test_minimize_after_n_steps():
    res = ns.minimize(_quad, np.ones(3), ns.LR(0.1), maxiter=100,
                      termination=ns.TerminateAfterNSteps(5))
    assert res.status == 0 and res.success is False and res.nit == 5  # a step budget is not convergence
    assert "TerminateAfterNSteps" in res.message
    assert_allclose(res.x, 0.9**5 * np.ones(3), rtol=1e-15)
    assert len(res.history["f"]) == 5


def test_minimize_after_zero_steps():
    res = ns.minimize(_quad, np.ones(3), ns.LR(0.1), maxiter=100,
                      termination=ns.TerminateAfterNSteps(0))
    assert res.status == 0 and res.nit == 0
    assert_array_equal(res.x, np.ones(3))
    assert res.fun == 1.5


def test_minimize_maxiter_wins_over_late_criterion():
    res = ns.minimize(_quad, np.ones(3), ns.LR(0.1), maxiter=4,
                      termination=ns.TerminateAfterNSteps(5))
    assert res.status == 1 and res.nit == 4 and not res.success


def _first_k_below(x0, lr, target):
    x, k = x0, 0
    while 0.5 * x * x > target:
        x, k = x - lr * x, k + 1
    return k


def test_minimize_list_of_criteria_is_any():
    x0, lr = 2.0, 0.5
    target = 0.5 * (x0 * 0.5**4) ** 2  # reached exactly at k = 4
    k_loss = _first_k_below(x0, lr, target)
    assert k_loss == 4
    res = ns.minimize(_quad, np.array([x0]), ns.LR(lr), maxiter=100,
                      termination=[ns.TerminateAfterNSteps(7), ns.TerminateOnLossReached(target)])
    assert res.status == 0 and res.nit == 4
    res = ns.minimize(_quad, np.array([x0]), ns.LR(lr), maxiter=100,
                      termination=(ns.TerminateOnLossReached(target), ns.TerminateAfterNSteps(2)))
    assert res.status == 0 and res.nit == 2
    res = ns.minimize(_quad, np.array([x0]), ns.LR(lr), maxiter=100,
                      termination=[ns.TerminateAfterNSteps(3)])
    assert res.status == 0 and res.nit == 3


@pytest.mark.parametrize("term", [None, [], ns.TerminateNever()], ids=["None", "empty", "never"])
def test_minimize_without_effective_termination_runs_to_maxiter(term):
    res = ns.minimize(_quad, np.ones(2), ns.LR(0.1), maxiter=6, termination=term)
    assert res.status == 1 and res.nit == 6


def test_minimize_no_improvement_on_flat_function():
    # constant function: every check after the first is "no improvement"; n=3 -> fires on check 4
    res = ns.minimize(lambda x: (1.0, np.zeros_like(x)), np.ones(2), ns.LR(0.1), maxiter=50,
                      termination=ns.TerminateOnNoImprovement(n=3))
    assert res.status == 0 and res.nit == 3


# ---------------------------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------------------------


BAD = [
    (lambda: ns.TerminateAfterNSteps(-1), ValueError, r"^steps must"),
    (lambda: ns.TerminateAfterNSteps(2.0), TypeError, r"^steps must"),
    (lambda: ns.TerminateAfterNSteps(True), TypeError, r"^steps must"),
    (lambda: ns.TerminateAfterNEvaluations(-5), ValueError, r"^maxevals must"),
    (lambda: ns.TerminateAfterNEvaluations("10"), TypeError, r"^maxevals must"),
    (lambda: ns.TerminateAfterNSeconds(-1.0), ValueError, r"^seconds must"),
    (lambda: ns.TerminateAfterNSeconds(math.nan), ValueError, r"^seconds must"),
    (lambda: ns.TerminateAfterNSeconds("1"), TypeError, r"^seconds must"),
    (lambda: ns.TerminateAfterNSeconds(1.0, sec_fn=3.0), TypeError, r"^sec_fn must"),
    (lambda: ns.TerminateByGradientNorm(tol=-1e-3), ValueError, r"^tol must"),
    (lambda: ns.TerminateByGradientNorm(tol=math.nan), ValueError, r"^tol must"),
    (lambda: ns.TerminateByGradientNorm(n=0), ValueError, r"^n must"),
    (lambda: ns.TerminateByGradientNorm(n=2.5), TypeError, r"^n must"),
    (lambda: ns.TerminateByGradientNorm(ord="l3"), ValueError, r"^ord must"),
    (lambda: ns.TerminateByGradientNorm(ord=-1), ValueError, r"^ord must"),
    (lambda: ns.TerminateByGradientNorm(ord=math.nan), ValueError, r"^ord must"),
    (lambda: ns.TerminateByGradientNorm(ord=None), (TypeError, ValueError), r"^ord must"),
    (lambda: ns.TerminateByUpdateNorm(tol=-1.0), ValueError, r"^tol must"),
    (lambda: ns.TerminateByUpdateNorm(n=0), ValueError, r"^n must"),
    (lambda: ns.TerminateByUpdateNorm(ord="fro"), ValueError, r"^ord must"),
    (lambda: ns.TerminateOnNoImprovement(tol=-1.0), ValueError, r"^tol must"),
    (lambda: ns.TerminateOnNoImprovement(n=-2), ValueError, r"^n must"),
    (lambda: ns.TerminateOnLossReached(math.nan), ValueError, r"^value must"),
    (lambda: ns.TerminateOnLossReached("0"), TypeError, r"^value must"),
    (lambda: ns.TerminateAny(ns.TerminateNever(), 3), TypeError, r"criteria\[1\]"),
    (lambda: ns.TerminateAll(ns.LR(0.1)), TypeError, r"criteria\[0\]"),
    (lambda: ns.minimize(_quad, np.ones(2), termination=3), TypeError, r"^termination must"),
    (lambda: ns.minimize(_quad, np.ones(2), termination=[ns.TerminateNever(), "x"]), TypeError,
     r"^termination\[1\] must"),
]


@pytest.mark.parametrize("make, exc, match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
