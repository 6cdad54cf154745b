"""Seeds and perturbation blocks for gradient sampling.

The only random state numsmooth keeps is one ``np.uint64`` *key* per object (from `seed_to_key`)
and a *stream* counter the caller bumps whenever it wants new perturbations. A perturbation block
is then a pure function of ``(distribution, key, stream, m, d, antithetic)``: the counter-based
kernels of ``numsmooth._kernels.rng`` make it bit-identical whatever the number of Numba threads.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Callable, TypeVar, cast

import numba

import numpy as np

from ._kernels import rng as _rng
from ._parallel import pick, use_parallel

_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet_wraparound(fn: _F) -> _F:
    """The generator's uint64 hash wraps modulo 2**64 on purpose; without the JIT
    (``NUMBA_DISABLE_JIT=1``) NumPy's scalars warn about it, so silence exactly that there."""
    if not numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        return fn

    @functools.wraps(fn)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore"):
            return fn(*args, **kwargs)

    return cast(_F, quiet)

__all__ = ["DISTRIBUTIONS", "seed_to_key", "draw_perturbations"]

DISTRIBUTIONS = ("gaussian", "normal", "uniform", "rademacher", "sphere", "ball", "orthogonal", "sobol")
#: Distributions whose rows are pure functions of their counters, so any range of rows can be
#: regenerated on its own (what lets a step keep memory independent of ``n``).
ROW_WISE = ("gaussian", "normal", "uniform", "rademacher", "sphere", "ball")

# Tags of auxiliary keys derived from the user's key (never equal to a draw of the main key).
_TAG_ORTHOGONAL_NORMS = 1
_TAG_SOBOL = 2

# Sobol points are clipped into [_EPS_U, 1 - _EPS_U] before the inverse normal CDF, so 0 (which
# a scrambled point can hit) maps to a large finite value instead of -inf.
_EPS_U = 2.0**-53


@_quiet_wraparound
def seed_to_key(seed: Any) -> np.uint64:
    """Turn a user seed into the single 64-bit key of the counter-based generator.

    Parameters
    ----------
    seed : None, int >= 0, numpy.random.SeedSequence or numpy.random.Generator
        ``None`` draws fresh OS entropy. An int or a ``SeedSequence`` is hashed by NumPy's
        ``SeedSequence`` (so nearby seeds give unrelated keys). A ``Generator`` is asked for one
        uint64, which advances it.

    Returns
    -------
    numpy.uint64
        The key.

    Raises
    ------
    TypeError, ValueError
        If `seed` is of another type or a negative integer.

    Examples
    --------
    >>> from numsmooth.perturbations import seed_to_key
    >>> bool(seed_to_key(0) == seed_to_key(0))
    True
    """
    if seed is None:
        seq = np.random.SeedSequence()
    elif isinstance(seed, np.random.SeedSequence):
        seq = seed
    elif isinstance(seed, np.random.Generator):
        return np.uint64(seed.integers(0, 2**64, dtype=np.uint64))
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        seq = np.random.SeedSequence(int(seed))
    else:
        raise TypeError(
            "seed must be None, a non-negative int, a numpy.random.SeedSequence or a "
            f"numpy.random.Generator; got {seed!r} of type {type(seed).__name__}"
        )
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


def _draw_normal(key: np.uint64, stream: int, mb: int, d: int) -> np.ndarray:
    out = np.empty((mb, d))
    _fill_rows("gaussian", key, np.uint64(stream), 0, out)
    return out


def _draw_orthogonal(key: np.uint64, stream: int, mb: int, d: int) -> np.ndarray:
    """Haar-random orthonormal rows (QR with the sign of diag(R) fixed, Mezzadri 2007), each
    rescaled to the norm of an independent Gaussian row, so every row is marginally N(0, I)."""
    g = _draw_normal(key, stream, mb, d)
    q, r = np.linalg.qr(g.T)
    s = np.sign(np.diag(r))
    s[s == 0] = 1.0
    dirs = (q * s).T
    norm_key = np.uint64(_rng.derive_key(key, np.uint64(_TAG_ORTHOGONAL_NORMS)))
    chi = np.empty(mb)
    row = np.empty(d)
    for i in range(mb):  # one row at a time: memory O(d), not O(m d)
        _rng.normal_row(norm_key, stream, np.uint64(i), row)
        chi[i] = np.sqrt(np.dot(row, row))
    return np.ascontiguousarray(dirs * chi[:, None])


