"""A step is committed whole: interrupted anywhere, the optimizer is as before it or as after it.

Deterministic: a trace function interrupts the step at its k-th traced line (every line of every
numsmooth frame), for every k until the step completes, either with a real SIGINT sent to this
process (what Ctrl-C does) or by raising KeyboardInterrupt there. Random: a subprocess steps
while real SIGINTs arrive at random moments. After each interruption the whole state (x, every
module's state with its counters and random-stream position, the optimizer's counters and
last-step results) must equal the state before the step or the state after it, bit for bit, and
stepping again from a state "before" must give the state "after".
"""

from __future__ import annotations

import linecache
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numsmooth as ns
from numsmooth import _interrupts

NS_DIR = os.path.dirname(ns.__file__)
GUARD_FILE = _interrupts.__file__

ROSEN = ns.problems.get("rosenbrock")


def rosen(x):
    g = np.empty_like(x)
    return ROSEN.fun(x, g), g


CHAINS = {
    "gs-adam-termination-momentum": lambda: [
        ns.GradientSampling([ns.Adam(0.05)], sigma=0.3, n=4, seed=1,
                            termination=[ns.TerminateAfterNSteps(2), ns.TerminateByUpdateNorm(1e-3)]),
        ns.Momentum(0.5)],
    "momentum-backtracking": lambda: [ns.Momentum(0.5, nesterov=True), ns.Backtracking()],
    "lbfgs-weakwolfe": lambda: [ns.LBFGS(), ns.WeakWolfe()],
    "gs-fresh-laplacian-lr": lambda: [
        ns.GradientSampling(None, sigma=0.2, n=3, seed=2, fixed=False), ns.LaplacianSmoothing(sigma=0.5),
        ns.LR(1e-3)],
}


@pytest.fixture(autouse=True)
def keep_the_tracer():
    """Put back the trace function these tests replace (coverage's, when run under it)."""
    previous = sys.gettrace()
    yield
    sys.settrace(previous)


