"""Drive numsmooth from a PyTorch model with ask/tell: PyTorch computes, numsmooth decides.

The model's parameters are numsmooth's parameters (a list of float64 arrays in the model's
shapes). Each ``opt.ask()`` returns the points the current step needs (here gradient sampling
around the parameters, then Armijo trial points); the loop loads each point into the model,
runs forward and backward, and hands the losses and gradients back with ``opt.tell(F, G)``.
numsmooth never imports torch, and torch never sees numsmooth's state.

Run: ``python examples/torch_ask_tell.py`` (needs ``torch``; CPU is fine). ``--steps`` sets the
number of steps.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import numsmooth as ns


def make_problem(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP regressing a rugged 1-D target (a ReLU network: nonsmooth in its weights)."""
    torch.manual_seed(seed)
    X = torch.linspace(-3, 3, 128, dtype=torch.float64).unsqueeze(1)
    y = torch.sin(2 * X) + 0.3 * torch.sign(X)
    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    return model, X, y


def evaluate_rows(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, rows: np.ndarray,
                  layout: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Loss and flat gradient at every row of ``rows`` (each row: the parameters, flattened)."""
    F = np.empty(rows.shape[0])
    G = np.empty_like(rows)
    params = list(model.parameters())
    for i, row in enumerate(rows):
        offset = 0
        with torch.no_grad():
            for p, shape in zip(params, layout):
                size = int(np.prod(shape))
                p.copy_(torch.from_numpy(row[offset:offset + size].reshape(shape)))
                offset += size
        model.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        F[i] = loss.item()
        G[i] = np.concatenate([p.grad.detach().numpy().ravel() for p in params])
    return F, G


def main(steps: int = 60) -> tuple[float, float]:
    """Run the loop; return the first and the last loss."""
    model, X, y = make_problem()
    params = [p.detach().numpy().copy() for p in model.parameters()]
    layout = [p.shape for p in params]
    d = sum(p.size for p in params)
    opt = ns.Optimizer(params, ns.GradientSampling([ns.LR(1.0)], sigma=1e-3, n=2 * d // 8, seed=0,
                                                   aggregate="min-norm-hull", distribution="ball",
                                                   fixed=False), ns.Backtracking())
    first = None
    for step in range(steps):
        done = False
        while not done:
            rows = opt.ask()  # (m, d): the points this step needs next
            F, G = evaluate_rows(model, X, y, rows, layout)
            done = opt.tell(F, G)
        first = opt.last_loss if first is None else first
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {opt.last_loss:.6f}  evaluations {opt.num_evaluations}")
    return float(first), float(opt.last_loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    main(parser.parse_args().steps)
