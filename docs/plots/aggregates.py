"""What each aggregate of ns.smoothed returns, on a 2-D nonsmooth function.

f(x) = max_i(a_i . x) + ||x||^2 / 2 at a point on a kink between two of its linear pieces: the sampled
gradients form two clusters (a_i + x_k), and the aggregates pick or combine them differently.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon
from scipy.spatial import ConvexHull

import numsmooth as ns

A = np.array([[1.0, 1.2], [-1.4, 0.6], [0.3, -1.0]])


def fun(x):
    vals = A @ x
    i = int(np.argmax(vals))
    return float(vals[i] + 0.5 * x @ x), A[i] + x


x = np.array([0.6, -0.19])  # on the kink between pieces 1 and 3, away from the minimizer
sigma, n = 0.3, 24
aggregates = ["mean", "max", "min", "min-norm", "min-value", "min-norm-hull"]
results = {}
for agg in aggregates:
    obj = ns.smoothed(fun, sigma=sigma, n=n, aggregate=agg, seed=3)
    results[agg] = obj(x)[1]
# the sampled points and gradients (the same seed gives the same perturbations for every aggregate)
points = np.vstack([x, x + sigma * obj.perturbations])
G = np.array([fun(p)[1] for p in points])

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9.5, 4.2))
# left: the function and the sampled points
s = np.linspace(-0.4, 1.4, 201)
t = s - 0.9
X, Y = np.meshgrid(s, t)
Z = np.max(A[:, 0, None, None] * X + A[:, 1, None, None] * Y, axis=0) + 0.5 * (X**2 + Y**2)
ax0.contour(X, Y, Z, levels=18, linewidths=0.7, cmap="viridis")
ax0.plot(points[1:, 0], points[1:, 1], "o", ms=4, color="tab:gray", label=r"$x + \sigma u_k$")
ax0.plot(*x, "k*", ms=11, label="$x$")
ax0.set_title(r"$f(x) = \max_i a_i^\top x + \|x\|^2/2$, sample points", fontsize=9)
ax0.set_aspect("equal")
ax0.legend(loc="lower left", fontsize=8)

# right: gradient space
hull = ConvexHull(G)
ax1.add_patch(Polygon(G[hull.vertices], closed=True, alpha=0.15, color="tab:blue", label="convex hull of $G$"))
ax1.plot(G[:, 0], G[:, 1], "o", ms=4, color="tab:gray", label="sampled gradients $G$")
style = {"mean": ("tab:blue", "s"), "max": ("tab:red", "^"), "min": ("tab:orange", "v"),
         "min-norm": ("tab:green", "D"), "min-value": ("tab:purple", "P"), "min-norm-hull": ("black", "*")}
for agg in aggregates:
    c, m = style[agg]
    g = results[agg]
    ax1.annotate("", xy=g, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=c, lw=1.3))
    ax1.plot(*g, m, color=c, ms=9 if m == "*" else 7, label=f"'{agg}'")
ax1.plot(0, 0, "k+", ms=10)
ax1.set_aspect("equal")
ax1.set_title("gradient space: what each aggregate returns", fontsize=9)
ax1.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
fig.tight_layout()
