"""Per-point functions ``fun(x) -> (f, g)``: :class:`PointOracle`, its loop over points and the
checks of every result (the loop's fast path first, the strict slow path after)."""

from __future__ import annotations

import numbers
import weakref
from concurrent.futures import Executor
from typing import Any

import numpy as np

from .._buffers import Reusable
from .._kernels import oracles as _ok
from .._layout import ParamLayout
from .._validation import short_repr
from .. import _passes
from .base import Oracle
from .errors import OracleError, where
from .executor import Tally
from .parts import F64, GradientParts, parts_of

__all__ = ["PointOracle", "evaluate_point_rows", "as_value"]


class BadValue(Exception):
    """A value that is not a real scalar; the caller adds where it came from."""


def as_value(f: Any) -> float:
    """The oracle's value as a Python float (slow path: the caller handles float, np.float64 and
    np.float32 itself). Non-finite values are data, not errors."""
    if isinstance(f, (list, tuple)):
        raise BadValue(f"oracle returned a {type(f).__name__} of {len(f)} items as the value; it must be a "
                       "real scalar (did it return (g, f) instead of (f, g)?)")
    if isinstance(f, (str, bytes, bool, np.bool_)):
        raise BadValue(f"oracle returned a value {short_repr(f)} of type {type(f).__name__}; it must be a real scalar")
    if isinstance(f, np.ndarray):
        if f.ndim != 0:
            raise BadValue(f"oracle returned a value of shape {f.shape} ({short_repr(f)}); it must be a scalar"
                           " (did it return (g, f) instead of (f, g)?)")
        if f.dtype.kind == "f":
            return float(f)
    if isinstance(f, (numbers.Complex, np.ndarray, np.generic)) and not isinstance(f, numbers.Real):
        if np.iscomplexobj(np.asarray(f)):
            raise BadValue(f"oracle returned a complex value {short_repr(f)}; it must be real")
    try:
        return float(f)
    except OverflowError:
        raise BadValue(f"oracle returned a value {short_repr(f)} too large for a float64") from None
    except (TypeError, ValueError):
        raise BadValue(f"oracle returned a value {short_repr(f)} of type {type(f).__name__}; "
                       "it must be a real scalar") from None


def evaluate_point_rows(fun: Any, layout: ParamLayout, X: np.ndarray, F: np.ndarray, G: np.ndarray,
                        first_index: int | None, tally: Tally) -> None:
    """Call a per-point oracle at every row of ``X`` (flat points, ``(m, d)``) into ``F[:m]`` and
    ``G[:m]``, checking every result; ``tally`` counts the calls made, the failing one included.

    This loop runs once per evaluation, so its common case is as short as it can be: rows of
    ``X`` and ``G`` come from iterating the arrays (no index arithmetic, no slice objects), the
    point is handed over without a per-call reshape when there is one parameter, the tests that
    accept the usual results (a ``float``, ``np.float64``, ``np.float32`` or 0-d float array
    value; a float gradient array of the parameter's shape) come first and cost a few type and
    identity checks, and error messages are built only when raised. Everything else goes
    through the strict slow path (`as_value`, `ParamLayout.flatten`).
    """
    args: Any
    if layout.single:
        shape = layout.shapes[0]
        if len(shape) == 1:
            args, grows = X, G  # zip() stops after the m rows of X
        else:  # rows in the parameter's shape: the user's point, and where its gradient goes
            m = X.shape[0]
            args, grows = X.reshape((m, *shape)), G[:m].reshape((m, *shape))
    else:
        shape = None
        args, grows = [layout.unflatten(row) for row in X], G
    # the names the loop tests against, as locals (a global and an attribute lookup each else)
    ndarray, float64, float32, f64 = np.ndarray, np.float64, np.float32, F64
    i = -1
    try:
        for arg, grow in zip(args, grows):
            i += 1
            try:
                res = fun(arg)
            except Exception as exc:
                raise OracleError(f"oracle raised {type(exc).__name__}: {exc} {where(first_index, i, X[i])}") from exc
            if type(res) is not tuple or len(res) != 2:
                if not (isinstance(res, (tuple, list)) and len(res) == 2):
                    raise OracleError(f"oracle must return a pair (f, g) {where(first_index, i, X[i])}; it returned "
                                      f"{short_repr(res, 80)} of type {type(res).__name__}")
            f, g = res
            tf = type(f)
            if tf is float or tf is float64 or tf is float32 or (
                    tf is ndarray and f.ndim == 0 and f.dtype.kind == "f"):
                F[i] = f
            else:
                try:
                    F[i] = as_value(f)
                except BadValue as bad:
                    raise OracleError(f"{bad} {where(first_index, i, X[i])}") from None
            if type(g) is ndarray and (g.dtype is f64 or g.dtype.kind == "f") and g.shape == shape:
                grow[...] = g
            else:
                try:
                    layout.flatten(g, "gradient", out=G[i])
                except (TypeError, ValueError) as exc:
                    raise OracleError(f"{exc} {where(first_index, i, X[i])}") from None
    finally:
        tally.n += i + 1  # the row being evaluated when it raised was called too


