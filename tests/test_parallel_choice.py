"""The serial/parallel choice (numsmooth/_parallel.py): same bits either way, and when it says what."""

import time

import numba
import numpy as np
import pytest
from numba import njit, prange

import numsmooth as ns
from numsmooth import _parallel
from numsmooth._kernels.twins import twin
from numsmooth.perturbations import draw_perturbations

ROSENBROCK = ns.problems.get("rosenbrock").fun
HUGE = 1 << 62
PARALLEL = dict(parallel_min_elements=1, reduce_parallel_min_elements=1, oracle_parallel_min_elements=1,
                load_check_seconds=0)
SERIAL = dict(parallel_min_elements=HUGE, reduce_parallel_min_elements=HUGE, oracle_parallel_min_elements=HUGE)


def noisy(x):
    """Per-point oracle with nan rows, ties and -0.0, so selections and signs are exercised."""
    f = float(np.sum(np.round(x, 1) ** 2))
    if x[0] > 1.0:
        f = float("nan")
    return f, np.where(np.abs(x) < 0.05, -0.0, np.round(x, 1))


def evaluate(fun, agg, stream, d, dist="gaussian"):
    with ns.config.override(block_budget_bytes=1 if stream else 1 << 62):
        obj = ns.smoothed(fun, sigma=0.6, n=33, aggregate=agg, distribution=dist, seed=3)
        return obj(np.linspace(-1, 1, d))


@pytest.mark.parametrize("stream", [False, True], ids=["batch", "stream"])
@pytest.mark.parametrize("agg", ["mean", "max", "min", "min-norm", "min-value"])
@pytest.mark.parametrize("fun", [noisy, ROSENBROCK], ids=["point", "jitted"])
def test_serial_and_parallel_kernels_same_bits(fun, agg, stream):
    d = 3000  # > 256 coordinates and > one 2048-block, so the parallel kernels split the work
    with ns.config.override(**SERIAL):
        f0, g0 = evaluate(fun, agg, stream, d)
    with ns.config.override(**PARALLEL):
        f1, g1 = evaluate(fun, agg, stream, d)
    assert repr(f1) == repr(f0) and np.array_equal(np.signbit(g1), np.signbit(g0))
    assert np.array_equal(g1, g0, equal_nan=True)


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "rademacher", "sphere", "ball"])
def test_draws_same_bits(dist):
    with ns.config.override(**SERIAL):
        a = draw_perturbations(dist, 5, 1, 9, 5000)
    with ns.config.override(**PARALLEL):
        b = draw_perturbations(dist, 5, 1, 9, 5000)
    assert np.array_equal(a, b)


def test_busy_machine_runs_serially(monkeypatch):
    monkeypatch.setattr(_parallel, "_user_tuned", False)
    monkeypatch.setattr(_parallel, "_watch", _parallel.LoadWatch())
    with ns.config.override(parallel_min_elements=1, load_check_seconds=1e-9):
        monkeypatch.setattr(_parallel, "_runnable_tasks", lambda: 1)  # only us
        monkeypatch.setattr(_parallel, "_CORES", 4)
        assert _parallel.use_parallel(10)
        monkeypatch.setattr(_parallel, "_runnable_tasks", lambda: 9)  # others keep every core busy
        answers = []
        for _ in range(_parallel.READINGS):
            time.sleep(1e-6)
            answers.append(_parallel.use_parallel(10))
        assert answers == [True] * (_parallel.READINGS - 1) + [False]  # several readings decide
        # an explicit threading setting by the user switches the check off
        monkeypatch.setattr(_parallel, "_user_tuned", True)
        assert _parallel.use_parallel(10)
        monkeypatch.setattr(_parallel, "_user_tuned", False)
        with ns.config.override(load_check_seconds=0):
            assert _parallel.use_parallel(10)


@pytest.mark.slow
def test_wait_policy_respects_the_user():
    import os
    import subprocess
    import sys

    code = "import os, numsmooth; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER")}
    root = os.path.dirname(os.path.dirname(ns.__file__))
    env["PYTHONPATH"] = root
    run = lambda **extra: subprocess.run([sys.executable, "-c", code], env=dict(env, **extra),  # noqa: E731
                                         capture_output=True, text=True, check=True).stdout.strip()
    assert run() == "PASSIVE"
    assert run(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert run(GOMP_SPINCOUNT="1000") == "None"


# -- kernel twins (numsmooth/_kernels/twins.py): one body, compiled serial and parallel ----------

@twin(cache=False)
def _doubled_sum(a, out):
    for i in prange(a.shape[0]):
        out[i] = 2.0 * a[i]
    s = 0.0
    for i in range(a.shape[0]):
        s += out[i]
    return s


@njit
def _calls_twin(a, out):
    return _doubled_sum(a, out) + 1.0


def test_twin_compiles_one_body_serial_and_parallel():
    a = np.random.default_rng(0).standard_normal(1000)
    outs = [np.empty(1000) for _ in range(3)]
    s = [_doubled_sum.serial(a, outs[0]), _doubled_sum.parallel(a, outs[1]), _doubled_sum(a, outs[2])]
    assert s[0] == s[1] == s[2] == sum((2.0 * a).tolist())  # summed left to right, as the body
    assert all(np.array_equal(o, 2.0 * a) for o in outs)
    if not numba.config.DISABLE_JIT:
        assert not _doubled_sum.serial.targetoptions.get("parallel")
        assert _doubled_sum.parallel.targetoptions.get("parallel")
        # distinct names: Numba's disk cache would otherwise hand one the other's machine code
        assert _doubled_sum.parallel.py_func.__qualname__ == _doubled_sum.serial.py_func.__qualname__ + "_parallel"


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="what jitted code links needs the JIT")
def test_twin_called_from_jitted_code_is_its_serial_kernel():
    a = np.arange(5.0)
    assert _calls_twin(a, np.empty(5)) == 21.0
    assert numba.typeof(_doubled_sum).dispatcher is _doubled_sum.serial
    (cres,) = _calls_twin.overloads.values()
    assert not cres.library._reload_init  # no parfor linked in: nothing to relaunch on a cache load
    (par,) = _doubled_sum.parallel.overloads.values()
    assert par.library._reload_init  # ... whereas the parallel kernel carries the hook


