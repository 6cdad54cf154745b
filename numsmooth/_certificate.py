"""The stationarity certificate of :func:`~numsmooth.minimize`'s result.

A certificate is a pair ``(s, r)``: gradients of ``f`` at points within distance ``r`` of ``x``
whose convex hull has a minimum-norm element of norm ``s``. When ``f`` is locally Lipschitz and
``s`` and ``r`` are small, ``x`` is close to Clarke stationary (the Clarke subdifferential at ``x``
is the limit of these hulls as ``r -> 0``); ``s = ||g(x)||`` with ``r = 0`` is the certificate
of a smooth function. It is built from what the run already has, in this order:

1. the gradient at the final point and at the last iterates within ``r_max`` of it
   (:class:`RecentGradients`, kept by the run loop), as HANSO does with its BFGS iterates;
2. the min-norm elements that :class:`~numsmooth.GradientSampling` computed with
   ``aggregate='min-norm-hull'`` (its ``last_hull``), whose radius is the sampling radius plus
   the distance from the point it sampled around to ``x``;
3. only when neither is below the tolerance: :data:`EXTRA_POINTS` (at most ``2 d``) extra
   evaluations at antithetic pairs ``x +- u``, ``u`` uniform in the ball of radius ``r_max``
   (seed 0, so a run gives the same certificate every time), added to the gradients of 1. A
   point where the oracle returns nan or inf, or raises, counts in ``nonfinite`` (the edge of a
   region where ``f`` is not defined) and gives no gradient.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Callable, Iterable

import numpy as np

from .hull import min_norm_hull

#: Extra evaluations of step 3 (at most ``2 d``).
EXTRA_POINTS = 10

#: Floats the stored iterates and gradients may take together (16 MiB).
MAX_STORED = 1 << 21


def recent_count(d: int) -> int:
    """Iterates kept: HANSO's ``min(100, 2 d, d + 10)``, fewer when ``d`` is so large that they
    would take more than :data:`MAX_STORED` floats."""
    return max(1, min(100, 2 * d, d + 10, MAX_STORED // (2 * max(d, 1))))


class RecentGradients:
    """The last iterates of a run whose step to the next iterate was at most ``radius`` long,
    with their gradients (copies): the candidates for the certificate."""

    def __init__(self, d: int, radius: float):
        self.radius = radius
        self.pairs: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=recent_count(d))

    def add(self, x: np.ndarray, g: np.ndarray, step_norm: float) -> None:
        """Keep ``(x, g)`` when the step from ``x`` was short (farther iterates cannot help)."""
        if step_norm <= self.radius and np.all(np.isfinite(g)):
            self.pairs.append((np.array(x, dtype=np.float64, copy=True), np.array(g, dtype=np.float64, copy=True)))


class Certificate:
    """``stationarity`` (``s``) and ``radius`` (``r``) of the best certificate found; ``nonfinite``
    counts points within ``r_max`` of ``x`` where ``f`` was not finite; ``extra`` the evaluations
    it cost; ``scale`` is ``max(1, ||g(x)||)``, the scale of the tolerance."""

    def __init__(self, stationarity: float, radius: float, nonfinite: int = 0, extra: int = 0,
                 scale: float = 1.0):
        self.stationarity = stationarity
        self.radius = radius
        self.nonfinite = nonfinite
        self.extra = extra
        self.scale = scale

    def holds(self, tol: float, radius: float) -> bool:
        """``s <= tol max(1, ||g(x)||)`` and ``r <= radius``."""
        return self.stationarity <= tol * self.scale and self.radius <= radius


def _hull_certificate(x: np.ndarray, points: list[tuple[float, np.ndarray]]) -> tuple[float, float]:
    """``(s, r)`` of the hull of the gradients ``points`` (distance to ``x``, gradient): ``r`` is
    the largest distance among the gradients the min-norm element uses."""
    if len(points) == 1:
        g = points[0][1]
        return math.sqrt(float(np.dot(g, g))), points[0][0]
    G = np.stack([g for _, g in points])
    w, v, _ = min_norm_hull(G)
    used = [dist for (dist, _), wk in zip(points, w) if wk > 0.0]
    return math.sqrt(float(np.dot(v, v))), max(used) if used else 0.0


def certify(x: np.ndarray, g: np.ndarray, recent: RecentGradients | None, hulls: Iterable[Any],
            r_max: float, tol: float, evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]] | None,
            extra: int = EXTRA_POINTS) -> Certificate:
    """The certificate at ``x`` (gradient ``g``) by the rules of this module's docstring.

    ``hulls`` are :attr:`GradientSampling.last_hull` tuples; ``evaluate`` makes one counted
    evaluation (``None``: no extra evaluations).
    """
    points: list[tuple[float, np.ndarray]] = []
    if np.all(np.isfinite(g)):
        points.append((0.0, g))
    if recent is not None:
        for y, gy in recent.pairs:
            dist = float(np.linalg.norm(y - x))
            if dist <= r_max:
                points.append((dist, gy))
    best = Certificate(math.inf, math.inf)
    if points:
        best = Certificate(*_hull_certificate(x, points))
    scale = max(1.0, math.sqrt(float(np.dot(g, g)))) if np.all(np.isfinite(g)) else 1.0
    nonfinite = 0
    for y, sigma, norm, bad in hulls:
        r = sigma + float(np.linalg.norm(y - x))
        if r <= r_max:
            nonfinite += bad
            if norm < best.stationarity:
                best = Certificate(norm, r)
    d = x.size
    m = min(extra, 2 * d) // 2
    if best.stationarity > tol * scale and evaluate is not None and m > 0:
        rng = np.random.default_rng(0)
        for _ in range(m):
            u = rng.standard_normal(d)
            u *= r_max * rng.random() ** (1.0 / d) / max(float(np.linalg.norm(u)), 1e-300)
            for y in (x + u, x - u):
                try:
                    fy, gy = evaluate(y)
                except Exception:  # noqa: BLE001 - a point the oracle refuses is outside f's domain
                    fy, gy = math.nan, np.full(d, math.nan)  # the run's result must not be lost here
                if math.isfinite(fy) and np.all(np.isfinite(gy)):
                    points.append((float(np.linalg.norm(y - x)), np.array(gy, dtype=np.float64)))
                else:
                    nonfinite += 1
        if points:
            s, r = _hull_certificate(x, points)
            if s < best.stationarity:
                best = Certificate(s, r)
        best.extra = 2 * m
    best.nonfinite = nonfinite
    best.scale = scale
    return best
