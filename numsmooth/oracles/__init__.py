"""Oracles: what evaluates values and gradients, one point or many.

An *oracle* returns the value and the gradient of the user's objective; numsmooth never
differentiates anything itself. Everything that evaluates points follows one protocol,
:class:`OracleProtocol`, whole (fast paths included). One file per job:

- ``protocol.py``: :class:`OracleProtocol`, and :class:`OracleBase`, which gives the many-point
  methods to an oracle that only knows one point (the smoothed objective of a
  :class:`~numsmooth.GradientSampling` step);
- ``base.py``: :class:`Oracle`, the user's function wrapped: counting, buffers, the executor route;
- ``point.py``, ``batched.py``, ``jitted.py``: one class per kind of function
  (:class:`PointOracle`, :class:`BatchedOracle` and the :class:`batched` marker,
  :class:`JittedOracle`), each with the checks of its results;
- ``executor.py``: chunks of points evaluated on an executor, for every kind;
- ``make.py``: which kind a function is, and :func:`make_oracle`;
- ``adapters.py``: :class:`ForwardingOracle` forwards everything to another oracle, so an
  adapter (counting, transforming gradients) overrides only what it changes;
- ``parts.py``: :class:`GradientParts`, a gradient kept as the user's arrays;
- ``errors.py``: :class:`OracleError` and the text that names the failing point.

An executor and a chunk size travel as arguments of the many-point methods.
"""

from .adapters import ForwardingOracle, GradientTransformOracle
from .base import Oracle
from .batched import BatchedOracle, batched
from .errors import OracleError
from .executor import default_chunksize
from .jitted import JittedOracle, jitted_kernels
from .make import make_oracle, oracle_kind
from .parts import GradientParts
from .point import PointOracle
from .protocol import OracleBase, OracleProtocol

__all__ = ["batched", "OracleProtocol", "OracleBase", "ForwardingOracle", "Oracle", "OracleError",
           "GradientTransformOracle", "make_oracle", "default_chunksize", "GradientParts",
           "PointOracle", "BatchedOracle", "JittedOracle"]

# the names other modules and the benchmarks knew before the split
_oracle_kind = oracle_kind
_jitted_kernels = jitted_kernels
