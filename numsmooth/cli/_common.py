"""What the sub-commands share: the error type, output paths checked before any work, JSON that
is always valid, signals that end a run but keep its results."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
from typing import Any, Iterator

import numpy as np

PROG = "numsmooth"

#: Exit status of a run ended by SIGINT (Ctrl-C) or SIGTERM, as a shell reports them.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class CliError(Exception):
    """Bad command-line input (exit status 2); the message starts with the flag."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is (as Ctrl-C raises ``KeyboardInterrupt``), so the
    run stops the same way and keeps what it has."""


def exit_status(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def interruption(exc: BaseException) -> str:
    """``"interrupted (SIGINT)"``, ``"interrupted (SIGTERM)"`` or ``"error: Type: message"``."""
    if isinstance(exc, Terminated):
        return "interrupted (SIGTERM)"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a no-op)."""
    try:
        old = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_output(flag: str, path: str, *, directory_file: str | None = None) -> str:
    """The file ``flag PATH`` will write, checked before any work starts.

    A directory is refused, unless ``directory_file`` is given (the file then goes inside it).
    The parent must be an existing, writable directory, and an existing file writable.

    Raises
    ------
    CliError
        Naming the flag, the path and what is wrong.
    """
    if os.path.isdir(path):
        if directory_file is None:
            raise CliError(f"argument {flag}: {path!r} is a directory; give a file name")
        path = os.path.join(path, directory_file)
    parent = os.path.dirname(os.path.abspath(path))
    shown = os.path.dirname(path) or "."
    if not os.path.exists(parent):
        raise CliError(f"argument {flag}: directory {shown!r} does not exist")
    if not os.path.isdir(parent):
        raise CliError(f"argument {flag}: {shown!r} is not a directory")
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise CliError(f"argument {flag}: {path!r} exists and is not a regular file")
        if not os.access(path, os.W_OK):
            raise CliError(f"argument {flag}: no permission to write {path!r}")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"argument {flag}: no permission to create a file in {shown!r}")
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


def write_json(flag: str, path: str, record: Any) -> None:
    """Write ``record`` as JSON to ``path`` (``'-'``: stdout)."""
    text = json.dumps(json_safe(record), indent=1)
    if path == "-":
        print(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as e:
        raise CliError(f"argument {flag}: cannot write {path!r}: {e.strerror}") from None


def note(message: str, quiet: bool = False) -> None:
    """One line ``numsmooth: message`` on stderr (flushed: tests and pipes wait for it)."""
    if not quiet:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def require_matplotlib(flag: str = "--plot") -> None:
    """Refuse a plot before any work when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError(f"argument {flag}: the plot needs matplotlib (pip install matplotlib)") from None
