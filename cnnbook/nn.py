"""Layer classes over the function pairs of ``cnnbook.functional``, and LeNet-5.

A layer is written as in PyTorch: ``__init__`` assigns its parts (``self.weight =
Parameter(...)``), and ``Module.__setattr__`` records them (``cnnbook.module``, re-exported
here with ``Parameter``, ``Sequential``, ``ModuleList``, ``ModuleDict``, ``save`` and ``load``);
traversal, ``state_dict``, ``train()``, freezing and the PyTorch twin (``cnnbook.twin``) follow
from that record. So a layer declares only ``__init__``, ``forward``, ``backward`` and
``extra_repr``, and its default initialisation is ``reset_parameters``, which calls
``cnnbook.init``.

``__call__`` runs ``forward``, which keeps the cache of the pass; ``backward(dout)`` feeds it to
the matching ``*_backward`` function, returns dx and *adds* the parameter gradients to
``Parameter.grad``, as autograd does. The cache serves one backward: a second one raises, as
PyTorch's "Trying to backward through the graph a second time". ``backward(dout,
input_grad=False)`` may return None instead of dx where that saves work (the first layer of a
network needs no gradient with respect to the images).

Freezing follows PyTorch: ``Parameter.requires_grad`` and ``model.requires_grad_(False)``; a
frozen parameter's ``.grad`` is never added to, the gradient still flows *through* the layer,
and ``Sequential.backward(dout, input_grad=False)`` stops above the frozen layers at the bottom.
A head is replaced by assignment (``model[-1] = Linear(84, 5)``, ``model.fc = Linear(512, 5)``);
``save(model.state_dict(), path)`` / ``load(path)`` keep weights in a ``.npz`` file.

Loss modules follow PyTorch's API: ``crit = CrossEntropyLoss(); loss = crit(logits, target)``
keeps the cache, ``dlogits = crit.backward()`` (``dout=1.0``) returns the gradient.

References:
- PyTorch ``torch/nn/modules`` (``conv.py``, ``linear.py``: ``reset_parameters``; ``loss.py``).
- LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition",
  Proc. IEEE 1998 (LeNet-5); Zhang et al., Dive into Deep Learning, section 7.6.
- He et al., CVPR 2016 (Residual); Szegedy et al., CVPR 2015 (Concat: the Inception module);
  Krizhevsky, Sutskever & Hinton, NeurIPS 2012 (LocalResponseNorm).
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import init
from ._checks import (as_float_array, check_any_int, check_bool, check_channels, check_choice,
                      check_dout, check_int, check_positive_float, check_real,
                      check_unit_interval, make_rng, pair, pair_nonneg)
from .dice import DiceLoss
from .module import (IncompatibleKeys, Module, ModuleDict, ModuleList, Parameter, Sequential,
                     _accumulate, _check_dtype, _check_module, _trainable, load, save)
from .attention import MultiheadAttention  # noqa: E402  (the layer lives with its function)

__all__ = [
    "Parameter", "Module", "IncompatibleKeys", "save", "load", "Sequential", "ModuleList", "ModuleDict", "Conv2d",
    "Conv1d", "ConvTranspose2d", "Linear", "MaxPool2d", "AvgPool2d", "ReLU", "LeakyReLU", "Tanh",
    "Sigmoid", "Softmax", "Flatten", "Dropout", "BatchNorm2d", "Identity", "AdaptiveAvgPool2d",
    "LocalResponseNorm", "Residual", "Concat", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss",
    "GELU", "SiLU", "LayerNorm", "GroupNorm", "BatchNorm1d", "Upsample", "LeNet5", "torch_twin",
    "DiceLoss",
    "MultiheadAttention",
    "ReLU6", "StochasticDepth", "SqueezeExcitation", "LayerNorm2d", "Permute",  # noqa: F822
]


def _count(fn, name, v):
    return check_int(fn, name, v, 1, f"use e.g. {name}=1")


def torch_twin(model: Module, device: str = "cpu"):
    """``model.to_torch(device)`` (``cnnbook.twin.to_torch``)."""
    return model.to_torch(device)


# ------------------------------------------------------------------------------- layers
class _Weighted(Module):
    """A layer with ``weight`` and an optional ``bias``, filled by :func:`cnnbook.init.default_`
    (PyTorch's ``reset_parameters``) or left at zero with ``init="zeros"``."""

    def _make(self, fn, w_shape, n_bias, bias, rng, dtype, how):
        dt = _check_dtype(fn, dtype)
        if how not in ("uniform", "zeros"):
            raise ValueError(f"{fn}: init must be 'uniform' (PyTorch's default, U(-1/sqrt(fan_in),"
                             f" 1/sqrt(fan_in))) or 'zeros' (to be filled by the caller), got "
                             f"{how!r}.")
        self.weight = Parameter(np.zeros(w_shape, dtype=dt), copy=False)
        self.bias = Parameter(np.zeros(n_bias, dtype=dt), copy=False) if bias else None
        if how == "uniform":
            self.reset_parameters(make_rng(fn, rng))

    def reset_parameters(self, rng=None):
        init.default_(self.weight.data, None if self.bias is None else self.bias.data, rng=rng)

    def _grads(self, fn_backward, cache, input_grad, **kw):
        """Run the backward (skipped entirely when frozen and dx is not needed); accumulate."""
        if not input_grad and not (_trainable(self.weight) or _trainable(self.bias)):
            return None
        dx, dw, db = fn_backward(cache, **kw)
        _accumulate(self.weight, dw)
        _accumulate(self.bias, db)
        return dx

    def _bias_repr(self):
        return "" if self.bias is not None else ", bias=False"


_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Conv2d(_Weighted):
    """2-D convolution (cross-correlation, as PyTorch), weight ``(C_out, C_in/groups, KH, KW)``.

    ``padding`` is an int, a pair, ``"valid"`` or ``"same"`` (stride 1); ``padding_mode`` fills
    the border with ``"zeros"``, or by ``"reflect"``, ``"replicate"`` or ``"circular"`` copies
    of the input (padded with ``np.pad``, then convolved with padding 0; the backward folds the
    border's gradient back onto the pixels it copied).

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2*padding - dilation*(KH - 1) - 1) / stride) + 1``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", rng=None, dtype=np.float32, *,
                 init="uniform"):
        super().__init__()
        fn = "Conv2d"
        self.in_channels = _count(fn, "in_channels", in_channels)
        self.out_channels = _count(fn, "out_channels", out_channels)
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = pair(fn, "stride", stride)
        self.dilation = pair(fn, "dilation", dilation)
        if isinstance(padding, str):
            self.padding = check_choice(fn, "padding", padding, ("valid", "same"))
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{fn}: padding='same' needs stride=1 (as in PyTorch), got "
                                 f"stride={self.stride}; use an integer padding.")
        else:
            self.padding = pair_nonneg(fn, "padding", padding)
        self.padding_mode = check_choice(fn, "padding_mode", padding_mode, tuple(_PAD_MODES))
        self.groups = check_int(fn, "groups", groups, 1, "use groups=1")
        check_channels(fn, self.in_channels, self.in_channels // self.groups, self.groups,
                       self.out_channels)
        kh, kw = self.kernel_size
        self._make(fn, (self.out_channels, self.in_channels // self.groups, kh, kw),
                   self.out_channels, check_bool(fn, "bias", bias), rng, dtype, init)

    def _pads(self):
        if self.padding == "same":
            tot = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return tuple((t // 2, t - t // 2) for t in tot)
        return ((0, 0),) * 2 if self.padding == "valid" else tuple((p, p) for p in self.padding)

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        pad, mode = self.padding, _PAD_MODES[self.padding_mode]
        if mode is not None:
            pads = self._pads()
            x = np.pad(np.asarray(x), ((0, 0), (0, 0)) + pads, mode=mode)   # (N, C, H+, W+)
            pad = 0
        out, cache = F.conv2d_forward(x, self.weight.data, b, self.stride, pad, self.dilation,
                                      self.groups)
        self._cache = cache if mode is None else (cache, (x.shape, pads))
        return out

    def backward(self, dout, input_grad=True):
        cache, padded = self._saved(), None
        if self.padding_mode != "zeros":
            cache, padded = cache
        dx = self._grads(lambda c, **kw: F.conv2d_backward(dout, c, **kw), cache, input_grad,
                         need_dx=bool(input_grad))
        if dx is None or padded is None:
            return dx
        (n, c, hp, wp), ((t, bo), (le, r)) = padded
        rows = np.pad(np.arange(hp - t - bo), (t, bo), mode=_PAD_MODES[self.padding_mode])
        cols = np.pad(np.arange(wp - le - r), (le, r), mode=_PAD_MODES[self.padding_mode])
        fold = np.zeros((n, c, hp - t - bo, wp), dx.dtype)
        np.add.at(fold, (slice(None), slice(None), rows), dx)       # every padded row to its source
        out = np.zeros((n, c, hp - t - bo, wp - le - r), dx.dtype)
        np.add.at(out, (slice(None), slice(None), slice(None), cols), fold)
        return out

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s + self._bias_repr()


class Conv1d(_Weighted):
    """1-D convolution, weight ``(C_out, C_in, K)``: ``(N, C_in, L) -> (N, C_out, L_out)``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, rng=None, dtype=np.float32, *, init="uniform"):
        super().__init__()
        fn = "Conv1d"
        self.in_channels = _count(fn, "in_channels", in_channels)
        self.out_channels = _count(fn, "out_channels", out_channels)
        self.kernel_size = pair(fn, "kernel_size", kernel_size, n=1)
        self.stride = pair(fn, "stride", stride, n=1)
        self.padding = pair_nonneg(fn, "padding", padding, n=1)
        self.dilation = pair(fn, "dilation", dilation, n=1)
        self._make(fn, (self.out_channels, self.in_channels) + self.kernel_size, self.out_channels,
                   check_bool(fn, "bias", bias), rng, dtype, init)

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.conv1d_forward(x, self.weight.data, b, self.stride[0],
                                            self.padding[0], self.dilation[0])
        return out

    def backward(self, dout, input_grad=True):
        return self._grads(lambda c: F.conv1d_backward(dout, c), self._saved(), input_grad)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}" + self._bias_repr())


