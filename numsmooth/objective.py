"""The :class:`Objective`: what one optimizer step knows, passed along the module chain."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import numpy as np

from ._layout import ParamLayout
from .oracles import GradientParts, GradientTransformOracle, OracleProtocol

__all__ = ["Objective"]

T = TypeVar("T")
#: ``(f(x), g(x))``: the value and flat gradient at the point itself (a sampler's x0 term).
X0Term = tuple[float, np.ndarray]


class Objective:
    """What one optimizer step knows, passed along the module chain.

    Attributes
    ----------
    x : ndarray
        The current point, flat, in the layout's dtype (float64, or float32 for an optimizer
        that keeps float32 parameters; so are the gradient and the update). Modules must not
        modify it.
    oracle : OracleProtocol
        Evaluates values and gradients (the user's function, or a smoothed objective).
    layout : ParamLayout
        Shapes and offsets of the parameters inside ``x``.
    update : ndarray or None
        The flat update (``x_new = x - update``); ``None`` until a module asks for it, when it
        starts as a copy of the gradient.
    counter : object
        Has ``num_evaluations``: all oracle evaluations of the optimizer so far.
    reset_following : bool
        Set by a module to ask that every module after it in the chain be reset.
    reported_loss : float or None
        The value a step reports when ``f(x)`` itself was not evaluated (e.g. a smoothed value).
    stop_message : str or None
        Set by a module (with :meth:`request_stop`) to end the run: the chain stops there, ``x``
        does not move, and :func:`~numsmooth.minimize` returns with status 4 and this message.
    update_sumsq : float or None
        The sum of squares of ``update``, set by a module that computed it in the pass that last
        wrote the update (as :class:`~numsmooth.LR` does), so the optimizer need not read the
        update once more to check it is finite. The chain clears it before every module.
    update_scale : float or None
        A factor the update has yet to be multiplied by: the optimizer then moves ``x`` by
        ``-update_scale * update`` rounded once (``torch.optim.SGD``'s ``x.add_(d, alpha=-lr)``),
        saving the pass that scales the update. Only the module named by ``fuse_scale`` sets it.
    fuse_scale : Module or None
        Set by the optimizer on the objective of a step: the module allowed to leave its scaling
        to the optimizer (the chain's last module, when it is an :class:`~numsmooth.LR`).
    """

    def __init__(self, x: np.ndarray, oracle: OracleProtocol, layout: ParamLayout, counter: Any = None,
                 update_buffer: np.ndarray | None = None, gradient_parts: bool = False):
        self.x = x
        # gradient_parts: keep g(x) as the user's arrays while it can be read in place (see
        # GradientParts); for the objective of Optimizer.step, which nobody keeps
        self._evaluate_parts: Callable[[np.ndarray], tuple[float, GradientParts]] | None = (
            oracle.evaluate_parts if gradient_parts else None)
        #: Where the update is created (an optimizer reuses one buffer across steps); None: allocate.
        self._update_buffer = update_buffer
        self.oracle = oracle
        self.layout = layout
        self.counter = counter if counter is not None else oracle
        self.update: np.ndarray | None = None
        self._f: float | None = None
        self._g: GradientParts | None = None
        self.reset_following = False
        self.reported_loss: float | None = None
        self.stop_message: str | None = None
        self.update_sumsq: float | None = None
        self.update_scale: float | None = None
        self.fuse_scale: Any = None

    def request_stop(self, message: str) -> None:
        """Ask the optimizer to end the run before moving ``x`` (see ``stop_message``)."""
        self.stop_message = message

    @property
    def num_evaluations(self) -> int:
        """Oracle evaluations made by the optimizer so far (every perturbed point counts)."""
        return int(self.counter.num_evaluations)

    @property
    def has_loss(self) -> bool:
        """True once ``f(x)`` has been evaluated for this objective."""
        return self._f is not None

    @property
    def cached_loss(self) -> float | None:
        """``f(x)`` if it has been evaluated, else None (never evaluates)."""
        return self._f

    def _gradient(self) -> GradientParts:
        if self._g is None:
            if self._evaluate_parts is not None:
                self._f, self._g = self._evaluate_parts(self.x)
            else:
                self._f, g = self.oracle.evaluate(self.x)
                self._g = GradientParts.of_flat(g, self.layout)
        return self._g

    def _flat_grad(self) -> np.ndarray:
        g = self._gradient().flat()
        if g.dtype is not self.x.dtype:  # float32 parameters, a gradient flattened in float64
            g = g.astype(self.x.dtype)
            self._g = GradientParts.of_flat(g, self.layout)
        return g

    def loss_and_grad(self) -> tuple[float, np.ndarray]:
        """``f(x)`` and ``g(x)``, evaluated once and cached."""
        g = self._flat_grad()
        assert self._f is not None
        return self._f, g

    def grad_parts(self) -> list[np.ndarray] | None:
        """``g(x)`` as the arrays the user's function returned (one per parameter, C-contiguous
        float64, in the parameters' shapes; do not modify) when the oracle still holds them,
        else None (use :meth:`grad`). Evaluates once and caches, as :meth:`grad`; a module that
        reads the gradient once, into a buffer of its own, saves a pass with it."""
        return self._gradient().parts()

    def evaluate_including_x(self, evaluate: Callable[[X0Term | None], tuple[T, X0Term | None]]) -> T:
        """Run an evaluation that has ``f(x)``, ``g(x)`` among its points (a sampler's x0 term),
        so that a step evaluates them once: ``evaluate`` receives them when this objective has
        them (else None) and returns its result with the ``f(x)``, ``g(x)`` it evaluated itself
        (or None); this objective keeps those as if :meth:`loss_and_grad` had evaluated them
        (``g`` flat float64, not modified afterwards)."""
        result, x0 = evaluate(None if self._g is None else self.loss_and_grad())
        if x0 is not None and self._g is None:
            self._f, self._g = float(x0[0]), GradientParts.of_flat(x0[1], self.layout)
        return result

    def loss(self) -> float:
        """``f(x)`` (cached)."""
        return self.loss_and_grad()[0]

    def grad(self) -> np.ndarray:
        """``g(x)`` (cached; do not modify)."""
        return self.loss_and_grad()[1]

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient at another point ``x`` (uses the cache when ``x`` is this point)."""
        if x is self.x:
            return self.loss_and_grad()
        return self.oracle.evaluate(x)

    def value(self, x: np.ndarray) -> float:
        """Value at another point ``x``."""
        if x is self.x and self._f is not None:
            return self._f
        return self.oracle.value(x)

    def get_update(self) -> np.ndarray:
        """The update, created from the gradient on first use; modules may modify it in place."""
        if self.update is None:
            parts = self.grad_parts()
            if parts is not None:  # flatten the user's arrays straight into the update
                self.layout.gather(parts, self.new_update())
            elif self._update_buffer is None:
                self.update = np.array(self.grad(), dtype=self.x.dtype, copy=True)
            else:
                np.copyto(self.new_update(), self.grad())
        assert self.update is not None
        return self.update

    def new_update(self) -> np.ndarray:
        """Create the update uninitialised and return it: for a module that writes every entry
        from the gradient in one pass (as :class:`~numsmooth.LaplacianSmoothing` does), instead
        of :meth:`get_update`'s copy followed by an in-place change."""
        buf = self._update_buffer
        self._update_buffer = None
        self.update = np.empty(self.layout.size, dtype=self.x.dtype) if buf is None else buf
        return self.update

    def with_oracle(self, oracle: OracleProtocol) -> "Objective":
        """A new objective at the same point with another oracle (caches and update empty)."""
        new = Objective(self.x, oracle, self.layout, self.counter)
        new.stop_message = self.stop_message
        return new

    def transform_gradient(self, fn: Callable[[np.ndarray], np.ndarray]) -> "Objective":
        """A new objective whose gradients, at ``x`` and every other point, are ``fn(g)``.

        A cached ``f(x)``/``g(x)`` carries over (transformed), so nothing is evaluated twice.
        """
        new = Objective(self.x, GradientTransformOracle(self.oracle, fn), self.layout, self.counter)
        if self._g is not None:
            new._f, new._g = self._f, GradientParts.of_flat(fn(self._g.flat()), self.layout)
        if self.update is not None:
            new.update = self.update
        new.stop_message = self.stop_message
        return new
