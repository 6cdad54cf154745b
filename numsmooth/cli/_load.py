"""Turning ``--problem``, ``--x0`` and the method options into what a run needs.

- :func:`load_problem` turns ``--problem`` into a :class:`~numsmooth.bench.Case`: a built-in name,
  or ``path/to/file.py:NAME`` / ``package.module:NAME`` naming an oracle (per-point,
  :func:`~numsmooth.batched` or jitted) or a :class:`~numsmooth.problems.Problem`.
- :func:`parse_x0` reads ``--x0`` (a ``.npy`` file or comma-separated numbers).
- :func:`method_options` checks the options of ``--method`` against the registry
  (:mod:`numsmooth.methods`) and returns those given.

Every error is a :class:`~numsmooth.cli._common.CliError` whose message names the offending flag.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import numpy as np

from .. import config
from .. import methods as _methods
from .. import problems as _problems
from ..bench import BEST_FOUND, Case
from ..oracles import _oracle_kind
from ._common import CliError

__all__ = ["load_problem", "parse_x0", "method_options", "check_memory"]


def _size(nbytes: float) -> str:
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= k:
            return f"{nbytes / k:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def method_options(method: _methods.Method, args: Any) -> dict[str, Any]:
    """The options of ``method`` given on the command line, checked.

    ``args`` has an attribute per :data:`numsmooth.methods.OPTIONS` entry (``None`` when the flag
    was left out). A flag the method does not take, or a value out of its range, is a
    :class:`CliError` naming the flag.
    """
    given = {}
    for name, option in _methods.OPTIONS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in method.options:
            users = [m.name for m in _methods.METHODS.values() if name in m.options]
            raise CliError(f"argument {option.flag}: not used by --method {method.name} "
                           f"(it applies to {', '.join(users)})")
        try:
            option.check(value)
        except ValueError as e:
            raise CliError(str(e)) from None
        given[name] = value
    return given


def check_memory(flag: str, value: int, nbytes: float, what: str) -> None:
    """Refuse ``value`` before allocating when ``nbytes`` exceed the machine's memory."""
    mem = config.physical_memory()
    if mem is not None and nbytes > mem:
        raise CliError(f"argument {flag}: {value} is too large: {what} need about {_size(nbytes)}; "
                       f"this machine has {_size(mem)}")


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


def _import_file(where: str) -> Any:
    """Import the file of ``--problem FILE.py:NAME`` with its folder first on ``sys.path`` (so it
    can import a module beside it), as ``python FILE.py`` would."""
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
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        del sys.modules[modname]
        _import_failed(where, e)
    finally:
        sys.path.remove(folder)
    return module


def _import_failed(where: str, e: BaseException) -> None:
    """Turn what importing ``where`` raised into a CliError naming it (Ctrl-C passes through)."""
    if isinstance(e, KeyboardInterrupt):
        raise e
    if isinstance(e, SystemExit):
        raise CliError(f"argument --problem: {where!r} called sys.exit({e.code!r}) while being imported") from None
    raise CliError(f"argument --problem: {where!r} raised {type(e).__name__}: {e} while being imported") from None


def _import_user_module(where: str) -> Any:
    """The module of ``--problem WHERE:NAME``: a ``.py`` file, or a module on ``sys.path``."""
    if where.endswith(".py") or os.sep in where or "/" in where:
        return _import_file(where)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as 'python -m' does, but after installed packages
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name is not None and where.startswith(e.name):
            raise CliError(f"argument --problem: no module named {where!r} (is its directory on "
                           "PYTHONPATH, or the current directory?)") from None
        raise CliError(f"argument --problem: importing {where!r} failed: {e}") from None
    except BaseException as e:
        _import_failed(where, e)
        raise  # pragma: no cover - _import_failed always raises


def load_problem(spec: str, dim: int | None, x0: np.ndarray | None) -> Case:
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
        return _from_problem(problem, dim, x0)
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise CliError(f"argument --problem: expected NAME, FILE.py:NAME or package.module:NAME; got {spec!r}")
    module = _import_user_module(where)
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise CliError(f"argument --problem: {where!r} has no attribute {name!r}") from None
    if isinstance(obj, _problems.Problem):
        return _from_problem(obj, dim, x0)
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
    return Case(name, obj, x0, None, BEST_FOUND)


def _from_problem(problem: Any, dim: int | None, x0: np.ndarray | None) -> Case:
    if x0 is not None:
        if dim is not None and dim != x0.size:
            raise CliError(f"argument --dim: {dim} disagrees with --x0, which has {x0.size} elements")
        dim = int(x0.size)
    try:
        d = problem.check_dim(problem.default_dim if dim is None else dim)
    except ValueError as e:
        raise CliError(f"argument --{'x0' if x0 is not None else 'dim'}: {e}") from None
    start = problem.x0(d) if x0 is None else x0
    f_star = problem.optimal_value(d)
    return Case(problem.name, problem.fun, start, f_star, BEST_FOUND if f_star is None else "known")
