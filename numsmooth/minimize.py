"""The run loop: :func:`minimize` and its :class:`OptimizeResult`."""

from __future__ import annotations

import inspect
import math
import time
from collections import deque
from typing import Any, Callable

import numpy as np
from numba.core.dispatcher import Dispatcher

from . import recipes
from ._certificate import RecentGradients, certify as _certify
from ._layout import ParamLayout
from ._progress import CompileNotice, Progress
from ._state import Stateful
from ._validation import check_bool, check_int, check_real
from .line_search import STOP_REASONS, WeakWolfe
from .modules import Module
from .objective import Objective
from .optimizer import Optimizer
from .oracles import _oracle_kind, batched
from .quasi_newton import LBFGS
from .termination import TerminateByGradientNorm, TerminateByUpdateNorm, as_criterion

__all__ = ["minimize", "OptimizeResult", "default_method"]

#: The largest size at which :func:`default_method` is HANSO (dense BFGS keeps a ``d x d`` matrix).
DEFAULT_BFGS_MAX_DIM = 2000

#: Words that read as a switch, refused as a ``progress`` label.
_SWITCH_WORDS = frozenset({"", "yes", "no", "y", "n", "true", "false", "on", "off", "1", "0", "none"})

#: Keys of ``OptimizeResult.history``.
HISTORY_KEYS = ("f", "f_smoothed", "sigma", "update_norm", "nfev")


