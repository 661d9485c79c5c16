"""Normalization layers — batch norm (NCHW maps and (N, C) / (N, C, L) batches), layer norm,
group norm, local response norm — and (inverted) dropout, forward and backward.

``batch_norm2d`` follows PyTorch: in training it normalizes with the batch mean and the *biased*
variance (divide by ``n = N*H*W``) but feeds the *unbiased* variance (divide by ``n - 1``) into the
running estimate. It never modifies the caller's running statistics: ``batch_norm2d_forward``
returns the updated copies in its cache, ``cache.running_mean`` and ``cache.running_var`` (None
when none were given). A layer object stores them for the next step; ``cnnbook.nn.BatchNorm2d``
does exactly that.

References:
- S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
  Internal Covariate Shift", ICML 2015.
- N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and R. Salakhutdinov, "Dropout: A Simple
  Way to Prevent Neural Networks from Overfitting", JMLR 15, 2014.
- CS231n assignment 2, "Batch normalization" (the compact backward formula).
- PyTorch documentation: ``torch.nn.BatchNorm2d``, ``torch.nn.functional.batch_norm``,
  ``torch.nn.functional.dropout``, ``torch.nn.functional.local_response_norm``.
- A. Krizhevsky, I. Sutskever and G. Hinton, "ImageNet Classification with Deep Convolutional
  Neural Networks", NeurIPS 2012, section 3.3 (local response normalization).
- J. L. Ba, J. R. Kiros and G. Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
- Y. Wu and K. He, "Group Normalization", ECCV 2018.
- PyTorch documentation: ``torch.nn.functional.layer_norm``, ``group_norm``,
  ``torch.nn.BatchNorm1d``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_dout, check_ndim, check_real, make_rng

__all__ = [
    "batch_norm2d", "batch_norm2d_forward", "batch_norm2d_backward",
    "dropout", "dropout_forward", "dropout_backward",
    "local_response_norm", "local_response_norm_forward", "local_response_norm_backward",
    "batch_norm1d", "batch_norm1d_forward", "batch_norm1d_backward",
    "layer_norm", "layer_norm_forward", "layer_norm_backward",
    "group_norm", "group_norm_forward", "group_norm_backward",
]


def _check_channel_param(fn: str, name: str, v, c: int, dtype, fix: str):
    if v is None:
        return None
    v = as_float_array(fn, name, v)
    if v.shape != (c,):
        raise ValueError(f"{fn}: {name} must have shape ({c},) — one value per channel of x — got "
                         f"shape {tuple(v.shape)}; {fix}.")
    return v.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# batch normalization

class BatchNorm2dCache(NamedTuple):
    x_hat: np.ndarray             # (N, C, H, W) normalized input
    inv_std: np.ndarray           # (C,) 1 / sqrt(var + eps), var of the batch or the running one
    gamma: np.ndarray | None      # (C,) scale, None means 1
    has_beta: bool
    training: bool                # batch statistics (True) or running statistics (False)
    running_mean: np.ndarray | None   # (C,) the updated running mean (a new array)
    running_var: np.ndarray | None    # (C,) the updated running variance (a new array)


def batch_norm2d_forward(x, gamma, beta, running_mean=None, running_var=None, training=True,
                         momentum=0.1, eps=1e-5):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` per channel.

    Shape: x ``(N, C, H, W)``; gamma, beta, running_mean, running_var ``(C,)`` (gamma/beta may be
    None, meaning 1 and 0). With ``training=True`` mean and var come from the batch (over N, H, W)
    and the running statistics, if given, are updated as
    ``new = (1 - momentum) * old + momentum * batch_stat``, using the unbiased variance. With
    ``training=False`` the running statistics are used and returned unchanged (as copies).

    Returns ``(out, cache)``; the updated running statistics are ``cache.running_mean`` and
    ``cache.running_var`` — the arrays passed in are left untouched.
    """
    fn = "batch_norm2d"
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    N, C, H, W = x.shape
    return _batch_norm_forward(fn, x, f"N*H*W = {N}*{H}*{W}", gamma, beta, running_mean,
                               running_var, training, momentum, eps)


