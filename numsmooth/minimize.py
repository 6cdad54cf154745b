"""The run loop: :func:`minimize` and its :class:`OptimizeResult`."""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

import numpy as np

from ._validation import check_bool, check_int
from .modules import Module
from .optimizer import Optimizer
from .termination import as_criterion

__all__ = ["minimize", "OptimizeResult"]


class OptimizeResult(dict[str, Any]):
    """Result of :func:`minimize`, a dict with attribute access (as ``scipy.optimize``).

    Attributes
    ----------
    x : ndarray or list of ndarray
        The final point, in the shapes of ``x0``.
    fun : float
        ``f(x)`` at the final point (the unsmoothed objective).
    nit : int
        Steps taken.
    nfev : int
        Oracle evaluations, every perturbed point included.
    status : int
        0: a termination criterion fired; 1: ``maxiter`` reached; 2: stopped by the callback;
        3: every evaluation of a step was non-finite (``x`` is the last finite point);
        4: a module ended the run (e.g. :class:`~numsmooth.GradientSampling`'s sigma fell below
        its ``sigma_min``).
    message : str
        Why the run stopped.
    num_refused : int
        Steps refused because their update was not finite (see
        :attr:`Optimizer.num_refused <numsmooth.Optimizer.num_refused>`).
    success : bool
        ``status in (0, 2, 4)``.
    history : dict of list
        Per step: ``f`` (value at the start of the step), ``sigma`` (the smoothing scale after
        the step, ``nan`` without one), ``update_norm`` and ``nfev`` (evaluations so far).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__

    def __repr__(self) -> str:
        keys = ("fun", "nit", "nfev", "status", "success", "message")
        return "OptimizeResult(" + ", ".join(f"{k}={self.get(k)!r}" for k in keys if k in self) + ")"


def minimize(fun: Any, x0: Any, *modules: Module, maxiter: int = 1000, termination: Any = None,
             callback: Callable[[OptimizeResult], Any] | None = None, progress: bool = False) -> OptimizeResult:
    """Minimize ``fun`` from ``x0`` with a chain of modules.

    Parameters
    ----------
    fun : callable
        The oracle: per-point ``fun(x) -> (f, g)``, :func:`batched`, or a jitted
        ``fun(x, g_out) -> f``.
    x0 : ndarray or list of ndarray
        Starting point.
    *modules : Module
        The chain (e.g. ``LaplacianSmoothing(), LR(1e-2)``).
    maxiter : int
        Most steps.
    termination : criterion or list of criteria, optional
        Checked before each step at the current point (its ``f(x)``/``g(x)`` are shared with
        the step); the run stops when one fires.
    callback : callable, optional
        ``callback(intermediate_result)`` after each step with fields ``x``, ``fun`` (value at
        the start of the step), ``nit``; returning True stops the run.
    progress : bool
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    OptimizeResult

    Notes
    -----
    Every module and criterion is reset first, so a run does not depend on what the same
    objects did before.

    Examples
    --------
    LSGD on an ill-conditioned quadratic:

    >>> import numpy as np, numsmooth as ns
    >>> c = np.where(np.arange(100) % 2 == 0, 10.0, 1.0)
    >>> fun = lambda x: (float(np.sum((x - 2) ** 2 / c**2)), 2 * (x - 2) / c**2)
    >>> res = ns.minimize(fun, np.zeros(100), ns.LaplacianSmoothing(sigma=1.0), ns.LR(0.5),
    ...                   maxiter=2000)
    >>> bool(res.fun < 1e-2)
    True
    """
    maxiter = check_int("maxiter", maxiter, low=0)
    criterion = as_criterion(termination)
    progress = check_bool("progress", progress)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable; got {callback!r}")
    opt = Optimizer(x0, *modules)
    # a run starts afresh even when the same module objects served an earlier run
    for m in opt.modules:
        m.reset()
    if criterion is not None:
        criterion.reset()
    history: dict[str, list[float]] = {"f": [], "sigma": [], "update_norm": [], "nfev": []}
    status, message = 1, f"maximum number of iterations ({maxiter}) reached"
    bar = _progress_bar(maxiter) if progress else None
    last_finite: tuple[float, np.ndarray] | None = None
    root = None
    try:
        for _ in range(maxiter):
            root = opt.objective(fun)
            if criterion is not None and criterion.should_terminate(root):
                status, message = 0, f"termination criterion {type(criterion).__name__} fired"
                break
            f = opt.apply(root)
            if opt.stop_message is not None:
                status, message = 4, opt.stop_message
                break
            if not opt.last_step_finite:
                status, message = 3, "every evaluation of the last step was non-finite; x is the last finite point"
                if last_finite is not None:
                    opt.x = last_finite[1]
                break
            history["f"].append(f)
            history["sigma"].append(opt.sigma)
            history["update_norm"].append(opt.last_update_norm)
            history["nfev"].append(opt.num_evaluations)
            if math.isfinite(f):
                # root.x is the start of this step, where the value f was finite
                last_finite = (f, root.x)
            root = None
            if bar is not None:
                bar.update(1)
                bar.set_postfix(f=f"{f:.6g}", refresh=False)
            if callback is not None and callback(OptimizeResult(x=_copy_params(opt), fun=f, nit=opt.num_steps)):
                status, message = 2, "stopped by the callback"
                break
    finally:
        if bar is not None:
            bar.close()
    if status == 3 and last_finite is not None:
        f_final = last_finite[0]
    elif root is not None and root.has_loss:
        f_final = root.loss()
    else:
        f_final = opt.objective(fun).loss()
    return OptimizeResult(
        x=_copy_params(opt), fun=float(f_final), nit=opt.num_steps, nfev=opt.num_evaluations,
        status=status, message=message, success=status in (0, 2, 4), history=history,
        num_refused=opt.num_refused,
    )


def _copy_params(opt: Optimizer) -> Any:
    return opt.layout.unflatten(opt.x.copy())


def _progress_bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm: pip install tqdm") from None
    return tqdm(total=total, file=sys.stderr, leave=False)
