"""Layer classes over the function pairs of ``cnnbook.functional``, and LeNet-5.

A layer keeps its parameters and the cache of its last forward pass; ``backward(dout)`` feeds
that cache to the matching ``*_backward`` function, returns ``dx`` and *adds* the parameter
gradients to ``Parameter.grad`` (as PyTorch's autograd does). ``backward(dout, input_grad=False)``
returns None instead of dx where that saves work (Conv2d, Linear): the first layer of a network
being trained needs no gradient with respect to the images, and PyTorch skips it too. Parameter names, shapes, the
default initialisation and ``state_dict`` keys are PyTorch's, so that ``model.to_torch()``
builds the twin ``torch.nn.Sequential`` with the same weights and whole models can be compared.

Freezing and fine-tuning follow PyTorch: ``Parameter.requires_grad`` (True by default) and
``model.requires_grad_(False)``. A frozen parameter's ``.grad`` is never added to (it stays zero)
and the optimizers leave it alone; the gradient still flows *through* a frozen layer to the
trainable layers before it. ``Sequential.backward(dout, input_grad=False)`` stops at the first
layer that has a trainable parameter, as autograd stops where no leaf needs a gradient, so
training a new head on frozen features costs one backward step through the head. A head is
replaced by assignment (``model[-1] = Linear(84, 5)``, ``model.fc = Linear(512, 5)``), and
``save(model.state_dict(), path)`` / ``load(path)`` keep weights in a ``.npz`` file.

References:
- PyTorch ``torch/nn/modules`` (``conv.py``, ``linear.py``: ``reset_parameters``, kaiming-uniform
  with a = sqrt(5), which gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
- LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition",
  Proc. IEEE 1998 (LeNet-5); Zhang et al., Dive into Deep Learning, §7.6 (the modern variant).
- He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016 (Residual);
  Szegedy et al., "Going deeper with convolutions", CVPR 2015 (Concat: the Inception module);
  Krizhevsky, Sutskever & Hinton, NeurIPS 2012 (LocalResponseNorm).
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict

import numpy as np

from . import functional as F
from ._checks import check_channels, check_dout, check_positive_int, make_rng, pair, pair_nonneg

__all__ = [
    "Parameter", "Module", "save", "load", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Tanh", "Sigmoid",
    "Linear", "Flatten", "Dropout", "BatchNorm2d", "Sequential", "LeNet5", "torch_twin",
    "Identity", "AdaptiveAvgPool2d", "LocalResponseNorm", "Residual", "Concat",
]


def _check_dtype(fn: str, dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{fn}: dtype must be float32 or float64, got {dt}; use dtype=np.float32.")
    return dt


def _check_init(fn: str, init) -> str:
    if init not in ("uniform", "zeros"):
        raise ValueError(f"{fn}: init must be 'uniform' (PyTorch's default, U(-1/sqrt(fan_in), "
                         f"1/sqrt(fan_in))) or 'zeros' (to be filled by the caller), got {init!r}.")
    return init


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
            raise TypeError(f"Parameter.requires_grad must be True or False, got "
                            f"{type(value).__name__} {value!r}; use p.requires_grad = False to "
                            f"freeze a parameter.")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` and return the parameter (PyTorch's in-place form)."""
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self):
        return self.data.shape

    @property
    def size(self):
        return self.data.size

    def __repr__(self):
        frozen = "" if self._requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"


def _accumulate(p, g):
    """Add ``g`` to ``p.grad`` unless p is frozen (or absent, or g was not computed)."""
    if p is not None and g is not None and p.requires_grad:
        p.grad += g


def _trainable(p) -> bool:
    return p is not None and p.requires_grad


