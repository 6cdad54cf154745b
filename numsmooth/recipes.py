"""Ready-made algorithms, each a list of modules for :func:`~numsmooth.minimize` or
:class:`~numsmooth.Optimizer`.

- :func:`gradient_sampling`: the robust gradient-sampling algorithm of Burke, Lewis & Overton
  (2005) for nonsmooth, nonconvex functions;
- :func:`gaussian_homotopy`: minimize a Gaussian-smoothed function while its scale decays
  (graduated optimization);
- :func:`hanso`: BFGS with a weak Wolfe line search until it stalls, then gradient sampling
  from where it stopped (Lewis & Overton 2013, the HANSO code);
- :func:`lmbm`: the limited-memory bundle method (Haarala, Miettinen & Mäkelä 2007), O(m d)
  memory, for nonsmooth problems with thousands to millions of variables;
- :func:`build`: any method of the registry :mod:`numsmooth.methods` by name (``"bfgs"``,
  ``"lsgd"``, ...), the names of ``numsmooth run --method`` and ``numsmooth bench --method``.

Examples
--------
>>> import numpy as np, numsmooth as ns
>>> maxquad = ns.problems.get("maxquad")
>>> res = ns.minimize(maxquad.fun, maxquad.x0(),
...                   *ns.recipes.gradient_sampling(10, seed=0), maxiter=2000)
>>> res.status, bool(res.fun - maxquad.f_star < 1e-6)
(4, True)
"""

from __future__ import annotations

from typing import Any

from ._validation import check_int, check_real
from .bundle import LimitedMemoryBundle
from .gradient_sampling import GradientSampling
from .objective import Objective
from .line_search import Backtracking, WeakWolfe
from .modules import LR, Module
from .switch import Switch
from .quasi_newton import BFGS, check_dense_fits
from .termination import TerminateAfterNSteps, TerminateByUpdateNorm

__all__ = ["gradient_sampling", "gaussian_homotopy", "hanso", "lmbm", "build"]


def build(name: str, d: int, **options: Any) -> list[Module]:
    """The modules of the registered method ``name`` for ``d`` variables:
    ``numsmooth.methods.get(name).build(d, **options)``.

    Parameters
    ----------
    name : str
        A key of :data:`numsmooth.methods.METHODS`.
    d : int
        Number of variables.
    **options
        The method's options (see ``numsmooth.methods.get(name).options``).

    Raises
    ------
    ValueError
        An unknown name (the message lists the names) or an option the method does not take.

    Examples
    --------
    >>> import numsmooth as ns
    >>> [type(m).__name__ for m in ns.recipes.build("bfgs", 5)]
    ['BFGS', 'WeakWolfe']
    """
    from . import methods  # methods builds on the recipes below

    return methods.get(name).build(d, **options)


class _BuiltFor(Module):
    """Raise ``ValueError`` at the first step when the problem's size is not the ``d`` a recipe
    was built for (its sample counts depend on ``d``); otherwise do nothing. No state."""

    _replaces_arrays = True

    def __init__(self, recipe: str, d: int, n: int):
        super().__init__()
        self.recipe, self.d, self.n = recipe, d, n

    def config(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "d": self.d, "n": self.n}

    def step(self, objective: Objective) -> Objective:
        size = objective.x.size
        if size != self.d:
            raise ValueError(f"recipes.{self.recipe}(d={self.d}) was built for {self.d} variables (n = {self.n} "
                             f"sample points a step), but the problem has {size}: build it with "
                             f"recipes.{self.recipe}({size}, ...)")
        return objective


