"""The module machinery of ``cnnbook.nn``: ``Parameter``, ``Module`` and the containers.

A layer is written as in PyTorch: ``__init__`` assigns its parts (``self.weight =
Parameter(...)``, ``self.conv1 = Conv2d(...)``, ``self.register_buffer("running_mean", ...)``),
and ``Module.__setattr__`` records them in assignment order. Everything that walks a model
(``named_parameters``, ``named_modules``, ``state_dict``, ``load_state_dict``, ``train``,
``requires_grad_``, ``to_torch``) reads that one record, so a layer declares only
``__init__``, ``forward``, ``backward`` and ``extra_repr``, and the ``state_dict`` keys are the
attribute paths. ``Sequential``, ``ModuleList`` and ``ModuleDict`` register their items under
their keys. Everything here is re-exported by ``cnnbook.nn``.

References: PyTorch ``torch/nn/modules/module.py`` (``__setattr__``, ``state_dict``,
``load_state_dict``) and ``container.py``.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ._checks import check_bool, float_input

__all__ = ["Parameter", "Module", "IncompatibleKeys", "save", "load", "Sequential",
           "ModuleList", "ModuleDict"]


def _check_dtype(fn: str, dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{fn}: dtype must be float32 or float64, got {dt}; use dtype=np.float32.")
    return dt


class Parameter:
    """A trainable array: ``data`` (the values) and ``grad`` (same shape, starts at zero).

    ``requires_grad=False`` freezes it, as in PyTorch: layers add nothing to its ``grad`` and the
    optimizers neither update nor decay it.
    """
    __slots__ = ("data", "grad", "_requires_grad")

    def __init__(self, data, copy=True, requires_grad=True):
        self.data = np.array(data, copy=True) if copy else np.asarray(data)
        self.grad = np.zeros(self.data.shape, dtype=self.data.dtype)
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"Parameter.requires_grad must be True or False, got {value!r}; use "
                            f"p.requires_grad = False to freeze a parameter.")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` and return the parameter (PyTorch's in-place form)."""
        self.requires_grad = requires_grad
        return self

    shape = property(lambda self: self.data.shape)
    size = property(lambda self: self.data.size)

    def __repr__(self):
        frozen = "" if self._requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"


def _accumulate(p, g):
    """Add ``g`` to ``p.grad`` unless p is frozen (or absent, or g was not computed)."""
    if p is not None and g is not None and p.requires_grad:
        p.grad += g


