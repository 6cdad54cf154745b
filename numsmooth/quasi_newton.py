"""Quasi-Newton modules: dense :class:`BFGS` and limited-memory :class:`LBFGS`.

Both turn the incoming update (the gradient ``g``, or whatever an earlier module produced) into
the quasi-Newton direction ``H g``, where ``H`` approximates the inverse Hessian. The curvature
pair of a step is formed at the *next* step from the point and gradient stored in ``state``::

    s = x - x_prev,   y = g(x) - g(x_prev),

so the modules work with any line search placed after them (``ns.WeakWolfe()``,
``ns.Backtracking()``) and with a step the line search shortened or refused: the pair
describes the step that was actually taken. A line search that may return a zero step leaves
``s = 0``, and that pair is skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validation import check_int, check_real
from .modules import Module
from .objective import Objective

__all__ = ["BFGS", "LBFGS"]


def check_dense_fits(d: int, who: str) -> None:
    """Refuse a dense ``d x d`` float64 matrix larger than ``config`` ``block_budget_bytes``,
    naming the memory it would need and the limited-memory alternative (``ValueError``)."""
    from . import config

    need, budget = 8 * d * d, int(config.get("block_budget_bytes"))
    if need > budget:
        raise ValueError(f"{who} keeps a dense {d} x {d} inverse-Hessian approximation: {need / 2**30:.3g} GiB "
                         f"(about four times that while updating), more than the memory budget "
                         f"block_budget_bytes = {budget / 2**30:.3g} GiB. Use the limited-memory bundle method "
                         f"(ns.recipes.lmbm(), O(m d) memory) or LBFGS, or raise the budget with "
                         f"ns.config.set(block_budget_bytes=...)")


def _curvature_ok(s: np.ndarray, y: np.ndarray, sy: float, tol: float) -> bool:
    """Whether the pair may be used: ``s.y > tol * ||s|| * ||y||`` (so ``s.y > 0``) and finite."""
    if not math.isfinite(sy) or sy <= 0.0:
        return False
    return sy > tol * math.sqrt(float(np.dot(s, s))) * math.sqrt(float(np.dot(y, y)))


class BFGS(Module):
    """BFGS with a dense inverse-Hessian approximation.

    Each step replaces the incoming update ``u`` (the gradient unless an earlier module changed
    it) by ``H u``. Before that, the pair ``s = x - x_prev``, ``y = g - g_prev`` from the
    previous step updates ``H`` by the BFGS formula (Nocedal & Wright 2006, eq. 6.17)::

        H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T,   rho = 1 / (s^T y).

    Put a line search after it: ``ns.minimize(fun, x0, ns.BFGS(), ns.WeakWolfe())``.

    Parameters
    ----------
    init_scale : "auto" or float
        The initial Hessian approximation is ``init_scale * I`` (so ``H_0 = I / init_scale``),
        used from the first step. ``"auto"`` (default): ``H_0 = I`` on the first step, then,
        just before the first update, ``H_0 = (s^T y / y^T y) I`` (Nocedal & Wright, eq. 6.20).
        A float must be > 0; ``1.0`` is the unscaled identity of Lewis & Overton (2013).
    tol : float
        The update is skipped (``H`` kept) unless ``s^T y > tol * ||s|| * ||y||``: a pair
        with no positive curvature (``s^T y <= 0``, which a weak Wolfe step never gives),
        with ``s = 0`` (a refused step) or ``y = 0``, or with ``s`` and ``y`` nearly
        orthogonal, would make ``H`` indefinite or overflow. In [0, 1); default 1e-12.

    Notes
    -----
    ``state`` holds ``H`` (a ``(d, d)`` array, absent before the first step), ``x_prev``,
    ``g_prev`` (the point and gradient of the previous step), ``scaled`` (whether the
    ``"auto"`` scaling has been applied), and the counters ``num_updates`` and
    ``num_skipped``. ``reset()`` forgets all of it: the next step uses ``H_0`` again. Memory
    and work per step are O(d^2); use :class:`LBFGS` or :class:`~numsmooth.LimitedMemoryBundle`
    for large ``d``. The first step raises ``ValueError`` when ``H`` (``8 d^2`` bytes) exceeds
    the ``block_budget_bytes`` knob of :mod:`numsmooth.config`.

    References
    ----------
    J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed., Springer, Section 6.1.
    A. S. Lewis and M. L. Overton (2013), Nonsmooth optimization via quasi-Newton methods,
    Math. Program. 141:135-163.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> p = ns.problems.get("rosenbrock")
    >>> res = ns.minimize(p.fun, p.x0(10), ns.BFGS(), ns.WeakWolfe(), maxiter=500)
    >>> bool(res.fun < 1e-10)
    True
    """

    def __init__(self, init_scale: Any = "auto", tol: float = 1e-12):
        super().__init__()
        if isinstance(init_scale, str):
            if init_scale != "auto":
                raise ValueError(f"init_scale must be 'auto' or a float > 0; got {init_scale!r}")
            self.init_scale: str | float = "auto"
        else:
            self.init_scale = check_real("init_scale", init_scale, low=0.0, low_open=True)
        self.tol = check_real("tol", tol, low=0.0, high=1.0, high_open=True)

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        # H is the (d, d) inverse-Hessian approximation; every other array is a vector
        H = state.get("H")
        rest = {k: v for k, v in state.items() if k != "H"}
        super()._check_state(rest, size, where)
        if H is not None:
            if not isinstance(H, np.ndarray) or H.dtype.kind != "f" or (size is not None and H.shape != (size, size)):
                raise ValueError(f"{where}['H'] must be a float array of shape ({size}, {size}); got {H!r:.80}")
            if not np.all(np.isfinite(H)):
                raise ValueError(f"{where}['H'] must be finite")

    def config(self) -> dict[str, Any]:
        return {"init_scale": self.init_scale, "tol": self.tol}

    @property
    def H(self) -> np.ndarray | None:
        """The current inverse-Hessian approximation (a copy), or ``None`` before the first step."""
        H = self.state.get("H")
        return None if H is None else H.copy()

    def step(self, objective: Objective) -> Objective:
        x = objective.x
        g = objective.grad()
        u = objective.get_update()
        st = self.state
        if "H" not in st:
            check_dense_fits(x.size, "BFGS")
            h0 = 1.0 if self.init_scale == "auto" else 1.0 / float(self.init_scale)
            st.update(H=h0 * np.eye(x.size), scaled=self.init_scale != "auto", num_updates=0, num_skipped=0)
        else:
            s = x - st["x_prev"]
            y = g - st["g_prev"]
            sy = float(np.dot(s, y))
            if _curvature_ok(s, y, sy, self.tol):
                H = st["H"]
                if not st["scaled"]:
                    H *= sy / float(np.dot(y, y))
                    st["scaled"] = True
                _bfgs_inverse_update(H, s, y, sy)
                st["num_updates"] += 1
            else:
                st["num_skipped"] += 1
        st["x_prev"] = x.copy()
        st["g_prev"] = np.array(g, dtype=np.float64, copy=True)
        u[...] = st["H"] @ u
        return objective


def _bfgs_inverse_update(H: np.ndarray, s: np.ndarray, y: np.ndarray, sy: float) -> None:
    """``H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T`` in place, expanded as
    ``H - rho (Hy s^T + s (Hy)^T) + rho (1 + rho y^T H y) s s^T`` (``H`` symmetric)."""
    rho = 1.0 / sy
    Hy = H @ y
    yHy = float(np.dot(y, Hy))
    H -= rho * (np.outer(Hy, s) + np.outer(s, Hy))
    H += (rho * (1.0 + rho * yHy)) * np.outer(s, s)


class LBFGS(Module):
    """Limited-memory BFGS: the two-loop recursion over the last ``history`` pairs.

    Each step replaces the incoming update ``u`` by ``H u``, where ``H`` is the BFGS inverse
    Hessian built from the stored pairs ``(s_i, y_i)`` starting from
    ``H_0 = (s^T y / y^T y) I`` of the newest pair (Nocedal & Wright 2006, Algorithm 7.4 and
    eq. 7.20). With no pair yet, ``H = I``. A new pair ``s = x - x_prev``, ``y = g - g_prev``
    is stored at the start of each step unless ``s^T y <= tol * ||s|| * ||y||`` (no positive
    curvature, a refused step ``s = 0``, or ``y = 0``); the oldest is then dropped when more
    than ``history`` are kept.

    Parameters
    ----------
    history : int
        Number of pairs kept, >= 1.
    tol : float
        Relative curvature threshold for storing a pair, in [0, 1); default 1e-12.

    Notes
    -----
    ``state`` holds the lists ``s`` and ``y`` (oldest first), ``x_prev``, ``g_prev`` and the
    counters ``num_updates``, ``num_skipped``; ``reset()`` clears the memory. With
    ``history >= d`` and exact line searches on a convex quadratic, the iterates are those of
    :class:`BFGS` (both are conjugate-gradient iterates there).

    References
    ----------
    J. Nocedal (1980), Updating quasi-Newton matrices with limited storage, Math. Comp.
    35(151):773-782. J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed.,
    Springer, Section 7.2.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> p = ns.problems.get("rosenbrock")
    >>> res = ns.minimize(p.fun, p.x0(10), ns.LBFGS(history=5), ns.WeakWolfe(), maxiter=500)
    >>> bool(res.fun < 1e-10)
    True
    """

    def __init__(self, history: int = 10, tol: float = 1e-12):
        super().__init__()
        self.history = check_int("history", history, low=1)
        self.tol = check_real("tol", tol, low=0.0, high=1.0, high_open=True)

    def config(self) -> dict[str, Any]:
        return {"history": self.history, "tol": self.tol}

    def step(self, objective: Objective) -> Objective:
        x = objective.x
        g = objective.grad()
        u = objective.get_update()
        st = self.state
        if "x_prev" not in st:
            st.update(s=[], y=[], num_updates=0, num_skipped=0)
        else:
            s = x - st["x_prev"]
            y = g - st["g_prev"]
            if _curvature_ok(s, y, float(np.dot(s, y)), self.tol):
                st["s"].append(s)
                st["y"].append(y)
                if len(st["s"]) > self.history:
                    del st["s"][0], st["y"][0]
                st["num_updates"] += 1
            else:
                st["num_skipped"] += 1
        st["x_prev"] = x.copy()
        st["g_prev"] = np.array(g, dtype=np.float64, copy=True)
        u[...] = _two_loop(u, st["s"], st["y"])
        return objective


def _two_loop(q: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray]) -> np.ndarray:
    """``H q`` by the two-loop recursion, ``H_0 = (s^T y / y^T y) I`` of the newest pair."""
    q = q.copy()
    k = len(S)
    if k == 0:
        return q
    rho = [1.0 / float(np.dot(S[i], Y[i])) for i in range(k)]
    alpha = [0.0] * k
    for i in range(k - 1, -1, -1):
        alpha[i] = rho[i] * float(np.dot(S[i], q))
        q -= alpha[i] * Y[i]
    gamma = float(np.dot(S[-1], Y[-1])) / float(np.dot(Y[-1], Y[-1]))
    r = gamma * q
    for i in range(k):
        beta = rho[i] * float(np.dot(Y[i], r))
        r += (alpha[i] - beta) * S[i]
    return r
