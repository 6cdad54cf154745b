"""Tests of numsmooth.modules: LR, Momentum, Adam, Backtracking, chains, reset and state.

Every trajectory is compared with a hand-written NumPy twin of the update rule (torch.optim
conventions), never with numbers produced by the code under test.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import numsmooth as ns
from numsmooth.modules import Module, run_chain

# ---------------------------------------------------------------------------------------------
# a non-diagonal convex quadratic f(x) = 0.5 x'Qx - b'x
# ---------------------------------------------------------------------------------------------

_rng = np.random.default_rng(1234)
_M = _rng.standard_normal((6, 6))
Q = _M @ _M.T + 0.5 * np.eye(6)
B = _rng.standard_normal(6)
X0 = _rng.standard_normal(6) * 3.0
NSTEPS = 20


def f_np(x):
    return 0.5 * x @ Q @ x - B @ x


def g_np(x):
    return Q @ x - B


def fun(x):
    return float(f_np(x)), g_np(x)


def run(modules, nsteps=NSTEPS, x0=X0, oracle=fun):
    opt = ns.Optimizer(x0.copy(), *modules)
    xs, fs = [opt.x.copy()], []
    for _ in range(nsteps):
        fs.append(opt.step(oracle))
        xs.append(opt.x.copy())
    return np.array(xs), np.array(fs), opt


def close(a, b):
    assert_allclose(a, b, rtol=1e-14, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# twins
# ---------------------------------------------------------------------------------------------


def twin_lr(lr, x0=X0, n=NSTEPS):
    x, xs, fs = x0.copy(), [x0.copy()], []
    for _ in range(n):
        fs.append(f_np(x))
        x = x - lr * g_np(x)
        xs.append(x)
    return np.array(xs), np.array(fs)


def twin_momentum(beta, lr, nesterov, lr_first=False, x0=X0, n=NSTEPS):
    """torch.optim.SGD momentum: buf = beta*buf + g (buf = g first); d = buf or g + beta*buf."""
    x, xs, fs, buf = x0.copy(), [x0.copy()], [], None
    for _ in range(n):
        fs.append(f_np(x))
        g = g_np(x)
        if lr_first:
            g = lr * g
        buf = g.copy() if buf is None else beta * buf + g
        d = g + beta * buf if nesterov else buf
        if not lr_first:
            d = lr * d
        x = x - d
        xs.append(x)
    return np.array(xs), np.array(fs)


def twin_adam(lr, b1, b2, eps, x0=X0, n=NSTEPS):
    x, xs, fs = x0.copy(), [x0.copy()], []
    m = np.zeros_like(x0)
    v = np.zeros_like(x0)
    for t in range(1, n + 1):
        fs.append(f_np(x))
        g = g_np(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh = m / (1 - b1**t)
        vh = v / (1 - b2**t)
        x = x - lr * mh / (np.sqrt(vh) + eps)
        xs.append(x)
    return np.array(xs), np.array(fs)


def backtrack_np(f, x, g, d, init, beta, c, maxiter):
    """Armijo backtracking as specified: first t in init*beta^k with f(x-td) <= f0 - c t g.d;
    otherwise the lowest trial if it decreased f, else 0. Returns (t, n_trials)."""
    f0 = f(x)
    slope = g @ d
    best_t, best_f = 0.0, f0
    for k in range(maxiter):
        t = init * beta**k
        ft = f(x - t * d)
        if ft <= f0 - c * t * slope:
            return t, k + 1
        if ft < best_f:
            best_t, best_f = t, ft
    return best_t, maxiter


# ---------------------------------------------------------------------------------------------
# LR, Momentum, Adam vs twins
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lr", [0.01, 0.05])
def test_lr_matches_gd(lr):
    xs, fs, _ = run([ns.LR(lr)])
    rx, rf = twin_lr(lr)
    close(xs, rx)
    close(fs, rf)


def test_no_module_is_plain_gradient_step():
    xs, _, _ = run([], nsteps=3, x0=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * 0.0 + 1.0,
                   oracle=lambda x: (float(x @ x), 0.25 * x))
    assert_allclose(xs[-1], 0.75**3 * np.ones(6), rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_momentum_then_lr_matches_twin(beta, nesterov):
    xs, fs, _ = run([ns.Momentum(beta, nesterov=nesterov), ns.LR(0.02)])
    rx, rf = twin_momentum(beta, 0.02, nesterov)
    close(xs, rx)
    close(fs, rf)
    # momentum must actually change the trajectory (so the test would catch a no-op)
    if beta > 0:
        assert np.max(np.abs(xs - twin_lr(0.02)[0])) > 1e-3


@pytest.mark.parametrize("nesterov", [False, True])
def test_lr_then_momentum_matches_twin(nesterov):
    xs, fs, _ = run([ns.LR(0.02), ns.Momentum(0.8, nesterov=nesterov)])
    rx, rf = twin_momentum(0.8, 0.02, nesterov, lr_first=True)
    close(xs, rx)
    close(fs, rf)


def test_nesterov_differs_from_heavy_ball():
    a, _, _ = run([ns.Momentum(0.9), ns.LR(0.02)], nsteps=3)
    b, _, _ = run([ns.Momentum(0.9, nesterov=True), ns.LR(0.02)], nsteps=3)
    assert np.max(np.abs(a - b)) > 1e-3


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.1, (0.5, 0.9), 1e-3),
                                            (0.05, (0.0, 0.0), 0.0)])
def test_adam_matches_twin(lr, betas, eps):
    xs, fs, opt = run([ns.Adam(lr=lr, betas=betas, eps=eps)])
    rx, rf = twin_adam(lr, betas[0], betas[1], eps)
    close(xs, rx)
    close(fs, rf)


def test_adam_defaults():
    a = ns.Adam()
    assert (a.lr, tuple(a.betas), a.eps) == (1e-3, (0.9, 0.999), 1e-8)
    m = ns.Momentum()
    assert (m.beta, m.nesterov) == (0.9, False)
    bt = ns.Backtracking()
    assert (bt.init, bt.beta, bt.c, bt.maxiter) == (1.0, 0.5, 1e-4, 20)


def test_adam_first_step_is_lr_times_sign():
    # bias correction: first Adam step with eps=0 is lr * sign(g)
    opt = ns.Optimizer(X0.copy(), ns.Adam(lr=0.1, eps=0.0))
    opt.step(fun)
    assert_allclose(X0 - opt.x, 0.1 * np.sign(g_np(X0)), rtol=1e-14)


# -- float32: torch.optim's operations, in float32 -------------------------------------------------
F32 = np.float32


def fma32(a, b, c):
    """``a * b + c`` rounded once to float32 (the float64 product of two float32 is exact; the
    float64 sum is rounded to float32 right after, which is the fused result but in double
    roundings rarer than 1 in 2**29)."""
    return (np.float64(a) * np.float64(b) + np.float64(c)).astype(F32)


def torch_lerp32(start, end, weight):
    """torch's float32 lerp on CPU (ATen's lerp_vec): fma from the nearer end."""
    w = F32(weight)
    if abs(w) < 0.5:
        return fma32(w, end - start, start)
    return fma32(w - F32(1), end - start, end)


def twin_adam32(lr, b1, b2, eps, x0, n=NSTEPS):
    """torch.optim.Adam's _single_tensor_adam in float32, with a correctly rounded sqrt."""
    x = x0.astype(F32)
    m, v, xs = np.zeros_like(x), np.zeros_like(x), [x.copy()]
    for t in range(1, n + 1):
        g = g_np(x.astype(np.float64)).astype(F32)
        m = torch_lerp32(m, g, 1 - b1)
        v = fma32(F32(1 - b2) * g, g, v * F32(b2))
        step_size = lr / (1 - b1 ** float(t))
        denom = np.sqrt(v) / F32((1 - b2 ** float(t)) ** 0.5) + F32(eps)
        x = x + (F32(-step_size) * m) / denom
        assert x.dtype == F32
        xs.append(x.copy())
    return np.array(xs)


