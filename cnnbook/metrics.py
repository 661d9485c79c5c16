"""Evaluation metrics. Segmentation: the confusion matrix, per-class IoU, mean IoU and pixel
accuracy (here). Detection: COCO's average precision (``cnnbook.detection_metrics``, re-exported).

Every function takes ``pred`` and ``target``: integer class maps of the same shape (any shape:
``(N, H, W)`` for a batch of masks, or flat), ``pred`` from ``logits.argmax(axis=1)``.
``num_classes`` is C; every value of ``pred`` must lie in ``[0, C)``, every value of
``target`` too unless it equals ``ignore_index``, whose positions are left out of every count
(a "don't care" label, such as 255 on the borders of PASCAL VOC's objects).

- ``confusion_matrix``: ``cm[i, j]`` counts the positions of true class i predicted as j (rows
  = target, as scikit-learn and torchmetrics).
- ``iou``: per class, ``|pred = c and target = c| / |pred = c or target = c|``
  ``= cm[c, c] / (row c + column c - cm[c, c])`` (the Jaccard index), NaN for a class absent
  from both (nothing to score) and for ``ignore_index`` itself when it is a class index.
- ``mean_iou``: the mean of ``iou`` over the classes that are not NaN; as torchmetrics'
  ``MulticlassJaccardIndex(average="macro")``, which also leaves out the absent classes and
  ``ignore_index``. Where the two differ: torchmetrics' per-class ``average="none"`` gives 0.0
  (its ``zero_division``) where ``iou`` gives NaN, for absent classes and for the ignored
  class; the counts, the other classes' IoU and the mean agree.
- ``pixel_accuracy``: the fraction of counted positions predicted right, ``trace(cm) / sum(cm)``.

References:
- J. Long, E. Shelhamer and T. Darrell, "Fully Convolutional Networks for Semantic
  Segmentation", CVPR 2015, section 5 (pixel accuracy, mean IU).
- M. Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010 (the
  segmentation accuracy = IoU, the "void" label).
- torchmetrics ``MulticlassJaccardIndex``, ``MulticlassConfusionMatrix``.
"""
from __future__ import annotations

import numpy as np

from ._checks import _numpy_array, check_positive_int

__all__ = ["confusion_matrix", "iou", "mean_iou", "pixel_accuracy",
           "average_precision", "mean_average_precision", "precision_recall_curve"]


def _class_map(fn: str, name: str, v) -> np.ndarray:
    a = _numpy_array(fn, name, v, "an integer array of class indices")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        fix = ("pass class indices: logits.argmax(axis=1)" if name == "pred"
               else "pass integer class indices, e.g. mask.astype(np.int64)")
        raise TypeError(f"{fn}: {name} must hold integer class indices, got dtype {a.dtype}; "
                        f"{fix}.")
    return a


def _check(fn: str, pred, target, num_classes, ignore_index):
    """pred and target as flat int64 arrays with the ignored positions removed, and C."""
    C = check_positive_int(fn, "num_classes", num_classes, "e.g. num_classes=11")
    p, t = _class_map(fn, "pred", pred), _class_map(fn, "target", target)
    if p.shape != t.shape:
        raise ValueError(f"{fn}: pred has shape {tuple(p.shape)} but target has shape "
                         f"{tuple(t.shape)}; they must be equal, one predicted class per target "
                         f"position (from logits (N, C, H, W) take pred = logits.argmax(axis=1)).")
    if ignore_index is not None and (isinstance(ignore_index, (bool, np.bool_))
                                     or not isinstance(ignore_index, (int, np.integer))):
        raise TypeError(f"{fn}: ignore_index must be an integer or None, got "
                        f"ignore_index={ignore_index!r}; e.g. ignore_index=255.")
    p, t = p.reshape(-1).astype(np.int64, copy=False), t.reshape(-1).astype(np.int64, copy=False)
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    for name, a in (("target", t), ("pred", p)):
        bad = (a < 0) | (a >= C)
        if bad.any():
            vals = np.unique(a[bad])
            ign = "" if name == "pred" else (" and not ignore_index" if ignore_index is None
                                              else f" and not ignore_index={ignore_index}")
            shown = ", ".join(str(int(v)) for v in vals[:5]) + (", ..." if len(vals) > 5 else "")
            raise ValueError(f"{fn}: {name} holds {int(bad.sum())} value(s) outside [0, {C - 1}]"
                             f"{ign} ({shown}) for num_classes={C}; pass num_classes="
                             f"{max(C, int(vals.max()) + 1)}, or mark those positions with "
                             f"ignore_index.")
    return p, t, C


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    """``(C, C)`` int64 counts: ``cm[i, j]`` = positions of true class i predicted as j; the
    positions where ``target == ignore_index`` are not counted.

    >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    p, t, C = _check("confusion_matrix", pred, target, num_classes, ignore_index)
    return np.bincount(t * C + p, minlength=C * C).reshape(C, C)   # one bin per (true, pred)


def _iou_from_cm(cm: np.ndarray, ignore_index) -> np.ndarray:
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter         # |pred = c| + |target = c| - |both|
    out = np.full(len(cm), np.nan)
    np.divide(inter, union, out=out, where=union > 0)
    if ignore_index is not None and 0 <= ignore_index < len(cm):
        out[ignore_index] = np.nan                           # never a target: not scored
    return out


def iou(pred, target, num_classes, ignore_index=None):
    """Per-class IoU, float64 ``(C,)``: ``cm[c, c] / (row c + column c - cm[c, c])``; NaN for a
    class absent from both pred and target and for ``ignore_index`` (if it is a class index).

    >>> iou(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4).tolist()
    [1.0, 0.5, 0.5, nan]
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index)
    return _iou_from_cm(cm, ignore_index)


def mean_iou(pred, target, num_classes, ignore_index=None):
    """The mean of :func:`iou` over the classes present in pred or target (NaN if none is),
    as a Python float; torchmetrics' ``MulticlassJaccardIndex(average="macro")``.

    >>> mean_iou(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4)
    0.6666666666666666
    """
    v = iou(pred, target, num_classes, ignore_index)
    return float(np.mean(v[~np.isnan(v)])) if (~np.isnan(v)).any() else float("nan")


def pixel_accuracy(pred, target, num_classes, ignore_index=None):
    """The fraction of counted positions where pred equals target (NaN if none is counted).

    >>> pixel_accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    0.75
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


# Detection: COCO-style average precision (cnnbook/detection_metrics.py).
from .detection_metrics import (average_precision, mean_average_precision,  # noqa: E402
                                precision_recall_curve)
