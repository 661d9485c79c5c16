"""Softmax, log-softmax and the losses: cross-entropy, binary cross-entropy with logits, MSE.

Softmax and log-softmax subtract the maximum along ``dim`` first, so they are exact for logits as
large as ±1e4 (no ``exp`` overflow). The losses use mean reduction, as PyTorch's default; their
backward takes the scalar upstream gradient ``dout`` (1.0 in a training step:
``F.cross_entropy_backward(1.0, cache)``) and returns the gradient of the first argument.

References:
- J. Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs",
  1990 (softmax).
- I. Goodfellow, Y. Bengio and A. Courville, Deep Learning, MIT Press 2016, §4.1 (the
  max-subtraction for softmax) and §6.2.2 (cross-entropy with softmax outputs).
- CS231n, "Linear classification" (softmax classifier and its numeric stability).
- PyTorch documentation: ``torch.nn.functional.softmax``, ``log_softmax``, ``cross_entropy``,
  ``binary_cross_entropy_with_logits``, ``mse_loss``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_axis, check_dout, check_ndim, check_targets
from .activations import _stable_sigmoid

__all__ = [
    "softmax", "softmax_forward", "softmax_backward",
    "log_softmax", "log_softmax_forward", "log_softmax_backward",
    "cross_entropy", "cross_entropy_forward", "cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_forward",
    "binary_cross_entropy_with_logits_backward",
    "mse_loss", "mse_loss_forward", "mse_loss_backward",
]


# ---------------------------------------------------------------------------------------------
# private checks

def _check_dim(fn: str, dim, x: np.ndarray) -> int:
    return check_axis(fn, "dim", dim, x, "use dim=-1 for the last axis (the classes of (N, C) logits)")


def _check_scalar_dout(fn: str, dout, dtype):
    d = as_float_array(fn, "dout", dout)
    if d.size != 1:
        raise ValueError(f"{fn}: a loss is a scalar, so dout must be a scalar, got shape "
                         f"{tuple(d.shape)}; use dout=1.0 to start backpropagation.")
    return d.reshape(()).astype(dtype)


def _check_same_shape(fn: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {b_name} has shape {tuple(b.shape)} but {a_name} has shape "
                         f"{tuple(a.shape)}; they must be equal (no broadcasting) — one target "
                         f"per {a_name} element.")


def _mean_count(fn: str, n: int) -> int:
    if n == 0:
        raise ValueError(f"{fn}: the input is empty, so the mean is undefined; pass at least one "
                         f"example.")
    return n


# ---------------------------------------------------------------------------------------------
# softmax and log-softmax

class SoftmaxCache(NamedTuple):
    out: np.ndarray        # the probabilities: the Jacobian is diag(p) - p p^T
    dim: int


def softmax_forward(x, dim=-1):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed as ``exp(x - max)``. Shape: unchanged."""
    x = as_float_array("softmax", "x", x)
    dim = _check_dim("softmax", dim, x)
    if x.ndim == 0:
        x = x.reshape(1)
    e = np.exp(x - x.max(axis=dim, keepdims=True))            # largest term is exp(0) = 1
    out = e / e.sum(axis=dim, keepdims=True)
    return out, SoftmaxCache(out, dim)


def softmax_backward(dout, cache: SoftmaxCache):
    """dx = p * (dout - sum(dout * p)) along dim."""
    p, dim = cache
    dout = check_dout("softmax_backward", dout, p.shape, p.dtype)
    return p * (dout - np.sum(dout * p, axis=dim, keepdims=True))


def softmax(x, dim=-1):
    """Softmax along ``dim``: non-negative values that sum to 1."""
    return softmax_forward(x, dim)[0]


class LogSoftmaxCache(NamedTuple):
    out: np.ndarray        # log-probabilities
    dim: int


