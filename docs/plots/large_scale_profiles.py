"""Dolan-Moré performance profiles of the large-scale runs (docs/user_guide/large_scale.rst).

The rows are those of the ``numsmooth bench --json`` runs quoted on that page at d = 10^3, 10^4
and 10^5 (kept in ``data/``: problem, method, f, evaluations), judged again here against
today's optimal values (:meth:`numsmooth.problems.Problem.optimal_value`; chained Mifflin 2's
at 10^4 and 10^5 was computed after the runs) with bench's rule, ``f - f* <= 1e-6 (1 + |f*|)``.
"""

import json
import os

import matplotlib.pyplot as plt
import numpy as np

from numsmooth import bench, problems

# run by Sphinx's plot directive there is no __file__, and the working directory is this folder
HERE = os.path.dirname(os.path.abspath(globals().get("__file__", os.path.join(os.getcwd(), "x.py"))))
DIMS = (1000, 10_000, 100_000)

fig, axes = plt.subplots(1, len(DIMS), figsize=(10.5, 3.2), sharey=True)
for ax, d in zip(axes, DIMS):
    with open(os.path.join(HERE, "data", f"hmm2004_d{d}.json"), encoding="utf-8") as f:
        rows = json.load(f)["rows"]
    for r in rows:
        r["solved"] = bench.solved(r["f"], problems.get(r["problem"]).optimal_value(d))
    methods, R = bench.performance_profile(rows)
    finite = R[np.isfinite(R)]
    tau_max = max(2.0, float(finite.max()) * 2.0) if finite.size else 2.0
    for j, m in enumerate(methods):
        taus = np.sort(R[:, j][np.isfinite(R[:, j])])
        ax.step(np.r_[1.0, taus, tau_max], np.r_[0.0, np.arange(1, taus.size + 1), taus.size] / R.shape[0],
                where="post", label=f"{m} ({taus.size}/{R.shape[0]})")
    ax.set_xscale("log", base=2)
    ax.set_xlim(1.0, tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"d = {d:,} ({R.shape[0]} problems)")
    ax.set_xlabel("evaluations / fewest of any method")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
axes[0].set_ylabel("fraction solved within the ratio")
fig.tight_layout()
