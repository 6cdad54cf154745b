"""The limited-memory bundle method: :class:`LimitedMemoryBundle`.

A variable-metric bundle method whose metric is a limited-memory quasi-Newton matrix (Haarala,
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

# blocks of state with one row per pair or correction; rows are written in place
_BLOCKS = ("S", "U", "V")


class LimitedMemoryBundle(Module):
    """Limited-memory bundle method (LMBM): serious and null steps, aggregation, L-BFGS and SR1.

    One step is one iteration. With ``x`` the current (serious) point, ``xi_m`` a subgradient
    there, ``D`` the inverse-Hessian approximation and ``(agg, alpha)`` the aggregate
    subgradient and its linearization error (``(xi_m, 0)`` after a serious step):

    1. **Direction.** ``d = -D agg`` (``-(D + c I) agg`` with ``agg^T (D + c I) agg = rho
       ||agg||^2`` when ``D`` is nearly singular on ``agg``) and the predicted decrease
       ``w = -agg^T d + 2 alpha``. When ``w <= tol (1 + |f(x)|)`` the pairs are dropped
       (``D = I``) and ``w`` measured again; the run ends (status 4) when it is still small.
    2. **Line search** along ``d`` for ``y = x + t d`` (the first trial ``t = 1``, at most
       ``max_step (1 + ||x||)`` away), with ``xi`` a subgradient at ``y`` and the locality
       measure ``beta = max(|f(x) - f(y) + t d^T xi|, gamma t^2 ||d||^2)``:

       - **serious step** when ``f(y) <= f(x) - eps_l t w`` and (``t >= t_min`` or ``beta >
         eps_a w``): ``x`` moves to ``y``; the last null step's pair and the pair ``(y - x,
         xi - xi_m)`` enter the L-BFGS memory (when ``s^T u > 0``); ``D`` becomes the L-BFGS
         matrix and the aggregate restarts at ``xi``;
       - **null step** when ``-beta + d^T xi >= -eps_r w``: ``x`` stays; the new aggregate is
         ``l_0 xi_m + l_1 xi + l_2 agg`` with error ``l_1 beta + l_2 alpha``, the ``l`` on
         the unit simplex minimizing ``v^T D v + 2 (error)``; then ``D`` takes the SR1 update
         of the pair ``s = y - x``, ``u = xi - xi_m``, ``D <- D - v v^T / (u^T v)``, ``v = D u -
         s``, when ``u^T v > 0`` (so ``D`` never grows in a null step) and it stays positive
         on the new aggregate and on ``xi_m``, at most ``history`` times in a row;
       - otherwise ``t`` shrinks (safeguarded quadratic interpolation) or, once a decrease
         was found, is bisected towards it; after ``maxtrials`` trials the pairs are
         dropped and the iteration repeated (once per point; then the run ends).

    In a run of null steps ``D`` does not grow, so ``w`` falls to zero along it, and every
    accumulation point of the serious points is Clarke stationary for locally Lipschitz,
    weakly upper semismooth ``f`` (the argument of Haarala, Miettinen & Mäkelä 2007, Section
    4, which needs the metric to be bounded and, in null steps, non-increasing on the
    aggregate; Vlček & Lukšan 2001 for the line search).

    Parameters
    ----------
    history : int
        Pairs kept, ``m >= 1``; also the most SR1 corrections in one run of null steps.
    tol : float
        Stopping tolerance on ``w`` relative to ``1 + |f|``, >= 0.
    eps_l, eps_r, eps_a : float
        Line-search constants: ``0 < eps_l < eps_r < 1/2`` and ``0 < eps_a < eps_r - eps_l``.
    t_min : float
        Shortest serious step unless the trial subgradient is far from local, > 0.
    gamma : float
        Weight of the distance term of the locality measure, >= 0 (0 suits convex ``f``).
    rho : float
        Smallest curvature ``agg^T D agg / ||agg||^2`` used, >= 0.
    maxtrials : int
        Most trial points per iteration, >= 1.
    max_step : float
        Longest trial step, relative to ``1 + ||x||``, > 0.
    sr1 : bool
        Apply the SR1 updates in null steps (False: ``D`` is fixed along a run of null steps).
    ftol, patience : float, int or None
        When ``f(x)`` fell by at most ``ftol (1 + |f|)`` in ``patience`` iterations (serious
        and null), drop the pairs and start again from ``D = I``, or, when that was done at
        this point already, end the run. ``None`` (default): never.

    Notes
    -----
    ``state`` holds the point ``x``, ``f`` and ``g`` (``xi_m``; a step never evaluates ``x``
    again), ``pm = D xi_m``, ``agg``, ``alpha``, ``p = D agg``, the pending null-step pair
    ``ns``, ``nu`` (or absent), the L-BFGS memory ``S``, ``U`` (``(history, d)`` blocks, a
    circular store with ``head`` and ``count``), ``rho_pairs`` (``1 / s^T u``), ``theta``
    (``H_0 = theta I``), the SR1 corrections ``V`` (a ``(history, d)`` block),
    ``vscale`` (``1 / u^T v``) and ``nv``, ``t_start`` (the first trial step), and the
    counters ``num_serious``, ``num_null``, ``num_restarts``, ``num_trials`` (oracle calls at
    trial points), ``restarted_at``, ``stall`` (iterations since ``f`` last fell by more than
    ``ftol (1 + |f|)`` below ``f_ref``) and ``f_ref``. Vectors are replaced, never changed in place; the rows
    a step may write in the blocks are copied by :meth:`snapshot` (``3 d`` words).

    Memory: ``3 m d`` words for the blocks and at most 14 vectors of ``d`` in a step
    (``x``, ``g``, ``pm``, ``agg``, ``p``, the pending pair, the snapshot's rows, the trial
    point, its subgradient and their products).

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
    >>> p = ns.problems.get("chained_crescent_1")
    >>> res = ns.minimize(p.fun, p.x0(200), ns.LimitedMemoryBundle(), maxiter=20000)
    >>> res.status, bool(res.fun < 1e-6)
    (4, True)
    """

    def __init__(self, history: int = 7, tol: float = 1e-10, eps_l: float = 1e-4, eps_r: float = 0.25,
                 eps_a: float = 0.1, t_min: float = 1e-12, gamma: float = 0.5, rho: float = 1e-12,
                 maxtrials: int = 40, max_step: float = 1.5, sr1: bool = True, ftol: float = 1e-10,
                 patience: int | None = None):
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
        self.sr1 = check_bool("sr1", sr1)
        self.ftol = check_real("ftol", ftol, low=0.0)
        self.patience = None if patience is None else check_int("patience", patience, low=1)

    def config(self) -> dict[str, Any]:
        return {"history": self.history, "tol": self.tol, "eps_l": self.eps_l, "eps_r": self.eps_r,
                "eps_a": self.eps_a, "t_min": self.t_min, "gamma": self.gamma, "rho": self.rho,
                "maxtrials": self.maxtrials, "max_step": self.max_step, "sr1": self.sr1,
                "ftol": self.ftol, "patience": self.patience}

    # -- state ----------------------------------------------------------------------------------
    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        m = self.history
        small = ("rho_pairs", "vscale")
        super()._check_state({k: v for k, v in state.items() if k not in _BLOCKS + small}, size, where)
        for key in _BLOCKS:
            block = state.get(key)
            if block is not None and (not isinstance(block, np.ndarray) or block.dtype != np.float64
                                      or block.ndim != 2 or block.shape[0] != m
                                      or (size is not None and block.shape[1] != size)):
                raise ValueError(f"{where}[{key!r}] must be a float64 array of shape ({m}, {size}); "
                                 f"got {block!r:.80}")
        for key in small:
            v = state.get(key)
            if v is not None and (not isinstance(v, np.ndarray) or v.shape != (m,) or v.dtype != np.float64):
                raise ValueError(f"{where}[{key!r}] must be a float64 array of shape ({m},); got {v!r:.80}")
        for key in ("head", "count", "nv"):
            if key in state and not 0 <= int(state[key]) <= m:
                raise ValueError(f"{where}[{key!r}] must be in [0, {m}]; got {state[key]!r}")

    def snapshot(self) -> Any:
        # vectors are replaced, not changed: copy only the rows of the blocks a step may write
        st = self.state
        rows = None
        if "S" in st:
            h, nv = int(st["head"]), int(st["nv"])
            rows = (h, st["S"][h].copy(), st["U"][h].copy(), float(st["rho_pairs"][h]),
                    nv, None if nv == self.history else st["V"][nv].copy(), st["vscale"].copy())
        return dict(st), rows, [c.snapshot() for c in self.children()]

    def restore(self, snapshot: Any) -> None:
        own, rows, kids = snapshot
        if rows is not None:
            h, s, u, r, nv, v, vscale = rows
            own["S"][h], own["U"][h], own["rho_pairs"][h] = s, u, r
            if v is not None:
                own["V"][nv] = v
            own["vscale"][...] = vscale
        super().restore((own, kids))

    # -- the metric -----------------------------------------------------------------------------
    def _apply_D(self, q: np.ndarray) -> np.ndarray:
        """``D q``: the L-BFGS matrix of the pairs minus the SR1 corrections of null steps."""
        st = self.state
        out = np.empty_like(q)
        _kb.lbfgs_apply(st["S"], st["U"], st["rho_pairs"], int(st["head"]), int(st["count"]),
                        float(st["theta"]), 1.0, q, out, np.empty(self.history))
        _kb.lowrank_sub(st["V"], st["vscale"], int(st["nv"]), q, out)
        return out

    def _store_pair(self, s: np.ndarray, u: np.ndarray) -> None:
        """Write the pair into the L-BFGS memory (the oldest dropped when full) if ``s^T u > 0``."""
        st = self.state
        su, ss, uu = _kb.dot_norms(s, u)
        if not (math.isfinite(su) and su > 1e-12 * math.sqrt(ss * uu)):
            return
        h = int(st["head"])
        st["S"][h] = s
        st["U"][h] = u
        st["rho_pairs"][h] = 1.0 / su
        st.update(head=(h + 1) % self.history, count=min(int(st["count"]) + 1, self.history), theta=su / uu)

    # -- the method -----------------------------------------------------------------------------
    def _start(self, objective: Objective) -> None:
        """A new serious point at ``objective.x`` (first step, or ``x`` was moved from outside)."""
        f, g = objective.loss_and_grad()
        st = self.state
        d = objective.x.size
        if "S" not in st or st["S"].shape[1] != d:
            m = self.history
            st.update(S=np.zeros((m, d)), U=np.zeros((m, d)), V=np.zeros((m, d)), rho_pairs=np.zeros(m),
                      vscale=np.zeros(m), head=0, count=0, nv=0, theta=1.0, num_serious=0, num_null=0,
                      num_restarts=0, num_trials=0, restarted_at=0, stall=0, f_ref=float(f))
        st.pop("ns", None)
        st.pop("nu", None)
        self._set_point(objective.x.copy(), float(f), np.array(g, dtype=np.float64, copy=True))

    def _set_point(self, x: np.ndarray, f: float, g: np.ndarray) -> None:
        """``x`` is the serious point: ``D`` is the L-BFGS matrix, the aggregate is ``g``."""
        self.state["nv"] = 0
        p = self._apply_D(g)
        self.state.update(x=x, f=f, g=g, pm=p, agg=g, p=p, alpha=0.0, t_start=1.0)

    def _restart(self) -> None:
        """Forget the pairs (``D = I``) and start the aggregate again at ``x``."""
        st = self.state
        st.update(count=0, head=0, theta=1.0, num_restarts=st["num_restarts"] + 1,
                  restarted_at=st["num_serious"] + 1)
        st.pop("ns", None)
        st.pop("nu", None)
        self._set_point(st["x"], float(st["f"]), st["g"])

    def step(self, objective: Objective) -> Objective:
        st = self.state
        x = objective.x
        if "x" not in st or st["x"].shape != x.shape or not _kb.same(st["x"], x):
            self._start(objective)
        else:
            # f and g at x are this module's from its last step: hand them to the objective
            objective.evaluate_including_x(lambda known: (None, (float(st["f"]), st["g"])))
        u = objective.get_update()
        u[...] = 0.0
        f = float(st["f"])
        agg, p, alpha = st["agg"], st["p"], float(st["alpha"])
        ap, aa, pp = _kb.dot_norms(agg, p)
        # D + shift I with agg^T (D + shift I) agg = rho ||agg||^2 where D is nearly singular on agg
        shift = self.rho - ap / aa if ap < self.rho * aa else 0.0
        if shift:
            p = p + shift * agg
            ap, pp = ap + shift * aa, _kb.dot(p, p)
        w = ap + 2.0 * alpha
        once_more = st["restarted_at"] != st["num_serious"] + 1  # no restart at this point yet
        if not math.isfinite(w):
            objective.request_stop("the direction is not finite")
        elif w <= self.tol * (1.0 + abs(f)):
            if once_more:
                self._restart()  # D may be nearly singular on agg: measure w again with D = I
            else:
                objective.request_stop(f"approximately stationary: w = {w:.3g} <= tol (1 + |f|)")
        else:
            found = self._search(objective, f, p, math.sqrt(pp), w, u)
            if found is None:
                u[...] = 0.0
                if once_more:
                    self._restart()
                else:
                    objective.request_stop("the line search found neither a serious nor a null step")
            else:
                if found[0] == "serious":
                    self._serious(*found[2:5])
                else:
                    u[...] = 0.0
                    self._null(found[1], *found[2:], shift, p)
                if st["f_ref"] - st["f"] > self.ftol * (1.0 + abs(st["f"])):
                    st.update(f_ref=st["f"], stall=0)
                else:
                    st["stall"] += 1
                    if self.patience is not None and st["stall"] >= self.patience:
                        if st["restarted_at"] != st["num_serious"] + 1:
                            st["stall"] = 0
                            self._restart()  # a long run of null steps: start again from D = I
                        else:
                            objective.request_stop(f"f fell by at most ftol (1 + |f|) in {self.patience} "
                                                   "iterations")
        return objective

    def _search(self, objective: Objective, f: float, p: np.ndarray, pnorm: float, w: float,
                u: np.ndarray) -> tuple[str, float, np.ndarray, float, np.ndarray, float] | None:
        """Trial points ``y = x - t p`` until a serious or a null step; ``u = t p`` at the end."""
        x = objective.x
        st = self.state
        limit = self.max_step * (1.0 + math.sqrt(_kb.dot(x, x)))
        t = min(float(st["t_start"]), limit / pnorm) if pnorm > 0 else 1.0
        lo, hi = 0.0, math.inf
        y = np.empty_like(x)
        slope = -(w - 2.0 * float(st["alpha"]))  # d^T agg
        for _ in range(self.maxtrials):
            _kb.trial_point(x, p, t, u, y)
            fy, gy = objective.evaluate(y)
            st["num_trials"] += 1
            descent = False
            if math.isfinite(fy):
                dxi = -_kb.dot(p, gy)
                beta = max(abs(f - fy + t * dxi), self.gamma * (t * pnorm) ** 2)
                descent = fy <= f - self.eps_l * t * w
                if descent and (t >= self.t_min or beta > self.eps_a * w):
                    return "serious", t, y, fy, np.array(gy, dtype=np.float64, copy=True), beta
                if -beta + dxi >= -self.eps_r * w:
                    return "null", t, y, fy, np.array(gy, dtype=np.float64, copy=True), beta
            if descent:
                lo = t
            else:
                hi = t
            if hi == math.inf:
                t = 2.0 * t
                if t * pnorm > limit:
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
        if "ns" in st:  # the curvature the last null step saw, then the step's own
            self._store_pair(st.pop("ns"), st.pop("nu"))
        self._store_pair(y - st["x"], gy - st["g"])
        st["num_serious"] += 1
        self._set_point(y, fy, gy)

    def _null(self, t: float, y: np.ndarray, fy: float, gy: np.ndarray, beta: float, shift: float,
              p_used: np.ndarray) -> None:
        st = self.state
        g, agg, pm, p = st["g"], st["agg"], st["pm"], st["p"]
        py = self._apply_D(gy)
        G = np.empty((3, 3))
        _kb.gram3(g, gy, agg, pm, py, p, shift, G)
        r = np.array([0.0, beta, float(st["alpha"])])
        l0, l1, l2 = _kb.simplex_qp3(G, r)
        new_agg = np.empty_like(agg)
        _kb.combine3(l0, l1, l2, g, gy, agg, new_agg)
        new_p = np.empty_like(agg)
        _kb.combine3(l0, l1, l2, pm, py, p, new_p)  # D new_agg
        # the next search starts where this one ended, nearer when the trial taught nothing
        st.update(agg=new_agg, p=new_p, alpha=l1 * beta + l2 * float(st["alpha"]), num_null=st["num_null"] + 1,
                  t_start=0.1 * t if l1 == 0.0 else t, ns=y - st["x"], nu=gy - g)
        nv = int(st["nv"])
        if not self.sr1 or nv == self.history:
            return
        # SR1: D <- D - v v^T / (u^T v), v = D u - s, with D u = py - pm and s = -t p_used
        v = np.empty_like(agg)
        uv, uu, vv = _kb.sr1_correction(py, pm, gy, g, p_used, t, v)
        if not (math.isfinite(uv) and uv > 1e-8 * math.sqrt(uu * vv)):
            return
        c_agg, c_g = _kb.dot(v, new_agg) / uv, _kb.dot(v, g) / uv
        p_next = np.empty_like(agg)
        _kb.rank_one_update(new_p, v, c_agg, p_next)
        pm_next = np.empty_like(agg)
        _kb.rank_one_update(pm, v, c_g, pm_next)
        # keep D positive where it is used: on the aggregate and on xi_m
        if _kb.dot(new_agg, p_next) > 0.0 and _kb.dot(g, pm_next) > 0.0:
            st["V"][nv] = v
            st["vscale"][nv] = 1.0 / uv
            st.update(nv=nv + 1, p=p_next, pm=pm_next)
