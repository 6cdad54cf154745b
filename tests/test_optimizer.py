"""Tests of numsmooth.optimizer: Optimizer, minimize and OptimizeResult.

Trajectories are checked against independent NumPy loops; error paths against the messages the
spec promises (argument / sample named).
"""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from numba import njit
from numpy.testing import assert_allclose, assert_array_equal

from naive import naive_fma

import numsmooth as ns

# ---------------------------------------------------------------------------------------------
# a separable quadratic; per-point, batched and jitted versions use the same elementwise ops
# and sequential sums (d < 8), so their results are bitwise equal
# ---------------------------------------------------------------------------------------------

A = np.array([1.0, 3.0, 0.5, 2.0, 4.0, 1.5, 0.25])
C = np.array([1.0, -2.0, 0.5, 3.0, -1.0, 0.0, 2.0])
D = A.size


def f_np(x):
    return float(np.sum(0.5 * A * (x - C) ** 2))


def g_np(x):
    return A * (x - C)


def point(x):
    return f_np(x), g_np(x)


@ns.batched
def batch(X):
    R = X - C
    return np.sum(0.5 * A * R**2, axis=1), A * R


@njit(cache=False)
def jitted(x, g_out):
    f = 0.0
    for i in range(x.shape[0]):
        r = x[i] - C[i]
        g_out[i] = A[i] * r
        f += 0.5 * A[i] * r**2
    return f


X0 = np.array([2.0, 1.0, -1.0, 0.5, 3.0, -2.0, 1.0])


def gd_twin(lr, n, x0=X0):
    x, xs, fs = x0.copy(), [x0.copy()], []
    for _ in range(n):
        fs.append(f_np(x))
        x = naive_fma(g_np(x), -lr, x)  # the last LR's step: x.add_(g, alpha=-lr), rounded once
        xs.append(x)
    return xs, fs


# ---------------------------------------------------------------------------------------------
# Optimizer: shapes, x, params, counting
# ---------------------------------------------------------------------------------------------


def test_single_array_shapes_reach_the_oracle():
    x0 = X0[:6].reshape(2, 3).copy()
    seen = []

    def fun(x):
        assert isinstance(x, np.ndarray) and x.shape == (2, 3) and x.dtype == np.float64
        seen.append(x.copy())
        return float(np.sum(x**2)), 2 * x

    opt = ns.Optimizer(x0, ns.LR(0.1))
    loss = opt.step(fun)
    assert loss == float(np.sum(x0**2))
    assert len(seen) == 1 and np.array_equal(seen[0], x0)
    assert opt.x.shape == (6,) and opt.x.dtype == np.float64
    assert_allclose(opt.x, 0.8 * x0.ravel(), rtol=1e-15)
    assert opt.params.shape == (2, 3)
    assert_allclose(opt.params, 0.8 * x0, rtol=1e-15)


def test_list_of_arrays_shapes_reach_the_oracle_and_trajectory():
    p0 = [X0[:4].reshape(2, 2).copy(), X0[4:].copy()]
    calls = []

    def fun(params):
        assert isinstance(params, list) and len(params) == 2
        assert params[0].shape == (2, 2) and params[1].shape == (3,)
        calls.append(1)
        flat = np.concatenate([params[0].ravel(), params[1]])
        g = g_np(flat)
        return f_np(flat), [g[:4].reshape(2, 2), g[4:]]

    opt = ns.Optimizer(p0, ns.Momentum(0.5), ns.LR(0.1))
    xs_ref, _ = momentum_twin(0.5, 0.1, 6)
    for k in range(6):
        opt.step(fun)
        assert_allclose(opt.x, xs_ref[k + 1], rtol=1e-15, atol=1e-15)
    assert len(calls) == 6 == opt.num_evaluations
    params = opt.params
    assert isinstance(params, list) and [p.shape for p in params] == [(2, 2), (3,)]
    assert_array_equal(np.concatenate([params[0].ravel(), params[1]]), opt.x)


def momentum_twin(beta, lr, n, x0=X0):
    x, xs, buf = x0.copy(), [x0.copy()], None
    for _ in range(n):
        g = g_np(x)
        buf = g.copy() if buf is None else beta * buf + g
        x = x - lr * buf
        xs.append(x)
    return xs, None


