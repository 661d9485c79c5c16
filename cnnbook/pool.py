"""Pooling layers in NumPy, forward and backward, with PyTorch's semantics (NCHW).

Max, average, power-average (Lp), adaptive average, global average and region-of-interest
pooling. Each operation comes as ``op(...)``, ``op_forward(...) -> (out, cache)`` and
``op_backward(dout, cache) -> dx``; max and average pooling also have loop versions for
teaching (``max_pool2d_naive``, ``max_pool2d_backward_naive``, ``avg_pool2d_naive``,
``avg_pool2d_backward_naive``) that the tests hold equal to the fast ones. 2x2 max pooling with
stride 2 takes the fast path of ``cnnbook.fast``, held equal to the code here bit for bit.

References:
    - PyTorch documentation: ``torch.nn.functional.max_pool2d``, ``avg_pool2d``, ``lp_pool2d``,
      ``adaptive_avg_pool2d`` (output-size formulas, ``ceil_mode``, ``count_include_pad``), and
      its CPU kernel ``aten/src/ATen/native/cpu/MaxPoolKernel.cpp`` (a window's maximum starts at
      -inf and is replaced only by a strictly larger value or a NaN: the first maximum wins).
    - R. Girshick, "Fast R-CNN", ICCV 2015 (RoI max pooling).
    - torchvision ``torchvision.ops.roi_pool`` and its CPU kernel ``roi_pool_kernel.cpp``
      (rounding of box corners, floor/ceil bin edges, empty bins give 0).
    - Y-L. Boureau, J. Ponce, Y. LeCun, "A Theoretical Analysis of Feature Pooling in Visual
      Recognition", ICML 2010 (max versus average pooling).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ._checks import (as_float_array, check_bool, check_dout, check_ndim, check_positive_float,
                      check_strict_tiling, out_size, pair, pair_nonneg)
from . import fast
from .window import Window, extent, tap_slices

__all__ = [
    "max_pool2d", "max_pool2d_forward", "max_pool2d_backward", "max_pool2d_naive",
    "max_pool2d_backward_naive",
    "avg_pool2d", "avg_pool2d_forward", "avg_pool2d_backward", "avg_pool2d_naive",
    "avg_pool2d_backward_naive",
    "lp_pool2d", "lp_pool2d_forward", "lp_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    "roi_pool", "roi_pool_forward", "roi_pool_backward",
]

_LAYOUT = "(N, C, H, W)"


# ----------------------------------------------------------------------------------------------
# Shared argument handling
# ----------------------------------------------------------------------------------------------

def _check_pool_padding(fn: str, kernel: tuple, padding: tuple) -> None:
    """PyTorch's pooling rule: padding may be at most half the kernel (kernel_size // 2)."""
    for axis, k, p in zip("HW", kernel, padding):
        if p > k // 2:
            raise ValueError(
                f"{fn}: padding={p} along {axis} is more than half of kernel_size={k} "
                f"(at most {k} // 2 = {k // 2}); a window could then lie entirely in the padding. "
                f"Use padding <= {k // 2} or a larger kernel.")


def _window(fn: str, x: np.ndarray, kernel_size, stride, padding, dilation, ceil_mode,
            strict) -> Window:
    """Validate the hyper-parameters of a sliding-window pooling and compute its geometry.

    ``pads`` holds the padding each side gets: ``padding`` on the top and left, and on the
    bottom and right ``padding`` or more, enough for a ``ceil_mode`` window that runs past it."""
    kernel = pair(fn, "kernel_size", kernel_size)
    stride = pair(fn, "stride", kernel if stride is None else stride)
    padding = pair_nonneg(fn, "padding", padding)
    dilation = pair(fn, "dilation", dilation)
    ceil_mode = check_bool(fn, "ceil_mode", ceil_mode)
    strict = check_bool(fn, "strict", strict)
    _check_pool_padding(fn, kernel, padding)
    out, pads = [], []
    for axis, n, k, s, p, d in zip("HW", x.shape[2:], kernel, stride, padding, dilation):
        out.append(out_size(fn, axis, n, k, s, p, d, ceil_mode))
        pads.append((p, max(p, extent(out[-1], k, s, d) - n - p)))
        if strict:
            check_strict_tiling(fn, axis, n, k, s, p, d)
    return Window(kernel, stride, dilation, tuple(pads), tuple(out))


