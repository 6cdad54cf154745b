"""State as plain data: the base of modules and termination criteria.

Everything mutable of a module or criterion lives in its ``state`` dict of plain data (floats,
ints, strings, bools, None, float arrays, and lists/dicts of them), so saving, restoring and
rolling back a failed step are generic, and a state can be written without pickle.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Callable, ClassVar

import numpy as np

from ._validation import short_repr

#: The scalar types a state may hold (NumPy scalars are turned into Python ones on load).
_SCALARS = (bool, int, float, str, type(None))


class Stateful:
    """Base of :class:`~numsmooth.Module` and :class:`~numsmooth.TerminationCriterion`.

    Subclasses keep their mutable state in ``self.state``, list sub-objects whose state belongs
    to them in :meth:`children`, and name the hyperparameters that identify their configuration
    in :meth:`config` (a state saved under another configuration is refused).
    """

    #: True when :meth:`step` never changes an array of ``state`` in place (it writes new values
    #: into another array and swaps), so a shallow copy of ``state`` is a snapshot (see
    #: :meth:`snapshot`).
    _replaces_arrays: ClassVar[bool] = False
    #: The key of ``state`` that counts this object's steps (the position of its schedules).
    _step_key: ClassVar[str] = "step"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        #: The schedules (callables ``step -> value``) of hyperparameters given as callables;
        #: they are not state (not plain data): the state keeps the step counter.
        self._schedules: dict[str, Callable[[int], Any]] = {}

    @classmethod
    def hyperparameters(cls) -> dict[str, "Hyperparameter"]:
        """The settable hyperparameters of this class, by name (see :class:`Hyperparameter`)."""
        found: dict[str, Hyperparameter] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                if isinstance(attr, Hyperparameter):
                    found[name] = attr
        return found

    def hyper(self, name: str) -> float:
        """The value of hyperparameter ``name`` for the current step (a schedule is evaluated at
        ``state["step"]`` and its value checked; the error names the module and the step)."""
        schedule = self._schedules.get(name)
        if schedule is None:
            return float(self.state[name])
        step = int(self.state.get(self._step_key, 0))
        value = schedule(step)
        try:
            return type(self).hyperparameters()[name].check(name, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__}: the schedule of {name} returned {short_repr(value, 60)} "
                             f"at step {step}: {exc}") from None

    def _advance(self) -> None:
        """Count one step (the position of the schedules)."""
        self.state[self._step_key] = self.state.get(self._step_key, 0) + 1

    def children(self) -> list["Stateful"]:
        """Sub-objects whose state belongs to this one (none by default)."""
        return []

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify the configuration (used to reject a foreign state)."""
        return {}

    def reset(self) -> None:
        """Forget all state (buffers, counters) of this object and of its children.

        The values of settable hyperparameters (``lr``, ``sigma``, ...) are kept: they are
        settings, kept in the state only so that they are saved.
        """
        kept = {k: self.state[k] for k in type(self).hyperparameters() if k in self.state}
        self.state.clear()
        self.state.update(kept)
        for child in self.children():
            child.reset()

    def snapshot(self) -> Any:
        """What :meth:`restore` needs to undo the next step (cheap for modules that replace their
        arrays instead of changing them in place; a deep copy of the state for the others)."""
        own = dict(self.state) if self._replaces_arrays else copy_state(self.state)
        return own, [c.snapshot() for c in self.children()]

    def restore(self, snapshot: Any) -> None:
        """Return to the state of a :meth:`snapshot` (taken by the optimizer before a step)."""
        own, kids = snapshot
        for child, sub in zip(self.children(), kids):
            child.restore(sub)
        self.state = own
        self._after_load()

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of this object's state and of its children's, with its configuration."""
        return {
            "type": type(self).__name__,
            "config": self.config(),
            "state": copy_state(self.state),
            "children": [c.state_dict() for c in self.children()],
        }

    def check_state_dict(self, state: Any, size: int | None = None, where: str = "") -> None:
        """Raise ``ValueError``/``TypeError`` naming the bad entry unless ``state`` could be loaded.

        Checks the type, the configuration, the sub-states and that the state is plain data;
        ``size`` (the number of parameters) is the length every state array must have, unless a
        subclass says otherwise in :meth:`_check_state`. Nothing is changed.
        """
        where = where or type(self).__name__
        if not isinstance(state, dict) or not {"type", "config", "state", "children"} <= state.keys():
            raise TypeError(f"{where}: state must be a dict made by {type(self).__name__}.state_dict(); "
                            f"got {short_repr(state)}")
        state = self._upgrade(state)
        if state["type"] != type(self).__name__:
            raise ValueError(f"{where}: state belongs to a {state['type']}, not to a {type(self).__name__}")
        if not _same_config(state["config"], self.config()):
            raise ValueError(f"{where}: state was saved with configuration {short_repr(state['config'])}, "
                             f"which differs from this one {short_repr(self.config())}")
        if not isinstance(state["state"], dict):
            raise TypeError(f"{where}: 'state' must be a dict; got {type(state['state']).__name__}")
        check_plain(state["state"], f"{where}.state")
        self._check_state(state["state"], size, f"{where}.state")
        kids = self.children()
        subs = state["children"]
        if not isinstance(subs, list) or len(subs) != len(kids):
            raise ValueError(f"{where}: state has {len(subs) if isinstance(subs, list) else subs!r} "
                             f"sub-states; this {type(self).__name__} has {len(kids)}")
        for i, (child, sub, n) in enumerate(zip(kids, subs, self._child_sizes(size))):
            child.check_state_dict(sub, n, f"{where}.children[{i}]")

    def _child_sizes(self, size: int | None) -> list[int | None]:
        """The length of the state arrays of each child (the parameters' count by default)."""
        return [size] * len(self.children())

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        """Subclass hook: check the entries of this object's own ``state`` (already plain data).

        The default: every array is a finite float vector of length ``size`` and every number
        is non-negative when an int and not nan when a float.
        """
        hypers = type(self).hyperparameters()
        for key, value in state.items():
            if key in hypers:
                hypers[key].check(f"{where}[{key!r}]", value)
            else:
                check_entry(value, size, f"{where}[{key!r}]")

    def _upgrade(self, state: dict[str, Any]) -> dict[str, Any]:
        """A state saved when hyperparameters were part of the configuration, in today's form
        (their values moved from ``config`` to ``state``); other states are returned as they are."""
        hypers = type(self).hyperparameters()
        config = state.get("config")
        if not isinstance(config, dict) or not any(k in hypers for k in config):
            return state
        moved = {k: v for k, v in config.items() if k in hypers}
        return {**state, "config": {k: v for k, v in config.items() if k not in hypers},
                "state": {**moved, **state["state"]} if isinstance(state["state"], dict) else state["state"]}

    def load_state_dict(self, state: dict[str, Any], size: int | None = None) -> None:
        """Restore a state made by :meth:`state_dict`; it is checked whole before anything changes."""
        self.check_state_dict(state, size)
        self._load_checked(state)

    def _load_checked(self, state: dict[str, Any]) -> None:
        state = self._upgrade(state)
        for child, sub in zip(self.children(), state["children"]):
            child._load_checked(sub)
        new = copy_state(state["state"])
        for name in type(self).hyperparameters():
            if name in new:  # a saved value replaces the current value or schedule
                self._schedules.pop(name, None)
            elif name in self.state:  # saved under a schedule: keep the current value
                new[name] = self.state[name]
        self.state = new
        self._after_load()

    def _after_load(self) -> None:
        """Hook for objects that derive caches from their state."""

    def __repr__(self) -> str:
        values = {k: getattr(self, k) for k in type(self).hyperparameters()}
        args = ", ".join(f"{k}={v!r}" for k, v in {**values, **self.config()}.items())
        return f"{type(self).__name__}({args})"


class Hyperparameter:
    """A settable hyperparameter of a :class:`Stateful` object (a descriptor).

    It holds a number or a schedule, a callable ``step -> value`` (see :mod:`numsmooth.schedules`).
    A number is checked when set (``module.lr = -1`` raises) and lives in ``state`` under the
    attribute's name, so it is saved and restored with the state and is not part of
    :meth:`Stateful.config`; a schedule is kept aside (a callable cannot be saved) and is
    evaluated at the object's step counter ``state["step"]``, which is saved.

    Parameters
    ----------
    check : callable
        ``check(name, value) -> float`` returns the value as a float or raises
        ``TypeError``/``ValueError`` naming ``name`` and repeating the value.
    """

    def __init__(self, check: Callable[[str, Any], float]):
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        schedule = obj._schedules.get(self.name)
        return schedule if schedule is not None else obj.state[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        if callable(value) and not isinstance(value, numbers.Number):
            _check_schedule(f"{type(obj).__name__}: {self.name}", value)
            obj._schedules[self.name] = value
            obj.state.pop(self.name, None)
        else:
            obj.state[self.name] = self.check(self.name, value)
            obj._schedules.pop(self.name, None)


def _check_schedule(name: str, schedule: Callable[..., Any]) -> None:
    """Raise ``TypeError`` unless ``schedule`` can be called with one argument (the step)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # some builtins do not say: they are tried at the first step
        return
    try:
        signature.bind(0)
    except TypeError:
        raise TypeError(f"{name} must be a number or a schedule, a callable step -> value; got "
                        f"{short_repr(schedule, 80)}, which cannot be called with one argument "
                        f"(its signature is {signature})") from None


def copy_state(value: Any) -> Any:
    """A deep copy of plain state data (arrays, containers, scalars); it runs before every step,
    so it is written for the small dicts modules keep rather than with ``copy.deepcopy``."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: copy_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_state(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` unless ``value`` is plain state data (no arbitrary objects)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings; got {k!r}")
            check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiub":
            raise TypeError(f"{where} must be a real or integer array; got dtype {value.dtype}")
    elif not isinstance(value, _SCALARS + (np.integer, np.floating, np.bool_)):
        raise TypeError(f"{where} must be plain data (numbers, strings, arrays, lists, dicts); "
                        f"got {type(value).__name__}")


def check_entry(value: Any, size: int | None, where: str) -> None:
    """The default check of one state entry (see :meth:`Stateful._check_state`)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            raise TypeError(f"{where} must be a float array; got dtype {value.dtype}")
        if size is not None and value.shape != (size,):
            raise ValueError(f"{where} must have shape ({size},); got shape {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{where} must be finite")
    elif isinstance(value, (bool, np.bool_)):
        return
    elif isinstance(value, numbers.Integral):
        if value < 0:
            raise ValueError(f"{where} must be >= 0; got {value!r}")
    elif isinstance(value, numbers.Real):
        if math.isnan(value):
            raise ValueError(f"{where} must not be nan")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_entry(v, size, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_entry(v, size, f"{where}[{k!r}]")


def _same_config(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_config(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_config(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return bool(a == b)
