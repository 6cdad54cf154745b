"""Executor-backed evaluation: a process pool and a real ``dask.distributed`` LocalCluster.

Every oracle here is defined at module level, so it pickles to the workers by reference (the
workers are spawned and import this module from the same ``sys.path``). Results must be
bit-identical to the serial run, in sample order; a failure in a worker must surface as
``ns.OracleError`` naming the samples, with the optimizer's state untouched.
"""

import concurrent.futures as cf
import logging
import math
import multiprocessing
import os
import warnings

import numba
import numpy as np
import pytest

import numsmooth as ns
from numsmooth import config
from numsmooth.oracles import default_chunksize

D = 7
N = 29  # with include_x0: 28 perturbed points, not a multiple of the chunk sizes below
RASTRIGIN = ns.problems.get("rastrigin").fun  # a Numba dispatcher from numsmooth._kernels


def point_oracle(x):
    """Per-point: a smooth-plus-kink function, in float64."""
    f = float(np.sum(x**4 - 3 * x**2) + np.abs(x).sum())
    return f, 4 * x**3 - 6 * x + np.sign(x)


def _batched(X):
    return np.sum(X**4 - 3 * X**2, axis=1) + np.abs(X).sum(axis=1), 4 * X**3 - 6 * X + np.sign(X)


batched_oracle = ns.batched(_batched)


@numba.njit
def jitted_oracle(x, g):
    f = 0.0
    for i in range(x.shape[0]):
        f += x[i] ** 4 - 3 * x[i] ** 2 + abs(x[i])
        g[i] = 4 * x[i] ** 3 - 6 * x[i] + np.sign(x[i])
    return f


def failing_oracle(x):
    """Raises at the points whose first coordinate is beyond 50 (set up by the perturbations)."""
    if x[0] > 50:
        raise ValueError("simulation diverged")
    return point_oracle(x)


def dying_oracle(x):
    """Kills the worker process at the marked point."""
    if x[0] > 50:
        os._exit(3)
    return point_oracle(x)


ORACLES = {"point": point_oracle, "batched": batched_oracle, "jitted": jitted_oracle,
           "problem-jitted": RASTRIGIN}


def x0():
    return np.linspace(-1.3, 1.1, D)


def poisoned_perturbations(bad_row, m=N - 1):
    U = np.random.default_rng(5).standard_normal((m, D))
    U[bad_row, 0] = 1e3
    return U


@pytest.fixture(scope="module")
def process_pool():
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_executor():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module", params=["process-pool", pytest.param("dask", marks=pytest.mark.slow)])
def executor(request):
    return request.getfixturevalue("process_pool" if request.param == "process-pool" else "dask_executor")


def same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kind", list(ORACLES))
@pytest.mark.parametrize("chunksize", [None, 5])
def test_smoothed_bit_identical(executor, kind, chunksize):
    fun = ORACLES[kind]
    kw = dict(sigma=0.7, n=N, seed=11, aggregate="mean")
    serial = ns.smoothed(fun, **kw)
    remote = ns.smoothed(fun, executor=executor, chunksize=chunksize, **kw)
    for x in (x0(), -0.5 * x0()):
        f0, g0 = serial(x)
        f1, g1 = remote(x)
        assert f1 == f0 and same(g1, g0)
    assert remote.num_evaluations == serial.num_evaluations == 2 * N


def test_results_in_sample_order(executor):
    # "min-value" and "min-norm" pick one sample: a permutation of the chunks would show
    for agg in ("min-value", "min-norm", "max"):
        serial = ns.smoothed(point_oracle, sigma=1.5, n=N, seed=3, aggregate=agg)
        remote = ns.smoothed(point_oracle, sigma=1.5, n=N, seed=3, aggregate=agg, executor=executor,
                             chunksize=3)
        f0, g0 = serial(x0())
        f1, g1 = remote(x0())
        assert f1 == f0 and same(g1, g0)


@pytest.mark.parametrize("kind", ["point", "jitted"])
def test_gradient_sampling_bit_identical(executor, kind):
    fun = ORACLES[kind]

    def run(ex):
        gs = ns.GradientSampling([ns.LR(0.01)], sigma=0.5, n=N, seed=2, sigma_strategy="grad-norm",
                                 executor=ex)
        opt = ns.Optimizer(x0(), gs)
        losses = [opt.step(fun) for _ in range(3)]
        return opt, gs, losses

    opt0, gs0, l0 = run(None)
    opt1, gs1, l1 = run(executor)
    assert same(opt1.x, opt0.x) and l1 == l0 and gs1.sigma == gs0.sigma
    assert opt1.num_evaluations == opt0.num_evaluations == 3 * N


