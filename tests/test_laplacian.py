"""Laplacian smoothing: ns.laplacian_smooth and ns.LaplacianSmoothing.

References used here, none of them numsmooth's own output:
- a dense solve with the N x N periodic Laplacian, in long double through the exact real Fourier
  eigenbasis (checked to diagonalise the dense L), and a plain float64 ``np.linalg.solve`` for
  well-conditioned integer powers;
- NumPy's long-double FFT, and the residual of the sparse tridiagonal system, for long lines;
- torchzero 0.4.4's numbers (tests/data/torchzero_laplacian.json).
"""

from __future__ import annotations

import functools
import json
import pathlib

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numsmooth as ns
from numsmooth import laplacian as lap_mod
from numsmooth._kernels import laplacian as lap_kernels
from numsmooth.laplacian import LaplacianSmoothing, laplacian_smooth

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "torchzero_laplacian.json").read_text())

NS = (1, 2, 3, 5, 7, 13, 16, 64, 97, 128, 1024)
SIGMAS = (0.0, 1e-6, 1e-3, 1.0, 1e3, 1e6)
ORDERS = (1, 2, 3)
POWERS = (1.0, 0.5, 2.5)
LD = np.longdouble


# ---------------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------------
def dense_laplacian(n: int, dtype=np.float64) -> np.ndarray:
    """The periodic 1-D Laplacian as a dense matrix: each node minus twice itself plus both
    neighbours (for n = 2 both neighbours are the other node; for n = 1 it is zero)."""
    L = np.zeros((n, n), dtype=dtype)
    for i in range(n):
        L[i, i] -= 2
        L[i, (i + 1) % n] += 1
        L[i, (i - 1) % n] += 1
    return L


@functools.lru_cache(maxsize=None)
def fourier_basis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal real eigenbasis ``Q`` of the periodic Laplacian and the eigenvalues ``mu`` of
    ``-L``, in long double (built from cos/sin, not from an eigensolver)."""
    pi = 4 * np.arctan(LD(1))
    j = np.arange(n)
    cols, mu = [np.full(n, 1 / np.sqrt(LD(n)))], [LD(0)]
    for k in range(1, (n - 1) // 2 + 1):
        ang = 2 * pi * ((k * j) % n).astype(LD) / n
        cols += [np.sqrt(LD(2) / n) * np.cos(ang), np.sqrt(LD(2) / n) * np.sin(ang)]
        mu += [4 * np.sin(pi * k / n) ** 2] * 2
    if n % 2 == 0:
        cols.append(np.where(j % 2 == 0, LD(1), LD(-1)) / np.sqrt(LD(n)))
        mu.append(LD(4))
    return np.stack(cols, axis=1), np.array(mu, dtype=LD)


def dense_solve(g: np.ndarray, sigma: float, order: int = 1, power: float = 1.0, axis: int = -1) -> np.ndarray:
    """``(I + sigma (-L)^order)^(-power) g`` along ``axis`` as a dense long-double matrix."""
    g = np.moveaxis(np.asarray(g, dtype=LD), axis, -1)
    n = g.shape[-1]
    Q, mu = fourier_basis(n)
    d = (1 + LD(sigma) * mu**order) ** (-LD(power))
    y = ((g @ Q) * d) @ Q.T  # = g @ M.T with the symmetric M = Q diag(d) Q^T, in O(N^2) per line
    return np.moveaxis(y, -1, axis)


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=LD)
    den = np.linalg.norm(np.asarray(ref, dtype=np.float64))
    num = np.linalg.norm(np.asarray(np.asarray(y, dtype=LD) - ref, dtype=np.float64))
    return float(num / den) if den > 0 else float(num)


def methods_for(order: int, power: float) -> tuple[str, ...]:
    return ("auto", "fft", "recursive") if (order == 1 and power == 1.0) else ("auto", "fft")


def torchzero_formula(x: np.ndarray, sigma: float) -> np.ndarray:
    """torchzero 0.4.4's kernel, ported: ifft(fft(x) / (1 - sigma fft(v))).real, v = [-2, 1, .., 1]."""
    v = np.zeros_like(x)
    v[0] = -2
    v[1] = 1
    v[-1] = 1
    return np.fft.ifft(np.fft.fft(x) / (1 - sigma * np.fft.fft(v))).real.astype(x.dtype)


def test_vector(n: int) -> np.ndarray:
    """The deterministic input of make_torchzero_reference.py."""
    i = np.arange(n, dtype=np.float64)
    return np.sin(0.9 * i) + 0.5 * np.cos(2.1 * i) + 0.25 * (-1.0) ** i


test_vector.__test__ = False  # not a test


# ---------------------------------------------------------------------------------------------
# the references themselves
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 8, 13])
def test_fourier_basis_diagonalises_dense_laplacian(n):
    Q, mu = fourier_basis(n)
    L = dense_laplacian(n, LD)
    np.testing.assert_allclose(np.asarray(Q.T @ Q, dtype=float), np.eye(n), atol=1e-15)
    np.testing.assert_allclose(np.asarray(Q.T @ (-L) @ Q, dtype=float), np.diag(np.asarray(mu, dtype=float)),
                               atol=1e-15)


def test_dense_laplacian_two_nodes():
    np.testing.assert_array_equal(dense_laplacian(2), [[-2.0, 2.0], [2.0, -2.0]])
    np.testing.assert_array_equal(dense_laplacian(1), [[0.0]])


