"""cnnbook.detection: the focal loss three ways, anchor matching, the targets, and the detector's
head and loss against a PyTorch twin in float64."""
import math

import numpy as np
import pytest

from cnnbook import boxes as B
from cnnbook import detection as D
from cnnbook.gradcheck import check_gradients
from tests.conftest import assert_matches_torch


def torch_focal(x, t, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, line for line (torchvision cannot be imported); the
    same expression ``python -m cnnbook.verify`` compares with."""
    from cnnbook.verify import _torch_sigmoid_focal_loss
    return _torch_sigmoid_focal_loss(x, t, alpha, gamma, reduction)


def test_focal_known_answers():
    # x = 0, t = 1: p = 1/2, ce = log 2, (1 - p_t)^2 = 1/4, alpha_t = 0.25
    assert math.isclose(D.sigmoid_focal_loss(np.array([0.0]), np.array([1.0]))[0],
                        0.25 * math.log(2) / 4, rel_tol=1e-12)
    # gamma = 0 and alpha < 0: plain binary cross-entropy
    x, t = np.array([-2.0, 0.5, 3.0]), np.array([0.0, 1.0, 1.0])
    ce = np.log1p(np.exp(-x)) + (1 - t) * x
    np.testing.assert_allclose(D.sigmoid_focal_loss(x, t, alpha=-1, gamma=0), ce, rtol=1e-12)
    # an easy negative (x = -4) is down-weighted ~ 300x more than a hard one (x = 2) by gamma=2
    easy, hard = D.sigmoid_focal_loss(np.array([-4.0, 2.0]), np.zeros(2), alpha=-1, gamma=2)
    ce_easy, ce_hard = np.log1p(np.exp(-4.0)), np.log1p(np.exp(2.0))
    assert (ce_easy / easy) > 300 * (ce_hard / hard) / 1.2
    # extreme logits stay finite
    assert np.isfinite(D.sigmoid_focal_loss(np.array([-800.0, 800.0]), np.array([1.0, 0.0]))).all()


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1, 2.0), (0.5, 0.0), (0.25, 1.5),
                                         (0.75, 1.0)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_finite_differences(alpha, gamma, reduction):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (4, 5))
    t = (rng.uniform(size=(4, 5)) < 0.3).astype(float)
    err = check_gradients(lambda a: D.sigmoid_focal_loss_forward(a, t, alpha, gamma, reduction),
                          D.sigmoid_focal_loss_backward, [x])
    assert max(err.values()) < 1e-6, err


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1, 0.0), (0.25, 1.5)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_matches_torch(alpha, gamma, reduction, device):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, (6, 10))
    t = rng.uniform(size=(6, 10))          # soft targets as well, as torchvision allows
    t[:3] = (t[:3] < 0.2)
    assert_matches_torch(
        lambda a: D.sigmoid_focal_loss_forward(a, t, alpha, gamma, reduction),
        D.sigmoid_focal_loss_backward,
        lambda a: torch_focal(a, __import__("torch").as_tensor(t, device=a.device), alpha,
                              gamma, reduction),
        [x], device=device)


def test_focal_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        D.sigmoid_focal_loss(np.zeros(2), np.zeros(2), gamma=-1)
    with pytest.raises(ValueError, match="shape"):
        D.sigmoid_focal_loss(np.zeros(2), np.zeros(3))


def test_match_anchors():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 6], [30, 30, 40, 40],
                  [50, 50, 52, 52]], float)
    g = np.array([[0, 0, 10, 10], [31, 31, 36, 36]], float)
    m, iou = D.match_anchors(a, g)
    # IoUs with object 0: 1, 0.8, 0.6 -> positive; anchor 3 with object 1: 25/100 = 0.25 is
    # below bg_iou, but it is object 1's best anchor, so it is matched (a low-quality match)
    assert m.tolist() == [0, 0, 0, 1, -1]
    m2, _ = D.match_anchors(a, g, fg_iou=0.7, bg_iou=0.65, low_quality=False)
    assert m2.tolist() == [0, 0, -1, -1, -1]
    m3, _ = D.match_anchors(a, g, fg_iou=0.9, bg_iou=0.5, low_quality=False)
    assert m3.tolist() == [0, -2, -2, -1, -1]                  # 0.8 and 0.6 ignored
    assert D.match_anchors(a, np.zeros((0, 4)))[0].tolist() == [-1] * 5
    with pytest.raises(ValueError, match="bg_iou"):
        D.match_anchors(a, g, fg_iou=0.4, bg_iou=0.5)


def test_make_targets_encode_the_matched_boxes():
    anc = B.anchors((3, 3), 8, sizes=(12,), aspect_ratios=(1.0,), offset=0.5)
    gb = [np.array([[2.0, 3, 15, 14]]), np.zeros((0, 4))]
    t = D.make_targets(anc, gb, [np.array([7]), np.zeros(0, int)])
    assert t.shape == (2, 9, 5)
    pos = np.flatnonzero(t[0, :, 0] > 0)
    assert len(pos) >= 1 and (t[0, pos, 0] == 7).all()
    np.testing.assert_allclose(B.decode(t[0, pos, 1:], anc[pos]), np.repeat(gb[0], len(pos), 0))
    assert (t[1, :, 0] == 0).all()


def _case(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = D.detector(num_classes=3, num_anchors=2, widths=(4, 6), seed=seed, dtype=dtype)
    x = rng.uniform(size=(3, 1, 8, 8)).astype(dtype)
    anc = B.anchors((4, 4), 2, sizes=(3,), aspect_ratios=(0.5, 2.0), offset=0.5)
    gb = [np.array([[0, 0, 3, 4], [4, 4, 8, 7]]), np.array([[1, 2, 5, 6]]), np.zeros((0, 4))]
    gl = [np.array([1, 3]), np.array([2]), np.zeros(0, int)]
    return model, x, D.make_targets(anc, gb, gl, fg_iou=0.4, bg_iou=0.2), anc


def torch_detection_loss(out, t, num_classes, alpha=0.25, gamma=2.0):
    import torch
    n, ch, h, w = out.shape
    k = num_classes + 4
    v = out.view(n, ch // k, k, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, k)
    t = torch.as_tensor(t)
    label = t[..., 0]
    valid, pos = label >= 0, label > 0
    onehot = torch.nn.functional.one_hot(label.clamp(min=0).long(), num_classes + 1)[..., 1:]
    fl = torch_focal(v[..., :num_classes], onehot.to(out.dtype), alpha, gamma)
    box = (v[..., num_classes:] - t[..., 1:]).abs()[pos].sum()
    return ((fl * valid[..., None]).sum() + box) / max(1.0, float(pos.sum()))


def test_detection_loss_finite_differences():
    _, _, t, _ = _case()
    rng = np.random.default_rng(2)
    out = rng.normal(0, 1, (3, 2 * 7, 4, 4))
    assert (t[..., 0] > 0).any() and (t[..., 0] == -1).any() and (t[..., 0] == 0).any()
    err = check_gradients(lambda z: (np.array(D.detection_loss(z, t, 3)[0]),
                                     D.detection_loss(z, t, 3)[1]),
                          lambda d, g: d * g, [out])
    assert max(err.values()) < 1e-5, err           # the L1 term is piecewise linear


def test_head_and_loss_match_pytorch_twin():
    torch = pytest.importorskip("torch")
    model, x, t, _ = _case()
    twin = model.to_torch()
    model.train()
    twin.train()
    out = model(x)
    loss, dout = D.detection_loss(out, t, 3)
    model.backward(dout)
    tx = torch.from_numpy(x)
    tout = twin(tx)
    tloss = torch_detection_loss(tout, t, 3)
    tloss.backward()
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert abs(loss - tloss.item()) < 1e-12
    grads = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=1e-8, atol=1e-12,
                                   err_msg=name)


def test_head_bias_prior_and_postprocess():
    model, x, _, anc = _case()
    model.eval()
    out = model(x)
    cls, box = D.split_head(out, 3)
    assert cls.shape == (3, 32, 3) and box.shape == (3, 32, 4)
    # RetinaNet's prior: every class probability starts near 0.01
    p = 1 / (1 + np.exp(-cls))
    assert abs(np.median(p) - 0.01) < 0.005
    dets = D.postprocess(out, anc, 3, score_thresh=0.0, iou_threshold=0.5, topk=10)
    assert len(dets) == 3 and all(len(d["boxes"]) == 10 for d in dets)
    assert all((np.diff(d["scores"]) <= 0).all() for d in dets)
    raw = D.postprocess(out, anc, 3, score_thresh=0.0, nms=False, topk=10**6)
    assert len(raw[0]["boxes"]) == 32 * 3
