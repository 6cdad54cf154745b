"""``ns.minimize`` follows scipy where it can: args, tol, jac, njev, callbacks, disp; its history
says which value is which; progress is labelled and works off a terminal."""

import io
import math
import pickle

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import numsmooth as ns
from numsmooth import _progress

A = np.array([1.0, -2.0, 0.5])


def quad(x, a=A, scale=1.0):
    r = x - a
    return scale * float(r @ r), 2.0 * scale * r


def counting(fun):
    calls = {"n": 0}

    def f(x, *args):
        calls["n"] += 1
        return fun(x, *args)

    return f, calls


@numba.njit
def jquad(x, g):
    f = 0.0
    for i in range(x.size):
        g[i] = 2.0 * x[i]
        f += x[i] * x[i]
    return f


# -- args -----------------------------------------------------------------------------------

def test_args_are_passed_to_a_per_point_oracle():
    a = np.array([3.0, 4.0, 5.0])
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), args=(a, 2.0), maxiter=40)
    want = ns.minimize(lambda x: quad(x, a, 2.0), np.zeros(3), ns.LR(0.25), maxiter=40)
    assert_array_equal(res.x, want.x)
    assert res.fun == want.fun and res.nfev == want.nfev


def test_a_single_argument_need_not_be_a_tuple():
    a = np.array([3.0, 4.0, 5.0])
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.5), args=a, maxiter=1)
    assert_allclose(res.x, a)


def test_args_with_a_batched_oracle():
    @ns.batched
    def fb(X, c):
        return ((X - c) ** 2).sum(axis=1), 2 * (X - c)

    res = ns.minimize(fb, np.zeros(2), ns.LR(0.5), args=(7.0,), maxiter=1)
    assert_allclose(res.x, [7.0, 7.0])


@pytest.mark.skipif(numba.config.DISABLE_JIT,
                    reason="without the JIT a jitted oracle is a plain fun(x, g_out), like fun(x, arg)")
def test_args_with_a_jitted_oracle_is_a_clear_error():
    with pytest.raises(TypeError, match=r"args= cannot be used with a jitted oracle"):
        ns.minimize(jquad, np.ones(3), ns.LR(0.1), args=(1.0,))
    ns.minimize(jquad, np.ones(3), ns.LR(0.1), args=(), maxiter=1)  # empty args: fine


def test_bound_oracle_pickles_for_process_pools():
    from numsmooth.minimize import bind_args

    f = bind_args(quad, (A, 3.0))
    g = pickle.loads(pickle.dumps(f))
    assert g(np.zeros(3))[0] == quad(np.zeros(3), A, 3.0)[0]


def test_args_with_gradient_sampling_reaches_every_point():
    seen = []

    def fun(x, tag):
        seen.append(tag)
        return quad(x)

    ns.minimize(fun, np.zeros(3), ns.GradientSampling([ns.LR(0.1)], sigma=0.1, n=5, seed=0), args=("t",), maxiter=2)
    assert len(seen) >= 10 and set(seen) == {"t"}


# -- tol ------------------------------------------------------------------------------------

def test_tol_stops_on_the_gradient_norm():
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), tol=1e-6, maxiter=1000)
    assert res.status == 0 and res.success and "gradient norm" in res.message
    assert np.linalg.norm(res.jac) <= 1e-6
    # the first step at which ||g|| <= tol: ||g_k|| = 0.5^k ||g_0||
    g0 = 2 * np.linalg.norm(A)
    assert res.nit == math.ceil(math.log2(g0 / 1e-6))


def test_tol_stops_on_the_update_norm():
    # a nonsmooth |x|: the gradient never gets small, the steps do (Backtracking shrinks them)
    def absf(x):
        return float(np.abs(x).sum()), np.sign(x)

    res = ns.minimize(absf, np.array([0.3]), ns.Backtracking(), tol=1e-9, maxiter=500)
    assert res.status == 0 and "update norm" in res.message and res.nit < 500


def test_tol_combines_with_termination():
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), tol=1e-12, termination=ns.TerminateAfterNSteps(3))
    assert res.status == 0 and res.nit == 3 and "TerminateAfterNSteps" in res.message


# -- jac, nfev, njev ------------------------------------------------------------------------

