"""Fully connected layer and flatten — forward and backward.

``linear(x, w, b)`` is ``x @ w.T + b`` with PyTorch's weight layout ``(out_features,
in_features)``; ``flatten`` turns a feature map ``(N, C, H, W)`` into the rows a linear layer
reads, ``(N, C*H*W)``.

References:
- PyTorch documentation: ``torch.nn.functional.linear``, ``torch.flatten``.
- CS231n, "Backpropagation, intuitions" (gradients of a matrix product).
- I. Goodfellow, Y. Bengio and A. Courville, Deep Learning, MIT Press 2016, §6.5.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_axis, check_dout

__all__ = [
    "linear", "linear_forward", "linear_backward",
    "flatten", "flatten_forward", "flatten_backward",
]


class LinearCache(NamedTuple):
    x: np.ndarray          # (*, in_features): dw needs it
    w: np.ndarray          # (out_features, in_features): dx needs it
    has_bias: bool


def linear_forward(x, w, b=None):
    """``out = x @ w.T + b``.

    Shape: x ``(*, in_features)`` (usually ``(N, in_features)``), w ``(out_features,
    in_features)``, b ``(out_features,)`` or None; out ``(*, out_features)``.
    """
    x = as_float_array("linear", "x", x)
    w = as_float_array("linear", "w", w)
    if w.ndim != 2:
        raise ValueError(f"linear: w must be 2-D (out_features, in_features), got {w.ndim}-D with "
                         f"shape {tuple(w.shape)}; flatten it or build it as (out, in).")
    if x.ndim < 1:
        raise ValueError("linear: x must have at least 1 dimension (…, in_features), got a scalar; "
                         "pass x of shape (N, in_features).")
    out_features, in_features = w.shape
    if x.shape[-1] != in_features:
        hint = (" For a feature map, flatten it first: flatten(x) gives (N, C*H*W)."
                if x.ndim > 2 else "")
        raise ValueError(f"linear: x has shape {tuple(x.shape)} and w has shape {tuple(w.shape)}; "
                         f"the last dimension of x ({x.shape[-1]}) must equal w's in_features "
                         f"(dimension 1 of w, {in_features}).{hint}")
    dtype = np.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    out = x @ w.T                                            # (*, out_features)
    if b is not None:
        b = as_float_array("linear", "b", b)
        if b.shape != (out_features,):
            raise ValueError(f"linear: b has shape {tuple(b.shape)} but w has shape "
                             f"{tuple(w.shape)}; b needs one value per output feature, shape "
                             f"({out_features},), or pass b=None.")
        out = out + b.astype(dtype, copy=False)
    return out, LinearCache(x, w, b is not None)


def linear_backward(dout, cache: LinearCache):
    """Returns ``(dx, dw, db)``: dx = dout @ w, dw = dout.T @ x, db = dout summed over rows.

    db is None when the forward pass had no bias.
    """
    x, w, has_bias = cache
    out_features, in_features = w.shape
    dout = check_dout("linear_backward", dout, x.shape[:-1] + (out_features,), x.dtype)
    dx = dout @ w                                            # (*, in_features)
    rows = int(np.prod(x.shape[:-1]))                        # sizes, not -1: N may be 0
    d2 = dout.reshape(rows, out_features)                    # (rows, out_features)
    x2 = x.reshape(rows, in_features)                        # (rows, in_features)
    dw = d2.T @ x2                                           # (out_features, in_features)
    db = d2.sum(axis=0) if has_bias else None                # (out_features,)
    return dx, dw, db


def linear(x, w, b=None):
    """Fully connected layer, ``x @ w.T + b`` (PyTorch's ``F.linear``)."""
    return linear_forward(x, w, b)[0]


class FlattenCache(NamedTuple):
    shape: tuple           # the input shape, to reshape the gradient back


def flatten_forward(x, start_dim=1):
    """Merge dimensions ``start_dim`` … last into one (``torch.flatten(x, start_dim)``).

    Shape: ``(N, C, H, W)`` with start_dim=1 gives ``(N, C*H*W)``. Returns a copy-free
    reshape of the (converted) input; the caller's array is not modified.
    """
    x = as_float_array("flatten", "x", x)
    s = check_axis("flatten", "start_dim", start_dim, x, "use start_dim=1 to keep the batch axis")
    merged = int(np.prod(x.shape[s:]))                       # not -1: an axis may be 0
    out = x.reshape(x.shape[:s] + (merged,)) if x.ndim else x.reshape(1)
    return out, FlattenCache(tuple(x.shape))


def flatten_backward(dout, cache: FlattenCache):
    """dx is dout reshaped back to the input's shape."""
    d = as_float_array("flatten_backward", "dout", dout)
    if d.size != int(np.prod(cache.shape)):
        raise ValueError(f"flatten_backward: dout has {d.size} elements (shape {tuple(d.shape)}) "
                         f"but the input had {int(np.prod(cache.shape))} (shape {cache.shape}); "
                         f"pass the gradient of this layer's output.")
    return d.reshape(cache.shape)


def flatten(x, start_dim=1):
    """Flatten dimensions from ``start_dim`` on (PyTorch's ``torch.flatten``)."""
    return flatten_forward(x, start_dim)[0]