def _trainable(p) -> bool:
    return p is not None and p.requires_grad


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch: the keys it expected but did not get, and
    the keys it got but has no place for."""
    missing_keys: list
    unexpected_keys: list


class _Used:
    """The cache of a forward pass that one backward has gone through (one object, which
    copies and pickles as itself)."""

    def __reduce__(self):
        return "_USED"


_USED = _Used()


class Module:
    """Base class: parts registered by assignment; ``__call__`` runs ``forward`` and keeps the
    cache that ``backward`` uses once.

    >>> class Scale(Module):
    ...     def __init__(self, n):
    ...         super().__init__()
    ...         self.gain = Parameter(np.ones(n))
    ...         self.register_buffer("calls", np.array(0))
    ...     def forward(self, x):
    ...         self.calls = self.calls + 1
    ...         self._cache = x
    ...         return x * self.gain.data
    ...     def backward(self, dout, input_grad=True):
    ...         x = self._saved()
    ...         self.gain.grad += (dout * x).sum(axis=0)
    ...         return dout * self.gain.data
    >>> m = Scale(2)
    >>> list(m.state_dict())
    ['gain', 'calls']
    >>> _ = m.backward(m(np.ones((3, 2))))
    >>> m.gain.grad
    array([3., 3.])
    """

    def __init__(self):
        for record in ("_parameters", "_buffers", "_modules"):
            object.__setattr__(self, record, OrderedDict())
        self.training = True
        self._cache = None

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout, input_grad=True):
        """Add the parameter gradients to ``.grad`` and return dx, the gradient with respect to
        the input; ``input_grad=False`` allows a layer to skip dx and return None."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def extra_repr(self) -> str:
        return ""

    # ---- the record ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_modules" not in d:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                     f"assigning {name!r}.")
            return object.__setattr__(self, name, value)
        records = {Parameter: d["_parameters"], Module: d["_modules"]}
        for kind, record in records.items():
            if isinstance(value, kind):
                if name not in record:          # a new name; a replaced part keeps its place
                    self._forget(name)
                record[name] = value
                return
            if name in record:
                if value is not None:
                    raise TypeError(f"{type(self).__name__}: {name} is a {kind.__name__}; assign "
                                    f"a {kind.__name__} or None, not {type(value).__name__} "
                                    f"(to change the values, assign to {name}.data).")
                record[name] = None
                return
        if name in d["_buffers"]:
            d["_buffers"][name] = None if value is None else np.asarray(value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for record in ("_parameters", "_buffers", "_modules"):
            self.__dict__[record].pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for record in ("_parameters", "_buffers", "_modules"):
            if name in d.get(record, ()):
                return d[record][name]
        raise AttributeError(f"{type(self).__name__} has no attribute or layer named {name!r}")

    def __delattr__(self, name):
        self._forget(name)

    def register_buffer(self, name: str, array):
        """Record `array` (or None) as state saved in ``state_dict`` that is not trained, such
        as BatchNorm's running statistics; read and assign it as ``self.<name>``."""
        self._forget(name)
        self.__dict__["_buffers"][name] = None if array is None else np.asarray(array)

    # ---- walks ----------------------------------------------------------------------------
    def named_children(self):
        """(name, Module) pairs of the direct sub-modules, in assignment order."""
        return [(n, m) for n, m in self._modules.items() if m is not None]

    def children(self):
        """The direct sub-modules (modules only, as PyTorch; names: ``named_children``)."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "", _seen=None):
        """(dotted name, Module) pairs: this module (``""`` at the top) and all below it."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return []
        seen.add(id(self))
        out = [(prefix, self)]
        for n, m in self.named_children():
            out += m.named_modules(f"{prefix}.{n}" if prefix else n, seen)
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def _named_records(self, record):
        out, seen = [], set()
        for prefix, m in self.named_modules():
            for n, v in m.__dict__[record].items():
                if v is not None and id(v) not in seen:
                    seen.add(id(v))
                    out.append((f"{prefix}.{n}" if prefix else n, v))
        return out

    def named_parameters(self):
        """(dotted name, Parameter) pairs; a module's own first, then its children's."""
        return self._named_records("_parameters")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        return self._named_records("_buffers")

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True):
        mode = check_bool(f"{type(self).__name__}.train", "mode", mode)
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = np.zeros_like(p.data)

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (``False``) or unfreeze every parameter here and below; returns the module, so
        ``model.features.requires_grad_(False)`` freezes a feature extractor in one line."""
        flag = check_bool(f"{type(self).__name__}.requires_grad_", "requires_grad", requires_grad)
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def _has_trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def _state_entries(self):
        """(key, owning module, attribute, is_parameter): PyTorch's state_dict order."""
        out = []

        def walk(m, prefix):
            for record, is_param in (("_parameters", True), ("_buffers", False)):
                out.extend((prefix + n, m, n, is_param)
                           for n, v in m.__dict__[record].items() if v is not None)
            for n, c in m.named_children():
                walk(c, prefix + n + ".")
        walk(self, "")
        return out

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of all parameters and buffers, keyed by attribute path (the twin's keys)."""
        return OrderedDict((k, (getattr(m, a).data if p else getattr(m, a)).copy())
                           for k, m, a, p in self._state_entries())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values in from a ``state_dict`` (ours or a torch one: tensors are converted),
        cast to this model's dtype; returns ``(missing_keys, unexpected_keys)``. With
        ``strict=True`` (the default) any of either raises; a shape mismatch always raises."""
        fn = f"{type(self).__name__}.load_state_dict"
        entries = self._state_entries()
        mine = [e[0] for e in entries]
        keys = IncompatibleKeys([k for k in mine if k not in state_dict],
                                [k for k in state_dict if k not in set(mine)])
        if strict and (keys.missing_keys or keys.unexpected_keys):
            raise ValueError(f"{fn}: keys do not match: missing {keys.missing_keys}, unexpected "
                             f"{keys.unexpected_keys}. Load into the architecture that saved them, "
                             f"or pass strict=False to load only the keys both share.")
        for key, m, attr, is_param in entries:
            if key not in state_dict:
                continue
            new = state_dict[key]
            new = np.asarray(new.detach().cpu().numpy() if hasattr(new, "detach") else new)
            old = getattr(m, attr).data if is_param else getattr(m, attr)
            if new.shape != old.shape:
                raise ValueError(f"{fn}: {key} has shape {tuple(old.shape)} here but "
                                 f"{tuple(new.shape)} in the state_dict; the architectures differ. "
                                 f"For a new head, load into a model built like the saved one and "
                                 f"replace the head afterwards (model[-1] = ... or model.fc = ...).")
            new = new.astype(old.dtype, copy=True)
            if is_param:
                p = getattr(m, attr)
                p.data = new
                if p.grad.dtype != new.dtype:
                    p.grad = np.zeros_like(new)
            else:
                setattr(m, attr, new)
        return keys

    def astype(self, dtype):
        """Cast parameters, gradients and floating buffers to float32 or float64 (in place)."""
        dt = _check_dtype(f"{type(self).__name__}.astype", dtype)
        for p in self.parameters():
            p.data, p.grad = p.data.astype(dt), p.grad.astype(dt)
        for m in self.modules():
            for n, v in m._buffers.items():
                if v is not None and v.dtype.kind == "f":
                    m._buffers[n] = v.astype(dt)
        return self

    def to_torch(self, device: str = "cpu"):
        """The PyTorch twin (``cnnbook.twin.to_torch``): same layers, weights, dtype, modes and
        ``requires_grad``."""
        from .twin import to_torch
        return to_torch(self, device)

    # ---- forward and backward -------------------------------------------------------------
    def __call__(self, x, *args, **kwargs):
        x = float_input(type(self).__name__, "x", x)   # float32/float64 only, as in PyTorch
        return self.forward(x, *args, **kwargs)

    def _saved(self):
        """The cache of the last forward pass, handed out once."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no forward pass to go back "
                               f"through; call the layer on an input first.")
        if cache is _USED:
            raise RuntimeError(f"{type(self).__name__}.backward: trying to backward through the "
                               f"same forward pass a second time (the first backward already "
                               f"added its gradients); call the layer again before each backward.")
        self._cache = _USED
        return cache

    def __repr__(self):
        kids, extra = self.named_children(), self.extra_repr()
        if not kids:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}(" + (extra if extra else "")]
        lines += ["  (" + n + "): " + repr(c).replace("\n", "\n  ") for n, c in kids]
        return "\n".join(lines) + "\n)"


def save(state_dict, path):
    """Write a ``state_dict`` (name -> array) to a ``.npz`` file, as ``torch.save`` writes one.

    The names are the file's array names, in order; torch tensors are converted to NumPy. Read it
    back with :func:`load` and ``model.load_state_dict(...)``."""
    fn = "save"
    if not hasattr(state_dict, "items"):
        raise TypeError(f"{fn}: expected a state_dict (a mapping of names to arrays), got "
                        f"{type(state_dict).__name__}; pass model.state_dict(), not the model.")
    if not isinstance(path, str) and not hasattr(path, "__fspath__") and not hasattr(path, "write"):
        raise TypeError(f"{fn}: path must be a file name or an open binary file, got "
                        f"{type(path).__name__}; use e.g. save(model.state_dict(), 'model.npz').")
    arrays = OrderedDict()
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"{fn}: state_dict keys must be strings, got {k!r}.")
        v = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        if v.dtype == object:
            raise TypeError(f"{fn}: {k} is not a numeric array (dtype object); a state_dict "
                            f"holds only parameters and buffers.")
        arrays[k] = v
    if not hasattr(path, "write") and not str(os.fspath(path)).endswith(".npz"):
        raise ValueError(f"{fn}: path {str(path)!r} must end in .npz (NumPy would append the "
                         f"suffix and load(path) would not find the file); use 'model.npz'.")
    np.savez(path, **arrays)