def test_jac_is_the_gradient_at_x_from_one_final_evaluation():
    fun, calls = counting(quad)
    res = ns.minimize(fun, np.zeros(3), ns.LR(0.1), maxiter=5, certify=False)
    assert calls["n"] == res.nfev == res.njev == 6  # 5 steps + the final point, once
    assert_allclose(res.jac, quad(res.x)[1], rtol=1e-15)
    assert res.fun == quad(res.x)[0]


def test_jac_reuses_the_cached_evaluation_when_a_criterion_fired():
    fun, calls = counting(quad)
    res = ns.minimize(fun, np.zeros(3), ns.LR(0.25), termination=ns.TerminateByGradientNorm(1e-3, n=1))
    assert res.status == 0
    assert calls["n"] == res.nfev == res.nit + 1  # the criterion's evaluation is the final one
    assert_allclose(res.jac, quad(res.x)[1], rtol=1e-15)


def test_jac_after_a_sigma_min_stop_is_not_evaluated_twice():
    p = ns.problems.get("maxquad")
    fun, calls = counting(ns.problems.per_point(p))
    res = ns.minimize(fun, p.x0(), *ns.recipes.gradient_sampling(10, seed=0, sigma_min=1e-4), maxiter=1000)
    assert res.status == 4
    assert calls["n"] == res.nfev == res.njev
    assert_allclose(res.jac, p(res.x)[1], rtol=1e-15)


def test_jac_has_the_shapes_of_x0():
    p0 = [np.zeros(2), np.zeros((2, 2))]

    def fun(p):
        flat = np.concatenate([p[0], p[1].ravel()])
        return float(flat @ flat + flat.sum()), [2 * p[0] + 1, 2 * p[1] + 1]

    res = ns.minimize(fun, p0, ns.LR(0.1), maxiter=3)
    assert isinstance(res.jac, list) and [j.shape for j in res.jac] == [(2,), (2, 2)]


# -- callbacks ------------------------------------------------------------------------------

def test_old_style_callback_gets_xk():
    seen = []
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), maxiter=3, callback=lambda xk: seen.append(xk.copy()))
    assert len(seen) == 3 and res.status == 1
    assert_array_equal(seen[-1], res.x)


def test_intermediate_result_callback_fields():
    got = []

    def cb(intermediate_result):
        got.append(intermediate_result)

    ns.minimize(quad, np.zeros(3), ns.LR(0.25), maxiter=2, callback=cb)
    r = got[0]
    assert isinstance(r, ns.OptimizeResult)
    assert set(r) == {"x", "fun", "f_smoothed", "nit", "nfev"}
    assert r.fun == quad(np.zeros(3))[0] and r.nit == 1 and r.nfev == 1 and math.isnan(r.f_smoothed)


def test_callback_raising_stop_iteration_stops():
    def cb(xk):
        if np.linalg.norm(xk - A) < 1e-2:
            raise StopIteration

    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), maxiter=1000, callback=cb)
    # stopped 1e-2 from the minimum: stopped, not converged
    assert res.status == 2 and not res.success and "StopIteration" in res.message
    assert np.linalg.norm(res.x - A) < 1e-2 and res.nit < 20
    assert_allclose(res.jac, quad(res.x)[1])


def test_callback_returning_true_stops():
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), maxiter=1000,
                      callback=lambda intermediate_result: intermediate_result.nit == 4)
    assert res.status == 2 and res.nit == 4


def test_callback_returning_a_truthy_non_bool_does_not_stop():
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), maxiter=3, callback=lambda xk: xk)
    assert res.status == 1 and res.nit == 3


# -- disp -----------------------------------------------------------------------------------

@pytest.mark.parametrize("disp, rows", [(True, [0, 1, 2, 3, 4, 5, 6, 7]), (1, [0, 1, 2, 3, 4, 5, 6, 7]),
                                        (3, [0, 3, 6, 7])])
def test_disp_prints_an_iteration_table(capsys, disp, rows):
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=7, disp=disp)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["iter", "f", "|g|", "sigma", "nfev", "time", "[s]"]
    assert [int(line.split()[0]) for line in lines[1:-1]] == rows
    first = lines[1].split()
    assert float(first[1]) == pytest.approx(quad(np.zeros(3))[0])
    assert float(first[2]) == pytest.approx(np.linalg.norm(quad(np.zeros(3))[1]), rel=1e-3)
    assert first[3] == "nan" and first[4] == "1"
    last = lines[-2].split()
    assert float(last[1]) == pytest.approx(res.fun) and int(last[4]) == res.nfev
    assert lines[-1] == f"status 1: {res.message}"


