"""The symbol of Laplacian smoothing: 1 / lambda_k for several sigma, checked on Fourier modes."""

import matplotlib.pyplot as plt
import numpy as np

import numsmooth as ns

N = 64
k = np.arange(N // 2 + 1)
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for sigma in (0.5, 1.0, 3.0, 10.0):
    lam = 1 + sigma * 4 * np.sin(np.pi * k / N) ** 2
    (line,) = ax.plot(k, 1 / lam, label=rf"$\sigma = {sigma:g}$")
    # measured: smooth the pure mode cos(2 pi k j / N) and read its amplitude back
    kk = k[::4]
    j = np.arange(N)
    modes = np.cos(2 * np.pi * np.outer(kk, j) / N)
    gain = np.sum(ns.laplacian_smooth(modes, sigma) * modes, axis=1) / np.sum(modes * modes, axis=1)
    ax.plot(kk, gain, "o", ms=4, color=line.get_color())
ax.set_xlabel("frequency $k$ (N = 64)")
ax.set_ylabel(r"gain $1/\lambda_k$")
ax.set_title(r"$\lambda_k = 1 + \sigma\, 4\sin^2(\pi k/N)$: lines the formula, dots ns.laplacian_smooth")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()
