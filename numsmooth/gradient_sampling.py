"""The gradient-sampling / Gaussian-homotopy stepper."""

from __future__ import annotations

import math
import numbers
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ._state import Stateful, check_entry
from ._validation import check_bool, check_choice, check_int, check_real
from .modules import Module, as_module_list, run_subchain
from .objective import Objective, X0Term
from .oracles import OracleBase
from .perturbations import seed_to_key
from .sampler import Evaluation, Sampler
from .termination import as_criterion

__all__ = ["GradientSampling"]


class GradientSampling(Module):
    """Optimize the smoothed objective: aggregate values and gradients at perturbed points.

    The modules after this one (or its own ``modules``) see the objective of
    :func:`~numsmooth.smoothed` in place of the user's; the stepper owns what changes over time:
    the perturbations, ``sigma`` and its decay when a termination criterion fires.

    Parameters
    ----------
    modules : Module, list of Module, or None
        Modules that optimize the smoothed objective. With ``None`` the update is the smoothed
        gradient and the modules after this one in the chain see the smoothed objective.
    sigma : float
        Initial perturbation scale, > 0.
    n : int
        Evaluations per call of the smoothed objective (the x0 term included).
    aggregate : {'mean', 'max', 'min', 'min-norm', 'min-value', 'min-norm-hull'}
        How values and gradients are combined (see :func:`~numsmooth.smoothed`).
    distribution : str, callable or ndarray
        Unscaled perturbations (see :func:`~numsmooth.smoothed`).
    include_x0 : bool
        Evaluate at ``x`` itself as the first point; ``f(x)``, ``g(x)`` are then shared with the
        termination criteria and the sigma strategy.
    fixed : bool
        Keep the perturbations across steps until a termination criterion fires.
    pre_generate : bool
        Draw the perturbations once per step, so every evaluation within a step (line search
        trials included) sees the same function. With False every evaluation draws new ones
        and ``fixed`` has no effect.
    termination : criterion or list of criteria, optional
        Checked once per step, before sampling, on the unsmoothed objective at ``x``. When it
        fires: ``sigma *= decay``, new perturbations are drawn, the criteria are reset (the
        firing step counts as the first step of the new stage) and, with
        ``reset_on_termination``, the state of the inner modules (or, with ``modules=None``, of
        the modules after this one) is reset.
    decay : float
        Factor applied to ``sigma`` on termination, > 0.
    reset_on_termination : bool
        Reset the optimizing modules when sigma decays.
    sigma_strategy : {None, 'grad-norm', 'value'}
        After each evaluation, count the perturbed points whose gradient norm (or value) is
        lower than at the evaluation point; if the count reaches the target, ``sigma *=
        sigma_nplus``, else ``sigma *= sigma_nminus``.
    sigma_target : float or int
        A float is a fraction of the finite evaluations (the x0 term included):
        ``int(max(1, n_finite * sigma_target))``; an int is a count.
    sigma_nplus, sigma_nminus : float
        Factors of the sigma strategy, > 0.
    seed : None, int, SeedSequence or Generator
        Seed of the counter-based perturbation stream.
    antithetic : bool
        Draw ``+u, -u`` pairs.
    executor : concurrent.futures.Executor, optional
        Evaluate the perturbed points on this executor.
    chunksize : int, optional
        Points per executor task.
    sigma_min : float
        End the run when sigma falls below this floor (checked at the start of each step,
        after a termination decay): :func:`~numsmooth.minimize` then returns with status 4 and
        ``x`` where it was. 0 (the default) never stops. Without it a decaying sigma silently
        goes to 0 and the steps become plain gradient steps.

    Attributes
    ----------
    sigma : float
        The current perturbation scale.
    perturbations : ndarray or None
        The current unscaled ``(n - include_x0, d)`` block (None before the first step).
    num_terminations : int
        How many times the termination criteria fired.
    last_hull : tuple or None
        With ``aggregate='min-norm-hull'`` and ``distribution='ball'``, what the last evaluation
        at a step's point found: ``(x, radius, norm, nonfinite)``, the point (a copy), the ball's
        radius (sigma at that evaluation), the norm of the min-norm element of the hull of the
        finite gradients sampled in the ball, and how many sampled values were not finite.
        :func:`~numsmooth.minimize` builds its stationarity certificate from it. ``None``
        before such an evaluation and after ``reset()``; not part of the saved state.

    Examples
    --------
    Gaussian homotopy on Rastrigin: the smoothed objective has no local minima at large sigma;
    decaying sigma every 20 steps follows the global minimum down. The perturbations are fixed
    within a stage, so a line search sees one deterministic function.

    >>> import numpy as np, numsmooth as ns
    >>> def rastrigin(x):
    ...     f = 10 * x.size + np.sum(x**2 - 10 * np.cos(2 * np.pi * x))
    ...     return float(f), 2 * x + 20 * np.pi * np.sin(2 * np.pi * x)
    >>> gs = ns.GradientSampling([ns.Backtracking()], sigma=2.0, n=64, distribution="sobol",
    ...                          include_x0=False, seed=0,
    ...                          termination=ns.TerminateAfterNSteps(20), decay=0.7)
    >>> res = ns.minimize(rastrigin, np.full(2, 3.3), gs, maxiter=300)
    >>> bool(res.fun < 1e-3)
    True

    Notes
    -----
    Where this differs from torchzero 0.4.4 (each a bug or crash there): ``modules=None``
    with ``include_x0=True`` works; a criterion reading ``g(x)`` does not switch sampling off;
    ``f(x)`` is never overwritten by the mean; under a line search the x0 term is evaluated at
    the trial point; ``'min-value'`` returns the gradient at the lowest value; Python floats
    from the oracle work with every aggregate; each sigma stage lasts exactly ``k`` steps under
    ``TerminateAfterNSteps(k)``; ``sigma_target=0.2`` is a fraction.

    References
    ----------
    J. V. Burke, A. S. Lewis, M. L. Overton (2005), A robust gradient sampling algorithm for
    nonsmooth, nonconvex optimization, SIAM J. Optim. 15(3):751-779.
    H. Mobahi, J. W. Fisher III (2015), On the link between Gaussian homotopy continuation and
    convex envelopes, EMMCVPR.
    """

    # every state entry is a number or a bool, replaced, never changed in place: the optimizer's
    # per-step snapshot can be a shallow copy (a deep copy costs microseconds every step)
    _replaces_arrays = True

    def __init__(self, modules: Any = None, sigma: float = 1.0, n: int = 100, aggregate: str = "mean",
                 distribution: Any = "gaussian", include_x0: bool = True, fixed: bool = True,
                 pre_generate: bool = True, termination: Any = None, decay: float = 2 / 3,
                 reset_on_termination: bool = True, sigma_strategy: str | None = None,
                 sigma_target: float | int = 0.2, sigma_nplus: float = 4 / 3, sigma_nminus: float = 2 / 3,
                 seed: Any = None, *, antithetic: bool = False, executor: Executor | None = None,
                 chunksize: int | None = None, sigma_min: float = 0.0):
        super().__init__()
        self.modules = as_module_list(modules)
        self.termination = as_criterion(termination)
        self.sampler = Sampler(n, aggregate, distribution, include_x0, antithetic=antithetic,
                               executor=executor, chunksize=chunksize)
        # > 0: at sigma = 0 every point is x itself, n evaluations of one point; a run reaches
        # sigma = 0 only through decay (sigma_min ends it before)
        self.initial_sigma = check_real("sigma", sigma, low=0.0, low_open=True)
        self.initial_key = int(seed_to_key(seed))
        self.fixed = check_bool("fixed", fixed)
        self.pre_generate = check_bool("pre_generate", pre_generate)
        self.decay = check_real("decay", decay, low=0.0, low_open=True)
        self.reset_on_termination = check_bool("reset_on_termination", reset_on_termination)
        self.sigma_strategy = check_choice("sigma_strategy", sigma_strategy, (None, "grad-norm", "value"))
        if _is_count(sigma_target):
            self.sigma_target: float | int = check_int("sigma_target", sigma_target, low=0)
        else:
            self.sigma_target = check_real("sigma_target", sigma_target, low=0.0)
        self.sigma_nplus = check_real("sigma_nplus", sigma_nplus, low=0.0, low_open=True)
        self.sigma_nminus = check_real("sigma_nminus", sigma_nminus, low=0.0, low_open=True)
        self.sigma_min = check_real("sigma_min", sigma_min, low=0.0)
        self.last_hull: tuple[np.ndarray, float, float, int] | None = None
        self._init_state()

    # -- state: self.state is the one home of sigma, the generator's position and the counters --
    def _init_state(self) -> None:
        self.state.update(sigma=self.initial_sigma, key=self.initial_key, stream=0, num_terminations=0,
                          started=False, evaluated=False, dim=0)

    @property
    def sigma(self) -> float:
        """The current perturbation scale; settable (>= 0, finite), saved with the state."""
        return float(self.state["sigma"])

    @sigma.setter
    def sigma(self, value: float) -> None:
        self.state["sigma"] = check_real("sigma", value, low=0.0)

    @property
    def perturbations(self) -> np.ndarray | None:
        """The current unscaled perturbation block, or None before the first step."""
        if not self.state["started"] or self.state["dim"] == 0:
            return None
        return self.sampler.block(self.state["key"], self.state["stream"], self.state["dim"])

    @property
    def num_terminations(self) -> int:
        """How many times the termination criteria fired."""
        return int(self.state["num_terminations"])

    def children(self) -> list[Stateful]:
        return [*self.modules, *([self.termination] if self.termination is not None else [])]

    def config(self) -> dict[str, Any]:
        return {
            **self.sampler.config(), "fixed": self.fixed, "pre_generate": self.pre_generate,
            "decay": self.decay, "reset_on_termination": self.reset_on_termination,
            "sigma_strategy": self.sigma_strategy, "sigma_target": self.sigma_target,
            "sigma_nplus": self.sigma_nplus, "sigma_nminus": self.sigma_nminus, "sigma_min": self.sigma_min,
        }

    def reset(self) -> None:
        """Back to the initial sigma and the first perturbations; inner modules reset too."""
        super().reset()
        self.last_hull = None
        self._init_state()

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        expected = {"sigma", "key", "stream", "num_terminations", "started", "evaluated", "dim"}
        if set(state) != expected:
            raise ValueError(f"{where} must have the keys {sorted(expected)}; got {sorted(state)}")
        for k in ("key", "stream", "num_terminations", "dim"):
            if isinstance(state[k], bool) or not isinstance(state[k], (int, np.integer)):
                raise TypeError(f"{where}[{k!r}] must be an integer; got {state[k]!r}")
        if not 0 <= state["key"] < 2**64:
            raise ValueError(f"{where}['key'] must be in [0, 2**64); got {state['key']!r}")
        if size is not None and state["dim"] not in (0, size):
            raise ValueError(f"{where}['dim'] must be 0 or {size}; got {state['dim']!r}")
        for k in ("started", "evaluated"):
            if not isinstance(state[k], (bool, np.bool_)):
                raise TypeError(f"{where}[{k!r}] must be True or False; got {state[k]!r}")
        check_real(f"{where}['sigma']", state["sigma"], low=0.0)
        for k, v in state.items():
            check_entry(v, size, f"{where}[{k!r}]")

    def _redraw(self) -> None:
        self.state["stream"] += 1

    # -- the step -----------------------------------------------------------------------------
    def step(self, objective: Objective) -> Objective:
        fired = self.termination is not None and self.termination.should_terminate(objective)
        if fired:
            self._on_termination(objective)
        elif self.state["started"] and self.pre_generate and not self.fixed:
            self._redraw()
        self.state["started"] = True
        if self.sigma < self.sigma_min:
            objective.request_stop(f"sigma ({self.sigma:.3g}) fell below sigma_min ({self.sigma_min:g})")
            return objective

        smoothed = objective.with_oracle(SmoothedStepOracle(self, objective))
        if not self.modules:
            # the modules after this one optimize the smoothed objective: they start afresh too
            smoothed.reset_following = fired and self.reset_on_termination
            return smoothed
        # the update, a stop request, and the smoothed value at x, which the optimizer reports as
        # the step's value only when f(x) itself was not evaluated
        run_subchain(self.modules, objective, smoothed)
        return objective

    def _on_termination(self, objective: Objective) -> None:
        self.sigma = self.sigma * self.decay
        self.state["num_terminations"] += 1
        self._redraw()
        assert self.termination is not None
        self.termination.reset()
        # The firing step is the first step of the new stage: let the criteria record it.
        self.termination.should_terminate(objective)
        if self.reset_on_termination:
            for m in self.modules:
                m.reset()

    def evaluate_smoothed(self, objective: Objective, x: np.ndarray) -> tuple[float, np.ndarray]:
        """One evaluation of the smoothed objective at ``x`` around the step's ``objective``
        (then the sigma strategy); what :class:`SmoothedStepOracle` calls."""
        if not self.pre_generate and self.state["evaluated"]:
            self._redraw()
        self.state["evaluated"] = True
        self.state["dim"] = x.shape[0]
        s = self.sampler
        at_step_point = x is objective.x or np.array_equal(x, objective.x)
        need_norms = self.sigma_strategy == "grad-norm"
        key, stream = self.state["key"], self.state["stream"]

        def evaluate(x0_term: X0Term | None) -> tuple[Evaluation, X0Term | None]:
            ev = s.evaluate(objective.oracle, x, self.sigma, key, stream, x0_term, need_norms)
            return ev, ev.x0

        # at the step's point, f(x), g(x) are the x0 term: the objective hands over or keeps them
        f, g, F, norms, _ = (objective.evaluate_including_x(evaluate) if s.include_x0 and at_step_point
                             else evaluate(None)[0])
        if at_step_point and s.aggregate == "min-norm-hull" and s.distribution == "ball":
            self.last_hull = (np.array(x, copy=True), self.sigma, math.sqrt(float(np.dot(g, g))),
                              int(F.size - np.count_nonzero(np.isfinite(F))))
        if self.sigma_strategy is not None:
            self._adapt_sigma(objective, x, at_step_point, F, norms)
        return f, g

    def _adapt_sigma(self, objective: Objective, x: np.ndarray, at_step_point: bool,
                     F: np.ndarray, norms: np.ndarray | None) -> None:
        s = self.sampler
        k0 = int(s.include_x0)
        if s.include_x0:
            f_x = float(F[0])
            gnorm_x = float(norms[0]) if norms is not None else math.nan
        else:
            f_x, g_x = objective.loss_and_grad() if at_step_point else objective.oracle.evaluate(x)
            gnorm_x = math.sqrt(float(np.dot(g_x, g_x)))
        finite = np.isfinite(F)
        n_finite = int(finite.sum())
        pert_finite = finite[k0:]
        if self.sigma_strategy == "value":
            n_good = int(np.count_nonzero(F[k0:][pert_finite] < f_x))
        else:
            assert norms is not None
            n_good = int(np.count_nonzero(norms[k0:][pert_finite] < gnorm_x))
        target = self.sigma_target if _is_count(self.sigma_target) else int(max(1, n_finite * self.sigma_target))
        self.sigma = self.sigma * (self.sigma_nplus if n_good >= target else self.sigma_nminus)


class SmoothedStepOracle(OracleBase):
    """The smoothed objective of one :class:`GradientSampling` step, as an oracle for the
    modules that optimize it (many-point calls evaluate it point by point, so another
    GradientSampling may sample it in turn)."""

    def __init__(self, gs: GradientSampling, objective: Objective):
        self.gs = gs
        self.objective = objective
        self.layout = objective.layout

    @property
    def num_evaluations(self) -> int:
        return self.objective.oracle.num_evaluations

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.gs.evaluate_smoothed(self.objective, x)


def _is_count(value: Any) -> bool:
    """True for an integer ``sigma_target`` (a count), False for a float (a fraction)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