def test_x_is_read_only_and_params_are_copies():
    opt = ns.Optimizer([np.zeros(2), np.ones((1, 2))], ns.LR(0.1))
    with pytest.raises(ValueError):
        opt.x[0] = 1.0
    snapshot = opt.params
    snapshot[1][0, 0] = 5.0  # a copy: writing to it changes nothing
    assert_array_equal(opt.x, [0.0, 0.0, 1.0, 1.0])
    opt.step(lambda p: (0.0, [np.ones(2), np.ones((1, 2))]))
    assert_array_equal(snapshot[0], [0.0, 0.0])  # kept snapshots do not move with the optimizer
    assert_array_equal(opt.params[0], [-0.1, -0.1])


def test_x0_is_copied_and_oracle_cannot_corrupt_x():
    x0 = X0.copy()
    opt = ns.Optimizer(x0, ns.LR(0.1))
    x0[:] = 99.0

    def vandal(x):
        f, g = point(x)
        x[:] = 1e9  # the oracle scribbles on its input
        return f, g

    opt.step(vandal)
    assert_allclose(opt.x, X0 - 0.1 * g_np(X0), rtol=1e-15)


def test_float32_and_int_list_become_float64():
    opt = ns.Optimizer(np.array([1.5, 2.5], dtype=np.float32))
    assert opt.x.dtype == np.float64
    assert_array_equal(opt.x, [1.5, 2.5])
    opt = ns.Optimizer([1, 2, 3], ns.LR(0.5))
    assert opt.x.dtype == np.float64
    assert_array_equal(opt.x, [1.0, 2.0, 3.0])
    opt.step(lambda x: (float(x @ x), 2 * x))
    assert_array_equal(opt.x, [0.0, 0.0, 0.0])
    res = ns.minimize(lambda x: (float(x @ x), 2 * x), [1, -1], ns.LR(0.25), maxiter=1)
    assert res.x.dtype == np.float64
    assert_array_equal(res.x, [0.5, -0.5])


def test_num_evaluations_counts_every_call():
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return point(x)

    opt = ns.Optimizer(X0.copy(), ns.Backtracking(init=4.0))
    total = 0
    for _ in range(5):
        opt.step(fun)
        total = calls["n"]
        assert opt.num_evaluations == total
    assert total > 5  # several trials per step
    # another function: the count continues on the same optimizer
    opt.step(point)
    assert opt.num_evaluations > total


def test_num_evaluations_counts_a_raising_call():
    def fun(x):
        raise RuntimeError("boom")

    opt = ns.Optimizer(X0.copy(), ns.LR(0.1))
    with pytest.raises(ns.OracleError):
        opt.step(fun)
    assert opt.num_evaluations == 1 and opt.num_steps == 0


def test_step_returns_value_at_start():
    opt = ns.Optimizer(X0.copy(), ns.LR(0.1))
    xs, fs = gd_twin(0.1, 4)
    for k in range(4):
        assert opt.step(point) == fs[k]
    assert opt.num_steps == 4


# ---------------------------------------------------------------------------------------------
# minimize: result fields
# ---------------------------------------------------------------------------------------------


def test_minimize_result_fields_maxiter():
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return point(x)

    lr, n = 0.1, 7
    res = ns.minimize(fun, X0.copy(), ns.LR(lr), maxiter=n, certify=False)  # no extra evaluation
    xs, fs = gd_twin(lr, n)
    assert isinstance(res, ns.OptimizeResult) and isinstance(res, dict)
    assert res.status == 1 and res.success is False
    assert isinstance(res.message, str) and "maximum" in res.message
    assert res.nit == n
    assert res.nfev == calls["n"] == n + 1  # n steps plus f at the final point
    assert_allclose(res.x, xs[-1], rtol=1e-15)
    assert_allclose(res.fun, f_np(xs[-1]), rtol=1e-15)
    assert isinstance(res.fun, float)
    h = res.history
    assert set(h) >= {"f", "sigma", "update_norm"}
    assert len(h["f"]) == len(h["sigma"]) == len(h["update_norm"]) == n
    assert_allclose(h["f"], fs, rtol=1e-15)
    assert all(math.isnan(s) for s in h["sigma"])
    assert_allclose(h["update_norm"], [lr * np.linalg.norm(g_np(x)) for x in xs[:-1]], rtol=1e-14)
    assert res["nit"] == res.nit  # dict and attribute access agree
    assert "nit=7" in repr(res)


