"""A one-stage, anchor-based detector in NumPy (RetinaNet's recipe on one feature map).

- :func:`sigmoid_focal_loss` (``*_forward`` / ``*_backward``): torchvision.ops'
  ``sigmoid_focal_loss`` (Lin et al. 2017), the classification loss that down-weights the many
  easy background anchors.
- :func:`match_anchors`: each anchor's object by IoU, positive (IoU >= ``fg_iou``), negative
  (IoU < ``bg_iou``) or ignored in between, each object's best anchor positive too
  (torchvision's ``Matcher`` with ``allow_low_quality_matches=True``).
- :func:`make_targets`: per-anchor targets ``(N, A_total, 5)`` = class (``-1`` ignored, ``0``
  background, ``1..C``) and the encoded box (:func:`cnnbook.boxes.encode`).
- :func:`detection_loss`: focal loss over the non-ignored anchors plus an L1 loss on the boxes
  of the positives, both divided by the number of positives; ``(loss, dout)`` for
  ``cnnbook.training.fit(loss=...)``.
- :func:`detector`: a small backbone from ``cnnbook.nn`` and a 1 x 1 head with ``A * (C + 4)``
  channels; :func:`postprocess` decodes, thresholds and applies ``batched_nms``.

References: Lin et al., *Focal loss for dense object detection* (RetinaNet), ICCV 2017; Liu et
al., *SSD*, ECCV 2016; Ren et al., *Faster R-CNN*, NeurIPS 2015. Taught in the chapter *Object
detection* (book/detection.ipynb).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import boxes as B
from ._checks import as_float_array, check_choice, check_real

__all__ = ["sigmoid_focal_loss", "sigmoid_focal_loss_forward", "sigmoid_focal_loss_backward",
           "match_anchors", "make_targets", "detection_loss", "detector", "split_head",
           "postprocess", "detect"]


class FocalCache(NamedTuple):
    x: np.ndarray          # logits
    t: np.ndarray          # targets in [0, 1]
    p: np.ndarray          # sigmoid(x)
    ce: np.ndarray         # binary cross-entropy with logits, elementwise
    q: np.ndarray          # 1 - p_t
    alpha: float
    gamma: float
    reduction: str


def sigmoid_focal_loss_forward(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss -> ``(loss, cache)``.

    ``p = sigmoid(x)``, ``ce = BCE_with_logits(x, t)``, ``p_t = p t + (1 - p)(1 - t)``,
    ``loss = alpha_t * ce * (1 - p_t) ** gamma`` with ``alpha_t = alpha t + (1 - alpha)(1 - t)``
    (no weighting when ``alpha < 0``); ``reduction`` ``"none"``, ``"mean"`` or ``"sum"``.
    """
    fn = "sigmoid_focal_loss"
    x = as_float_array(fn, "inputs", inputs)
    t = as_float_array(fn, "targets", targets, dtype=x.dtype)
    if t.shape != x.shape:
        raise ValueError(f"{fn}: targets {tuple(t.shape)} must have the shape of inputs "
                         f"{tuple(x.shape)}; one 0/1 target per logit.")
    alpha = check_real(fn, "alpha", alpha, "use alpha=0.25, or alpha=-1 for no weighting")
    gamma = check_real(fn, "gamma", gamma, "use gamma=2")
    if gamma < 0:
        raise ValueError(f"{fn}: gamma must be >= 0, got gamma={gamma}; use gamma=2.")
    check_choice(fn, "reduction", reduction, ("none", "mean", "sum"))
    p = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
    ce = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    q = (1 - p) * t + p * (1 - t)                       # 1 - p_t, without cancellation
    loss = ce * q ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    out = loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())
    return out, FocalCache(x, t, p, ce, q, alpha, gamma, reduction)