def _draw_sobol(key: np.uint64, stream: int, mb: int, d: int) -> np.ndarray:
    from scipy.special import ndtri
    from scipy.stats import qmc

    if d > qmc.Sobol.MAXDIM:
        raise ValueError(
            f"distribution='sobol' supports d <= {qmc.Sobol.MAXDIM} dimensions; got d = {d}"
        )
    seed_key = int(_rng.derive_key(key, np.uint64(_TAG_SOBOL)))
    engine = qmc.Sobol(d, scramble=True, rng=np.random.default_rng([seed_key, int(stream)]))
    with warnings.catch_warnings():
        # The balance warning for n not a power of 2 is about QMC error rates, not validity;
        # the docs recommend n - include_x0 a power of two instead of warning on every draw.
        warnings.simplefilter("ignore", UserWarning)
        p = engine.random(mb)
    return cast(np.ndarray, ndtri(np.clip(p, _EPS_U, 1.0 - _EPS_U)))


def _draw_callable(fn: Callable[..., Any], key: np.uint64, stream: int, mb: int, d: int) -> np.ndarray:
    gen = np.random.default_rng([int(key), int(stream)])
    u = np.asarray(fn(gen, mb, d))
    if u.shape != (mb, d):
        raise ValueError(
            f"distribution callable must return an array of shape ({mb}, {d}); got shape {u.shape}"
        )
    if u.dtype.kind != "f":
        raise ValueError(f"distribution callable must return floats; got dtype {u.dtype}")
    if not np.all(np.isfinite(u)):
        raise ValueError("distribution callable returned non-finite values (nan or inf)")
    return np.ascontiguousarray(u, dtype=np.float64)


