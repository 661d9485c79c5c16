"""Magnitude pruning with the meaning of ``torch.nn.utils.prune``.

``l1_unstructured(module, "weight", amount)`` zeroes the `amount` weights of smallest absolute
value (a fraction of the weights, or a count); ``global_unstructured`` ranks the weights of
several layers together, so that layers with many small weights lose more. The mask then
*stays*: the pruned parameter becomes a ``PrunedParameter`` whose ``data`` and ``grad`` are
multiplied by the mask every time they are assigned. A layer's backward adds to ``grad`` and
every optimizer of ``cnnbook.optim`` assigns ``p.data``, so fine-tuning never revives a pruned
weight, with any optimizer and with ``cb.training.fit``, exactly as PyTorch's forward
pre-hook computes ``weight = weight_orig * weight_mask`` (same effective weights, same
gradients). Build the optimizer after pruning, or hand it the new parameters.
``remove(module, name)`` makes the pruning permanent (a plain ``Parameter`` holding the zeros).

As in PyTorch, a float `amount` prunes ``round(amount * n)`` weights (Python's round, half to
even), an int `amount` exactly that many; pruning an already pruned parameter again prunes
`amount` of the weights still alive (PyTorch's ``PruningContainer``). Among weights of *equal*
magnitude at the threshold, PyTorch's choice follows its top-k algorithm, which is not
specified; here the earliest indices go first. Everywhere else the masks are PyTorch's.

Reference: Han, Pool, Tran and Dally 2015, *Learning both weights and connections for efficient
neural networks*. Taught in the chapter ``compression``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._checks import _is_int
from .module import Module, Parameter

__all__ = ["PrunedParameter", "l1_unstructured", "global_unstructured", "remove", "is_pruned",
           "sparsity"]

_DATA = Parameter.__dict__["data"]
_GRAD = Parameter.__dict__["grad"]


class PrunedParameter(Parameter):
    """A Parameter with a fixed 0/1 ``mask``: assigning ``data`` or ``grad`` (which every
    layer's backward and every optimizer step does) keeps the masked entries at zero."""
    __slots__ = ("mask",)

    def __init__(self, param: Parameter, mask: np.ndarray):
        self.mask = np.asarray(mask, dtype=bool)
        super().__init__(param.data, copy=True, requires_grad=param.requires_grad)
        self.grad = param.grad

    @property
    def data(self):
        return _DATA.__get__(self)

    @data.setter
    def data(self, value):
        value = np.asarray(value)
        _DATA.__set__(self, np.where(self.mask, value, 0).astype(value.dtype, copy=False))

    @property
    def grad(self):
        return _GRAD.__get__(self)

    @grad.setter
    def grad(self, value):
        value = np.asarray(value)
        _GRAD.__set__(self, np.where(self.mask, value, 0).astype(value.dtype, copy=False))

    def __deepcopy__(self, memo):
        new = PrunedParameter(self, self.mask.copy())
        memo[id(self)] = new
        return new

    def __repr__(self):
        return (f"PrunedParameter(shape={self.data.shape}, dtype={self.data.dtype}, "
                f"pruned={int((~self.mask).sum())}/{self.mask.size})")


def _check_module(fn, module, name):
    if not isinstance(module, Module):
        raise TypeError(f"{fn}: module must be a cnnbook.nn layer, got {type(module).__name__}; "
                        f"pass e.g. model[0] and 'weight'.")
    if not isinstance(name, str) or not isinstance(module._parameters.get(name), Parameter):
        have = [k for k, v in module._parameters.items() if v is not None]
        raise ValueError(f"{fn}: {type(module).__name__} has no parameter named {name!r}; it "
                         f"has {have}.")
    return module._parameters[name]


def _n_to_prune(fn, amount, n):
    """PyTorch's _compute_nparams_toprune, with its checks."""
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, (numbers.Real, np.number)):
        raise TypeError(f"{fn}: amount must be a float in [0, 1] or an int count, got "
                        f"amount={amount!r} ({type(amount).__name__}); e.g. amount=0.5.")
    if _is_int(amount):
        if not 0 <= amount <= n:
            raise ValueError(f"{fn}: amount={amount} weights to prune, but there are {n} "
                             f"(still unpruned); use an int from 0 to {n}, or a fraction such "
                             f"as amount=0.5.")
        return int(amount)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"{fn}: amount={amount} must lie in [0, 1] as a fraction of the "
                         f"weights; use e.g. amount=0.8 to prune 80 %, or an int count.")
    return round(float(amount) * n)


