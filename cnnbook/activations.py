"""Elementwise activations: ReLU, leaky ReLU, sigmoid, tanh, softplus — forward and backward.

Each ``op_forward`` returns ``(out, cache)``; ``op_backward(dout, cache)`` returns ``dx``. Shapes
are unchanged (``Shape: input (*), output (*)``), integer inputs are computed in float64 and
float32 stays float32. Semantics follow ``torch.nn.functional``.

References:
- V. Nair and G. Hinton, "Rectified Linear Units Improve Restricted Boltzmann Machines", ICML 2010.
- A. Maas, A. Hannun and A. Ng, "Rectifier Nonlinearities Improve Neural Network Acoustic
  Models", ICML 2013 workshop (leaky ReLU).
- X. Glorot, A. Bordes and Y. Bengio, "Deep Sparse Rectifier Neural Networks", AISTATS 2011
  (ReLU vs. softplus).
- PyTorch documentation: ``torch.nn.functional.relu``, ``leaky_relu``, ``sigmoid``, ``tanh``,
  ``softplus`` (its ``threshold`` argument).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_dout, check_real

__all__ = [
    "relu", "relu_forward", "relu_backward",
    "leaky_relu", "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward",
    "tanh", "tanh_forward", "tanh_backward",
    "softplus", "softplus_forward", "softplus_backward",
]


# ---------------------------------------------------------------------------------------------
# small private checks, in the style of cnnbook._checks


# ---------------------------------------------------------------------------------------------
# ReLU

class ReluCache(NamedTuple):
    x: np.ndarray          # the input: the gradient passes where x > 0


def relu_forward(x):
    """``max(x, 0)`` elementwise. Shape: input (*), output (*)."""
    x = as_float_array("relu", "x", x)
    return np.maximum(x, 0), ReluCache(x)


def relu_backward(dout, cache: ReluCache):
    """dx = dout where x > 0, else 0 — including x == 0 exactly (PyTorch's subgradient)."""
    x = cache.x
    dout = check_dout("relu_backward", dout, x.shape, x.dtype)
    return np.multiply(dout, x > 0, dtype=x.dtype)                # the mask is 0 at x == 0


def relu(x):
    """Rectified linear unit, ``max(x, 0)``."""
    return relu_forward(x)[0]


# ---------------------------------------------------------------------------------------------
# leaky ReLU

class LeakyReluCache(NamedTuple):
    x: np.ndarray
    negative_slope: float


def leaky_relu_forward(x, negative_slope=0.01):
    """``x`` where x > 0, else ``negative_slope * x``. Shape: input (*), output (*)."""
    negative_slope = check_real("leaky_relu", "negative_slope", negative_slope,
                                 "use e.g. negative_slope=0.01")
    x = as_float_array("leaky_relu", "x", x)
    out = np.where(x > 0, x, x * x.dtype.type(negative_slope))
    return out.astype(x.dtype, copy=False), LeakyReluCache(x, negative_slope)


def leaky_relu_backward(dout, cache: LeakyReluCache):
    """dx = dout where x > 0, else negative_slope * dout (x == 0 takes the slope, as PyTorch)."""
    x = cache.x
    dout = check_dout("leaky_relu_backward", dout, x.shape, x.dtype)
    return np.where(x > 0, dout, dout * x.dtype.type(cache.negative_slope)).astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: a small slope instead of zero for negative inputs."""
    return leaky_relu_forward(x, negative_slope)[0]


# ---------------------------------------------------------------------------------------------
# sigmoid

class SigmoidCache(NamedTuple):
    out: np.ndarray        # sigma(x): its derivative is out * (1 - out)


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows; 1/(1+e) for x >= 0 and e/(1+e) for x < 0 are the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_forward(x):
    """``1 / (1 + exp(-x))``, with no overflow for large |x|. Shape: input (*), output (*)."""
    x = as_float_array("sigmoid", "x", x)
    out = _stable_sigmoid(x)
    return out, SigmoidCache(out)


def sigmoid_backward(dout, cache: SigmoidCache):
    """dx = dout * s * (1 - s)."""
    s = cache.out
    dout = check_dout("sigmoid_backward", dout, s.shape, s.dtype)
    return dout * s * (1 - s)


def sigmoid(x):
    """Logistic sigmoid, squashing to (0, 1)."""
    return sigmoid_forward(x)[0]


# ---------------------------------------------------------------------------------------------
# tanh

class TanhCache(NamedTuple):
    out: np.ndarray        # tanh(x): its derivative is 1 - out**2


def tanh_forward(x):
    """Hyperbolic tangent. Shape: input (*), output (*)."""
    x = as_float_array("tanh", "x", x)
    out = np.tanh(x)
    return out, TanhCache(out)


def tanh_backward(dout, cache: TanhCache):
    """dx = dout * (1 - tanh(x)**2)."""
    t = cache.out
    dout = check_dout("tanh_backward", dout, t.shape, t.dtype)
    return dout * (1 - t * t)


def tanh(x):
    """Hyperbolic tangent, squashing to (-1, 1)."""
    return tanh_forward(x)[0]


# ---------------------------------------------------------------------------------------------
# softplus

class SoftplusCache(NamedTuple):
    x: np.ndarray
    beta: float
    threshold: float


def softplus_forward(x, beta=1, threshold=20):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``.

    The linear branch is PyTorch's: above the threshold the two differ by less than
    ``exp(-threshold) / beta``. Shape: input (*), output (*).
    """
    beta = check_real("softplus", "beta", beta, "use beta=1 for the standard softplus",
                       positive=True)
    threshold = check_real("softplus", "threshold", threshold, "use threshold=20 as PyTorch")
    x = as_float_array("softplus", "x", x)
    z = x * x.dtype.type(beta)
    linear = z > threshold
    # clip before exp so the unused branch never overflows
    soft = np.log1p(np.exp(np.minimum(z, threshold))) / x.dtype.type(beta)
    out = np.where(linear, x, soft).astype(x.dtype, copy=False)
    return out, SoftplusCache(x, beta, threshold)


def softplus_backward(dout, cache: SoftplusCache):
    """dx = dout * sigmoid(beta * x), and dout itself on the linear branch."""
    x = cache.x
    dout = check_dout("softplus_backward", dout, x.shape, x.dtype)
    z = x * x.dtype.type(cache.beta)
    return np.where(z > cache.threshold, dout, dout * _stable_sigmoid(z)).astype(x.dtype, copy=False)


def softplus(x, beta=1, threshold=20):
    """Softplus, a smooth approximation of ReLU (PyTorch's ``threshold`` included)."""
    return softplus_forward(x, beta, threshold)[0]
