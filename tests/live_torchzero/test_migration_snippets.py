"""Every torchzero snippet of docs/torchzero.rst runs with the real torchzero 0.4.4.

The page's torchzero code blocks (the ``# torchzero`` side by side, the torch-model table's
left column) run as written on a small model; every ``tz.Optimizer(params, ...)`` of the
module table is built on that model's parameters and stepped once with the page's closure.
Fragments with ``...`` are not code and are skipped (and counted, so none is missed silently).
"""

import re
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
tz = pytest.importorskip("torchzero")

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "torchzero.rst").read_text()


def namespace():
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 2)

        def forward(self, X):
            return self.lin(X)

    model = Net()
    X, y = torch.randn(16, 6), torch.randn(16, 2)
    return {"torch": torch, "tz": tz, "Net": Net, "model": model, "X": X, "y": y,
            "loss_fn": torch.nn.functional.mse_loss, "params": list(model.parameters())}


def code_blocks():
    """The torchzero part of the ``.. code-block:: python`` bodies that start with
    ``# torchzero`` (up to a ``# numsmooth`` line, where a block shows both)."""
    blocks = [textwrap.dedent(b) for b in re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", PAGE)]
    return [b.split("# numsmooth")[0] for b in blocks if b.lstrip().startswith("# torchzero")]


def table_left_column():
    """The literal blocks (``* - ::``) of the torch-model table's torchzero column, in order."""
    section = PAGE[PAGE.index("From a torch model"):PAGE.index("``closure(backward=False)``")]
    cells = re.findall(r"   \* - ::\n\n((?:         .*\n|\n)+)", section)
    return [textwrap.dedent(c) for c in cells]


def optimizer_expressions():
    exprs = re.findall(r"``(tz\.Optimizer\(params, .*?)``", PAGE)
    return [e for e in exprs if "..." not in e]


def test_the_snippets_are_found():
    assert len(code_blocks()) >= 2
    assert len(table_left_column()) == 3
    assert len(optimizer_expressions()) >= 9


@pytest.mark.parametrize("k", range(2))
def test_code_block_runs(k):
    block = code_blocks()[k]
    ns_ = namespace()
    block = block.replace("range(1000)", "range(20)")  # the same code, fewer steps
    exec(compile(block, f"torchzero.rst code block {k}", "exec"), ns_)
    assert "opt" in ns_


def test_torch_model_table_runs_in_order():
    ns_ = namespace()
    code = "\n".join(table_left_column()).replace("range(1000)", "range(5)")
    before = [p.detach().clone() for p in ns_["model"].parameters()]
    exec(compile(code, "torchzero.rst torch-model table", "exec"), ns_)
    assert isinstance(ns_["opt"], tz.Optimizer)
    assert any(not torch.equal(p, q) for p, q in zip(ns_["model"].parameters(), before))


@pytest.mark.parametrize("expr", optimizer_expressions())
def test_module_table_row_steps(expr):
    ns_ = namespace()
    opt = eval(expr, ns_)
    model, X, y = ns_["model"], ns_["X"], ns_["y"]

    def closure(backward=True):
        loss = torch.nn.functional.mse_loss(model(X), y)
        if backward:
            opt.zero_grad()
            loss.backward()
        return loss

    before = [p.detach().clone() for p in model.parameters()]
    opt.step(closure)
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before)), expr
