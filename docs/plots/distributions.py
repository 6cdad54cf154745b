"""Error of the sampled smoothed gradient of Rastrigin against its closed form, by distribution.

The closed form of the Gaussian smoothing of Rastrigin gives the exact grad f_sigma(x); the mean
of n sampled gradients estimates it. Antithetic pairs, orthogonal directions and scrambled Sobol
points change the error of the plain Gaussian estimate (antithetic pairs double the weight of
the even part of the gradient, which dominates here).
"""

import matplotlib.pyplot as plt
import numpy as np

import numsmooth as ns

problem = ns.problems.get("rastrigin")
d, sigma = 16, 0.3
x = np.random.default_rng(1).uniform(-2, 2, d)
exact = problem.smoothed_grad(x, sigma)
ns_ = [4, 8, 16]  # "orthogonal" needs n <= d
configs = {
    "gaussian": dict(distribution="gaussian"),
    "gaussian, antithetic": dict(distribution="gaussian", antithetic=True),
    "orthogonal": dict(distribution="orthogonal"),
    "sobol": dict(distribution="sobol"),
}
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for label, kw in configs.items():
    err = []
    for n in ns_:
        e = [np.linalg.norm(ns.smoothed(problem.fun, sigma, n, include_x0=False, seed=s, **kw)(x)[1] - exact)
             for s in range(40)]
        err.append(np.sqrt(np.mean(np.square(e))))
    ax.loglog(ns_, err, "o-", label=label)
ax.set_xticks(ns_, [str(n) for n in ns_])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel("$n$ (points per evaluation)")
ax.set_ylabel(r"RMS $\|\hat g - \nabla f_\sigma(x)\|$")
ax.set_title(rf"Rastrigin, d = {d}, $\sigma$ = {sigma}: 40 seeds per point")
ax.legend(fontsize=8)
fig.tight_layout()
