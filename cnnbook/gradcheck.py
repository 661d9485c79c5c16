"""Central finite differences, for checking backward passes (float64).

References: CS231n "Gradient checks" notes; Goodfellow et al., Deep Learning, §11.5.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "check_gradients"]


def numerical_gradient(f: Callable, x: np.ndarray, dout=None, eps: float = 1e-6) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to `x`, by central differences.

    `x` is not modified: the probe runs on a float64 copy. With ``dout=None`` the scalar is
    ``sum(f(x))`` (or ``f(x)`` itself when it is a scalar).
    """
    x = np.array(x, dtype=np.float64, order="C")  # a C-ordered copy: the caller's array is never
    # touched, and reshape(-1) below is a view of it (on a transposed copy it would be a copy)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)

    def scalar():
        y = np.asarray(f(x), dtype=np.float64)
        return float(np.sum(y if dout is None else y * dout))

    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = scalar()
        flat[i] = old - eps
        minus = scalar()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def rel_error(a, b, floor: float = 1e-8) -> float:
    """max |a - b| / max(|a| + |b|, floor), elementwise; ~1e-7 or less means a correct gradient."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}.")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def check_gradients(forward: Callable, backward: Callable, arrays: Sequence,
                    grad_of: Sequence[int] | None = None, names: Sequence[str] | None = None,
                    seed: int = 0, eps: float = 1e-6) -> dict:
    """Relative error between ``backward`` and finite differences, per gradient.

    ``forward(*arrays) -> (out, cache)``; ``backward(dout, cache)`` returns the gradients of the
    arrays at positions `grad_of` (default: every float array), in order. The upstream gradient is
    random (seeded), never ones.
    """
    arrays = [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
              else a for a in arrays]
    if grad_of is None:
        grad_of = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    names = list(names) if names is not None else [f"d{i}" for i in grad_of]
    out, cache = forward(*arrays)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    result = {}
    for g, i, n in zip(grads, grad_of, names):
        if g is None:
            continue

        def f(v, i=i):
            args = list(arrays)
            args[i] = v
            return forward(*args)[0]
        result[n] = rel_error(g, numerical_gradient(f, arrays[i], dout, eps))
    return result