def log_softmax_forward(x, dim=-1):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``. Shape: unchanged."""
    x = as_float_array("log_softmax", "x", x)
    dim = _check_dim("log_softmax", dim, x)
    if x.ndim == 0:
        x = x.reshape(1)
    shifted = x - x.max(axis=dim, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
    return out, LogSoftmaxCache(out, dim)


def log_softmax_backward(dout, cache: LogSoftmaxCache):
    """dx = dout - softmax(x) * sum(dout) along dim."""
    out, dim = cache
    dout = check_dout("log_softmax_backward", dout, out.shape, out.dtype)
    return dout - np.exp(out) * np.sum(dout, axis=dim, keepdims=True)


def log_softmax(x, dim=-1):
    """Logarithm of softmax, computed without forming the (possibly underflowing) softmax."""
    return log_softmax_forward(x, dim)[0]


# ---------------------------------------------------------------------------------------------
# cross-entropy

class CrossEntropyCache(NamedTuple):
    log_probs: np.ndarray  # (N, C) log-softmax of the logits
    target: np.ndarray     # (N,) int64 class indices


def cross_entropy_forward(logits, target):
    """Mean over the batch of ``-log softmax(logits)[n, target[n]]``.

    Shape: logits ``(N, C)``, target ``(N,)`` integer class indices in ``[0, C)``; the loss is a
    scalar. Equivalent to ``log_softmax`` followed by the negative log-likelihood.
    """
    logits = as_float_array("cross_entropy", "logits", logits)
    check_ndim("cross_entropy", "logits", logits, 2, "(N, C): one row of class scores per example")
    n, c = logits.shape
    target = check_targets("cross_entropy", target, n, c)
    _mean_count("cross_entropy", n)
    log_probs, _ = log_softmax_forward(logits, dim=1)
    loss = -np.mean(log_probs[np.arange(n), target])
    return logits.dtype.type(loss), CrossEntropyCache(log_probs, target)


def cross_entropy_backward(dout, cache: CrossEntropyCache):
    """dlogits = dout * (softmax(logits) - onehot(target)) / N."""
    log_probs, target = cache
    n = log_probs.shape[0]
    dout = _check_scalar_dout("cross_entropy_backward", dout, log_probs.dtype)
    dlogits = np.exp(log_probs)                               # (N, C) probabilities
    dlogits[np.arange(n), target] -= 1
    return dlogits * (dout / n)


def cross_entropy(logits, target):
    """Cross-entropy between softmax(logits) and integer class targets, mean over the batch."""
    return cross_entropy_forward(logits, target)[0]


# ---------------------------------------------------------------------------------------------
# binary cross-entropy with logits

class BCEWithLogitsCache(NamedTuple):
    logits: np.ndarray
    target: np.ndarray


def binary_cross_entropy_with_logits_forward(logits, target):
    """Mean of ``-[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))]``.

    Computed as ``max(z, 0) - z*t + log1p(exp(-|z|))``, which never overflows. Shape: logits
    ``(*)``, target the same shape with values in ``[0, 1]``; the loss is a scalar.
    """
    fn = "binary_cross_entropy_with_logits"
    logits = as_float_array(fn, "logits", logits)
    target = as_float_array(fn, "target", target).astype(logits.dtype, copy=False)
    _check_same_shape(fn, "logits", logits, "target", target)
    _mean_count(fn, logits.size)
    if np.any(~np.isfinite(target)) or np.any(target < 0) or np.any(target > 1):
        bad = target[~((target >= 0) & (target <= 1))].flat[0]
        raise ValueError(f"{fn}: targets must be probabilities in [0, 1], found {bad}; for class "
                         f"indices over several classes use cross_entropy instead.")
    loss = np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))
    return logits.dtype.type(loss), BCEWithLogitsCache(logits, target)


def binary_cross_entropy_with_logits_backward(dout, cache: BCEWithLogitsCache):
    """dlogits = dout * (sigmoid(z) - t) / numel."""
    z, t = cache
    dout = _check_scalar_dout("binary_cross_entropy_with_logits_backward", dout, z.dtype)
    return (_stable_sigmoid(z) - t) * (dout / z.size)


def binary_cross_entropy_with_logits(logits, target):
    """Binary cross-entropy on raw scores (sigmoid folded in), mean over all elements."""
    return binary_cross_entropy_with_logits_forward(logits, target)[0]


# ---------------------------------------------------------------------------------------------
# mean squared error

class MSECache(NamedTuple):
    diff: np.ndarray       # input - target


def mse_loss_forward(input, target):
    """Mean of ``(input - target)**2`` over all elements. Shapes must be equal."""
    input = as_float_array("mse_loss", "input", input)
    target = as_float_array("mse_loss", "target", target).astype(input.dtype, copy=False)
    _check_same_shape("mse_loss", "input", input, "target", target)
    _mean_count("mse_loss", input.size)
    diff = input - target
    return input.dtype.type(np.mean(diff * diff)), MSECache(diff)


def mse_loss_backward(dout, cache: MSECache):
    """dinput = dout * 2 * (input - target) / numel."""
    diff = cache.diff
    dout = _check_scalar_dout("mse_loss_backward", dout, diff.dtype)
    return diff * (2 * dout / diff.size)


def mse_loss(input, target):
    """Mean squared error, mean over all elements."""
    return mse_loss_forward(input, target)[0]
