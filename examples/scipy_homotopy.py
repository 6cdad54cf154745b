"""Gaussian-homotopy continuation with scipy.optimize and ns.smoothed.

Rastrigin in d = 20 from x0 = (3.3, ..., 3.3): plain L-BFGS-B stops in the nearest local
minimum (f ~ 179). Minimizing the Gaussian smoothing f_s(x) = E f(x + s Z) for a decreasing
sequence of s, each stage warm-started at the previous stage's solution, follows the global
minimum: at large s the smoothed Rastrigin is a convex bowl, and as s shrinks it turns back into
Rastrigin with the iterate already in the right basin.

``ns.smoothed`` keeps its perturbations fixed between calls (common random numbers), so each
stage is an ordinary deterministic function with an exact gradient: L-BFGS-B's line search works
on it. Scrambled Sobol points (``distribution="sobol"``) keep the sampling error of the 256-point
estimate small.

Run: python examples/scipy_homotopy.py
"""

import numpy as np
import scipy.optimize as so

import numsmooth as ns

problem = ns.problems.get("rastrigin")  # jitted oracle fun(x, g_out) -> f, optimum 0 at 0
d = 20
x0 = np.full(d, 3.3)

plain = so.minimize(problem, x0, jac=True, method="L-BFGS-B")
print(f"plain L-BFGS-B:   f = {plain.fun:.6g} after {plain.nit} iterations (a local minimum)")

obj = ns.smoothed(problem.fun, sigma=2.0, n=256, distribution="sobol", include_x0=False, seed=0)
x, sigma, nfev = x0.copy(), 2.0, 0
while sigma > 1e-3:
    obj.sigma = sigma        # the smoothing scale of this stage
    obj.redraw()             # fresh perturbations for the stage (optional)
    res = so.minimize(obj, x, jac=True, method="L-BFGS-B")
    x, nfev = res.x, nfev + res.nfev
    f_true = problem(x)[0]
    # the closed form of the Gaussian-smoothed Rastrigin, to compare with the sampled one
    print(f"sigma = {sigma:9.6f}: smoothed f = {res.fun:12.6g} (closed form "
          f"{problem.smoothed_value(x, sigma):12.6g}), f(x) = {f_true:.3e}")
    sigma *= 0.5

print(f"homotopy:         f = {problem(x)[0]:.3e} at max|x_i| = {np.abs(x).max():.1e} "
      f"({nfev} calls of the smoothed objective, {obj.num_evaluations} oracle evaluations)")
assert problem(x)[0] < 1e-6