class Module:
    """Base class: ``__call__`` runs ``forward`` and keeps the cache; ``backward`` uses it."""

    def __init__(self):
        self.training = True
        self._cache = None

    # ---- to override ----------------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout, input_grad=True):
        """Add the parameter gradients to ``.grad`` and return dx, the gradient with respect to
        the input; ``input_grad=False`` allows a layer to skip dx and return None."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def _own_parameters(self):
        """(name, Parameter) pairs of this module itself, in PyTorch's order."""
        return []

    def _own_buffers(self):
        """(name, attribute) pairs of non-trainable state saved in ``state_dict``."""
        return []

    def children(self):
        """(name, Module) pairs of sub-modules."""
        return []

    def extra_repr(self) -> str:
        return ""

    def _torch_module(self):
        raise NotImplementedError(f"{type(self).__name__} has no PyTorch twin")

    # ---- shared machinery -------------------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no forward pass to go back "
                               f"through; call the layer on an input first.")
        return self._cache

    def named_parameters(self, prefix: str = ""):
        out = [(prefix + n, p) for n, p in self._own_parameters()]
        for cn, child in self.children():
            out += child.named_parameters(prefix + cn + ".")
        return out

    def named_modules(self, prefix: str = ""):
        """(dotted name, Module) pairs: this module ("" at the top) and all below it, in order."""
        out = [(prefix, self)]
        for cn, child in self.children():
            out += child.named_modules(prefix + ("." if prefix else "") + cn)
        return out

    def parameters(self):
        """All Parameter objects, this module's first, then its children's, in order."""
        return [p for _, p in self.named_parameters()]

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (``False``) or unfreeze (``True``) every parameter of this module and of the
        modules below it; returns the module, as PyTorch's ``Module.requires_grad_``, so
        ``model.features.requires_grad_(False)`` freezes a feature extractor in one line."""
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.requires_grad_: requires_grad must be True or "
                            f"False, got {type(requires_grad).__name__} {requires_grad!r}; use "
                            f"requires_grad_(False) to freeze.")
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def _has_trainable(self) -> bool:
        """Whether any parameter here or below has ``requires_grad=True``."""
        return any(p.requires_grad for p in self.parameters())

    def zero_grad(self):
        for p in self.parameters():
            p.grad = np.zeros_like(p.data)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def _named_state(self, prefix=""):
        out = [(prefix + n, p, "param") for n, p in self._own_parameters()]
        out += [(prefix + n, a, "buffer") for n, a in self._own_buffers()]
        for cn, child in self.children():
            out += child._named_state(prefix + cn + ".")
        return out

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of all parameters and buffers, keyed as in the PyTorch twin."""
        sd = OrderedDict()
        for name, v, kind in self._named_state():
            sd[name] = (v.data if kind == "param" else getattr(self._owner(name), v)).copy()
        return sd

    def _owner(self, dotted: str):
        mod = self
        for part in dotted.split(".")[:-1]:
            mod = dict(mod.children())[part]
        return mod

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values in from a ``state_dict`` (ours or a torch one: tensors are converted).

        Keys and shapes must match; the values are copied (the caller's arrays are not shared)
        and cast to this model's dtype.
        """
        fn = f"{type(self).__name__}.load_state_dict"
        entries = self._named_state()
        mine = {n for n, _, _ in entries}
        theirs = set(state_dict)
        missing, unexpected = sorted(mine - theirs), sorted(theirs - mine)
        if strict and (missing or unexpected):
            raise ValueError(f"{fn}: keys do not match: missing {missing}, unexpected "
                             f"{unexpected}; expected keys {sorted(mine)}. Load into the "
                             f"architecture that saved them, or pass strict=False to load only "
                             f"the keys both share.")
        for name, v, kind in entries:
            if name not in state_dict:
                continue
            new = state_dict[name]
            if hasattr(new, "detach"):
                new = new.detach().cpu().numpy()
            new = np.asarray(new)
            old = v.data if kind == "param" else getattr(self._owner(name), v)
            if new.shape != old.shape:
                raise ValueError(f"{fn}: {name} has shape {tuple(old.shape)} here but "
                                 f"{tuple(new.shape)} in the state_dict; the architectures "
                                 f"differ. For a new head, load into a model built like the "
                                 f"saved one and replace the head afterwards (model[-1] = ... "
                                 f"or model.fc = ...).")
            new = new.astype(old.dtype, copy=True)
            if kind == "param":
                v.data = new
                if v.grad.dtype != new.dtype:
                    v.grad = np.zeros_like(new)
            else:
                setattr(self._owner(name), v, new)
        return self

    def astype(self, dtype):
        """Cast parameters, gradients and floating buffers to float32 or float64 (in place)."""
        dt = _check_dtype(f"{type(self).__name__}.astype", dtype)
        for p in self.parameters():
            p.data = p.data.astype(dt)
            p.grad = p.grad.astype(dt)
        self._cast_buffers(dt)
        return self

    def _cast_buffers(self, dt):
        for _, attr in self._own_buffers():
            v = getattr(self, attr)
            if v.dtype.kind == "f":
                setattr(self, attr, v.astype(dt))
        for _, child in self.children():
            child._cast_buffers(dt)

    def to_torch(self, device: str = "cpu"):
        """The PyTorch twin: same layers, same weights, same dtype, same train/eval mode."""
        import torch
        twin = self._torch_module()
        dtype = None
        for p in self.parameters():
            dtype = p.data.dtype
            break
        if dtype is not None:
            twin = twin.to(torch.float64 if dtype == np.float64 else torch.float32)
        ours = self.state_dict()
        keys = list(twin.state_dict())
        if keys != list(ours):
            # a block that renames its children (torchvision's conv1, bn1, ..., downsample over
            # Residual's body and shortcut) keeps their order: copy by position
            shapes = [tuple(v.shape) for v in twin.state_dict().values()]
            if shapes != [tuple(v.shape) for v in ours.values()]:
                raise ValueError(f"{type(self).__name__}.to_torch: the twin's state_dict does not "
                                 f"line up with this model's ({len(keys)} vs {len(ours)} entries).")
            ours = OrderedDict(zip(keys, ours.values()))
        twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                              for k, v in ours.items()})
        twin.train(self.training)
        return twin.to(device)

    def __repr__(self):
        kids = self.children()
        if not kids:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for n, c in kids:
            lines.append("  (" + n + "): " + repr(c).replace("\n", "\n  "))
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
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        v = np.asarray(v)
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


def torch_twin(model: Module, device: str = "cpu"):
    """``model.to_torch(device)``: the equivalent ``torch.nn`` module with the weights copied."""
    return model.to_torch(device)


# ------------------------------------------------------------------------------- layers
class Conv2d(Module):
    """2-D convolution (cross-correlation, as PyTorch), weight ``(C_out, C_in/groups, KH, KW)``.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2*padding - dilation*(KH - 1) - 1) / stride) + 1``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, rng=None, dtype=np.float32, *, init="uniform"):
        super().__init__()
        fn = "Conv2d"
        self.in_channels = check_positive_int(fn, "in_channels", in_channels)
        self.out_channels = check_positive_int(fn, "out_channels", out_channels)
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = pair(fn, "stride", stride)
        self.padding = pair_nonneg(fn, "padding", padding)
        self.dilation = pair(fn, "dilation", dilation)
        check_channels(fn, self.in_channels, self.in_channels // max(int(groups), 1)
                       if isinstance(groups, (int, np.integer)) else 0, groups, self.out_channels)
        self.groups = int(groups)
        dt = _check_dtype(fn, dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        if _check_init(fn, init) == "zeros":          # the caller fills the weights
            self.weight = Parameter(np.zeros(shape, dtype=dt), copy=False)
            self.bias = Parameter(np.zeros(self.out_channels, dtype=dt), copy=False) if bias else None
            return
        g = make_rng(fn, rng)
        fan_in = self.in_channels // self.groups * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = Parameter(g.uniform(-bound, bound, shape).astype(dt))
        self.bias = Parameter(g.uniform(-bound, bound, self.out_channels).astype(dt)) if bias else None

    def _own_parameters(self):
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.conv2d_forward(x, self.weight.data, b, self.stride, self.padding,
                                               self.dilation, self.groups)
        return out

    def backward(self, dout, input_grad=True):
        cache = self._saved()
        if not input_grad and not (_trainable(self.weight) or _trainable(self.bias)):
            return None                      # frozen and nothing below needs dx: no work at all
        dx, dw, db = F.conv2d_backward(dout, cache, need_dx=bool(input_grad))
        _accumulate(self.weight, dw)         # a frozen parameter keeps its zero gradient
        _accumulate(self.bias, db)
        return dx

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")

    def _torch_module(self):
        import torch
        return torch.nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                               self.padding, self.dilation, self.groups, self.bias is not None)


