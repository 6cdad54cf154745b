"""Line searches: Armijo :class:`Backtracking` and the weak Wolfe bracketing search of Lewis &
Overton (:class:`WeakWolfe`).

A line search module takes the incoming update ``u`` as the search direction: trial points are
``x - t u`` (the direction is ``d = -u``), and the update leaves the module scaled by the
accepted ``t``. Both treat a trial whose value (or, for :class:`WeakWolfe`, gradient) is not
finite as "too far": the step shrinks, so a run that meets a region where the oracle returns
nan or inf stays on the finite side of it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._certificate import recent_count
from ._state import Hyperparameter
from ._validation import check_bool, check_int, check_real
from .hull import min_norm_hull
from .modules import Module
from .objective import Objective

__all__ = ["Backtracking", "WeakWolfe"]


def _positive(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0, low_open=True)


class Backtracking(Module):
    """Armijo backtracking line search along the update.

    Tries ``t = init, init*beta, init*beta^2, ...`` (at most ``maxiter`` values) and accepts the
    first with ``f(x - t*d) <= f(x) - c * t * g(x).d``, where ``d`` is the incoming update and
    ``f``/``g`` are those of the objective this module is given (the smoothed one after
    :class:`~numsmooth.GradientSampling`). If no trial satisfies the condition, the step is the
    trial with the lowest value if it decreased ``f``, otherwise zero. A trial whose value is
    not finite counts as too far (the step shrinks). A non-finite ``f(x)`` or direction is passed
    on unsearched, so the optimizer refuses the step.

    Parameters
    ----------
    init : float or callable
        First step length tried, > 0, or a schedule ``step -> init``; settable and saved with
        the state, as :class:`LR`'s ``lr``.
    beta : float
        Shrink factor in (0, 1).
    c : float
        Sufficient-decrease constant in [0, 1).
    maxiter : int
        Most trial points per step, >= 1.

    Notes
    -----
    ``state["last_step"]`` is the ``t`` used by the last step (0 for a zero step).

    Examples
    --------
    >>> import numpy as np, numsmooth as ns

    On ``f(x) = x^2`` from ``x = 1`` the full step ``t = 1`` overshoots to ``-1`` (no decrease)
    and ``t = 0.5`` lands on the minimum:

    >>> bt = ns.Backtracking()
    >>> opt = ns.Optimizer(np.array([1.0]), bt)
    >>> _ = opt.step(lambda x: (float(x @ x), 2 * x))
    >>> bt.state["last_step"], opt.x.tolist()
    (0.5, [0.0])
    """

    init = Hyperparameter(_positive)

    def __init__(self, init: Any = 1.0, beta: float = 0.5, c: float = 1e-4, maxiter: int = 20):
        super().__init__()
        self.init = init
        self.beta = check_real("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
        self.c = check_real("c", c, low=0.0, high=1.0, high_open=True)
        self.maxiter = check_int("maxiter", maxiter, low=1)

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "c": self.c, "maxiter": self.maxiter}

    def step(self, objective: Objective) -> Objective:
        d = objective.get_update()
        f0, g0 = objective.loss_and_grad()
        t = self.hyper("init")
        self._advance()
        if not (np.isfinite(f0) and np.all(np.isfinite(d))):
            return objective  # nothing to search; the optimizer refuses a non-finite update
        slope = float(np.dot(g0, d))
        best_t, best_f = 0.0, f0
        for _ in range(self.maxiter):
            f_t = objective.value(objective.x - t * d)
            if f_t <= f0 - self.c * t * slope:
                best_t = t
                break
            if f_t < best_f:
                best_t, best_f = t, f_t
            t *= self.beta
        self.state["last_step"] = best_t
        d *= best_t
        return objective



#: Why a :class:`WeakWolfe` run stopped, by the code it keeps in ``state["stop_reason"]``.
STOP_REASONS = {
    1: "the weak Wolfe line search failed: no trial point met both conditions",
    2: "the weak Wolfe line search failed: the direction is not a descent direction",
    3: "x is at the edge of a region where f is not finite: every longer trial of the line search "
       "returned nan or inf and no shorter one met the weak Wolfe conditions",
    4: "the steps were shorter than xtol",
    5: "the gradient norm fell to gtol or below",
    6: "x is approximately stationary: the min-norm element of the convex hull of the gradients at "
       "the last iterates within evaldist of x is at most normtol max(1, ||g(x)||)",
}

class WeakWolfe(Module):
    """Bracketing line search for the weak Wolfe conditions (Lewis & Overton 2013).

    With ``d = -u`` the direction given by the incoming update ``u``, ``f0 = f(x)`` and
    ``s0 = g(x)^T d < 0``, a step ``t`` is accepted when

    - ``f(x + t d) < f0 + c1 t s0`` (Armijo, sufficient decrease), and
    - ``g(x + t d)^T d > c2 s0`` (weak curvature condition).

    Starting from ``t = init`` with the bracket ``[a, b] = [0, inf]``: if the Armijo condition
    fails, or ``f`` or ``g`` at the trial is not finite (the trial is "too far"), ``b = t``;
    else if the curvature condition fails ``a = t``; else ``t`` is accepted. The next trial is
    ``2 a`` while ``b = inf`` (doubling) and ``(a + b) / 2`` once bracketed (bisection). No
    interpolation is used, so the search is well defined on nonsmooth, locally Lipschitz
    functions, where it terminates for ``0 < c1 < c2 < 1`` when ``f`` is bounded below along
    ``d`` (Lewis & Overton 2013, Theorem 4.7). A step so accepted has ``s^T y > 0`` for the
    next BFGS update.

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
    stop : bool
        Ask the run to end (:meth:`~numsmooth.Objective.request_stop`; status 4 of
        :func:`~numsmooth.minimize`) by the rules below. With False the search never stops a run.
    xtol : float
        Stop after ``patience`` consecutive steps of 2-norm at most ``xtol``, >= 0.
    gtol : float
        Stop, without moving ``x``, when ``||g(x)||_2 <= gtol`` at the start of a step, >= 0
        (the default 0 stops only at an exactly zero gradient; the failure rule stops the
        others).
    patience : int
        Consecutive short steps that stop the run, >= 1.
    normtol, evaldist : float
        With ``normtol > 0``, stop when the min-norm element of the convex hull of the gradients
        at ``x`` and at the last iterates within ``evaldist`` of it has norm at most
        ``normtol * max(1, ||g(x)||)`` (HANSO's test, its ``normtol`` made relative; HANSO uses
        1e-6 and ``evaldist = 1e-4``). The iterates kept are those whose step was at most
        ``evaldist`` long, at most ``min(100, 2 d, d + 10)`` of them (fewer for very large
        ``d``: at most 16 MiB), and each step with a kept iterate solves a small QP. Off by
        default (``normtol = 0``): on the ten problems of ``numsmooth bench --suite hmm2004``
        at d = 50 it stops BFGS on active_faces and brown2 at ``f - f* = 3e-6`` to ``4e-5``
        (with ``evaldist`` 1e-6 or 1e-4), short of the failed search that ends it at 1e-13.

    Notes
    -----
    **Evaluations.** Each trial point costs one evaluation of value *and* gradient (the
    curvature condition needs ``g(x + t d)``), so a step costs ``k`` evaluations for ``k``
    trials (``state["num_trials"]``), plus the one at ``x`` that every step makes. The gradient
    at the accepted point cannot be handed to the next step through the module protocol, so
    the next step evaluates it again: one repeated evaluation per step.

    **Failure.** If the incoming direction is not a descent direction (``s0 >= 0``), or no trial
    satisfies both conditions within ``maxiter``, the search has failed: as in
    :class:`Backtracking`, the step is then the trial with the lowest value if it is below
    ``f0``, else zero. ``state`` records ``last_step`` (the ``t`` used, 0 for a zero step),
    ``failed`` (True when the conditions were not both met), ``num_trials``, ``num_nonfinite``
    (trials of the step whose value or gradient was not finite) and the running count
    ``num_failures``. A non-finite ``f(x)`` or direction is passed on unsearched (``failed``
    True), so the optimizer refuses the step.

    **Stopping** (``stop=True``). On nonsmooth functions BFGS with this search typically ends
    with a failed search, once the iterates are so close to a kink that rounding hides any
    descent (Lewis & Overton 2013): the step after a failed search asks the run to end, so
    the best trial of the failed search is kept. So do ``patience`` short steps, and a
    gradient of norm at most ``gtol``. ``state["stop_reason"]`` holds the reason's code
    (a key of :data:`STOP_REASONS`; 0 while running) and the stop message says it in words.
    The gradient tests (``gtol``, ``normtol``) mean convergence; the others mean that the
    method can go no further, and :func:`~numsmooth.minimize` then judges ``success`` by its
    certificate. ``state`` keeps the certificate's iterates and gradients in ``near_x`` and
    ``near_g`` (lists, replaced rather than changed, so a step's snapshot stays cheap).
    A failed search whose longer trials all returned nan or inf (code 3) means that ``x`` sits
    at the edge of a region where ``f`` is not finite. Inside a
    :class:`~numsmooth.pipeline.Switch` (:func:`~numsmooth.recipes.hanso`) a stop request
    hands the run to the next phase.

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

    BFGS with it stops by itself (here at the kink of ``|x_1| + |x_2|``):

    >>> res = ns.minimize(fun, np.array([3.0, -1.0]), ns.BFGS(), ns.WeakWolfe())
    >>> res.status, bool(res.fun < 1e-8), res.nit < 100
    (4, True, True)
    """

    #: The code of ``state["stop_reason"]`` for a stop at the edge of a non-finite region.
    EDGE_REASON = 3
    #: The codes of the stops that mean convergence (``gtol``, ``normtol``).
    CONVERGED_REASONS = frozenset({5, 6})
    # state arrays are never changed in place (lists are replaced): shallow snapshots suffice
    _replaces_arrays = True

    def __init__(self, c1: float = 1e-4, c2: float = 0.9, init: float = 1.0, maxiter: int = 60, *,
                 stop: bool = True, xtol: float = 1e-12, gtol: float = 0.0, patience: int = 3,
                 normtol: float = 0.0, evaldist: float = 1e-4):
        super().__init__()
        self.c1 = check_real("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
        self.c2 = check_real("c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
        if not self.c1 < self.c2:
            raise ValueError(f"c2 must be > c1 = {self.c1}; got c2 = {c2!r}")
        self.init = check_real("init", init, low=0.0, low_open=True)
        self.maxiter = check_int("maxiter", maxiter, low=1)
        self.stop = check_bool("stop", stop)
        self.xtol = check_real("xtol", xtol, low=0.0)
        self.gtol = check_real("gtol", gtol, low=0.0)
        self.patience = check_int("patience", patience, low=1)
        self.normtol = check_real("normtol", normtol, low=0.0)
        self.evaldist = check_real("evaldist", evaldist, low=0.0, low_open=True)

    def config(self) -> dict[str, Any]:
        return {"c1": self.c1, "c2": self.c2, "init": self.init, "maxiter": self.maxiter, "stop": self.stop,
                "xtol": self.xtol, "gtol": self.gtol, "patience": self.patience, "normtol": self.normtol,
                "evaldist": self.evaldist}

    def _stationary(self, x: np.ndarray, g: np.ndarray) -> bool:
        """HANSO's test on the gradients at ``x`` and at the kept iterates near it (dropping the
        far ones from ``state``)."""
        st = self.state
        near = [k for k, y in enumerate(st["near_x"]) if float(np.linalg.norm(y - x)) <= self.evaldist]
        if len(near) < len(st["near_x"]):
            st["near_x"] = [st["near_x"][k] for k in near]
            st["near_g"] = [st["near_g"][k] for k in near]
        if not near:
            return False
        _, v, _ = min_norm_hull(np.stack([g, *st["near_g"]]))
        return math.sqrt(float(np.dot(v, v))) <= self.normtol * max(1.0, math.sqrt(float(np.dot(g, g))))

    def step(self, objective: Objective) -> Objective:
        st = self.state
        st.setdefault("num_failures", 0)
        st.setdefault("short_steps", 0)
        st.setdefault("stop_reason", 0)
        st.setdefault("near_x", [])
        st.setdefault("near_g", [])
        if self.stop and st["stop_reason"]:
            # decided at the previous step, which kept its best trial
            objective.request_stop(STOP_REASONS[st["stop_reason"]])
            return objective
        u = objective.get_update()
        f0, g0 = objective.loss_and_grad()
        st.update(last_step=0.0, failed=True, num_trials=0, num_nonfinite=0)
        if not (math.isfinite(f0) and np.all(np.isfinite(u))):
            st["num_failures"] += 1
            return objective  # nothing to search; the optimizer refuses a non-finite update
        x = objective.x
        if self.stop:
            reason = 5 if math.sqrt(float(np.dot(g0, g0))) <= self.gtol else 0
            if not reason and self.normtol > 0.0 and self._stationary(x, g0):
                reason = 6
            if reason:
                st["stop_reason"] = reason
                objective.request_stop(STOP_REASONS[reason])
                return objective
        s0 = -float(np.dot(g0, u))  # slope along d = -u
        if not s0 < 0.0:
            st["num_failures"] += 1
            st["stop_reason"] = 2
            u[...] = 0.0
            return objective
        a, b, t = 0.0, math.inf, self.init
        best_t, best_f = 0.0, f0
        accepted = False
        b_nonfinite = False  # whether the bracket's upper end is a non-finite trial
        for k in range(self.maxiter):
            f_t, g_t = objective.evaluate(x - t * u)
            st["num_trials"] = k + 1
            finite = math.isfinite(f_t) and bool(np.all(np.isfinite(g_t)))
            if not finite:
                st["num_nonfinite"] += 1
            elif f_t < best_f:
                best_t, best_f = t, f_t
            if not (finite and f_t < f0 + self.c1 * t * s0):  # too far: Armijo fails or not finite
                b, b_nonfinite = t, not finite
            elif not (-float(np.dot(g_t, u)) > self.c2 * s0):  # weak curvature fails
                a = t
            else:
                accepted = True
                break
            t = 2.0 * a if b == math.inf else 0.5 * (a + b)
        if accepted:
            st.update(last_step=t, failed=False)
        else:
            st["num_failures"] += 1
            st["last_step"] = t = best_t
            st["stop_reason"] = self.EDGE_REASON if b_nonfinite else 1
        u *= t
        step = math.sqrt(float(np.dot(u, u)))
        st["short_steps"] = st["short_steps"] + 1 if step <= self.xtol else 0
        if self.stop and self.normtol > 0.0 and step <= self.evaldist:  # a candidate for the next tests
            keep = recent_count(x.size)
            st["near_x"] = (st["near_x"] + [np.array(x, copy=True)])[-keep:]
            st["near_g"] = (st["near_g"] + [np.array(g0, dtype=np.float64, copy=True)])[-keep:]
        if st["short_steps"] >= self.patience and not st["stop_reason"]:
            st["stop_reason"] = 4
        return objective