class ConvTranspose2d(_Weighted):
    """Transposed convolution (the adjoint of Conv2d), weight ``(C_in, C_out, KH, KW)``;
    ``H_out = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, dilation=1, rng=None, dtype=np.float32, *,
                 init="uniform"):
        super().__init__()
        fn = "ConvTranspose2d"
        self.in_channels = _count(fn, "in_channels", in_channels)
        self.out_channels = _count(fn, "out_channels", out_channels)
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = pair(fn, "stride", stride)
        self.padding = pair_nonneg(fn, "padding", padding)
        self.output_padding = pair_nonneg(fn, "output_padding", output_padding)
        self.dilation = pair(fn, "dilation", dilation)
        self._make(fn, (self.in_channels, self.out_channels) + self.kernel_size, self.out_channels,
                   check_bool(fn, "bias", bias), rng, dtype, init)

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.conv_transpose2d_forward(x, self.weight.data, b, self.stride,
                                                      self.padding, self.output_padding,
                                                      self.dilation)
        return out

    def backward(self, dout, input_grad=True):
        return self._grads(lambda c: F.conv_transpose2d_backward(dout, c), self._saved(),
                           input_grad)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}" + self._bias_repr())


class Linear(_Weighted):
    """Fully connected layer ``x @ weight.T + bias``; weight ``(out_features, in_features)``."""

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32, *,
                 init="uniform"):
        super().__init__()
        fn = "Linear"
        self.in_features = _count(fn, "in_features", in_features)
        self.out_features = _count(fn, "out_features", out_features)
        self._make(fn, (self.out_features, self.in_features), self.out_features,
                   check_bool(fn, "bias", bias), rng, dtype, init)

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = F.linear_forward(x, self.weight.data, b)
        return out

    def backward(self, dout, input_grad=True):
        def grads(cache):
            if self.weight.requires_grad:
                return F.linear_backward(dout, cache)
            x, w, _ = cache          # frozen weight: skip dw = dout.T @ x
            shape = x.shape[:-1] + (w.shape[0],)
            d = check_dout("linear_backward", dout, shape, x.dtype)
            db = None
            if _trainable(self.bias):
                db = d.reshape(-1, w.shape[0]).sum(axis=0)
            return d @ w, None, db
        dx = self._grads(grads, self._saved(), input_grad)
        return dx if input_grad else None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}" + \
            self._bias_repr()


class _Pool(Module):
    def _window(self, fn, kernel_size, stride, padding, ceil_mode):
        self.kernel_size = pair(fn, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair(fn, "stride", stride)
        self.padding = pair_nonneg(fn, "padding", padding)
        self.ceil_mode = check_bool(fn, "ceil_mode", ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class MaxPool2d(_Pool):
    """Max pooling; ``stride=None`` means ``kernel_size``; pads with -inf. With
    ``return_indices=True`` it returns ``(out, indices)``, each maximum's flat index ``h*W + w``
    in its plane, as PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self._window("MaxPool2d", kernel_size, stride, padding, ceil_mode)
        self.dilation = pair("MaxPool2d", "dilation", dilation)
        self.return_indices = check_bool("MaxPool2d", "return_indices", return_indices)

    def forward(self, x):
        args = (x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        out, self._cache = F.max_pool2d_forward(*args)
        return (out, F.max_pool2d(*args, return_indices=True)[1]) if self.return_indices else out

    def backward(self, dout, input_grad=True):
        return F.max_pool2d_backward(dout, self._saved())

    def extra_repr(self):
        return super().extra_repr() + f", dilation={self.dilation}"


class AvgPool2d(_Pool):
    """Average pooling; ``stride=None`` means ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self._window("AvgPool2d", kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = check_bool("AvgPool2d", "count_include_pad", count_include_pad)

    def forward(self, x):
        out, self._cache = F.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                                self.ceil_mode, self.count_include_pad)
        return out

    def backward(self, dout, input_grad=True):
        return F.avg_pool2d_backward(dout, self._saved())


class _Elementwise(Module):
    """An activation: forward/backward are ``F.<name>_forward`` / ``F.<name>_backward`` with the
    keyword arguments ``_kw()``."""
    _name = ""

    def _kw(self):
        return {}

    def forward(self, x):
        out, self._cache = getattr(F, self._name + "_forward")(x, **self._kw())
        return out

    def backward(self, dout, input_grad=True):
        return getattr(F, self._name + "_backward")(dout, self._saved())

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self._kw().items())


class ReLU(_Elementwise):
    """``max(x, 0)``; its gradient at 0 is taken as 0, as in PyTorch."""
    _name = "relu"


class Tanh(_Elementwise):
    _name = "tanh"


class Sigmoid(_Elementwise):
    _name = "sigmoid"


class LeakyReLU(_Elementwise):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    _name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_real("LeakyReLU", "negative_slope", negative_slope,
                                         "use e.g. negative_slope=0.01")

    def _kw(self):
        return {"negative_slope": self.negative_slope}


class Softmax(_Elementwise):
    """Softmax along ``dim`` (each slice along it sums to 1)."""
    _name = "softmax"

    def __init__(self, dim):
        super().__init__()
        self.dim = check_any_int("Softmax", "dim", dim, "use dim=1 for (N, C) scores")

    def _kw(self):
        return {"dim": self.dim}


class GELU(_Elementwise):
    """``x * Phi(x)`` (``approximate="none"``) or its tanh form (``approximate="tanh"``)."""
    _name = "gelu"

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = check_choice("GELU", "approximate", approximate, ("none", "tanh"))

    def _kw(self):
        return {"approximate": self.approximate}

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Elementwise):
    """``x * sigmoid(x)`` (the swish of Ramachandran et al. with beta = 1)."""
    _name = "silu"


class Flatten(Module):
    """Collapse dimensions ``start_dim`` .. ``end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)``."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        fix = "use start_dim=1, end_dim=-1 to keep the batch axis"
        self.start_dim = check_any_int("Flatten", "start_dim", start_dim, fix)
        self.end_dim = check_any_int("Flatten", "end_dim", end_dim, fix)

    def forward(self, x):
        out, self._cache = F.flatten_forward(x, start_dim=self.start_dim)
        shape = self._cache.shape
        e = self.end_dim % max(len(shape), 1)
        s = self.start_dim % max(len(shape), 1)
        if e < s:
            raise ValueError(f"Flatten: end_dim={self.end_dim} comes before start_dim="
                             f"{self.start_dim} for an input of shape {shape}.")
        return out.reshape(shape[:s] + (-1,) + shape[e + 1:]) if shape else out

    def backward(self, dout, input_grad=True):
        return F.flatten_backward(dout, self._saved())       # any shape of the right size

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training zero each value with probability p and scale the rest by
    1/(1-p); identity in eval mode. The mask comes from this layer's own seeded generator."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_unit_interval("Dropout", "p", p, "p is the probability of zeroing a value; "
                                     "use e.g. p=0.5", upper_open=True)
        self.rng = make_rng("Dropout", rng)

    def forward(self, x):
        out, self._cache = F.dropout_forward(x, self.p, self.training, self.rng)
        return out

    def backward(self, dout, input_grad=True):
        return F.dropout_backward(dout, self._saved())

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel, with running statistics for eval mode.

    Parameters ``weight`` (gamma, ones) and ``bias`` (beta, zeros) unless ``affine=False``;
    buffers ``running_mean``, ``running_var`` and ``num_batches_tracked`` unless
    ``track_running_stats=False`` (then batch statistics are used in eval mode too).
    ``momentum=None`` keeps a cumulative average (momentum ``1/num_batches_tracked``).
    """

    _fn = "batch_norm2d"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=np.float32):
        super().__init__()
        fn = type(self).__name__
        self.num_features = c = _count(fn, "num_features", num_features)
        self.eps = check_positive_float(fn, "eps", eps, "use eps=1e-5 as PyTorch")
        self.momentum = None if momentum is None else check_unit_interval(
            fn, "momentum", momentum, "use momentum=0.1 as PyTorch, or None for a cumulative average")
        self.affine = check_bool(fn, "affine", affine)
        self.track_running_stats = check_bool(fn, "track_running_stats", track_running_stats)
        dt = _check_dtype(fn, dtype)
        self.weight = Parameter(np.ones(c, dtype=dt)) if affine else None
        self.bias = Parameter(np.zeros(c, dtype=dt)) if affine else None
        track = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(c, dtype=dt) if track else None)
        self.register_buffer("running_var", np.ones(c, dtype=dt) if track else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64) if track else None)
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        """gamma = 1, beta = 0 (PyTorch's); the running statistics are left as they are."""
        _reset_affine(self)

    def forward(self, x):
        update = self.training and self.track_running_stats
        momentum = 0.1 if self.momentum is None else self.momentum
        if update and self.momentum is None:
            momentum = 1.0 / (int(self.num_batches_tracked) + 1)
        out, cache = getattr(F, self._fn + "_forward")(
            x, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.running_mean, self.running_var,
            self.training or not self.track_running_stats, momentum, self.eps)
        self._cache = cache
        if update:
            self.running_mean = cache.running_mean
            self.running_var = cache.running_var
            self.num_batches_tracked = self.num_batches_tracked + 1
        return out

    def backward(self, dout, input_grad=True):
        dx, dgamma, dbeta = getattr(F, self._fn + "_backward")(dout, self._saved())
        _accumulate(self.weight, dgamma)
        _accumulate(self.bias, dbeta)
        return dx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine="
                f"{self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of ``(N, C)`` features or ``(N, C, L)`` sequences per channel
    (``F.batch_norm1d``); parameters, buffers, momentum (``None``: cumulative average) and the
    train/eval behaviour are BatchNorm2d's."""
    _fn = "batch_norm1d"


def _reset_affine(m):
    if m.weight is not None:
        init.ones_(m.weight.data)
    if m.bias is not None:
        init.zeros_(m.bias.data)


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes (Ba, Kiros & Hinton 2016).

    Parameters ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape`` unless
    ``elementwise_affine=False``; ``bias=False`` keeps the weight only. Nothing depends on the
    batch, so training and eval compute the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=np.float32):
        super().__init__()
        fn = "LayerNorm"
        shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) else \
            (normalized_shape,)
        if len(shape) == 0:
            raise ValueError(f"{fn}: normalized_shape must name at least one axis, got "
                             f"normalized_shape={normalized_shape!r}; use e.g. the last axis' size.")
        self.normalized_shape = tuple(_count(fn, "normalized_shape", n) for n in shape)
        self.eps = check_positive_float(fn, "eps", eps, "use eps=1e-5 as PyTorch")
        self.elementwise_affine = check_bool(fn, "elementwise_affine", elementwise_affine)
        has_bias = check_bool(fn, "bias", bias)
        dt = _check_dtype(fn, dtype)
        affine = self.elementwise_affine
        self.weight = Parameter(np.empty(self.normalized_shape, dt)) if affine else None
        self.bias = Parameter(np.empty(self.normalized_shape, dt)) if affine and has_bias else None
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        _reset_affine(self)

    def forward(self, x):
        out, self._cache = F.layer_norm_forward(
            x, self.normalized_shape, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.eps)
        return out

    def backward(self, dout, input_grad=True):
        dx, dw, db = F.layer_norm_backward(dout, self._saved())
        _accumulate(self.weight, dw)
        _accumulate(self.bias, db)
        return dx

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine="
                f"{self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018): each example over groups of
    ``num_channels / num_groups`` channels; per-channel ``weight`` (ones) and ``bias`` (zeros)
    unless ``affine=False``."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float32):
        super().__init__()
        fn = "GroupNorm"
        self.num_groups = _count(fn, "num_groups", num_groups)
        self.num_channels = _count(fn, "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{fn}: num_channels={self.num_channels} must be divisible by "
                             f"num_groups={self.num_groups}; use a divisor of "
                             f"{self.num_channels}, e.g. num_groups=1.")
        self.eps = check_positive_float(fn, "eps", eps, "use eps=1e-5 as PyTorch")
        self.affine = check_bool(fn, "affine", affine)
        dt = _check_dtype(fn, dtype)
        c = self.num_channels
        self.weight = Parameter(np.empty(c, dt)) if self.affine else None
        self.bias = Parameter(np.empty(c, dt)) if self.affine else None
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        _reset_affine(self)

    def forward(self, x):
        out, self._cache = F.group_norm_forward(
            x, self.num_groups, None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.eps)
        return out

    def backward(self, dout, input_grad=True):
        dx, dw, db = F.group_norm_backward(dout, self._saved())
        _accumulate(self.weight, dw)
        _accumulate(self.bias, db)
        return dx

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Upsample(Module):
    """Resize ``(N, C, H, W)`` maps to ``size`` or by ``scale_factor`` (``F.interpolate``),
    ``mode="nearest"`` or ``"bilinear"`` (with ``align_corners``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        fn = "Upsample"
        self.mode = check_choice(fn, "mode", mode, ("nearest", "bilinear"))
        if align_corners is not None:
            check_bool(fn, "align_corners", align_corners)
            if self.mode == "nearest":
                raise ValueError(f"{fn}: align_corners={align_corners} only applies to "
                                 f"mode='bilinear'; leave align_corners=None for mode='nearest'.")
        self.align_corners = None if align_corners is None else bool(align_corners)
        if (size is None) == (scale_factor is None):
            raise ValueError(f"{fn}: give exactly one of size and scale_factor, got size={size!r}, "
                             f"scale_factor={scale_factor!r}; e.g. scale_factor=2.")
        self.size = None if size is None else (
            pair(fn, "size", size) if isinstance(size, (tuple, list)) else _count(fn, "size", size))
        if scale_factor is None:
            self.scale_factor = None
        elif isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(check_positive_float(fn, "scale_factor", s, "use e.g. 2")
                                      for s in scale_factor)
        else:
            self.scale_factor = check_positive_float(fn, "scale_factor", scale_factor, "use e.g. 2")

    def forward(self, x):
        out, self._cache = F.interpolate_forward(x, self.size, self.scale_factor, self.mode,
                                                 self.align_corners)
        return out

    def backward(self, dout, input_grad=True):
        return F.interpolate_backward(dout, self._saved())

    def extra_repr(self):
        s = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        s += f", mode={self.mode!r}"
        return s + ("" if self.align_corners is None else f", align_corners={self.align_corners}")


class Identity(Module):
    """Returns its input unchanged; backward returns dout (``torch.nn.Identity``)."""

    def forward(self, x):
        self._cache = True
        return x

    def backward(self, dout, input_grad=True):
        self._saved()
        return dout


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` whatever the input size (PyTorch's bins)."""

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


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet, section 3.3), PyTorch's form:
    ``x / (k + alpha/size * sum of x^2 over size neighbouring channels)**beta``."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        fn = "LocalResponseNorm"
        self.size = _count(fn, "size", size)
        self.alpha = check_real(fn, "alpha", alpha, "use alpha=1e-4")
        self.beta = check_real(fn, "beta", beta, "use beta=0.75")
        self.k = check_real(fn, "k", k, "use k=1.0")

    def forward(self, x):
        out, self._cache = F.local_response_norm_forward(x, self.size, self.alpha, self.beta,
                                                          self.k)
        return out

    def backward(self, dout, input_grad=True):
        return F.local_response_norm_backward(dout, self._saved())

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Residual(Module):
    """A residual connection: ``out = activation(body(x) + shortcut(x))`` (He et al. 2016).

    ``shortcut=None`` is the identity; pass e.g. a 1x1 convolution with stride where the body
    changes the shape. The input x feeds two paths, so its gradient is the *sum* of the two:
    ``dx = body.backward(d) + shortcut.backward(d)`` with ``d`` the gradient after the
    activation; the identity path hands ``d`` to x unchanged, whatever the body does to it.
    """

    def __init__(self, body, shortcut=None, activation=None):
        super().__init__()
        if body is None:
            raise TypeError("Residual: body is required; pass the residual branch as a Module, "
                            "e.g. Sequential(Conv2d(...), BatchNorm2d(...), ReLU(), ...).")
        for name, m in (("body", body), ("shortcut", shortcut), ("activation", activation)):
            if m is not None:
                _check_module("Residual", name, m)
            self._modules[name] = m

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if np.shape(y) != np.shape(s):
            raise ValueError(f"Residual: the body gives shape {tuple(np.shape(y))} but the "
                             f"shortcut gives {tuple(np.shape(s))}; they must match to be added. "
                             f"Give the shortcut a 1x1 Conv2d with the body's stride and channels.")
        self._cache = True
        return y + s if self.activation is None else self.activation(y + s)

    def backward(self, dout, input_grad=True):
        self._saved()
        d = dout if self.activation is None else self.activation.backward(dout)
        dx = self.body.backward(d)                            # the residual path ...
        ds = d if self.shortcut is None else self.shortcut.backward(d)   # ... and the shortcut:
        return dx + ds                                        # a fork's gradients add up


