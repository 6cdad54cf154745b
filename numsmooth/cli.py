"""The command line: ``numsmooth demo | problems | run | bench`` (also ``python -m numsmooth``).

Bad input exits with status 2 and one line ``numsmooth: error: ...`` on stderr, whether argparse
or the library rejects it. What ``run`` runs (problems, method chains, flag checks) lives in
:mod:`numsmooth._cli_methods`, the demo in :mod:`numsmooth.demo`, the plots in
:mod:`numsmooth._plots`; ``bench`` comes from :mod:`numsmooth.bench` when that module is present.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
import time
import warnings
from typing import Any, NoReturn, Sequence

from . import __version__
from . import problems as _problems
from ._cli_methods import METHODS, PLOT_NAME, CliError
from ._progress import CompileNotice
from .aggregates import AGGREGATES

__all__ = ["main", "build_parser"]

PROG = "numsmooth"
DEFAULT_PLOT = "numsmooth-demo.png"


UsageError = CliError  # bad input from the command line (exit status 2)


def _bench_module() -> Any:
    """``numsmooth.bench`` (the ``bench`` sub-command) when it is installed, else None."""
    try:
        return importlib.import_module(f"{__package__}.bench")
    except ImportError:
        return None


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, raised instead of printed."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``numsmooth`` and its sub-commands."""
    parser = _Parser(
        prog=PROG,
        description="Smoothing-based optimization on NumPy arrays: gradient sampling, Gaussian "
        "homotopy and Laplacian smoothing.",
        epilog="Start with 'numsmooth demo'; see 'numsmooth run --help' for experiments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--threads", type=int, metavar="T",
                        help="Numba threads for the parallel kernels (default: Numba's, i.e. "
                        "NUMBA_NUM_THREADS or the number of cores); 1 is fastest for small problems "
                        "on a busy machine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo", help="run the three showcase experiments, print a table and write a plot",
        description="Gaussian homotopy escaping Rastrigin's local minima, LSGD against GD on a "
        "noisy ill-conditioned quadratic, and gradient sampling reaching MAXQUAD's optimum. "
        "Prints a table and writes a convergence plot.")
    demo.add_argument("--plot", metavar="FILE", default=DEFAULT_PLOT,
                      help=f"where to write the convergence plot (PNG; default: {DEFAULT_PLOT})")
    demo.add_argument("--no-plot", action="store_true", help="do not write the plot")
    demo.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    probs = sub.add_parser("problems", help="list the benchmark problems (name, dimensions, f*)",
                           description="One line per problem: name, allowed dimensions, default "
                           "dimension, optimal value at the default dimension. With a NAME: that "
                           "problem's formula, start, optimum and references.")
    probs.add_argument("name", nargs="?", default=None, metavar="NAME",
                       help="describe this problem instead of listing all")

    run = sub.add_parser(
        "run", help="minimize a benchmark problem or your own oracle; print a one-line summary",
        description="Run numsmooth.minimize on a benchmark problem or on your own oracle and print "
        "one summary line on stdout (problem, method, f, nfev, nit, status, run time, compile time "
        "apart). The full result (x, jac, history, every setting) is written as JSON only with "
        "--json. Kernels are compiled first on a copy of the problem (a 2-step warm-up), so the run "
        "time excludes compilation. Options left out take the method's defaults; an option the "
        "method does not use is an error.")
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
    run.add_argument("--method", required=True, choices=METHODS,
                     help="gradient-sampling: numsmooth.recipes.gradient_sampling with --aggregate "
                     "min-norm-hull (Burke-Lewis-Overton), recipes.gaussian_homotopy with any other "
                     "aggregate; lsgd: LaplacianSmoothing then LR; gd: LR")
    run.add_argument("--aggregate", choices=AGGREGATES,
                     help="gradient-sampling: aggregate (default: mean, i.e. Gaussian homotopy)")
    run.add_argument("--sigma", type=float, metavar="S",
                     help="gradient-sampling: initial radius (min-norm-hull, default 0.1) or scale "
                     "(default 1.0); lsgd: Laplacian smoothing sigma (default 1.0); > 0")
    run.add_argument("--n", type=int, metavar="N",
                     help="gradient-sampling: evaluations per step (default 2*d for min-norm-hull, "
                     "256 otherwise)")
    run.add_argument("--lr", type=float, metavar="LR",
                     help="gd, lsgd: learning rate (default 1e-3); gradient-sampling (not "
                     "min-norm-hull): a fixed step LR(lr) instead of the line search")
    run.add_argument("--decay", type=float, metavar="F",
                     help="gradient-sampling: sigma factor when it decays, in (0, 1) (default 0.1 "
                     "for min-norm-hull, 0.5 otherwise)")
    run.add_argument("--stage", type=int, metavar="K",
                     help="gradient-sampling, not min-norm-hull: steps per sigma stage (default 10)")
    run.add_argument("--sigma-min", type=float, metavar="S",
                     help="gradient-sampling: stop (status 4) when sigma falls below this (default "
                     "1e-8 for min-norm-hull, 0 = never otherwise)")
    run.add_argument("--min-numel", type=int, metavar="K",
                     help="lsgd: smallest number of variables that is smoothed (default 4, "
                     "LaplacianSmoothing's)")
    run.add_argument("--maxiter", type=int, metavar="K",
                     help="most steps (default 1000; 150 for Gaussian homotopy)")
    run.add_argument("--seed", type=int, metavar="S",
                     help="gradient-sampling: seed of the sample points (default 0)")
    run.add_argument("--plot", metavar="FILE",
                     help=f"also write a convergence plot (PNG); a directory gets {PLOT_NAME} inside")
    run.add_argument("--json", metavar="FILE",
                     help="write the full result as JSON to FILE ('-' = stdout; the summary line "
                     "then goes to stderr)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress, no compile notice, no plot message (the summary line stays)")

    bench = _bench_module()
    if bench is not None:
        bench.add_parser(sub)
    return parser