class OptimizeResult(dict[str, Any]):
    """Result of :func:`minimize`, a dict with attribute access (as ``scipy.optimize``).

    Attributes
    ----------
    x : ndarray or list of ndarray
        The final point, in the shapes of ``x0`` (not necessarily the best: see ``x_best``).
    fun : float
        ``f(x)`` at the final point: the true (unsmoothed) objective.
    x_best : ndarray or list of ndarray
        The iterate with the lowest true value seen: among the points where a step started
        and whose ``f`` it evaluated, and the final point (a line search's rejected trials and
        the perturbed points of a sampling step are not iterates). Equal to ``x`` for a descent
        method; different when, e.g., a smoothing method ended above a point it passed.
    fun_best : float
        ``f(x_best)``.
    stationarity : float
        The stationarity certificate at ``x``: the norm of the minimum-norm element of the convex
        hull of gradients of ``f`` at points within ``stationarity_radius`` of ``x``. For a smooth
        ``f`` it can be ``||g(x)||`` (radius 0); near a kink it takes gradients from both sides.
        Built from gradients the run already has, else from a few extra evaluations (see
        ``certify`` of :func:`minimize`).
    stationarity_radius : float
        The radius of that certificate: the largest distance from ``x`` of a point whose
        gradient the min-norm element uses.
    jac : ndarray or list of ndarray
        The gradient of the true objective at ``x`` (shapes of ``x0``). It comes from the same
        oracle call as ``fun``: the final point is evaluated once, or not at all when its value
        and gradient are already cached (a termination criterion or a module evaluated them).
    nit : int
        Steps taken (completed moves of ``x``).
    nfev : int
        Oracle calls, each one point: every perturbed point, every line-search trial and the
        final evaluation at ``x`` count. The same number as :attr:`Optimizer.num_evaluations`
        and as ``numsmooth run``'s ``nfev``.
    njev : int
        Equal to ``nfev``: an oracle returns the value and the gradient together.
    status : int
        0: a termination criterion fired (``termination=`` or ``tol=``); 1: ``maxiter``
        reached; 2: stopped by the callback (it returned True or raised ``StopIteration``);
        3: every evaluation of a step was non-finite (``x`` is the last point with a finite
        value); 4: a module ended the run (e.g. :class:`~numsmooth.GradientSampling`'s sigma fell
        below its ``sigma_min``, or :class:`~numsmooth.WeakWolfe`'s search failed); 5: interrupted
        (only in the ``partial_result`` of an exception that ended :func:`minimize`, see there);
        6: the run stopped at the edge of a region where ``f`` is not finite (points within
        ``stationarity_radius`` of ``x`` gave nan or inf, and ``x`` is not certified
        stationary): the message says why it stopped.
    message : str
        Why the run stopped.
    num_refused : int
        Steps refused because their update was not finite (see
        :attr:`Optimizer.num_refused <numsmooth.Optimizer.num_refused>`).
    success : bool
        Whether the run converged: a termination criterion that means convergence fired
        (:meth:`TerminationCriterion.converged <numsmooth.TerminationCriterion.converged>`: a
        gradient norm, ``tol=``'s gradient test, a target value), a module stopped the run
        because the gradient vanished, or the certificate holds
        (``stationarity <= certify_tol * max(1, ||jac||)`` with
        ``stationarity_radius <= certify_radius``),
        whatever stopped the run. A run that stopped by ``maxiter``, an evaluation or time
        budget, the callback, a stalled ``x`` or a failed line search succeeds only by its
        certificate; status 3 and 5 never succeed.
    history : dict of list
        One entry per completed step ``k``:

        - ``f``: the true ``f(x_k)`` at the start of the step, when the step evaluated it;
          ``nan`` when it did not (e.g. :class:`~numsmooth.GradientSampling` with
          ``include_x0=False``, which evaluates only perturbed points);
        - ``f_smoothed``: the value of the smoothed objective at ``x_k`` that a
          :class:`~numsmooth.GradientSampling` step computed (the aggregate of the sampled
          values), ``nan`` when there is none (no sampling module, or the step did not pass it on);
        - ``sigma``: the smoothing scale after the step (``nan`` without one);
        - ``update_norm``: ``||x_{k+1} - x_k||_2``;
        - ``nfev``: evaluations so far, this step's included (the count ``nfev`` would have
          if the run stopped after this step, before the final evaluation).

    Notes
    -----
    ``fun`` is always a true value, ``history["f"]`` holds only true values, and smoothed
    values are only under ``history["f_smoothed"]``: compare ``fun`` with ``history["f"]``,
    never with ``history["f_smoothed"]``.
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


class _WithArgs:
    """``fun(x, *args)`` as a one-argument oracle (a class, so it pickles for process pools)."""

    def __init__(self, fun: Callable[..., Any], args: tuple[Any, ...]):
        self.fun = fun
        self.args = args
        self.__name__ = getattr(fun, "__name__", "fun")

    def __call__(self, x: Any) -> Any:
        return self.fun(x, *self.args)

    def __repr__(self) -> str:
        return f"{self.fun!r} with args={self.args!r}"


def bind_args(fun: Any, args: Any) -> Any:
    """The oracle ``x -> fun(x, *args)`` (``fun`` itself when ``args`` is empty).

    A per-point function gets ``fun(x, *args)``, a :class:`~numsmooth.batched` one
    ``fun(X, *args)``. A jitted oracle cannot take extra arguments: its points are evaluated
    inside a compiled kernel that calls ``fun(x, g_out)``.
    """
    if not isinstance(args, tuple):
        args = (args,)  # as scipy: a single extra argument need not be wrapped in a tuple
    if not args:
        return fun
    kind = _oracle_kind(fun)
    # with args, a two-argument function is fun(x, arg), not a jitted fun(x, g_out) run without
    # the JIT: only a real Numba dispatcher is refused
    if kind == "jitted" and isinstance(fun, Dispatcher):
        raise TypeError("args= cannot be used with a jitted oracle fun(x, g_out): its points are evaluated "
                        "inside a compiled kernel that calls fun(x, g_out) only. Bind the arguments in a "
                        "closure (a factory returning an @njit function of (x, g_out)), or pass a per-point "
                        "oracle")
    if kind == "batched":
        return batched(_WithArgs(fun.fun, args))
    return _WithArgs(fun, args)


def _takes_intermediate_result(callback: Callable[..., Any]) -> bool:
    """scipy's rule: the new-style callback has a parameter named ``intermediate_result``."""
    try:
        return "intermediate_result" in inspect.signature(callback).parameters
    except (TypeError, ValueError):
        return False


def _check_disp(disp: Any) -> int:
    """``disp`` as a period in steps (0 = off; True = 1, every step)."""
    if isinstance(disp, (bool, np.bool_)):
        return int(disp)
    return check_int("disp", disp, low=0)


class _Table:
    """The iteration table of ``disp``."""

    HEAD = f"{'iter':>6}  {'f':>16}  {'|g|':>10}  {'sigma':>10}  {'nfev':>10}  {'time [s]':>9}"

    def __init__(self, every: int):
        self.every = every
        self.t0 = time.perf_counter()
        print(self.HEAD)

    def row(self, k: int, f: float, gnorm: float, sigma: float, nfev: int, force: bool = False) -> None:
        """Iterate ``k``: ``f(x_k)``, ``||g(x_k)||``; sigma and nfev after step ``k``."""
        if force or k % self.every == 0:
            print(f"{k:>6}  {f:>16.10g}  {gnorm:>10.3g}  {sigma:>10.3g}  {nfev:>10}  "
                  f"{time.perf_counter() - self.t0:>9.2f}")