def test_minimize_list_of_arrays_returns_user_shapes():
    p0 = [X0[:3].copy(), X0[3:].reshape(2, 2).copy()]

    def fun(p):
        flat = np.concatenate([p[0], p[1].ravel()])
        g = g_np(flat)
        return f_np(flat), [g[:3], g[3:].reshape(2, 2)]

    res = ns.minimize(fun, p0, ns.LR(0.1), maxiter=3)
    xs, _ = gd_twin(0.1, 3)
    assert isinstance(res.x, list) and [a.shape for a in res.x] == [(3,), (2, 2)]
    assert_allclose(np.concatenate([res.x[0], res.x[1].ravel()]), xs[-1], rtol=1e-15)
    # the result owns its arrays
    res.x[0][:] = 0.0
    p0[0][:] = 0.0


def test_minimize_maxiter_zero():
    res = ns.minimize(point, X0.copy(), ns.LR(0.1), maxiter=0, certify=False)
    assert res.nit == 0 and res.status == 1 and res.nfev == 1
    assert_array_equal(res.x, X0)
    assert res.fun == f_np(X0)
    assert res.history["f"] == []


def test_minimize_callback_stops_with_status_2():
    seen = []

    # scipy's convention: a parameter named intermediate_result gets the OptimizeResult
    def cb(intermediate_result):
        r = intermediate_result
        assert set(r) >= {"x", "fun", "nit"}
        seen.append((r.nit, r.x.copy(), r.fun))
        r.x[:] = 123.0  # a copy: must not affect the run
        return r.nit == 3

    res = ns.minimize(point, X0.copy(), ns.LR(0.1), maxiter=100, callback=cb)
    xs, fs = gd_twin(0.1, 3)
    assert res.status == 2 and res.success is False and res.nit == 3  # stopped far from the minimum
    assert "callback" in res.message and "True" in res.message
    assert [s[0] for s in seen] == [1, 2, 3]
    for k, (_, x, f) in enumerate(seen):
        assert_allclose(x, xs[k + 1], rtol=1e-15)
        assert_allclose(f, fs[k], rtol=1e-15)
    assert_allclose(res.x, xs[3], rtol=1e-15)


def test_minimize_callback_returning_none_continues():
    res = ns.minimize(point, X0.copy(), ns.LR(0.1), maxiter=5, callback=lambda r: None)
    assert res.status == 1 and res.nit == 5


def test_minimize_progress_bar_same_result():
    a = ns.minimize(point, X0.copy(), ns.Momentum(0.5), ns.LR(0.1), maxiter=5)
    b = ns.minimize(point, X0.copy(), ns.Momentum(0.5), ns.LR(0.1), maxiter=5, progress=True)
    assert_array_equal(a.x, b.x)
    assert a.nit == b.nit and a.nfev == b.nfev


@pytest.mark.parametrize("kw, exc, match", [
    (dict(maxiter=-1), ValueError, r"^maxiter must"),
    (dict(maxiter=2.0), TypeError, r"^maxiter must"),
    (dict(callback=3), TypeError, r"^callback must"),
    (dict(progress=1), TypeError, r"^progress must"),  # a str is a label since the progress issue
    (dict(disp=-1), ValueError, r"^disp must"),
    (dict(tol=-1.0), ValueError, r"^tol must"),
])
def test_minimize_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        ns.minimize(point, X0.copy(), ns.LR(0.1), **kw)


# ---------------------------------------------------------------------------------------------
# an oracle that raises leaves everything as before
# ---------------------------------------------------------------------------------------------


