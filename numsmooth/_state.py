"""State as plain data: the base of modules and termination criteria.

Everything mutable of a module or criterion lives in its ``state`` dict of plain data (floats,
ints, strings, bools, None, float arrays, and lists/dicts of them), so saving, restoring and
rolling back a failed step are generic, and a state can be written without pickle.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

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

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def children(self) -> list["Stateful"]:
        """Sub-objects whose state belongs to this one (none by default)."""
        return []

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify the configuration (used to reject a foreign state)."""
        return {}

    def reset(self) -> None:
        """Forget all state (buffers, counters) of this object and of its children."""
        self.state.clear()
        for child in self.children():
            child.reset()

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
        for i, (child, sub) in enumerate(zip(kids, subs)):
            child.check_state_dict(sub, size, f"{where}.children[{i}]")

    def _check_state(self, state: dict[str, Any], size: int | None, where: str) -> None:
        """Subclass hook: check the entries of this object's own ``state`` (already plain data).

        The default: every array is a finite float vector of length ``size`` and every number
        is non-negative when an int and not nan when a float.
        """
        for key, value in state.items():
            check_entry(value, size, f"{where}[{key!r}]")

    def load_state_dict(self, state: dict[str, Any], size: int | None = None) -> None:
        """Restore a state made by :meth:`state_dict`; it is checked whole before anything changes."""
        self.check_state_dict(state, size)
        self._load_checked(state)

    def _load_checked(self, state: dict[str, Any]) -> None:
        for child, sub in zip(self.children(), state["children"]):
            child._load_checked(sub)
        self.state = copy_state(state["state"])
        self._after_load()

    def _after_load(self) -> None:
        """Hook for objects that derive caches from their state."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


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
