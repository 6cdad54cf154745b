"""The smallest parallel region: what waking Numba's threads costs on this machine.

`numsmooth._parallel` times it once per machine to scale the element counts from which
numsmooth's kernels run in parallel (a parallel kernel pays off when its serial work is worth a
few wake-ups).
"""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def wake(a):
    """Add 1 to each element of ``a`` in a parallel region (one element per thread is enough)."""
    for i in prange(a.shape[0]):
        a[i] += 1.0
