"""examples/torch_lsgd.py runs (fewer epochs) and prints its table."""

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_lsgd.py"


def test_example_prints_both_columns(capsys):
    spec = importlib.util.spec_from_file_location("torch_lsgd_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.EPOCHS = 2
    mod.main()
    lines = capsys.readouterr().out.splitlines()
    assert "SGD loss" in lines[1] and "LS-SGD acc" in lines[1]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == ["1", "2"]
    sgd_acc, lsgd_acc = float(rows[-1][3]), float(rows[-1][6])
    assert sgd_acc > 0.5 and lsgd_acc > 0.5  # both learn (10 classes: chance is 0.1)
