"""Average precision of a detector, the COCO way (pycocotools' ``COCOeval`` for boxes).

Predictions and targets are lists with one dict per image, as torchmetrics'
``MeanAveragePrecision`` takes them: a prediction ``{"boxes": (k, 4) xyxy, "scores": (k,),
"labels": (k,)}``, a target ``{"boxes": (g, 4), "labels": (g,)}``.

For one class and one IoU threshold: in each image the class's detections, best score first (at
most ``max_detections`` of them), are matched greedily to its objects: a detection takes the
unmatched object it overlaps most, if that IoU is at least the threshold, and is then a true
positive; otherwise a false positive. All images' detections are then sorted by score;
precision and recall after each one trace the precision-recall curve; the precision is made
non-increasing from the right (the envelope); and AP is the mean of the envelope read at the 101
recall levels 0, 0.01, ..., 1 (0 beyond the largest recall reached). COCO's mAP averages that
over the classes present among the targets and over the IoU thresholds 0.50, 0.55, ..., 0.95.

Reference: Lin et al., *Microsoft COCO: common objects in context*, ECCV 2014; pycocotools'
``cocoeval.py``, which the tests compare with. Taught in *Object detection* (book/detection.ipynb).
"""
from __future__ import annotations

import numpy as np

from . import boxes as B

__all__ = ["average_precision", "mean_average_precision", "precision_recall_curve",
           "COCO_IOU_THRESHOLDS", "RECALL_LEVELS"]

