"""Boxes for object detection: IoU, format conversion, non-maximum suppression, anchors and the
Faster R-CNN box parameterisation, with the meanings of ``torchvision.ops``.

A box is ``(x1, y1, x2, y2)`` in pixels with ``x1 <= x2`` and ``y1 <= y2`` ("xyxy"); a set of
boxes is a float array ``(N, 4)``. Every function checks its boxes at the edge (finite
coordinates, ``x2 >= x1``, ``y2 >= y1``) and takes empty inputs (``(0, 4)``) to empty outputs.

References: Ren et al., *Faster R-CNN*, NeurIPS 2015 (anchors, the box parameterisation);
torchvision.ops (``box_iou``, ``box_convert``, ``nms``, ``batched_nms``, ``AnchorGenerator``,
``BoxCoder``). Taught in the chapter *Object detection* (book/detection.ipynb).
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_choice, check_real

__all__ = ["box_area", "box_iou", "box_convert", "nms", "nms_naive", "batched_nms", "anchors",
           "encode", "decode", "BBOX_XFORM_CLIP"]

# torchvision's BoxCoder clamps dw, dh at log(1000 / 16) before exp: no box grows more than
# 62.5 times its anchor, and exp never overflows.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)

_FORMATS = ("xyxy", "xywh", "cxcywh")


def _boxes(fn: str, name: str, boxes, fmt: str = "xyxy") -> np.ndarray:
    """`boxes` as a float array (N, 4), checked: finite, and x2 >= x1, y2 >= y1 for "xyxy"
    (w, h >= 0 for the other formats)."""
    b = as_float_array(fn, name, boxes)
    if b.ndim == 1 and b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{fn}: {name} must have shape (N, 4), got {tuple(b.shape)}; one row "
                         f"(x1, y1, x2, y2) per box, e.g. np.array([[0, 0, 10, 10]]).")
    bad = ~np.isfinite(b).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{fn}: {name}[{i}] = {b[i].tolist()} holds NaN or infinity "
                         f"({int(bad.sum())} such box(es)); drop them or fix the coordinates.")
    if fmt == "xyxy":
        neg = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
        what = "x2 < x1 or y2 < y1"
        fix = "boxes are (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2; swap the corners"
    else:
        neg = (b[:, 2] < 0) | (b[:, 3] < 0)
        what = "a negative width or height"
        fix = f"boxes in {fmt!r} have w >= 0 and h >= 0"
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise ValueError(f"{fn}: {name}[{i}] = {b[i].tolist()} has {what} ({int(neg.sum())} "
                         f"such box(es)); {fix}.")
    return b


def _scores(fn: str, scores, n: int, name: str = "scores") -> np.ndarray:
    s = as_float_array(fn, name, scores)
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(f"{fn}: {name} must have shape ({n},), one per box, got "
                         f"{tuple(s.shape)}.")
    if not np.isfinite(s).all():
        i = int(np.flatnonzero(~np.isfinite(s))[0])
        raise ValueError(f"{fn}: {name}[{i}] = {s[i]} is not finite; scores must be real "
                         f"numbers.")
    return s


def _threshold(fn: str, iou_threshold) -> float:
    t = check_real(fn, "iou_threshold", iou_threshold, "use e.g. iou_threshold=0.5")
    if t < 0:
        raise ValueError(f"{fn}: iou_threshold must be >= 0, got iou_threshold={t}; an IoU "
                         f"lies in [0, 1], use e.g. iou_threshold=0.5.")
    return t


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1) * (y2 - y1)`` of boxes ``(N, 4)`` -> ``(N,)``."""
    b = _boxes("box_area", "boxes", boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of checked boxes (N, 4) and (M, 4) -> (N, M); 0 where the union is empty."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])                  # (N,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])                  # (M,)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])                     # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]                                     # (N, M)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box of `a` ``(N, 4)`` with every box of `b` ``(M, 4)``
    -> ``(N, M)``, boxes ``(x1, y1, x2, y2)`` (torchvision.ops.box_iou's meaning).

    Two boxes whose union has zero area (two degenerate boxes on one line or point) have IoU 0
    here; torchvision divides 0 by 0 and gives NaN there.

    >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]]).round(4).tolist()
    [[0.1429, 1.0]]
    """
    a = _boxes("box_iou", "a", a)
    b = _boxes("box_iou", "b", b)
    return _iou(a, b)


def box_convert(boxes, in_fmt: str, out_fmt: str) -> np.ndarray:
    """Boxes ``(N, 4)`` from `in_fmt` to `out_fmt`, each ``"xyxy"`` (corners), ``"xywh"``
    (top-left corner, width, height) or ``"cxcywh"`` (centre, width, height).

    >>> box_convert([[10, 20, 30, 60]], "xyxy", "cxcywh").tolist()
    [[20.0, 40.0, 20.0, 40.0]]
    """
    fn = "box_convert"
    check_choice(fn, "in_fmt", in_fmt, _FORMATS)
    check_choice(fn, "out_fmt", out_fmt, _FORMATS)
    b = _boxes(fn, "boxes", boxes, in_fmt)
    if in_fmt == "xywh":
        b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    elif in_fmt == "cxcywh":
        b = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
    if out_fmt == "xywh":
        return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    if out_fmt == "cxcywh":
        return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)
    return b.copy()


def nms_naive(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression as a plain loop over boxes in decreasing score: keep the best
    box, drop every later box whose IoU with it is greater than `iou_threshold`, repeat.

    The reference :func:`nms` is tested against."""
    fn = "nms_naive"
    b = _boxes(fn, "boxes", boxes)
    s = _scores(fn, scores, b.shape[0])
    t = _threshold(fn, iou_threshold)
    order = np.argsort(-s, kind="stable")
    removed = np.zeros(len(s), bool)
    keep = []
    for i in order:
        if removed[i]:
            continue
        keep.append(int(i))
        for j in order:
            if not removed[j] and j != i and _iou(b[i:i + 1], b[j:j + 1])[0, 0] > t:
                removed[j] = True
    return np.array(keep, dtype=np.int64)


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression (torchvision.ops.nms's meaning): the indices of the boxes kept,
    in decreasing score. Boxes are visited in decreasing score; a box is dropped when its IoU
    with an already kept box is **greater than** `iou_threshold` (so ``iou_threshold=1`` keeps
    every box, identical ones included: no IoU is greater than 1).

    Equal scores are visited in index order (a stable sort, as torchvision's CPU kernel does),
    so of two identical boxes with equal scores the lower index is kept. A box with zero area
    overlaps nothing (IoU 0), so it is never suppressed and suppresses nothing.

    >>> nms([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5).tolist()
    [0, 2]
    """
    fn = "nms"
    b = _boxes(fn, "boxes", boxes)
    s = _scores(fn, scores, b.shape[0])
    t = _threshold(fn, iou_threshold)
    order = np.argsort(-s, kind="stable")
    iou = _iou(b[order], b[order])                              # (N, N) in visiting order
    suppressed = np.zeros(len(order), bool)
    keep = []
    for k in range(len(order)):
        if suppressed[k]:
            continue
        keep.append(order[k])
        suppressed[k + 1:] |= iou[k, k + 1:] > t
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> np.ndarray:
    """:func:`nms` within each category of `idxs` ``(N,)`` (integers, e.g. class labels):
    boxes of different categories never suppress each other. The kept indices are returned in
    decreasing score (equal scores in index order), as torchvision.ops.batched_nms does.

    >>> batched_nms([[0, 0, 10, 10], [1, 1, 10, 10]], [0.9, 0.8], [1, 2], 0.5).tolist()
    [0, 1]
    """
    fn = "batched_nms"
    b = _boxes(fn, "boxes", boxes)
    s = _scores(fn, scores, b.shape[0])
    t = _threshold(fn, iou_threshold)
    c = np.asarray(idxs)
    if c.ndim != 1 or c.shape[0] != b.shape[0] or (c.size and c.dtype.kind not in "iub"):
        raise ValueError(f"{fn}: idxs must be integers of shape ({b.shape[0]},), one category "
                         f"per box, got dtype {c.dtype} and shape {tuple(c.shape)}.")
    keep = [np.flatnonzero(c == k)[nms(b[c == k], s[c == k], t)] for k in np.unique(c)]
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    keep = np.sort(keep)
    return keep[np.argsort(-s[keep], kind="stable")].astype(np.int64)


def anchors(feature_size, stride, sizes, aspect_ratios, offset: float = 0.0) -> np.ndarray:
    """The anchor boxes of one feature map, torchvision's ``AnchorGenerator`` for one level.

    `feature_size` ``(H, W)`` (or an int), `stride` the pixels between neighbouring cells (an
    int or ``(stride_h, stride_w)``), `sizes` the anchors' square roots of area, `aspect_ratios`
    their ``h / w``. Each cell gets ``len(aspect_ratios) * len(sizes)`` anchors (ratio outer,
    size inner), of width ``size / sqrt(r)`` and height ``size * sqrt(r)``, centred on the
    cell's corner ``(x * stride_w, y * stride_h)`` plus ``offset * stride`` (torchvision:
    ``offset=0``; ``offset=0.5`` centres them on the cell as SSD does); the half-sizes are rounded
    to whole pixels as torchvision rounds them. Returns ``(H * W * A, 4)``, cells in row-major
    order and the ``A`` anchors of a cell together, the layout of a head's output
    ``(N, A * K, H, W)`` viewed as ``(N, H, W, A, K)``.

    >>> anchors((1, 2), 8, sizes=[8], aspect_ratios=[1.0]).tolist()
    [[-4.0, -4.0, 4.0, 4.0], [4.0, -4.0, 12.0, 4.0]]
    """
    fn = "anchors"
    from ._checks import pair
    fh, fw = pair(fn, "feature_size", feature_size)
    sh, sw = pair(fn, "stride", stride)
    sizes = as_float_array(fn, "sizes", sizes).reshape(-1)
    ratios = as_float_array(fn, "aspect_ratios", aspect_ratios).reshape(-1)
    for name, v in (("sizes", sizes), ("aspect_ratios", ratios)):
        if v.size == 0 or not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f"{fn}: {name} must be one or more positive numbers, got "
                             f"{v.tolist()}; e.g. sizes=(16, 32), aspect_ratios=(0.5, 1.0, 2.0).")
    offset = check_real(fn, "offset", offset, "use offset=0 (torchvision) or 0.5 (cell centres)")
    h_ratios = np.sqrt(ratios)
    ws = (sizes[None, :] / h_ratios[:, None]).reshape(-1)          # (A,) ratio outer, size inner
    hs = (sizes[None, :] * h_ratios[:, None]).reshape(-1)
    base = np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)      # (A, 4) round half to even
    cx = (np.arange(fw) + offset) * sw
    cy = (np.arange(fh) + offset) * sh
    yy, xx = np.meshgrid(cy, cx, indexing="ij")                    # (H, W)
    shifts = np.stack([xx, yy, xx, yy], axis=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def _weights(fn: str, weights) -> tuple:
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        raise TypeError(f"{fn}: weights must be 4 numbers (wx, wy, ww, wh), got {weights!r}; "
                        f"e.g. weights=(1, 1, 1, 1).")
    return tuple(check_real(fn, f"weights[{i}]", w, "e.g. weights=(1, 1, 1, 1)", positive=True)
                 for i, w in enumerate(weights))


def _centres_sizes(b: np.ndarray) -> tuple:
    """``(cx, cy, w, h)`` of corner boxes ``(N, 4)``, as torchvision's box coder computes them."""
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h, w, h


def encode(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """The regression targets of `boxes` ``(N, 4)`` against `anchors` ``(N, 4)`` (one anchor per
    box), Faster R-CNN's parameterisation as torchvision's ``BoxCoder.encode_single``:
    ``dx = wx (cx - cx_a) / w_a``, ``dy = wy (cy - cy_a) / h_a``, ``dw = ww log(w / w_a)``,
    ``dh = wh log(h / h_a)`` -> ``(N, 4)``. Anchors must have positive width and height; so must
    the boxes (the log of a zero width is -inf).

    >>> encode([[0, 0, 20, 10]], [[0, 0, 10, 10]]).round(4).tolist()
    [[0.5, 0.0, 0.6931, 0.0]]
    """
    fn = "encode"
    b = _boxes(fn, "boxes", boxes)
    a = _boxes(fn, "anchors", anchors)
    wx, wy, ww, wh = _weights(fn, weights)
    if a.shape != b.shape:
        raise ValueError(f"{fn}: boxes {tuple(b.shape)} and anchors {tuple(a.shape)} must have "
                         f"the same shape, one anchor per box.")
    for name, v in (("anchors", a), ("boxes", b)):
        flat = (v[:, 2] <= v[:, 0]) | (v[:, 3] <= v[:, 1])
        if flat.any():
            i = int(np.flatnonzero(flat)[0])
            raise ValueError(f"{fn}: {name}[{i}] = {v[i].tolist()} has zero width or height; "
                             f"the log-space size needs w > 0 and h > 0.")
    acx, acy, aw, ah = _centres_sizes(a)
    bcx, bcy, bw, bh = _centres_sizes(b)
    return np.stack([wx * (bcx - acx) / aw, wy * (bcy - acy) / ah,
                     ww * np.log(bw / aw), wh * np.log(bh / ah)], axis=1)


def decode(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """The boxes ``(N, 4)`` that `deltas` ``(N, 4)`` encode against `anchors` ``(N, 4)``, the
    inverse of :func:`encode` (torchvision's ``BoxCoder.decode_single``): ``dw`` and ``dh`` are
    clamped at ``BBOX_XFORM_CLIP = log(1000 / 16)`` before ``exp``.

    >>> decode([[0.5, 0.0, np.log(2), 0.0]], [[0, 0, 10, 10]]).round(6).tolist()
    [[0.0, 0.0, 20.0, 10.0]]
    """
    fn = "decode"
    d = as_float_array(fn, "deltas", deltas)
    a = _boxes(fn, "anchors", anchors)
    wx, wy, ww, wh = _weights(fn, weights)
    if d.shape != a.shape:
        raise ValueError(f"{fn}: deltas {tuple(d.shape)} and anchors {tuple(a.shape)} must have "
                         f"the same shape (N, 4), one anchor per row.")
    if not np.isfinite(d).all():
        raise ValueError(f"{fn}: deltas hold NaN or infinity; check the network's output.")
    acx, acy, aw, ah = _centres_sizes(a)
    dx, dy = d[:, 0] / wx, d[:, 1] / wy
    dw = np.minimum(d[:, 2] / ww, BBOX_XFORM_CLIP)
    dh = np.minimum(d[:, 3] / wh, BBOX_XFORM_CLIP)
    cx, cy = dx * aw + acx, dy * ah + acy
    w, h = np.exp(dw) * aw, np.exp(dh) * ah
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
