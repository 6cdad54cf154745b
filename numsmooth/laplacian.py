"""Laplacian smoothing: the periodic solve :func:`laplacian_smooth` and the module
:class:`LaplacianSmoothing` (LSGD, Osher et al. 2022).

Two solvers compute the same thing: a pyFFTW real-transform solve (any order and power, plans
built once per length/dtype/batch and reused) and an exact O(N) recursive solve of the periodic
tridiagonal system (order 1, power 1) in :mod:`numsmooth._kernels.laplacian`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, Callable, TypeVar

import numba
import numpy as np
import pyfftw

from . import config
from ._kernels import laplacian as _kl
from ._parallel import below_threshold, pick, use_parallel
from ._validation import check_bool, check_choice, check_float_array, check_int, check_real
from ._state import Hyperparameter
from .modules import Module
from .objective import Objective

__all__ = ["laplacian_smooth", "LaplacianSmoothing"]

METHODS = ("auto", "fft", "recursive")
TARGETS = ("update", "grad")

# method="auto" (measured with asv_benchmarks/compare_laplacian.py, 2 shared cores, load 4-5,
# float64, sigma=1, one line; GOMP_SPINCOUNT=0): order 1 / power 1 -> "recursive":
#   N      recursive   fft        np.copyto
#   2^14   28 us       100 us     3.2 us
#   2^20   2.1 ms      22 ms      0.86 ms
#   2^22   8.7 ms      115 ms     4.6 ms
#   2^24   65 ms       1.37 s     39 ms
# (the recursion is O(N), memory-bound and parallel over chunks; the FFT is O(N log N) with
# several passes over the data), and for sigma <= _RECURSIVE_SIGMA_MAX only (accuracy, below).
# Every other order/power -> "fft" (the recursion does not apply).

# Cache sizes: plans hold two aligned buffers each (3 x 8 bytes per float64 element).
_PLAN_CACHE_SIZE = 16
_PLAN_CACHE_BYTES = 1 << 29
_DENOM_CACHE_SIZE = 64
# pyFFTW threads (config knobs fft_threads, fft_threads_min_elements): threads=2 pays off from
# about 2^20 elements (measured: 2^20 10.6 vs 16.8 ms, 2^24 355 vs 613 ms). Below that it loses,
# and pyFFTW's bundled OpenMP runtime then competes with Numba's (spinning workers of two runtimes
# on two cores): a recursive solve right after a two-thread FFT of 2^16 elements took 7 ms
# instead of 0.06 ms.
# The recursive solve runs its serial kernel up to the knob laplacian_serial_max_elements (same
# result bit for bit). Unloaded, the parallel kernel is faster from ~2^13, but with the cores
# oversubscribed each parallel region can wait a scheduler time slice for a descheduled worker
# (measured under load 8 on 2 cores, OpenMP layer: 2^14 took 37-50 ms parallel vs 21 us serial,
# 2^20 28 ms vs 1.5 ms), so parallelism starts where the serial work is about a time slice.
# Chunks of one long line for the recursive solve: at least this long, and at least
# _CHUNK_HALO_FACTOR times the boundary halo so the boundary sums stay a small overhead (they are
# latency-bound chains of 3 x halo steps per chunk: with 1024-element chunks at sigma = 1 they
# took a fifth of the serial solve of 2^16 elements; 2048 halves that). The number of chunks is
# rounded down to a multiple of 4 from 4 up, so that a single line has no leftover lanes outside
# the kernel's lockstep groups of four (a leftover lane runs at the latency of its recursion,
# ~4x slower per element). Lines too short for four such chunks (a model's small weight
# matrices) are still cut into up to four lanes of at least _SHORT_CHUNK_HALO_FACTOR halos: one
# lane of 4096 elements took 11 us, four lanes 4 us (sigma = 1).
_CHUNK_MIN = 2048
_SHORT_CHUNK_HALO_FACTOR = 4
# method="auto" uses the recursion up to this sigma, the range where it is verified to 1e-12
# (measured 7e-14 at N = 1e5); beyond it the pole r -> 1 and the error grows (1e-12 at
# sigma = 1e8, 7e-12 at 1e10, N = 1e5) while the FFT stays at ~5e-16.
_RECURSIVE_SIGMA_MAX = 1e6
_CHUNK_HALO_FACTOR = 8
# float32 input is solved with float32 arithmetic in the recursions (pass 2 of the kernel) when
# the gain 1 - r is at least this (sigma <= 240): the rounding errors of w = (1-r) x + r w add up
# with weights r^k, to at most ~eps32 / (1 - r) = 16 eps32 ~ 2e-6 relative per pass, inside the
# float32 accuracy the FFT path has too (measured <= 1e-6 against the dense solve). It saves the
# float32 <-> float64 conversions of every element (serial 2^16: ~40% of pass 2). For larger
# sigma the pole nears 1 and the state stays float64. The boundary sums are float64 always.
_FLOAT32_MIN_GAIN = 1.0 / 16.0

_NATIVE_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))

_T = TypeVar("_T")
_plan_cache: "OrderedDict[tuple[Any, ...], _FFTPlan]" = OrderedDict()
_denom_cache: "OrderedDict[tuple[Any, ...], np.ndarray]" = OrderedDict()
_rec_cache: "OrderedDict[tuple[Any, ...], tuple[float, float, int, float, int]]" = OrderedDict()
_rec32_cache: "OrderedDict[tuple[Any, ...], tuple[np.float32, np.float32]]" = OrderedDict()
_cache_lock = threading.Lock()
_scratch_cache: "OrderedDict[tuple[Any, ...], int]" = OrderedDict()
# the recursive solve's scratch (its vector path's forward output): one buffer per thread and
# dtype, kept and grown, so a solve allocates nothing that grows with N
_scratch_local = threading.local()
# runs of the parallel vector path (their scratch is split between Numba's threads): a few per
# thread, for balance; their number does not change the bits
_RUNS_PER_THREAD = 2


def _cache_get(cache: "OrderedDict[tuple[Any, ...], _T]", key: tuple[Any, ...], make: Callable[[], _T],
               size: int) -> _T:
    """``cache[key]``, made by ``make()`` on a miss; the oldest entries are evicted beyond ``size``."""
    val = cache.get(key)  # a plain dict read is atomic; only insertion takes the lock
    if val is not None:
        return val
    val = make()
    with _cache_lock:
        cache[key] = val
        while len(cache) > size:
            cache.popitem(last=False)
    return val


class _FFTPlan:
    """Forward r2c and backward c2r pyFFTW plans over one (rows, n) real buffer.

    The buffers belong to the plan; callers copy in and out under ``lock`` and never keep a
    reference to them.
    """

    __slots__ = ("real", "spec", "spec_as_real", "fwd", "bwd", "lock")

    def __init__(self, rows: int, n: int, dtype: np.dtype, threads: int):
        cdtype = np.complex64 if dtype == np.float32 else np.complex128
        self.real = pyfftw.empty_aligned((rows, n), dtype=dtype)
        self.spec = pyfftw.empty_aligned((rows, n // 2 + 1), dtype=cdtype)
        self.spec_as_real = self.spec.view(dtype)
        # FFTW_ESTIMATE: planning costs microseconds and never touches the buffers.
        self.fwd = pyfftw.FFTW(self.real, self.spec, axes=(-1,), direction="FFTW_FORWARD",
                               flags=("FFTW_ESTIMATE",), threads=threads)
        self.bwd = pyfftw.FFTW(self.spec, self.real, axes=(-1,), direction="FFTW_BACKWARD",
                               flags=("FFTW_ESTIMATE", "FFTW_DESTROY_INPUT"), threads=threads)
        self.lock = threading.Lock()


def _plan(rows: int, n: int, dtype: np.dtype) -> _FFTPlan:
    """The cached plan of a (rows, n) batch; least recently built plans are dropped beyond
    ``_PLAN_CACHE_SIZE`` plans or ``_PLAN_CACHE_BYTES`` of buffers (the newest is always kept)."""
    threads = config.get("fft_threads") if use_parallel(rows * n, "fft_threads_min_elements") else 1
    key = (rows, n, np.dtype(dtype).char, threads)
    plan = _cache_get(_plan_cache, key, lambda: _FFTPlan(rows, n, np.dtype(dtype), threads), _PLAN_CACHE_SIZE)
    with _cache_lock:
        total = sum(p.real.nbytes + p.spec.nbytes for p in _plan_cache.values())
        while total > _PLAN_CACHE_BYTES and len(_plan_cache) > 1:
            old_key = next(iter(_plan_cache))
            if old_key == key:
                break
            old = _plan_cache.pop(old_key)
            total -= old.real.nbytes + old.spec.nbytes
    return plan


def _symbol(n: int, sigma: float, order: int) -> np.ndarray:
    """``lambda_k = 1 + sigma (4 sin^2(pi k / n))^order`` for ``k = 0..n//2`` (float64)."""
    k = np.arange(n // 2 + 1, dtype=np.float64)
    mu = 4.0 * np.sin(np.pi * k / n) ** 2
    if n % 2 == 0:
        mu[-1] = 4.0  # exactly, at the Nyquist frequency
    return 1.0 + sigma * mu**order


def _fft_denominator(n: int, sigma: float, order: int, power: float, dtype: np.dtype) -> np.ndarray:
    """``1 / (n lambda^power)`` repeated for the real and imaginary parts, in ``dtype``."""

    def make() -> np.ndarray:
        with np.errstate(over="ignore"):  # a huge sigma: lambda = inf, 1/lambda = 0 (exact enough)
            lam = _symbol(n, sigma, order)
            inv = 1.0 / (n * lam**power)
        return np.repeat(inv, 2).astype(dtype)

    key = (n, sigma, order, power, np.dtype(dtype).char)
    return _cache_get(_denom_cache, key, make, _DENOM_CACHE_SIZE)


def _recursive_constants(n: int, sigma: float) -> tuple[float, float, int, float, int]:
    """``(r, 1 - r, halo, 1 / (1 - r^n), nchunks)`` of the recursive solve (see the kernel module)."""
    hit = _rec_cache.get((n, sigma))  # the hot path: no closure built on a hit
    if hit is not None:
        return hit

    def make() -> tuple[float, float, int, float, int]:
        # r: the small root of s r^2 - (1+2s) r + s, without cancellation; for s > 1 written in
        # t = 1/s so that nothing overflows up to the largest finite sigma
        if sigma <= 1.0:
            d = (1.0 + 2.0 * sigma) + math.sqrt(1.0 + 4.0 * sigma)
            r = 2.0 * sigma / d
            one_minus_r = (1.0 + math.sqrt(1.0 + 4.0 * sigma)) / d
        else:
            t = 1.0 / sigma
            q = math.sqrt(t * (t + 4.0))
            d = (t + 2.0) + q
            r = 2.0 / d
            one_minus_r = (t + q) / d
        if one_minus_r < 1.0:
            log_r = math.log1p(-one_minus_r)  # accurate for r near 1
        else:  # sigma below ~1e-16: 1 - r rounds to 1 (r may even underflow to 0)
            log_r = math.log(r) if r > 0.0 else -math.inf
        # r^halo < 1e-17: the truncated boundary sums are exact to double precision
        halo = max(1, min(n, int(math.ceil(math.log(1e-17) / log_r)) + 1))
        inv_one_minus_rn = 1.0 / -math.expm1(n * log_r)
        chunk = max(_CHUNK_MIN, _CHUNK_HALO_FACTOR * halo)
        nchunks = max(1, n // chunk)
        if nchunks >= 4:
            nchunks -= nchunks % 4
        else:
            nchunks = max(nchunks, min(4, n // (_SHORT_CHUNK_HALO_FACTOR * halo)))
        # gain (1 - r) on each of the two passes: (1 - r)^2 = r / s makes lambda_0 = 1
        return r, one_minus_r, halo, inv_one_minus_rn, nchunks

    return _cache_get(_rec_cache, (n, sigma), make, _DENOM_CACHE_SIZE)


def _solve_fft(x: np.ndarray, out: np.ndarray, sigma: float, order: int, power: float) -> None:
    """The FFT solve, overflow-free: each line is scaled by ``2**-e`` (``e`` the binary exponent
    of its largest magnitude) before the transform and by ``2**e`` after, both exact, so that
    neither the transform of values near 1e308 overflows nor that of values near 1e-320 loses
    digits to subnormals."""
    rows, n = x.shape
    den = _fft_denominator(n, sigma, order, power, x.dtype)
    plan = _plan(rows, n, x.dtype)
    hi = x.max(axis=1)  # two reductions: no temporary |x|; nan propagates
    lo = x.min(axis=1)
    amax = np.maximum(hi, -lo)
    finite = np.isfinite(amax)
    e = np.frexp(amax)[1][:, None]  # amax = f 2**e, f in [0.5, 1); 0 for zero and non-finite
    with plan.lock:
        np.ldexp(x, -e, out=plan.real)
        plan.fwd.execute()
        plan.spec_as_real *= den
        plan.bwd.execute()
        np.ldexp(plan.real, e, out=out)
    if not finite.all():
        _nonfinite_lines(out, hi, lo, order, finite)


def _nonfinite_lines(out: np.ndarray, hi: np.ndarray, lo: np.ndarray, order: int, finite: np.ndarray) -> None:
    """Rows of ``out`` whose input held inf or nan (max ``hi``, min ``lo``): for order 1 the limit
    (every entry of the inverse is positive, so ``+inf`` alone gives ``+inf`` everywhere, ``-inf``
    alone ``-inf``; nan, or both signs, give nan); for higher orders, whose inverse has entries of
    both signs, nan."""
    for i in np.flatnonzero(~finite).tolist():
        if order == 1 and not (np.isnan(hi[i]) or np.isnan(lo[i])) and not (hi[i] == np.inf and lo[i] == -np.inf):
            out[i] = np.inf if hi[i] == np.inf else -np.inf
        else:
            out[i] = np.nan


def _float32_scalars(n: int, sigma: float) -> tuple[np.float32, np.float32]:
    """``(r, 1 - r)`` of :func:`_recursive_constants` rounded to float32 (cached: two NumPy
    scalar conversions cost about a microsecond, a tenth of the solve of 2^14 elements)."""
    hit = _rec32_cache.get((n, sigma))
    if hit is not None:
        return hit
    r, gain = _recursive_constants(n, sigma)[:2]
    return _cache_get(_rec32_cache, (n, sigma), lambda: (np.float32(r), np.float32(gain)), _DENOM_CACHE_SIZE)


def _scratch(rows: int, n: int, nchunks: int, dtype: np.dtype, parallel: bool) -> np.ndarray:
    """The calling thread's scratch for a recursive solve of ``rows`` lines of ``n`` elements,
    as large as the kernel's vector path wants (``numsmooth._kernels.laplacian.vector_plan``)."""
    key = (rows, n, nchunks, parallel)
    size = _scratch_cache.get(key)
    if size is None:
        max_runs = _RUNS_PER_THREAD * numba.get_num_threads() if parallel else 1
        size = _cache_get(_scratch_cache, key, lambda: _kl.scratch_elements(rows, n, nchunks, parallel, max_runs),
                          _DENOM_CACHE_SIZE)
    return _thread_scratch(size, dtype)


def _thread_scratch(size: int, dtype: np.dtype) -> np.ndarray:
    buf: np.ndarray | None = getattr(_scratch_local, dtype.char, None)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        setattr(_scratch_local, dtype.char, buf)
    return buf


def _solve_recursive(x: np.ndarray, out: np.ndarray, sigma: float) -> None:
    r, gain, halo, inv_one_minus_rn, nchunks = _recursive_constants(x.shape[1], sigma)
    # the kernels do their recursions in the type of r and gain
    rt: float | np.float32 = r
    gt: float | np.float32 = gain
    if x.dtype == np.float32 and gain >= _FLOAT32_MIN_GAIN:
        rt, gt = _float32_scalars(x.shape[1], sigma)
    # the knob is the largest size solved serially, hence size - 1
    parallel = use_parallel(x.size - 1, "laplacian_serial_max_elements")
    # out apart from x: the parallel kernel that wakes the threads once instead of twice
    apart = parallel and not np.may_share_memory(x, out)
    kernel = pick(_kl.periodic_solve_rows_apart if apart else _kl.periodic_solve_rows, x.size, parallel=parallel)
    kernel(x, rt, gt, halo, inv_one_minus_rn, nchunks, out, _scratch(x.shape[0], x.shape[1], nchunks, x.dtype, parallel))


def _solve_lines(x: np.ndarray, out: np.ndarray, sigma: float, order: int, power: float, method: str) -> None:
    """Solve every row of the C-contiguous 2-D ``x`` into ``out`` (same shape/dtype; may be ``x``).

    Arguments are assumed valid; ``method`` is already resolved to "fft" or "recursive".
    """
    n = x.shape[1]
    if sigma == 0.0 or n <= 1 or x.size == 0:
        if out is not x:
            np.copyto(out, x)
        return
    if method == "recursive":
        _solve_recursive(x, out, sigma)
    else:
        _solve_fft(x, out, sigma, order, power)


def _resolve_method(method: str, order: int, power: float, sigma: float = 0.0) -> str:
    if method == "auto":
        return "recursive" if (order == 1 and power == 1.0 and sigma <= _RECURSIVE_SIGMA_MAX) else "fft"
    if method == "recursive" and (order != 1 or power != 1.0):
        raise ValueError(
            f"method='recursive' solves only order=1 and power=1; got order={order!r}, power={power!r} "
            "(use method='fft' or 'auto')"
        )
    return method


def _check_params(sigma: Any, order: Any, power: Any, method: Any) -> tuple[float, int, float, str]:
    sigma = check_real("sigma", sigma, low=0.0)
    order = check_int("order", order, low=1)
    power = check_real("power", power, low=0.0, low_open=True)
    method = check_choice("method", method, METHODS)
    _resolve_method(method, order, power)
    return sigma, order, power, method


def laplacian_smooth(
    g: Any,
    sigma: float = 1.0,
    *,
    order: int = 1,
    power: float = 1.0,
    axis: int = -1,
    out: np.ndarray | None = None,
    method: str = "auto",
) -> np.ndarray:
    """Laplacian smoothing of every 1-D line of ``g`` along ``axis``.

    Solves ``(I + sigma * (-L)^order)^power y = g`` for each line, ``L`` the periodic 1-D
    discrete Laplacian (first row ``[-2, 1, 0, ..., 0, 1]``).

    Parameters
    ----------
    g : array_like of float32 or float64
        Input; integer lists are converted to float64, integer/complex/bool arrays are rejected.
    sigma : float
        Smoothing strength, finite and >= 0; 0 is the identity.
    order : int
        Power of ``-L`` (>= 1): 1 is the LSGD operator, higher orders are the high-order
        smoothing of Osher et al.
    power : float
        Power (> 0, finite) of the whole operator; ``power=0.5`` is the square-root smoothing.
    axis : int
        The axis along which lines are smoothed.
    out : ndarray, optional
        Where to write the result: same shape and dtype as ``g``; may be ``g`` itself.
    method : {"auto", "fft", "recursive"}
        ``"fft"``: pyFFTW real transforms, ``irfft(rfft(g) / lambda^power)``, plans cached per
        (length, dtype, batch). ``"recursive"``: exact O(N) solve of the periodic tridiagonal
        system (order 1 and power 1 only), parallel across lines and across chunks of a long
        line. ``"auto"``: ``"recursive"`` for order 1 / power 1 and ``sigma <= 1e6`` (faster at
        every size measured), ``"fft"`` otherwise.

    Returns
    -------
    ndarray
        ``y``, same shape and dtype as ``g`` (``out`` when given).

    Raises
    ------
    TypeError
        ``g`` is not a float array, or an argument has the wrong type.
    ValueError
        An argument is out of range, ``axis`` is out of bounds, ``method`` is unknown or
        ``"recursive"`` with order/power other than 1, or ``out`` has the wrong shape.

    Notes
    -----
    The operator is circulant with the real symbol
    ``lambda_k = 1 + sigma * (4 sin^2(pi k / N))^order``, ``k = 0..N-1``, so
    ``y = irfft(rfft(g) / lambda^power)``. Since ``lambda_0 = 1`` the mean of every line is
    preserved. For order 1 and power 1 the inverse ``(I - sigma L)^{-1}`` is a circulant with
    positive entries summing to 1, so ``min(g) <= y <= max(g)`` (discrete maximum principle).
    ``N = 1`` is the identity and ``N = 2`` uses the true 2-node periodic Laplacian
    (``lambda = [1, 1 + 4 sigma]`` at order 1; torchzero 0.4.4's kernel gives
    ``[1 + sigma, 1 + 3 sigma]`` there).

    The recursive solve factors ``1 + 2s - s (z + 1/z) = (s/r)(1 - r z)(1 - r/z)`` with ``r`` in
    (0, 1) and runs a causal and an anti-causal first-order recursion with exact periodic initial
    states; its result does not depend on the number of threads. Accuracy against a dense solve is
    better than 1e-13 relative in float64 for ``sigma`` from 1e-6 to 1e6 (the FFT path: ~1e-15);
    for larger ``sigma`` the pole approaches 1 and the recursion loses digits (~7e-12 at
    ``sigma = 1e10``, N = 1e5), so ``"auto"`` switches to the FFT there.

    float32 input is computed in float32 storage: the FFT path with single-precision FFTW plans
    (float64 denominators), the recursive path with float32 recursions for ``sigma`` up to
    about 240 (``1 - r >= 1/16``, error ~1e-6) and float64 recursion state above; its boundary
    sums are float64. Kernels and plans for float32 are compiled/built only when float32 input
    is given.

    References
    ----------
    S. Osher, B. Wang, P. Yin, X. Luo, F. Barekat, M. Pham, A. Lin, "Laplacian smoothing gradient
    descent", Research in the Mathematical Sciences 9(3):55, 2022. arXiv:1806.06317.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> g = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    >>> y = ns.laplacian_smooth(g, sigma=1.0)
    >>> np.round(y, 4)
    array([0.2727, 0.5455, 1.3636, 0.5455, 0.2727])
    >>> np.allclose(11 * y, [3, 6, 15, 6, 3])  # the exact solution of (I - L) y = g
    True
    >>> bool(np.isclose(y.mean(), g.mean()))
    True
    """
    # Fast path for the common call: a native-order, C-contiguous float array smoothed along its
    # last axis (order 1, power 1, sigma in the recursion's range) into a fresh or a matching,
    # non-overlapping out. Every case it takes is one the general path accepts and solves the
    # same way, so results and errors do not depend on it; it only skips the Python overhead.
    if (type(g) is np.ndarray and g.dtype in _NATIVE_FLOATS and g.flags.c_contiguous and g.ndim
            and g.size and type(sigma) is float and 0.0 <= sigma <= _RECURSIVE_SIGMA_MAX
            and type(order) is int and order == 1 and type(power) is float and power == 1.0
            and type(axis) is int and (axis == -1 or axis == g.ndim - 1)
            and (method == "auto" or method == "recursive") and type(method) is str):
        n = g.shape[-1]
        if out is None:
            res = np.empty_like(g)
            _solve_lines(g.reshape(-1, n), res.reshape(-1, n), sigma, 1, 1.0, "recursive")
            return res
        if (type(out) is np.ndarray and out.dtype == g.dtype and out.shape == g.shape
                and out.flags.c_contiguous and out.flags.writeable
                and (out is g or not np.may_share_memory(out, g))):
            _solve_lines(g.reshape(-1, n), out.reshape(-1, n), sigma, 1, 1.0, "recursive")
            return out
    g = check_float_array("g", g)
    if not g.dtype.isnative:  # big-endian input: the kernels and FFTW take native order only
        g = g.astype(g.dtype.newbyteorder("="))
    sigma, order, power, method = _check_params(sigma, order, power, method)
    if g.ndim == 0:
        raise ValueError(f"g must have at least one dimension; got a 0-d array {g!r}")
    axis_i = check_int("axis", axis)
    if not -g.ndim <= axis_i < g.ndim:
        raise ValueError(f"axis {axis!r} is out of bounds for g with {g.ndim} dimension(s)")
    axis_i %= g.ndim
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a NumPy array; got {type(out).__name__}")
        if out.shape != g.shape:
            raise ValueError(f"out must have the shape of g {g.shape}; got shape {out.shape}")
        if out.dtype.newbyteorder("=") != g.dtype:
            raise TypeError(f"out must have the dtype of g ({g.dtype}); got dtype {out.dtype}")
        if not out.flags.writeable:
            raise ValueError("out must be writeable")
    method = _resolve_method(method, order, power, sigma)
    n = g.shape[axis_i]

    last = axis_i == g.ndim - 1
    gm = g if last else np.moveaxis(g, axis_i, -1)
    if g.size == 0:
        return np.array(g, copy=True) if out is None else out
    x = np.ascontiguousarray(gm).reshape(-1, n)
    if out is None:
        res = np.empty(gm.shape, dtype=g.dtype)
        _solve_lines(x, res.reshape(-1, n), sigma, order, power, method)
        return res if last else np.moveaxis(res, -1, axis_i)
    om = out if last else np.moveaxis(out, axis_i, -1)
    if om.flags.c_contiguous and out.dtype.isnative:
        o2 = om.reshape(-1, n)  # a view
        # out is g: x and o2 are then the same contiguous buffer, and both solvers are safe in
        # place; any other overlap goes through a temporary
        if out is g or not np.may_share_memory(o2, x):
            _solve_lines(x, o2, sigma, order, power, method)
            return out
    tmp = np.empty(gm.shape, dtype=g.dtype)
    _solve_lines(x, tmp.reshape(-1, n), sigma, order, power, method)
    om[...] = tmp  # also converts to a big-endian out
    return out


def _check_sigma(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0)


class LaplacianSmoothing(Module):
    """Laplacian smoothing of the update or of the gradient (LSGD).

    Each parameter (``layerwise=True``) or the whole flat parameter vector (``layerwise=False``)
    is replaced by the solution of ``(I + sigma (-L)^order)^power y = v`` (see
    :func:`laplacian_smooth`).

    Parameters
    ----------
    sigma : float or callable
        Smoothing strength, finite and >= 0, or a schedule ``step -> sigma`` (see
        :mod:`numsmooth.schedules`). Settable later (``module.sigma = 0.5``, checked); the new
        value is used from the next step and is saved with the state (a schedule is not: the
        state keeps the step count, ``state["step"]``).
    layerwise : bool
        Smooth each parameter (flattened row-major) on its own; otherwise smooth the
        concatenation of all parameters and split it back.
    min_numel : int
        With ``layerwise=True``, parameters with fewer than ``min_numel`` elements pass through
        unchanged (``numel >= min_numel`` is smoothed). Ignored with ``layerwise=False``.
    target : {"update", "grad"}
        ``"update"`` smooths the update flowing through the chain; ``"grad"`` smooths the
        gradient returned by the objective, so every later module (and line search) sees it.
    order : int
        Order of the Laplacian power, >= 1.
    power : float
        Power of the operator, > 0.
    method : {"auto", "fft", "recursive"}
        Solver, as in :func:`laplacian_smooth`.
    axis : int or None
        ``None`` (default, torchzero's behaviour): each parameter is flattened row-major and
        smoothed as one line. An int: each parameter is smoothed along that axis, every line
        along it on its own (``laplacian_smooth(p, axis=axis)``); a parameter with too few
        dimensions for ``axis`` (a bias vector with ``axis=1``) is flattened as with ``None``,
        which for 1-D parameters is the same thing. Needs ``layerwise=True``.

    Raises
    ------
    ValueError
        An argument is out of range, or ``axis`` is an int with ``layerwise=False`` (one
        concatenated vector has no axes to choose from).

    Notes
    -----
    With ``axis=None`` the result depends on the memory layout: a weight stored as
    ``(in, out)`` is smoothed across its ``out`` index (neighbours in the flat vector), the same
    weight stored ``(out, in)`` across its ``in`` index; ``axis`` states the intent. Smoothing
    along a non-last axis goes through a scratch buffer that the module keeps between steps.

    Denominators (FFT) and recursion constants are cached per (length, sigma, order, power,
    dtype), so a changed ``sigma`` never meets a stale cache. Differences from torchzero 0.4.4's
    module: ``min_numel`` is inclusive (torchzero smooths only ``numel > min_numel``), N = 1 is
    the identity and N = 2 uses the true 2-node Laplacian.

    On float32 parameters (an optimizer with ``inplace=True`` on float32 arrays, or
    :mod:`numsmooth.torch`) the update stays float32: the recursive solve of a large parameter
    runs its recursions in float32 (``sigma`` up to about 240; see :func:`laplacian_smooth`),
    small parameters solved together in one kernel call, and lines along a non-last ``axis``,
    run them in float64 and round the result once to float32. Boundary sums are float64
    always.

    References
    ----------
    S. Osher et al., "Laplacian smoothing gradient descent", Research in the Mathematical
    Sciences 9(3):55, 2022. arXiv:1806.06317.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.zeros(5), ns.LaplacianSmoothing(sigma=1.0), ns.LR(1.0))
    >>> _ = opt.step(lambda x: (0.0, np.array([0.0, 0.0, -3.0, 0.0, 0.0])))
    >>> np.round(opt.x, 4)
    array([0.2727, 0.5455, 1.3636, 0.5455, 0.2727])
    """

    _replaces_arrays = True
    float32 = True
    sigma = Hyperparameter(_check_sigma)

    def __init__(self, sigma: Any = 1.0, layerwise: bool = True, min_numel: int = 4,
                 target: str = "update", *, order: int = 1, power: float = 1.0, method: str = "auto",
                 axis: int | None = None):
        super().__init__()
        _, order, power, method = _check_params(0.0, order, power, method)
        self.sigma = sigma
        self.layerwise = check_bool("layerwise", layerwise)
        self.axis = None if axis is None else check_int("axis", axis)
        if self.axis is not None and not self.layerwise:
            raise ValueError(
                f"axis={axis!r} needs layerwise=True: with layerwise=False all parameters are "
                "concatenated into one flat vector, which has no axes (use axis=None)")
        self._scratch = np.empty(0)
        self.min_numel = check_int("min_numel", min_numel, low=1)
        self.target = check_choice("target", target, TARGETS)
        self.order = order
        self.power = power
        self.method = method

    def config(self) -> dict[str, Any]:
        # sigma is a hyperparameter: saved with the state rather than compared.
        cfg: dict[str, Any] = {"layerwise": self.layerwise, "min_numel": self.min_numel, "target": self.target,
                               "order": self.order, "power": self.power, "method": self.method}
        if self.axis is not None:  # states saved before axis existed (axis=None) stay loadable
            cfg["axis"] = self.axis
        return cfg

    def _upgrade(self, state: dict[str, Any]) -> dict[str, Any]:
        # states of numsmooth 0.2 kept sigma next to "state", not in it
        if "sigma" in state and isinstance(state.get("state"), dict) and "sigma" not in state["state"]:
            state = {**state, "state": {**state["state"], "sigma": state["sigma"]}}
        return super()._upgrade(state)

    def smooth_(self, v: np.ndarray, offsets: np.ndarray,
                shapes: list[tuple[int, ...]] | None = None, src: np.ndarray | list[np.ndarray] | None = None,
                sigma: float | None = None) -> np.ndarray:
        """Smooth the flat float64 vector ``src`` (default: ``v`` itself, in place; with
        ``layerwise``, also a list of C-contiguous float64 arrays, one per parameter) into
        ``v``, parameters delimited by ``offsets`` (with shapes ``shapes``, needed when ``axis``
        is an int), with ``sigma`` (default: the current value)."""
        sigma = self.hyper("sigma") if sigma is None else sigma
        solver = _resolve_method(self.method, self.order, self.power, sigma)
        if self.axis is not None and shapes is not None:
            need = max((_moved_size(sh, self.axis) for sh in shapes), default=0)
            if self._scratch.size < need:
                self._scratch = np.empty(need)
        return _smooth_flat_(v, offsets, self.layerwise, self.min_numel, sigma, self.order,
                             self.power, solver, self.axis, shapes, self._scratch, src)

    def step(self, objective: Objective) -> Objective:
        layout = objective.layout
        sigma = self.hyper("sigma")
        self._advance()
        if self.target == "update":
            if objective.update is None:  # smooth the gradient straight into the new update
                parts = objective.grad_parts() if self.layerwise else None  # the user's arrays
                g = objective.grad() if parts is None else parts
                self.smooth_(objective.new_update(), layout.offsets, layout.shapes, src=g, sigma=sigma)
            else:
                self.smooth_(objective.update, layout.offsets, layout.shapes, sigma=sigma)
            return objective
        # the gradient transform of this step keeps this step's settings; it may run on several
        # threads (executors), so it does not share the module's scratch buffer
        solver = _resolve_method(self.method, self.order, self.power, sigma)
        args = (layout.offsets, self.layerwise, self.min_numel, sigma, self.order, self.power,
                solver, self.axis, layout.shapes, None)

        def smooth_grad(g: np.ndarray) -> np.ndarray:
            return _smooth_flat_(np.array(g, dtype=layout.dtype, copy=True), *args)

        return objective.transform_gradient(smooth_grad)


def _line_axis(shape: tuple[int, ...], axis: int | None) -> int | None:
    """The axis of ``shape`` to smooth along, or None to smooth the flattened array."""
    nd = len(shape)
    if axis is None or nd <= 1 or not -nd <= axis < nd:
        return None
    return axis % nd


def _moved_size(shape: tuple[int, ...], axis: int) -> int:
    """Scratch elements needed to smooth ``shape`` along ``axis`` (0 if no copy is needed)."""
    ax = _line_axis(shape, axis)
    return 0 if ax is None or ax == len(shape) - 1 else math.prod(shape)


def _smooth_flat_(v: np.ndarray, offsets: np.ndarray, layerwise: bool, min_numel: int, sigma: float,
                  order: int, power: float, solver: str, axis: int | None = None,
                  shapes: list[tuple[int, ...]] | None = None, scratch: np.ndarray | None = None,
                  src: np.ndarray | list[np.ndarray] | None = None) -> np.ndarray:
    """Smooth the flat vector ``src`` (``v`` when None: in place) into ``v``: whole, or segment
    by segment of ``offsets`` (each flattened, or along ``axis`` of its shape in ``shapes``;
    ``scratch`` holds the lines of a non-last axis, allocated here when None). With
    ``layerwise``, ``src`` may also be a list of C-contiguous float64 arrays, one per segment
    (the user's gradient arrays, read in place)."""
    if not layerwise:
        s1 = v if src is None else src
        assert isinstance(s1, np.ndarray)
        _solve_lines(s1.reshape(1, -1), v.reshape(1, -1), sigma, order, power, solver)
        return v
    if solver == "recursive" and sigma > 0.0 and below_threshold(v.size - 1, "laplacian_serial_max_elements"):
        plan = _segment_plan(offsets, shapes, min_numel, sigma, axis)
        if plan is not None:  # every segment serial anyway: one kernel call for all of them
            if isinstance(src, list):  # small: gathering the user's arrays first costs little
                for (lo, hi), p in zip(zip(offsets[:-1].tolist(), offsets[1:].tolist()), src):
                    v[lo:hi] = p.reshape(-1)
                src = None
            arrays, scratch_size = plan
            _kl.periodic_solve_segments_serial(v if src is None else src, v, *arrays,
                                               _thread_scratch(scratch_size, v.dtype))
            return v
    parts = src if isinstance(src, list) else None
    flat = src if isinstance(src, np.ndarray) else v
    for k, (lo, hi) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist())):
        seg: np.ndarray = flat[lo:hi] if parts is None else parts[k].reshape(-1)
        if hi - lo < min_numel:
            if src is not None:
                v[lo:hi] = seg
            continue
        ax = None if shapes is None else _line_axis(shapes[k], axis)
        if ax is None:
            _solve_lines(seg.reshape(1, -1), v[lo:hi].reshape(1, -1), sigma, order, power, solver)
            continue
        shape = shapes[k]  # type: ignore[index]
        if ax == len(shape) - 1:  # lines are contiguous
            _solve_lines(seg.reshape(-1, shape[-1]), v[lo:hi].reshape(-1, shape[-1]), sigma, order,
                         power, solver)
            continue
        buf = np.empty(hi - lo) if scratch is None else scratch[: hi - lo]
        x = buf.reshape(_moved_shape(shape, ax))
        np.copyto(x, np.moveaxis(seg.reshape(shape), ax, -1))
        x2 = x.reshape(-1, shape[ax])
        _solve_lines(x2, x2, sigma, order, power, solver)
        np.copyto(np.moveaxis(v[lo:hi].reshape(shape), ax, -1), x)
    return v


# the kernel's arrays, and the scratch elements its largest segment wants
_SegmentPlan = tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], int]
_segment_plans: "OrderedDict[tuple[Any, ...], tuple[np.ndarray, Any, _SegmentPlan | None]]" = OrderedDict()