@_quiet_wraparound
def draw_perturbations(
    distribution: str | Callable[..., Any],
    key: Any,
    stream: Any,
    m: int,
    d: int,
    *,
    antithetic: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw an ``(m, d)`` block of unscaled perturbations.

    Parameters
    ----------
    distribution : str or callable
        One of `DISTRIBUTIONS`:

        - ``"gaussian"`` / ``"normal"``: N(0, 1) elements;
        - ``"uniform"``: U[-1, 1) elements (53-bit);
        - ``"rademacher"``: +-1 elements;
        - ``"sphere"``: each row a unit vector (a normalised Gaussian row; the norm is over the
          whole row, i.e. all parameters concatenated);
        - ``"ball"``: each row uniform in the unit ball (Gaussian direction times ``U**(1/d)``);
        - ``"orthogonal"``: mutually orthogonal Gaussian directions (QR), each rescaled to the
          norm of an independent Gaussian row, so each row is marginally N(0, I); needs at
          most ``d`` independent rows;
        - ``"sobol"``: scrambled Sobol points mapped by the inverse normal CDF (QMC Gaussian);
          balanced when the number of independent rows is a power of two.

        A callable is called as ``distribution(rng, k, d)`` with
        ``rng = numpy.random.default_rng([key, stream])`` and ``k`` the number of independent
        rows (``m``, or ``ceil(m / 2)`` when `antithetic`); it must return a finite float array
        of shape ``(k, d)``.
    key : numpy.uint64 or int
        Key from `seed_to_key`.
    stream : int or numpy.uint64
        Stream number; bump it for new perturbations with the same key.
    m, d : int
        Number of rows (perturbations) and of coordinates.
    antithetic : bool, default False
        If True, rows come in +- pairs: row ``2k + 1`` is ``-row 2k``; with odd `m` the last
        row is an unpaired draw.
    out : ndarray, shape (m, d), float64, C-contiguous, optional
        Where to write the block.

    Returns
    -------
    ndarray, shape (m, d), float64
        The block (`out` if given). The same arguments give bit-identical output on every call,
        whatever the number of Numba threads.

    Raises
    ------
    ValueError
        Unknown `distribution`; ``"orthogonal"`` with more independent rows than `d` (names
        ``n`` and ``d``); a callable returning a bad array; a bad `out`.

    Notes
    -----
    Gaussian, uniform, Rademacher, sphere and ball blocks come from counter-based kernels: row
    ``i`` of the independent draws is sample ``i`` of ``(key, stream)``, so the first rows of a
    larger block equal a smaller block (for the antithetic layout, the independent draws are the
    even rows). ``"orthogonal"`` uses LAPACK QR and ``"sobol"`` SciPy's generator, so they are
    reproducible on one installation.

    Examples
    --------
    >>> from numsmooth.perturbations import draw_perturbations, seed_to_key
    >>> key = seed_to_key(42)
    >>> u = draw_perturbations("sphere", key, 0, 4, 3)
    >>> bool(np.allclose(np.linalg.norm(u, axis=1), 1.0))
    True
    >>> v = draw_perturbations("gaussian", key, 0, 4, 3, antithetic=True)
    >>> bool(np.array_equal(v[1], -v[0]))
    True
    """
    is_callable = callable(distribution)
    if not is_callable and distribution not in DISTRIBUTIONS:
        allowed = ", ".join(repr(c) for c in DISTRIBUTIONS)
        raise ValueError(f"distribution must be one of {allowed}, or a callable; got {distribution!r}")
    m = int(m)
    d = int(d)
    if m < 0 or d < 0:
        raise ValueError(f"m and d must be >= 0; got m = {m}, d = {d}")
    key = np.uint64(key)
    stream = np.uint64(stream)
    if out is None:
        out = np.empty((m, d))
    elif (
        not isinstance(out, np.ndarray)
        or out.shape != (m, d)
        or out.dtype != np.float64
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise ValueError(
            f"out must be a writeable C-contiguous float64 array of shape ({m}, {d}); got "
            f"{getattr(out, 'shape', None)} {getattr(out, 'dtype', type(out).__name__)}"
        )
    mb = (m + 1) // 2 if antithetic else m
    if distribution == "orthogonal" and mb > d:
        raise ValueError(
            f"distribution='orthogonal' needs at most d = {d} independent perturbations "
            f"(n - include_x0 <= d, or <= 2 d with antithetic); got {mb}"
        )
    if m == 0 or d == 0:
        out[...] = 0.0
        return out

    # The independent draws go straight into `out` when not antithetic.
    base = out if not antithetic else np.empty((mb, d))
    if is_callable:
        base[...] = _draw_callable(cast(Callable[..., Any], distribution), key, stream, mb, d)
    elif distribution in ROW_WISE:
        _fill_rows(distribution, key, stream, 0, base)
    elif distribution == "orthogonal":
        base[...] = _draw_orthogonal(key, stream, mb, d)
    else:  # sobol
        base[...] = _draw_sobol(key, stream, mb, d)

    if antithetic:
        out[0::2] = base
        np.negative(base[: m // 2], out=out[1::2])
    return out


@_quiet_wraparound
def draw_rows(distribution: str, key: Any, stream: Any, first: int, out: np.ndarray,
              *, antithetic: bool = False, parallel: bool | None = None) -> np.ndarray:
    """Rows ``first .. first + len(out) - 1`` of the block `draw_perturbations` would draw.

    Only for the row-wise distributions (`ROW_WISE`); the result equals the same rows of
    ``draw_perturbations(distribution, key, stream, m, d, antithetic=antithetic)`` bit for bit,
    whatever ``m``. ``parallel``: draw on the Numba threads or not (the same bits); None decides
    by size, and True must come from the caller's own `use_parallel`. A caller that reads the
    rows on one thread right away passes False: rows drawn by the other core are read back from
    that core's cache, which costs more than the second thread saves (at d = 1000, n = 100 the
    serial fold that follows took 265 us instead of 185 us, for 35 us saved on the draw).
    """
    if distribution not in ROW_WISE:
        raise ValueError(f"draw_rows needs one of {ROW_WISE}; got {distribution!r}")
    c, d = out.shape
    key, stream = np.uint64(key), np.uint64(stream)
    if c == 0 or d == 0:
        return out
    if not antithetic:
        _fill_rows(distribution, key, stream, first, out, parallel)
        return out
    # Row r is independent draw r // 2, negated when r is odd.
    lo, hi = first // 2, (first + c - 1) // 2 + 1
    base = np.empty((hi - lo, d))
    _fill_rows(distribution, key, stream, lo, base, parallel)
    rows = np.arange(first, first + c)
    out[...] = base[rows // 2 - lo]
    odd = (rows % 2) == 1
    out[odd] = -out[odd]
    return out


def _fill_rows(distribution: str, key: np.uint64, stream: np.uint64, first: int, out: np.ndarray,
               parallel: bool | None = None) -> None:
    first_u = np.uint64(first)
    if parallel is None:
        parallel = use_parallel(out.size)
    fill = pick(_rng.fill_kind, out.size, parallel=parallel)
    kind = 1 if distribution == "uniform" else 2 if distribution == "rademacher" else 0
    fill(kind, key, stream, first_u, out)
    if distribution in ("sphere", "ball"):
        scale = pick(_rng.scale_rows_to_sphere, out.size, parallel=parallel)
        scale(key, stream, first_u, distribution == "ball", out)
