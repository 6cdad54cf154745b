"""The smoothed objective: values and gradients aggregated over perturbed points.

:class:`SmoothedObjective` owns the sampling configuration (``sigma``, ``n``, the aggregate, the
distribution, the seed and the stream of perturbations) and evaluates an oracle at the points
``x`` (when ``include_x0``) and ``x + sigma * u_k``. :func:`smoothed` returns one as a callable
``(x) -> (f, g)`` for ``scipy.optimize.minimize(..., jac=True)`` or any other loop;
:class:`~numsmooth.GradientSampling` drives one from inside an optimizer.
"""

from __future__ import annotations

import math
import numbers
import warnings
from concurrent.futures import Executor
from typing import Any, Callable

import numpy as np

from ._kernels import aggregate as _agg
from ._kernels import hull as _hull
from ._layout import ParamLayout
from ._parallel import use_parallel
from ._validation import check_bool, check_choice, check_int, check_real
from .objective import Oracle, make_oracle
from .perturbations import DISTRIBUTIONS, ROW_WISE, draw_perturbations, draw_rows, seed_to_key

__all__ = ["AGGREGATES", "SmoothedObjective", "smoothed"]

AGGREGATES = ("mean", "max", "min", "min-norm", "min-value", "min-norm-hull")

_STREAM_CODES = {
    "mean": _agg.MEAN, "max": _agg.MAX, "min": _agg.MIN, "min-norm": _agg.MIN_NORM, "min-value": _agg.MIN_VALUE,
}

#: Evaluations stream (memory independent of n) from this many elements of the (n, d) block.
STREAM_MIN_ELEMENTS = 1 << 22
#: Elements per chunk of points when streaming (16 MB per float64 buffer).
STREAM_CHUNK_ELEMENTS = 1 << 21

#: aggregate -> (serial kernel, parallel kernel); "min-value" is O(m + d) and has no parallel one.
_KERNELS = {
    "mean": (_agg.agg_mean, _agg.agg_mean_parallel),
    "max": (_agg.agg_max, _agg.agg_max_parallel),
    "min": (_agg.agg_min, _agg.agg_min_parallel),
    "min-norm": (_agg.agg_min_norm, _agg.agg_min_norm_parallel),
    "min-value": (_agg.agg_min_value, _agg.agg_min_value),
}

#: Relative accuracy and iteration cap of the min-norm-hull QP.
HULL_TOL = 1e-12
HULL_MAXITER = 10_000
#: Relative optimality gap accepted silently when the QP stalls short of HULL_TOL.
HULL_ACCEPT = 1e-9


def aggregate(name: str, F: np.ndarray, G: np.ndarray) -> tuple[float, np.ndarray]:
    """Aggregate values ``F`` (m,) and gradients ``G`` (m, d) as the aggregate ``name`` says.

    Rows with a non-finite value are skipped; with none finite the result is
    ``(inf, full(inf))``.
    """
    out = np.empty(G.shape[1])
    if name != "min-norm-hull":
        serial, parallel = _KERNELS[name]
        # the blocks of coordinates need some width to pay for a parallel region (min-norm is
        # parallel over rows)
        wide = G.shape[1] >= 256 or name == "min-norm"
        kernel = parallel if wide and use_parallel(G.size, "reduce_parallel_min_elements") else serial
        return float(kernel(F, G, out)), out
    finite = np.isfinite(F)
    if not finite.any():
        out.fill(np.inf)
        return float("inf"), out
    _, out, gap = min_norm_hull(np.ascontiguousarray(G[finite]))
    if not gap <= HULL_ACCEPT:
        warnings.warn(f"min-norm-hull QP stopped with relative optimality gap {gap:.3g}",
                      RuntimeWarning, stacklevel=3)
    return float(np.mean(F[finite])), out