@twin(cache=False)
def _which_side(a, parallel=False):
    for i in prange(a.shape[0]):
        a[i] = 1.0 if parallel else 0.0


def test_a_twin_body_knows_its_side_through_an_omitted_parallel_argument():
    a = np.full(4, np.nan)
    _which_side.serial(a)
    assert a.tolist() == [0.0] * 4
    _which_side.parallel(a)
    assert a.tolist() == [1.0] * 4
    _which_side(a)  # a twin called directly is its serial side
    assert a.tolist() == [0.0] * 4
    with pytest.raises(TypeError, match="'parallel' argument must be positional with default False"):
        twin(lambda a, parallel=None: None)


def test_pick_follows_the_knob(knobs):
    knobs(parallel_min_elements=100, load_check_seconds=0)
    assert _parallel.pick(_doubled_sum, 99) is _doubled_sum.serial
    assert _parallel.pick(_doubled_sum, 100) is _doubled_sum.parallel
    assert _parallel.pick(_doubled_sum, 10**9, parallel=False) is _doubled_sum.serial
    assert _parallel.pick(_doubled_sum, 0, parallel=True) is _doubled_sum.parallel


# -- the busy-machine switch reads several instants (numsmooth/_parallel.py, LoadWatch) ----------
def _answers(counts, readings=_parallel.READINGS):
    """machine_busy's answer after each reading of a fake /proc/loadavg runnable count, with as
    many cores as Numba threads (so 1 runnable task, the caller, fits and 2 do not)."""
    watch = _parallel.LoadWatch(readings)
    threads = numba.get_num_threads()
    return [watch.update(c + threads - 1 > threads) for c in counts]


def test_idle_machine_stays_parallel_through_single_readings():
    # a shell or kernel worker runnable at one instant, now and then two in a row
    counts = [1] * 19 + [2] + [1] * 7 + [2, 2] + [1, 2, 1, 2, 1] + [3] + [1] * 5
    assert not any(_answers(counts))


def test_busy_machine_turns_serial_after_consecutive_readings_and_back():
    counts = [1, 1, 3, 3, 3, 3, 1, 3, 1, 1, 1, 1]
    #        the third busy reading turns it; one quiet reading does not, three do
    expected = [False, False, False, False, True, True, True, True, True, True, False, False]
    assert _answers(counts) == expected
    assert _answers([4, 4], readings=1) == [True, True]  # one reading per decision, as before


def test_busy_switch_reacts_within_a_fraction_of_a_second():
    assert _parallel.READINGS * ns.config.get("load_check_seconds") <= 0.25


def test_machine_busy_reads_the_runnable_count(monkeypatch, knobs):
    counts = iter([1, 9, 9, 9, 1])
    monkeypatch.setattr(_parallel, "_user_tuned", False)
    monkeypatch.setattr(_parallel, "_watch", _parallel.LoadWatch(3))
    monkeypatch.setattr(_parallel, "_runnable_tasks", lambda: next(counts))
    monkeypatch.setattr(_parallel, "_CORES", numba.get_num_threads())
    knobs(load_check_seconds=1e-9)
    answers = []
    for _ in range(5):
        time.sleep(1e-6)  # a new reading on every call
        answers.append(_parallel.machine_busy())
    assert answers == [False, False, False, True, True]


def test_decisions_count_what_use_parallel_answered(monkeypatch, knobs):
    knobs(parallel_min_elements=100, load_check_seconds=0)
    before = _parallel.decisions()
    _parallel.use_parallel(10)
    _parallel.use_parallel(10**6)
    monkeypatch.setattr(_parallel, "machine_busy", lambda: True)
    _parallel.use_parallel(10**6)
    after = _parallel.decisions()
    assert {k: after[k] - before[k] for k in after} == {"small": 1, "parallel": 1, "busy": 1, "forked": 0}
