"""Segmentation metrics (cnnbook.metrics): hand-computed cases, torchmetrics, bad input."""
import numpy as np
import pytest

from cnnbook import metrics


def test_hand_computed_case():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 1, 2]])
    cm = metrics.confusion_matrix(pred, target, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    # class 0: 1 / (1 + 1 + 0); class 1: 2 / (2 + 2 + 0); class 2: 1 / 2; class 3 absent
    np.testing.assert_allclose(metrics.iou(pred, target, 4), [0.5, 0.5, 0.5, np.nan])
    assert metrics.mean_iou(pred, target, 4) == 0.5
    assert metrics.pixel_accuracy(pred, target, 4) == 4 / 6


def test_ignore_index_drops_those_positions():
    target = np.array([0, 255, 1, 1, 255])
    pred = np.array([0, 1, 1, 0, 0])
    cm = metrics.confusion_matrix(pred, target, 2, ignore_index=255)
    assert cm.tolist() == [[1, 0], [1, 1]]
    np.testing.assert_allclose(metrics.iou(pred, target, 2, ignore_index=255), [0.5, 0.5])
    # a class index as ignore_index: its positions are dropped and it is not scored
    v = metrics.iou(pred, np.array([0, 0, 1, 1, 0]), 2, ignore_index=0)
    assert np.isnan(v[0]) and v[1] == 0.5                   # pred 0 on a class-1 pixel: a miss


def test_perfect_and_disjoint():
    t = np.random.default_rng(0).integers(0, 5, (3, 8, 8))
    assert metrics.mean_iou(t, t, 5) == 1.0
    assert metrics.mean_iou((t + 1) % 5, t, 5) == 0.0


def test_inputs_unchanged():
    t = np.random.default_rng(1).integers(0, 3, (2, 4, 4))
    p = np.random.default_rng(2).integers(0, 3, (2, 4, 4))
    t0, p0 = t.copy(), p.copy()
    metrics.iou(p, t, 3, ignore_index=1)
    assert (t == t0).all() and (p == p0).all()


@pytest.mark.parametrize("ignore_index", [None, 0, 3, 255])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchmetrics(seed, ignore_index):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    C = 6
    rng = np.random.default_rng(seed)
    target = rng.integers(0, C - 1, (4, 10, 12))             # class C-1 is absent from target
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, C - 1, target.shape))
    if ignore_index is not None:
        target = np.where(rng.random(target.shape) < 0.1, ignore_index, target)
    kw = {"num_classes": C, "ignore_index": ignore_index}
    pt, tt = torch.from_numpy(pred), torch.from_numpy(target)
    cm_tm = tm.MulticlassConfusionMatrix(**kw)(pt, tt).numpy()
    np.testing.assert_array_equal(metrics.confusion_matrix(pred, target, C, ignore_index), cm_tm)
    per_tm = tm.MulticlassJaccardIndex(average="none", **kw)(pt, tt).double().numpy()
    ours = metrics.iou(pred, target, C, ignore_index)
    scored = ~np.isnan(ours)
    np.testing.assert_allclose(ours[scored], per_tm[scored], rtol=1e-6)
    assert (per_tm[~scored] == 0).all()                      # torchmetrics' zero_division there
    assert not scored[C - 1]                                 # the absent class
    macro = float(tm.MulticlassJaccardIndex(average="macro", **kw)(pt, tt))
    assert metrics.mean_iou(pred, target, C, ignore_index) == pytest.approx(macro, rel=1e-6)
    micro_acc = float(tm.MulticlassAccuracy(average="micro", **kw)(pt, tt))
    assert metrics.pixel_accuracy(pred, target, C, ignore_index) == pytest.approx(micro_acc,
                                                                                 rel=1e-6)


def test_bad_input():
    t = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match=r"target holds 1 value\(s\) outside \[0, 2\].*\(7\)"):
        metrics.iou(t, np.array([[0, 1, 7], [0, 0, 0]]), 3)
    with pytest.raises(ValueError, match="ignore_index=255"):
        metrics.iou(t, np.array([[0, 1, 254], [0, 0, 255]]), 3, ignore_index=255)
    with pytest.raises(ValueError, match=r"pred holds .*\(-1\)"):
        metrics.iou(np.array([[0, -1, 0], [0, 0, 0]]), t, 3)
    with pytest.raises(ValueError, match=r"pred has shape \(3, 2\) but target has shape \(2, 3\)"):
        metrics.mean_iou(t.T, t, 3)
    with pytest.raises(TypeError, match="target must hold integer class indices, got dtype "
                                        "float32.*astype"):
        metrics.confusion_matrix(t, t.astype(np.float32), 3)
    with pytest.raises(TypeError, match="argmax"):
        metrics.confusion_matrix(np.zeros((2, 3, 3)), t, 3)
    with pytest.raises(TypeError, match="ignore_index"):
        metrics.iou(t, t, 3, ignore_index=0.5)
    with pytest.raises(ValueError, match="num_classes"):
        metrics.iou(t, t, 0)
