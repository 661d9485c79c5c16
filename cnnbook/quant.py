"""Integer quantization: affine maps between floats and 8-bit (or fewer) integers, as PyTorch.

A real number x is stored as an integer q with a *scale* s and a *zero point* z::

    q = clamp(round(x / s) + z, quant_min, quant_max)        x ~ (q - z) * s

``quantize_per_tensor`` / ``quantize_per_channel`` return exactly the integers of
``torch.quantize_per_tensor(...).int_repr()`` / ``torch.quantize_per_channel(...).int_repr()``
for ``np.int8`` and ``np.uint8``, including ties, which both round half to even. The two
PyTorch kernels differ in one detail that decides ties: per tensor, the product ``x * (1/s)``
and the zero point are added in one fused multiply-add before rounding; per channel, the
product is rounded to float32 first, then ``z`` is added in float32, then the sum is rounded.
Both are reproduced here (the fused add in float64, where the float32 product is exact).
As PyTorch, the inputs are computed in float32 (a float64 input is rounded to float32 first).

The observers choose ``(scale, zero_point)`` from the running minimum and maximum as
``torch.ao.quantization.MinMaxObserver`` and ``PerChannelMinMaxObserver`` do;
``fake_quantize_forward/backward`` is ``torch.fake_quantize_per_tensor_affine`` with its
straight-through gradient; ``quantized_linear`` and ``quantized_conv2d`` multiply integers,
accumulate in int32 and requantize the result.

References: Jacob et al. 2018, *Quantization and training of neural networks for efficient
integer-arithmetic-only inference*; Krishnamoorthi 2018, *Quantizing deep convolutional networks
for efficient inference: a whitepaper*. Taught in the chapter ``compression``.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from . import conv as _conv
from .module import Module
from ._checks import _is_int, as_float_array, check_bool, check_choice, check_dout, pair, \
    pair_nonneg

__all__ = [
    "qrange", "quantize_per_tensor", "quantize_per_channel", "dequantize",
    "dequantize_per_channel", "MinMaxObserver", "PerChannelMinMaxObserver",
    "fake_quantize", "fake_quantize_forward", "fake_quantize_backward",
    "fake_quantize_per_channel", "fake_quantize_per_channel_forward",
    "fake_quantize_per_channel_backward", "quantized_linear", "quantized_conv2d",
    "quantize_weights", "ActQuant", "prepare", "convert",
]

_DTYPES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def qrange(dtype) -> tuple:
    """``(quant_min, quant_max)`` of ``np.int8`` (-128, 127) or ``np.uint8`` (0, 255)."""
    return _DTYPES[_check_dtype("qrange", dtype)]


def _check_dtype(fn, dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPES:
        raise TypeError(f"{fn}: dtype must be np.int8 or np.uint8, got {dtype!r}; use "
                        f"dtype=np.int8 for weights (symmetric) or np.uint8 for activations.")
    return dt


def _check_scale(fn, name, scale) -> np.ndarray:
    s = as_float_array(fn, name, scale, np.float64)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        bad = s[~(np.isfinite(s) & (s > 0))].ravel()[:3].tolist()
        raise ValueError(f"{fn}: {name} must be finite and > 0, got {name}={bad} "
                         f"(the step between two integers); choose it from the data's range, "
                         f"e.g. (max - min) / 255, or with a MinMaxObserver.")
    return s


def _check_zero_point(fn, name, zero_point, lo, hi, dtype) -> np.ndarray:
    z = np.asarray(zero_point)
    if z.dtype == object or not (np.issubdtype(z.dtype, np.integer)):
        raise TypeError(f"{fn}: {name} must be an integer (or integers), got {zero_point!r}; "
                        f"use e.g. {name}=0.")
    if np.any(z < lo) or np.any(z > hi):
        bad = z[(z < lo) | (z > hi)].ravel()[:3].tolist()
        raise ValueError(f"{fn}: {name}={bad} lies outside the range [{lo}, {hi}] of "
                         f"{np.dtype(dtype).name}; the zero point is the integer that stands "
                         f"for 0.0, so it must be representable: use a value in [{lo}, {hi}].")
    return z.astype(np.int64)


def _round_fma(x32: np.ndarray, inv: np.float32, z) -> np.ndarray:
    """round(x * inv + z) with one rounding of the float32 product-sum (a fused multiply-add):
    the float32 product is exact in float64, and so is the sum for the zero points of 8 bits."""
    return np.rint((x32.astype(np.float64) * np.float64(inv) + z).astype(np.float32))


def quantize_per_tensor(x, scale, zero_point, dtype=np.uint8) -> np.ndarray:
    """Integers ``clamp(round(x / scale) + zero_point)`` in `dtype`, as
    ``torch.quantize_per_tensor(x, scale, zero_point, dtype).int_repr()``.

    >>> quantize_per_tensor(np.array([-1.0, 0.0, 0.25, 0.3, 9.0]), 0.1, 10, np.uint8)
    array([  0,  10,  12,  13, 100], dtype=uint8)
    """
    fn = "quantize_per_tensor"
    dt = _check_dtype(fn, dtype)
    lo, hi = _DTYPES[dt]
    x32 = as_float_array(fn, "x", x, np.float32)
    s = float(_check_scale(fn, "scale", scale).reshape(-1)[0])
    z = int(_check_zero_point(fn, "zero_point", zero_point, lo, hi, dt).reshape(-1)[0])
    inv = np.float32(1.0) / np.float32(s)
    return np.clip(_round_fma(x32, inv, z), lo, hi).astype(dt)


def _per_channel(fn, x, scales, zero_points, axis, lo, hi, dt):
    if not _is_int(axis) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{fn}: axis={axis!r} is not an axis of x with shape {x.shape}; use "
                         f"axis=0 for a weight's output channels.")
    axis = int(axis) % x.ndim
    C = x.shape[axis]
    s = _check_scale(fn, "scales", scales).reshape(-1)
    z = _check_zero_point(fn, "zero_points", zero_points, lo, hi, dt).reshape(-1)
    if s.size != C or z.size != C:
        raise ValueError(f"{fn}: x has {C} channels along axis {axis}, but {s.size} scales and "
                         f"{z.size} zero points; pass one of each per channel.")
    shape = [1] * x.ndim
    shape[axis] = C
    return s.reshape(shape), z.reshape(shape)


def quantize_per_channel(x, scales, zero_points, axis, dtype=np.int8) -> np.ndarray:
    """One scale and zero point per slice along `axis`, as
    ``torch.quantize_per_channel(x, scales, zero_points, axis, dtype).int_repr()``.

    >>> w = np.array([[0.5, -1.0], [0.02, 0.04]])
    >>> quantize_per_channel(w, [1 / 127, 0.04 / 127], [0, 0], 0, np.int8)
    array([[  64, -127],
           [  64,  127]], dtype=int8)
    """
    fn = "quantize_per_channel"
    dt = _check_dtype(fn, dtype)
    lo, hi = _DTYPES[dt]
    x32 = as_float_array(fn, "x", x, np.float32)
    s, z = _per_channel(fn, x32, scales, zero_points, axis, lo, hi, dt)
    inv = np.float32(1.0) / s.astype(np.float32)
    # PyTorch's per-channel kernel: round the product to float32, add z in float32, round.
    q = np.rint((x32 * inv).astype(np.float32) + z.astype(np.float32))
    return np.clip(q, lo, hi).astype(dt)


def dequantize(q, scale, zero_point) -> np.ndarray:
    """``(q - zero_point) * scale`` in float32, as ``torch.Tensor.dequantize()``."""
    fn = "dequantize"
    dt = _check_int_array(fn, q)
    s = np.float32(_check_scale(fn, "scale", scale).reshape(-1)[0])
    z = _check_zero_point(fn, "zero_point", zero_point, *_DTYPES[dt], dt).reshape(-1)[0]
    return (q.astype(np.float32) - np.float32(z)) * s


def dequantize_per_channel(q, scales, zero_points, axis) -> np.ndarray:
    """``(q - zero_points) * scales`` along `axis`, computed in float64 with the float64
    scales (as PyTorch's per-channel kernel) and rounded to float32."""
    fn = "dequantize_per_channel"
    dt = _check_int_array(fn, q)
    s, z = _per_channel(fn, q, scales, zero_points, axis, *_DTYPES[dt], dt)
    return ((q.astype(np.float64) - z) * s).astype(np.float32)


def _check_int_array(fn, q) -> np.dtype:
    q = np.asarray(q)
    if q.dtype not in _DTYPES:
        raise TypeError(f"{fn}: q must be an int8 or uint8 array of quantized values, got dtype "
                        f"{q.dtype}; pass the output of quantize_per_tensor/_per_channel.")
    return q.dtype


# ---- observers ---------------------------------------------------------------------------
_EPS32 = np.float32(np.finfo(np.float32).eps)
_SCHEMES = ("per_tensor_affine", "per_tensor_symmetric")


class MinMaxObserver:
    """Track the minimum and maximum of what passes through; ``calculate_qparams()`` returns
    the ``(scale, zero_point)`` of ``torch.ao.quantization.MinMaxObserver`` with the same
    options (``dtype`` np.uint8 or np.int8, ``qscheme`` ``"per_tensor_affine"`` or
    ``"per_tensor_symmetric"``, ``reduce_range``, ``quant_min`` / ``quant_max``).

    Affine: ``scale = (max(max, 0) - min(min, 0)) / (quant_max - quant_min)`` and
    ``zero_point = quant_min - round(min / scale)``, so that 0.0 is represented exactly.
    Symmetric: ``scale = max(|min|, |max|) / ((quant_max - quant_min) / 2)``, zero point 0
    (128 for uint8). The scale is at least float32's epsilon. All in float32, as PyTorch.

    >>> obs = MinMaxObserver(np.uint8)
    >>> _ = obs(np.array([-1.0, 0.5, 2.0], np.float32))
    >>> obs.calculate_qparams()
    (np.float32(0.011764706), 85)
    """

    _schemes = _SCHEMES
    _name = "MinMaxObserver"

    def __init__(self, dtype=np.uint8, qscheme=None, reduce_range=False, quant_min=None,
                 quant_max=None):
        fn = self._name
        self.dtype = _check_dtype(fn, dtype)
        self.qscheme = check_choice(fn, "qscheme", qscheme or self._schemes[0], self._schemes)
        self.reduce_range = check_bool(fn, "reduce_range", reduce_range)
        if reduce_range and self.dtype == np.uint8 and self.qscheme.endswith("symmetric"):
            raise ValueError(f"{fn}: reduce_range=True with a symmetric scheme for uint8 is not "
                             f"defined (PyTorch refuses it too); use dtype=np.int8 or "
                             f"reduce_range=False.")
        custom = quant_min is not None or quant_max is not None
        self.has_customized_qrange = custom
        if custom:
            if quant_min is None or quant_max is None or not (_is_int(quant_min)
                                                              and _is_int(quant_max)):
                raise TypeError(f"{fn}: give both quant_min and quant_max as integers, got "
                                f"quant_min={quant_min!r}, quant_max={quant_max!r}; e.g. "
                                f"quant_min=-8, quant_max=7 for 4 bits.")
            lo, hi = _DTYPES[self.dtype]
            if not (lo <= quant_min < quant_max <= hi):
                raise ValueError(f"{fn}: need {lo} <= quant_min < quant_max <= {hi} for "
                                 f"{self.dtype.name}, got quant_min={quant_min}, "
                                 f"quant_max={quant_max}; e.g. quant_min=-8, quant_max=7.")
            qmin, qmax = int(quant_min), int(quant_max)
            if reduce_range:
                qmin, qmax = qmin // 2, qmax // 2
        else:
            signed = self.dtype == np.int8
            qmin, qmax = ((-64, 63) if signed else (0, 127)) if reduce_range else \
                _DTYPES[self.dtype]
        self.quant_min, self.quant_max = qmin, qmax
        self.min_val = np.float32(np.inf)
        self.max_val = np.float32(-np.inf)

    def _reduce(self, x):
        return np.min(x), np.max(x)

    def __call__(self, x):
        """Update the running minimum and maximum with `x`; return `x` unchanged."""
        x32 = as_float_array(self._name, "x", x, np.float32)
        if x32.size == 0:
            return x
        lo, hi = self._reduce(x32)
        self.min_val = np.minimum(self.min_val, lo).astype(np.float32)
        self.max_val = np.maximum(self.max_val, hi).astype(np.float32)
        return x

    forward = __call__

    def _qparams(self, min_val, max_val):
        min_val = np.asarray(min_val, np.float32)
        max_val = np.asarray(max_val, np.float32)
        if not np.all(np.isfinite(min_val)) or np.any(min_val > max_val):
            raise ValueError(f"{self._name}.calculate_qparams: no data observed yet "
                             f"(min={min_val}, max={max_val}); call the observer on some "
                             f"inputs first.")
        qmin, qmax = self.quant_min, self.quant_max
        min_neg = np.minimum(min_val, np.float32(0))
        max_pos = np.maximum(max_val, np.float32(0))
        if self.qscheme.endswith("symmetric"):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = (max_pos / np.float32((qmax - qmin) / 2)).astype(np.float32)
            scale = np.maximum(scale, _EPS32)
            zp = np.zeros(scale.shape, np.int64)
            if self.dtype == np.uint8:
                zp[...] = (qmin + qmax) // 2 if self.has_customized_qrange else 128
        else:
            scale = ((max_pos - min_neg) / np.float32(qmax - qmin)).astype(np.float32)
            scale = np.maximum(scale, _EPS32)
            zp = qmin - np.rint(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qmin, qmax)
        return scale, zp

    def calculate_qparams(self):
        """``(scale, zero_point)``: a float32 scalar and an int."""
        scale, zp = self._qparams(self.min_val, self.max_val)
        return np.float32(scale), int(zp)

    def __repr__(self):
        return (f"{self._name}(dtype={self.dtype.name}, qscheme={self.qscheme!r}, "
                f"quant_min={self.quant_min}, quant_max={self.quant_max}, "
                f"min_val={self.min_val}, max_val={self.max_val})")


class PerChannelMinMaxObserver(MinMaxObserver):
    """One minimum and maximum per slice along ``ch_axis`` (a weight's output channels);
    ``calculate_qparams()`` returns float32 scales and int64 zero points equal to
    ``torch.ao.quantization.PerChannelMinMaxObserver``'s (qscheme ``"per_channel_affine"`` or
    ``"per_channel_symmetric"``)."""

    _schemes = ("per_channel_affine", "per_channel_symmetric")
    _name = "PerChannelMinMaxObserver"

    def __init__(self, ch_axis=0, dtype=np.uint8, qscheme=None, reduce_range=False,
                 quant_min=None, quant_max=None):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max)
        if not _is_int(ch_axis):
            raise TypeError(f"{self._name}: ch_axis must be an integer, got {ch_axis!r}; use "
                            f"ch_axis=0 for a weight's output channels.")
        self.ch_axis = int(ch_axis)
        self.min_val = self.max_val = None

    def _reduce(self, x):
        if not -x.ndim <= self.ch_axis < x.ndim:
            raise ValueError(f"{self._name}: ch_axis={self.ch_axis} is not an axis of x with "
                             f"shape {x.shape}; use ch_axis=0.")
        axes = tuple(a for a in range(x.ndim) if a != self.ch_axis % x.ndim)
        return np.min(x, axis=axes), np.max(x, axis=axes)

    def __call__(self, x):
        x32 = as_float_array(self._name, "x", x, np.float32)
        lo, hi = self._reduce(x32)
        if self.min_val is None:
            self.min_val, self.max_val = lo.astype(np.float32), hi.astype(np.float32)
        else:
            self.min_val = np.minimum(self.min_val, lo)
            self.max_val = np.maximum(self.max_val, hi)
        return x

    forward = __call__

    def calculate_qparams(self):
        """``(scales, zero_points)``: float32 and int64 arrays, one entry per channel."""
        if self.min_val is None:
            raise ValueError(f"{self._name}.calculate_qparams: no data observed yet; call the "
                             f"observer on the weight first.")
        scale, zp = self._qparams(self.min_val, self.max_val)
        return scale.astype(np.float32), zp.astype(np.int64)


