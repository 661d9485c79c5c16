"""Convolution layers in NumPy: conv2d, conv1d, conv_transpose2d, forward and backward.

Layout and semantics follow ``torch.nn.functional``: inputs are NCHW (NCL for 1-D), weights are
``(C_out, C_in/groups, KH, KW)`` (``(C_in, C_out, KH, KW)`` for the transposed convolution), and
``stride``, ``padding``, ``dilation``, ``groups`` mean what they mean in PyTorch. Like PyTorch, the
default operation is cross-correlation; ``flip=True`` gives true convolution (kernel flipped in
both spatial axes).

The vectorised path is im2col: `im2col` copies every receptive field of the padded input into
a column, ``(N, C_in*KH*KW, H_out*W_out)``, and one matrix product with the weights, reshaped to
``(C_out, C_in*KH*KW)``, computes the whole convolution. The backward pass is two more matrix
products and `col2im`, the adjoint of im2col, which adds each kernel tap's slice of the columns
back into a padded image. `conv2d_naive` and `conv2d_backward_naive` compute the same numbers
with explicit loops, one output position at a time. The functions here are the reference; the
input gradient takes the fast paths of ``cnnbook.fast`` where they apply (stride 1: a forward
convolution of the padded upstream gradient, or col2im on wide rows; a large batch: blocks),
which the tests hold equal to it. Public functions check their arguments once; the helpers they call trust them.

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

from . import _checks
from . import fast
from .window import Window, extent, fold, span, unfold, window_view

__all__ = [
    "conv2d", "conv2d_forward", "conv2d_backward", "conv2d_naive", "conv2d_backward_naive",
    "conv1d", "conv1d_forward", "conv1d_backward",
    "conv_transpose2d", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "im2col", "col2im",
]


# --------------------------------------------------------------------------------------------
# private helpers: padding and window geometry
# --------------------------------------------------------------------------------------------

def _resolve_padding(fn: str, padding, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Return ``(pads, sym)``: pads per axis as (before, after) pairs, and the symmetric int per
    axis (for messages and strict tiling), or None for ``'same'``.

    ``'same'`` pads ``span - 1 = dilation*(k-1)`` in total; when that is odd the extra row/column
    goes on the bottom/right, as in PyTorch.
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
            totals = [span(k, d) - 1 for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals), None
        raise ValueError(f"{fn}: padding must be an int, {n} ints, 'valid' or 'same', got "
                         f"padding={padding!r}.")
    sym = _checks.pair_nonneg(fn, "padding", padding, n=n)
    return tuple((p, p) for p in sym), sym


def _check_kernel_dims(fn: str, w: np.ndarray, spatial: tuple) -> None:
    """A weight with an empty spatial axis has no taps; PyTorch rejects it too."""
    if any(k < 1 for k in spatial):
        raise ValueError(f"{fn}: every kernel size must be >= 1, got w of shape {tuple(w.shape)} "
                         f"(kernel {tuple(spatial)}); give the weight at least one tap per axis.")


def _window(fn: str, H: int, W: int, kernel: tuple, stride, padding, dilation,
            strict: bool = False) -> Window:
    """Check stride, dilation and padding and return the `Window` they make on an H x W input;
    ValueError when the kernel does not fit or (strict) the stride leaves rows/columns unused."""
    stride = _checks.pair(fn, "stride", stride)
    dilation = _checks.pair(fn, "dilation", dilation)
    pads, sym = _resolve_padding(fn, padding, kernel, stride, dilation)
    if sym is None:                          # 'same': stride 1, output size == input size
        return Window(kernel, stride, dilation, pads, (H, W))
    out = tuple(_checks.out_size(fn, axis, n, k, s, p, d) for axis, n, k, s, p, d
                in zip(("H", "W"), (H, W), kernel, stride, sym, dilation))
    if strict:
        for axis, n, k, s, p, d in zip(("H", "W"), (H, W), kernel, stride, sym, dilation):
            _checks.check_strict_tiling(fn, axis, n, k, s, p, d)
    return Window(kernel, stride, dilation, pads, out)


# --------------------------------------------------------------------------------------------
# im2col / col2im: the one memory layout behind conv2d
# --------------------------------------------------------------------------------------------

def im2col(x, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Lay every receptive field of `x` out as a column.

    Column ``i*W_out + j`` of example n holds the window under output position (i, j), flattened
    in (c, kh, kw) order, so ``w.reshape(C_out, -1) @ im2col(x, ...)`` is a convolution. This is
    the checked entry point; the library's own code calls the unchecked `unfold` of
    ``cnnbook.window`` with a `Window` it has already checked.

    Shape:
        x: (N, C, H, W) -> (N, C*KH*KW, H_out*W_out), with
        H_out = floor((H + 2*padding - dilation*(KH - 1) - 1) / stride + 1), likewise W_out.
    """
    fn = "im2col"
    x = _checks.as_float_array(fn, "x", x)
    _checks.check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    H, W = x.shape[2:]
    kernel = _checks.pair(fn, "kernel_size", kernel_size)
    return unfold(x, _window(fn, H, W, kernel, stride, padding, dilation))


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """The adjoint of `im2col`: scatter-add columns back to an image of shape `x_shape`.

    Where windows overlap, their contributions add up, so ``col2im(im2col(x))`` is `x` times the
    number of windows covering each pixel, and ``sum(im2col(x) * c) == sum(x * col2im(c))``.
    The checked entry point of the unchecked `fold` of ``cnnbook.window``.

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
    g = _window(fn, H, W, (KH, KW), stride, padding, dilation)
    want = (N, C * KH * KW, g.out[0] * g.out[1])
    if cols.shape != want:
        raise ValueError(f"col2im: cols must have shape {want} for x_shape={(N, C, H, W)} and "
                         f"kernel {(KH, KW)}, got {tuple(cols.shape)}.")
    return fold(cols, (N, C, H, W), g)


# --------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------

class Conv2dCache(NamedTuple):
    """What conv2d's backward pass needs: the columns im2col made (for dw), the weight as applied
    (for dx), and the arguments col2im needs to fold columns back into an image of `x_shape`."""
    cols: np.ndarray        # im2col(x): (N, C_in*KH*KW, H_out*W_out)
    w: np.ndarray           # the weight as applied (already flipped when flip=True)
    x_shape: tuple          # (N, C_in, H, W)
    stride: tuple
    padding: object         # as given: int, pair, 'valid' or 'same'
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
    """Checked x, w, b in one dtype, the `Window` and the number of groups."""
    x, w, dtype = _arrays_2d(fn, x, w, b, "(C_out, C_in/groups, KH, KW)")
    N, C_in, H, W = x.shape
    C_out, C_in_g, KH, KW = w.shape
    _checks.check_channels(fn, C_in, C_in_g, groups, C_out)
    b = _checks.check_bias(fn, b, C_out, dtype)
    g = _window(fn, H, W, (KH, KW), stride, padding, dilation, strict)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), b, g, int(groups)


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *,
                   strict=False, flip=False):
    """2-D convolution (cross-correlation, as in PyTorch): ``(out, cache)``.

    ``out[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw]
    * xp[n, g*C_in/groups + c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]``
    where xp is the zero-padded input and g the group of output channel o.
    With ``flip=True`` the kernel is flipped in both spatial axes first (true
    convolution).

    Args:
        stride, dilation: int or (h, w) pair, >= 1.
        padding: int or pair >= 0, or ``'valid'`` (none) or ``'same'``
            (output size equals input size; needs stride 1; an odd total
            puts the extra row/column at the bottom/right).
        strict: raise when the stride leaves rows/columns of the padded
            input unused, instead of dropping them as PyTorch does.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW), b: (C_out,)
        out: (N, C_out, H_out, W_out) with H_out =
        floor((H + 2*padding_h - dil_h*(KH - 1) - 1) / stride_h + 1),
        likewise W_out.
    """
    x, w, b, g, G = _prepare_conv2d("conv2d", x, w, b, stride, padding,
                                    dilation, groups, strict)
    if flip:
        w = w[:, :, ::-1, ::-1]       # true convolution: kernel turned 180°
    N, C_out, (H_out, W_out) = len(x), len(w), g.out
    L, K = H_out * W_out, w[0].size   # positions; weights per filter
    # one weight matrix per group, applied to that group's rows of the columns
    w_mat = w.reshape(G, C_out // G, K)                # (G, C_out/G, K)
    if fast.conv2d_matmul_applies(L, G):     # small planes: fast.py
        cols, out = fast.conv2d_small_planes(x, w_mat[0], g)
    else:
        cols = unfold(x, g)           # im2col: (N, C_in*KH*KW, L)
        out = np.matmul(w_mat, cols.reshape(N, G, K, L))  # (N, G, C_out/G, L)
    out = out.reshape(N, C_out, H_out, W_out)
    if b is not None:
        out += b[:, None, None]
    cache = Conv2dCache(cols, w, x.shape, g.stride, padding, g.dilation,
                        G, b is not None, bool(flip), out.shape)
    return out, cache


def conv2d_backward(dout, cache: Conv2dCache, *, need_dx=True):
    """Gradients of conv2d: ``(dx, dw, db)``; db is None without a bias.

    dw is dout times the columns (each weight meets every input it touched);
    dx is the weight transposed times dout, folded back into an image by
    col2im; db sums dout over N, H, W. With ``need_dx=False`` the input
    gradient is skipped (dx is None): a network's first layer needs only its
    weight gradients, and dx is more than half the work of the backward pass.

    Shape:
        dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W),
        dw: (C_out, C_in/groups, KH, KW), db: (C_out,).
    """
    cols, w, x_shape, _, _, _, G, has_bias, flip, out_shape = cache
    dout = _checks.check_dout("conv2d_backward", dout, out_shape, w.dtype)
    N, C_out, H_out, W_out = out_shape
    L, K = H_out * W_out, w[0].size   # positions; weights per filter
    w_mat = w.reshape(G, C_out // G, K)                # (G, C_out/G, K)
    dout_mat = dout.reshape(N, G, C_out // G, L)       # (N, G, C_out/G, L)
    # dw = dout cols^T summed over examples, computed as its transpose
    # cols dout^T: the order in which BLAS multiplies these shapes faster
    if fast.conv2d_matmul_applies(L, G):     # small planes: fast.py
        dw = fast.conv2d_weight_grad(dout_mat[:, 0], cols).reshape(w.shape)
    else:
        cols_g = cols.reshape(N, G, K, L)              # (N, G, K, L)
        dwT = np.matmul(cols_g, dout_mat.swapaxes(2, 3)).sum(axis=0)
        dw = dwT.swapaxes(1, 2).reshape(w.shape)   # (C_out, C_in/G, KH, KW)
    if flip:                          # the forward used w[..., ::-1, ::-1]
        dw = np.ascontiguousarray(dw[:, :, ::-1, ::-1])
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None      # (C_out,)
    if not need_dx:
        return None, dw, db
    g = _cache_window(cache)
    if fast.conv2d_matmul_applies(L, G):     # small planes: fast.py
        dx = fast.conv2d_input_grad_small_planes(w_mat[0], dout, x_shape, g)
        return dx, dw, db
    if fast.conv2d_input_grad_by_conv_applies(w.shape, g, G):   # stride 1
        dx = fast.conv2d_input_grad_by_conv(w, dout, x_shape, g)
        return dx, dw, db
    if fast.conv2d_input_grad_wide_applies(w.shape, g, G):      # stride 1
        return fast.conv2d_input_grad_wide(w_mat[0], dout, x_shape, g), dw, db
    if fast.conv2d_input_grad_applies(cols):      # a large batch: fast.py
        return fast.conv2d_input_grad(w_mat, dout_mat, x_shape, g), dw, db
    dcols = np.matmul(w_mat.swapaxes(1, 2), dout_mat)  # (N, G, K, L)
    dx = fold(dcols.reshape(cols.shape), x_shape, g)   # col2im: x's shape
    return dx, dw, db


def _cache_window(cache: Conv2dCache) -> Window:
    """The `Window` of a forward pass, rebuilt from its cache."""
    kernel = tuple(cache.w.shape[2:])
    pads, _ = _resolve_padding("conv2d_backward", cache.padding, kernel,
                               cache.stride, cache.dilation)
    return Window(kernel, cache.stride, cache.dilation, pads, cache.out_shape[2:])


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, strict=False, flip=False):
    """2-D convolution as ``torch.nn.functional.conv2d``; see `conv2d_forward`.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW) -> (N, C_out, H_out, W_out),
        H_out = floor((H + 2*padding_h - dilation_h*(KH - 1) - 1) / stride_h + 1), likewise W_out.
    """
    return conv2d_forward(x, w, b, stride, padding, dilation, groups, strict=strict, flip=flip)[0]


def conv2d_naive(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *,
                 flip=False):
    """conv2d written as plain loops, to be read next to the formula.

        out[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw]
            * xp[n, g*C_g + c, i*stride_h + kh*dil_h, j*stride_w + kw*dil_w]

    xp is the zero-padded input, C_g = C_in/groups the channels each filter
    sees, and g = o // (C_out/groups) the group of output channel o.

    Shape:
        x: (N, C_in, H, W), w: (C_out, C_in/groups, KH, KW)
        -> (N, C_out, H_out, W_out).
    """
    x, w, b, win, G = _prepare_conv2d("conv2d_naive", x, w, b, stride,
                                      padding, dilation, groups, False)
    if flip:
        w = w[:, :, ::-1, ::-1]       # true convolution: kernel turned 180°
    N = x.shape[0]
    C_out, C_g, KH, KW = w.shape
    (H_out, W_out), (stride_h, stride_w) = win.out, win.stride
    dil_h, dil_w = win.dilation
    xp = np.pad(x, ((0, 0), (0, 0)) + win.pads)
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
                                pixel = xp[n, g * C_g + c,
                                           i * stride_h + kh * dil_h,
                                           j * stride_w + kw * dil_w]
                                total += w[o, c, kh, kw] * pixel
                    out[n, o, i, j] = total
    return out


def conv2d_backward_naive(dout, x, w, b=None, stride=1, padding=0,
                          dilation=1, groups=1, *, flip=False):
    """The gradients of `conv2d_naive`, ``(dx, dw, db)``, written as loops.

    Each output position (n, o, i, j) read the pixels of one window, one per
    weight; the chain rule sends its upstream gradient ``dout[n, o, i, j]``
    back along the same pairs (r = i*stride_h + kh*dil_h,
    s = j*stride_w + kw*dil_w):

        dw[o, c, kh, kw]      += dout[n, o, i, j] * xp[n, g*C_g + c, r, s]
        dxp[n, g*C_g + c, r, s] += dout[n, o, i, j] * w[o, c, kh, kw]

    and ``db[o]`` sums ``dout[:, o]``. dx is dxp without its padding; db is
    None when b is None. Pass the arguments the forward got.

    Shape:
        dout: (N, C_out, H_out, W_out), x: (N, C_in, H, W),
        w: (C_out, C_in/groups, KH, KW) -> dx: (N, C_in, H, W),
        dw: (C_out, C_in/groups, KH, KW), db: (C_out,) or None.
    """
    fn = "conv2d_backward_naive"
    x, w, b, win, G = _prepare_conv2d(fn, x, w, b, stride, padding,
                                      dilation, groups, False)
    N, C_in, H, W = x.shape
    C_out, C_g, KH, KW = w.shape
    (H_out, W_out), (stride_h, stride_w) = win.out, win.stride
    dil_h, dil_w = win.dilation
    dout = _checks.check_dout(fn, dout, (N, C_out, H_out, W_out), x.dtype)
    w_applied = w[:, :, ::-1, ::-1] if flip else w
    (pt, _), (pl, _) = win.pads
    xp = np.pad(x, ((0, 0), (0, 0)) + win.pads)
    dxp = np.zeros_like(xp)
    dw_applied = np.zeros_like(w)
    for n in range(N):
        for o in range(C_out):
            g = o // (C_out // G)
            for i in range(H_out):
                for j in range(W_out):
                    grad = dout[n, o, i, j]
                    for c in range(C_g):
                        for kh in range(KH):
                            for kw in range(KW):
                                r = i * stride_h + kh * dil_h
                                s = j * stride_w + kw * dil_w
                                pixel = xp[n, g * C_g + c, r, s]
                                dw_applied[o, c, kh, kw] += grad * pixel
                                dxp[n, g * C_g + c, r, s] += (
                                    grad * w_applied[o, c, kh, kw])
    dx = dxp[:, :, pt:pt + H, pl:pl + W].copy()   # padding gets no gradient
    dw = dw_applied[:, :, ::-1, ::-1].copy() if flip else dw_applied
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


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
    H_stamped, W_stamped = extent(H, KH, stride[0], dilation[0]), extent(W, KW, stride[1], dilation[1])
    H_full, W_full = H_stamped + output_padding[0], W_stamped + output_padding[1]
    H_out, W_out = H_full - 2 * padding[0], W_full - 2 * padding[1]
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{fn}: padding={padding} crops the whole output: before cropping it is "
                         f"{H_full} x {W_full}, which gives H_out={H_out}, W_out={W_out}; use "
                         f"padding <= {(min(H_full, W_full) - 1) // 2}.")
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    x_mat = x.reshape(N, C_in, H * W)                            # (N, C_in, H*W)
    w_mat = w.reshape(C_in, C_out * KH * KW)                     # (C_in, C_out*KH*KW)
    cols = np.matmul(w_mat.T, x_mat)                             # (N, C_out*KH*KW, H*W)
    # each column is one input pixel's stamp; col2im adds the stamps up, H x W windows of them
    stamps = Window((KH, KW), stride, dilation, ((0, 0), (0, 0)), (H, W))
    stamped = fold(cols, (N, C_out, H_stamped, W_stamped), stamps)
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    full = np.pad(stamped, ((0, 0), (0, 0), (0, output_padding[0]), (0, output_padding[1])))
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
    H_full, W_full = extent(H, KH, stride[0], dilation[0]), extent(W, KW, stride[1], dilation[1])
    (pt, _), (pl, _) = pads
    H_out, W_out = out_shape[2:]
    dfull = np.zeros((N, C_out, max(H_full, pt + H_out), max(W_full, pl + W_out)), dtype=w.dtype)
    dfull[:, :, pt:pt + H_out, pl:pl + W_out] = dout
    win = window_view(dfull, Window((KH, KW), stride, dilation, ((0, 0), (0, 0)), (H, W)))
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