# ---------------------------------------------------------------------------------------------
# accuracy against the dense solve
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("n", NS)
def test_against_dense_solve(n, sigma):
    rng = np.random.default_rng(1000 * n + int(np.log10(sigma) + 7 if sigma else 0))
    g = rng.standard_normal((3, n))
    g32 = g.astype(np.float32)
    worst = 0.0
    for order in ORDERS:
        for power in POWERS:
            ref = dense_solve(g, sigma, order, power)
            ref32 = dense_solve(g32, sigma, order, power)
            for method in methods_for(order, power):
                y = laplacian_smooth(g, sigma, order=order, power=power, method=method)
                assert y.dtype == np.float64 and y.shape == g.shape
                e = rel_err(y, ref)
                worst = max(worst, e)
                assert e <= 1e-12, (method, order, power, e)
                y32 = laplacian_smooth(g32, sigma, order=order, power=power, method=method)
                assert y32.dtype == np.float32
                e32 = rel_err(y32, ref32)
                assert e32 <= 1e-5, (method, order, power, e32)
    assert worst <= 1e-12


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("n", [2, 5, 16, 97])
def test_against_float64_linalg_solve(n, order):
    """Integer powers, moderate sigma: a plain dense solve with np.linalg.matrix_power."""
    rng = np.random.default_rng(n)
    g = rng.standard_normal(n)
    L = dense_laplacian(n)
    for sigma in (1e-3, 0.3, 5.0):
        A = np.eye(n) + sigma * np.linalg.matrix_power(-L, order)
        for power in (1, 2):
            if (1 + sigma * 4**order) ** power > 1e3:
                continue  # the float64 dense solve itself is not accurate to 1e-12 beyond that
            ref = np.linalg.solve(np.linalg.matrix_power(A, power), g)
            for method in methods_for(order, float(power)):
                y = laplacian_smooth(g, sigma, order=order, power=power, method=method)
                assert rel_err(y, ref) <= 1e-12


