"""Module-level oracles that must be importable by name (pickled to Dask worker processes)."""

from __future__ import annotations

import time

import numpy as np

#: Seconds one evaluation of `sleepy` costs.
SLEEP = 0.02


def sleepy(x: np.ndarray) -> tuple[float, np.ndarray]:
    """A per-point oracle that costs 20 ms of wall time and no CPU: ``(||x||^2 / 2, x)``."""
    time.sleep(SLEEP)
    return 0.5 * float(x @ x), x.copy()
