"""When numsmooth may run a parallel (Numba-threaded) kernel.

Rule for the whole package: the choice between the serial and the parallel version of a kernel
is made here, in Python, never inside jitted code (no ``@njit`` function calls a
``parallel=True`` one). Serial and parallel versions give the same bits, so the choice changes
only speed.

Why the rule (a crash, not a style point). Numba launches its threading layer lazily: a
``parallel=True`` function records ``_reload_parfors`` in its compile result's ``reload_init``
(``numba/core/typed_passes.py``), and loading it from the on-disk cache runs that hook, which
calls ``numba.np.ufunc.parallel._launch_threads``. A jitted *caller* inherits the hook only
from callee libraries compiled in the same process (``codegen.py``: "Parent inherits
reload_init"); a callee loaded from the cache comes back without it. So a serial kernel compiled
by a process that had loaded its parallel callee from the cache is cached without the hook, and
the next process that loads that kernel first jumps into a parfor whose thread pool was never
launched: SIGSEGV (``tests/test_cache_processes.py`` reproduces it). With the rule, every
parallel kernel is entered from Python through its own dispatcher, whose cache entry always
carries its own hook; and as a second guard, `use_parallel` launches the threading layer itself
before it answers True.

Forked children. GNU OpenMP cannot run a parallel region in a process forked from one that
has launched it (Numba's OpenMP layer then kills the child: "fork() called from a process
already using GNU OpenMP, this is unsafe"), so `use_parallel` answers False in a forked child
(e.g. a worker of a default ``ProcessPoolExecutor`` on Linux); the serial kernels give the same
bits.

A busy machine. Idle OpenMP workers spin-wait for the next parallel region by default; when
other processes keep the cores busy, the spinning workers and the descheduled ones turn each
short parallel region into a wait for a scheduler time slice (measured 55x slower steps, see
``docs/performance.rst``). At import, before Numba can load GNU OpenMP (which reads its
settings once, when it loads), numsmooth sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set
it or ``GOMP_SPINCOUNT``: idle workers then sleep at once. That is not enough: a parallel region
still ends at a barrier, which waits for a worker the scheduler has parked behind the other
processes (bimodal timings). So `use_parallel` also answers False while the machine has no core
to spare for our threads: the number of runnable tasks (``/proc/loadavg``, an instantaneous
count that includes the caller), read at most every ``load_check_seconds``, plus our other
threads must fit the cores we may run on. One reading is one instant: on an idle machine a
kernel worker or a shell is runnable too about one reading in twenty, so the answer changes only
after `READINGS` consecutive readings disagree with it (`LoadWatch`): an idle machine stays
parallel, a busy one turns serial after ``READINGS * load_check_seconds`` (0.15 s). Both are
skipped when the user chose a wait policy, spin count or Numba threading layer: an explicit
setting is respected.

Kernels with a serial and a parallel version are `numsmooth._kernels.twins.Twin` objects (one
body compiled twice); `pick` returns the dispatcher to call. `decisions` counts what
`use_parallel` answered and why, so a benchmark can say which kernels a measurement ran.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from . import config

__all__ = ["use_parallel", "pick", "decisions", "machine_busy", "LoadWatch", "READINGS", "in_forked_child",
           "threads_launched_in_parent"]


_USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER")
#: The user tuned threading themselves: numsmooth then sets nothing and does not watch the load.
_user_tuned = any(name in os.environ for name in _USER_SETTINGS)
if not _user_tuned:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

try:
    _CORES = len(os.sched_getaffinity(0))
except (AttributeError, OSError):  # pragma: no cover - not Linux
    _CORES = os.cpu_count() or 1
#: Consecutive readings that must disagree with the current answer of `machine_busy` to change it.
READINGS = 3


class LoadWatch:
    """Busy or not from a sequence of instantaneous readings, each True when the runnable tasks
    plus our other threads exceed our cores: the answer (first False) changes only after
    ``readings`` consecutive readings that disagree with it, so one runnable shell or kernel
    worker at the instant of a reading changes nothing."""

    def __init__(self, readings: int = READINGS) -> None:
        self.readings = readings
        self.busy = False
        self._against = 0

    def update(self, over: bool) -> bool:
        """Take one reading; return the answer."""
        if over == self.busy:
            self._against = 0
        else:
            self._against += 1
            if self._against >= self.readings:
                self.busy = over
                self._against = 0
        return self.busy


_watch = LoadWatch()
_busy_checked = -1e300


def _runnable_tasks() -> int:
    """Runnable tasks on the machine now (including the caller), or 0 if unknown."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0


