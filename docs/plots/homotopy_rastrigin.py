"""Gaussian homotopy on Rastrigin (d = 10, from 3.3): f against oracle evaluations.

Gradient descent stops in the nearest local minimum; GradientSampling with the mean aggregate
descends the Gaussian smoothing of f, and decays sigma each time its termination criterion
fires, following the global minimum down to sigma -> 0.
"""

import matplotlib.pyplot as plt
import numpy as np

import numsmooth as ns

problem = ns.problems.get("rastrigin")  # jitted oracle fun(x, g_out) -> f
d, steps = 10, 400
x0 = np.full(d, 3.3)


def run(*modules):
    opt = ns.Optimizer(x0, *modules)
    evals, values = [], []
    for _ in range(steps):
        values.append(opt.step(problem.fun))
        evals.append(opt.num_evaluations)
    return np.array(evals), np.array(values)


e_gd, f_gd = run(ns.LR(0.002))
gs = ns.GradientSampling([ns.LR(0.05)], sigma=1.0, n=32, seed=0,
                         termination=ns.TerminateAfterNSteps(40), decay=0.5)
e_gs, f_gs = run(gs)
# the same run's sigma schedule (a fresh, identically seeded stepper)
gs2 = ns.GradientSampling([ns.LR(0.05)], sigma=1.0, n=32, seed=0,
                          termination=ns.TerminateAfterNSteps(40), decay=0.5)
opt = ns.Optimizer(x0, gs2)
sig = []
for _ in range(steps):
    opt.step(problem.fun)
    sig.append(gs2.sigma)

fig, (ax, ax_s) = plt.subplots(2, 1, figsize=(6.4, 4.8), sharex=True, height_ratios=(3, 1.2))
ax.semilogy(e_gd, np.maximum(f_gd, 1e-16), label="gradient descent, LR(0.002)")
ax.semilogy(e_gs, np.maximum(f_gs, 1e-16),
            label="GradientSampling(n=32, TerminateAfterNSteps(40), decay=0.5)")
ax.set_ylabel("$f(x)$ (Rastrigin, d = 10)")
ax.set_xscale("log")
ax.legend(fontsize=8)
ax_s.semilogy(e_gs, sig, color="tab:orange")
ax_s.set_ylabel(r"$\sigma$")
ax_s.set_xlabel("oracle evaluations")
fig.tight_layout()
