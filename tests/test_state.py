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
    with pytest.raises(ValueError, match=r"state has parameters one array of shape \(3,\); this optimizer has "
                                         r"one array of shape \(4,\)"):
        ns.Optimizer(np.ones(4), ns.LR(0.1)).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        opt.load_state_dict({"x": np.ones(3)})


# -- files: atomic saves, clear errors on bad files ----------------------------------------------
def _saved_bytes(tmp_path):
    opt = ns.Optimizer(ROSEN.x0(6), *configs()["gs-termination"]()[1])
    run(opt, 2)
    opt.save(tmp_path / "good.npz")
    return opt, (tmp_path / "good.npz").read_bytes()


def _deep_json_file(path, depth):
    text = '{"format": "numsmooth-state-1", "state": ' + "[" * depth + "]" * depth + "}"
    np.savez(path, __state__=np.array(text))


BAD_FILES = {
    "empty": lambda p, good: p.write_bytes(b""),
    "truncated-start": lambda p, good: p.write_bytes(good[:40]),
    "truncated-half": lambda p, good: p.write_bytes(good[:len(good) // 2]),
    "truncated-end": lambda p, good: p.write_bytes(good[:-10]),
    "garbage": lambda p, good: p.write_bytes(bytes(range(256)) * 8),
    "text": lambda p, good: p.write_text("x = 1\n"),
    "corrupted": lambda p, good: p.write_bytes(good[:300] + bytes(b ^ 0xFF for b in good[300:600]) + good[600:]),
    "deep-json": lambda p, good: _deep_json_file(p, 100_000),
    "deep-json-parsable": lambda p, good: _deep_json_file(p, 300),
    "npy": lambda p, good: np.save(p.with_suffix(".npy"), np.ones(3)) or p.with_suffix(".npy").rename(p),
    "pickle": lambda p, good: p.write_bytes(pickle.dumps({"x": np.ones(6)})),
    "no-state-entry": lambda p, good: np.savez(p, x=np.ones(3)),
    "state-not-text": lambda p, good: np.savez(p, __state__=np.ones(3)),
    "other-format": lambda p, good: np.savez(p, __state__=np.array('{"format": "other", "state": {}}')),
    "not-json": lambda p, good: np.savez(p, __state__=np.array("{not json")),
    "missing-array": lambda p, good: np.savez(
        p, __state__=np.array('{"format": "numsmooth-state-1", "state": {"x": {"__array__": "a9"}}}')),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_file_raises_an_error_naming_it_and_changes_nothing(tmp_path, kind):
    opt, good = _saved_bytes(tmp_path)
    path = tmp_path / "bad.npz"
    BAD_FILES[kind](path, good)
    before = pickle.dumps(opt.state_dict())
    with pytest.raises(ValueError) as info:
        ns.load_state(path)
    assert repr(str(path)) in str(info.value)
    with pytest.raises(ValueError, match="bad.npz"):
        opt.load(path)
    with pytest.raises(ValueError, match="the BytesIO given"):
        ns.load_state(__import__("io").BytesIO(path.read_bytes()))
    assert pickle.dumps(opt.state_dict()) == before


def test_a_file_holding_a_refused_state_is_named(tmp_path):
    opt, _ = _saved_bytes(tmp_path)
    other = ns.Optimizer(np.zeros(3), ns.LR(0.1))
    with pytest.raises(ValueError, match=r"^'.*good.npz': state has parameters one array of shape \(6,\)"):
        other.load(str(tmp_path / "good.npz"))


def test_a_missing_file_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        ns.load_state(tmp_path / "nothing.npz")


def test_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    opt, _ = _saved_bytes(tmp_path)
    path = tmp_path / "good.npz"
    path.chmod(0o640)
    run(opt, 1)
    opt.save(str(tmp_path / "good"))  # NumPy's rule: .npz is added
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz"]
    assert path.stat().st_mode & 0o777 == 0o640  # the replaced file's permissions are kept
    back = ns.load_state(path)
    assert pickle.dumps(back) == pickle.dumps(ns.load_state(__import__("io").BytesIO(_npz_bytes(opt))))


def _npz_bytes(opt):
    import io
    buf = io.BytesIO()
    opt.save(buf)
    return buf.getvalue()


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    import numpy.lib.format as npformat
    path = tmp_path / "s.npz"
    ns.save_state(path, {"k": 1, "x": np.ones(3)})
    with pytest.raises(TypeError, match="cannot save a object"):
        ns.save_state(path, {"k": 2, "x": object()})
    write_array = npformat.write_array
    written = []

    def interrupted(fp, array, *args, **kwargs):  # Ctrl-C after the first array reached the file
        if written:
            raise KeyboardInterrupt
        written.append(1)
        write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(npformat, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ns.save_state(path, {"k": 3, "x": np.zeros(1000)})
    monkeypatch.undo()
    assert written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
    assert ns.load_state(path)["k"] == 1


_SAVER = """
import sys, numpy as np
import numsmooth as ns
path, n, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
k = first
while True:
    ns.save_state(path, {"k": k, "x": np.full(n, float(k)), "rest": [k] * 3})
    print(k, flush=True)
    k += 1
"""


def test_a_kill_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    import os
    import signal
    import time
    path = str(tmp_path / "big.npz")
    n = 1 << 20  # 8 MB of x per save
    rng = np.random.default_rng(7)
    first = 0
    for trial in range(8):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, path, str(n), str(first)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        started = child.stdout.readline()  # one save finished: the kill lands amid the next ones
        assert started.strip() == str(first)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        done = [first] + [int(v) for v in rest.split()]
        state = ns.load_state(path)  # never a broken file
        k = state["k"]
        # the last finished save, or the one under way when the kill came
        assert done[-1] <= k <= done[-1] + 1
        assert np.array_equal(state["x"], np.full(n, float(k))) and state["rest"] == [k] * 3
        first = k + 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "big.npz"]
    assert all(name.startswith(".big.npz.") and name.endswith(".tmp") for name in leftovers)
