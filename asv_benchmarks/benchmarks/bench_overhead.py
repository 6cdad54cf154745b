"""Overhead as ratios over a floor (``track_``), so a regression shows even when absolute times
drift with the machine's load or a faster kernel lands elsewhere.

- :class:`StepFloor`: one ``Optimizer.step`` of ``GradientSampling(None, sigma=0.1, n=100,
  seed=0)`` with the jitted Rosenbrock oracle and fixed perturbations, divided by the *floor*:
  the same 100 points ``X = [x; x + sigma * U]`` (prebuilt, ``U`` the step's own perturbations)
  through a plain ``numba.prange`` loop over the oracle (:func:`floor_kernel`);
  :class:`StepFloorFresh` the same with ``fixed=False``, over the floor plus the time the
  generator alone takes to draw the normals.
- :class:`PointwiseOverhead`: microseconds per evaluation that a step adds to a per-point
  Python oracle, by the type of the value it returns.
- :class:`LaplacianOverCopy`: ``laplacian_smooth(g, 1.0, out=out)`` over ``np.copyto(out, g)``.

Each ``track_`` times both sides itself: same process, same Numba threads, interleaved rounds,
median of the per-round ratios (see ``_timing.py``). ``compare.py`` prints the same quantities.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

import numsmooth as ns
from numsmooth.laplacian import laplacian_smooth
from numsmooth.perturbations import draw_perturbations, seed_to_key

try:  # imported as benchmarks.bench_overhead by asv, as bench_overhead by compare.py
    from . import _timing
except ImportError:  # pragma: no cover
    import _timing

ROSENBROCK = ns.problems.get("rosenbrock")
N = 100
SIGMA = 0.1
#: Interleaved rounds per track_ value, and the target length of one side of a round (seconds).
ROUNDS = 7
ROUND_TIME = 0.05


_GEN_KEY = seed_to_key(0)


def step_perturbations(gs, m: int, d: int, out: np.ndarray) -> None:
    """Write the current unscaled ``(m, d)`` perturbations of ``gs`` into ``out``.

    Drawn again from the sampler's counters when it exposes them (no second block is held:
    800 MB at d = 1e6), else copied from the public ``gs.perturbations``.
    """
    s = getattr(gs, "sampler", None)
    try:
        dist, key, stream = s.distribution, s.key, s.stream
    except AttributeError:
        out[...] = gs.perturbations
        return
    draw_perturbations(dist, key, stream, m, d, out=out)


# -- the floor ------------------------------------------------------------------------------------
_FLOORS: dict = {}
_SERIAL_FLOORS: dict = {}


def floor_kernel(fun):
    """``floor(X, F, G)``: ``F[i] = fun(X[i], G[i])`` for every row, a plain ``prange`` loop.

    Compiled once per oracle with ``fun`` a compile-time constant of the closure (as numsmooth's
    own oracle kernels are), so a call does not pay for typing a function argument.
    """
    k = _FLOORS.get(fun)
    if k is None:
        @njit(parallel=True)
        def floor(X, F, G):
            for i in prange(X.shape[0]):
                F[i] = fun(X[i], G[i])

        k = _FLOORS[fun] = floor
    return k


def serial_floor_kernel(fun):
    """`floor_kernel` on one thread: the floor of a step that runs serially (a busy machine,
    where numsmooth's switch turns its kernels serial)."""
    k = _SERIAL_FLOORS.get(fun)
    if k is None:
        @njit
        def floor(X, F, G):
            for i in range(X.shape[0]):
                F[i] = fun(X[i], G[i])

        k = _SERIAL_FLOORS[fun] = floor
    return k


class FloorCase:
    """A gradient-sampling step and its floor on the same ``n`` points.

    ``opt = Optimizer(x0, GradientSampling(None, sigma, n, aggregate, fixed=fixed, seed=0))``.
    The step moves ``x``; an untimed reset puts it back at ``x0`` before every timed step, so
    every step (with ``fixed=True``) evaluates exactly the points of ``X``. ``gen`` draws the
    ``(n - 1, d)`` normals a step with ``fixed=False`` needs (into a preallocated block).
    Memory: ``X`` and ``G`` are ``(n, d)`` float64 each (1.6 GB at d = 1e6, n = 100).
    """

    def __init__(self, d: int, aggregate: str = "mean", fixed: bool = True, n: int = N,
                 sigma: float = SIGMA, fun=None):
        self.d, self.n, self.fixed = d, n, fixed
        self.fun = fun = ROSENBROCK.fun if fun is None else fun
        self.x0 = ROSENBROCK.x0(d)
        self.gs = ns.GradientSampling(None, sigma=sigma, n=n, aggregate=aggregate, fixed=fixed, seed=0)
        self.opt = ns.Optimizer(self.x0, self.gs)
        for _ in range(2):  # JIT warm-up, first perturbations drawn
            self.reset()
            self.step()
        self.reset()
        # X = [x0; x0 + sigma * U] with U the step's current perturbations
        self.X = np.empty((n, d))
        self.X[0] = self.x0
        U = self.X[1:]
        step_perturbations(self.gs, n - 1, d, out=U)
        U *= sigma
        U += self.x0
        self.F = np.empty(n)
        self.G = np.empty((n, d))
        self.floor_fn = floor_kernel(fun)
        self.serial_floor_fn = serial_floor_kernel(fun)
        self.floor()
        self.serial_floor()
        # the normals are drawn into G's rows 1..n-1 (the floor overwrites them anyway), so
        # fixed=False at d = 1e6 does not hold a third 800 MB block
        self.gen_out = self.G[1:]
        if not fixed:
            self.gen()

    def reset(self) -> None:
        """Untimed, before every timed step: back to x0, so every step evaluates the same points."""
        try:
            self.opt.x = self.x0
        except AttributeError:  # commits before the public Optimizer.x setter
            self.opt._x[...] = self.x0

    def step(self) -> None:
        self.opt.step(self.fun)

    def floor(self) -> None:
        self.floor_fn(self.X, self.F, self.G)

    def serial_floor(self) -> None:
        self.serial_floor_fn(self.X, self.F, self.G)

    def gen(self) -> None:
        draw_perturbations("gaussian", _GEN_KEY, 1, self.n - 1, self.d, out=self.gen_out)

    def check(self) -> None:
        """With fixed=True the step evaluated exactly the points of X (checked bit for bit
        where the public ``gs.perturbations`` is cheap: it materialises the block)."""
        if self.fixed and self.d * self.n <= 1 << 20:
            P = self.x0 + self.gs.sigma * self.gs.perturbations
            assert np.array_equal(P, self.X[1:]), "floor points differ from the step's"

    def times(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME,
              serial: bool = False) -> list[list[float]]:
        """Per-round seconds of [step, floor] (and gen when fixed=False; and the serial floor last
        with ``serial=True``)."""
        cs = [_timing.Contender(self.step, self.reset), _timing.Contender(self.floor)]
        if not self.fixed:
            cs.append(_timing.Contender(self.gen))
        if serial:
            cs.append(_timing.Contender(self.serial_floor))
        t = _timing.interleave(cs, rounds, round_time)
        self.check()
        return t

    def ratio(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME) -> float:
        t = self.times(rounds, round_time)
        if self.fixed:
            return _timing.median_ratio(t[0], t[1])
        return _timing.median_ratio(t[0], [a + b for a, b in zip(t[1], t[2])])


# -- per-point oracle overhead ------------------------------------------------------------------
#: The value a per-point oracle returns, by type (the gradient is a float64 array).
VALUE_TYPES = {
    "float": 1.0,
    "float64": np.float64(1.0),
    "float32": np.float32(1.0),
    "0d-array": np.array(1.0),
}


def canned_oracle(value, g):
    """A per-point oracle that costs next to nothing: returns ``(value, g)`` precomputed."""
    def fun(x):
        return value, g

    return fun


class PointwiseCase:
    """(step with a per-point oracle - n plain calls of that oracle) / n, at dimension ``d``."""

    def __init__(self, kind: str, d: int = 1000, n: int = N, sigma: float = SIGMA):
        self.n = n
        self.fun = canned_oracle(VALUE_TYPES[kind], np.random.default_rng(0).standard_normal(d))
        self.x0 = np.zeros(d)
        self.opt = ns.Optimizer(self.x0, ns.GradientSampling(None, sigma=sigma, n=n, seed=0))
        self.X = np.zeros((n, d))
        for _ in range(2):
            self.step()

    def step(self) -> None:
        self.opt.step(self.fun)

    def loop(self) -> None:
        fun, X = self.fun, self.X
        for i in range(self.n):
            fun(X[i])

    def times(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME) -> list[list[float]]:
        return _timing.interleave([self.step, self.loop], rounds, round_time)

    def overhead(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME) -> float:
        """Seconds per evaluation (median over rounds)."""
        t = self.times(rounds, round_time)
        return _timing.median([(a - b) / self.n for a, b in zip(t[0], t[1])])


# -- Laplacian smoothing against a copy ---------------------------------------------------------
#: name -> shape: 1-D lines of 2^16, 2^20, 2^24 and a batch of 64 rows of 2^14 (smoothed along rows).
LAPLACIAN_SHAPES = {"2^16": (2**16,), "2^20": (2**20,), "2^24": (2**24,), "64x2^14": (64, 2**14)}


class LaplacianCase:
    def __init__(self, shape: str, dtype: str, sigma: float = 1.0):
        self.sigma = sigma
        self.g = np.random.default_rng(0).standard_normal(LAPLACIAN_SHAPES[shape]).astype(dtype)
        self.out = _timing.copy_pair(self.g)
        self.smooth()
        self.copy()

    def smooth(self) -> None:
        laplacian_smooth(self.g, self.sigma, out=self.out)

    def copy(self) -> None:
        np.copyto(self.out, self.g)

    def times(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME) -> list[list[float]]:
        return _timing.interleave([self.smooth, self.copy], rounds, round_time)

    def ratio(self, rounds: int = ROUNDS, round_time: float = ROUND_TIME) -> float:
        t = self.times(rounds, round_time)
        return _timing.median_ratio(t[0], t[1])


# -- benchmarks ------------------------------------------------------------------------------------
class StepFloor:
    """GS step (jitted Rosenbrock, n = 100, fixed perturbations) / floor. Target <= 1.25.

    d = 1e6 holds the 100 prebuilt points and their gradients (2 x 800 MB) for the floor.
    """

    params = ([1_000, 100_000, 1_000_000], ["mean", "max"])
    param_names = ["d", "aggregate"]
    timeout = 900

    def setup(self, d, aggregate):
        self.case = FloorCase(d, aggregate)

    def teardown(self, d, aggregate):
        del self.case

    def track_step_over_floor(self, d, aggregate):
        return self.case.ratio(ROUNDS if d < 1_000_000 else 5)

    track_step_over_floor.unit = "step / floor"


class StepFloorFresh:
    """GS step with ``fixed=False`` (fresh normals every step) / (floor + drawing the ``(n - 1,
    d)`` normals with the generator alone). Target <= 1.25."""

    params = ([1_000, 100_000], ["mean", "max"])
    param_names = ["d", "aggregate"]
    timeout = 600

    def setup(self, d, aggregate):
        self.case = FloorCase(d, aggregate, fixed=False)

    def teardown(self, d, aggregate):
        del self.case

    def track_step_over_floor_and_draw(self, d, aggregate):
        return self.case.ratio(ROUNDS)

    track_step_over_floor_and_draw.unit = "step / (floor + draw)"


class PointwiseOverhead:
    """Per-evaluation overhead of a per-point Python oracle at d = 1000, by value type
    (microseconds; target <= 2)."""

    params = list(VALUE_TYPES)
    param_names = ["value_type"]
    timeout = 300

    def setup(self, value_type):
        self.case = PointwiseCase(value_type)

    def track_overhead_per_eval(self, value_type):
        return 1e6 * self.case.overhead()

    track_overhead_per_eval.unit = "us"


class LaplacianOverCopy:
    """``laplacian_smooth(g, 1.0, out=out)`` / ``np.copyto(out, g)`` (target <= 2)."""

    params = (list(LAPLACIAN_SHAPES), ["float32", "float64"])
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        self.case = LaplacianCase(shape, dtype)

    def track_smooth_over_copy(self, shape, dtype):
        return self.case.ratio()

    track_smooth_over_copy.unit = "smooth / copy"


class LSGDStepOverHandLoop:
    """An LS-SGD step through ``ns.Optimizer`` / a hand loop calling ``ns.laplacian_smooth`` per
    array and updating in place (``asv_benchmarks/lsgd_overhead.py``; target <= 1.2).

    ``copies``: the default optimizer; ``inplace``: parameters from ``ns.flat_params`` with
    ``inplace=True`` (the user's arrays are the storage, as in the hand loop).
    """

    params = (["mlp-5k", "fixed-1M"], ["LS, LR", "LS, Momentum, LR"], ["copies", "inplace"])
    param_names = ["model", "chain", "params"]
    timeout = 300

    def setup(self, model, chain, params):
        import os
        import sys

        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if here not in sys.path:
            sys.path.insert(0, here)
        import lsgd_overhead

        self.measure = lsgd_overhead.measure
        self.problem = lsgd_overhead.mlp_problem if model == "mlp-5k" else lsgd_overhead.fixed_problem
        self.block = 50 if model == "mlp-5k" else 5

    def track_step_over_hand_loop(self, model, chain, params):
        r = self.measure(self.problem, chain != "LS, LR", 7, self.block, params == "inplace")
        return r["ratio"]

    track_step_over_hand_loop.unit = "optimizer / hand loop"
