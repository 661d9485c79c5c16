"""Convolution layers in NumPy: conv2d, conv1d, conv_transpose2d, forward and backward.

Layout and semantics follow ``torch.nn.functional``: inputs are NCHW (NCL for 1-D), weights are
``(C_out, C_in/groups, KH, KW)`` (``(C_in, C_out, KH, KW)`` for the transposed convolution), and
``stride``, ``padding``, ``dilation``, ``groups`` mean what they mean in PyTorch. Like PyTorch, the
default operation is cross-correlation; ``flip=True`` gives true convolution (kernel flipped in
both spatial axes).

The vectorised path is im2col: a strided *view* of the padded input holds every receptive field,
one copy lays them out as columns, and a single (batched) matrix product does the arithmetic. The
backward pass is two more matrix products and col2im, the adjoint of im2col, which adds each
kernel tap's slice back into a padded buffer. Inside conv2d the columns of the whole batch form
one matrix, taps (c, kh, kw) by positions (n, i, j), so that each of the three products is a
single large one; with stride 1 each row of positions is as wide as the padded input, which
turns the copies of im2col and col2im into long contiguous runs (see `_wide_columns`).

References:
- V. Dumoulin, F. Visin, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285
  (2016): output sizes, transposed convolution, dilation.
- CS231n, "Convolutional Neural Networks" notes and assignment 2 ``layers.py`` (im2col, caches).
- PyTorch documentation: ``torch.nn.Conv2d``, ``torch.nn.functional.conv2d``,
  ``torch.nn.ConvTranspose2d`` (argument names, ``padding='same'``, output-size formulas).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _checks

__all__ = [
    "conv2d", "conv2d_forward", "conv2d_backward", "conv2d_naive",
    "conv1d", "conv1d_forward", "conv1d_backward",
    "conv_transpose2d", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "im2col", "col2im",
]


# --------------------------------------------------------------------------------------------
# private helpers: padding, strided windows, col2im
# --------------------------------------------------------------------------------------------

def _resolve_padding(fn: str, padding, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Return ``(pads, sym)``: pads per axis as (before, after) pairs, and the symmetric int per
    axis (for messages and strict tiling), or None for ``'same'``.

    ``'same'`` pads ``dilation*(k-1)`` in total; when that is odd the extra row/column goes on the
    bottom/right, as in PyTorch.
    """
    n = len(kernel)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n, (0,) * n
        if mode == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' needs stride=1 (as in PyTorch), got "
                                 f"stride={stride if n > 1 else stride[0]}; use an explicit integer "
                                 f"padding with stride > 1.")
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for k, d in zip(kernel, dilation))
            return pads, None
        raise ValueError(f"{fn}: padding must be an int, {n} ints, 'valid' or 'same', got "
                         f"padding={padding!r}.")
    sym = _checks.pair_nonneg(fn, "padding", padding, n=n)
    return tuple((p, p) for p in sym), sym


def _check_kernel_dims(fn: str, w: np.ndarray, spatial: tuple) -> None:
    """A weight with an empty spatial axis has no taps; PyTorch rejects it too."""
    if any(k < 1 for k in spatial):
        raise ValueError(f"{fn}: every kernel size must be >= 1, got w of shape {tuple(w.shape)} "
                         f"(kernel {tuple(spatial)}); give the weight at least one tap per axis.")