class Linear(Module):
    """Fully connected layer ``x @ weight.T + bias``; weight ``(out_features, in_features)``."""

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32, *,
                 init="uniform"):
        super().__init__()
        fn = "Linear"
        self.in_features = check_positive_int(fn, "in_features", in_features)
        self.out_features = check_positive_int(fn, "out_features", out_features)
        dt = _check_dtype(fn, dtype)
        if _check_init(fn, init) == "zeros":          # the caller fills the weights
            self.weight = Parameter(np.zeros((self.out_features, self.in_features), dtype=dt),
                                    copy=False)
            self.bias = Parameter(np.zeros(self.out_features, dtype=dt), copy=False) if bias else None
            return
        g = make_rng(fn, rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(g.uniform(-bound, bound, (self.out_features, self.in_features)).astype(dt))
        self.bias = Parameter(g.uniform(-bound, bound, self.out_features).astype(dt)) if bias else None

    def _own_parameters(self):
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None else [])

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.linear_forward(x, self.weight.data, b)
        return out

    def backward(self, dout, input_grad=True):
        cache = self._saved()
        trains_bias = _trainable(self.bias)
        if not input_grad and not (_trainable(self.weight) or trains_bias):
            return None
        if self.weight.requires_grad:
            dx, dw, db = F.linear_backward(dout, cache)
        else:                                # frozen weight: skip dw = dout.T @ x
            x, w, has_bias = cache
            dout = check_dout("linear_backward", dout,
                              x.shape[:-1] + (w.shape[0],), x.dtype)
            dx, dw = dout @ w, None                   # (*, in_features)
            db = dout.reshape(-1, w.shape[0]).sum(axis=0) if trains_bias else None
        _accumulate(self.weight, dw)
        _accumulate(self.bias, db)
        return dx if input_grad else None

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + ("" if self.bias is not None else ", bias=False"))

    def _torch_module(self):
        import torch
        return torch.nn.Linear(self.in_features, self.out_features, self.bias is not None)


