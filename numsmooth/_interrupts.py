"""Ctrl-C and a step: a step is committed or rolled back whole, never torn.

A step runs the module chain (which may take long: it calls the oracle), then either commits
(moves ``x``, counts the step) or rolls the modules back. Python raises ``KeyboardInterrupt``
between any two bytecodes, so a Ctrl-C landing in the commit or in the rollback would leave half
of it done. :class:`StepGuard` closes that gap in the main thread: while a step runs it puts a
SIGINT handler in front of the current one, which records a SIGINT and hands it to the previous
handler when the guard exits — except between :meth:`StepGuard.open` and :meth:`StepGuard.hold`,
while the chain runs, where a SIGINT is handled at once (the step unwinds and rolls back).
"""

from __future__ import annotations

import importlib
import signal
import threading
from types import FrameType
from typing import Any, Callable

# The C module behind ``signal``: its functions skip the enum conversions that make
# signal.signal/getsignal cost about 10 us (measured, 2 loaded cores), felt on every small step.
try:
    _signal: Any = importlib.import_module("_signal")
except ImportError:  # pragma: no cover - not CPython
    _signal = signal

_SIGINT = int(signal.SIGINT)
#: Signal handlers run in the main thread only, and only it may install them.
_MAIN_THREAD = threading.main_thread().ident

#: The guards of the steps under way in the main thread, innermost last (a step whose oracle
#: runs another optimizer's step nests them).
active: list["StepGuard"] = []


class StepGuard:
    """Defer SIGINT while a step commits or rolls back (a context manager; main thread only).

    Use::

        with StepGuard() as guard:         # Ctrl-C waits from here ...
            ...                            # (taking the optimizer, a snapshot)
            try:
                try:
                    guard.open()           # ... to here, where a waiting one is raised
                    ...                    # the chain: Ctrl-C interrupts it at once
                finally:
                    guard.hold()           # from here Ctrl-C waits for the end of the block
            except BaseException:
                ...                        # the rollback
                raise
            ...                            # the commit

    Without :meth:`open`, the whole block runs with Ctrl-C held back (for short changes that
    must be whole). The handler holds by itself when it lets a SIGINT through, so the rollback
    that follows is not interrupted by a second one. Outside the main thread (no signal reaches
    it) and when the current handler is not a Python callable (ignored, or the process'
    default) it does nothing.
    """

    __slots__ = ("held", "pending", "previous")

    def __init__(self) -> None:
        self.held = True
        self.pending: tuple[int, FrameType | None] | None = None
        self.previous: Callable[[int, FrameType | None], Any] | None = None

    def __enter__(self) -> "StepGuard":
        if threading.get_ident() != _MAIN_THREAD:
            return self
        previous = _signal.getsignal(_SIGINT)
        if not callable(previous):
            return self
        self.previous = previous
        try:
            _signal.signal(_SIGINT, self._handler)
            active.append(self)
        except BaseException:  # pragma: no cover - a failure after the handler went in
            self._uninstall()
            raise
        return self

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.held:
            self.pending = (signum, frame)
            return
        self.held = True  # the step unwinds now: its rollback must run whole
        assert self.previous is not None
        self.previous(signum, frame)  # raises KeyboardInterrupt (the default handler)
        self.held = False  # the previous handler did not raise: the step goes on

    def open(self) -> None:
        """From now on a SIGINT is raised at once; one that came before is raised here."""
        self.held = False
        pending, self.pending = self.pending, None
        if pending is not None and self.previous is not None:
            self._handler(*pending)

    def hold(self) -> None:
        """From now on a SIGINT waits for the end of the ``with`` block."""
        self.held = True

    def _uninstall(self) -> None:
        if self.previous is not None:
            if active and active[-1] is self:
                active.pop()
            _signal.signal(_SIGINT, self.previous)  # last: a SIGINT from here on raises at once

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.held = True  # no signal may interrupt the uninstalling itself
        self._uninstall()
        pending, self.pending = self.pending, None
        if pending is not None and self.previous is not None and not isinstance(exc, KeyboardInterrupt):
            self.previous(*pending)  # the Ctrl-C that came during the commit or rollback


def holding() -> bool:
    """True while the innermost step of the main thread commits or rolls back (for tests)."""
    return bool(active) and active[-1].held
