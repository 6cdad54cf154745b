"""What an oracle's failure looks like: :class:`OracleError`, and the text that says where."""

from __future__ import annotations

import numpy as np

__all__ = ["OracleError", "where"]


class OracleError(RuntimeError):
    """The oracle raised, or returned something that is not a value-and-gradient pair."""


def where(first_index: int | None, i: int, point: np.ndarray) -> str:
    """``at sample k (x = [...])`` for error messages, or ``at x = [...]`` outside sampling."""
    text = np.array2string(point, threshold=6, edgeitems=2, precision=4)
    return f"at x = {text}" if first_index is None else f"at sample {first_index + i} (x = {text})"