def _input(fn: str, x) -> np.ndarray:
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, 4, _LAYOUT)
    return x


def _pad(x: np.ndarray, g: Window, value: float) -> np.ndarray:
    """`x` padded with `value` by ``g.pads``, so that every window lies inside."""
    if not any(sum(g.pads, ())):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + g.pads, constant_values=value)


def _first_inside(n_out: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Per output position, the first kernel tap that lands inside the input (not padding)."""
    start = np.arange(n_out) * s - p                    # (n_out,) first tap, may be negative
    return np.maximum(0, -(start // d)).clip(max=k - 1)  # taps with start + t*d >= 0


# ----------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------

class MaxPool2dCache(NamedTuple):
    x_shape: tuple
    dtype: np.dtype
    window: Window
    argmax: np.ndarray | None    # (N, C, H_out, W_out) winning tap kh*KW + kw (reference)
    wins: tuple | None           # the 2x2/stride-2 fast path's (right_won, bottom_won)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode=False, *, strict=False):
    """Max pooling; returns ``(out, cache)``. See :func:`max_pool2d`."""
    fn = "max_pool2d"
    x = _input(fn, x)
    g = _window(fn, x, kernel_size, stride, padding, dilation, ceil_mode,
                strict)
    if fast.max_pool2d_2x2_applies(g):       # 2x2 windows, stride 2: fast.py
        out, wins = fast.max_pool2d_2x2_forward(x, g)
        return out, MaxPool2dCache(x.shape, x.dtype, g, None, wins)
    if fast.max_pool2d_scan_applies(g):      # other windows: fast.py
        found = fast.max_pool2d_scan_forward(x, g)   # None: NaN or -inf
        if found is not None:
            return found[0], MaxPool2dCache(x.shape, x.dtype, g, found[1], None)
    N, C, H, W = x.shape
    (KH, KW), (s_h, s_w), (d_h, d_w), ((p_h, _), (p_w, _)), (H_out, W_out) = g
    xp = _pad(x, g, -np.inf)
    # A window's max starts at -inf with the winner at its first tap inside
    # the input, so that an all -inf window points at a real pixel, as
    # PyTorch's kernel does.
    first_h = _first_inside(H_out, KH, s_h, p_h, d_h)
    first_w = _first_inside(W_out, KW, s_w, p_w, d_w)
    argmax = np.empty((N, C, H_out, W_out), dtype=np.intp)
    argmax[...] = first_h[:, None] * KW + first_w[None, :]
    out = np.full((N, C, H_out, W_out), -np.inf, dtype=x.dtype)
    for kh, kw, sh, sw in tap_slices(g):    # each window, in row-major order
        v = xp[:, :, sh, sw]                 # (N, C, H_out, W_out)
        better = (v > out) | np.isnan(v)     # strictly: the first max wins
        argmax[better] = kh * KW + kw
        out = np.where(better, v, out)
    return out, MaxPool2dCache(x.shape, x.dtype, g, argmax, None)


def max_pool2d_backward(dout, cache: MaxPool2dCache):
    """Gradient of max pooling: each window's upstream gradient goes to its
    (first) maximum; overlapping windows add up. Returns ``dx`` of shape
    ``cache.x_shape``."""
    N, C, H, W = cache.x_shape
    g = cache.window
    dout = check_dout("max_pool2d_backward", dout, (N, C) + g.out,
                      cache.dtype)
    if cache.wins is not None:          # the forward took the fast path
        return fast.max_pool2d_2x2_backward(dout, cache.x_shape, g,
                                            cache.wins)
    if fast.max_pool2d_scan_applies(g):      # other windows: fast.py
        return fast.max_pool2d_scan_backward(dout, cache.x_shape, g, cache.argmax)
    KW = g.kernel[1]
    (top, bottom), (left, right) = g.pads
    dxp = np.zeros((N, C, top + H + bottom, left + W + right), cache.dtype)
    zero = np.zeros((), dtype=cache.dtype)
    for kh, kw, sh, sw in tap_slices(g):    # overlapping windows add up
        won = cache.argmax == kh * KW + kw   # (N, C, H_out, W_out)
        dxp[:, :, sh, sw] += np.where(won, dout, zero)
    return dxp[:, :, top:top + H, left:left + W].copy()


def _taps(cache: MaxPool2dCache) -> np.ndarray:
    """The winning kernel tap ``kh * KW + kw`` of every window, ``(N, C, H_out, W_out)``."""
    if cache.wins is None:
        return cache.argmax.astype(np.intp, copy=False)
    return fast.max_pool2d_2x2_taps(cache.x_shape, cache.window, cache.wins)


def _flat_indices(cache: MaxPool2dCache) -> np.ndarray:
    """PyTorch's ``return_indices``: the position ``h * W + w`` of each maximum in its plane."""
    g = cache.window
    W = cache.x_shape[3]
    tap = _taps(cache)
    KW = g.kernel[1]
    oh = np.arange(g.out[0])[:, None]
    ow = np.arange(g.out[1])[None, :]
    h = oh * g.stride[0] - g.pads[0][0] + (tap // KW) * g.dilation[0]
    w = ow * g.stride[1] - g.pads[1][0] + (tap % KW) * g.dilation[1]
    return (h * W + w).astype(np.int64)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
               strict=False, return_indices=False):
    """Max pooling over each channel, as ``torch.nn.functional.max_pool2d``.

    Every window keeps its largest value. The input is padded with -inf, so padding never wins;
    ``padding`` may be at most ``kernel_size // 2``. Ties go to the first maximum in row-major
    scan order of the window, which is where the backward pass sends the gradient. A NaN in a
    window makes the output NaN, as in PyTorch.

    Args:
        x: ``(N, C, H, W)``; integer arrays are computed in float64, float32 stays float32.
        kernel_size, stride, padding, dilation: an int or a pair ``(h, w)``; ``stride=None``
            means ``kernel_size`` (non-overlapping windows).
        ceil_mode: round the output size up, keeping a last partial window if it starts inside
            the input or its left padding.
        strict: raise instead of silently dropping rows/columns that no window reaches.
        return_indices: also return each maximum's flat index ``h * W + w`` in its plane.

    Shape:
        ``out``: ``(N, C, H_out, W_out)`` with
        ``H_out = floor((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``
        (``ceil`` instead of ``floor`` when ``ceil_mode=True``), and likewise ``W_out``.
    """
    out, cache = max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode,
                                    strict=strict)
    if check_bool("max_pool2d", "return_indices", return_indices):
        return out, _flat_indices(cache)
    return out


