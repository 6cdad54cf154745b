"""The experiments behind ``numsmooth demo`` and the method chains of ``numsmooth run``.

Three experiments, each a few seconds on two cores:

1. **Gaussian homotopy on Rastrigin** (d = 10, from 3.3 per coordinate): gradient descent stops
   at the local minimum next to the start; :class:`~numsmooth.GradientSampling` with the
   ``'mean'`` aggregate, scrambled Sobol perturbations and a sigma that decays every few steps
   follows the minimum of the smoothed function down to the global one.
2. **LSGD on a noisy ill-conditioned quadratic** (Osher et al. 2022):
   ``f = sum (x_i - 2)^2 / c_i^2`` with ``c`` alternating 10 and 1, N = 100, Gaussian noise added
   to every gradient; Laplacian smoothing of the update lowers the final (averaged) loss at the
   same learning rate.
3. **Gradient sampling on MAXQUAD** (Burke, Lewis & Overton 2005): the min-norm element of the
   convex hull of gradients sampled in a ball, an Armijo line search on the true function, and
   the ball's radius shrunk whenever no progress is made, reaching the published optimum.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import problems as _problems
from .laplacian import LaplacianSmoothing
from .modules import LR, Backtracking, Module
from .objective import Objective
from .minimize import OptimizeResult, minimize
from .gradient_sampling import GradientSampling
from .termination import TerminateAfterNSteps, TerminateByUpdateNorm, TerminationCriterion

__all__ = [
    "METHODS", "HULL_DEFAULTS", "HOMOTOPY_DEFAULTS", "Monitor", "Run", "Row",
    "gradient_sampling_hull", "gaussian_homotopy", "build_chain", "run_chain",
    "noisy_quadratic", "warm_up", "run_demo", "format_table", "plot_panels",
]

#: Methods of ``numsmooth run``.
METHODS = ("gradient-sampling", "lsgd", "gd")

#: Defaults of gradient sampling with ``aggregate='min-norm-hull'`` (Burke, Lewis & Overton).
#: ``n=None`` means ``2 d``.
HULL_DEFAULTS: dict[str, Any] = dict(
    sigma=0.1, n=None, decay=0.1, tol=1e-6, sigma_min=1e-6, maxiter=1000,
    bt_init=1.0, bt_beta=0.5, bt_c=1e-4, bt_maxiter=30,
)

#: Defaults of Gaussian homotopy (every other aggregate): ``GradientSampling([Backtracking()])``
#: with scrambled Sobol perturbations kept fixed within a sigma stage.
HOMOTOPY_DEFAULTS: dict[str, Any] = dict(
    sigma=1.0, n=256, decay=0.5, stage=10, sigma_min=0.0, maxiter=150, distribution="sobol",
)

#: Defaults of gradient descent and LSGD.
GD_DEFAULTS: dict[str, Any] = dict(lr=1e-3, sigma=1.0, maxiter=1000)


class Monitor(TerminationCriterion):
    """A criterion for :func:`~numsmooth.minimize` that records evaluation counts.

    Checked before every step, it appends the optimizer's evaluation count to
    :attr:`evaluations` (so ``evaluations[k]`` is the count before step ``k``) and fires when
    the smoothing scale of ``module`` falls below ``sigma_min``.

    Parameters
    ----------
    module : object, optional
        Anything with a ``sigma`` attribute (a :class:`~numsmooth.GradientSampling`).
    sigma_min : float
        Stop once ``module.sigma < sigma_min``; 0 never stops.

    Attributes
    ----------
    evaluations : list of int
        The evaluation count at each check.
    fired : bool
        Whether the sigma floor stopped the run.
    """

    def __init__(self, module: Any = None, sigma_min: float = 0.0):
        super().__init__()
        self.module = module
        self.sigma_min = float(sigma_min)
        self.evaluations: list[int] = []
        self.fired = False

    def _condition(self, objective: Objective) -> bool:
        self.evaluations.append(objective.num_evaluations)
        if self.module is not None and self.sigma_min > 0 and self.module.sigma < self.sigma_min:
            self.fired = True
        return self.fired


def gradient_sampling_hull(d: int, *, sigma: float = 0.1, n: int | None = None, decay: float = 0.1,
                           tol: float = 1e-6, seed: Any = None, bt_init: float = 1.0,
                           bt_beta: float = 0.5, bt_c: float = 1e-4, bt_maxiter: int = 30,
                           **_: Any) -> tuple[list[Module], GradientSampling]:
    """The gradient-sampling chain of Burke, Lewis & Overton (2005), built from numsmooth modules.

    ``n`` points uniform in the ball of radius ``sigma`` around ``x`` (plus ``x`` itself), the
    minimum-norm element of the convex hull of their gradients as the direction, an Armijo
    line search on the original ``f`` along it, and ``sigma *= decay`` with new points whenever
    ``x`` moved by at most ``tol`` in the last step (the line search failed, or the direction
    is nearly zero).

    Parameters
    ----------
    d : int
        Dimension (``n`` defaults to ``2 d``).
    sigma, n, decay, tol, seed
        Initial radius, points per step (x included), radius factor, update-norm tolerance,
        seed of the perturbations.
    bt_init, bt_beta, bt_c, bt_maxiter
        Parameters of :class:`~numsmooth.Backtracking`.

    Returns
    -------
    modules : list of Module
        ``[GradientSampling([LR(1.0)], ...), Backtracking(...)]``.
    sampler : GradientSampling
        The first module (for its ``sigma``).
    """
    n = 2 * d if n is None else n
    gs = GradientSampling([LR(1.0)], sigma=sigma, n=n, aggregate="min-norm-hull", distribution="ball",
                          termination=TerminateByUpdateNorm(tol, n=1), decay=decay, fixed=False,
                          seed=seed)
    return [gs, Backtracking(init=bt_init, beta=bt_beta, c=bt_c, maxiter=bt_maxiter)], gs


def gaussian_homotopy(*, aggregate: str = "mean", sigma: float = 1.0, n: int = 256, decay: float = 0.5,
                      stage: int = 10, distribution: str = "sobol", seed: Any = None,
                      lr: float | None = None, **_: Any) -> tuple[list[Module], GradientSampling]:
    """Gaussian homotopy: minimize the smoothed function, decaying sigma every ``stage`` steps.

    The inner optimizer is an Armijo line search on the smoothed objective (its perturbations
    are fixed within a stage, so the line search sees one deterministic function), or a fixed
    step ``lr`` when given.

    Parameters
    ----------
    aggregate : str
        Aggregate of :class:`~numsmooth.GradientSampling`.
    sigma, n, decay, stage, distribution, seed
        Initial scale, points per step, decay factor, steps per sigma stage, perturbation
        distribution and seed.
    lr : float, optional
        Use ``LR(lr)`` instead of the line search.

    Returns
    -------
    modules : list of Module
    sampler : GradientSampling
    """
    inner = LR(lr) if lr is not None else Backtracking()
    gs = GradientSampling([inner], sigma=sigma, n=n, aggregate=aggregate, distribution=distribution,
                          include_x0=False, termination=TerminateAfterNSteps(stage), decay=decay,
                          fixed=True, seed=seed)
    return [gs], gs


def build_chain(method: str, d: int, *, aggregate: str = "mean", sigma: float | None = None,
                n: int | None = None, lr: float | None = None, seed: Any = None,
                decay: float | None = None, stage: int | None = None,
                sigma_min: float | None = None) -> tuple[list[Module], GradientSampling | None, dict[str, Any]]:
    """The modules of ``numsmooth run --method METHOD`` with the command's defaults filled in.

    Parameters
    ----------
    method : {'gradient-sampling', 'lsgd', 'gd'}
    d : int
        Dimension of the problem.
    aggregate, sigma, n, lr, seed, decay, stage, sigma_min
        The command's options; ``None`` takes the method's default.

    Returns
    -------
    modules : list of Module
    sampler : GradientSampling or None
    settings : dict
        Every setting used (defaults resolved), for the JSON record.
    """
    if method == "gd":
        lr = GD_DEFAULTS["lr"] if lr is None else lr
        return [LR(lr)], None, {"lr": lr}
    if method == "lsgd":
        lr = GD_DEFAULTS["lr"] if lr is None else lr
        sigma = GD_DEFAULTS["sigma"] if sigma is None else sigma
        return [LaplacianSmoothing(sigma=sigma), LR(lr)], None, {"lr": lr, "sigma": sigma}
    if method != "gradient-sampling":
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}; got {method!r}")
    if aggregate == "min-norm-hull":
        s = dict(HULL_DEFAULTS)
        s.update({k: v for k, v in dict(sigma=sigma, n=n, decay=decay, sigma_min=sigma_min).items()
                  if v is not None})
        s["n"] = 2 * d if s["n"] is None else s["n"]
        mods, gs = gradient_sampling_hull(d, seed=seed, **s)
        s.pop("maxiter")
        return mods, gs, dict(aggregate=aggregate, distribution="ball", **s)
    s = dict(HOMOTOPY_DEFAULTS)
    s.update({k: v for k, v in dict(sigma=sigma, n=n, decay=decay, stage=stage, sigma_min=sigma_min).items()
              if v is not None})
    mods, gs = gaussian_homotopy(aggregate=aggregate, seed=seed, lr=lr, **s)
    s.pop("maxiter")
    s.update(aggregate=aggregate, inner="LR" if lr is not None else "Backtracking")
    if lr is not None:
        s["lr"] = lr
    return mods, gs, s


def default_maxiter(method: str, aggregate: str) -> int:
    """``--maxiter`` when not given."""
    if method == "gradient-sampling":
        return int(HULL_DEFAULTS["maxiter"] if aggregate == "min-norm-hull" else HOMOTOPY_DEFAULTS["maxiter"])
    return int(GD_DEFAULTS["maxiter"])


@dataclass
class Run:
    """One optimization run: its result, evaluation counts per step and wall time."""

    result: OptimizeResult
    evaluations: list[int]
    seconds: float
    stopped_by_sigma: bool = False

    def curve(self, f_star: float) -> tuple[np.ndarray, np.ndarray]:
        """``(evaluations, f - f*)`` at the start of every step and at the final point."""
        f = np.asarray(self.result.history["f"], dtype=float)
        ev = np.asarray(self.evaluations[: f.size], dtype=float) + 1.0
        ev = np.append(ev, float(self.result.nfev))
        gap = np.append(f, self.result.fun) - f_star
        return ev, gap


def run_chain(fun: Callable[..., Any], x0: np.ndarray, modules: Sequence[Module], *, maxiter: int,
              sampler: Any = None, sigma_min: float = 0.0, progress: bool = False) -> Run:
    """:func:`~numsmooth.minimize` with a :class:`Monitor`, timed."""
    mon = Monitor(sampler, sigma_min)
    t0 = time.perf_counter()
    res = minimize(fun, x0, *modules, maxiter=maxiter, termination=mon, progress=progress)
    seconds = time.perf_counter() - t0
    if mon.fired:
        res["message"] = f"sigma fell below sigma_min ({sigma_min:g})"
    return Run(res, mon.evaluations, seconds, mon.fired)


def noisy_quadratic(N: int = 100, noise: float = 0.1, seed: int = 0) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The LSGD paper's test: ``f = sum (x_i - 2)^2 / c_i^2``, ``c = 10, 1, 10, 1, ...``.

    The returned oracle adds ``N(0, noise^2)`` to every gradient element (seeded); the value is
    exact, so ``f - f* = f``.
    """
    c2 = np.where(np.arange(N) % 2 == 0, 10.0, 1.0) ** 2
    rng = np.random.default_rng(seed)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        r = x - 2.0
        return float(np.sum(r * r / c2)), 2.0 * r / c2 + noise * rng.standard_normal(N)

    return fun


