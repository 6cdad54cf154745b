"""Line searches for quasi-Newton methods: the weak Wolfe bracketing search of Lewis & Overton.

A line search module takes the incoming update ``u`` as the search direction: trial points are
``x - t u`` (the direction is ``d = -u``), and the update leaves the module scaled by the
accepted ``t``, as :class:`~numsmooth.Backtracking` does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validation import check_int, check_real
from .modules import Module
from .objective import Objective

__all__ = ["WeakWolfe"]


class WeakWolfe(Module):
    """Bracketing line search for the weak Wolfe conditions (Lewis & Overton 2013).

    With ``d = -u`` the direction given by the incoming update ``u``, ``f0 = f(x)`` and
    ``s0 = g(x)^T d < 0``, a step ``t`` is accepted when

    - ``f(x + t d) < f0 + c1 t s0`` (Armijo, sufficient decrease), and
    - ``g(x + t d)^T d > c2 s0`` (weak curvature condition).

    Starting from ``t = init`` with the bracket ``[a, b] = [0, inf]``: if the Armijo condition
    fails (or ``f`` is not finite) ``b = t``; else if the curvature condition fails ``a = t``;
    else ``t`` is accepted. The next trial is ``2 a`` while ``b = inf`` (doubling) and
    ``(a + b) / 2`` once bracketed (bisection). No interpolation is used, so the search is
    well defined on nonsmooth, locally Lipschitz functions, where it terminates for
    ``0 < c1 < c2 < 1`` when ``f`` is bounded below along ``d`` (Lewis & Overton 2013,
    Theorem 4.7). A step so accepted has ``s^T y > 0`` for the next BFGS update.

    Parameters
    ----------
    c1 : float
        Armijo constant, in (0, 1).
    c2 : float
        Curvature constant, in (c1, 1).
    init : float
        First trial step, > 0.
    maxiter : int
        Most trial points per step, >= 1. The default 60 allows about 50 bisections, enough
        to resolve ``t`` to relative precision 1e-15.

    Notes
    -----
    **Evaluations.** Each trial point costs one evaluation of value *and* gradient (the
    curvature condition needs ``g(x + t d)``), so a step costs ``k`` evaluations for ``k``
    trials (``state["num_trials"]``), plus the one at ``x`` that every step makes. The gradient
    at the accepted point cannot be handed to the next step through the module protocol, so
    the next step evaluates it again: one repeated evaluation per step.

    **Failure.** If the incoming direction is not a descent direction (``s0 >= 0``), or no trial
    satisfies both conditions within ``maxiter``, the search has failed: as in
    :class:`~numsmooth.Backtracking`, the step is then the trial with the lowest value if it is
    below ``f0``, else zero. ``state`` records ``last_step`` (the ``t`` used, 0 for a zero
    step), ``failed`` (True when the conditions were not both met), ``num_trials`` and the
    running count ``num_failures``; a recipe detects a stall from ``failed`` (Lewis and
    Overton's BFGS stops there, HANSO switches to gradient sampling). A non-finite ``f(x)`` or
    direction is passed on unsearched (``failed`` True), so the optimizer refuses the step.

    References
    ----------
    A. S. Lewis and M. L. Overton (2013), Nonsmooth optimization via quasi-Newton methods,
    Math. Program. 141:135-163, Algorithm 4.6 (the HANSO routine ``linesch_ww``).

    Examples
    --------
    >>> import numpy as np, numsmooth as ns

    On ``f(x) = |x_1| + |x_2|`` from ``(3, -1)`` the trial ``t = 4`` fails the Armijo condition
    and the bisection point ``t = 2`` is accepted:

    >>> fun = lambda x: (float(np.abs(x).sum()), np.sign(x))
    >>> ls = ns.WeakWolfe(init=4.0)
    >>> opt = ns.Optimizer(np.array([3.0, -1.0]), ls)
    >>> _ = opt.step(fun)
    >>> ls.state["last_step"], ls.state["failed"], ls.state["num_trials"], opt.x.tolist()
    (2.0, False, 2, [1.0, 1.0])

    BFGS with it: ``ns.minimize(fun, x0, ns.BFGS(), ns.WeakWolfe())``.
    """

    def __init__(self, c1: float = 1e-4, c2: float = 0.9, init: float = 1.0, maxiter: int = 60):
        super().__init__()
        self.c1 = check_real("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
        self.c2 = check_real("c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
        if not self.c1 < self.c2:
            raise ValueError(f"c2 must be > c1 = {self.c1}; got c2 = {c2!r}")
        self.init = check_real("init", init, low=0.0, low_open=True)
        self.maxiter = check_int("maxiter", maxiter, low=1)

    def config(self) -> dict[str, Any]:
        return {"c1": self.c1, "c2": self.c2, "init": self.init, "maxiter": self.maxiter}

    def step(self, objective: Objective) -> Objective:
        u = objective.get_update()
        f0, g0 = objective.loss_and_grad()
        st = self.state
        st.setdefault("num_failures", 0)
        st.update(last_step=0.0, failed=True, num_trials=0)
        if not (math.isfinite(f0) and np.all(np.isfinite(u))):
            st["num_failures"] += 1
            return objective  # nothing to search; the optimizer refuses a non-finite update
        s0 = -float(np.dot(g0, u))  # slope along d = -u
        if not s0 < 0.0:
            st["num_failures"] += 1
            u[...] = 0.0
            return objective
        x = objective.x
        a, b, t = 0.0, math.inf, self.init
        best_t, best_f = 0.0, f0
        accepted = False
        for k in range(self.maxiter):
            f_t, g_t = objective.evaluate(x - t * u)
            st["num_trials"] = k + 1
            if math.isfinite(f_t) and f_t < best_f:
                best_t, best_f = t, f_t
            if not (f_t < f0 + self.c1 * t * s0):  # Armijo fails (or f_t is nan)
                b = t
            elif not (-float(np.dot(g_t, u)) > self.c2 * s0):  # weak curvature fails
                a = t
            else:
                accepted = True
                break
            t = 2.0 * a if b == math.inf else 0.5 * (a + b)
        if accepted:
            st.update(last_step=t, failed=False)
            u *= t
        else:
            st["num_failures"] += 1
            st["last_step"] = best_t
            u *= best_t
        return objective
