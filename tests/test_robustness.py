"""Real conditions: whole-state checks before loading, pickle-free saving, threads, the oracle
contract, values of every scalar type, resource limits."""

import io
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import numsmooth as ns

ROSEN = ns.problems.get("rosenbrock")


def quad(x):
    return float(x @ x), 2 * x


def _chain():
    return [ns.GradientSampling([ns.Adam(0.05)], sigma=0.3, n=5, seed=1,
                                termination=[ns.TerminateAfterNSteps(2), ns.TerminateByUpdateNorm(1e-3)]),
            ns.Momentum(0.5)]


def _trained():
    opt = ns.Optimizer(np.array([1.0, -2.0, 0.5]), *_chain())
    for _ in range(3):
        opt.step(quad)
    return opt


def _corrupt(state, path, value):
    d = state
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return state


BAD_STATES = [
    (("x",), KeyError, "missing \\['x'\\]"),
    (("x",), np.ones(4), "state\\['x'\\] must be a float array of shape \\(3,\\)"),
    (("x",), np.ones(1), "shape \\(3,\\)"),  # would broadcast
    (("x",), np.array([1.0, np.nan, 0.0]), "finite"),
    (("x",), np.ones(3, dtype=complex), "float array"),
    (("num_steps",), -1, "num_steps"),
    (("num_evaluations",), 1.5, "num_evaluations"),
    (("modules", 0, "state", "stream"), -3, "stream"),
    (("modules", 0, "state", "sigma"), float("nan"), "sigma"),
    (("modules", 0, "state", "key"), 2**70, "key"),
    (("modules", 0, "children", 0, "state", "m"), np.zeros(5), "shape \\(3,\\)"),
    (("modules", 0, "children", 0, "state", "v"), np.full(3, np.inf), "finite"),
    (("modules", 0, "children", 0, "state", "t"), -1, ">= 0"),
    (("modules", 1, "state", "buf"), object(), "plain data"),
    (("modules", 0, "config", "n"), 7, "configuration"),
    (("modules", 0, "config", "sigma_nplus"), 2.0, "configuration"),
    (("modules", 1, "type"), "Adam", "belongs to a Adam"),
    (("modules",), [], "modules"),
]


@pytest.mark.parametrize("path, value, match", BAD_STATES, ids=[f"bad{i}" for i in range(len(BAD_STATES))])
def test_bad_state_is_refused_whole_and_changes_nothing(path, value, match):
    src = _trained()
    state = _corrupt(src.state_dict(), path, value)
    dst = ns.Optimizer(np.array([1.0, -2.0, 0.5]), *_chain())
    dst.step(quad)
    before = pickle.dumps(dst.state_dict())
    with pytest.raises((ValueError, TypeError), match=match):
        dst.load_state_dict(state)
    assert pickle.dumps(dst.state_dict()) == before


def test_state_with_arbitrary_object_is_refused_before_any_copy():
    class Boom:
        def __deepcopy__(self, memo):
            raise AssertionError("ran code from the state")

    state = _trained().state_dict()
    state["modules"][1]["state"]["buf"] = Boom()
    with pytest.raises(TypeError, match="plain data"):
        ns.Optimizer(np.ones(3), *_chain()).load_state_dict(state)


@pytest.mark.parametrize("use_file", [False, True])
def test_npz_save_load_resumes_bit_identically(tmp_path, use_file):
    ref = _trained()
    saved = io.BytesIO() if not use_file else tmp_path / "run.npz"
    ref.save(saved)
    if not use_file:
        saved.seek(0)
    for _ in range(4):
        ref.step(quad)
    resumed = ns.Optimizer(np.zeros(3), *_chain())
    resumed.load(saved)
    for _ in range(4):
        resumed.step(quad)
    assert resumed.x.tobytes() == ref.x.tobytes()
    assert resumed.num_evaluations == ref.num_evaluations
    assert resumed.modules[0].sigma == ref.modules[0].sigma


def test_npz_file_holds_no_pickle(tmp_path):
    path = tmp_path / "run.npz"
    _trained().save(path)
    with np.load(path, allow_pickle=False) as data:  # would raise if an object array were inside
        assert "__state__" in data.files


def test_pickling_an_executor_names_it():
    with ThreadPoolExecutor(1) as pool:
        opt = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=3, executor=pool))
        with pytest.raises(TypeError, match="executor.*ThreadPoolExecutor"):
            pickle.dumps(opt)


def test_smoothed_from_four_threads_matches_serial():
    obj = ns.smoothed(lambda x: (float(np.sum(x**4)), 4 * x**3), sigma=0.3, n=16, seed=5)
    points = [np.linspace(-1, 1, 50) + 0.01 * k for k in range(50)]
    serial = [obj(p) for p in points]

    def call(k):
        return obj(points[k])

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            got = list(pool.map(call, range(50)))
            for (f, g), (fs, gs) in zip(got, serial):
                assert f == fs and g.tobytes() == gs.tobytes()


