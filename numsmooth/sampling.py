"""The gradient-sampling / Gaussian-homotopy stepper."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ._validation import check_bool, check_choice, check_int, check_real
from .modules import Module, as_module_list, run_chain
from .objective import Objective, executor_scope
from .smoothing import SmoothedObjective, is_count
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
        Initial perturbation scale, >= 0.
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

    Attributes
    ----------
    sigma : float
        The current perturbation scale.
    perturbations : ndarray or None
        The current unscaled ``(n - include_x0, d)`` block (None before the first step).
    num_terminations : int
        How many times the termination criteria fired.

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

    def __init__(self, modules: Any = None, sigma: float = 1.0, n: int = 100, aggregate: str = "mean",
                 distribution: Any = "gaussian", include_x0: bool = True, fixed: bool = True,
                 pre_generate: bool = True, termination: Any = None, decay: float = 2 / 3,
                 reset_on_termination: bool = True, sigma_strategy: str | None = None,
                 sigma_target: float | int = 0.2, sigma_nplus: float = 4 / 3, sigma_nminus: float = 2 / 3,
                 seed: Any = None, *, antithetic: bool = False, executor: Executor | None = None,
                 chunksize: int | None = None):
        super().__init__()
        self.modules = as_module_list(modules)
        self.termination = as_criterion(termination)
        self.sampler = SmoothedObjective(None, sigma, n, aggregate, distribution, include_x0, seed,
                                         antithetic=antithetic, executor=executor, chunksize=chunksize)
        self.fixed = check_bool("fixed", fixed)
        self.pre_generate = check_bool("pre_generate", pre_generate)
        self.decay = check_real("decay", decay, low=0.0, low_open=True)
        self.reset_on_termination = check_bool("reset_on_termination", reset_on_termination)
        self.sigma_strategy = check_choice("sigma_strategy", sigma_strategy, (None, "grad-norm", "value"))
        if is_count(sigma_target):
            self.sigma_target: float | int = check_int("sigma_target", sigma_target, low=0)
        else:
            self.sigma_target = check_real("sigma_target", sigma_target, low=0.0)
        self.sigma_nplus = check_real("sigma_nplus", sigma_nplus, low=0.0, low_open=True)
        self.sigma_nminus = check_real("sigma_nminus", sigma_nminus, low=0.0, low_open=True)
        self._initial_sigma = self.sampler.sigma
        self._initial_key = self.sampler.key
        self._sync_state()

    # -- public attributes --------------------------------------------------------------------
    @property
    def sigma(self) -> float:
        """The current perturbation scale."""
        return self.sampler.sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        self.sampler.sigma = value
        self.state["sigma"] = self.sampler.sigma

    @property
    def perturbations(self) -> np.ndarray | None:
        """The current unscaled perturbation block, or None before the first step."""
        if not self.state.get("started", False):
            return None
        return self.sampler.perturbations

    @property
    def num_terminations(self) -> int:
        """How many times the termination criteria fired."""
        return int(self.state.get("num_terminations", 0))

    def children(self) -> list[Module]:
        return self.modules + ([self.termination] if self.termination is not None else [])

    def config(self) -> dict[str, Any]:
        s = self.sampler
        dist = s.distribution if isinstance(s.distribution, str) else "custom"
        return {
            "n": s.n, "aggregate": s.aggregate, "distribution": dist, "include_x0": s.include_x0,
            "fixed": self.fixed, "pre_generate": self.pre_generate, "decay": self.decay,
            "sigma_strategy": self.sigma_strategy, "sigma_target": self.sigma_target,
            "antithetic": s.antithetic,
        }

    # -- state: the sampler's sigma, key and stream mirror self.state -------------------------
    def _sync_state(self) -> None:
        self.state.setdefault("sigma", self.sampler.sigma)
        self.state.setdefault("key", int(self.sampler.key))
        self.state.setdefault("stream", self.sampler.stream)
        self.state.setdefault("num_terminations", 0)
        self.state.setdefault("started", False)

    def _after_load(self) -> None:
        self.sampler.sigma = self.state["sigma"]
        self.sampler.key = np.uint64(self.state["key"])
        self.sampler.stream = self.state["stream"]

    def reset(self) -> None:
        """Back to the initial sigma and the first perturbations; inner modules reset too."""
        super().reset()
        self.sampler.sigma = self._initial_sigma
        self.sampler.key = self._initial_key
        self.sampler.stream = 0
        self._sync_state()

    def _set_sigma(self, value: float) -> None:
        self.sampler.sigma = value
        self.state["sigma"] = self.sampler.sigma

    def _redraw(self) -> None:
        self.sampler.redraw()
        self.state["stream"] = self.sampler.stream

    # -- the step -----------------------------------------------------------------------------
    def step(self, objective: Objective) -> Objective:
        fired = self.termination is not None and self.termination.should_terminate(objective)
        if fired:
            self._on_termination(objective)
        elif self.state["started"] and self.pre_generate and not self.fixed:
            self._redraw()
        self.state["started"] = True

        smoothed = objective.with_oracle(_StepOracle(self, objective))
        if not self.modules:
            # the modules after this one optimize the smoothed objective: they start afresh too
            smoothed.reset_following = fired and self.reset_on_termination
            return smoothed
        inner = run_chain(self.modules, smoothed)
        objective.update = inner.get_update()
        if not objective.has_loss:
            objective.reported_loss = inner._f
        return objective

    def _on_termination(self, objective: Objective) -> None:
        self._set_sigma(self.sigma * self.decay)
        self.state["num_terminations"] += 1
        self._redraw()
        assert self.termination is not None
        self.termination.reset()
        # The firing step is the first step of the new stage: let the criteria record it.
        self.termination.should_terminate(objective)
        if self.reset_on_termination:
            for m in self.modules:
                m.reset()

    def _evaluate(self, objective: Objective, x: np.ndarray) -> tuple[float, np.ndarray]:
        """One evaluation of the smoothed objective at ``x`` (then the sigma strategy)."""
        if not self.pre_generate and self.state.get("evaluated", False):
            self._redraw()
        self.state["evaluated"] = True
        s = self.sampler
        at_step_point = x is objective.x or np.array_equal(x, objective.x)
        x0_term = objective.loss_and_grad() if (s.include_x0 and at_step_point) else None
        with executor_scope(s.executor, s.chunksize):
            f, g, F, norms = s.evaluate_with(objective.oracle, x, x0_term,
                                             need_norms=self.sigma_strategy == "grad-norm")
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
        target = self.sigma_target if is_count(self.sigma_target) else int(max(1, n_finite * self.sigma_target))
        self._set_sigma(self.sigma * (self.sigma_nplus if n_good >= target else self.sigma_nminus))


class _StepOracle:
    """The smoothed objective of one step, as an oracle for the modules that optimize it."""

    def __init__(self, gs: GradientSampling, objective: Objective):
        self.gs = gs
        self.objective = objective
        self.layout = objective.layout

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.gs._evaluate(self.objective, x)

    def value(self, x: np.ndarray) -> float:
        return self.gs._evaluate(self.objective, x)[0]