def max_pool2d_naive(x, kernel_size, stride=None, padding=0, dilation=1,
                     ceil_mode=False, *, strict=False):
    """Max pooling written as plain loops, for reading. Same result as
    :func:`max_pool2d`."""
    fn = "max_pool2d_naive"
    x = _input(fn, x)
    g = _window(fn, x, kernel_size, stride, padding, dilation, ceil_mode,
                strict)
    (KH, KW), (s_h, s_w), (d_h, d_w), ((p_h, _), (p_w, _)), (H_out, W_out) = g
    N, C, H, W = x.shape
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    best = -np.inf
                    for kh in range(KH):
                        h = i * s_h - p_h + kh * d_h
                        for kw in range(KW):
                            w = j * s_w - p_w + kw * d_w
                            if 0 <= h < H and 0 <= w < W:  # skip padding
                                v = x[n, c, h, w]
                                if v > best or np.isnan(v):
                                    best = v
                    out[n, c, i, j] = best
    return out


def max_pool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0,
                              dilation=1, ceil_mode=False, *, strict=False):
    """The gradient of max pooling written as plain loops, for reading: every
    window scans its taps in row-major order, keeps the first maximum (a later
    tap must be strictly larger, or NaN) and adds its upstream gradient there.
    Same result as :func:`max_pool2d_backward`."""
    fn = "max_pool2d_backward_naive"
    x = _input(fn, x)
    g = _window(fn, x, kernel_size, stride, padding, dilation, ceil_mode,
                strict)
    (KH, KW), (s_h, s_w), (d_h, d_w), ((p_h, _), (p_w, _)), (H_out, W_out) = g
    N, C, H, W = x.shape
    dout = check_dout(fn, dout, (N, C, H_out, W_out), x.dtype)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    best, where = -np.inf, None
                    for kh in range(KH):
                        h = i * s_h - p_h + kh * d_h
                        for kw in range(KW):
                            w = j * s_w - p_w + kw * d_w
                            if 0 <= h < H and 0 <= w < W:  # skip padding
                                v = x[n, c, h, w]
                                # the first tap inside, or a larger one
                                if (where is None or v > best
                                        or np.isnan(v)):
                                    best, where = v, (h, w)
                    dx[n, c, where[0], where[1]] += dout[n, c, i, j]
    return dx


