"""What a table of timings was measured on, and which kernels numsmooth ran for a row.

Shared by ``compare.py`` and ``bounds.py`` (not a benchmark: asv collects only ``time_`` and
``track_`` names).
"""

from __future__ import annotations

import os
import platform
import subprocess

from numsmooth import _parallel


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _size(text: str) -> str:
    """'1024K' -> '1 MiB', '32768K' -> '32 MiB', '48K' -> '48 KiB'."""
    text = text.strip()
    if text.endswith("K") and text[:-1].isdigit():
        k = int(text[:-1])
        return f"{k // 1024} MiB" if k % 1024 == 0 else f"{k} KiB"
    return text


def caches() -> str:
    """Data and unified caches of CPU 0 from /sys (each with the CPUs that share it), else lscpu."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    parts = []
    try:
        for index in sorted(os.listdir(base)):
            if not index.startswith("index"):
                continue

            def read(name: str, index: str = index) -> str:
                with open(os.path.join(base, index, name)) as fh:
                    return fh.read().strip()

            if read("type") == "Instruction":
                continue
            shared = read("shared_cpu_list")
            parts.append(f"L{read('level')} {_size(read('size'))} (CPUs {shared})")
    except OSError:
        parts = []
    if parts:
        return ", ".join(parts)
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    lines = [" ".join(line.split()) for line in out.splitlines() if line.startswith(("L1d", "L2", "L3"))]
    return "; ".join(lines) or "unknown"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages and the runnable/total tasks now."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:4])
    except OSError:
        return "n/a"


def header() -> list[str]:
    """Markdown list items: CPU, caches, cores, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return [
        f"- CPU: {cpu_model()}; caches: {caches()}",
        f"- cores: {os.cpu_count()} logical, {usable} usable; load average (1, 5, 15 min; runnable/tasks) "
        f"at start: {loadavg()}",
        f"- parallel thresholds: {thresholds()}",
    ]


def thresholds() -> str:
    """How numsmooth scaled its parallel thresholds on this machine (`numsmooth._parallel.machine_scale`)."""
    from numsmooth import config

    given = config.get("parallel_scale")
    if given > 0:
        return f"scale {given:g} (set by parallel_scale)"
    wake = _parallel.wake_cost()
    if wake is None:
        return "scale 1 (the defaults: the wake-up cost could not be measured now, e.g. a busy machine)"
    return (f"scale {_parallel.machine_scale():.2f} (an idle thread wakes in {wake * 1e6:.1f} us here; the "
            f"defaults assume {_parallel.REFERENCE_WAKE * 1e6:.0f} us)")


def decisions() -> dict[str, int]:
    """A snapshot of numsmooth's serial/parallel decisions (`numsmooth._parallel.decisions`)."""
    return _parallel.decisions()


def kernels_run(before: dict[str, int], after: dict[str, int] | None = None) -> str:
    """Which kernels numsmooth ran between two snapshots of `decisions`: ``parallel``, ``serial
    (busy)`` (the busy-machine switch), ``serial (size)`` (all work below the parallel knobs),
    ``serial (forked)``, or ``mixed`` with the share of the large work that ran in parallel."""
    after = decisions() if after is None else after
    d = {k: after[k] - before.get(k, 0) for k in after}
    large = d["parallel"] + d["busy"] + d["forked"]
    if large == 0:
        return "serial (size)" if d["small"] else "n/a"
    if d["parallel"] == large:
        return "parallel"
    if d["busy"] == large:
        return "serial (busy)"
    if d["forked"] == large:
        return "serial (forked)"
    return f"mixed ({d['parallel'] / large:.0%} parallel, {d['busy'] / large:.0%} busy)"