# ---- fake quantization (quantize, then dequantize, in float) -------------------------------
class FakeQuantCache(NamedTuple):
    inside: np.ndarray   # where round(x / s) + z fell inside [quant_min, quant_max]


def _check_qrange(fn, quant_min, quant_max):
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if not _is_int(v):
            raise TypeError(f"{fn}: {name} must be an integer, got {name}={v!r}; e.g. "
                            f"quant_min=0, quant_max=255.")
    if not quant_min < quant_max:
        raise ValueError(f"{fn}: need quant_min < quant_max, got quant_min={quant_min}, "
                         f"quant_max={quant_max}; e.g. quant_min=-128, quant_max=127.")
    return int(quant_min), int(quant_max)


def _check_fq_zero_point(fn, name, z, lo, hi):
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.integer):
        raise TypeError(f"{fn}: {name} must be an integer, got {z!r}; use e.g. {name}=0.")
    if np.any(z < lo) or np.any(z > hi):
        raise ValueError(f"{fn}: {name}={z.ravel()[:3].tolist()} lies outside [quant_min, "
                         f"quant_max] = [{lo}, {hi}]; use a zero point inside the range.")
    return z.astype(np.int64)


def fake_quantize_forward(x, scale, zero_point, quant_min, quant_max):
    """``(clamp(round(x / s) + z, quant_min, quant_max) - z) * s`` in float32, and the cache of
    the straight-through gradient, as ``torch.fake_quantize_per_tensor_affine``."""
    fn = "fake_quantize"
    lo, hi = _check_qrange(fn, quant_min, quant_max)
    x32 = as_float_array(fn, "x", x, np.float32)
    s = np.float32(_check_scale(fn, "scale", scale).reshape(-1)[0])
    z = int(_check_fq_zero_point(fn, "zero_point", zero_point, lo, hi).reshape(-1)[0])
    q = np.rint(x32 * (np.float32(1.0) / s)) + z
    inside = (q >= lo) & (q <= hi)
    out = ((np.clip(q, lo, hi) - z) * s).astype(np.float32)
    return out, FakeQuantCache(inside)


