"""Variance of Laplacian-smoothed white noise per coordinate: Monte-Carlo against the formula.

For g with i.i.d. unit-variance coordinates, y = (I - sigma L)^{-1} g has per-coordinate variance
(1/N) sum_k 1/lambda_k^2, which tends to (1 + 2 sigma) / (1 + 4 sigma)^{3/2} as N grows.
"""

import matplotlib.pyplot as plt
import numpy as np

import numsmooth as ns

N, M = 256, 400  # vector length, Monte-Carlo samples
sigmas = np.logspace(-2, 2, 13)
rng = np.random.default_rng(0)
g = rng.standard_normal((M, N))
mc = np.array([np.mean(ns.laplacian_smooth(g, s) ** 2) for s in sigmas])  # E y_i^2 (mean zero)
s_fine = np.logspace(-2, 2, 200)
formula = (1 + 2 * s_fine) / (1 + 4 * s_fine) ** 1.5
k = np.arange(N)
exact = [np.mean(1 / (1 + s * 4 * np.sin(np.pi * k / N) ** 2) ** 2) for s in s_fine]

fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.loglog(s_fine, formula, label=r"$(1+2\sigma)/(1+4\sigma)^{3/2}$ ($N\to\infty$)")
ax.loglog(s_fine, exact, "--", label=r"$\frac{1}{N}\sum_k \lambda_k^{-2}$ ($N = 256$)")
ax.loglog(sigmas, mc, "o", ms=5, label=f"Monte Carlo ({M} white-noise vectors)")
ax.set_xlabel(r"$\sigma$")
ax.set_ylabel("variance per coordinate")
ax.set_title("Laplacian smoothing of white noise")
ax.legend()
fig.tight_layout()
