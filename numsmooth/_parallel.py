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

Thresholds measured on the machine. Each knob that sets from how many elements a kernel runs
in parallel holds a default set on a machine whose parallel region cost 80 us to wake. A
parallel kernel pays off when its serial work exceeds a few wake-ups, so the element count where
it starts scales with the wake-up cost: `threshold` multiplies the knob's default by
`machine_scale`, the wake-up cost measured on this machine (`wake_cost`: the median of a few
dozen empty regions, on a machine not busy) over 80 us. It is measured once per machine and
kept in ``~/.cache/numsmooth/parallel.json`` (per CPU, core count, Numba thread count and
threading settings). Knobs the user set, and the ``parallel_scale`` knob when positive, are used
as given.

Kernels with a serial and a parallel version are `numsmooth._kernels.twins.Twin` objects (one
body compiled twice); `pick` returns the dispatcher to call. `decisions` counts what
`use_parallel` answered and why, so a benchmark can say which kernels a measurement ran.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import config

__all__ = ["use_parallel", "pick", "decisions", "machine_busy", "LoadWatch", "READINGS", "in_forked_child",
           "threads_launched_in_parent", "threshold", "machine_scale", "wake_cost"]


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
    if below_threshold(elements, knob):
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


# -- thresholds measured on the machine ----------------------------------------------------------
#: Knobs scaled by `machine_scale` while they hold their defaults.
SCALED_KNOBS = ("parallel_min_elements", "reduce_parallel_min_elements", "oracle_parallel_min_elements",
                "pass_parallel_min_elements", "laplacian_serial_max_elements", "fft_threads_min_elements")
#: The wake-up cost (seconds) of the machine the knobs' defaults were measured on.
REFERENCE_WAKE = 80e-6
SCALE_RANGE = (0.25, 8.0)
_WAKE_SAMPLES = 31
_WAKE_GAP = 2e-3
#: After a failed measurement (a busy machine), seconds before `wake_cost` tries again.
_RETRY_SECONDS = 10.0
_scale: float | None = None
_wake: float | None = None
_next_try = -1e300
_scale_lock = threading.Lock()


def threshold(knob: str) -> float:
    """The size from which `use_parallel` answers True for ``knob`` (when the machine has cores to
    spare): the knob's default times `machine_scale` for the knobs of `SCALED_KNOBS`, else (a
    value the user set, any other knob) the knob as set."""
    value = config.get(knob)
    if knob not in SCALED_KNOBS or value != config.KNOBS[knob].default:
        return float(value)
    return float(value) * machine_scale()


def below_threshold(elements: int, knob: str) -> bool:
    """``elements < threshold(knob)``, without measuring the machine for work that is below (or
    above) the threshold at any measured scale (a small problem never launches Numba's
    threads)."""
    value = config.get(knob)
    if knob not in SCALED_KNOBS or value != config.KNOBS[knob].default:
        return bool(elements < value)
    given = config.get("parallel_scale")
    if given > 0:
        return bool(elements < value * given)
    lo, hi = SCALE_RANGE
    if elements < value * lo:
        return True
    if elements >= value * hi:
        return False
    return bool(elements < value * machine_scale())


def machine_scale() -> float:
    """The factor `threshold` applies: the ``parallel_scale`` knob when positive, else this
    machine's `wake_cost` over `REFERENCE_WAKE`, clamped to `SCALE_RANGE` (1 while it cannot be
    measured: no JIT, a forked child, the user's own threading settings, a busy machine; the
    last is tried again after `_RETRY_SECONDS`)."""
    given = config.get("parallel_scale")
    if given > 0:
        return float(given)
    if _scale is None:
        wake_cost()
    return 1.0 if _scale is None else _scale


def wake_cost() -> float | None:
    """Seconds an empty parallel region takes on this machine with Numba's threads (the median
    of `_WAKE_SAMPLES`), from ``~/.cache/numsmooth/parallel.json`` or measured now and saved
    there; None when it cannot be measured now (no JIT, a forked child, a busy machine, the
    user's own threading settings)."""
    global _scale, _wake, _next_try
    with _scale_lock:
        if _wake is not None:
            return _wake
        if time.monotonic() < _next_try:
            return None
        key = _machine_key()
        w = _load_wake(key)
        if w is None:
            w = _measure_wake()
            if w is None:
                _next_try = time.monotonic() + _RETRY_SECONDS
                return None
            _save_wake(key, w)
        _wake = w
        lo, hi = SCALE_RANGE
        _scale = min(hi, max(lo, w / REFERENCE_WAKE))
        return w


def _machine_key() -> str:
    """What the wake-up cost depends on: the CPU, the cores we may use, Numba's threads and
    threading layer, the OpenMP wait policy."""
    import numba

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    policy = os.environ.get("OMP_WAIT_POLICY", "")
    return f"{model}|cores={_CORES}|threads={numba.get_num_threads()}|numba={numba.__version__}|wait={policy}"


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numsmooth" / "parallel.json"


def _load_wake(key: str) -> float | None:
    try:
        entry = json.loads(_cache_file().read_text(encoding="utf-8")).get(key)
        w = float(entry["wake_seconds"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return w if 0.0 < w < 1.0 else None


def _save_wake(key: str, w: float) -> None:
    """Add this machine's entry to the cache file, atomically (a reader sees the old file or the
    new one); a cache that cannot be written is skipped (measured again next time)."""
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(entries, dict):
                entries = {}
        except (OSError, ValueError):
            entries = {}
        entries[key] = {"wake_seconds": w, "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".parallel-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entries, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _measure_wake() -> float | None:
    """The median time of `_WAKE_SAMPLES` empty parallel regions, each after `_WAKE_GAP` seconds
    of sleep (as between a step's kernels, the other threads have gone idle: on a virtual
    machine an idle core may be halted, and waking it is most of the cost); None when not
    measurable now (see `wake_cost`), including when another process is runnable at any of the
    readings taken around the samples (a busy core is woken much faster than an idle one, which
    would make the scale too small)."""
    from numba.core import config as _nbconfig

    if getattr(_nbconfig, "DISABLE_JIT", False) or _forked or _user_tuned or _user_threading_layer():
        return None
    import numba
    import numpy as np

    from ._kernels.probe import wake

    def busy_now() -> bool:
        return _runnable_tasks() + numba.get_num_threads() - 1 > _CORES

    if busy_now():
        return None
    _launch_threads()
    a = np.zeros(64)
    for _ in range(3):  # load or compile, and the threads' first wake-up
        wake(a)
    times = []
    for k in range(_WAKE_SAMPLES):
        time.sleep(_WAKE_GAP)
        t0 = time.perf_counter()
        wake(a)
        times.append(time.perf_counter() - t0)
        if k % 8 == 0 and busy_now():
            return None
    if busy_now():
        return None
    return sorted(times)[len(times) // 2]