def _grad_norm(root: Objective) -> float:
    """``||g(x)||_2`` when the step evaluated it (never evaluates), else nan."""
    if not root.has_loss:
        return math.nan
    g = root.grad()
    return float(np.sqrt(np.dot(g, g)))


def minimize(fun: Any, x0: Any, *modules: Module, args: Any = (), maxiter: int = 1000,
             tol: float | None = None, termination: Any = None,
             callback: Callable[..., Any] | None = None, disp: bool | int = False,
             progress: bool | str = False, certify: bool = True, certify_tol: float = 1e-6,
             certify_radius: float = 1e-4) -> OptimizeResult:
    """Minimize ``fun`` from ``x0`` with a chain of modules.

    Parameters
    ----------
    fun : callable
        The oracle: per-point ``fun(x, *args) -> (f, g)``, :func:`batched`
        ``fun(X, *args) -> (F, G)``, or a jitted ``fun(x, g_out) -> f``.
    x0 : ndarray or list of ndarray
        Starting point.
    *modules : Module
        The chain (e.g. ``LaplacianSmoothing(), LR(1e-2)``). None given: the default method,
        :func:`default_method` (HANSO: BFGS with a weak Wolfe line search until it stops, then
        gradient sampling), which converges on smooth and nonsmooth problems.
    args : tuple
        Extra arguments passed to the oracle, as in ``scipy.optimize.minimize`` (a single
        non-tuple value is wrapped). Not allowed with a jitted oracle (``TypeError``): bind
        them in a jitted closure instead.
    maxiter : int
        Most steps.
    tol : float, optional
        Stop (status 0) when ``||g(x)||_2 <= tol`` at the start of a step (the gradient the
        step uses: no extra evaluation unless the step does not evaluate ``g(x)`` itself, as
        :class:`~numsmooth.GradientSampling` with ``include_x0=False``, where it costs one
        evaluation per step), or when ``||x_{k+1} - x_k||_2 <= tol`` on 3 consecutive steps.
        Both are checked together with ``termination``. The gradient test means convergence
        (``success``); after the step test ``success`` is the certificate's.
    termination : criterion or list of criteria, optional
        Checked before each step at the current point (its ``f(x)``/``g(x)`` are shared with
        the step); the run stops when one fires.
    callback : callable, optional
        Called after each step. As in scipy: when it has a parameter named
        ``intermediate_result`` it receives an :class:`OptimizeResult` with ``x`` (the new
        point, a copy), ``fun`` (the true ``f`` at the start of the step, ``nan`` if the step
        did not evaluate it: evaluating the new point would cost an evaluation), ``f_smoothed``,
        ``nit`` and ``nfev``; otherwise it receives ``xk``, the new point. Returning True or
        raising ``StopIteration`` stops the run (status 2).
    disp : bool or int
        Print an iteration table on stdout, one row per iterate ``x_k`` (``k`` steps done):
        ``iter`` (k), ``f`` (the true ``f(x_k)``), ``|g|`` (``||g(x_k)||_2``; both ``nan`` when
        the step from ``x_k`` did not evaluate them), ``sigma`` and ``nfev`` (after the step from
        ``x_k``), ``time [s]``. ``True`` (= 1) prints every iterate, ``k`` every ``k``-th
        (0, k, 2k, ...); the final iterate and a line ``status S: message`` are always printed.
    progress : bool or str
        Report progress on stderr: a tqdm bar in a terminal (needs ``tqdm``), otherwise a
        log line every 5 seconds (``NUMSMOOTH_PROGRESS_INTERVAL``), and a line
        ``compiling kernels (first run only)...`` when Numba compiles for a while. A string
        is the label (default: the oracle's name); a word that reads as a switch (``'yes'``,
        ``'on'``, ``'true'``, ...) raises ``ValueError``: pass True.
    certify : bool
        Whether the stationarity certificate may cost extra evaluations. The certificate
        (``stationarity``, ``stationarity_radius`` of the result) is built first from what the
        run has: the gradient at ``x`` and at the last iterates within ``certify_radius`` of it
        (as HANSO does), and the min-norm elements of a
        :class:`~numsmooth.GradientSampling` with ``aggregate='min-norm-hull'``. When these
        do not reach the tolerance and the run did not converge by a criterion, ``certify=True``
        evaluates ``f`` at up to 10 more points (``min(10, 2 d)``: antithetic pairs ``x +- u``,
        ``u`` uniform in the ball of radius ``certify_radius``, seed 0), counted in ``nfev``.
        False: no extra evaluation; the certificate uses what the run has.
    certify_tol : float
        The run succeeds when the certificate is at most ``certify_tol * max(1, ||g(x)||)``,
        > 0 (HANSO's ``normtol``, made relative to the size of the gradient at ``x``).
    certify_radius : float
        The largest radius of a certificate that counts, > 0 (HANSO's ``evaldist``); absolute,
        in the units of ``x``.

    Returns
    -------
    OptimizeResult

    Raises
    ------
    KeyboardInterrupt, Exception
        Whatever interrupts the run (Ctrl-C, an exception from the oracle or the callback) is
        raised again with the result so far attached as ``exc.partial_result``: an
        :class:`OptimizeResult` with ``status`` 5, ``message`` ``"interrupted: ..."``,
        ``success`` False, ``x``, ``nit`` and ``nfev`` of the last completed step, the history
        so far, and ``fun``/``jac`` at ``x`` when they were evaluated there (else ``nan`` and
        None: nothing is evaluated after an interrupt).

    Notes
    -----
    Every module and criterion is reset first, so a run does not depend on what the same
    objects did before.

    ``success`` means converged, never merely stopped: see :class:`OptimizeResult`. ``x`` is the
    final point and ``x_best`` the best iterate; the certificate is about ``x``.

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

    scipy's conventions: extra arguments, a tolerance and the gradient at the solution:

    >>> def quad(x, a):
    ...     return float(np.sum((x - a) ** 2)), 2 * (x - a)
    >>> res = ns.minimize(quad, np.zeros(3), ns.LR(0.25), args=(1.0,), tol=1e-10)
    >>> res.status, res.nfev == res.njev, bool(np.allclose(res.jac, 0))
    (0, True, True)

    No modules: the default method, here on the nonsmooth ``|x_1| + 2 |x_2 - 1|``, with the
    certificate of its result (gradients from both sides of the kinks, within the radius):

    >>> def fun(x):
    ...     f = abs(x[0]) + 2 * abs(x[1] - 1)
    ...     return float(f), np.array([np.sign(x[0]), 2 * np.sign(x[1] - 1)])
    >>> res = ns.minimize(fun, np.array([3.0, -2.0]))
    >>> res.success, bool(res.fun < 1e-8)
    (True, True)
    >>> res.stationarity <= 1e-6, res.stationarity_radius <= 1e-4
    (True, True)
    """
    maxiter = check_int("maxiter", maxiter, low=0)
    criterion = as_criterion(termination)
    if tol is not None:
        tol = check_real("tol", tol, low=0.0)
    every = _check_disp(disp)
    if not isinstance(progress, str):
        progress = check_bool("progress", progress)
    elif progress.strip().lower() in _SWITCH_WORDS:
        raise ValueError(f"progress must be True, False or a label (a string naming the run); got {progress!r}, "
                         "which reads as a switch: pass progress=True")
    certify = check_bool("certify", certify)
    certify_tol = check_real("certify_tol", certify_tol, low=0.0, low_open=True)
    certify_radius = check_real("certify_radius", certify_radius, low=0.0, low_open=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable; got {callback!r}")
    fun = bind_args(fun, args)
    new_style = callback is not None and _takes_intermediate_result(callback)
    tol_criteria = None if tol is None else (TerminateByGradientNorm(tol, n=1), TerminateByUpdateNorm(tol, n=3))
    # a refused step ends the run with status 3 and says so in res.message: no warning on top
    if not modules:
        modules = tuple(default_method(ParamLayout.from_params(x0)[0].size))
    opt = Optimizer(x0, *modules, on_refused="ignore")
    # a run starts afresh even when the same module objects served an earlier run
    for m in opt.modules:
        m.reset()
    if criterion is not None:
        criterion.reset()
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    status, message = 1, f"maximum number of iterations ({maxiter}) reached"
    bar = None
    if progress:
        label = progress if isinstance(progress, str) else getattr(fun, "__name__", "minimize")
        bar = Progress(maxiter, label)
    table = _Table(every) if every else None
    last_finite: tuple[float, np.ndarray, np.ndarray | None] | None = None
    root: Objective | None = None
    f_true = math.nan
    converged = False  # a criterion that means convergence fired
    recent = RecentGradients(opt.layout.size, certify_radius)
    # the min-norm elements that GradientSampling modules computed, one per step (their last_hull)
    hulls = _HullLog([m for m in _walk(opt.modules) if hasattr(m, "last_hull")])
    best: tuple[float, np.ndarray] | None = None
    try:
        for _ in range(maxiter):
            root = opt.objective(fun)
            if criterion is not None and criterion.should_terminate(root):
                status, message = 0, f"termination criterion {type(criterion).__name__} fired"
                converged = criterion.converged()
                break
            if tol_criteria is not None:
                gfired, ufired = (c.should_terminate(root) for c in tol_criteria)
                if gfired:
                    status, message = 0, f"gradient norm <= tol ({tol:g})"
                    converged = True
                    break
                if ufired:
                    status, message = 0, f"update norm <= tol ({tol:g}) on 3 consecutive steps"
                    break
            with CompileNotice(enabled=bool(progress) and opt.num_steps == 0):
                f = opt.apply(root)
            if opt.stop_message is not None:
                status, message = 4, opt.stop_message
                # a module's stop is convergence when it says the gradient vanished
                converged = message in (STOP_REASONS[r] for r in WeakWolfe.CONVERGED_REASONS)
                break
            if not opt.last_step_finite:
                status, message = 3, "every evaluation of the last step was non-finite; x is the last finite point"
                if last_finite is not None:
                    opt.x = last_finite[1]
                break
            # the true f(x) when the step evaluated it; else what the chain reported (smoothed)
            f_true = math.nan if root.cached_loss is None else float(root.cached_loss)
            if root.cached_loss is None:
                f_smoothed = f
            else:
                f_smoothed = math.nan if root.reported_loss is None else float(root.reported_loss)
            history["f"].append(f_true)
            history["f_smoothed"].append(f_smoothed)
            history["sigma"].append(opt.sigma)
            history["update_norm"].append(opt.last_update_norm)
            history["nfev"].append(opt.num_evaluations)
            if math.isfinite(f_true):
                # root.x is the start of this step, where f and g were evaluated
                last_finite = (f_true, root.x, root.grad())
                if best is None or f_true < best[0]:
                    best = (f_true, root.x)
                recent.add(root.x, root.grad(), opt.last_update_norm)
            hulls.collect()
            if table is not None:
                table.row(opt.num_steps - 1, f_true, _grad_norm(root), opt.sigma, opt.num_evaluations)
            root = None
            if bar is not None:
                smoothed = math.isnan(f_true) and not math.isnan(f_smoothed)
                bar.update(opt.num_steps, f_smoothed if smoothed else f_true, opt.num_evaluations, smoothed)
            if callback is not None:
                try:
                    if new_style:
                        stop = callback(intermediate_result=OptimizeResult(
                            x=_copy_params(opt), fun=f_true, f_smoothed=f_smoothed, nit=opt.num_steps,
                            nfev=opt.num_evaluations))
                    else:
                        stop = callback(_copy_params(opt))
                except StopIteration:
                    status, message = 2, "the callback raised StopIteration"
                    break
                if stop is True or (isinstance(stop, np.bool_) and bool(stop)):
                    status, message = 2, "stopped by the callback (it returned True)"
                    break
    except BaseException as exc:
        _attach_partial_result(exc, opt, root, history, best)
        raise
    finally:
        if bar is not None:
            bar.close()
    if status == 3 and last_finite is not None and last_finite[2] is not None:
        f_final, g_final = last_finite[0], last_finite[2]
    elif root is not None and root.has_loss and np.array_equal(root.x, opt.x):
        f_final, g_final = root.loss_and_grad()  # cached: no second evaluation
    else:
        f_final, g_final = opt.objective(fun).loss_and_grad()
    f_final = float(f_final)
    g_final = np.array(g_final, dtype=np.float64)
    x_final = opt.x.copy()
    if best is None or f_final <= best[0] or not math.isfinite(best[0]):
        best = (f_final, x_final)
    hulls.collect()
    extra = certify and not converged and status != 3
    cert = _certify(x_final, g_final, recent, hulls.log, certify_radius, certify_tol,
                    opt.objective(fun).evaluate if extra else None)
    success = status != 3 and (converged or cert.holds(certify_tol, certify_radius))
    edge_stop = status == 4 and message == STOP_REASONS[WeakWolfe.EDGE_REASON]
    if not success and status != 3 and (cert.nonfinite > 0 or edge_stop):
        status = 6
        where = (f"{cert.nonfinite} of the points evaluated within {certify_radius:g} of x gave nan or inf"
                 " (or the oracle raised there)"
                 if cert.nonfinite else "the line search's longer trials gave nan or inf")
        message = (f"x is at the edge of a region where f is not finite ({where}) and is not stationary "
                   f"(certificate {cert.stationarity:.3g} at radius {cert.radius:.3g}); the run stopped "
                   f"there: {message}")
    res = OptimizeResult(
        x=_copy_params(opt), fun=f_final, jac=opt.layout.unflatten(g_final),
        x_best=opt.layout.unflatten(np.array(best[1], copy=True)), fun_best=float(best[0]),
        stationarity=cert.stationarity, stationarity_radius=cert.radius,
        nit=opt.num_steps, nfev=opt.num_evaluations, njev=opt.num_evaluations,
        status=status, message=message, success=success, history=history,
        num_refused=opt.num_refused,
    )
    if table is not None:
        g = np.asarray(g_final, dtype=np.float64)
        table.row(opt.num_steps, res.fun, float(np.sqrt(np.dot(g, g))), opt.sigma, res.nfev, force=True)
        print(f"status {status}: {message}")
    return res


def _attach_partial_result(exc: BaseException, opt: Optimizer, root: Objective | None,
                           history: dict[str, list[float]], best: tuple[float, np.ndarray] | None) -> None:
    """Attach the result so far to ``exc`` (``exc.partial_result``), evaluating nothing."""
    fun, jac = math.nan, None
    if root is not None and root.has_loss and np.array_equal(root.x, opt.x):
        f, g = root.loss_and_grad()  # cached: the step in progress evaluated x itself
        fun, jac = float(f), opt.layout.unflatten(np.array(g, dtype=np.float64))
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    steps = min(len(v) for v in history.values())  # an interrupt between two appends: drop the half row
    partial = OptimizeResult(
        x=_copy_params(opt), fun=fun, jac=jac, nit=opt.num_steps, nfev=opt.num_evaluations,
        njev=opt.num_evaluations, status=5, message=f"interrupted: {what}", success=False,
        history={k: v[:steps] for k, v in history.items()}, num_refused=opt.num_refused)
    if best is not None:  # the best point with a finite value among the completed steps
        partial.update(x_best=opt.layout.unflatten(np.array(best[1], copy=True)), fun_best=float(best[0]))
    try:
        exc.partial_result = partial  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - an exception type without a __dict__
        pass


def _copy_params(opt: Optimizer) -> Any:
    return opt.layout.unflatten(opt.x.copy())


class _HullLog:
    """The last 100 min-norm elements that the run's GradientSampling modules computed (their
    ``last_hull``, one per step), for the certificate."""

    def __init__(self, samplers: list[Any]):
        self.samplers = samplers
        self.log: deque[Any] = deque(maxlen=100)
        self._seen: dict[int, Any] = {}

    def collect(self) -> None:
        for m in self.samplers:
            h = m.last_hull
            if h is not None and self._seen.get(id(m)) is not h:
                self.log.append(h)
                self._seen[id(m)] = h


def _walk(objects: list[Any]) -> Any:
    """Every module and criterion of a chain, depth first."""
    for m in objects:
        yield m
        if isinstance(m, Stateful):
            yield from _walk(m.children())


def default_method(d: int) -> list[Module]:
    """The chain :func:`minimize` runs when given no modules, for ``d`` variables.

    ``d <= 2000``: :func:`recipes.hanso(d, seed=0) <numsmooth.recipes.hanso>`, BFGS with a
    weak Wolfe line search while it makes progress, then gradient sampling from where it
    stopped: it converges on smooth functions (BFGS alone, superlinearly) and on nonsmooth ones
    (Lewis & Overton 2013), and stops by itself. Larger ``d``: ``[LBFGS(history=10),
    WeakWolfe()]`` (dense BFGS keeps a ``d x d`` matrix), which stops by itself too.

    Examples
    --------
    >>> from numsmooth.minimize import default_method
    >>> [type(m).__name__ for m in default_method(5)]
    ['Switch']
    >>> [type(m).__name__ for m in default_method(10_000)]
    ['LBFGS', 'WeakWolfe']
    """
    d = check_int("d", d, low=1)
    if d <= DEFAULT_BFGS_MAX_DIM:
        return recipes.hanso(d, seed=0)
    return [LBFGS(history=10), WeakWolfe()]
