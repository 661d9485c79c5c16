"""Weight initialisation with PyTorch's fan and gain conventions (``torch.nn.init``).

Each ``*_`` function fills a NumPy array **in place** (the trailing underscore says so, as in
PyTorch) and returns it. For a weight of shape ``(C_out, C_in, KH, KW)`` (or ``(out, in)``)::

    fan_in  = C_in  * KH * KW          fan_out = C_out * KH * KW

Xavier/Glorot keeps the variance of activations *and* gradients about constant through a linear
or tanh layer: ``Var(w) = gain**2 * 2 / (fan_in + fan_out)``. Kaiming/He keeps it through a
ReLU layer, which zeroes half of its input: ``Var(w) = gain**2 / fan`` with ``gain = sqrt(2)``
for ReLU. A uniform distribution on ``[-a, a]`` has variance ``a**2 / 3``, hence the ``sqrt(3)``
in the uniform bounds.

PyTorch's default for ``nn.Linear`` and ``nn.Conv2d`` (and this library's ``Linear`` and
``Conv2d``) is ``kaiming_uniform_(w, a=sqrt(5))``: gain ``sqrt(2 / (1 + 5)) = sqrt(1/3)``, so the
bound is ``sqrt(3) * sqrt(1/3) / sqrt(fan_in) = 1 / sqrt(fan_in)``.

References:
- Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
  AISTATS 2010.
- He et al., "Delving deep into rectifiers", ICCV 2015.
- PyTorch ``torch/nn/init.py`` (``calculate_gain``, ``_calculate_fan_in_and_fan_out``).
"""
from __future__ import annotations

import math

import numpy as np
from ._checks import make_rng

