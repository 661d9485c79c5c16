"""cnnbook.attacks: FGSM and PGD — the budget and the clipping hold, the loss rises, the same
attack on the PyTorch twin in float64 gives the same images, and the errors."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook.attacks import fgsm, input_gradient, pgd
from test_explain import small_resnet


def data(n=6, size=10, seed=2):
    g = np.random.default_rng(seed)
    x = g.random((n, 1, size, size))
    x[:, :, :2] = 0.0                     # pixels at the edges of [0, 1], where clipping acts
    x[:, :, -2:] = 1.0
    return x, g.integers(0, 5, n)


def torch_attack(net, x, y, eps, alpha, steps, start=None):
    """FGSM (steps=0) or PGD from `start` on the twin, written as the papers' code does."""
    import torch
    twin = net.to_torch()
    x0, yt = torch.from_numpy(x), torch.from_numpy(y)

    def grad(xa):
        xa = xa.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(twin(xa), yt)
        (g,) = torch.autograd.grad(loss, xa)
        return g
    if steps == 0:
        return (x0 + eps * grad(x0).sign()).clamp(0, 1).numpy()
    xa = (x0 + torch.from_numpy(start)).clamp(0, 1) if start is not None else x0.clone()
    for _ in range(steps):
        xa = xa + alpha * grad(xa).sign()
        xa = torch.min(torch.max(xa, x0 - eps), x0 + eps).clamp(0, 1)
    return xa.detach().numpy()


@pytest.mark.parametrize("gap", [True, False], ids=["gap-head", "fc-head"])
@pytest.mark.parametrize("eps", [0.0, 0.03, 0.3])
def test_fgsm_equals_the_twins(eps, gap):
    pytest.importorskip("torch")
    net, (x, y) = small_resnet(gap=gap), data()
    ours = fgsm(net, x, y, eps)
    assert np.array_equal(ours, torch_attack(net, x, y, eps, None, 0))
    assert ours.dtype == x.dtype and np.abs(ours - x).max() <= eps + 1e-15
    assert ours.min() >= 0 and ours.max() <= 1


@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_equals_the_twins(random_start):
    pytest.importorskip("torch")
    net, (x, y) = small_resnet(), data()
    eps, alpha, steps = 0.1, 0.03, 7
    ours = pgd(net, x, y, eps, alpha, steps, rng=4, random_start=random_start)
    start = np.random.default_rng(4).uniform(-eps, eps, x.shape) if random_start else None
    theirs = torch_attack(net, x, y, eps, alpha, steps, start)
    assert np.array_equal(ours, theirs)
    assert np.abs(ours - x).max() <= eps + 1e-15
    assert ours.min() >= 0 and ours.max() <= 1


def test_attacks_raise_the_loss_and_pgd_beats_fgsm_on_average():
    net, (x, y) = small_resnet(), data(20)
    clean, _ = input_gradient(net, x, y)
    f, _ = input_gradient(net, fgsm(net, x, y, 0.05), y)
    p, _ = input_gradient(net, pgd(net, x, y, 0.05, 0.0125, 10, rng=0), y)
    assert clean < f < p


def test_input_gradient_matches_central_differences():
    net, (x, y) = small_resnet(), data(2)
    _, dx = input_gradient(net, x, y)
    g = np.random.default_rng(0)
    for _ in range(5):
        i = tuple(int(g.integers(0, s)) for s in x.shape)
        h = 1e-6
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd = (input_gradient(net, xp, y)[0] - input_gradient(net, xm, y)[0]) / (2 * h)
        assert abs(dx[i] - fd) < 1e-6 * max(1.0, abs(fd)), (i, dx[i], fd)


def test_pgd_seeds_and_the_library_generator():
    net, (x, y) = small_resnet(), data()
    a = pgd(net, x, y, 0.1, 0.02, 2, rng=1)
    assert np.array_equal(a, pgd(net, x, y, 0.1, 0.02, 2, rng=np.random.default_rng(1)))
    cb.manual_seed(5)
    b = pgd(net, x, y, 0.1, 0.02, 2)
    cb.manual_seed(5)
    assert np.array_equal(b, pgd(net, x, y, 0.1, 0.02, 2))


def test_inputs_and_model_are_left_alone():
    net, (x, y) = small_resnet(), data()
    x32 = x.astype(np.float32)
    copies = x.copy(), y.copy()
    grads = [p.grad for p in net.parameters()]
    state = net.state_dict()
    out = pgd(net, x, y, 0.1, 0.05, 3, rng=0)
    fgsm(net, x, y, 0.1)
    assert out is not x and np.array_equal(x, copies[0]) and np.array_equal(y, copies[1])
    assert all(p.grad is g and not g.any() for p, g in zip(net.parameters(), grads))
    assert all(np.array_equal(v, state[k]) for k, v in net.state_dict().items())
    assert fgsm(net, x32, y, 0.1).dtype == np.float32
    assert pgd(net, x32, y, 0.1, 0.05, 2, rng=0).dtype == np.float32


def test_errors_name_the_value_and_a_fix():
    net, (x, y) = small_resnet(), data()
    with pytest.raises(ValueError, match=r"fgsm: eps=-0.1 must be >= 0; use e.g. eps=8/255"):
        fgsm(net, x, y, -0.1)
    with pytest.raises(ValueError, match=r"pgd: alpha=0.0 must be > 0"):
        pgd(net, x, y, 0.1, 0.0, 3)
    with pytest.raises(ValueError, match=r"x must hold pixels in \[0, 1\], got values from 0 "
                                         r"to 255.*/ 255"):
        fgsm(net, x * 255, y, 0.1)
    with pytest.raises(ValueError, match=r"x must hold pixels in \[0, 1\].*from -0.5"):
        pgd(net, x - 0.5, y, 0.1, 0.01, 2)
    with pytest.raises(ValueError, match=r"x must be a batch of images"):
        fgsm(net, x[0], y, 0.1)
    with pytest.raises(ValueError, match=r"target must have shape \(6,\)"):
        fgsm(net, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="target value 7 is out of range for 5 classes"):
        fgsm(net, x, np.full(6, 7), 0.1)
    with pytest.raises(TypeError, match="class targets must be integers"):
        fgsm(net, x, y.astype(float), 0.1)
    with pytest.raises(TypeError, match="eps must be a real number"):
        fgsm(net, x, y, "0.1")
    with pytest.raises(ValueError, match="steps=0 must be at least 1"):
        pgd(net, x, y, 0.1, 0.01, 0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        pgd(net, x, y, 0.1, 0.01, 2, rng="seed")
    with pytest.raises(TypeError, match="random_start must be True or False"):
        pgd(net, x, y, 0.1, 0.01, 2, random_start=1)