def test_disp_false_prints_nothing(capsys):
    ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=3)
    assert capsys.readouterr().out == ""


# -- history --------------------------------------------------------------------------------

def test_history_f_is_the_true_value_and_smoothed_is_apart():
    p = ns.problems.get("rastrigin")
    res = ns.minimize(p.fun, np.full(4, 3.3), *ns.recipes.gaussian_homotopy(n=32, seed=0), maxiter=5)
    h = res.history
    assert all(math.isnan(f) for f in h["f"])  # include_x0=False: f(x) never evaluated
    assert all(math.isfinite(f) for f in h["f_smoothed"])
    # the smoothed value at x0 is not f(x0)
    assert h["f_smoothed"][0] != p(np.full(4, 3.3))[0]
    assert res.fun == p(res.x)[0]  # fun stays the true value


def test_history_with_include_x0_has_both():
    def fun(x):
        return float(x @ x), 2 * x

    gs = ns.GradientSampling([ns.LR(0.1)], sigma=0.5, n=8, seed=0, include_x0=True)
    res = ns.minimize(fun, np.ones(3), gs, maxiter=3)
    h = res.history
    assert h["f"][0] == 3.0
    assert math.isfinite(h["f_smoothed"][0]) and h["f_smoothed"][0] != 3.0


def test_history_nfev_counts_evaluations_after_each_step():
    fun, calls = counting(quad)
    seen = []
    res = ns.minimize(fun, np.zeros(3), ns.Backtracking(), maxiter=4, callback=lambda xk: seen.append(calls["n"]))
    assert res.history["nfev"] == seen
    assert res.nfev == seen[-1] + 1


def test_gradient_only_chains_have_nan_smoothed():
    res = ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=2)
    assert all(math.isnan(v) for v in res.history["f_smoothed"])


# -- progress -------------------------------------------------------------------------------

class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_logs_off_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", "0")
    ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=3, progress="my run")
    err = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in err] == ["my run: step 1/3", "my run: step 2/3", "my run: step 3/3"]
    assert "nfev = 3" in err[-1]


def test_progress_label_defaults_to_the_oracle_name(capsys, monkeypatch):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", "0")
    ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=1, progress=True)
    assert capsys.readouterr().err.startswith("quad: step 1/1")


def test_progress_interval_spaces_the_lines(capsys, monkeypatch):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", "3600")
    ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=50, progress=True)
    assert capsys.readouterr().err == ""


def test_progress_in_a_terminal_is_a_labelled_bar():
    pytest.importorskip("tqdm")
    stream = FakeTTY()
    bar = _progress.Progress(3, "rastrigin gd", stream=stream)
    for k in range(3):
        bar.update(k + 1, 1.0, k + 1)
    bar.close()
    assert "rastrigin gd" in stream.getvalue()


@pytest.mark.parametrize("raw", ["abc", "-1", "inf"])
def test_bad_progress_interval(monkeypatch, raw):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", raw)
    with pytest.raises(ValueError, match="NUMSMOOTH_PROGRESS_INTERVAL"):
        ns.minimize(quad, np.zeros(3), ns.LR(0.1), maxiter=1, progress=True)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles without the JIT")
def test_compile_notice_only_while_compiling(monkeypatch):
    monkeypatch.setattr(_progress.CompileNotice, "_printed", False)
    out = io.StringIO()
    with _progress.CompileNotice(stream=out, delay=0.0):
        pass  # nothing compiled: nothing said
    assert out.getvalue() == ""

    @numba.njit
    def fresh(x):  # a new function: Numba must compile it
        return x + 1.0

    with _progress.CompileNotice(stream=out, delay=0.0):
        fresh(1.0)
    assert out.getvalue() == _progress.COMPILE_MESSAGE + "\n"
    with _progress.CompileNotice(stream=out, delay=0.0):  # once per process
        numba.njit(lambda x: x - 1.0)(1.0)
    assert out.getvalue().count("compiling") == 1


def test_progress_says_when_the_value_is_smoothed(capsys, monkeypatch):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", "0")
    p = ns.problems.get("rastrigin")
    ns.minimize(p.fun, np.full(3, 3.3), *ns.recipes.gaussian_homotopy(n=8, seed=0), maxiter=2, progress="gh")
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("gh: step 2/2, f_smoothed = ")
