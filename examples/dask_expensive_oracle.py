"""An expensive oracle evaluated on a Dask cluster: ``executor=client.get_executor()``.

The objective is the largest eigenvalue of an affine symmetric matrix function,

    f(x) = lambda_max(A_0 + x_1 A_1 + ... + x_d A_d),   grad f(x)_i = v^T A_i v,

(v the unit top eigenvector), a classic nonsmooth problem: f has kinks wherever the top
eigenvalue is multiple, which is exactly where its minimizers lie. One evaluation is a dense
symmetric eigendecomposition of an N x N matrix -- about ten milliseconds for N = 300 -- so the n
points of a smoothed step are worth spreading over worker processes.

The pattern:
- the oracle is a picklable object (a module-level function or class instance); here it builds
  its matrices lazily from a seed on each worker instead of shipping them with every task;
- ``ns.smoothed(..., executor=ex)`` or ``ns.GradientSampling(..., executor=ex)`` sends the
  points in chunks (``chunksize=``; default ceil(n / 8) for a Dask executor, about four tasks
  per worker for a ``concurrent.futures`` pool) and gathers the results in sample order, so
  the numbers are bit-identical to the serial run;
- an exception in a worker comes back as ``ns.OracleError`` naming the sample, and an
  ``Optimizer`` leaves ``x`` and its state as they were before the step.

Needs the ``distributed`` extra: ``pip install numsmooth[distributed]``.
Run: python examples/dask_expensive_oracle.py   (the __main__ guard is required: workers are
spawned processes).
"""

import logging
import os
import time

# One BLAS thread per process, here and (inherited) on the workers: a multithreaded LAPACK may
# round differently with a different thread count, and then serial and distributed runs would
# differ in the last bits because of the oracle itself, not because of numsmooth.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import numsmooth as ns  # noqa: E402


class MaxEigenvalue:
    """f(x) = lambda_max(A_0 + sum_i x_i A_i) with random symmetric A_i (built lazily per process)."""

    def __init__(self, N: int = 300, d: int = 8, seed: int = 0):
        self.N, self.d, self.seed = N, d, seed
        self._A = None

    def __getstate__(self):
        return {"N": self.N, "d": self.d, "seed": self.seed, "_A": None}  # ship 3 ints, not the matrices

    def matrices(self) -> np.ndarray:
        if self._A is None:
            rng = np.random.default_rng(self.seed)
            B = rng.standard_normal((self.d + 1, self.N, self.N)) / np.sqrt(self.N)
            self._A = (B + B.transpose(0, 2, 1)) / 2
        return self._A

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        A = self.matrices()
        M = A[0] + np.tensordot(x, A[1:], axes=1)
        w, V = np.linalg.eigh(M)
        v = V[:, -1]
        return float(w[-1]), np.einsum("i,kij,j->k", v, A[1:], v)


def main() -> None:
    from dask.distributed import Client, LocalCluster

    oracle = MaxEigenvalue()
    x0 = np.zeros(oracle.d)
    kw = dict(sigma=0.05, n=32, seed=0, include_x0=True)

    t = time.perf_counter()
    f_serial, g_serial = ns.smoothed(oracle, **kw)(x0)
    t_serial = time.perf_counter() - t

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        executor = client.get_executor()
        obj = ns.smoothed(oracle, executor=executor, **kw)
        obj(x0)  # first call: the workers build their matrices
        t = time.perf_counter()
        f, g = obj(x0)
        t_dask = time.perf_counter() - t
        assert f == f_serial and np.array_equal(g, g_serial)  # bit-identical to the serial run
        print(f"one smoothed evaluation ({kw['n']} eigendecompositions): serial {t_serial:.2f} s, "
              f"dask (2 workers) {t_dask:.2f} s, identical results")

        # Gradient sampling with the min-norm element of the convex hull of the sampled
        # gradients (Burke, Lewis & Overton), the points evaluated on the cluster.
        gs = ns.GradientSampling([ns.Backtracking()], sigma=0.05, n=32, aggregate="min-norm-hull",
                                 seed=1, executor=executor,
                                 termination=ns.TerminateAfterNSteps(10), decay=0.5)
        res = ns.minimize(oracle, x0, gs, maxiter=12)
        print(f"lambda_max: {oracle(x0)[0]:.6f} at x0 -> {res.fun:.6f} after {res.nit} steps "
              f"({res.nfev} eigendecompositions, final sigma {gs.sigma:.3g})")


if __name__ == "__main__":
    main()
