"""The command line: ``numsmooth demo | problems | run`` (also ``python -m numsmooth``).

Bad input exits with status 2 and one line ``numsmooth: error: ...`` on stderr, whether argparse
or the library rejects it.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from typing import Any, NoReturn, Sequence

from . import __version__
from . import problems as _problems
from .aggregates import AGGREGATES

__all__ = ["main", "build_parser"]

PROG = "numsmooth"
DEFAULT_PLOT = "numsmooth-demo.png"


class UsageError(Exception):
    """Bad input from the command line (exit status 2)."""


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
        "run", help="minimize a benchmark problem and write the result as JSON",
        description="Run numsmooth.minimize on a benchmark problem and write the result (fun, x, "
        "nit, nfev, history, the problem, f* and every setting) as JSON. Options left out take "
        "defaults that depend on the method (and, for gradient sampling, on the aggregate).")
    run.add_argument("--problem", required=True, metavar="NAME",
                     help="problem name (see 'numsmooth problems')")
    run.add_argument("--dim", type=int, metavar="D", help="dimension (default: the problem's default)")
    run.add_argument("--method", required=True, choices=("gradient-sampling", "lsgd", "gd"),
                     help="gradient-sampling: GradientSampling (min-norm-hull: Burke-Lewis-Overton "
                     "with an Armijo line search; other aggregates: Gaussian homotopy with sigma "
                     "decay); lsgd: LaplacianSmoothing then LR; gd: LR")
    run.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                     help="aggregate of gradient sampling (default: mean)")
    run.add_argument("--sigma", type=float, metavar="S",
                     help="initial sampling radius / scale (gradient-sampling; default 0.1 for "
                     "min-norm-hull, 1.0 otherwise) or Laplacian smoothing sigma (lsgd; default 1.0)")
    run.add_argument("--n", type=int, metavar="N",
                     help="evaluations per step of gradient sampling (default 2*d for "
                     "min-norm-hull, 256 otherwise)")
    run.add_argument("--lr", type=float, metavar="LR",
                     help="learning rate (gd, lsgd: default 1e-3; gradient-sampling: replaces the "
                     "line search of Gaussian homotopy by LR(lr))")
    run.add_argument("--decay", type=float, metavar="F",
                     help="factor applied to sigma when it decays (default 0.1 for min-norm-hull, "
                     "0.5 otherwise)")
    run.add_argument("--stage", type=int, metavar="K",
                     help="Gaussian homotopy: steps per sigma stage (default 10)")
    run.add_argument("--sigma-min", type=float, metavar="S",
                     help="stop when gradient sampling's sigma falls below this (default 1e-6 for "
                     "min-norm-hull, 0 = never otherwise)")
    run.add_argument("--maxiter", type=int, metavar="K",
                     help="most steps (default 1000; 150 for Gaussian homotopy)")
    run.add_argument("--seed", type=int, default=0, metavar="S",
                     help="seed of the perturbations (default 0)")
    run.add_argument("--plot", metavar="FILE", help="also write a convergence plot (PNG)")
    run.add_argument("--json", metavar="FILE", default="-",
                     help="where to write the JSON result ('-' = stdout, the default)")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no summary line")
    return parser


def _check(name: str, value: Any, *, low: float, strict: bool = False) -> None:
    if value is None:
        return
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"argument --{name}: must be finite; got {value}")
    if value < low or (strict and value == low):
        op = ">" if strict else ">="
        raise UsageError(f"argument --{name}: must be {op} {low:g}; got {value:g}")


def _set_threads(threads: int) -> None:
    import numba

    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if not 1 <= threads <= most:
        raise UsageError(f"argument --threads: must be between 1 and {most}; "
                         f"got {threads}")
    numba.set_num_threads(threads)


def _progress(quiet: bool) -> bool:
    if quiet:
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return sys.stderr.isatty()


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
    from .demo import format_table, plot_panels, run_demo, warm_up

    if not args.no_plot:
        _require_matplotlib()
    compile_seconds = warm_up()
    rows = run_demo(quick=args.quick, progress=_progress(args.quiet))
    print(format_table(rows))
    print(f"(times exclude Numba compilation and warm-up: {compile_seconds:.1f} s)")
    if not args.no_plot:
        plot_panels(rows, args.plot)
        print(f"convergence plot written to {args.plot}")
    return 0


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("the plot needs matplotlib (pip install matplotlib), or pass --no-plot") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from .demo import Row, build_chain, default_maxiter, json_safe, plot_panels, run_chain

    _check("dim", args.dim, low=1)
    _check("sigma", args.sigma, low=0.0)
    _check("n", args.n, low=1)
    _check("lr", args.lr, low=0.0, strict=True)
    _check("decay", args.decay, low=0.0, strict=True)
    _check("stage", args.stage, low=0)
    _check("sigma-min", args.sigma_min, low=0.0)
    _check("maxiter", args.maxiter, low=0)
    _check("seed", args.seed, low=0)
    if args.plot:
        _require_matplotlib()
    problem = _problems.get(args.problem)
    d = problem.check_dim(problem.default_dim if args.dim is None else args.dim)
    modules, sampler, settings = build_chain(
        args.method, d, aggregate=args.aggregate, sigma=args.sigma, n=args.n, lr=args.lr,
        seed=args.seed, decay=args.decay, stage=args.stage, sigma_min=args.sigma_min)
    maxiter = default_maxiter(args.method, args.aggregate) if args.maxiter is None else args.maxiter
    f_star = problem.optimal_value(d)
    run = run_chain(problem.fun, problem.x0(d), modules, maxiter=maxiter, sampler=sampler,
                    sigma_min=settings.get("sigma_min", 0.0), progress=_progress(args.quiet))
    res = run.result
    record = {
        "problem": problem.name, "dim": d, "f_star": f_star, "method": args.method,
        "arguments": {"seed": args.seed, "maxiter": maxiter, **settings},
        "fun": res.fun, "f_minus_f_star": None if f_star is None else res.fun - f_star,
        "x": res.x, "nit": res.nit, "nfev": res.nfev, "status": res.status,
        "message": res.message, "success": res.success, "seconds": run.seconds,
        "history": {**res.history, "nfev": [e + 1 for e in run.evaluations[: len(res.history["f"])]]},
    }
    text = json.dumps(json_safe(record), indent=1)
    if args.json == "-":
        print(text)
    else:
        try:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
        except OSError as e:
            raise UsageError(f"cannot write {args.json!r}: {e.strerror}") from None
    if args.plot:
        ref = 0.0 if f_star is None else f_star
        plot_panels([Row(f"{problem.name} d={d}", problem.name, args.method, ref, res.fun, res.nfev,
                         run.seconds, run.curve(ref))], args.plot)
    if not args.quiet and args.json != "-":
        gap = "" if f_star is None else f", f - f* = {res.fun - f_star:.3g}"
        print(f"{problem.name} d={d} {args.method}: f = {res.fun:.10g}{gap}, {res.nit} steps, "
              f"{res.nfev} evaluations, {run.seconds:.2f} s ({res.message})")
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
        handler = {"demo": _cmd_demo, "problems": _cmd_problems, "run": _cmd_run}[args.command]
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
