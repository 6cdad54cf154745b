"""Benchmark suites: ``numsmooth bench`` and :func:`run_suite`.

Runs methods on a suite of problems with known optima and reports, per problem and method, the
value reached, the optimum, the evaluations, the steps and the time; a problem counts as solved
when ``f - f* <= 1e-6 (1 + |f*|)``. The one suite so far is ``hmm2004``: the ten nonsmooth
problems of Haarala, Miettinen & Mäkelä (2004) (:data:`numsmooth.problems.HAARALA`).

Methods:

==================== =====================================================================
``hanso``             :func:`numsmooth.recipes.hanso` (BFGS + weak Wolfe, then gradient sampling)
``gradient-sampling`` :func:`numsmooth.recipes.gradient_sampling` (Burke, Lewis & Overton 2005)
``bfgs``              :class:`~numsmooth.BFGS` + :class:`~numsmooth.WeakWolfe` (Lewis & Overton 2013)
``lbfgs``             :class:`~numsmooth.LBFGS` + :class:`~numsmooth.WeakWolfe`
``lbfgsb``            SciPy's L-BFGS-B (``jac=True``), the smooth baseline
==================== =====================================================================

Every run is limited to ``maxiter`` steps and ``maxfev`` evaluations
(:class:`~numsmooth.TerminateAfterNEvaluations`; SciPy's ``maxfun`` for ``lbfgsb``). ``hanso``,
``gradient-sampling`` and ``lbfgsb`` stop by themselves; ``bfgs`` and ``lbfgs`` stop when ``x``
has moved by at most 1e-12 in three consecutive steps (:class:`~numsmooth.TerminateByUpdateNorm`),
which their failing line searches bring about.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any, Callable, Sequence

import numpy as np

from . import problems as _problems
from . import recipes
from ._validation import check_int
from .line_search import WeakWolfe
from .minimize import minimize
from .modules import Module
from .quasi_newton import BFGS, LBFGS
from .termination import TerminateAfterNEvaluations, TerminateByUpdateNorm

__all__ = ["SUITES", "METHODS", "run_suite", "solved", "summarize", "format_table",
           "performance_profile", "plot_profile", "add_parser", "run"]

#: The suites by name: the problem names of each.
SUITES: dict[str, tuple[str, ...]] = {"hmm2004": _problems.HAARALA}

#: The methods ``run_suite`` knows, in the order of the table.
METHODS: tuple[str, ...] = ("hanso", "gradient-sampling", "bfgs", "lbfgs", "lbfgsb")

#: The methods run when none is named.
DEFAULT_METHODS: tuple[str, ...] = ("hanso", "gradient-sampling", "lbfgs", "lbfgsb")

#: Row keys, in the order of the JSON objects.
KEYS: tuple[str, ...] = ("problem", "method", "dim", "f", "f_star", "solved", "nfev", "nit",
                         "seconds", "status", "message")

RTOL = 1e-6

#: ``bfgs`` and ``lbfgs`` stop when ``x`` moved by at most this in 3 consecutive steps.
STALL_TOL = 1e-12


def solved(f: float, f_star: float, rtol: float = RTOL) -> bool:
    """Whether ``f - f* <= rtol (1 + |f*|)`` (a nan ``f`` is not solved)."""
    return bool(f - f_star <= rtol * (1.0 + abs(f_star)))


def _modules(method: str, d: int, seed: int) -> list[Module]:
    if method == "hanso":
        return recipes.hanso(d, seed=seed)
    if method == "gradient-sampling":
        return recipes.gradient_sampling(d, seed=seed)
    if method == "bfgs":
        return [BFGS(), WeakWolfe()]
    if method == "lbfgs":
        return [LBFGS(history=10), WeakWolfe()]
    raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}; got {method!r}")


def _run_numsmooth(method: str, problem: _problems.Problem, d: int, maxiter: int, maxfev: int,
                   seed: int) -> dict[str, Any]:
    stop: list[Any] = [TerminateAfterNEvaluations(maxfev)]
    if method in ("bfgs", "lbfgs"):
        # they never stop by themselves: end when x stops moving (failed line searches)
        stop.append(TerminateByUpdateNorm(STALL_TOL, n=3))
    res = minimize(problem.fun, problem.x0(d), *_modules(method, d, seed), maxiter=maxiter, termination=stop)
    return {"f": float(res.fun), "nfev": int(res.nfev), "nit": int(res.nit), "status": int(res.status),
            "message": str(res.message)}


def _run_lbfgsb(problem: _problems.Problem, d: int, maxiter: int, maxfev: int) -> dict[str, Any]:
    from scipy.optimize import minimize as scipy_minimize

    count = 0
    fg = _problems.per_point(problem)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal count
        count += 1
        return fg(x)

    res = scipy_minimize(fun, problem.x0(d), jac=True, method="L-BFGS-B",
                         options={"maxiter": maxiter, "maxfun": maxfev})
    # the value at the returned point: SciPy reports the last accepted one, which it evaluated
    return {"f": float(res.fun), "nfev": count, "nit": int(res.nit), "status": int(res.status),
            "message": str(res.message)}


def run_suite(suite: str = "hmm2004", dim: int = 50, methods: Sequence[str] | None = None,
              problems: Sequence[str] | None = None, *, maxiter: int = 5000, maxfev: int = 50_000,
              seed: int = 0, rtol: float = RTOL,
              callback: Callable[[dict[str, Any]], Any] | None = None) -> list[dict[str, Any]]:
    """Run ``methods`` on the problems of ``suite`` and return one row per (problem, method).

    Parameters
    ----------
    suite : str
        A key of :data:`SUITES` (``'hmm2004'``).
    dim : int
        The dimension of every problem.
    methods : sequence of str, optional
        Names from :data:`METHODS` (default :data:`DEFAULT_METHODS`).
    problems : sequence of str, optional
        A subset of the suite's problems (default all), run in the suite's order.
    maxiter : int
        Most steps per run.
    maxfev : int
        Most evaluations per run (a run may overshoot by the evaluations of its last step).
    seed : int
        Seed of the randomized methods.
    rtol : float
        Solved means ``f - f* <= rtol (1 + |f*|)``.
    callback : callable, optional
        Called with each row as soon as it is done (e.g. to print progress).

    Returns
    -------
    list of dict
        Rows with the keys :data:`KEYS`: ``problem``, ``method``, ``dim``, ``f`` (the value
        reached), ``f_star``, ``solved``, ``nfev`` (evaluations), ``nit`` (steps), ``seconds``
        (wall time, Numba compilation included for the first run of a kernel), ``status`` and
        ``message`` (of the run).

    Examples
    --------
    >>> from numsmooth.bench import run_suite
    >>> rows = run_suite(methods=["bfgs"], problems=["active_faces"], maxfev=2000)
    >>> [(r["problem"], r["method"], r["solved"]) for r in rows]
    [('active_faces', 'bfgs', True)]
    """
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(repr(s) for s in SUITES)}; got {suite!r}")
    dim = check_int("dim", dim, low=1)
    maxiter = check_int("maxiter", maxiter, low=1)
    maxfev = check_int("maxfev", maxfev, low=1)
    methods = list(DEFAULT_METHODS if methods is None else methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}; got {m!r}")
    names = list(SUITES[suite])
    if problems is not None:
        wanted = [_problems.get(p).name for p in problems]
        unknown = [p for p in wanted if p not in names]
        if unknown:
            raise ValueError(f"problems {unknown} are not in suite {suite!r}; choose from {', '.join(names)}")
        names = [p for p in names if p in wanted]
    rows: list[dict[str, Any]] = []
    for name in names:
        problem = _problems.get(name)
        d = problem.check_dim(dim)
        f_star = problem.optimal_value(d)
        if f_star is None:
            raise ValueError(f"problem {name!r} has no known optimum at d = {d}; choose another --dim")
        for method in methods:
            t0 = time.perf_counter()
            if method == "lbfgsb":
                out = _run_lbfgsb(problem, d, maxiter, maxfev)
            else:
                out = _run_numsmooth(method, problem, d, maxiter, maxfev, seed)
            seconds = time.perf_counter() - t0
            row = {"problem": name, "method": method, "dim": d, "f": out["f"], "f_star": float(f_star),
                   "solved": solved(out["f"], f_star, rtol), "nfev": out["nfev"], "nit": out["nit"],
                   "seconds": seconds, "status": out["status"], "message": out["message"]}
            rows.append(row)
            if callback is not None:
                callback(row)
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method (in order of appearance): ``method``, ``solved``, ``problems`` and
    ``median_nfev`` (median evaluations over the solved problems; nan when none is solved)."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ok = [r["nfev"] for r in mine if r["solved"]]
        out.append({"method": method, "solved": len(ok), "problems": len(mine),
                    "median_nfev": float(statistics.median(ok)) if ok else math.nan})
    return out


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a text table, then one summary line per method."""
    head = ("problem", "method", "f", "f*", "f - f*", "evals", "steps", "time (s)", "solved")
    body = [(r["problem"], r["method"], f"{r['f']:.10g}", f"{r['f_star']:.10g}", f"{r['f'] - r['f_star']:.2e}",
             str(r["nfev"]), str(r["nit"]), f"{r['seconds']:.2f}", "yes" if r["solved"] else "no") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = {2, 3, 4, 5, 6, 7}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(head), line(["-" * w for w in widths]), *(line(b) for b in body), ""]
    for s in summarize(rows):
        med = "-" if math.isnan(s["median_nfev"]) else f"{s['median_nfev']:.0f}"
        lines.append(f"{s['method']}: solved {s['solved']} of {s['problems']}, "
                     f"median evaluations over solved problems {med}")
    return "\n".join(lines)


