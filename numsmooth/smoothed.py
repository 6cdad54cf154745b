"""The smoothed objective as a callable: :func:`smoothed` and :class:`SmoothedObjective`.

``obj = ns.smoothed(fun, sigma, n, ...)`` is ``(x) -> (f, g)`` for
``scipy.optimize.minimize(obj, x0, jac=True)`` or any other loop: values and gradients of
``fun`` aggregated over ``n`` points around ``x`` with fixed perturbations (common random
numbers) until :meth:`SmoothedObjective.redraw`.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable

import numpy as np

from ._layout import ParamLayout
from ._validation import check_real
from .oracles import Oracle, make_oracle
from .perturbations import seed_to_key
from .sampler import Sampler

__all__ = ["SmoothedObjective", "smoothed"]


class SmoothedObjective:
    """Values and gradients of ``fun`` aggregated over ``n`` points around ``x``.

    Made by :func:`smoothed`, which documents the parameters. The objective owns its
    time-varying state: ``sigma`` (settable), and the generator's key and stream
    (:meth:`redraw` moves to the next stream); the :class:`~numsmooth.sampler.Sampler` it holds
    does the evaluation.
    """

    def __init__(self, fun: Any, sigma: float = 1.0, n: int = 100, aggregate: str = "mean",
                 distribution: Any = "gaussian", include_x0: bool = True, seed: Any = None, *,
                 antithetic: bool = False, executor: Executor | None = None, chunksize: int | None = None):
        if not callable(fun):
            raise TypeError(f"fun must be callable; got {fun!r}")
        self.fun = fun
        self.sampler = Sampler(n, aggregate, distribution, include_x0, antithetic=antithetic,
                               executor=executor, chunksize=chunksize)
        self._sigma = check_real("sigma", sigma, low=0.0)
        self.key = int(seed_to_key(seed))
        self.stream = 0
        self._last_d: int | None = None
        self._oracle: Oracle | None = None

    @property
    def sigma(self) -> float:
        """Current perturbation scale; settable (>= 0, finite)."""
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        self._sigma = check_real("sigma", value, low=0.0)

    @property
    def n(self) -> int:
        """Evaluations per call."""
        return self.sampler.n

    @property
    def perturbations(self) -> np.ndarray | None:
        """The current unscaled ``(n - include_x0, d)`` block, or ``None`` before the first call."""
        if self.sampler.explicit is not None:
            return self.sampler.explicit
        if self._last_d is None:
            return None
        return self.sampler.block(self.key, self.stream, self._last_d)

    def redraw(self) -> None:
        """Move to new perturbations (the next stream of the generator)."""
        self.stream += 1

    @property
    def num_evaluations(self) -> int:
        """Oracle evaluations made through :meth:`__call__` and :meth:`value`."""
        return 0 if self._oracle is None else self._oracle.num_evaluations

    def _oracle_for(self, shape: tuple[int, ...]) -> Oracle:
        oracle = self._oracle
        if oracle is None or oracle.layout.shapes != [shape]:
            oracle = self._oracle = make_oracle(self.fun, ParamLayout([shape], single=True))
        return oracle

    def __call__(self, x: Any) -> tuple[float, np.ndarray]:
        """Smoothed value and gradient at ``x`` (gradient in the shape of ``x``)."""
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
            raise TypeError(f"x must be an array of real numbers; got dtype {arr.dtype}")
        if arr.size == 0:
            raise ValueError(f"x must have at least one element; got shape {arr.shape}")
        flat = np.array(arr, dtype=np.float64, order="C").reshape(-1)
        if not np.all(np.isfinite(flat)):
            raise ValueError("x must be finite; got non-finite values")
        self._last_d = flat.shape[0]
        ev = self.sampler.evaluate(self._oracle_for(arr.shape), flat, self._sigma, self.key, self.stream)
        return ev.f, ev.g.reshape(arr.shape)

    def value(self, x: Any) -> float:
        """Smoothed value at ``x`` (the oracles still compute gradients; they are discarded)."""
        return self(x)[0]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_oracle"] = None  # rebuilt on demand; the count restarts
        return state

    def __repr__(self) -> str:
        s = self.sampler
        return (f"SmoothedObjective(sigma={self._sigma!r}, n={s.n}, aggregate={s.aggregate!r}, "
                f"distribution={s.distribution_name!r}, include_x0={s.include_x0})")


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