def gradient_sampling(d: int, *, sigma: float = 0.1, n: int | None = None, decay: float = 0.1,
                      tol: float = 1e-8, sigma_min: float = 1e-8, seed: Any = None,
                      ls_init: float = 1.0, ls_beta: float = 0.5, ls_c: float = 1e-4,
                      ls_maxiter: int = 30) -> list[Module]:
    """Gradient sampling (Burke, Lewis & Overton 2005) as a module chain.

    Each step samples ``n - 1`` points uniformly in the ball of radius ``sigma`` around ``x``
    (plus ``x`` itself), takes the minimum-norm element of the convex hull of their gradients as
    the search direction, and runs an Armijo line search on the original function along it.
    When ``x`` moved by at most ``tol`` in a step (the line search failed or the direction is
    nearly zero, i.e. ``x`` is approximately ``sigma``-stationary) the radius shrinks,
    ``sigma *= decay``, and new points are drawn. The run ends when ``sigma`` falls below
    ``sigma_min`` (:func:`~numsmooth.minimize` status 4).

    Parameters
    ----------
    d : int
        Number of variables (``n`` defaults to ``2 d``, twice the theory's minimum ``d + 1``).
    sigma : float
        Initial sampling radius, > 0.
    n : int, optional
        Evaluations per step, ``x`` included.
    decay : float
        Radius factor in (0, 1) when ``x`` stalls.
    tol : float
        A step that moves ``x`` by at most this (2-norm) counts as a stall.
    sigma_min : float
        Stop when the radius falls below this, >= 0 (0 never stops).
    seed : None, int, SeedSequence or Generator
        Seed of the sample points.
    ls_init, ls_beta, ls_c, ls_maxiter
        Armijo line search: first step, shrink factor, sufficient-decrease constant, most
        trials (see :class:`~numsmooth.Backtracking`).

    Returns
    -------
    list of Module
        ``[GradientSampling([check, LR(1.0)], aggregate='min-norm-hull', distribution='ball',
        ...), Backtracking(...)]``; the first is the sampler (its ``sigma`` is the current
        radius). ``check`` raises ``ValueError`` at the first step, before any evaluation, when
        the problem does not have ``d`` variables.

    Notes
    -----
    The sample points are redrawn every step (``fixed=False``), as the convergence theory
    requires; the line search is on the true function, so every trial costs one evaluation.
    With the defaults, MAXQUAD (d = 10) from its standard start ends within 2e-7 of its
    optimum in 3,000 to 9,500 evaluations over seeds 0-7.

    References
    ----------
    J. V. Burke, A. S. Lewis, M. L. Overton (2005), A robust gradient sampling algorithm for
    nonsmooth, nonconvex optimization, SIAM J. Optim. 15(3):751-779.
    """
    d = check_int("d", d, low=1)
    n = 2 * d if n is None else check_int("n", n, low=2)
    check_real("decay", decay, low=0.0, high=1.0, low_open=True, high_open=True)
    gs = GradientSampling([_BuiltFor("gradient_sampling", d, n), LR(1.0)],
                          sigma=check_real("sigma", sigma, low=0.0, low_open=True), n=n,
                          aggregate="min-norm-hull", distribution="ball",
                          termination=TerminateByUpdateNorm(check_real("tol", tol, low=0.0), n=1),
                          decay=decay, fixed=False, seed=seed, sigma_min=sigma_min)
    return [gs, Backtracking(init=ls_init, beta=ls_beta, c=ls_c, maxiter=ls_maxiter)]


def gaussian_homotopy(*, sigma: float = 1.0, n: int = 256, decay: float = 0.5, stage: int = 10,
                      aggregate: str = "mean", distribution: str = "sobol", sigma_min: float = 0.0,
                      lr: float | None = None, seed: Any = None) -> list[Module]:
    """Gaussian homotopy (graduated optimization) as a module chain.

    Minimizes the Gaussian-smoothed function ``f_sigma(x) = E f(x + sigma u)`` for ``stage``
    steps, then decays ``sigma *= decay`` and continues from where it stopped: at a large
    ``sigma`` the smoothed function has no small-scale local minima, and following its minimum as
    ``sigma`` shrinks leads, on functions like Rastrigin's, to the global one. The perturbations
    are fixed within a stage (common random numbers), so the Armijo line search on the smoothed
    objective sees one deterministic function.

    Parameters
    ----------
    sigma : float
        Initial smoothing scale, > 0.
    n : int
        Perturbed points per step (``x`` itself is not evaluated).
    decay : float
        Scale factor per stage, in (0, 1).
    stage : int
        Steps per sigma stage, >= 1.
    aggregate : str
        How sampled gradients combine (``'mean'`` is Gaussian smoothing).
    distribution : str
        Perturbations; scrambled Sobol points (the default) lower the variance of the mean.
    sigma_min : float
        Stop when sigma falls below this (0 never stops).
    lr : float, optional
        A fixed step ``LR(lr)`` instead of the line search.
    seed : None, int, SeedSequence or Generator
        Seed of the perturbations.

    Returns
    -------
    list of Module
        ``[GradientSampling([Backtracking()] or [LR(lr)], ...)]``.

    References
    ----------
    H. Mobahi, J. W. Fisher III (2015), On the link between Gaussian homotopy continuation and
    convex envelopes, EMMCVPR. E. Hazan, K. Y. Levy, S. Shalev-Shwartz (2016), On graduated
    optimization for stochastic non-convex problems, ICML.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> rastrigin = ns.problems.get("rastrigin")
    >>> res = ns.minimize(rastrigin.fun, np.full(10, 3.3),
    ...                   *ns.recipes.gaussian_homotopy(seed=0), maxiter=150)
    >>> bool(res.fun < 1e-6)
    True
    """
    check_real("decay", decay, low=0.0, high=1.0, low_open=True, high_open=True)
    inner: Module = LR(lr) if lr is not None else Backtracking()
    gs = GradientSampling([inner], sigma=check_real("sigma", sigma, low=0.0, low_open=True), n=n,
                          aggregate=aggregate, distribution=distribution, include_x0=False,
                          termination=TerminateAfterNSteps(check_int("stage", stage, low=1)), decay=decay,
                          fixed=True, seed=seed, sigma_min=sigma_min)
    return [gs]


