"""cross_entropy's full PyTorch meaning (weight, ignore_index, reduction, label_smoothing, spatial
logits), reductions and weights of mse_loss and binary_cross_entropy_with_logits, and one_hot:
PyTorch (float64, random upstream gradient), finite differences, known answers and errors."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402

from cnnbook import losses as S  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

C = 5
SHAPES = {"flat": (7,), "spatial": (2, 3, 4)}             # target shape; logits insert C at axis 1


def _case(rng, layout, ignore, weighted):
    tshape = SHAPES[layout]
    logits = 2 * rng.standard_normal((tshape[0], C) + tshape[1:])
    target = rng.integers(0, C, tshape)
    ignore_index = {"none": -100, "neg": -100, "class": 2, "255": 255}[ignore]
    if ignore in ("neg", "255"):
        target.flat[::3] = ignore_index                         # a third of the targets ignored
    weight = rng.random(C) + 0.2 if weighted else None
    return logits, target, weight, ignore_index


GRID = list(itertools.product(["flat", "spatial"], ["none", "neg", "class", "255"], [False, True],
                              ["mean", "sum", "none"], [0.0, 0.1, 1.0]))


@pytest.mark.parametrize("layout, ignore, weighted, reduction, ls", GRID,
                         ids=[f"{lay}-ign_{ig}-{'w' if w else 'now'}-{r}-ls{ls}"
                              for lay, ig, w, r, ls in GRID])
def test_cross_entropy_matches_torch(layout, ignore, weighted, reduction, ls, rng):
    logits, target, weight, ii = _case(rng, layout, ignore, weighted)
    kw = dict(ignore_index=ii, reduction=reduction, label_smoothing=ls)
    c = assert_matches_torch(
        lambda z, w: S.cross_entropy_forward(z, target, w, **kw), S.cross_entropy_backward,
        lambda z, w: TF.cross_entropy(z, torch.from_numpy(target).to(z.device), w, **kw),
        [logits, weight], grad_of=[0], names=["dlogits"])
    assert c.out_err < 1e-13 and c.grad_errs[0] < 1e-13


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_on_cuda_and_float32(reduction, device, rng):
    logits, target, weight, ii = _case(rng, "spatial", "neg", True)
    kw = dict(ignore_index=ii, reduction=reduction, label_smoothing=0.1)
    for dtype in (np.float64, np.float32):
        assert_matches_torch(
            lambda z, w: S.cross_entropy_forward(z, target, w, **kw), S.cross_entropy_backward,
            lambda z, w: TF.cross_entropy(z, torch.from_numpy(target).to(z.device), w, **kw),
            [logits, weight], grad_of=[0], names=["dlogits"], device=device, dtype=dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["flat", "spatial"])
def test_cross_entropy_finite_differences(layout, reduction, rng):
    logits, target, weight, ii = _case(rng, layout, "neg", True)
    errs = check_gradients(
        lambda z: S.cross_entropy_forward(z, target, weight, ii, reduction, 0.2),
        S.cross_entropy_backward, [logits], names=["dlogits"])
    assert errs["dlogits"] < 1e-6, errs


def test_cross_entropy_defaults_unchanged(rng):
    # the default call and its cache still read as before: mean of -log p[target]
    z, t = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    loss, cache = S.cross_entropy_forward(z, t)
    log_probs, target = cache[:2]
    assert log_probs.shape == (4, 3) and target.tolist() == t.tolist()
    np.testing.assert_allclose(loss, -np.mean(S.log_softmax(z)[np.arange(4), t]), rtol=1e-15)
    p = S.softmax(z)
    p[np.arange(4), t] -= 1
    np.testing.assert_allclose(S.cross_entropy_backward(1.0, cache), p / 4, rtol=1e-14)


def test_cross_entropy_known_answers():
    z = np.zeros((2, 4))                                      # uniform: every -log p is log 4
    t = np.array([1, 3])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    # the weighted mean divides by the weights of the targets: (2 + 4) log 4 / (2 + 4)
    np.testing.assert_allclose(S.cross_entropy(z, t, weight=w), np.log(4))
    np.testing.assert_allclose(S.cross_entropy(z, t, weight=w, reduction="sum"), 6 * np.log(4))
    np.testing.assert_allclose(S.cross_entropy(z, t, weight=w, reduction="none"),
                               [2 * np.log(4), 4 * np.log(4)])
    # an ignored target costs 0 and does not count in the mean
    np.testing.assert_allclose(S.cross_entropy(z, np.array([1, -100])), np.log(4))
    np.testing.assert_allclose(S.cross_entropy(z, np.array([1, -100]), reduction="none"),
                               [np.log(4), 0])
    # label smoothing 0.4 on 2 classes: targets (0.8, 0.2)
    zz = np.array([[1.0, -1.0]])
    lp = S.log_softmax(zz)[0]
    np.testing.assert_allclose(S.cross_entropy(zz, np.array([0]), label_smoothing=0.4),
                               -(0.8 * lp[0] + 0.2 * lp[1]))
    # every target ignored: 0/0, nan as PyTorch, and a zero gradient
    with np.errstate(all="raise"):
        loss, cache = S.cross_entropy_forward(z, np.array([-100, -100]))
        assert np.isnan(loss)
        np.testing.assert_array_equal(S.cross_entropy_backward(1.0, cache), 0)


@pytest.mark.parametrize("target, weight, ls", [
    ([-100, -100, -100], None, 0.0), ([-100, -100, -100], None, 0.2),
    ([1, 2, -100], [1.0, 0.0, 0.0, 1.0], 0.0), ([1, 2, 1], [1.0, 0.0, 0.0, 1.0], 0.3),
], ids=["all-ignored", "all-ignored-ls", "zero-weights", "zero-weights-ls"])
def test_cross_entropy_empty_mean_matches_torch_nan_pattern(target, weight, ls, rng):
    z = rng.standard_normal((3, 4))
    t, w = np.array(target), None if weight is None else np.array(weight)
    zt = torch.tensor(z, requires_grad=True)
    want = TF.cross_entropy(zt, torch.tensor(t), None if w is None else torch.tensor(w),
                            label_smoothing=ls)
    (want_grad,) = torch.autograd.grad(want, zt)
    loss, cache = S.cross_entropy_forward(z, t, w, label_smoothing=ls)
    assert np.isnan(loss) and np.isnan(want.item())
    np.testing.assert_array_equal(S.cross_entropy_backward(1.0, cache), want_grad.numpy())


def test_cross_entropy_dtype_and_inputs_unchanged(rng):
    z = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = rng.integers(0, 3, (2, 4, 5))
    t[0, 0] = -100
    w = rng.random(3)
    z0, t0, w0 = z.copy(), t.copy(), w.copy()
    for reduction in ("mean", "sum", "none"):
        loss, cache = S.cross_entropy_forward(z, t, w, reduction=reduction, label_smoothing=0.1)
        d = S.cross_entropy_backward(np.ones(np.shape(loss)), cache)
        assert loss.dtype == np.float32 and d.dtype == np.float32 and d.shape == z.shape
    for a, b in ((z, z0), (t, t0), (w, w0)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 4, 1])), ValueError,
     ["cross_entropy", "4", "[0, 3]", "ignore_index=-100"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, -1, 1])), ValueError,
     ["cross_entropy", "-1"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 255, 1]), ignore_index=255) * 0,
     None, []),
    (lambda: S.cross_entropy(np.zeros((2, 4, 3, 3)), np.zeros((2, 3, 4), int)), ValueError,
     ["cross_entropy", "(2, 3, 3)", "(2, 3, 4)"]),
    (lambda: S.cross_entropy(np.zeros((2, 4, 3, 3)), np.zeros((2, 3, 3))), TypeError,
     ["cross_entropy", "float64", "astype"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), weight=np.ones(3)), ValueError,
     ["cross_entropy", "(4,)", "(3,)"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), reduction="avg"), ValueError,
     ["cross_entropy", "'avg'", "mean"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), label_smoothing=1.5), ValueError,
     ["cross_entropy", "1.5", "[0, 1]"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), label_smoothing="0.1"),
     TypeError, ["cross_entropy", "label_smoothing='0.1'"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), ignore_index=1.0), TypeError,
     ["cross_entropy", "ignore_index=1.0"]),
    (lambda: S.cross_entropy_backward(np.ones(2), S.cross_entropy_forward(
        np.zeros((3, 4)), np.array([0, 1, 2]), reduction="none")[1]), ValueError,
     ["cross_entropy_backward", "(3,)", "(2,)"]),
    (lambda: S.mse_loss(np.zeros(3), np.zeros(3), reduction="elementwise"), ValueError,
     ["mse_loss", "'elementwise'"]),
    (lambda: S.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)),
                                                pos_weight=np.ones(2)), ValueError,
     ["binary_cross_entropy_with_logits", "pos_weight", "(2,)", "(2, 3)"]),
    (lambda: S.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)),
                                                weight=np.ones((3, 3))), ValueError,
     ["binary_cross_entropy_with_logits", "weight", "(3, 3)"]),
    (lambda: S.one_hot(np.array([0, 3]), 3), ValueError, ["one_hot", "3", "num_classes=3"]),
    (lambda: S.one_hot(np.array([0, -1])), ValueError, ["one_hot", "-1"]),
    (lambda: S.one_hot(np.array([0.0, 1.0])), TypeError, ["one_hot", "float64", "astype"]),
    (lambda: S.one_hot(np.array([], int)), ValueError, ["one_hot", "empty", "num_classes"]),
])
def test_loss_errors(call, exc, words):
    if exc is None:                                           # a valid call: no error
        call()
        return
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# mse_loss and binary_cross_entropy_with_logits

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_reductions_match_torch(reduction, device, rng):
    x, t = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    c = assert_matches_torch(lambda a, b: S.mse_loss_forward(a, b, reduction), S.mse_loss_backward,
                             lambda a, b: TF.mse_loss(a, b, reduction=reduction), [x, t],
                             grad_of=[0], names=["dinput"], device=device)
    assert c.out_err < 1e-14
    errs = check_gradients(lambda a: S.mse_loss_forward(a, t, reduction), S.mse_loss_backward, [x])
    assert max(errs.values()) < 1e-7, errs


BCE_GRID = list(itertools.product(["mean", "sum", "none"], [None, "elem", "row"], [None, "class"]))


@pytest.mark.parametrize("reduction, weight, pos_weight", BCE_GRID,
                         ids=[f"{r}-w_{w}-pw_{p}" for r, w, p in BCE_GRID])
def test_bce_with_logits_matches_torch(reduction, weight, pos_weight, device, rng):
    z, t = 4 * rng.standard_normal((4, 3)), rng.random((4, 3))
    w = {None: None, "elem": rng.random((4, 3)), "row": rng.random((4, 1))}[weight]
    pw = None if pos_weight is None else rng.random(3) * 3
    c = assert_matches_torch(
        lambda a, b, w, pw: S.binary_cross_entropy_with_logits_forward(a, b, w, reduction, pw),
        S.binary_cross_entropy_with_logits_backward,
        lambda a, b, w, pw: TF.binary_cross_entropy_with_logits(a, b, w, reduction=reduction,
                                                                pos_weight=pw),
        [z, t, w, pw], grad_of=[0], names=["dlogits"], device=device)
    assert c.out_err < 1e-14
    errs = check_gradients(
        lambda a: S.binary_cross_entropy_with_logits_forward(a, t, w, reduction, pw),
        S.binary_cross_entropy_with_logits_backward, [z])
    assert max(errs.values()) < 1e-6, errs             # relative, on gradients down to ~1e-3


def test_bce_and_mse_known_answers():
    # pos_weight p multiplies the positive term: t = 1, z = 0 costs p log 2
    np.testing.assert_allclose(S.binary_cross_entropy_with_logits(
        np.zeros((1, 2)), np.ones((1, 2)), pos_weight=np.array([1.0, 3.0]), reduction="none"),
        [[np.log(2), 3 * np.log(2)]])
    np.testing.assert_allclose(S.binary_cross_entropy_with_logits(
        np.zeros(2), np.array([0.0, 1.0]), weight=np.array([2.0, 0.0]), reduction="sum"),
        2 * np.log(2))
    with np.errstate(over="raise"):
        assert S.binary_cross_entropy_with_logits(np.array([1e4]), np.array([0.0]),
                                                  pos_weight=np.array([5.0])) == 1e4
    np.testing.assert_array_equal(S.mse_loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]),
                                             reduction="none"), [1.0, 9.0])


# ---------------------------------------------------------------------------------------------
# one_hot

@pytest.mark.parametrize("shape, num_classes", [((5,), -1), ((2, 3), 7), ((2, 3, 4), -1), ((), 4)])
def test_one_hot_matches_torch(shape, num_classes, rng):
    y = rng.integers(0, 4, shape)
    want = TF.one_hot(torch.from_numpy(np.asarray(y)), num_classes).numpy()
    got = S.one_hot(y, num_classes)
    assert got.dtype == np.int64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_one_hot_known_answer():
    assert S.one_hot(np.array([[1], [0]]), 3).tolist() == [[[0, 1, 0]], [[1, 0, 0]]]