def machine_busy() -> bool:
    """True when the runnable tasks plus our other Numba threads exceed our cores, in `READINGS`
    consecutive readings taken at least ``load_check_seconds`` apart (see `LoadWatch`); always
    False when the user tuned threading or the check is off."""
    global _busy_checked
    interval = config.get("load_check_seconds")
    if interval <= 0 or _user_tuned or _user_threading_layer():
        return False
    now = time.monotonic()
    if now - _busy_checked >= interval:
        import numba

        _busy_checked = now
        return _watch.update(_runnable_tasks() + numba.get_num_threads() - 1 > _CORES)
    return _watch.busy


def _user_threading_layer() -> bool:
    from numba.core import config as _nbconfig

    return str(getattr(_nbconfig, "THREADING_LAYER", "default")).lower() != "default"

_forked = False
_parent_threads = False
_threads_launched = False
_launch_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _forked, _parent_threads
    _forked = True
    nbpar = sys.modules.get("numba.np.ufunc.parallel")
    _parent_threads = _parent_threads or bool(getattr(nbpar, "_is_initialized", False))


os.register_at_fork(after_in_child=_after_fork_in_child)


def in_forked_child() -> bool:
    """True in a process forked (without exec) from one that imported numsmooth."""
    return _forked


def threads_launched_in_parent() -> bool:
    """True in a forked child whose parent had launched Numba's threading layer: parallel
    regions (numsmooth's or the user's ``parallel=True`` functions) cannot run there."""
    return _parent_threads


def _launch_threads() -> None:
    """Launch Numba's threading layer now (idempotent), so no parallel code can run before it."""
    global _threads_launched
    with _launch_lock:
        if _threads_launched:
            return
        from numba.core import config as _nbconfig

        if not getattr(_nbconfig, "DISABLE_JIT", False):
            from numba.np.ufunc import parallel as _nbpar

            launch: Any = _nbpar._launch_threads  # untyped
            launch()
        _threads_launched = True


#: What `use_parallel` answered, by reason: indices into `_counts` (see `decisions`).
_SMALL, _PARALLEL, _BUSY, _FORKED = range(4)
_REASONS = ("small", "parallel", "busy", "forked")
_counts = [0, 0, 0, 0]


def use_parallel(elements: int, knob: str = "parallel_min_elements") -> bool:
    """True when work on ``elements`` array elements should use the parallel kernel.

    ``knob`` names the :mod:`numsmooth.config` threshold that applies. Always False in a forked
    child, and while the machine is busy (`machine_busy`). Before it first answers True it
    launches Numba's threading layer.
    """
    if _forked:
        _counts[_FORKED] += 1
        return False
    if elements < config.get(knob):
        _counts[_SMALL] += 1
        return False
    if machine_busy():
        _counts[_BUSY] += 1
        return False
    if not _threads_launched:
        _launch_threads()
    _counts[_PARALLEL] += 1
    return True


def pick(twin: Any, elements: int, knob: str = "parallel_min_elements", *, parallel: bool | None = None) -> Any:
    """The dispatcher of the kernel ``twin`` (a `numsmooth._kernels.twins.Twin`) to call for work
    on ``elements`` array elements: ``twin.parallel`` when `use_parallel` (with ``knob``) says so,
    else ``twin.serial``. ``parallel``, when not None, is a decision the caller already took with
    `use_parallel` for the same work (one decision for several kernels)."""
    if parallel is None:
        parallel = use_parallel(elements, knob)
    return twin.parallel if parallel else twin.serial


def decisions() -> dict[str, int]:
    """How often `use_parallel` answered, by reason, since the process started: ``parallel``;
    serial because the work was below its knob (``small``), the machine was busy (``busy``) or
    the process is a forked child (``forked``). Compare two snapshots to see what some work ran.
    """
    return dict(zip(_REASONS, _counts))
