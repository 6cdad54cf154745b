"""The ask/tell example driven by a PyTorch model (runs where torch imports: CI's torch venv)."""

import importlib.util
import pathlib

import numpy as np

import numsmooth as ns

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "torch_ask_tell.py"


def _load():
    spec = importlib.util.spec_from_file_location("torch_ask_tell", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_decreases_the_loss():
    first, last = _load().main(steps=25)
    assert last < 0.7 * first


def test_torch_ask_tell_equals_step_with_the_same_oracle():
    ex = _load()
    model, X, y = ex.make_problem(seed=1)
    params = [p.detach().numpy().copy() for p in model.parameters()]
    layout = [p.shape for p in params]

    def oracle(ps):
        row = np.concatenate([p.ravel() for p in ps])
        F, G = ex.evaluate_rows(model, X, y, row[None, :], layout)
        return float(F[0]), [g.reshape(s) for g, s in zip(np.split(G[0], np.cumsum([int(np.prod(s)) for s in layout])[:-1]), layout)]

    def chain():
        return [ns.GradientSampling([ns.Momentum(0.5), ns.LR(0.05)], sigma=1e-2, n=6, seed=3), ns.Backtracking()]

    ref = ns.Optimizer(params, *chain())
    for _ in range(5):
        ref.step(oracle)
    opt = ns.Optimizer(params, *chain())
    for _ in range(5):
        done = False
        while not done:
            rows = opt.ask()
            done = opt.tell(*ex.evaluate_rows(model, X, y, rows, layout))
    assert opt.x.tobytes() == ref.x.tobytes()
