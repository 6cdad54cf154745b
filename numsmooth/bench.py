"""Benchmark suites: run methods on problems and compare them (the library side of
``numsmooth bench``).

:func:`run_suite` runs methods of :data:`numsmooth.methods.METHODS` on the problems of a suite
(or :func:`run_cases` on any problems, the user's included) and returns one row per (problem,
method): the value reached, the optimum, the evaluations, the steps, the run time and the compile
time apart, the stationarity certificate when the result carries one. A problem counts as solved
when ``f - f* <= 1e-6 (1 + |f*|)``. Where no optimum is known at the dimension run, ``f*`` is the
best value any method reached on it (``f_star_source == "best found"``), so the methods are ranked
against each other. The one suite so far is ``hmm2004``: the ten nonsmooth problems of Haarala,
Miettinen & Mäkelä (2004) (:data:`numsmooth.problems.HAARALA`).

Every run is limited to ``maxiter`` iterations and ``maxfev`` evaluations
(:class:`~numsmooth.TerminateAfterNEvaluations`; SciPy's ``maxfun`` for ``lbfgsb``), besides the
criteria each method needs to stop by itself (:attr:`numsmooth.methods.Method.stop`). An
iteration is a step, except for a method that counts its own (:attr:`numsmooth.methods.Method.iterations`:
``lmbm`` counts serious steps, so its null steps spend evaluations, not iterations); ``nit`` is the
iterations and ``nsteps`` every step.

Times: before its run, each (problem, method) pair runs 2 steps on a copy of the start; that
warm-up compiles the Numba kernels the run needs and is reported as ``compile_seconds`` (it
includes the 2 steps, a few milliseconds once compiled); ``seconds`` is the run alone.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from . import methods as _methods
from . import problems as _problems
from ._validation import check_int

__all__ = ["SUITES", "DEFAULT_METHODS", "KEYS", "Case", "suite_cases", "run_cases", "run_suite",
           "rank_by_best_found", "solved", "summarize", "format_table", "performance_profile",
           "plot_profile"]

#: The suites by name: the problem names of each.
SUITES: dict[str, tuple[str, ...]] = {"hmm2004": _problems.HAARALA}

#: The methods run when none is named.
DEFAULT_METHODS: tuple[str, ...] = ("hanso", "gradient-sampling", "lbfgs", "lbfgsb")

#: Row keys, in the order of the JSON objects.
KEYS: tuple[str, ...] = ("problem", "method", "dim", "f", "f_star", "f_star_source", "solved", "nfev", "nit",
                         "nsteps", "stationarity", "stationarity_radius", "seconds", "compile_seconds", "status",
                         "message")

#: ``f_star_source`` of a problem without a known optimum: the best value any method reached.
BEST_FOUND = "best found"

RTOL = 1e-6

#: Steps of the warm-up run timed as compilation.
WARM_STEPS = 2


@dataclass(frozen=True)
class Case:
    """One problem at one dimension, as :func:`run_cases` runs it.

    Attributes
    ----------
    name : str
    fun : callable
        The oracle (any kind :func:`~numsmooth.minimize` takes).
    x0 : ndarray
        The start (flat float64); its size is the dimension.
    f_star : float or None
        The optimal value when known.
    f_star_source : str
        Where ``f_star`` comes from (``"known"``, ``"given"``), or ``"best found"`` when it is
        not known.
    """

    name: str
    fun: Any
    x0: np.ndarray
    f_star: float | None
    f_star_source: str

    @property
    def d(self) -> int:
        """The dimension."""
        return int(self.x0.size)


def solved(f: float, f_star: float, rtol: float = RTOL) -> bool:
    """Whether ``f - f* <= rtol (1 + |f*|)`` (a nan ``f`` is not solved)."""
    return bool(f - f_star <= rtol * (1.0 + abs(f_star)))


def suite_cases(suite: str, dim: int, problems: Sequence[str] | None = None) -> list[Case]:
    """The problems of ``suite`` (or the subset ``problems``, in the suite's order) at ``dim``.

    Every problem's dimension rule is checked first: one ``ValueError`` names every problem
    not defined at ``dim``.
    """
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(repr(s) for s in SUITES)}; got {suite!r}")
    dim = check_int("dim", dim, low=1)
    names = list(SUITES[suite])
    if problems is not None:
        wanted = [_problems.get(p).name for p in problems]
        unknown = [p for p in wanted if p not in names]
        if unknown:
            raise ValueError(f"problems {unknown} are not in suite {suite!r}; choose from {', '.join(names)}")
        names = [p for p in names if p in wanted]
    bad = []
    for name in names:
        try:
            _problems.get(name).check_dim(dim)
        except ValueError:
            bad.append(f"{name} ({_problems.get(name).dim_rule})")
    if bad:
        raise ValueError(f"dim = {dim} is outside the dimension rule of {', '.join(bad)}")
    out = []
    for name in names:
        p = _problems.get(name)
        f_star = p.optimal_value(dim)
        out.append(Case(name, p.fun, p.x0(dim), f_star, "known" if f_star is not None else BEST_FOUND))
    return out


def _row(case: Case, method: str, res: Any, seconds: float, compile_seconds: float, rtol: float) -> dict[str, Any]:
    return {"problem": case.name, "method": method, "dim": case.d, "f": float(res.fun),
            "f_star": None if case.f_star is None else float(case.f_star), "f_star_source": case.f_star_source,
            "solved": case.f_star is not None and solved(float(res.fun), case.f_star, rtol),
            "nfev": int(res.nfev), "nit": int(res.nit), "nsteps": int(res.get("nsteps", res.nit)),
            "stationarity": float(res.get("stationarity", math.nan)),
            "stationarity_radius": float(res.get("stationarity_radius", math.nan)),
            "seconds": seconds, "compile_seconds": compile_seconds, "status": int(res.status),
            "message": str(res.message)}


def rank_by_best_found(rows: list[dict[str, Any]], rtol: float = RTOL) -> None:
    """Give every row without a known ``f_star`` the best value any method reached on its
    problem (``f_star_source = "best found"``) and set ``solved`` against it, in place."""
    best: dict[tuple[str, int], float] = {}
    for r in rows:
        if r["f_star_source"] == BEST_FOUND and math.isfinite(r["f"]):
            key = (r["problem"], r["dim"])
            best[key] = min(best.get(key, math.inf), r["f"])
    for r in rows:
        if r["f_star_source"] == BEST_FOUND:
            f_star = best.get((r["problem"], r["dim"]))
            r["f_star"] = f_star
            r["solved"] = f_star is not None and solved(r["f"], f_star, rtol)


def run_cases(cases: Sequence[Case], methods: Sequence[str], *, maxiter: int = 5000, maxfev: int = 50_000,
              seed: int = 0, rtol: float = RTOL, warm: bool = True,
              callback: Callable[[dict[str, Any]], Any] | None = None) -> list[dict[str, Any]]:
    """Run every method of ``methods`` (names of :data:`numsmooth.methods.METHODS`) on every case.

    Parameters
    ----------
    cases : sequence of Case
    methods : sequence of str
    maxiter, maxfev : int
        Most steps and evaluations per run (a run may overshoot ``maxfev`` by its last step).
    seed : int
        Seed of the methods that take one.
    rtol : float
        Solved means ``f - f* <= rtol (1 + |f*|)``.
    warm : bool
        Time a 2-step warm-up as ``compile_seconds`` before each run (else 0).
    callback : callable, optional
        Called with each row as soon as its run is done; a row of a problem without a known
        optimum has ``f_star`` None until all methods ran on it.

    Returns
    -------
    list of dict
        Rows with the keys :data:`KEYS`; ``stationarity`` and ``stationarity_radius`` are nan
        when the result carries no certificate.
    """
    maxiter = check_int("maxiter", maxiter, low=1)
    maxfev = check_int("maxfev", maxfev, low=1)
    chosen = [_methods.get(m) for m in methods]
    rows: list[dict[str, Any]] = []
    for case in cases:
        mine = []
        for method in chosen:
            options: dict[str, Any] = {"seed": seed} if "seed" in method.options else {}
            compile_seconds = 0.0
            if warm:
                t0 = time.perf_counter()
                method.minimize(case.fun, case.x0.copy(), maxiter=WARM_STEPS, **options)
                compile_seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = method.minimize(case.fun, case.x0.copy(), maxiter=maxiter, maxfev=maxfev, **options)
            row = _row(case, method.name, res, time.perf_counter() - t0, compile_seconds, rtol)
            mine.append(row)
            rows.append(row)
            if callback is not None:
                callback(row)
        rank_by_best_found(mine, rtol)
    return rows


def run_suite(suite: str = "hmm2004", dim: int = 50, methods: Sequence[str] | None = None,
              problems: Sequence[str] | None = None, *, maxiter: int = 5000, maxfev: int = 50_000,
              seed: int = 0, rtol: float = RTOL, warm: bool = True,
              callback: Callable[[dict[str, Any]], Any] | None = None) -> list[dict[str, Any]]:
    """Run ``methods`` on the problems of ``suite`` at ``dim``: :func:`run_cases` on
    :func:`suite_cases`.

    Parameters
    ----------
    suite : str
        A key of :data:`SUITES` (``'hmm2004'``).
    dim : int
        The dimension of every problem (every problem's rule is checked before any run).
    methods : sequence of str, optional
        Names from :data:`numsmooth.methods.METHODS` (default :data:`DEFAULT_METHODS`).
    problems : sequence of str, optional
        A subset of the suite's problems (default all), run in the suite's order.
    maxiter, maxfev, seed, rtol, warm, callback
        As :func:`run_cases`.

    Returns
    -------
    list of dict
        Rows with the keys :data:`KEYS`.

    Examples
    --------
    >>> from numsmooth.bench import run_suite
    >>> rows = run_suite(methods=["bfgs"], problems=["active_faces"], maxfev=2000)
    >>> [(r["problem"], r["method"], r["solved"], r["f_star_source"]) for r in rows]
    [('active_faces', 'bfgs', True, 'known')]
    """
    chosen = list(DEFAULT_METHODS if methods is None else methods)
    for m in chosen:
        _methods.get(m)
    return run_cases(suite_cases(suite, dim, problems), chosen, maxiter=maxiter, maxfev=maxfev, seed=seed,
                     rtol=rtol, warm=warm, callback=callback)


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


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a text table, then notes and one summary line per method.

    ``f*`` marked ``~`` is the best value any method reached (no known optimum at that
    dimension); ``stat`` is the stationarity certificate (``-`` when the result has none);
    ``run (s)`` excludes and ``compile (s)`` is the 2-step warm-up that compiles the kernels;
    ``nit`` is the iterations and ``steps`` every step (they differ for ``lmbm``, whose
    iterations are its serious steps).
    """
    head = ("problem", "method", "f", "f*", "f - f*", "stat", "evals", "nit", "steps", "run (s)", "compile (s)",
            "solved")
    body = []
    for r in rows:
        f_star = r["f_star"]
        mark = "~" if r["f_star_source"] == BEST_FOUND else ""
        body.append((r["problem"], r["method"], f"{r['f']:.10g}", mark + _num(f_star, ".10g"),
                     "-" if f_star is None else f"{r['f'] - f_star:.2e}", _num(r.get("stationarity"), ".1e"),
                     str(r["nfev"]), str(r["nit"]), str(r.get("nsteps", r["nit"])), f"{r['seconds']:.2f}",
                     f"{r.get('compile_seconds', 0.0):.2f}",
                     "yes" if r["solved"] else "no"))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = set(range(2, 11))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(head), line(["-" * w for w in widths]), *(line(b) for b in body), ""]
    if any(r["f_star_source"] == BEST_FOUND for r in rows):
        lines.append("~ no known optimum at this dimension: f* is the best value any method reached")
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