def twin_sgd32(lr, momentum, weight_decay, nesterov, x0, n=NSTEPS):
    """torch.optim.SGD's _single_tensor_sgd in float32: the points, and the directions."""
    x, buf, xs = x0.astype(F32), None, []
    for _ in range(n):
        g = g_np(x.astype(np.float64)).astype(F32)
        g = fma32(x, F32(weight_decay), g)
        buf = g.copy() if buf is None else buf * F32(momentum) + g
        d = fma32(buf, F32(momentum), g) if nesterov else buf
        xs.append((x, d))
        x = fma32(d, F32(-lr), x)  # x.add_(d, alpha=-lr)
    return xs


def fun32(x):
    return float(f_np(x.astype(np.float64))), g_np(x.astype(np.float64)).astype(F32)


@pytest.mark.parametrize("lr, betas, eps", [(1e-2, (0.9, 0.999), 1e-8), (0.1, (0.3, 0.9), 1e-3)])
def test_adam_float32_is_torch_adam_in_float32(lr, betas, eps):
    """float32 parameters: Adam's update is torch's float32 arithmetic bit for bit (its own sqrt
    correctly rounded), including the lerp from the far end when 1 - beta1 >= 0.5."""
    x0 = X0.astype(F32)
    opt = ns.Optimizer(x0.copy(), ns.Adam(lr, betas=betas, eps=eps), inplace=True)
    xs = [opt.x.copy()]
    for _ in range(NSTEPS):
        opt.step(fun32)
        xs.append(opt.x.copy())
    assert opt.x.dtype == F32 and opt.modules[0].state["v"].dtype == F32
    assert_array_equal(np.array(xs), twin_adam32(lr, betas[0], betas[1], eps, x0))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_weight_decay_float32_are_torch_sgd_in_float32(nesterov):
    x0 = X0.astype(F32)
    opt = ns.Optimizer(x0.copy(), ns.WeightDecay(1e-2), ns.Momentum(0.9, nesterov=nesterov), ns.LR(0.02),
                       inplace=True)
    for x, _ in twin_sgd32(0.02, 0.9, 1e-2, nesterov, x0):
        assert_array_equal(opt.x, x)
        opt.step(fun32)
        assert opt.x.dtype == F32 and opt.modules[1].state["buf"].dtype == F32
    assert np.max(np.abs(opt.x - x0)) > 0.1


