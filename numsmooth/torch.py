"""numsmooth's module chains as a ``torch.optim.Optimizer``: :class:`Optimizer`.

Importing this module imports torch; nothing else in numsmooth does (numsmooth does not depend on
torch). It works on CPU tensors, which NumPy reads and writes in place.

Examples
--------
>>> import torch, numsmooth as ns, numsmooth.torch
>>> model = torch.nn.Linear(4, 1)
>>> opt = ns.torch.Optimizer(model.parameters(), ns.LaplacianSmoothing(1.0), ns.LR(0.1))
>>> loss = model(torch.ones(2, 4)).pow(2).mean()
>>> loss.backward()
>>> opt.step()
>>> model.weight.dtype
torch.float32
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .modules import Adam, Module, as_module_list, check_float32
from .optimizer import Optimizer as _NsOptimizer

__all__ = ["Optimizer"]

#: The keys of a param group that drive the chain, and the hyperparameter each one sets.
_GROUP_KEYS = {"lr": "lr", "weight_decay": "weight_decay", "sigma": "sigma"}


class Optimizer(torch.optim.Optimizer):  # type: ignore[misc, unused-ignore]  # torch may lack types
    """A chain of numsmooth modules as a ``torch.optim.Optimizer``.

    ``opt.step()`` after ``loss.backward()`` moves the parameters by the chain's update of
    their gradients, as ``torch.optim.SGD`` does: ``Optimizer(model.parameters(),
    ns.WeightDecay(1e-3), ns.Momentum(0.9), ns.LR(0.1))`` is ``torch.optim.SGD(lr=0.1,
    momentum=0.9, weight_decay=1e-3)``. Chains that evaluate the loss at other points
    (:class:`~numsmooth.GradientSampling`, line searches) need ``opt.step(closure)``, as
    ``torch.optim.LBFGS`` does.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters, or param groups (dicts with ``"params"`` and per-group settings), as for
        any ``torch.optim`` optimizer. CPU tensors only.
    *modules : Module
        The chain (``x_new = x - update``), as for :class:`numsmooth.Optimizer`. Each param group
        runs its own copy of the chain (its own state: momentum buffers, step counts), made
        before the first step; the first group runs the modules given.
    on_refused : {"warn", "raise", "ignore"}
        What a step whose update is not finite does (the parameters and the group's state are
        kept): see :class:`numsmooth.Optimizer`.

    Notes
    -----
    **Param groups.** A group's ``lr`` sets the step size of the last module of the chain that
    has one (:class:`~numsmooth.LR` or :class:`~numsmooth.Adam`), its ``weight_decay`` that of
    the first :class:`~numsmooth.WeightDecay`, its ``sigma`` that of the first
    :class:`~numsmooth.LaplacianSmoothing`; they are read at every step, so
    ``torch.optim.lr_scheduler`` schedulers drive them. Their defaults are the values the
    modules were given (a module given a schedule instead keeps it, and the key is absent). A
    group setting a key the chain has no module for raises ``ValueError``. Norms
    (:class:`~numsmooth.ClipNorm`) and ``layerwise=False`` smoothing are per group.

    **Storage.** The parameters of each group are moved, once, into one flat buffer of their
    dtype (each ``Parameter`` stays the same object; its ``.data`` becomes a view of the
    buffer). A step then reads the gradients (``p.grad``) in place and writes the parameters
    in place: nothing is copied per step but the update the chain builds (one flat buffer per
    group, reused). Replacing a parameter's ``.data`` afterwards (``model.to(...)``) raises at
    the next step; copying into it (``model.load_state_dict``) is fine.

    **dtypes.** float32 parameters stay float32 (so does every module buffer) when every
    module of the chain works in float32 (LR, Momentum, Adam, WeightDecay, ClipNorm,
    LaplacianSmoothing, and their schedules); sums of squares accumulate in float64. Groups of
    float64 parameters work in float64. Any other group (float32 with a float64-only module
    such as :class:`~numsmooth.GradientSampling` or a quasi-Newton method, or mixed or
    half-precision dtypes) is upcast: a float64 copy of its parameters is read at the start of
    each step and written back (rounded) at its end; the gradients are converted too.

    **Closures.** ``step(closure)`` calls ``closure()`` (with gradients enabled) once at the
    current point; a chain that needs other points calls it again after writing each point into
    the parameters (which are restored afterwards), and then needs one param group. Without a
    closure such a chain raises ``RuntimeError``. Parameters whose ``grad`` is None are not
    updated when the whole group has none; a group with some raises ``ValueError``.

    **Saving.** :meth:`state_dict` holds every group's module states as tensors, so it goes
    through ``torch.save``/``torch.load`` (``weights_only=True``); a run resumed from it (with
    the model's ``state_dict``) continues bit for bit.

    Examples
    --------
    >>> import torch, numsmooth as ns, numsmooth.torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = ns.torch.Optimizer(model.parameters(), ns.Momentum(0.9), ns.LR(0.1))
    >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    >>> X, y = torch.randn(32, 3), torch.randn(32, 1)
    >>> for _ in range(20):
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(X), y)
    ...     loss.backward()
    ...     opt.step()
    ...     sched.step()
    >>> opt.param_groups[0]["lr"]
    0.025
    """

    def __init__(self, params: Iterable[Any], *modules: Module, on_refused: str = "warn"):
        chain = as_module_list(list(modules))
        if not chain:
            raise ValueError("modules: give at least one module (for plain SGD: ns.LR(lr))")
        self._chain = chain
        self._template = copy.deepcopy(chain)  # the chain of groups added later, stateless
        self._on_refused = on_refused
        self._groups: list[_Group] = []
        super().__init__(params, _defaults(chain))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (as ``torch.optim.Optimizer.add_param_group``); it runs a fresh copy
        of the chain and its parameters are moved into a flat buffer of their own."""
        index = len(self.param_groups)
        keys = _defaults(self._chain)
        for key in _GROUP_KEYS:
            if key in param_group and key not in keys:
                raise ValueError(f"param group {index} sets {key}={param_group[key]!r}, but the chain has no "
                                 f"module it applies to (see numsmooth.torch.Optimizer)")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        chain = self._chain if index == 0 else copy.deepcopy(self._template)
        try:
            self._groups.append(_Group(index, group["params"], chain, self._on_refused))
        except BaseException:
            self.param_groups.pop()  # a refused group (a CUDA tensor, say) leaves no trace
            raise

    # -- stepping ----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override, unused-ignore]
        """One step of every param group.

        Parameters
        ----------
        closure : callable, optional
            Clears the gradients, computes the loss, calls ``backward()`` and returns the loss.
            Needed by chains that evaluate at other points; with one, it is called first.

        Returns
        -------
        The closure's loss at the current point, or None without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        evaluate = closure if len(self._groups) == 1 else None
        f = math.nan if loss is None else float(loss)
        with torch.no_grad():  # (each group's first step says so if it compiles: config "compile_notice")
            for g, group in zip(self._groups, self.param_groups):
                g.step(group, evaluate, f, closure is not None)
        return loss

    # -- saving ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's optimizer state (param groups with their settings) and every group's module
        states and counters under ``"numsmooth"`` (arrays as tensors; the parameters themselves
        are the model's to save)."""
        state: dict[str, Any] = super().state_dict()
        state["numsmooth"] = [_to_torch(g.state_dict()) for g in self._groups]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` of an optimizer with the same chain and groups
        (checked whole first: nothing changes when it raises)."""
        if not isinstance(state_dict, dict) or "numsmooth" not in state_dict:
            raise ValueError("state_dict must come from numsmooth.torch.Optimizer.state_dict(): it has no "
                             "'numsmooth' entry")
        ours = state_dict["numsmooth"]
        if not isinstance(ours, list) or len(ours) != len(self._groups):
            n = len(ours) if isinstance(ours, list) else ours
            raise ValueError(f"state_dict has {n!r} numsmooth groups; this optimizer has {len(self._groups)}")
        states = [_from_torch(s) for s in ours]
        for g, s in zip(self._groups, states):
            g.check_state_dict(s)
        rest = {k: v for k, v in state_dict.items() if k != "numsmooth"}
        super().load_state_dict(rest)
        for g, s in zip(self._groups, states):
            g.load_state_dict(s)


class _Group:
    """One param group: its parameters in one flat buffer and a numsmooth optimizer over it."""

    def __init__(self, index: int, params: list[torch.Tensor], chain: list[Module], on_refused: str):
        self.index = index
        self.params = params
        self.chain = chain
        for i, p in enumerate(params):
            if p.device.type != "cpu":
                raise ValueError(f"numsmooth.torch.Optimizer works on CPU tensors; parameter {i} of param group "
                                 f"{index} is on {p.device} (move the model with model.cpu())")
            if p.is_sparse or p.layout != torch.strided:
                raise ValueError(f"parameter {i} of param group {index} is not a dense tensor")
        dtypes = {p.dtype for p in params}
        dtype = dtypes.pop() if len(dtypes) == 1 else None
        float32_ok = True
        try:
            check_float32(chain)
        except TypeError:
            float32_ok = False
        #: True: the optimizer works on the parameters' own buffer; False: on a float64 copy.
        self.direct = dtype == torch.float64 or (dtype == torch.float32 and float32_ok)
        if self.direct:
            assert dtype is not None
            flat = _flatten_into_one_buffer(params, dtype)
        else:
            flat = torch.cat([p.data.reshape(-1).to(torch.float64) for p in params])
        # NumPy views of one NumPy array: numsmooth.Optimizer recognises them as its storage
        flat_np = flat.numpy()
        self.arrays = []
        lo = 0
        for p in params:
            self.arrays.append(flat_np[lo:lo + p.numel()].reshape(tuple(p.shape)))
            lo += p.numel()
        self.flat = flat
        arrays = self.arrays
        self.ptrs = [p.data_ptr() for p in params]
        self.opt = _NsOptimizer(arrays, *chain, on_refused=on_refused, inplace=True)
        _use_torch_sqrt(chain)
        self.keys = _hyper_modules(chain)
        # the state of the step under way, read by the oracle
        self._closure: Callable[[], Any] | None = None
        self._loss = math.nan
        self._saved: torch.Tensor | None = None  # the point, while the closure runs elsewhere
        self._grads: list[np.ndarray] | None = None  # the gradients at the point, read by step()
        self.fun = self._evaluate

    def _check_storage(self) -> None:
        for i, (p, ptr) in enumerate(zip(self.params, self.ptrs)):
            if p.data_ptr() != ptr:
                raise RuntimeError(f"parameter {i} of param group {self.index} no longer uses the optimizer's "
                                   "buffer (its .data was replaced, e.g. by model.to()): create the optimizer "
                                   "again after moving or converting the model")

    def grads(self) -> list[np.ndarray] | None:
        """The gradients as NumPy views, None when no parameter has one."""
        out = []
        for p in self.params:
            g = p.grad
            if g is None:
                break
            if not g.is_cpu or g.is_sparse:
                raise ValueError(f"param group {self.index}: gradients must be dense CPU tensors; got {g.device}"
                                 + (" (sparse)" if g.is_sparse else ""))
            out.append(g.numpy())
        else:
            return out
        missing = [i for i, p in enumerate(self.params) if p.grad is None]
        if len(missing) == len(self.params):
            return None
        raise ValueError(f"parameter {missing[0]} of param group {self.index} has no gradient (grad is None) "
                         "while others have one: call loss.backward() on a loss that uses it, or leave it out "
                         "of the optimizer")

    def step(self, group: dict[str, Any], closure: Callable[[], Any] | None, loss: float,
             evaluated: bool) -> None:
        """One step of the group; ``loss``: the closure's value at the current point (nan
        without a closure), ``evaluated``: whether the closure ran (and left gradients)."""
        self._check_storage()
        for key, module in self.keys.items():
            if key in group:
                name, value = _GROUP_KEYS[key], group[key]
                if getattr(module, name) != value:  # (checked when set: only when it changed)
                    setattr(module, name, value)
        grads = self.grads()  # (raises when only some are missing)
        if grads is None and not evaluated:
            return  # no gradient at all: the group is not updated (as torch.optim does)
        if not self.direct:
            for a, p in zip(self.arrays, self.params):
                torch.from_numpy(a).copy_(p.data)  # upcast: read the parameters as they are now
        self._closure, self._loss, self._saved, self._grads = closure, loss, None, grads
        try:
            self.opt.step(self.fun)
        finally:
            self._closure = self._saved = self._grads = None
            if not self.direct:
                for a, p in zip(self.arrays, self.params):
                    p.data.copy_(torch.from_numpy(a))

    def _evaluate(self, point: Any) -> tuple[float, list[np.ndarray]]:
        """The oracle of the group's steps (one object for all steps, so numsmooth keeps its
        wrapper): at the current point the gradients backward() left, elsewhere the closure's."""
        if point is self.opt._live:
            grads, self._grads = self._grads or self.grads(), None  # read by step() just before
            if grads is None:
                raise ValueError(f"param group {self.index}: no parameter has a gradient; call "
                                 "loss.backward() (in the closure) before step()")
            return self._loss, grads
        closure = self._closure
        if closure is None:
            raise RuntimeError("this chain evaluates the loss at other points than the current one: call "
                               "opt.step(closure) with a closure that clears the gradients, computes the loss, "
                               "calls backward() and returns the loss (with one param group)")
        if self.direct and self._saved is None:
            self._saved = self.flat.clone()
        for p, a in zip(self.params, point):
            p.data.copy_(torch.from_numpy(np.ascontiguousarray(a)))
        try:
            with torch.enable_grad():
                value = closure()
            grads = self.grads()
            if grads is None:
                raise ValueError("the closure left no gradient: it must call backward()")
            return float(value), [g.copy() for g in grads]
        finally:
            if self._saved is not None:
                self.flat.copy_(self._saved)

    def state_dict(self) -> dict[str, Any]:
        state = self.opt.state_dict()
        del state["x"]  # the parameters: the model's
        return state

    def _full(self, state: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(state, dict):
            raise TypeError(f"the numsmooth state of param group {self.index} must be a dict; got "
                            f"{type(state).__name__}")
        return {**state, "x": self.opt._x.copy()}

    def check_state_dict(self, state: dict[str, Any]) -> None:
        self.opt._check_state_dict(self._full(state))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(self._full(state))


def _flatten_into_one_buffer(params: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """One flat tensor holding ``params`` back to back, their ``.data`` made views of it (the
    tensors already are when they lie so in one contiguous buffer)."""
    n = sum(p.numel() for p in params)
    first = params[0].data
    if all(p.data.is_contiguous() for p in params):
        base = first.untyped_storage().data_ptr()
        start = first.data_ptr()
        item = first.element_size()
        ptr = start
        for p in params:
            if p.data.untyped_storage().data_ptr() != base or p.data_ptr() != ptr:
                break
            ptr += item * p.numel()
        else:
            return torch.as_strided(first, (n,), (1,))  # a view of the storage they share
    flat = torch.empty(n, dtype=dtype)
    lo = 0
    for p in params:
        view = flat[lo:lo + p.numel()].view(p.shape)
        view.copy_(p.data)
        p.data = view
        lo += p.numel()
    return flat


def _torch_sqrt(v: np.ndarray, out: np.ndarray) -> None:
    torch.sqrt(torch.from_numpy(v), out=torch.from_numpy(out))


def _use_torch_sqrt(chain: list[Module]) -> None:
    """Give every :class:`~numsmooth.Adam` of the chain (sub-modules too) torch's square root,
    so that it computes what ``torch.optim.Adam`` does bit for bit (see ``Adam``'s Notes)."""
    stack: list[Any] = list(chain)
    while stack:
        m = stack.pop()
        if isinstance(m, Adam):
            m._sqrt = _torch_sqrt
        stack.extend(m.children())


def _hyper_modules(chain: list[Module]) -> dict[str, Module]:
    """The module each group key drives: ``lr`` the last module with an ``lr``, the others the
    first with theirs; modules given a schedule for it are left to their schedule."""
    found: dict[str, Module] = {}
    for m in chain:
        hyper = type(m).hyperparameters()
        for key, name in _GROUP_KEYS.items():
            if name in hyper and name not in m._schedules and (key == "lr" or key not in found):
                found[key] = m
    return found


def _defaults(chain: list[Module]) -> dict[str, Any]:
    return {key: float(getattr(m, _GROUP_KEYS[key])) for key, m in _hyper_modules(chain).items()}


def _to_torch(value: Any) -> Any:
    """Arrays to tensors (copies), NumPy scalars to Python numbers, containers recursively."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v) for v in value)
    return value


def _from_torch(value: Any) -> Any:
    """The inverse of :func:`_to_torch` (tensors to NumPy arrays, copies)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {k: _from_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_torch(v) for v in value)
    return value
