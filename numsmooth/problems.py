"""Benchmark problems with known optima, as jitted value-and-gradient functions.

Each problem is a :class:`Problem`: a Numba ``@njit`` function with numsmooth's *jitted oracle*
signature ``fun(x, g_out) -> float`` (``x`` a flat float64 array; the gradient, or a subgradient
at a kink, is written into ``g_out``), its standard starting point, the dimensions it is defined
for, its known optimal value and, where one is known, a minimizer. Rastrigin and the L1 norm also
carry the closed form of their Gaussian smoothing ``f_s(x) = E f(x + s Z)``, ``Z ~ N(0, I)``.

============================  ==========  =======  ==============================================
name                          dimension   default  optimum
============================  ==========  =======  ==============================================
``rosenbrock``                d >= 2      2        0 at ones
``rastrigin``                 d >= 1      2        0 at 0
``ackley``                    d >= 1      2        0 at 0
``l1``                        d >= 1      10       0 at 0
``maxquad``                   d = 10      10       -0.8414083346
``chebyshev_rosenbrock``      d >= 2      2        0 at ones             (Nesterov's first)
``chebyshev_rosenbrock_2``    d >= 2      2        0 at ones             (Nesterov's second)
``maxq``                      d >= 1      50       0 at 0                (Haarala et al. no. 1)
``mxhilb``                    d >= 1      50       0 at 0                (no. 2)
``chained_lq``                d >= 2      50       -(d - 1) sqrt 2       (no. 3)
``chained_cb3_1``             d >= 2      50       2 (d - 1) at ones     (no. 4)
``chained_cb3_2``             d >= 2      50       2 (d - 1) at ones     (no. 5)
``active_faces``              d >= 1      50       0 at 0                (no. 6)
``brown2``                    d >= 2      50       0 at 0                (no. 7)
``chained_mifflin2``          d >= 2      50       -34.7951814 (d = 50)  (no. 8; -706.55 at d = 1000)
``chained_crescent_1``        d >= 2      50       0 at 0                (no. 9)
``chained_crescent_2``        d >= 2      50       0 at 0                (no. 10)
============================  ==========  =======  ==============================================

Examples
--------
>>> import numpy as np
>>> import numsmooth.problems as nsp
>>> p = nsp.get("rosenbrock")
>>> x0 = p.x0()
>>> g = np.empty_like(x0)
>>> round(p.fun(x0, g), 10)
24.2
>>> fg = nsp.per_point(p)
>>> f, g = fg(np.ones(2))
>>> f, g.tolist()
(0.0, [0.0, 0.0])
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, cast

import numpy as np
from scipy.special import erf

from ._kernels import problems as _k

__all__ = ["Problem", "PROBLEMS", "HAARALA", "get", "names", "per_point", "mifflin2_stationary_point"]

_HAARALA_REF = (
    "M. Haarala, K. Miettinen and M. M. Mäkelä (2004), New limited memory bundle method for "
    "large-scale nonsmooth optimization, Optimization Methods and Software 19(6):673-692, "
    "Appendix (problems 1-10; subroutines STARTX and FUNC of the authors' TNSUNC Fortran test "
    "set). N. Karmitsa (2007), Test problems for large-scale nonsmooth minimization, Reports of "
    "the Department of Mathematical Information Technology B 4/2007, University of Jyväskylä."
)

_CHEB_ROSEN_REF = (
    "M. Gürbüzbalaban and M. L. Overton (2012), On Nesterov's nonsmooth Chebyshev-Rosenbrock "
    "functions, Nonlinear Analysis 75(3):1282-1289 (both functions, start point, stationary "
    "points). A. S. Lewis and M. L. Overton (2013), Nonsmooth optimization via quasi-Newton "
    "methods, Math. Program. 141:135-163 (BFGS on the first)."
)


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: jitted value-and-gradient function, start point and known optimum.

    Instances are built by this module; get them with :func:`get` or from :data:`PROBLEMS`.

    Attributes
    ----------
    name : str
        The name under which :func:`get` finds the problem.
    fun : numba dispatcher
        ``fun(x, g_out) -> float``: value at the flat float64 array ``x``, gradient (a
        subgradient at kinks) written into ``g_out``. numsmooth's *jitted oracle* kind.
    dim_rule : str
        The dimensions the problem is defined for, e.g. ``"d >= 2"`` or ``"d = 10"``.
    default_dim : int
        The dimension used when none is given (50 for the Haarala et al. problems).
    f_star : float
        The optimal value at ``default_dim`` (see :meth:`optimal_value` for other ``d``).
    references : str
        Where the problem and its data come from.
    description : str
        The formula, in words.
    convex, smooth : bool
        Whether the function is convex, and continuously differentiable.
    min_dim : int
        The smallest allowed dimension.
    fixed_dim : int or None
        The only allowed dimension, for problems defined in one dimension only.
    """

    name: str
    fun: Callable[..., Any] = field(repr=False)
    dim_rule: str
    default_dim: int
    f_star: float
    references: str = field(repr=False)
    description: str = field(repr=False)
    convex: bool
    smooth: bool
    min_dim: int = 1
    fixed_dim: int | None = None
    _x0: Callable[[int], np.ndarray] = field(default=None, repr=False)  # type: ignore[assignment]
    _x_star: Callable[[int], np.ndarray | None] | None = field(default=None, repr=False)
    _f_star: Callable[[int], float | None] | None = field(default=None, repr=False)
    _f_star_source: Callable[[int], str | None] | None = field(default=None, repr=False)
    _smoothed_value: Callable[..., Any] | None = field(default=None, repr=False)
    _smoothed_grad: Callable[..., Any] | None = field(default=None, repr=False)

    # -- dimensions ---------------------------------------------------------------------------
    def check_dim(self, d: Any) -> int:
        """Return ``d`` as an int if the problem is defined in dimension ``d``.

        Raises
        ------
        TypeError
            If ``d`` is not an integer.
        ValueError
            If the problem is not defined in dimension ``d``; the message names ``d`` and the rule.
        """
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral):
            raise TypeError(f"d must be an integer; got d = {d!r} of type {type(d).__name__}")
        d = int(d)
        if self.fixed_dim is not None and d != self.fixed_dim:
            raise ValueError(f"problem {self.name!r} requires {self.dim_rule}; got d = {d}")
        if d < self.min_dim:
            raise ValueError(f"problem {self.name!r} requires {self.dim_rule}; got d = {d}")
        return cast(int, d)

    def _dim(self, d: Any) -> int:
        return self.default_dim if d is None else self.check_dim(d)

    # -- points and values --------------------------------------------------------------------
    def x0(self, d: int | None = None) -> np.ndarray:
        """The standard starting point in dimension ``d`` (default :attr:`default_dim`), a new array."""
        return np.array(self._x0(self._dim(d)), dtype=np.float64)

    def x_star(self, d: int | None = None) -> np.ndarray | None:
        """A known minimizer in dimension ``d`` (a new array), or ``None`` when none is known."""
        d = self._dim(d)
        if self._x_star is None:
            return None
        xs = self._x_star(d)
        return None if xs is None else np.array(xs, dtype=np.float64)

    def optimal_value(self, d: int | None = None) -> float | None:
        """The optimal value in dimension ``d``, or ``None`` when it is not known for that ``d``."""
        d = self._dim(d)
        if self._f_star is None:
            return self.f_star
        return self._f_star(d)

    def optimal_value_source(self, d: int | None = None) -> str | None:
        """Where :meth:`optimal_value` at ``d`` comes from (``None`` when it is not known)."""
        d = self._dim(d)
        if self.optimal_value(d) is None:
            return None
        if self._f_star_source is not None:
            return self._f_star_source(d)
        return "closed form or published value (see references)"

    def __call__(self, x: Any) -> tuple[float, np.ndarray]:
        """Evaluate at ``x`` from Python: ``(f, g)``, like :func:`per_point`."""
        return _evaluate(self, x)

    # -- Gaussian smoothing -------------------------------------------------------------------
    @property
    def has_smoothed_closed_form(self) -> bool:
        """Whether :meth:`smoothed_value` and :meth:`smoothed_grad` are available."""
        return self._smoothed_value is not None

    def smoothed_value(self, x: Any, s: float) -> float | np.ndarray:
        """Closed form of ``f_s(x) = E f(x + s Z)``, ``Z ~ N(0, I)``.

        Parameters
        ----------
        x : array_like, shape (d,) or (m, d)
            One point, or ``m`` points as rows.
        s : float
            The standard deviation of the Gaussian, ``s >= 0`` (``s = 0`` gives ``f``).

        Returns
        -------
        float or ndarray of shape (m,)

        Raises
        ------
        NotImplementedError
            If the problem has no closed form (see :attr:`has_smoothed_closed_form`).
        """
        if self._smoothed_value is None:
            raise NotImplementedError(f"problem {self.name!r} has no closed-form Gaussian smoothing")
        x, s = self._smooth_args(x, s)
        v = self._smoothed_value(x, s)
        return float(v) if v.ndim == 0 else v

    def smoothed_grad(self, x: Any, s: float) -> np.ndarray:
        """Closed form of ``grad f_s(x)`` (same shape as ``x``); see :meth:`smoothed_value`."""
        if self._smoothed_grad is None:
            raise NotImplementedError(f"problem {self.name!r} has no closed-form Gaussian smoothing")
        x, s = self._smooth_args(x, s)
        return cast(np.ndarray, self._smoothed_grad(x, s))

    def _smooth_args(self, x: Any, s: Any) -> tuple[np.ndarray, float]:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2):
            raise ValueError(f"x must have shape (d,) or (m, d); got shape {x.shape}")
        self.check_dim(x.shape[-1])
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
            raise TypeError(f"s must be a real number; got {s!r}")
        s = float(s)
        if not (s >= 0.0 and math.isfinite(s)):
            raise ValueError(f"s must be finite and >= 0; got s = {s!r}")
        return x, s


