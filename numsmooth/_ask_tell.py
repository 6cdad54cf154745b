"""The step behind :meth:`Optimizer.ask` and :meth:`Optimizer.tell`.

A step asks its oracle for values deep inside the module chain. To hand those requests to the
caller, the step runs in a helper thread whose oracle posts its points and waits for the values
that :meth:`~numsmooth.Optimizer.tell` brings; the two threads take turns, so numsmooth's state is
touched by one of them at a time.

The helper thread steps a detached handle on the optimizer (the same point, modules and buffers;
its own counters), never the optimizer itself, so that a user who drops an optimizer with a
step pending drops it for real: a finalizer then ends the thread, which rolls the step back.
"""

from __future__ import annotations

import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .oracles.batched import batched

if TYPE_CHECKING:
    from .optimizer import Optimizer


class _Abandoned(BaseException):
    """Raised inside a pending step's thread to unwind it (rolls the step back)."""


class PendingStep:
    """One step of a detached handle on ``opt`` run in a helper thread, its oracle calls turned
    into ask/tell exchanges: the step's batched oracle posts its points and waits for the values.

    Attributes
    ----------
    state_before : dict
        ``opt.state_dict()`` from before the step (what saving records while it is pending).
    points : ndarray
        The points the step waits for (empty when it completed without asking).
    """

    def __init__(self, opt: "Optimizer"):
        self.state_before = opt._state_dict()
        self._engine = opt._detached()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
        self._replies: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=1)
        self._finished: tuple[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, args=(self._engine, batched(self._evaluate)),
                                        name="numsmooth-ask-tell", daemon=True)
        # ends the thread if opt is dropped with the step pending (args must not hold opt)
        self._finalizer = weakref.finalize(opt, PendingStep.abandon, self)
        self._thread.start()
        self.points = self._next()

    def _evaluate(self, X: np.ndarray) -> tuple[Any, Any]:
        self._events.put(("ask", X))
        reply = self._replies.get()
        if reply is None:
            raise _Abandoned
        return reply

    def _run(self, engine: "Optimizer", fun: Any) -> None:
        try:
            self._events.put(("done", engine.step(fun)))
        except _Abandoned:
            self._events.put(("abandoned", None))
        except BaseException as exc:  # handed to the thread that called tell()
            self._events.put(("error", exc))

    def _next(self) -> np.ndarray:
        """Wait for the step's next request; the empty block when it completed without one."""
        kind, payload = self._events.get()
        if kind == "ask":
            return cast(np.ndarray, payload)
        self._finished = (kind, payload)
        return np.empty((0, self.state_before["x"].size))

    def tell(self, F: Any, G: Any) -> bool:
        """Hand over the values at :attr:`points`; True when the step has completed."""
        if self._finished is not None:
            if np.size(F) != 0 or np.size(G) != 0:
                raise ValueError("this step needed no evaluation: tell() empty arrays")
        else:
            self._replies.put((F, G))
            self.points = self._next()
            if self._finished is None:
                return False
        self._thread.join()
        kind, payload = self._finished
        if kind == "error":
            raise payload
        return True

    def end(self, opt: "Optimizer") -> None:
        """After the step completed or failed: ``opt`` takes its counters and results."""
        self._finalizer.detach()
        opt._take_results(self._engine)

    def abandon(self) -> None:
        """Unwind the step (rolled back: ``x`` and the modules as before it) and end the thread.

        The evaluations asked for were never made, so the optimizer's count is left alone."""
        self._finalizer.detach()
        if self._finished is None:
            self._replies.put(None)
            self._finished = self._events.get()
        self._thread.join()
