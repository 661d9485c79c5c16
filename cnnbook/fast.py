"""Fast paths, kept apart from the reference code, as CS231n keeps ``fast_layers.py`` apart
from ``layers.py``.

``conv.py`` and ``pool.py`` hold the mathematics, each function whole and readable; the
functions here compute the same numbers faster in common cases, and the public functions call
them, one visible line each, where they apply:

- ``max_pool2d_2x2_forward`` / ``_backward``: 2x2 windows with stride 2 (LeNet's and VGG's
  pooling). Bit for bit the reference's result, ties, NaN and infinities included.
- ``max_pool2d_scan_forward`` / ``_backward``: any other window (ResNet's 3x3 with stride 2):
  the reference's scan over the taps, on the input split by stride phase so that each tap's
  values are one contiguous run, with ``np.maximum`` and a one-byte tap index. Bit for bit the
  reference's result; a window whose maximum is NaN or -inf is left to the reference (None),
  as these follow rules of their own.
- ``conv2d_input_grad``: conv2d's input gradient ``col2im(w^T dout)`` in blocks of examples
  whose column gradients stay in the CPU cache while `fold` adds them up. The same products and
  sums per example, in the same order: the tests find it equal to the reference bit for bit.
- ``conv2d_input_grad_by_conv``: with stride 1 (and no more output than input channels), the
  input gradient as a forward convolution of the padded upstream gradient with the kernel
  turned 180 degrees: one `unfold` and one product, no `col2im`. Equal to rounding.
- ``conv2d_input_grad_wide``: with stride 1 and more output channels (LeNet's second layer),
  `col2im` on rows as wide as the padded input, one long add per tap. Bit for bit.

- ``conv2d_matmul`` / ``conv2d_weight_grad``: where a layer's planes are small (ResNet-18's
  last stages: 4x4 and 2x2 positions), the weight matrix times every example's columns as
  one product for the whole batch, rather than one product per example that reads the whole
  weight matrix again for 4 columns; the columns are unfolded with the batch innermost
  (``unfold_batch_last``). The same dot products as the reference (BLAS may round a product
  of another shape differently; on ResNet-18's shapes the forward and the input gradient came
  out bit for bit the same); the weight gradient sums over examples and positions in one
  product. Equal to the reference to rounding.
- ``keep_freed_memory``: asks the C library's allocator (glibc) to keep the memory NumPy frees
  for the next array, rather than giving it back to the operating system and taking it again,
  one page fault per 4 KiB page. `import cnnbook` calls it once. A training step allocates
  the same arrays every time (LeNet-5's first layer writes 5 MB of columns per step), so this
  is where the time of a step goes on a machine whose page faults are slow: measured in a
  virtual machine of 2 cores, 2,833 faults and 7.2 ms of system time in a 15-ms LeNet-5 step
  before, none after; conv2d's forward and backward on 32 examples of 64 channels of 32x32
  (75 MB of columns), 550 faults and 10-13 ms of system time per call before, none after
  (``benchmarks/RESULTS.md``). ``CNNBOOK_KEEP_MEMORY=0`` in the environment
  leaves the allocator alone.

The tests hold each fast path equal to its reference over grids of shapes, with
``disabled()`` running the reference alone. Arguments arrive checked: like every inner helper,
these functions trust them.

References:
- CS231n assignment 2, ``fast_layers.py`` beside ``layers.py``.
- PyTorch's CPU kernel ``aten/src/ATen/native/cpu/MaxPoolKernel.cpp`` (the first maximum of a
  window wins; a NaN beats every number).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import NamedTuple

import numpy as np

from .window import Window, fold, tap_slices, unfold, window_view

__all__ = ["disabled", "keep_freed_memory", "max_pool2d_scan_applies", "max_pool2d_scan_forward",
           "max_pool2d_scan_backward", "max_pool2d_2x2_applies", "max_pool2d_2x2_forward",
           "max_pool2d_2x2_backward", "max_pool2d_2x2_taps", "conv2d_input_grad_applies",
           "conv2d_input_grad", "conv2d_input_grad_by_conv_applies", "conv2d_input_grad_by_conv",
           "conv2d_input_grad_wide_applies", "conv2d_input_grad_wide", "conv2d_matmul_applies",
           "conv2d_matmul", "conv2d_small_planes", "conv2d_input_grad_small_planes",
           "unfold_batch_last", "as_examples", "conv2d_weight_grad"]

_enabled = True
_CACHE_BYTES = 4 << 20          # the blocks of conv2d's input gradient: a 4 MB L2/L3 share
_POOL_BLOCK_BYTES = 1 << 21     # the blocks of 2x2 pooling: about 2 MiB of planes
_FEW_POSITIONS = 16             # conv2d's products for the whole batch at once, up to 4x4 planes


@contextlib.contextmanager
def disabled():
    """Inside ``with cb.fast.disabled():`` every function runs its reference code only.

    >>> import numpy as np, cnnbook as cb
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> with disabled():
    ...     ref = cb.F.max_pool2d(x, 2)
    >>> bool((ref == cb.F.max_pool2d(x, 2)).all())
    True
    """
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_MMAP_MAX = 0                   # no array is mapped on its own: all come from the heap
_TRIM_THRESHOLD = 512 << 20     # free memory kept at the top of the heap before it goes back


def keep_freed_memory() -> bool:
    """Keep freed memory in the process for the next arrays; True where it was set.

    glibc's ``malloc`` maps an array of more than 128 KiB afresh and unmaps it when it is
    freed (then raises that limit a little), and gives the top of its heap back to the system
    once more than a few MB of it is free. NumPy frees a training step's arrays at the end of
    the step and asks for the same sizes again at the next one: each time, every 4 KiB page is
    faulted in and zeroed by the kernel again. ``mallopt`` sets two limits once: no array is
    mapped on its own, however large (conv2d's 75 MB of columns in ``benchmarks/bench_conv.py``
    too: glibc's own limit for mapping stops at 32 MiB), and up to 512 MiB of freed heap is
    kept for reuse. Nothing is computed differently; only where the memory comes
    from changes. The cost: memory freed in the middle of the heap is reused by the process
    rather than returned to the system while it runs.

    Does nothing (False) outside glibc, when ``CNNBOOK_KEEP_MEMORY=0`` is set, or when the
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_MAX_`` variables
    already chose limits."""
    if os.environ.get("CNNBOOK_KEEP_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(f"MALLOC_{name}_" in os.environ for name in ("MMAP_THRESHOLD", "TRIM_THRESHOLD",
                                                        "MMAP_MAX")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):          # not glibc (musl, another C library)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, _MMAP_MAX)
                and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def _blocks(n_planes: int, plane_bytes: int) -> tuple:
    """``(size, slices)``: blocks of at most `size` planes, about 2 MiB each, so that a block's
    temporaries stay in the CPU cache and several passes over it cost about one over memory.
    (Smaller blocks fit a smaller cache but pay NumPy's per-call overhead more often.)"""
    size = min(n_planes, max(1, _POOL_BLOCK_BYTES // max(plane_bytes, 1)))
    return size, [slice(i, min(i + size, n_planes)) for i in range(0, n_planes, max(size, 1))]


# ----------------------------------------------------------------------------------------------
# Max pooling, 2x2 windows with stride 2
# ----------------------------------------------------------------------------------------------

def max_pool2d_2x2_applies(g: Window) -> bool:
    """2x2 windows, stride 2, no padding, no dilation (and the fast paths enabled)."""
    return _enabled and tuple(g[:4]) == ((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))


def max_pool2d_2x2_forward(x: np.ndarray, g: Window):
    """``(out, (right_won, bottom_won))``: 2x2 max pooling with stride 2, block by block.

    A window is two rows of two: first the larger of each horizontal pair (the left one on a
    tie), then the larger of the two rows (the top one on a tie), so the first maximum in
    row-major order wins, as in the reference scan. NumPy's maximum is several times faster on
    contiguous arrays than on every other element, so each block's pairs are first split into a
    contiguous left and right column. ``right_won`` has one flag per horizontal pair,
    ``bottom_won`` one per window."""
    N, C = x.shape[:2]
    H_out, W_out = g.out
    planes = np.ascontiguousarray(x[:, :, :2 * H_out, :2 * W_out]).reshape(
        N * C, 4 * H_out * W_out)
    out = np.empty((N * C, H_out * W_out), x.dtype)
    right_won = np.empty((N * C, 2 * H_out * W_out), bool)    # per horizontal pair
    bottom_won = np.empty((N * C, H_out * W_out), bool)       # per window
    size, blocks = _blocks(N * C, planes.itemsize * planes.shape[1])
    cols = np.empty((2, size * 2 * H_out * W_out), x.dtype)    # scratch for one block
    for b in blocks:
        n = (b.stop - b.start) * 2 * H_out * W_out               # horizontal pairs in the block
        np.copyto(cols[:, :n], planes[b].reshape(-1, 2).T)       # split them: (left, right)
        left, right = cols[:, :n]
        np.greater(right, left, out=right_won[b].reshape(-1))
        rows = np.maximum(left, right, out=left).reshape(-1, 2, W_out)  # (top, bottom) rows
        np.greater(rows[:, 1], rows[:, 0], out=bottom_won[b].reshape(-1, W_out))
        np.maximum(rows[:, 0], rows[:, 1], out=out[b].reshape(-1, W_out))
    if np.isnan(out).any():          # np.maximum gave NaN; the comparisons need NaN's rule
        _nan_wins(planes, right_won, bottom_won, W_out)
    return out.reshape(N, C, H_out, W_out), (right_won, bottom_won)


def _nan_wins(planes: np.ndarray, right_won: np.ndarray, bottom_won: np.ndarray,
              W_out: int) -> None:
    """A NaN beats every value, and a later NaN beats an earlier one (the reference scan takes
    ``v > best or isnan(v)``), so the scan ends on a window's last NaN: a NaN on the right wins
    its pair, and a NaN in the bottom pair wins the window."""
    nan = np.isnan(planes).reshape(len(planes), -1, 2)     # (N*C, pairs, (left, right))
    right_won |= nan[:, :, 1]
    bottom = bottom_won.reshape(-1, W_out)                  # a view: (N*C*H_out, W_out)
    bottom |= nan.any(axis=2).reshape(-1, 2, W_out)[:, 1]


def _route(d: np.ndarray, won: np.ndarray, first: np.ndarray, second: np.ndarray) -> None:
    """``second = d`` where `won`, else 0; ``first`` gets the rest (``d - d*won`` is ``d`` or
    exactly 0 for finite d)."""
    np.multiply(d, won, out=second)
    np.subtract(d, second, out=first)


def _route_non_finite(d, won, first, second) -> None:
    """`_route` for a d holding inf or NaN, where ``d*0`` is NaN rather than 0."""
    np.copyto(second, np.where(won, d, 0))
    np.copyto(first, np.where(won, 0, d))


def max_pool2d_2x2_backward(dout: np.ndarray, x_shape: tuple, g: Window,
                            wins: tuple) -> np.ndarray:
    """The 2x2/stride-2 gradient, block by block, undoing the forward step by step: each
    window's gradient goes to its bottom row if that row won, else to the top row; then within
    the row to the right pixel if it won, else to the left. `dout` has the forward's dtype."""
    N, C, H, W = x_shape
    H_out, W_out = g.out
    right_won, bottom_won = wins
    grads = dout.reshape(N * C, H_out * W_out)
    dx = np.empty((N * C, 4 * H_out * W_out), dout.dtype)
    size, blocks = _blocks(N * C, dx.itemsize * dx.shape[1])
    route = _route if np.isfinite(dout).all() else _route_non_finite
    row_grad = np.empty((size, 2 * H_out * W_out), dout.dtype)      # scratch for one block
    for b in blocks:
        d = grads[b].reshape(-1, W_out)
        rows = row_grad[:b.stop - b.start].reshape(-1, 2, W_out)   # gradient of (top, bottom)
        route(d, bottom_won[b].reshape(-1, W_out), rows[:, 0], rows[:, 1])
        pairs = dx[b].reshape(-1, 2)                               # (left, right) neighbours
        route(rows.reshape(-1), right_won[b].reshape(-1), pairs[:, 0], pairs[:, 1])
    dx = dx.reshape(N, C, 2 * H_out, 2 * W_out)
    if dx.shape[2:] != (H, W):                    # a last odd row or column is in no window
        dx = np.pad(dx, ((0, 0), (0, 0), (0, H - 2 * H_out), (0, W - 2 * W_out)))
    return dx


def max_pool2d_2x2_taps(x_shape: tuple, g: Window, wins: tuple) -> np.ndarray:
    """The winning tap ``kh * 2 + kw`` of every window, ``(N, C, H_out, W_out)``, as the
    reference's ``argmax``."""
    N, C = x_shape[:2]
    H_out, W_out = g.out
    right_won, bottom_won = wins
    right_won = right_won.reshape(N, C, H_out, 2, W_out)      # per (top, bottom) row
    bottom_won = bottom_won.reshape(N, C, H_out, W_out)
    col = np.where(bottom_won, right_won[:, :, :, 1], right_won[:, :, :, 0])
    return 2 * bottom_won.astype(np.intp) + col


# ----------------------------------------------------------------------------------------------
# Max pooling, any window: the reference's scan, with fewer and cheaper passes
# ----------------------------------------------------------------------------------------------

def max_pool2d_scan_applies(g: Window) -> bool:
    """A window of at most 255 taps, so that a byte numbers them (the fast paths enabled)."""
    return _enabled and g.kernel[0] * g.kernel[1] <= 255


class _Phases(NamedTuple):
    """A padded ``(N*C, Hp, Wp)`` stack split by stride phase: ``flat[rh, rw]`` holds the rows
    ``rh, rh + s_h, ...`` and columns ``rw, rw + s_w, ...`` of every plane as a ``(Hq, Wq)``
    grid, flattened, with a tail so that every tap's shifted run stays inside."""
    flat: np.ndarray      # (s_h, s_w, size + tail)
    size: int             # N*C*Hq*Wq: one run, one number per window (and some unused)
    grid: tuple           # (Hq, Wq)


def _phase_geometry(g: Window, Hp: int, Wp: int) -> tuple:
    (s_h, s_w), (KH, KW), (d_h, d_w) = g.stride, g.kernel, g.dilation
    Hq, Wq = -(-Hp // s_h), -(-Wp // s_w)
    tail = ((d_h * (KH - 1)) // s_h) * Wq + (d_w * (KW - 1)) // s_w
    return Hq, Wq, tail


def _tap_runs(g: Window, Wq: int):
    """For each tap in row-major order: ``(tap, rh, rw, offset)``: the window's tap (kh, kw) of
    output (i, j) is element ``i*Wq + j + offset`` of phase (rh, rw)."""
    (s_h, s_w), (KH, KW), (d_h, d_w) = g.stride, g.kernel, g.dilation
    for kh in range(KH):
        for kw in range(KW):
            (qh, rh), (qw, rw) = divmod(kh * d_h, s_h), divmod(kw * d_w, s_w)
            yield kh * KW + kw, rh, rw, qh * Wq + qw


def _split_phases(xp: np.ndarray, g: Window, fill) -> _Phases:
    """`xp` (P, Hp, Wp) split by stride phase (see `_Phases`); unused places hold `fill`."""
    P, Hp, Wp = xp.shape
    (s_h, s_w) = g.stride
    Hq, Wq, tail = _phase_geometry(g, Hp, Wp)
    size = P * Hq * Wq
    flat = np.full((s_h, s_w, size + tail), fill, xp.dtype)
    for rh in range(s_h):
        for rw in range(s_w):
            part = xp[:, rh::s_h, rw::s_w]
            grid = flat[rh, rw, :size].reshape(P, Hq, Wq)
            grid[:, :part.shape[1], :part.shape[2]] = part
    return _Phases(flat, size, (Hq, Wq))


def max_pool2d_scan_forward(x: np.ndarray, g: Window):
    """``(out, taps)`` as the reference scan computes them, or None where some window's maximum
    is NaN or -inf (the reference's rules for those: a later NaN wins, and an all -inf window
    points at its first tap inside the input).

    For every other window the scan's answer is the first strict maximum in row-major order:
    start from the first tap (padding counts as -inf, below every other value) and replace the
    running maximum only where a later tap is strictly larger. The padded input is first split
    by stride phase (`_split_phases`): a tap's values for all windows are then one contiguous
    run of numbers, so each step of the scan is three long NumPy loops instead of one short
    loop per row of windows (ResNet-18's 3x3/stride-2 pooling, 16x64x32x32: 14 -> 3 ms).
    ``taps`` holds the winning ``kh * KW + kw`` as one byte per window (``np.uint8``)."""
    N, C, H, W = x.shape
    (top, bottom), (left, right) = g.pads
    H_out, W_out = g.out
    xp = np.full((N * C, top + H + bottom, left + W + right), -np.inf, x.dtype)
    xp[:, top:top + H, left:left + W] = x.reshape(N * C, H, W)
    ph = _split_phases(xp, g, -np.inf)
    runs = _tap_runs(g, ph.grid[1])
    _, rh, rw, offset = next(runs)
    out = ph.flat[rh, rw, offset:offset + ph.size].copy()      # tap 0
    taps = np.zeros(ph.size, np.uint8)
    better = np.empty(ph.size, bool)
    new = np.empty(ph.size, np.uint8)
    for tap, rh, rw, offset in runs:
        v = ph.flat[rh, rw, offset:offset + ph.size]
        np.greater(v, out, out=better)
        # where better, the tap becomes this one: a later tap is a larger number
        np.maximum(taps, np.multiply(better, np.uint8(tap), out=new), out=taps)
        np.maximum(out, v, out=out)                     # NaN spreads: caught below
    out = out.reshape(N, C, *ph.grid)[:, :, :H_out, :W_out]
    if np.isnan(out).any() or np.isneginf(out).any():
        return None
    taps = taps.reshape(N, C, *ph.grid)[:, :, :H_out, :W_out]
    return np.ascontiguousarray(out), np.ascontiguousarray(taps)


def max_pool2d_scan_backward(dout: np.ndarray, x_shape: tuple, g: Window,
                             taps: np.ndarray) -> np.ndarray:
    """The reference's gradient: for each tap in row-major order, the windows that tap won add
    their upstream gradient onto the pixel it read. Here each tap's pixels are one shifted run
    of a stride phase (`_split_phases`), so each tap is three long NumPy loops; every pixel
    still receives its windows' gradients in tap order, as in the reference (bit for bit)."""
    N, C, H, W = x_shape
    (top, bottom), (left, right) = g.pads
    Hp, Wp = top + H + bottom, left + W + right
    H_out, W_out = g.out
    (s_h, s_w) = g.stride
    Hq, Wq, tail = _phase_geometry(g, Hp, Wp)
    size = N * C * Hq * Wq
    d = np.zeros((N * C, Hq, Wq), dout.dtype)          # dout on the phase grid
    d[:, :H_out, :W_out] = dout.reshape(N * C, H_out, W_out)
    won = np.zeros((N * C, Hq, Wq), np.uint8)
    won[:, :H_out, :W_out] = taps.reshape(N * C, H_out, W_out)
    d, won = d.reshape(-1), won.reshape(-1)
    grads = np.zeros((s_h, s_w, size + tail), dout.dtype)
    part = np.empty(size, dout.dtype)
    finite = np.isfinite(d).all()           # then d * False is an exact (signed) zero
    for tap, rh, rw, offset in _tap_runs(g, Wq):
        if finite:
            np.multiply(d, won == tap, out=part)
        else:
            part = np.where(won == tap, d, np.zeros((), dout.dtype))
        grads[rh, rw, offset:offset + size] += part
    dxp = np.empty((N * C, Hp, Wp), dout.dtype)
    for rh in range(s_h):
        for rw in range(s_w):
            part = dxp[:, rh::s_h, rw::s_w]
            part[...] = grads[rh, rw, :size].reshape(N * C, Hq, Wq)[:, :part.shape[1],
                                                                   :part.shape[2]]
    return np.ascontiguousarray(dxp[:, top:top + H, left:left + W]).reshape(N, C, H, W)


# ----------------------------------------------------------------------------------------------
# conv2d's products on small planes: one product for the whole batch, batch innermost
# ----------------------------------------------------------------------------------------------

def conv2d_matmul_applies(positions: int, groups: int) -> bool:
    """One group and at most 16 output positions per example (4x4) (fast paths on).

    Measured on ResNet-18's shapes (one core, float32, batch 16, forward): 512 -> 512 channels
    on 2x2 planes 4.5 -> 3.4 ms, 256 on 4x4 4.1 -> 3.2 ms; the weight gradient 23 -> 3.3 ms
    on 2x2 planes (2 cores). On 8x8 planes the two ways are level within the noise of this
    machine (forward 4.1 -> 3.6 ms, weight gradient 3.8 -> 3.5 ms, whole ResNet-18 step alike),
    and on 16x16 planes the product per example is ahead (4.4 against 4.8 ms), as it is for
    LeNet-5's 10x10 (the weight gradient: 0.5 against 0.8 ms)."""
    return _enabled and groups == 1 and 0 < positions <= _FEW_POSITIONS


def unfold_batch_last(x: np.ndarray, g: Window) -> np.ndarray:
    """im2col with the batch innermost: ``(C*KH*KW, H_out*W_out*N)``.

    The same numbers as ``unfold(x, g)``, in the order ``(c, kh, kw)`` by ``(i, j, n)``. The
    input is first copied once into a padded ``(C, Hp, Wp, N)`` array (the padding and the
    transposition in one copy); a window's row of ``W_out`` positions is then ``W_out * N``
    numbers in a row (with stride 1), so the copy out of the windows runs in long stretches
    instead of stretches of ``W_out`` numbers (2 in ResNet-18's last stage: 1.1 -> 0.1 ms).
    ``as_examples`` shows the result as unfold's ``(N, K, L)`` without a copy."""
    N, C, H, W = x.shape
    (KH, KW), (H_out, W_out) = g.kernel, g.out
    (top, bottom), (left, right) = g.pads
    xp = np.zeros((C, top + H + bottom, left + W + right, N), x.dtype)
    xp[:, top:top + H, left:left + W] = x.transpose(1, 2, 3, 0)
    windows = window_view(xp.transpose(3, 0, 1, 2), g)           # (N, C, KH, KW, H_out, W_out)
    return windows.transpose(1, 2, 3, 4, 5, 0).reshape(C * KH * KW, H_out * W_out * N)  # copy


def as_examples(batch_last: np.ndarray, N: int, L: int) -> np.ndarray:
    """``(K, L*N)`` columns seen as ``(N, K, L)``, unfold's shape: a view, no copy."""
    return batch_last.reshape(len(batch_last), L, N).transpose(2, 0, 1)


def _batch_last(a: np.ndarray) -> np.ndarray:
    """``(N, K, L)`` as ``(K, L*N)``: a view for columns from `unfold_batch_last`, else a copy."""
    N, K, L = a.shape
    return a.transpose(1, 2, 0).reshape(K, L * N)


def conv2d_small_planes(x: np.ndarray, w_mat: np.ndarray, g: Window) -> tuple:
    """conv2d's forward product where the planes are small: ``(cols, out)``, the columns
    unfolded batch last (seen as ``(N, K, L)``) and ``w_mat`` times them, ``(N, M, L)``."""
    N, L = len(x), g.out[0] * g.out[1]
    cols = as_examples(unfold_batch_last(x, g), N, L)
    return cols, conv2d_matmul(w_mat, cols)


def conv2d_matmul(w_mat: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``w_mat @ cols[n]`` for every example n, as one product: ``(N, M, L)``.

    ``np.matmul(w_mat, cols)`` runs one product per example, each reading all of `w_mat`
    (9.4 MB in ResNet-18's last stage) to multiply it by L columns. With the batch's columns
    in one matrix, ``(K, L*N)``, it is read once. Each output is the same dot product over K
    as the product per example computes (to rounding: BLAS may block the two differently).

    Shape: w_mat (M, K), cols (N, K, L) -> (N, M, L)."""
    N, K, L = cols.shape
    out = w_mat @ _batch_last(cols)                               # (M, L*N)
    return np.ascontiguousarray(out.reshape(len(w_mat), L, N).transpose(2, 0, 1))


def conv2d_input_grad_small_planes(w_mat: np.ndarray, dout: np.ndarray, x_shape: tuple,
                                   g: Window) -> np.ndarray:
    """``dx = col2im(w^T dout)`` on small planes, with the batch innermost.

    One product ``w^T dout`` for the whole batch (``w^T`` a transposed view: BLAS reads
    ``w`` as it is), then each tap's columns added onto its shifted window of a padded
    ``(C, Hp, Wp, N)`` image: a window's row is then ``W_out * N`` numbers in a row (with
    stride 1) instead of ``W_out``. Each tap adds in the reference's order; the product per
    position is the reference's dot product over the output channels (to rounding).

    Shape: w_mat (C_out, C_in*KH*KW), dout (N, C_out, H_out, W_out) -> (N, C_in, H, W)."""
    N, C, H, W = x_shape
    (KH, KW), (H_out, W_out) = g.kernel, g.out
    (top, bottom), (left, right) = g.pads
    L = H_out * W_out
    dcols = w_mat.T @ _batch_last(dout.reshape(N, len(w_mat), L))   # (C*KH*KW, L*N)
    taps = dcols.reshape(C, KH, KW, H_out, W_out, N)
    xp = np.zeros((C, top + H + bottom, left + W + right, N), dout.dtype)
    for kh, kw, rows, columns in tap_slices(g):      # each tap adds back what it read
        xp[:, rows, columns] += taps[:, kh, kw]
    return np.ascontiguousarray(xp[:, top:top + H, left:left + W].transpose(3, 0, 1, 2))


def conv2d_weight_grad(dout_mat: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``sum_n dout_mat[n] @ cols[n]^T`` as one product over all examples and positions
    (rather than one K x M product per example, summed afterwards).

    Shape: dout_mat (N, M, L), cols (N, K, L) -> (M, K)."""
    return _batch_last(dout_mat) @ _batch_last(cols).T


# ----------------------------------------------------------------------------------------------
# conv2d's input gradient, in blocks of examples
# ----------------------------------------------------------------------------------------------

def _examples_per_block(bytes_per_example: int) -> int:
    return max(1, _CACHE_BYTES // max(bytes_per_example, 1))


def conv2d_input_grad_applies(cols: np.ndarray) -> bool:
    """Whether the batch's column gradients, shaped like the cached columns `cols`, are more
    than one cache-sized block (and the fast paths enabled)."""
    N = len(cols)
    return _enabled and N > 1 and N > _examples_per_block(cols.nbytes // N)


def conv2d_input_grad(w_mat: np.ndarray, dout_mat: np.ndarray, x_shape: tuple,
                      g: Window) -> np.ndarray:
    """``dx = col2im(w^T dout)`` in blocks of examples whose column gradients fit in the CPU
    cache (4 MB), so that `fold` reads them from there rather than from memory.

    Shape: w_mat (G, C_out/G, C_in/G*KH*KW), dout_mat (N, G, C_out/G, H_out*W_out)
    -> dx (N, C_in, H, W)."""
    N = x_shape[0]
    G, _, rows = w_mat.shape
    block = _examples_per_block(G * rows * dout_mat.shape[-1] * dout_mat.itemsize)
    dx = np.empty(x_shape, dtype=dout_mat.dtype)                 # (N, C_in, H, W)
    for n in range(0, N, block):
        dcols = np.matmul(w_mat.swapaxes(-1, -2), dout_mat[n:n + block])
        part = dx[n:n + block]                                   # (B, C_in, H, W), a view
        part[...] = fold(dcols.reshape(len(part), G * rows, -1), part.shape, g)
    return dx


# ----------------------------------------------------------------------------------------------
# conv2d's input gradient with stride 1: a forward convolution, no col2im
# ----------------------------------------------------------------------------------------------

def conv2d_input_grad_by_conv_applies(w_shape: tuple, g: Window, groups: int) -> bool:
    """Stride 1, one group, no more output channels than input channels (so the columns of
    `dout` are no larger than the forward's), and padding that is at most the kernel's span
    minus one on every side (the fast paths enabled)."""
    if not (_enabled and groups == 1 and tuple(g.stride) == (1, 1) and w_shape[0] <= w_shape[1]):
        return False
    reach = [d * (k - 1) for k, d in zip(g.kernel, g.dilation)]
    return all(p <= r for pads, r in zip(g.pads, reach) for p in pads)


def conv2d_input_grad_by_conv(w: np.ndarray, dout: np.ndarray, x_shape: tuple,
                              g: Window) -> np.ndarray:
    """conv2d's input gradient for stride 1, as a forward convolution of `dout` with the
    kernel turned 180 degrees and its two channel axes swapped.

    With stride 1, ``dx[n, c, i, j] = sum_{o, kh, kw} dout[n, o, i + pt - kh*dh,
    j + pl - kw*dw] * w[o, c, kh, kw]`` (``dout`` read as 0 outside its range). Padding `dout`
    by ``dh*(KH-1) - pt`` rows on top (``- pb`` at the bottom, likewise for columns) and
    flipping the kernel makes that a plain cross-correlation, which `unfold` and one matrix
    product compute: the columns are read once by the product, and no column is added back
    into an image (`fold`). Blocks of examples keep each block's columns in the CPU cache
    between `unfold` writing them and the product reading them.

    The same products as the reference, summed in another order: equal to it to rounding.
    Shape: w (C_out, C_in, KH, KW) as applied, dout (N, C_out, H_out, W_out) -> (N, C_in, H, W).
    """
    N, C_in, H, W = x_shape
    C_out, _, KH, KW = w.shape
    (pt, pb), (pl, pr) = g.pads
    dh, dw = g.dilation
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_in, C_out, KH, KW)
    w_mat = flipped.reshape(C_in, C_out * KH * KW)
    pads = ((dh * (KH - 1) - pt, dh * (KH - 1) - pb), (dw * (KW - 1) - pl, dw * (KW - 1) - pr))
    gd = Window((KH, KW), (1, 1), (dh, dw), pads, (H, W))
    block = _examples_per_block(C_out * KH * KW * H * W * dout.itemsize)
    dx = np.empty((N, C_in, H * W), dtype=dout.dtype)
    for n in range(0, N, block):
        cols = unfold(dout[n:n + block], gd)                     # (B, C_out*KH*KW, H*W)
        np.matmul(w_mat, cols, out=dx[n:n + block])
    return dx.reshape(N, C_in, H, W)


# ----------------------------------------------------------------------------------------------
# conv2d's input gradient with stride 1 and more output than input channels: col2im on rows
# as wide as the padded input
# ----------------------------------------------------------------------------------------------

def conv2d_input_grad_wide_applies(w_shape: tuple, g: Window, groups: int) -> bool:
    """Stride 1 and one group (the fast paths enabled), where the padded width is at most
    twice the output's (the wide rows add at most that much work)."""
    if not (_enabled and groups == 1 and tuple(g.stride) == (1, 1)):
        return False
    Wp = g.out[1] + g.dilation[1] * (g.kernel[1] - 1)
    return Wp <= 2 * g.out[1]


def conv2d_input_grad_wide(w_mat: np.ndarray, dout: np.ndarray, x_shape: tuple,
                           g: Window) -> np.ndarray:
    """``dx = col2im(w^T dout)`` with every row as wide as the padded input and the batch
    innermost.

    `col2im` adds each kernel tap's columns onto a shifted window of the padded image, row by
    row: with rows ``W_out`` numbers long (10 in LeNet's second layer) NumPy spends its time
    starting short loops. Two changes make each tap one long add per channel:

    - `dout` gets the padded width ``Wp`` (zeros in the extra columns), so that the columns of
      tap (kh, kw) land on the flat padded image at offset ``kh*dh*Wp + kw*dw`` as one run of
      ``H_out*Wp`` positions; the zeros add nothing;
    - the batch goes last, ``(C, Hp, Wp, N)``: a run of positions is then one contiguous run of
      ``H_out*Wp*N`` numbers, and one product ``w^T dout`` serves the whole batch.

    The same products and sums as the reference, in the same order.
    Shape: w_mat (C_out, C_in*KH*KW), dout (N, C_out, H_out, W_out) -> (N, C_in, H, W).
    """
    N, C, H, W = x_shape
    C_out = w_mat.shape[0]
    (KH, KW), (dh, dw), ((pt, pb), (pl, pr)) = g.kernel, g.dilation, g.pads
    (H_out, W_out), Hp, Wp = g.out, H + pt + pb, W + pl + pr
    wide = np.zeros((C_out, H_out, Wp, N), dout.dtype)           # batch last
    wide[:, :, :W_out] = dout.transpose(1, 2, 3, 0)
    run = H_out * Wp * N                             # one tap's columns on the flat image
    dcols = (w_mat.T @ wide.reshape(C_out, run)).reshape(C, KH, KW, run)
    flat = np.zeros((C, (Hp + 1) * Wp * N), dout.dtype)   # a spare row for the last taps
    for kh in range(KH):
        for kw in range(KW):
            offset = (kh * dh * Wp + kw * dw) * N
            flat[:, offset:offset + run] += dcols[:, kh, kw]
    padded = flat[:, :Hp * Wp * N].reshape(C, Hp, Wp, N)
    return np.ascontiguousarray(padded[:, pt:pt + H, pl:pl + W].transpose(3, 0, 1, 2))
