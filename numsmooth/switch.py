"""Run one module chain until it stalls, then another: :class:`Switch`.

HANSO (Lewis & Overton 2013) is BFGS with a weak Wolfe line search until it stalls, then
gradient sampling from where BFGS stopped; :func:`~numsmooth.recipes.hanso` builds it from a
:class:`Switch`. Switches nest, so ``Switch(a, Switch(b, c))`` runs three phases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._state import Stateful
from ._validation import check_bool, check_int, check_real
from .modules import Module, as_module_list, run_subchain
from .objective import Objective

__all__ = ["Switch"]


class Switch(Module):
    """Run the ``first`` chain until it stalls, then the ``second`` chain from where it stopped.

    A step of the first phase runs the ``first`` chain; afterwards the step counts as a *stall*
    when

    - a module of the chain reports a failed line search (``state["failed"]`` True, as
      :class:`~numsmooth.WeakWolfe` records) and ``on_failure`` is set, or
    - the step moved ``x`` by at most ``step_tol`` (2-norm of the update), or
    - ``||g(x)|| <= grad_tol`` at the start of the step.

    A failed line search switches at once; tiny steps or gradients switch after ``patience``
    consecutive stalled steps. The first phase also ends after ``max_steps`` steps, or when its
    chain asks to end the run (:meth:`~numsmooth.Objective.request_stop`, e.g. an inner
    :class:`~numsmooth.GradientSampling` whose sigma fell below its floor): the ``second``
    chain then takes over within the same step. From the step after a switch on, every step
    runs the ``second`` chain, whose stop requests end the run.

    Parameters
    ----------
    first, second : Module or list of Module
        The two chains (a list is applied in order, like the modules of
        :func:`~numsmooth.minimize`).
    on_failure : bool
        Switch when a line search of the first chain fails.
    step_tol : float
        A step whose update has 2-norm at most this counts as stalled, >= 0.
    grad_tol : float
        A step starting where ``||g(x)||`` is at most this counts as stalled, >= 0.
    patience : int
        Consecutive stalled steps (tiny step or gradient) that switch, >= 1.
    max_steps : int, optional
        Most steps of the first phase (``None``: no limit).

    Attributes
    ----------
    phase : int
        0 while the first chain runs, 1 after the switch.
    switch_step : int
        The step (0-based, counted by this module) at which the first phase ended; -1 before.

    Notes
    -----
    ``state`` holds ``phase``, ``steps`` (steps run by this module), ``stalls`` (the current
    run of stalled steps) and ``switch_step``: plain data, saved, restored and rolled back with
    the optimizer like the states of the two chains, which are its children. ``reset()``
    returns to the first phase and resets both chains.

    Examples
    --------
    Gradient descent with a fixed step until the steps become tiny, then BFGS:

    >>> import numpy as np, numsmooth as ns
    >>> from numsmooth.switch import Switch
    >>> sw = Switch([ns.LR(0.1)], [ns.BFGS(), ns.WeakWolfe()], step_tol=1e-3)

    The update 0.2 x has norm 0.2 sqrt(3) 0.8^k, at most 1e-3 first at step k = 27:

    >>> res = ns.minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), sw, maxiter=100)
    >>> sw.phase, sw.switch_step, bool(res.fun < 1e-20)
    (1, 27, True)
    """

    def __init__(self, first: Any, second: Any, *, on_failure: bool = True, step_tol: float = 0.0,
                 grad_tol: float = 0.0, patience: int = 1, max_steps: int | None = None):
        super().__init__()
        self.first = as_module_list(first, "first")
        self.second = as_module_list(second, "second")
        if not self.first or not self.second:
            raise ValueError("first and second must each hold at least one module")
        self.on_failure = check_bool("on_failure", on_failure)
        self.step_tol = check_real("step_tol", step_tol, low=0.0)
        self.grad_tol = check_real("grad_tol", grad_tol, low=0.0)
        self.patience = check_int("patience", patience, low=1)
        self.max_steps = None if max_steps is None else check_int("max_steps", max_steps, low=1)
        self._init_state()

    def _init_state(self) -> None:
        self.state.update(phase=0, steps=0, stalls=0, switch_step=-1)

    def children(self) -> list[Stateful]:
        return [*self.first, *self.second]

    def config(self) -> dict[str, Any]:
        return {"on_failure": self.on_failure, "step_tol": self.step_tol, "grad_tol": self.grad_tol,
                "patience": self.patience, "max_steps": self.max_steps}

    def reset(self) -> None:
        """Back to the first phase; both chains reset."""
        super().reset()
        self._init_state()

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        expected = {"phase", "steps", "stalls", "switch_step"}
        if set(state) != expected:
            raise ValueError(f"{where} must have the keys {sorted(expected)}; got {sorted(state)}")
        for k in expected:
            if isinstance(state[k], bool) or not isinstance(state[k], (int, np.integer)):
                raise TypeError(f"{where}[{k!r}] must be an integer; got {state[k]!r}")
        if state["phase"] not in (0, 1):
            raise ValueError(f"{where}['phase'] must be 0 or 1; got {state['phase']!r}")
        if state["switch_step"] < -1 or min(state["steps"], state["stalls"]) < 0:
            raise ValueError(f"{where}: counters must be >= 0 (switch_step >= -1); got {state!r}")

    @property
    def phase(self) -> int:
        """0 while the first chain runs, 1 after the switch."""
        return int(self.state["phase"])

    @property
    def switch_step(self) -> int:
        """The step at which the first phase ended (-1 before the switch)."""
        return int(self.state["switch_step"])

    @property
    def sigma(self) -> float:
        """The smoothing scale of the active chain's first module that has one (``nan`` if none)."""
        for m in self.second if self.phase else self.first:
            s = getattr(m, "sigma", None)
            if isinstance(s, (int, float)) and not isinstance(s, bool):
                return float(s)
        return math.nan

    # -- the step -----------------------------------------------------------------------------
    def step(self, objective: Objective) -> Objective:
        st = self.state
        step = st["steps"]
        st["steps"] = step + 1
        if st["phase"] == 1:
            return self._run(self.second, objective)
        gnorm = math.inf
        if self.grad_tol > 0.0:
            g = objective.grad()
            gnorm = math.sqrt(float(np.dot(g, g)))
        incoming = None if objective.update is None else objective.update.copy()
        if not run_subchain(self.first, objective, objective):
            # the first chain is done: the second takes over in this step, from the same point
            self._switch(step)
            objective.stop_message = None
            objective.update = incoming
            return self._run(self.second, objective)
        u = objective.get_update()
        failed = self.on_failure and any(m.state.get("failed") is True for m in self.first)
        tiny = math.sqrt(float(np.dot(u, u))) <= self.step_tol or gnorm <= self.grad_tol
        st["stalls"] = st["stalls"] + 1 if tiny else 0
        if failed or st["stalls"] >= self.patience or (self.max_steps is not None and step + 1 >= self.max_steps):
            self._switch(step)
        return objective

    def _switch(self, step: int) -> None:
        self.state.update(phase=1, stalls=0, switch_step=step)

    def _run(self, chain: list[Module], objective: Objective) -> Objective:
        run_subchain(chain, objective, objective)
        return objective
