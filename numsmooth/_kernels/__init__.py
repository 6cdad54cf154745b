"""Numba kernels (private).

Every ``@njit`` function of numsmooth lives in this package. Kernels take flat or 2-D
C-contiguous float64 arrays, integer codes and scalars, write into caller-allocated ``out``
arrays, and know nothing of classes, strings or argument validation: the Python layer casts and
checks once at the public boundary.
"""