def fake_quantize_backward(dout, cache: FakeQuantCache) -> np.ndarray:
    """The straight-through estimator: rounding passes the gradient unchanged, clamping stops
    it (dx = dout where x fell inside the range, 0 where it was clipped)."""
    dout = check_dout("fake_quantize_backward", dout, cache.inside.shape)
    return np.where(cache.inside, dout, 0).astype(dout.dtype)


def fake_quantize(x, scale, zero_point, quant_min, quant_max) -> np.ndarray:
    """What `x` becomes after quantizing and dequantizing (float32), with the rounding error
    and the clipping of the integers; see ``fake_quantize_forward``."""
    return fake_quantize_forward(x, scale, zero_point, quant_min, quant_max)[0]


def fake_quantize_per_channel_forward(x, scales, zero_points, axis, quant_min, quant_max):
    """Per-channel fake quantization, as ``torch.fake_quantize_per_channel_affine``."""
    fn = "fake_quantize_per_channel"
    lo, hi = _check_qrange(fn, quant_min, quant_max)
    x32 = as_float_array(fn, "x", x, np.float32)
    if not _is_int(axis) or not -x32.ndim <= axis < x32.ndim:
        raise ValueError(f"{fn}: axis={axis!r} is not an axis of x with shape {x32.shape}; "
                         f"use axis=0.")
    shape = [1] * x32.ndim
    shape[int(axis)] = x32.shape[int(axis)]
    s = _check_scale(fn, "scales", scales).astype(np.float32)
    z = _check_fq_zero_point(fn, "zero_points", zero_points, lo, hi)
    if s.size != shape[int(axis)] or z.size != s.size:
        raise ValueError(f"{fn}: x has {shape[int(axis)]} channels along axis {axis}, got "
                         f"{s.size} scales and {z.size} zero points; pass one per channel.")
    s, z = s.reshape(shape), z.reshape(shape)
    q = np.rint(x32 * (np.float32(1.0) / s)) + z
    inside = (q >= lo) & (q <= hi)
    out = ((np.clip(q, lo, hi) - z) * s).astype(np.float32)
    return out, FakeQuantCache(inside)


