"""Gaussian homotopy on Rastrigin (d = 10, from 3.3): f against oracle evaluations.

Gradient descent with an Armijo line search stops in the nearest local minimum.
GradientSampling descends the Gaussian smoothing f_sigma with the same line search (the
perturbations are fixed within a stage, so the smoothed objective is deterministic) and decays
sigma every 20 steps, following the global minimum down as sigma -> 0.
"""

import matplotlib.pyplot as plt
import numpy as np

import numsmooth as ns

problem = ns.problems.get("rastrigin")  # jitted oracle fun(x, g_out) -> f
d, steps = 10, 300
x0 = np.full(d, 3.3)


def run(*modules):
    opt = ns.Optimizer(x0, *modules)
    evals, values, sigmas = [0], [problem(x0)[0]], [modules[0].sigma if hasattr(modules[0], "sigma") else np.nan]
    for _ in range(steps):
        opt.step(problem.fun)
        evals.append(opt.num_evaluations)
        values.append(problem(opt.x)[0])  # the true f (not counted as an evaluation)
        sigmas.append(getattr(modules[0], "sigma", np.nan))
    return np.array(evals), np.array(values), np.array(sigmas)


e_gd, f_gd, _ = run(ns.Backtracking())
gs = ns.GradientSampling([ns.Backtracking()], sigma=2.0, n=64, distribution="sobol", include_x0=False,
                         termination=ns.TerminateAfterNSteps(20), decay=0.7, seed=0)
e_gs, f_gs, s_gs = run(gs)

fig, (ax, ax_s) = plt.subplots(2, 1, figsize=(6.4, 4.8), sharex=True, height_ratios=(3, 1.2))
ax.loglog(np.maximum(e_gd, 1), np.maximum(f_gd, 1e-12), label="gradient descent + Backtracking")
ax.loglog(np.maximum(e_gs, 1), np.maximum(f_gs, 1e-12),
          label="GradientSampling([Backtracking()], n=64, 'sobol'),\nTerminateAfterNSteps(20), decay=0.7")
ax.set_ylabel("$f(x)$ (Rastrigin, d = 10)")
ax.legend(fontsize=8)
ax_s.loglog(np.maximum(e_gs, 1), s_gs, color="tab:orange")
ax_s.set_ylabel(r"$\sigma$")
ax_s.set_xlabel("oracle evaluations")
fig.tight_layout()
