"""Progress reporting for long runs: :func:`~numsmooth.minimize`, ``numsmooth run`` and ``demo``.

- In a terminal (the stream is a TTY and tqdm is installed): a tqdm bar labelled with what runs.
- Elsewhere (a log file, a pipe, CI): one short line every ``NUMSMOOTH_PROGRESS_INTERVAL`` seconds
  (default 5; 0 logs every step).
- While Numba compiles (a cold cache makes the first call slow): one line
  ``numsmooth: compiling kernels (first run only)...`` once compilation has lasted half a second.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "CompileNotice", "progress_interval", "is_terminal"]

#: Environment variable: seconds between log lines when the output is not a terminal.
INTERVAL_ENV = "NUMSMOOTH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 5.0
COMPILE_MESSAGE = "numsmooth: compiling kernels (first run only)..."


def progress_interval() -> float:
    """Seconds between log lines (``NUMSMOOTH_PROGRESS_INTERVAL``, default 5)."""
    raw = os.environ.get(INTERVAL_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_INTERVAL
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds; got {raw!r}") from None
    if not v >= 0 or math.isinf(v):
        raise ValueError(f"{INTERVAL_ENV} must be a finite number >= 0; got {raw!r}")
    return v


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


class Progress:
    """A labelled progress report of an optimization run.

    Parameters
    ----------
    total : int
        Most steps (the bar's length).
    desc : str
        Label: what runs (e.g. ``"rastrigin gradient-sampling"``).
    stream : file, optional
        Where to write (default ``sys.stderr``).
    interval : float, optional
        Seconds between log lines when ``stream`` is not a terminal (default
        :func:`progress_interval`).
    """

    def __init__(self, total: int, desc: str, stream: TextIO | None = None, interval: float | None = None):
        self.total = int(total)
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        self.interval = progress_interval() if interval is None else float(interval)
        self._t0 = time.perf_counter()
        self._last_log = self._t0
        self._bar: Any = None
        if is_terminal(self.stream) and _has_tqdm():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True)

    def update(self, nit: int, f: float, nfev: int, smoothed: bool = False) -> None:
        """Report that step ``nit`` finished with value ``f`` and ``nfev`` evaluations so far
        (``smoothed``: ``f`` is the smoothed value, the step did not evaluate the true one)."""
        key = "f_smoothed" if smoothed else "f"
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({key: f"{f:.6g}", "nfev": nfev}, refresh=False)
            return
        now = time.perf_counter()
        if now - self._last_log >= self.interval:
            self._last_log = now
            print(f"{self.desc}: step {nit}/{self.total}, {key} = {f:.6g}, nfev = {nfev}, "
                  f"{now - self._t0:.1f} s", file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar (log lines stay)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CompileNotice:
    """Context manager: print one line once Numba has compiled for ``delay`` seconds in all.

    Listens to Numba's ``numba:compile`` events; a warm cache (nothing compiled, or only quick
    loads) prints nothing. The line is printed at most once per process, while compiling.

    Parameters
    ----------
    stream : file, optional
        Where to write (default ``sys.stderr``).
    delay : float
        Seconds of compilation before the line appears.
    enabled : bool
        False makes the context manager print nothing, and silences the notices entered
        inside it (an optimizer's first step inside ``minimize(progress=False)`` or the
        command line's ``--quiet``).
    """

    _printed = False
    #: Notices entered with ``enabled=False`` and not yet exited: inner notices stay silent.
    _silenced = 0

    def __init__(self, stream: TextIO | None = None, delay: float = 0.5, enabled: bool = True):
        self.stream = sys.stderr if stream is None else stream
        self.delay = float(delay)
        self.enabled = enabled
        self._timer: threading.Timer | None = None
        self._listener: Any = None
        self._lock = threading.Lock()
        self._depth = 0
        self._started = 0.0
        self._total = 0.0  # seconds spent compiling so far (outermost compilations)
        self._silencing = False

    def _say(self) -> None:
        if not CompileNotice._printed:
            CompileNotice._printed = True
            print(COMPILE_MESSAGE, file=self.stream, flush=True)

    def _on_compile_start(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth == 1 and not CompileNotice._printed:
                self._started = time.perf_counter()
                self._timer = threading.Timer(max(0.0, self.delay - self._total), self._say)
                self._timer.daemon = True
                self._timer.start()

    def _on_compile_end(self) -> None:
        with self._lock:
            self._depth = max(0, self._depth - 1)
            if self._depth == 0:
                self._total += time.perf_counter() - self._started
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None

    def __enter__(self) -> "CompileNotice":
        self._silencing = not self.enabled
        if self._silencing:
            CompileNotice._silenced += 1
            return self
        if CompileNotice._printed or CompileNotice._silenced:
            return self
        try:
            from numba.core import event
        except ImportError:  # pragma: no cover - numba without the event API
            return self
        notice = self

        class _Listener(event.Listener):
            def on_start(self, ev: Any) -> None:
                notice._on_compile_start()

            def on_end(self, ev: Any) -> None:
                notice._on_compile_end()

        self._listener = _Listener()
        event.register("numba:compile", self._listener)  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._silencing:
            self._silencing = False
            CompileNotice._silenced -= 1
        if self._listener is not None:
            from numba.core import event

            event.unregister("numba:compile", self._listener)  # type: ignore[no-untyped-call]
            self._listener = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