class FailOnCall:
    """Wraps ``point``; raises on the ``k``-th call after being armed."""

    def __init__(self):
        self.armed_at = None
        self.calls = 0

    def arm(self, k):
        self.armed_at = self.calls + k

    def __call__(self, x):
        self.calls += 1
        if self.armed_at is not None and self.calls == self.armed_at:
            self.armed_at = None
            raise RuntimeError("disk on fire")
        return point(x)


def _state(opt):
    return [copy.deepcopy(m.state) for m in opt.modules]


def _assert_states_equal(a, b):
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            va, vb = sa[k], sb[k]
            if isinstance(va, np.ndarray):
                assert va.dtype == vb.dtype
                assert va.tobytes() == vb.tobytes()
            else:
                assert va == vb or (va != va and vb != vb)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_oracle_raising_mid_step_rolls_back(k):
    # raise on the k-th evaluation of the 4th step: 1 = at x (before any module ran),
    # 2, 3 = inside Backtracking after Momentum and Adam have updated their buffers
    fun = FailOnCall()
    opt = ns.Optimizer(X0.copy(), ns.Momentum(0.9), ns.Adam(lr=0.5), ns.Backtracking(init=8.0))
    for _ in range(3):
        opt.step(fun)
    x_before = opt.x.copy()
    st_before = _state(opt)
    assert st_before[0]["buf"] is not None and st_before[1]["t"] == 3
    nsteps, nev = opt.num_steps, opt.num_evaluations
    fun.arm(k)
    with pytest.raises(ns.OracleError, match=r"RuntimeError.*disk on fire.*at x = \[") as ei:
        opt.step(fun)
    assert isinstance(ei.value.__cause__, RuntimeError)
    assert opt.x.tobytes() == x_before.tobytes()
    _assert_states_equal(_state(opt), st_before)
    assert opt.num_steps == nsteps
    assert opt.num_evaluations == nev + k  # the raising call counts too
    # the run then continues exactly as an uninterrupted one
    ref = ns.Optimizer(X0.copy(), ns.Momentum(0.9), ns.Adam(lr=0.5), ns.Backtracking(init=8.0))
    for _ in range(5):
        ref.step(point)
    for _ in range(2):
        opt.step(fun)
    assert opt.x.tobytes() == ref.x.tobytes()


def test_oracle_raising_propagates_out_of_minimize():
    fun = FailOnCall()
    fun.arm(4)
    with pytest.raises(ns.OracleError, match="disk on fire"):
        ns.minimize(fun, X0.copy(), ns.LR(0.1), maxiter=10)


# ---------------------------------------------------------------------------------------------
# malformed oracle output
# ---------------------------------------------------------------------------------------------


BAD_ORACLES = [
    (lambda x: (f_np(x), g_np(x)[:-1]), r"gradient must have shape \(7,\); got shape \(6,\) at x = \[.*\]"),
    (lambda x: (f_np(x), np.vstack([g_np(x), g_np(x)])), r"gradient.*shape"),
    (lambda x: (np.array([f_np(x), 1.0]), g_np(x)), r"shape \(2,\).*scalar.*at x = "),
    (lambda x: (np.array([f_np(x)]), g_np(x)), r"scalar"),
    (lambda x: f_np(x), r"pair \(f, g\) at x = "),
    (lambda x: (f_np(x), g_np(x), 0.0), r"pair"),
    (lambda x: None, r"pair"),
    (lambda x: (complex(f_np(x), 1.0), g_np(x)), r"complex"),
    (lambda x: (np.complex128(f_np(x)), g_np(x)), r"complex"),
    (lambda x: (f_np(x), g_np(x) + 0j), r"gradient.*dtype"),
    (lambda x: (f_np(x), g_np(x) > 0), r"gradient.*dtype"),
    (lambda x: (f_np(x), "grad"), r"gradient"),
]


@pytest.mark.parametrize("fun, match", BAD_ORACLES, ids=[f"bad{i}" for i in range(len(BAD_ORACLES))])
def test_malformed_oracle_output(fun, match):
    opt = ns.Optimizer(X0.copy(), ns.Momentum(0.5), ns.LR(0.1))
    opt.step(point)
    x_before, st = opt.x.copy(), _state(opt)
    with pytest.raises(ns.OracleError, match=match):
        opt.step(fun)
    assert_array_equal(opt.x, x_before)
    _assert_states_equal(_state(opt), st)
    with pytest.raises(ns.OracleError, match=match):
        ns.minimize(fun, X0.copy(), ns.LR(0.1), maxiter=3)