def load(path) -> "OrderedDict[str, np.ndarray]":
    """Read a ``.npz`` file written by :func:`save` into an ``OrderedDict`` (the saved order),
    for ``model.load_state_dict(load(path))``. Pickled objects are refused (``allow_pickle=False``):
    a weights file runs no code."""
    f = np.load(path, allow_pickle=False)
    if not hasattr(f, "files"):
        raise ValueError(f"load: {path!r} holds a single array of shape {np.shape(f)}, not a "
                         f"state_dict; save one with cnnbook.nn.save(model.state_dict(), 'x.npz').")
    with f:
        return OrderedDict((k, f[k]) for k in f.files)


# ------------------------------------------------------------------------------- containers
def _check_module(fn, what, m):
    if not isinstance(m, Module):
        raise TypeError(f"{fn}: {what} is a {type(m).__name__}, not a cnnbook.nn Module; wrap "
                        f"functions in a layer class such as cnnbook.nn.ReLU().")
    return m


class Sequential(Module):
    """Layers applied in order, named ``0, 1, ...`` or from an ``OrderedDict``; backward goes
    through them in reverse. Indexing and slicing work as on a list (a slice shares the layers),
    and named layers read and assign as attributes (``model.fc = Linear(512, 5)``)."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], dict):
            named = [(str(n), m) for n, m in layers[0].items()]
        else:
            named = [(str(i), m) for i, m in enumerate(layers)]
        for n, m in named:
            setattr(self, n, _check_module("Sequential", f"layer {n}", m))

    layers = property(lambda self: list(self._modules.values()), doc="The layers, in order.")
    _names = property(lambda self: list(self._modules))

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def backward(self, dout, input_grad=True):
        """Back through the layers in reverse. ``input_grad`` is passed to the first layer only;
        with ``input_grad=False`` the pass also stops above the frozen layers that lie below
        every trainable one, as autograd stops where no leaf needs a gradient."""
        layers, first = self.layers, 0
        if not input_grad:
            n = len(layers)
            lowest = next((i for i, m in enumerate(layers) if m._has_trainable()), n)
            first = 1 + max((i for i in range(lowest) if layers[i].parameters()), default=-1)
            if first == n:
                return None
        for i in range(len(layers) - 1, first - 1, -1):
            dout = layers[i].backward(dout, input_grad if i == first else True)
        return dout

    def _key(self, fn, i):
        keys = list(self._modules)
        if isinstance(i, str):
            if i not in self._modules:
                raise KeyError(f"{fn}: no layer named {i!r}; the layers are {keys}.")
            return i
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"{fn}: the index must be an int or a layer name, got "
                            f"{type(i).__name__}.")
        if not -len(keys) <= i < len(keys):
            raise IndexError(f"{fn}: index {i} is out of range for {len(keys)} layers; use -1 "
                             f"for the last layer.")
        return keys[i]

    def __getitem__(self, i):
        if isinstance(i, slice):
            s = Sequential(OrderedDict(list(self._modules.items())[i]))
            s.training = self.training
            return s
        return self._modules[self._key("Sequential.__getitem__", i)]

    def __setitem__(self, i, layer):
        """Replace one layer (``model[-1] = Linear(84, 5)``, ``model["fc"] = ...``) in place."""
        fn = "Sequential.__setitem__"
        setattr(self, self._key(fn, i), _check_module(fn, "the new layer", layer))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self.layers)

    def append(self, layer, name=None):
        """Add a layer at the end, named ``str(len(self))`` or `name`."""
        name = str(len(self)) if name is None else str(name)
        if name in self._modules:
            raise ValueError(f"Sequential.append: the name {name!r} is taken ({self._names}); "
                             f"pass a new name=....")
        setattr(self, name, _check_module("Sequential.append", "the layer", layer))
        return self


class ModuleList(Module):
    """A list of modules, registered as ``0, 1, ...`` (no forward: the owner decides the order)."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, m):
        setattr(self, str(len(self)), _check_module("ModuleList.append", "the item", m))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i, m):
        setattr(self, list(self._modules)[i], _check_module("ModuleList", "the item", m))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))


class ModuleDict(Module):
    """A dict of modules, registered under their keys in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        self.update(modules or {})

    def update(self, modules):
        for k, m in dict(modules).items():
            self[k] = m

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, m):
        setattr(self, str(key), _check_module("ModuleDict", f"item {key!r}", m))

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules))

    def keys(self):
        return list(self._modules)

    def values(self):
        return list(self._modules.values())

    def items(self):
        return list(self._modules.items())
