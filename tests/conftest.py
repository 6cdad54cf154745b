"""Test-session settings shared by every test module."""

import os
import signal

# The parallel thresholds as written, in this process and the ones the tests start: tests that
# check which kernels run at which size must not depend on this machine's measured wake-up cost
# (tests/test_parallel_scale.py measures it, with this setting off).
os.environ.setdefault("NUMSMOOTH_PARALLEL_SCALE", "1")

import numba
import pytest
from hypothesis import settings

# The suite is deterministic: every Hypothesis test draws the same examples on every run (cases
# it once found are kept as explicit @example). `--hypothesis-profile=explore` draws fresh random
# examples, e.g. with `--hypothesis-seed=N`, to look for new failures.
settings.register_profile("numsmooth", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("numsmooth")


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_as_from_a_terminal():
    """Ctrl-C raises KeyboardInterrupt here and in the processes the tests start, as in a terminal.

    A shell that starts pytest in the background (``pytest &`` in a script, ``nohup``) sets SIGINT
    to "ignored", which child processes inherit and Python then leaves alone; the interrupt tests
    would send signals nobody hears.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def pytest_collection_modifyitems(config, items):
    if numba.config.DISABLE_JIT:
        # Without the JIT the counter-based generator runs on NumPy uint64 scalars, whose
        # arithmetic wraps modulo 2**64 as the hash intends but warns about it.
        mark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
        for item in items:
            item.add_marker(mark)


@pytest.fixture
def threads():
    """Run a function under 1 and then 2 Numba threads; restores the thread count."""
    old = numba.get_num_threads()

    def run(fn):
        res = []
        for nt in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(nt)
            res.append(fn())
        return res

    yield run
    numba.set_num_threads(old)


@pytest.fixture
def knobs():
    """``knobs(name=value, ...)`` changes numsmooth.config knobs for one test; all are restored."""
    from numsmooth import config

    saved = {name: entry["value"] for name, entry in config.describe().items()}
    yield config.set
    config.set(**saved)
