"""``numsmooth demo``: the experiments, their table and plot.

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

The gradient-sampling rows are the documented recipes, so each is reproducible in two lines::

    maxquad = ns.problems.get("maxquad")
    ns.minimize(maxquad.fun, maxquad.x0(), *ns.recipes.gradient_sampling(10, seed=0),
                maxiter=1000)

(status 4: the radius fell below ``sigma_min``), and
``ns.minimize(rastrigin.fun, np.full(10, 3.3), *ns.recipes.gaussian_homotopy(seed=0), maxiter=150)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import problems as _problems
from .. import recipes
from .._progress import CompileNotice
from .._warmup import warmup
from ..laplacian import LaplacianSmoothing
from ..minimize import OptimizeResult, minimize
from ..modules import LR, Module
from ._common import check_output, require_matplotlib
from .plots import Curve, convergence_curve, plot_panels

__all__ = ["Row", "noisy_quadratic", "warm_up", "run_demo", "format_table", "add_parser", "command"]

#: Where the plot goes unless ``--plot`` says otherwise.
DEFAULT_PLOT = "numsmooth-demo.png"


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

    def as_curve(self) -> Curve:
        """The row's line of the plot."""
        return Curve(self.panel, self.method, self.curve)


def warm_up() -> float:
    """Compile the kernels the demo uses: :func:`numsmooth.warmup`'s (float64) and those
    specialised to the demo's jitted problems (a few steps of each of their chains); return the
    seconds taken."""
    t0 = time.perf_counter()
    warmup(what=("sgd", "lsgd", "sampling"))
    x = np.full(10, 3.3)
    minimize(_problems.get("rastrigin").fun, x, LR(1e-3), maxiter=2)
    minimize(_problems.get("rastrigin").fun, x, *recipes.gaussian_homotopy(n=16, seed=0), maxiter=2)
    minimize(_problems.get("maxquad").fun, x, *recipes.gradient_sampling(10, seed=0), maxiter=2)
    return time.perf_counter() - t0


def _run(fun: Any, x0: np.ndarray, modules: Sequence[Module], maxiter: int,
         progress: str | bool) -> tuple[OptimizeResult, float]:
    t0 = time.perf_counter()
    res = minimize(fun, x0, *modules, maxiter=maxiter, progress=progress)
    return res, time.perf_counter() - t0


def run_demo(quick: bool = False, progress: bool = False) -> list[Row]:
    """Run the three experiments of ``numsmooth demo`` and return the table's rows.

    Parameters
    ----------
    quick : bool
        Smaller runs (for tests): fewer steps, same story.
    progress : bool
        Report progress (labelled bars in a terminal, log lines elsewhere).
    """
    rows: list[Row] = []

    def label(text: str) -> str | bool:
        return text if progress else False

    # 1. Gaussian homotopy on Rastrigin, d = 10, from 3.3.
    p = _problems.get("rastrigin")
    x0 = np.full(10, 3.3)
    panel = "Rastrigin d=10, x0=3.3"
    res, sec = _run(p.fun, x0, [LR(1e-3)], 300 if quick else 1000, label("rastrigin: gradient descent"))
    rows.append(Row(panel, "rastrigin", "gradient descent, lr=1e-3", p.f_star, res.fun, res.nfev, sec,
                    convergence_curve(res, p.f_star)))
    mods = recipes.gaussian_homotopy(sigma=1.0, n=128 if quick else 256, decay=0.5, stage=10, seed=0)
    res, sec = _run(p.fun, x0, mods, 100 if quick else 150, label("rastrigin: Gaussian homotopy"))
    rows.append(Row(panel, "rastrigin", "Gaussian homotopy (mean, Sobol)", p.f_star, res.fun, res.nfev, sec,
                    convergence_curve(res, p.f_star)))

    # 2. LSGD against GD on the noisy ill-conditioned quadratic.
    N, lr, noise, steps, last = 100, 0.1, 0.1, (600 if quick else 2000), 200
    panel = f"noisy quadratic N={N}, lr={lr}, noise={noise}"
    chains: tuple[tuple[str, list[Module]], ...] = (
        ("gradient descent", [LR(lr)]),
        ("LSGD, sigma=10", [LaplacianSmoothing(sigma=10.0), LR(lr)]),
    )
    for name, chain in chains:
        res, sec = _run(noisy_quadratic(N, noise, seed=0), np.zeros(N), chain, steps,
                        label(f"noisy quadratic: {name}"))
        f_avg = float(np.mean(res.history["f"][-last:]))
        rows.append(Row(panel, "noisy quadratic", name, 0.0, f_avg, res.nfev, sec,
                        convergence_curve(res, 0.0), note=f"mean f of last {last} steps"))

    # 3. Gradient sampling (the Burke-Lewis-Overton recipe) on MAXQUAD; it ends when its
    #    radius falls below sigma_min (status 4).
    p = _problems.get("maxquad")
    panel = "MAXQUAD d=10"
    res, sec = _run(p.fun, p.x0(), [LR(1e-3)], 300 if quick else 1000, label("maxquad: subgradient descent"))
    rows.append(Row(panel, "maxquad", "subgradient descent, lr=1e-3", p.f_star, res.fun, res.nfev, sec,
                    convergence_curve(res, p.f_star)))
    res, sec = _run(p.fun, p.x0(), recipes.gradient_sampling(10, seed=0), 1000, label("maxquad: gradient sampling"))
    rows.append(Row(panel, "maxquad", "gradient sampling (min-norm-hull)", p.f_star, res.fun, res.nfev, sec,
                    convergence_curve(res, p.f_star)))
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


def add_parser(sub: Any) -> None:
    """Add ``demo`` to the sub-parsers ``sub``."""
    demo = sub.add_parser(
        "demo", help="run the three showcase experiments, print a table and write a plot",
        description="Gaussian homotopy escaping Rastrigin's local minima, LSGD against GD on a "
        "noisy ill-conditioned quadratic, and gradient sampling reaching MAXQUAD's optimum. "
        "Prints a table and writes a convergence plot.")
    demo.add_argument("--plot", metavar="FILE", default=DEFAULT_PLOT,
                      help=f"where to write the convergence plot (PNG; default: {DEFAULT_PLOT})")
    demo.add_argument("--no-plot", action="store_true", help="do not write the plot")
    demo.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")


def command(args: Any) -> int:
    """Run ``numsmooth demo``."""
    if not args.no_plot:
        require_matplotlib()
        check_output("--plot", args.plot)
    with CompileNotice(enabled=not args.quiet):
        compile_seconds = warm_up()
    rows = run_demo(quick=args.quick, progress=not args.quiet)
    print(format_table(rows))
    print(f"(times exclude Numba compilation and warm-up: {compile_seconds:.1f} s)")
    if not args.no_plot:
        plot_panels([r.as_curve() for r in rows], args.plot)
        print(f"convergence plot written to {args.plot}")
    return 0