def min_norm_hull(G: np.ndarray, tol: float = HULL_TOL, maxiter: int = HULL_MAXITER,
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
    tol : float
        Relative optimality gap ``(||x||^2 - min_k G_k . x) / max_k ||G_k||^2`` to reach.
    maxiter : int
        Iteration cap of the kernel.

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


class SmoothedObjective:
    """Values and gradients of ``fun`` aggregated over ``n`` points around ``x``.

    Parameters
    ----------
    fun : callable or None
        The oracle (per-point, :func:`~numsmooth.batched`, or jitted). ``None`` when the owner
        passes the oracle to :meth:`evaluate_with` itself.
    sigma : float
        Scale of the perturbations, >= 0.
    n : int
        Evaluations per call, counting the x0 term when ``include_x0``.
    aggregate : str
        One of ``'mean', 'max', 'min', 'min-norm', 'min-value', 'min-norm-hull'``.
    distribution : str, callable or ndarray
        Unscaled perturbations (see :func:`smoothed`).
    include_x0 : bool
        Evaluate at ``x`` itself as the first point.
    seed : None, int, SeedSequence or Generator
        Seed of the counter-based perturbation stream.
    antithetic : bool
        Draw perturbations in ``+u, -u`` pairs.
    executor : concurrent.futures.Executor, optional
        Evaluate the points on this executor.
    chunksize : int, optional
        Points per executor task.
    """

    def __init__(self, fun: Any = None, sigma: float = 1.0, n: int = 100, aggregate: str = "mean",
                 distribution: Any = "gaussian", include_x0: bool = True, seed: Any = None, *,
                 antithetic: bool = False, executor: Executor | None = None, chunksize: int | None = None):
        if fun is not None and not callable(fun):
            raise TypeError(f"fun must be callable; got {fun!r}")
        self.fun = fun
        self._sigma = check_real("sigma", sigma, low=0.0)
        self.n = check_int("n", n, low=1)
        self.aggregate = check_choice("aggregate", aggregate, AGGREGATES)
        self.include_x0 = check_bool("include_x0", include_x0)
        if self.n - self.include_x0 < 0:
            raise ValueError(f"n must be >= 1; got {n!r}")
        self.antithetic = check_bool("antithetic", antithetic)
        self.distribution, self._explicit = _check_distribution(distribution, self.n - self.include_x0)
        self.key = seed_to_key(seed)
        self.stream = 0
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be a concurrent.futures.Executor; got {executor!r}")
        self.executor = executor
        self.chunksize = None if chunksize is None else check_int("chunksize", chunksize, low=1)
        self._block: np.ndarray | None = None
        self._block_stream = -1
        self._last_d: int | None = None
        self._G: np.ndarray | None = None
        self._oracle: Oracle | None = None

    # -- configuration ------------------------------------------------------------------------
    @property
    def sigma(self) -> float:
        """Current perturbation scale; settable (>= 0, finite)."""
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        self._sigma = check_real("sigma", value, low=0.0)

    @property
    def num_perturbed(self) -> int:
        """Perturbed points per evaluation: ``n - include_x0``."""
        return self.n - self.include_x0

    @property
    def perturbations(self) -> np.ndarray | None:
        """The current unscaled ``(n - include_x0, d)`` block, or ``None`` before the first use."""
        if self._explicit is not None:
            return self._explicit
        if self._block is None or self._block_stream != self.stream:
            if self._last_d is None:
                return None
            return self.block(self._last_d)  # streaming evaluations keep no block: draw it now
        return self._block

    def redraw(self) -> None:
        """Move to new perturbations (the next stream of the generator)."""
        self.stream += 1

    def block(self, d: int) -> np.ndarray:
        """Unscaled perturbations of the current stream for dimension ``d`` (drawn once, cached)."""
        m = self.num_perturbed
        if self._explicit is not None:
            if self._explicit.shape[1] != d:
                raise ValueError(
                    f"distribution array has shape {self._explicit.shape}; expected ({m}, {d}) for "
                    f"{d} parameters"
                )
            return self._explicit
        if self._block is None or self._block_stream != self.stream or self._block.shape != (m, d):
            self._block = draw_perturbations(self.distribution, self.key, self.stream, m, d,
                                             antithetic=self.antithetic)
            self._block_stream = self.stream
        return self._block

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate_with(self, oracle: Any, x: np.ndarray, x0_term: tuple[float, np.ndarray] | None = None,
                      need_norms: bool = False) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None]:
        """Evaluate at the ``n`` points around flat ``x`` and aggregate.

        Parameters
        ----------
        oracle : Oracle
            Evaluates the points.
        x : ndarray
            Flat float64 point.
        x0_term : (float, ndarray), optional
            ``f(x)`` and ``g(x)`` already known; used for the x0 term instead of evaluating.
        need_norms : bool
            Also return the gradient norm of every point.

        Returns
        -------
        f, g : float, ndarray
            The aggregated value and gradient.
        F, norms : ndarray
            Every point's value and gradient norm (``None`` unless ``need_norms``), x0 term
            first when included.

        Notes
        -----
        For ``n * d >= STREAM_MIN_ELEMENTS`` with a row-wise distribution and any aggregate but
        ``'min-norm-hull'``, the points are evaluated in chunks and reduced as they arrive, so
        memory does not grow with ``n``; the result is bit-identical to the batch path.
        """
        d = x.shape[0]
        self._last_d = d
        if self._streams(d):
            return self._evaluate_streaming(oracle, x, x0_term, need_norms)
        U = self.block(d)
        k0 = int(self.include_x0)
        F = np.empty(self.n)
        G = self._gradient_buffer(d)
        if self.include_x0:
            f0, g0 = x0_term if x0_term is not None else oracle.evaluate(x)
            F[0] = f0
            G[0] = g0
        oracle.evaluate_perturbed(x, self._sigma, U, F, G, k0)
        f, g = aggregate(self.aggregate, F, G)
        return f, g, F, (np.sqrt(np.einsum("ij,ij->i", G, G)) if need_norms else None)

    def __getstate__(self) -> dict[str, Any]:
        # caches are rebuilt on demand: the perturbation block from (key, stream), buffers anew
        state = self.__dict__.copy()
        state.update(_block=None, _block_stream=-1, _G=None, _oracle=None)
        return state

    def _gradient_buffer(self, d: int) -> np.ndarray:
        """The ``(n, d)`` gradient block, reused across evaluations: it never leaves this object,
        and a fresh block of this size costs page faults on every call."""
        if self._G is None or self._G.shape != (self.n, d):
            self._G = np.empty((self.n, d))
        return self._G

    def _streams(self, d: int) -> bool:
        """Whether an evaluation streams (memory independent of ``n``) rather than keeping the
        ``(n, d)`` blocks: for large blocks of row-wise perturbations and a reducing aggregate."""
        return (self.n * d >= STREAM_MIN_ELEMENTS and self._explicit is None
                and self.aggregate in _STREAM_CODES and self.distribution in ROW_WISE)

    def _evaluate_streaming(self, oracle: Any, x: np.ndarray, x0_term: tuple[float, np.ndarray] | None,
                            need_norms: bool) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None]:
        """`evaluate_with` in chunks of points: perturbations are regenerated from their counters
        and gradients folded into the aggregate as they arrive (same bits as the batch path)."""
        d, n, k0 = x.shape[0], self.n, int(self.include_x0)
        m = n - k0
        code = _STREAM_CODES[self.aggregate]
        state = np.empty(_agg.STATE_SIZE)
        acc = np.empty(d)
        _agg.stream_init(state, acc)
        F = np.empty(n)
        norms = np.empty(n)
        if self.include_x0:
            f0, g0 = x0_term if x0_term is not None else oracle.evaluate(x)
            F[0], norms[0] = f0, math.sqrt(float(np.dot(g0, g0)))
            _agg.stream_update(code, 0, float(f0), np.ascontiguousarray(g0), acc, state)
        c = max(1, min(m, STREAM_CHUNK_ELEMENTS // d))
        update_rows = _agg.stream_update_rows_parallel if use_parallel(d) else _agg.stream_update_rows
        U, Fc, Gc = np.empty((c, d)), np.empty(c), np.empty((c, d))
        for start in range(0, m, c):
            k = min(c, m - start)
            draw_rows(self.distribution, self.key, self.stream, start, U[:k], antithetic=self.antithetic)
            oracle.evaluate_perturbed(x, self._sigma, U[:k], Fc, Gc, 0, sample_base=k0 + start)
            F[k0 + start:k0 + start + k] = Fc[:k]
            if need_norms:
                norms[k0 + start:k0 + start + k] = np.sqrt(np.einsum("ij,ij->i", Gc[:k], Gc[:k]))
            update_rows(code, k0 + start, Fc[:k], Gc[:k], acc, state)
        out = np.empty(d)
        f = _agg.stream_finalize(code, acc, state, out)
        return float(f), out, F, (norms if need_norms else None)

    def _oracle_for(self, x: np.ndarray) -> Oracle:
        if self.fun is None:
            raise TypeError("this smoothed objective has no function; pass fun to smoothed()")
        layout = ParamLayout([x.shape], single=True)
        if self._oracle is None or self._oracle.layout.shapes != layout.shapes:
            self._oracle = make_oracle(self.fun, layout, executor=self.executor, chunksize=self.chunksize)
        return self._oracle

    @property
    def num_evaluations(self) -> int:
        """Oracle evaluations made through :meth:`__call__` and :meth:`value`."""
        return 0 if self._oracle is None else self._oracle.num_evaluations

    def __call__(self, x: Any) -> tuple[float, np.ndarray]:
        """Smoothed value and gradient at ``x`` (gradient in the shape of ``x``)."""
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
            raise TypeError(f"x must be an array of real numbers; got dtype {arr.dtype}")
        flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
        f, g, _, _ = self.evaluate_with(self._oracle_for(arr), flat.copy())
        return f, g.reshape(arr.shape)

    def value(self, x: Any) -> float:
        """Smoothed value at ``x`` (the oracles still compute gradients; they are discarded)."""
        return self(x)[0]

    def __repr__(self) -> str:
        dist = "array" if self._explicit is not None else self.distribution
        return (f"SmoothedObjective(sigma={self._sigma!r}, n={self.n}, aggregate={self.aggregate!r}, "
                f"distribution={dist!r}, include_x0={self.include_x0})")


def _check_distribution(distribution: Any, m: int) -> tuple[Any, np.ndarray | None]:
    """Validate a distribution name, callable or explicit ``(m, d)`` array."""
    if isinstance(distribution, str):
        return check_choice("distribution", distribution, DISTRIBUTIONS), None
    if isinstance(distribution, np.ndarray):
        arr = distribution
        if arr.dtype.kind != "f":
            raise TypeError(f"distribution array must hold floats; got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[0] != m:
            raise ValueError(
                f"distribution array must have shape (n - include_x0, d) = ({m}, d); got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("distribution array must be finite")
        explicit = np.ascontiguousarray(arr, dtype=np.float64).copy()
        explicit.flags.writeable = False
        return "array", explicit
    if callable(distribution):
        return distribution, None
    names = ", ".join(repr(d) for d in DISTRIBUTIONS)
    raise ValueError(f"distribution must be one of {names}, a callable or an array; got {distribution!r}")


def smoothed(fun: Callable[..., Any], sigma: float = 1.0, n: int = 100, aggregate: str = "mean",
             distribution: Any = "gaussian", include_x0: bool = True, seed: Any = None, executor: Executor | None = None,
             *, antithetic: bool = False, chunksize: int | None = None) -> SmoothedObjective:
    """The smoothed objective of ``fun`` with fixed perturbations (common random numbers).

    One call evaluates ``fun`` at ``n`` points: ``x`` itself when ``include_x0`` and
    ``x + sigma * u_k`` for the ``n - include_x0`` unscaled perturbations ``u_k``, then
    aggregates the values and gradients.

    Parameters
    ----------
    fun : callable
        Per-point ``fun(x) -> (f, g)``, :func:`~numsmooth.batched` ``fun(X) -> (F, G)``, or a
        Numba ``@njit`` ``fun(x, g_out) -> f``.
    sigma : float
        Perturbation scale (settable later as ``obj.sigma``).
    n : int
        Evaluations per call.
    aggregate : {'mean', 'max', 'min', 'min-norm', 'min-value', 'min-norm-hull'}
        ``'mean'`` is Gaussian smoothing; ``'min-norm-hull'`` the gradient-sampling direction
        (the minimum-norm element of the convex hull of the sampled gradients).
    distribution : str, callable or ndarray
        ``'gaussian'``/``'normal'``, ``'uniform'``, ``'rademacher'``, ``'sphere'``, ``'ball'``,
        ``'orthogonal'``, ``'sobol'``; a callable ``distribution(rng, m, d) -> (m, d)``; or an
        ``(n - include_x0, d)`` array of unscaled perturbations used as given.
    include_x0 : bool
        Include ``x`` itself as the first point.
    seed : None, int, SeedSequence or Generator
        Seed of the counter-based generator: the same seed gives bit-identical perturbations
        whatever the number of threads.
    executor : concurrent.futures.Executor, optional
        Evaluate points on this executor (process pool, Dask, MPI).
    antithetic : bool
        Use ``+u, -u`` pairs.
    chunksize : int, optional
        Points per executor task.

    Returns
    -------
    SmoothedObjective
        Callable ``obj(x) -> (f, g)``; ``obj.redraw()`` draws new perturbations,
        ``obj.sigma`` is settable, ``obj.value(x)`` returns the value only,
        ``obj.perturbations`` is the current block.

    Examples
    --------
    >>> import numpy as np, scipy.optimize, numsmooth as ns
    >>> fun = lambda x: (float(np.sum(np.abs(x))), np.sign(x))
    >>> obj = ns.smoothed(fun, sigma=0.5, n=64, seed=1)
    >>> res = scipy.optimize.minimize(obj, np.full(3, 2.0), jac=True, method="L-BFGS-B")
    >>> bool(np.abs(res.x).max() < 0.5)
    True
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {fun!r}")
    return SmoothedObjective(fun, sigma, n, aggregate, distribution, include_x0, seed,
                             antithetic=antithetic, executor=executor, chunksize=chunksize)


def is_count(value: Any) -> bool:
    """True for an integer ``sigma_target`` (a count), False for a float (a fraction)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
