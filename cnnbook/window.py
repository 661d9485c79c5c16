"""Sliding-window geometry, shared by convolution and pooling.

A window of ``k`` taps with dilation ``d`` covers ``span(k, d) = d*(k - 1) + 1`` input positions;
output position ``i`` starts at ``i*stride`` in the padded input, and tap ``t`` reads position
``i*stride + t*dilation``. Everything here is arithmetic on those two facts, and the two
operations built on them: `unfold` copies every window out as a column (im2col) and `fold` adds
columns back onto their windows (col2im, its adjoint). They trust their arguments: the public
``cnnbook.conv.im2col`` and ``col2im`` check them first.

>>> span(3, 2)
5
>>> g = Window(kernel=(3, 3), stride=(2, 2), dilation=(1, 1), pads=((1, 1), (1, 1)), out=(4, 4))
>>> [(kh, kw, sh) for kh, kw, sh, sw in tap_slices(g)][:2]
[(0, 0, slice(0, 7, 2)), (0, 1, slice(0, 7, 2))]
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["Window", "span", "extent", "tap_slices", "window_view", "unfold", "fold"]


class Window(NamedTuple):
    """The geometry of a 2-D sliding window, after validation: per axis (H, W)."""
    kernel: tuple     # (KH, KW) taps
    stride: tuple     # (stride_h, stride_w)
    dilation: tuple   # (dil_h, dil_w): distance between taps
    pads: tuple       # ((top, bottom), (left, right))
    out: tuple        # (H_out, W_out)


def span(k: int, d: int) -> int:
    """How many input positions a window of `k` taps with dilation `d` covers."""
    return d * (k - 1) + 1


def extent(n_out: int, k: int, s: int, d: int) -> int:
    """How many padded input positions `n_out` windows read, from the first to the last tap."""
    return (n_out - 1) * s + span(k, d)


def tap_slices(g: Window):
    """For each tap (kh, kw), in row-major order, the slices of the padded input it reads in
    every window: ``xp[:, :, sh, sw]`` has shape ``(N, C, H_out, W_out)``."""
    (KH, KW), (s_h, s_w), (d_h, d_w), (H_out, W_out) = g.kernel, g.stride, g.dilation, g.out
    for kh in range(KH):
        sh = slice(kh * d_h, kh * d_h + (H_out - 1) * s_h + 1, s_h)
        for kw in range(KW):
            yield kh, kw, sh, slice(kw * d_w, kw * d_w + (W_out - 1) * s_w + 1, s_w)


def window_view(xp: np.ndarray, g: Window) -> np.ndarray:
    """A read-only view ``(N, C, KH, KW, H_out, W_out)`` of the padded input `xp` (no copy):
    element ``[n, c, kh, kw, i, j]`` is ``xp[n, c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]``."""
    N, C = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(N, C) + tuple(g.kernel) + tuple(g.out),
                      strides=(s_n, s_c, s_h * g.dilation[0], s_w * g.dilation[1],
                               s_h * g.stride[0], s_w * g.stride[1]), writeable=False)


def unfold(x: np.ndarray, g: Window) -> np.ndarray:
    """im2col without checks: every window of `x`, zero-padded by ``g.pads``, as a column.

    Shape: x (N, C, H, W) -> (N, C*KH*KW, H_out*W_out), rows in (c, kh, kw) order."""
    N, C = x.shape[:2]
    (KH, KW), (H_out, W_out) = g.kernel, g.out
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(g.pads))            # (N, C, Hp, Wp)
    cols = window_view(xp, g).copy()                             # (N, C, KH, KW, H_out, W_out)
    return cols.reshape(N, C * KH * KW, H_out * W_out)


def fold(cols: np.ndarray, x_shape: tuple, g: Window) -> np.ndarray:
    """col2im without checks: add each column back onto the window it came from.

    Shape: cols (N, C*KH*KW, H_out*W_out) -> (N, C, H, W) = x_shape."""
    N, C, H, W = x_shape
    (KH, KW), (H_out, W_out), ((pt, pb), (pl, pr)) = g.kernel, g.out, g.pads
    taps = cols.reshape(N, C, KH, KW, H_out, W_out)
    xp = np.zeros((N, C, pt + H + pb, pl + W + pr), dtype=cols.dtype)
    for kh, kw, rows, columns in tap_slices(g):             # each tap adds back what it read
        xp[:, :, rows, columns] += taps[:, :, kh, kw]
    return xp[:, :, pt:pt + H, pl:pl + W].copy()                 # (N, C, H, W): drop the padding