def _evaluate(problem: Problem, x: Any) -> tuple[float, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(xa.ravel())
    problem.check_dim(flat.shape[0])
    g = np.empty_like(flat)
    f = problem.fun(flat, g)
    return float(f), g.reshape(xa.shape)


def per_point(problem: Problem | str) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """A plain Python ``fun(x) -> (f, g)`` (numsmooth's per-point oracle) for ``problem``.

    Each call casts ``x`` to a contiguous float64 array, checks its size against the problem's
    dimension rule, and calls the jitted function with a fresh gradient array, so the returned
    ``g`` is never reused. ``g`` has the shape of ``x``.

    Parameters
    ----------
    problem : Problem or str
        A problem, or its name.

    Examples
    --------
    >>> from numsmooth.problems import per_point
    >>> f, g = per_point("l1")([1.0, -2.0])
    >>> f, g.tolist()
    (3.0, [1.0, -1.0])
    """
    p = get(problem) if isinstance(problem, str) else problem
    if not isinstance(p, Problem):
        raise TypeError(f"problem must be a Problem or a name; got {problem!r}")

    def fun(x: Any) -> tuple[float, np.ndarray]:
        return _evaluate(p, x)

    fun.__name__ = f"{p.name}_per_point"
    fun.__doc__ = f"Per-point oracle of problem {p.name!r}: returns (f, g)."
    return fun


# ---------------------------------------------------------------------------------------------
# closed-form Gaussian smoothings
# ---------------------------------------------------------------------------------------------

_TAU = 2.0 * math.pi


def _rastrigin_sv(x: np.ndarray, s: float) -> Any:
    d = x.shape[-1]
    damp = math.exp(-2.0 * math.pi**2 * s * s)
    return 10.0 * d + np.sum(x * x + s * s - 10.0 * damp * np.cos(_TAU * x), axis=-1)


def _rastrigin_sg(x: np.ndarray, s: float) -> Any:
    damp = math.exp(-2.0 * math.pi**2 * s * s)
    return 2.0 * x + 10.0 * _TAU * damp * np.sin(_TAU * x)


def _l1_sv(x: np.ndarray, s: float) -> Any:
    if s == 0.0:
        return np.sum(np.abs(x), axis=-1)
    z = x / (s * math.sqrt(2.0))
    return np.sum(s * math.sqrt(2.0 / math.pi) * np.exp(-z * z) + x * erf(z), axis=-1)


def _l1_sg(x: np.ndarray, s: float) -> Any:
    if s == 0.0:
        return np.sign(x)
    return erf(x / (s * math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------------
# start points and minimizers
# ---------------------------------------------------------------------------------------------


def _alternate(d: int, odd: float, even: float) -> np.ndarray:
    """``x_i = odd`` for odd 1-based ``i``, ``even`` for even ``i``."""
    i = np.arange(1, d + 1)
    return np.where(i % 2 == 1, odd, even).astype(np.float64)


def _maxq_x0(d: int) -> np.ndarray:
    i = np.arange(1, d + 1, dtype=np.float64)
    return np.where(np.arange(1, d + 1) <= d // 2, i, -i)


# The minimizer of MAXQUAD, from the KKT system of its four active pieces (j = 2..5) solved to
# a residual of 6e-16; f there is -0.84140833459641, published as -0.8414083346.
_MAXQUAD_X_STAR = np.array([
    -0.12625658077472546, -0.03437830256204082, -0.00685719832698149, 0.0263606582463379,
    0.0672949226897415, -0.2783995007519937, 0.07421866454469363, 0.13852404783729688,
    0.0840312231253324, 0.03858030977273084,
])
_MAXQUAD_F_STAR = -0.84140833459641

# Chained Mifflin 2 at d = 50: published (Haarala et al. 2004) as -34.795178, a value reached by
# their bundle method. numsmooth's earlier -34.7951814094 (SLSQP) was 1.5e-10 too high. Recomputed
# from 41 starts (the standard one and 40 uniform in [-2, 2]^50, seeds 0 and 1): SLSQP (ftol
# 1e-15) on the smooth epigraph reformulation, then Newton on the KKT system with the 47 kinks
# y_i = 0 it finds as equality constraints (multipliers checked inside [0.25, 3.75], so the point
# is Clarke stationary), and 3000 steps of BFGS + WeakWolfe from each start plus 500 from each
# polished point. Every start converges to the same KKT point, where f evaluates to
# -34.795181409547638; the lowest value any of these runs evaluated was one ulp lower,
# -34.795181409547645, which numsmooth uses so that f - f* >= 0 at every point found.
_MIFFLIN2_F_STAR_50 = -34.795181409547645

#: Chained Mifflin 2: the optimal values known (numerically) by dimension, with their source.
_MIFFLIN2_F_STAR: dict[int, tuple[float, str]] = {
    50: (_MIFFLIN2_F_STAR_50, "numerical: the lowest of 41 local solves (SLSQP on the epigraph form, "
         "Newton on the KKT system, BFGS); -34.795178 as published"),
}
_MIFFLIN2_REDUCED_SOURCE = (
    "numerical, at every d >= 50: the minimizer's structure at d = 50 (x_1^2 + x_2^2 = 1, then "
    "x_3, x_4, ... alternating a, b with a^2 + b^2 = 1, x_d = 0) minimized over its two angles; "
    "a Clarke-stationary point (kink multipliers in [0.25, 3.75]); it gives -34.79518140954765 at "
    "d = 50 and -706.546 at d = 1000 (published: -706.55)")
_MIFFLIN2_MIN_REDUCED = 50


def mifflin2_stationary_point(d: int) -> np.ndarray:
    """The Clarke-stationary point of Chained Mifflin 2 that numsmooth takes as its minimizer
    for ``d >= 50`` (`chained_mifflin2`'s optimal value there is ``f`` at this point).

    The minimizer found at ``d = 50`` from 41 starts has one structure: ``x_1^2 + x_2^2 = 1``,
    then ``x_3, x_4, ...`` alternate between ``a = cos(theta)`` and ``b = sin(theta)`` (every
    ``x_i^2 + x_{i+1}^2 = 1`` is a kink from ``i = 3`` to ``d - 2``) and ``x_d = 0``. On that
    set ``f`` depends on two angles only, in closed form; they are minimized here (Nelder-Mead,
    polished by Powell). ``tests/test_problems.py`` checks that the point is Clarke stationary
    in dimension ``d`` (a kink multiplier in ``[0.25, 3.75]`` for each ``i``, the rest of the
    subgradient's equations solved to a small residual) and reproduces the published optima.

    Parameters
    ----------
    d : int
        The dimension, at least 50 (the structure was established there).

    Returns
    -------
    ndarray, shape (d,)
        The point.

    Examples
    --------
    >>> import numpy as np
    >>> import numsmooth.problems as nsp
    >>> x = nsp.mifflin2_stationary_point(1000)
    >>> p = nsp.get("chained_mifflin2")
    >>> round(p(x)[0], 2)  # published for d = 1000: -706.55
    -706.55
    >>> bool(p(x)[0] == p.optimal_value(1000))
    True
    """
    from scipy.optimize import minimize

    if d < _MIFFLIN2_MIN_REDUCED:
        raise ValueError(f"the reduced Chained Mifflin 2 optimum needs d >= {_MIFFLIN2_MIN_REDUCED}; got d = {d}")
    m = d - 3  # x_3 .. x_{d-1}: ceil(m / 2) of them a, the rest b; x_{d-1} is a when d is even

    def h(y: float) -> float:  # the chained term's kink: 2 y + 1.75 |y|
        return 2.0 * y + 1.75 * abs(y)

    def f(z: np.ndarray) -> float:
        phi, theta = float(z[0]), float(z[1])
        a, b = math.cos(theta), math.sin(theta)
        last = a if d % 2 == 0 else b
        return (-math.cos(phi) - math.sin(phi) + h(math.sin(phi) ** 2 + a * a - 1.0)
                - ((m + 1) // 2) * a - (m // 2) * b + h(last * last - 1.0))

    best = min((minimize(f, z0, method="Nelder-Mead", options={"xatol": 1e-14, "fatol": 1e-15, "maxiter": 20000})
                for z0 in ([0.6, 0.78], [0.95, 0.7], [0.3, 0.9])), key=lambda r: r.fun)
    polished = minimize(f, best.x, method="Powell", options={"xtol": 1e-14, "ftol": 1e-16, "maxiter": 100000})
    phi, theta = (polished if polished.fun <= best.fun else best).x
    x = np.empty(d)
    x[0], x[1] = math.cos(phi), math.sin(phi)
    x[2:d - 1] = np.where(np.arange(2, d - 1) % 2 == 0, math.cos(theta), math.sin(theta))
    x[d - 1] = 0.0
    return x


@functools.lru_cache(maxsize=16)
def _mifflin2_f_star(d: int) -> float | None:
    if d in _MIFFLIN2_F_STAR:
        return _MIFFLIN2_F_STAR[d][0]
    if d < _MIFFLIN2_MIN_REDUCED:
        return None
    g = np.empty(d)
    return float(_k.chained_mifflin2(mifflin2_stationary_point(d), g))


def _mifflin2_f_star_source(d: int) -> str | None:
    if d in _MIFFLIN2_F_STAR:
        return _MIFFLIN2_F_STAR[d][1]
    return _MIFFLIN2_REDUCED_SOURCE if d >= _MIFFLIN2_MIN_REDUCED else None


def _zeros(d: int) -> np.ndarray:
    return np.zeros(d)


def _ones(d: int) -> np.ndarray:
    return np.ones(d)


def _full(v: float) -> Callable[[int], np.ndarray]:
    return lambda d: np.full(d, float(v))


def _const(v: float) -> Callable[[int], float]:
    return lambda d: float(v)


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------


def _build() -> dict[str, Problem]:
    P = {}

    def add(**kw: Any) -> None:
        p = Problem(**kw)
        P[p.name] = p

    add(
        name="rosenbrock", fun=_k.rosenbrock, dim_rule="d >= 2", min_dim=2, default_dim=2,
        f_star=0.0, convex=False, smooth=True,
        description="sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (the chained form); start "
        "(-1.2, 1, -1.2, 1, ...), f(x0) = 24.2 for d = 2; minimum 0 at ones.",
        references="H. H. Rosenbrock (1960), An automatic method for finding the greatest or least "
        "value of a function, The Computer Journal 3(3):175-184. J. J. Moré, B. S. Garbow and "
        "K. E. Hillstrom (1981), Testing unconstrained optimization software, ACM TOMS 7(1):17-41 "
        "(start point).",
        _x0=lambda d: _alternate(d, -1.2, 1.0), _x_star=_ones,
    )
    add(
        name="rastrigin", fun=_k.rastrigin, dim_rule="d >= 1", min_dim=1, default_dim=2,
        f_star=0.0, convex=False, smooth=True,
        description="10 d + sum x_i^2 - 10 cos(2 pi x_i), usually studied on [-5.12, 5.12]^d; "
        "numsmooth starts at 3.3 per coordinate (inside that domain, near the local minimum at 3); "
        "minimum 0 at 0. Gaussian smoothing: f_s(x) = 10 d + sum x_i^2 + s^2 "
        "- 10 exp(-2 pi^2 s^2) cos(2 pi x_i).",
        references="L. A. Rastrigin (1974), Systems of extremal control, Nauka, Moscow. "
        "H. Mühlenbein, D. Schomisch and J. Born (1991), The parallel genetic algorithm as function "
        "optimizer, Parallel Computing 17:619-632 (the d-dimensional form and its domain). "
        "H. Mobahi and J. W. Fisher III (2015), On the link between Gaussian homotopy continuation "
        "and convex envelopes, EMMCVPR (closed-form smoothing).",
        _x0=_full(3.3), _x_star=_zeros,
        _smoothed_value=_rastrigin_sv, _smoothed_grad=_rastrigin_sg,
    )
    add(
        name="ackley", fun=_k.ackley, dim_rule="d >= 1", min_dim=1, default_dim=2,
        f_star=0.0, convex=False, smooth=False,
        description="-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e, usually "
        "studied on [-32.768, 32.768]^d; it has no canonical start, numsmooth uses 2.0 per "
        "coordinate (in the basin of a local minimum close to 2); minimum 0 at 0, where it is "
        "not differentiable and the returned subgradient is 0.",
        references="D. H. Ackley (1987), A connectionist machine for genetic hillclimbing, Kluwer. "
        "T. Bäck (1996), Evolutionary Algorithms in Theory and Practice, Oxford UP (the "
        "d-dimensional form). S. Surjanovic and D. Bingham, Virtual Library of Simulation "
        "Experiments, https://www.sfu.ca/~ssurjano/ackley.html (domain).",
        _x0=_full(2.0), _x_star=_zeros,
    )
    add(
        name="l1", fun=_k.l1, dim_rule="d >= 1", min_dim=1, default_dim=10,
        f_star=0.0, convex=True, smooth=False,
        description="sum |x_i|, start at ones, minimum 0 at 0 (subgradient sign(x), 0 at 0). "
        "Gaussian smoothing: f_s(x) = sum s sqrt(2/pi) exp(-x_i^2 / (2 s^2)) "
        "+ x_i erf(x_i / (s sqrt 2)), gradient erf(x / (s sqrt 2)).",
        references="The mean of a folded normal distribution: F. C. Leone, L. S. Nelson and "
        "R. B. Nottingham (1961), The folded normal distribution, Technometrics 3(4):543-550.",
        _x0=_ones, _x_star=_zeros,
        _smoothed_value=_l1_sv, _smoothed_grad=_l1_sg,
    )
    add(
        name="maxquad", fun=_k.maxquad, dim_rule="d = 10", min_dim=10, fixed_dim=10,
        default_dim=10, f_star=_MAXQUAD_F_STAR, convex=True, smooth=False,
        description="max_{j=1..5} x^T A_j x - b_j^T x with (1-based) A_j[k, i] = A_j[i, k] = "
        "exp(i/k) cos(i k) sin(j) for i < k, A_j[i, i] = (i/10)|sin j| + sum_{k != i} |A_j[i, k]|, "
        "b_j[i] = exp(i/j) sin(i j); start at ones, f(x0) = 5337.0664; minimum -0.8414083346, "
        "where pieces 2-5 are active.",
        references="C. Lemaréchal and R. Mifflin (eds.) (1978), Nonsmooth Optimization, "
        "Pergamon Press, pp. 151-153 (MAXQUAD). L. Lukšan and J. Vlček (2000), Test problems for "
        "nonsmooth unconstrained and linearly constrained optimization, Technical report 798, "
        "Institute of Computer Science, Academy of Sciences of the Czech Republic (problem 2.5).",
        _x0=_ones, _x_star=lambda d: _MAXQUAD_X_STAR,
    )
    add(
        name="chebyshev_rosenbrock", fun=_k.chebyshev_rosenbrock, dim_rule="d >= 2", min_dim=2,
        default_dim=2, f_star=0.0, convex=False, smooth=False,
        description="(x_1 - 1)^2 / 4 + sum_{i<d} |x_{i+1} - 2 x_i^2 + 1|: Nesterov's first "
        "nonsmooth Chebyshev-Rosenbrock function (Gürbüzbalaban & Overton's f-hat; the second is "
        "chebyshev_rosenbrock_2); start (-1, 1, ..., 1), f(x0) = 1; minimum 0 at ones, its only "
        "Clarke stationary point, reached by following the curve x_{i+1} = 2 x_i^2 - 1 (hard for "
        "d >= 5). Sign(0) = 0 is used at the kinks.",
        references=_CHEB_ROSEN_REF,
        _x0=lambda d: np.r_[-1.0, np.ones(d - 1)], _x_star=_ones,
    )
    add(
        name="chebyshev_rosenbrock_2", fun=_k.chebyshev_rosenbrock_2, dim_rule="d >= 2",
        min_dim=2, default_dim=2, f_star=0.0, convex=False, smooth=False,
        description="|x_1 - 1| / 4 + sum_{i<d} |x_{i+1} - 2 |x_i| + 1|: Nesterov's second "
        "nonsmooth Chebyshev-Rosenbrock function (Gürbüzbalaban & Overton's f-tilde; the first is "
        "chebyshev_rosenbrock); start (-1, 1, ..., 1), f(x0) = 1/2; minimum 0 at ones, but it "
        "has 2^(d-1) Clarke stationary points, only one of them a minimizer. Sign(0) = 0 is used "
        "at the kinks.",
        references=_CHEB_ROSEN_REF,
        _x0=lambda d: np.r_[-1.0, np.ones(d - 1)], _x_star=_ones,
    )

    # Haarala, Miettinen & Mäkelä (2004), problems 1-10, default d = 50.
    hmm = dict(default_dim=50, references=_HAARALA_REF)
    add(
        name="maxq", fun=_k.maxq, dim_rule="d >= 1", min_dim=1, f_star=0.0, convex=True,
        smooth=False, description="Generalization of MAXQ (problem 1): max_i x_i^2; start x_i = i "
        "for i <= d/2, -i otherwise; minimum 0 at 0.",
        _x0=_maxq_x0, _x_star=_zeros, **hmm,
    )
    add(
        name="mxhilb", fun=_k.mxhilb, dim_rule="d >= 1", min_dim=1, f_star=0.0, convex=True,
        smooth=False, description="Generalization of MXHILB (problem 2): max_i |sum_j x_j / "
        "(i + j - 1)|; start at ones; minimum 0 at 0. O(d^2) per evaluation.",
        _x0=_ones, _x_star=_zeros, **hmm,
    )
    add(
        name="chained_lq", fun=_k.chained_lq, dim_rule="d >= 2", min_dim=2,
        f_star=-49.0 * math.sqrt(2.0), convex=True, smooth=False,
        description="Chained LQ (problem 3): sum_{i<d} max(-x_i - x_{i+1}, -x_i - x_{i+1} + "
        "x_i^2 + x_{i+1}^2 - 1); start -0.5 per coordinate; minimum -(d - 1) sqrt 2 at "
        "x_i = 1/sqrt 2.",
        _x0=_full(-0.5), _x_star=_full(1.0 / math.sqrt(2.0)),
        _f_star=lambda d: -(d - 1) * math.sqrt(2.0), **hmm,
    )
    add(
        name="chained_cb3_1", fun=_k.chained_cb3_1, dim_rule="d >= 2", min_dim=2, f_star=98.0,
        convex=True, smooth=False,
        description="Chained CB3 I (problem 4): sum_{i<d} max(x_i^4 + x_{i+1}^2, (2 - x_i)^2 + "
        "(2 - x_{i+1})^2, 2 exp(-x_i + x_{i+1})); start 2 per coordinate; minimum 2 (d - 1) at ones.",
        _x0=_full(2.0), _x_star=_ones, _f_star=lambda d: 2.0 * (d - 1), **hmm,
    )
    add(
        name="chained_cb3_2", fun=_k.chained_cb3_2, dim_rule="d >= 2", min_dim=2, f_star=98.0,
        convex=True, smooth=False,
        description="Chained CB3 II (problem 5): max(sum_{i<d} x_i^4 + x_{i+1}^2, sum_{i<d} "
        "(2 - x_i)^2 + (2 - x_{i+1})^2, sum_{i<d} 2 exp(-x_i + x_{i+1})); start 2 per coordinate; "
        "minimum 2 (d - 1) at ones.",
        _x0=_full(2.0), _x_star=_ones, _f_star=lambda d: 2.0 * (d - 1), **hmm,
    )
    add(
        name="active_faces", fun=_k.active_faces, dim_rule="d >= 1", min_dim=1, f_star=0.0,
        convex=False, smooth=False,
        description="Number of active faces (problem 6): max(g(-sum_i x_i), max_i g(x_i)) with "
        "g(y) = ln(|y| + 1); start at ones; minimum 0 at 0.",
        _x0=_ones, _x_star=_zeros, **hmm,
    )
    add(
        name="brown2", fun=_k.brown2, dim_rule="d >= 2", min_dim=2, f_star=0.0, convex=False,
        smooth=False,
        description="Nonsmooth generalization of Brown function 2 (problem 7): sum_{i<d} "
        "|x_i|^(x_{i+1}^2 + 1) + |x_{i+1}|^(x_i^2 + 1); start x_i = -1 for odd (1-based) i, 1 for "
        "even i, as in the authors' Fortran STARTX (f is even in every x_i, so the opposite signs "
        "give the same values); minimum 0 at 0.",
        _x0=lambda d: _alternate(d, -1.0, 1.0), _x_star=_zeros, **hmm,
    )
    add(
        name="chained_mifflin2", fun=_k.chained_mifflin2, dim_rule="d >= 2", min_dim=2,
        f_star=_MIFFLIN2_F_STAR_50, convex=False, smooth=False,
        description="Chained Mifflin 2 (problem 8): sum_{i<d} -x_i + 2 (x_i^2 + x_{i+1}^2 - 1) + "
        "1.75 |x_i^2 + x_{i+1}^2 - 1|; start -1 per coordinate. The optimum is known only "
        "numerically, at d = 50: published as -34.795178; numsmooth uses -34.795181409547645, "
        "the lowest value reached from 41 starts by SLSQP on the epigraph reformulation polished "
        "by Newton's method on the KKT system, and by BFGS with weak Wolfe line searches; for "
        "d > 50 the same structure's best point (mifflin2_stationary_point): -706.546 at "
        "d = 1000 (published: -706.55), -7070.507 at 10^4, -70710.117 at 10^5.",
        _x0=_full(-1.0), _x_star=None,
        _f_star=_mifflin2_f_star, _f_star_source=_mifflin2_f_star_source, **hmm,
    )
    add(
        name="chained_crescent_1", fun=_k.chained_crescent_1, dim_rule="d >= 2", min_dim=2,
        f_star=0.0, convex=False, smooth=False,
        description="Chained Crescent I (problem 9): max(sum_{i<d} x_i^2 + (x_{i+1} - 1)^2 + "
        "x_{i+1} - 1, sum_{i<d} -x_i^2 - (x_{i+1} - 1)^2 + x_{i+1} + 1); start x_i = -1.5 for odd "
        "i, 2 for even i; minimum 0 at 0.",
        _x0=lambda d: _alternate(d, -1.5, 2.0), _x_star=_zeros, **hmm,
    )
    add(
        name="chained_crescent_2", fun=_k.chained_crescent_2, dim_rule="d >= 2", min_dim=2,
        f_star=0.0, convex=False, smooth=False,
        description="Chained Crescent II (problem 10): sum_{i<d} max(x_i^2 + (x_{i+1} - 1)^2 + "
        "x_{i+1} - 1, -x_i^2 - (x_{i+1} - 1)^2 + x_{i+1} + 1); start x_i = -1.5 for odd i, 2 for "
        "even i; minimum 0 at 0.",
        _x0=lambda d: _alternate(d, -1.5, 2.0), _x_star=_zeros, **hmm,
    )
    return P


#: All problems by name, in a fixed order.
PROBLEMS: dict[str, Problem] = _build()

#: The ten problems of Haarala, Miettinen & Mäkelä (2004), in their numbering (1-10).
HAARALA: tuple[str, ...] = (
    "maxq", "mxhilb", "chained_lq", "chained_cb3_1", "chained_cb3_2", "active_faces", "brown2",
    "chained_mifflin2", "chained_crescent_1", "chained_crescent_2",
)


def names() -> list[str]:
    """The names of all problems, in the order of :data:`PROBLEMS`."""
    return list(PROBLEMS)


def get(name: str) -> Problem:
    """The problem called ``name`` (case-insensitive; ``-`` and spaces count as ``_``).

    Raises
    ------
    ValueError
        If there is no such problem; the message lists the names.

    Examples
    --------
    >>> from numsmooth.problems import get
    >>> get("maxquad").f_star
    -0.84140833459641
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {name!r}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return PROBLEMS[key]
    except KeyError:
        allowed = ", ".join(repr(n) for n in PROBLEMS)
        raise ValueError(f"unknown problem {name!r}; choose one of {allowed}") from None