def test_list_of_parameters(executor):
    # per-point oracles receive the user's shapes on the workers too
    shapes = [(2, 3), (4,)]
    params = [np.arange(6.0).reshape(shapes[0]) / 7, np.linspace(-1, 1, 4)]

    def run(ex):
        opt = ns.Optimizer(params, ns.GradientSampling(None, sigma=0.3, n=9, include_x0=False, seed=4,
                                                       executor=ex), ns.LR(0.05))
        for _ in range(2):
            opt.step(list_oracle)
        return opt.x.copy()

    assert same(run(executor), run(None))


def list_oracle(params):
    w, b = params
    assert w.shape == (2, 3) and b.shape == (4,)
    return float((w**2).sum() + np.abs(b).sum()), [2 * w, np.sign(b)]


def test_worker_failure_names_sample_and_keeps_state(executor):
    bad = 17  # perturbed row 17 is sample 18 (x0 is sample 0)
    gs = ns.GradientSampling([ns.LR(0.01)], sigma=0.5, n=N, distribution=poisoned_perturbations(bad),
                             executor=executor, chunksize=4)
    opt = ns.Optimizer(x0(), gs)
    x_before, state_before = opt.x.copy(), gs.state_dict()
    with pytest.raises(ns.OracleError, match=r"ValueError: simulation diverged at sample 18"):
        opt.step(failing_oracle)
    assert same(opt.x, x_before)
    assert repr(gs.state_dict()) == repr(state_before)
    assert gs.sigma == 0.5 and opt.num_steps == 0

    obj = ns.smoothed(failing_oracle, sigma=0.5, n=N, distribution=poisoned_perturbations(bad),
                      executor=executor)
    with pytest.raises(ns.OracleError, match="sample 18"):
        obj(x0())


def test_bad_result_in_worker(executor):
    obj = ns.smoothed(bad_shape_oracle, sigma=0.5, n=6, seed=0, executor=executor, chunksize=2, include_x0=False)
    with pytest.raises(ns.OracleError, match="sample 0"):
        obj(x0())
    # the x0 term, evaluated first, is named as the point itself
    obj = ns.smoothed(bad_shape_oracle, sigma=0.5, n=6, seed=0, executor=executor, chunksize=2)
    with pytest.raises(ns.OracleError, match="at x = "):
        obj(x0())


def bad_shape_oracle(x):
    return float(x @ x), np.zeros(x.size + 1)


@pytest.mark.slow
def test_dead_worker_names_sample_range():
    # a worker that dies takes the pool with it: a private pool
    U = poisoned_perturbations(9, m=12)
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        opt = ns.Optimizer(x0(), ns.GradientSampling([ns.LR(0.1)], n=13, distribution=U, executor=pool,
                                                     chunksize=4))
        with pytest.raises(ns.OracleError, match=r"worker failed with BrokenProcessPool.*samples \d+\.\.\d+"):
            opt.step(dying_oracle)
        assert same(opt.x, x0()) and opt.num_steps == 0


def test_unpicklable_oracle_is_explained(process_pool):
    obj = ns.smoothed(lambda x: point_oracle(x), sigma=0.5, n=5, seed=0, executor=process_pool)
    with pytest.raises(ns.OracleError, match="module level"):
        obj(x0())


def test_default_chunksize():
    class NoSize(cf.Executor):
        pass

    assert default_chunksize(NoSize(), 100) == math.ceil(100 / config.get("default_tasks")) == 13
    assert default_chunksize(NoSize(), 3) == 1
    with cf.ThreadPoolExecutor(5) as pool:
        assert default_chunksize(pool, 100) == 5  # 4 tasks per worker
    with pytest.raises(TypeError, match="Executor"):
        ns.smoothed(point_oracle, executor="dask")
    with pytest.raises(ValueError, match="chunksize"):
        ns.smoothed(point_oracle, executor=cf.ThreadPoolExecutor(1), chunksize=0)


def test_thread_pool_bit_identical():
    # any concurrent.futures.Executor works, threads too
    with cf.ThreadPoolExecutor(2) as pool:
        for fun in (point_oracle, jitted_oracle):
            f0, g0 = ns.smoothed(fun, sigma=0.4, n=N, seed=8)(x0())
            f1, g1 = ns.smoothed(fun, sigma=0.4, n=N, seed=8, executor=pool, chunksize=7)(x0())
            assert f1 == f0 and same(g1, g0)