def canonical(value):
    """Plain data as nested tuples that compare equal only when bit-identical."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict",) + tuple((k, canonical(v)) for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return ("list",) + tuple(canonical(v) for v in value)
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def whole_state(opt):
    """Everything a step changes (num_evaluations apart: it counts the calls made)."""
    state = opt.state_dict()
    evaluations = state.pop("num_evaluations")
    extra = [opt.num_refused, opt.last_step_finite, opt.last_update_norm, opt.last_loss, opt.stop_message]
    return canonical([state, extra]), evaluations


def prepared(name, steps=3):
    opt = ns.Optimizer(ROSEN.x0(4), *CHAINS[name]())
    for _ in range(steps):
        opt.step(rosen)
    return opt


class _Interrupter:
    """A trace function that interrupts at the k-th line event of numsmooth frames."""

    def __init__(self, k, mode):
        self.k, self.mode, self.count, self.fired = k, mode, 0, False

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(NS_DIR):
            return None
        return self.local

    def local(self, frame, event, arg):
        if event != "line" or self.fired:
            return self.local
        if linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip().startswith("with "):
            # CPython reports a line event for a with statement when its block ends, just before
            # __exit__ runs: no exception or signal can arise there (a C-level __exit__, such as a
            # lock's, follows at once), so interrupting there would test the tracer, not the code
            return self.local
        if self.mode == "exception" and (frame.f_code.co_filename == GUARD_FILE or _interrupts.holding()):
            # an exception can only come from code that calls out; the guard's bookkeeping and a
            # commit or rollback call nothing that raises (only a signal can land there)
            return self.local
        self.count += 1
        if self.count == self.k:
            self.fired = True
            if self.mode == "signal":
                signal.raise_signal(signal.SIGINT)  # the handler runs here, as for a real Ctrl-C
            else:
                raise KeyboardInterrupt
        return self.local


def interrupted_step(opt, k, mode):
    """Step ``opt`` with an interruption at traced line ``k``; True if it was interrupted."""
    tracer = _Interrupter(k, mode)
    sys.settrace(tracer)
    try:
        opt.step(rosen)
    except KeyboardInterrupt:
        return True, tracer
    finally:
        sys.settrace(None)
    return False, tracer


@pytest.mark.parametrize("mode", ["signal", "exception"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_interrupted_at_every_line_the_step_is_whole(name, mode):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    base = prepared(name)
    before, evals_before = whole_state(base)
    after_opt = pickle.loads(pickle.dumps(base))
    after_opt.step(rosen)
    after, evals_after = whole_state(after_opt)
    assert after != before
    outcomes = {"before": 0, "after": 0}
    k = 0
    while True:
        k += 1
        opt = pickle.loads(pickle.dumps(base))
        interrupted, tracer = interrupted_step(opt, k, mode)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # no handler left behind
        assert not _interrupts.active
        if not tracer.fired:  # the step has fewer lines: every line was tried
            assert not interrupted
            break
        assert interrupted, f"line {k}: the interruption was lost"
        state, evals = whole_state(opt)
        if state == after:
            assert evals == evals_after
            outcomes["after"] += 1
            continue
        assert state == before, f"line {k} ({mode}): the step was torn"
        assert evals_before <= evals <= evals_after  # the calls made are counted
        outcomes["before"] += 1
        opt.step(rosen)  # the step again, uninterrupted: exactly the step that was interrupted
        assert whole_state(opt)[0] == after, f"line {k}: stepping again does not give the same step"
    assert outcomes["before"] > 20
    if mode == "signal":
        assert outcomes["after"] > 0  # signals during the commit were held back, raised after it


def test_a_signal_during_the_commit_is_raised_after_it():
    opt = prepared("momentum-backtracking")
    expected = pickle.loads(pickle.dumps(opt))
    expected.step(rosen)

    class Commit(_Interrupter):
        def local(self, frame, event, arg):
            if event == "line" and not self.fired and frame.f_code.co_name == "_commit":
                self.fired = True
                signal.raise_signal(signal.SIGINT)
            return self.local

    tracer = Commit(0, "signal")
    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            opt.step(rosen)
    finally:
        sys.settrace(None)
    assert tracer.fired
    assert whole_state(opt) == whole_state(expected)


def test_a_second_ctrl_c_does_not_tear_the_rollback():
    opt = prepared("gs-adam-termination-momentum")
    before = whole_state(opt)[0]
    calls = []

    def oracle(x):  # Ctrl-C in the oracle, then another one in the rollback
        calls.append(1)
        if len(calls) == 2:
            sys.settrace(second)
            signal.raise_signal(signal.SIGINT)
        return rosen(x)

    def second(frame, event, arg):
        if frame.f_code.co_name == "restore":
            sys.settrace(None)
            signal.raise_signal(signal.SIGINT)  # held back: the rollback is under way
        return None

    with pytest.raises(KeyboardInterrupt):
        opt.step(oracle)
    sys.settrace(None)
    assert whole_state(opt)[0] == before


def test_a_user_handler_that_does_not_raise_lets_the_step_finish():
    opt = prepared("lbfgs-weakwolfe")
    expected = pickle.loads(pickle.dumps(opt))
    expected.step(rosen)
    seen = []
    previous = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        def oracle(x):
            if not seen:
                signal.raise_signal(signal.SIGINT)
            return rosen(x)
        opt.step(oracle)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT]
    assert whole_state(opt) == whole_state(expected)


_CHILD = textwrap.dedent("""
    import pickle, signal, sys
    import numpy as np
    import numsmooth as ns
    ROSEN = ns.problems.get("rosenbrock")
    STEPS = 6000

    def rosen(x):
        g = np.empty_like(x)
        return ROSEN.fun(x, g), g

    def make():
        return ns.Optimizer(ROSEN.x0(30), ns.GradientSampling(
            [ns.Adam(0.05)], sigma=0.3, n=8, seed=1, termination=ns.TerminateAfterNSteps(3)), ns.Momentum(0.5))

    def canonical(value):
        if isinstance(value, np.ndarray):
            return ("array", value.dtype.str, value.shape, value.tobytes())
        if isinstance(value, dict):
            return ("dict",) + tuple((k, canonical(v)) for k, v in sorted(value.items()))
        if isinstance(value, (list, tuple)):
            return ("list",) + tuple(canonical(v) for v in value)
        return (type(value).__name__, repr(value))

    def whole(opt):
        state = opt.state_dict()
        state.pop("num_evaluations")
        return canonical([state, opt.last_step_finite, opt.last_update_norm, opt.last_loss])

    # Ctrl-C raises only while a step is being taken (and then disarms itself), so that the
    # checking below is never interrupted
    armed = False

    def handler(signum, frame):
        global armed
        if armed:
            armed = False
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    ref = make()  # the trajectory, uninterrupted
    trajectory = [whole(ref)]
    for _ in range(STEPS):
        ref.step(rosen)
        trajectory.append(whole(ref))
    where = {s: i for i, s in enumerate(trajectory)}
    opt = make()
    interrupts, torn = 0, 0
    print("ready", flush=True)
    while interrupts < int(sys.argv[1]) and opt.num_steps < STEPS:
        try:
            armed = True
            opt.step(rosen)
            armed = False
        except KeyboardInterrupt:
            interrupts += 1
            found = where.get(whole(opt))
            torn += found != opt.num_steps  # not the state of the trajectory at its step count
            print("interrupt", opt.num_steps, found, flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the signals still on their way
    print("done", interrupts, torn, opt.num_steps, flush=True)
""")


def test_random_real_sigints_never_tear_a_step():
    import threading
    import time
    signals = 100
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(signals)], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(NS_DIR))
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    rng = np.random.default_rng(3)
    sent = 0
    while child.poll() is None and sent < 3 * signals:
        time.sleep(float(rng.uniform(0.0002, 0.003)))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGINT)
            sent += 1
    child.wait(timeout=120)
    reader.join(timeout=10)
    assert child.returncode == 0, lines[-5:]
    done = lines[-1].split()
    assert done[0] == "done"
    interrupts, torn = int(done[1]), int(done[2])
    assert interrupts == signals, lines[-5:]
    assert torn == 0, [line for line in lines if line.startswith("interrupt") and "None" in line][:5]
