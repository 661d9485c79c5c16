"""Elementwise activations: ReLU, leaky ReLU, sigmoid, tanh, softplus, GELU, SiLU — forward and
backward.

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
  ``softplus`` (its ``threshold`` argument), ``gelu`` (its ``approximate`` argument), ``silu``.
- D. Hendrycks and K. Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415, 2016.
- S. Elfwing, E. Uchibe and K. Doya, "Sigmoid-Weighted Linear Units for Neural Network Function
  Approximation in Reinforcement Learning", Neural Networks 107, 2018 (SiLU); P. Ramachandran,
  B. Zoph and Q. Le, "Searching for Activation Functions", 2017 (the same function as Swish).
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
    "gelu", "gelu_forward", "gelu_backward",
    "silu", "silu_forward", "silu_backward",
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


# ---------------------------------------------------------------------------------------------
# GELU

_SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))
_GELU_TANH_A = 0.044715


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, to the last bit: SciPy's when it is installed, else the C
    library's (``math.erf``) one element at a time. NumPy has no ``erf`` of its own."""
    try:
        from scipy.special import erf
    except ImportError:                                       # the core needs only NumPy
        import math
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x).astype(x.dtype, copy=False)


class GeluCache(NamedTuple):
    x: np.ndarray
    approximate: str              # "none" (the exact erf form) or "tanh"


def _check_approximate(fn: str, approximate) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{fn}: approximate must be 'none' (the exact erf form) or 'tanh', got "
                         f"approximate={approximate!r}; use approximate='none' as PyTorch.")
    return approximate


def gelu_forward(x, approximate="none"):
    """``x * Phi(x)``, with ``Phi`` the standard normal CDF ``(1 + erf(x / sqrt(2))) / 2``.

    ``approximate="tanh"`` uses ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))`` instead,
    as BERT and GPT-2 did. Returns ``(out, cache)``.

    Shape:
        x ``(*)``; out ``(*)``, the same shape.

    >>> out, cache = gelu_forward(np.array([-1.0, 0.0, 1.0]))
    >>> np.round(out, 4).tolist()
    [-0.1587, 0.0, 0.8413]
    """
    approximate = _check_approximate("gelu", approximate)
    x = as_float_array("gelu", "x", x)
    t = x.dtype.type
    if approximate == "tanh":
        out = t(0.5) * x * (1 + np.tanh(t(_SQRT_2_OVER_PI) * (x + t(_GELU_TANH_A) * x * x * x)))
    else:
        out = t(0.5) * x * (1 + _erf(x * t(np.sqrt(0.5))))
    return out.astype(x.dtype, copy=False), GeluCache(x, approximate)


def gelu_backward(dout, cache: GeluCache):
    """dx = dout * (Phi(x) + x * phi(x)), with ``phi`` the standard normal density; for the tanh
    form, with ``u = sqrt(2/pi) (x + 0.044715 x^3)``:
    ``dout * (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2))``."""
    x, approximate = cache
    dout = check_dout("gelu_backward", dout, x.shape, x.dtype)
    t = x.dtype.type
    if approximate == "tanh":
        k = t(_SQRT_2_OVER_PI)
        th = np.tanh(k * (x + t(_GELU_TANH_A) * x * x * x))
        local = t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * k * (1 + t(3 * _GELU_TANH_A) * x * x)
    else:
        cdf = t(0.5) * (1 + _erf(x * t(np.sqrt(0.5))))
        pdf = np.exp(t(-0.5) * x * x) * t(1 / np.sqrt(2 * np.pi))
        local = cdf + x * pdf
    return (dout * local).astype(x.dtype, copy=False)


def gelu(x, approximate="none"):
    """Gaussian error linear unit, ``x * Phi(x)`` (PyTorch's ``F.gelu``); returns only ``out``.

    Shape:
        x ``(*)``; out ``(*)``.

    >>> float(gelu(np.array(2.0), approximate="tanh").round(4))
    1.9546
    """
    return gelu_forward(x, approximate)[0]


# ---------------------------------------------------------------------------------------------
# SiLU (swish)

class SiluCache(NamedTuple):
    x: np.ndarray
    sig: np.ndarray               # sigmoid(x): d/dx x*s = s * (1 + x * (1 - s))


def silu_forward(x):
    """``x * sigmoid(x)``. Returns ``(out, cache)``.

    Shape:
        x ``(*)``; out ``(*)``, the same shape.

    >>> out, cache = silu_forward(np.array([-1.0, 0.0, 1.0]))
    >>> np.round(out, 4).tolist()
    [-0.2689, 0.0, 0.7311]
    """
    x = as_float_array("silu", "x", x)
    s = _stable_sigmoid(x)
    return x * s, SiluCache(x, s)


def silu_backward(dout, cache: SiluCache):
    """dx = dout * s * (1 + x * (1 - s)), with s = sigmoid(x)."""
    x, s = cache
    dout = check_dout("silu_backward", dout, x.shape, x.dtype)
    return dout * (s * (1 + x * (1 - s)))


def silu(x):
    """Sigmoid-weighted linear unit (swish), ``x * sigmoid(x)``; returns only ``out``.

    Shape:
        x ``(*)``; out ``(*)``.

    >>> silu(np.array([0.0, 100.0])).tolist()
    [0.0, 100.0]
    """
    return silu_forward(x)[0]
