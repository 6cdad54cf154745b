"""Minibatch LS-SGD as users train models: step cost, schedules and settable hyperparameters,
per-parameter chains, WeightDecay, ClipNorm, refused steps, in-place parameters, messages."""

import math
import re
import os
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import numsmooth as ns

SHAPES = [(16, 12), (16,), (4, 16), (4,)]  # an MLP's weights stored (out, in) and biases


def _params(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _quadratic(targets):
    """f = sum ||p - t||^2 / 2 per array: gradient p - t, shaped like the parameters."""
    def fun(p):
        g = [a - t for a, t in zip(p, targets)]
        return float(sum(np.sum(d * d) for d in g) / 2), g
    return fun


# ---------------------------------------------------------------------------------------------
# a step allocates nothing that grows with the parameters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", [
    lambda: [ns.LaplacianSmoothing(1.0), ns.LR(0.01)],
    lambda: [ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.01)],
    lambda: [ns.LaplacianSmoothing(1.0), ns.Momentum(0.9, nesterov=True), ns.WeightDecay(1e-4), ns.LR(0.01)],
    lambda: [ns.Adam(1e-3), ns.ClipNorm(1.0)],
], ids=["ls-lr", "ls-mom-lr", "ls-nesterov-wd-lr", "adam-clip"])
def test_step_peak_allocation_is_far_below_the_parameter_bytes(chain):
    shapes = [(300, 200), (200,), (200, 300), (300,)]  # 120500 parameters, 964 kB
    grads = _params(1, shapes)
    opt = ns.Optimizer(_params(0, shapes), *chain())
    fun = lambda p: (0.0, grads)  # noqa: E731  fixed gradients: the model allocates nothing
    for _ in range(3):  # buffers and compiled kernels exist after the first steps
        opt.step(fun)
    nbytes = 8 * opt.x.size
    tracemalloc.start()
    try:
        for _ in range(3):
            tracemalloc.reset_peak()
            opt.step(fun)
            _, peak = tracemalloc.get_traced_memory()
            assert peak < nbytes / 20, (peak, nbytes)
    finally:
        tracemalloc.stop()


def test_a_kept_oracle_input_or_objective_is_not_overwritten():
    seen = []

    def fun(x):
        seen.append(x)  # keeps the array it was given
        return float(x @ x), 2 * x

    opt = ns.Optimizer(np.ones(4), ns.LR(0.25))
    for _ in range(3):
        opt.step(fun)
    assert [s[0] for s in seen] == [1.0, 0.5, 0.25]
    root = opt.objective(fun)
    g = root.grad()
    opt.apply(root)
    opt.step(fun)
    assert_array_equal(g, 2 * 0.125 * np.ones(4))  # the kept gradient did not change


# ---------------------------------------------------------------------------------------------
# schedules and settable hyperparameters
# ---------------------------------------------------------------------------------------------