def _mask_smallest(scores, alive, k):
    """Zero the k entries of smallest |score| among `alive` (ties: lowest index first)."""
    mask = alive.copy()
    idx = np.flatnonzero(alive)
    if k:
        order = np.argsort(np.abs(scores[idx]), kind="stable")
        mask[idx[order[:k]]] = False
    return mask


def _apply(module, name, mask):
    p = module._parameters[name]
    setattr(module, name, PrunedParameter(p, mask))
    return module._parameters[name]


def l1_unstructured(module, name, amount):
    """Prune `amount` of ``module.<name>`` (a fraction in [0, 1] or an int count) by smallest
    absolute value, as ``torch.nn.utils.prune.l1_unstructured``; return the module.

    >>> import cnnbook as cb
    >>> lin = cb.nn.Linear(4, 2, rng=0)
    >>> _ = l1_unstructured(lin, "weight", 0.5)
    >>> int((lin.weight.data == 0).sum())
    4
    """
    fn = "l1_unstructured"
    p = _check_module(fn, module, name)
    alive = p.mask.ravel() if isinstance(p, PrunedParameter) else np.ones(p.size, bool)
    k = _n_to_prune(fn, amount, int(alive.sum()))
    mask = _mask_smallest(p.data.ravel(), alive, k)
    _apply(module, name, mask.reshape(p.shape))
    return module


def global_unstructured(parameters, amount):
    """Prune `amount` of all the weights in `parameters` (a list of ``(module, name)``) together,
    by smallest absolute value across layers, as ``torch.nn.utils.prune.global_unstructured``
    with ``pruning_method=prune.L1Unstructured``."""
    fn = "global_unstructured"
    try:
        pairs = list(parameters)
    except TypeError:
        pairs = None
    if not pairs:
        raise ValueError(f"{fn}: parameters must be a non-empty list of (module, name) pairs, "
                         f"got {parameters!r}; e.g. [(model[0], 'weight'), (model[3], "
                         f"'weight')].")
    ps = [_check_module(fn, m, n) for m, n in pairs]
    scores = np.concatenate([p.data.ravel() for p in ps])
    alive = np.concatenate([p.mask.ravel() if isinstance(p, PrunedParameter)
                            else np.ones(p.size, bool) for p in ps])
    k = _n_to_prune(fn, amount, int(alive.sum()))
    mask = _mask_smallest(scores, alive, k)
    start = 0
    for (m, n), p in zip(pairs, ps):
        _apply(m, n, mask[start:start + p.size].reshape(p.shape))
        start += p.size


def remove(module, name):
    """Make the pruning permanent: ``module.<name>`` becomes a plain Parameter holding the
    masked values (its zeros may now be trained again), as ``torch.nn.utils.prune.remove``."""
    p = _check_module("remove", module, name)
    if not isinstance(p, PrunedParameter):
        raise ValueError(f"remove: {type(module).__name__}.{name} is not pruned; call "
                         f"l1_unstructured first.")
    plain = Parameter(p.data, copy=True, requires_grad=p.requires_grad)
    plain.grad = p.grad.copy()
    setattr(module, name, plain)
    return module


def is_pruned(module) -> bool:
    """Whether any parameter of `module` (or of its sub-modules) carries a mask."""
    return any(isinstance(p, PrunedParameter) for p in module.parameters())


def sparsity(parameters) -> float:
    """The fraction of exact zeros among the entries of `parameters` (Parameters or arrays)."""
    arrays = [np.asarray(getattr(p, "data", p)) for p in parameters]
    total = sum(a.size for a in arrays)
    return float(sum(int((a == 0).sum()) for a in arrays) / total) if total else 0.0