def _batch_norm_forward(fn, x, count, gamma, beta, running_mean, running_var, training, momentum,
                        eps):
    """batch_norm2d's computation on a checked ``(N, C, H, W)`` array; `fn` names the public
    function in errors and `count` spells out its number of values per channel."""
    N, C, H, W = x.shape
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{fn}: training must be True or False, got training={training!r}.")
    momentum = check_real(fn, "momentum", momentum, "use momentum=0.1 as PyTorch (for a "
                           "cumulative average pass momentum=1/k on the k-th batch, as "
                           "PyTorch's momentum=None does)")
    if not 0 <= momentum <= 1:
        raise ValueError(f"{fn}: momentum must lie in [0, 1], got momentum={momentum}; use 0.1.")
    eps = check_real(fn, "eps", eps, "use eps=1e-5 as PyTorch", positive=True)
    fix = "pass an array of length C"
    gamma = _check_channel_param(fn, "gamma", gamma, C, x.dtype, fix + " (ones) or None")
    beta = _check_channel_param(fn, "beta", beta, C, x.dtype, fix + " (zeros) or None")
    running_mean = _check_channel_param(fn, "running_mean", running_mean, C, x.dtype, fix + " (zeros)")
    running_var = _check_channel_param(fn, "running_var", running_var, C, x.dtype, fix + " (ones)")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: pass both running_mean and running_var, or neither; got only "
                         f"{'running_mean' if running_var is None else 'running_var'}.")
    n = N * H * W                                             # values per channel
    axes = (0, 2, 3)
    if training:
        if n <= 1:
            raise ValueError(f"{fn}: training needs more than 1 value per channel to estimate a "
                             f"variance, got {count} = {n}; use a larger batch or "
                             f"training=False.")
        mean = x.mean(axis=axes)                              # (C,)
        centred = x - mean[None, :, None, None]
        var = np.mean(centred * centred, axis=axes)           # (C,) biased: divide by n
        if running_mean is not None:
            m = x.dtype.type(momentum)
            running_mean = (1 - m) * running_mean + m * mean
            running_var = (1 - m) * running_var + m * var * x.dtype.type(n / (n - 1))
    else:
        if running_mean is None:
            raise ValueError(f"{fn}: training=False normalizes with the running statistics, but "
                             f"running_mean and running_var are None; pass them, or use "
                             f"training=True for batch statistics.")
        var = running_var
        centred = x - running_mean[None, :, None, None]
        running_mean, running_var = running_mean.copy(), running_var.copy()
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))            # (C,)
    x_hat = np.multiply(centred, inv_std[None, :, None, None], out=centred)
    out = x_hat if gamma is None else x_hat * gamma[None, :, None, None]
    if beta is not None:
        # in place, except on x_hat itself (gamma None), which the cache keeps
        out = np.add(out, beta[None, :, None, None], out=None if out is x_hat else out)
    cache = BatchNorm2dCache(x_hat, inv_std, gamma, beta is not None, bool(training),
                             running_mean, running_var)
    return out, cache


def batch_norm2d_backward(dout, cache: BatchNorm2dCache):
    """Returns ``(dx, dgamma, dbeta)`` (dgamma/dbeta None where gamma/beta were None).

    In training the batch mean and variance depend on x, giving
    ``dx = inv_std / n * (n * g - sum(g) - x_hat * sum(g * x_hat))`` with ``g = dout * gamma``
    and sums over (N, H, W); in eval the statistics are constants and ``dx = g * inv_std``.
    """
    x_hat, inv_std, gamma, has_beta, training = cache[:5]
    N, C, H, W = x_hat.shape
    dout = check_dout("batch_norm2d_backward", dout, x_hat.shape, x_hat.dtype)
    axes = (0, 2, 3)
    dgamma = np.sum(dout * x_hat, axis=axes) if gamma is not None else None
    dbeta = np.sum(dout, axis=axes) if has_beta else None
    g = dout if gamma is None else dout * gamma[None, :, None, None]
    s = inv_std[None, :, None, None]
    if not training:
        return g * s, dgamma, dbeta
    n = N * H * W
    sum_g = g.sum(axis=axes, keepdims=True)
    sum_gx = np.sum(g * x_hat, axis=axes, keepdims=True)
    dx = s / n * (n * g - sum_g - x_hat * sum_gx)
    return dx, dgamma, dbeta


def batch_norm2d(x, gamma, beta, running_mean=None, running_var=None, training=True,
                 momentum=0.1, eps=1e-5):
    """Batch normalization of an ``(N, C, H, W)`` batch; returns only ``out``.

    To keep the updated running statistics use ``batch_norm2d_forward`` and read
    ``cache.running_mean`` / ``cache.running_var``.
    """
    return batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training,
                                momentum, eps)[0]


# ---------------------------------------------------------------------------------------------
# dropout