class MaxPool2d(Module):
    """Max pooling; ``stride=None`` means ``kernel_size``; pads with -inf."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        fn = "MaxPool2d"
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair(fn, "stride", stride)
        self.padding = pair_nonneg(fn, "padding", padding)
        self.dilation = pair(fn, "dilation", dilation)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        out, self._cache = F.max_pool2d_forward(
            x, self.kernel_size, stride=self.stride, padding=self.padding,
            dilation=self.dilation, ceil_mode=self.ceil_mode)
        return out

    def backward(self, dout, input_grad=True):
        return F.max_pool2d_backward(dout, self._saved())

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def _torch_module(self):
        import torch
        return torch.nn.MaxPool2d(self.kernel_size, self.stride, self.padding, self.dilation,
                                  ceil_mode=self.ceil_mode)


class AvgPool2d(Module):
    """Average pooling; ``stride=None`` means ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        fn = "AvgPool2d"
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair(fn, "stride", stride)
        self.padding = pair_nonneg(fn, "padding", padding)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        out, self._cache = F.avg_pool2d_forward(
            x, self.kernel_size, stride=self.stride, padding=self.padding,
            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)
        return out

    def backward(self, dout, input_grad=True):
        return F.avg_pool2d_backward(dout, self._saved())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _torch_module(self):
        import torch
        return torch.nn.AvgPool2d(self.kernel_size, self.stride, self.padding,
                                  ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)


class _Elementwise(Module):
    """An activation: forward/backward are ``F.<name>_forward`` / ``F.<name>_backward``."""
    _name = ""
    _torch_name = ""

    def forward(self, x):
        out, self._cache = getattr(F, self._name + "_forward")(x)
        return out

    def backward(self, dout, input_grad=True):
        return getattr(F, self._name + "_backward")(dout, self._saved())

    def _torch_module(self):
        import torch
        return getattr(torch.nn, self._torch_name)()


class ReLU(_Elementwise):
    """``max(x, 0)``; its gradient at 0 is taken as 0, as in PyTorch."""
    _name, _torch_name = "relu", "ReLU"


class Tanh(_Elementwise):
    _name, _torch_name = "tanh", "Tanh"


class Sigmoid(_Elementwise):
    _name, _torch_name = "sigmoid", "Sigmoid"