def _pad(x: np.ndarray, pads: tuple) -> np.ndarray:
    """Zero-pad the last two axes; returns x itself (no copy) when there is nothing to pad."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=x.dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    return xp


def _windows(xp: np.ndarray, KH: int, KW: int, H_out: int, W_out: int,
             stride: tuple, dilation: tuple) -> np.ndarray:
    """Read-only view (N, C, KH, KW, H_out, W_out) of the padded input: element
    [n, c, kh, kw, i, j] is xp[n, c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]. No copy."""
    N, C = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(N, C, KH, KW, H_out, W_out),
                      strides=(s_n, s_c, s_h * dilation[0], s_w * dilation[1],
                               s_h * stride[0], s_w * stride[1]), writeable=False)


def _add_taps(taps: np.ndarray, padded_shape: tuple, stride: tuple,
              dilation: tuple) -> np.ndarray:
    """The adjoint of reading windows: ``taps[kh, kw]`` (shape ``(A, B, H_out, W_out)``) is added
    into a zero buffer of ``padded_shape = (A, B, Hp, Wp)`` at the positions that kernel tap read,
    one strided slice per tap (KH*KW additions)."""
    KH, KW, _, _, H_out, W_out = taps.shape
    (stride_h, stride_w), (dil_h, dil_w) = stride, dilation
    dxp = np.zeros(padded_shape, dtype=taps.dtype)
    for kh in range(KH):
        h0 = kh * dil_h
        for kw in range(KW):
            w0 = kw * dil_w
            dxp[:, :, h0:h0 + stride_h * (H_out - 1) + 1:stride_h,
                w0:w0 + stride_w * (W_out - 1) + 1:stride_w] += taps[kh, kw]
    return dxp


def _col2im_padded(dcols: np.ndarray, padded_shape: tuple, stride: tuple,
                   dilation: tuple) -> np.ndarray:
    """Adjoint of `_windows`: dcols (N, C, KH, KW, H_out, W_out) -> (N, C, Hp, Wp)."""
    return _add_taps(np.moveaxis(dcols, (2, 3), (0, 1)), padded_shape, stride, dilation)


def _pad_channels_first(x: np.ndarray, pads: tuple) -> np.ndarray:
    """Zero-padded copy of x (N, C, H, W) laid out channels first: (C, N, Hp, Wp), contiguous."""
    (pt, pb), (pl, pr) = pads
    N, C, H, W = x.shape
    if pt == pb == pl == pr == 0:
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3))
    xp = np.zeros((C, N, H + pt + pb, W + pl + pr), dtype=x.dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x.transpose(1, 0, 2, 3)
    return xp


def _columns(xp_cn: np.ndarray, KH: int, KW: int, H_out: int, W_out: int,
             stride: tuple, dilation: tuple) -> np.ndarray:
    """The columns of a channels-first padded input (C, N, Hp, Wp), as one contiguous array
    (C, KH, KW, N, H_out, W_out): element [c, kh, kw, n, i, j] is
    xp[n, c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]. Reshaped to (C*KH*KW, N*H_out*W_out)
    it is the matrix that turns the whole batch's convolution into one matrix product."""
    C, N = xp_cn.shape[:2]
    s_c, s_n, s_h, s_w = xp_cn.strides
    win = as_strided(xp_cn, shape=(C, KH, KW, N, H_out, W_out),
                     strides=(s_c, s_h * dilation[0], s_w * dilation[1], s_n,
                              s_h * stride[0], s_w * stride[1]), writeable=False)
    return np.ascontiguousarray(win)


def _wide_columns(x: np.ndarray, pads: tuple, KH: int, KW: int, H_out: int,
                  dilation: tuple) -> np.ndarray:
    """Stride-1 columns with rows as wide as the padded input: (C, KH, KW, N, H_out*Wp).

    In a row-major padded image (Hp*Wp values), the values that tap (kh, kw) meets for the
    output rows are one contiguous run of H_out*Wp values starting at kh*dil_h*Wp + kw*dil_w;
    copying whole runs is much faster than copying H_out short rows of W_out. Positions with
    j >= W_out in each row are not outputs: they hold real (finite) pixels from the next row, and
    the matrix products that use these columns give them zero weight (`_wide`) or drop them.
    """
    (pt, pb), (pl, pr) = pads
    N, C, H, W = x.shape
    Hp, Wp = H + pt + pb, W + pl + pr
    tail = dilation[1] * (KW - 1)             # the last run reaches this far past the image
    flat = np.zeros((C, N, Hp * Wp + tail), dtype=x.dtype)
    image = flat[:, :, :Hp * Wp].reshape(C, N, Hp, Wp)          # a view: only the last axis splits
    image[:, :, pt:pt + H, pl:pl + W] = x.transpose(1, 0, 2, 3)
    s_c, s_n, s_e = flat.strides
    runs = as_strided(flat, shape=(C, KH, KW, N, H_out * Wp),
                      strides=(s_c, s_e * dilation[0] * Wp, s_e * dilation[1], s_n, s_e),
                      writeable=False)
    return np.ascontiguousarray(runs)


def _wide(dout_cn: np.ndarray, width: int) -> np.ndarray:
    """dout (C_out, N, H_out, W_out) widened with zero columns to (C_out, N, H_out, width)."""
    if dout_cn.shape[-1] == width:
        return np.ascontiguousarray(dout_cn)
    wide = np.zeros(dout_cn.shape[:3] + (width,), dtype=dout_cn.dtype)
    wide[..., :dout_cn.shape[-1]] = dout_cn
    return wide