class DropoutCache(NamedTuple):
    mask: np.ndarray | None       # 0 or 1/(1-p) per element; None in eval (identity)
    shape: tuple
    dtype: np.dtype


def dropout_forward(x, p=0.5, training=True, rng=None):
    """Inverted dropout: zero each element with probability ``p``, scale the rest by ``1/(1-p)``.

    The scaling keeps the expected value unchanged, so evaluation (``training=False``) is the
    identity. ``rng`` is a ``np.random.Generator``, an int seed, or None for the library's
    generator (``cb.manual_seed``), as for ``nn.Dropout``. Shape: unchanged.
    """
    fn = "dropout"
    x = as_float_array(fn, "x", x)
    p = check_real(fn, "p", p, "use e.g. p=0.5")
    if not 0 <= p < 1:
        raise ValueError(f"{fn}: p is the probability of dropping an element and must lie in "
                         f"[0, 1), got p={p}; use e.g. p=0.5 (p=1 would drop everything).")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{fn}: training must be True or False, got training={training!r}.")
    if not training or p == 0:
        return x.copy(), DropoutCache(None, x.shape, x.dtype)
    rng = make_rng(fn, rng)                                    # a Generator, an int seed or None
    keep = rng.random(x.shape) >= p                           # True with probability 1 - p
    mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
    return x * mask, DropoutCache(mask, x.shape, x.dtype)


def dropout_backward(dout, cache: DropoutCache):
    """dx = dout * mask (the same elements are dropped and scaled); identity in eval."""
    dout = check_dout("dropout_backward", dout, cache.shape, cache.dtype)
    return dout.copy() if cache.mask is None else dout * cache.mask


def dropout(x, p=0.5, training=True, rng=None):
    """Inverted dropout (PyTorch's ``F.dropout``); identity when ``training=False``."""
    return dropout_forward(x, p, training, rng)[0]


# ---------------------------------------------------------------------------------------------
# local response normalization (AlexNet)

class LocalResponseNormCache(NamedTuple):
    x: np.ndarray                 # (N, C, ...) the input
    scale: np.ndarray             # (N, C, ...) k + alpha/size * (sum of x^2 over the window)
    out: np.ndarray               # (N, C, ...) x * scale**(-beta)
    size: int
    alpha: float
    beta: float


def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """For each channel c, the sum of a[:, c - before : c + after + 1] (zeros outside)."""
    C = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before + 1, after)                       # one extra zero for the cumulative sum
    cs = np.cumsum(np.pad(a, pad), axis=1)             # (N, C + before + after + 1, ...)
    hi = np.take(cs, np.arange(before + after + 1, before + after + 1 + C), axis=1)
    lo = np.take(cs, np.arange(0, C), axis=1)
    return hi - lo


def local_response_norm_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels, as ``torch.nn.functional.local_response_norm``.

    ``out[:, c] = x[:, c] / (k + alpha/size * sum(x[:, j]**2 for j in window(c)))**beta`` where
    ``window(c)`` runs from ``c - size//2`` to ``c + (size-1)//2`` (channels outside 0..C-1
    count as zero). AlexNet used size=5, alpha=1e-4, beta=0.75, k=2 — with alpha written for the
    plain sum, so PyTorch's ``alpha`` (divided by size) is 5e-4 for the paper's layer.

    Shape: x ``(N, C, ...)`` (at least 3 dimensions, as PyTorch); out has the shape of x.
    Returns ``(out, cache)``.
    """
    fn = "local_response_norm"
    x = as_float_array(fn, "x", x)
    if x.ndim < 3:
        raise ValueError(f"{fn}: x must have at least 3 dimensions (N, C, ...), got shape "
                         f"{tuple(x.shape)}; add a spatial axis, e.g. x[:, :, None].")
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{fn}: size is the number of neighbouring channels summed over and must "
                         f"be a positive integer, got size={size!r}; AlexNet used size=5.")
    alpha = check_real(fn, "alpha", alpha, "AlexNet used alpha=1e-4 (per channel: 1e-4 * size)")
    beta = check_real(fn, "beta", beta, "AlexNet used beta=0.75")
    k = check_real(fn, "k", k, "AlexNet used k=2", positive=True)
    if alpha < 0:
        raise ValueError(f"{fn}: alpha must be >= 0, got alpha={alpha}; AlexNet used 1e-4.")
    size = int(size)
    t = x.dtype.type
    scale = t(k) + t(alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    out = x * scale ** t(-beta)
    return out, LocalResponseNormCache(x, scale, out, size, alpha, beta)


def local_response_norm_backward(dout, cache: LocalResponseNormCache):
    """dx_i = dout_i * scale_i**(-beta)
    - 2 * beta * alpha/size * x_i * sum(dout_c * out_c / scale_c for every c whose window holds i).

    Channel i lies in the window of channels ``i - (size-1)//2 .. i + size//2``: the window
    turned around, so the same cumulative-sum trick gives the second term.
    """
    x, scale, out, size, alpha, beta = cache
    dout = check_dout("local_response_norm_backward", dout, x.shape, x.dtype)
    t = x.dtype.type
    g = dout * out / scale                                   # dL/d(scale_c) = -beta * g_c
    back = _channel_window_sum(g, (size - 1) // 2, size // 2)
    return dout * scale ** t(-beta) - t(2 * beta * alpha / size) * x * back


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet); returns only ``out``."""
    return local_response_norm_forward(x, size, alpha, beta, k)[0]