def test_schedules_closed_forms():
    s = ns.schedules
    assert [s.constant(2.0)(k) for k in (0, 9)] == [2.0, 2.0]
    assert [s.exponential(1.0, 0.5)(k) for k in range(3)] == [1.0, 0.5, 0.25]
    cos = s.cosine(2.0, 10, final=1.0)
    for k in range(13):
        assert math.isclose(cos(k), 1.0 + 0.5 * (1 + math.cos(math.pi * min(k, 10) / 10)), rel_tol=1e-15)
    wc = s.warmup_cosine(1.0, 4, 12, init=0.2)
    assert [wc(k) for k in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert wc(8) == pytest.approx(0.5) and wc(12) == wc(20) == 0.0
    pw = s.piecewise([3, 5], [1.0, 2.0, 3.0])
    assert [pw(k) for k in range(7)] == [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("make, exc, match", [
    (lambda: ns.schedules.exponential(1.0, 0.0), ValueError, r"^decay must be > 0"),
    (lambda: ns.schedules.cosine(1.0, 0), ValueError, r"^total_steps must be >= 1; got 0"),
    (lambda: ns.schedules.warmup_cosine(1.0, 5, 5), ValueError, r"^total_steps must be > warmup_steps"),
    (lambda: ns.schedules.piecewise([3, 2], [1.0, 2.0, 3.0]), ValueError, r"strictly increasing"),
    (lambda: ns.schedules.piecewise([3], [1.0]), ValueError, r"len\(boundaries\) \+ 1 = 2"),
    (lambda: ns.schedules.constant(float("nan")), ValueError, r"^value must be finite"),
])
def test_schedule_arguments_are_checked(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_lr_schedule_follows_the_closed_form():
    sched = ns.schedules.cosine(0.2, 5)
    opt = ns.Optimizer(np.zeros(2), ns.LR(sched))
    for _ in range(7):
        opt.step(lambda x: (0.0, np.ones(2)))
    assert_allclose(opt.x, -sum(sched(k) for k in range(7)) * np.ones(2), rtol=1e-15)


def test_bad_schedule_value_names_module_hyperparameter_and_step():
    opt = ns.Optimizer(np.zeros(2), ns.LaplacianSmoothing(ns.schedules.piecewise([2], [1.0, -1.0])), ns.LR(0.1))
    fun = lambda x: (0.0, np.ones(2))  # noqa: E731
    opt.step(fun)
    opt.step(fun)
    x = opt.x.copy()
    with pytest.raises(ValueError, match=r"^LaplacianSmoothing: the schedule of sigma returned -1.0 at step 2: "
                                         r"sigma must be >= 0"):
        opt.step(fun)
    assert_array_equal(opt.x, x)


@pytest.mark.parametrize("make, name, bad", [
    (lambda: ns.LR(0.1), "lr", -0.1), (lambda: ns.LR(0.1), "lr", float("nan")),
    (lambda: ns.Adam(0.1), "lr", -1.0), (lambda: ns.Momentum(0.9), "beta", 1.0),
    (lambda: ns.LaplacianSmoothing(1.0), "sigma", -1.0), (lambda: ns.WeightDecay(0.1), "weight_decay", -1.0),
    (lambda: ns.ClipNorm(1.0), "max_norm", 0.0), (lambda: ns.Backtracking(), "init", float("inf")),
])
def test_setting_a_hyperparameter_is_checked(make, name, bad):
    m = make()
    before = getattr(m, name)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        setattr(m, name, bad)
    assert getattr(m, name) == before


def test_changed_lr_is_saved_and_reloads_into_a_rebuilt_optimizer():
    targets = _params(3)
    fun = _quadratic(targets)
    lr = ns.LR(0.1)
    a = ns.Optimizer(_params(), ns.LaplacianSmoothing(1.0), lr)
    for _ in range(3):
        a.step(fun)
    lr.lr = 0.01  # changed at run time
    a.chain_sigma = None
    a.modules[0].sigma = 2.0
    state = a.state_dict()
    assert "lr" not in state["modules"][1]["config"] and state["modules"][1]["state"]["lr"] == 0.01
    b = ns.Optimizer(_params(), ns.LaplacianSmoothing(1.0), ns.LR(0.1))  # rebuilt with the original values
    b.load_state_dict(state)
    assert b.modules[1].lr == 0.01 and b.modules[0].sigma == 2.0
    for _ in range(2):
        a.step(fun)
        b.step(fun)
    assert_array_equal(a.x, b.x)


def test_state_saved_with_lr_in_the_configuration_still_loads():
    lr = ns.LR(0.5)
    old = {"type": "LR", "config": {"lr": 0.05}, "state": {}, "children": []}  # numsmooth 0.2
    lr.load_state_dict(old)
    assert lr.lr == 0.05


def test_schedule_resumes_after_save_and_load(tmp_path):
    fun = _quadratic(_params(4))
    make = lambda: [ns.LaplacianSmoothing(ns.schedules.exponential(2.0, 0.8)),  # noqa: E731
                    ns.Momentum(0.9), ns.LR(ns.schedules.warmup_cosine(0.05, 3, 10))]
    straight = ns.Optimizer(_params(), *make())
    for _ in range(8):
        straight.step(fun)
    first = ns.Optimizer(_params(), *make())
    for _ in range(4):
        first.step(fun)
    first.save(tmp_path / "run.npz")
    second = ns.Optimizer(_params(), *make())
    second.load(tmp_path / "run.npz")
    assert second.modules[2].state["step"] == 4
    for _ in range(4):
        second.step(fun)
    assert_array_equal(second.x, straight.x)


# ---------------------------------------------------------------------------------------------
# WeightDecay, ClipNorm
# ---------------------------------------------------------------------------------------------


def test_weight_decay_before_lr_is_adamw_convention():
    x0, g, lr, wd = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0]), 0.1, 0.01
    opt = ns.Optimizer(x0, ns.WeightDecay(wd), ns.LR(lr))
    opt.step(lambda x: (0.0, g))
    assert_allclose(opt.x, x0 * (1 - lr * wd) - lr * g, rtol=1e-15)


def test_adamw_equals_adam_weight_decay_lr():
    """Adam(lr=1), WeightDecay(wd), LR(lr) against a NumPy twin of torch.optim.AdamW."""
    rng = np.random.default_rng(0)
    G = rng.standard_normal((5, 4))
    lr, wd, b1, b2, eps = 0.1, 0.05, 0.9, 0.999, 1e-8
    x, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    opt = ns.Optimizer(np.ones(4), ns.Adam(1.0), ns.WeightDecay(wd), ns.LR(lr))
    for t in range(1, 6):
        g = G[t - 1]
        opt.step(lambda _: (0.0, g))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x * (1 - lr * wd) - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    assert_allclose(opt.x, x, rtol=1e-13)


@pytest.mark.parametrize("g", [np.array([3.0, 4.0]), np.array([0.3, 0.4]), np.array([1e200, -1e200])])
def test_clip_norm_closed_form(g):
    opt = ns.Optimizer(np.zeros(2), ns.ClipNorm(1.0), ns.LR(1.0))
    opt.step(lambda x: (0.0, g))
    norm = math.hypot(*(g / 1e199)) * 1e199
    assert_allclose(-opt.x, g * min(1.0, 1.0 / norm), rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# PerParameter
# ---------------------------------------------------------------------------------------------


def test_per_parameter_equals_sub_chains_by_hand():
    """Weights (parameters 0 and 2, not adjacent) smoothed with momentum, biases with weight
    decay only, then one LR for all: against a NumPy loop applying the same operations."""
    targets = _params(7)
    fun = _quadratic(targets)
    sigma, beta, wd, lr = 1.5, 0.8, 0.1, 0.05
    opt = ns.Optimizer(_params(), ns.PerParameter({(0, 2): [ns.LaplacianSmoothing(sigma), ns.Momentum(beta)]},
                                                  default=ns.WeightDecay(wd)), ns.LR(lr))
    p = _params()
    bufs = {0: None, 2: None}
    for _ in range(5):
        opt.step(fun)
        _, g = fun(p)
        new = []
        for i, (a, gi) in enumerate(zip(p, g)):
            if i in (0, 2):
                u = ns.laplacian_smooth(gi.ravel(), sigma).reshape(gi.shape)
                bufs[i] = u.copy() if bufs[i] is None else beta * bufs[i] + u
                u = bufs[i]
            else:
                u = gi + wd * a
            new.append(a - lr * u)
        p = new
    for got, want in zip(opt.params, p):
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_per_parameter_state_round_trips_and_checks():
    fun = _quadratic(_params(2))
    make = lambda: ns.Optimizer(_params(), ns.PerParameter({1: ns.Momentum(0.5), (0, 3): [ns.Adam(0.01)]}))  # noqa
    a = make()
    for _ in range(3):
        a.step(fun)
    b = make()
    b.load_state_dict(a.state_dict())
    a.step(fun)
    b.step(fun)
    assert_array_equal(a.x, b.x)
    bad = a.state_dict()
    bad["modules"][0]["children"][0]["state"]["buf"] = np.zeros(3)  # Momentum of parameter 1 (16,)
    with pytest.raises(ValueError, match=r"children\[0\].*shape \(16,\)"):
        b.load_state_dict(bad)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: ns.PerParameter({}), TypeError, "non-empty dict"),
    (lambda: ns.PerParameter({0: ns.LR(0.1), (1, 0): ns.LR(0.1)}), ValueError, "parameter 0 is in two groups"),
    (lambda: ns.PerParameter({-1: ns.LR(0.1)}), ValueError, "must be >= 0; got -1"),
    (lambda: ns.PerParameter({0: "LR"}), TypeError, r"groups\[0\] must be a module"),
])
def test_per_parameter_arguments_are_checked(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_per_parameter_index_out_of_range():
    opt = ns.Optimizer([np.zeros(2), np.zeros(3)], ns.PerParameter({5: ns.LR(0.1)}))
    with pytest.raises(ValueError, match="names parameter 5, but there are only 2"):
        opt.step(lambda p: (0.0, [np.ones(2), np.ones(3)]))


# ---------------------------------------------------------------------------------------------
# refused steps
# ---------------------------------------------------------------------------------------------


def _bad_at(k_bad):
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        g = 2 * x
        return (math.nan, np.full_like(x, math.nan)) if calls["n"] in k_bad else (float(x @ x), g)
    return fun


def test_refused_step_warns_once_counts_and_keeps_state():
    fun = _bad_at({3, 5})
    opt = ns.Optimizer(np.ones(3), ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.1))
    ref = ns.Optimizer(np.ones(3), ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.1))
    good = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    with pytest.warns(RuntimeWarning, match=r"step 3 was refused") as record:
        for _ in range(7):
            opt.step(fun)
    assert len(record) == 1
    assert opt.num_refused == 2 and opt.num_steps == 5
    for _ in range(5):
        ref.step(good)
    assert_array_equal(opt.x, ref.x)  # the refused steps changed nothing, momentum included
    assert_array_equal(opt.modules[1].state["buf"], ref.modules[1].state["buf"])


