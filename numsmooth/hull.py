"""The min-norm-hull QP of gradient sampling: driver and fallback, in one place.

:func:`min_norm_hull` finds the minimum-norm element of the convex hull of the rows of ``G``
(``min ||G^T w||``, ``w >= 0``, ``sum w = 1``) with Wolfe's nearest-point algorithm in a Numba
kernel (:mod:`numsmooth._kernels.hull`) and, when rounding stops that kernel short of the
tolerance, a Gram-free polish (:func:`_wolfe_polish`).

The QP is scale-invariant: ``G`` is multiplied by a power of two that brings its largest magnitude
into ``[0.5, 1)`` before the solve and the point is multiplied back after. Both scalings are exact
in binary floating point, so ``G`` and ``2**k * G`` give the same weights bit for bit, and neither
the Gram matrix of gradients of size 1e200 overflows nor that of gradients of size 1e-160
underflows.

The accuracy settings are the :mod:`numsmooth.config` knobs ``hull_tol``, ``hull_maxiter`` and
``hull_accept``; the constants below are their defaults.

The Gram matrix ``K = G G^T`` is a BLAS product, and OpenBLAS starts a thread per core for it
beside Numba's: on a busy machine those threads spin while they wait for a core. From
``m^2 d >= 2^18`` on (below it OpenBLAS runs on one thread anyway) the solve runs with BLAS
limited to one thread (threadpoolctl; the limit is process-wide while a solve runs, and
concurrent solves share it). On a shared two-core machine (load 12 to 17) a step of
``recipes.gradient_sampling(100)`` on maxq took a median 0.6 ms so, against 80 ms (190 ms with
two more busy processes) on OpenBLAS's own threads (``asv_benchmarks/oversubscription.py``).
One BLAS thread was also faster than Numba loops for the product at every size measured
(m = 200, d = 100: 0.2 ms against 1.1 ms; m = 100, d = 1000: 0.5 ms against 12 ms).
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from . import config
from ._kernels import hull as _hull
from ._parallel import pick, use_parallel

__all__ = ["min_norm_hull"]

#: ``m^2 d`` from which the solve limits BLAS to one thread (OpenBLAS's own threshold for
#: starting its threads in a matrix product).
ONE_BLAS_THREAD_FROM = 1 << 18

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter: Any = None
_controller: Any = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the block runs; nested and concurrent uses share one limit, set
    by the first and restored by the last."""
    global _blas_users, _blas_limiter, _controller
    with _blas_lock:
        if _blas_users == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

                _controller = ThreadpoolController()
            _blas_limiter = _controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def min_norm_hull(G: np.ndarray, tol: float | None = None, maxiter: int | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-norm point of the convex hull of the rows of ``G``.

    Wolfe's nearest-point method in a kernel; when rounding in its Gram matrix stops it short of
    ``tol`` (tightly clustered or near-duplicate gradients), a few more Wolfe iterations in
    difference coordinates with QR least squares finish the job, since they never square the
    condition number.

    Parameters
    ----------
    G : ndarray, shape (m, d)
        Gradients (float64; other float arrays are converted), ``m >= 1``, of any finite
        magnitude.
    tol : float, optional
        Relative optimality gap ``(||x||^2 - min_k G_k . x) / max_k ||G_k||^2`` to reach;
        default the ``hull_tol`` knob of :mod:`numsmooth.config`.
    maxiter : int, optional
        Iteration cap of the kernel; default the ``hull_maxiter`` knob.

    Returns
    -------
    w : ndarray, shape (m,)
        Weights (``w >= 0``, ``sum(w) = 1``); all nan if ``G`` holds nan or inf.
    x : ndarray, shape (d,)
        ``G.T @ w``; all nan if ``G`` holds nan or inf.
    gap : float
        The relative optimality gap reached (``nan`` if ``G`` is not finite). It does not
        depend on the scale of ``G``.

    Notes
    -----
    ``G`` is scaled by ``2**-e``, ``e`` the binary exponent of ``max |G|``, before the solve and
    ``x`` by ``2**e`` after: exact, so the result for ``c G`` is ``c`` times the result for
    ``G`` for every power of two ``c`` (up to underflow of entries below ``2**-1074`` after
    scaling, far below the tolerance). Memory: the scaled copy of ``G``, and an ``(m, m)`` Gram
    matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from numsmooth.hull import min_norm_hull
    >>> w, x, gap = min_norm_hull(np.array([[1.0, 1.0], [1.0, -1.0]]))
    >>> np.allclose(x, [1.0, 0.0], atol=1e-15), np.allclose(w, [0.5, 0.5]), gap <= 1e-12
    (True, True, True)
    >>> big = 2.0**700
    >>> w2, x2, gap2 = min_norm_hull(np.array([[big, big], [big, -big]]))
    >>> bool(np.array_equal(w2, w) and np.array_equal(x2, x * 2.0**700))  # scale-invariant
    True
    """
    tol = config.get("hull_tol") if tol is None else tol
    maxiter = config.get("hull_maxiter") if maxiter is None else maxiter
    G = np.asarray(G, dtype=np.float64)
    m, d = G.shape
    w = np.empty(m)
    x = np.empty(d)
    # two reductions rather than np.abs(G).max(): no temporary of G's size; nan propagates
    amax = max(float(G.max()), -float(G.min())) if G.size else 0.0
    if not math.isfinite(amax):
        w.fill(np.nan)
        x.fill(np.nan)
        return w, x, float("nan")
    e = math.frexp(amax)[1]  # amax = f * 2**e, f in [0.5, 1); e = 0 for amax = 0
    Gs = np.ascontiguousarray(np.ldexp(G, -e))  # exact (a power of two), and always a copy
    if m * m * d >= ONE_BLAS_THREAD_FROM:
        with _one_blas_thread():
            status = _hull.min_norm_hull_weights(Gs, w, tol, maxiter)
    else:
        status = _hull.min_norm_hull_weights(Gs, w, tol, maxiter)
    parallel = use_parallel(Gs.size)
    pick(_hull.combine_rows, Gs.size, parallel=parallel)(Gs, w, x)
    gap = _gap(Gs, x, parallel)
    if status < 0 and not gap <= tol:
        with _one_blas_thread():
            w2, x2 = _wolfe_polish(Gs, w, tol)
        gap2 = _gap(Gs, x2, parallel)
        if gap2 < gap:
            w, x, gap = w2, x2, gap2
    return w, np.ldexp(x, e, out=x), gap


def _gap(G: np.ndarray, x: np.ndarray, parallel: bool) -> float:
    """The relative optimality gap of the hull point ``x`` (see :func:`min_norm_hull`)."""
    dots = np.empty(G.shape[0])
    pick(_hull.row_dots, G.size, parallel=parallel)(G, x, dots)
    return float(_hull.hull_gap_dots(G, x, dots))


def _wolfe_polish(G: np.ndarray, w: np.ndarray, tol: float, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Wolfe's major/minor cycles from the support of ``w``, with the affine minimiser of the
    corral found by least squares on differences ``G_s - G_base`` (no Gram matrix).

    ``G`` is the scaled block of :func:`min_norm_hull` (largest magnitude in ``[0.5, 1)``).
    """
    scale = float(np.max(np.einsum("ij,ij->i", G, G)))
    S = [int(k) for k in np.flatnonzero(w > 0)]
    lam = w[S] / w[S].sum()
    x = lam @ G[S]
    for _ in range(maxiter):
        dots = G @ x
        j = int(np.argmin(dots))
        if x @ x - dots[j] <= tol * scale or j in S:
            break
        S.append(j)
        lam = np.append(lam, 0.0)
        for _ in range(len(S) + 1):  # minor cycles: each drops at least one point
            base = G[S[0]]
            if len(S) == 1:
                alpha = np.ones(1)
            else:
                beta = np.linalg.lstsq((G[S[1:]] - base).T, -base, rcond=None)[0]
                alpha = np.concatenate([[1.0 - beta.sum()], beta])
            if np.all(alpha > 0):
                lam = alpha
                break
            shrink = (alpha <= 0) & (lam > alpha)
            theta = np.min(lam[shrink] / (lam[shrink] - alpha[shrink]))
            lam = lam + theta * (alpha - lam)
            keep = lam > 0
            keep[np.argmin(np.where(shrink, lam, np.inf))] = False
            S = [s for s, k in zip(S, keep) if k]
            lam = lam[keep] / lam[keep].sum()
        x = lam @ G[S]
    w_out = np.zeros(G.shape[0])
    w_out[S] = lam
    return w_out, w_out @ G
