"""``numsmooth bench``: methods of the registry on a suite and on your own problems, as a table.

The work is :func:`numsmooth.bench.run_cases`; this module parses the flags, checks everything
before the first run (the dimension rule of every problem, the user's problem files, the output
paths), prints progress, the table and the summary, and writes the JSON and the performance
profile. Ctrl-C (SIGINT), SIGTERM or an exception from an oracle stop the runs but keep every
finished row: the table is printed and the files are written with ``status`` "interrupted" or
"error" (exit status 130, 143 or 1).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

from .. import bench as _bench
from .. import methods as _methods
from .._progress import CompileNotice
from ._common import (CliError, check_output, exit_status, interruption, note, require_matplotlib,
                      sigterm_interrupts, write_json)
from ._load import check_memory, load_problem

__all__ = ["add_parser", "command"]


def add_parser(sub: Any) -> None:
    """Add ``bench`` to the sub-parsers ``sub``."""
    names = list(_methods.METHODS)
    p = sub.add_parser(
        "bench", help="run methods on a benchmark suite or your own problems and print a table",
        description="Run methods on every problem of a suite (and on your own problems) and print, "
        "per problem and method, the value reached, f*, f - f*, the stationarity certificate, "
        "evaluations, iterations (nit), steps, run time and compile time apart, then per method the number solved "
        "(f - f* <= 1e-6 (1 + |f*|)) and the median evaluations over the solved problems. A problem "
        "without a known optimum at --dim is ranked by the best value any method reached (f* marked "
        "~). Ctrl-C or SIGTERM stops and keeps every finished row.")
    p.add_argument("--suite", default=None, choices=tuple(_bench.SUITES),
                   help="hmm2004: the ten nonsmooth problems of Haarala, Miettinen & Makela (2004) "
                   "(default, unless --problem is given)")
    p.add_argument("--dim", type=int, default=50, metavar="D", help="dimension (default 50)")
    p.add_argument("--method", action="extend", nargs="+", choices=names, metavar="NAME",
                   help=f"methods (the option may be repeated): {', '.join(names)} "
                   f"(default: {', '.join(_bench.DEFAULT_METHODS)})")
    p.add_argument("--problems", metavar="NAME,...", help="comma-separated subset of the suite's problems")
    p.add_argument("--problem", action="append", metavar="SPEC",
                   help="your own problem, FILE.py:NAME or package.module:NAME (an oracle, started at "
                   "--dim zeros, or a numsmooth.problems.Problem); may be repeated")
    p.add_argument("--f-star", action="append", type=float, metavar="F",
                   help="the optimal value of each --problem, in their order (default: the best value "
                   "any method reached)")
    p.add_argument("--maxiter", type=int, default=5000, metavar="K",
                   help="most iterations per run (default 5000): steps, or for lmbm serious steps (its "
                   "null steps are limited by --maxfev)")
    p.add_argument("--maxfev", type=int, default=50_000, metavar="N",
                   help="most evaluations per run (default 50000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the randomized methods (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--plot", metavar="FILE", help="also write a performance profile over evaluations (PNG)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _cases(args: Any) -> list[_bench.Case]:
    """Every problem to run, each checked at ``--dim`` before anything runs."""
    specs = args.problem or []
    f_stars = args.f_star or []
    if f_stars and len(f_stars) != len(specs):
        raise CliError(f"argument --f-star: give one per --problem ({len(specs)}); got {len(f_stars)}")
    for v in f_stars:
        if not math.isfinite(v):
            raise CliError(f"argument --f-star: must be finite; got {v}")
    cases = []
    if args.suite is not None or not specs:
        subset = None
        if args.problems:
            subset = [p.strip() for p in args.problems.split(",") if p.strip()]
            if not subset:
                raise CliError(f"argument --problems: no problem named in {args.problems!r}")
        try:
            cases += _bench.suite_cases(args.suite or "hmm2004", args.dim, subset)
        except ValueError as e:
            raise CliError(f"argument --{'dim' if str(e).startswith('dim') else 'problems'}: {e}") from None
    elif args.problems:
        raise CliError("argument --problems: selects problems of a suite; add --suite hmm2004")
    for i, spec in enumerate(specs):
        case = load_problem(spec, args.dim, None)
        if f_stars:
            case = dataclasses.replace(case, f_star=f_stars[i], f_star_source="given")
        cases.append(case)
    return cases


def _notes(cases: list[_bench.Case], dim: int) -> dict[str, str | None]:
    """Where each problem's f* comes from, for the JSON."""
    from .. import problems as _problems

    out: dict[str, str | None] = {}
    for c in cases:
        if c.f_star_source == "known" and c.name in _problems.PROBLEMS:
            out[c.name] = _problems.get(c.name).optimal_value_source(dim)
        else:
            out[c.name] = {"given": "given with --f-star"}.get(c.f_star_source, c.f_star_source)
    return out


