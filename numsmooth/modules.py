"""The module protocol and the basic modules: LR, Momentum, Adam, Backtracking.

A module transforms the :class:`~numsmooth.objective.Objective` of one optimizer step: it may
read ``f(x)``/``g(x)``, replace the update, or hand later modules a different objective (as
:class:`~numsmooth.GradientSampling` does). Modules in a list form a chain, applied in order.
All mutable state of a module lives in its ``state`` dict of plain data (floats, ints, arrays),
so saving, restoring and rolling back a failed step are generic.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._state import Stateful
from ._validation import check_int, check_real
from .objective import Objective


class Module(Stateful):
    """Base class of every module.

    Subclasses implement :meth:`step`, keep their mutable state as plain data in ``self.state``
    and list their sub-modules in :meth:`children`. ``reset()`` clears the state of the module
    and of its children; :meth:`state_dict` / :meth:`load_state_dict` save and restore it (see
    :class:`numsmooth._state.Stateful`).
    """

    def step(self, objective: Objective) -> Objective:  # pragma: no cover - abstract
        """Transform ``objective`` (usually its ``update``) and return the objective for the next module."""
        raise NotImplementedError


def as_module_list(modules: Any, name: str = "modules") -> list[Module]:
    """Normalise ``None``, a module, or an iterable of modules (nested lists flattened) to a list."""
    if modules is None:
        return []
    if isinstance(modules, Module):
        return [modules]
    if isinstance(modules, (list, tuple)):
        out: list[Module] = []
        for i, m in enumerate(modules):
            if isinstance(m, (list, tuple)):
                out.extend(as_module_list(m, f"{name}[{i}]"))
            elif isinstance(m, Module):
                out.append(m)
            else:
                raise TypeError(f"{name}[{i}] must be a numsmooth module; got {m!r}")
        return out
    raise TypeError(f"{name} must be a module, a list of modules or None; got {modules!r}")


def run_chain(modules: Sequence[Module], objective: Objective) -> Objective:
    """Apply ``modules`` in order, each to the objective the previous one returned.

    A module that sets ``objective.reset_following = True`` (as GradientSampling does when its
    sigma decays) has the state of every module after it reset before they run; one that
    requests a stop (``objective.request_stop``) ends the chain.
    """
    for i, m in enumerate(modules):
        objective = m.step(objective)
        if objective.stop_message is not None:
            break
        if objective.reset_following:
            objective.reset_following = False
            for later in modules[i + 1:]:
                later.reset()
    return objective


class LR(Module):
    """Multiply the update by a learning rate.

    Parameters
    ----------
    lr : float
        Step size, > 0.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.array([1.0, 2.0]), ns.LR(0.25))
    >>> _ = opt.step(lambda x: (float(x @ x), 2 * x))
    >>> opt.x
    array([0.5, 1. ])
    """

    def __init__(self, lr: float = 1e-3):
        super().__init__()
        self.lr = check_real("lr", lr, low=0.0, low_open=True)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def step(self, objective: Objective) -> Objective:
        objective.get_update()[...] *= self.lr
        return objective


class Momentum(Module):
    """Heavy-ball or Nesterov momentum on the update.

    ``buf = beta * buf + u``; the update becomes ``buf`` (heavy ball) or ``u + beta * buf``
    (Nesterov), the convention of ``torch.optim.SGD``.

    Parameters
    ----------
    beta : float
        Momentum factor in [0, 1).
    nesterov : bool
        Use Nesterov's look-ahead form.
    """

    def __init__(self, beta: float = 0.9, nesterov: bool = False):
        super().__init__()
        self.beta = check_real("beta", beta, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False; got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "nesterov": self.nesterov}

    def step(self, objective: Objective) -> Objective:
        u = objective.get_update()
        buf = self.state.get("buf")
        if buf is None:
            buf = self.state["buf"] = u.copy()
        else:
            buf *= self.beta
            buf += u
        if self.nesterov:
            u += self.beta * buf
        else:
            u[...] = buf
        return objective


class Adam(Module):
    """Adam (Kingma & Ba 2015) with bias correction.

    Parameters
    ----------
    lr : float
        Step size, > 0.
    betas : tuple of float
        Decay rates of the first and second moments, each in [0, 1).
    eps : float
        Added to the denominator, >= 0.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__()
        self.lr = check_real("lr", lr, low=0.0, low_open=True)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats in [0, 1); got {betas!r}")
        self.betas = (
            check_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
            check_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True),
        )
        self.eps = check_real("eps", eps, low=0.0)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps}

    def step(self, objective: Objective) -> Objective:
        u = objective.get_update()
        b1, b2 = self.betas
        if "m" not in self.state:
            self.state.update(m=np.zeros_like(u), v=np.zeros_like(u), t=0)
        m, v = self.state["m"], self.state["v"]
        t = self.state["t"] = self.state["t"] + 1
        m *= b1
        m += (1.0 - b1) * u
        v *= b2
        v += (1.0 - b2) * (u * u)
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        u[...] = self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return objective


class Backtracking(Module):
    """Armijo backtracking line search along the update.

    Tries ``t = init, init*beta, init*beta^2, ...`` (at most ``maxiter`` values) and accepts the
    first with ``f(x - t*d) <= f(x) - c * t * g(x).d``, where ``d`` is the incoming update and
    ``f``/``g`` are those of the objective this module is given (the smoothed one after
    :class:`~numsmooth.GradientSampling`). If no trial satisfies the condition, the step is the
    trial with the lowest value if it decreased ``f``, otherwise zero. A non-finite ``f(x)`` or
    direction is passed on unsearched, so the optimizer refuses the step.

    Parameters
    ----------
    init : float
        First step length tried, > 0.
    beta : float
        Shrink factor in (0, 1).
    c : float
        Sufficient-decrease constant in [0, 1).
    maxiter : int
        Most trial points per step, >= 1.
    """

    def __init__(self, init: float = 1.0, beta: float = 0.5, c: float = 1e-4, maxiter: int = 20):
        super().__init__()
        self.init = check_real("init", init, low=0.0, low_open=True)
        self.beta = check_real("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
        self.c = check_real("c", c, low=0.0, high=1.0, high_open=True)
        self.maxiter = check_int("maxiter", maxiter, low=1)

    def config(self) -> dict[str, Any]:
        return {"init": self.init, "beta": self.beta, "c": self.c, "maxiter": self.maxiter}

    def step(self, objective: Objective) -> Objective:
        d = objective.get_update()
        f0, g0 = objective.loss_and_grad()
        if not (np.isfinite(f0) and np.all(np.isfinite(d))):
            return objective  # nothing to search; the optimizer refuses a non-finite update
        slope = float(np.dot(g0, d))
        t = self.init
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
