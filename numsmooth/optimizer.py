"""The :class:`Optimizer`: a point, a chain of modules, one step at a time."""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np

from ._buffers import Reusable
from . import _passes, config
from ._ask_tell import PendingStep
from ._interrupts import StepGuard
from ._progress import CompileNotice
from ._layout import ParamLayout
from ._saving import describe_file, load_state, save_state
from ._validation import check_bool, check_choice
from .modules import LR, Module, as_module_list, check_float32, run_chain
from .objective import Objective
from .oracles import ForwardingOracle, GradientParts, Oracle, OracleError, make_oracle

__all__ = ["Optimizer"]

_STATE_VERSION = 1
#: What a step changes on the optimizer besides ``x`` and the modules (the results of the last
#: step and the counters); a step started by ask() hands them over when it completes.
_STEP_RESULTS = ("num_evaluations", "num_steps", "num_refused", "_warned_refused", "last_step_finite",
                 "last_update_norm", "stop_message", "last_loss")


class Optimizer:
    """Apply a chain of modules to a point, one step at a time.

    Parameters
    ----------
    x0 : ndarray or list of ndarray
        Starting point: one float array or a list of float arrays (the "parameters"). They are
        copied into one flat float64 buffer (unless ``inplace=True`` keeps them in their own
        float32 storage); the oracle receives arrays in the same shapes.
    *modules : Module
        The chain; ``x_new = x - update`` where the update is what the chain produces (the
        gradient when no module changes it).
    on_refused : {"warn", "raise", "ignore"}
        What happens when a step is refused because its update is not finite (``x`` and every
        module's state are then left as before the step, and :attr:`num_refused` counts it):
        ``"warn"`` issues a ``RuntimeWarning`` the first time, ``"raise"`` raises
        ``FloatingPointError`` naming the step, ``"ignore"`` only counts.
    inplace : bool
        Update the arrays of ``x0`` after every step (and on :meth:`load_state_dict` or when
        ``x`` is set), so that code holding them (a model) sees the current point. They must be
        writeable, C-contiguous float64 arrays. One array, or a list of arrays that lie back to
        back in one buffer (views of one flat vector, see :func:`numsmooth.flat_params`), is
        used as the optimizer's storage itself and handed to the oracle at ``x`` as it is, as
        in a hand-written loop (no copy; the oracle must not modify it, and a point it keeps
        changes with the next step). Any other list is copied back after each step, and the
        oracle gets copies. The arrays may also all be float32 (a model's default): the
        optimizer then works in float32 (point, gradient, update and every module's buffers;
        sums of squares and norms accumulate in float64), which only the modules marked for it
        support (LR, Momentum, Adam, WeightDecay, ClipNorm, LaplacianSmoothing; any other
        module raises ``TypeError`` here: use float64 parameters for it). Mixed float32 and
        float64 arrays are refused with ``inplace=True``.

    Notes
    -----
    A step is committed whole: whatever interrupts it (Ctrl-C, an exception from the oracle)
    leaves ``x``, the modules' states and the counters as they were before it, except that
    :attr:`num_evaluations` counts the calls made; once it has committed, they are as after it.
    A Ctrl-C that comes while the step commits or rolls back is raised right afterwards.

    An optimizer is used by one thread at a time: a step, :meth:`ask`/:meth:`tell` or a load
    called while another thread is stepping it raises ``RuntimeError``; :meth:`state_dict`,
    :meth:`save` and pickling wait for that step to finish (they never see half of one).

    Attributes
    ----------
    num_evaluations : int
        Oracle evaluations so far (every perturbed point counts).
    num_steps : int
        Steps completed.
    num_refused : int
        Steps refused (non-finite update); they are not counted in ``num_steps``.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.array([3.0, -4.0]), ns.LR(0.1))
    >>> for _ in range(50):
    ...     loss = opt.step(lambda x: (float(x @ x), 2 * x))
    >>> bool(np.allclose(opt.x, 0, atol=1e-4))
    True
    """

    def __init__(self, x0: Any, *modules: Module, on_refused: str = "warn", inplace: bool = False):
        self.on_refused = check_choice("on_refused", on_refused, ("warn", "raise", "ignore"))
        self.inplace = check_bool("inplace", inplace)
        self.layout, self._x = ParamLayout.from_params(x0, keep_float32=self.inplace)
        #: The user's arrays updated after every step (inplace=True with a list), else None.
        self._user: list[np.ndarray] | None = None
        #: What the oracle receives at the current point when the user's arrays are the storage.
        self._live: Any = None
        if self.inplace:
            arrays = _check_inplace(x0, self.layout.single, self.layout.dtype)
            storage = arrays[0].reshape(-1) if self.layout.single else _shared_storage(arrays, self.layout)
            if storage is not None:  # the user's arrays are the storage
                self._x = storage
                self._live = arrays[0] if self.layout.single else arrays
            else:
                self._user = arrays
        # the read-only view of the point that steps hand to their objective (one for all steps,
        # so that the oracle can recognise the current point by identity)
        self._x_view = self._x.view()
        self._x_view.flags.writeable = False
        self.modules = as_module_list(list(modules))
        if self.layout.dtype == np.float32:
            check_float32(self.modules)
        self.num_evaluations = 0
        self.num_steps = 0
        self.num_refused = 0
        self._warned_refused = False
        self._update_buffer = Reusable()
        self._counting: _CountingOracle | None = None
        self.last_step_finite = True
        self.last_update_norm = math.nan
        #: Set when a module ended the run (see Objective.request_stop); None otherwise.
        self.stop_message: str | None = None
        #: What the last completed step returned (see :meth:`step`); nan before the first.
        self.last_loss = math.nan
        self._oracle: Oracle | None = None
        self._pending: PendingStep | None = None
        #: Held while a thread steps or changes the optimizer (see _acquire); _owner is its id.
        self._lock = threading.Lock()
        self._owner: int | None = None

    @property
    def x(self) -> np.ndarray:
        """The current point, flat (a read-only view)."""
        v = self._x.view()
        v.flags.writeable = False
        return v

    @x.setter
    def x(self, value: Any) -> None:
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != self._x.shape or not np.all(np.isfinite(arr)):
            raise ValueError(f"x must be a finite float vector of shape {self._x.shape}; got shape {arr.shape}")
        with StepGuard():  # not torn by Ctrl-C
            self._acquire("setting x")
            try:
                self.discard_pending()
                self._x[:] = arr
                self._sync_user()
            finally:
                self._release()

    @property
    def params(self) -> Any:
        """A copy of the current point in the shapes of ``x0`` (safe to keep: it does not change
        when the optimizer steps; :attr:`x` is the live read-only view, ``inplace=True`` keeps
        the arrays of ``x0`` current)."""
        return self.layout.unflatten(self._x.copy())

    def _sync_user(self) -> None:
        """Copy the point into the user's arrays (``inplace=True`` with a list of arrays)."""
        if self._user is not None:
            for a, (lo, hi) in zip(self._user, self.layout.bounds):
                _passes.copy(a.reshape(-1), self._x[lo:hi])

    # -- stepping ---------------------------------------------------------------------------
    def _oracle_for(self, fun: Any) -> Oracle:
        if self._oracle is None or self._oracle.fun is not fun:
            self._oracle = make_oracle(fun, self.layout)
        return self._oracle

    def objective(self, fun: Any) -> Objective:
        """The objective at the current point (evaluations it makes count for this optimizer).

        Its ``x`` is a copy of the point, so it may be kept after the step.
        """
        return Objective(self._x.copy(), self._counting_oracle(fun), self.layout, self,
                         self._update_buffer.get(self._x.shape, self.layout.dtype))

    def _step_objective(self, fun: Any) -> Objective:
        """The objective of :meth:`step`, which nobody keeps: its ``x`` is a read-only view of
        the point and its buffers are reused from step to step (no allocation that grows with
        the number of parameters)."""
        return Objective(self._x_view, self._counting_oracle(fun), self.layout, self,
                         self._update_buffer.get(self._x.shape, self.layout.dtype), gradient_parts=True)

    def _counting_oracle(self, fun: Any) -> "_CountingOracle":
        oracle = self._oracle_for(fun)
        counting = self._counting
        if counting is None or counting.base is not oracle:
            counting = self._counting = _CountingOracle(oracle, self)
        return counting

    def step(self, fun: Any) -> float:
        """Do one step: ``x -= update``.

        Parameters
        ----------
        fun : callable
            The oracle (per-point ``fun(x) -> (f, g)``, :func:`batched`, or jitted).

        Returns
        -------
        float
            ``f(x)`` at the start of the step when the step evaluated it, else the value of
            the objective the last module saw at ``x`` (the smoothed value, e.g. for
            :class:`~numsmooth.GradientSampling` with ``include_x0=False``).

        Notes
        -----
        If the oracle raises, the exception propagates and ``x`` and every module's state are
        as before the step. If the update is not finite (every evaluation non-finite), the step
        is refused: ``x`` and the modules' states are kept, ``last_step_finite`` is set to
        False, :attr:`num_refused` grows by one and ``on_refused`` says whether to warn (the
        first time), raise ``FloatingPointError`` or say nothing.

        A step allocates no memory that grows with the number of parameters once the buffers
        exist (the point handed to the oracle, the gradient and the update are reused unless
        something kept them).

        A step started by :meth:`ask` and still pending is abandoned first (as by
        :meth:`discard_pending`).
        """
        self.discard_pending()
        if self.__dict__.get("_noticed", False) or not config.get("compile_notice"):
            return self.apply(self._step_objective(fun))
        self._noticed = True  # the first step may compile kernels: say so once (stderr)
        with CompileNotice():
            return self.apply(self._step_objective(fun))

    def apply(self, root: Objective) -> float:
        """Run the chain on ``root`` (made by :meth:`objective`) and move ``x`` (see :meth:`step`)."""
        with StepGuard() as guard:  # Ctrl-C waits until guard.open(), and again from guard.hold()
            self._acquire("step()")
            try:
                self._refuse_if_pending("apply()")
                saved = [m.snapshot() for m in self.modules]  # cheap: see Stateful.snapshot
                try:
                    try:
                        guard.open()
                        if self.modules and type(self.modules[-1]) is LR:
                            root.fuse_scale = self.modules[-1]  # x -= lr * u in one pass and rounding
                        last = run_chain(self.modules, root)
                        update = None if last.stop_message is not None else last.get_update()
                        if update is not None and update.shape != self._x.shape:
                            raise ValueError(f"the module chain produced an update of shape {update.shape}; "
                                             f"expected {self._x.shape}")
                    finally:
                        guard.hold()
                except BaseException:
                    self._restore(saved)
                    raise
                return self._commit(root, last, update, saved)
            finally:
                self._release()

    def _commit(self, root: Objective, last: Objective, update: np.ndarray | None, saved: list[Any]) -> float:
        """End a step whose chain has run: stop, refuse (roll back) or move ``x``. Runs while
        Ctrl-C is held back (see :class:`StepGuard`) and calls nothing that can fail, so that a
        step is done whole or not at all."""
        if update is None:
            # a module ended the run (e.g. GradientSampling's sigma fell below sigma_min)
            self.stop_message = last.stop_message
            f_stop = root.cached_loss if root.cached_loss is not None else last.cached_loss
            return math.nan if f_stop is None else float(f_stop)
        f = root.cached_loss
        if f is None:
            f = last.reported_loss if last.reported_loss is not None else last.cached_loss
        # finite unless an entry is nan/inf (or it overflowed); LR computes it as it scales
        scale = last.update_scale
        if scale is None:
            sumsq = last.update_sumsq if last.update_sumsq is not None else _passes.sumsq(update)
        else:  # the last LR left its step size to the move
            sumsq = _passes.sumsq_check(update) * scale * scale
        if not math.isfinite(sumsq) and not np.all(np.isfinite(update if scale is None else update * scale)):
            self._restore(saved)
            self.last_step_finite = False
            self.last_update_norm = math.nan
            self._refused()
            return math.inf if f is None else float(f)
        if scale is None:
            _passes.subtract(self._x, update)
        else:
            _passes.axpy(self._x, -scale, update)
        self._sync_user()
        self.num_steps += 1
        self.last_step_finite = True
        self.last_update_norm = math.sqrt(sumsq)
        self.last_loss = math.nan if f is None else float(f)
        return self.last_loss

    # -- one thread at a time -------------------------------------------------------------------
    def _acquire(self, what: str) -> None:
        """Mark the optimizer busy with this thread, or raise naming who holds it."""
        if not self._lock.acquire(blocking=False):
            if self._owner == threading.get_ident():
                raise RuntimeError(f"{what} called during a step of the same Optimizer (from its oracle or a "
                                   "module?): an Optimizer does one step at a time")
            raise RuntimeError(f"{what}: this Optimizer is busy with a step in another thread; an Optimizer "
                               "is used by one thread at a time (give each thread its own, or serialise "
                               "the calls)")
        self._owner = threading.get_ident()

    def _release(self) -> None:
        self._owner = None
        self._lock.release()

    def _wait_between_steps(self, what: str) -> None:
        """Wait until no other thread is stepping (for readers); raise if this thread is."""
        if self._owner == threading.get_ident():
            raise RuntimeError(f"{what} called during a step of the same Optimizer (from its oracle or a "
                               "module?): the state is whole only between steps")
        self._lock.acquire()

    def _refused(self) -> None:
        self.num_refused += 1
        if self.on_refused == "raise":
            raise FloatingPointError(f"step {self.num_steps + 1} was refused: its update is not finite (nan or "
                                     "inf); x and the modules' states are as before the step")
        if self.on_refused == "warn" and not self._warned_refused:
            self._warned_refused = True
            warnings.warn(f"step {self.num_steps + 1} was refused: its update is not finite (nan or inf); x "
                          "and the modules' states are kept. Optimizer.num_refused counts refused steps; "
                          "on_refused='raise' or 'ignore' changes this warning", RuntimeWarning, stacklevel=4)

    def _restore(self, saved: list[Any]) -> None:
        for m, s in zip(self.modules, saved):
            m.restore(s)

    @property
    def sigma(self) -> float:
        """The smoothing scale of the first module that has one (``nan`` if none)."""
        for m in self.modules:
            s = getattr(m, "sigma", None)
            if isinstance(s, (int, float)) and not isinstance(s, bool):
                return float(s)
        return math.nan

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> np.ndarray:
        """The points the current step needs next, as an ``(m, d)`` array (flat rows).

        Starts a step if none is under way. Evaluate the user's objective at every row and hand
        the values and gradients to :meth:`tell`. Asking again before telling returns the same
        points. The rows are whatever the chain needs next: ``x`` itself, a gradient-sampling
        block, a line-search trial point; ``m`` varies.

        Returns
        -------
        ndarray, shape (m, d)
            A copy; ``m == 0`` when the step needs no evaluation (tell empty arrays).

        Notes
        -----
        A run driven by ask/tell is bit-identical to the same run driven by :meth:`step` with
        an oracle returning the same numbers. The step runs in a helper thread that waits for
        each :meth:`tell`; numsmooth's own state is touched by one thread at a time. The helper
        thread ends with the step: when it completes, or when the pending step is abandoned
        (:meth:`discard_pending`, :meth:`step`, :meth:`load_state_dict`, setting :attr:`x`, or
        the optimizer being garbage-collected).

        A pending ask is not part of a saved state: :meth:`state_dict`, :meth:`save` and
        pickling record the optimizer as it was before the pending step, so a loaded optimizer
        asks for the same points again.

        Examples
        --------
        >>> import numpy as np, numsmooth as ns
        >>> opt = ns.Optimizer(np.array([3.0, -4.0]), ns.LR(0.1))
        >>> X = opt.ask()                      # the step needs f and g at x
        >>> opt.tell((X * X).sum(axis=1), 2 * X)
        True
        >>> opt.x
        array([ 2.4, -3.2])
        """
        with StepGuard():  # Ctrl-C waits: a step is started whole or not at all
            self._acquire("ask()")
            try:
                if self._pending is None:
                    self._pending = PendingStep(self)
                return self._pending.points.copy()
            finally:
                self._release()

    def tell(self, F: Any, G: Any) -> bool:
        """Give the values ``F`` (m,) and gradients ``G`` (m, d) at the points of :meth:`ask`.

        Returns
        -------
        bool
            True when this completed a step (``x`` has moved, ``last_loss`` holds what
            :meth:`step` would have returned); False when the step needs more points (call
            :meth:`ask` again).

        Raises
        ------
        RuntimeError
            Without a pending :meth:`ask`.
        OracleError
            When ``F`` or ``G`` have the wrong shape or type: exactly the error a batched
            oracle returning them would raise in :meth:`step`; the step is then undone (``x``
            and every module's state as before it) and the next :meth:`ask` starts it again.
            ``G`` given as a list of per-parameter gradients, or any other ragged list, is
            refused before the step sees it: the step still waits for its values.
        """
        with StepGuard():  # Ctrl-C waits: the exchange (and the step it completes) is whole
            self._acquire("tell()")
            try:
                pending = self._pending
                if pending is None:
                    raise RuntimeError("tell() without a pending ask(): call ask() first")
                F, G = self._told_arrays(pending, F, G)  # a ragged list: refused, the step still waits
                try:
                    done = pending.tell(F, G)
                except BaseException:
                    self._pending = None
                    pending.end(self)
                    raise
                if done:
                    self._pending = None
                    pending.end(self)
                return done
            finally:
                self._release()

    def _told_arrays(self, pending: PendingStep, F: Any, G: Any) -> tuple[Any, Any]:
        """``F`` and ``G`` as arrays, or ``OracleError`` saying what was expected."""
        m, d = pending.points.shape
        rows = ("row i is the concatenation of the parameters' gradients at point i, flattened in order "
                "(as opt.x is)")
        if (not self.layout.single and isinstance(G, (list, tuple)) and len(G) == len(self.layout.shapes)
                and all(isinstance(g, np.ndarray) for g in G) and np.shape(G[0])[:1] != (d,)):
            raise OracleError(f"tell() got G as a list of {len(G)} arrays (per-parameter gradients?); "
                              f"expected an array of shape ({m}, {d}): {rows}")
        arrays = []
        for name, value, shape in (("F", F, f"({m},)"), ("G", G, f"({m}, {d})")):
            try:
                arrays.append(np.asarray(value))
            except (ValueError, TypeError):  # ragged
                hint = f"; with {len(self.layout.shapes)} parameters, {rows}" if name == "G" and not self.layout.single else ""
                raise OracleError(f"tell() got {name} as a ragged {type(value).__name__}; expected an "
                                  f"array of shape {shape} of floats, one row per point of ask(){hint}") from None
        return arrays[0], arrays[1]

    def discard_pending(self) -> None:
        """Abandon a step started by :meth:`ask`: ``x`` and every module's state are as before it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.abandon()

    def _refuse_if_pending(self, what: str) -> None:
        if self._pending is not None:
            raise RuntimeError(f"{what} while a step started by ask() is pending: tell() its points "
                               "first, or call discard_pending()")

    def _detached(self) -> "Optimizer":
        """A second handle on this optimizer's point, modules and buffers, with its own counters
        and oracle: a step started by :meth:`ask` runs on it in a helper thread, so that the
        thread holds no reference to this object (which may then be dropped)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._oracle = other._counting = other._pending = None
        other._lock = threading.Lock()
        other._owner = None
        return other

    def _take_results(self, other: "Optimizer") -> None:
        """The counters and last-step results of a step that ran on :meth:`_detached`."""
        for name in _STEP_RESULTS:
            setattr(self, name, getattr(other, name))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: ``x``, counters and every module's state (deep copies).

        With a step pending (:meth:`ask`), the state from before that step. Called while
        another thread steps the optimizer, it waits for the step to finish.
        """
        self._wait_between_steps("state_dict()")
        try:
            return self._pending.state_before if self._pending is not None else self._state_dict()
        finally:
            self._lock.release()

    def _state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "shapes": [list(s) for s in self.layout.shapes],
            "single": self.layout.single,
            "x": self._x.copy(),
            "num_evaluations": self.num_evaluations,
            "num_steps": self.num_steps,
            "num_refused": self.num_refused,
            "modules": [m.state_dict() for m in self.modules],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` of an optimizer with the same configuration.

        The whole state is checked first (keys, types, shapes, dtypes, finiteness, ranges, every
        module's configuration and state); on a bad entry a ``ValueError``/``TypeError`` naming
        it is raised and nothing has changed.
        """
        x = self._check_state_dict(state)
        with StepGuard():  # Ctrl-C waits: a state is loaded whole
            self._acquire("load_state_dict()")
            try:
                self.discard_pending()
                self._load_checked(state, x)
            finally:
                self._release()

    def _load_checked(self, state: dict[str, Any], x: np.ndarray) -> None:
        for m, s in zip(self.modules, state["modules"]):
            m._load_checked(s)
        self._x[:] = x
        self._sync_user()
        self.num_evaluations = int(state["num_evaluations"])
        self.num_steps = int(state["num_steps"])
        self.num_refused = int(state.get("num_refused", 0))

    def _check_state_dict(self, state: Any) -> np.ndarray:
        """Check a whole state without changing anything; return its ``x`` as flat float64."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict made by Optimizer.state_dict(); got {type(state).__name__}")
        expected = {"version", "shapes", "single", "x", "num_evaluations", "num_steps", "modules"}
        if set(state) - {"num_refused"} != expected:  # states saved before num_refused existed load
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"state must be a dict made by Optimizer.state_dict() with the keys "
                             f"{sorted(expected)}; missing {missing}, unexpected {extra}")
        if state["version"] != _STATE_VERSION:
            raise ValueError(f"state['version'] must be {_STATE_VERSION}; got {state['version']!r}")
        try:
            shapes = [tuple(int(k) for k in s) for s in state["shapes"]]
        except (TypeError, ValueError):
            raise TypeError(f"state['shapes'] must be a list of shapes; got {state['shapes']!r}") from None
        if shapes != self.layout.shapes or bool(state["single"]) != self.layout.single:
            raise ValueError(f"state has parameters {_describe(shapes, bool(state['single']))}; this "
                             f"optimizer has {_describe(self.layout.shapes, self.layout.single)}")
        x = state["x"]
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.shape != self._x.shape:
            desc = f"an array of shape {x.shape} and dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"state['x'] must be a float array of shape {self._x.shape}; got {desc}")
        if not np.all(np.isfinite(x)):
            raise ValueError("state['x'] must be finite")
        for key in ("num_evaluations", "num_steps", "num_refused"):
            if key not in state:
                continue
            v = state[key]
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"state[{key!r}] must be an integer >= 0; got {v!r}")
        mods = state["modules"]
        if not isinstance(mods, list) or len(mods) != len(self.modules):
            n = len(mods) if isinstance(mods, list) else mods
            raise ValueError(f"state has {n!r} modules; this optimizer has {len(self.modules)}")
        for i, (m, s) in enumerate(zip(self.modules, mods)):
            m.check_state_dict(s, self._x.size, f"state['modules'][{i}] ({type(m).__name__})")
        return np.asarray(x, dtype=np.float64)

    def save(self, file: Any) -> None:
        """Write :meth:`state_dict` to an ``.npz`` file without pickle (see :func:`numsmooth.save_state`)."""
        save_state(file, self.state_dict())

    def load(self, file: Any) -> None:
        """Load a state written by :meth:`save` (checked whole, as :meth:`load_state_dict`).

        A file that cannot be read raises ``OSError``; one that is not a whole state file, or
        holds a state this optimizer refuses, raises ``ValueError``/``TypeError`` naming the file
        and what is wrong. Nothing changes then.
        """
        state = load_state(file)
        try:
            self._check_state_dict(state)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{describe_file(file)}: {exc}") from None
        self.load_state_dict(state)

    def __getstate__(self) -> dict[str, Any]:
        self._wait_between_steps("pickling")
        try:
            d = self.__dict__.copy()
            if self._pending is not None:  # pickled as before the pending step (see ask)
                d["_pending"] = None
                d["_state_before_pending"] = self._pending.state_before
        finally:
            self._lock.release()
        d["_oracle"] = None  # the user's function need not pickle
        d["_counting"] = None
        del d["_x_view"]  # views do not survive pickling: rebuilt from the point
        del d["_lock"], d["_owner"]
        return d

    def __setstate__(self, state: dict[str, Any]) -> None:
        before = state.pop("_state_before_pending", None)
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._owner = None
        self._x_view = self._x.view()
        self._x_view.flags.writeable = False
        if self._live is not None:  # the unpickled arrays are copies: make them views again
            self._live = self.layout.unflatten(self._x)
        if before is not None:  # the modules were pickled mid-step: back to before it
            self._load_checked(before, before["x"])


def _describe(shapes: list[tuple[int, ...]], single: bool) -> str:
    """The parameters of a state or an optimizer in words (one array, or a list of arrays)."""
    if single:
        return f"one array of shape {shapes[0]}"
    return f"a list of {len(shapes)} array{'s' if len(shapes) != 1 else ''} of shapes {shapes}"


def _shared_storage(arrays: list[np.ndarray], layout: ParamLayout) -> np.ndarray | None:
    """A flat view of the memory ``arrays`` occupy when they lie back to back, in order, in one
    C-contiguous array of the layout's dtype (as views of one flat vector do); else None."""
    root = arrays[0]
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.dtype != layout.dtype or not root.flags.c_contiguous or not root.flags.writeable:
        return None
    item = layout.dtype.itemsize
    start = arrays[0].__array_interface__["data"][0]
    for a, lo in zip(arrays, layout.offsets[:-1].tolist()):
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not root or a.__array_interface__["data"][0] != start + item * lo:
            return None
    first = (start - root.__array_interface__["data"][0]) // item
    flat: np.ndarray = root.reshape(-1)[first:first + layout.size]
    return flat


