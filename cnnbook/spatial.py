"""Resampling and padding of feature maps: ``interpolate`` (nearest, bilinear) and ``pad``
(constant, reflect, replicate, circular) — forward and backward, with PyTorch's exact rules.

Both are linear maps of the input, so the backward pass is the transposed map. Interpolation
along one axis reads two taps per output position, ``out[r] = l0[r] * x[i0[r]] + l1[r] *
x[i1[r]]`` (nearest: one tap, weight 1) — a matrix ``A`` of shape ``(n_out, n_in)`` with those
weights in row r, so the 2-D result is ``A_h @ x @ A_w.T`` and the gradient
``A_h.T @ dout @ A_w`` (the forward pass reads the taps directly, as PyTorch; the backward
pass multiplies by the matrices, one matrix product per axis). Padding copies
input elements to output positions, and its gradient adds every output gradient back onto the
element it was copied from.

References:
- PyTorch documentation: ``torch.nn.functional.interpolate`` (``align_corners``,
  ``recompute_scale_factor``), ``torch.nn.functional.pad``; PyTorch source
  ``aten/src/ATen/native/UpSample.h`` (``nearest_idx``, ``area_pixel_compute_source_index``:
  the index rules reproduced here, including the float32 arithmetic of the nearest index).
- A. Odena, V. Dumoulin and C. Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016
  (resize-then-convolve upsampling).
- O. Ronneberger, P. Fischer and T. Brox, "U-Net: Convolutional Networks for Biomedical Image
  Segmentation", MICCAI 2015 (upsampling paths; reflect padding of the input tiles).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_dout, check_ndim

__all__ = [
    "interpolate", "interpolate_forward", "interpolate_backward",
    "pad", "pad_forward", "pad_backward",
]


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


# ---------------------------------------------------------------------------------------------
# interpolation: one matrix per axis

def _nearest_index(n_in: int, n_out: int, scale) -> np.ndarray:
    """Source index of each output position, as PyTorch's ``nearest_idx``: a copy when the size
    is unchanged, ``dst // 2`` when it doubles, else ``min(floor(dst * s), n_in - 1)`` with
    ``s = 1 / scale_factor`` (or ``n_in / n_out`` without one), computed in float32."""
    dst = np.arange(n_out)
    if n_out == n_in:
        return dst
    if n_out == 2 * n_in:
        return dst >> 1
    s = np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(dst.astype(np.float32) * s).astype(np.int64), n_in - 1)


def _linear_taps(n_in: int, n_out: int, align_corners: bool, scale, dtype) -> tuple:
    """``(i0, i1, l0, l1)``: output position r reads ``l0[r] * x[i0[r]] + l1[r] * x[i1[r]]``, as
    PyTorch's CPU kernel.

    align_corners=True: source ``dst * (n_in - 1) / (n_out - 1)`` (the corner pixels' centres
    meet); False: ``(dst + 0.5) * s - 0.5`` clamped at 0, with ``s = 1 / scale_factor`` or
    ``n_in / n_out`` (pixel areas meet). The taps are ``floor(src)`` and the next one (the same
    one at the last pixel), weighted ``1 - lambda`` and ``lambda``; an unchanged size copies."""
    t = np.dtype(dtype).type
    rows = np.arange(n_out)
    if n_out == n_in:                                         # PyTorch copies, whatever the scale
        return rows, rows, np.ones(n_out, dtype), np.zeros(n_out, dtype)
    dst = rows.astype(dtype)
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * dst
    else:
        ratio = t(1.0 / scale) if scale is not None else t(n_in) / t(n_out)
        src = np.maximum(ratio * (dst + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0, t(0), t(1)).astype(dtype)
    return i0, i0 + (i0 < n_in - 1), (1 - lam).astype(dtype), lam


def _two(fn: str, name: str, v, kind: str):
    vals = tuple(v) if isinstance(v, (tuple, list, np.ndarray)) else (v, v)
    if len(vals) != 2:
        raise ValueError(f"{fn}: {name} must be one {kind} or two (for H and W), got {name}={v!r}; "
                         f"x is (N, C, H, W).")
    return vals


def _interpolate_args(x, size, scale_factor, mode, align_corners, recompute_scale_factor):
    """Output size (H_out, W_out) and the scales handed to the index rules (None: n_in/n_out)."""
    fn = "interpolate"
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"{fn}: mode must be 'nearest' or 'bilinear', got mode={mode!r}; x is "
                         f"(N, C, H, W).")
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"{fn}: align_corners must be True, False or None, got "
                        f"align_corners={align_corners!r}.")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{fn}: align_corners={align_corners} only applies to mode='bilinear'; "
                         f"leave align_corners=None for mode='nearest'.")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}; e.g. scale_factor=2 or size=(H_out, W_out).")
    H, W = x.shape[2:]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{fn}: recompute_scale_factor=True needs scale_factor, not size="
                             f"{size!r}; drop recompute_scale_factor.")
        size = _two(fn, "size", size, "int")
        if not all(_is_int(s) for s in size):
            raise TypeError(f"{fn}: size must be integers, got size={size!r}; use e.g. "
                            f"size=({H * 2}, {W * 2}).")
        out = tuple(int(s) for s in size)
        scales = (None, None)
    else:
        sf = _two(fn, "scale_factor", scale_factor, "number")
        if not all(isinstance(s, (numbers.Real, np.floating, np.integer))
                   and not isinstance(s, (bool, np.bool_)) for s in sf):
            raise TypeError(f"{fn}: scale_factor must be a number or two, got "
                            f"scale_factor={scale_factor!r}; use e.g. scale_factor=2.")
        if not all(np.isfinite(s) and s > 0 for s in sf):
            raise ValueError(f"{fn}: scale_factor must be > 0, got scale_factor={scale_factor!r}; "
                             f"use e.g. 2 to double or 0.5 to halve H and W.")
        out = tuple(math.floor(float(n * s)) for n, s in zip((H, W), sf))  # as PyTorch, in double
        scales = (None, None) if recompute_scale_factor else tuple(float(s) for s in sf)
    if min(out) < 1:
        raise ValueError(f"{fn}: the output size {out} of input size {(H, W)} must be at least "
                         f"1 along H and W; use a larger size or scale_factor.")
    return out, scales


class InterpolateCache(NamedTuple):
    taps_h: tuple             # (i0, i1, l0, l1) along H, each (H_out,)
    taps_w: tuple             # (i0, i1, l0, l1) along W, each (W_out,)
    shape: tuple              # (N, C, H, W) of the input
    dtype: np.dtype
    mode: str

    def matrices(self) -> tuple:
        """``(A_h, A_w)``, the ``(H_out, H)`` and ``(W_out, W)`` interpolation matrices:
        ``out = A_h @ x @ A_w.T``."""
        mats = []
        for (i0, i1, l0, l1), n in zip((self.taps_h, self.taps_w), self.shape[2:]):
            A = np.zeros((len(i0), n), self.dtype)
            np.add.at(A, (np.arange(len(i0)), i0), l0)
            np.add.at(A, (np.arange(len(i0)), i1), l1)
            mats.append(A)
        return tuple(mats)


def interpolate_forward(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                        recompute_scale_factor=None):
    """Resize ``(N, C, H, W)`` maps to ``size`` or by ``scale_factor``, as ``F.interpolate``.

    ``mode="nearest"`` copies pixel ``floor(dst * H / H_out)`` (with a ``scale_factor``,
    ``floor(dst / scale_factor)``, unless ``recompute_scale_factor=True``); ``"bilinear"``
    blends the two nearest pixels along each axis, with ``align_corners`` (default False)
    choosing whether the corner pixels' centres or their outer edges line up. Returns
    ``(out, cache)``.

    Shape:
        x ``(N, C, H, W)``; out ``(N, C, H_out, W_out)`` with ``(H_out, W_out) = size`` or
        ``H_out = floor(H * scale_factor)``, ``W_out = floor(W * scale_factor)``.

    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> interpolate_forward(x, scale_factor=2)[0][0, 0].tolist()
    [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]]
    >>> out, cache = interpolate_forward(x, size=3, mode="bilinear", align_corners=True)
    >>> out[0, 0].tolist()
    [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]
    """
    fn = "interpolate"
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W)")
    (H_out, W_out), (s_h, s_w) = _interpolate_args(x, size, scale_factor, mode, align_corners,
                                                   recompute_scale_factor)
    N, C, H, W = x.shape
    if mode == "nearest":
        ih, iw = _nearest_index(H, H_out, s_h), _nearest_index(W, W_out, s_w)
        one, zero = np.ones(1, x.dtype), np.zeros(1, x.dtype)
        taps_h = (ih, ih, np.broadcast_to(one, ih.shape), np.broadcast_to(zero, ih.shape))
        taps_w = (iw, iw, np.broadcast_to(one, iw.shape), np.broadcast_to(zero, iw.shape))
        out = np.take(np.take(x, ih, axis=2), iw, axis=3)    # (N, C, H_out, W_out)
    else:
        ac = bool(align_corners)
        taps_h = _linear_taps(H, H_out, ac, s_h, x.dtype)
        taps_w = _linear_taps(W, W_out, ac, s_w, x.dtype)
        i0, i1, l0, l1 = taps_w                               # along W: (N, C, H, W_out)
        y = np.take(x, i0, axis=3) * l0 + np.take(x, i1, axis=3) * l1
        i0, i1, l0, l1 = taps_h                               # along H: (N, C, H_out, W_out)
        out = np.take(y, i0, axis=2) * l0[:, None] + np.take(y, i1, axis=2) * l1[:, None]
    return out, InterpolateCache(taps_h, taps_w, x.shape, x.dtype, mode)


def interpolate_backward(dout, cache: InterpolateCache):
    """dx = A_h.T @ dout @ A_w: each output gradient goes back to the pixels it was read from,
    with the weights it was read with (summed where several outputs read one pixel)."""
    taps_h, taps_w, shape, dtype, mode = cache
    dout = check_dout("interpolate_backward", dout,
                      tuple(shape[:2]) + (len(taps_h[0]), len(taps_w[0])), dtype)
    A_h, A_w = cache.matrices()                               # (H_out, H), (W_out, W)
    return np.einsum("ih,ncij,jw->nchw", A_h, dout, A_w, optimize=True)   # two GEMMs


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize ``(N, C, H, W)`` maps (nearest or bilinear, PyTorch's rules); returns only
    ``out``.

    Shape:
        x ``(N, C, H, W)``; out ``(N, C, H_out, W_out)``.

    >>> interpolate(np.array([[[[0.0, 4.0]]]]), size=(1, 4), mode="bilinear")[0, 0].tolist()
    [[0.0, 1.0, 3.0, 4.0]]
    """
    return interpolate_forward(x, size, scale_factor, mode, align_corners,
                               recompute_scale_factor)[0]