# exactly pycocotools' Params.setDetParams expressions, so the floats are the same
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
RECALL_LEVELS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def _check(fn, preds, targets):
    if not isinstance(preds, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise TypeError(f"{fn}: preds and targets must be lists of dicts, one per image, got "
                        f"{type(preds).__name__} and {type(targets).__name__}.")
    if len(preds) != len(targets):
        raise ValueError(f"{fn}: {len(preds)} predictions for {len(targets)} targets; give one "
                         f"dict per image in each.")
    out_p, out_t = [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        for name, d, keys in (("preds", p, ("boxes", "scores", "labels")),
                              ("targets", t, ("boxes", "labels"))):
            if not isinstance(d, dict) or any(k not in d for k in keys):
                raise ValueError(f"{fn}: {name}[{i}] must be a dict with keys {list(keys)}, got "
                                 f"{d if not isinstance(d, dict) else sorted(d)}.")
        pb = B._boxes(fn, f"preds[{i}]['boxes']", p["boxes"])
        ps = B._scores(fn, p["scores"], len(pb), f"preds[{i}]['scores']")
        pl = np.asarray(p["labels"]).reshape(-1)
        tb = B._boxes(fn, f"targets[{i}]['boxes']", t["boxes"])
        tl = np.asarray(t["labels"]).reshape(-1)
        if len(pl) != len(pb) or len(tl) != len(tb):
            raise ValueError(f"{fn}: image {i} has {len(pb)} predicted boxes and {len(pl)} "
                             f"labels, {len(tb)} target boxes and {len(tl)} labels; one label "
                             f"per box.")
        out_p.append((pb, ps, pl.astype(np.int64)))
        out_t.append((tb, tl.astype(np.int64)))
    return out_p, out_t


def _match(preds, targets, label, thresholds, max_detections):
    """Every detection of class `label` -> (scores (D,), matched (T, D) bool, number of
    objects), detections in COCOeval's accumulate order."""
    scores, matched, n_gt = [], [], 0
    for (pb, ps, pl), (tb, tl) in zip(preds, targets):
        g = tb[tl == label]
        sel = pl == label
        order = np.argsort(-ps[sel], kind="mergesort")[:max_detections]
        d, s = pb[sel][order], ps[sel][order]
        n_gt += len(g)
        m = np.zeros((len(thresholds), len(d)), bool)
        if len(d) and len(g):
            iou = B._iou(d, g)                                   # (D, G)
            for ti, t in enumerate(thresholds):
                t = min(t, 1 - 1e-10)
                taken = np.zeros(len(g), bool)
                for di in range(len(d)):
                    cand = np.where(taken, -1.0, iou[di])
                    best = cand.max()
                    if best < t:
                        continue
                    gi = len(g) - 1 - int(np.argmax(cand[::-1]))  # ties: the last, as COCOeval
                    taken[gi] = True
                    m[ti, di] = True
        scores.append(s)
        matched.append(m)
    scores = np.concatenate(scores) if scores else np.zeros(0)
    matched = np.concatenate(matched, axis=1) if matched else np.zeros((len(thresholds), 0), bool)
    order = np.argsort(-scores, kind="mergesort")
    return scores[order], matched[:, order], n_gt


def _curves(matched, n_gt):
    tp = np.cumsum(matched, axis=-1, dtype=float)
    fp = np.cumsum(~matched, axis=-1, dtype=float)
    recall = tp / n_gt
    precision = tp / (fp + tp + np.spacing(1))
    return recall, precision


def _ap(recall, precision):
    """The 101-point interpolated AP of one curve (COCOeval.accumulate)."""
    if len(recall) == 0:
        return 0.0
    env = np.maximum.accumulate(precision[::-1])[::-1]          # non-increasing from the right
    idx = np.searchsorted(recall, RECALL_LEVELS, side="left")
    q = np.where(idx < len(env), env[np.minimum(idx, len(env) - 1)], 0.0)
    return float(q.mean())


def precision_recall_curve(preds, targets, label, iou_threshold=0.5, max_detections=100):
    """The precision-recall curve of class `label` at one IoU threshold -> ``(recall,
    precision, scores)``, one point per detection in decreasing score (before the envelope)."""
    p, t = _check("precision_recall_curve", preds, targets)
    scores, matched, n_gt = _match(p, t, label, [iou_threshold], max_detections)
    recall, precision = _curves(matched[0], max(n_gt, 1))
    return recall, precision, scores


def average_precision(preds, targets, label, iou_threshold=0.5, max_detections=100):
    """COCO's AP of class `label` at one IoU threshold (101-point interpolation); NaN when no
    target holds the class (COCO leaves such a class out of the mean).

    >>> t = [{"boxes": [[0, 0, 10, 10]], "labels": [1]}]
    >>> p = [{"boxes": [[0, 0, 10, 9], [20, 20, 30, 30]], "scores": [0.9, 0.8], "labels": [1, 1]}]
    >>> round(average_precision(p, t, label=1), 6)  # precision tp / (tp + fp + eps), as COCO
    1.0
    """
    p, t = _check("average_precision", preds, targets)
    scores, matched, n_gt = _match(p, t, label, [iou_threshold], max_detections)
    if n_gt == 0:
        return float("nan")
    return _ap(*_curves(matched[0], n_gt))


def mean_average_precision(preds, targets, iou_thresholds=None, max_detections=100):
    """COCO's box AP over all classes -> a dict: ``map`` (IoU 0.50:0.95), ``map_50``,
    ``map_75``, ``classes`` (the labels present among the targets), ``ap_per_class`` (T, K)
    (rows the IoU thresholds), ``map_per_class`` and ``map_50_per_class`` ``(K,)``.

    It equals pycocotools' ``COCOeval`` (``iouType="bbox"``, ``maxDets=100``, area "all") to
    rounding; the tests check 1e-6.
    """
    fn = "mean_average_precision"
    p, t = _check(fn, preds, targets)
    thr = COCO_IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, float)
    classes = np.unique(np.concatenate([tl for _, tl in t])) if t else np.zeros(0, np.int64)
    ap = np.zeros((len(thr), len(classes)))
    for k, c in enumerate(classes):
        _, matched, n_gt = _match(p, t, int(c), thr, max_detections)
        for ti in range(len(thr)):
            ap[ti, k] = _ap(*_curves(matched[ti], n_gt))

    def at(v):
        i = np.flatnonzero(np.isclose(thr, v))
        return ap[i[0]] if len(i) else np.full(len(classes), np.nan)
    nan = float("nan")
    return {"map": float(ap.mean()) if ap.size else nan,
            "map_50": float(at(0.5).mean()) if len(classes) else nan,
            "map_75": float(at(0.75).mean()) if len(classes) else nan,
            "classes": classes, "ap_per_class": ap, "map_per_class": ap.mean(axis=0),
            "map_50_per_class": at(0.5)}