def _col2im_channels_first(dcols: np.ndarray, padded_shape: tuple, stride: tuple,
                           dilation: tuple) -> np.ndarray:
    """Adjoint of `_columns`: dcols (C, KH, KW, N, H_out, W_out) -> (C, N, Hp, Wp); every read
    of dcols is contiguous."""
    return _add_taps(np.moveaxis(dcols, (1, 2), (0, 1)), padded_shape, stride, dilation)


def _conv2d_dx_stride1(wide: np.ndarray, w_mat: np.ndarray, padded_shape: tuple,
                       KH: int, KW: int, dilation: tuple) -> np.ndarray:
    """dx of a stride-1 conv2d, channels first (C_in, N, Hp, Wp), with long contiguous runs.

    dout comes widened to the padded width Wp with zero columns (`_wide`). In a row-major
    (Hp*Wp) image, kernel tap (kh, kw) then adds one contiguous run of H_out*Wp values starting
    at kh*dil_h*Wp + kw*dil_w, instead of H_out short rows of W_out: the values that spill past
    the end of a row come from the zero columns, so they add nothing. Same result as
    `_col2im_channels_first`, with far fewer and longer loops.
    """
    C_out, N, H_out, Wp = wide.shape                             # dout widened by `_wide`
    C_in, _, Hp, _ = padded_shape
    G = w_mat.shape[0]
    dcols = np.matmul(w_mat.swapaxes(-1, -2), wide.reshape(G, C_out // G, N * H_out * Wp))
    dcols = dcols.reshape(C_in, KH, KW, N, H_out * Wp)          # (C_in, KH, KW, N, H_out*Wp)
    run = H_out * Wp
    dxp = np.zeros((C_in, N, Hp * Wp), dtype=dcols.dtype)
    for kh in range(KH):
        for kw in range(KW):
            start = kh * dilation[0] * Wp + kw * dilation[1]
            n = min(run, Hp * Wp - start)    # the cut-off tail lies in the zero columns
            dxp[:, :, start:start + n] += dcols[:, kh, kw, :, :n]
    return dxp.reshape(padded_shape)


def _crop(xp: np.ndarray, pads: tuple, H: int, W: int) -> np.ndarray:
    (pt, _), (pl, _) = pads
    if xp.shape[2:] == (H, W):
        return xp
    return xp[:, :, pt:pt + H, pl:pl + W]


def _out_sizes(fn: str, H: int, W: int, KH: int, KW: int, stride, pads, sym, dilation,
               strict: bool) -> tuple:
    """Output size per axis; ValueError when the kernel does not fit or (strict) tiling fails."""
    sizes = []
    for axis, n, k, s, (p0, p1), d in zip(("H", "W"), (H, W), (KH, KW), stride, pads, dilation):
        if sym is None:                      # 'same': stride 1 and output size == input size
            sizes.append((n + p0 + p1 - d * (k - 1) - 1) // s + 1)
            continue
        p = sym[0 if axis == "H" else 1]
        sizes.append(_checks.out_size(fn, axis, n, k, s, p, d))
        if strict:
            _checks.check_strict_tiling(fn, axis, n, k, s, p, d)
    return tuple(sizes)


# --------------------------------------------------------------------------------------------
# im2col / col2im (public teaching helpers)
# --------------------------------------------------------------------------------------------

def im2col(x, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Lay every receptive field of `x` out as a column.

    Column ``i*W_out + j`` of example n holds the window under output position (i, j), flattened
    in (c, kh, kw) order, so ``w.reshape(C_out, -1) @ im2col(x, ...)`` is a convolution.

    Shape:
        x: (N, C, H, W) -> (N, C*KH*KW, H_out*W_out), with
        H_out = floor((H + 2*padding - dilation*(KH - 1) - 1) / stride + 1), likewise W_out.
    """
    fn = "im2col"
    x = _checks.as_float_array(fn, "x", x)
    _checks.check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    KH, KW = _checks.pair(fn, "kernel_size", kernel_size)
    stride = _checks.pair(fn, "stride", stride)
    dilation = _checks.pair(fn, "dilation", dilation)
    pads, sym = _resolve_padding(fn, padding, (KH, KW), stride, dilation)
    N, C, H, W = x.shape
    H_out, W_out = _out_sizes(fn, H, W, KH, KW, stride, pads, sym, dilation, False)
    win = _windows(_pad(x, pads), KH, KW, H_out, W_out, stride, dilation)
    cols = win.reshape(N, C * KH * KW, H_out * W_out)            # (N, C*KH*KW, H_out*W_out)
    # a 1x1 kernel with stride 1 reshapes without copying: return a fresh array, never a view of x
    return cols.copy() if np.shares_memory(cols, x) else cols


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """The adjoint of `im2col`: scatter-add columns back to an image of shape `x_shape`.

    Where windows overlap, their contributions add up, so ``col2im(im2col(x))`` is `x` times the
    number of windows covering each pixel, and ``sum(im2col(x) * c) == sum(x * col2im(c))``.

    Shape:
        cols: (N, C*KH*KW, H_out*W_out) -> (N, C, H, W) = x_shape.
    """
    fn = "col2im"
    cols = _checks.as_float_array(fn, "cols", cols)
    _checks.check_ndim(fn, "cols", cols, 3, "(N, C*KH*KW, H_out*W_out)")
    if len(tuple(x_shape)) != 4:
        raise ValueError(f"col2im: x_shape must be (N, C, H, W), got {tuple(x_shape)!r}.")
    N, C, H, W = (int(v) for v in x_shape)
    KH, KW = _checks.pair(fn, "kernel_size", kernel_size)
    stride = _checks.pair(fn, "stride", stride)
    dilation = _checks.pair(fn, "dilation", dilation)
    pads, sym = _resolve_padding(fn, padding, (KH, KW), stride, dilation)
    H_out, W_out = _out_sizes(fn, H, W, KH, KW, stride, pads, sym, dilation, False)
    want = (N, C * KH * KW, H_out * W_out)
    if cols.shape != want:
        raise ValueError(f"col2im: cols must have shape {want} for x_shape={(N, C, H, W)} and "
                         f"kernel {(KH, KW)}, got {tuple(cols.shape)}.")
    padded = (N, C, H + sum(pads[0]), W + sum(pads[1]))
    dxp = _col2im_padded(cols.reshape(N, C, KH, KW, H_out, W_out), padded, stride, dilation)
    return np.ascontiguousarray(_crop(dxp, pads, H, W))          # (N, C, H, W)


# --------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------

class Conv2dCache(NamedTuple):
    """What conv2d's backward pass needs: the columns (for dw), the weight (for dx), and the
    geometry to fold columns back into an image.

    The columns of the whole batch form one matrix per group, each row a (c, kh, kw) tap and each
    column an (n, i, j) output position, so that forward, dw and dx are one matrix product each.
    With stride 1 the rows are as wide as the padded input (see `_wide_columns`); the columns
    with j >= W_out are not outputs.
    """
    cols: np.ndarray        # (groups, C_in/groups*KH*KW, N*H_out*width)
    width: int              # row width of the columns: W_out, or the padded width when stride is 1
    w: np.ndarray           # the weight as applied (already flipped when flip=True)
    x_shape: tuple          # (N, C_in, H, W)
    pads: tuple             # ((pad_top, pad_bottom), (pad_left, pad_right))
    stride: tuple
    dilation: tuple
    groups: int
    has_bias: bool
    flip: bool
    out_shape: tuple        # (N, C_out, H_out, W_out)


def _arrays_2d(fn, x, w, b, w_layout):
    """x and w as float arrays checked to be 4-D, and the dtype the computation runs in."""
    x = _checks.as_float_array(fn, "x", x)
    w = _checks.as_float_array(fn, "w", w)
    _checks.check_ndim(fn, "x", x, 4, "(N, C_in, H, W)")
    _checks.check_ndim(fn, "w", w, 4, w_layout)
    dtype = np.result_type(x, w) if b is None else np.result_type(
        x, w, _checks.as_float_array(fn, "b", b))
    _check_kernel_dims(fn, w, w.shape[2:])
    return x, w, dtype


def _prepare_conv2d(fn, x, w, b, stride, padding, dilation, groups, strict):
    x, w, dtype = _arrays_2d(fn, x, w, b, "(C_out, C_in/groups, KH, KW)")
    N, C_in, H, W = x.shape
    C_out, C_in_g, KH, KW = w.shape
    _checks.check_channels(fn, C_in, C_in_g, groups, C_out)
    b = _checks.check_bias(fn, b, C_out, dtype)
    stride = _checks.pair(fn, "stride", stride)
    dilation = _checks.pair(fn, "dilation", dilation)
    pads, sym = _resolve_padding(fn, padding, (KH, KW), stride, dilation)
    H_out, W_out = _out_sizes(fn, H, W, KH, KW, stride, pads, sym, dilation, strict)
    return (x.astype(dtype, copy=False), w.astype(dtype, copy=False), b, stride, pads, dilation,
            int(groups), (H_out, W_out))


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *,
                   strict=False, flip=False):
    """2-D convolution (cross-correlation, as in PyTorch) returning ``(out, cache)``.

    ``out[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw] *
    xp[n, g*C_in/groups + c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]`` where xp is the
    zero-padded input and g the group of output channel o. With ``flip=True`` the kernel is
    flipped in both spatial axes first (true convolution).

    Args:
        stride, dilation: int or (h, w) pair, >= 1.
        padding: int or pair >= 0, or ``'valid'`` (none) or ``'same'`` (output size equals input
            size; needs stride 1; an odd total puts the extra row/column at the bottom/right).
        strict: raise when the stride leaves rows/columns of the padded input unused, instead of
            dropping them as PyTorch does.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW), b: (C_out,) or None
        out: (N, C_out, H_out, W_out) with
        H_out = floor((H + 2*padding_h - dilation_h*(KH - 1) - 1) / stride_h + 1), likewise W_out.
    """
    fn = "conv2d"
    x, w, b, stride, pads, dilation, G, (H_out, W_out) = _prepare_conv2d(
        fn, x, w, b, stride, padding, dilation, groups, strict)
    N, C_in, H, W = x.shape
    C_out, C_in_g, KH, KW = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]
    if stride == (1, 1):
        width = W + sum(pads[1])
        cols = _wide_columns(x, pads, KH, KW, H_out, dilation)   # (C_in, KH, KW, N, H_out*Wp)
    else:
        width = W_out
        xp = _pad_channels_first(x, pads)                         # (C_in, N, Hp, Wp)
        cols = _columns(xp, KH, KW, H_out, W_out, stride, dilation)  # (C_in, KH, KW, N, Ho, Wo)
    cols = cols.reshape(G, C_in_g * KH * KW, N * H_out * width)  # (G, C_in/G*KH*KW, N*H_out*width)
    w_mat = w.reshape(G, C_out // G, C_in_g * KH * KW)           # (G, C_out/G, C_in/G*KH*KW)
    out_cn = np.matmul(w_mat, cols)                              # (G, C_out/G, N*H_out*width)
    out_cn = out_cn.reshape(C_out, N, H_out, width)[..., :W_out].transpose(1, 0, 2, 3)
    out = np.empty((N, C_out, H_out, W_out), dtype=out_cn.dtype)  # back to NCHW in one pass
    if b is not None:
        np.add(out_cn, b[:, None, None], out=out)
    else:
        np.copyto(out, out_cn)
    cache = Conv2dCache(cols, width, w, x.shape, pads, stride, dilation, G, b is not None,
                        bool(flip), out.shape)
    return out, cache


def conv2d_backward(dout, cache: Conv2dCache, *, need_dx=True):
    """Gradients of conv2d: ``(dx, dw, db)``; db is None when the forward had no bias.

    dw is dout times the columns (each weight meets every input it touched); dx is the weight
    transposed times dout, folded back into an image by col2im; db sums dout over N, H, W.
    With ``need_dx=False`` the input gradient is skipped (dx is None): a network's first layer
    needs only its weight gradients, and dx is more than half the work of the backward pass.

    Shape:
        dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in/groups, KH, KW),
        db: (C_out,).
    """
    fn = "conv2d_backward"
    cols, width, w, x_shape, pads, stride, dilation, G, has_bias, flip, out_shape = cache
    dout = _checks.check_dout(fn, dout, out_shape, w.dtype)
    N, C_in, H, W = x_shape
    C_out, C_in_g, KH, KW = w.shape
    _, _, H_out, W_out = out_shape
    dout_cn = _wide(dout.transpose(1, 0, 2, 3), width)           # (C_out, N, H_out, width)
    dout_mat = dout_cn.reshape(G, C_out // G, N * H_out * width)  # (G, C_out/G, N*H_out*width)

    dw = np.matmul(dout_mat, cols.swapaxes(-1, -2))              # (G, C_out/G, C_in/G*KH*KW)
    dw = dw.reshape(C_out, C_in_g, KH, KW)
    if flip:                       # the forward used w[..., ::-1, ::-1]; flip the gradient back
        dw = np.ascontiguousarray(dw[:, :, ::-1, ::-1])
    db = dout_cn.reshape(C_out, -1).sum(axis=1) if has_bias else None  # (C_out,)
    if not need_dx:
        return None, dw, db

    w_mat = w.reshape(G, C_out // G, C_in_g * KH * KW)           # (G, C_out/G, C_in/G*KH*KW)
    padded = (C_in, N, H + sum(pads[0]), W + sum(pads[1]))
    if stride == (1, 1):
        dxp = _conv2d_dx_stride1(dout_cn, w_mat, padded, KH, KW, dilation)  # (C_in, N, Hp, Wp)
    else:
        dcols = np.matmul(w_mat.swapaxes(-1, -2), dout_mat)      # (G, C_in/G*KH*KW, N*H_out*W_out)
        dcols = dcols.reshape(C_in, KH, KW, N, H_out, W_out)
        dxp = _col2im_channels_first(dcols, padded, stride, dilation)  # (C_in, N, Hp, Wp)
    dx = np.ascontiguousarray(_crop(dxp, pads, H, W).transpose(1, 0, 2, 3))  # (N, C_in, H, W)
    return dx, dw, db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, strict=False, flip=False):
    """2-D convolution as ``torch.nn.functional.conv2d``; see `conv2d_forward`.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW) -> (N, C_out, H_out, W_out),
        H_out = floor((H + 2*padding_h - dilation_h*(KH - 1) - 1) / stride_h + 1), likewise W_out.
    """
    return conv2d_forward(x, w, b, stride, padding, dilation, groups, strict=strict, flip=flip)[0]


def conv2d_naive(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False):
    """conv2d written as plain loops, to be read next to the formula.

        out[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw]
                                  * xp[n, g*C_g + c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]

    xp is the zero-padded input, C_g = C_in/groups the channels each filter sees, and
    g = o // (C_out/groups) the group that output channel o belongs to.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW) -> (N, C_out, H_out, W_out).
    """
    fn = "conv2d_naive"
    x, w, b, stride, pads, dilation, G, (H_out, W_out) = _prepare_conv2d(
        fn, x, w, b, stride, padding, dilation, groups, False)
    if flip:
        w = w[:, :, ::-1, ::-1]                  # true convolution: turn the kernel by 180 degrees
    N = x.shape[0]
    C_out, C_g, KH, KW = w.shape
    (stride_h, stride_w), (dil_h, dil_w) = stride, dilation
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    out = np.zeros((N, C_out, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for o in range(C_out):
            g = o // (C_out // G)
            for i in range(H_out):
                for j in range(W_out):
                    total = 0.0 if b is None else b[o]
                    for c in range(C_g):
                        for kh in range(KH):
                            for kw in range(KW):
                                pixel = xp[n, g * C_g + c, i * stride_h + kh * dil_h,
                                           j * stride_w + kw * dil_w]
                                total += w[o, c, kh, kw] * pixel
                    out[n, o, i, j] = total
    return out


# --------------------------------------------------------------------------------------------
# conv1d (through the 2-D code, with a height-1 image)
# --------------------------------------------------------------------------------------------

class Conv1dCache(NamedTuple):
    """The 2-D cache of the equivalent height-1 convolution."""
    cache2d: Conv2dCache


def conv1d_forward(x, w, b=None, stride=1, padding=0, dilation=1, *, strict=False, flip=False):
    """1-D convolution (cross-correlation) as ``torch.nn.functional.conv1d``: ``(out, cache)``.

    ``out[n, o, i] = b[o] + sum_{c, k} w[o, c, k] * xp[n, c, i*stride + k*dilation]``; computed
    as a 2-D convolution of height 1. ``flip=True`` flips the kernel (true convolution).

    Shape:
        x: (N, C_in, L), w: (C_out, C_in, K), b: (C_out,) or None -> (N, C_out, L_out),
        L_out = floor((L + 2*padding - dilation*(K - 1) - 1) / stride + 1).
    """
    fn = "conv1d"
    x = _checks.as_float_array(fn, "x", x)
    w = _checks.as_float_array(fn, "w", w)
    _checks.check_ndim(fn, "x", x, 3, "(N, C_in, L)")
    _checks.check_ndim(fn, "w", w, 3, "(C_out, C_in, K)")
    (_, C_in, L), (C_out, w_c_in, K) = x.shape, w.shape
    _check_kernel_dims(fn, w, (K,))
    _checks.check_channels(fn, C_in, w_c_in, 1, C_out)
    if b is not None:
        _checks.check_bias(fn, b, C_out, np.float64)
    (s,) = _checks.pair(fn, "stride", stride, n=1)
    (d,) = _checks.pair(fn, "dilation", dilation, n=1)
    (pads,), sym = _resolve_padding(fn, padding, (K,), (s,), (d,))
    if sym is not None:                      # errors worded for the 1-D case, axis L
        _checks.out_size(fn, "L", L, K, s, sym[0], d)
        if strict:
            _checks.check_strict_tiling(fn, "L", L, K, s, sym[0], d)
    padding2d = "same" if sym is None else (0, sym[0])
    out, cache2d = conv2d_forward(x[:, :, None, :], w[:, :, None, :], b, (1, s), padding2d,
                                  (1, d), 1, flip=flip)          # (N, C_out, 1, L_out)
    return out[:, :, 0, :], Conv1dCache(cache2d)                 # (N, C_out, L_out)


def conv1d_backward(dout, cache: Conv1dCache, *, need_dx=True):
    """Gradients of conv1d: ``(dx, dw, db)``; db is None without bias, dx is None when
    ``need_dx=False`` (only the weight gradients are computed).

    Shape:
        dout: (N, C_out, L_out) -> dx: (N, C_in, L), dw: (C_out, C_in, K), db: (C_out,).
    """
    fn = "conv1d_backward"
    N, C_out, _, L_out = cache.cache2d.out_shape
    dout = _checks.check_dout(fn, dout, (N, C_out, L_out), cache.cache2d.w.dtype)
    dx, dw, db = conv2d_backward(dout[:, :, None, :], cache.cache2d, need_dx=need_dx)
    return (None if dx is None else dx[:, :, 0, :]), dw[:, :, 0, :], db


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, *, strict=False, flip=False):
    """1-D convolution as ``torch.nn.functional.conv1d``; see `conv1d_forward`.

    Shape:
        x: (N, C_in, L), w: (C_out, C_in, K) -> (N, C_out, L_out),
        L_out = floor((L + 2*padding - dilation*(K - 1) - 1) / stride + 1).
    """
    return conv1d_forward(x, w, b, stride, padding, dilation, strict=strict, flip=flip)[0]


# --------------------------------------------------------------------------------------------
# conv_transpose2d: the adjoint of conv2d with respect to its input
# --------------------------------------------------------------------------------------------

class ConvTranspose2dCache(NamedTuple):
    """x (for dw), the weight (for dx) and the geometry."""
    x: np.ndarray           # (N, C_in, H, W)
    w: np.ndarray           # (C_in, C_out, KH, KW)
    pads: tuple
    stride: tuple
    dilation: tuple
    has_bias: bool
    out_shape: tuple        # (N, C_out, H_out, W_out)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution as ``torch.nn.functional.conv_transpose2d`` (groups=1): ``(out, cache)``.

    Each input pixel x[n, c, i, j] stamps a copy of its kernel w[c], scaled by the pixel, onto the
    output at (i*stride, j*stride); overlapping stamps add. `padding` then crops that many rows and
    columns from each border, and `output_padding` adds rows/columns at the bottom/right only, to
    pick among the input sizes that a strided conv2d maps to the same output size. It equals the
    gradient of conv2d with respect to its input.

    Shape:
        x: (N, C_in, H, W), w: (C_in, C_out, KH, KW), b: (C_out,) or None -> (N, C_out, H_out, W_out),
        H_out = (H - 1)*stride_h - 2*padding_h + dilation_h*(KH - 1) + output_padding_h + 1,
        likewise W_out.
    """
    fn = "conv_transpose2d"
    x, w, dtype = _arrays_2d(fn, x, w, b, "(C_in, C_out, KH, KW)")
    N, C_in, H, W = x.shape
    w_c_in, C_out, KH, KW = w.shape
    if w_c_in != C_in:
        raise ValueError(f"{fn}: channel mismatch: x has C_in={C_in} channels but w has shape "
                         f"{tuple(w.shape)}, whose first axis ({w_c_in}) must be C_in; the weight "
                         f"layout is (C_in, C_out, KH, KW) as in PyTorch.")
    b = _checks.check_bias(fn, b, C_out, dtype)
    stride = _checks.pair(fn, "stride", stride)
    dilation = _checks.pair(fn, "dilation", dilation)
    padding = _checks.pair_nonneg(fn, "padding", padding)
    output_padding = _checks.pair_nonneg(fn, "output_padding", output_padding)
    for axis, op, s, d in zip(("H", "W"), output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"{fn}: output_padding must be smaller than either stride or dilation "
                             f"(as in PyTorch), got output_padding={op} with stride={s}, "
                             f"dilation={d} along {axis}; use output_padding <= {max(s, d) - 1}.")
    H_full = (H - 1) * stride[0] + dilation[0] * (KH - 1) + 1 + output_padding[0]
    W_full = (W - 1) * stride[1] + dilation[1] * (KW - 1) + 1 + output_padding[1]
    H_out, W_out = H_full - 2 * padding[0], W_full - 2 * padding[1]
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{fn}: padding={padding} crops the whole output: before cropping it is "
                         f"{H_full} x {W_full}, which gives H_out={H_out}, W_out={W_out}; use "
                         f"padding <= {(min(H_full, W_full) - 1) // 2}.")
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    x_mat = x.reshape(N, C_in, H * W)                            # (N, C_in, H*W)
    w_mat = w.reshape(C_in, C_out * KH * KW)                     # (C_in, C_out*KH*KW)
    cols = np.matmul(w_mat.T, x_mat)                             # (N, C_out*KH*KW, H*W)
    cols = cols.reshape(N, C_out, KH, KW, H, W)
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    full = _col2im_padded(cols, (N, C_out, H_full, W_full), stride, dilation)
    out = np.ascontiguousarray(full[:, :, padding[0]:padding[0] + H_out,
                                    padding[1]:padding[1] + W_out])  # (N, C_out, H_out, W_out)
    if b is not None:
        out += b[:, None, None]
    cache = ConvTranspose2dCache(x, w, pads, stride, dilation, b is not None, out.shape)
    return out, cache