# ---------------------------------------------------------------------------------------------
# batch normalization of (N, C) and (N, C, L) batches: batch_norm2d on a reshaped view

class BatchNorm1dCache(NamedTuple):
    x_hat: np.ndarray             # (N, C, L, 1) normalized input, as batch_norm2d holds it
    inv_std: np.ndarray           # (C,)
    gamma: np.ndarray | None      # (C,)
    has_beta: bool
    training: bool
    running_mean: np.ndarray | None   # (C,) the updated running mean (a new array)
    running_var: np.ndarray | None    # (C,) the updated running variance (a new array)
    shape: tuple                  # the input's shape, (N, C) or (N, C, L)


def batch_norm1d_forward(x, gamma, beta, running_mean=None, running_var=None, training=True,
                         momentum=0.1, eps=1e-5):
    """Batch normalization of ``(N, C)`` features or ``(N, C, L)`` sequences, per channel C.

    The statistics run over N (and L), exactly as ``batch_norm2d`` runs over N, H and W — which
    is how it is computed: ``x`` is viewed as ``(N, C, L, 1)``. Arguments, the running-statistics
    update (biased variance to normalize, unbiased into the running estimate) and the cache's
    ``running_mean`` / ``running_var`` are batch_norm2d's. PyTorch's ``momentum=None`` (a
    cumulative average) is ``momentum=1/k`` on the k-th training batch.

    Shape:
        x ``(N, C)`` or ``(N, C, L)``; gamma, beta, running_mean, running_var ``(C,)``;
        out the shape of x.

    >>> out, cache = batch_norm1d_forward(np.array([[1.0, 10.0], [3.0, 30.0]]), None, None)
    >>> out.round(4).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    fn = "batch_norm1d"
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, (2, 3), "(N, C) or (N, C, L)")
    count = f"N = {x.shape[0]}" if x.ndim == 2 else f"N*L = {x.shape[0]}*{x.shape[2]}"
    x4 = x.reshape(x.shape[0], x.shape[1], -1, 1)              # (N, C, L, 1)
    out, c = _batch_norm_forward(fn, x4, count, gamma, beta, running_mean, running_var, training,
                                 momentum, eps)
    return out.reshape(x.shape), BatchNorm1dCache(*c, shape=x.shape)


def batch_norm1d_backward(dout, cache: BatchNorm1dCache):
    """Returns ``(dx, dgamma, dbeta)``: batch_norm2d's backward on the ``(N, C, L, 1)`` view."""
    dout = check_dout("batch_norm1d_backward", dout, cache.shape, cache.x_hat.dtype)
    dx, dgamma, dbeta = batch_norm2d_backward(dout.reshape(cache.x_hat.shape),
                                              BatchNorm2dCache(*cache[:7]))
    return dx.reshape(cache.shape), dgamma, dbeta


def batch_norm1d(x, gamma, beta, running_mean=None, running_var=None, training=True,
                 momentum=0.1, eps=1e-5):
    """Batch normalization of an ``(N, C)`` or ``(N, C, L)`` batch; returns only ``out``.

    Shape:
        x ``(N, C)`` or ``(N, C, L)``; out the shape of x.

    >>> batch_norm1d(np.array([[0.0], [2.0]]), np.array([3.0]), np.array([1.0])).round(4).tolist()
    [[-2.0], [4.0]]
    """
    return batch_norm1d_forward(x, gamma, beta, running_mean, running_var, training,
                                momentum, eps)[0]


# ---------------------------------------------------------------------------------------------
# shared by layer and group normalization