def test_refused_step_raise_and_ignore():
    opt = ns.Optimizer(np.ones(2), ns.LR(0.1), on_refused="raise")
    with pytest.raises(FloatingPointError, match=r"^step 1 was refused"):
        opt.step(_bad_at({1}))
    assert opt.num_refused == 1 and opt.x.tolist() == [1.0, 1.0]
    quiet = ns.Optimizer(np.ones(2), ns.LR(0.1), on_refused="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.step(_bad_at({1}))
    assert quiet.num_refused == 1
    with pytest.raises(ValueError, match=r"on_refused must be one of 'warn', 'raise', 'ignore'; got 'loud'"):
        ns.Optimizer(np.ones(2), on_refused="loud")


def test_minimize_reports_refused_steps():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the status says it: no warning on top
        res = ns.minimize(_bad_at({4}), np.ones(2), ns.LR(0.1), maxiter=10)
    assert res.num_refused == 1 and res.status == 3 and "non-finite" in res.message
    assert ns.minimize(lambda x: (float(x @ x), 2 * x), np.ones(2), ns.LR(0.1), maxiter=3).num_refused == 0


def test_num_refused_is_saved():
    opt = ns.Optimizer(np.ones(2), ns.LR(0.1), on_refused="ignore")
    opt.step(_bad_at({1}))
    other = ns.Optimizer(np.ones(2), ns.LR(0.1))
    other.load_state_dict(opt.state_dict())
    assert other.num_refused == 1


# ---------------------------------------------------------------------------------------------
# parameters: inplace, params copies
# ---------------------------------------------------------------------------------------------


def test_inplace_updates_the_users_arrays():
    fun = _quadratic(_params(5))
    mine = _params()
    ids = [id(a) for a in mine]
    opt = ns.Optimizer(mine, ns.LaplacianSmoothing(1.0), ns.LR(0.1), inplace=True)
    ref = ns.Optimizer(_params(), ns.LaplacianSmoothing(1.0), ns.LR(0.1))
    for _ in range(3):
        opt.step(fun)
        ref.step(fun)
        for a, b in zip(mine, ref.params):
            assert_array_equal(a, b)
    assert [id(a) for a in mine] == ids
    state = ref.state_dict()
    ref.step(fun)
    opt.load_state_dict(state)  # loading moves the user's arrays too
    assert_array_equal(np.concatenate([a.ravel() for a in mine]), state["x"])
    single = np.ones((2, 3))
    one = ns.Optimizer(single, ns.LR(0.5), inplace=True)
    one.step(lambda x: (0.0, np.ones((2, 3))))
    assert_array_equal(single, 0.5)


def test_inplace_with_one_buffer_hands_the_users_arrays_to_the_oracle():
    # parameters that are views of one flat vector are the optimizer's storage: no copy back,
    # the oracle gets the very arrays the user holds, and the run equals one with copies
    targets = _params(5)
    fun = _quadratic(targets)
    mine = ns.flat_params(_params())
    seen = []

    def spy(p):
        seen.append([id(a) for a in p])
        return fun(p)

    opt = ns.Optimizer(mine, ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.1), inplace=True)
    ref = ns.Optimizer(_params(), ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.1))
    assert opt._user is None  # nothing to copy back
    for _ in range(4):
        opt.step(spy)
        ref.step(fun)
        for a, b in zip(mine, ref.params):
            assert_array_equal(a, b)
    assert all(ids == [id(a) for a in mine] for ids in seen)
    state = ref.state_dict()
    opt.load_state_dict(state)
    assert_array_equal(np.concatenate([a.ravel() for a in mine]), state["x"])
    # a single array is its own storage and goes to the oracle as it is, too
    single = np.ones((2, 3))
    got = []
    one = ns.Optimizer(single, ns.LR(0.5), inplace=True)
    one.step(lambda x: (got.append(x) or 0.0, np.ones((2, 3))))
    assert got[0] is single and np.all(single == 0.5)


