"""Process pools of every start method: bit-identical to the serial run, never killed.

On Linux a default ``ProcessPoolExecutor`` forks. GNU OpenMP kills a forked child that enters a
parallel region once the parent has launched Numba's threads, so numsmooth runs only serial
kernels in forked children (same bits) and refuses, with a message, a user oracle compiled
with ``parallel=True`` there.
"""

import concurrent.futures as cf
import multiprocessing
import os
import pathlib
import sys

import numba
import numpy as np
import pytest

import numsmooth as ns
from numsmooth import _parallel

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _pool_oracles as po  # noqa: E402

ORACLES = {"jitted": po.jitted, "point": po.point, "batched": po.make_batched()}
D, N = 300, 64  # 63 x 300 perturbed elements: above the thresholds forced below


@pytest.fixture(autouse=True)
def parallel_kernels_everywhere():
    # the parent runs parallel kernels even on tiny work, so its threads are launched before
    # the pools fork: the case that used to kill the workers
    with ns.config.override(parallel_min_elements=1, reduce_parallel_min_elements=1,
                            oracle_parallel_min_elements=1, load_check_seconds=0):
        yield


def x0():
    return np.linspace(-1.3, 1.1, D)


def run_smoothed(fun, executor):
    obj = ns.smoothed(fun, sigma=0.7, n=N, seed=11, executor=executor, chunksize=16)
    return [obj(x) for x in (x0(), -0.5 * x0())]


def run_steps(fun, executor):
    opt = ns.Optimizer(x0(), ns.GradientSampling([ns.LR(0.01)], sigma=0.5, n=N, seed=2, executor=executor))
    return [opt.step(fun) for _ in range(2)], opt.x.copy()


def same(a, b):
    return repr(a) == repr(b) if not isinstance(a, np.ndarray) else np.array_equal(a, b)


def assert_same(r0, r1):
    for (f0, g0), (f1, g1) in zip(r0, r1):
        assert f1 == f0 and np.array_equal(g1, g0)


@pytest.fixture(scope="module", params=["fork", "forkserver", "spawn"])
def pool(request):
    if request.param not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {request.param} start method here")
    ns.smoothed(po.jitted, sigma=0.7, n=N, seed=0)(x0())  # the parent runs parallel kernels first
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(request.param)) as ex:
        yield ex


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(ORACLES))
def test_pool_bit_identical(pool, kind):
    fun = ORACLES[kind]
    assert_same(run_smoothed(fun, pool), run_smoothed(fun, None))
    (l0, x_0), (l1, x_1) = run_steps(fun, None), run_steps(fun, pool)
    assert l1 == l0 and np.array_equal(x_1, x_0)


def _child_state():
    return _parallel.in_forked_child(), _parallel.use_parallel(1 << 40)


def test_forked_child_runs_serial_kernels():
    ctx = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        assert ex.submit(_child_state).result() == (True, False)
    assert _child_state() == (False, True)


@pytest.mark.slow
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="without the JIT no thread pool is launched to inherit")
def test_parallel_user_oracle_in_forked_child_is_refused():
    ns.smoothed(po.jitted_parallel, sigma=0.7, n=N, seed=0)(x0())  # threads launched here
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as ex:
        with pytest.raises(ns.OracleError, match="parallel=True.*spawn"):
            ns.smoothed(po.jitted_parallel, sigma=0.7, n=N, seed=0, executor=ex)(x0())
    # and it works with spawn, with the same bits
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        assert_same(run_smoothed(po.jitted_parallel, ex), run_smoothed(po.jitted_parallel, None))


@pytest.mark.slow
def test_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            ex = client.get_executor()
            for fun in (po.jitted, po.point):
                assert_same(run_smoothed(fun, ex), run_smoothed(fun, None))