# ---------------------------------------------------------------------------------------------
# Backtracking
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init, beta, c, maxiter", [(1.0, 0.5, 1e-4, 20), (3.0, 0.3, 0.4, 30),
                                                    (1.0, 0.7, 0.9, 40)])
def test_backtracking_armijo_and_twin(init, beta, c, maxiter):
    calls = {"n": 0}

    def counted(x):
        calls["n"] += 1
        return fun(x)

    bt = ns.Backtracking(init=init, beta=beta, c=c, maxiter=maxiter)
    opt = ns.Optimizer(X0.copy(), bt)
    x_ref = X0.copy()
    trials = []
    for _ in range(NSTEPS):
        x = opt.x.copy()
        calls["n"] = 0
        ev0 = opt.num_evaluations
        loss = opt.step(counted)
        x_new = opt.x.copy()
        g = g_np(x)
        # independent check of the accepted step: Armijo with the step length the module reports
        t = bt.state["last_step"]
        assert t > 0
        assert_allclose(x_new, x - t * g, rtol=1e-14, atol=1e-15)
        assert f_np(x_new) <= f_np(x) - c * t * (g @ g) + 1e-12 * abs(f_np(x))
        # it is the first acceptable trial: t/beta (the previous trial) was not acceptable
        if t < init:
            tp = t / beta
            assert f_np(x - tp * g) > f_np(x) - c * tp * (g @ g)
        # and the twin picks the same step with the same number of evaluations
        t_ref, n_trials = backtrack_np(f_np, x_ref, g_np(x_ref), g_np(x_ref), init, beta, c, maxiter)
        trials.append(n_trials)
        assert_allclose(t, t_ref, rtol=1e-15)
        assert_allclose(loss, f_np(x_ref), rtol=1e-14)
        x_ref = x_ref - t_ref * g_np(x_ref)
        close(x_new, x_ref)
        assert calls["n"] == 1 + n_trials == opt.num_evaluations - ev0
    assert max(trials) > 1  # backtracking really happened
    assert f_np(opt.x) < f_np(X0)