def _set_threads(threads: int) -> None:
    import numba

    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if not 1 <= threads <= most:
        raise UsageError(f"argument --threads: must be between 1 and {most}; "
                         f"got {threads}")
    numba.set_num_threads(threads)


def _cmd_problems(args: argparse.Namespace) -> int:
    if getattr(args, "name", None) is not None:
        p = _problems.get(args.name)
        print(f"{p.name}  ({p.dim_rule}, default d = {p.default_dim}, f* = {p.f_star!r})")
        print(textwrap.fill(p.description, width=90))
        print(textwrap.fill("References: " + p.references, width=90))
        return 0
    rows = [(p.name, p.dim_rule, str(p.default_dim), f"{p.f_star:.10g}") for p in _problems.PROBLEMS.values()]
    head = ("name", "dimension", "default d", "f* (default d)")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._plots import plot_panels
    from .demo import format_table, run_demo, warm_up

    if not args.no_plot:
        _require_matplotlib()
    with CompileNotice(enabled=not args.quiet):
        compile_seconds = warm_up()
    rows = run_demo(quick=args.quick, progress=not args.quiet)
    print(format_table(rows))
    print(f"(times exclude Numba compilation and warm-up: {compile_seconds:.1f} s)")
    if not args.no_plot:
        plot_panels([r.as_curve() for r in rows], args.plot)
        print(f"convergence plot written to {args.plot}")
    return 0


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("the plot needs matplotlib (pip install matplotlib), or pass --no-plot") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from ._cli_methods import (build_chain, check_options, check_sizes, default_maxiter, json_safe,
                               load_problem, parse_x0, plot_path)
    from ._plots import Curve, convergence_curve, plot_panels
    from .minimize import minimize

    check_options(args)
    plot_file = None
    if args.plot:
        _require_matplotlib()
        plot_file = plot_path(args.plot)
    x0 = None if args.x0 is None else parse_x0(args.x0)
    prob = load_problem(args.problem, args.dim, x0)
    check_sizes(args, prob.d)
    settings_kw = dict(aggregate=args.aggregate, sigma=args.sigma, n=args.n, lr=args.lr, seed=args.seed,
                       decay=args.decay, stage=args.stage, sigma_min=args.sigma_min, min_numel=args.min_numel)
    modules, settings = build_chain(args.method, prob.d, **settings_kw)
    maxiter = default_maxiter(args.method, args.aggregate) if args.maxiter is None else args.maxiter
    method = args.method if args.method != "gradient-sampling" else f"gradient-sampling({settings['aggregate']})"
    label = f"{prob.name} {method}"

    # Warm-up on a copy (fresh modules, a copy of x0): compiles the kernels this run needs, so
    # the run's time is run time only.
    t0 = time.perf_counter()
    with CompileNotice(enabled=not args.quiet):
        minimize(prob.fun, prob.x0.copy(), *build_chain(args.method, prob.d, **settings_kw)[0],
                 maxiter=min(2, maxiter))
    compile_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = minimize(prob.fun, prob.x0.copy(), *modules, maxiter=maxiter, progress=False if args.quiet else label)
    seconds = time.perf_counter() - t0

    f_star = prob.f_star
    summary = (f"{label} d={prob.d}: f = {res.fun:.10g}"
               + ("" if f_star is None else f" (f - f* = {res.fun - f_star:.3g})")
               + f", nfev {res.nfev}, nit {res.nit}, status {res.status} ({res.message}), "
               f"run {seconds:.2f} s, compile {compile_seconds:.2f} s")
    if args.json is not None:
        record = {
            "problem": prob.name, "source": prob.source, "dim": prob.d, "f_star": f_star, "method": args.method,
            "arguments": {"maxiter": maxiter, **settings},
            "fun": res.fun, "f_minus_f_star": None if f_star is None else res.fun - f_star,
            "x": res.x, "jac": res.jac, "nit": res.nit, "nfev": res.nfev, "njev": res.njev,
            "status": res.status, "message": res.message, "success": res.success,
            "seconds": seconds, "compile_seconds": compile_seconds, "history": res.history,
        }
        text = json.dumps(json_safe(record), indent=1)
        if args.json == "-":
            print(text)
        else:
            try:
                with open(args.json, "w") as fh:
                    fh.write(text + "\n")
            except OSError as e:
                raise UsageError(f"argument --json: cannot write {args.json!r}: {e.strerror}") from None
    if plot_file is not None:
        plot_panels([Curve(f"{prob.name} d={prob.d}", method,
                           convergence_curve(res, 0.0 if f_star is None else float(f_star)))], plot_file)
        if not args.quiet:
            where = f" ({args.plot} is a directory)" if plot_file != args.plot else ""
            print(f"{PROG}: convergence plot written to {plot_file}{where}", file=sys.stderr)
    print(summary, file=sys.stderr if args.json == "-" else sys.stdout)
    return 0


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """One line per distinct warning (with a count), instead of Python's two-line format."""
    counts: dict[str, int] = {}
    for w in caught:
        msg = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        counts[msg] = counts.get(msg, 0) + 1
    for msg, k in counts.items():
        print(f"{PROG}: warning: {msg}" + (f" ({k} times)" if k > 1 else ""), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 on bad input (one line on stderr), 1 when an
        experiment fails.

    Examples
    --------
    >>> from numsmooth.cli import main
    >>> main(["problems"])  # doctest: +ELLIPSIS
    name ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.threads is not None:
            _set_threads(args.threads)
        handlers = {"demo": _cmd_demo, "problems": _cmd_problems, "run": _cmd_run}
        bench = _bench_module() if args.command == "bench" else None
        handler = bench.run if bench is not None else handlers[args.command]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = handler(args)
        _report_warnings(caught)
        return code
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, ValueError, TypeError) as e:
        msg = " ".join(str(e).split())
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except (RuntimeError, ImportError, OSError) as e:
        msg = " ".join(str(e).split())
        print(f"{PROG}: error: {type(e).__name__}: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
