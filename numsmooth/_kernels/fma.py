"""``fma(a, b, c)``: ``a * b + c`` rounded once, for kernels (private).

It is written out rather than left to fastmath's "contract", which lets LLVM choose which
product of ``a * b + c * d`` to fuse, a choice that changed with the compilation context (the
parallel Laplacian kernel compiled in one process gave other bits than the serial one loaded
from the cache of another). An explicit FMA is the same operation in every kernel, thread and
process, and it is what torch's CPU kernels do where they fuse (``lerp``, ``add(alpha=)``,
``addcmul``), so the modules can give torch.optim's bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import config as numba_config
from numba import types
from numba.extending import intrinsic

__all__ = ["fma"]


@intrinsic
def _fma_intrinsic(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``), in the common float type of the three."""
    ty = typingctx.unify_types(a, b, c)
    if not isinstance(ty, types.Float):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        vals = [context.cast(builder, v, t, ty) for v, t in zip(args, signature.args)]
        t = vals[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [t], ir.FunctionType(t, [t, t, t]))
        return builder.call(fn, vals)

    return ty(a, b, c), codegen


def _fma_python(a: Any, b: Any, c: Any) -> Any:
    """``NUMBA_DISABLE_JIT``: float32 through float64 (the product is exact there, so the result
    is rounded once but in rare double roundings), float64 rounded twice (these runs check
    logic, not bits)."""
    r = a * b + c
    if isinstance(r, np.float32):
        return np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    return r


fma = _fma_python if numba_config.DISABLE_JIT else _fma_intrinsic