def _check_inplace(x0: Any, single: bool, dtype: np.dtype) -> list[np.ndarray]:
    """The arrays of ``x0`` for ``inplace=True``: writeable C-contiguous arrays of ``dtype``
    (float64, or float32 when all are), or raise."""
    arrays = [x0] if single else list(x0)
    for i, a in enumerate(arrays):
        label = "x0" if single else f"x0[{i}]"
        if not isinstance(a, np.ndarray):
            raise TypeError(f"inplace=True updates the arrays of x0, so {label} must be a NumPy array; "
                            f"got {type(a).__name__}")
        if a.dtype != dtype or not a.dtype.isnative:
            raise TypeError(f"inplace=True needs float64 arrays, or float32 arrays (all of them); {label} "
                            f"has dtype {a.dtype} (convert it with np.ascontiguousarray(a, dtype=np.float64))")
        if not a.flags.c_contiguous:
            raise ValueError(f"inplace=True needs C-contiguous arrays; {label} is not "
                             "(copy it with np.ascontiguousarray)")
        if not a.flags.writeable:
            raise ValueError(f"inplace=True needs writeable arrays; {label} is read-only")
    _check_disjoint(arrays)
    return arrays


def _check_disjoint(arrays: list[np.ndarray]) -> None:
    """Raise ``ValueError`` naming the first pair of ``arrays`` that share memory.

    The arrays are C-contiguous, so each occupies the bytes between its bounds: sorted by start
    address, only an array that starts before the furthest end seen so far can overlap an
    earlier one (n log n for many parameters); ``np.shares_memory`` confirms such a pair."""
    starts = [a.__array_interface__["data"][0] for a in arrays]
    order = sorted(range(len(arrays)), key=starts.__getitem__)
    reach = -1  # the index of the array that ends furthest among those seen
    for j in order:
        if reach >= 0 and starts[j] < starts[reach] + arrays[reach].nbytes:
            if np.shares_memory(arrays[reach], arrays[j]):
                i, k = sorted((reach, j))
                what = "are the same array" if arrays[i] is arrays[k] else "share memory"
                raise ValueError(f"inplace=True needs parameters that do not share memory; x0[{i}] and "
                                 f"x0[{k}] {what} (each step would write both)")
        if reach < 0 or starts[j] + arrays[j].nbytes > starts[reach] + arrays[reach].nbytes:
            reach = j


