"""What ``numsmooth run`` runs: the problem (built-in or the user's) and the method's modules.

- :func:`load_problem` turns ``--problem`` into a :class:`RunProblem`: a built-in name, or
  ``path/to/file.py:NAME`` / ``package.module:NAME`` naming an oracle (per-point,
  :func:`~numsmooth.batched` or jitted) or a :class:`~numsmooth.problems.Problem`.
- :func:`parse_x0` reads ``--x0`` (a ``.npy`` file or comma-separated numbers).
- :func:`check_options` refuses values that cannot make sense and options the method does not use.
- :func:`build_chain` makes the modules from :mod:`numsmooth.recipes` (gradient sampling,
  Gaussian homotopy) and the basic modules (GD, LSGD), with the defaults filled in.

Every error is a :class:`CliError` whose message names the offending flag.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, cast

import numpy as np

from . import config
from . import problems as _problems
from . import recipes
from .gradient_sampling import GradientSampling
from .laplacian import LaplacianSmoothing
from .modules import LR, Module
from .oracles import _oracle_kind

__all__ = ["CliError", "METHODS", "RunProblem", "load_problem", "parse_x0", "check_options",
           "build_chain", "default_maxiter", "json_safe", "plot_path"]

#: Methods of ``numsmooth run``.
METHODS = ("gradient-sampling", "lsgd", "gd")

#: Defaults of gradient descent and LSGD (``min_numel``: LaplacianSmoothing's own default).
GD_DEFAULTS: dict[str, Any] = dict(lr=1e-3, sigma=1.0, min_numel=4, maxiter=1000)

#: ``--maxiter`` defaults: gradient sampling (the min-norm-hull recipe), Gaussian homotopy.
HULL_MAXITER = 1000
HOMOTOPY_MAXITER = 150

#: File name written inside a directory given to ``--plot``.
PLOT_NAME = "numsmooth-run.png"

#: Options of ``run`` that only some methods use (dest name -> flag).
_OPTION_FLAGS = {
    "aggregate": "--aggregate", "sigma": "--sigma", "n": "--n", "lr": "--lr", "decay": "--decay",
    "stage": "--stage", "sigma_min": "--sigma-min", "seed": "--seed", "min_numel": "--min-numel",
}


class CliError(Exception):
    """Bad command-line input (exit status 2); the message starts with the flag."""


def _applicable(method: str, aggregate: str | None) -> tuple[set[str], str]:
    """The options ``method`` uses, and a phrase saying which method that is."""
    if method == "gd":
        return {"lr"}, "gd"
    if method == "lsgd":
        return {"lr", "sigma", "min_numel"}, "lsgd"
    if aggregate == "min-norm-hull":
        return ({"aggregate", "sigma", "n", "decay", "sigma_min", "seed"},
                "gradient-sampling with --aggregate min-norm-hull")
    return ({"aggregate", "sigma", "n", "decay", "stage", "sigma_min", "lr", "seed"},
            f"gradient-sampling with --aggregate {aggregate or 'mean'}")


def _uses(option: str) -> str:
    """Which methods use ``option`` (for the error message)."""
    users = []
    for method, agg in (("gd", None), ("lsgd", None), ("gradient-sampling", "mean"),
                        ("gradient-sampling", "min-norm-hull")):
        names, phrase = _applicable(method, agg)
        if option in names:
            users.append(phrase.replace("--aggregate mean", "an aggregate other than min-norm-hull"))
    return " or ".join(users)


def _size(nbytes: float) -> str:
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= k:
            return f"{nbytes / k:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def _check_memory(flag: str, value: int, nbytes: float, what: str) -> None:
    """Refuse ``value`` before allocating when ``nbytes`` exceed the machine's memory."""
    mem = config.physical_memory()
    if mem is not None and nbytes > mem:
        raise CliError(f"argument {flag}: {value} is too large: {what} need about {_size(nbytes)}; "
                       f"this machine has {_size(mem)}")