@dataclass
class Row:
    """A line of the demo's table and its convergence curve."""

    panel: str
    problem: str
    method: str
    f_star: float
    f_reached: float
    evaluations: int
    seconds: float
    curve: tuple[np.ndarray, np.ndarray] = field(repr=False)
    note: str = ""


def warm_up() -> float:
    """Compile the kernels the demo uses (a few steps of each chain); return the seconds taken."""
    t0 = time.perf_counter()
    x = np.full(10, 3.3)
    minimize(_problems.get("rastrigin").fun, x, LR(1e-3), maxiter=2)
    minimize(_problems.get("rastrigin").fun, x, *gaussian_homotopy(n=16, seed=0)[0], maxiter=2)
    minimize(noisy_quadratic(100), np.zeros(100), LaplacianSmoothing(sigma=10.0), LR(0.1), maxiter=2)
    minimize(_problems.get("maxquad").fun, x, *gradient_sampling_hull(10, seed=0)[0], maxiter=2)
    return time.perf_counter() - t0


def run_demo(quick: bool = False, progress: bool = False) -> list[Row]:
    """Run the three experiments of ``numsmooth demo`` and return the table's rows.

    Parameters
    ----------
    quick : bool
        Smaller runs (for tests): fewer steps, same story.
    progress : bool
        Show progress bars.
    """
    rows: list[Row] = []

    # 1. Gaussian homotopy on Rastrigin, d = 10, from 3.3.
    p = _problems.get("rastrigin")
    d = 10
    x0 = np.full(d, 3.3)
    panel = "Rastrigin d=10, x0=3.3"
    r = run_chain(p.fun, x0, [LR(1e-3)], maxiter=300 if quick else 1000, progress=progress)
    rows.append(Row(panel, "rastrigin", "gradient descent, lr=1e-3", p.f_star, r.result.fun,
                    r.result.nfev, r.seconds, r.curve(p.f_star)))
    mods, gs = gaussian_homotopy(sigma=1.0, n=128 if quick else 256, decay=0.5, stage=10, seed=0)
    r = run_chain(p.fun, x0, mods, maxiter=100 if quick else 150, sampler=gs, progress=progress)
    rows.append(Row(panel, "rastrigin", "Gaussian homotopy (mean, Sobol)", p.f_star, r.result.fun,
                    r.result.nfev, r.seconds, r.curve(p.f_star)))

    # 2. LSGD against GD on the noisy ill-conditioned quadratic.
    N, lr, noise, steps, last = 100, 0.1, 0.1, (600 if quick else 2000), 200
    panel = f"noisy quadratic N={N}, lr={lr}, noise={noise}"
    chains: tuple[tuple[str, list[Module]], ...] = (
        ("gradient descent", [LR(lr)]),
        ("LSGD, sigma=10", [LaplacianSmoothing(sigma=10.0), LR(lr)]),
    )
    for name, chain in chains:
        r = run_chain(noisy_quadratic(N, noise, seed=0), np.zeros(N), chain, maxiter=steps, progress=progress)
        f_avg = float(np.mean(r.result.history["f"][-last:]))
        rows.append(Row(panel, "noisy quadratic", name, 0.0, f_avg, r.result.nfev, r.seconds,
                        r.curve(0.0), note=f"mean f of last {last} steps"))

    # 3. Gradient sampling with the min-norm hull on MAXQUAD.
    p = _problems.get("maxquad")
    panel = "MAXQUAD d=10"
    r = run_chain(p.fun, p.x0(), [LR(1e-3)], maxiter=300 if quick else 1000, progress=progress)
    rows.append(Row(panel, "maxquad", "subgradient descent, lr=1e-3", p.f_star, r.result.fun,
                    r.result.nfev, r.seconds, r.curve(p.f_star)))
    mods, gs = gradient_sampling_hull(10, seed=0, **HULL_DEFAULTS)
    r = run_chain(p.fun, p.x0(), mods, maxiter=HULL_DEFAULTS["maxiter"], sampler=gs,
                  sigma_min=HULL_DEFAULTS["sigma_min"], progress=progress)
    rows.append(Row(panel, "maxquad", "gradient sampling (min-norm-hull)", p.f_star, r.result.fun,
                    r.result.nfev, r.seconds, r.curve(p.f_star)))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a fixed-width text table."""
    head = ("problem", "method", "f*", "f reached", "evaluations", "time [s]")
    body = [(r.problem, r.method, f"{r.f_star:.10g}", f"{r.f_reached:.10g}" + ("*" if r.note else ""),
             f"{r.evaluations}", f"{r.seconds:.2f}") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(b, widths)))
            for b in body]
    notes = sorted({r.note for r in rows if r.note})
    out += [f"* {n}" for n in notes]
    return "\n".join(out)


def plot_panels(rows: Sequence[Row], path: str) -> None:
    """Write the convergence plot: one panel per experiment, ``f - f*`` (log) vs evaluations.

    Uses matplotlib's Agg backend (no display needed).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the plot needs matplotlib: pip install matplotlib (or use --no-plot)") from None
    panels: dict[str, list[Row]] = {}
    for r in rows:
        panels.setdefault(r.panel, []).append(r)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.0), squeeze=False)
    for ax, (title, group) in zip(axes[0], panels.items()):
        finals = [float(r.curve[0][-1]) for r in group]
        if max(finals) > 20 * min(finals):  # runs of very different lengths: log evaluations
            ax.set_xscale("log")
        for r in group:
            ev, gap = r.curve
            # f - f* can be exactly 0 (or a rounding-level negative) at the optimum.
            ax.plot(ev, np.maximum(gap, 1e-16), label=r.method)
        ax.set_yscale("log")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("f - f*")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def json_safe(v: Any) -> Any:
    """``v`` with arrays as lists and non-finite floats as ``None`` (valid JSON)."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_safe(v.tolist())
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v
