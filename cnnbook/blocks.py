"""Parts of the modern CNNs (MobileNetV2, EfficientNet, ConvNeXt), named as in torchvision.

- ``relu6`` / ``ReLU6``: ``min(max(x, 0), 6)`` (MobileNetV2's activation).
- ``stochastic_depth`` / ``StochasticDepth(p, mode)``: in training, zero a residual branch for
  a whole example (``mode="row"``) or for the whole batch (``mode="batch"``) with probability
  p and scale the survivors by ``1/(1-p)``; the identity in eval (torchvision.ops).
- ``SqueezeExcitation(input_channels, squeeze_channels)``: each channel multiplied by a weight
  in (0, 1) computed from the channel means by two 1x1 convolutions (Hu et al. 2018).
- ``LayerNorm2d``: ``LayerNorm`` over the channels of an ``(N, C, H, W)`` map, at every pixel
  (ConvNeXt's stem and downsampling layers).
- ``Permute(dims)``: ``np.transpose`` as a layer (ConvNeXt puts channels last for its
  ``Linear`` layers).

Each function pair is ``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache)``; the
layer classes keep the cache for one backward, as every layer of ``cnnbook.nn``.

References:
- torchvision ``torchvision/ops/misc.py`` (SqueezeExcitation, Permute),
  ``torchvision/ops/stochastic_depth.py``, ``torchvision/models/convnext.py`` (LayerNorm2d).
- Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
- Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks with Stochastic Depth", ECCV 2016.
- Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018 (ReLU6).
- Liu et al., "A ConvNet for the 2020s", CVPR 2022 (LayerNorm2d).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import (as_float_array, check_any_int, check_bool, check_choice, check_dout,
                      check_unit_interval, make_rng)
from .module import Module
from .nn import AdaptiveAvgPool2d, Conv2d, LayerNorm, ReLU, Sigmoid

__all__ = ["relu6", "relu6_forward", "relu6_backward", "stochastic_depth",
           "stochastic_depth_forward", "stochastic_depth_backward", "ReLU6", "StochasticDepth",
           "SqueezeExcitation", "LayerNorm2d", "Permute"]


# --------------------------------------------------------------------------- ReLU6
class Relu6Cache(NamedTuple):
    x: np.ndarray          # the input: the gradient passes where 0 < x < 6


def relu6_forward(x):
    """``min(max(x, 0), 6)`` elementwise. Shape: input (*), output (*)."""
    x = as_float_array("relu6", "x", x)
    return np.clip(x, 0, 6), Relu6Cache(x)


def relu6_backward(dout, cache: Relu6Cache):
    """dx = dout where 0 < x < 6, else 0 (at x = 0 and x = 6 exactly too, as PyTorch)."""
    x = cache.x
    dout = check_dout("relu6_backward", dout, x.shape, x.dtype)
    return np.where((x > 0) & (x < 6), dout, 0).astype(x.dtype, copy=False)


def relu6(x):
    """``min(max(x, 0), 6)`` (``torch.nn.functional.relu6``)."""
    return relu6_forward(x)[0]


class ReLU6(Module):
    """``min(max(x, 0), 6)``: a ReLU capped at 6, robust in low precision (MobileNetV2)."""

    def forward(self, x):
        out, self._cache = relu6_forward(x)
        return out

    def backward(self, dout, input_grad=True):
        return relu6_backward(dout, self._saved())


# --------------------------------------------------------------------------- stochastic depth
class StochasticDepthCache(NamedTuple):
    mask: np.ndarray | None    # (N, 1, ...) or (1, 1, ...): 0 or 1/(1-p); None: the identity
    shape: tuple
    dtype: np.dtype


def stochastic_depth_forward(x, p, mode, training=True, rng=None):
    """torchvision.ops.stochastic_depth: in training, each example (``mode="row"``) or the
    whole batch (``mode="batch"``) is zeroed with probability ``p`` and kept, scaled by
    ``1/(1-p)``, otherwise (with ``p=1`` everything is zeroed, nothing scaled); the identity
    when ``training=False`` or ``p=0``. Applied to a residual branch, it drops whole blocks of
    a deep network at random (Huang et al. 2016). ``rng``: a Generator, an int seed, or None
    for the library's generator. Shape: x ``(N, *)``, out the same.

    >>> out, c = stochastic_depth_forward(np.ones((4, 2)), 0.5, "row", rng=0)
    >>> sorted(set(out.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    fn = "stochastic_depth"
    x = as_float_array(fn, "x", x)
    p = check_unit_interval(fn, "p", p, "p is the probability of dropping the branch; use e.g. "
                            "p=0.1")
    mode = check_choice(fn, "mode", mode, ("row", "batch"))
    training = check_bool(fn, "training", training)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have a batch axis, got a scalar; pass x of shape (N, ...).")
    if not training or p == 0:
        return x.copy(), StochasticDepthCache(None, x.shape, x.dtype)
    size = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim
    keep = make_rng(fn, rng).random(size) < 1 - p             # True with probability 1 - p
    mask = keep.astype(x.dtype)
    if p < 1:
        mask *= x.dtype.type(1 / (1 - p))
    return x * mask, StochasticDepthCache(mask, x.shape, x.dtype)


def stochastic_depth_backward(dout, cache: StochasticDepthCache):
    """dx = dout * mask: the dropped examples get no gradient, the kept ones the same scale."""
    dout = check_dout("stochastic_depth_backward", dout, cache.shape, cache.dtype)
    return dout.copy() if cache.mask is None else dout * cache.mask


def stochastic_depth(x, p, mode, training=True, rng=None):
    """The output of :func:`stochastic_depth_forward` (torchvision.ops.stochastic_depth)."""
    return stochastic_depth_forward(x, p, mode, training, rng)[0]


class StochasticDepth(Module):
    """torchvision.ops.StochasticDepth(p, mode): :func:`stochastic_depth` with this layer's
    training flag, drawing from its own seeded generator (``rng``)."""

    def __init__(self, p, mode, rng=None):
        super().__init__()
        fn = "StochasticDepth"
        self.p = check_unit_interval(fn, "p", p, "p is the probability of dropping the branch; "
                                     "use e.g. p=0.1")
        self.mode = check_choice(fn, "mode", mode, ("row", "batch"))
        self.rng = make_rng(fn, rng)

    def forward(self, x):
        out, self._cache = stochastic_depth_forward(x, self.p, self.mode, self.training, self.rng)
        return out

    def backward(self, dout, input_grad=True):
        return stochastic_depth_backward(dout, self._saved())

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


# --------------------------------------------------------------------------- squeeze-excitation
def _activation(fn, name, factory):
    if isinstance(factory, Module) or not callable(factory):
        raise TypeError(f"{fn}: {name} must be a layer class (called with no arguments to make "
                        f"the layer), e.g. {name}=cb.nn.ReLU, got {factory!r}.")
    layer = factory()
    if not isinstance(layer, Module):
        raise TypeError(f"{fn}: {name}() must return a cnnbook.nn Module, got "
                        f"{type(layer).__name__}; use e.g. cb.nn.SiLU.")
    return layer


class SqueezeExcitation(Module):
    """Squeeze-and-excitation (Hu et al. 2018), as torchvision.ops.SqueezeExcitation:
    ``x * scale_activation(fc2(activation(fc1(avgpool(x)))))``, one weight per channel and
    example. ``fc1`` and ``fc2`` are 1x1 convolutions ``input_channels -> squeeze_channels ->
    input_channels``; ``activation`` and ``scale_activation`` are layer classes (ReLU and
    Sigmoid by default). After a forward pass, ``last_scale`` holds the ``(N, C, 1, 1)`` channel
    weights. The input feeds the product twice (directly and through the weights), so backward
    adds the two gradients."""

    def __init__(self, input_channels, squeeze_channels, activation=ReLU,
                 scale_activation=Sigmoid, rng=None, dtype=np.float32):
        super().__init__()
        fn = "SqueezeExcitation"
        for name, v in (("input_channels", input_channels), ("squeeze_channels",
                                                             squeeze_channels)):
            if check_any_int(fn, name, v, f"use e.g. {name}=16") < 1:
                raise ValueError(f"{fn}: {name} must be at least 1, got {name}={v}.")
        g = make_rng(fn, rng)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1, rng=g, dtype=dtype)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1, rng=g, dtype=dtype)
        self.activation = _activation(fn, "activation", activation)
        self.scale_activation = _activation(fn, "scale_activation", scale_activation)
        self.last_scale = None

    def forward(self, x):
        h = self.activation(self.fc1(self.avgpool(x)))     # (N, C/r, 1, 1)
        s = self.scale_activation(self.fc2(h))              # (N, C, 1, 1)
        self.last_scale = s
        self._cache = (x, s)
        return x * s

    def backward(self, dout, input_grad=True):
        x, s = self._saved()
        ds = np.sum(dout * x, axis=(2, 3), keepdims=True)       # (N, C, 1, 1)
        d = self.fc1.backward(self.activation.backward(self.fc2.backward(
            self.scale_activation.backward(ds))))
        return dout * s + self.avgpool.backward(d)    # x fed both factors

    def extra_repr(self):
        return f"{self.fc1.in_channels}, {self.fc1.out_channels}"


