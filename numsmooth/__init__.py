"""numsmooth: smoothing-based optimization on NumPy arrays.

Gradient sampling and Gaussian homotopy (:class:`GradientSampling`, :func:`smoothed`) and
Laplacian smoothing (:func:`laplacian_smooth`, :class:`LaplacianSmoothing`), with
Numba-compiled kernels and oracles that are plain Python, batched, jitted or distributed.
"""

from . import config, methods, problems, recipes, schedules
from ._layout import flat_params
from ._saving import load_state, save_state
from ._warmup import warmup
from .gradient_sampling import GradientSampling
from .bundle import LimitedMemoryBundle
from .laplacian import LaplacianSmoothing, laplacian_smooth
from .line_search import Backtracking, WeakWolfe
from .modules import LR, Adam, ClipNorm, Module, Momentum, PerParameter, WeightDecay
from .objective import Objective
from .minimize import OptimizeResult, minimize
from .optimizer import Optimizer
from .switch import Switch
from .oracles import OracleError, OracleProtocol, batched
from .quasi_newton import BFGS, LBFGS
from .smoothed import SmoothedObjective, smoothed
from .termination import (
    TerminateAfterNEvaluations,
    TerminateAfterNSeconds,
    TerminateAfterNSteps,
    TerminateAll,
    TerminateAny,
    TerminateByGradientNorm,
    TerminateByUpdateNorm,
    TerminateNever,
    TerminateOnLossReached,
    TerminateOnNoImprovement,
    TerminationCriterion,
)

__version__ = "0.2.0"

__all__ = [
    "config", "methods", "problems", "recipes", "schedules",
    # Laplacian smoothing
    "laplacian_smooth", "LaplacianSmoothing",
    # gradient sampling
    "smoothed", "SmoothedObjective", "GradientSampling",
    # oracles, objective
    "batched", "Objective", "OracleError", "OracleProtocol",
    # modules and optimizer
    "Module", "LR", "Momentum", "Adam", "Backtracking", "WeightDecay", "ClipNorm", "PerParameter", "Switch", "Optimizer", "minimize", "OptimizeResult",
    "save_state", "load_state", "flat_params", "warmup",
    # quasi-Newton and line searches
    "BFGS", "LBFGS", "WeakWolfe", "LimitedMemoryBundle",
    # termination criteria
    "TerminationCriterion", "TerminateAfterNSteps", "TerminateAfterNEvaluations", "TerminateAfterNSeconds",
    "TerminateByGradientNorm", "TerminateByUpdateNorm", "TerminateOnNoImprovement", "TerminateOnLossReached",
    "TerminateAny", "TerminateAll", "TerminateNever",
]