def _check_affine(fn: str, name: str, v, shape: tuple, dtype, what: str):
    if v is None:
        return None
    v = as_float_array(fn, name, v)
    if v.shape != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)} — {what} — got shape "
                         f"{tuple(v.shape)}; pass an array of that shape or None.")
    return v.astype(dtype, copy=False)


def _normalize_backward(g, x_hat, inv_std, axes, n):
    """dx of ``x_hat = (x - mean) * inv_std`` with mean and biased var over `axes` (n values),
    given g = dL/dx_hat: ``inv_std / n * (n g - sum(g) - x_hat * sum(g x_hat))``."""
    sum_g = g.sum(axis=axes, keepdims=True)
    sum_gx = np.sum(g * x_hat, axis=axes, keepdims=True)
    return inv_std / n * (n * g - sum_g - x_hat * sum_gx)


# ---------------------------------------------------------------------------------------------
# layer normalization

class LayerNormCache(NamedTuple):
    x_hat: np.ndarray             # (*, *normalized_shape) normalized input
    inv_std: np.ndarray           # (*, 1, ..., 1) 1 / sqrt(var + eps) per normalized group
    weight: np.ndarray | None     # normalized_shape, None means 1
    has_bias: bool
    ndim: int                     # len(normalized_shape): the trailing axes normalized over


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the trailing ``normalized_shape``.

    Each example (each position of the leading axes) is normalized by the mean and the biased
    variance of its own last ``len(normalized_shape)`` axes; weight and bias are elementwise over
    those axes. Unlike batch norm, nothing depends on the batch, so training and evaluation
    compute the same. Returns ``(out, cache)``.

    Shape:
        x ``(*, *normalized_shape)``; weight, bias ``normalized_shape``; out the shape of x.
        ``normalized_shape`` is an int (the last axis) or a tuple.

    >>> out, cache = layer_norm_forward(np.array([[1.0, 2.0, 3.0]]), 3)
    >>> out.round(4).tolist()
    [[-1.2247, 0.0, 1.2247]]
    """
    fn = "layer_norm"
    x = as_float_array(fn, "x", x)
    shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else \
        tuple(normalized_shape)
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                            for s in shape):
        raise TypeError(f"{fn}: normalized_shape must be a positive int or a non-empty tuple of "
                        f"positive ints, got {normalized_shape!r}; use e.g. x.shape[-1:].")
    shape = tuple(int(s) for s in shape)
    D = len(shape)
    if x.ndim < D or tuple(x.shape[x.ndim - D:]) != shape:
        raise ValueError(f"{fn}: normalized_shape={shape} must equal the last {D} axes of x, but "
                         f"x has shape {tuple(x.shape)}; use normalized_shape=x.shape[-{D}:].")
    eps = check_real(fn, "eps", eps, "use eps=1e-5 as PyTorch", positive=True)
    what = "one value per normalized element"
    weight = _check_affine(fn, "weight", weight, shape, x.dtype, what)
    bias = _check_affine(fn, "bias", bias, shape, x.dtype, what)
    axes = tuple(range(x.ndim - D, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)                   # (*, 1, ..., 1)
    var = x.var(axis=axes, keepdims=True)                     # biased: divide by prod(shape)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    x_hat = (x - mean) * inv_std
    out = x_hat if weight is None else x_hat * weight
    if bias is not None:
        out = out + bias
    return out, LayerNormCache(x_hat, inv_std, weight, bias is not None, D)


def layer_norm_backward(dout, cache: LayerNormCache):
    """Returns ``(dx, dweight, dbias)`` (None where weight/bias were None).

    ``dx = inv_std / n * (n g - sum(g) - x_hat * sum(g * x_hat))`` with ``g = dout * weight`` and
    the sums over the n normalized elements of each example; dweight and dbias sum over the
    leading axes."""
    x_hat, inv_std, weight, has_bias, D = cache
    dout = check_dout("layer_norm_backward", dout, x_hat.shape, x_hat.dtype)
    lead = tuple(range(x_hat.ndim - D))
    axes = tuple(range(x_hat.ndim - D, x_hat.ndim))
    dweight = np.sum(dout * x_hat, axis=lead) if weight is not None else None
    dbias = np.sum(dout, axis=lead) if has_bias else None
    g = dout if weight is None else dout * weight
    n = int(np.prod(x_hat.shape[x_hat.ndim - D:]))
    return _normalize_backward(g, x_hat, inv_std, axes, n), dweight, dbias


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the trailing ``normalized_shape`` axes; returns only ``out``.

    Shape:
        x ``(*, *normalized_shape)``; out the shape of x.

    >>> layer_norm(np.array([[0.0, 4.0]]), (2,), bias=np.array([1.0, 1.0])).round(4).tolist()
    [[0.0, 2.0]]
    """
    return layer_norm_forward(x, normalized_shape, weight, bias, eps)[0]


