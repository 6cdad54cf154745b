"""The methods of numsmooth by name: one list for ``numsmooth run``, ``numsmooth bench``,
:func:`numsmooth.recipes.build` and the documentation's method table.

A :class:`Method` is a name, a builder ``build(d, **options) -> list[Module]`` whose keyword
parameters are the options it takes (with their defaults), a one-line description, a reference,
whether it keeps a dense ``d x d`` matrix, and the stopping criteria it needs besides its modules.
Every name means one algorithm everywhere. Adding a method is one call::

    ns.methods.register(ns.methods.Method(
        name="my-method", builder=my_builder, description="...", reference="..."))

after which ``numsmooth run --method my-method`` and ``numsmooth bench --method my-method`` run it
(an option name the command line does not know yet is declared in ``new_options``).

==========================  ===================================================================
name                        algorithm
==========================  ===================================================================
``hanso``                   BFGS with weak Wolfe line searches, then gradient sampling (HANSO)
``gradient-sampling``       Burke, Lewis & Overton's gradient sampling (min-norm hull, Armijo)
``gaussian-homotopy``       Gaussian smoothing with a decaying scale (graduated optimization)
``bfgs``                    BFGS + weak Wolfe line search (Lewis & Overton 2013)
``lbfgs``                   limited-memory BFGS + weak Wolfe line search
``lbfgsb``                  SciPy's L-BFGS-B, the smooth baseline (not a module chain)
``lsgd``                    Laplacian-smoothed gradient descent (Osher et al. 2022)
``gd``                      gradient descent with a fixed step
``lmbm``                    limited-memory bundle method (Haarala, Miettinen & Mäkelä 2007)
==========================  ===================================================================

Examples
--------
>>> import numsmooth as ns
>>> m = ns.methods.get("gradient-sampling")
>>> m.options["sigma"], m.dense
(0.1, False)
>>> p = ns.problems.get("maxquad")
>>> res = ns.minimize(p.fun, p.x0(), *m.build(10, seed=0), maxiter=2000)
>>> bool(res.fun - p.f_star < 1e-6)
True
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import recipes
from .aggregates import AGGREGATES
from .laplacian import LaplacianSmoothing
from .line_search import WeakWolfe
from .minimize import OptimizeResult, minimize
from .modules import LR, Module
from .oracles import _oracle_kind
from .quasi_newton import BFGS, LBFGS
from .objective import Objective
from .termination import TerminateAfterNEvaluations, TerminateByUpdateNorm, TerminationCriterion

__all__ = ["Option", "Method", "IterationCap", "OPTIONS", "METHODS", "register", "get", "names", "method_table"]


@dataclass(frozen=True)
class Option:
    """An option some methods take: its keyword, type, allowed range and meaning.

    The command-line flag is ``--`` and the name with ``_`` as ``-`` (``sigma_min`` is
    ``--sigma-min``). ``low``/``high`` bound a number (``*_open``: the bound itself is
    excluded); ``choices`` lists the allowed strings.
    """

    name: str
    type: type
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--sigma-min``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` naming the flag when ``value`` is outside the allowed range."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"argument {self.flag}: must be one of {', '.join(self.choices)}; got {value!r}")
            return
        if not math.isfinite(value):
            raise ValueError(f"argument {self.flag}: must be finite; got {value}")
        lo_bad = self.low is not None and (value < self.low or (self.low_open and value == self.low))
        hi_bad = self.high is not None and (value > self.high or (self.high_open and value == self.high))
        if not (lo_bad or hi_bad):
            return
        if self.low is not None and self.high is not None:
            rng = f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            rng = f"{'>' if self.low_open else '>='} {self.low:g}"
        else:
            rng = f"{'<' if self.high_open else '<='} {self.high:g}"
        raise ValueError(f"argument {self.flag}: must be {rng}; got {value:g}")


#: Every option a registered method takes, by keyword.
OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("sigma", float, "first sampling radius (gradient-sampling, hanso), smoothing scale "
           "(gaussian-homotopy) or Laplacian smoothing sigma (lsgd)", low=0.0, low_open=True),
    Option("n", int, "evaluations per sampling step", low=1),
    Option("decay", float, "sigma factor when it decays", low=0.0, high=1.0, low_open=True, high_open=True),
    Option("sigma_min", float, "stop (status 4) when sigma falls below this; 0 = never", low=0.0),
    Option("stage", int, "steps per sigma stage", low=1),
    Option("aggregate", str, "how sampled gradients combine", choices=tuple(AGGREGATES)),
    Option("lr", float, "learning rate (gaussian-homotopy: a fixed step instead of the line search)",
           low=0.0, low_open=True),
    Option("min_numel", int, "smallest number of variables that is smoothed", low=1),
    Option("history", int, "pairs (s, y) L-BFGS keeps", low=1),
    Option("seed", int, "seed of the randomized methods", low=0),
)}


@dataclass(frozen=True)
class Method:
    """A named algorithm: how to build its modules, what it takes, what it is.

    Attributes
    ----------
    name : str
        Lower case, digits and ``-``; the name on the command line and in :data:`METHODS`.
    builder : callable or None
        ``builder(d, **options) -> list[Module]``; its keyword-only parameters are the options
        (see :attr:`options`). ``None`` for a method that is not a module chain (``solver``).
    description : str
        One line.
    reference : str
        Where the algorithm comes from.
    dense : bool
        Whether it keeps a dense ``d x d`` matrix (BFGS's inverse Hessian): ``8 d^2`` bytes.
    maxiter : int
        The default number of steps of ``numsmooth run``.
    stop : callable, optional
        Returns the stopping criteria the chain needs besides its modules (fresh objects).
    solver : callable, optional
        For a method that is not a module chain: ``solver(fun, x0, maxiter=, maxfev=,
        **options) -> OptimizeResult``.
    defaults_text : dict of str
        How an option whose default is ``None`` is chosen (e.g. ``{"n": "2 d"}``).
    new_options : tuple of Option
        Options not yet in :data:`OPTIONS`; :func:`register` adds them.
    iterations : callable or None
        ``iterations(modules) -> int``: the method's own iteration count, from the modules it
        built (``lmbm``: serious steps), reported as ``nit`` and capped by ``maxiter``; the
        result's ``nsteps`` is then every step. None (default): every step is an iteration.
    steps_per_iteration : int
        With ``iterations``: the steps (null steps too) are capped at this many times
        ``maxiter``, so a run ends without ``maxfev`` too.
    """

    name: str
    builder: Callable[..., list[Module]] | None
    description: str
    reference: str
    dense: bool = False
    maxiter: int = 1000
    stop: Callable[[], list[Any]] | None = field(default=None, repr=False)
    solver: Callable[..., OptimizeResult] | None = field(default=None, repr=False)
    defaults_text: dict[str, str] = field(default_factory=dict, repr=False)
    new_options: tuple[Option, ...] = field(default=(), repr=False)
    iterations: Callable[[list[Module]], int] | None = field(default=None, repr=False)
    steps_per_iteration: int = 50

    @property
    def options(self) -> dict[str, Any]:
        """The options it takes and their defaults (``None``: chosen from ``d``, see
        :attr:`defaults_text`), read from the builder's (or solver's) keyword-only parameters."""
        fn = self.builder if self.builder is not None else self.solver
        assert fn is not None
        return {p.name: p.default for p in inspect.signature(fn).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("maxiter", "maxfev")}

    def default_text(self, name: str) -> str:
        """The default of option ``name`` as text: the value, or how it is chosen from ``d``."""
        value = self.options[name]
        if value is None:
            return self.defaults_text.get(name, "chosen by the method")
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise ValueError(f"method {self.name!r} takes no option {unknown[0]!r}; its options: {allowed}")

    def build(self, d: int, **options: Any) -> list[Module]:
        """The modules of this method for ``d`` variables, with ``options`` set.

        Raises
        ------
        ValueError
            An option the method does not take (the message lists those it takes), or a bad value.
        TypeError
            The method is not a module chain (``lbfgsb``): run it with :meth:`minimize`.
        """
        if self.builder is None:
            raise TypeError(f"method {self.name!r} is not a chain of numsmooth modules; "
                            f"run it with numsmooth.methods.get({self.name!r}).minimize(...)")
        self._check_options(options)
        return self.builder(d, **options)

    def minimize(self, fun: Any, x0: Any, *, maxiter: int | None = None, maxfev: int | None = None,
                 progress: bool | str = False, **options: Any) -> OptimizeResult:
        """Run the method on ``fun`` from ``x0``: its modules and stopping criteria, or its solver.

        Parameters
        ----------
        fun : callable
            Any oracle :func:`~numsmooth.minimize` takes.
        x0 : ndarray
            Flat start point.
        maxiter : int, optional
            Most steps (default :attr:`maxiter`).
        maxfev : int, optional
            Most evaluations (a run may overshoot by the evaluations of its last step).
        progress : bool or str
            As :func:`~numsmooth.minimize`'s (module chains only; a solver reports none).
        **options
            The method's options.
        """
        x0 = np.asarray(x0, dtype=np.float64)
        maxiter = self.maxiter if maxiter is None else maxiter
        if self.solver is not None:
            self._check_options(options)
            return self.solver(fun, x0, maxiter=maxiter, maxfev=maxfev, **options)
        modules = self.build(int(x0.size), **options)
        stop: list[Any] = [] if self.stop is None else list(self.stop())
        if maxfev is not None:
            stop.append(TerminateAfterNEvaluations(maxfev))
        if self.iterations is None:
            return minimize(fun, x0, *modules, maxiter=maxiter, termination=stop or None, progress=progress)
        # maxiter counts the method's iterations (lmbm: serious steps); the steps (null steps
        # too) are capped at steps_per_iteration times as many, and maxfev caps evaluations
        cap = IterationCap(self.iterations, modules, maxiter)
        count = self.iterations

        def recount(r: OptimizeResult) -> None:  # nit: the method's iterations; nsteps: every step
            r["nsteps"] = r["nit"]
            r["nit"] = count(modules)

        try:
            res = minimize(fun, x0, *modules, maxiter=self.steps_per_iteration * maxiter, termination=[cap, *stop],
                           progress=progress)
        except BaseException as exc:  # an interrupted run's result counts the same way
            partial = getattr(exc, "partial_result", None)
            if partial is not None:
                recount(partial)
            raise
        recount(res)
        if cap.fired:
            res["status"] = 1
            res["message"] = f"maximum number of iterations ({maxiter}) reached"
        return res


class IterationCap(TerminationCriterion):
    """Fire once ``iterations(modules)`` reaches ``maxiter``: a step cap for a method whose
    steps are not all iterations (``lmbm``: only serious steps are)."""

    def __init__(self, iterations: Callable[[list[Module]], int], modules: list[Module], maxiter: int):
        super().__init__()
        self.iterations, self.modules, self.maxiter = iterations, modules, maxiter
        self.fired = False

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "maxiter": self.maxiter}

    def _condition(self, objective: Objective) -> bool:
        self.fired = self.iterations(self.modules) >= self.maxiter
        return self.fired


#: The registered methods by name, in the order of the documentation's table.
METHODS: dict[str, Method] = {}

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (and its ``new_options`` to :data:`OPTIONS`).

    Raises
    ------
    ValueError
        A name already taken or not of the form ``word-word``, or an option neither in
        :data:`OPTIONS` nor in ``new_options``.
    TypeError
        ``method`` is not a :class:`Method`, or has neither or both of ``builder`` and ``solver``.
    """
    if not isinstance(method, Method):
        raise TypeError(f"method must be a numsmooth.methods.Method; got {method!r}")
    if not _NAME.match(method.name):
        raise ValueError(f"method name must be lower-case words joined by '-'; got {method.name!r}")
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is already registered")
    if (method.builder is None) == (method.solver is None):
        raise TypeError(f"method {method.name!r} needs exactly one of builder and solver")
    known = {**OPTIONS, **{o.name: o for o in method.new_options}}
    missing = [o for o in method.options if o not in known]
    if missing:
        raise ValueError(f"method {method.name!r} takes options {missing} that are not in "
                         "numsmooth.methods.OPTIONS; declare them in new_options")
    OPTIONS.update({o.name: o for o in method.new_options})
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    """The method called ``name``.

    Raises
    ------
    ValueError
        No such method; the message lists the names.
    """
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