class Flatten(Module):
    """Collapse dimensions ``start_dim`` .. last into one: ``(N, C, H, W) -> (N, C*H*W)``."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x):
        out, self._cache = F.flatten_forward(x, start_dim=self.start_dim)
        return out

    def backward(self, dout, input_grad=True):
        return F.flatten_backward(dout, self._saved())

    def extra_repr(self):
        return f"start_dim={self.start_dim}"

    def _torch_module(self):
        import torch
        return torch.nn.Flatten(self.start_dim)


class Dropout(Module):
    """Inverted dropout: in training zero each value with probability p and scale the rest by
    1/(1-p); identity in eval mode. The mask comes from this layer's own seeded generator."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not isinstance(p, (int, float, np.floating)) or isinstance(p, bool) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the probability of zeroing a value and must lie in "
                             f"[0, 1), got p={p!r}; use e.g. p=0.5.")
        self.p = float(p)
        self.rng = make_rng("Dropout", rng)

    def forward(self, x):
        out, self._cache = F.dropout_forward(x, self.p, self.training, self.rng)
        return out

    def backward(self, dout, input_grad=True):
        return F.dropout_backward(dout, self._saved())

    def extra_repr(self):
        return f"p={self.p}"

    def _torch_module(self):
        import torch
        return torch.nn.Dropout(self.p)


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel, with running statistics for eval mode.

    Parameters ``weight`` (gamma, ones) and ``bias`` (beta, zeros); buffers ``running_mean``,
    ``running_var`` and ``num_batches_tracked``, as in PyTorch's state_dict.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        fn = "BatchNorm2d"
        self.num_features = check_positive_int(fn, "num_features", num_features)
        dt = _check_dtype(fn, dtype)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=dt))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dt))
        self.running_mean = np.zeros(self.num_features, dtype=dt)
        self.running_var = np.ones(self.num_features, dtype=dt)
        self.num_batches_tracked = np.array(0, dtype=np.int64)

    def _own_parameters(self):
        return [("weight", self.weight), ("bias", self.bias)]

    def _own_buffers(self):
        return [("running_mean", "running_mean"), ("running_var", "running_var"),
                ("num_batches_tracked", "num_batches_tracked")]

    def forward(self, x):
        out, cache = F.batch_norm2d_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            self.training, self.momentum, self.eps)
        self._cache = cache
        if self.training:
            self.running_mean = np.asarray(cache.running_mean)
            self.running_var = np.asarray(cache.running_var)
            self.num_batches_tracked = self.num_batches_tracked + 1
        return out

    def backward(self, dout, input_grad=True):
        dx, dgamma, dbeta = F.batch_norm2d_backward(dout, self._saved())
        _accumulate(self.weight, dgamma)
        _accumulate(self.bias, dbeta)
        return dx

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def _torch_module(self):
        import torch
        return torch.nn.BatchNorm2d(self.num_features, eps=self.eps, momentum=self.momentum)


