"""Saving a run without pickle: a state dict as an ``.npz`` file of arrays and one JSON text.

Unpickling a file runs code from it, so ``pickle.load`` of an untrusted file is unsafe;
:func:`load_state` reads only arrays and JSON (``np.load(..., allow_pickle=False)``), so a file
can at worst hold a state that :meth:`~numsmooth.Optimizer.load_state_dict` then refuses.
Floats survive exactly: JSON writes them with ``repr``, which round-trips, and arrays are
stored in binary.

A save to a path never leaves a broken file: it writes a temporary file beside the target,
flushes it to disk and renames it over the target (an atomic replacement), so a crash or a kill
at any moment leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
import zlib
from typing import Any, Callable

import numpy as np

__all__ = ["save_state", "load_state"]

_FORMAT = "numsmooth-state-1"
#: Deepest nesting of lists and dicts a state file may hold (real states nest a few levels; a
#: hostile file nested far deeper would exhaust the stack).
_MAX_DEPTH = 200


def save_state(file: Any, state: dict[str, Any]) -> None:
    """Write ``state`` (plain data: dicts, lists, numbers, strings, arrays) to an ``.npz`` file.

    Parameters
    ----------
    file : str, path or file object
        Where to write (NumPy adds ``.npz`` to a name without it). A path is replaced
        atomically: the state goes to a temporary file in the same folder, which is flushed to
        disk and renamed over ``file``, so an interrupted save leaves the old file or the new
        one, never a part of either. A file object is written as it is.
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

    def write(target: Any) -> None:
        np.savez(target, __state__=np.array(text), **arrays)  # type: ignore[arg-type]

    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        _replace_atomically(path if path.endswith(".npz") else path + ".npz", write)
    else:
        write(file)


def _replace_atomically(path: str, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file beside it: written, flushed, synced, renamed."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes it private; a save gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk (not on every platform)
        dirfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def _file_mode(path: str) -> int:
    """The permissions of the file being replaced, or those a new file gets (0o666 less umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def describe_file(file: Any) -> str:
    """How an error message names ``file`` (a path, or a file object by its name or type)."""
    if isinstance(file, (str, os.PathLike)):
        return repr(os.fspath(file))
    name = getattr(file, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(file).__name__} given"


def load_state(file: Any) -> dict[str, Any]:
    """Read a state written by :func:`save_state` (no pickle: arrays and JSON only).

    Raises
    ------
    OSError
        When the file cannot be opened or read (the error names it).
    ValueError
        When the file is not a whole numsmooth state file (empty, truncated, corrupted, another
        format, or nested implausibly deep); the message names the file and what is wrong.
    """
    where = describe_file(file)
    try:
        meta, arrays = _read(file)
    except OSError:
        raise
    except _NotAState as exc:
        raise ValueError(f"{where} is not a numsmooth state file: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where} is not a numsmooth state file: its contents are nested too deeply") from None
    except (ValueError, EOFError, KeyError, TypeError, UnicodeError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{where} is not a readable numsmooth state file (empty, truncated or corrupted?): "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "state" not in meta:
        raise ValueError(f"{where} is not a numsmooth state file of format {_FORMAT!r}")

    def decode(value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(f"{where} is not a numsmooth state file: its state is nested more than "
                             f"{_MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            if set(value) == {"__array__"}:
                try:
                    return arrays[value["__array__"]]
                except (KeyError, TypeError):
                    raise ValueError(f"{where} refers to a missing array {value['__array__']!r}") from None
            return {k: decode(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v, depth + 1) for v in value]
        return value

    state = decode(meta["state"], 0)
    if not isinstance(state, dict):
        raise ValueError(f"{where} does not hold a state dict; it holds a {type(state).__name__}")
    return state


class _NotAState(ValueError):
    """A readable file that is not a state file (its reason)."""


def _read(file: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """The JSON text (parsed) and the arrays of a state file; NumPy's and zipfile's errors pass."""
    with contextlib.ExitStack() as stack:
        data = np.load(file, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise _NotAState(f"it holds a single {type(data).__name__}, not an .npz archive")
        stack.enter_context(data)
        if "__state__" not in data.files:
            raise _NotAState("it has no '__state__' entry")
        text = data["__state__"]
        if text.dtype.kind != "U" or text.shape != ():
            raise _NotAState(f"its '__state__' entry is a {text.dtype} array of shape {text.shape}, not a text")
        meta = json.loads(str(text))
        arrays = {name: data[name] for name in data.files if name != "__state__"}
    return meta, arrays