# ---------------------------------------------------------------------------------------------
# padding

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


class PadCache(NamedTuple):
    shape: tuple              # the input's shape
    out_shape: tuple          # the output's shape
    dtype: np.dtype
    mode: str
    src: tuple                # constant: the slices of x kept (negative pads crop)
    dst: tuple                # constant: where they sit in out
    index: tuple              # other modes: per padded axis (axis, before, source index of
    #                           each output position)


def _check_pad(fn: str, x: np.ndarray, pad, mode: str, value) -> list:
    """[(axis, before, after), ...] for the padded axes, last axis first."""
    if mode not in _PAD_MODES:
        raise ValueError(f"{fn}: mode must be one of {_PAD_MODES}, got mode={mode!r}.")
    if not isinstance(pad, (tuple, list)) or not all(_is_int(p) for p in pad):
        raise TypeError(f"{fn}: pad must be a tuple of ints (left, right, top, bottom, ...), "
                        f"last axis first, got pad={pad!r}; use e.g. pad=(1, 1, 1, 1).")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"{fn}: pad={tuple(pad)} must hold a (before, after) pair for each of at "
                         f"most {x.ndim} axes of x (shape {tuple(x.shape)}), last axis first; "
                         f"use e.g. pad=(1, 1, 1, 1) for W and H.")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{fn}: value must be a number, got value={value!r}; use value=0.")
    k = len(pad) // 2
    axes = [(x.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(k)]
    if mode == "constant":
        for axis, lo, hi in axes:
            if x.shape[axis] + lo + hi < 0:
                raise ValueError(f"{fn}: pad ({lo}, {hi}) on axis {axis} of size {x.shape[axis]} "
                                 f"leaves {x.shape[axis] + lo + hi} elements; negative pads crop, "
                                 f"so crop at most {x.shape[axis]} in all.")
        return axes
    if value != 0:
        raise ValueError(f"{fn}: value={value} is only used by mode='constant', not "
                         f"mode={mode!r}; drop value.")
    if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
        raise ValueError(f"{fn}: mode={mode!r} pads the last 1, 2 or 3 axes of a batched or "
                         f"unbatched input: pad of length {len(pad)} needs x with {k + 1} or "
                         f"{k + 2} dimensions, got shape {tuple(x.shape)}.")
    for axis, lo, hi in axes:
        n = x.shape[axis]
        if lo < 0 or hi < 0:
            raise ValueError(f"{fn}: mode={mode!r} takes pads >= 0, got ({lo}, {hi}) on axis "
                             f"{axis}; crop with slicing, or use mode='constant'.")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"{fn}: reflect padding must be smaller than the axis it mirrors, "
                             f"got ({lo}, {hi}) on axis {axis} of size {n}; use pads <= {n - 1} "
                             f"or mode='replicate'.")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"{fn}: circular padding wraps around at most once, got ({lo}, {hi}) "
                             f"on axis {axis} of size {n}; use pads <= {n}.")
        if mode == "replicate" and n == 0 and (lo or hi):
            raise ValueError(f"{fn}: replicate padding needs a non-empty axis {axis}.")
    return axes


