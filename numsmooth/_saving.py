"""Saving a run without pickle: a state dict as an ``.npz`` file of arrays and one JSON text.

Unpickling a file runs code from it, so ``pickle.load`` of an untrusted file is unsafe;
:func:`load_state` reads only arrays and JSON (``np.load(..., allow_pickle=False)``), so a file
can at worst hold a state that :meth:`~numsmooth.Optimizer.load_state_dict` then refuses.
Floats survive exactly: JSON writes them with ``repr``, which round-trips, and arrays are
stored in binary.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["save_state", "load_state"]

_FORMAT = "numsmooth-state-1"


def save_state(file: Any, state: dict[str, Any]) -> None:
    """Write ``state`` (plain data: dicts, lists, numbers, strings, arrays) to an ``.npz`` file.

    Parameters
    ----------
    file : str, path or file object
        Where to write (NumPy adds ``.npz`` to a name without it).
    state : dict
        Typically :meth:`Optimizer.state_dict() <numsmooth.Optimizer.state_dict>`.

    Examples
    --------
    >>> import io, numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.ones(3), ns.Momentum(), ns.LR(0.1))
    >>> _ = opt.step(lambda x: (float(x @ x), 2 * x))
    >>> buf = io.BytesIO()
    >>> opt.save(buf)
    >>> _ = buf.seek(0)
    >>> fresh = ns.Optimizer(np.ones(3), ns.Momentum(), ns.LR(0.1))
    >>> fresh.load(buf)
    >>> bool(np.array_equal(fresh.x, opt.x))
    True
    """
    arrays: dict[str, np.ndarray] = {}

    def encode(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            name = f"a{len(arrays)}"
            arrays[name] = value
            return {"__array__": name}
        if isinstance(value, dict):
            if "__array__" in value:
                raise ValueError("state keys must not be '__array__'")
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot save a {type(value).__name__} in a state file: {value!r}")

    tree = encode(state)
    text = json.dumps({"format": _FORMAT, "state": tree}, allow_nan=True)
    np.savez(file, __state__=np.array(text), **arrays)  # type: ignore[arg-type]


def load_state(file: Any) -> dict[str, Any]:
    """Read a state written by :func:`save_state` (no pickle: arrays and JSON only)."""
    with np.load(file, allow_pickle=False) as data:
        if "__state__" not in data.files:
            raise ValueError(f"{file!r} is not a numsmooth state file (no '__state__' entry)")
        meta = json.loads(str(data["__state__"]))
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{file!r} is not a numsmooth state file of format {_FORMAT!r}")
        arrays = {name: data[name] for name in data.files if name != "__state__"}

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"__array__"}:
                try:
                    return arrays[value["__array__"]]
                except KeyError:
                    raise ValueError(f"state file refers to a missing array {value['__array__']!r}") from None
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    state = decode(meta["state"])
    if not isinstance(state, dict):
        raise ValueError("state file does not hold a dict")
    return state
