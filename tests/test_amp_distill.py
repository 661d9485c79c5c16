"""cnnbook.amp (GradScaler against torch.amp.GradScaler on the CPU; float16 layers) and
cnnbook.distill (Hinton et al.'s loss against the same expression in torch, and by finite
differences)."""
import numpy as np
import pytest

import cnnbook as cb
import cnnbook.training  # noqa: F401
from cnnbook import amp, distill
from cnnbook.gradcheck import numerical_gradient

torch = pytest.importorskip("torch")


def _grad_sequence():
    """Crafted gradients: clean steps, an inf, a NaN, then clean runs long enough to grow."""
    seq = [np.array([1.0, -2.0])] * 3 + [np.array([np.inf, 1.0])] + [np.array([1.0, 2.0])] * 2
    seq += [np.array([np.nan, 0.0])] + [np.array([0.5, 0.25])] * 7
    seq += [np.array([-np.inf, 1.0])] * 2 + [np.array([3.0, 1.0])] * 4
    return seq


@pytest.mark.parametrize("opts", [dict(), dict(growth_interval=3),
                                  dict(init_scale=8.0, growth_factor=4.0, backoff_factor=0.25,
                                       growth_interval=2)], ids=["defaults", "gi3", "custom"])
def test_grad_scaler_follows_torchs_state_sequence(opts):
    ours_p = cb.module.Parameter(np.zeros(2, np.float32))
    opt = cb.optim.SGD([ours_p], lr=0.1)
    scaler = amp.GradScaler(**opts)
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1)
    tscaler = torch.amp.GradScaler("cpu", **opts)
    for g in _grad_sequence():
        tscaler.scale(torch.tensor(1.0))        # torch creates its scale on first use
        scaled = (g * scaler.get_scale()).astype(np.float32)
        ours_p.grad = scaled.copy()
        tp.grad = torch.from_numpy(scaled.copy())
        took = scaler.step(opt)
        tscaler.step(topt)
        scaler.update()
        tscaler.update()
        opt.zero_grad()
        assert took == bool(np.all(np.isfinite(g)))
        assert scaler.get_scale() == tscaler.get_scale()
        assert scaler.state_dict()["_growth_tracker"] == tscaler.state_dict()["_growth_tracker"]
        np.testing.assert_array_equal(ours_p.data, tp.detach().numpy())
    assert scaler.skipped == 4
    ours_state, theirs = scaler.state_dict(), tscaler.state_dict()
    assert ours_state == {k: theirs[k] for k in ours_state}


def test_grad_scaler_defaults_are_torchs():
    s, t = amp.GradScaler().state_dict(), torch.amp.GradScaler("cpu").state_dict()
    assert s == {k: t[k] for k in s} and s["scale"] == 2.0 ** 16
    assert s["growth_interval"] == 2000 and s["backoff_factor"] == 0.5


def test_to_float16_underflows_and_overflows_as_float16():
    a = np.array([1e-8, 3e-8, 6e-8, 1e-4, 70000.0, -70000.0, 1.0 + 2 ** -12], np.float32)
    h = amp.to_float16(a)
    assert h.dtype == np.float32
    assert h[0] == 0 and h[1] == amp.FLOAT16_TINY and h[2] == amp.FLOAT16_TINY
    assert np.isinf(h[4]) and np.isinf(h[5]) and h[6] == 1.0
    np.testing.assert_array_equal(h, a.astype(np.float16).astype(np.float32))


def test_half_lenet_matches_torch_float16_within_rounding_and_trains():
    rng = np.random.default_rng(0)
    model = cb.nn.LeNet5()
    hmodel = amp.half(model)
    x = rng.random((8, 1, 28, 28)).astype(np.float32)
    out = hmodel(x)
    ref = model(x)
    assert np.array_equal(out, amp.to_float16(out))          # float16 values
    assert 0 < np.abs(out - ref).max() < 1e-2 * np.abs(ref).max()
    # The master weights are float32 and unchanged by the forward pass.
    assert hmodel[0].layer.weight.data.dtype == np.float32
    assert np.array_equal(hmodel[0].layer.weight.data, model[0].weight.data)
    y = rng.integers(0, 10, 8)
    opt = cb.optim.SGD(hmodel.parameters(), lr=0.05)
    scaler = amp.GradScaler()
    losses = [cb.training.train_step(hmodel, scaler.wrap(opt), x, y, loss=scaler.loss())[0]
              for _ in range(6)]
    assert losses[-1] < losses[0]
    for p in hmodel.parameters():
        assert p.data.dtype == np.float32


