"""``numsmooth run``: one method of the registry on one problem, a summary line, JSON and a plot.

Everything is checked before the run starts (the method's options, the problem and its
dimension, the output paths). Ctrl-C (SIGINT), SIGTERM or an exception from the oracle end the
run but keep what it has: the summary line so far, the ``--json`` record and the ``--plot``, with
``outcome`` "interrupted" or "error"; the exit status is then 130, 143 or 1.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

from .. import methods as _methods
from .._progress import CompileNotice
from ._common import (CliError, check_output, exit_status, interruption, note, require_matplotlib,
                      sigterm_interrupts, write_json)
from ._load import check_memory, load_problem, method_options, parse_x0

__all__ = ["PLOT_NAME", "add_parser", "command"]

#: File name written inside a directory given to ``--plot``.
PLOT_NAME = "numsmooth-run.png"

#: Steps of the warm-up run that compiles the kernels before the timed run.
WARM_STEPS = 2


def option_help(option: _methods.Option) -> str:
    """The help of an option flag: its meaning, then the methods using it with their defaults."""
    users = [f"{m.name} ({m.default_text(option.name)})"
             for m in _methods.METHODS.values() if option.name in m.options]
    return f"{option.help}; used by (default): {', '.join(users)}"


def add_parser(sub: Any) -> None:
    """Add ``run`` to the sub-parsers ``sub``; its option flags come from the method registry."""
    run = sub.add_parser(
        "run", help="minimize a benchmark problem or your own oracle; print a one-line summary",
        description="Run a method of the registry (numsmooth.methods) on a benchmark problem or on "
        "your own oracle and print one summary line on stdout (problem, method, f, stationarity, "
        "nfev, nit, status, run time, compile time apart). The full result (x, jac, history, every "
        "setting) is written as JSON only with --json. Kernels are compiled first on a copy of the "
        "problem (a 2-step warm-up), so the run time excludes compilation. Options left out take the "
        "method's defaults; an option the method does not use is an error. Ctrl-C or SIGTERM stops "
        "the run and keeps its result so far (exit status 130 or 143).")
    run.add_argument("--problem", required=True, metavar="SPEC",
                     help="a benchmark name (see 'numsmooth problems'), or your own oracle as "
                     "path/to/file.py:NAME or package.module:NAME (a function fun(x) -> (f, g), "
                     "ns.batched(fun), a jitted fun(x, g_out) -> f, or a numsmooth.problems.Problem)")
    run.add_argument("--dim", type=int, metavar="D",
                     help="dimension (benchmarks: default the problem's; your oracle: start at D zeros "
                     "unless --x0 is given)")
    run.add_argument("--x0", metavar="X0",
                     help="start point: a .npy file or 'v1,v2,...' (default: the benchmark's standard "
                     "start; required, or --dim, for your own oracle)")
    run.add_argument("--method", required=True, choices=list(_methods.METHODS), metavar="METHOD",
                     help=f"one of {', '.join(_methods.METHODS)} (see 'numsmooth methods')")
    for option in _methods.OPTIONS.values():
        kw: dict[str, Any] = {"choices": option.choices} if option.choices else {"type": option.type}
        run.add_argument(option.flag, dest=option.name, metavar=option.name.upper().replace("_", "-"),
                         help=option_help(option), **kw)
    run.add_argument("--maxiter", type=int, metavar="K",
                     help="most steps (default: the method's, " + ", ".join(
                         f"{m.name} {m.maxiter}" for m in _methods.METHODS.values()) + ")")
    run.add_argument("--maxfev", type=int, metavar="N", help="most evaluations (default: no limit)")
    run.add_argument("--f-star", type=float, metavar="F",
                     help="the optimal value, when you know it (summary: f - f*; plot: f - f* on a log axis)")
    run.add_argument("--plot", metavar="FILE",
                     help=f"also write a convergence plot (PNG); a directory gets {PLOT_NAME} inside")
    run.add_argument("--json", metavar="FILE",
                     help="write the full result as JSON to FILE ('-' = stdout; the summary line "
                     "then goes to stderr)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress, no compile notice, no plot message (the summary line stays)")


def _check_numbers(args: Any) -> None:
    for flag, value, low in (("--dim", args.dim, 1), ("--maxiter", args.maxiter, 0), ("--maxfev", args.maxfev, 1)):
        if value is not None and value < low:
            raise CliError(f"argument {flag}: must be >= {low}; got {value}")
    if args.f_star is not None and not math.isfinite(args.f_star):
        raise CliError(f"argument --f-star: must be finite; got {args.f_star}")
    if args.dim is not None:
        check_memory("--dim", args.dim, 8.0 * 6 * args.dim, f"{args.dim} variables (a few float64 vectors)")


def _check_sizes(method: _methods.Method, options: dict[str, Any], d: int) -> None:
    """Refuse a run whose matrices cannot fit in memory, before allocating them."""
    if method.dense:
        check_memory("--dim", d, 8.0 * d * d, f"the {d} x {d} matrix of {method.name}")
    if "n" in method.options:
        n = options.get("n", method.options["n"])
        n = 2 * d if n is None else n
        check_memory("--n", n, 8.0 * 2 * n * (d + 1), f"{n} sampled points of dimension {d} "
                     "(their gradients and perturbations)")


def _check_build(method: _methods.Method, options: dict[str, Any], d: int) -> None:
    """Build the chain once so a value the method refuses is reported before any work."""
    if method.builder is None:
        return
    try:
        method.build(d, **options)
    except (ValueError, TypeError) as e:
        name = str(e).split(" ", 1)[0]
        flag = _methods.OPTIONS[name].flag if name in options else f"--method {method.name}"
        raise CliError(f"argument {flag}: {e}") from None


def _summary(label: str, d: int, res: Any, f_star: float | None, seconds: float, compile_seconds: float) -> str:
    fun = float(res.fun)
    if math.isfinite(fun):
        head = f"f = {fun:.10g}" + ("" if f_star is None else f" (f - f* = {fun - f_star:.3g})")
    else:
        seen = [(k, v) for k, v in enumerate(res.history["f"]) if math.isfinite(v)]
        head = "f = nan" + (f" (f at the start of step {seen[-1][0] + 1} = {seen[-1][1]:.10g})" if seen else "")
    stat = float(res.get("stationarity", math.nan))
    cert = "" if math.isnan(stat) else \
        f", stationarity {stat:.2e} (radius {float(res.get('stationarity_radius', math.nan)):.0e})"
    return (f"{label} d={d}: {head}{cert}, nfev {res.nfev}, nit {res.nit}, status {res.status} ({res.message}), "
            f"run {seconds:.2f} s, compile {compile_seconds:.2f} s")


def command(args: Any) -> int:
    """Run ``numsmooth run``; returns the exit status."""
    from .plots import Curve, convergence_curve, plot_panels

    method = _methods.get(args.method)
    options = method_options(method, args)
    _check_numbers(args)
    json_path = None if args.json is None else (args.json if args.json == "-" else check_output("--json", args.json))
    plot_path = None
    if args.plot:
        require_matplotlib()
        plot_path = check_output("--plot", args.plot, directory_file=PLOT_NAME)
    case = load_problem(args.problem, args.dim, None if args.x0 is None else parse_x0(args.x0))
    if args.f_star is not None:
        case = dataclasses.replace(case, f_star=float(args.f_star), f_star_source="given")
    _check_sizes(method, options, case.d)
    _check_build(method, options, case.d)
    maxiter = method.maxiter if args.maxiter is None else args.maxiter
    label = f"{case.name} {method.name}"

    res, ended = None, None
    seconds = compile_seconds = 0.0
    with sigterm_interrupts():
        try:
            # warm-up on a copy: compiles the kernels this run needs, so the run's time is run time only
            t0 = time.perf_counter()
            with CompileNotice(enabled=not args.quiet):
                method.minimize(case.fun, case.x0.copy(), maxiter=min(WARM_STEPS, maxiter), **options)
            compile_seconds = time.perf_counter() - t0
            note(f"running {label} (Ctrl-C stops it and keeps the result so far)", args.quiet)
            t0 = time.perf_counter()
            try:
                res = method.minimize(case.fun, case.x0.copy(), maxiter=maxiter, maxfev=args.maxfev,
                                      progress=False if args.quiet else label, **options)
            finally:
                seconds = time.perf_counter() - t0
        except (KeyboardInterrupt, Exception) as e:
            ended = e
            res = getattr(e, "partial_result", None)

    outcome = "complete" if ended is None else "interrupted" if isinstance(ended, KeyboardInterrupt) else "error"
    f_star = case.f_star
    out = sys.stderr if json_path == "-" else sys.stdout
    if json_path is not None:
        record: dict[str, Any] = {
            "problem": case.name, "source": args.problem, "dim": case.d, "f_star": f_star,
            "f_star_source": None if f_star is None else case.f_star_source, "method": method.name,
            "arguments": {"maxiter": maxiter, "maxfev": args.maxfev,
                          **{k: options.get(k, v) for k, v in method.options.items()}},
            "outcome": outcome, "error": None if ended is None else interruption(ended),
            "seconds": seconds, "compile_seconds": compile_seconds}
        if res is not None:
            record.update({
                "fun": res.fun, "f_minus_f_star": None if f_star is None else res.fun - f_star,
                "stationarity": res.get("stationarity", math.nan),
                "stationarity_radius": res.get("stationarity_radius", math.nan),
                "fun_best": res.get("fun_best"), "x_best": res.get("x_best"),
                "x": res.x, "jac": res.get("jac"), "nit": res.nit, "nsteps": res.get("nsteps", res.nit),
                "nfev": res.nfev, "njev": res.get("njev", res.nfev),
                "status": res.status, "message": res.message, "success": res.success, "history": res.history})
        write_json("--json", json_path, record)
    if plot_path is not None and res is not None:
        title = f"{case.name} d={case.d}" + ("" if ended is None else f" ({outcome})")
        plot_panels([Curve(title, method.name, convergence_curve(res, f_star), gap=f_star is not None)], plot_path)
        where = f" ({args.plot} is a directory)" if plot_path != args.plot else ""
        note(f"convergence plot written to {plot_path}{where}", args.quiet)
    if res is not None:
        print(_summary(label, case.d, res, f_star, seconds, compile_seconds), file=out, flush=True)
    if ended is None:
        return 0
    where = "before the run started (during the warm-up)" if res is None else f"after {res.nit} steps"
    note(f"{label}: {interruption(ended)} {where}")
    return exit_status(ended) if isinstance(ended, KeyboardInterrupt) else 1