@pytest.mark.parametrize("make", [float, np.float64, np.float32, lambda v: np.array(v)])
def test_value_types_give_the_same_step(make):
    def fun(x):
        return make(float(x @ x)), 2 * x

    ref = ns.Optimizer(np.array([0.5, 0.25]), ns.GradientSampling([ns.LR(0.1)], n=5, seed=0))
    got = ns.Optimizer(np.array([0.5, 0.25]), ns.GradientSampling([ns.LR(0.1)], n=5, seed=0))
    ref.step(quad)
    got.step(fun)
    if make is np.float32:
        assert np.allclose(got.x, ref.x, rtol=1e-6)
    else:
        assert got.x.tobytes() == ref.x.tobytes()


@pytest.mark.parametrize("bad, match", [
    (lambda x: (10**400, 2 * x), "too large for a float64"),
    (lambda x: (True, 2 * x), "bool"),
    (lambda x: (2 * x, float(x @ x)), r"shape \(1000,\).*\(g, f\)"),
    (lambda x: (1.0, [[1.0, 2.0], [3.0]]), "gradient"),
])
def test_bad_values_are_named_and_short(bad, match):
    with pytest.raises(ns.OracleError, match=match) as ei:
        ns.minimize(bad, np.ones(1000), ns.LR(0.1), maxiter=1)
    assert len(str(ei.value)) < 400
    assert "sample" not in str(ei.value)  # no gradient sampling here: the point is named


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="without the JIT a one-argument function is a per-point oracle")
def test_jitted_oracle_with_wrong_arguments_says_the_signature():
    @numba.njit
    def one_arg(x):
        return x @ x

    with pytest.raises(ns.OracleError, match=r"fun\(x, g_out\) -> f"):
        ns.minimize(one_arg, np.ones(3), ns.LR(0.1), maxiter=1)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="return types are only known to compiled code")
def test_jitted_oracle_returning_bool_is_refused():
    @numba.njit
    def boolean(x, g):
        g[:] = 0.0
        return x[0] > 0

    with pytest.raises(ns.OracleError, match="must return its value as a float"):
        ns.minimize(boolean, np.ones(3), ns.LR(0.1), maxiter=1)


def test_huge_n_is_refused_before_allocating():
    with pytest.raises(ValueError, match="n = 1000000000000 points"):
        ns.smoothed(quad, n=10**12)(np.ones(3))
    opt = ns.Optimizer(np.ones(3), ns.GradientSampling([ns.LR(0.1)], n=10**12))
    with pytest.raises(ValueError, match="use a smaller n"):
        opt.step(quad)
    assert np.array_equal(opt.x, np.ones(3))


@pytest.mark.parametrize("x, match", [(np.zeros(0), "at least one element"), (np.array([1.0, np.nan]), "finite")])
def test_smoothed_refuses_empty_and_nan_points(x, match):
    with pytest.raises(ValueError, match=match):
        ns.smoothed(quad, n=4)(x)


@pytest.mark.parametrize("combo", [ns.TerminateAll, ns.TerminateAny])
def test_empty_combination_is_refused(combo):
    with pytest.raises(ValueError, match="at least one criterion"):
        combo()


def test_sigma_min_stops_with_its_own_status():
    gs = ns.GradientSampling([ns.LR(0.01)], sigma=1.0, n=4, seed=0, decay=0.5,
                             termination=ns.TerminateAfterNSteps(1), sigma_min=0.1)
    res = ns.minimize(quad, np.ones(2), gs, maxiter=100)
    # stopped by the sigma floor at f = 1.7 (minimum 0): stopped, not converged
    assert res.status == 4 and not res.success and "sigma_min" in res.message
    # stages of one step each: sigma 1, 1/2, ..., 1/8 are used, 1/16 < 0.1 stops
    assert res.nit == 4 and gs.sigma == 1 / 16


