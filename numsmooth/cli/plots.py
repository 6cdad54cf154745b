"""Convergence plots of the command line (``numsmooth demo`` and ``numsmooth run --plot``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["Curve", "convergence_curve", "figure", "plot_panels"]


def convergence_curve(result: Any, f_star: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(evaluations, f - f*)`` of a :class:`~numsmooth.OptimizeResult`; ``(evaluations, f)``
    when ``f_star`` is None (no known optimum).

    Step ``k``'s true value ``history["f"][k]`` (at the start of the step) is placed at the
    evaluation that produced it, ``history["nfev"][k - 1] + 1`` (1 for the first step), and the
    final ``fun`` at ``nfev``. Steps that did not evaluate ``f`` (``nan``) use the smoothed value
    ``history["f_smoothed"]`` instead, the only value such a run has along the way.
    """
    h = result.history
    f = np.asarray(h["f"], dtype=float)
    if "f_smoothed" in h and f.size:
        f = np.where(np.isnan(f), np.asarray(h["f_smoothed"], dtype=float), f)
    before = np.concatenate([[0.0], np.asarray(h["nfev"], dtype=float)[:-1]])[: f.size]
    ev = np.append(before + 1.0, float(result.nfev))
    values = np.append(f, result.fun)
    if not np.isfinite(values[-1]):  # an interrupted run: its last value is unknown
        ev, values = ev[:-1], values[:-1]
    return ev, values if f_star is None else values - f_star


@dataclass
class Curve:
    """One line of a panel: a label and its ``(evaluations, f - f*)``, or ``(evaluations, f)``
    when ``gap`` is False (no known optimum)."""

    panel: str
    label: str
    curve: tuple[np.ndarray, np.ndarray] = field(repr=False)
    gap: bool = True


def plot_panels(curves: Sequence[Curve], path: str) -> None:
    """Write the convergence plot of :func:`figure` to ``path`` (PNG).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    import matplotlib.pyplot as plt

    fig = figure(curves)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure(curves: Sequence[Curve]) -> Any:
    """The convergence plot: one panel per ``panel``, ``f - f*`` (log) vs evaluations, or ``f``
    (linear, symmetric-log when it spans more than three decades) in a panel with a curve that
    has no known optimum. Uses matplotlib's Agg backend (no display needed)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the plot needs matplotlib: pip install matplotlib (or use --no-plot)") from None
    panels: dict[str, list[Curve]] = {}
    for c in curves:
        panels.setdefault(c.panel, []).append(c)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.0), squeeze=False)
    for ax, (title, group) in zip(axes[0], panels.items()):
        finals = [float(c.curve[0][-1]) for c in group if len(c.curve[0])]
        if finals and max(finals) > 20 * min(finals):  # runs of very different lengths: log evaluations
            ax.set_xscale("log")
        gaps = all(c.gap for c in group)
        for c in group:
            ev, y = c.curve
            # f - f* can be exactly 0 (or a rounding-level negative) at the optimum.
            ax.plot(ev, np.maximum(y, 1e-16) if gaps else y, label=c.label)
        if gaps:
            ax.set_yscale("log")
        else:
            f = np.abs(np.concatenate([c.curve[1] for c in group]))
            f = f[np.isfinite(f) & (f > 0)]
            if f.size and f.max() > 1e3 * f.min():
                ax.set_yscale("symlog", linthresh=float(f.min()))
        ax.set_xlabel("evaluations")
        ax.set_ylabel("f - f*" if gaps else "f")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