class Sequential(Module):
    """Layers applied in order; backward goes through them in reverse. Indexing and slicing
    work as on a list (a slice shares the layers)."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (dict, OrderedDict)):
            # Sequential(OrderedDict(conv1=..., bn1=...)) names the layers, as in PyTorch
            names, layers = [str(n) for n in layers[0]], tuple(layers[0].values())
        else:
            names = None
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a cnnbook.nn "
                                f"Module; wrap functions in a layer class such as cnnbook.nn.ReLU().")
        self.layers = list(layers)
        self._names = names

    def children(self):
        if self._names is not None:
            return list(zip(self._names, self.layers))
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout, input_grad=True):
        """Back through the layers in reverse order. Every layer but the first must hand its dx
        on; ``input_grad`` is passed to the first layer only, so ``input_grad=False`` skips the
        gradient with respect to the model's input (the return value is then None or, when the
        first layer cannot skip it cheaply, dx). With ``input_grad=False`` the pass also stops
        above the frozen layers (``requires_grad=False``) that lie below every trainable one:
        nothing there needs a gradient."""
        first = 0
        if not input_grad:
            # no layer under the lowest trainable one needs a gradient; stop above the frozen
            # layers there, as autograd stops where no leaf needs one (a new head on frozen
            # features costs one backward step through the head)
            n = len(self.layers)
            lowest = next((i for i, layer in enumerate(self.layers) if layer._has_trainable()), n)
            first = 1 + max((i for i in range(lowest) if self.layers[i].parameters()), default=-1)
            if first == n:
                return None
        for i in range(len(self.layers) - 1, first - 1, -1):
            dout = self.layers[i].backward(dout, input_grad if i == first else True)
        return dout

    def __setattr__(self, name, value):
        # model.fc = Linear(512, 5) replaces the named layer, as in PyTorch
        names = self.__dict__.get("_names")
        if names is not None and name in names:
            self[name] = value
        else:
            object.__setattr__(self, name, value)

    def __setitem__(self, i, layer):
        """Replace one layer: ``model[-1] = Linear(84, 5)`` or ``model["fc"] = ...``; the new
        layer's parameters take the old one's place in ``parameters()`` and ``state_dict()``."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.__setitem__: expected a cnnbook.nn Module, got "
                            f"{type(layer).__name__}; e.g. model[-1] = cnnbook.nn.Linear(84, 5).")
        if isinstance(i, str):
            if self._names is None or i not in self._names:
                raise KeyError(f"Sequential.__setitem__: no layer named {i!r}; the layers are "
                               f"{[n for n, _ in self.children()]}.")
            i = self._names.index(i)
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"Sequential.__setitem__: the index must be an int or a layer name, got "
                            f"{type(i).__name__}.")
        n = len(self.layers)
        if not -n <= i < n:
            raise IndexError(f"Sequential.__setitem__: index {i} is out of range for {n} layers; "
                             f"use -1 for the last layer.")
        self.layers[i] = layer

    def __getattr__(self, name):
        # named layers read as attributes, as in PyTorch: model.features, model.layer1
        names = self.__dict__.get("_names")
        if names is not None and name in names:
            return self.__dict__["layers"][names.index(name)]
        raise AttributeError(f"{type(self).__name__} has no attribute or layer named {name!r}")

    def __getitem__(self, i):
        if isinstance(i, str):
            return getattr(self, i)
        if isinstance(i, slice):
            s = Sequential(*self.layers[i])
            s.training = self.training
            return s
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def append(self, layer, name=None):
        """Add a layer at the end (``name`` for a Sequential built from named layers)."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.append: expected a cnnbook.nn Module, got "
                            f"{type(layer).__name__}.")
        if self._names is not None:
            if name is None or str(name) in self._names:
                raise ValueError(f"Sequential.append: this Sequential names its layers; pass a new "
                                 f"name=..., not {name!r} (taken: {self._names}).")
            self._names.append(str(name))
        self.layers.append(layer)
        return self

    def _torch_module(self):
        import torch
        return torch.nn.Sequential(OrderedDict((n, m._torch_module()) for n, m in self.children()))


class Identity(Module):
    """Returns its input unchanged; backward returns dout. A placeholder where a network has
    nothing to do (an identity shortcut, a removed head), as ``torch.nn.Identity``."""

    def forward(self, x):
        self._cache = True
        return x

    def backward(self, dout, input_grad=True):
        self._saved()
        return dout

    def _torch_module(self):
        import torch
        return torch.nn.Identity()


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` whatever the input size (PyTorch's bins), so a
    classifier head sees the same shape for 224x224 and for larger images."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = pair("AdaptiveAvgPool2d", "output_size", output_size)

    def forward(self, x):
        out, self._cache = F.adaptive_avg_pool2d_forward(x, self.output_size)
        return out

    def backward(self, dout, input_grad=True):
        return F.adaptive_avg_pool2d_backward(dout, self._saved())

    def extra_repr(self):
        return f"output_size={self.output_size}"

    def _torch_module(self):
        import torch
        return torch.nn.AdaptiveAvgPool2d(self.output_size)


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet, section 3.3), PyTorch's form:
    ``x / (k + alpha/size * sum of x^2 over size neighbouring channels)**beta``."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = check_positive_int("LocalResponseNorm", "size", size)
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def forward(self, x):
        out, self._cache = F.local_response_norm_forward(x, self.size, self.alpha, self.beta,
                                                            self.k)
        return out

    def backward(self, dout, input_grad=True):
        return F.local_response_norm_backward(dout, self._saved())

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def _torch_module(self):
        import torch
        return torch.nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


def _torch_branching():
    """The PyTorch twins of Residual and Concat (torch has no such modules)."""
    import torch

    class _Renamable(torch.nn.Module):
        def adopt(self, named):
            """Register ``named`` (name, torch module) pairs as this module's children instead of
            the structural ones, which forward keeps using unregistered: the state_dict keys
            then follow the cnnbook module's ``children()`` (torchvision's conv1, bn1, ...,
            downsample for a ResNet block)."""
            structural = dict(self._modules)
            self._modules.clear()
            for k, m in structural.items():
                object.__setattr__(self, k, m)
            for n, m in named:
                self.add_module(n, m)
            return self

    class TorchResidual(_Renamable):
        def __init__(self, body, shortcut, activation):
            super().__init__()
            self.body, self.shortcut, self.activation = body, shortcut, activation

        def forward(self, x):
            out = self.body(x) + (x if self.shortcut is None else self.shortcut(x))
            return out if self.activation is None else self.activation(out)

    class TorchConcat(_Renamable):
        def __init__(self, branches):
            super().__init__()
            object.__setattr__(self, "branch_list", [b for _, b in branches])
            for n, b in branches:
                self.add_module(n, b)

        def forward(self, x):
            return torch.cat([b(x) for b in self.branch_list], dim=1)

    return TorchResidual, TorchConcat


def _twin_named_like(module, twin, parts):
    """Give `twin` (a TorchResidual or TorchConcat) the child names of `module.children()`.

    ``parts`` pairs each structural cnnbook part (body, shortcut, a branch) with its torch twin;
    a child of `module` is either one of those parts or a child of one (a subclass such as
    ``models.BasicBlock`` lists its body's layers as its own)."""
    named = []
    for name, child in module.children():
        found = None
        for ours, theirs in parts:
            if child is ours:
                found = theirs
                break
            if isinstance(ours, Module):
                for cn, c in ours.children():
                    if c is child:
                        found = getattr(theirs, cn) if hasattr(theirs, cn) else theirs._modules[cn]
                        break
            if found is not None:
                break
        if found is None:
            raise ValueError(f"{type(module).__name__}.to_torch: child {name!r} is neither a part "
                             f"of the block nor a layer of one; override _torch_module.")
        named.append((name, found))
    if [n for n, _ in named] == list(twin._modules):
        return twin
    return twin.adopt(named)


class Residual(Module):
    """A residual connection: ``out = activation(body(x) + shortcut(x))`` (He et al. 2016).

    ``shortcut=None`` is the identity; pass e.g. a 1x1 convolution with stride where the body
    changes the shape. The input x feeds two paths, so its gradient is the *sum* of the two:
    ``dx = body.backward(d) + shortcut.backward(d)`` with ``d`` the gradient after the activation;
    the identity path hands ``d`` to x unchanged, whatever the body does to it.

    Children are ``body``, ``shortcut`` and ``activation`` (those that exist); a network that
    wants other names (torchvision's ``conv1, bn1, ..., downsample``) subclasses and overrides
    ``children``, as ``cnnbook.models`` does.
    """

    def __init__(self, body, shortcut=None, activation=None):
        super().__init__()
        for name, m in (("body", body), ("shortcut", shortcut), ("activation", activation)):
            if m is not None and not isinstance(m, Module):
                raise TypeError(f"Residual: {name} must be a cnnbook.nn Module or None, got "
                                f"{type(m).__name__}.")
        if body is None:
            raise TypeError("Residual: body is required; pass the residual branch as a Module, "
                            "e.g. Sequential(Conv2d(...), BatchNorm2d(...), ReLU(), ...).")
        self.body, self.shortcut, self.activation = body, shortcut, activation

    def children(self):
        return [(n, m) for n, m in (("body", self.body), ("shortcut", self.shortcut),
                                    ("activation", self.activation)) if m is not None]

    def train(self, mode: bool = True):
        self.training = bool(mode)
        for m in (self.body, self.shortcut, self.activation):
            if m is not None:
                m.train(mode)
        return self

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if np.shape(y) != np.shape(s):
            raise ValueError(f"Residual: the body gives shape {tuple(np.shape(y))} but the "
                             f"shortcut gives {tuple(np.shape(s))}; they must match to be added. "
                             f"Give the shortcut a 1x1 Conv2d with the body's stride and channels.")
        out = y + s
        self._cache = True
        return out if self.activation is None else self.activation(out)

    def backward(self, dout, input_grad=True):
        self._saved()
        d = dout if self.activation is None else self.activation.backward(dout)
        dx = self.body.backward(d)                            # the residual path ...
        ds = d if self.shortcut is None else self.shortcut.backward(d)   # ... and the shortcut:
        return dx + ds                                        # a fork's gradients add up

    def _torch_module(self):
        TorchResidual, _ = _torch_branching()
        parts = [(m, None if m is None else m._torch_module())
                 for m in (self.body, self.shortcut, self.activation)]
        twin = TorchResidual(*(t for _, t in parts))
        return _twin_named_like(self, twin, [(m, t) for m, t in parts if m is not None])


class Concat(Module):
    """Parallel branches on the same input, outputs concatenated on channels (an Inception
    module; DenseNet's ``cat([x, layer(x)])`` is ``Concat(Identity(), layer)``).

    ``Concat(b1, b2, ...)`` or ``Concat(OrderedDict(branch1=b1, ...))``. Shape: every branch must
    keep N, H and W; out ``(N, C_1 + C_2 + ..., H, W)``. Backward gives each branch its slice of
    dout and *adds* the branches' input gradients: x fed all of them.
    """

    def __init__(self, *branches):
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], (dict, OrderedDict)):
            names, branches = [str(n) for n in branches[0]], tuple(branches[0].values())
        else:
            names = [str(i) for i in range(len(branches))]
        if not branches:
            raise ValueError("Concat: give at least one branch, e.g. Concat(Identity(), layer).")
        for n, b in zip(names, branches):
            if not isinstance(b, Module):
                raise TypeError(f"Concat: branch {n} is a {type(b).__name__}, not a cnnbook.nn "
                                f"Module.")
        self.branches = list(branches)
        self._names = names

    def children(self):
        return list(zip(self._names, self.branches))

    def train(self, mode: bool = True):
        self.training = bool(mode)
        for b in self.branches:
            b.train(mode)
        return self

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        shapes = [np.shape(o) for o in outs]
        if any(len(sh) < 2 or sh[:1] + sh[2:] != shapes[0][:1] + shapes[0][2:] for sh in shapes):
            raise ValueError(f"Concat: the branches give shapes {shapes}; all but the channel axis "
                             f"(1) must agree. Pad or stride the branches to the same H and W.")
        self._cache = [sh[1] for sh in shapes]
        return np.concatenate(outs, axis=1)

    def backward(self, dout, input_grad=True):
        sizes = self._saved()
        if np.shape(dout)[1] != sum(sizes):
            raise ValueError(f"Concat.backward: dout has {np.shape(dout)[1]} channels, the forward "
                             f"output had {sum(sizes)} ({' + '.join(map(str, sizes))}).")
        pieces = np.split(dout, np.cumsum(sizes)[:-1], axis=1)
        dx = None
        for b, d in zip(self.branches, pieces):
            g = b.backward(np.ascontiguousarray(d))
            dx = g if dx is None else dx + g                 # every branch read x: sum
        return dx

    def _torch_module(self):
        _, TorchConcat = _torch_branching()
        parts = [(b, b._torch_module()) for b in self.branches]
        twin = TorchConcat([(n, t) for n, (_, t) in zip(self._names, parts)])
        return _twin_named_like(self, twin, parts)


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
_POOLS = {"max": MaxPool2d, "avg": AvgPool2d}