__all__ = ["calculate_gain", "fan_in_and_fan_out", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "default_bound", "default_", "ones_", "zeros_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None) -> float:
    """PyTorch's recommended gain: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    ``sqrt(2 / (1 + a**2))`` for leaky_relu with slope ``a = param`` (default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            a = 0.01
        elif isinstance(param, (int, float, np.floating, np.integer)) and not isinstance(param, bool):
            a = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope must be a number, got {param!r}; "
                             f"use e.g. a=0.01.")
        return math.sqrt(2.0 / (1 + a ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{list(_LINEAR) + ['tanh', 'relu', 'leaky_relu', 'selu']}.")


def _check_weight(fn: str, w) -> np.ndarray:
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{fn}: w must be a NumPy array to fill in place, got {type(w).__name__}; "
                        f"pass layer.weight.data.")
    if w.dtype.kind != "f":
        raise TypeError(f"{fn}: w must be a floating-point array, got dtype {w.dtype}; create it "
                        f"with np.empty(shape, dtype=np.float32).")
    if w.ndim < 2:
        raise ValueError(f"{fn}: fan in and fan out cannot be computed for an array with "
                         f"{w.ndim} dimension(s), shape {w.shape}; pass a weight of shape "
                         f"(out, in) or (C_out, C_in, KH, KW).")
    if not w.flags.writeable:
        raise ValueError(f"{fn}: w is read-only; pass a writable copy (w.copy()).")
    return w


def fan_in_and_fan_out(w) -> tuple:
    """``(fan_in, fan_out)`` as PyTorch computes them: ``shape[1] * receptive`` and
    ``shape[0] * receptive``, where ``receptive`` is the product of the remaining dimensions."""
    shape = np.shape(w)
    if len(shape) < 2:
        raise ValueError(f"fan_in_and_fan_out: needs at least 2 dimensions, got shape {shape}; "
                         f"pass a weight of shape (out, in) or (C_out, C_in, KH, KW).")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(fn: str, w, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}; use "
                         f"mode='fan_in' to keep the forward variance, 'fan_out' the backward one.")
    fan_in, fan_out = fan_in_and_fan_out(w)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(w, gain=1.0, rng=None):
    """Fill `w` from ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``; returns `w`."""
    w = _check_weight("xavier_uniform_", w)
    fan_in, fan_out = fan_in_and_fan_out(w)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    w[...] = make_rng("xavier_uniform_", rng).uniform(-a, a, w.shape)
    return w


def xavier_normal_(w, gain=1.0, rng=None):
    """Fill `w` from ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``; returns `w`."""
    w = _check_weight("xavier_normal_", w)
    fan_in, fan_out = fan_in_and_fan_out(w)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    w[...] = make_rng("xavier_normal_", rng).normal(0.0, std, w.shape)
    return w


def kaiming_uniform_(w, a=0, mode="fan_in", nonlinearity="leaky_relu",
                     rng=None):
    """Fill `w` from ``U(-bound, bound)``, ``bound = sqrt(3) * gain /
    sqrt(fan)`` with ``gain = calculate_gain(nonlinearity, a)``; returns `w`.
    With the defaults (``a=0``, leaky_relu) the gain is sqrt(2), He's ReLU
    value."""
    fn = "kaiming_uniform_"
    w = _check_weight(fn, w)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(fn, w, mode))
    bound = math.sqrt(3.0) * std
    w[...] = make_rng(fn, rng).uniform(-bound, bound, w.shape)
    return w


def kaiming_normal_(w, a=0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """Fill `w` from ``N(0, std**2)``, ``std = gain / sqrt(fan)``; returns `w`."""
    fn = "kaiming_normal_"
    w = _check_weight(fn, w)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(fn, w, mode))
    w[...] = make_rng(fn, rng).normal(0.0, std, w.shape)
    return w


def default_bound(w) -> float:
    """The bound of PyTorch's default ``Linear``/``Conv2d`` weight init,
    ``kaiming_uniform_(w, a=sqrt(5))``: ``sqrt(3) * sqrt(2 / 6) / sqrt(fan_in) = 1/sqrt(fan_in)``."""
    fan_in, _ = fan_in_and_fan_out(w)
    return math.sqrt(3.0) * calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)


def default_(w, b=None, rng=None):
    """PyTorch's default initialisation of ``Linear`` and the convolutions (their
    ``reset_parameters``): ``kaiming_uniform_(w, a=sqrt(5))``, which is U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), then the bias `b` (if given) from the same interval; returns `w`.

    The gain works out to ``sqrt(3) * sqrt(2 / (1 + 5)) = 1``; the bound is computed as
    ``1 / sqrt(fan_in)`` directly (the product of the two roots rounds one unit below 1), so a
    seed gives the same weights whichever way the layer is built. ``fan_in`` is
    ``shape[1] * receptive`` for every weight layout, as in PyTorch (``C_out * KH * KW`` for a
    transposed convolution's ``(C_in, C_out, KH, KW)`` weight)."""
    fn = "default_"
    w = _check_weight(fn, w)
    g = make_rng(fn, rng)
    bound = 1.0 / math.sqrt(fan_in_and_fan_out(w)[0])
    w[...] = g.uniform(-bound, bound, w.shape)
    if b is not None:
        b[...] = g.uniform(-bound, bound, b.shape)
    return w


def ones_(w):
    """Fill `w` with ones in place (PyTorch's ``nn.init.ones_``: a norm layer's weight);
    returns `w`."""
    w = _check_fill("ones_", w)
    w[...] = 1
    return w


def zeros_(w):
    """Fill `w` with zeros in place (PyTorch's ``nn.init.zeros_``: a norm layer's bias);
    returns `w`."""
    w = _check_fill("zeros_", w)
    w[...] = 0
    return w


def _check_fill(fn: str, w) -> np.ndarray:
    """A writable floating-point array of any shape (a norm layer's 1-D weight included)."""
    if not isinstance(w, np.ndarray) or w.dtype.kind != "f":
        raise TypeError(f"{fn}: w must be a floating-point NumPy array to fill in place, got "
                        f"{type(w).__name__}; pass layer.weight.data.")
    if not w.flags.writeable:
        raise ValueError(f"{fn}: w is read-only; pass a writable copy (w.copy()).")
    return w
