"""Minibatch LS-SGD on digits (examples/lsgd_mlp_digits.py): noise reduction and training loss.

Left: the measured reduction of minibatch-gradient noise by Laplacian smoothing along the input
index of each weight, against the white-noise formula. Right: training loss per epoch of SGD and
LS-SGD (sigma = 1) at a moderate and at a large step.
"""

import importlib.util
import os

import matplotlib.pyplot as plt
import numpy as np

# the plot directive may run this file without __file__ and from docs/plots or the repository
_start = os.path.dirname(os.path.abspath(globals().get("__file__", os.path.join(os.getcwd(), "x.py"))))
_example = next(os.path.join(d, "examples", "lsgd_mlp_digits.py")
                for d in (_start, os.path.dirname(_start), os.path.dirname(os.path.dirname(_start)))
                if os.path.exists(os.path.join(d, "examples", "lsgd_mlp_digits.py")))
_spec = importlib.util.spec_from_file_location("lsgd_mlp_digits", _example)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

data = ex.load(0)
sigmas = np.logspace(-1, 1, 7)
measured = [ex.noise_reduction(0, s, data, batches=40) for s in sigmas]
s_fine = np.logspace(-1, 1, 100)

fig, (a, b) = plt.subplots(1, 2, figsize=(9.6, 3.6))
a.loglog(s_fine, ex.white_noise(s_fine), label="white-noise formula")
a.loglog(sigmas, measured, "o", label="minibatch noise, digits MLP")
a.set_xlabel(r"$\sigma$")
a.set_ylabel("noise variance ratio")
a.set_title("Noise reduction")
a.legend()
for lr, style in ((0.5, "-"), (2.0, "--")):
    for sigma, color in ((None, "C0"), (1.0, "C1")):
        _, _, curve = ex.train(0, sigma, lr, 8, data)
        label = ("SGD" if sigma is None else r"LS-SGD $\sigma=1$") + f", lr={lr:g}"
        b.semilogy(np.arange(1, len(curve) + 1), curve, style, color=color, label=label)
b.set_xlabel("epoch")
b.set_ylabel("training loss")
b.set_title("Training")
b.legend(fontsize=8)
fig.tight_layout()
