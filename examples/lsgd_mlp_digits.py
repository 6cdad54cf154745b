"""Minibatch LS-SGD against SGD on a small MLP: scikit-learn's digits (no download).

A 64-64-10 MLP (ReLU, softmax cross-entropy, weights stored ``(out, in)``) is trained with
minibatch SGD (``ns.LR``) and with LS-SGD (``ns.LaplacianSmoothing(sigma, axis=1), ns.LR``:
each weight smoothed along its input index, one line per output unit). Over several seeds it
prints, for SGD and for LS-SGD at a few sigma:

- the largest stable step: the largest learning rate of a grid whose run ends with a finite
  training loss below 1 (the starting loss is ln 10 = 2.3; a diverged network with dead units
  sits at 2.3);
- the minibatch-noise reduction: E||S(g_B) - S(g)||^2 / E||g_B - g||^2 over minibatches B at
  the starting point (g the full-batch gradient, S the smoothing), next to the white-noise
  formula (1 + 2 sigma) / (1 + 4 sigma)^(3/2);
- the test accuracy after training at a common learning rate, mean +- std over seeds.

Run ``python examples/lsgd_mlp_digits.py`` (about a minute) or with ``--quick`` (seconds, for CI).
Needs scikit-learn: ``pip install numsmooth[examples]``.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import numsmooth as ns

SIGMAS = (0.5, 1.0, 3.0)
LR_GRID = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0)
HIDDEN, BATCH = 64, 32
STABLE_LOSS = 1.0


def load(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(seed).permutation(len(y))
    n_train = 1200
    tr, te = order[:n_train], order[n_train:]
    return X[tr], y[tr], X[te], y[te]


def init_params(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1000 + seed)
    return [rng.standard_normal((HIDDEN, 64)) * math.sqrt(2 / 64), np.zeros(HIDDEN),
            rng.standard_normal((10, HIDDEN)) * math.sqrt(1 / HIDDEN), np.zeros(10)]


def loss_and_grad(p: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    W1, b1, W2, b2 = p
    h = X @ W1.T + b1
    a = np.maximum(h, 0.0)
    z = a @ W2.T + b2
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.mean(np.log(s[np.arange(n), y] + 1e-300)))
    dz = s
    dz[np.arange(n), y] -= 1.0
    dz /= n
    da = dz @ W2
    da[h <= 0] = 0.0
    return loss, [da.T @ X, da.sum(axis=0), dz.T @ a, dz.sum(axis=0)]


def accuracy(p: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    W1, b1, W2, b2 = p
    return float(np.mean((np.maximum(X @ W1.T + b1, 0) @ W2.T + b2).argmax(axis=1) == y))


def chain(sigma: float | None, lr: float) -> list[ns.Module]:
    if sigma is None:
        return [ns.LR(lr)]
    return [ns.LaplacianSmoothing(sigma, axis=1), ns.LR(lr)]


def train(seed: int, sigma: float | None, lr: float, epochs: int,
          data: tuple[np.ndarray, ...]) -> tuple[list[np.ndarray], float, list[float]]:
    """Minibatch training; returns the parameters, the final training loss and the per-epoch
    training losses."""
    Xtr, ytr = data[0], data[1]
    opt = ns.Optimizer(init_params(seed), *chain(sigma, lr), on_refused="ignore")
    rng = np.random.default_rng(seed)
    batch: list[np.ndarray] = []
    fun = lambda p: loss_and_grad(p, Xtr[batch[0]], ytr[batch[0]])  # noqa: E731
    curve = []
    for _ in range(epochs):
        order = rng.permutation(len(ytr))
        for k in range(0, len(ytr) - BATCH + 1, BATCH):
            batch[:] = [order[k:k + BATCH]]
            opt.step(fun)
        params = opt.params
        curve.append(loss_and_grad(params, Xtr, ytr)[0])
        if opt.num_refused or not math.isfinite(curve[-1]):
            return params, math.inf, curve
    return opt.params, curve[-1], curve


def largest_stable_lr(seed: int, sigma: float | None, epochs: int, data: tuple[np.ndarray, ...]) -> float:
    best = 0.0
    for lr in LR_GRID:
        _, final, _ = train(seed, sigma, lr, epochs, data)
        if math.isfinite(final) and final < STABLE_LOSS:
            best = lr
    return best


def noise_reduction(seed: int, sigma: float, data: tuple[np.ndarray, ...], batches: int) -> float:
    Xtr, ytr = data[0], data[1]
    p = init_params(seed)
    _, g = loss_and_grad(p, Xtr, ytr)
    rng = np.random.default_rng(seed)
    raw = smooth = 0.0
    for _ in range(batches):
        b = rng.choice(len(ytr), BATCH, replace=False)
        _, gb = loss_and_grad(p, Xtr[b], ytr[b])
        for i in (0, 2):  # the weights: smoothed along their input axis
            d = gb[i] - g[i]
            raw += float(np.sum(d * d))
            sd = ns.laplacian_smooth(d, sigma, axis=1)
            smooth += float(np.sum(sd * sd))
    return smooth / raw


def white_noise(sigma: float) -> float:
    return (1 + 2 * sigma) / (1 + 4 * sigma) ** 1.5


def main(argv: list[str] | None = None) -> dict[str, dict[str, list[float]]]:
    ap = argparse.ArgumentParser(description="Minibatch LS-SGD against SGD on digits")
    ap.add_argument("--quick", action="store_true", help="2 seeds, short runs (seconds)")
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args(argv)
    seeds = range(args.seeds if args.seeds is not None else (2 if args.quick else 5))
    stab_epochs, acc_epochs, batches = (1, 3, 20) if args.quick else (3, 30, 200)
    acc_lr = 0.5
    methods: list[float | None] = [None, *SIGMAS]
    res: dict[str, dict[str, list[float]]] = {}
    for sigma in methods:
        name = "SGD" if sigma is None else f"LS-SGD sigma={sigma:g}"
        r: dict[str, list[float]] = {"lr": [], "noise": [], "acc": []}
        for seed in seeds:
            data = load(seed)
            r["lr"].append(largest_stable_lr(seed, sigma, stab_epochs, data))
            r["noise"].append(1.0 if sigma is None else noise_reduction(seed, sigma, data, batches))
            params, _, _ = train(seed, sigma, acc_lr, acc_epochs, data)
            r["acc"].append(accuracy(params, data[2], data[3]))
        res[name] = r
    print(f"digits, MLP 64-64-10, minibatch {BATCH}, {len(seeds)} seeds; test accuracy after "
          f"{acc_epochs} epochs at lr = {acc_lr}")
    print(f"{'method':16}  {'largest stable lr':>17}  {'noise ratio':>11}  {'white-noise formula':>19}  "
          f"{'test accuracy':>13}")
    for sigma, (name, r) in zip(methods, res.items()):
        lrs = sorted(r["lr"])
        lr_text = f"{lrs[len(lrs) // 2]:g} ({lrs[0]:g}-{lrs[-1]:g})"
        formula = "1" if sigma is None else f"{white_noise(sigma):.3f}"
        print(f"{name:16}  {lr_text:>17}  {np.mean(r['noise']):11.3f}  {formula:>19}  "
              f"{100 * np.mean(r['acc']):6.2f} +- {100 * np.std(r['acc']):4.2f}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