def test_malformed_gradient_for_list_of_arrays():
    p0 = [np.zeros(2), np.zeros((2, 2))]
    with pytest.raises(ns.OracleError, match=r"gradient.*list of 2"):
        ns.minimize(lambda p: (0.0, [np.zeros(2)]), p0, maxiter=1)
    with pytest.raises(ns.OracleError, match=r"gradient of parameter 1 must have shape \(2, 2\)"):
        ns.minimize(lambda p: (0.0, [np.zeros(2), np.zeros(4)]), p0, maxiter=1)


def test_malformed_batched_output():
    bad_f = ns.batched(lambda X: (np.zeros((X.shape[0], 1)), X.copy()))
    with pytest.raises(ns.OracleError, match=r"F of shape"):
        ns.minimize(bad_f, X0.copy(), maxiter=1)
    bad_g = ns.batched(lambda X: (np.zeros(X.shape[0]), X[:, :-1].copy()))
    with pytest.raises(ns.OracleError, match=r"G of shape"):
        ns.minimize(bad_g, X0.copy(), maxiter=1)
    raising = ns.batched(lambda X: 1 / 0)
    with pytest.raises(ns.OracleError, match=r"ZeroDivisionError.* at x"):
        ns.minimize(raising, X0.copy(), maxiter=1)


def test_string_value_rejected():
    # "1.0" is not a real scalar; it must not be parsed as one
    with pytest.raises(ns.OracleError, match=r"real scalar.*|type str"):
        ns.minimize(lambda x: ("1.0", g_np(x)), X0.copy(), maxiter=1)


def test_non_callable_oracle():
    with pytest.raises(TypeError, match="fun must be callable"):
        ns.minimize(3.0, X0.copy(), maxiter=1)


# ---------------------------------------------------------------------------------------------
# non-finite oracles
# ---------------------------------------------------------------------------------------------


def test_oracle_non_finite_everywhere():
    def fun(x):
        return math.nan, np.full_like(x, math.nan)

    res = ns.minimize(fun, X0.copy(), ns.Momentum(0.9), ns.LR(0.1), maxiter=20)
    assert res.success is False and res.status == 3
    assert isinstance(res.message, str) and "non-finite" in res.message
    assert_array_equal(res.x, X0)
    assert res.nit == 0 and res.history["f"] == []


def test_oracle_infinite_everywhere_with_backtracking():
    def fun(x):
        return math.inf, np.full_like(x, math.inf)

    res = ns.minimize(fun, X0.copy(), ns.Backtracking(), maxiter=20)
    assert res.status == 3 and not res.success
    assert_array_equal(res.x, X0)


def test_non_finite_step_keeps_optimizer_state():
    opt = ns.Optimizer(X0.copy(), ns.Momentum(0.9), ns.LR(0.1), on_refused="ignore")
    opt.step(point)
    x_before, st = opt.x.copy(), _state(opt)
    opt.step(lambda x: (math.nan, np.full_like(x, math.nan)))
    assert opt.last_step_finite is False
    assert opt.x.tobytes() == x_before.tobytes()
    _assert_states_equal(_state(opt), st)
    assert opt.num_steps == 1


def test_oracle_becoming_non_finite_result_is_consistent():
    # finite while x[0] > 1.3; GD from x0[0] = 2 towards C[0] = 1 crosses it after a few steps
    lr = 0.2

    def fun(x):
        if x[0] <= 1.3:
            return math.inf, np.full_like(x, math.inf)
        return point(x)

    res = ns.minimize(fun, X0.copy(), ns.LR(lr), maxiter=100)
    assert res.status == 3 and not res.success
    # independent loop: steps taken while the start point was finite
    x, k, last_finite = X0.copy(), 0, None
    while x[0] > 1.3:
        last_finite = x
        x = x - lr * g_np(x)
        k += 1
    assert k >= 3
    assert res.nit == k == len(res.history["f"])
    assert all(math.isfinite(v) for v in res.history["f"])
    # "x is the last finite point": the last point at which the oracle was finite
    assert_allclose(res.x, last_finite, rtol=1e-15)
    assert res.fun == f_np(last_finite)
    # OptimizeResult.fun is documented as f(x) at the final point: it must belong to res.x
    f_at_x = fun(res.x)[0]
    assert res.fun == f_at_x or (not math.isfinite(res.fun) and not math.isfinite(f_at_x)), (
        f"res.fun={res.fun} but f(res.x)={f_at_x}"
    )