@pytest.mark.parametrize("arrays", [
    lambda: [np.ones(3), np.ones(2)],                          # separate buffers
    lambda: list(reversed(ns.flat_params([np.ones(3), np.ones(2)]))),  # one buffer, out of order
    lambda: (lambda f: [f[:3], f[4:6]])(np.ones(6)),           # a gap between them
])
def test_inplace_without_one_buffer_copies(arrays):
    mine = arrays()
    opt = ns.Optimizer(mine, ns.LR(0.5), inplace=True)
    seen = []
    opt.step(lambda p: (seen.append(p) or 0.0, [np.ones(a.shape) for a in p]))
    assert opt._user is not None and all(s is not a for s, a in zip(seen[0], mine))
    assert all(np.all(a == 0.5) for a in mine)


def test_flat_params_checks_its_argument():
    with pytest.raises(TypeError, match="non-empty list"):
        ns.flat_params(np.ones(3))
    with pytest.raises(TypeError, match="non-empty list"):
        ns.flat_params([])
    W, b = ns.flat_params([np.arange(6).reshape(2, 3), [1.0, 2.0]])
    assert W.dtype == np.float64 and W.base is b.base
    assert_array_equal(W, np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("x0, exc, match", [
    ([np.ones(3, dtype=np.float32), np.ones(2)], TypeError, r"x0\[0\] has dtype float32"),  # mixed
    ([np.ones(3, dtype=np.float16)], TypeError, r"x0\[0\] must have dtype float32 or float64"),
    ([np.ones(3), np.ones((3, 4)).T], ValueError, r"x0\[1\] is not"),
    (np.ones(3, dtype=np.int64), TypeError, r"x0 has dtype int64"),
    ([1.0, 2.0], TypeError, r"x0 must be a NumPy array"),
])
def test_inplace_checks_the_arrays(x0, exc, match):
    with pytest.raises(exc, match=match):
        ns.Optimizer(x0, ns.LR(0.1), inplace=True)


# ---------------------------------------------------------------------------------------------
# messages in the user's terms
# ---------------------------------------------------------------------------------------------


def test_oracle_errors_name_the_parameter_not_a_sample():
    params = _params()

    def wrong_shape(p):
        return 0.0, [np.zeros_like(p[0]), np.zeros(3), np.zeros_like(p[2]), np.zeros_like(p[3])]

    def swapped(p):
        return [np.zeros_like(a) for a in p], 0.0

    for fun, pattern in ((wrong_shape, r"gradient of parameter 1 must have shape \(16,\); got shape \(3,\)"),
                         (swapped, r"oracle returned a list of 4 items as the value.*\(g, f\) instead of \(f, g\)")):
        opt = ns.Optimizer(params, ns.LaplacianSmoothing(1.0), ns.LR(0.1))
        with pytest.raises(ns.OracleError) as info:
            opt.step(fun)
        msg = str(info.value)
        assert re.search(pattern, msg), msg
        assert "sample" not in msg and len(msg) < 300, msg


# ---------------------------------------------------------------------------------------------
# axis in training: the smoothed index does not depend on how the weight is stored
# ---------------------------------------------------------------------------------------------


def test_axis_makes_training_independent_of_the_weight_layout():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 12))
    Y = rng.standard_normal((32, 5))

    def fun_out_in(p):  # W stored (out, in)
        R = X @ p[0].T - Y
        return float(np.sum(R * R) / 64), [R.T @ X / 32]

    def fun_in_out(p):  # W stored (in, out)
        R = X @ p[0] - Y
        return float(np.sum(R * R) / 64), [X.T @ R / 32]

    W0 = rng.standard_normal((5, 12)) * 0.1
    runs = {}
    for name, axis_oi, axis_io in (("along in", 1, 0), ("flattened", None, None)):
        a = ns.Optimizer([W0.copy()], ns.LaplacianSmoothing(2.0, axis=axis_oi), ns.Momentum(0.9), ns.LR(0.05))
        b = ns.Optimizer([W0.T.copy()], ns.LaplacianSmoothing(2.0, axis=axis_io), ns.Momentum(0.9), ns.LR(0.05))
        for _ in range(20):
            a.step(fun_out_in)
            b.step(fun_in_out)
        runs[name] = (a.params[0], b.params[0].T)
    assert_allclose(*runs["along in"], rtol=1e-12, atol=1e-14)
    assert not np.allclose(*runs["flattened"], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# the example researchers rerun
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_digits_example_runs_quick():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, str(root / "examples" / "lsgd_mlp_digits.py"), "--quick", "--seeds", "1"],
                         capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith(("SGD", "LS-SGD"))]
    assert len(rows) == 4, out
    ratios = [float(r.split()[-5]) for r in rows[1:]]  # the measured noise ratio of each sigma
    assert all(0 < q < 1 for q in ratios) and ratios == sorted(ratios, reverse=True), out


