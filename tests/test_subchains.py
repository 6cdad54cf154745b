"""Containers run their sub-chains under one rule (modules.run_subchain): every container
(GradientSampling, PerParameter, Switch) and each of them inside each other, against what the
optimizer must see: a stop request ends the run, a non-finite update is refused with every
state kept, the update norm is the norm of the move, every call of the user's function is
counted (also when it raises part way through a step), and a run saved mid-way resumes bit for
bit."""

import math

import numpy as np
import pytest

import numsmooth as ns
from numsmooth import _passes

X0 = [np.array([1.0, -0.5]), np.array([0.3, 0.8, -1.2])]


class Counting:
    """sum of squares over two parameters; counts its calls and raises at call ``fail_at``."""

    def __init__(self, fail_at=None):
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, p):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return float(sum(a @ a for a in p)), [2 * a for a in p]


class StopAt(ns.Module):
    """Requests a stop at its ``at``-th step (0-based), counting its steps in its state."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def step(self, objective):
        k = self.state.get("k", 0)
        if k >= self.at:
            objective.request_stop(f"stopped by a module at its step {k}")
            return objective
        self.state["k"] = k + 1
        return objective


class NanAt(StopAt):
    """Makes the update non-finite at its ``at``-th step."""

    def step(self, objective):
        k = self.state.get("k", 0)
        if k == self.at:
            objective.get_update()[0] = np.nan
        self.state["k"] = k + 1
        return objective


# Each container runs its sub-chain exactly once per step, so a module inside any nesting of
# them sees the optimizer's steps one for one. Switch gets a first chain that asks to stop at
# once: it switches in step 0 and runs the chain under test from then on, every step.
def gs(chain):
    return ns.GradientSampling(chain, sigma=0.05, n=3, seed=1)


def pp(chain, outermost=True):
    # the outermost sees both parameters; one inside another container sees one of them
    return ns.PerParameter({1: chain}, default=[ns.LR(0.05)]) if outermost else ns.PerParameter({0: chain})


def sw(chain):
    return ns.Switch([StopAt(0)], chain)


BUILDERS = {"GradientSampling": gs, "PerParameter": pp, "Switch": sw}
CASES = [(outer,) for outer in BUILDERS] + [(outer, inner) for outer in BUILDERS for inner in BUILDERS]
IDS = ["/".join(c) for c in CASES]


def build(case, leaf):
    """The container ``case`` (outermost first) around the chain ``leaf``."""
    chain = leaf
    for depth in reversed(range(len(case))):
        make = BUILDERS[case[depth]]
        chain = [make(chain, depth == 0) if make is pp else make(chain)]
    return chain


def has_group(case):
    return "PerParameter" in case


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_stop_request_inside_ends_the_run(case):
    fun = Counting()
    res = ns.minimize(fun, [a.copy() for a in X0], build(case, [ns.LR(0.1), StopAt(2)]), maxiter=10)
    assert res.status == 4 and res.message == "stopped by a module at its step 2"
    assert res.nit == 2  # two steps moved x, the third stopped before moving it
    ref = ns.minimize(Counting(), [a.copy() for a in X0], build(case, [ns.LR(0.1)]), maxiter=2)
    for a, b in zip(res.x, ref.x):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_non_finite_update_inside_is_refused_and_every_state_kept(case):
    modules = build(case, [ns.LR(0.1), NanAt(1)])
    opt = ns.Optimizer([a.copy() for a in X0], *modules, on_refused="ignore")
    fun = Counting()
    opt.step(fun)
    x_before = [a.copy() for a in opt.params]
    state_before = opt.state_dict()
    opt.step(fun)
    assert opt.num_refused == 1 and not opt.last_step_finite and opt.num_steps == 1
    for a, b in zip(opt.params, x_before):
        np.testing.assert_array_equal(a, b)
    state_after = opt.state_dict()
    assert state_after["num_evaluations"] == fun.calls  # the refused step's calls count
    for k in ("x", "modules"):
        assert repr(state_after[k]) == repr(state_before[k])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_update_norm_is_the_norm_of_the_move_and_a_claim_is_carried_only_whole(case, monkeypatch):
    opt = ns.Optimizer([a.copy() for a in X0], *build(case, [ns.LR(0.1)]))
    fun = Counting()
    opt.step(fun)
    calls = []
    real = _passes.sumsq
    monkeypatch.setattr(_passes, "sumsq", lambda u: calls.append(1) or real(u))
    before = np.concatenate([a.ravel() for a in opt.params])
    opt.step(fun)
    moved = np.concatenate([a.ravel() for a in opt.params]) - before
    assert math.isclose(opt.last_update_norm, float(np.linalg.norm(moved)), rel_tol=1e-12)
    # LR claims the norm of the update it scaled; a group's claim covers its part only
    assert len(calls) == (1 if has_group(case) else 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_call_is_counted_also_when_the_oracle_raises_part_way(case):
    fun = Counting()
    opt = ns.Optimizer([a.copy() for a in X0], *build(case, [ns.LR(0.1)]))
    for _ in range(3):
        opt.step(fun)
    assert opt.num_evaluations == fun.calls
    per_step = fun.calls // 3
    assert per_step * 3 == fun.calls
    for fail_in_step in sorted({1, 2, per_step - 1, per_step} & set(range(1, per_step + 1))):
        # the oracle raises at this call of step 2
        fun = Counting(fail_at=per_step + fail_in_step)
        opt = ns.Optimizer([a.copy() for a in X0], *build(case, [ns.LR(0.1)]))
        opt.step(fun)
        with pytest.raises(ns.OracleError, match="boom"):
            opt.step(fun)
        assert fun.calls == per_step + fail_in_step
        assert opt.num_evaluations == fun.calls and opt.num_steps == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_run_saved_mid_way_resumes_bit_for_bit(case):
    leaf = lambda: [ns.Momentum(0.5), ns.LR(0.1)]  # noqa: E731 - a buffer and a counter in the state
    opt = ns.Optimizer([a.copy() for a in X0], *build(case, leaf()))
    fun = Counting()
    for _ in range(3):
        opt.step(fun)
    saved = opt.state_dict()
    for _ in range(4):
        opt.step(fun)
    again = ns.Optimizer([np.zeros_like(a) for a in X0], *build(case, leaf()))
    again.load_state_dict(saved)
    for _ in range(4):
        again.step(Counting())
    for a, b in zip(again.params, opt.params):
        np.testing.assert_array_equal(a, b)
    assert again.num_evaluations == opt.num_evaluations
    assert repr(again.state_dict()["modules"]) == repr(opt.state_dict()["modules"])


def test_the_issue_reproducer_stops_in_all_three_containers():
    quad = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    inner = lambda: ns.GradientSampling([ns.LR(0.1)], sigma=0.01, n=3, sigma_min=1.0, seed=2)  # noqa: E731
    assert ns.minimize(quad, np.ones(3), inner(), maxiter=3).status == 4
    assert ns.minimize(quad, np.ones(3), ns.PerParameter({0: [inner()]}), maxiter=3).status == 4
    r = ns.minimize(quad, np.ones(3), ns.GradientSampling([inner()], sigma=0.3, n=4, seed=1), maxiter=3)
    assert (r.status, r.nit) == (4, 0)
    np.testing.assert_array_equal(r.x, np.ones(3))
