"""Parallel thresholds scaled by the machine's measured wake-up cost (`numsmooth._parallel`).

The measurement itself is timing, so these tests check what is decided from it: which knobs are
scaled and by what, that the size comparison agrees with the scaled threshold, the cache file
(written atomically, read back, a damaged one ignored), and that a busy machine is not measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import pytest

import numsmooth as ns
from numsmooth import _parallel

JIT = not numba.config.DISABLE_JIT


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """A process state as if nothing had been measured yet, with its cache in ``tmp_path``;
    ``parallel_scale`` 0 (measure)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_parallel, "_scale", None)
    monkeypatch.setattr(_parallel, "_wake", None)
    monkeypatch.setattr(_parallel, "_next_try", -1e300)
    with ns.config.override(parallel_scale=0.0):
        yield tmp_path


def _fake_wake(monkeypatch, seconds):
    monkeypatch.setattr(_parallel, "_scale", None)
    monkeypatch.setattr(_parallel, "_wake", None)
    monkeypatch.setattr(_parallel, "_next_try", -1e300)
    monkeypatch.setattr(_parallel, "_measure_wake", lambda: seconds)


@pytest.mark.parametrize("wake,scale", [(80e-6, 1.0), (200e-6, 2.5), (20e-6, 0.25), (4e-6, 0.25), (1e-3, 8.0)])
def test_defaults_scale_with_the_wake_up_cost(measured, monkeypatch, wake, scale):
    _fake_wake(monkeypatch, wake)
    assert _parallel.machine_scale() == pytest.approx(scale)
    for knob in _parallel.SCALED_KNOBS:
        assert _parallel.threshold(knob) == pytest.approx(ns.config.KNOBS[knob].default * scale)


def test_a_value_the_user_set_is_used_as_given(measured, monkeypatch):
    _fake_wake(monkeypatch, 200e-6)
    with ns.config.override(oracle_parallel_min_elements=1000):
        assert _parallel.threshold("oracle_parallel_min_elements") == 1000
        assert _parallel.threshold("parallel_min_elements") == 2.5 * ns.config.KNOBS["parallel_min_elements"].default
    with ns.config.override(parallel_scale=3.0):
        assert _parallel.machine_scale() == 3.0
        assert _parallel.threshold("reduce_parallel_min_elements") == 3.0 * (1 << 20)
    assert _parallel.threshold("load_check_seconds") == ns.config.get("load_check_seconds")  # not a size


@pytest.mark.parametrize("wake,given", [(4e-6, 0.0), (80e-6, 0.0), (150e-6, 0.0), (1e-3, 0.0), (80e-6, 0.1),
                                        (80e-6, 10.0)])
def test_below_threshold_agrees_with_threshold(measured, monkeypatch, wake, given):
    """The shortcut that skips measuring for small work gives the comparison with the scaled
    threshold, at every size around each end of the range, for a measured scale and for one
    set with ``parallel_scale`` (outside the measured range too)."""
    _fake_wake(monkeypatch, wake)
    with ns.config.override(parallel_scale=given):
        for knob in ("oracle_parallel_min_elements", "laplacian_serial_max_elements"):
            t = _parallel.threshold(knob)
            base = ns.config.KNOBS[knob].default
            sizes = {0, 1, int(t) - 1, int(t), int(t) + 1, base // 10, base // 4 - 1, base // 4, base - 1, base,
                     8 * base - 1, 8 * base, 10 * base, 1 << 40}
            for e in sorted(s for s in sizes if s >= 0):
                assert _parallel.below_threshold(e, knob) == (e < t), (knob, e, t)


def test_small_work_never_measures(measured, monkeypatch):
    """Work below the smallest scaled threshold answers serial without measuring the machine
    (no thread launched for a small problem)."""
    def fail():
        raise AssertionError("measured")

    monkeypatch.setattr(_parallel, "_measure_wake", fail)
    base = ns.config.KNOBS["oracle_parallel_min_elements"].default
    assert _parallel.below_threshold(int(base * _parallel.SCALE_RANGE[0]) - 1, "oracle_parallel_min_elements")
    assert not _parallel.below_threshold(int(base * _parallel.SCALE_RANGE[1]), "oracle_parallel_min_elements")