def test_loss_scaling_rescues_underflowing_gradients():
    """A gradient of 1e-8 (below float16's 6e-8) is lost in float16 unless scaled."""
    lin = cb.nn.Linear(4, 3, rng=0)
    h = amp.half(cb.nn.Sequential(lin))
    x = np.ones((1, 4), np.float32)
    h(x)
    h.backward(np.full((1, 3), 1e-8, np.float32), input_grad=False)
    assert np.all(h[0].layer.weight.grad == 0)
    h.zero_grad()
    h(x)
    h.backward(np.full((1, 3), 1e-8 * 2 ** 16, np.float32), input_grad=False)
    g = h[0].layer.weight.grad / 2 ** 16
    np.testing.assert_allclose(g, 1e-8, rtol=1e-3)


def test_grad_scaler_bad_arguments():
    with pytest.raises(ValueError, match="init_scale"):
        amp.GradScaler(init_scale=0.0)
    with pytest.raises(ValueError, match="growth_factor must be > 1"):
        amp.GradScaler(growth_factor=0.5)
    with pytest.raises(ValueError, match="backoff_factor must be < 1"):
        amp.GradScaler(backoff_factor=2.0)


# ---- distillation -------------------------------------------------------------------------
def _torch_kd(s, t, y, T, alpha):
    F = torch.nn.functional
    soft = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(s, y)


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (8.0, 1.0), (2.0, 0.0)])
def test_distillation_loss_is_torchs_expression(T, alpha):
    rng = np.random.default_rng(1)
    s, t = rng.standard_normal((7, 5)) * 3, rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    loss, cache = distill.distillation_loss_forward(s, t, y, T, alpha)
    g = float(rng.standard_normal())           # a random upstream gradient
    ds = distill.distillation_loss_backward(g, cache)
    st = torch.from_numpy(s).requires_grad_()
    ref = _torch_kd(st, torch.from_numpy(t), torch.from_numpy(y), T, alpha)
    ref_ds, = torch.autograd.grad(ref, st, torch.tensor(g, dtype=torch.float64))
    assert abs(loss - ref.item()) < 1e-12
    np.testing.assert_allclose(ds, ref_ds.numpy(), rtol=0, atol=1e-12)


def test_distillation_gradient_by_finite_differences():
    rng = np.random.default_rng(2)
    s, t = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)) * 2
    y = rng.integers(0, 6, 4)
    _, cache = distill.distillation_loss_forward(s, t, y, 3.0, 0.7)
    ds = distill.distillation_loss_backward(1.0, cache)
    num = numerical_gradient(lambda z: distill.distillation_loss(z, t, y, 3.0, 0.7), s)
    np.testing.assert_allclose(ds, num, rtol=1e-6, atol=1e-9)


def test_distillation_known_answers_and_checks():
    s = np.array([[1.0, 2.0, 3.0]])
    # Student equal to teacher: the soft term is 0, the loss is (1 - alpha) * CE.
    ce = cb.F.cross_entropy(s, np.array([2]))
    assert abs(distill.distillation_loss(s, s, np.array([2]), 4.0, 0.9) - 0.1 * ce) < 1e-12
    with pytest.raises(ValueError, match="T must be"):
        distill.distillation_loss(s, s, np.array([2]), T=0.0)
    with pytest.raises(ValueError, match="alpha must lie in"):
        distill.distillation_loss(s, s, np.array([2]), alpha=1.5)
    with pytest.raises(ValueError, match="teacher_logits has shape"):
        distill.distillation_loss(s, s[:, :2], np.array([2]))


def test_train_student_learns():
    rng = np.random.default_rng(3)
    x = rng.random((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    teacher = cb.nn.LeNet5(seed=1).eval()
    t_logits = teacher(x)
    student = cb.nn.LeNet5(seed=2)
    hist = distill.train_student(student, cb.optim.Adam(student.parameters(), 3e-3), x, y,
                                 t_logits, T=4.0, alpha=1.0, epochs=5, batch_size=16)
    assert len(hist) == 20 and np.mean(hist[-4:]) < 0.5 * np.mean(hist[:4])