def performance_profile(rows: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Dolan & Moré (2002) performance ratios over evaluations.

    Returns the methods and an array ``R`` of shape ``(problems, methods)``:
    ``R[p, s] = nfev[p, s] / min_s nfev[p, s]`` over the methods that solved ``p``, ``inf``
    where ``s`` did not solve it (or nobody did). The profile of method ``s`` is the fraction
    of problems with ``R[:, s] <= tau``.
    """
    methods = list(dict.fromkeys(r["method"] for r in rows))
    probs = list(dict.fromkeys(r["problem"] for r in rows))
    T = np.full((len(probs), len(methods)), np.inf)
    for r in rows:
        if r["solved"]:
            T[probs.index(r["problem"]), methods.index(r["method"])] = max(int(r["nfev"]), 1)
    best = T.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        R = np.where(np.isfinite(T), T / best, np.inf)
    return methods, R


def plot_profile(rows: Sequence[dict[str, Any]], file: str) -> None:
    """Write the Dolan-Moré performance profile over evaluations to ``file`` (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods, R = performance_profile(rows)
    finite = R[np.isfinite(R)]
    tau_max = max(2.0, float(finite.max()) * 2.0) if finite.size else 2.0
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for j, m in enumerate(methods):
        taus = np.sort(R[:, j][np.isfinite(R[:, j])])
        x = np.r_[1.0, taus, tau_max]
        y = np.r_[0.0, np.arange(1, taus.size + 1), taus.size] / max(R.shape[0], 1)
        ax.step(x, y, where="post", label=m)
    ax.set_xscale("log", base=2)
    ax.set_xlim(1.0, tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("tau (evaluations / fewest evaluations of any method)")
    ax.set_ylabel("fraction of problems solved within tau")
    ax.set_title(f"Performance profile ({R.shape[0]} problems, f - f* <= 1e-6 (1 + |f*|))")
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


# -- the command line -------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="run methods on a benchmark suite and print a table",
        description="Run methods on every problem of a suite and print, per problem and method, the "
        "value reached, f*, evaluations, steps and time, then per method the number solved "
        "(f - f* <= 1e-6 (1 + |f*|)) and the median evaluations over the solved problems.")
    p.add_argument("--suite", default="hmm2004", choices=tuple(SUITES),
                   help="hmm2004: the ten nonsmooth problems of Haarala, Miettinen & Makela (2004)")
    p.add_argument("--dim", type=int, default=50, metavar="D", help="dimension (default 50)")
    p.add_argument("--method", action="extend", nargs="+", choices=METHODS, metavar="NAME",
                   help=f"methods (the option may be repeated): {', '.join(METHODS)} (default: {', '.join(DEFAULT_METHODS)})")
    p.add_argument("--problems", metavar="NAME,...", help="comma-separated subset of the suite's problems")
    p.add_argument("--maxiter", type=int, default=5000, metavar="K", help="most steps per run (default 5000)")
    p.add_argument("--maxfev", type=int, default=50_000, metavar="N",
                   help="most evaluations per run (default 50000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the randomized methods (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as a JSON list of objects")
    p.add_argument("--plot", metavar="FILE", help="also write a performance profile over evaluations (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``numsmooth bench`` with parsed arguments; returns the exit status (0).

    Bad values raise ``ValueError`` with the option named (the command line turns it into exit
    status 2).
    """
    import sys

    for name in ("dim", "maxiter", "maxfev"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"argument --{name}: must be >= 1; got {value}")
    if args.seed < 0:
        raise ValueError(f"argument --seed: must be >= 0; got {args.seed}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("--plot needs matplotlib (pip install matplotlib)") from None
    problems = None
    if args.problems:
        problems = [p.strip() for p in args.problems.split(",") if p.strip()]
        if not problems:
            raise ValueError(f"argument --problems: no problem named in {args.problems!r}")

    def progress(row: dict[str, Any]) -> None:
        if not args.quiet:
            print(f"  {row['problem']} / {row['method']}: f - f* = {row['f'] - row['f_star']:.2e}, "
                  f"{row['nfev']} evaluations, {row['seconds']:.1f} s", file=sys.stderr, flush=True)

    rows = run_suite(args.suite, args.dim, args.method, problems, maxiter=args.maxiter, maxfev=args.maxfev,
                     seed=args.seed, callback=progress)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([_json_row(r) for r in rows], fh, indent=1)
            fh.write("\n")
        print(f"rows written to {args.json}")
    if args.plot:
        plot_profile(rows, args.plot)
        print(f"performance profile written to {args.plot}")
    return 0


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    # JSON has no nan/inf: write them as strings so the file stays standard JSON
    return {k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