class Concat(Module):
    """Parallel branches on the same input, outputs concatenated on channels (an Inception
    module; DenseNet's ``cat([x, layer(x)])`` is ``Concat(Identity(), layer)``).

    ``Concat(b1, b2, ...)`` (keys ``0, 1, ...``) or ``Concat(OrderedDict(branch1=b1, ...))``.
    Every branch must keep N, H and W; out ``(N, C_1 + C_2 + ..., H, W)``. Backward gives each
    branch its slice of dout and *adds* the branches' input gradients: x fed all of them.
    """

    def __init__(self, *branches):
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], dict):
            named = [(str(n), b) for n, b in branches[0].items()]
        else:
            named = [(str(i), b) for i, b in enumerate(branches)]
        if not named:
            raise ValueError("Concat: give at least one branch, e.g. Concat(Identity(), layer).")
        for n, b in named:
            setattr(self, n, _check_module("Concat", f"branch {n}", b))

    branches = property(lambda self: list(self._modules.values()))

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
        grads = [b.backward(np.ascontiguousarray(d)) for b, d in zip(self.branches, pieces)]
        return sum(grads[1:], grads[0])                       # every branch read x: sum


# ------------------------------------------------------------------------------- losses
_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """``loss = crit(input, target)`` keeps the cache; ``crit.backward(dout=1.0)`` returns the
    gradient of the first argument. The options go to ``F.<name>_forward`` as keyword
    arguments (``_kw()``), the same names as PyTorch's modules and functions."""
    _name = ""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = check_choice(type(self).__name__, "reduction", reduction, _REDUCTIONS)

    def _kw(self):
        return {"reduction": self.reduction}

    def forward(self, input, target):
        loss, self._cache = getattr(F, self._name + "_forward")(input, target, **self._kw())
        return loss

    def backward(self, dout=1.0, input_grad=True):
        return getattr(F, self._name + "_backward")(dout, self._saved())

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _weight_buffer(fn, name, v):
    return None if v is None else as_float_array(fn, name, v).copy()