def command(args: Any) -> int:
    """Run ``numsmooth bench``; returns the exit status."""
    for flag, value, low in (("--dim", args.dim, 1), ("--maxiter", args.maxiter, 1), ("--maxfev", args.maxfev, 1),
                             ("--seed", args.seed, 0)):
        if value < low:
            raise CliError(f"argument {flag}: must be >= {low}; got {value}")
    methods = list(args.method or _bench.DEFAULT_METHODS)
    json_path = None if args.json is None else check_output("--json", args.json)
    if args.plot:
        require_matplotlib()
        check_output("--plot", args.plot)
    for name in methods:  # before the problems' starting points are made (d floats each)
        if _methods.get(name).dense:
            check_memory("--dim", args.dim, 8.0 * args.dim ** 2, f"the {args.dim} x {args.dim} matrix of {name}")
    cases = _cases(args)

    rows: list[dict[str, Any]] = []

    def progress(row: dict[str, Any]) -> None:
        rows.append(row)
        if args.quiet:
            return
        gap = "f* not known yet" if row["f_star"] is None else f"f - f* = {row['f'] - row['f_star']:.2e}"
        print(f"  {row['problem']} / {row['method']}: f = {row['f']:.10g}, {gap}, {row['nfev']} evaluations, "
              f"run {row['seconds']:.1f} s, compile {row['compile_seconds']:.1f} s", file=sys.stderr, flush=True)

    note(f"running {len(methods)} methods on {len(cases)} problems at d = {args.dim} "
         "(Ctrl-C stops and keeps the finished rows)", args.quiet)
    ended: BaseException | None = None
    with sigterm_interrupts(), CompileNotice(enabled=not args.quiet):
        try:
            _bench.run_cases(cases, methods, maxiter=args.maxiter, maxfev=args.maxfev, seed=args.seed,
                             callback=progress)
        except (KeyboardInterrupt, Exception) as e:
            ended = e
    _bench.rank_by_best_found(rows)  # the problem that was running when the work stopped
    print(_bench.format_table(rows), flush=True)
    if ended is not None:  # said on stdout too: a table saved from stdout must not look complete
        print(f"{interruption(ended)}: only the {len(rows)} runs above finished")
    status = "complete" if ended is None else "interrupted" if isinstance(ended, KeyboardInterrupt) else "error"
    if json_path is not None:
        write_json("--json", json_path, {
            "suite": args.suite or (None if args.problem else "hmm2004"), "dim": args.dim, "methods": methods,
            "problems": [c.name for c in cases], "f_star_notes": _notes(cases, args.dim), "status": status,
            "error": None if ended is None else interruption(ended), "rows": rows})
        print(f"rows written to {json_path}")
    if args.plot:
        _bench.plot_profile(rows, args.plot)
        print(f"performance profile written to {args.plot}")
    if ended is None:
        return 0
    note(f"bench {interruption(ended)}; {len(rows)} finished rows kept")
    return exit_status(ended) if isinstance(ended, KeyboardInterrupt) else 1