# ----------------------------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------------------------

class AvgPool2dCache(NamedTuple):
    x_shape: tuple
    dtype: np.dtype
    window: Window
    divisor: np.ndarray          # (H_out, W_out) number each window's sum is divided by


def _divisor_1d(n_out: int, n: int, k: int, s: int, p: int, count_include_pad: bool) -> np.ndarray:
    """PyTorch's divisor along one axis: the window clipped to input+padding, or to the input."""
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, n + p)             # a ceil_mode window may run past the padding
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def _avg_window(fn, x, kernel_size, stride, padding, ceil_mode, count_include_pad, strict):
    """The checked input, window geometry and ``count_include_pad`` of an average pooling."""
    x = _input(fn, x)
    g = _window(fn, x, kernel_size, stride, padding, 1, ceil_mode, strict)
    return x, g, check_bool(fn, "count_include_pad", count_include_pad)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True, *, strict=False):
    """Average pooling; returns ``(out, cache)``. See :func:`avg_pool2d`."""
    fn = "avg_pool2d"
    x, g, count_include_pad = _avg_window(fn, x, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, strict)
    N, C, H, W = x.shape
    (KH, KW), (s_h, s_w), _, ((p_h, _), (p_w, _)), (H_out, W_out) = g
    div_h = _divisor_1d(H_out, H, KH, s_h, p_h, count_include_pad)
    div_w = _divisor_1d(W_out, W, KW, s_w, p_w, count_include_pad)
    divisor = np.maximum(np.outer(div_h, div_w), 1).astype(x.dtype)   # (H_out, W_out)
    xp = _pad(x, g, 0.0)
    total = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for _, _, sh, sw in tap_slices(g):
        total += xp[:, :, sh, sw]
    return total / divisor, AvgPool2dCache(x.shape, x.dtype, g, divisor)


def avg_pool2d_backward(dout, cache: AvgPool2dCache):
    """Gradient of average pooling: each window spreads ``dout / divisor`` evenly over its taps
    (padding taps absorb their share). Returns ``dx``."""
    N, C, H, W = cache.x_shape
    g = cache.window
    (top, bottom), (left, right) = g.pads
    dout = check_dout("avg_pool2d_backward", dout, (N, C) + g.out, cache.dtype)
    share = dout / cache.divisor                    # (N, C, H_out, W_out)
    dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=cache.dtype)
    for _, _, sh, sw in tap_slices(g):
        dxp[:, :, sh, sw] += share
    return dxp[:, :, top:top + H, left:left + W].copy()



def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               *, strict=False):
    """Average pooling over each channel, as ``torch.nn.functional.avg_pool2d``.

    The input is padded with zeros. The divisor of each window follows PyTorch: with
    ``count_include_pad=True`` it is the window size clipped to the padded input (so a
    ``ceil_mode`` window that runs past the padding counts only what it covers), with
    ``count_include_pad=False`` it is the number of real input pixels in the window.
    ``padding`` may be at most ``kernel_size // 2``.

    Shape:
        ``out``: ``(N, C, H_out, W_out)`` with
        ``H_out = floor((H + 2*padding - kernel_size) / stride) + 1`` (``ceil`` with
        ``ceil_mode=True``, keeping only windows that start inside the input or left padding).
    """
    return avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              strict=strict)[0]