@pytest.mark.parametrize("make", [lambda: [np.ones(3), np.ones(2)], lambda: ns.flat_params([np.ones(3), np.ones(2)])],
                         ids=["copies", "one-buffer"])
def test_pickled_inplace_optimizer_steps_like_the_original(make):
    import pickle

    fun = lambda p: (0.0, [2 * a for a in p])  # noqa: E731
    opt = ns.Optimizer(make(), ns.Momentum(0.5), ns.LR(0.25), inplace=True)
    opt.step(fun)
    again = pickle.loads(pickle.dumps(opt))
    for _ in range(3):
        opt.step(fun)
        again.step(fun)
    assert_array_equal(opt.x, again.x)


# -- the compile notice of an optimizer's first step ---------------------------------------------
def _fresh_jitted_oracle():
    import numba

    @numba.njit
    def fun(x, g):  # a new function each call: numsmooth compiles its kernels for it
        for i in range(x.size):
            g[i] = 2.0 * x[i]
        return float(np.sum(x * x))

    return fun


def _slowly_compiling_oracle():
    """An oracle during whose first call Numba reports a compilation of 0.7 s (longer than the
    notice's delay of 0.5 s, whatever the machine: a real compile may take less on a fast one)."""
    from numba.core import event

    calls = []

    def fun(x):
        if not calls:
            event.start_event("numba:compile")
            time.sleep(0.7)
            event.end_event("numba:compile")
        calls.append(1)
        return float(np.sum(x * x)), 2.0 * x

    return fun


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing compiles without the JIT")
def test_first_step_says_it_compiles_once(monkeypatch, capsys):
    from numsmooth import _progress

    monkeypatch.setattr(_progress.CompileNotice, "_printed", False)
    with ns.config.override(compile_notice=0):  # switched off: silent
        ns.Optimizer(np.ones(3), ns.LR(0.1)).step(_fresh_jitted_oracle())
    with _progress.CompileNotice(enabled=False):  # inside a quiet entry point (minimize, --quiet): silent
        ns.Optimizer(np.ones(3), ns.LR(0.1)).step(_fresh_jitted_oracle())
    assert capsys.readouterr().err == ""
    opt = ns.Optimizer(np.ones(3), ns.LR(0.1))
    opt.step(_slowly_compiling_oracle())
    assert capsys.readouterr().err == _progress.COMPILE_MESSAGE + "\n"
    ns.Optimizer(np.ones(3), ns.LR(0.1)).step(_fresh_jitted_oracle())  # once per process
    assert capsys.readouterr().err == ""
