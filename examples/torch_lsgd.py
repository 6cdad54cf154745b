"""LS-SGD on a small torch model: numsmooth.torch.Optimizer against torch.optim.SGD.

A 64-128-10 MLP (float32) classifies scikit-learn's bundled 8x8 digits (no download). Both
optimizers get the same model, the same minibatches and the same schedule
(``torch.optim.lr_scheduler.StepLR``); the only difference is Laplacian smoothing of each
parameter's gradient before the step (Osher et al. 2022). Each run starts from the same
weights; the table shows the training loss and the test accuracy after each epoch.

The swap is four lines::

    import numsmooth as ns, numsmooth.torch
    opt = ns.torch.Optimizer(model.parameters(), ns.LaplacianSmoothing(sigma), ns.LR(lr))
    # ... then, unchanged: loss.backward(); opt.step(); scheduler.step()

Run: ``python examples/torch_lsgd.py`` (needs torch and scikit-learn).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import numsmooth as ns
import numsmooth.torch  # noqa: F401  (registers ns.torch)

EPOCHS, BATCH, LR, SIGMA = 12, 32, 0.3, 1.0


def data():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return (torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xte), torch.from_numpy(yte))


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def train(make_optimizer, Xtr, ytr, Xte, yte):
    net = model()
    opt = make_optimizer(net.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    order = torch.Generator().manual_seed(1)  # the same minibatches for every optimizer
    rows = []
    for _ in range(EPOCHS):
        perm = torch.randperm(len(Xtr), generator=order)
        for i in range(0, len(Xtr), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad():
            train_loss = float(torch.nn.functional.cross_entropy(net(Xtr), ytr))
            accuracy = float((net(Xte).argmax(1) == yte).float().mean())
        rows.append((train_loss, accuracy))
    return rows


def main() -> None:
    torch.set_num_threads(1)
    Xtr, ytr, Xte, yte = data()
    sgd = train(lambda p: torch.optim.SGD(p, lr=LR), Xtr, ytr, Xte, yte)
    lsgd = train(lambda p: ns.torch.Optimizer(p, ns.LaplacianSmoothing(SIGMA), ns.LR(LR)), Xtr, ytr, Xte, yte)
    print(f"digits: {len(Xtr)} train / {len(Xte)} test, MLP 64-128-10 float32, batch {BATCH}, "
          f"lr {LR} halved every 4 epochs, sigma {SIGMA}")
    print(f"{'epoch':>5} | {'SGD loss':>9} {'SGD acc':>8} | {'LS-SGD loss':>11} {'LS-SGD acc':>10}")
    for k, ((l1, a1), (l2, a2)) in enumerate(zip(sgd, lsgd), 1):
        print(f"{k:>5} | {l1:>9.4f} {a1:>8.3f} | {l2:>11.4f} {a2:>10.3f}")


if __name__ == "__main__":
    main()