def _segment_plan(offsets: np.ndarray, shapes: list[tuple[int, ...]] | None, min_numel: int, sigma: float,
                  axis: int | None) -> _SegmentPlan | None:
    """The arguments of ``periodic_solve_segments_serial`` after ``x`` and ``out`` for these
    segments, and the size of its scratch, or None when a segment's lines are not contiguous (a non-last ``axis``). Cached by
    the identity of ``offsets`` and ``shapes`` (an optimizer passes the same ones every step)."""
    key = (id(offsets), id(shapes), min_numel, sigma, axis)
    hit = _segment_plans.get(key)
    if hit is not None and hit[0] is offsets and hit[1] is shapes:
        return hit[2]

    def make() -> _SegmentPlan | None:
        m = offsets.size - 1
        seg = np.zeros((m, 3), dtype=np.int64)
        r, gain, inv = np.zeros(m), np.zeros(m), np.zeros(m)
        halo, nchunks = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
        scratch_size = 0
        for k, (lo, hi) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist())):
            ax = None if shapes is None else _line_axis(shapes[k], axis)
            n = hi - lo if ax is None else shapes[k][-1]  # type: ignore[index]
            if ax is not None and ax != len(shapes[k]) - 1:  # type: ignore[index]
                return None
            seg[k] = (lo, (hi - lo) // max(n, 1), n)
            if hi - lo >= min_numel and n > 1:
                r[k], gain[k], halo[k], inv[k], nchunks[k] = _recursive_constants(n, sigma)
                scratch_size = max(scratch_size, _kl.scratch_elements(int(seg[k, 1]), n, int(nchunks[k]), False, 1))
        return (seg, r, gain, halo, inv, nchunks), scratch_size

    plan = make()
    with _cache_lock:
        _segment_plans[key] = (offsets, shapes, plan)
        while len(_segment_plans) > _DENOM_CACHE_SIZE:
            _segment_plans.popitem(last=False)
    return plan


def _moved_shape(shape: tuple[int, ...], ax: int) -> tuple[int, ...]:
    """``shape`` with axis ``ax`` moved last."""
    return shape[:ax] + shape[ax + 1:] + (shape[ax],)
