"""The recursive Laplacian solve's vector path (lanes eight at a time in SIMD registers).

The vector path must give the bits of the scalar lockstep path (``_periodic_solve_rows_scalar``,
every lane through ``_solve_group``: the kernel as it was before the vector path), on one thread
or several, and the solution of the periodic system: checked against a dense solve in long
double (``tests/test_laplacian.py``'s references) and NumPy's long-double FFT, not against
numbers of the code under test.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from numsmooth import laplacian as lap_mod
from numsmooth._kernels import laplacian as lk
from numsmooth.laplacian import laplacian_smooth

from test_laplacian import LD, dense_solve, rel_err, scratch

JIT = not numba.config.DISABLE_JIT

# (rows, n): whole-row lanes (one chunk) of all sizes around the step (16) and the group (8 rows),
# leftover lanes beside full groups, several chunks per row (2^k-long and odd-length lanes)
SHAPES = [(8, 16), (8, 15), (9, 17), (8, 100), (13, 37), (16, 7), (3, 5), (1, 1 << 14), (1, (1 << 14) + 5),
          (3, 9001), (2, 20_000)]
SIGMAS = (1e-3, 0.3, 1.0, 4.0, 200.0, 1e3, 1e5)


def kernel_args(n: int, sigma: float, dtype: type) -> tuple:
    """The kernel's scalars as numsmooth passes them: float32 recursions for float32 input with
    a gain of at least 1/16, float64 otherwise."""
    r, gain, halo, inv, nchunks = lap_mod._recursive_constants(n, sigma)
    if dtype == np.float32 and gain >= lap_mod._FLOAT32_MIN_GAIN:
        r, gain = np.float32(r), np.float32(gain)
    return r, gain, halo, inv, nchunks


def fft_solve_ld(g: np.ndarray, sigma: float) -> np.ndarray:
    """The order-1 solve of every row through NumPy's long-double FFT (an independent reference
    for lines too long for the dense solve)."""
    g = np.asarray(g, dtype=LD)
    n = g.shape[-1]
    k = np.arange(n // 2 + 1, dtype=LD)
    lam = 1 + LD(sigma) * 4 * np.sin(np.pi * k / n) ** 2
    return np.fft.irfft(np.fft.rfft(g) / lam, n)


def vector_groups(shape: tuple[int, int], sigma: float) -> int:
    """Groups of eight lanes the vector path takes for this shape."""
    r, gain, halo, inv, nchunks = lap_mod._recursive_constants(shape[1], sigma)
    return int(lk.vector_plan(shape[1], nchunks, shape[0] * nchunks, 1 << 30, False)[0])


def test_shapes_reach_both_paths():
    """The cases below exercise the vector path, the scalar path beside it and alone."""
    assert vector_groups((8, 16), 1.0) == 1 and vector_groups((8, 15), 1.0) == 0  # one step / below it
    assert vector_groups((9, 17), 1.0) == 1  # a full group, one lane left over
    assert vector_groups((1, 1 << 14), 1.0) == 1  # eight chunks of 2048
    assert vector_groups((2, 20_000), 1e5) == 0  # chunks longer than the vector path takes
    assert vector_groups((3, 9001), 1.0) == 1  # four chunks per row, twelve lanes: one group + four


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_vector_path_gives_the_scalar_bits(shape, dtype):
    """Serial and parallel twins, out apart or in place: the bits of the scalar lockstep path."""
    rng = np.random.default_rng(sum(shape))
    sigmas = SIGMAS if JIT else (0.3, 200.0, 1e5)
    for sigma in sigmas:
        x = rng.standard_normal(shape).astype(dtype)
        args = kernel_args(shape[1], sigma, dtype)
        ref = np.empty_like(x)
        lk._periodic_solve_rows_scalar(x, *args, ref)
        serial, parallel = scratch(x, args[4], False), scratch(x, args[4], True)
        kernels = [(lk.periodic_solve_rows.serial, serial), (lk.periodic_solve_rows_apart.serial, serial)]
        if JIT:
            kernels += [(lk.periodic_solve_rows.parallel, parallel), (lk.periodic_solve_rows_apart.parallel, parallel)]
        for kernel, buf in kernels:
            y = np.full_like(x, np.nan)
            kernel(x, *args, y, buf)
            assert np.array_equal(y, ref), (kernel, sigma)
        inplace = x.copy()
        lk.periodic_solve_rows.serial(inplace, *args, inplace, serial)
        assert np.array_equal(inplace, ref), sigma


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_against_dense_solve(dtype, tol):
    """Short lines (whole-row lanes), grouped eight rows at a time, and odd lengths."""
    rng = np.random.default_rng(7)
    for shape in [(8, 16), (9, 17), (8, 100), (13, 37), (16, 7), (3, 5)]:
        for sigma in (1e-3, 1.0, 4.0, 200.0, 1e3):
            g = rng.standard_normal(shape).astype(dtype)
            y = laplacian_smooth(g, sigma, method="recursive")
            assert y.dtype == dtype
            assert rel_err(y, dense_solve(g, sigma)) <= tol, (shape, sigma)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_long_lines_against_long_double_fft(dtype, tol):
    rng = np.random.default_rng(8)
    shapes = [(1, 1 << 14), (1, (1 << 14) + 5), (3, 9001), (64, 2048 + 3)] if JIT else [(1, (1 << 14) + 5)]
    for shape in shapes:
        for sigma in (1.0, 30.0):
            g = rng.standard_normal(shape).astype(dtype)
            y = laplacian_smooth(g, sigma, method="recursive")
            assert rel_err(y, fft_solve_ld(g, sigma)) <= tol, (shape, sigma)


@pytest.mark.skipif(not JIT, reason="Numba's threads run only compiled code")
def test_bits_do_not_depend_on_the_thread_count():
    """The parallel twins at one and at two Numba threads (directly, and through
    laplacian_smooth with the parallel kernel forced): the same bits."""
    import numsmooth as ns

    rng = np.random.default_rng(9)
    cases = [rng.standard_normal(shape).astype(dtype) for shape in [(1, 1 << 16), (64, 1 << 12), (5, 3001)]
             for dtype in (np.float32, np.float64)]
    saved = numba.get_num_threads()
    results = []
    try:
        for nt in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(nt)
            res = []
            for x in cases:
                for sigma in (1.0, 200.0):
                    args = kernel_args(x.shape[1], sigma, x.dtype.type)
                    for kernel in (lk.periodic_solve_rows.parallel, lk.periodic_solve_rows_apart.parallel):
                        y = np.empty_like(x)
                        kernel(x, *args, y, scratch(x, args[4], True))
                        res.append(y)
                    with ns.config.override(laplacian_serial_max_elements=0, load_check_seconds=0):
                        res.append(laplacian_smooth(x, sigma))
            results.append(res)
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_float64_data_with_float32_scalars_take_the_scalar_path():
    """A combination numsmooth never passes (it rounds the scalars only for float32 data): the
    kernels still solve it, on the scalar path, with the scalar path's bits."""
    x = np.random.default_rng(12).standard_normal((2, 1 << 14))
    r, gain, halo, inv, nchunks = lap_mod._recursive_constants(1 << 14, 1.0)
    args = (np.float32(r), np.float32(gain), halo, inv, nchunks)
    ref, y = np.empty_like(x), np.empty_like(x)
    lk._periodic_solve_rows_scalar(x, *args, ref)
    lk.periodic_solve_rows.serial(x, *args, y, scratch(x, nchunks, False))
    assert np.array_equal(y, ref)
    assert rel_err(y, fft_solve_ld(x, 1.0)) <= 1e-6