fake_quantize_per_channel_backward = fake_quantize_backward


def fake_quantize_per_channel(x, scales, zero_points, axis, quant_min, quant_max):
    """The output of ``fake_quantize_per_channel_forward``."""
    return fake_quantize_per_channel_forward(x, scales, zero_points, axis, quant_min,
                                             quant_max)[0]


# ---- integer layers --------------------------------------------------------------------------
def _requantize(acc, x_scale, w_scales, b, out_scale, out_zero_point, out_dtype, channel_axis):
    """int32 accumulator -> real output -> integers of the next layer."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    real = acc.astype(np.float64) * (np.float64(x_scale) * np.asarray(w_scales, np.float64)
                                     .reshape(shape))
    if b is not None:
        real = real + np.asarray(b, np.float64).reshape(shape)
    return quantize_per_tensor(real, out_scale, out_zero_point, out_dtype)


def _weight_qparams(fn, qw, w_scales, w_zero_points):
    s = np.broadcast_to(_check_scale(fn, "w_scales", w_scales).reshape(-1), (qw.shape[0],))
    z = np.broadcast_to(np.asarray(w_zero_points, np.int64).reshape(-1), (qw.shape[0],))
    return s, z


def quantized_linear(qx, x_scale, x_zero_point, qw, w_scales, w_zero_points, b, out_scale,
                     out_zero_point, out_dtype=np.uint8) -> np.ndarray:
    """``x @ w.T + b`` on integers: ``sum((qx - zx) * (qw - zw))`` accumulated in int32, scaled
    by ``x_scale * w_scale`` (one weight scale, or one per output feature), the float bias
    added, and requantized to `out_dtype` with ``(out_scale, out_zero_point)``."""
    fn = "quantized_linear"
    qx, qw = np.asarray(qx), np.asarray(qw)
    _check_int_array(fn, qx), _check_int_array(fn, qw)
    ws, wz = _weight_qparams(fn, qw, w_scales, w_zero_points)
    xi = qx.astype(np.int32) - np.int32(x_zero_point)                 # (N, in)
    wi = qw.astype(np.int32) - wz.astype(np.int32)[:, None]            # (out, in)
    acc = xi @ wi.T                                                    # (N, out) int32
    return _requantize(acc, x_scale, ws, b, out_scale, out_zero_point, out_dtype, -1)


def quantized_conv2d(qx, x_scale, x_zero_point, qw, w_scales, w_zero_points, b, out_scale,
                     out_zero_point, stride=1, padding=0, out_dtype=np.uint8) -> np.ndarray:
    """A convolution on integers: the input's zero point is subtracted (so zero padding pads
    with the real 0.0), windows are multiplied by the int8 weights and summed in int32, and
    the sum is scaled, biased and requantized as in ``quantized_linear``."""
    fn = "quantized_conv2d"
    qx, qw = np.asarray(qx), np.asarray(qw)
    _check_int_array(fn, qx), _check_int_array(fn, qw)
    stride, padding = pair(fn, "stride", stride), pair_nonneg(fn, "padding", padding)
    ws, wz = _weight_qparams(fn, qw, w_scales, w_zero_points)
    N, _, H, W = qx.shape
    C_out, _, KH, KW = qw.shape
    xi = qx.astype(np.int32) - np.int32(x_zero_point)                  # (N, C_in, H, W)
    cols = _conv.im2col(xi, (KH, KW), stride, padding)                 # (N, C_in*KH*KW, L)
    wi = (qw.astype(np.int32) - wz.astype(np.int32)[:, None, None, None]).reshape(C_out, -1)
    acc = np.matmul(wi, cols.astype(np.int32))                         # (N, C_out, L) int32
    H_out = (H + 2 * padding[0] - KH) // stride[0] + 1
    W_out = (W + 2 * padding[1] - KW) // stride[1] + 1
    acc = acc.reshape(N, C_out, H_out, W_out)
    return _requantize(acc, x_scale, ws, b, out_scale, out_zero_point, out_dtype, 1)


# ---- whole models: weights and activations fake-quantized ----------------------------------
def quantize_weights(w, bits=8, per_channel=True):
    """`w` after symmetric quantization to `bits` bits (zero point 0, range
    ``[-2**(bits-1), 2**(bits-1) - 1]``), per output channel or per tensor, as float32: the
    weight a deployed integer model computes with."""
    fn = "quantize_weights"
    w32 = as_float_array(fn, "w", w, np.float32)
    if not _is_int(bits) or not 2 <= bits <= 8:
        raise ValueError(f"{fn}: bits must be an integer from 2 to 8, got bits={bits!r}; "
                         f"use bits=8.")
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    custom = dict(quant_min=lo, quant_max=hi) if bits < 8 else {}
    if per_channel:
        obs = PerChannelMinMaxObserver(0, np.int8, "per_channel_symmetric", **custom)
        obs(w32)
        s, z = obs.calculate_qparams()
        return fake_quantize_per_channel(w32, s, z, 0, obs.quant_min, obs.quant_max)
    obs = MinMaxObserver(np.int8, "per_tensor_symmetric", **custom)
    obs(w32)
    s, z = obs.calculate_qparams()
    return fake_quantize(w32, s, z, obs.quant_min, obs.quant_max)


def _quantizable(m):
    from .nn import Conv2d, Linear
    return isinstance(m, (Conv2d, Linear))


def prepare(model, weight_bits=8, per_channel=True):
    """A copy of `model` whose Conv2d and Linear layers are wrapped to observe their inputs,
    with their weights quantized to `weight_bits` bits (per output channel or per tensor).
    Run a few batches through it (``model.eval()``; forward only), then ``convert``."""
    q = copy.deepcopy(model)

    def walk(m):
        for name, child in list(m.named_children()):
            if _quantizable(child):
                child.weight.data = quantize_weights(child.weight.data, weight_bits,
                                                     per_channel).astype(child.weight.data.dtype)
                setattr(m, name, ActQuant(child))
            elif isinstance(child, Module):
                walk(child)
    walk(q)
    return q


def convert(model):
    """Fix each observed input's scale and zero point: from now on every Conv2d and Linear
    layer of a ``prepare``d model sees its input quantized to uint8 and dequantized."""
    for m in model.modules():
        if isinstance(m, ActQuant):
            m.qparams = m.observer.calculate_qparams()
    return model


class ActQuant(Module):
    """A Conv2d or Linear layer whose input is observed (before ``convert``) or
    fake-quantized to uint8 (after); the gradient passes straight through the rounding."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.observer = MinMaxObserver(np.uint8)
        self.qparams = None

    def forward(self, x):
        if self.qparams is None:
            self.observer(x)
            self._cache = None
            return self.layer(x)
        s, z = self.qparams
        xq, self._cache = fake_quantize_forward(x, s, z, 0, 255)
        return self.layer(xq.astype(np.asarray(x).dtype, copy=False))

    def backward(self, dout, input_grad=True):
        dx = self.layer.backward(dout, input_grad)
        if self._cache is None or dx is None:
            return dx
        return fake_quantize_backward(dx, self._cache)

    def extra_repr(self):
        if self.qparams is None:
            return "observing"
        return f"scale={float(self.qparams[0]):.4g}, zero_point={self.qparams[1]}"