def _avg_window_at(i, j, g, H, W, count_include_pad):
    """Output (i, j) of an average pooling: the input rows and columns its window covers, and
    its divisor (the window clipped to input + padding, or only its input pixels)."""
    (KH, KW), (s_h, s_w), _, ((p_h, _), (p_w, _)), _ = g
    h0, w0 = i * s_h - p_h, j * s_w - p_w
    h1, w1 = min(h0 + KH, H + p_h), min(w0 + KW, W + p_w)   # clipped to input + padding
    rows, cols = range(max(h0, 0), min(h1, H)), range(max(w0, 0), min(w1, W))
    divisor = (h1 - h0) * (w1 - w0) if count_include_pad else len(rows) * len(cols)
    return rows, cols, divisor


def avg_pool2d_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, *, strict=False):
    """Average pooling written as plain loops, for reading. Same result as :func:`avg_pool2d`."""
    fn = "avg_pool2d_naive"
    x, g, count_include_pad = _avg_window(fn, x, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, strict)
    N, C, H, W = x.shape
    H_out, W_out = g.out
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols, divisor = _avg_window_at(i, j, g, H, W, count_include_pad)
            inside = x[:, :, rows.start:rows.stop, cols.start:cols.stop]
            for n in range(N):
                for c in range(C):
                    total = 0.0
                    for v in inside[n, c].ravel():
                        total += v
                    out[n, c, i, j] = total / max(divisor, 1)
    return out


def avg_pool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                              count_include_pad=True, *, strict=False):
    """The gradient of average pooling written as plain loops, for reading: every window adds
    ``dout / divisor`` to each input pixel it covers (its padding taps take their share away).
    Only the shape and dtype of `x` matter. Same result as :func:`avg_pool2d_backward`."""
    fn = "avg_pool2d_backward_naive"
    x, g, count_include_pad = _avg_window(fn, x, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, strict)
    N, C, H, W = x.shape
    H_out, W_out = g.out
    dout = check_dout(fn, dout, (N, C, H_out, W_out), x.dtype)
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols, divisor = _avg_window_at(i, j, g, H, W, count_include_pad)
            for h in rows:
                for w in cols:
                    dx[:, :, h, w] += dout[:, :, i, j] / max(divisor, 1)   # all (n, c) at once
    return dx


# ----------------------------------------------------------------------------------------------
# Power-average (Lp) pooling
# ----------------------------------------------------------------------------------------------

class LpPool2dCache(NamedTuple):
    x: np.ndarray                # the input, read again by the backward pass (never written)
    norm_type: float
    out: np.ndarray              # (N, C, H_out, W_out)
    sums: np.ndarray | None      # (N, C, H_out, W_out) sum of x**p per window (finite p)
    pool: tuple                  # cache of the inner avg_pool2d or max_pool2d


def _check_norm_type(fn: str, norm_type) -> float:
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, (bool, np.bool_)):
        raise TypeError(f"{fn}: norm_type must be a number p (e.g. 2 for L2 pooling), got "
                        f"{norm_type!r} of type {type(norm_type).__name__}.")
    p = float(norm_type)
    if np.isnan(p) or p == 0:
        raise ValueError(f"{fn}: norm_type must be a non-zero number, got norm_type={norm_type!r}; "
                         f"use p=1 (sum), p=2 (L2 pooling) or float('inf') (max of |x|).")
    return p


def lp_pool2d_forward(x, norm_type, kernel_size, stride=None, ceil_mode=False, *, strict=False):
    """Power-average pooling; returns ``(out, cache)``. See :func:`lp_pool2d`."""
    fn = "lp_pool2d"
    x = _input(fn, x)
    p = _check_norm_type(fn, norm_type)
    KH, KW = pair(fn, "kernel_size", kernel_size)
    if np.isinf(p):   # the limit p -> +-inf: the largest (smallest) magnitude in the window
        sign = 1.0 if p > 0 else -1.0
        out, pool = max_pool2d_forward(sign * np.abs(x), (KH, KW), stride, 0, 1, ceil_mode,
                                       strict=strict)
        return sign * out, LpPool2dCache(x, p, sign * out, None, pool)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg, pool = avg_pool2d_forward(x ** p, (KH, KW), stride, 0, ceil_mode, strict=strict)
        sums = avg * (KH * KW)                      # sum of x**p over each window
        out = sums ** (1.0 / p)                     # NaN for a negative sum and fractional 1/p
    return out, LpPool2dCache(x, p, out, sums, pool)