def test_the_cache_file_keeps_the_measurement(measured, monkeypatch):
    calls = []
    monkeypatch.setattr(_parallel, "_measure_wake", lambda: calls.append(1) or 120e-6)
    assert _parallel.wake_cost() == 120e-6 and _parallel.machine_scale() == pytest.approx(1.5)
    path = measured / "numsmooth" / "parallel.json"
    entries = json.loads(path.read_text())
    assert entries[_parallel._machine_key()]["wake_seconds"] == 120e-6
    # a new process (the module's memory cleared) reads it instead of measuring
    monkeypatch.setattr(_parallel, "_wake", None)
    monkeypatch.setattr(_parallel, "_scale", None)
    assert _parallel.wake_cost() == 120e-6 and calls == [1]
    assert [p.name for p in path.parent.iterdir()] == ["parallel.json"]  # no temporary file left


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"KEY": {"wake_seconds": -1}}',
                                     '{"KEY": {"wake_seconds": "fast"}}', '{"KEY": 3}'])
def test_a_damaged_cache_file_is_measured_again(measured, monkeypatch, content):
    path = measured / "numsmooth" / "parallel.json"
    path.parent.mkdir(parents=True)
    path.write_text(content.replace("KEY", _parallel._machine_key()))
    monkeypatch.setattr(_parallel, "_measure_wake", lambda: 100e-6)
    assert _parallel.wake_cost() == 100e-6
    assert json.loads(path.read_text())[_parallel._machine_key()]["wake_seconds"] == 100e-6


def test_an_unwritable_cache_is_measured_in_memory(measured, monkeypatch):
    (measured / "numsmooth").write_text("a file where the folder should be")
    monkeypatch.setattr(_parallel, "_measure_wake", lambda: 160e-6)
    assert _parallel.machine_scale() == pytest.approx(2.0)


def test_a_busy_machine_is_not_measured_and_keeps_the_defaults(measured, monkeypatch):
    """Another runnable process: no measurement, scale 1 and no cache file; tried again only
    after a pause (not on every kernel call)."""
    monkeypatch.setattr(_parallel, "_runnable_tasks", lambda: 1 + _parallel._CORES)
    assert _parallel._measure_wake() is None
    assert _parallel.wake_cost() is None and _parallel.machine_scale() == 1.0
    assert not (measured / "numsmooth" / "parallel.json").exists()
    monkeypatch.setattr(_parallel, "_runnable_tasks", lambda: 1)
    calls = []
    monkeypatch.setattr(_parallel, "_measure_wake", lambda: calls.append(1) or 80e-6)
    assert _parallel.machine_scale() == 1.0 and calls == []  # within the pause
    monkeypatch.setattr(_parallel, "_next_try", -1e300)
    assert _parallel.machine_scale() == 1.0 and calls == [1]


@pytest.mark.skipif(not JIT or _parallel._user_tuned, reason="measures Numba's threads (not without the JIT or "
                    "with the user's own threading settings)")
def test_a_new_process_measures_once_and_the_next_reads_the_file(tmp_path):
    """Real processes, as users start them: the first measures (the machine reported idle, so
    that a busy test machine does not skip it) and writes the file; the second only reads it."""
    script = textwrap.dedent("""
        import json, sys
        from numsmooth import _parallel
        _parallel._runnable_tasks = lambda: 1
        measure = _parallel._measure_wake
        calls = []
        _parallel._measure_wake = lambda: calls.append(1) or measure()
        w = _parallel.wake_cost()
        print(json.dumps({"wake": w, "scale": _parallel.machine_scale(), "measured": len(calls)}))
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "NUMSMOOTH_PARALLEL_SCALE": "0"}
    for name in _parallel._USER_SETTINGS:  # as from a fresh shell (this process set the wait policy itself)
        env.pop(name, None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                      check=True, timeout=300).stdout) for _ in range(2)]
    first, second = runs
    assert first["measured"] == 1 and second["measured"] == 0
    assert 0 < first["wake"] < 0.1 and second["wake"] == first["wake"]
    lo, hi = _parallel.SCALE_RANGE
    assert first["scale"] == pytest.approx(min(hi, max(lo, first["wake"] / _parallel.REFERENCE_WAKE)))
