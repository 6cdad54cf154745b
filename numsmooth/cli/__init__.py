"""The command line: ``numsmooth demo | problems | methods | run | bench`` (also ``python -m numsmooth``).

One module per sub-command (:mod:`~numsmooth.cli.demo`, :mod:`~numsmooth.cli.run`,
:mod:`~numsmooth.cli.bench`), the plots in :mod:`~numsmooth.cli.plots`, what they share in
``_common`` and ``_load``. The methods come from the registry :mod:`numsmooth.methods`.

Exit status: 0 done; 2 bad input, one line ``numsmooth: error: ...`` on stderr, whether argparse,
the library or a ``NUMSMOOTH_*`` environment variable rejects it; 1 an experiment failed (the
oracle raised); 130 or 143 a run stopped by Ctrl-C (SIGINT) or SIGTERM, after its results so far
were printed and written.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from typing import Any, NoReturn, Sequence

from .. import __version__
from ._common import PROG, CliError, exit_status

__all__ = ["main", "build_parser"]

UsageError = CliError  # bad input from the command line (exit status 2)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, raised instead of printed."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``numsmooth`` and its sub-commands."""
    from . import bench, demo, run

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
    demo.add_parser(sub)
    probs = sub.add_parser("problems", help="list the benchmark problems (name, dimensions, f*)",
                           description="One line per problem: name, allowed dimensions, default "
                           "dimension, optimal value at the default dimension. With a NAME: that "
                           "problem's formula, start, optimum and references.")
    probs.add_argument("name", nargs="?", default=None, metavar="NAME",
                       help="describe this problem instead of listing all")
    sub.add_parser("methods", help="list the methods of run and bench (name, options, description)",
                   description="One block per method of the registry numsmooth.methods: its name, "
                   "options with their defaults, what it is and where it comes from.")
    run.add_parser(sub)
    bench.add_parser(sub)
    return parser


def _set_threads(threads: int) -> None:
    import numba

    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if not 1 <= threads <= most:
        raise UsageError(f"argument --threads: must be between 1 and {most}; got {threads}")
    numba.set_num_threads(threads)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (head, *rows))


def _cmd_problems(args: argparse.Namespace) -> int:
    from .. import problems as _problems

    if args.name is not None:
        p = _problems.get(args.name)
        print(f"{p.name}  ({p.dim_rule}, default d = {p.default_dim}, f* = {p.f_star!r})")
        print(textwrap.fill(p.description, width=90))
        print(textwrap.fill("References: " + p.references, width=90))
        return 0
    rows = [(p.name, p.dim_rule, str(p.default_dim), f"{p.f_star:.10g}") for p in _problems.PROBLEMS.values()]
    print(_table(("name", "dimension", "default d", "f* (default d)"), rows))
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from .. import methods as _methods

    for m in _methods.METHODS.values():
        opts = ", ".join(f"{_methods.OPTIONS[k].flag} {m.default_text(k)}"
                         for k in m.options)
        print(f"{m.name}: {m.description}" + (" Keeps a dense d x d matrix." if m.dense else ""))
        print(textwrap.fill(f"options: {opts or 'none'}; default steps {m.maxiter}", width=90,
                            initial_indent="    ", subsequent_indent="    "))
        print(textwrap.fill(f"reference: {m.reference}", width=90, initial_indent="    ",
                            subsequent_indent="    "))
    return 0


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """One line per distinct warning (with a count), instead of Python's two-line format."""
    counts: dict[str, int] = {}
    for w in caught:
        msg = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        counts[msg] = counts.get(msg, 0) + 1
    for msg, k in counts.items():
        print(f"{PROG}: warning: {msg}" + (f" ({k} times)" if k > 1 else ""), file=sys.stderr)


def _handler(command: str) -> Any:
    from . import bench, demo, run

    return {"demo": demo.command, "problems": _cmd_problems, "methods": _cmd_methods, "run": run.command,
            "bench": bench.command}[command]


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
        experiment fails, 130 (SIGINT) or 143 (SIGTERM) when a run was stopped.

    Examples
    --------
    >>> from numsmooth.cli import main
    >>> main(["problems"])  # doctest: +ELLIPSIS
    name ...
    0
    """
    try:
        from .. import config

        config._check_environment()  # a bad NUMSMOOTH_* variable: one line, not a traceback
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.threads is not None:
            _set_threads(args.threads)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code: int = _handler(args.command)(args)
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
    except KeyboardInterrupt as e:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return exit_status(e)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