# ---------------------------------------------------------------------------------------------
# group normalization

class GroupNormCache(NamedTuple):
    x_hat: np.ndarray             # (N, C, *) normalized input
    inv_std: np.ndarray           # (N, G, 1) 1 / sqrt(var + eps) per example and group
    weight: np.ndarray | None     # (C,), None means 1
    has_bias: bool
    num_groups: int


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))             # (1, C, 1, ...) broadcasts on x


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each example over groups of ``C / num_groups`` channels (and all positions),
    then scale and shift per channel.

    ``num_groups=1`` normalizes each example over all of (C, H, W), like layer norm with a
    per-channel affine; ``num_groups=C`` is instance normalization. Statistics are per example,
    so they do not depend on the batch. Returns ``(out, cache)``.

    Shape:
        x ``(N, C, *)`` with C divisible by num_groups; weight, bias ``(C,)``; out the shape
        of x.

    >>> x = np.array([[[1.0], [3.0], [10.0], [30.0]]])        # (N, C, L) = (1, 4, 1)
    >>> out, cache = group_norm_forward(x, 2)
    >>> out.ravel().round(4).tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    fn = "group_norm"
    x = as_float_array(fn, "x", x)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must be (N, C, *) with at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}; for a single example add a batch axis: x[None].")
    N, C = x.shape[:2]
    if isinstance(num_groups, (bool, np.bool_)) or not isinstance(num_groups, (int, np.integer)):
        raise TypeError(f"{fn}: num_groups must be an integer, got num_groups={num_groups!r}; "
                        f"use a divisor of C={C}, e.g. num_groups=1.")
    if num_groups < 1 or C % num_groups:
        divisors = [d for d in range(1, C + 1) if C % d == 0]
        raise ValueError(f"{fn}: num_groups={num_groups} must be a positive divisor of the "
                         f"C={C} channels; choose among {divisors}.")
    eps = check_real(fn, "eps", eps, "use eps=1e-5 as PyTorch", positive=True)
    G = int(num_groups)
    weight = _check_affine(fn, "weight", weight, (C,), x.dtype, "one value per channel")
    bias = _check_affine(fn, "bias", bias, (C,), x.dtype, "one value per channel")
    xg = x.reshape(N, G, -1)                                  # (N, G, C/G * spatial)
    mean = xg.mean(axis=2, keepdims=True)                     # (N, G, 1)
    inv_std = 1 / np.sqrt(xg.var(axis=2, keepdims=True) + x.dtype.type(eps))
    x_hat = ((xg - mean) * inv_std).reshape(x.shape)
    out = x_hat if weight is None else x_hat * _per_channel(weight, x.ndim)
    if bias is not None:
        out = out + _per_channel(bias, x.ndim)
    return out, GroupNormCache(x_hat, inv_std, weight, bias is not None, G)


def group_norm_backward(dout, cache: GroupNormCache):
    """Returns ``(dx, dweight, dbias)`` (None where weight/bias were None): the layer-norm
    formula on each (example, group) block of ``C / num_groups`` channels."""
    x_hat, inv_std, weight, has_bias, G = cache
    dout = check_dout("group_norm_backward", dout, x_hat.shape, x_hat.dtype)
    N = x_hat.shape[0]
    other = (0,) + tuple(range(2, x_hat.ndim))                # every axis but the channels
    dweight = np.sum(dout * x_hat, axis=other) if weight is not None else None
    dbias = np.sum(dout, axis=other) if has_bias else None
    g = dout if weight is None else dout * _per_channel(weight, x_hat.ndim)
    xg = x_hat.reshape(N, G, -1)                              # (N, G, n)
    dx = _normalize_backward(g.reshape(N, G, -1), xg, inv_std, 2, xg.shape[2])
    return dx.reshape(x_hat.shape), dweight, dbias


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization of an ``(N, C, *)`` batch; returns only ``out``.

    Shape:
        x ``(N, C, *)``; out the shape of x.

    >>> group_norm(np.array([[[0.0, 2.0], [4.0, 6.0]]]), 1).round(4).tolist()
    [[[-1.3416, -0.4472], [0.4472, 1.3416]]]
    """
    return group_norm_forward(x, num_groups, weight, bias, eps)[0]