def _real(flag: str, value: float | None, *, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise CliError(f"argument {flag}: must be finite; got {value}")
    lo_bad = low is not None and (value < low or (low_open and value == low))
    hi_bad = high is not None and (value > high or (high_open and value == high))
    if lo_bad or hi_bad:
        if low is not None and high is not None:
            rng = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            rng = f"{'>' if low_open else '>='} {low:g}"
        else:
            rng = f"{'<' if high_open else '<='} {high:g}"
        raise CliError(f"argument {flag}: must be {rng}; got {value:g}")


def check_options(args: Any) -> None:
    """Refuse values that cannot make sense and options the method does not use.

    ``args`` has the attributes of ``run``'s parser; an option left out is ``None``.
    """
    _real("--dim", args.dim, low=1)
    if args.dim is not None:
        _check_memory("--dim", args.dim, 8.0 * 6 * args.dim, f"{args.dim} variables (a few float64 vectors)")
    _real("--sigma", args.sigma, low=0.0, low_open=True)
    _real("--lr", args.lr, low=0.0, low_open=True)
    _real("--decay", args.decay, low=0.0, high=1.0, low_open=True, high_open=True)
    _real("--stage", args.stage, low=1)
    _real("--sigma-min", args.sigma_min, low=0.0)
    _real("--maxiter", args.maxiter, low=0)
    _real("--seed", args.seed, low=0)
    _real("--min-numel", args.min_numel, low=1)
    if args.n is not None:
        low = 2 if args.aggregate == "min-norm-hull" else 1
        _real("--n", args.n, low=low)
    used, phrase = _applicable(args.method, args.aggregate)
    for option, flag in _OPTION_FLAGS.items():
        if getattr(args, option) is not None and option not in used:
            raise CliError(f"argument {flag}: not used by --method {phrase} "
                           f"(it applies to {_uses(option)})")


def check_sizes(args: Any, d: int) -> None:
    """Refuse ``--n`` when the ``(n, d)`` gradient block of a step cannot fit in memory."""
    if args.method == "gradient-sampling":
        n = args.n if args.n is not None else (2 * d if args.aggregate == "min-norm-hull" else 256)
        _check_memory("--n", n, 8.0 * 2 * n * (d + 1), f"{n} sampled points of dimension {d} "
                      "(their gradients and perturbations)")


@dataclass
class RunProblem:
    """The problem of one ``numsmooth run``.

    Attributes
    ----------
    name : str
        For the summary line and the JSON record.
    fun : callable
        The oracle.
    d : int
        Number of variables.
    x0 : ndarray
        Start (flat float64).
    f_star : float or None
        The optimal value when known.
    source : str
        ``"builtin"``, or the ``--problem`` specification of the user's problem.
    """

    name: str
    fun: Callable[..., Any]
    d: int
    x0: np.ndarray
    f_star: float | None
    source: str


def parse_x0(text: str) -> np.ndarray:
    """``--x0``: a ``.npy`` file, or numbers separated by commas (``"1,2.5,-3"``)."""
    if text.endswith(".npy") or os.path.isfile(text):
        try:
            arr = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CliError(f"argument --x0: cannot read {text!r}: {e}") from None
    else:
        try:
            arr = np.array([float(v) for v in text.split(",")], dtype=np.float64)
        except ValueError:
            raise CliError(f"argument --x0: expected a .npy file or numbers separated by commas; got {text!r}") from None
    if arr.dtype.kind not in "fiu":
        raise CliError(f"argument --x0: must hold real numbers; got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise CliError(f"argument --x0: must be a non-empty vector of finite numbers; got {text!r}")
    return arr


def _import_user_module(where: str) -> Any:
    """The module of ``--problem WHERE:NAME``: a ``.py`` file, or a module on ``sys.path``."""
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise CliError(f"argument --problem: no such file {where!r}")
        stem = os.path.splitext(os.path.basename(path))[0]
        modname = f"_numsmooth_user_{stem}_{abs(hash(path)):x}"
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
            raise CliError(f"argument --problem: cannot load {where!r} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module  # dataclasses, pickling and numba's cache look it up
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[modname]
            raise CliError(f"argument --problem: {where!r} raised {type(e).__name__}: {e}") from None
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as 'python -m' does, but after installed packages
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name is not None and where.startswith(e.name):
            raise CliError(f"argument --problem: no module named {where!r} (is its directory on "
                           "PYTHONPATH, or the current directory?)") from None
        raise CliError(f"argument --problem: importing {where!r} failed: {e}") from None
    except Exception as e:
        raise CliError(f"argument --problem: importing {where!r} raised {type(e).__name__}: {e}") from None


def load_problem(spec: str, dim: int | None, x0: np.ndarray | None) -> RunProblem:
    """The problem of ``--problem SPEC`` with ``--dim`` and ``--x0`` applied.

    A built-in problem starts at its standard point in ``dim`` (default: its default
    dimension) unless ``x0`` is given. A user's oracle needs ``x0`` or ``dim`` (then it starts
    at zeros); when both are given they must agree. A user's
    :class:`~numsmooth.problems.Problem` behaves as a built-in one.
    """
    if ":" not in spec:
        try:
            problem = _problems.get(spec)
        except ValueError as e:
            raise CliError(f"argument --problem: {e}; or give FILE.py:NAME or package.module:NAME "
                           "for your own oracle") from None
        return _from_problem(problem, problem.name, dim, x0, "builtin")
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise CliError(f"argument --problem: expected NAME, FILE.py:NAME or package.module:NAME; got {spec!r}")
    module = _import_user_module(where)
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise CliError(f"argument --problem: {where!r} has no attribute {name!r}") from None
    if isinstance(obj, _problems.Problem):
        return _from_problem(obj, obj.name, dim, x0, spec)
    try:
        _oracle_kind(obj)
    except TypeError:
        raise CliError(f"argument --problem: {spec!r} is not an oracle (it is of type {type(obj).__name__}; expected a function "
                       "fun(x) -> (f, g), ns.batched(fun), a jitted fun(x, g_out) -> f, or a "
                       "numsmooth.problems.Problem)") from None
    if x0 is None and dim is None:
        raise CliError(f"argument --problem: {spec!r} is your own oracle: give its start with --x0 "
                       "(a .npy file or 'v1,v2,...') or its dimension with --dim D (start at zeros)")
    if x0 is None:
        assert dim is not None
        x0 = np.zeros(dim)
    elif dim is not None and dim != x0.size:
        raise CliError(f"argument --dim: {dim} disagrees with --x0, which has {x0.size} elements")
    return RunProblem(name, obj, int(x0.size), x0, None, spec)


def _from_problem(problem: Any, name: str, dim: int | None, x0: np.ndarray | None, source: str) -> RunProblem:
    if x0 is not None:
        if dim is not None and dim != x0.size:
            raise CliError(f"argument --dim: {dim} disagrees with --x0, which has {x0.size} elements")
        dim = int(x0.size)
    try:
        d = problem.check_dim(problem.default_dim if dim is None else dim)
    except ValueError as e:
        raise CliError(f"argument --{'x0' if x0 is not None else 'dim'}: {e}") from None
    start = problem.x0(d) if x0 is None else x0
    return RunProblem(name, problem.fun, d, start, problem.optimal_value(d), source)


def default_maxiter(method: str, aggregate: str | None) -> int:
    """``--maxiter`` when not given."""
    if method == "gradient-sampling":
        return HULL_MAXITER if aggregate == "min-norm-hull" else HOMOTOPY_MAXITER
    return int(GD_DEFAULTS["maxiter"])


def build_chain(method: str, d: int, *, aggregate: str | None = None, sigma: float | None = None,
                n: int | None = None, lr: float | None = None, seed: int | None = None,
                decay: float | None = None, stage: int | None = None, sigma_min: float | None = None,
                min_numel: int | None = None) -> tuple[list[Module], dict[str, Any]]:
    """The modules of ``numsmooth run --method METHOD`` with the defaults filled in.

    Gradient sampling is :func:`numsmooth.recipes.gradient_sampling` for the ``min-norm-hull``
    aggregate and :func:`numsmooth.recipes.gaussian_homotopy` for every other aggregate, with
    the recipes' defaults; ``gd`` is ``[LR(lr)]`` and ``lsgd``
    ``[LaplacianSmoothing(sigma, min_numel=...), LR(lr)]``.

    Returns
    -------
    modules : list of Module
    settings : dict
        Every setting used (defaults resolved), for the JSON record.

    Raises
    ------
    CliError
        ``lsgd`` on a problem too small to smooth (fewer than ``min_numel`` or 2 variables):
        it would be ``gd`` under another name.
    """
    if method == "gd":
        lr = GD_DEFAULTS["lr"] if lr is None else lr
        return [LR(lr)], {"lr": lr}
    if method == "lsgd":
        lr = GD_DEFAULTS["lr"] if lr is None else lr
        sigma = GD_DEFAULTS["sigma"] if sigma is None else sigma
        min_numel = GD_DEFAULTS["min_numel"] if min_numel is None else min_numel
        if d < max(2, min_numel):
            why = ("Laplacian smoothing of one variable is the identity" if d < 2 else
                   f"LaplacianSmoothing skips parameters with fewer than min_numel = {min_numel} elements; "
                   f"pass --min-numel {d} to smooth it")
            raise CliError(f"argument --method: lsgd on a problem with {d} variable{'s' if d > 1 else ''} "
                           f"would be gd under another name: {why}")
        return [LaplacianSmoothing(sigma=sigma, min_numel=min_numel), LR(lr)], \
            {"lr": lr, "sigma": sigma, "min_numel": min_numel}
    if method != "gradient-sampling":
        raise CliError(f"argument --method: must be one of {', '.join(METHODS)}; got {method!r}")
    seed = 0 if seed is None else seed
    given: dict[str, Any] = {k: v for k, v in dict(sigma=sigma, n=n, decay=decay, sigma_min=sigma_min).items()
                             if v is not None}
    if aggregate == "min-norm-hull":
        mods = recipes.gradient_sampling(d, seed=seed, **given)
        gs = cast(GradientSampling, mods[0])
        settings = dict(recipe="gradient_sampling", aggregate="min-norm-hull", sigma=gs.sigma, n=gs.sampler.n,
                        decay=gs.decay, sigma_min=gs.sigma_min, seed=seed)
        return mods, settings
    aggregate = "mean" if aggregate is None else aggregate
    if stage is not None:
        given["stage"] = stage
    mods = recipes.gaussian_homotopy(aggregate=aggregate, lr=lr, seed=seed, **given)
    gs = cast(GradientSampling, mods[0])
    assert gs.termination is not None
    settings = dict(recipe="gaussian_homotopy", aggregate=aggregate, sigma=gs.sigma, n=gs.sampler.n,
                    decay=gs.decay, stage=getattr(gs.termination, "steps", None), sigma_min=gs.sigma_min,
                    distribution="sobol", inner="LR" if lr is not None else "Backtracking", seed=seed)
    if lr is not None:
        settings["lr"] = lr
    return mods, settings


def plot_path(path: str) -> str:
    """``--plot PATH``: the file to write (``PATH/numsmooth-run.png`` for a directory)."""
    if os.path.isdir(path):
        return os.path.join(path, PLOT_NAME)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(f"argument --plot: directory {os.path.dirname(path)!r} does not exist")
    return path


def json_safe(v: Any) -> Any:
    """``v`` with arrays as lists and non-finite floats as ``None`` (valid JSON)."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_safe(v.tolist())
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v