def test_backtracking_fallback_best_decreasing_trial():
    # f = x^2 at x = 1, d = g = 2; c = 0.9 rejects t = 1 (f=1), 0.5 (f=0), 0.25 (f=.25):
    # with maxiter = 3 the lowest trial that decreased f is t = 0.5 -> x = 0
    bt = ns.Backtracking(init=1.0, beta=0.5, c=0.9, maxiter=3)
    opt = ns.Optimizer(np.array([1.0]), bt)
    opt.step(lambda x: (float(x[0] ** 2), 2 * x))
    assert bt.state["last_step"] == 0.5
    assert_array_equal(opt.x, [0.0])
    assert opt.num_evaluations == 4


def test_backtracking_no_decrease_gives_zero_step():
    # the oracle's gradient points uphill: every trial increases f -> the step is zero
    bt = ns.Backtracking(maxiter=5)
    opt = ns.Optimizer(np.array([1.0, -1.0]), bt)
    loss = opt.step(lambda x: (float(x @ x), -2 * x))
    assert bt.state["last_step"] == 0.0
    assert_array_equal(opt.x, [1.0, -1.0])
    assert loss == 2.0
    assert opt.num_evaluations == 6


def test_momentum_then_backtracking_chain_matches_twin():
    beta, init, bb, c = 0.7, 0.5, 0.5, 1e-4
    xs, fs, opt = run([ns.Momentum(beta, nesterov=True), ns.Backtracking(init=init, beta=bb, c=c)])
    x, buf = X0.copy(), None
    for k in range(NSTEPS):
        close(xs[k], x)
        g = g_np(x)
        buf = g.copy() if buf is None else beta * buf + g
        d = g + beta * buf
        t, _ = backtrack_np(f_np, x, g, d, init, bb, c, 20)
        x = x - t * d
    close(xs[-1], x)


