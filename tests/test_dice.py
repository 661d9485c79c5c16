"""Soft Dice loss (cnnbook.losses.dice_loss, nn.DiceLoss): known answers, finite differences,
PyTorch float64 with a random upstream gradient, bad input."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook import losses as L
from cnnbook.gradcheck import check_gradients, numerical_gradient


def _case(rng, N=2, C=4, H=3, W=5, ignore=None):
    z = rng.standard_normal((N, C, H, W))
    t = rng.integers(0, C, (N, H, W))
    if ignore is not None:
        t[rng.random(t.shape) < 0.2] = ignore
    return z, t


def test_known_answers():
    # uniform scores over 2 classes: p = 1/2 everywhere; one pixel of each class per image:
    # class c: 2 * (1/2) / (1 + 1) = 1/2 without smoothing, loss 1/2
    z, t = np.zeros((1, 2, 1, 2)), np.array([[[0, 1]]])
    assert L.dice_loss(z, t, eps=0.0) == pytest.approx(0.5)
    # with eps = 1: (1 + 1) / (2 + 1) = 2/3, loss 1/3
    assert L.dice_loss(z, t) == pytest.approx(1 / 3)
    # a class absent from image and (nearly) prediction costs ~0 with smoothing
    z = np.full((1, 3, 2, 2), -40.0)
    z[:, 0] = 40.0
    per = L.dice_loss(z, np.zeros((1, 2, 2), np.int64), reduction="none")
    assert per.shape == (1, 3)
    np.testing.assert_allclose(per, 0.0, atol=1e-12)
    # a perfectly wrong prediction: dice = eps / (2 * area + eps) for both classes involved
    z = np.full((1, 2, 1, 4), -40.0)
    z[:, 1] = 40.0
    per = L.dice_loss(z, np.zeros((1, 1, 4), np.int64), reduction="none")
    np.testing.assert_allclose(per, [[1 - 1 / 5, 1 - 1 / 5]], rtol=1e-12)


def test_reductions_and_ignore_index(rng):
    z, t = _case(rng, ignore=-100)
    per = L.dice_loss(z, t, reduction="none")
    assert L.dice_loss(z, t) == pytest.approx(per.mean())
    assert L.dice_loss(z, t, reduction="sum") == pytest.approx(per.sum())
    # ignored positions count as if they were not there
    keep = t[0] != -100
    zz, tt = z[0][:, keep][None, :, :, None], t[0][keep][None, :, None]
    assert L.dice_loss(zz, tt, reduction="none")[0] == pytest.approx(per[0])


def test_inputs_unchanged_and_dtype(rng):
    z, t = _case(rng)
    z32 = z.astype(np.float32)
    z0, t0 = z32.copy(), t.copy()
    loss, cache = L.dice_loss_forward(z32, t)
    dz = L.dice_loss_backward(np.float32(1.0), cache)
    assert loss.dtype == np.float32 and dz.dtype == np.float32 and dz.shape == z.shape
    assert (z32 == z0).all() and (t == t0).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [1.0, 0.5])
@pytest.mark.parametrize("ignore", [None, 1, -100], ids=["noignore", "ignore1", "ignore-100"])
def test_finite_differences(rng, reduction, eps, ignore):
    z, t = _case(rng, ignore=ignore)
    ii = -100 if ignore is None else ignore
    fwd = lambda a: L.dice_loss_forward(a, t, eps, ii, reduction)         # noqa: E731
    errs = check_gradients(fwd, L.dice_loss_backward, [z], names=["dlogits"])
    # elementwise: the smallest entries (1e-5 of the largest) carry the differences' rounding
    assert errs["dlogits"] < 1e-4, errs
    out, cache = fwd(z)
    dout = rng.standard_normal(np.shape(out))
    num = numerical_gradient(lambda a: fwd(a)[0], z, dout, eps=1e-5)
    ours = L.dice_loss_backward(dout, cache)
    assert np.linalg.norm(ours - num) < 1e-7 * np.linalg.norm(num)


def _torch_dice(torch, z, t, eps, ignore_index, reduction):
    """The same soft Dice, written with torch operations (autograd gives the gradient)."""
    C = z.shape[1]
    p = torch.softmax(z, dim=1)
    valid = (t != ignore_index).unsqueeze(1).to(z.dtype)
    g = torch.nn.functional.one_hot(torch.where(t == ignore_index, 0, t), C)
    g = g.movedim(-1, 1).to(z.dtype) * valid
    dims = tuple(range(2, z.ndim))
    dice = (2 * (p * g).sum(dims) + eps) / ((p * valid).sum(dims) + g.sum(dims) + eps)
    loss = 1 - dice
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(2, 4, 3, 5), (3, 2, 6), (1, 11, 8, 8)],
                         ids=["n2-c4-3x5", "n3-c2-1d", "n1-c11-8x8"])
def test_matches_torch(rng, reduction, shape):
    torch = pytest.importorskip("torch")
    from conftest import assert_matches_torch
    z = rng.standard_normal(shape) * 3
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    t[rng.random(t.shape) < 0.15] = 255
    assert_matches_torch(lambda a, b: L.dice_loss_forward(a, b, 1.0, 255, reduction),
                         L.dice_loss_backward,
                         lambda a, b: _torch_dice(torch, a, b, 1.0, 255, reduction),
                         [z, t], grad_of=[0], names=["dlogits"])


def test_module(rng):
    z, t = _case(rng)
    crit = cb.nn.DiceLoss(eps=0.5, reduction="sum")
    assert crit(z, t) == pytest.approx(L.dice_loss(z, t, eps=0.5, reduction="sum"))
    np.testing.assert_allclose(crit.backward(),
                               L.dice_loss_backward(1.0, L.dice_loss_forward(z, t, 0.5,
                                                                             reduction="sum")[1]))
    assert "eps=0.5" in repr(crit)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        cb.nn.DiceLoss(eps=-1)
    with pytest.raises(ValueError, match="reduction"):
        cb.nn.DiceLoss(reduction="avg")


def test_bad_input(rng):
    z, t = _case(rng, C=3)
    with pytest.raises(ValueError, match="target value 7 is out of range for 3 classes"):
        L.dice_loss(z, np.where(t == 0, 7, t))
    with pytest.raises(TypeError, match="integers, got dtype float64.*astype"):
        L.dice_loss(z, t.astype(np.float64))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3, 5\)"):
        L.dice_loss(z, t[:, :2])
    with pytest.raises(ValueError, match=r"\(N, C, d1, ...\)"):
        L.dice_loss(z[:, :, 0, 0], t[:, 0, 0])
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        L.dice_loss(z, t, eps=-0.1)
    with pytest.raises(ValueError, match="a loss is a scalar"):
        L.dice_loss_backward(np.ones(2), L.dice_loss_forward(z, t)[1])
