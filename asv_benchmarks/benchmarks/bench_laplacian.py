"""asv benchmarks of Laplacian smoothing (ns.laplacian_smooth, ns.LaplacianSmoothing)."""

import numpy as np

import numsmooth as ns
from numsmooth import laplacian as _lap
from numsmooth.laplacian import LaplacianSmoothing, laplacian_smooth


def _warm(method, order, dtype=np.float64):
    """Compile the kernels / build small plans outside the timed region."""
    x = np.random.default_rng(0).standard_normal((5, 2**14)).astype(dtype)
    laplacian_smooth(x, 1.0, order=order, method=method)
    laplacian_smooth(x[0], 1.0, order=order, method=method)


class LaplacianLine:
    """One long line, float64, sigma = 1."""

    params = ([2**10, 2**14, 2**18, 2**20, 2**22, 2**24], ["auto", "recursive", "fft"])
    param_names = ["n", "method"]
    timeout = 300

    def setup(self, n, method):
        self.g = np.random.default_rng(0).standard_normal(n)
        self.out = np.empty_like(self.g)
        _warm(method, 1)
        laplacian_smooth(self.g, 1.0, method=method, out=self.out)  # plans for this size

    def time_smooth(self, n, method):
        laplacian_smooth(self.g, 1.0, method=method, out=self.out)

    def time_copy_baseline(self, n, method):
        np.copyto(self.out, self.g)

    def peakmem_smooth(self, n, method):
        laplacian_smooth(self.g, 1.0, method=method)


class LaplacianOrder:
    """Higher orders and fractional powers (FFT path)."""

    params = ([2**14, 2**20], [1, 2, 3], [1.0, 0.5])
    param_names = ["n", "order", "power"]
    timeout = 300

    def setup(self, n, order, power):
        self.g = np.random.default_rng(0).standard_normal(n)
        self.out = np.empty_like(self.g)
        _warm("fft", order)
        laplacian_smooth(self.g, 1.0, order=order, power=power, out=self.out)

    def time_smooth(self, n, order, power):
        laplacian_smooth(self.g, 1.0, order=order, power=power, out=self.out)


class LaplacianBatch:
    """2-D batches of lines along the last axis and along axis 0."""

    params = ([(1000, 100), (100, 10_000), (16, 2**16)], ["recursive", "fft"], [-1, 0])
    param_names = ["shape", "method", "axis"]
    timeout = 300

    def setup(self, shape, method, axis):
        self.g = np.random.default_rng(0).standard_normal(shape)
        self.out = np.empty_like(self.g)
        _warm(method, 1)
        laplacian_smooth(self.g, 1.0, method=method, axis=axis, out=self.out)

    def time_smooth(self, shape, method, axis):
        laplacian_smooth(self.g, 1.0, method=method, axis=axis, out=self.out)


class LaplacianFloat32:
    """float32 input (float32 kernel specialisation and single-precision plans)."""

    params = ([2**14, 2**20], ["recursive", "fft"])
    param_names = ["n", "method"]
    timeout = 300

    def setup(self, n, method):
        self.g = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        self.out = np.empty_like(self.g)
        _warm(method, 1, np.float32)
        laplacian_smooth(self.g, 1.0, method=method, out=self.out)

    def time_smooth(self, n, method):
        laplacian_smooth(self.g, 1.0, method=method, out=self.out)


class LaplacianSerialKernel:
    """The recursive solve's serial kernel (what a busy machine, and every size below 2^19, gets)
    against np.copyto of the same array, both dtypes, one line and a batch of rows."""

    params = ([(2**16,), (2**20,), (64, 2**14)], ["float32", "float64"])
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        self.g = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        self.out = np.empty_like(self.g)
        self.knobs = ns.config.override(laplacian_serial_max_elements=1 << 62)
        self.knobs.__enter__()
        laplacian_smooth(self.g, 1.0, out=self.out)

    def teardown(self, shape, dtype):
        self.knobs.__exit__(None, None, None)

    def time_smooth(self, shape, dtype):
        laplacian_smooth(self.g, 1.0, out=self.out)

    def time_copy_baseline(self, shape, dtype):
        np.copyto(self.out, self.g)


class LaplacianModuleStep:
    """One optimizer step of LaplacianSmoothing + LR on an MLP-like parameter list."""

    params = ([True, False], ["update", "grad"])
    param_names = ["layerwise", "target"]
    timeout = 300

    def setup(self, layerwise, target):
        rng = np.random.default_rng(0)
        shapes = [(256, 784), (256,), (128, 256), (128,), (10, 128), (10,)]
        self.params_ = [rng.standard_normal(s) for s in shapes]
        self.grads = [rng.standard_normal(s) for s in shapes]
        self.opt = ns.Optimizer(self.params_, LaplacianSmoothing(1.0, layerwise=layerwise, target=target),
                                ns.LR(1e-3))
        self.fun = lambda p: (0.0, self.grads)
        self.opt.step(self.fun)

    def time_step(self, layerwise, target):
        self.opt.step(self.fun)


class LaplacianFirstCall:
    """Planning cost of a new size (FFTW_ESTIMATE) -- compile time excluded by the warm-up."""

    params = [2**12 + 1, 2**20 + 1]
    param_names = ["n"]
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self, n):
        _warm("fft", 2)
        _lap._plan_cache.clear()  # every timed call plans afresh
        _lap._denom_cache.clear()
        self.g = np.random.default_rng(0).standard_normal(n)

    def time_first_call(self, n):
        laplacian_smooth(self.g, 1.0, order=2, method="fft")
