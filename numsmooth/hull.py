"""The minimum-norm point of the convex hull of sampled gradients (the gradient-sampling QP).

:func:`min_norm_hull` drives Wolfe's nearest-point method in a kernel
(:mod:`numsmooth._kernels.hull`) and, when rounding in its Gram matrix stops it short, finishes
with a least-squares variant in NumPy (:func:`_wolfe_polish`). Kernel, driver and fallback are
the one place where this QP lives.
"""

from __future__ import annotations

import numpy as np

from . import config
from ._kernels import hull as _hull

__all__ = ["min_norm_hull"]


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
        Finite gradients, C-contiguous float64.
    tol : float, optional
        Relative optimality gap ``(||x||^2 - min_k G_k . x) / max_k ||G_k||^2`` to reach
        (default: the ``hull_tol`` knob of :mod:`numsmooth.config`).
    maxiter : int, optional
        Iteration cap of the kernel (default: the ``hull_maxiter`` knob).

    Returns
    -------
    w : ndarray, shape (m,)
        Weights (``w >= 0``, ``sum(w) = 1``).
    x : ndarray, shape (d,)
        ``G.T @ w``.
    gap : float
        The relative optimality gap reached (``nan`` if ``G`` is not finite).

    Notes
    -----
    Keeps the ``(m, d)`` block and an ``(m, m)`` Gram matrix in memory.
    """
    tol = config.get("hull_tol") if tol is None else tol
    maxiter = config.get("hull_maxiter") if maxiter is None else maxiter
    w = np.empty(G.shape[0])
    x = np.empty(G.shape[1])
    status = _hull.min_norm_hull(G, w, x, tol, maxiter)
    if status == _hull.NONFINITE:
        return w, x, float("nan")
    gap = float(_hull.hull_gap(G, x))
    if status < 0 and not gap <= tol:
        w2, x2 = _wolfe_polish(G, w, tol)
        gap2 = float(_hull.hull_gap(G, x2))
        if gap2 < gap:
            w, x, gap = w2, x2, gap2
    return w, x, gap


def _wolfe_polish(G: np.ndarray, w: np.ndarray, tol: float, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Wolfe's major/minor cycles from the support of ``w``, with the affine minimiser of the
    corral found by least squares on differences ``G_s - G_base`` (no Gram matrix)."""
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
