"""Live parity with the real torchzero 0.4.4: collected only where torch and torchzero import.

numsmooth never depends on torch; CI runs this directory in a separate pass with
``torch==2.13.0`` and ``torchzero==0.4.4`` installed (see ``.ci/run``).
"""

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchzero")


@pytest.fixture(autouse=True)
def _torch_settings():
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchzero emits a few harmless warnings
        yield