def lp_pool2d_backward(dout, cache: LpPool2dCache):
    """Gradient of power-average pooling. For a window with sum ``S = sum(x**p) != 0`` it is
    ``dout * S**(1/p - 1) * x**(p - 1)`` at each tap; a window whose sum is exactly zero passes
    no gradient (PyTorch's convention). Returns ``dx``."""
    x, p = cache.x, cache.norm_type
    g = cache.pool.window
    dout = check_dout("lp_pool2d_backward", dout, cache.out.shape, x.dtype)
    if np.isinf(p):
        # out = sign * maxpool(sign * |x|): the sign appears twice and cancels.
        return max_pool2d_backward(dout, cache.pool) * np.sign(x)
    sums = cache.sums
    with np.errstate(invalid="ignore", divide="ignore"):
        dsum = np.where(sums != 0, dout * (sums ** (1.0 / p - 1.0)) / p, 0).astype(x.dtype)
        # The inner average divides by the window size; the sum did not, so scale it back.
        dxp = avg_pool2d_backward(dsum * (g.kernel[0] * g.kernel[1]), cache.pool)   # gradient wrt x**p
        return dxp * p * x ** (p - 1.0)


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False, *, strict=False):
    """Power-average pooling with PyTorch's sum-based definition (``torch.nn.functional.lp_pool2d``):

        ``out = (sum over the window of x**p) ** (1/p)``,  computed as
        ``(avg_pool2d(x**p) * KH*KW) ** (1/p)``.

    ``p=1`` sums the window (it is *not* the mean), ``p=2`` is L2 pooling (the Euclidean norm of
    the window), and ``p=inf`` is the max of ``|x|``. There is no padding. As in PyTorch, a
    negative sum with fractional ``1/p`` (e.g. ``p=3`` over negative inputs) gives NaN, and a
    window whose sum of powers is exactly zero gets zero gradient.

    Shape:
        ``out``: ``(N, C, H_out, W_out)``, ``H_out = floor((H - kernel_size) / stride) + 1``
        (``ceil`` with ``ceil_mode=True``).
    """
    return lp_pool2d_forward(x, norm_type, kernel_size, stride, ceil_mode, strict=strict)[0]


# ----------------------------------------------------------------------------------------------
# Adaptive and global average pooling
# ----------------------------------------------------------------------------------------------

class AdaptiveAvgPool2dCache(NamedTuple):
    x_shape: tuple
    dtype: np.dtype
    A_h: np.ndarray              # (H_out, H) averaging weights of each row bin
    A_w: np.ndarray              # (W_out, W) averaging weights of each column bin


def _adaptive_bins(n: int, n_out: int):
    """PyTorch's bins: start = floor(i*n/n_out), end = ceil((i+1)*n/n_out)."""
    i = np.arange(n_out)
    return (i * n) // n_out, -((-(i + 1) * n) // n_out)


def _bin_matrix(n: int, n_out: int, dtype) -> np.ndarray:
    start, end = _adaptive_bins(n, n_out)
    cols = np.arange(n)
    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)   # (n_out, n), rows sum to 1


def adaptive_avg_pool2d_forward(x, output_size):
    """Adaptive average pooling; returns ``(out, cache)``. See :func:`adaptive_avg_pool2d`."""
    fn = "adaptive_avg_pool2d"
    x = _input(fn, x)
    N, C, H, W = x.shape
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) == 2:   # None keeps that axis's input size, as in PyTorch
        sizes = (H if sizes[0] is None else sizes[0], W if sizes[1] is None else sizes[1])
    H_out, W_out = pair(fn, "output_size", sizes)
    if H == 0 or W == 0:
        raise ValueError(f"{fn}: x has an empty spatial size H={H}, W={W}; there is nothing to "
                         f"average.")
    # Averaging over a rectangle is separable: rows first, then columns.
    A_h = _bin_matrix(H, H_out, x.dtype)
    A_w = _bin_matrix(W, W_out, x.dtype)
    out = A_h @ x @ A_w.T                  # (N, C, H_out, W) then (N, C, H_out, W_out)
    return out, AdaptiveAvgPool2dCache(x.shape, x.dtype, A_h, A_w)