class _CountingOracle(ForwardingOracle):
    """Forward to the optimizer's oracle and add its evaluations to the optimizer's count."""

    def __init__(self, oracle: Oracle, optimizer: Optimizer):
        super().__init__(oracle)
        self.oracle = oracle
        self.optimizer = optimizer

    @property
    def num_evaluations(self) -> int:
        return self.optimizer.num_evaluations

    def _count(self, before: int) -> None:
        self.optimizer.num_evaluations += self.base.num_evaluations - before

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        before = self.base.num_evaluations
        try:
            return self.base.evaluate(x)
        finally:
            self._count(before)

    def value(self, x: np.ndarray) -> float:
        return self.evaluate(x)[0]

    def evaluate_parts(self, x: np.ndarray, arg: Any = None) -> tuple[float, GradientParts]:
        before = self.base.num_evaluations
        opt = self.optimizer
        # at the current point, an optimizer whose storage is the user's arrays hands them over
        if arg is None and opt._live is not None and x is opt._x_view:
            arg = opt._live
        try:
            return self.oracle.evaluate_parts(x, arg)
        finally:
            self._count(before)

    def evaluate_points(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, first_index: int | None = 0,
                        executor: Any = None, chunksize: int | None = None) -> None:
        before = self.base.num_evaluations
        try:
            self.base.evaluate_points(X, F, G, first_index, executor, chunksize)
        finally:
            self._count(before)

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Any = None, chunksize: int | None = None) -> None:
        before = self.base.num_evaluations
        try:
            self.base.evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)
        finally:
            self._count(before)

    def fold_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray, offset: int,
                       code: int, acc: np.ndarray, state: np.ndarray, *, start: np.ndarray | None = None,
                       finish: bool = False, x0_out: np.ndarray | None = None) -> float:
        before = self.base.num_evaluations
        try:
            return self.oracle.fold_perturbed(x, sigma, U, F, offset, code, acc, state, start=start, finish=finish,
                                              x0_out=x0_out)
        finally:
            self._count(before)