class CrossEntropyLoss(_Loss):
    """Cross-entropy of ``(N, C)`` logits and class indices ``(N,)``, or of ``(N, C, H, W)``
    logits and ``(N, H, W)`` targets: ``F.cross_entropy`` with the class ``weight`` (a buffer,
    as in PyTorch), ``ignore_index``, ``reduction`` and ``label_smoothing``."""
    _name = "cross_entropy"

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        fn = "CrossEntropyLoss"
        self.ignore_index = check_any_int(fn, "ignore_index", ignore_index, "use -100 for none")
        self.label_smoothing = check_unit_interval(fn, "label_smoothing", label_smoothing,
                                                   "use label_smoothing=0.0 for none")
        self.register_buffer("weight", _weight_buffer(fn, "weight", weight))

    def _kw(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index,
                "reduction": self.reduction, "label_smoothing": self.label_smoothing}


class MSELoss(_Loss):
    """Mean squared error (``F.mse_loss``)."""
    _name = "mse_loss"


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits and targets in [0, 1]
    (``F.binary_cross_entropy_with_logits``), with the element ``weight`` and the positive
    class's ``pos_weight`` (buffers, as in PyTorch)."""
    _name = "binary_cross_entropy_with_logits"

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        fn = "BCEWithLogitsLoss"
        self.register_buffer("weight", _weight_buffer(fn, "weight", weight))
        self.register_buffer("pos_weight", _weight_buffer(fn, "pos_weight", pos_weight))

    def _kw(self):
        return {"weight": self.weight, "reduction": self.reduction,
                "pos_weight": self.pos_weight}


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

    >>> [k for k in LeNet5().state_dict()][:3]
    ['0.weight', '0.bias', '3.weight']
    """

    def __init__(self, activation="relu", pool="max", num_classes=10, seed=0, dtype=np.float32):
        check_choice("LeNet5", "activation", activation, tuple(_ACTIVATIONS))
        check_choice("LeNet5", "pool", pool, tuple(_POOLS))
        num_classes = _count("LeNet5", "num_classes", num_classes)
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


def __getattr__(name):          # the parts of modern CNNs live in cnnbook.blocks (no import cycle)
    if name in ("ReLU6", "StochasticDepth", "SqueezeExcitation", "LayerNorm2d", "Permute"):
        from . import blocks
        return getattr(blocks, name)
    raise AttributeError(f"module 'cnnbook.nn' has no attribute {name!r}")