# ---------------------------------------------------------------------------------------------
# per-point, batched and jitted oracles give identical trajectories
# ---------------------------------------------------------------------------------------------


def _traj(oracle, modules, n=12, x0=X0):
    opt = ns.Optimizer(copy.deepcopy(x0), *modules)
    xs, fs = [], []
    for _ in range(n):
        fs.append(opt.step(oracle))
        xs.append(opt.x.copy())
    return np.array(xs), np.array(fs), opt.num_evaluations


@pytest.mark.parametrize("make", [lambda: [ns.Momentum(0.9, nesterov=True), ns.LR(0.05)],
                                  lambda: [ns.Adam(lr=0.3)],
                                  lambda: [ns.Backtracking(init=4.0)]],
                         ids=["nesterov", "adam", "backtracking"])
def test_point_batched_jitted_identical(make):
    xp, fp, np_ = _traj(point, make())
    xb, fb, nb = _traj(batch, make())
    xj, fj, nj = _traj(jitted, make())
    assert xp.tobytes() == xb.tobytes() == xj.tobytes()
    assert fp.tobytes() == fb.tobytes() == fj.tobytes()
    assert np_ == nb == nj
    # and against the independent GD twin for a sanity anchor
    if isinstance(make()[0], ns.Backtracking):
        assert f_np(xp[-1]) < f_np(X0)


def test_jitted_oracle_with_list_of_arrays_sees_flat_vector():
    p0 = [X0[:4].reshape(2, 2).copy(), X0[4:].copy()]

    def fun(p):
        flat = np.concatenate([p[0].ravel(), p[1]])
        g = g_np(flat)
        return f_np(flat), [g[:4].reshape(2, 2), g[4:]]

    a = ns.minimize(fun, p0, ns.LR(0.1), maxiter=5)
    b = ns.minimize(jitted, p0, ns.LR(0.1), maxiter=5)
    xs, _ = gd_twin(0.1, 5)
    for r in (a, b):
        assert isinstance(r.x, list) and [q.shape for q in r.x] == [(2, 2), (3,)]
        assert_allclose(np.concatenate([r.x[0].ravel(), r.x[1]]), xs[-1], rtol=1e-15)
    assert a.fun == b.fun and a.nfev == b.nfev


def test_batched_oracle_receives_rows():
    shapes = []

    @ns.batched
    def fun(X):
        shapes.append(X.shape)
        return batch(X)

    ns.minimize(fun, X0.reshape(7, 1).copy(), ns.LR(0.1), maxiter=2)
    assert shapes and all(s == (1, 7) for s in shapes)


# ---------------------------------------------------------------------------------------------
# bad x0
# ---------------------------------------------------------------------------------------------


BAD_X0 = [
    (np.array([1.0 + 1j, 2.0]), TypeError, r"^x0 must"),
    ([1 + 2j], TypeError, r"^x0 must"),
    ("abc", TypeError, r"^x0 must"),
    (["a", "b"], TypeError, r"^x0 must"),
    ([], ValueError, r"^x0 must have at least one element"),
    (np.zeros((0, 3)), ValueError, r"^x0 must have at least one element"),
    ([1.0, math.nan], ValueError, r"^x0 must be finite"),
    (np.array([1.0, math.inf]), ValueError, r"^x0 must be finite"),
    (None, TypeError, r"^x0 must"),
    ([True, False], TypeError, r"^x0 must"),
    (np.array(["1.0"]), TypeError, r"^x0 must"),
    (np.zeros(2, dtype=object), TypeError, r"^x0 must"),
    ([np.zeros(2), np.zeros(2, dtype=complex)], TypeError, r"^x0\[1\] must"),
    ([np.zeros(2), np.zeros(0)], ValueError, r"^x0\[1\] must have at least one element"),
    ([np.zeros(2), np.array([math.nan])], ValueError, r"^x0\[1\] must be finite"),
]


