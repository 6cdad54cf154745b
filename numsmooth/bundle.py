"""The limited-memory bundle method: :class:`LimitedMemoryBundle`.

A variable-metric bundle method whose metric is a limited-memory BFGS matrix (Haarala,
Miettinen & Mäkelä 2004, 2007): O(m d) memory and work per iteration, for nonsmooth,
nonconvex, locally Lipschitz functions with thousands to millions of variables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._kernels import bundle as _kb
from ._validation import check_bool, check_int, check_real
from .modules import Module
from .objective import Objective

__all__ = ["LimitedMemoryBundle"]

# keys of state that hold (d,) vectors; S and U hold (history, d) blocks
_VECTORS = ("x", "g", "pm", "agg", "p")


class LimitedMemoryBundle(Module):
    """Limited-memory bundle method (LMBM) with serious and null steps and aggregation.

    One step is one iteration of the method. With ``x`` the current (serious) point,
    ``xi_m`` a subgradient there, ``D`` the limited-memory BFGS inverse-Hessian approximation
    and ``(agg, alpha)`` the aggregate subgradient and its linearization error (``(xi_m, 0)``
    after a serious step), the iteration

    1. takes the direction ``d = -D agg`` (``-(D + rho I) agg`` when ``agg^T D agg < rho
       ||agg||^2``) and the predicted decrease ``w = -agg^T d + 2 alpha``; the run ends
       (status 4) when ``w <= tol (1 + |f(x)|)``;
    2. searches along ``d`` for a trial point ``y = x + t d``, with ``xi`` a subgradient at
       ``y`` and the locality measure ``beta = max(|f(x) - f(y) + t d^T xi|, gamma t^2 ||d||^2)``:

       - a **serious step** when ``f(y) <= f(x) - eps_l t w`` and ``t >= t_min`` or
         ``beta > eps_a w``: ``x`` moves to ``y``, the pair ``(s, u) = (y - x, xi - xi_m)``
         updates ``D`` (when ``s^T u > 0``) and the aggregate restarts at ``xi``;
       - a **null step** when ``-beta + d^T xi >= -eps_r w``: ``x`` stays, and the new
         aggregate is the convex combination ``l_0 xi_m + l_1 xi + l_2 agg`` (error
         ``l_1 beta + l_2 alpha``) minimizing ``v^T D v + 2 (error)``, a three-variable QP;

       otherwise ``t`` shrinks (safeguarded quadratic interpolation) or, once a decrease was
       found, is bisected towards it.

    ``D`` is held fixed through a sequence of null steps, so the aggregate's ``w`` falls
    monotonically there, the property the convergence proof needs (HMM 2007, Lemma 3.x: a
    sequence of null steps drives ``w`` to zero; with serious steps, every accumulation point
    of ``x_k`` is Clarke stationary for a locally Lipschitz, weakly upper semismooth ``f``).
    When the search finds neither kind of step in ``maxtrials`` trials, the memory is cleared
    (``D = theta I``) and the iteration repeated; with an empty memory the run ends.

    Parameters
    ----------
    history : int
        Pairs kept, ``m >= 1``: memory ``2 m d`` for the pairs plus about ten vectors.
    tol : float
        End the run when ``w <= tol (1 + |f(x)|)``, >= 0.
    eps_l, eps_r, eps_a : float
        Line-search constants: ``0 < eps_l < eps_r < 1/2`` and ``0 < eps_a < eps_r - eps_l``.
    t_min : float
        Shortest serious step (relative to ``d``) unless the trial subgradient is far from
        local, > 0.
    gamma : float
        Weight of the distance term of the locality measure, >= 0 (0 for convex ``f``).
    rho : float
        Correction of a nearly singular metric, >= 0.
    maxtrials : int
        Most trial points per iteration, >= 1.

    Notes
    -----
    ``state`` holds ``x``, ``f``, ``g`` (the point, its value and subgradient ``xi_m``, so a
    step never evaluates ``x`` again), ``pm = D xi_m``, ``agg``, ``alpha``, ``p = D agg``,
    the pairs ``S``, ``U`` (``(history, d)`` blocks, a circular store with ``head`` and
    ``count``), ``rho_pairs`` (``1 / s^T u``), ``theta`` (``H_0 = theta I``, ``s^T u / u^T u``
    of the newest pair) and the counters ``num_serious``, ``num_null``, ``num_restarts`` and
    ``num_trials`` (oracle calls at trial points: every call but the one at the first point).
    Vectors are replaced, never changed in place, except the one row of ``S``, ``U`` a serious
    step writes, which :meth:`snapshot` copies: the optimizer's snapshot costs ``2 d`` words.

    References
    ----------
    M. Haarala, K. Miettinen, M. M. Mäkelä (2004), New limited memory bundle method for
    large-scale nonsmooth optimization, Optim. Methods Softw. 19(6):673-692.
    N. Haarala, K. Miettinen, M. M. Mäkelä (2007), Globally convergent limited memory bundle
    method for large-scale nonsmooth optimization, Math. Program. 109:181-205.
    J. Vlček, L. Lukšan (2001), Globally convergent variable metric method for nonconvex
    nondifferentiable unconstrained minimization, J. Optim. Theory Appl. 111(2):407-430.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> p = ns.problems.get("maxq")
    >>> res = ns.minimize(p.fun, p.x0(200), ns.LimitedMemoryBundle(), maxiter=20000)
    >>> res.status, bool(res.fun < 1e-6)
    (4, True)
    """

    def __init__(self, history: int = 7, tol: float = 1e-12, eps_l: float = 1e-4, eps_r: float = 0.25,
                 eps_a: float = 0.1, t_min: float = 1e-12, gamma: float = 0.5, rho: float = 1e-12,
                 maxtrials: int = 40, max_step: float = 1.5,
                 null_shrink: float = 1.0, monotone: bool = True):
        super().__init__()
        self.history = check_int("history", history, low=1)
        self.tol = check_real("tol", tol, low=0.0)
        self.eps_l = check_real("eps_l", eps_l, low=0.0, high=0.5, low_open=True, high_open=True)
        self.eps_r = check_real("eps_r", eps_r, low=0.0, high=0.5, low_open=True, high_open=True)
        if not self.eps_l < self.eps_r:
            raise ValueError(f"eps_r must be > eps_l = {self.eps_l}; got eps_r = {eps_r!r}")
        self.eps_a = check_real("eps_a", eps_a, low=0.0, high=self.eps_r - self.eps_l, low_open=True,
                                high_open=True)
        self.t_min = check_real("t_min", t_min, low=0.0, low_open=True)
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.rho = check_real("rho", rho, low=0.0)
        self.maxtrials = check_int("maxtrials", maxtrials, low=1)
        self.max_step = check_real("max_step", max_step, low=0.0, low_open=True)
        self.monotone = check_bool("monotone", monotone)
        self.null_shrink = check_real("null_shrink", null_shrink, low=0.0, high=1.0, low_open=True)

    def config(self) -> dict[str, Any]:
        return {"history": self.history, "tol": self.tol, "eps_l": self.eps_l, "eps_r": self.eps_r,
                "eps_a": self.eps_a, "t_min": self.t_min, "gamma": self.gamma, "rho": self.rho,
                "maxtrials": self.maxtrials, "max_step": self.max_step, "null_shrink": self.null_shrink, "monotone": self.monotone}

    # -- state ----------------------------------------------------------------------------------
    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        blocks = {k: state[k] for k in ("S", "U") if k in state}
        super()._check_state({k: v for k, v in state.items() if k not in blocks and k != "rho_pairs"}, size, where)
        m = self.history
        for key, block in blocks.items():
            if (not isinstance(block, np.ndarray) or block.dtype != np.float64 or block.ndim != 2
                    or block.shape[0] != m or (size is not None and block.shape[1] != size)):
                raise ValueError(f"{where}[{key!r}] must be a float64 array of shape ({m}, {size}); "
                                 f"got {block!r:.80}")
        rp = state.get("rho_pairs")
        if rp is not None and (not isinstance(rp, np.ndarray) or rp.shape != (m,) or rp.dtype != np.float64):
            raise ValueError(f"{where}['rho_pairs'] must be a float64 array of shape ({m},); got {rp!r:.80}")
        for key in ("head", "count"):
            if key in state and not 0 <= int(state[key]) <= m:
                raise ValueError(f"{where}[{key!r}] must be in [0, {m}]; got {state[key]!r}")

    def snapshot(self) -> Any:
        # every array but the store is replaced, not changed: copy only the row a step may write
        st = self.state
        row = None
        if "S" in st:
            h = int(st["head"])
            row = (h, st["S"][h].copy(), st["U"][h].copy(), float(st["rho_pairs"][h]))
        return dict(st), row, [c.snapshot() for c in self.children()]

    def restore(self, snapshot: Any) -> None:
        own, row, kids = snapshot
        if row is not None and "S" in own:
            h, s, u, r = row
            own["S"][h] = s
            own["U"][h] = u
            own["rho_pairs"][h] = r
        super().restore((own, kids))

    @property
    def num_pairs(self) -> int:
        """Pairs in the memory now."""
        return int(self.state.get("count", 0))

    # -- the method -----------------------------------------------------------------------------
    def _apply_D(self, q: np.ndarray) -> np.ndarray:
        st = self.state
        out = np.empty_like(q)
        _kb.lbfgs_apply(st["S"], st["U"], st["rho_pairs"], int(st["head"]), int(st["count"]),
                        float(st["theta"]), 1.0, q, out, np.empty(self.history))
        return out

    def _start(self, objective: Objective) -> None:
        """A new serious point at ``objective.x`` (first step, or ``x`` was moved from outside)."""
        f, g = objective.loss_and_grad()
        st = self.state
        d = objective.x.size
        if "S" not in st or st["S"].shape[1] != d:
            st.update(S=np.zeros((self.history, d)), U=np.zeros((self.history, d)),
                      rho_pairs=np.zeros(self.history), head=0, count=0, theta=1.0,
                      num_serious=0, num_null=0, num_restarts=0, num_trials=0, restarted_at=0)
        g = np.array(g, dtype=np.float64, copy=True)
        self._set_point(objective.x.copy(), float(f), g)

    def _set_point(self, x: np.ndarray, f: float, g: np.ndarray) -> None:
        p = self._apply_D(g)
        self.state.update(x=x, f=f, g=g, pm=p, agg=g, p=p, alpha=0.0, t_start=1.0)

    def step(self, objective: Objective) -> Objective:
        st = self.state
        x = objective.x
        if "x" not in st or st["x"].shape != x.shape or not np.array_equal(st["x"], x):
            self._start(objective)
        else:
            objective.cache_loss_and_grad(st["f"], st["g"])
        u = objective.get_update()
        u[...] = 0.0
        f = float(st["f"])
        agg, p, alpha = st["agg"], st["p"], float(st["alpha"])
        ap, aa, pp = _kb.direction_products(agg, p)
        shift = self.rho if ap < self.rho * aa else 0.0  # D + rho I when D is nearly singular on agg
        if shift:
            p = p + shift * agg
            ap, pp = ap + shift * aa, float(np.dot(p, p))
        w = ap + 2.0 * alpha
        if not math.isfinite(w):
            objective.request_stop("the direction is not finite")
            return objective
        if w <= self.tol * (1.0 + abs(f)):
            if st["restarted_at"] == st["num_serious"] + 1:
                objective.request_stop(f"approximately stationary: w = {w:.3g} <= tol (1 + |f|)")
            else:
                self._restart()  # D may be nearly singular on agg: measure w again from D = I
            return objective
        found = self._search(objective, f, p, math.sqrt(pp), w, u)
        if found is None:
            if st["restarted_at"] == st["num_serious"] + 1:
                objective.request_stop("the line search found neither a serious nor a null step")
            else:
                self._restart()
            u[...] = 0.0
            return objective
        kind, t, y, fy, gy, beta = found
        if kind == "serious":
            self._serious(y, fy, gy)
        else:
            u[...] = 0.0
            self._null(y, gy, beta, shift, t)
        return objective

    def _restart(self) -> None:
        """Forget the pairs (``D = I``) and start the aggregate again at ``x``."""
        st = self.state
        st.update(count=0, head=0, theta=1.0, num_restarts=st["num_restarts"] + 1, restarted_at=st["num_serious"] + 1)
        self._set_point(st["x"], float(st["f"]), st["g"])

    def _search(self, objective: Objective, f: float, p: np.ndarray, pnorm: float, w: float,
                u: np.ndarray) -> tuple[str, float, np.ndarray, float, np.ndarray, float] | None:
        """Trial points ``y = x - t p`` until a serious or a null step; ``u = t p`` at the end."""
        x = objective.x
        st = self.state
        # the first trial at most t_start (shortened by useless null steps) and at most
        # max_step (1 + ||x||) away
        xnorm = float(np.sqrt(np.dot(x, x)))
        t = min(float(st["t_start"]), self.max_step * (1.0 + xnorm) / pnorm) if pnorm > 0 else 1.0
        lo, hi = 0.0, math.inf
        slope = -(w - 2.0 * float(self.state["alpha"]))  # d^T agg
        for _ in range(self.maxtrials):
            np.multiply(p, t, out=u)
            y = x - u  # the point the optimizer's x -= u will reach, bit for bit
            fy, gy = objective.evaluate(y)
            st["num_trials"] += 1
            if math.isfinite(fy):
                dxi = -float(np.dot(p, gy))
                beta = max(abs(f - fy + t * dxi), self.gamma * (t * pnorm) ** 2)
                descent = fy <= f - self.eps_l * t * w
                if descent and (t >= self.t_min or beta > self.eps_a * w):
                    return "serious", t, y, fy, np.array(gy, dtype=np.float64, copy=True), beta
                if -beta + dxi >= -self.eps_r * w:
                    return "null", t, y, fy, np.array(gy, dtype=np.float64, copy=True), beta
            else:
                descent = False
            if descent:
                lo = t
            else:
                hi = t
            if hi == math.inf:
                t = 2.0 * t
                if t * pnorm > self.max_step * (1.0 + xnorm):
                    return None
            elif lo > 0.0:
                t = 0.5 * (lo + hi)
            else:
                # minimizer of the quadratic through f, the model slope and f(y), kept in [0.1, 0.5] t
                denom = 2.0 * (fy - f - slope * t) if math.isfinite(fy) else 0.0
                tq = -slope * t * t / denom if denom > 0.0 else 0.5 * t
                t = min(max(tq, 0.1 * t), 0.5 * t)
        return None

    def _serious(self, y: np.ndarray, fy: float, gy: np.ndarray) -> None:
        st = self.state
        self._store_pair(y - st["x"], gy - st["g"])
        st["num_serious"] += 1
        self._set_point(y, fy, gy)

    def _store_pair(self, s: np.ndarray, u: np.ndarray) -> bool:
        """Write the pair into the memory (dropping the oldest when full) if ``s^T u > 0``
        enough; whether it was written."""
        st = self.state
        su, uu, ss = _kb.pair_products(s, u)
        if not (math.isfinite(su) and su > 1e-12 * math.sqrt(ss * uu)):
            return False
        h = int(st["head"])
        st["S"][h] = s
        st["U"][h] = u
        st["rho_pairs"][h] = 1.0 / su
        st.update(head=(h + 1) % self.history, count=min(int(st["count"]) + 1, self.history), theta=su / uu)
        return True

    def _null(self, y: np.ndarray, gy: np.ndarray, beta: float, shift: float, t: float) -> None:
        st = self.state
        g, agg, pm, py = st["g"], st["agg"], st["pm"], self._apply_D(gy)
        G = np.empty((3, 3))
        _kb.gram3(g, gy, agg, pm, py, st["p"], shift, G)
        r = np.array([0.0, beta, float(st["alpha"])])
        l0, l1, l2 = _kb.simplex_qp3(G, r)
        new_agg = np.empty_like(agg)
        _kb.combine3(l0, l1, l2, g, gy, agg, new_agg)
        _kb.combine3(l0, l1, l2, pm, py, st["p"], py)  # D new_agg; py is no longer needed
        st.update(agg=new_agg, p=py, alpha=l1 * beta + l2 * float(st["alpha"]), num_null=st["num_null"] + 1)
        # the next search starts where this one ended, closer when the trial taught nothing
        st["t_start"] = (0.1 if l1 == 0.0 else self.null_shrink) * t
        # the null step's pair updates D only if D does not grow on the new aggregate, the
        # property that makes w fall along a sequence of null steps
        h = int(st["head"])
        saved = (st["S"][h].copy(), st["U"][h].copy(), float(st["rho_pairs"][h]), st["head"], st["count"],
                 st["theta"])
        if self._store_pair(y - st["x"], gy - g):
            p_new = self._apply_D(new_agg)
            if not self.monotone or float(np.dot(new_agg, p_new)) <= float(np.dot(new_agg, py)):
                st.update(p=p_new, pm=self._apply_D(g))
                return
            st["S"][h], st["U"][h], st["rho_pairs"][h] = saved[0], saved[1], saved[2]
            st.update(head=saved[3], count=saved[4], theta=saved[5])