#: Elements per chunk of points built for a per-point oracle: small enough to stay in cache
#: (256 KiB), large enough that the kernel call is amortised over many points.
_POINT_CHUNK_ELEMENTS = 1 << 15


class PointOracle(Oracle):
    """A per-point function ``fun(x) -> (f, g)``, called once per point in a Python loop; the
    perturbed points are built a chunk at a time, and the gradient at one point can stay the
    user's arrays (:meth:`evaluate_parts`)."""

    kind = "point"
    rows = staticmethod(evaluate_point_rows)

    def __init__(self, fun: Any, layout: ParamLayout):
        super().__init__(fun, layout)
        # the chunk of perturbed points handed to the function, reused likewise
        self._pbuf = Reusable()

    def evaluate_perturbed(self, x: np.ndarray, sigma: float, U: np.ndarray, F: np.ndarray,
                           G: np.ndarray, offset: int, sample_base: int = 0,
                           executor: Executor | None = None, chunksize: int | None = None) -> None:
        """The points are built a chunk of rows at a time by one kernel (`_ok.build_points`)
        into a buffer reused across chunks and steps, so no ``(m, d)`` block of points is held
        and nothing is allocated per point. A point the oracle keeps is never overwritten: the
        buffer is reused only when nothing refers to it (see
        :class:`~numsmooth._buffers.Reusable`)."""
        m, d = U.shape
        if m == 0:
            return
        if executor is not None:
            super().evaluate_perturbed(x, sigma, U, F, G, offset, sample_base, executor, chunksize)
            return
        self._settle()
        F, G, first, sigma = F[offset:], G[offset:], sample_base + offset, float(sigma)
        c = _POINT_CHUNK_ELEMENTS // d if d else m
        if m <= c:  # one chunk (d <= 330 at n = 100 points): no chunk loop
            P = self._pbuf.get((m, d))
            _ok.build_points(x, sigma, U, 0, P)
            evaluate_point_rows(self.fun, self.layout, P, F, G, first, self._tally)
            return
        c = max(1, c)
        for lo in range(0, m, c):
            k = min(c, m - lo)
            P = self._pbuf.get((c, d))
            if k < c:
                P = P[:k]
            _ok.build_points(x, sigma, U, lo, P)
            evaluate_point_rows(self.fun, self.layout, P, F[lo:lo + k], G[lo:lo + k], first + lo, self._tally)
            del P  # before the next get(): our own reference must not count as the oracle keeping it

    def evaluate_parts(self, x: np.ndarray, arg: Any = None) -> tuple[float, GradientParts]:
        """:meth:`evaluate`, the gradient kept as the user's arrays while they can be read in
        place (C-contiguous float64 arrays of the right shapes); checked as strictly, with the
        same errors. ``arg``: what to hand to the function instead of a copy of ``x`` (the
        caller's guarantee: it holds the values of ``x``, in the parameters' shapes)."""
        self._settle()
        layout = self.layout
        if arg is None:
            X = self._xbuf.get((1, layout.size))
            _passes.copy(X[0], x)
            arg = X[0] if layout.single and layout.shapes[0] == (layout.size,) else layout.unflatten(X[0])
        else:
            X = x.reshape(1, -1)  # only for messages
        self._tally.n += 1
        raised: Exception | None = None
        try:
            res = self.fun(arg)
        except Exception as exc:
            res, raised = None, exc
        else:
            if type(res) is tuple and len(res) == 2:
                f, g = res
                tf = type(f)
                if tf is float or tf is np.float64 or tf is np.float32 or (
                        tf is np.ndarray and f.ndim == 0 and f.dtype.kind == "f"):
                    parts = parts_of(layout, g)
                    if parts is not None:
                        gbuf = self._gbuf
                        lazy = GradientParts(parts, None, layout, lambda: gbuf.get((1, layout.size), layout.dtype)[0])
                        self._outstanding = weakref.ref(lazy)
                        return float(f), lazy

        def replay(_: Any) -> Any:  # anything else: the per-point checks and their messages
            if raised is not None:
                raise raised
            return res

        F = np.empty(1)
        G = self._gbuf.get((1, layout.size))
        evaluate_point_rows(replay, layout, X, F, G, None, Tally())  # the call is counted above
        return float(F[0]), GradientParts.of_flat(G[0], layout)
