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
_BLOCKS = ("S", "U")
# small (m, m) matrices: s_i^T u_j, u_i^T u_j of the stored rows, and the L-SR1 middle inverse
_SQUARES = ("StU", "UtU", "StS", "Ninv")
# keys of the state of numsmooth 0.2's LimitedMemoryBundle, which kept its SR1 corrections apart
_OLD_KEYS = ("V", "vscale", "nv")


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
         eps_a w``): ``x`` moves to ``y``; the pair ``(y - x, xi - xi_m)`` enters the memory
         (when ``s^T u > 0``), ``D`` becomes the L-BFGS matrix of the stored pairs and the
         aggregate restarts at ``xi``;
       - **null step** when ``-beta + d^T xi >= -eps_r w``: ``x`` stays; the new aggregate is
         ``l_0 xi_m + l_1 xi + l_2 agg`` with error ``l_1 beta + l_2 alpha``, the ``l`` on
         the unit simplex minimizing ``v^T D v + 2 (error)``; then, when the pair ``s = y -
         x``, ``u = xi - xi_m`` shows more curvature along ``d`` than ``D`` has (``-d^T u -
         agg^T s < 0``, the condition under which one SR1 update keeps ``D`` positive
         definite), the pair enters the memory and ``D`` becomes the limited-memory SR1 matrix
         of the stored pairs (from ``theta I``, compact form), but only if that matrix is
         positive definite and no larger than the previous ``D`` on the new aggregate;
       - otherwise ``t`` shrinks (safeguarded quadratic interpolation) or, once a decrease
         was found, is bisected towards it; after ``maxtrials`` trials the pairs are
         dropped and the iteration repeated (once per point; then the run ends).

    In a run of null steps ``D`` does not grow on the aggregate, so ``w`` falls along it, and every
    accumulation point of the serious points is Clarke stationary for locally Lipschitz,
    weakly upper semismooth ``f`` (the argument of Haarala, Miettinen & Mäkelä 2007, Section
    4, which needs the metric to be bounded and, in null steps, non-increasing on the
    aggregate; Vlček & Lukšan 2001 for the line search).

    Parameters
    ----------
    history : int
        Pairs kept, ``m >= 1`` (those of serious and of null steps, in one circular store).
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
    flat_steps : int
        When ``w`` did not fall by more than ``1e-5 w`` in each of more than ``flat_steps`` null
        steps in a row, drop the pairs and start again from ``D = I``, or, when that was done
        at this point already, end the run (the accuracy ``w`` can reach there is attained).

    Notes
    -----
    ``state`` holds the point ``x``, ``f`` and ``g`` (``xi_m``; a step never evaluates ``x``
    again), ``pm = D xi_m``, ``agg``, ``alpha``, ``p = D agg``, the memory ``S``, ``U``
    (``(history, d)`` blocks, a circular store with ``head`` and ``count``), ``rho_pairs``
    (``1 / s^T u``), the products ``StU``, ``UtU``, ``StS`` of the stored rows (``(history,
    history)``), ``theta`` (``H_0 = theta I``, ``s^T u / u^T u`` of the last serious pair),
    ``sr1`` (whether ``D`` is the L-SR1 matrix) and its middle inverse ``Ninv``, ``t_start``
    (the first trial step), ``nnk`` (null steps since the last serious one), and the counters
    ``num_serious``, ``num_null``, ``num_sr1`` (accepted SR1 updates), ``num_restarts``,
    ``num_trials`` (oracle calls at trial points), ``restarted_at``, ``stall`` (iterations
    since ``f`` last fell by more than ``ftol (1 + |f|)`` below ``f_ref``) and ``f_ref``.
    Vectors are replaced, never changed in place; the rows a step may write in the blocks
    are copied by :meth:`snapshot` (``2 d`` words).

    Memory: ``2 m d`` words for the blocks and a few vectors of ``d`` in a step (``x``,
    ``g``, ``pm``, ``agg``, ``p``, the snapshot's rows, the trial point, its subgradient and
    the pair ``s``, ``u``).

    References
    ----------
    M. Haarala, K. Miettinen, M. M. Mäkelä (2004), New limited memory bundle method for
    large-scale nonsmooth optimization, Optim. Methods Softw. 19(6):673-692.
    N. Haarala, K. Miettinen, M. M. Mäkelä (2007), Globally convergent limited memory bundle
    method for large-scale nonsmooth optimization, Math. Program. 109:181-205.
    R. H. Byrd, J. Nocedal, R. B. Schnabel (1994), Representations of quasi-Newton matrices
    and their use in limited memory methods, Math. Program. 63:129-156.
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
                 patience: int | None = None, flat_steps: int = 20):
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
        self.flat_steps = check_int("flat_steps", flat_steps, low=1)

    def config(self) -> dict[str, Any]:
        return {"history": self.history, "tol": self.tol, "eps_l": self.eps_l, "eps_r": self.eps_r,
                "eps_a": self.eps_a, "t_min": self.t_min, "gamma": self.gamma, "rho": self.rho,
                "maxtrials": self.maxtrials, "max_step": self.max_step, "sr1": self.sr1,
                "ftol": self.ftol, "patience": self.patience, "flat_steps": self.flat_steps}

    # -- state ----------------------------------------------------------------------------------
    def _upgrade(self, state: dict[str, Any]) -> dict[str, Any]:
        # a state of numsmooth 0.2's version is refused here, before its configuration (which
        # lacks flat_steps) would be reported as merely different
        own = state.get("state")
        if isinstance(own, dict) and (any(k in own for k in _OLD_KEYS)
                                      or ("S" in own and not all(k in own for k in _SQUARES))):
            raise ValueError(
                f"{type(self).__name__}: this state was saved by an earlier LimitedMemoryBundle (numsmooth "
                f"0.2, which kept its SR1 corrections apart: keys {', '.join(repr(k) for k in _OLD_KEYS)}); "
                "this version keeps them in its limited memory and cannot resume that state. Start a new run "
                "from the saved point x.")
        return super()._upgrade(state)

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        m = self.history
        small = ("rho_pairs",)
        super()._check_state({k: v for k, v in state.items() if k not in _BLOCKS + small + _SQUARES}, size,
                             where)
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
        for key in _SQUARES:
            v = state.get(key)
            if v is not None and (not isinstance(v, np.ndarray) or v.shape != (m, m) or v.dtype != np.float64):
                raise ValueError(f"{where}[{key!r}] must be a float64 array of shape ({m}, {m}); got {v!r:.80}")
        for key in ("head", "count"):
            if key in state and not 0 <= int(state[key]) <= m:
                raise ValueError(f"{where}[{key!r}] must be in [0, {m}]; got {state[key]!r}")

    def snapshot(self) -> Any:
        # vectors are replaced, not changed: copy only the rows of the blocks a step may write
        st = self.state
        rows = None
        if "S" in st:
            h = int(st["head"])
            rows = (h, st["S"][h].copy(), st["U"][h].copy(), float(st["rho_pairs"][h]), st["StU"].copy(),
                    st["UtU"].copy(), st["StS"].copy())
        return dict(st), rows, [c.snapshot() for c in self.children()]

    def restore(self, snapshot: Any) -> None:
        own, rows, kids = snapshot
        if rows is not None:
            h, s, u, r, stu, utu, sts = rows
            own["S"][h], own["U"][h], own["rho_pairs"][h] = s, u, r
            own["StU"][...] = stu
            own["UtU"][...] = utu
            own["StS"][...] = sts
        super().restore((own, kids))

    # -- the metric -----------------------------------------------------------------------------
    def _rows(self, drop_oldest: bool = False) -> np.ndarray:
        """The rows of the stored pairs, oldest first (without the oldest when ``drop_oldest``)."""
        st = self.state
        m, h, c = self.history, int(st["head"]), int(st["count"])
        first = 1 if drop_oldest and c > 0 else 0
        return np.array([(h - c + i) % m for i in range(first, c)], dtype=np.int64)

    def _apply_D(self, q: np.ndarray, new: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """``D q``: the L-BFGS matrix of the stored pairs after a serious step, their L-SR1 matrix
        once a null step updated it (``new``: the L-SR1 matrix with the pair ``(s, u)`` added,
        ``new = (s, u, Ninv)``)."""
        st = self.state
        out = np.empty_like(q)
        if new is None and not st["sr1"]:
            _kb.lbfgs_apply(st["S"], st["U"], st["rho_pairs"], int(st["head"]), int(st["count"]),
                            float(st["theta"]), 1.0, q, out, np.empty(self.history))
            return out
        if new is None:
            rows, s, u, Ninv = self._rows(), q, q, st["Ninv"]
        else:
            rows, (s, u, Ninv) = self._rows(drop_oldest=int(st["count"]) == self.history), new
        _kb.lsr1_apply(st["S"], st["U"], rows, rows.size, s, u, new is not None, float(st["theta"]), Ninv, q, out,
                       np.empty(2 * self.history))
        return out

    def _sr1_middle(self, rows: np.ndarray, su: np.ndarray, us: np.ndarray, uu: np.ndarray, ss: np.ndarray,
                    s_u: float, u_u: float, s_s: float) -> np.ndarray | None:
        """The inverse of the L-SR1 middle matrix of the stored pairs ``rows`` and a new pair.

        With ``H_0 = gamma I`` and the pairs oldest first, ``H = gamma I + Z N^{-1} Z^T``, ``Z =
        S - gamma U``, ``N_ii = s_i^T u_i - gamma u_i^T u_i`` and, for ``i < j``, ``N_ij = N_ji =
        s_i^T u_j - gamma u_i^T u_j`` (Byrd, Nocedal & Schnabel 1994). None when ``N`` is
        (nearly) singular or ``H`` is not positive definite (``H`` is ``gamma`` off the range of
        ``Z`` and similar to ``gamma I + N^{-1} Z^T Z`` on it); the result is padded to ``(m, m)``.
        """
        st = self.state
        gamma = float(st["theta"])
        k = rows.size
        n = k + 1
        N = np.empty((n, n))
        StU, UtU, StS = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
        if k:
            sub = np.ix_(rows, rows)
            StU[:k, :k], UtU[:k, :k], StS[:k, :k] = st["StU"][sub], st["UtU"][sub], st["StS"][sub]
        StU[:k, k], StU[k, :k], StU[k, k] = su, us, s_u
        UtU[:k, k] = UtU[k, :k] = uu
        StS[:k, k] = StS[k, :k] = ss
        UtU[k, k], StS[k, k] = u_u, s_s
        upper = np.triu(StU)
        N = upper + np.triu(upper, 1).T - gamma * UtU  # s_i^T u_j: the older s with the newer u
        if not np.all(np.isfinite(N)):
            return None
        ev = np.linalg.eigvalsh(N)
        if np.min(np.abs(ev)) <= 1e-10 * np.max(np.abs(ev)):
            return None
        Ninv = np.linalg.inv(N)
        ZtZ = StS - gamma * (StU + StU.T) + gamma**2 * UtU
        if not np.min(np.linalg.eigvals(gamma * np.eye(n) + Ninv @ ZtZ).real) > 1e-8 * gamma:
            return None
        out = np.zeros((self.history, self.history))
        out[:n, :n] = Ninv
        return out

    def _store_pair(self, s: np.ndarray, u: np.ndarray, products: tuple[np.ndarray, ...] | None = None,
                    rescale: bool = True) -> bool:
        """Write the pair into the memory (the oldest dropped when full) if ``s^T u > 0``;
        ``products``: its products with the pairs that stay, when known."""
        st = self.state
        su, ss, uu = _kb.dot_norms(s, u)
        if not (math.isfinite(su) and su > 1e-12 * math.sqrt(ss * uu)):
            return False
        m = self.history
        rows = self._rows(drop_oldest=int(st["count"]) == m)
        if products is None:
            products = tuple(np.empty(rows.size) for _ in range(4))
            _kb.pair_products(st["S"], st["U"], rows, rows.size, s, u, *products)
        a, b, c, e = products
        h = int(st["head"])
        st["S"][h] = s
        st["U"][h] = u
        st["rho_pairs"][h] = 1.0 / su
        StU, UtU = st["StU"], st["UtU"]
        StU[rows, h], StU[h, rows], UtU[rows, h], UtU[h, rows] = a, b, c, c
        StS = st["StS"]
        StS[rows, h] = StS[h, rows] = e
        StU[h, h], UtU[h, h], StS[h, h] = su, uu, ss
        st.update(head=(h + 1) % m, count=min(int(st["count"]) + 1, m))
        if rescale:
            st["theta"] = su / uu
        return True

    # -- the method -----------------------------------------------------------------------------
    def _start(self, objective: Objective) -> None:
        """A new serious point at ``objective.x`` (first step, or ``x`` was moved from outside)."""
        f, g = objective.loss_and_grad()
        st = self.state
        d = objective.x.size
        if "S" not in st or st["S"].shape[1] != d:
            m = self.history
            st.update(S=np.zeros((m, d)), U=np.zeros((m, d)), StU=np.zeros((m, m)), UtU=np.zeros((m, m)), StS=np.zeros((m, m)),
                      Ninv=np.zeros((m, m)), rho_pairs=np.zeros(m), head=0, count=0, sr1=False, theta=1.0,
                      num_serious=0, num_null=0, num_sr1=0, num_restarts=0, num_trials=0, restarted_at=0, w=math.inf, flat=0,
                      stall=0, f_ref=float(f))
        self._set_point(objective.x.copy(), float(f), np.array(g, dtype=np.float64, copy=True))

    def _set_point(self, x: np.ndarray, f: float, g: np.ndarray) -> None:
        """``x`` is the serious point: ``D`` is the L-BFGS matrix, the aggregate is ``g``."""
        self.state.update(sr1=False, nnk=0, flat=0)
        p = self._apply_D(g)
        self.state.update(x=x, f=f, g=g, pm=p, agg=g, p=p, alpha=0.0, t_start=1.0)

    def _restart(self) -> None:
        """Forget the pairs (``D = I``) and start the aggregate again at ``x``."""
        st = self.state
        st.update(count=0, head=0, theta=1.0, num_restarts=st["num_restarts"] + 1,
                  restarted_at=st["num_serious"] + 1)
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
        # null steps in a row that did not lower w by more than 1e-5 w (w would take more than
        # 10^5 such steps to halve)
        flat = int(st["nnk"]) > 0 and w >= (1.0 - 1e-5) * float(st["w"])
        st.update(w=w, flat=int(st["flat"]) + 1 if flat else 0)
        if not math.isfinite(w):
            objective.request_stop("the direction is not finite")
        elif st["flat"] > self.flat_steps:
            if once_more:
                self._restart()
            else:
                objective.request_stop(f"w = {w:.3g} did not fall in {self.flat_steps} null steps in a row")
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
                if descent:
                    lo = t
                else:
                    hi = t
                # once the bracket is shorter than t_min / 10 the step is null
                if -beta + dxi >= -self.eps_r * w or hi - lo < 0.1 * self.t_min:
                    return "null", t, y, fy, np.array(gy, dtype=np.float64, copy=True), beta
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
        s, u = np.empty_like(y), np.empty_like(y)
        _kb.diff(y, st["x"], s)
        _kb.diff(gy, st["g"], u)
        self._store_pair(s, u)
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
        new_p = py  # D new_agg, written over D xi
        _kb.combine3(l0, l1, l2, pm, py, p, new_p)
        # the next search starts where this one ended, nearer when the trial taught nothing
        st.update(agg=new_agg, p=new_p, alpha=l1 * beta + l2 * float(st["alpha"]), num_null=st["num_null"] + 1,
                  nnk=int(st["nnk"]) + 1, t_start=0.1 * t if l1 == 0.0 else t)
        if not self.sr1:
            return
        # L-SR1 with the pair s = y - x = -t p_used, u = xi - xi_m, when the pair shows more
        # curvature along d = -p_used than D has (-d^T u - agg^T s < 0), and only if it does
        # not make D larger on the new aggregate
        s, u = np.empty_like(y), np.empty_like(y)
        _kb.diff(y, st["x"], s)
        _kb.diff(gy, g, u)
        if not _kb.dot(p_used, u) + t * _kb.dot(agg, p_used) < 0.0:
            return
        s_u, s_s, u_u = _kb.dot_norms(s, u)
        if not (math.isfinite(s_u) and s_u > 0.0):
            return
        rows = self._rows(drop_oldest=int(st["count"]) == self.history)
        su, us, uu, ss = (np.empty(rows.size) for _ in range(4))
        _kb.pair_products(st["S"], st["U"], rows, rows.size, s, u, su, us, uu, ss)
        products = (su, us, uu, ss)
        Ninv = self._sr1_middle(rows, su, us, uu, ss, s_u, u_u, s_s)
        if Ninv is None:
            return
        # new_agg^T D_next new_agg from the m x m algebra first: most candidates are refused here
        a_next = _kb.lsr1_quad(st["S"], st["U"], rows, rows.size, s, u, True, float(st["theta"]), Ninv, new_agg,
                               np.empty(self.history))
        if not (math.isfinite(a_next) and a_next <= _kb.dot(new_agg, new_p)):
            return
        p_next = self._apply_D(new_agg, (s, u, Ninv))
        self._store_pair(s, u, products, rescale=False)
        st.update(sr1=True, Ninv=Ninv, p=p_next, num_sr1=st["num_sr1"] + 1)
        st["pm"] = self._apply_D(g)