def test_adam_then_backtracking_uses_adam_direction():
    lr = 0.3
    xs, _, _ = run([ns.Adam(lr=lr, betas=(0.5, 0.9), eps=1e-8), ns.Backtracking(init=1.0, c=0.1)], nsteps=10)
    x, m, v = X0.copy(), np.zeros(6), np.zeros(6)
    for t in range(1, 11):
        g = g_np(x)
        m = 0.5 * m + 0.5 * g
        v = 0.9 * v + 0.1 * g * g
        d = lr * (m / (1 - 0.5**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-8)
        s, _ = backtrack_np(f_np, x, g, d, 1.0, 0.5, 0.1, 20)
        x = x - s * d
        close(xs[t], x)


# ---------------------------------------------------------------------------------------------
# chains and run_chain
# ---------------------------------------------------------------------------------------------


def test_nested_module_lists_are_flattened():
    a, _, _ = run([ns.Momentum(0.5), ns.LR(0.02)], nsteps=5)
    opt = ns.Optimizer(X0.copy(), [ns.Momentum(0.5), [ns.LR(0.02)]])
    for _ in range(5):
        opt.step(fun)
    assert_array_equal(opt.x, a[-1])


class Scale(Module):
    """A user-defined module: multiplies the update by a constant."""

    def __init__(self, s):
        super().__init__()
        self.s = s

    def step(self, objective):
        objective.get_update()[...] *= self.s
        return objective


class FlagResetAt(Module):
    """Asks for the modules after it to be reset on its k-th step."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def step(self, objective):
        n = self.state["n"] = self.state.get("n", 0) + 1
        if n == self.k:
            objective.reset_following = True
        return objective


def test_user_module_in_chain():
    xs, _, _ = run([Scale(0.5), ns.LR(0.04)])
    rx, _ = twin_lr(0.02)
    close(xs, rx)


def test_reset_following_resets_later_modules():
    beta, lr, k = 0.9, 0.02, 4
    xs, _, _ = run([FlagResetAt(k), ns.Momentum(beta), ns.LR(lr)], nsteps=8)
    x, buf = X0.copy(), None
    for step in range(1, 9):
        g = g_np(x)
        if step == k:
            buf = None  # Momentum forgotten before it runs on step k
        buf = g.copy() if buf is None else beta * buf + g
        x = x - lr * buf
        close(xs[step], x)


def test_run_chain_direct():
    from numsmooth.objective import Objective

    class Orc:
        num_evaluations = 0

        def evaluate(self, x):
            return float(x @ x), 2 * x

        def value(self, x):
            return float(x @ x)

    x = np.array([1.0, 2.0])
    obj = Objective(x, Orc(), layout=None)
    out = run_chain([ns.LR(0.25), Scale(2.0)], obj)
    assert_allclose(out.update, 2 * 0.25 * 2 * x, rtol=1e-15)
    assert_array_equal(x, [1.0, 2.0])  # modules do not touch x


# ---------------------------------------------------------------------------------------------
# reset and state
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: ns.Momentum(0.9), lambda: ns.Momentum(0.9, nesterov=True),
                                  lambda: ns.Adam(lr=0.05)], ids=["hb", "nesterov", "adam"])
def test_reset_clears_state(make):
    m = make()
    opt = ns.Optimizer(X0.copy(), m, ns.LR(0.1) if isinstance(m, ns.Momentum) else [])
    for _ in range(3):
        opt.step(fun)
    assert m.state
    x_mid = opt.x.copy()
    m.reset()
    # reset forgets buffers and counters; settable hyperparameters (saved in the state) stay
    assert set(m.state) == set(type(m).hyperparameters())
    opt.step(fun)
    # after reset the step equals the first step of a fresh module from the same point
    fresh = ns.Optimizer(x_mid, make(), ns.LR(0.1) if isinstance(m, ns.Momentum) else [])
    fresh.step(fun)
    assert_array_equal(opt.x, fresh.x)


def test_backtracking_reset():
    bt = ns.Backtracking()
    ns.Optimizer(X0.copy(), bt).step(fun)
    assert "last_step" in bt.state
    bt.reset()
    assert bt.state == {"init": 1.0}


@pytest.mark.parametrize("make", [lambda: [ns.Momentum(0.9), ns.LR(0.02)],
                                  lambda: [ns.Momentum(0.8, nesterov=True), ns.LR(0.02)],
                                  lambda: [ns.Adam(lr=0.05, betas=(0.8, 0.99))],
                                  lambda: [ns.Momentum(0.5), ns.Backtracking(init=0.5)]],
                         ids=["hb", "nesterov", "adam", "mom-bt"])
def test_module_state_roundtrip_resumes_bitwise(make):
    mods = make()
    opt = ns.Optimizer(X0.copy(), *mods)
    for _ in range(5):
        opt.step(fun)
    saved = [m.state_dict() for m in mods]
    x_saved = opt.x.copy()
    for _ in range(5):
        opt.step(fun)
    # state_dict is a deep copy: later steps did not change it
    mods2 = make()
    for m, s in zip(mods2, saved):
        m.load_state_dict(pickle.loads(pickle.dumps(s)))
    opt2 = ns.Optimizer(x_saved, *mods2)
    for _ in range(5):
        opt2.step(fun)
    assert_array_equal(opt2.x, opt.x)


def test_loaded_state_is_not_aliased():
    a = ns.Momentum(0.9)
    ns.Optimizer(X0.copy(), a).step(fun)
    sd = a.state_dict()
    b = ns.Momentum(0.9)
    b.load_state_dict(sd)
    b.state["buf"][0] += 1.0
    assert sd["state"]["buf"][0] != b.state["buf"][0]
    assert a.state["buf"][0] == sd["state"]["buf"][0]


@pytest.mark.parametrize("src, dst, match", [
    (lambda: ns.Momentum(0.9), lambda: ns.Momentum(0.9, nesterov=True), "configuration"),
    (lambda: ns.Adam(eps=1e-8), lambda: ns.Adam(eps=1e-6), "configuration"),
    (lambda: ns.Adam(betas=(0.9, 0.999)), lambda: ns.Adam(betas=(0.9, 0.99)), "configuration"),
    (lambda: ns.Backtracking(c=0.1), lambda: ns.Backtracking(c=0.2), "configuration"),
    (lambda: ns.LaplacianSmoothing(1.0), lambda: ns.LaplacianSmoothing(1.0, min_numel=2), "configuration"),
    (lambda: ns.Momentum(0.9), lambda: ns.Adam(), "Momentum"),
])
def test_mismatched_state_rejected(src, dst, match):
    a = src()
    opt = ns.Optimizer(X0.copy(), a)
    opt.step(fun)
    b = dst()
    before = copy.deepcopy(b.state)
    with pytest.raises(ValueError, match=match):
        b.load_state_dict(a.state_dict())
    assert b.state == before


def test_state_dict_of_wrong_kind_rejected():
    with pytest.raises(TypeError, match="state"):
        ns.Momentum().load_state_dict([1, 2, 3])


# ---------------------------------------------------------------------------------------------
# bad hyperparameters
# ---------------------------------------------------------------------------------------------


BAD = [
    (lambda: ns.LR(-1e-300), ValueError, r"^lr must"),
    (lambda: ns.LR(-0.1), ValueError, r"^lr must"),
    (lambda: ns.LR(float("nan")), ValueError, r"^lr must"),
    (lambda: ns.LR(float("inf")), ValueError, r"^lr must"),
    (lambda: ns.LR("0.1"), TypeError, r"^lr must"),
    (lambda: ns.LR(True), TypeError, r"^lr must"),
    (lambda: ns.LR(None), TypeError, r"^lr must"),
    (lambda: ns.Momentum(1.0), ValueError, r"^beta must"),
    (lambda: ns.Momentum(-0.1), ValueError, r"^beta must"),
    (lambda: ns.Momentum("0.9"), TypeError, r"^beta must"),
    (lambda: ns.Momentum(0.9, nesterov=1), TypeError, r"^nesterov must"),
    (lambda: ns.Momentum(0.9, nesterov="yes"), TypeError, r"^nesterov must"),
    (lambda: ns.Adam(lr=-1e-300), ValueError, r"^lr must"),
    (lambda: ns.Adam(lr=-1.0), ValueError, r"^lr must"),
    (lambda: ns.Adam(betas=(0.9,)), ValueError, r"^betas must"),
    (lambda: ns.Adam(betas=0.9), ValueError, r"^betas must"),
    (lambda: ns.Adam(betas=(1.0, 0.999)), ValueError, r"^betas\[0\] must"),
    (lambda: ns.Adam(betas=(0.9, 1.0)), ValueError, r"^betas\[1\] must"),
    (lambda: ns.Adam(betas=(0.9, -0.1)), ValueError, r"^betas\[1\] must"),
    (lambda: ns.Adam(eps=-1e-8), ValueError, r"^eps must"),
    (lambda: ns.Adam(eps=float("nan")), ValueError, r"^eps must"),
    (lambda: ns.Backtracking(init=0.0), ValueError, r"^init must"),
    (lambda: ns.Backtracking(init=-1.0), ValueError, r"^init must"),
    (lambda: ns.Backtracking(beta=0.0), ValueError, r"^beta must"),
    (lambda: ns.Backtracking(beta=1.0), ValueError, r"^beta must"),
    (lambda: ns.Backtracking(c=1.0), ValueError, r"^c must"),
    (lambda: ns.Backtracking(c=-0.1), ValueError, r"^c must"),
    (lambda: ns.Backtracking(maxiter=0), ValueError, r"^maxiter must"),
    (lambda: ns.Backtracking(maxiter=2.5), TypeError, r"^maxiter must"),
    (lambda: ns.Optimizer(X0, "LR"), TypeError, r"modules"),
    (lambda: ns.Optimizer(X0, ns.LR(0.1), [ns.LR(0.1), 3]), TypeError, r"modules"),
]


@pytest.mark.parametrize("make, exc, match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_hyperparameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_value_is_repeated_in_message():
    with pytest.raises(ValueError, match=r"-0\.25"):
        ns.LR(-0.25)


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(0.0, 0.99), lr=st.floats(1e-4, 0.05), nesterov=st.booleans(),
       b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.999), k=st.integers(1, 6), rest=st.integers(1, 6))
def test_state_roundtrip_property(beta, lr, nesterov, b1, b2, k, rest):
    def make():
        return [ns.Momentum(beta, nesterov=nesterov), ns.Adam(lr=lr, betas=(b1, b2)), ns.LR(0.5)]

    mods = make()
    opt = ns.Optimizer(X0.copy(), *mods)
    for _ in range(k):
        opt.step(fun)
    saved, x_saved = [m.state_dict() for m in mods], opt.x.copy()
    for _ in range(rest):
        opt.step(fun)
    mods2 = make()
    for m, s in zip(mods2, saved):
        m.load_state_dict(s)
    opt2 = ns.Optimizer(x_saved, *mods2)
    for _ in range(rest):
        opt2.step(fun)
    assert opt2.x.tobytes() == opt.x.tobytes()