def adaptive_avg_pool2d_backward(dout, cache: AdaptiveAvgPool2dCache):
    """Each bin spreads its gradient evenly over its pixels; overlapping bins add up."""
    N, C = cache.x_shape[:2]
    shape = (N, C, cache.A_h.shape[0], cache.A_w.shape[0])
    dout = check_dout("adaptive_avg_pool2d_backward", dout, shape, cache.dtype)
    return cache.A_h.T @ dout @ cache.A_w          # (N, C, H, W)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell ``i`` along H averages input rows ``floor(i*H/H_out)`` up to (excluding)
    ``ceil((i+1)*H/H_out)``; bins overlap by one row when ``H_out`` does not divide ``H``.

    Shape:
        ``x``: ``(N, C, H, W)``; ``output_size``: an int or a pair ``(H_out, W_out)`` (``None``
        keeps the input size along that axis); ``out``: ``(N, C, H_out, W_out)``.
    """
    return adaptive_avg_pool2d_forward(x, output_size)[0]


class GlobalAvgPool2dCache(NamedTuple):
    x_shape: tuple
    dtype: np.dtype


def global_avg_pool2d_forward(x):
    """Global average pooling; returns ``(out, cache)``. See :func:`global_avg_pool2d`."""
    fn = "global_avg_pool2d"
    x = _input(fn, x)
    N, C, H, W = x.shape
    if H == 0 or W == 0:
        raise ValueError(f"{fn}: x has an empty spatial size H={H}, W={W}; there is nothing to "
                         f"average.")
    return x.mean(axis=(2, 3), keepdims=True), GlobalAvgPool2dCache(x.shape, x.dtype)


def global_avg_pool2d_backward(dout, cache: GlobalAvgPool2dCache):
    """Every pixel of a plane receives 1/(H*W) of that plane's gradient."""
    N, C, H, W = cache.x_shape
    dout = check_dout("global_avg_pool2d_backward", dout, (N, C, 1, 1), cache.dtype)
    return np.broadcast_to(dout / (H * W), cache.x_shape).copy()


def global_avg_pool2d(x):
    """The mean of each channel plane, as ``adaptive_avg_pool2d(x, 1)``.

    Shape:
        ``x``: ``(N, C, H, W)``; ``out``: ``(N, C, 1, 1)``.
    """
    return global_avg_pool2d_forward(x)[0]


# ----------------------------------------------------------------------------------------------
# Region-of-interest (RoI) max pooling
# ----------------------------------------------------------------------------------------------