def sigmoid_focal_loss_backward(dout, cache: FocalCache):
    """The gradient with respect to the logits. With ``m = (1 - p_t) ** gamma``:
    ``d loss / dx = alpha_t [(p - t) m - gamma (1 - p_t) ** (gamma - 1) (2t - 1) p (1 - p) ce]``.
    """
    x, t, p, ce, q, alpha, gamma, reduction = cache
    dout = np.asarray(dout, dtype=x.dtype)
    if reduction == "mean":
        dout = np.broadcast_to(dout / x.size, x.shape)
    elif reduction == "sum":
        dout = np.broadcast_to(dout, x.shape)
    m = q ** gamma
    if gamma == 0:
        dm = np.zeros_like(x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            qg = np.where(q > 0, q ** (gamma - 1), 0.0 if gamma > 1 else np.inf)
        dm = -gamma * qg * (2 * t - 1) * p * (1 - p)
        dm = np.where(p * (1 - p) == 0, 0.0, dm)        # saturated logits: no gradient
    g = (p - t) * m + ce * dm
    if alpha >= 0:
        g = (alpha * t + (1 - alpha) * (1 - t)) * g
    return (dout * g).astype(x.dtype, copy=False)


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss's value (see :func:`sigmoid_focal_loss_forward`).

    >>> round(float(sigmoid_focal_loss(np.array([0.0]), np.array([1.0]))[0]), 6)
    0.043322
    """
    return sigmoid_focal_loss_forward(inputs, targets, alpha, gamma, reduction)[0]


def match_anchors(anchors, gt_boxes, fg_iou=0.5, bg_iou=0.4, low_quality=True):
    """For each anchor ``(A, 4)``, the index of its object among `gt_boxes` ``(G, 4)``, or ``-1``
    (background: best IoU < `bg_iou`) or ``-2`` (ignored: between `bg_iou` and `fg_iou`) ->
    ``(matches (A,), iou (A,))``. With `low_quality`, every object's best anchors (all that tie
    for its best IoU, when it is > 0) are matched to it even below `fg_iou`, as RetinaNet and
    torchvision's ``Matcher(allow_low_quality_matches=True)`` do, so no object goes without one.
    """
    fn = "match_anchors"
    a = B._boxes(fn, "anchors", anchors)
    g = B._boxes(fn, "gt_boxes", gt_boxes)
    fg_iou = check_real(fn, "fg_iou", fg_iou, "use e.g. fg_iou=0.5")
    bg_iou = check_real(fn, "bg_iou", bg_iou, "use e.g. bg_iou=0.4")
    if not 0 <= bg_iou <= fg_iou <= 1:
        raise ValueError(f"{fn}: need 0 <= bg_iou <= fg_iou <= 1, got bg_iou={bg_iou}, "
                         f"fg_iou={fg_iou}; e.g. bg_iou=0.4, fg_iou=0.5.")
    if len(g) == 0:
        return np.full(len(a), -1, np.int64), np.zeros(len(a))
    iou = B._iou(g, a)                                   # (G, A)
    best = iou.max(axis=0)
    matches = iou.argmax(axis=0).astype(np.int64)
    matches[best < fg_iou] = -2
    matches[best < bg_iou] = -1
    if low_quality:
        top = iou.max(axis=1, keepdims=True)             # (G, 1) each object's best IoU
        gi, ai = np.nonzero((iou == top) & (top > 0))
        matches[ai] = iou[:, ai].argmax(axis=0)          # as torchvision: the anchor's best
    return matches, best


def make_targets(anchors, gt_boxes, gt_labels, fg_iou=0.5, bg_iou=0.4,
                 weights=(1.0, 1.0, 1.0, 1.0)):
    """Per-anchor training targets for a list of images -> float ``(N, A, 5)``: column 0 the
    class (``-1`` ignored, ``0`` background, the object's label ``1..C`` for a positive),
    columns 1-4 the encoded box of the matched object (zeros elsewhere)."""
    a = B._boxes("make_targets", "anchors", anchors)
    out = np.zeros((len(gt_boxes), len(a), 5))
    for i, (g, lab) in enumerate(zip(gt_boxes, gt_labels)):
        m, _ = match_anchors(a, g, fg_iou, bg_iou)
        pos = m >= 0
        out[i, :, 0] = np.where(m == -2, -1, 0)
        out[i, pos, 0] = np.asarray(lab)[m[pos]]
        if pos.any():
            out[i, pos, 1:] = B.encode(np.asarray(g, float)[m[pos]], a[pos], weights)
    return out


def split_head(out, num_classes):
    """A head's output ``(N, A * (C + 4), H, W)`` as ``(cls (N, H*W*A, C), box (N, H*W*A, 4))``,
    anchors in the order of :func:`cnnbook.boxes.anchors`."""
    n, ch, h, w = out.shape
    k = num_classes + 4
    v = out.reshape(n, ch // k, k, h, w).transpose(0, 3, 4, 1, 2).reshape(n, -1, k)
    return v[..., :num_classes], v[..., num_classes:]


def _merge_head(dcls, dbox, shape):
    n, ch, h, w = shape
    k = dcls.shape[-1] + 4
    v = np.concatenate([dcls, dbox], axis=-1).reshape(n, h, w, ch // k, k)
    return np.ascontiguousarray(v.transpose(0, 3, 4, 1, 2).reshape(shape))


def detection_loss(out, targets, num_classes, alpha=0.25, gamma=2.0, box_weight=1.0):
    """The detector's loss and its gradient -> ``(loss, dout)`` with ``dout`` of `out`'s shape.

    `out` ``(N, A * (C + 4), H, W)``, `targets` ``(N, H*W*A, 5)`` from :func:`make_targets`.
    ``loss = (sum of focal losses over non-ignored anchors and all C classes
    + box_weight * sum of |pred - target| over positives' 4 box numbers) / max(1, positives)``.
    """
    out = as_float_array("detection_loss", "out", out)
    t = np.asarray(targets)
    cls, box = split_head(out, num_classes)
    label = t[..., 0]
    valid = label >= 0
    pos = label > 0
    npos = max(1.0, float(pos.sum()))
    onehot = (label[..., None] == np.arange(1, num_classes + 1)).astype(out.dtype)
    fl, cache = sigmoid_focal_loss_forward(cls, onehot, alpha, gamma)
    w = valid[..., None].astype(out.dtype)
    diff = box - t[..., 1:].astype(out.dtype)
    loss = (float((fl * w).sum()) + box_weight * float(np.abs(diff)[pos].sum())) / npos
    dcls = sigmoid_focal_loss_backward(w / npos, cache)
    dbox = box_weight * np.sign(diff) * pos[..., None] / npos
    return loss, _merge_head(dcls, dbox.astype(out.dtype), out.shape)


def detector(num_classes=10, num_anchors=9, widths=(16, 32, 64, 64), seed=0, dtype=np.float32):
    """A small one-stage detector: ``len(widths)`` 3 x 3 convolutions with batch normalization
    and ReLU, a 2 x 2 max pool after each but the last (stride ``2 ** (len(widths) - 1)``), and a
    1 x 1 head convolution with ``num_anchors * (num_classes + 4)`` outputs per cell (class
    logits, then box deltas, per anchor). The head's bias starts at ``-log((1 - 0.01) / 0.01)``
    for the class logits, RetinaNet's prior: every anchor starts as background with
    probability 0.99, so the focal loss of the first steps is not swamped by the background."""
    from . import nn
    g, dt = np.random.default_rng(seed), np.dtype(dtype)
    layers, c_in = OrderedDict(), 1
    for i, c in enumerate(widths):
        layers[f"conv{i + 1}"] = nn.Conv2d(c_in, c, 3, padding=1, bias=False, rng=g, dtype=dt)
        layers[f"bn{i + 1}"] = nn.BatchNorm2d(c, dtype=dt)
        layers[f"relu{i + 1}"] = nn.ReLU()
        if i < len(widths) - 1:
            layers[f"pool{i + 1}"] = nn.MaxPool2d(2)
        c_in = c
    k = num_classes + 4
    head = nn.Conv2d(c_in, num_anchors * k, 1, rng=g, dtype=dt)
    head.weight.data[...] = g.normal(0, 0.01, head.weight.data.shape)
    bias = np.zeros((num_anchors, k))
    bias[:, :num_classes] = -np.log((1 - 0.01) / 0.01)
    head.bias.data[...] = bias.reshape(-1)
    layers["head"] = head
    return nn.Sequential(layers)


def postprocess(out, anchors, num_classes, score_thresh=0.05, iou_threshold=0.5, topk=100,
                weights=(1.0, 1.0, 1.0, 1.0), image_size=None, nms=True):
    """Detections from a head's output ``(N, A * (C + 4), H, W)``: for each image, every
    (anchor, class) pair with ``sigmoid(logit) > score_thresh``, its anchor's box decoded (and
    clipped to ``image_size`` if given), then ``batched_nms`` by class (unless ``nms=False``)
    and the best `topk` kept. Returns a list of dicts ``boxes (k, 4)``, ``scores (k,)``,
    ``labels (k,)`` (``1..C``), as torchvision's detectors return them."""
    cls, box = split_head(np.asarray(out, dtype=np.float64), num_classes)
    a = np.asarray(anchors, dtype=np.float64)
    result = []
    for c, d in zip(cls, box):
        p = 1 / (1 + np.exp(-c))                                      # (A, C)
        ai, ci = np.nonzero(p > score_thresh)
        s = p[ai, ci]
        b = B.decode(d[ai], a[ai], weights) if len(ai) else np.zeros((0, 4))
        if image_size is not None:
            b = np.clip(b, 0, image_size)
        if nms:
            keep = B.batched_nms(b, s, ci, iou_threshold)
        else:
            keep = np.argsort(-s, kind="stable")
        keep = keep[:topk]
        result.append({"boxes": b[keep], "scores": s[keep], "labels": ci[keep] + 1})
    return result


def detect(model, x, anchors, num_classes, batch_size=500, **kwargs):
    """Run `model` in eval mode over images `x` in batches and :func:`postprocess` the output."""
    from .training import forward_only
    model.eval()
    dets = []
    with forward_only(model):
        for i in range(0, len(x), batch_size):
            dets += postprocess(model(x[i:i + batch_size]), anchors, num_classes, **kwargs)
    return dets