def _source_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each output position along an axis, the input position it copies."""
    j = np.arange(-lo, n + hi)
    if mode == "reflect":                                     # mirror about the edge elements
        j = np.abs(j)
        return np.where(j > n - 1, 2 * (n - 1) - j, j)
    if mode == "replicate":                                   # repeat the edge elements
        return np.clip(j, 0, n - 1)
    return j % n                                              # circular: wrap around


def pad_forward(x, pad, mode="constant", value=0):
    """Pad the last ``len(pad) // 2`` axes of x, as ``F.pad``: ``pad = (left, right)`` pads the
    last axis, ``(left, right, top, bottom)`` the last two, and so on — the last axis first.

    ``constant`` fills with ``value`` (negative pads crop); ``reflect`` mirrors about the edge
    element without repeating it (``[1, 2, 3]`` with (2, 0) gives ``[3, 2, 1, 2, 3]``),
    ``replicate`` repeats the edge element, ``circular`` wraps around. Returns ``(out, cache)``.

    Shape:
        x ``(*, H, W)``; out ``(*, H + top + bottom, W + left + right)``. The non-constant
        modes take ``(C, W)`` / ``(N, C, W)`` for a length-2 pad, ``(C, H, W)`` /
        ``(N, C, H, W)`` for length 4, ``(C, D, H, W)`` / ``(N, C, D, H, W)`` for length 6.

    >>> x = np.array([[[1.0, 2.0, 3.0]]])
    >>> [pad_forward(x, (2, 1), m)[0].ravel().tolist() for m in ("reflect", "replicate", "circular")]
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0], [1.0, 1.0, 1.0, 2.0, 3.0, 3.0], [2.0, 3.0, 1.0, 2.0, 3.0, 1.0]]
    """
    fn = "pad"
    x = as_float_array(fn, "x", x)
    axes = _check_pad(fn, x, pad, mode, value)
    if mode == "constant":
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        shape = list(x.shape)
        for axis, lo, hi in axes:
            n = x.shape[axis]
            shape[axis] = n + lo + hi
            keep = max(0, n - max(0, -lo) - max(0, -hi))      # input elements that survive
            src[axis] = slice(max(0, -lo), max(0, -lo) + keep)
            dst[axis] = slice(max(0, lo), max(0, lo) + keep)
        out = np.full(shape, value, dtype=x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        return out, PadCache(x.shape, out.shape, x.dtype, mode, tuple(src), tuple(dst), ())
    index = tuple((axis, lo, _source_index(x.shape[axis], lo, hi, mode)) for axis, lo, hi in axes)
    out = x
    for axis, _, idx in index:
        out = np.take(out, idx, axis=axis)
    return out, PadCache(x.shape, out.shape, x.dtype, mode, (), (), index)


def pad_backward(dout, cache: PadCache):
    """dx: for constant padding the gradient of the kept elements (the padding's own gradient
    is dropped); otherwise each output gradient is added onto the input element it copies, so
    edge elements collect several."""
    shape, out_shape, dtype, mode, src, dst, index = cache
    dout = check_dout("pad_backward", dout, out_shape, dtype)
    if mode == "constant":
        dx = np.zeros(shape, dtype)
        dx[src] = dout[dst]
        return dx
    d = dout
    for axis, lo, idx in index:
        n = shape[axis]
        dm = np.moveaxis(d, axis, 0)                          # the padded axis first
        dx = dm[lo:lo + n].copy()                             # the interior copies straight back
        for j in [*range(lo), *range(lo + n, len(idx))]:     # each padded position adds onto
            dx[idx[j]] += dm[j]                               # the element it copied
        d = np.moveaxis(dx, 0, axis)
    return d


def pad(x, pad, mode="constant", value=0):
    """Pad the trailing axes of x (PyTorch's ``F.pad``: last axis first); returns only ``out``.

    Shape:
        x ``(*, H, W)``; out ``(*, H + top + bottom, W + left + right)``.

    >>> pad(np.ones((1, 2, 2)), (1, 0, 0, 1), value=9).tolist()
    [[[9.0, 1.0, 1.0], [9.0, 1.0, 1.0], [9.0, 9.0, 9.0]]]
    """
    return pad_forward(x, pad, mode, value)[0]