class RoiPoolCache(NamedTuple):
    x_shape: tuple
    dtype: np.dtype
    rois: np.ndarray             # (K,) batch index of each box
    argmax: np.ndarray           # (K, C, PH, PW) flat index h*W + w of each max, -1 for empty bins


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round(): halves go away from zero (np.round would round them to even)."""
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def roi_bins(box, output_size, spatial_scale: float, H: int, W: int):
    """The bins of one box on the feature map, as torchvision's kernel computes them.

    Returns ``(h_edges, w_edges)``: lists of ``(start, end)`` per output row/column, already
    clipped to the feature map; a bin with ``end <= start`` is empty.
    """
    PH, PW = output_size
    x1, y1, x2, y2 = _round_half_away(np.asarray(box[1:5], dtype=np.float64) * spatial_scale)
    roi_h = max(int(y2 - y1) + 1, 1)        # corners are inclusive
    roi_w = max(int(x2 - x1) + 1, 1)

    def edges(start: int, size: int, n_out: int, n: int):
        bin_size = size / n_out
        out = []
        for i in range(n_out):
            lo = int(np.floor(i * bin_size)) + start
            hi = int(np.ceil((i + 1) * bin_size)) + start
            out.append((min(max(lo, 0), n), min(max(hi, 0), n)))
        return out
    return edges(int(y1), roi_h, PH, H), edges(int(x1), roi_w, PW, W)


def _check_boxes(fn: str, boxes, N: int) -> np.ndarray:
    boxes = as_float_array(fn, "boxes", boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"{fn}: boxes must have shape (K, 5) with rows (batch_index, x1, y1, x2, "
                         f"y2), got shape {tuple(boxes.shape)}; for boxes of one image prepend a "
                         f"column of zeros.")
    idx = boxes[:, 0]
    if boxes.shape[0] and (not np.all(np.isfinite(boxes)) or np.any(idx != np.floor(idx))
                           or idx.min() < 0 or idx.max() >= N):
        bad = idx[(idx != np.floor(idx)) | (idx < 0) | (idx >= N) | ~np.isfinite(idx)]
        shown = bad[0] if bad.size else "a non-finite coordinate"
        raise ValueError(f"{fn}: every box needs a batch index that is an integer in [0, {N - 1}] "
                         f"(x has N={N}) and finite coordinates; got {shown}.")
    return boxes


def roi_pool_forward(x, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling; returns ``(out, cache)``. See :func:`roi_pool`."""
    fn = "roi_pool"
    x = _input(fn, x)
    N, C, H, W = x.shape
    boxes = _check_boxes(fn, boxes, N)
    PH, PW = pair(fn, "output_size", output_size)
    spatial_scale = check_positive_float(fn, "spatial_scale", spatial_scale,
                                         "it is feature-map size / image size, e.g. 1/16")
    K = boxes.shape[0]
    rois = boxes[:, 0].astype(np.int64)
    out = np.zeros((K, C, PH, PW), dtype=x.dtype)        # empty bins stay 0
    argmax = np.full((K, C, PH, PW), -1, dtype=np.int64)
    for k in range(K):
        h_edges, w_edges = roi_bins(boxes[k], (PH, PW), spatial_scale, H, W)
        plane = x[rois[k]]                               # (C, H, W)
        for i, (h0, h1) in enumerate(h_edges):
            for j, (w0, w1) in enumerate(w_edges):
                if h1 <= h0 or w1 <= w0:
                    continue
                patch = plane[:, h0:h1, w0:w1].reshape(C, -1)   # (C, bin_h*bin_w), row-major
                best = patch.argmax(axis=1)                      # first maximum wins
                out[k, :, i, j] = patch[np.arange(C), best]
                argmax[k, :, i, j] = (h0 + best // (w1 - w0)) * W + w0 + best % (w1 - w0)
    return out, RoiPoolCache(x.shape, x.dtype, rois, argmax)


def roi_pool_backward(dout, cache: RoiPoolCache):
    """Each bin's gradient goes to its maximum; boxes that overlap add up. Returns ``dx``."""
    N, C, H, W = cache.x_shape
    K, _, PH, PW = cache.argmax.shape
    dout = check_dout("roi_pool_backward", dout, (K, C, PH, PW), cache.dtype)
    dx = np.zeros((N, C, H * W), dtype=cache.dtype)
    filled = cache.argmax >= 0
    k, c, _, _ = np.nonzero(filled)
    np.add.at(dx, (cache.rois[k], c, cache.argmax[filled]), dout[filled])
    return dx.reshape(N, C, H, W)


def roi_pool(x, boxes, output_size, spatial_scale=1.0):
    """Region-of-interest max pooling (Fast R-CNN), as ``torchvision.ops.roi_pool``.

    Each box ``(batch_index, x1, y1, x2, y2)`` in image coordinates is scaled by
    ``spatial_scale`` and its corners rounded to the nearest feature-map pixel (halves away from
    zero); the corners are inclusive, so the region is ``round(x2) - round(x1) + 1`` pixels wide.
    The region is cut into ``PH x PW`` bins of height ``roi_h / PH``: bin ``i`` spans rows
    ``floor(i * roi_h / PH)`` to ``ceil((i+1) * roi_h / PH)`` (so neighbouring bins may share a
    row), clipped to the feature map. Each bin keeps its maximum; a bin that falls entirely off
    the map is empty and gives 0.

    Shape:
        ``x``: ``(N, C, H, W)``; ``boxes``: ``(K, 5)``; ``output_size``: int or ``(PH, PW)``;
        ``out``: ``(K, C, PH, PW)``.
    """
    return roi_pool_forward(x, boxes, output_size, spatial_scale)[0]


# ----------------------------------------------------------------------------------------------