"""Tuning knobs of numsmooth, in one place.

Every size at which numsmooth switches strategy (serial or parallel kernels, keeping the
perturbation block or streaming it, FFT threads, executor chunking) and the accuracy settings of
the min-norm-hull QP are read from here at call time. None of them changes a result: serial and
parallel kernels, streamed and kept blocks give the same bits. They change only speed and memory.

Each knob has a default, may be set by the environment variable ``NUMSMOOTH_<NAME>`` (upper case)
before numsmooth is imported (a value that is not allowed makes the first :func:`get` raise
:class:`ConfigError` naming the variable), and may be changed at run time with :func:`set` or, for a block of
code (tests, benchmarks), with :func:`override`.

Examples
--------
>>> import numsmooth as ns
>>> ns.config.get("block_budget_bytes") > 0
True
>>> with ns.config.override(parallel_min_elements=1):
...     ns.config.get("parallel_min_elements")
1
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator

__all__ = ["get", "set", "override", "reset", "describe", "physical_memory", "ConfigError", "KNOBS"]


class ConfigError(ValueError):
    """A ``NUMSMOOTH_*`` environment variable holds a value numsmooth cannot use.

    The message names the variable and repeats its value. It is raised when the knobs are read
    from the environment (at import, or by :func:`reset`); the command line reports it as one
    ``numsmooth: error:`` line.
    """


@functools.lru_cache(maxsize=1)
def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the platform does not say.

    The one place numsmooth reads it (the default block budget, the sampler's and the command
    line's checks that a request fits in memory); read once.

    Examples
    --------
    >>> import numsmooth as ns
    >>> mem = ns.config.physical_memory()
    >>> mem is None or mem > 0
    True
    """
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platform dependent
        return None


