"""Saving and resuming: a run saved after k steps and resumed gives a bit-identical trajectory."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numsmooth as ns
from numsmooth.problems import get

ROSEN = get("rosenbrock")


def configs():
    """Named factories of (x0, modules) covering every module and GradientSampling's features."""
    return {
        "lr": lambda: (ROSEN.x0(6), [ns.LR(1e-3)]),
        "momentum": lambda: (ROSEN.x0(6), [ns.Momentum(0.9, nesterov=True), ns.LR(1e-4)]),
        "adam": lambda: (ROSEN.x0(6), [ns.Adam(1e-2)]),
        "backtracking": lambda: (ROSEN.x0(6), [ns.Backtracking()]),
        "laplacian": lambda: (ROSEN.x0(6), [ns.LaplacianSmoothing(sigma=0.5), ns.LR(1e-3)]),
        "gs-termination": lambda: (ROSEN.x0(6), [ns.GradientSampling(
            [ns.Adam(1e-2)], sigma=0.3, n=9, seed=3, termination=ns.TerminateAfterNSteps(3))]),
        "gs-strategy": lambda: (ROSEN.x0(6), [ns.GradientSampling(
            [ns.Momentum(0.5), ns.LR(1e-4)], sigma=0.3, n=9, seed=5, sigma_strategy="grad-norm",
            termination=[ns.TerminateByUpdateNorm(1e-2, n=1), ns.TerminateOnNoImprovement(n=2)])]),
        "gs-fresh": lambda: (ROSEN.x0(6), [ns.GradientSampling(
            None, sigma=0.3, n=9, seed=1, fixed=False, aggregate="min-norm-hull", distribution="ball"),
            ns.Backtracking()]),
        "gs-per-eval": lambda: (ROSEN.x0(6), [ns.GradientSampling(
            None, sigma=0.3, n=9, seed=2, pre_generate=False, antithetic=True), ns.Backtracking(maxiter=4)]),
    }


def run(opt, steps):
    xs = []
    for _ in range(steps):
        opt.step(ROSEN.fun)
        xs.append(opt.x.copy())
    return np.array(xs)


@pytest.mark.parametrize("name", list(configs()))
def test_resume_in_process_is_bit_identical(name):
    x0, modules = configs()[name]()
    full = run(ns.Optimizer(x0, *modules), 8)

    x0, modules = configs()[name]()
    opt = ns.Optimizer(x0, *modules)
    first = run(opt, 3)
    blob = pickle.dumps(opt.state_dict())
    x0, modules = configs()[name]()  # a fresh optimizer of the same configuration
    resumed = ns.Optimizer(x0, *modules)
    resumed.load_state_dict(pickle.loads(blob))
    rest = run(resumed, 5)
    assert np.array_equal(np.vstack([first, rest]), full)
    assert resumed.num_steps == 8


def test_seed_none_run_resumes_with_its_own_key():
    def make():  # seed=None: every construction draws a fresh key
        return ns.Optimizer(ROSEN.x0(6), ns.GradientSampling([ns.Adam(1e-2)], sigma=0.3, n=9, seed=None,
                                                             termination=ns.TerminateAfterNSteps(3)))
    opt = make()
    run(opt, 2)
    state = opt.state_dict()
    expect = run(opt, 4)
    other = make()
    assert not np.array_equal(run(make(), 1), run(make(), 1))
    other.load_state_dict(state)
    assert np.array_equal(run(other, 4), expect)


def test_pickling_the_optimizer():
    x0, modules = configs()["gs-strategy"]()
    opt = ns.Optimizer(x0, *modules)
    run(opt, 3)
    clone = pickle.loads(pickle.dumps(opt))
    assert np.array_equal(run(clone, 4), run(opt, 4))


@pytest.mark.slow
def test_resume_in_a_new_process(tmp_path):
    x0, modules = configs()["gs-strategy"]()
    opt = ns.Optimizer(x0, *modules)
    run(opt, 3)
    (tmp_path / "state.pkl").write_bytes(pickle.dumps(opt.state_dict()))
    expect = run(opt, 5)
    script = textwrap.dedent(f"""
        import pickle, sys, numpy as np
        import numsmooth as ns
        from numsmooth.problems import get
        ROSEN = get("rosenbrock")
        gs = ns.GradientSampling([ns.Momentum(0.5), ns.LR(1e-4)], sigma=0.3, n=9, seed=5,
            sigma_strategy="grad-norm",
            termination=[ns.TerminateByUpdateNorm(1e-2, n=1), ns.TerminateOnNoImprovement(n=2)])
        opt = ns.Optimizer(ROSEN.x0(6), gs)
        opt.load_state_dict(pickle.load(open({str(tmp_path / "state.pkl")!r}, "rb")))
        xs = []
        for _ in range(5):
            opt.step(ROSEN.fun)
            xs.append(opt.x.copy())
        np.save({str(tmp_path / "out.npy")!r}, np.array(xs))
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert np.array_equal(np.load(tmp_path / "out.npy"), expect)


@pytest.mark.parametrize("make_other, fragment", [
    (lambda: [ns.LR(1e-3), ns.LR(1e-3)], "this optimizer has 2"),
    (lambda: [ns.Adam(1e-2)], "belongs to a GradientSampling"),
    (lambda: [ns.GradientSampling([ns.Adam(1e-2)], sigma=0.3, n=10, termination=ns.TerminateAfterNSteps(3))],
     "configuration"),
    (lambda: [ns.GradientSampling([ns.LR(1e-2)], sigma=0.3, n=9, termination=ns.TerminateAfterNSteps(3))],
     "LR"),
])
def test_state_of_another_configuration_is_rejected(make_other, fragment):
    x0, modules = configs()["gs-termination"]()
    opt = ns.Optimizer(x0, *modules)
    run(opt, 2)
    state = opt.state_dict()
    other = ns.Optimizer(x0, *make_other())
    before = other.x.copy()
    with pytest.raises(ValueError, match=fragment):
        other.load_state_dict(state)
    assert np.array_equal(other.x, before)


def test_state_of_other_shapes_is_rejected():
    opt = ns.Optimizer(np.ones(3), ns.LR(0.1))
    with pytest.raises(ValueError, match="shapes"):
        ns.Optimizer(np.ones(4), ns.LR(0.1)).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        opt.load_state_dict({"x": np.ones(3)})