@pytest.mark.parametrize("x0, exc, match", BAD_X0, ids=[f"bad{i}" for i in range(len(BAD_X0))])
def test_bad_x0(x0, exc, match):
    with pytest.raises(exc, match=match):
        ns.Optimizer(x0, ns.LR(0.1))
    with pytest.raises(exc, match=match):
        ns.minimize(point, x0, ns.LR(0.1), maxiter=1)


def test_scalar_x0_is_one_parameter():
    opt = ns.Optimizer(2.0, ns.LR(0.25))
    assert opt.x.shape == (1,) or opt.x.shape == ()
    seen = []

    def fun(x):
        seen.append(np.shape(x))
        return float(x * x), 2 * x

    opt.step(fun)
    assert_allclose(opt.x, 1.0)


# ---------------------------------------------------------------------------------------------
# saving and resuming
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["state_dict", "pickle"])
def test_optimizer_resume_bitwise(via):
    def make():
        return ns.Optimizer([X0[:3].copy(), X0[3:].reshape(2, 2).copy()],
                            ns.Momentum(0.8, nesterov=True), ns.Adam(lr=0.2), ns.Backtracking(init=2.0))

    def fun(p):
        flat = np.concatenate([p[0], p[1].ravel()])
        g = g_np(flat)
        return f_np(flat), [g[:3], g[3:].reshape(2, 2)]

    opt = make()
    for _ in range(4):
        opt.step(fun)
    if via == "state_dict":
        sd = opt.state_dict()
        for _ in range(4):
            opt.step(fun)
        other = make()
        other.load_state_dict(sd)
    else:
        blob = pickle.dumps(opt)
        for _ in range(4):
            opt.step(fun)
        other = pickle.loads(blob)
    for _ in range(4):
        other.step(fun)
    assert other.x.tobytes() == opt.x.tobytes()
    assert other.num_evaluations == opt.num_evaluations
    assert other.num_steps == opt.num_steps == 8