def conv_transpose2d_backward(dout, cache: ConvTranspose2dCache):
    """Gradients of conv_transpose2d: ``(dx, dw, db)``; db is None without bias.

    dx is an ordinary strided conv2d of dout with the same weight; dw pairs x with the windows
    of dout.

    Shape:
        dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_in, C_out, KH, KW),
        db: (C_out,).
    """
    fn = "conv_transpose2d_backward"
    x, w, pads, stride, dilation, has_bias, out_shape = cache
    dout = _checks.check_dout(fn, dout, out_shape, w.dtype)
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    # Pad dout back to the uncropped size; the bottom/right extra is output_padding (and any
    # tail the windows never reach), which received no stamp and so gets no gradient.
    H_full = (H - 1) * stride[0] + dilation[0] * (KH - 1) + 1
    W_full = (W - 1) * stride[1] + dilation[1] * (KW - 1) + 1
    (pt, _), (pl, _) = pads
    H_out, W_out = out_shape[2:]
    dfull = np.zeros((N, C_out, max(H_full, pt + H_out), max(W_full, pl + W_out)), dtype=w.dtype)
    dfull[:, :, pt:pt + H_out, pl:pl + W_out] = dout
    win = _windows(dfull, KH, KW, H, W, stride, dilation)       # (N, C_out, KH, KW, H, W)
    cols = win.reshape(N, C_out * KH * KW, H * W)                # (N, C_out*KH*KW, H*W)
    w_mat = w.reshape(C_in, C_out * KH * KW)                     # (C_in, C_out*KH*KW)
    dx = np.matmul(w_mat, cols).reshape(N, C_in, H, W)           # (N, C_in, H, W)
    x_mat = x.reshape(N, C_in, H * W)
    dw = np.matmul(x_mat, cols.swapaxes(-1, -2)).sum(axis=0)     # (C_in, C_out*KH*KW)
    dw = dw.reshape(C_in, C_out, KH, KW)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution as ``torch.nn.functional.conv_transpose2d``; see the forward.

    Shape:
        x: (N, C_in, H, W), w: (C_in, C_out, KH, KW) -> (N, C_out, H_out, W_out),
        H_out = (H - 1)*stride_h - 2*padding_h + dilation_h*(KH - 1) + output_padding_h + 1.
    """
    return conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation)[0]
