"""Constants shared by the kernels."""

#: Below this many array elements a kernel runs serially: a parallel region's start-up costs more
#: than it saves on small work, and on a loaded machine, where OpenMP threads spin-wait for a
#: core, far more. Serial and parallel versions give the same bits.
PARALLEL_MIN = 1 << 16
