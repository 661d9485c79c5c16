"""COCO average precision against pycocotools on random cases and known answers."""
import contextlib
import io

import numpy as np
import pytest

from cnnbook import metrics

pycocotools = pytest.importorskip("pycocotools")


def coco_eval(preds, targets):
    """pycocotools' bbox AP: per-class (T, K) AP with -1 for absent classes, and stats."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    images, anns, res = [], [], []
    cats = sorted({int(c) for t in targets for c in t["labels"]}
                  | {int(c) for p in preds for c in p["labels"]})
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i, "width": 100, "height": 100})
        for b, c in zip(np.asarray(t["boxes"], float).reshape(-1, 4), t["labels"]):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, s, c in zip(np.asarray(p["boxes"], float).reshape(-1, 4), p["scores"],
                           p["labels"]):
            res.append({"image_id": i, "category_id": int(c), "score": float(s),
                        "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c} for c in cats]}
        gt.createIndex()
        dt = gt.loadRes(res) if res else COCO()
        if not res:
            dt.dataset = {"images": images, "annotations": [], "categories": gt.dataset["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"][:, :, :, 0, 2]                   # (T, R, K), area all, 100 dets
    ap = np.where((prec > -1).all(axis=1), prec.mean(axis=1), np.nan)
    return dict(zip(cats, ap.T)), ev.stats


def random_case(rng, n_images=8, n_classes=3, max_gt=5, jitter=6.0):
    preds, targets = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, max_gt + 1))
        xy = rng.uniform(0, 60, (g, 2))
        gb = np.concatenate([xy, xy + rng.uniform(5, 35, (g, 2))], axis=1)
        gl = rng.integers(1, n_classes + 1, g)
        # detections: jittered copies of some objects (some relabelled) plus random boxes
        keep = rng.uniform(size=g) < 0.8
        db = gb[keep] + rng.normal(0, jitter, (int(keep.sum()), 4))
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        dl = np.where(rng.uniform(size=len(db)) < 0.8, gl[keep], rng.integers(1, n_classes + 1,
                                                                              len(db)))
        k = int(rng.integers(0, 4))
        xy = rng.uniform(0, 60, (k, 2))
        rb = np.concatenate([xy, xy + rng.uniform(3, 30, (k, 2))], axis=1)
        db = np.concatenate([db, rb])
        dl = np.concatenate([dl, rng.integers(1, n_classes + 1, k)])
        ds = np.round(rng.uniform(size=len(db)), 2)              # ties in score happen
        preds.append({"boxes": db, "scores": ds, "labels": dl})
        targets.append({"boxes": gb, "labels": gl})
    return preds, targets


@pytest.mark.parametrize("seed", range(12))
def test_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    preds, targets = random_case(rng, jitter=[2.0, 6.0, 12.0][seed % 3])
    ours = metrics.mean_average_precision(preds, targets)
    theirs, stats = coco_eval(preds, targets)
    assert abs(ours["map"] - stats[0]) < 1e-6
    assert abs(ours["map_50"] - stats[1]) < 1e-6
    assert abs(ours["map_75"] - stats[2]) < 1e-6
    for k, c in enumerate(ours["classes"]):
        np.testing.assert_allclose(ours["ap_per_class"][:, k], theirs[int(c)], atol=1e-6)
        assert abs(metrics.average_precision(preds, targets, int(c)) - theirs[int(c)][0]) < 1e-6


def test_max_detections_per_image_and_class():
    rng = np.random.default_rng(5)
    preds, targets = random_case(rng, n_images=3, n_classes=1, max_gt=3)
    # 150 extra low-scoring false positives in image 0: only the 100 best count
    extra = np.tile([[80.0, 80, 90, 90]], (150, 1))
    p0 = preds[0]
    preds[0] = {"boxes": np.concatenate([p0["boxes"], extra]),
                "scores": np.concatenate([p0["scores"] + 1, np.linspace(0.5, 0.01, 150)]),
                "labels": np.concatenate([p0["labels"], np.ones(150, int)])}
    ours = metrics.mean_average_precision(preds, targets)
    _, stats = coco_eval(preds, targets)
    assert abs(ours["map"] - stats[0]) < 1e-6


def test_known_answers():
    t = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [1, 1]}]
    perfect = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "scores": [0.9, 0.8],
                "labels": [1, 1]}]
    assert metrics.average_precision(perfect, t, 1) == 1.0
    # one hit, then a miss, then the second hit: precision 1, 1/2, 2/3 -> envelope 1 up to
    # recall 0.5 (51 levels), 2/3 for the 50 levels above
    p = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]],
          "scores": [0.9, 0.8, 0.7], "labels": [1, 1, 1]}]
    assert abs(metrics.average_precision(p, t, 1) - (51 + 50 * 2 / 3) / 101) < 1e-12
    # only half found: AP = 51 / 101
    half = [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "labels": [1]}]
    assert abs(metrics.average_precision(half, t, 1) - 51 / 101) < 1e-12
    # a class no target holds is NaN for AP and left out of the mean
    assert np.isnan(metrics.average_precision(perfect, t, 2))
    r = metrics.mean_average_precision(perfect, t)
    assert r["map"] == 1.0 and r["classes"].tolist() == [1]
    # a duplicate detection of one object is a false positive
    dup = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "scores": [0.9, 0.8], "labels": [1, 1]}]
    rec, prec, _ = metrics.precision_recall_curve(dup, t, 1)
    np.testing.assert_allclose(rec, [0.5, 0.5])
    np.testing.assert_allclose(prec, [1, 0.5], atol=1e-12)


def test_bad_input():
    t = [{"boxes": [[0, 0, 10, 10]], "labels": [1]}]
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        metrics.mean_average_precision([{"boxes": [], "scores": [], "labels": []}] * 2, t)
    with pytest.raises(ValueError, match="scores"):
        metrics.mean_average_precision([{"boxes": [[0, 0, 1, 1]], "scores": [1, 2],
                                         "labels": [1]}], t)
    with pytest.raises(ValueError, match="x2 < x1"):
        metrics.mean_average_precision([{"boxes": [[5, 0, 1, 1]], "scores": [1],
                                         "labels": [1]}], t)
    with pytest.raises(TypeError):
        metrics.mean_average_precision({"boxes": []}, t)