def names() -> list[str]:
    """The registered names, in order."""
    return list(METHODS)


def method_table() -> str:
    """The methods as a reStructuredText list-table (name, options with their defaults, what it
    is, reference): the table of the documentation, generated from :data:`METHODS`."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 14 26 40 20", "",
             "   * - name", "     - options (default)", "     - what it is", "     - reference"]
    for m in METHODS.values():
        opts = "; ".join(f"``{OPTIONS[k].flag}`` {m.default_text(k)}" for k in m.options)
        lines += [f"   * - ``{m.name}``", f"     - {opts or 'none'}",
                  f"     - {m.description}" + (" Keeps a dense d x d matrix." if m.dense else ""),
                  f"     - {m.reference}"]
    return "\n".join(lines)


# -- the built-in methods --------------------------------------------------------------------------
#: ``bfgs`` and ``lbfgs`` also stop when ``x`` moved by at most this in 3 consecutive steps
#: (their failing line searches bring that about).
STALL_TOL = 1e-12


def _stall() -> list[Any]:
    return [TerminateByUpdateNorm(STALL_TOL, n=3)]


def _hanso(d: int, *, sigma: float = 1e-4, n: int | None = None, decay: float = 0.1,
           sigma_min: float = 1e-6, seed: int | None = 0) -> list[Module]:
    return recipes.hanso(d, sigma=sigma, n=n, decay=decay, sigma_min=sigma_min, seed=seed)


def _gradient_sampling(d: int, *, sigma: float = 0.1, n: int | None = None, decay: float = 0.1,
                       sigma_min: float = 1e-8, seed: int | None = 0) -> list[Module]:
    return recipes.gradient_sampling(d, sigma=sigma, n=n, decay=decay, sigma_min=sigma_min, seed=seed)


def _gaussian_homotopy(d: int, *, sigma: float = 1.0, n: int = 256, decay: float = 0.5, stage: int = 10,
                       aggregate: str = "mean", sigma_min: float = 0.0, lr: float | None = None,
                       seed: int | None = 0) -> list[Module]:
    return recipes.gaussian_homotopy(sigma=sigma, n=n, decay=decay, stage=stage, aggregate=aggregate,
                                     sigma_min=sigma_min, lr=lr, seed=seed)


def _bfgs(d: int) -> list[Module]:
    return [BFGS(), WeakWolfe()]


def _lbfgs(d: int, *, history: int = 10) -> list[Module]:
    return [LBFGS(history=history), WeakWolfe()]


def _lsgd(d: int, *, lr: float = 1e-3, sigma: float = 1.0, min_numel: int = 4) -> list[Module]:
    if d < max(2, min_numel):
        why = ("Laplacian smoothing of one variable is the identity" if d < 2 else
               f"LaplacianSmoothing skips parameters with fewer than min_numel = {min_numel} elements; "
               f"pass min_numel={d} to smooth it")
        raise ValueError(f"lsgd on {d} variable{'s' if d > 1 else ''} would be gd under another name: {why}")
    return [LaplacianSmoothing(sigma=sigma, min_numel=min_numel), LR(lr)]


def _gd(d: int, *, lr: float = 1e-3) -> list[Module]:
    return [LR(lr)]


def point_oracle(fun: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``fun`` (per-point, :func:`~numsmooth.batched` or jitted) as ``x -> (f, g)`` on one point."""
    kind = _oracle_kind(fun)
    if kind == "jitted":
        def jitted(x: np.ndarray) -> tuple[float, np.ndarray]:
            g = np.empty_like(x)
            return float(fun(x, g)), g
        return jitted
    if kind == "batched":
        def one_row(x: np.ndarray) -> tuple[float, np.ndarray]:
            F, G = fun(x[None, :])
            return float(np.asarray(F).ravel()[0]), np.asarray(G, dtype=np.float64).reshape(1, -1)[0]
        return one_row

    def per_point(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = fun(x)
        return float(f), np.asarray(g, dtype=np.float64).ravel()
    return per_point


def _lbfgsb(fun: Any, x0: np.ndarray, *, maxiter: int, maxfev: int | None = None) -> OptimizeResult:
    """SciPy's L-BFGS-B (``jac=True``) as an :class:`~numsmooth.OptimizeResult` with a history."""
    from scipy.optimize import minimize as scipy_minimize

    fg = point_oracle(fun)
    count = 0
    history: dict[str, list[float]] = {k: [] for k in ("f", "f_smoothed", "sigma", "update_norm", "nfev")}
    last = x0.copy()

    def counted(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal count
        count += 1
        return fg(np.array(x, dtype=np.float64))  # a fresh writeable copy: one Numba specialisation

    def record(intermediate_result: Any) -> None:
        nonlocal last
        x = np.asarray(intermediate_result.x, dtype=np.float64)
        history["f"].append(float(intermediate_result.fun))
        history["f_smoothed"].append(math.nan)
        history["sigma"].append(math.nan)
        history["update_norm"].append(float(np.linalg.norm(x - last)))
        history["nfev"].append(count)
        last = x.copy()

    options: dict[str, Any] = {"maxiter": maxiter}
    if maxfev is not None:
        options["maxfun"] = maxfev
    r = scipy_minimize(counted, x0, jac=True, method="L-BFGS-B", callback=record, options=options)
    # numsmooth's codes: 0 converged, 1 an iteration or evaluation limit, 4 the method ended the run
    status = 0 if r.status == 0 else (1 if r.status == 1 else 4)
    return OptimizeResult(x=np.asarray(r.x, dtype=np.float64), fun=float(r.fun),
                          jac=np.asarray(r.jac, dtype=np.float64), nit=int(r.nit), nfev=count, njev=count,
                          status=status, message=f"L-BFGS-B: {r.message}", success=status in (0, 4),
                          history=history, num_refused=0)


_BLO = ("J. V. Burke, A. S. Lewis, M. L. Overton (2005), A robust gradient sampling algorithm for "
        "nonsmooth, nonconvex optimization, SIAM J. Optim. 15(3):751-779")
_LO = "A. S. Lewis, M. L. Overton (2013), Nonsmooth optimization via quasi-Newton methods, Math. Program. 141:135-163"

for _m in (
    Method("hanso", _hanso, "BFGS with weak Wolfe line searches until it stalls, then gradient sampling "
           "from where it stopped (numsmooth.recipes.hanso).",
           f"{_LO}; M. L. Overton, HANSO 2.0 (2010)", dense=True, defaults_text={"n": "min(100, 2 d, d + 10)"}),
    Method("gradient-sampling", _gradient_sampling, "Gradient sampling: the min-norm element of the hull of "
           "gradients sampled in a ball, an Armijo search, the radius shrunk on stalls "
           "(numsmooth.recipes.gradient_sampling).", _BLO, defaults_text={"n": "2 d"}),
    Method("gaussian-homotopy", _gaussian_homotopy, "Gaussian homotopy: minimize the Gaussian-smoothed "
           "function while its scale decays every stage (numsmooth.recipes.gaussian_homotopy).",
           "H. Mobahi, J. W. Fisher III (2015), EMMCVPR; E. Hazan, K. Y. Levy, S. Shalev-Shwartz (2016), ICML",
           maxiter=150, defaults_text={"lr": "none: an Armijo line search"}),
    Method("bfgs", _bfgs, "BFGS with a weak Wolfe line search; stops when x stops moving.", _LO, dense=True,
           stop=_stall),
    Method("lbfgs", _lbfgs, "Limited-memory BFGS with a weak Wolfe line search; stops when x stops moving.",
           "D. C. Liu, J. Nocedal (1989), Math. Program. 45:503-528; " + _LO, stop=_stall),
    Method("lbfgsb", None, "SciPy's L-BFGS-B with the oracle's gradient: the smooth baseline "
           "(not a chain of numsmooth modules).",
           "R. H. Byrd, P. Lu, J. Nocedal, C. Zhu (1995), SIAM J. Sci. Comput. 16(5):1190-1208",
           solver=_lbfgsb),
    Method("lsgd", _lsgd, "Laplacian-smoothed gradient descent: LaplacianSmoothing of the gradient, then "
           "a fixed step.", "S. Osher et al. (2022), Laplacian smoothing gradient descent, Res. Math. Sci. 9:55"),
    Method("gd", _gd, "Gradient descent with a fixed step (a subgradient method on nonsmooth functions).",
           "A. Cauchy (1847)"),
):
    register(_m)


def _lmbm(d: int, *, history: int = 7, tol: float = 1e-10) -> list[Module]:
    return recipes.lmbm(history=history, tol=tol)


register(Method(
    "lmbm", _lmbm,
    "Limited-memory bundle method: serious and null steps, subgradient aggregation, an L-BFGS metric "
    "with limited-memory SR1 updates in null steps; O(history d) memory (numsmooth.recipes.lmbm). "
    "maxiter counts serious steps; null steps are limited by the evaluations.",
    "N. Haarala, K. Miettinen, M. M. Mäkelä (2007), Globally convergent limited memory bundle method for "
    "large-scale nonsmooth optimization, Math. Program. 109:181-205", maxiter=5000,
    iterations=lambda modules: int(modules[0].state.get("num_serious", 0)),
    new_options=(Option("tol", float, "lmbm: stop when the predicted decrease w <= tol (1 + |f|)", low=0.0),)))
