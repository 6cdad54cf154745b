"""Fresh processes sharing one on-disk Numba cache must not crash, whatever the order.

Regression test for a SIGSEGV: a serial kernel that called a parallel one, compiled in a
process that had loaded the parallel callee from the cache, was cached without Numba's
thread-launch hook; the next process that loaded it first entered a parallel region whose
threading layer was never launched (see ``numsmooth/_parallel.py``). Each sequence below runs
``_cache_scenarios.py`` in fresh processes with a fresh shared ``NUMBA_CACHE_DIR``.
"""

import inspect
import os
import pathlib
import signal
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import numsmooth
from numsmooth._kernels import aggregate, hull, laplacian, modules, oracles, problems, rng
from numsmooth._kernels.twins import Twin

HERE = pathlib.Path(__file__).resolve().parent
ROOT = pathlib.Path(numsmooth.__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs the JIT and its cache")


def run_sequence(names, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMSMOOTH_SCENARIO_OUT=str(cache_dir.parent),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for i, name in enumerate(names):
        proc = subprocess.run([sys.executable, "-W", "ignore", str(HERE / "_cache_scenarios.py"), name],
                              env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            how = (f"signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                   else f"exit code {proc.returncode}")
            pytest.fail(f"process {i + 1} of {names} ({name!r}) died with {how}:\n{proc.stderr[-3000:]}")
        assert proc.stdout.strip().endswith("ok")


@pytest.mark.slow
@pytest.mark.parametrize("names", [
    ("A", "B", "B"),              # the reported sequence: tiny aggregates, then a large step twice
    ("B", "A", "B"),
    ("large", "small", "large"),  # aggregates, streaming, jitted oracle and draws, large first
], ids="-".join)
def test_process_sequence_sharing_a_cache(names, tmp_path):
    run_sequence(names, tmp_path / "numba-cache")


@pytest.mark.slow
@pytest.mark.parametrize("names", [("lap-serial", "lap-parallel"), ("lap-parallel", "lap-serial")],
                         ids="-".join)
def test_serial_and_parallel_laplacian_agree_across_processes(names, tmp_path):
    # One kernel compiled here, the other loaded from the cache another process wrote: with
    # LLVM free to choose which product to fuse into an FMA, these once differed in the last bit.
    run_sequence(names, tmp_path / "numba-cache")
    for kind in ("laplacian", "laplacian32"):
        serial, parallel = (np.load(tmp_path / f"{kind}-{n}.npy") for n in ("serial", "parallel"))
        assert np.array_equal(serial, parallel)


def _as_called(target):
    """What jitted code that names ``target`` calls: a kernel twin is typed as one of its
    dispatchers (its serial one, see numsmooth/_kernels/twins.py)."""
    return numba.typeof(target).dispatcher if isinstance(target, Twin) else target


def _is_parallel(target):
    target = _as_called(target)
    return isinstance(target, CPUDispatcher) and bool(target.targetoptions.get("parallel"))


def _parallel_dispatchers_called(func):
    """Parallel dispatchers that the Python source of ``func`` refers to (globals and closure)."""
    py = func.py_func
    found = []
    names = set(py.__code__.co_names)
    for const in py.__code__.co_consts:
        if inspect.iscode(const):
            names.update(const.co_names)
    for name in names:
        if _is_parallel(py.__globals__.get(name)):
            found.append(name)
    for cell in py.__closure__ or ():
        if _is_parallel(cell.cell_contents):
            found.append(getattr(cell.cell_contents, "__name__", "?"))
    return found


def _jitted(namespace):
    """name -> every dispatcher in ``namespace`` (both sides of each kernel twin)."""
    out = {}
    for name, obj in namespace.items():
        if isinstance(obj, CPUDispatcher):
            out[name] = obj
        elif isinstance(obj, Twin):
            out[name] = obj.serial
            out[name + " (parallel)"] = obj.parallel
    return out


@pytest.mark.parametrize("module", [aggregate, rng, problems, laplacian, hull, modules],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_jitted_function_calls_a_parallel_one(module):
    found = _jitted(vars(module))
    assert any(name.endswith("(parallel)") for name in found) or module is problems  # twins seen
    bad = {name: called for name, obj in found.items() if (called := _parallel_dispatchers_called(obj))}
    assert not bad, f"jitted functions calling parallel=True ones (choose in Python instead): {bad}"


def test_a_twin_named_in_jitted_code_is_its_serial_kernel():
    # the rule above by construction: what would break it is a twin typed as its parallel side
    for module in (aggregate, rng, laplacian, hull, modules):
        for name, obj in vars(module).items():
            if isinstance(obj, Twin):
                assert _as_called(obj) is obj.serial and not _is_parallel(obj), name
                assert obj.parallel.targetoptions.get("parallel"), name


def test_no_oracle_kernel_calls_a_parallel_one():
    @numba.njit(parallel=True)
    def par_oracle(x, g):
        g[:] = 2 * x
        return (x * x).sum()

    kernels = oracles.kernels_for(par_oracle)
    # the user's oracle is the only parallel function they may call; none calls another kernel
    for name, k in _jitted(vars(kernels)).items():
        assert [c for c in _parallel_dispatchers_called(k) if c != "par_oracle"] == [], name
