"""asv benchmarks of the gradient-sampling kernels: perturbation draws, aggregation, hull QP."""

import numpy as np

from numsmooth._kernels import aggregate as _agg
from numsmooth._kernels import hull as _hull
from numsmooth._kernels import rng as _rng
from numsmooth.perturbations import draw_perturbations

_U0 = np.uint64(0)
_KEY = np.uint64(12345)


class PerturbationDraw:
    """Drawing an (m, d) block: the counter-based kernels against NumPy's Generator."""

    params = ([(100, 1000), (1000, 1000), (100, 100_000)], ["normal", "uniform", "rademacher"])
    param_names = ["shape", "kind"]

    def setup(self, shape, kind):
        self.out = np.empty(shape)
        self.fill = {"normal": _rng.fill_normal, "uniform": _rng.fill_uniform,
                     "rademacher": _rng.fill_rademacher}[kind]
        self.fill(_KEY, _U0, _U0, self.out)  # compile outside the timed region
        self.gen = np.random.default_rng(0)

    def time_kernel(self, shape, kind):
        self.fill(_KEY, _U0, _U0, self.out)

    def time_numpy_generator(self, shape, kind):
        # the baseline the kernels are meant to beat (>= 2x on 2 cores for normals)
        if kind == "normal":
            self.gen.standard_normal(out=self.out)
        elif kind == "uniform":
            self.gen.random(out=self.out)
        else:
            self.gen.integers(0, 2, size=self.out.shape)


class PerturbationDistribution:
    """`draw_perturbations` for every named distribution at (n, d) = (100, 10_000)."""

    params = ["gaussian", "uniform", "rademacher", "sphere", "ball", "orthogonal", "sobol"]
    param_names = ["distribution"]

    def setup(self, distribution):
        self.out = np.empty((100, 10_000))
        draw_perturbations(distribution, _KEY, 0, 100, 10_000, out=self.out)

    def time_draw(self, distribution):
        draw_perturbations(distribution, _KEY, 0, 100, 10_000, out=self.out)

    def time_draw_antithetic(self, distribution):
        draw_perturbations(distribution, _KEY, 0, 100, 10_000, antithetic=True, out=self.out)


class Aggregation:
    """Batch aggregation of n sampled gradients of dimension d (10% non-finite values)."""

    params = ([10, 100, 1000], [100, 10_000, 1_000_000], ["mean", "max", "min", "min-norm", "min-value"])
    param_names = ["n", "d", "aggregate"]
    timeout = 300
    _codes = {"mean": _agg.MEAN, "max": _agg.MAX, "min": _agg.MIN, "min-norm": _agg.MIN_NORM,
              "min-value": _agg.MIN_VALUE}

    def setup(self, n, d, aggregate):
        if n * d > 100_000_000:  # 800 MB of gradients: skip rather than swap
            raise NotImplementedError
        r = np.random.default_rng(0)
        self.F = r.standard_normal(n)
        self.F[::10] = np.nan
        self.G = r.standard_normal((n, d))
        self.out = np.empty(d)
        self.code = self._codes[aggregate]
        _agg.aggregate(self.code, self.F, self.G, self.out)

    def time_aggregate(self, n, d, aggregate):
        _agg.aggregate(self.code, self.F, self.G, self.out)

    def time_streaming(self, n, d, aggregate):
        state = np.empty(_agg.STATE_SIZE)
        acc = np.empty(d)
        _agg.stream_init(state, acc)
        for k in range(n):
            _agg.stream_update(self.code, k, self.F[k], self.G[k], acc, state)
        _agg.stream_finalize(self.code, acc, state, self.out)


class HullQP:
    """Minimum-norm point of the convex hull of n gradients at d = 1000 (Wolfe's algorithm)."""

    params = [10, 50, 100, 200, 400]
    param_names = ["n"]

    def setup(self, n):
        r = np.random.default_rng(n)
        # Samples around a kink: two groups of gradients pointing roughly opposite ways, the
        # situation in which gradient sampling needs the QP.
        a = r.standard_normal(1000)
        sign = np.where(r.random((n, 1)) < 0.5, 1.0, -1.0)
        self.G = np.ascontiguousarray(sign * a + 0.3 * r.standard_normal((n, 1000)))
        self.w = np.empty(n)
        self.out = np.empty(1000)
        _hull.min_norm_hull(self.G, self.w, self.out, 1e-12, 100_000)

    def time_min_norm_hull(self, n):
        _hull.min_norm_hull(self.G, self.w, self.out, 1e-12, 100_000)

    def track_iterations(self, n):
        return _hull.min_norm_hull(self.G, self.w, self.out, 1e-12, 100_000)

    def track_relative_gap(self, n):
        _hull.min_norm_hull(self.G, self.w, self.out, 1e-12, 100_000)
        return _hull.hull_gap(self.G, self.out)