@pytest.mark.parametrize("method", ["fft", "recursive"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_axes_and_layouts(axis, method):
    rng = np.random.default_rng(7)
    g = rng.standard_normal((5, 6, 7))
    ref = dense_solve(g, 2.0, axis=axis)
    y = laplacian_smooth(g, 2.0, axis=axis, method=method)
    assert y.shape == g.shape and rel_err(y, ref) <= 1e-12
    # a non-contiguous input
    gt = np.asfortranarray(g)[:, ::1, :]
    assert rel_err(laplacian_smooth(gt, 2.0, axis=axis, method=method), ref) <= 1e-12
    # out of a different layout
    out = np.asfortranarray(np.zeros_like(g))
    r = laplacian_smooth(g, 2.0, axis=axis, method=method, out=out)
    assert r is out and rel_err(out, ref) <= 1e-12


@pytest.mark.parametrize("method", ["fft", "recursive"])
@pytest.mark.parametrize("axis", [0, -1])
def test_in_place(method, axis):
    rng = np.random.default_rng(3)
    g = rng.standard_normal((40, 50))
    ref = dense_solve(g, 3.0, axis=axis)
    r = laplacian_smooth(g, 3.0, axis=axis, method=method, out=g)
    assert r is g and rel_err(g, ref) <= 1e-12
    # partial overlap: out is a shifted view of the input's buffer
    buf = rng.standard_normal(101)
    src = buf[:100].copy()
    laplacian_smooth(buf[:100], 3.0, out=buf[1:], method=method)
    assert rel_err(buf[1:], dense_solve(src, 3.0)) <= 1e-12


def test_special_cases():
    g = np.array([1.5])
    for method in ("fft", "recursive"):
        y = laplacian_smooth(g, 10.0, method=method)
        assert y is not g and np.array_equal(y, g)  # N = 1: identity, a new array
        x = np.random.default_rng(0).standard_normal((4, 9)).astype(np.float32)
        y = laplacian_smooth(x, 0.0, method=method)
        assert y is not x and y.dtype == np.float32 and np.array_equal(y, x)  # sigma = 0
        # N = 2: lambda = [1, 1 + 4 sigma] for order 1, [1, 1 + 4^order sigma] in general
        s = 0.7
        y = laplacian_smooth(np.array([1.0, -1.0]), s, method=method)
        np.testing.assert_allclose(y, np.array([1.0, -1.0]) / (1 + 4 * s), rtol=1e-15)
    y = laplacian_smooth(np.array([3.0, 1.0]), 0.7, order=3, power=0.5)
    np.testing.assert_allclose(y, [2.0, 2.0] + np.array([1.0, -1.0]) / np.sqrt(1 + 64 * 0.7), rtol=1e-15)
    assert laplacian_smooth(np.zeros((3, 0))).shape == (3, 0)
    assert laplacian_smooth([1, 2, 3, 4]).dtype == np.float64  # an int list is accepted as float64
    yl = laplacian_smooth([0.0, 0.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(yl, np.array([3, 6, 15, 6, 3]) / 11, rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# long lines (the chunked parallel recursion)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [1.0] + [pytest.param(s, marks=pytest.mark.slow) for s in (30.0, 1e3, 1e6)])
def test_long_line(sigma):
    n = 2**19 + 3
    rng = np.random.default_rng(17)
    g = rng.standard_normal(n) + 0.1 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n)
    nchunks = lap_mod._recursive_constants(n, sigma)[4]
    if sigma <= 1e3:
        assert nchunks > 1  # the chunked path is what is tested here ...
    assert n > ns.config.get("laplacian_serial_max_elements")  # ... in the parallel kernel
    y = laplacian_smooth(g, sigma, method="recursive")
    yf = laplacian_smooth(g, sigma, method="fft")
    # extended-precision FFT reference (NumPy >= 2 transforms long double natively)
    k = np.arange(n // 2 + 1, dtype=LD)
    pi = 4 * np.arctan(LD(1))
    lam = 1 + LD(sigma) * 4 * np.sin(pi * k / n) ** 2
    ref = np.fft.irfft(np.fft.rfft(g.astype(LD)) / lam, n)
    assert rel_err(y, ref) <= 1e-12
    assert rel_err(yf, ref) <= 1e-12
    assert rel_err(y, yf) <= 1e-12
    # residual of the sparse periodic tridiagonal system
    e = np.ones(n)
    L = sp.diags([e[:-1], -2 * e, e[:-1]], [-1, 0, 1], format="lil")
    L[0, n - 1] = 1
    L[n - 1, 0] = 1
    A = sp.identity(n, format="csr") - sigma * L.tocsr()
    res = A @ y - g
    assert np.linalg.norm(res) <= 1e-13 * (1 + 4 * sigma) * np.linalg.norm(y)
    # a batch of such lines gives each line's own result bit for bit (chunking depends on N only)
    yb = laplacian_smooth(np.stack([g, -g, g]), sigma, method="recursive")
    assert np.array_equal(yb[0], y) and np.array_equal(yb[2], y)
    # and a short prefix (serial kernel) agrees with the dense reference too
    assert rel_err(laplacian_smooth(g[:1024], sigma, method="recursive"), dense_solve(g[:1024], sigma)) <= 1e-12


@pytest.mark.filterwarnings("error")
def test_huge_sigma():
    """Up to the largest finite sigma: no overflow, no warning; the result tends to the mean."""
    g = np.random.default_rng(12).standard_normal(1000) * 1e3
    for sigma in (1e7, 1e300, np.finfo(float).max):
        for method in ("recursive", "fft", "auto"):
            y = laplacian_smooth(g, sigma, method=method)
            assert np.all(np.isfinite(y))
            assert abs(y.mean() - g.mean()) <= 1e-10
            if sigma > 1e100:
                np.testing.assert_allclose(y, g.mean(), rtol=0, atol=1e-9)
        # auto leaves the recursion above sigma = 1e6, where its error grows
        assert np.array_equal(laplacian_smooth(g, sigma), laplacian_smooth(g, sigma, method="fft"))
    assert np.array_equal(laplacian_smooth(g, 1e6), laplacian_smooth(g, 1e6, method="recursive"))


def test_chunk_layouts_not_multiple_of_four():
    """Lanes processed in lockstep groups of four, with a leftover group, match the reference."""
    rng = np.random.default_rng(5)
    for rows, n in [(1, 5 * 1024 + 7), (3, 3000), (5, 1), (7, 33), (1, 4096 * 3 + 1)]:
        g = rng.standard_normal((rows, n))
        y = laplacian_smooth(g, 1.0, method="recursive")
        ref = np.fft.irfft(np.fft.rfft(g.astype(LD)) / (1 + 4 * np.sin(np.pi * np.arange(n // 2 + 1, dtype=LD) / n) ** 2), n)
        assert rel_err(y, ref) <= 1e-12


def scratch(x: np.ndarray, nchunks: int, parallel: bool, max_runs: int = 3) -> np.ndarray:
    """A scratch for a direct kernel call on ``x``: the vector path's size, three runs in
    parallel (so that uneven splits of the groups are exercised)."""
    return np.empty(lap_kernels.scratch_elements(*x.shape, nchunks, parallel, max_runs), dtype=x.dtype)


def test_serial_and_parallel_kernels_identical():
    rng = np.random.default_rng(11)
    for shape, sigma in [((1, 50_001), 1.0), ((37, 513), 4.0), ((2, 9000), 200.0)]:
        x = rng.standard_normal(shape)
        args = lap_mod._recursive_constants(shape[1], sigma)
        a, b, c = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        sp, ss = scratch(x, args[4], True), scratch(x, args[4], False)
        lap_kernels.periodic_solve_rows.parallel(x, *args, a, sp)
        lap_kernels.periodic_solve_rows.serial(x, *args, b, ss)
        lap_kernels.periodic_solve_rows_apart.parallel(x, *args, c, sp)  # one parallel region (out apart from x)
        inplace = x.copy()
        lap_kernels.periodic_solve_rows.parallel(inplace, *args, inplace, sp)
        assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, inplace)


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(2)
    cases = [rng.standard_normal(2**19 + 3), rng.standard_normal((64, 9000)), rng.standard_normal((3, 200_000))]
    assert all(g.size > ns.config.get("laplacian_serial_max_elements") for g in cases)  # the parallel kernel runs
    saved = numba.get_num_threads()
    try:
        results = []
        for nt in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(nt)
            results.append([laplacian_smooth(g, s, method=m) for g in cases for s in (1.0, 1e3)
                            for m in ("recursive", "fft")])
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_fft_plans_are_cached_and_buffers_not_shared():
    g = np.random.default_rng(0).standard_normal(333)
    y1 = laplacian_smooth(g, 1.0, order=2, method="fft")
    plan = lap_mod._plan(1, 333, np.dtype(np.float64))
    y1_copy = y1.copy()
    laplacian_smooth(-3 * g, 1.0, order=2, method="fft")
    assert lap_mod._plan(1, 333, np.dtype(np.float64)) is plan  # reused
    assert np.array_equal(y1, y1_copy)  # the first result was not the plan's buffer
    assert not np.may_share_memory(y1, plan.real)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
lines = st.integers(1, 130).flatmap(
    lambda n: hnp.arrays(np.float64, n, elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False))
)
sigmas = st.sampled_from([0.0, 1e-6, 1e-2]) | st.floats(0.0, 1e4)
methods = st.sampled_from(["fft", "recursive"])


@settings(max_examples=60, deadline=None)
@given(g=lines, sigma=sigmas, order=st.integers(1, 3), power=st.sampled_from([1.0, 0.5, 2.5]))
def test_mean_preserved(g, sigma, order, power):
    y = laplacian_smooth(g, sigma, order=order, power=power)
    scale = max(1.0, float(np.abs(g).max()))
    assert abs(y.mean() - g.mean()) <= 1e-12 * scale


@settings(max_examples=60, deadline=None)
@given(g=lines, sigma=sigmas, method=methods, power=st.sampled_from([1.0, 0.5, 2.5]))
def test_max_principle_order_one(g, sigma, method, power):
    if method == "recursive":
        power = 1.0
    y = laplacian_smooth(g, sigma, power=power, method=method)
    tol = 1e-12 * max(1.0, float(np.abs(g).max()))
    assert y.min() >= g.min() - tol and y.max() <= g.max() + tol


@settings(max_examples=40, deadline=None)
@given(data=st.data(), sigma=sigmas, method=methods, a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_linearity(data, sigma, method, a, b):
    g1 = data.draw(lines)
    g2 = data.draw(hnp.arrays(np.float64, g1.shape, elements=st.floats(-1e3, 1e3, allow_subnormal=False)))
    y = laplacian_smooth(a * g1 + b * g2, sigma, method=method)
    y12 = a * laplacian_smooth(g1, sigma, method=method) + b * laplacian_smooth(g2, sigma, method=method)
    scale = (abs(a) + abs(b) + 1) * max(1.0, float(np.abs(g1).max()), float(np.abs(g2).max()))
    np.testing.assert_allclose(y, y12, rtol=0, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(g=lines, sigma=sigmas, method=methods, shift=st.integers(-200, 200))
def test_commutes_with_reversal_and_shift(g, sigma, method, shift):
    y = laplacian_smooth(g, sigma, method=method)
    tol = 1e-12 * max(1.0, float(np.abs(g).max()))
    np.testing.assert_allclose(laplacian_smooth(g[::-1], sigma, method=method), y[::-1], rtol=0, atol=tol)
    np.testing.assert_allclose(laplacian_smooth(np.roll(g, shift), sigma, method=method), np.roll(y, shift),
                               rtol=0, atol=tol)


# ---------------------------------------------------------------------------------------------
# torchzero 0.4.4
# ---------------------------------------------------------------------------------------------
def _tz_cases(pred):
    return [pytest.param(e, id=f"{e['dtype'][6:]}-n{e['n']}-s{e['sigma']}-lw{e['layerwise']}")
            for e in DATA["laplacian_vectors"] if pred(e)]


@pytest.mark.parametrize("entry", _tz_cases(lambda e: e["n"] >= 3 and "output" in e and not e["unchanged"]))
def test_torchzero_smoothed_vectors(entry):
    dtype = np.float64 if entry["dtype"] == "torch.float64" else np.float32
    x = test_vector(entry["n"]).astype(dtype)
    tz = np.array(entry["output"], dtype=dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for method in ("auto", "fft", "recursive"):
        y = laplacian_smooth(x, entry["sigma"], method=method)
        assert y.dtype == dtype
        assert rel_err(y, tz) <= tol
    # the same through the module (layerwise or not: one parameter)
    opt = ns.Optimizer(np.zeros(entry["n"]), LaplacianSmoothing(entry["sigma"], layerwise=entry["layerwise"]), ns.LR(1.0))
    opt.step(lambda p: (0.0, x.astype(np.float64)))
    assert rel_err(-opt.x, tz) <= tol


@pytest.mark.parametrize("entry", _tz_cases(lambda e: e["n"] in (3, 4) and e["layerwise"]))
def test_torchzero_min_numel_difference(entry):
    """torchzero smooths a parameter only if numel > min_numel (4); numsmooth if numel >= min_numel."""
    n, sigma = entry["n"], entry["sigma"]
    x = test_vector(n)
    assert entry["unchanged"]  # torchzero left both n = 3 and n = 4 alone
    opt = ns.Optimizer(np.zeros(n), LaplacianSmoothing(sigma, layerwise=True, min_numel=4), ns.LR(1.0))
    opt.step(lambda p: (0.0, x.copy()))
    if n == 3:
        np.testing.assert_array_equal(-opt.x, x)  # below min_numel: unchanged in both
    else:
        ref = torchzero_formula(x, sigma)  # the NumPy formula is right for n >= 3
        assert rel_err(-opt.x, ref) <= 1e-12
        assert rel_err(-opt.x, dense_solve(x, sigma)) <= 1e-12
        assert not np.allclose(-opt.x, x)


@pytest.mark.parametrize("entry", _tz_cases(lambda e: e["n"] == 1))
def test_torchzero_n1_difference(entry):
    """N = 1: torchzero leaves it (layerwise) or raises IndexError (layerwise=False); numsmooth: identity."""
    if entry["layerwise"]:
        assert entry["unchanged"]
    else:
        assert entry["error"].startswith("IndexError")
    x = test_vector(1)
    for method in ("fft", "recursive"):
        np.testing.assert_array_equal(laplacian_smooth(x, entry["sigma"], method=method), x)
    opt = ns.Optimizer(np.zeros(1), LaplacianSmoothing(entry["sigma"], layerwise=entry["layerwise"], min_numel=1),
                       ns.LR(1.0))
    opt.step(lambda p: (0.0, x.copy()))
    np.testing.assert_array_equal(-opt.x, x)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0])
def test_two_node_difference(sigma):
    """N = 2: numsmooth solves with the true 2-node Laplacian; torchzero's kernel does not."""
    x = np.array([0.3, -1.1])
    ref = np.linalg.solve(np.eye(2) - sigma * dense_laplacian(2), x)
    for method in ("fft", "recursive"):
        assert rel_err(laplacian_smooth(x, sigma, method=method), ref) <= 1e-14
    tz = torchzero_formula(x, sigma)
    assert abs(tz.mean() - x.mean()) > 1e-3  # torchzero's does not even preserve the mean
    assert rel_err(tz, ref) > 1e-2


@pytest.mark.parametrize("k", range(len(DATA["laplacian_models"])))
def test_torchzero_models(k):
    e = DATA["laplacian_models"][k]
    gw, gb = np.array(e["grad_w"]), np.array(e["grad_b"])
    params = [np.zeros(e["shape_w"]), np.zeros(e["shape_b"])]
    for target in ("update", "grad"):
        opt = ns.Optimizer(params, LaplacianSmoothing(1.0, layerwise=e["layerwise"], target=target), ns.LR(1.0))
        opt.step(lambda p: (0.0, [gw, gb]))
        uw, ub = [-p for p in opt.params]
        assert rel_err(uw, e["upd_w"]) <= 1e-12
        assert rel_err(ub, e["upd_b"]) <= 1e-12


# ---------------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------------
def _one_step(module, params, grads, *more):
    opt = ns.Optimizer(params, module, *more, ns.LR(1.0))
    opt.step(lambda p: (0.0, grads))
    return opt


def test_module_layerwise_and_min_numel():
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal((3, 5)), rng.standard_normal(4), rng.standard_normal(3), rng.standard_normal(1)]
    params = [np.zeros_like(g) for g in grads]
    opt = _one_step(LaplacianSmoothing(2.0, layerwise=True, min_numel=4), params, [g.copy() for g in grads])
    got = [-p for p in opt.params]
    assert rel_err(got[0], dense_solve(grads[0].ravel(), 2.0).reshape(3, 5)) <= 1e-12
    assert rel_err(got[1], dense_solve(grads[1], 2.0)) <= 1e-12  # numel == min_numel: smoothed
    np.testing.assert_array_equal(got[2], grads[2])  # numel < min_numel: unchanged
    np.testing.assert_array_equal(got[3], grads[3])
    # layerwise=False: the concatenation is smoothed, min_numel ignored
    opt = _one_step(LaplacianSmoothing(2.0, layerwise=False, min_numel=100), params, [g.copy() for g in grads])
    flat = np.concatenate([g.ravel() for g in grads])
    assert rel_err(opt.x, -dense_solve(flat, 2.0)) <= 1e-12


@pytest.mark.parametrize("order,power,method", [(2, 0.5, "fft"), (1, 1.0, "recursive"), (3, 2.0, "auto")])
def test_module_order_power(order, power, method):
    g = np.random.default_rng(9).standard_normal(50)
    opt = _one_step(LaplacianSmoothing(0.5, order=order, power=power, method=method), np.zeros(50), g)
    assert rel_err(-opt.x, dense_solve(g, 0.5, order, power)) <= 1e-12


def test_module_sigma_change_takes_effect():
    g = np.random.default_rng(8).standard_normal(30)
    m = LaplacianSmoothing(1.0)
    opt = ns.Optimizer(np.zeros(30), m, ns.LR(1.0))
    opt.step(lambda p: (0.0, g))
    x1 = opt.x.copy()
    assert rel_err(-x1, dense_solve(g, 1.0)) <= 1e-12
    m.sigma = 5.0
    opt.step(lambda p: (0.0, g))
    assert rel_err(x1 - opt.x, dense_solve(g, 5.0)) <= 1e-12
    x2 = opt.x.copy()
    m.sigma = 0.0
    opt.step(lambda p: (0.0, g))
    np.testing.assert_allclose(x2 - opt.x, g, rtol=1e-15)
    with pytest.raises(ValueError, match="sigma"):
        m.sigma = -1.0
    with pytest.raises(ValueError, match="sigma"):
        m.sigma = float("inf")


def test_module_sigma_zero_is_identity():
    g = np.random.default_rng(8).standard_normal(30)
    opt = _one_step(LaplacianSmoothing(0.0), np.zeros(30), g)
    np.testing.assert_array_equal(-opt.x, g)


class _RecordGrad(ns.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def step(self, objective):
        self.seen.append(objective.grad().copy())
        objective.evaluate(objective.x + 1.0)  # another point
        self.seen.append(objective.evaluate(objective.x + 1.0)[1].copy())
        return objective


def test_module_target_grad_smooths_what_later_modules_see():
    g = np.random.default_rng(6).standard_normal(20)
    rec = _RecordGrad()
    opt = ns.Optimizer(np.zeros(20), LaplacianSmoothing(2.0, target="grad"), rec, ns.LR(1.0))
    opt.step(lambda p: (0.0, g + p))
    assert rel_err(rec.seen[0], dense_solve(g, 2.0)) <= 1e-12
    assert rel_err(rec.seen[1], dense_solve(g + 1.0, 2.0)) <= 1e-12
    assert rel_err(-opt.x, dense_solve(g, 2.0)) <= 1e-12
    # target="update": later modules see the raw gradient
    rec = _RecordGrad()
    opt = ns.Optimizer(np.zeros(20), LaplacianSmoothing(2.0, target="update"), rec, ns.LR(1.0))
    opt.step(lambda p: (0.0, g + p))
    np.testing.assert_array_equal(rec.seen[0], g)


def test_module_state_and_repr():
    m = LaplacianSmoothing(0.3, layerwise=False, min_numel=2, target="grad", order=2, power=0.5, method="fft")
    assert m.config() == {"layerwise": False, "min_numel": 2, "target": "grad", "order": 2, "power": 0.5,
                          "method": "fft"}
    assert "sigma=0.3" in repr(m)
    m.sigma = 0.7
    m2 = LaplacianSmoothing(0.3, layerwise=False, min_numel=2, target="grad", order=2, power=0.5, method="fft")
    m2.load_state_dict(m.state_dict())
    assert m2.sigma == 0.7
    with pytest.raises(ValueError, match="configuration"):
        LaplacianSmoothing(0.3).load_state_dict(m.state_dict())


def test_public_exports():
    assert ns.laplacian_smooth is laplacian_smooth
    assert ns.LaplacianSmoothing is LaplacianSmoothing


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
G = np.ones(8)
BAD_FUNCTION_CALLS = [
    (lambda: laplacian_smooth(np.arange(8)), TypeError, "g must have dtype float32 or float64; got dtype int64"),
    (lambda: laplacian_smooth(np.ones(8, complex)), TypeError, "g must have dtype"),
    (lambda: laplacian_smooth(np.ones(8, bool)), TypeError, "g must have dtype"),
    (lambda: laplacian_smooth(np.ones(8, np.float16)), TypeError, "float16"),
    (lambda: laplacian_smooth("abc"), TypeError, "g must be a NumPy array"),
    (lambda: laplacian_smooth(np.float64(1.0)), ValueError, "g must have at least one dimension"),
    (lambda: laplacian_smooth(np.array(1.0)), ValueError, "g must have at least one dimension"),
    (lambda: laplacian_smooth(G, -1.0), ValueError, "sigma must be >= 0.0; got -1.0"),
    (lambda: laplacian_smooth(G, float("nan")), ValueError, "sigma must be finite; got nan"),
    (lambda: laplacian_smooth(G, float("inf")), ValueError, "sigma must be finite"),
    (lambda: laplacian_smooth(G, "1"), TypeError, "sigma must be a real number; got '1'"),
    (lambda: laplacian_smooth(G, order=0), ValueError, "order must be >= 1; got 0"),
    (lambda: laplacian_smooth(G, order=1.5), TypeError, "order must be an integer; got 1.5"),
    (lambda: laplacian_smooth(G, order=True), TypeError, "order must be an integer; got True"),
    (lambda: laplacian_smooth(G, power=0.0), ValueError, "power must be > 0.0; got 0.0"),
    (lambda: laplacian_smooth(G, power=-2), ValueError, "power must be > 0.0; got -2"),
    (lambda: laplacian_smooth(G, power=float("inf")), ValueError, "power must be finite; got inf"),
    (lambda: laplacian_smooth(G, axis=1), ValueError, "axis 1 is out of bounds for g with 1 dimension"),
    (lambda: laplacian_smooth(np.ones((2, 3)), axis=-3), ValueError, "axis -3 is out of bounds"),
    (lambda: laplacian_smooth(G, axis=0.0), TypeError, "axis must be an integer; got 0.0"),
    (lambda: laplacian_smooth(G, method="dense"), ValueError,
     "method must be one of 'auto', 'fft', 'recursive'; got 'dense'"),
    (lambda: laplacian_smooth(G, method=None), ValueError, "method must be one of"),
    (lambda: laplacian_smooth(G, order=2, method="recursive"), ValueError,
     "method='recursive' solves only order=1 and power=1; got order=2, power=1.0"),
    (lambda: laplacian_smooth(G, power=0.5, method="recursive"), ValueError, "got order=1, power=0.5"),
    (lambda: laplacian_smooth(G, out=np.ones(7)), ValueError, "out must have the shape of g (8,); got shape (7,)"),
    (lambda: laplacian_smooth(G, out=np.ones(8, np.float32)), TypeError,
     "out must have the dtype of g (float64); got dtype float32"),
    (lambda: laplacian_smooth(G, out=[0.0] * 8), TypeError, "out must be a NumPy array; got list"),
]

BAD_MODULE_ARGS = [
    (dict(sigma=-0.5), ValueError, "sigma must be >= 0.0; got -0.5"),
    (dict(sigma=float("nan")), ValueError, "sigma must be finite"),
    (dict(layerwise=1), TypeError, "layerwise must be True or False; got 1"),
    (dict(min_numel=0), ValueError, "min_numel must be >= 1; got 0"),
    (dict(min_numel=2.0), TypeError, "min_numel must be an integer; got 2.0"),
    (dict(target="updates"), ValueError, "target must be one of 'update', 'grad'; got 'updates'"),
    (dict(order=0), ValueError, "order must be >= 1; got 0"),
    (dict(power=0), ValueError, "power must be > 0.0; got 0"),
    (dict(method="cg"), ValueError, "method must be one of 'auto', 'fft', 'recursive'; got 'cg'"),
    (dict(order=2, method="recursive"), ValueError, "method='recursive' solves only order=1"),
]


@pytest.mark.parametrize("call,exc,fragment", BAD_FUNCTION_CALLS)
def test_bad_function_input(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


@pytest.mark.parametrize("kwargs,exc,fragment", BAD_MODULE_ARGS)
def test_bad_module_args(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        LaplacianSmoothing(**kwargs)
    assert fragment in str(info.value)


def test_out_readonly_rejected():
    out = np.zeros(8)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        laplacian_smooth(G, out=out)


def test_float32_recursion_types_and_thread_independence():
    """float32 input: float32 recursions for sigma up to ~240 (gain >= 1/16), float64 state
    above; either way serial and parallel kernels agree bit for bit, results do not depend on the
    thread count, and the accuracy against the dense solve stays far inside float32's 1e-5."""
    rng = np.random.default_rng(23)
    for sigma, native in [(1.0, True), (200.0, True), (1e3, False)]:
        r, gain = lap_mod._recursive_constants(4096, sigma)[:2]
        assert (gain >= lap_mod._FLOAT32_MIN_GAIN) is native
        g = rng.standard_normal((2, 97)).astype(np.float32)
        assert rel_err(laplacian_smooth(g, sigma, method="recursive"), dense_solve(g, sigma)) <= 2e-6
    for shape in [(1, 50_001), (37, 513), (2, 9000)]:
        x = rng.standard_normal(shape).astype(np.float32)
        r, gain, *rest = lap_mod._recursive_constants(shape[1], 1.0)
        args = (np.float32(r), np.float32(gain), *rest)
        a, b = np.empty_like(x), np.empty_like(x)
        lap_kernels.periodic_solve_rows.parallel(x, *args, a, scratch(x, args[4], True))
        lap_kernels.periodic_solve_rows.serial(x, *args, b, scratch(x, args[4], False))
        assert np.array_equal(a, b)
    cases = [rng.standard_normal(2**19 + 3).astype(np.float32), rng.standard_normal((64, 9000)).astype(np.float32)]
    assert all(g.size > ns.config.get("laplacian_serial_max_elements") for g in cases)
    saved = numba.get_num_threads()
    try:
        results = []
        for nt in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(nt)
            results.append([laplacian_smooth(g, s, method="recursive") for g in cases for s in (1.0, 1e3)])
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(*results):
        assert a.dtype == np.float32 and np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# extreme magnitudes, inf and nan, byte order
# ---------------------------------------------------------------------------------------------
def rel_err_ld(y: np.ndarray, ref: np.ndarray) -> float:
    """Relative 2-norm error computed in long double throughout (float64 norms of values near
    1e308 overflow, those of values near 1e-300 underflow)."""
    ref = np.asarray(ref, dtype=LD)
    d = np.asarray(y, dtype=LD) - ref
    return float(np.sqrt(np.sum(d * d)) / np.sqrt(np.sum(ref * ref)))


MAGNITUDES64 = [5e-324 * 2**40, 1e-300, 1e-200, 1e-160, 1e100, 1e200, 1e300, 1e308]


@pytest.mark.parametrize("mag", MAGNITUDES64)
@pytest.mark.parametrize("order,power", [(1, 1.0), (2, 1.0), (1, 0.5), (3, 2.5)])
def test_extreme_magnitudes_against_long_double(mag, order, power):
    n = 97
    base = test_vector(n)
    g = base / np.max(np.abs(base)) * mag  # largest magnitude exactly ~mag
    for sigma in (1.0, 1e3, 1e8):
        ref = dense_solve(g, sigma, order, power)
        for method in methods_for(order, power):
            if method == "recursive" and sigma > 1e6:
                continue  # outside the recursion's verified range (see test_huge_sigma)
            y = laplacian_smooth(g, sigma, order=order, power=power, method=method)
            assert np.all(np.isfinite(y)), (method, sigma)
            # near the subnormal range the input itself carries only ~40 bits
            tol = 1e-12 if mag > 1e-290 else 1e-9
            assert rel_err_ld(y, ref) <= tol, (method, sigma)


def test_lines_of_different_magnitudes_in_one_batch():
    """The scaling is per line: a line of 1e-300 next to one of 1e300 keeps all its digits."""
    base = test_vector(64)
    g = np.stack([base * 1e-300, base * 1e300, base, np.zeros(64), base * 1e-310])
    for method in ("fft", "recursive"):
        y = laplacian_smooth(g, 2.0, method=method)
        for i in (0, 1, 2, 4):
            tol = 1e-12 if i != 4 else 1e-8
            assert rel_err_ld(y[i], dense_solve(g[i], 2.0)) <= tol, (method, i)
        assert np.all(y[3] == 0.0)
    y = laplacian_smooth(g, 2.0, order=2, power=0.5)
    for i in (0, 1, 2):
        assert rel_err_ld(y[i], dense_solve(g[i], 2.0, 2, 0.5)) <= 1e-12


@pytest.mark.parametrize("mag", [1e-40, 1e-30, 1e30, 3e38])
def test_float32_extreme_magnitudes(mag):
    base = test_vector(64)
    g = (base / np.max(np.abs(base)) * mag).astype(np.float32)
    for order, power in [(1, 1.0), (2, 0.5)]:
        ref = dense_solve(g, 1.0, order, power)
        for method in methods_for(order, power):
            y = laplacian_smooth(g, 1.0, order=order, power=power, method=method)
            assert y.dtype == np.float32 and np.all(np.isfinite(y))
            assert rel_err_ld(y, ref) <= (1e-5 if mag > 1e-37 else 1e-2), (method, order)


def limit_reference(g: np.ndarray, sigma: float, order: int, power: float) -> np.ndarray:
    """The mathematical limit for inf entries: replace +-inf by +-1e4000 (finite in long double),
    solve densely in long double and round to float64 (beyond 1.8e308: inf); nan stays nan."""
    gl = np.asarray(g, dtype=LD)
    gl[np.isposinf(g)] = LD("1e4000")
    gl[np.isneginf(g)] = LD("-1e4000")
    with np.errstate(over="ignore"):
        return np.asarray(dense_solve(gl, sigma, order, power), dtype=np.float64)


@pytest.mark.parametrize("n", [5, 64, 5000])  # 5000: the recursion runs several chunks per line
@pytest.mark.parametrize("method", ["recursive", "fft", "auto"])
def test_inf_and_nan_input_order_one(n, method):
    """Order 1: every entry of the inverse is positive, so +inf alone gives +inf everywhere, -inf
    alone -inf everywhere (the limit), and nan or both signs give nan; other lines unaffected."""
    base = test_vector(n)
    rows = [base.copy() for _ in range(6)]
    rows[0][n // 3] = np.inf
    rows[1][n // 2] = -np.inf
    rows[1][0] = -np.inf
    rows[2][1] = np.inf
    rows[2][n - 1] = -np.inf
    rows[3][n // 2] = np.nan
    rows[4][:] = 1e308  # finite, near overflow: stays finite
    g = np.stack(rows)
    for power in ((1.0, 0.5) if method != "recursive" else (1.0,)):
        y = laplacian_smooth(g, 1.0, power=power, method=method)
        assert np.all(y[0] == np.inf) and np.all(y[1] == -np.inf)
        assert np.all(np.isnan(y[2])) and np.all(np.isnan(y[3]))
        np.testing.assert_allclose(y[4], 1e308, rtol=1e-14)
        assert rel_err(y[5], dense_solve(base, 1.0, 1, power)) <= 1e-12
        if n <= 64:  # the long-double limit agrees (the dense reference is O(N^2))
            for i in (0, 1):
                np.testing.assert_array_equal(y[i], limit_reference(g[i], 1.0, 1, power))
    # float32 the same way
    y32 = laplacian_smooth(g[:4].astype(np.float32), 1.0, method=method)
    assert np.all(y32[0] == np.inf) and np.all(y32[1] == -np.inf) and np.all(np.isnan(y32[2:]))


def test_inf_input_higher_order_is_nan():
    """Order >= 2: the inverse has entries of both signs, so a line with inf or nan gives nan."""
    g = np.stack([test_vector(16), test_vector(16)])
    g[0, 3] = np.inf
    y = laplacian_smooth(g, 1.0, order=2)
    assert np.all(np.isnan(y[0]))
    assert rel_err(y[1], dense_solve(g[1], 1.0, 2)) <= 1e-12
    ref = limit_reference(g[0], 1.0, 2, 1.0)
    assert np.any(ref == np.inf) and np.any(ref == -np.inf)  # why there is no single limit


def test_inf_input_identity_cases():
    """sigma = 0 and N = 1 are the identity, non-finite values included."""
    g = np.array([1.0, np.inf, np.nan, -np.inf])
    for method in ("recursive", "fft"):
        np.testing.assert_array_equal(laplacian_smooth(g, 0.0, method=method), g)
        np.testing.assert_array_equal(laplacian_smooth(g[:, None], 3.0, method=method), g[:, None])


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f8", "<f4"])
@pytest.mark.parametrize("first", ["native", "swapped"])
def test_byte_order(dtype, first):
    """Big-endian input is converted at the boundary: native output of the same dtype and value,
    whichever byte order is seen first by the FFTW plan cache."""
    lap_mod._plan_cache.clear()
    native = np.dtype(dtype).newbyteorder("=")
    base = np.stack([test_vector(48), -test_vector(48)[::-1]])
    gn = base.astype(native)
    gs = base.astype(dtype)
    for order, power in [(1, 1.0), (2, 0.5)]:
        ref = dense_solve(gn, 1.5, order, power)
        for method in methods_for(order, power):
            pair = [gn, gs] if first == "native" else [gs, gn]
            ys = [laplacian_smooth(a, 1.5, order=order, power=power, method=method) for a in pair]
            for y in ys:
                assert y.dtype == native and y.dtype.isnative
                assert rel_err(y, ref) <= (1e-12 if native == np.float64 else 1e-5)
            np.testing.assert_array_equal(ys[0], ys[1])
            # into a big-endian out, along axis 0, and in place
            out = np.empty(gs.shape, dtype=dtype)
            r = laplacian_smooth(gs, 1.5, order=order, power=power, method=method, out=out)
            assert r is out
            np.testing.assert_array_equal(out, ys[0])
            yt = laplacian_smooth(np.ascontiguousarray(gs.T), 1.5, order=order, power=power, method=method, axis=0)
            np.testing.assert_array_equal(yt, ys[0].T)
            gi = gs.copy()
            laplacian_smooth(gi, 1.5, order=order, power=power, method=method, out=gi)
            np.testing.assert_array_equal(gi, ys[0])


def test_byte_order_module():
    x0 = test_vector(40).astype(">f8")

    def run(x):
        opt = ns.Optimizer(x, LaplacianSmoothing(1.0), ns.LR(0.5))
        for _ in range(3):
            opt.step(lambda x: (float(x @ x), 2 * x + 1.0))
        return opt.x

    a, b = run(x0), run(x0.astype("<f8"))
    assert a.dtype.isnative
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# the module's axis
# ---------------------------------------------------------------------------------------------
PARAM_SHAPES = [(6, 5), (7,), (3, 4, 5), (2,), (1, 9), (4, 1)]


def _params(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in PARAM_SHAPES]


def _axis_step(module, params, target="update"):
    """One step of lr 1 from x = params with gradient -params: returns the smoothed update."""
    opt = ns.Optimizer([np.zeros_like(p) for p in params], module, ns.LR(1.0))
    opt.step(lambda x: (0.0, [-p for p in params]))
    return list(opt.params) if isinstance(opt.params, (list, tuple)) else [opt.params]


@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2, -2, -3])
@pytest.mark.parametrize("target", ["update", "grad"])
def test_module_axis_against_dense_solve(axis, target):
    params = _params(4)
    got = _axis_step(LaplacianSmoothing(2.0, min_numel=2, axis=axis, target=target), params)
    for p, y in zip(params, got):
        nd = p.ndim
        if p.size < 2:
            ref = p
        elif axis is None or nd == 1 or not -nd <= axis < nd:  # flattened
            ref = dense_solve(p.ravel(), 2.0).reshape(p.shape)
        else:
            ref = dense_solve(p, 2.0, axis=axis)
            np.testing.assert_array_equal(y, laplacian_smooth(p, 2.0, axis=axis))
        assert rel_err(y, ref) <= 1e-12, (p.shape, axis)


def test_module_axis_layout_dependence():
    """A weight stored (in, out) and its transpose stored (out, in): flattening smooths them along
    different indices; axis= names the index and gives the transposed result."""
    W = np.random.default_rng(9).standard_normal((8, 5))  # (in, out)
    flat_a = _axis_step(LaplacianSmoothing(1.0), [W])[0]
    flat_b = _axis_step(LaplacianSmoothing(1.0), [np.ascontiguousarray(W.T)])[0]
    assert not np.allclose(flat_a, flat_b.T)
    along_in_a = _axis_step(LaplacianSmoothing(1.0, axis=0), [W])[0]
    along_in_b = _axis_step(LaplacianSmoothing(1.0, axis=1), [np.ascontiguousarray(W.T)])[0]
    np.testing.assert_array_equal(along_in_a, along_in_b.T)
    assert rel_err(along_in_a, dense_solve(W, 1.0, axis=0)) <= 1e-12


def test_module_axis_needs_layerwise_and_is_saved():
    with pytest.raises(ValueError, match=r"axis=1 needs layerwise=True"):
        LaplacianSmoothing(layerwise=False, axis=1)
    with pytest.raises(TypeError, match="axis must be an integer"):
        LaplacianSmoothing(axis=1.0)
    m = LaplacianSmoothing(axis=-1)
    assert "axis=-1" in repr(m)
    with pytest.raises(ValueError, match="configuration"):
        LaplacianSmoothing(axis=0).load_state_dict(m.state_dict())
    LaplacianSmoothing().load_state_dict(LaplacianSmoothing(axis=None).state_dict())


def test_module_axis_reuses_its_scratch():
    params = _params(5)
    m = LaplacianSmoothing(1.0, axis=0)
    opt = ns.Optimizer([np.zeros_like(p) for p in params], m, ns.LR(1.0))
    opt.step(lambda x: (0.0, [-p for p in params]))
    buf = m._scratch
    assert buf.size == max(p.size for p in params if p.ndim >= 2)
    for _ in range(3):
        opt.step(lambda x: (0.0, [-p for p in params]))
    assert m._scratch is buf  # no per-step allocation of the parameters' size


@pytest.mark.parametrize("shapes", [[(64, 64), (64,), (10, 64), (10,)], [(5,), (1,), (3, 7), (2, 3, 4)], [(1,)]],
                         ids=["mlp", "mixed", "one"])
def test_all_parameters_in_one_kernel_call_equal_one_call_per_parameter(shapes, knobs):
    # small models: LaplacianSmoothing solves every parameter in one kernel call; large ones call
    # the solver per parameter (serial or parallel). The bits must not depend on which.
    from numsmooth._layout import ParamLayout
    from numsmooth.laplacian import _smooth_flat_

    layout = ParamLayout(shapes, False)
    g = np.random.default_rng(len(shapes)).standard_normal(layout.size)
    parts = [g[lo:hi].reshape(s) for (lo, hi), s in zip(layout.bounds, layout.shapes)]
    for axis in (None, -1, 1, 0):
        for min_numel in (1, 4, 100):
            for sigma in (0.5, 3.0, 1e3):
                args = (layout.offsets, True, min_numel, sigma, 1, 1.0, "recursive", axis, layout.shapes, None)
                one = _smooth_flat_(np.empty(layout.size), *args, g)
                from_parts = _smooth_flat_(np.empty(layout.size), *args, parts)
                inplace = _smooth_flat_(g.copy(), *args)
                knobs(laplacian_serial_max_elements=0, load_check_seconds=0)
                each = _smooth_flat_(np.empty(layout.size), *args, g)
                knobs(laplacian_serial_max_elements=1 << 19)
                assert np.array_equal(one, each) and np.array_equal(one, from_parts) and np.array_equal(one, inplace)
                # and each parameter is its own solve (against the public function)
                for (lo, hi), s in zip(layout.bounds, layout.shapes):
                    if hi - lo >= min_numel:
                        ref = laplacian_smooth(g[lo:hi].reshape(s), sigma, axis=axis, method="recursive") \
                            if axis is not None and len(s) > 1 else \
                            laplacian_smooth(g[lo:hi], sigma, method="recursive")
                        assert np.array_equal(one[lo:hi], ref.reshape(-1)), (s, axis)
                    else:
                        assert np.array_equal(one[lo:hi], g[lo:hi])