def _default_block_budget() -> int:
    """An eighth of physical memory, clamped to [256 MiB, 1 GiB] (256 MiB where the platform
    does not say): large enough to keep d = 1e6, n = 100 perturbations on a laptop, small
    enough that they never crowd out the user's own data."""
    phys = physical_memory()
    if phys is None:  # pragma: no cover - platform dependent
        return 1 << 28
    return min(1 << 30, max(1 << 28, phys // 8))


@dataclass(frozen=True)
class _Knob:
    default: int | float
    doc: str
    low: float = 0.0


#: name -> default and meaning. Integers are element counts or counts of tasks unless said.
KNOBS: dict[str, _Knob] = {
    "parallel_min_elements": _Knob(
        1 << 16,
        "Kernels that loop over this many array elements or more run in parallel (Numba "
        "threads); smaller ones run serially: a parallel region's start-up costs more than it "
        "saves on small work, far more on a loaded machine."),
    "reduce_parallel_min_elements": _Knob(
        1 << 20,
        "Aggregates over the (n, d) gradient block go parallel from this many elements."),
    "oracle_parallel_min_elements": _Knob(
        1 << 19,
        "Jitted oracles are evaluated in parallel over points when the perturbation block has "
        "at least this many elements. Below it the serial kernel wins inside a step: the "
        "aggregate that follows reads gradients the other core wrote, which costs more than "
        "the second thread saves (measured with Rosenbrock, n = 100, 2 cores: serial faster "
        "at d = 1e3 and 3e3, about even at 1e4, parallel faster from 3e4)."),
    "pass_parallel_min_elements": _Knob(
        1 << 19,
        "Memory-bound passes over a whole flat vector (copying the point, scaling the update "
        "with its norm, x -= update, momentum) run in parallel from this many elements: waking "
        "the threads costs about 100 us, which a pass earns back only on large vectors."),
    "parallel_scale": _Knob(
        0.0,
        "Factor applied to the parallel thresholds above and to laplacian_serial_max_elements "
        "and fft_threads_min_elements while they hold their defaults (a value you set is used "
        "as given). 0: measured once per machine, as the cost of waking Numba's threads over "
        "the 80 us the defaults were set at (clamped to [0.25, 8], kept in "
        "~/.cache/numsmooth/parallel.json); a positive value is used as given (1: the defaults "
        "as written). It changes which kernels run in parallel, never a result."),
    "load_check_seconds": _Knob(
        0.05,
        "How often (seconds) numsmooth looks whether the machine has a core to spare for its "
        "threads; while it has not, kernels run serially (same bits). 0 turns the check off."),
    "block_budget_bytes": _Knob(
        _default_block_budget(),
        "Largest (n - 1, d) float64 perturbation block kept in memory, so fixed perturbations "
        "are drawn once (with an oracle that cannot fold its gradients into the aggregate — "
        "not a jitted one, or on an executor — the (n, d) gradient block counts too). Default: "
        "an eighth of physical memory, at least 256 MiB and at most 1 GiB (1 GiB on a 8 GiB "
        "laptop: d = 1e6, n = 100 is kept). Larger blocks are streamed in chunks: memory then "
        "does not grow with n, at the cost of regenerating perturbations on every evaluation.",
        low=1),
    "stream_chunk_elements": _Knob(
        1 << 21,
        "Elements per chunk of points when streaming (16 MiB per float64 buffer).", low=1),
    "fft_threads": _Knob(2, "FFTW threads for large Laplacian FFT solves.", low=1),
    "fft_threads_min_elements": _Knob(
        1 << 20, "FFT solves use `fft_threads` threads from this many elements."),
    "laplacian_serial_max_elements": _Knob(
        1 << 19, "The recursive Laplacian solve runs serially up to this many elements."),
    "tasks_per_worker": _Knob(
        4, "Executor tasks per worker when the executor says how many workers it has.", low=1),
    "default_tasks": _Knob(
        8, "Executor tasks per evaluation when it does not (dask, MPI).", low=1),
    "hull_tol": _Knob(1e-12, "Relative optimality gap the min-norm-hull QP aims for."),
    "hull_maxiter": _Knob(10_000, "Iteration cap of the min-norm-hull QP.", low=1),
    "hull_accept": _Knob(
        1e-9, "Relative gap above which a stalled min-norm-hull QP warns."),
    "compile_notice": _Knob(
        1, "1: the first step of an optimizer (numsmooth.Optimizer, numsmooth.torch.Optimizer) "
        "prints 'numsmooth: compiling kernels (first run only)...' to stderr once Numba has "
        "compiled for half a second (once per process; a warm cache prints nothing); 0: silent "
        "(numsmooth.warmup compiles ahead).", low=0),
}

_values: dict[str, int | float] = {}
#: The error of a bad ``NUMSMOOTH_*`` variable found by the last :func:`reset`, else None.
_environment_error: ConfigError | None = None


def _check(name: str, value: Any) -> int | float:
    if name not in KNOBS:
        raise KeyError(f"unknown numsmooth setting {name!r}; known: {', '.join(sorted(KNOBS))}")
    knob = KNOBS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"setting {name} must be a number; got {value!r}")
    if isinstance(knob.default, int):
        if isinstance(value, float):
            if not value.is_integer():
                raise TypeError(f"setting {name} must be an integer; got {value!r}")
            value = int(value)
    elif not math.isfinite(value):
        raise ValueError(f"setting {name} must be finite; got {value!r}")
    if value < knob.low:
        raise ValueError(f"setting {name} must be >= {knob.low:g}; got {value!r}")
    return int(value) if isinstance(knob.default, int) else float(value)


def _from_environment(name: str) -> int | float:
    knob = KNOBS[name]
    var = "NUMSMOOTH_" + name.upper()
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return knob.default
    kind = "an integer" if isinstance(knob.default, int) else "a number"
    try:
        parsed: int | float = int(raw) if isinstance(knob.default, int) else float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {var} must be {kind}; got {raw!r}") from None
    try:
        return _check(name, parsed)
    except (TypeError, ValueError) as exc:
        rule = str(exc).split(" must be ", 1)[-1].split(";", 1)[0]  # "setting x must be >= 1; got 0"
        raise ConfigError(f"environment variable {var} must be {rule}; got {raw!r}") from None


def reset() -> None:
    """Every knob back to its default (or its environment override).

    Raises :class:`ConfigError` naming the variable when a ``NUMSMOOTH_*`` variable holds a value
    that is not allowed; the knobs are then all at their defaults.
    """
    global _environment_error
    _values.clear()
    try:
        values = {name: _from_environment(name) for name in KNOBS}
    except ConfigError as exc:
        _environment_error = exc  # every get() raises it until the variable is fixed
        raise
    _environment_error = None
    _values.update(values)


def get(name: str) -> Any:
    """The current value of knob ``name`` (see :data:`KNOBS`)."""
    if _environment_error is not None:
        raise _environment_error
    try:
        return _values[name]
    except KeyError:
        if _environment_error is not None and name in KNOBS:
            raise _environment_error from None
        raise KeyError(f"unknown numsmooth setting {name!r}; known: {', '.join(sorted(KNOBS))}") from None


def set(**values: Any) -> None:  # noqa: A001 - the natural name in a config module
    """Change knobs, e.g. ``ns.config.set(block_budget_bytes=2**30)``; all are checked first."""
    checked = {name: _check(name, v) for name, v in values.items()}
    _values.update(checked)


@contextlib.contextmanager
def override(**values: Any) -> Iterator[None]:
    """Change knobs within a ``with`` block and restore them afterwards."""
    checked = {name: _check(name, v) for name, v in values.items()}
    saved = {name: get(name) for name in checked}
    _values.update(checked)
    try:
        yield
    finally:
        _values.update(saved)


def describe() -> dict[str, Any]:
    """Every knob's current value, default and meaning."""
    return {name: {"value": get(name), "default": k.default, "doc": k.doc} for name, k in KNOBS.items()}


def _check_environment() -> None:
    """Raise the :class:`ConfigError` of a bad ``NUMSMOOTH_*`` variable, if there is one (the
    command line calls it first, to report it as one line)."""
    if _environment_error is not None:
        raise _environment_error


with contextlib.suppress(ConfigError):
    # importing numsmooth does not fail on a bad variable (a command that never reads the knobs
    # still works); the first get() raises the error
    reset()