# --------------------------------------------------------------------------- LayerNorm2d
class LayerNorm2d(LayerNorm):
    """``LayerNorm(C)`` at every pixel of an ``(N, C, H, W)`` map: each position's C values are
    normalized by their own mean and variance (torchvision's ConvNeXt ``LayerNorm2d``: permute
    to channels-last, layer norm, permute back). Parameters ``weight`` and ``bias`` of shape
    ``(C,)``."""

    def forward(self, x):
        if np.ndim(x) != 4:
            raise ValueError(f"LayerNorm2d: expects an (N, C, H, W) map, got shape "
                             f"{tuple(np.shape(x))}; use LayerNorm for channels-last inputs.")
        out = super().forward(np.transpose(x, (0, 2, 3, 1)))   # (N, H, W, C)
        return np.ascontiguousarray(np.transpose(out, (0, 3, 1, 2)))

    def backward(self, dout, input_grad=True):
        dx = super().backward(np.transpose(dout, (0, 2, 3, 1)), input_grad)
        return np.ascontiguousarray(np.transpose(dx, (0, 3, 1, 2)))


# --------------------------------------------------------------------------- Permute
class Permute(Module):
    """``np.transpose(x, dims)`` as a layer (torchvision.ops.misc.Permute); backward applies
    the inverse permutation."""

    def __init__(self, dims):
        super().__init__()
        if not isinstance(dims, (list, tuple)) or not all(isinstance(d, (int, np.integer))
                                                          for d in dims):
            raise TypeError(f"Permute: dims must be a list of ints, got {dims!r}; use e.g. "
                            f"[0, 2, 3, 1] for channels last.")
        if sorted(int(d) for d in dims) != list(range(len(dims))):
            raise ValueError(f"Permute: dims={list(dims)} must be a permutation of "
                             f"0..{len(dims) - 1}.")
        self.dims = [int(d) for d in dims]

    def forward(self, x):
        if np.ndim(x) != len(self.dims):
            raise ValueError(f"Permute: dims={self.dims} needs a {len(self.dims)}-D input, got "
                             f"shape {tuple(np.shape(x))}.")
        self._cache = True
        return np.ascontiguousarray(np.transpose(x, self.dims))

    def backward(self, dout, input_grad=True):
        self._saved()
        return np.ascontiguousarray(np.transpose(dout, np.argsort(self.dims)))

    def extra_repr(self):
        return f"dims={self.dims}"