def hanso(d: int, *, bfgs_steps: int | None = None, step_tol: float = 1e-12, patience: int = 3,
          c1: float = 1e-4, c2: float = 0.9, sigma: float = 1e-4, n: int | None = None,
          decay: float = 0.1, sigma_min: float = 1e-6, tol: float = 1e-8,
          seed: Any = None) -> list[Module]:
    """HANSO: BFGS with a weak Wolfe line search, then gradient sampling, as a module chain.

    Lewis & Overton (2013) observed that BFGS with an inexact line search for the weak Wolfe
    conditions is, on nonsmooth functions, a remarkably effective method: it typically
    converges to a Clarke-stationary point, linearly, and usually stops because the line search
    fails once the iterates are at the kink, so close to it that rounding hides any descent.
    HANSO (Hybrid Algorithm for Non-Smooth Optimization, Overton's code) then restarts
    gradient sampling (Burke, Lewis & Overton 2005) from the best point with a few decreasing
    sampling radii, which either improves the point or certifies it approximately stationary.

    Here one :class:`~numsmooth.switch.Switch` runs ``[BFGS(), WeakWolfe(c1, c2)]`` until it
    stalls and then the :func:`gradient_sampling` chain, in one run with one history:

    - **BFGS phase.** Runs while it makes progress: it ends when the weak Wolfe line search
      fails, when ``patience`` consecutive steps move ``x`` by at most ``step_tol``, or after
      ``bfgs_steps`` steps if given. On nonsmooth functions the line search fails once the
      iterates are at the kink (Lewis & Overton 2013); on smooth ones the steps vanish.
    - **Gradient-sampling phase.** ``n`` points in the ball of radius ``sigma`` around ``x``,
      the min-norm element of the hull of their gradients as the direction, an Armijo search
      on the true function; the radius shrinks by ``decay`` whenever ``x`` moves by at most
      ``tol`` in a step, and the run ends (:func:`~numsmooth.minimize` status 4) when it falls
      below ``sigma_min``. With the defaults the radii are 1e-4, 1e-5 and 1e-6, those of HANSO.

    Parameters
    ----------
    d : int
        Number of variables.
    bfgs_steps : int, optional
        Most steps of the BFGS phase (HANSO's ``maxit``), >= 1; default no limit. A cap of
        1,000 handed maxq at d = 1000 to gradient sampling while BFGS was still improving
        (``f`` = 6.8e-9 after 10,000 BFGS steps), and gradient sampling then spent ~45,000
        evaluations.
    step_tol : float
        A BFGS step moving ``x`` by at most this (2-norm) counts as stalled, >= 0.
    patience : int
        Consecutive stalled BFGS steps that end the phase, >= 1.
    c1, c2 : float
        Weak Wolfe constants, ``0 < c1 < c2 < 1`` (HANSO's ``wolfe1``, ``wolfe2``). HANSO
        uses ``c2 = 0.5``; with it the line search on chained CB3 I (d = 50) fails at step 150,
        far from the optimum, and gradient sampling needs 18,000 evaluations to finish, while
        with 0.9 BFGS reaches ``f - f* = 3e-11`` itself in 2,600.
    sigma : float
        First sampling radius of the gradient-sampling phase, > 0.
    n : int, optional
        Evaluations per gradient-sampling step, ``x`` included; default
        ``min(100, 2 d, d + 10)``, HANSO's ``ngrad``.
    decay : float
        Radius factor in (0, 1).
    sigma_min : float
        End the run when the radius falls below this.
    tol : float
        A gradient-sampling step moving ``x`` by at most this counts as a stall.
    seed : None, int, SeedSequence or Generator
        Seed of the sample points.

    Returns
    -------
    list of Module
        ``[Switch([check, BFGS(), WeakWolfe(c1, c2)], gradient_sampling(d, ...), ...)]``; the
        switch's ``phase`` and ``switch_step`` tell where the run is; ``check`` raises
        ``ValueError`` at the first step, before any evaluation, when the problem does not have
        ``d`` variables.

    Notes
    -----
    Unlike HANSO, the BFGS phase has no test on the min-norm element of the hull of recent
    gradients (HANSO's ``normtol``); the tiny-step test and the step cap take its place, and
    the gradient-sampling phase does the certifying. The BFGS matrix is dense: ``hanso(d)``
    raises ``ValueError`` when its ``8 d^2`` bytes exceed the ``block_budget_bytes`` knob of
    :mod:`numsmooth.config` (use :func:`lmbm` there). On the ten problems of Haarala, Miettinen
    & Mäkelä (2004) at d = 50 (``numsmooth bench --suite hmm2004``) the defaults reach
    ``f - f* <= 1e-6 (1 + |f*|)`` on all ten, with a median of about 1,500 evaluations.

    References
    ----------
    A. S. Lewis and M. L. Overton (2013), Nonsmooth optimization via quasi-Newton methods,
    Math. Program. 141:135-163. J. V. Burke, A. S. Lewis, M. L. Overton (2005), A robust
    gradient sampling algorithm for nonsmooth, nonconvex optimization, SIAM J. Optim.
    15(3):751-779. M. L. Overton, HANSO: Hybrid Algorithm for Non-Smooth Optimization, version
    2.0 (2010), https://cs.nyu.edu/overton/software/hanso/.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> p = ns.problems.get("chained_cb3_2")
    >>> res = ns.minimize(p.fun, p.x0(20), *ns.recipes.hanso(20, seed=0), maxiter=2000)
    >>> res.status, bool(res.fun - p.optimal_value(20) < 1e-6)
    (4, True)
    """
    d = check_int("d", d, low=1)
    check_dense_fits(d, "hanso")
    n = min(100, 2 * d, d + 10) if n is None else check_int("n", n, low=2)
    steps = None if bfgs_steps is None else check_int("bfgs_steps", bfgs_steps, low=1)
    # the Switch watches the search's failures and short steps itself (the first phase ends
    # at the failed step, keeping its best trial), so the search never asks for a stop
    first: list[Module] = [_BuiltFor("hanso", d, n), BFGS(), WeakWolfe(c1=c1, c2=c2, stop=False)]
    second = gradient_sampling(d, sigma=sigma, n=n, decay=decay, tol=tol, sigma_min=sigma_min, seed=seed)
    return [Switch(first, second, on_failure=True, step_tol=step_tol, patience=patience, max_steps=steps)]