def test_nonfinite_rows_on_the_vector_path():
    """An inf in a lane of the vector path sends its whole row to inf; a nan to nan; other rows
    keep their values."""
    g = np.random.default_rng(10).standard_normal((9, 64))
    g[2, 40] = np.inf
    g[5, 3] = np.nan
    g[7, 10], g[7, 11] = np.inf, -np.inf
    with np.errstate(invalid="ignore"):  # inf - inf: plain Python arithmetic under NUMBA_DISABLE_JIT
        y = laplacian_smooth(g, 1.0, method="recursive")
    assert np.all(y[2] == np.inf) and np.all(np.isnan(y[5])) and np.all(np.isnan(y[7]))
    ok = [0, 1, 3, 4, 6, 8]
    assert rel_err(y[ok], dense_solve(g[ok], 1.0)) <= 1e-12



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_scratch_too_small_takes_the_scalar_path(dtype):
    """With no scratch, or one element short of a run's, the kernels take the scalar path (the
    same bits); with the scratch of fewer runs than groups, the runs split the groups unevenly
    (the same bits). Nothing is allocated to make up for a short scratch."""
    x = np.random.default_rng(13).standard_normal((5, 9001)).astype(dtype)
    args = kernel_args(x.shape[1], 1.0, dtype)
    one_run = lk.scratch_elements(*x.shape, args[4], False, 1)
    assert one_run > 0 and vector_groups(x.shape, 1.0) >= 2
    ref = np.empty_like(x)
    lk._periodic_solve_rows_scalar(x, *args, ref)
    for size in (0, one_run - 1, one_run, 2 * one_run + 1):
        for kernel in (lk.periodic_solve_rows, lk.periodic_solve_rows_apart):
            for side in (kernel.serial, kernel.parallel) if JIT else (kernel.serial,):
                y = np.full_like(x, np.nan)
                side(x, *args, y, np.empty(size, dtype=dtype))
                assert np.array_equal(y, ref), (size, side)


def test_threads_smoothing_at_once_keep_their_own_scratch():
    """Each Python thread solves with its own scratch: four threads smoothing different arrays
    at once give each the result it gets alone."""
    import threading

    rng = np.random.default_rng(14)
    xs = [rng.standard_normal((3, 9001)).astype(dt) for dt in (np.float64, np.float32) for _ in range(2)]
    alone = [laplacian_smooth(x, 1.0, method="recursive") for x in xs]
    got: list = [None] * len(xs)
    start = threading.Barrier(len(xs))

    def work(i: int) -> None:
        start.wait()
        for _ in range(20):
            got[i] = laplacian_smooth(xs[i], 1.0, method="recursive")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(got, alone):
        assert np.array_equal(a, b)
