"""Constants shared by the kernels.

Deprecated: thresholds are the :mod:`numsmooth.config` knobs, read in Python by
`numsmooth._parallel.use_parallel`. ``PARALLEL_MIN`` stays only for ``hull.py`` until it
follows that rule too (another branch); do not use it in new code.
"""

PARALLEL_MIN = 1 << 16
