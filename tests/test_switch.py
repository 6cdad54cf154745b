"""Switch and recipes.hanso: the switch happens where a hand-driven run of the two chains says,
state survives save/load across the switch bit for bit, and hanso reaches the optimum."""

import numpy as np
import pytest

import numsmooth as ns
from numsmooth import recipes
from numsmooth.switch import Switch

CB3_2 = ns.problems.get("chained_cb3_2")
CRESCENT = ns.problems.get("chained_crescent_1")


def _hanso_parts(d, seed=0, **kw):
    """The two chains of recipes.hanso built by hand with the same settings."""
    (sw,) = recipes.hanso(d, seed=seed, **kw)
    first = [ns.BFGS(), ns.WeakWolfe()]
    second = recipes.gradient_sampling(d, sigma=1e-4, n=min(100, 2 * d, d + 10), decay=0.1, tol=1e-8,
                                       sigma_min=1e-6, seed=seed)
    return sw, first, second


def _by_hand(problem, d, first, second, steps, step_tol=1e-12, patience=3, max_steps=1000):
    """Drive the first chain with an Optimizer, apply the stall test by hand, then the second
    chain from the same point: the switch step and the x of every step."""
    opt = ns.Optimizer(problem.x0(d), *first)
    xs, switch, stalls = [], -1, 0
    for k in range(steps):
        x_before = opt.x.copy()
        opt.step(problem.fun)
        xs.append(opt.x.copy())
        u = np.linalg.norm(opt.x - x_before)
        stalls = stalls + 1 if u <= step_tol else 0
        if first[1].state["failed"] or stalls >= patience or k + 1 >= max_steps:
            switch = k
            break
    assert switch >= 0, "the first chain did not stall within the steps given"
    opt2 = ns.Optimizer(opt.x.copy(), *second)
    opt2.num_evaluations = opt.num_evaluations
    for _ in range(steps - len(xs)):
        opt2.step(problem.fun)
        if opt2.stop_message is not None:
            break
        xs.append(opt2.x.copy())
    return switch, xs, opt.num_evaluations


def test_switch_happens_at_the_step_a_hand_driven_run_gives():
    d = 20
    sw, first, second = _hanso_parts(d)
    switch, xs, nfev_first = _by_hand(CB3_2, d, first, second, steps=400)
    opt = ns.Optimizer(CB3_2.x0(d), sw)
    got = []
    for _ in range(len(xs)):
        opt.step(CB3_2.fun)
        got.append(opt.x.copy())
        if len(got) == switch + 1:
            assert sw.phase == 1 and sw.switch_step == switch
            assert opt.num_evaluations == nfev_first
        elif len(got) <= switch:
            assert sw.phase == 0
    assert 5 < switch < 300
    for k, (a, b) in enumerate(zip(got, xs)):
        assert np.array_equal(a, b), f"x differs at step {k} (switch at {switch})"
    assert len(got) > switch + 2  # some gradient-sampling steps were compared too


def test_switch_on_a_tiny_step_needs_patience_consecutive_stalls():
    # gradient descent on x.x: the update 0.2 x has norm 0.2 sqrt(3) 0.8^k, <= 1e-3 from step 27
    for patience, expect in [(1, 27), (3, 29)]:
        sw = Switch([ns.LR(0.1)], [ns.LR(0.5)], step_tol=1e-3, patience=patience, on_failure=False)
        ns.minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), sw, maxiter=60)
        assert sw.switch_step == expect
    sw = Switch([ns.LR(0.1)], [ns.LR(0.5)], max_steps=5)
    res = ns.minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), sw, maxiter=7)
    assert sw.switch_step == 4
    # 5 steps of x *= 0.8, then 2 steps of x *= 0 (LR 0.5 on 2x)
    assert np.array_equal(res.x, np.zeros(3))
    assert res.history["f"][:6] == pytest.approx([3 * 0.64**k for k in range(6)])


def test_a_stop_request_of_the_first_chain_switches_within_the_step():
    # gradient sampling whose radius falls below its floor at once hands over to BFGS
    first = ns.GradientSampling(sigma=0.1, n=4, termination=ns.TerminateAfterNSteps(2), decay=0.1,
                                sigma_min=0.05, seed=0)
    sw = Switch([first, ns.Backtracking()], [ns.BFGS(), ns.WeakWolfe()])
    res = ns.minimize(CB3_2.fun, CB3_2.x0(4), sw, maxiter=300)
    assert sw.switch_step == 2 and sw.phase == 1  # the first stage lasts 2 steps
    assert res.history["f"][2] < res.history["f"][0]  # the smoothed steps did descend
    assert res.fun - CB3_2.optimal_value(4) < 1e-8