def lmbm(*, history: int = 7, tol: float = 1e-10, **options: Any) -> list[Module]:
    """The limited-memory bundle method as a module chain (one module).

    :class:`~numsmooth.LimitedMemoryBundle` does its own line search (serious and null steps),
    so nothing follows it. Memory is ``2 history d`` words for the pairs plus about 20
    vectors at a step's peak, work per iteration O(history d) plus one oracle call per trial
    point; use it where :func:`hanso`'s dense ``d x d`` matrix does not fit. The run ends by
    itself (:func:`~numsmooth.minimize` status 4) when the predicted decrease ``w`` falls below
    ``tol (1 + |f|)``, or when it stops falling along a run of null steps.

    Parameters
    ----------
    history : int
        Pairs kept, >= 1.
    tol : float
        Stopping tolerance on ``w``, >= 0.
    **options
        Any other parameter of :class:`~numsmooth.LimitedMemoryBundle`.

    Returns
    -------
    list of Module
        ``[LimitedMemoryBundle(history, tol, **options)]``.

    References
    ----------
    N. Haarala, K. Miettinen, M. M. Mäkelä (2007), Globally convergent limited memory bundle
    method for large-scale nonsmooth optimization, Math. Program. 109:181-205.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> p = ns.problems.get("chained_crescent_1")
    >>> res = ns.minimize(p.fun, p.x0(1000), *ns.recipes.lmbm(), maxiter=5000)
    >>> res.status, bool(res.fun < 1e-6)
    (4, True)
    """
    return [LimitedMemoryBundle(history=history, tol=tol, **options)]
