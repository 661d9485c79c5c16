"""cnnbook.boxes: IoU, conversion, NMS, anchors and the box coder, against hand-computed cases
and plain reference loops (torchvision cannot be imported beside this torch)."""
import math

import numpy as np
import pytest

from cnnbook import boxes as B


def iou_loop(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (ax1, ay1, ax2, ay2) in enumerate(a):
        for j, (bx1, by1, bx2, by2) in enumerate(b):
            iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            ih = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = iw * ih
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def random_boxes(rng, n, size=50.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def test_iou_known_answers():
    a = [[0, 0, 2, 2]]
    b = [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [5, 5, 6, 6], [0, 0, 1, 2]]
    np.testing.assert_allclose(B.box_iou(a, b), [[1 / 7, 1, 0, 0, 0.5]])
    # zero-area boxes: IoU 0 (torchvision's 0/0 is NaN), also with a box that contains them
    z = [[1, 1, 1, 1], [1, 0, 1, 2]]
    np.testing.assert_array_equal(B.box_iou(z, z), np.zeros((2, 2)))
    np.testing.assert_array_equal(B.box_iou(z, a), np.zeros((2, 1)))


@pytest.mark.parametrize("seed", range(3))
def test_iou_matches_loop(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    np.testing.assert_allclose(B.box_iou(a, b), iou_loop(a, b), rtol=1e-12, atol=1e-15)
    assert B.box_iou(a, b).shape == (7, 5)


def test_empty_inputs_give_empty_outputs():
    e = np.zeros((0, 4))
    assert B.box_iou(e, [[0, 0, 1, 1]]).shape == (0, 1)
    assert B.box_iou([[0, 0, 1, 1]], e).shape == (1, 0)
    assert B.box_area(e).shape == (0,)
    assert B.box_convert(e, "xyxy", "cxcywh").shape == (0, 4)
    assert B.nms(e, np.zeros(0), 0.5).shape == (0,)
    assert B.nms([], [], 0.5).dtype == np.int64
    assert B.batched_nms(e, np.zeros(0), np.zeros(0, int), 0.5).shape == (0,)
    assert B.encode(e, e).shape == (0, 4) and B.decode(e, e).shape == (0, 4)


def test_box_convert_round_trips():
    rng = np.random.default_rng(0)
    b = random_boxes(rng, 6)
    np.testing.assert_allclose(B.box_convert(b, "xyxy", "xywh")[:, 2:], b[:, 2:] - b[:, :2])
    np.testing.assert_allclose(B.box_convert([[10, 20, 30, 60]], "xyxy", "cxcywh"),
                               [[20, 40, 20, 40]])
    for f in ("xywh", "cxcywh"):
        for g in ("xyxy", "xywh", "cxcywh"):
            there = B.box_convert(B.box_convert(b, "xyxy", f), f, g)
            np.testing.assert_allclose(B.box_convert(there, g, "xyxy"), b, atol=1e-12)


def test_nms_known_answers():
    b = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    # IoU(0, 1) = 81 / 100 = 0.81
    assert B.nms(b[:3], [0.9, 0.8, 0.7], 0.5).tolist() == [0, 2]
    assert B.nms(b[:3], [0.9, 0.8, 0.7], 0.81).tolist() == [0, 1, 2]   # not greater: kept
    assert B.nms(b[:3], [0.9, 0.8, 0.7], 0.80).tolist() == [0, 2]
    assert B.nms(b[:3], [0.7, 0.8, 0.9], 0.5).tolist() == [2, 1]       # decreasing score
    # identical boxes with equal scores: the lower index is kept (a stable sort)
    assert B.nms([b[0], b[3]], [0.5, 0.5], 0.5).tolist() == [0]
    assert B.nms([b[3], b[0], b[2]], [0.5, 0.5, 0.5], 0.5).tolist() == [0, 2]
    # identical boxes at threshold 1: IoU 1 is not greater than 1
    assert B.nms([b[0], b[3]], [0.5, 0.6], 1.0).tolist() == [1, 0]
    # zero-area boxes suppress nothing and are never suppressed
    z = [[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10]]
    assert B.nms(z, [0.9, 0.8, 0.7], 0.0).tolist() == [0, 1, 2]
    # threshold 0: any overlap suppresses; touching edges do not overlap
    assert B.nms([[0, 0, 2, 2], [2, 0, 4, 2], [1, 1, 3, 3]], [3, 2, 1], 0.0).tolist() == [0, 1]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7])
def test_nms_matches_loop(seed, thr):
    rng = np.random.default_rng(seed)
    b = random_boxes(rng, 30)
    s = rng.integers(0, 6, 30) / 5.0                          # many ties
    ref = B.nms_naive(b, s, thr)
    got = B.nms(b, s, thr)
    np.testing.assert_array_equal(got, ref)
    # every kept pair overlaps at most thr; every dropped box overlaps a better kept one
    iou = iou_loop(b, b)
    kept = set(got.tolist())
    for i in got:
        for j in got:
            assert i == j or iou[i, j] <= thr
    order = {int(k): r for r, k in enumerate(np.argsort(-s, kind="stable"))}
    for j in set(range(30)) - kept:
        assert any(iou[i, j] > thr and order[int(i)] < order[j] for i in got)


def test_batched_nms_within_classes():
    b = [[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50]]
    s = [0.6, 0.9, 0.7, 0.8]
    assert B.batched_nms(b, s, [1, 1, 2, 2], 0.5).tolist() == [1, 3, 2]
    assert B.batched_nms(b, s, [1, 1, 1, 1], 0.5).tolist() == [1, 3]
    rng = np.random.default_rng(3)
    bb, ss, cc = random_boxes(rng, 40), rng.uniform(size=40), rng.integers(0, 3, 40)
    ref = np.concatenate([np.flatnonzero(cc == k)[B.nms_naive(bb[cc == k], ss[cc == k], 0.4)]
                          for k in range(3)])
    got = B.batched_nms(bb, ss, cc, 0.4)
    assert sorted(got.tolist()) == sorted(ref.tolist())
    assert (np.diff(ss[got]) <= 0).all()


def test_anchors_layout_and_sizes():
    a = B.anchors((2, 3), 8, sizes=(16, 32), aspect_ratios=(0.5, 1.0, 2.0))
    assert a.shape == (2 * 3 * 6, 4)
    first = a[:6]                                             # the anchors of cell (0, 0)
    w, h = first[:, 2] - first[:, 0], first[:, 3] - first[:, 1]
    # ratio outer, size inner; h / w = ratio, sqrt(w h) = size up to the whole-pixel rounding
    np.testing.assert_allclose(h / w, [0.5, 0.5, 1, 1, 2, 2], rtol=0.1)
    np.testing.assert_allclose(np.sqrt(w * h), [16, 32, 16, 32, 16, 32], rtol=0.05)
    np.testing.assert_array_equal(first[2], [-8, -8, 8, 8])  # centred on the corner (0, 0)
    np.testing.assert_array_equal(a[6 + 2], [0, -8, 16, 8])  # cell (0, 1): 8 pixels right
    np.testing.assert_array_equal(a[18 + 2], [-8, 0, 8, 16])  # cell (1, 0): 8 pixels down
    c = B.anchors((2, 3), 8, sizes=(16,), aspect_ratios=(1.0,), offset=0.5)
    np.testing.assert_array_equal(c[0], [-4, -4, 12, 12])
    # torchvision's rounding of the half-sizes: size 16 at ratio 0.5 -> w = 22.63 -> 23 - ...
    r = B.anchors(1, 16, sizes=(16,), aspect_ratios=(0.5,))
    np.testing.assert_array_equal(r[0], np.round(np.array([-16 / math.sqrt(.5), -16 * math.sqrt(.5),
                                                           16 / math.sqrt(.5), 16 * math.sqrt(.5)]) / 2))


def test_encode_known_answer_and_round_trip():
    np.testing.assert_allclose(B.encode([[0, 0, 20, 10]], [[0, 0, 10, 10]]),
                               [[0.5, 0, math.log(2), 0]])
    np.testing.assert_allclose(B.encode([[0, 0, 20, 10]], [[0, 0, 10, 10]], (10, 10, 5, 5)),
                               [[5, 0, 5 * math.log(2), 0]])
    rng = np.random.default_rng(0)
    a = random_boxes(rng, 20) + [0, 0, 1, 1]
    b = random_boxes(rng, 20) + [0, 0, 1, 1]
    for w in ((1, 1, 1, 1), (10.0, 10.0, 5.0, 5.0)):
        np.testing.assert_allclose(B.decode(B.encode(b, a, w), a, w), b, atol=1e-9)
    # bbox_xform_clip: a huge dw is clamped at log(1000 / 16)
    big = B.decode([[0, 0, 100, 0]], [[0, 0, 10, 10]])
    np.testing.assert_allclose(big[0, 2] - big[0, 0], 10 * 1000 / 16)


@pytest.mark.parametrize("call", [
    lambda: B.box_iou([[0, 0, -1, 1]], [[0, 0, 1, 1]]),
    lambda: B.box_iou([[0, 0, 1, 1]], [[0, 2, 1, 1]]),
    lambda: B.box_iou([[0, np.nan, 1, 1]], [[0, 0, 1, 1]]),
    lambda: B.box_iou([[0, 0, 1]], [[0, 0, 1, 1]]),
    lambda: B.nms([[0, 0, 1, 1]], [0.5, 0.4], 0.5),
    lambda: B.nms([[0, 0, 1, 1]], [0.5], -0.1),
    lambda: B.nms([[0, 0, 1, 1]], [np.nan], 0.5),
    lambda: B.batched_nms([[0, 0, 1, 1]], [0.5], [0, 1], 0.5),
    lambda: B.box_convert([[0, 0, -1, 1]], "xywh", "xyxy"),
    lambda: B.box_convert([[0, 0, 1, 1]], "xyxy", "yxyx"),
    lambda: B.anchors(2, 8, sizes=(0,), aspect_ratios=(1,)),
    lambda: B.encode([[0, 0, 0, 1]], [[0, 0, 1, 1]]),
    lambda: B.decode([[0, 0, 1, 1], [0, 0, 1, 1]], [[0, 0, 1, 1]]),
])
def test_bad_input_raises_valueerror(call):
    with pytest.raises(ValueError):
        call()


def test_messages_name_the_values():
    with pytest.raises(ValueError, match=r"box_iou: a\[0\] = \[0.0, 0.0, -1.0, 1.0\].*x2 < x1"):
        B.box_iou([[0, 0, -1, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"nms: scores must have shape \(1,\).*\(2,\)"):
        B.nms([[0, 0, 1, 1]], [0.5, 0.4], 0.5)
    with pytest.raises(ValueError, match=r"iou_threshold=-0.1"):
        B.nms([[0, 0, 1, 1]], [0.5], -0.1)
    with pytest.raises(ValueError, match=r"NaN"):
        B.nms([[0, np.nan, 1, 1]], [0.5], 0.5)


def test_inputs_not_modified():
    rng = np.random.default_rng(1)
    b, s = random_boxes(rng, 10), rng.uniform(size=10)
    b0, s0 = b.copy(), s.copy()
    B.nms(b, s, 0.5)
    B.box_iou(b, b)
    B.box_convert(b, "xyxy", "xyxy")[0, 0] = -1
    B.encode(b + [0, 0, 1, 1], b + [0, 0, 1, 1])
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(s, s0)
