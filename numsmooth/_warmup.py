"""``numsmooth.warmup``: compile the Numba kernels of the usual entry points ahead of time."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import numpy as np

from ._progress import CompileNotice
from ._validation import check_choice

__all__ = ["warmup", "WHAT", "DTYPES"]

#: The families :func:`warmup` can compile, in the order it compiles them.
WHAT = ("sgd", "lsgd", "sampling")
#: The parameter dtypes :func:`warmup` can compile for.
DTYPES = ("float64", "float32")


def _quadratic(x: np.ndarray) -> tuple[float, np.ndarray]:
    """``f(x) = |x|^2 / 2``: a per-point oracle in the dtype of ``x``."""
    return float(np.dot(x, x)) / 2, x.copy()


def _params(dtype: np.dtype) -> list[np.ndarray]:
    """A small model's parameters: a weight matrix with lines long enough for the chunked
    Laplacian solve, a bias, a scalar."""
    return [np.linspace(-1.0, 1.0, 6000, dtype=dtype).reshape(2, 3000),
            np.linspace(0.5, 1.0, 7, dtype=dtype), np.ones(1, dtype=dtype)]


def _params_oracle(params: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
    return float(sum(np.dot(p.ravel(), p.ravel()) for p in params)) / 2, [p.copy() for p in params]


def _np_sqrt(v: np.ndarray, out: np.ndarray) -> None:
    np.sqrt(v, out=out)


def _sgd(dtype: np.dtype) -> None:
    from .modules import LR, Adam, ClipNorm, Momentum, WeightDecay
    from .optimizer import Optimizer

    chains: list[list[Any]] = [
        [LR(0.1)],
        [WeightDecay(1e-3), Momentum(0.9), LR(0.1)],
        [Momentum(0.9, nesterov=True), ClipNorm(1.0), LR(0.1)],
        [Adam(1e-3)],
        [Adam(1e-3, betas=(0.3, 0.9))],
    ]
    torch_like = Adam(1e-3)
    torch_like._sqrt = _np_sqrt  # the two-pass path numsmooth.torch takes (its own sqrt)
    chains.append([torch_like])
    for chain in chains:
        _steps(chain, dtype)


def _lsgd(dtype: np.dtype) -> None:
    from .laplacian import LaplacianSmoothing, laplacian_smooth
    from .modules import LR, Momentum

    for chain in ([LaplacianSmoothing(1.0), LR(0.1)], [LaplacianSmoothing(1.0, layerwise=False), Momentum(0.9),
                                                          LR(0.1)]):
        _steps(chain, dtype)
    laplacian_smooth(np.linspace(-1.0, 1.0, 5000, dtype=dtype), 1.0)


def _sampling(dtype: np.dtype) -> None:
    from . import recipes
    from .gradient_sampling import GradientSampling
    from .minimize import minimize
    from .modules import LR

    x0 = np.linspace(-1.0, 1.0, 10)
    for chain in ([GradientSampling(n=8, seed=0), LR(0.1)], recipes.gaussian_homotopy(n=16, seed=0),
                  recipes.gradient_sampling(10, seed=0)):
        minimize(_quadratic, x0.copy(), *chain, maxiter=2)


def _steps(chain: list[Any], dtype: np.dtype) -> None:
    """Two steps of ``chain`` on :func:`_params` of ``dtype``: float64 through
    :func:`~numsmooth.minimize` (its certificate included), float32 on an
    :class:`~numsmooth.Optimizer` that keeps them in place (as :mod:`numsmooth.torch` does)."""
    from .minimize import minimize
    from .optimizer import Optimizer

    params = _params(dtype)
    if dtype == np.float64:
        minimize(_params_oracle, params, *chain, maxiter=2)
        return
    opt = Optimizer(params, *chain, inplace=True)
    for _ in range(2):
        opt.step(_params_oracle)


_RUN: dict[str, Callable[[np.dtype], None]] = {"sgd": _sgd, "lsgd": _lsgd, "sampling": _sampling}


def _names(name: str, value: Any, choices: tuple[str, ...]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise TypeError(f"{name} must be a string or an iterable of strings from {choices}; got {value!r}")
    out = []
    for i, item in enumerate(list(items)):
        if isinstance(item, np.dtype) or (isinstance(item, type) and issubclass(item, np.generic)):
            item = np.dtype(item).name
        out.append(check_choice(f"{name}[{i}]", item, choices))
    return out


def warmup(*, dtypes: Any = ("float64",), what: Any = WHAT) -> float:
    """Compile the Numba kernels the usual entry points need, so that their first step does not.

    A first step of :class:`~numsmooth.Optimizer`, :func:`~numsmooth.minimize` or
    :class:`numsmooth.torch.Optimizer` compiles the kernels it runs (a few seconds once per
    machine; later processes load them from Numba's cache in well under a second, and a notice
    on stderr says so when it takes longer, see the ``compile_notice`` setting). ``warmup``
    runs two steps of small problems of each family of ``what`` in each of ``dtypes``, in the
    current process, so that the compilation happens when the caller chooses (before a timed
    run, at a service's start) instead.

    Parameters
    ----------
    dtypes : str, dtype or iterable of them
        The parameters' dtypes: ``"float64"`` (NumPy's default) and/or ``"float32"`` (torch's
        default; :class:`numsmooth.torch.Optimizer` and ``Optimizer(..., inplace=True)`` keep
        float32 parameters in float32). ``"sampling"`` is float64 only and is skipped for
        float32.
    what : str or iterable of str
        The families to compile, from ``("sgd", "lsgd", "sampling")`` (default: all three):

        - ``"sgd"``: the gradient modules (:class:`~numsmooth.LR`, :class:`~numsmooth.Momentum`
          heavy-ball and Nesterov, :class:`~numsmooth.Adam` as NumPy and
          :mod:`numsmooth.torch` run it, :class:`~numsmooth.WeightDecay`,
          :class:`~numsmooth.ClipNorm`) and the optimizer's step;
        - ``"lsgd"``: :class:`~numsmooth.LaplacianSmoothing` (per parameter and over all of
          them) and :func:`~numsmooth.laplacian_smooth`;
        - ``"sampling"``: :class:`~numsmooth.GradientSampling` and the recipes
          :func:`~numsmooth.recipes.gaussian_homotopy` and
          :func:`~numsmooth.recipes.gradient_sampling` (Gaussian, Sobol and ball perturbations;
          mean and min-norm-hull aggregates).

    Returns
    -------
    float
        The seconds it took (well under one when the kernels are in Numba's on-disk cache).

    Raises
    ------
    ValueError
        An unknown dtype or family (the message lists the known ones).

    Notes
    -----
    Not compiled: the kernels of a jitted oracle (they are specialised to the user's function,
    and compile on its first evaluation); the parallel versions of the element-wise kernels,
    which run only on vectors of about a million elements on an idle machine; quasi-Newton
    and bundle methods. The compile notice is silenced while ``warmup`` runs.

    Examples
    --------
    >>> import numsmooth as ns
    >>> seconds = ns.warmup(dtypes=("float64", "float32"), what="lsgd")
    >>> seconds >= 0
    True
    """
    kinds = [np.dtype(d) for d in _names("dtypes", dtypes, DTYPES)]
    families = _names("what", what, WHAT)
    t0 = time.perf_counter()
    with CompileNotice(enabled=False):
        for family in WHAT:
            if family not in families:
                continue
            for dtype in kinds:
                if family == "sampling" and dtype != np.float64:
                    continue
                _RUN[family](dtype)
    return time.perf_counter() - t0
