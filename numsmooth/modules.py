"""The module protocol and the basic modules: LR, Momentum, Adam, WeightDecay, ClipNorm,
PerParameter (the line searches are in :mod:`numsmooth.line_search`).

A module transforms the :class:`~numsmooth.objective.Objective` of one optimizer step: it may
read ``f(x)``/``g(x)``, replace the update, or hand later modules a different objective (as
:class:`~numsmooth.GradientSampling` does). Modules in a list form a chain, applied in order.
All mutable state of a module lives in its ``state`` dict of plain data (floats, ints, arrays),
so saving, restoring and rolling back a failed step are generic.

Step sizes and smoothing strengths are :class:`~numsmooth._state.Hyperparameter` attributes: a
number or a schedule ``step -> value`` (:mod:`numsmooth.schedules`), settable at any time; a
number is kept in ``state`` (so it is saved), the step counter is ``state["step"]``.

The modules here never allocate arrays of the parameters' size after their first step: their
buffers are written into spare arrays and swapped (``_replaces_arrays``), so the optimizer's
snapshot of their state before a step is a shallow copy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from . import _passes
from ._kernels import modules as _km
from ._layout import ParamLayout
from ._state import Hyperparameter, Stateful
from ._validation import check_bool, check_int, check_real, short_repr
from .objective import Objective
from .oracles import OracleBase


class Module(Stateful):
    """Base class of every module.

    Subclasses implement :meth:`step`, keep their mutable state as plain data in ``self.state``
    and list their sub-modules in :meth:`children`. ``reset()`` clears the state of the module
    and of its children; :meth:`state_dict` / :meth:`load_state_dict` save and restore it (see
    :class:`numsmooth._state.Stateful`). A subclass that works in the dtype of the objective's
    arrays (float32 as well as float64) sets ``float32 = True``.
    """

    #: True when the module works on float32 points, gradients and updates (see
    #: :class:`~numsmooth.Optimizer`'s ``inplace``); False: float64 only.
    float32: bool = False

    def step(self, objective: Objective) -> Objective:  # pragma: no cover - abstract
        """Transform ``objective`` (usually its ``update``) and return the objective for the next module."""
        raise NotImplementedError


def check_float32(modules: Sequence[Module]) -> None:
    """Raise ``TypeError`` naming the first module (or sub-module) that cannot work on float32
    parameters (its class does not set ``float32 = True``)."""
    stack: list[Any] = list(modules)
    while stack:
        m = stack.pop(0)
        if not getattr(m, "float32", False):
            raise TypeError(f"{type(m).__name__} works in float64 only, and these parameters are float32 "
                            "(inplace=True keeps them so): give float64 parameters, or leave this module "
                            "out of a float32 chain (LR, Momentum, Adam, WeightDecay, ClipNorm and "
                            "LaplacianSmoothing work in float32)")
        stack.extend(m.children())


def as_module_list(modules: Any, name: str = "modules") -> list[Module]:
    """Normalise ``None``, a module, or an iterable of modules (nested lists flattened) to a list."""
    if modules is None:
        return []
    if isinstance(modules, Module):
        return [modules]
    if isinstance(modules, (list, tuple)):
        out: list[Module] = []
        for i, m in enumerate(modules):
            if isinstance(m, (list, tuple)):
                out.extend(as_module_list(m, f"{name}[{i}]"))
            elif isinstance(m, Module):
                out.append(m)
            else:
                raise TypeError(f"{name}[{i}] must be a numsmooth module; got {m!r}")
        return out
    raise TypeError(f"{name} must be a module, a list of modules or None; got {modules!r}")


def run_chain(modules: Sequence[Module], objective: Objective) -> Objective:
    """Apply ``modules`` in order, each to the objective the previous one returned.

    A module that sets ``objective.reset_following = True`` (as GradientSampling does when its
    sigma decays) has the state of every module after it reset before they run; one that
    requests a stop (``objective.request_stop``) ends the chain.
    """
    for i, m in enumerate(modules):
        objective.update_sumsq = None  # valid only if set by the module that writes the update last
        objective = m.step(objective)
        if objective.stop_message is not None:
            break
        if objective.reset_following:
            objective.reset_following = False
            for later in modules[i + 1:]:
                later.reset()
    return objective


def run_subchain(modules: Sequence[Module], parent: Objective, sub: Objective, where: Any = None) -> bool:
    """Run a container's sub-chain on ``sub`` and fold its result back into ``parent``: the one
    rule every container (:class:`~numsmooth.GradientSampling`, :class:`PerParameter`,
    :class:`~numsmooth.Switch`) follows.

    Parameters
    ----------
    modules : sequence of Module
        The sub-chain.
    parent : Objective
        The objective the container was given.
    sub : Objective
        The objective the sub-chain starts from: ``parent`` itself, or one derived from it (another
        oracle, or a group of the parameters); it must count evaluations with ``parent.counter``.
    where : slice or index array, optional
        The entries of ``parent``'s update that ``sub``'s update stands for (a group of the
        parameters); ``None``: the whole update.

    Returns
    -------
    bool
        False when the sub-chain asked to end the run: the stop request and its message go to
        ``parent`` and its update is left alone; True otherwise.

    Notes
    -----
    What is folded back: the stop request; the update (a non-finite one too, so the optimizer
    refuses the step); the norm the last module claimed for it (``update_sumsq``), only when the
    update is handed over whole, the very array it was claimed for; the value the sub-chain
    reports at ``x`` (``reported_loss``, else its cached ``f``). Evaluations need no folding:
    ``sub`` counts them on ``parent``'s counter.
    """
    if sub.counter is not parent.counter:
        raise ValueError("a sub-chain's objective must count evaluations on its parent's counter")
    start = sub.update  # a view of the parent's update when the group is a slice of it
    last = run_chain(modules, sub)
    if last.stop_message is not None:
        parent.request_stop(last.stop_message)
        return False
    if last is not parent:
        out = last.get_update()
        if where is None:
            parent.update = out
            parent.update_sumsq = last.update_sumsq
        else:
            if out is not start or not isinstance(where, slice):  # else updated in place already
                parent.get_update()[where] = out
            parent.update_sumsq = None  # a claim covers the group's part only
        reported = last.reported_loss if last.reported_loss is not None else last.cached_loss
        if reported is not None and last.x is parent.x:
            parent.reported_loss = reported
    return True


def _nonnegative(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0)


def _positive(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0, low_open=True)


def _unit(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0, high=1.0, high_open=True)


class LR(Module):
    """Multiply the update by a learning rate.

    Parameters
    ----------
    lr : float or callable
        Step size, >= 0, or a schedule ``step -> lr`` (see :mod:`numsmooth.schedules`; ``step``
        counts this module's completed steps from 0). Settable at any time (``module.lr = 0.01``,
        checked); a number set this way is saved with the state, so a saved run reloads into an
        optimizer rebuilt with the original value. A schedule cannot be saved: the state keeps
        the step count, and the rebuilt module must be given the same schedule.

    Notes
    -----
    As the last module of an optimizer's chain, ``LR`` leaves the multiplication to the
    optimizer, which moves ``x`` by ``-lr * update`` rounded once in the same pass (torch's
    ``p.add_(d, alpha=-lr)``, so the numbers are ``torch.optim.SGD``'s); elsewhere in a chain it
    scales the update.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.array([1.0, 2.0]), ns.LR(0.25))
    >>> _ = opt.step(lambda x: (float(x @ x), 2 * x))
    >>> opt.x
    array([0.5, 1. ])

    A schedule, and a value changed at run time:

    >>> lr = ns.LR(ns.schedules.exponential(0.1, 0.5))
    >>> opt = ns.Optimizer(np.zeros(1), lr)
    >>> for _ in range(3):
    ...     _ = opt.step(lambda x: (0.0, np.ones(1)))
    >>> opt.x, lr.state["step"]
    (array([-0.175]), 3)
    >>> lr.lr = 0.01
    >>> lr.lr
    0.01
    """

    _replaces_arrays = True
    float32 = True
    lr = Hyperparameter(_nonnegative)

    def __init__(self, lr: Any = 1e-3):
        super().__init__()
        self.lr = lr

    def step(self, objective: Objective) -> Objective:
        lr = self.hyper("lr")
        u = objective.get_update()
        if objective.fuse_scale is self:
            objective.update_scale = lr  # last in the chain: the optimizer moves x by -lr * u, rounded once
        else:
            objective.update_sumsq = _passes.scale_sumsq(u, lr)
        self._advance()
        return objective


class Momentum(Module):
    """Heavy-ball or Nesterov momentum on the update.

    ``buf = beta * buf + u``; the update becomes ``buf`` (heavy ball) or ``u + beta * buf``
    (Nesterov), the convention of ``torch.optim.SGD``.

    Parameters
    ----------
    beta : float or callable
        Momentum factor in [0, 1), or a schedule ``step -> beta``; settable (``module.beta =
        0.95``) and saved with the state, as :class:`LR`'s ``lr``.
    nesterov : bool
        Use Nesterov's look-ahead form.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.zeros(1), ns.Momentum(0.5), ns.LR(1.0))
    >>> for _ in range(3):
    ...     _ = opt.step(lambda x: (0.0, np.ones(1)))
    >>> opt.x                 # -(1 + 1.5 + 1.75)
    array([-4.25])
    """

    _replaces_arrays = True
    float32 = True
    beta = Hyperparameter(_unit)

    def __init__(self, beta: Any = 0.9, nesterov: bool = False):
        super().__init__()
        self.beta = beta
        self.nesterov = check_bool("nesterov", nesterov)
        self._spare: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"nesterov": self.nesterov}

    def _after_load(self) -> None:
        self._spare = None  # may be the restored buffer

    def step(self, objective: Objective) -> Objective:
        u = objective.get_update()
        beta = u.dtype.type(self.hyper("beta"))  # torch.optim.SGD's operations, in the update's dtype
        buf = self.state.get("buf")
        new: np.ndarray | None
        if buf is None:
            new = u.copy()
            if self.nesterov:
                _km.axpy_(u, beta, new)
        else:
            new = self._spare
            if new is None or new.shape != buf.shape:
                new = np.empty_like(buf)
            _passes.momentum(buf, u, beta, self.nesterov, new)
            self._spare = buf  # the snapshot holds it until the step is accepted
        self.state["buf"] = new
        self._advance()
        return objective


class Adam(Module):
    """Adam (Kingma & Ba 2015) with bias correction.

    Parameters
    ----------
    lr : float or callable
        Step size, >= 0, or a schedule ``step -> lr``; settable and saved with the state, as
        :class:`LR`'s ``lr``. The schedule's step is Adam's counter ``state["t"]`` before the
        step (0 on the first step).
    betas : tuple of float
        Decay rates of the first and second moments, each in [0, 1).
    eps : float
        Added to the denominator, >= 0.

    Notes
    -----
    ``Adam(lr=1.0), WeightDecay(wd), LR(lr)`` is AdamW (``torch.optim.AdamW(lr=lr,
    weight_decay=wd)``).

    The update is computed with the operations of ``torch.optim.Adam`` on CPU, in the same order
    and in the parameters' dtype (float32 stays float32): ``m`` by ``lerp`` and ``v`` by a fused
    multiply-add, the bias corrections and step size in float64 and then rounded, ``x <- x -
    (step_size * m) / (sqrt(v) / sqrt(1 - b2**t) + eps)``. The one operation that can differ is
    the square root: numsmooth's is correctly rounded; torch's on CPU is MKL's, which may be one
    ulp off, and that is enough for two trainings to drift apart by 1e-6 in 100 steps. Under
    :class:`numsmooth.torch.Optimizer` Adam takes its square roots from torch, so it gives
    ``torch.optim.Adam``'s parameters bit for bit, in float32 and float64.
    """

    _replaces_arrays = True
    float32 = True
    _step_key = "t"
    lr = Hyperparameter(_nonnegative)
    #: ``sqrt(v, out)``: the square roots of the second moment, written into ``out``; None: the
    #: kernel's own (correctly rounded). :mod:`numsmooth.torch` sets torch's (see Notes).
    _sqrt: Callable[[np.ndarray, np.ndarray], Any] | None = None

    def __init__(self, lr: Any = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__()
        self.lr = lr
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats in [0, 1); got {betas!r}")
        self.betas = (
            check_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
            check_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True),
        )
        self.eps = check_real("eps", eps, low=0.0)
        self._spares: tuple[np.ndarray, np.ndarray] | None = None

    def config(self) -> dict[str, Any]:
        return {"betas": list(self.betas), "eps": self.eps}

    def _after_load(self) -> None:
        self._spares = None

    def step(self, objective: Objective) -> Objective:
        u = objective.get_update()
        b1, b2 = self.betas
        lr = self.hyper("lr")
        if "m" not in self.state:
            m, v = np.zeros_like(u), np.zeros_like(u)
            new_m, new_v, t = m, v, 1
        else:
            m, v = self.state["m"], self.state["v"]
            t = self.state["t"] + 1
            spares = self._spares
            if spares is None or spares[0].shape != m.shape:
                spares = (np.empty_like(m), np.empty_like(v))
            new_m, new_v = spares
            self._spares = (m, v)
        # torch.optim.Adam's scalars: the bias corrections and the step size in float64 (t as a
        # float, as torch's step counter), then rounded to the dtype of the arrays with the rest
        dt = u.dtype.type
        weight = dt(1.0 - b1)
        small = bool(abs(weight) < 0.5)
        coeff = weight if small else dt(weight - dt(1.0))
        step_size = dt(lr / (1.0 - b1 ** float(t)))
        bc2_sqrt = dt((1.0 - b2 ** float(t)) ** 0.5)
        b2_, c2, eps = dt(b2), dt(1.0 - b2), dt(self.eps)
        if self._sqrt is None:
            _km.adam_(m, v, u, coeff, small, b2_, c2, bc2_sqrt, step_size, eps, new_m, new_v)
        else:
            _km.adam_moments_(m, v, u, coeff, small, b2_, c2, new_m, new_v)
            self._sqrt(new_v, u)
            _km.adam_direction_(new_m, u, u, bc2_sqrt, step_size, eps)
        self.state.update(m=new_m, v=new_v, t=t)
        return objective


class WeightDecay(Module):
    """Decoupled weight decay: add ``weight_decay * x`` to the update.

    Placed before ``LR(lr)`` the step is ``x <- x - lr * (u + weight_decay * x)``, i.e. the
    parameters shrink by the factor ``1 - lr * weight_decay`` on top of the step ``lr * u``: the
    convention of AdamW (``Adam(lr=1.0), WeightDecay(wd), LR(lr)`` is
    ``torch.optim.AdamW(lr=lr, weight_decay=wd)``) and of SGD with weight decay
    (``WeightDecay(wd), LR(lr)`` is ``torch.optim.SGD(lr=lr, weight_decay=wd)``). Placed after
    ``LR`` (or after a module that includes the step size, such as ``Adam(lr)``), ``x`` shrinks by
    ``1 - weight_decay`` per step. Exclude parameters (biases, say) with :class:`PerParameter`.

    Parameters
    ----------
    weight_decay : float or callable
        Decay coefficient, >= 0, or a schedule ``step -> weight_decay``; settable and saved with
        the state, as :class:`LR`'s ``lr``.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.array([2.0]), ns.WeightDecay(0.5), ns.LR(0.1))
    >>> _ = opt.step(lambda x: (0.0, np.array([1.0])))
    >>> opt.x                       # 2 - 0.1 * (1 + 0.5 * 2)
    array([1.8])
    """

    _replaces_arrays = True
    float32 = True
    weight_decay = Hyperparameter(_nonnegative)

    def __init__(self, weight_decay: Any = 1e-2):
        super().__init__()
        self.weight_decay = weight_decay

    def step(self, objective: Objective) -> Objective:
        wd = self.hyper("weight_decay")
        u = objective.get_update()
        if wd != 0.0:
            _km.axpy_(u, u.dtype.type(wd), objective.x)  # torch's grad.add(x, alpha=wd), rounded once
        self._advance()
        return objective


class ClipNorm(Module):
    """Rescale the update so that its 2-norm is at most ``max_norm``.

    The update ``u`` becomes ``u * min(1, max_norm / ||u||)`` (the norm over all parameters
    together, as ``torch.nn.utils.clip_grad_norm_``; clip groups of parameters separately with
    :class:`PerParameter`). A non-finite update is passed on unchanged (the optimizer refuses
    it).

    Parameters
    ----------
    max_norm : float or callable
        Largest norm, > 0, or a schedule ``step -> max_norm``; settable and saved with the
        state, as :class:`LR`'s ``lr``.

    Examples
    --------
    >>> import numpy as np, numsmooth as ns
    >>> opt = ns.Optimizer(np.zeros(2), ns.ClipNorm(1.0), ns.LR(1.0))
    >>> _ = opt.step(lambda x: (0.0, np.array([3.0, 4.0])))
    >>> opt.x
    array([-0.6, -0.8])
    """

    _replaces_arrays = True
    float32 = True
    max_norm = Hyperparameter(_positive)

    def __init__(self, max_norm: Any = 1.0):
        super().__init__()
        self.max_norm = max_norm

    def step(self, objective: Objective) -> Objective:
        max_norm = self.hyper("max_norm")
        u = objective.get_update()
        self._advance()
        norm = math.sqrt(_passes.sumsq(u))
        if not math.isfinite(norm):
            if not np.all(np.isfinite(u)):
                return objective
            scale = float(np.max(np.abs(u)))  # the sum of squares overflowed: scale first
            norm = scale * float(np.linalg.norm(u / scale))
        if norm > max_norm:
            u *= max_norm / norm
        return objective


class PerParameter(Module):
    """Run a chain of modules on each group of parameters: their own settings per array.

    Each group is one parameter index or a tuple of indices into the parameter list (the order
    of ``x0``); its chain sees an objective made of those parameters only (``x``, gradient,
    update and layout restricted to them), and what it produces replaces that part of the
    update. Parameters in no group go through ``default`` (unchanged when ``default`` is None).
    ``PerParameter`` is a module like the others, so modules before and after it in the chain
    apply to all parameters.

    Parameters
    ----------
    groups : dict
        ``{index or tuple of indices: module or list of modules}``; indices are >= 0 and each is
        in one group at most. A module object may appear only once.
    default : module or list of modules, optional
        The chain of the parameters not listed in ``groups``.

    Notes
    -----
    Groups of consecutive parameters work on views of the update; other groups on a gathered
    copy. Evaluating the objective at another point from inside a group (a line search) moves
    only that group's parameters. The state of the sub-modules is saved with this module's.
    Their array lengths are checked when the module has seen the parameters (after a step).

    Examples
    --------
    Laplacian smoothing and weight decay on the weight, neither on the bias, one step size for
    both:

    >>> import numpy as np, numsmooth as ns
    >>> params = [np.ones((2, 4)), np.ones(4)]
    >>> weight = ns.PerParameter({0: [ns.LaplacianSmoothing(1.0), ns.WeightDecay(0.1)]})
    >>> opt = ns.Optimizer(params, weight, ns.LR(0.5))
    >>> _ = opt.step(lambda p: (0.0, [np.eye(2, 4), np.ones(4)]))
    >>> w, b = opt.params
    >>> b                                   # 1 - 0.5 * 1: no smoothing, no decay
    array([0.5, 0.5, 0.5, 0.5])
    >>> bool(np.isclose(w.mean(), 1 - 0.5 * (1 / 4 + 0.1)))   # smoothing keeps the mean
    True
    """

    _replaces_arrays = True

    def __init__(self, groups: dict[Any, Any], default: Any = None):
        super().__init__()
        if not isinstance(groups, dict) or not groups:
            raise TypeError(f"groups must be a non-empty dict {{index or tuple of indices: modules}}; "
                            f"got {short_repr(groups, 80)}")
        self.groups: list[tuple[int, ...]] = []
        self.chains: list[list[Module]] = []
        seen: set[int] = set()
        for key, modules in groups.items():
            keys = key if isinstance(key, tuple) else (key,)
            if not keys:
                raise ValueError("groups: a group must list at least one parameter index; got ()")
            idx = tuple(check_int(f"groups key {key!r}: parameter index", k, low=0) for k in keys)
            for i in idx:
                if i in seen:
                    raise ValueError(f"groups: parameter {i} is in two groups")
                seen.add(i)
            self.groups.append(idx)
            self.chains.append(as_module_list(modules, f"groups[{key!r}]"))
        self.default = as_module_list(default, "default")
        ids = [id(m) for m in self.children()]
        if len(ids) != len(set(ids)):
            raise ValueError("PerParameter: a module object appears twice; give each group its own modules")
        self._plans: tuple[Any, list[tuple[ParamLayout, Any]]] | None = None

    def children(self) -> list[Stateful]:
        kids: list[Stateful] = [m for chain in self.chains for m in chain]
        return kids + list(self.default)

    def config(self) -> dict[str, Any]:
        return {"groups": [list(g) for g in self.groups], "default": len(self.default)}

    def _child_sizes(self, size: int | None) -> list[int | None]:
        sizes: list[int | None] = []
        plans = self._plans[1] if self._plans is not None else None
        chains = self.chains + [self.default]
        for k, chain in enumerate(chains):
            n = None if plans is None or k >= len(plans) else plans[k][0].size
            sizes += [n] * len(chain)
        return sizes

    def _plan(self, layout: ParamLayout) -> list[tuple[ParamLayout, Any]]:
        """Per group (and the default group last): its layout and its index into the flat
        vector (a slice for consecutive parameters, else an index array); cached per layout."""
        key = (tuple(layout.shapes), layout.single)
        if self._plans is not None and self._plans[0] == key:
            return self._plans[1]
        n = len(layout.shapes)
        for idx in self.groups:
            for i in idx:
                if i >= n:
                    raise ValueError(f"PerParameter: group {idx} names parameter {i}, but there are only "
                                     f"{n} parameters")
        grouped = {i for g in self.groups for i in g}
        rest = tuple(i for i in range(n) if i not in grouped)
        plans: list[tuple[ParamLayout, Any]] = []
        for idx in self.groups + [rest]:
            sub = ParamLayout([layout.shapes[i] for i in idx], single=False)
            off = layout.offsets
            if idx and list(idx) == list(range(idx[0], idx[0] + len(idx))):
                where: Any = slice(int(off[idx[0]]), int(off[idx[-1] + 1]))
            else:
                parts = [np.arange(off[i], off[i + 1]) for i in idx]
                where = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            plans.append((sub, where))
        self._plans = (key, plans)
        return plans

    def step(self, objective: Objective) -> Objective:
        plans = self._plan(objective.layout)
        u = objective.get_update()
        for (sub_layout, where), chain in zip(plans, self.chains + [self.default]):
            if not chain or sub_layout.size == 0:
                continue
            xg = objective.x[where]
            sub = Objective(xg, _GroupOracle(objective, where, sub_layout, xg), sub_layout, objective.counter)
            sub.update = u[where]
            if not run_subchain(chain, objective, sub, where):
                return objective
        return objective


class _GroupOracle(OracleBase):
    """The objective seen by one group of :class:`PerParameter`: points and gradients are the
    group's part; the other parameters stay at the step's point."""

    def __init__(self, parent: Objective, where: Any, layout: ParamLayout, xg: np.ndarray):
        self.parent = parent
        self.where = where
        self.layout = layout
        self.xg = xg

    @property
    def num_evaluations(self) -> int:
        return int(self.parent.counter.num_evaluations)

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if x is self.xg:
            f, g = self.parent.loss_and_grad()  # cached by the parent: no second evaluation
            return f, g[self.where]
        full = np.array(self.parent.x, copy=True)
        full[self.where] = x
        f, g = self.parent.oracle.evaluate(full)
        return f, g[self.where]
