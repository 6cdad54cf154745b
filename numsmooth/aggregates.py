"""The aggregates: how sampled values ``F`` (m,) and gradients ``G`` (m, d) become one value
and one gradient (SPEC 3.3), by name."""

from __future__ import annotations

import warnings

import numpy as np

from . import config
from ._kernels import aggregate as _agg
from ._parallel import pick
from .hull import min_norm_hull

__all__ = ["AGGREGATES", "STREAM_CODES", "aggregate"]

AGGREGATES = ("mean", "max", "min", "min-norm", "min-value", "min-norm-hull")

#: Aggregates that can fold gradients as they arrive (streaming), by kernel code.
STREAM_CODES = {
    "mean": _agg.MEAN, "max": _agg.MAX, "min": _agg.MIN, "min-norm": _agg.MIN_NORM, "min-value": _agg.MIN_VALUE,
}

#: aggregate -> kernel twin; "min-value" is O(m + d) and has only a serial kernel.
_KERNELS = {"mean": _agg.agg_mean, "max": _agg.agg_max, "min": _agg.agg_min, "min-norm": _agg.agg_min_norm}


def aggregate(name: str, F: np.ndarray, G: np.ndarray) -> tuple[float, np.ndarray]:
    """Aggregate values ``F`` (m,) and gradients ``G`` (m, d) as the aggregate ``name`` says.

    Rows with a non-finite value are skipped; with none finite the result is
    ``(inf, full(inf))``.
    """
    out = np.empty(G.shape[1])
    if name != "min-norm-hull":
        if name == "min-value":
            return float(_agg.agg_min_value(F, G, out)), out
        # the blocks of coordinates need some width to pay for a parallel region (min-norm is
        # parallel over rows)
        wide = G.shape[1] >= 256 or name == "min-norm"
        kernel = pick(_KERNELS[name], G.size if wide else 0, "reduce_parallel_min_elements")
        return float(kernel(F, G, out)), out
    finite = np.isfinite(F)
    if not finite.any():
        out.fill(np.inf)
        return float("inf"), out
    _, out, gap = min_norm_hull(np.ascontiguousarray(G[finite]))
    if not gap <= config.get("hull_accept"):
        warnings.warn(f"min-norm-hull QP stopped with relative optimality gap {gap:.3g}",
                      RuntimeWarning, stacklevel=3)
    return float(np.mean(F[finite])), out