def _lazy_oracles():
    @numba.njit
    def never_writes(x, g):
        return x @ x

    @numba.njit
    def writes_half(x, g):
        for j in range(x.size // 2):
            g[j] = 2 * x[j]
        return x @ x

    return never_writes, writes_half


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("n", [1, pytest.param(6, marks=pytest.mark.slow), pytest.param(400, marks=pytest.mark.slow)])
# the plain step, small and (parallel) large blocks
def test_jitted_oracle_that_does_not_write_g_out_is_an_error(which, n, knobs):
    fun = _lazy_oracles()[which]
    knobs(oracle_parallel_min_elements=1 if n == 400 else 1 << 30)
    chain = [ns.LR(0.1)] if n == 1 else [ns.GradientSampling([ns.LR(0.1)], n=n, seed=0)]
    opt = ns.Optimizer(np.ones(8), *chain)
    with pytest.raises(ns.OracleError, match="did not write its gradient into g_out"):
        opt.step(fun)
    assert np.array_equal(opt.x, np.ones(8))
    with pytest.raises(ns.OracleError, match="did not write its gradient into g_out at sample"):
        ns.smoothed(fun, n=max(n, 2), seed=0, include_x0=False)(np.ones(8))


# -- configuration variables ------------------------------------------------------------------
@pytest.mark.parametrize("var, raw, rule", [
    ("NUMSMOOTH_FFT_THREADS", "0", "must be >= 1"),
    ("NUMSMOOTH_FFT_THREADS", "two", "must be an integer"),
    ("NUMSMOOTH_FFT_THREADS", "2.5", "must be an integer"),
    ("NUMSMOOTH_HULL_TOL", "-1", "must be >= 0"),
    ("NUMSMOOTH_HULL_TOL", "nan", "must be finite"),
    ("NUMSMOOTH_HULL_TOL", "1e-3x", "must be a number"),
])
def test_bad_environment_variable_is_named_and_import_still_works(var, raw, rule):
    import subprocess
    import sys
    code = ("import numsmooth as ns\n"
            "try:\n    ns.config.get('parallel_min_elements')\n"
            "except ns.config.ConfigError as e:\n    print('ConfigError:', e)\n"
            "try:\n    ns.config.reset()\n"
            "except ValueError as e:\n    print('ValueError:', e)\n")
    env = {**__import__("os").environ, var: raw}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr  # import numsmooth did not fail
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout
    for prefix, line in zip(("ConfigError:", "ValueError:"), lines):
        assert line == f"{prefix} environment variable {var} {rule}; got {raw!r}"


def test_physical_memory_is_read_in_one_place(monkeypatch):
    from numsmooth.cli import _load
    monkeypatch.setattr(ns.config, "physical_memory", lambda: 1 << 20)  # a 1 MiB machine
    gs = ns.GradientSampling([ns.LR(0.1)], n=50, seed=0)
    with pytest.raises(ValueError, match="more than this machine's 0.000977 GiB"):
        ns.Optimizer(np.ones(10_000), gs).step(quad)
    with pytest.raises(Exception, match="this machine has 1.05 MB"):
        _load.check_memory("--dim", 10**6, 8e6, "a million variables")
    monkeypatch.undo()
    mem = ns.config.physical_memory()
    assert mem is not None and mem > 1 << 26
    budget = ns.config.KNOBS["block_budget_bytes"].default
    assert budget == min(1 << 30, max(1 << 28, mem // 8))


# -- one optimizer, several threads ----------------------------------------------------------------
class _Gate:
    """An oracle that stops at its first call until released (to hold a step half-done)."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, x):
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30)
        return quad(x)


def _half_done_step():
    """An optimizer whose step waits in another thread (its gate), and the state after that step."""
    ref = _trained()
    ref.step(quad)
    opt = _trained()
    gate = _Gate()
    first = threading.Thread(target=opt.step, args=(gate,))
    first.start()
    assert gate.entered.wait(30)
    return ref, opt, gate, first


def test_stepping_from_two_threads_raises_and_the_step_is_right():
    ref, opt, gate, first = _half_done_step()
    for call in (lambda: opt.step(quad), lambda: opt.ask(), lambda: opt.load_state_dict(ref.state_dict())):
        with pytest.raises(RuntimeError, match="this Optimizer is busy with a step in another thread"):
            call()
    gate.release.set()
    first.join()
    assert pickle.dumps(opt.state_dict()) == pickle.dumps(ref.state_dict())


def test_state_dict_from_another_thread_waits_for_the_step():
    ref, opt, gate, first = _half_done_step()
    seen = {}
    readers = [threading.Thread(target=lambda: seen.__setitem__("state", opt.state_dict())),
               threading.Thread(target=lambda: seen.__setitem__("pickle", pickle.dumps(opt)))]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=0.3)
    assert seen == {}  # both wait: the step is half-done
    gate.release.set()
    first.join()
    for r in readers:
        r.join()
    assert pickle.dumps(seen["state"]) == pickle.dumps(ref.state_dict())
    assert pickle.dumps(pickle.loads(seen["pickle"]).state_dict()) == pickle.dumps(ref.state_dict())


def test_the_oracle_stepping_its_own_optimizer_is_refused():
    opt = _trained()

    def without_count(state):  # the failed calls are counted (the calls made)
        state.pop("num_evaluations")
        return pickle.dumps(state)

    before = without_count(opt.state_dict())

    def reentrant(x):
        opt.step(quad)
        return quad(x)

    def reader(x):
        opt.state_dict()
        return quad(x)

    for fun, what in ((reentrant, "step"), (reader, "state_dict")):
        with pytest.raises(RuntimeError, match=rf"{what}\(\) called during a step of the same Optimizer"):
            opt.step(fun)
        assert without_count(opt.state_dict()) == before
