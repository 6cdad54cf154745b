"""The torchzero migration page covers what a torchzero user writes (docs/torchzero.rst)."""

from pathlib import Path

import numpy as np
import pytest

import numsmooth as ns

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "torchzero.rst").read_text()


@pytest.mark.parametrize("text", [
    "ns.torch.Optimizer(model.parameters()", "model.parameters()", "tz.Optimizer(model.parameters()", "def closure(backward=True):",
    "loss.backward()", "opt.zero_grad()", "float32", "float64", "upcast",
    "parameters_to_vector", "vector_to_parameters",
])
def test_page_mentions(text):
    assert text in PAGE


@pytest.mark.parametrize("module", [
    "GradientSampling", "LaplacianSmoothing", "LR", "Momentum", "Adam", "Backtracking", "BFGS", "LBFGS",
    "WeakWolfe", "TerminateAfterNSteps", "TerminateAfterNEvaluations", "TerminateAfterNSeconds",
    "TerminateByGradientNorm", "TerminateByUpdateNorm", "TerminateOnNoImprovement", "TerminateOnLossReached",
    "TerminateAny", "TerminateAll", "TerminateNever",
])
def test_every_module_has_a_translation(module):
    assert f"ns.{module}(" in PAGE or f"``{module}``" in PAGE


class FakeParam:
    """What the page's oracle touches on a torch parameter, in NumPy (torch is not a test dependency)."""

    def __init__(self, value):
        self.data = np.array(value, dtype=np.float32)
        self.grad = None


def test_list_of_arrays_oracle_as_on_the_page():
    # the page's recipe: float32 parameters, copied in from float64 views, gradients upcast
    params = [FakeParam(np.ones(3)), FakeParam(np.ones((2, 2)))]

    def fun(ws):
        for p, w in zip(params, ws):
            p.data[...] = w  # p.copy_(torch.tensor(w)): cast to the parameter's dtype
        loss = sum(float(np.sum(p.data.astype(np.float64) ** 2)) for p in params)
        for p in params:
            p.grad = 2 * p.data  # float32, as loss.backward() leaves it
        return loss, [p.grad for p in params]

    x0 = [p.data.astype(np.float64) for p in params]
    opt = ns.Optimizer(x0, ns.LaplacianSmoothing(), ns.LR(0.1))
    for _ in range(50):
        opt.step(fun)
    assert [w.shape for w in opt.params] == [(3,), (2, 2)]
    assert all(w.dtype == np.float64 for w in opt.params)
    assert max(float(np.abs(w).max()) for w in opt.params) < 1e-3


def test_page_uses_torchzero_044s_entry_point():
    # torchzero 0.4.4 has tz.Optimizer and no tz.Modular: the page may name it only to say so
    assert "tz.Modular(" not in PAGE
    assert PAGE.count("tz.Optimizer(") >= 10