def test_state_save_and_load_resume_bit_identically_across_the_switch(tmp_path):
    d = 20
    (sw,) = recipes.hanso(d, seed=3)
    ref = ns.Optimizer(CB3_2.x0(d), sw)
    xs = []
    while sw.phase == 0:
        ref.step(CB3_2.fun)
        xs.append(ref.x.copy())
    switch = sw.switch_step
    for _ in range(6):
        ref.step(CB3_2.fun)
        xs.append(ref.x.copy())
    ref_nfev = ref.num_evaluations
    # resume from a state saved three steps before the switch, through a file
    (sw2,) = recipes.hanso(d, seed=3)
    opt = ns.Optimizer(CB3_2.x0(d), sw2)
    for _ in range(switch - 2):
        opt.step(CB3_2.fun)
    opt.save(tmp_path / "state.npz")
    (sw3,) = recipes.hanso(d, seed=3)
    resumed = ns.Optimizer(CB3_2.x0(d), sw3)
    resumed.load(tmp_path / "state.npz")
    assert sw3.phase == 0
    for k in range(switch - 2, len(xs)):
        resumed.step(CB3_2.fun)
        assert np.array_equal(resumed.x, xs[k]), f"step {k}"
    assert sw3.switch_step == switch and resumed.num_evaluations == ref_nfev
    # and from a state taken after the switch (sigma, stream and phase restored)
    state = resumed.state_dict()
    cont = ns.Optimizer(CB3_2.x0(d), *recipes.hanso(d, seed=3))
    cont.load_state_dict(state)
    for _ in range(3):
        resumed.step(CB3_2.fun)
        cont.step(CB3_2.fun)
        assert np.array_equal(resumed.x, cont.x)


def test_reset_returns_to_the_first_phase_and_resets_both_chains():
    d = 10
    (sw,) = recipes.hanso(d, seed=0)
    r1 = ns.minimize(CB3_2.fun, CB3_2.x0(d), sw, maxiter=500)
    assert sw.phase == 1
    sw.reset()
    assert sw.phase == 0 and sw.switch_step == -1
    assert all(not m.state for m in sw.first)
    assert sw.second[0].sigma == 1e-4
    r2 = ns.minimize(CB3_2.fun, CB3_2.x0(d), sw, maxiter=500)
    assert np.array_equal(r1.x, r2.x) and r1.nfev == r2.nfev


def test_a_bad_state_is_refused_whole():
    (sw,) = recipes.hanso(5, seed=0)
    opt = ns.Optimizer(np.ones(5), sw)
    opt.step(CB3_2.fun)
    state = opt.state_dict()
    state["modules"][0]["state"]["phase"] = 2
    with pytest.raises(ValueError, match="phase"):
        ns.Optimizer(np.ones(5), *recipes.hanso(5, seed=0)).load_state_dict(state)


def test_hanso_reaches_the_optimum_of_small_problems_numpy_check():
    d = 10
    for p in (CB3_2, CRESCENT):
        res = ns.minimize(p.fun, p.x0(d), *recipes.hanso(d, seed=0), maxiter=3000)
        assert res.status == 4 and "sigma_min" in res.message
        f_star = p.optimal_value(d)
        assert res.fun - f_star <= 1e-8 * (1 + abs(f_star))
        # a NumPy-level check of the result: the value at x by a NumPy formula, and x near x*
        x = np.asarray(res.x)
        if p is CB3_2:
            a, b = x[:-1], x[1:]
            f_np = max(np.sum(a**4 + b**2), np.sum((2 - a) ** 2 + (2 - b) ** 2), np.sum(2 * np.exp(-a + b)))
        else:
            a, b = x[:-1], x[1:]
            f_np = max(np.sum(a**2 + (b - 1) ** 2 + b - 1), np.sum(-(a**2) - (b - 1) ** 2 + b + 1))
        assert f_np == pytest.approx(res.fun, rel=1e-12, abs=1e-14)
        assert np.linalg.norm(x - p.x_star(d)) < 1e-3


def test_hanso_chain_shape_and_defaults():
    (sw,) = recipes.hanso(50, seed=1)
    assert isinstance(sw, ns.Switch)
    _, bfgs, ww = sw.first  # the first is the check of the problem's size
    assert isinstance(bfgs, ns.BFGS) and isinstance(ww, ns.WeakWolfe) and ww.c2 == 0.9
    gs, bt = sw.second
    assert gs.sampler.n == 60 and gs.sigma == 1e-4 and gs.sigma_min == 1e-6 and gs.decay == 0.1
    assert sw.max_steps is None and sw.patience == 3 and sw.step_tol == 1e-12
    assert recipes.hanso(3)[0].second[0].sampler.n == 6


@pytest.mark.parametrize("kwargs, match", [
    (dict(d=0), "d must be >= 1"), (dict(d=3, bfgs_steps=0), "bfgs_steps"), (dict(d=3, c2=1e-5), "c2"),
    (dict(d=3, decay=2.0), "decay"), (dict(d=3, patience=0), "patience"), (dict(d=3, step_tol=-1.0), "step_tol"),
])
def test_hanso_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        recipes.hanso(**kwargs)


def test_switch_needs_two_chains():
    with pytest.raises(ValueError, match="at least one module"):
        Switch([], [ns.LR(1.0)])
    with pytest.raises(TypeError, match="first"):
        Switch([object()], [ns.LR(1.0)])