def test_optimizer_load_mismatch_rejected_and_state_kept():
    src = ns.Optimizer(X0.copy(), ns.Momentum(0.9), ns.Adam(eps=1e-8))
    src.step(point)
    dst = ns.Optimizer(X0.copy(), ns.Momentum(0.9), ns.Adam(eps=1e-6))
    dst.step(point)
    dst.step(point)
    x_before, st = dst.x.copy(), _state(dst)
    # Momentum's state loads, then Adam's config differs: nothing may be changed
    with pytest.raises(ValueError, match="configuration"):
        dst.load_state_dict(src.state_dict())
    assert dst.x.tobytes() == x_before.tobytes()
    _assert_states_equal(_state(dst), st)
    with pytest.raises(ValueError, match=r"state has parameters one array of shape \(7,\); this optimizer has "
                                         r"one array of shape \(3,\)$"):
        ns.Optimizer(np.zeros(3), ns.Momentum(0.9), ns.Adam()).load_state_dict(src.state_dict())
    with pytest.raises(ValueError, match="modules"):
        ns.Optimizer(X0.copy(), ns.Momentum(0.9)).load_state_dict(src.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        ns.Optimizer(X0.copy()).load_state_dict({"x": X0})


def test_minimize_is_repeatable_with_the_same_module_and_criterion_objects():
    # minimize(fun, x0, *modules) is a fresh run from x0: state left in the module objects by an
    # earlier run (Momentum's buffer, a criterion's step counter) must not leak into it.
    mom, crit = ns.Momentum(0.9), ns.TerminateAfterNSteps(3)
    first = ns.minimize(point, X0.copy(), mom, ns.LR(0.05), maxiter=10, termination=crit)
    second = ns.minimize(point, X0.copy(), mom, ns.LR(0.05), maxiter=10, termination=crit)
    fresh = ns.minimize(point, X0.copy(), ns.Momentum(0.9), ns.LR(0.05), maxiter=10,
                        termination=ns.TerminateAfterNSteps(3))
    assert first.nit == fresh.nit == 3
    assert second.nit == fresh.nit
    assert_array_equal(second.x, fresh.x)


def test_load_says_list_of_one_array_or_single_array():
    listed = ns.Optimizer([np.ones(6)], ns.LR(0.1)).state_dict()
    single = ns.Optimizer(np.ones(6), ns.LR(0.1))
    with pytest.raises(ValueError, match=r"^state has parameters a list of 1 array of shapes \[\(6,\)\]; "
                                         r"this optimizer has one array of shape \(6,\)$"):
        single.load_state_dict(listed)
    with pytest.raises(ValueError, match=r"^state has parameters one array of shape \(6,\); this optimizer "
                                         r"has a list of 1 array of shapes \[\(6,\)\]$"):
        ns.Optimizer([np.ones(6)], ns.LR(0.1)).load_state_dict(single.state_dict())


@pytest.mark.parametrize("x0", [[[1.0, 2.0], [3.0]], [1.0, [2.0, 3.0]]])
def test_ragged_x0_names_x0(x0):
    with pytest.raises(ValueError, match=r"^x0 must be a rectangular array of floats; got a ragged list"):
        ns.Optimizer(x0, ns.LR(0.1))


@pytest.mark.parametrize("bad", [lambda: 0.1, lambda step, total: 0.1])
def test_schedule_that_cannot_take_the_step_is_refused_when_set(bad):
    with pytest.raises(TypeError, match=r"^LR: lr must be a number or a schedule, a callable step -> value; "
                                        r"got <function .*, which cannot be called with one argument"):
        ns.LR(bad)
    lr = ns.LR(0.1)
    with pytest.raises(TypeError, match="^LR: lr must be a number or a schedule"):
        lr.lr = bad
    assert lr.lr == 0.1  # unchanged
    assert ns.LR(lambda step, total=10: 0.1 / (1 + step)).hyper("lr") == 0.1  # defaults are fine


def _overlapping_pairs(arrays):
    """Every pair (i, j), i < j, of arrays that share memory (brute force)."""
    return [(i, j) for i in range(len(arrays)) for j in range(i + 1, len(arrays))
            if np.shares_memory(arrays[i], arrays[j])]


def test_inplace_refuses_the_same_array_twice():
    v = np.ones(4)
    with pytest.raises(ValueError, match=r"^inplace=True needs parameters that do not share memory; x0\[0\] "
                                         r"and x0\[1\] are the same array"):
        ns.Optimizer([v, v], ns.LR(0.1), inplace=True)
    assert np.array_equal(v, np.ones(4))


@pytest.mark.parametrize("seed", range(40))
def test_inplace_refuses_overlapping_views_and_names_a_pair(seed):
    rng = np.random.default_rng(seed)
    flat = np.zeros(40)
    others = [np.ones(3), np.ones((2, 2))]
    arrays = list(others)
    for _ in range(rng.integers(2, 6)):
        lo = int(rng.integers(0, 35))
        arrays.append(flat[lo:lo + int(rng.integers(1, 6))])
    order = rng.permutation(len(arrays))
    arrays = [arrays[k] for k in order]
    pairs = _overlapping_pairs(arrays)
    if not pairs:
        ns.Optimizer(arrays, ns.LR(0.1), inplace=True)
        return
    with pytest.raises(ValueError, match="do not share memory") as info:
        ns.Optimizer(arrays, ns.LR(0.1), inplace=True)
    i, j = map(int, __import__("re").findall(r"x0\[(\d+)\]", str(info.value)))
    assert (i, j) in pairs


def test_inplace_accepts_adjacent_views():
    W, b, c = ns.flat_params([np.ones((2, 3)), np.zeros(2), np.zeros(1)])
    opt = ns.Optimizer([c, W, b], ns.LR(0.5), inplace=True)  # adjacent, out of order: no overlap
    opt.step(lambda p: (0.0, [np.ones(1), np.ones((2, 3)), np.ones(2)]))
    assert np.array_equal(W, np.full((2, 3), 0.5)) and np.array_equal(b, [-0.5, -0.5])