class LeNet5(Sequential):
    """LeNet-5 for ``(N, 1, 28, 28)`` inputs, as in d2l and most modern code (61,706 parameters).

    conv 6@5x5 (padding 2) -> act -> 2x2 pool -> conv 16@5x5 -> act -> 2x2 pool -> flatten ->
    120 -> act -> 84 -> act -> num_classes. ``activation="tanh"`` or ``"sigmoid"`` with
    ``pool="avg"`` gives the flavour of the 1998 paper (which also had trainable subsampling
    coefficients, a sparse C3 table and RBF outputs; those are left out). The layers are a flat
    Sequential, so ``model[:6]`` is the convolutional part and the state_dict keys are
    ``0.weight, 0.bias, 3.weight, ..., 11.bias``, as in the twin ``torch.nn.Sequential``.
    """

    def __init__(self, activation="relu", pool="max", num_classes=10, seed=0, dtype=np.float32):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"LeNet5: activation must be one of {sorted(_ACTIVATIONS)}, got "
                             f"{activation!r}.")
        if pool not in _POOLS:
            raise ValueError(f"LeNet5: pool must be 'max' or 'avg', got {pool!r}.")
        num_classes = check_positive_int("LeNet5", "num_classes", num_classes)
        g = make_rng("LeNet5", seed, "seed")
        act, pl = _ACTIVATIONS[activation], _POOLS[pool]
        super().__init__(
            Conv2d(1, 6, 5, padding=2, rng=g, dtype=dtype), act(), pl(2, 2),    # (N, 6, 14, 14)
            Conv2d(6, 16, 5, rng=g, dtype=dtype), act(), pl(2, 2),              # (N, 16, 5, 5)
            Flatten(),                                                          # (N, 400)
            Linear(16 * 5 * 5, 120, rng=g, dtype=dtype), act(),
            Linear(120, 84, rng=g, dtype=dtype), act(),
            Linear(84, num_classes, rng=g, dtype=dtype),                        # (N, num_classes)
        )
        self.activation, self.pool, self.num_classes = activation, pool, num_classes
