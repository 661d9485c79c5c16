"""cnnbook.nn layers and LeNet-5 against their PyTorch twins, plus finite differences."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnbook.functional as F  # noqa: E402
from cnnbook import nn  # noqa: E402
from cnnbook.arithmetic import count_parameters  # noqa: E402
from cnnbook.gradcheck import rel_error  # noqa: E402


def compare_model(model, x, device="cpu", seed=1):
    """Forward, backward with a random upstream gradient, and every parameter gradient, in ours
    and in the torch twin; returns the largest absolute errors by name."""
    twin = model.to_torch(device)
    x_copy = x.copy()
    out = model(x)
    assert np.array_equal(x, x_copy), "forward modified its input"
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    dx = model.backward(dout)
    xt = torch.from_numpy(x).to(device).requires_grad_(True)
    out_t = twin(xt)
    out_t.backward(torch.from_numpy(dout).to(device))
    errs = {"out": np.max(np.abs(out - out_t.detach().cpu().numpy())),
            "dx": np.max(np.abs(dx - xt.grad.cpu().numpy()))}
    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        errs["d" + name] = np.max(np.abs(p.grad - theirs[name].grad.cpu().numpy()))
    assert set(theirs) == {n for n, _ in model.named_parameters()}
    return errs, twin


LAYERS = {
    "conv-k3-s2-p1-d1": lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=1, dtype=np.float64),
    "conv-k3x2-s1x2-p0x1-d2-g": lambda: nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(0, 1),
                                                 dilation=2, groups=2, rng=2, dtype=np.float64),
    "conv-nobias": lambda: nn.Conv2d(3, 2, 1, bias=False, rng=3, dtype=np.float64),
    "maxpool-k3-s2-p1": lambda: nn.MaxPool2d(3, stride=2, padding=1),
    "maxpool-k2-ceil": lambda: nn.MaxPool2d(2, ceil_mode=True),
    "avgpool-k3-s2-p1": lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "flatten": nn.Flatten,
    "bn": lambda: nn.BatchNorm2d(4, dtype=np.float64),
    "identity": nn.Identity,
    "adaptive-avg-3x2": lambda: nn.AdaptiveAvgPool2d((3, 2)),
    "lrn-5": lambda: nn.LocalResponseNorm(3, alpha=0.3, beta=0.75, k=2.0),
    "residual-identity": lambda: nn.Residual(
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, rng=6, dtype=np.float64),
                      nn.BatchNorm2d(4, dtype=np.float64), nn.ReLU(),
                      nn.Conv2d(4, 4, 3, padding=1, rng=7, dtype=np.float64)),
        activation=nn.ReLU()),
    "residual-projection": lambda: nn.Residual(
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, rng=8, dtype=np.float64), nn.ReLU()),
        nn.Conv2d(4, 6, 1, stride=2, bias=False, rng=9, dtype=np.float64)),
    "concat": lambda: nn.Concat(nn.Conv2d(4, 2, 1, rng=10, dtype=np.float64),
                                nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(4, 3, 3, padding=1,
                                                                               rng=11, dtype=np.float64)),
                                nn.Identity()),
    # padding="same" (an even kernel width pads one more on the right) and the padding modes
    "conv-same-k3x4-d2": lambda: nn.Conv2d(4, 3, (3, 4), padding="same", dilation=2, rng=12,
                                           dtype=np.float64),
    "conv-reflect-s2-p2x1": lambda: nn.Conv2d(4, 3, 3, stride=2, padding=(2, 1),
                                              padding_mode="reflect", rng=13, dtype=np.float64),
    "conv-replicate-p2-g2": lambda: nn.Conv2d(4, 2, 3, padding=2, groups=2,
                                              padding_mode="replicate", rng=14, dtype=np.float64),
    "conv-circular-same-k4": lambda: nn.Conv2d(4, 3, 4, padding="same", padding_mode="circular",
                                               rng=15, dtype=np.float64),
    "convT-k3-s2-p1-op1": lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1,
                                                     output_padding=1, rng=16, dtype=np.float64),
    "bn-affine-false": lambda: nn.BatchNorm2d(4, affine=False, dtype=np.float64),
    "bn-no-running-stats-eval": lambda: nn.BatchNorm2d(4, track_running_stats=False,
                                                       dtype=np.float64).eval(),
    "leaky-relu-0.2": lambda: nn.LeakyReLU(0.2),
    "softmax-dim1": lambda: nn.Softmax(1),
    "flatten-1-2": lambda: nn.Flatten(1, 2),
    "gelu": nn.GELU, "gelu-tanh": lambda: nn.GELU("tanh"), "silu": nn.SiLU,
    "layernorm-7x8": lambda: nn.LayerNorm((7, 8), dtype=np.float64),
    "layernorm-8-nobias": lambda: nn.LayerNorm(8, bias=False, dtype=np.float64),
    "layernorm-noaffine": lambda: nn.LayerNorm(8, elementwise_affine=False, dtype=np.float64),
    "groupnorm-2": lambda: nn.GroupNorm(2, 4, dtype=np.float64),
    "groupnorm-4-noaffine": lambda: nn.GroupNorm(4, 4, affine=False, dtype=np.float64),
    "upsample-nearest-x2": lambda: nn.Upsample(scale_factor=2),
    "upsample-nearest-size5x11": lambda: nn.Upsample(size=(5, 11)),
    "upsample-bilinear-x1.5x0.7": lambda: nn.Upsample(scale_factor=(1.5, 0.7), mode="bilinear"),
    "upsample-bilinear-align-size9": lambda: nn.Upsample(size=9, mode="bilinear",
                                                         align_corners=True),
    "seq": lambda: nn.Sequential(nn.Conv2d(4, 5, 3, rng=4, dtype=np.float64), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 2 * 3, 7, rng=5, dtype=np.float64)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch(name, device):
    layer = LAYERS[name]()
    c = 3 if name.startswith("conv-k3-") or name == "conv-nobias" else 4
    x = np.random.default_rng(0).standard_normal((2, c, 7, 8))
    errs, _ = compare_model(layer, x, device)
    assert max(errs.values()) < 1e-10, errs


def test_linear_matches_torch(device):
    errs, _ = compare_model(nn.Linear(6, 3, rng=0, dtype=np.float64),
                            np.random.default_rng(0).standard_normal((5, 6)), device)
    assert max(errs.values()) < 1e-12, errs


@pytest.mark.parametrize("activation,pool", [("relu", "max"), ("tanh", "avg"), ("sigmoid", "avg")])
def test_lenet5_matches_torch(activation, pool, device):
    model = nn.LeNet5(activation, pool, seed=0).astype(np.float64)
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    errs, _ = compare_model(model, x, device)
    assert len(errs) == 2 + 10
    assert max(errs.values()) < 1e-10, errs


def test_lenet5_float32_matches_torch():
    model = nn.LeNet5()
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    errs, _ = compare_model(model, x)
    assert model(x).dtype == np.float32
    assert max(errs.values()) < 1e-4, errs


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_lenet5_parameter_count(activation, pool):
    model = nn.LeNet5(activation, pool)
    assert count_parameters(model) == 61_706
    assert count_parameters(model.to_torch()) == 61_706
    assert nn.LeNet5(num_classes=2).parameters()[-1].shape == (2,)


def test_state_dict_round_trip():
    model = nn.LeNet5(seed=0)
    twin = model.to_torch()
    sd = model.state_dict()
    assert list(sd) == list(twin.state_dict())
    assert list(sd)[:4] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    for k, v in twin.state_dict().items():
        assert sd[k].shape == tuple(v.shape)
    other = nn.LeNet5(seed=1)
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert not np.allclose(other(x), model(x))
    other.load_state_dict(twin.state_dict())          # torch tensors in
    assert np.array_equal(other(x), model(x))
    sd["0.weight"][:] = 0                             # a copy: the model is unaffected
    assert np.abs(model.state_dict()["0.weight"]).max() > 0
    with pytest.raises(ValueError, match="missing"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "0.bias"})
    bad = dict(sd, **{"0.weight": np.zeros((6, 1, 3, 3))})
    with pytest.raises(ValueError, match=r"0.weight has shape \(6, 1, 5, 5\)"):
        model.load_state_dict(bad)


def test_batchnorm_running_stats_and_eval():
    bn = nn.BatchNorm2d(3, momentum=0.2, dtype=np.float64)
    twin = bn.to_torch()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
        bn(x)
        twin(torch.from_numpy(x))
    sd_t = twin.state_dict()
    for k, v in bn.state_dict().items():
        assert np.allclose(v, sd_t[k].numpy(), atol=1e-12, rtol=0), k
    assert int(bn.num_batches_tracked) == 3
    bn.eval()
    errs, twin2 = compare_model(bn, rng.standard_normal((2, 3, 4, 4)))
    assert not twin2.training and max(errs.values()) < 1e-12, errs


def test_dropout_mask_and_modes():
    d = nn.Dropout(0.25, rng=0)
    x = np.random.default_rng(1).standard_normal((50, 40))
    out = d(x)
    mask = out != 0
    assert 0.2 < 1 - mask.mean() < 0.3
    assert np.allclose(out[mask], x[mask] / 0.75)
    dout = np.random.default_rng(2).standard_normal(x.shape)
    assert np.allclose(d.backward(dout), dout * mask / 0.75)
    d.eval()
    assert np.array_equal(d(x), x)
    with pytest.raises(ValueError, match="Dropout: p"):
        nn.Dropout(1.0)


def test_backward_accumulates_and_zero_grad():
    layer = nn.Linear(4, 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 4))
    dout = np.random.default_rng(1).standard_normal((2, 3))
    layer(x)
    layer.backward(dout)
    g1 = layer.weight.grad.copy()
    with pytest.raises(RuntimeError, match="Linear.backward: trying to backward through the "
                                           "same forward pass a second time"):
        layer.backward(dout)
    np.testing.assert_array_equal(layer.weight.grad, g1)      # nothing was added twice
    layer(x)
    layer.backward(dout)                                      # a second pass accumulates
    assert np.allclose(layer.weight.grad, 2 * g1) and np.abs(g1).max() > 0
    layer.zero_grad()
    assert all(np.all(p.grad == 0) for p in layer.parameters())


def test_default_init_follows_torch_bounds():
    conv = nn.Conv2d(6, 16, 5, rng=0)
    bound = 1 / np.sqrt(6 * 25)
    w = conv.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound        # uniform's std
    assert np.array_equal(nn.Conv2d(6, 16, 5, rng=0).weight.data, w)  # seeded
    assert np.abs(conv.bias.data).max() <= bound


def test_errors_are_clear():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(3, 6, 3, stride=0)
    with pytest.raises(RuntimeError, match="call the layer"):
        nn.ReLU().backward(np.zeros(3))
    with pytest.raises(ValueError, match="activation"):
        nn.LeNet5(activation="gelu")
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), np.tanh)


def _lenet_loss(model, x, y):
    loss, _ = F.cross_entropy_forward(model(x), y)
    return float(loss)


@pytest.mark.parametrize("activation,pool", [("tanh", "avg"), ("relu", "max")])
def test_lenet5_loss_gradients_by_finite_differences(activation, pool):
    model = nn.LeNet5(activation, pool, seed=3).astype(np.float64)
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 28, 28))
    y = np.array([3, 7])
    loss, cache = F.cross_entropy_forward(model(x), y)
    model.zero_grad()
    model.backward(F.cross_entropy_backward(1.0, cache))
    eps = 1e-6
    for name, p in model.named_parameters():
        idx = [tuple(rng.integers(0, s) for s in p.shape) for _ in range(4)]
        idx.append(np.unravel_index(np.argmax(np.abs(p.grad)), p.shape))
        for i in idx:
            old = p.data[i]
            p.data[i] = old + eps
            plus = _lenet_loss(model, x, y)
            p.data[i] = old - eps
            minus = _lenet_loss(model, x, y)
            p.data[i] = old
            num = (plus - minus) / (2 * eps)
            assert abs(num - p.grad[i]) <= 1e-6 * max(1.0, abs(num)) + 1e-8, (name, i, num, p.grad[i])
        assert np.abs(p.grad).max() > 0, name


def test_backward_input_grad_false_same_parameter_gradients():
    """input_grad=False skips only the gradient with respect to the model's input: the first
    layer's dx is None and every parameter gradient is bit-for-bit what input_grad=True gives."""
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    grads = []
    for input_grad in (True, False):
        model = nn.LeNet5(seed=0)
        out = model(x)
        dx = model.backward(np.ones_like(out), input_grad=input_grad)
        assert (dx is None) == (not input_grad)
        if input_grad:
            assert dx.shape == x.shape
        grads.append([p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_every_layer_accepts_input_grad():
    g = np.random.default_rng(1)
    layers = [nn.Conv2d(2, 3, 3, padding=1), nn.Linear(8, 3), nn.MaxPool2d(2), nn.AvgPool2d(2),
              nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Flatten(), nn.Dropout(0.5),
              nn.BatchNorm2d(2), nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU())]
    for layer in layers:
        x = g.standard_normal((2, 8) if isinstance(layer, nn.Linear) else (2, 2, 4, 4))
        x = x.astype(np.float32)
        out = layer(x)
        dx = layer.backward(np.ones_like(out), input_grad=False)
        if isinstance(layer, (nn.Conv2d, nn.Linear, nn.Sequential)):
            assert dx is None, type(layer).__name__
        else:
            assert dx.shape == x.shape, type(layer).__name__
        out = layer(x)
        assert layer.backward(np.ones_like(out)).shape == x.shape


def test_sequential_input_grad_reaches_first_layer_only():
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 2, 3))
    x = np.random.default_rng(2).standard_normal((2, 1, 5, 5)).astype(np.float32)
    out = model(x)
    # the conv is not first, so it must still hand its dx to the ReLU
    dx = model.backward(np.ones_like(out), input_grad=False)
    assert dx is not None and dx.shape == x.shape


# ------------------------------------------------------------------ blocks for branching networks
def _block_fd(block, x, seed=3):
    """Finite differences of sum(block(x) * dout) for x and every parameter, against backward."""
    from cnnbook.gradcheck import numerical_gradient
    dout = np.random.default_rng(seed).standard_normal(block(x).shape)
    block.zero_grad()
    block(x)
    dx = block.backward(dout)
    errs = {"dx": rel_error(dx, numerical_gradient(block, x, dout))}
    for name, p in block.named_parameters():
        def f(v, p=p):
            old = p.data
            p.data = v
            try:
                return block(x)
            finally:
                p.data = old
        errs["d" + name] = rel_error(p.grad, numerical_gradient(f, p.data, dout))
    return errs, dx, dout


def _tiny(seed):
    return nn.Conv2d(2, 2, 3, padding=1, rng=seed, dtype=np.float64)


@pytest.mark.parametrize("kind", ["residual", "concat", "dense"])
def test_fork_gradients_are_summed_by_finite_differences(kind):
    """x feeds two paths; the finite-difference gradient of x equals the SUM of the paths'."""
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 3))
    if kind == "residual":
        body = nn.Sequential(_tiny(1), nn.Tanh(), _tiny(2))
        block = nn.Residual(body, activation=nn.Tanh())
    elif kind == "concat":
        body = nn.Sequential(_tiny(1), nn.Tanh())
        block = nn.Concat(body, nn.Sequential(nn.AvgPool2d(3, 1, 1), _tiny(2)))
    else:                                       # DenseNet: cat([x, layer(x)])
        body = nn.Sequential(nn.BatchNorm2d(2, dtype=np.float64), nn.Tanh(), _tiny(1))
        block = nn.Concat(nn.Identity(), body)
    errs, dx, dout = _block_fd(block, x)
    assert max(errs.values()) < 1e-7, errs
    # one path alone is not the gradient: the other path's share is really added in
    if kind == "residual":
        d = block.activation.backward(dout)
        one_path = body.backward(d)
    elif kind == "concat":
        one_path = body.backward(dout[:, :2].copy())
    else:
        one_path = body.backward(dout[:, 2:].copy())
    assert rel_error(one_path, dx) > 1e-2


def test_residual_identity_path_carries_gradient_when_body_is_dead():
    """A body whose output is all zeros (ReLU of negative values) still passes dout through."""
    conv = nn.Conv2d(2, 2, 1, rng=0, dtype=np.float64)
    conv.weight.data[:] = 0
    conv.bias.data[:] = -1.0
    block = nn.Residual(nn.Sequential(conv, nn.ReLU()))
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3))
    out = block(x)
    np.testing.assert_array_equal(out, x)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    np.testing.assert_array_equal(block.backward(dout), dout)


def test_branch_block_errors_and_names():
    with pytest.raises(ValueError, match="Residual: the body gives shape"):
        nn.Residual(nn.Conv2d(2, 3, 1))(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="Concat: the branches give shapes"):
        nn.Concat(nn.Identity(), nn.MaxPool2d(2))(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(TypeError, match="Concat: branch 1"):
        nn.Concat(nn.Identity(), np.zeros(3))
    from collections import OrderedDict
    block = nn.Concat(OrderedDict(branch1=nn.Conv2d(2, 3, 1), branch2=nn.Conv2d(2, 1, 1)))
    assert list(block.state_dict()) == ["branch1.weight", "branch1.bias", "branch2.weight",
                                        "branch2.bias"]
    seq = nn.Sequential(OrderedDict(conv1=nn.Conv2d(2, 3, 1), bn1=nn.BatchNorm2d(3)))
    assert list(seq.state_dict())[:2] == ["conv1.weight", "conv1.bias"]
    assert [n for n, _ in seq.named_modules()] == ["", "conv1", "bn1"]
    assert seq.to_torch().state_dict().keys() == seq.state_dict().keys()


def test_named_sequential_reads_layers_by_name():
    from collections import OrderedDict
    conv = nn.Conv2d(1, 2, 3)
    seq = nn.Sequential(OrderedDict(features=conv, flat=nn.Flatten()))
    assert seq.features is conv and seq["flat"] is seq[1]
    with pytest.raises(AttributeError, match="no attribute or layer named 'head'"):
        seq.head
    with pytest.raises(AttributeError):
        nn.Sequential(conv).features
    import copy
    assert copy.deepcopy(seq).features.weight.shape == (2, 1, 3, 3)


def test_conv1d_matches_torch(device):
    layer = nn.Conv1d(4, 3, 3, stride=2, padding=1, dilation=2, rng=0, dtype=np.float64)
    errs, _ = compare_model(layer, np.random.default_rng(0).standard_normal((2, 4, 11)), device)
    assert max(errs.values()) < 1e-12, errs


def test_maxpool_return_indices_are_torchs():
    pool = nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    x[0, 0, :3, :3] = 5.0                                     # a tie: the first maximum wins
    out, idx = pool(x)
    out_t, idx_t = pool.to_torch()(torch.from_numpy(x))
    np.testing.assert_array_equal(out, out_t.numpy())
    np.testing.assert_array_equal(idx, idx_t.numpy())
    dout = np.random.default_rng(1).standard_normal(out.shape)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.max_pool2d(xt, 3, 2, 1).backward(torch.from_numpy(dout))
    np.testing.assert_allclose(pool.backward(dout), xt.grad.numpy(), rtol=0, atol=1e-12)


def test_batchnorm_cumulative_average_and_options_match_torch():
    bn = nn.BatchNorm2d(3, momentum=None, dtype=np.float64)
    twin = bn.to_torch()
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((4, 3, 5, 5)) * 3 + 2
        bn(x)
        twin(torch.from_numpy(x))
    for k, v in twin.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k], v.numpy(), rtol=0, atol=1e-12)
    assert list(nn.BatchNorm2d(2, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm2d(2, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert nn.BatchNorm2d(2, affine=False).parameters() == []


NEW_MODULES = {
    "gelu": (nn.GELU, (2, 4, 7, 8)), "gelu-tanh": (lambda: nn.GELU("tanh"), (2, 4, 7, 8)),
    "silu": (nn.SiLU, (2, 4, 7, 8)),
    "layernorm": (lambda: nn.LayerNorm((7, 8), dtype=np.float64), (2, 4, 7, 8)),
    "layernorm-nobias": (lambda: nn.LayerNorm(8, bias=False, dtype=np.float64), (3, 5, 8)),
    "groupnorm": (lambda: nn.GroupNorm(2, 6, dtype=np.float64), (3, 6, 5, 4)),
    "groupnorm-1d": (lambda: nn.GroupNorm(3, 6, affine=False, dtype=np.float64), (3, 6, 5)),
    "batchnorm1d-NC": (lambda: nn.BatchNorm1d(5, dtype=np.float64), (6, 5)),
    "batchnorm1d-NCL": (lambda: nn.BatchNorm1d(5, dtype=np.float64), (3, 5, 7)),
    "batchnorm1d-cumulative": (lambda: nn.BatchNorm1d(5, momentum=None, dtype=np.float64),
                               (3, 5, 7)),
    "batchnorm1d-noaffine-norunning": (lambda: nn.BatchNorm1d(
        5, affine=False, track_running_stats=False, dtype=np.float64), (3, 5, 7)),
    "upsample-nearest": (lambda: nn.Upsample(scale_factor=2), (2, 3, 5, 4)),
    "upsample-bilinear": (lambda: nn.Upsample(size=(7, 9), mode="bilinear"), (2, 3, 5, 4)),
    "upsample-bilinear-align": (lambda: nn.Upsample(scale_factor=1.7, mode="bilinear",
                                                    align_corners=True), (2, 3, 5, 4)),
}


@pytest.mark.parametrize("name", list(NEW_MODULES))
def test_new_modules_match_torch_in_train_and_eval(name, device):
    """Float64, three training steps then two eval steps (so the running statistics are used),
    output, dx and every parameter gradient with a random upstream gradient each step; the
    buffers and state_dict keys agree with torch's at the end."""
    build, shape = NEW_MODULES[name]
    layer = build()
    rng = np.random.default_rng(3)
    for _, p in layer.named_parameters():              # not the trivial ones and zeros
        p.data[...] = rng.standard_normal(p.shape)
    twin = layer.to_torch(device)
    assert list(layer.state_dict()) == list(twin.state_dict())
    worst = 0.0
    for step in range(5):
        if step == 3:
            layer.eval()
            twin.eval()
        x = rng.standard_normal(shape) * 2 + 1
        out = layer(x)
        dout = rng.standard_normal(out.shape)
        layer.zero_grad()
        dx = layer.backward(dout)
        xt = torch.from_numpy(x).to(device).requires_grad_(True)
        twin.zero_grad()
        out_t = twin(xt)
        out_t.backward(torch.from_numpy(dout).to(device))
        errs = [np.max(np.abs(out - out_t.detach().cpu().numpy())),
                np.max(np.abs(dx - xt.grad.cpu().numpy()))]
        theirs = dict(twin.named_parameters())
        assert set(theirs) == {n for n, _ in layer.named_parameters()}
        errs += [np.max(np.abs(p.grad - theirs[n].grad.cpu().numpy()))
                 for n, p in layer.named_parameters()]
        worst = max(worst, *errs)
    for k, v in twin.state_dict().items():
        worst = max(worst, np.max(np.abs(layer.state_dict()[k] - v.cpu().numpy())))
    print(f"{name}: largest difference from torch {worst:.2e}")
    assert worst < 1e-12, (name, worst)


def test_new_norm_layers_start_at_ones_and_zeros_and_reset():
    for m in (nn.LayerNorm((2, 3)), nn.GroupNorm(2, 4), nn.BatchNorm1d(3)):
        assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
        m.weight.data[...] = 5
        m.bias.data[...] = 5
        m.reset_parameters()
        assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
        assert m.weight.data.dtype == np.float32
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []
    assert list(nn.BatchNorm1d(2).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def test_loss_modules_match_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    target = rng.random((5, 4))
    for crit, tgt in ((nn.CrossEntropyLoss(), y), (nn.MSELoss(), target),
                      (nn.BCEWithLogitsLoss(), target)):
        loss = crit(logits, tgt)
        dlogits = crit.backward()
        lt = torch.from_numpy(logits).requires_grad_(True)
        loss_t = crit.to_torch()(lt, torch.from_numpy(tgt))
        loss_t.backward()
        assert abs(float(loss) - loss_t.item()) < 1e-12, type(crit).__name__
        np.testing.assert_allclose(dlogits, lt.grad.numpy(), rtol=0, atol=1e-12)
        with pytest.raises(RuntimeError, match="second time"):
            crit.backward()


_W = np.array([0.5, 2.0, 1.0, 3.0])
LOSS_CASES = {
    "ce-weight": (lambda: nn.CrossEntropyLoss(weight=_W), (6, 4), "class"),
    "ce-ignore-1": (lambda: nn.CrossEntropyLoss(ignore_index=1), (6, 4), "class"),
    "ce-weight-ignore-smooth0.2": (lambda: nn.CrossEntropyLoss(_W, ignore_index=2,
                                                               label_smoothing=0.2), (6, 4), "class"),
    "ce-sum": (lambda: nn.CrossEntropyLoss(reduction="sum"), (6, 4), "class"),
    "ce-none-smooth0.1": (lambda: nn.CrossEntropyLoss(reduction="none", label_smoothing=0.1),
                          (6, 4), "class"),
    "ce-spatial": (nn.CrossEntropyLoss, (2, 4, 3, 5), "class"),
    "ce-spatial-weight-ignore-smooth": (lambda: nn.CrossEntropyLoss(
        _W, ignore_index=0, label_smoothing=0.3), (2, 4, 3, 5), "class"),
    "ce-spatial-none-ignore": (lambda: nn.CrossEntropyLoss(ignore_index=3, reduction="none"),
                               (2, 4, 3, 5), "class"),
    "ce-spatial-sum-weight": (lambda: nn.CrossEntropyLoss(_W, reduction="sum"), (2, 4, 3, 5),
                              "class"),
    "mse-sum": (lambda: nn.MSELoss(reduction="sum"), (5, 3, 2), "real"),
    "mse-none": (lambda: nn.MSELoss(reduction="none"), (5, 3, 2), "real"),
    "bce-weight": (lambda: nn.BCEWithLogitsLoss(weight=np.array([1.0, 0.5, 2.0])), (5, 3),
                   "prob"),
    "bce-pos-weight-sum": (lambda: nn.BCEWithLogitsLoss(reduction="sum",
                                                        pos_weight=np.array([3.0, 1.0, 0.2])),
                           (5, 3), "prob"),
    "bce-none-spatial": (lambda: nn.BCEWithLogitsLoss(
        reduction="none", pos_weight=np.full((3, 1, 1), 2.0)), (2, 3, 4, 4), "prob"),
}


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_loss_module_options_match_torch_nn(name):
    """Every non-default option against the torch.nn module (the twin), float64: the loss and
    the gradient of the logits under a random upstream gradient."""
    build, shape, kind = LOSS_CASES[name]
    crit = build()
    rng = np.random.default_rng(7)
    logits = rng.standard_normal(shape) * 2
    if kind == "class":
        target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
        if crit.ignore_index >= 0:          # make sure some targets are ignored, not all
            target.flat[::3] = crit.ignore_index
    else:
        target = rng.random(shape) if kind == "prob" else rng.standard_normal(shape)
    twin = crit.to_torch()
    assert isinstance(twin, getattr(torch.nn, type(crit).__name__))
    assert list(crit.state_dict()) == list(twin.state_dict())
    loss = crit(logits, target)
    dout = rng.standard_normal(np.shape(loss))
    dlogits = crit.backward(dout)
    lt = torch.from_numpy(logits).requires_grad_(True)
    loss_t = twin(lt, torch.from_numpy(target))
    loss_t.backward(torch.as_tensor(dout))
    errs = (np.max(np.abs(loss - loss_t.detach().numpy())),
            np.max(np.abs(dlogits - lt.grad.numpy())))
    assert max(errs) < 1e-12, (name, errs)


def test_loss_modules_hand_every_option_to_the_function(monkeypatch):
    seen = []
    monkeypatch.setattr(F, "cross_entropy_forward",
                        lambda a, b, **kw: seen.append(kw) or (0.0, None))
    nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], ignore_index=0, reduction="sum",
                        label_smoothing=0.1)(np.zeros((2, 3)), np.array([0, 1]))
    assert seen[-1]["reduction"] == "sum" and seen[-1]["label_smoothing"] == 0.1
    assert seen[-1]["ignore_index"] == 0 and seen[-1]["weight"].tolist() == [1.0, 2.0, 3.0]
    monkeypatch.setattr(F, "binary_cross_entropy_with_logits_forward",
                        lambda a, b, **kw: seen.append(kw) or (0.0, None))
    nn.BCEWithLogitsLoss(pos_weight=[2.0])(np.zeros(2), np.zeros(2))
    assert seen[-1]["pos_weight"].tolist() == [2.0] and seen[-1]["weight"] is None
    w = np.array([1.0, 2.0])
    crit = nn.CrossEntropyLoss(weight=w)
    w[0] = 9.0                                              # the buffer is the module's own copy
    assert crit.weight.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("build,err,match", [
    (lambda: nn.MaxPool2d(2, ceil_mode="no"), TypeError, "MaxPool2d: ceil_mode must be True"),
    (lambda: nn.AvgPool2d(2, count_include_pad=1), TypeError, "count_include_pad"),
    (lambda: nn.Flatten(1.7), TypeError, "Flatten: start_dim must be an integer"),
    (lambda: nn.BatchNorm2d(3, eps=-1), ValueError, "BatchNorm2d: eps must be a finite number > 0"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), ValueError, r"momentum must lie in \[0, 1\]"),
    (lambda: nn.BatchNorm2d(3, momentum="x"), TypeError, "momentum must be a real number"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), ValueError, "padding must be one of"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode must be one"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, "needs stride=1"),
    (lambda: nn.Conv2d(3.0, 4, 3), TypeError, "Conv2d: in_channels must be an integer"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels=0 must be at least 1"),
    (lambda: nn.Linear(4, 2, bias="yes"), TypeError, "Linear: bias must be True or False"),
    (lambda: nn.Dropout("0.5"), TypeError, "Dropout: p must be a real number"),
    (lambda: nn.Dropout(p="0.5"), TypeError, "Dropout: p must be a real number, got p='0.5'"),
    (lambda: nn.Dropout(p=1.0), ValueError, r"Dropout: p must lie in \[0, 1\)"),
    (lambda: nn.Conv2d(4, 4, 3, groups="2"), TypeError,
     "Conv2d: groups must be an integer, got groups='2'"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, "Conv2d: groups=0 must be at least 1"),
    (lambda: nn.Softmax(dim=None), TypeError, "Softmax: dim must be an integer"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, "reduction must be one of"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=2), ValueError, "label_smoothing must lie"),
    (lambda: nn.CrossEntropyLoss(weight="heavy"), TypeError, "CrossEntropyLoss: weight must be"),
    (lambda: nn.CrossEntropyLoss(ignore_index=1.5), TypeError, "ignore_index must be an integer"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight="2"), TypeError, "BCEWithLogitsLoss: pos_weight"),
    (lambda: nn.BCEWithLogitsLoss(reduction="avg"), ValueError, "reduction must be one of"),
    (lambda: nn.MSELoss(reduction=None), TypeError, "MSELoss: reduction must be a string"),
    (lambda: nn.LeakyReLU("0.1"), TypeError, "negative_slope must be a real number"),
    (lambda: nn.GELU("exact"), ValueError, "GELU: approximate must be one of"),
    (lambda: nn.GELU(None), TypeError, "GELU: approximate must be a string"),
    (lambda: nn.LayerNorm(4.0), TypeError, "LayerNorm: normalized_shape must be an integer"),
    (lambda: nn.LayerNorm((4, 0)), ValueError, "normalized_shape=0 must be at least 1"),
    (lambda: nn.LayerNorm(()), ValueError, "normalized_shape must name at least one axis"),
    (lambda: nn.LayerNorm(4, eps=0), ValueError, "LayerNorm: eps must be a finite number > 0"),
    (lambda: nn.LayerNorm(4, elementwise_affine=1), TypeError, "elementwise_affine must be True"),
    (lambda: nn.LayerNorm(4, bias="no"), TypeError, "LayerNorm: bias must be True or False"),
    (lambda: nn.GroupNorm(2, 5), ValueError, "num_channels=5 must be divisible by num_groups=2"),
    (lambda: nn.GroupNorm(2.0, 4), TypeError, "GroupNorm: num_groups must be an integer"),
    (lambda: nn.GroupNorm(0, 4), ValueError, "num_groups=0 must be at least 1"),
    (lambda: nn.GroupNorm(2, 4, eps="1e-5"), TypeError, "GroupNorm: eps must be a real number"),
    (lambda: nn.GroupNorm(2, 4, affine=None), TypeError, "GroupNorm: affine must be True"),
    (lambda: nn.BatchNorm1d("3"), TypeError, "BatchNorm1d: num_features must be an integer"),
    (lambda: nn.BatchNorm1d(3, momentum=-0.1), ValueError, r"BatchNorm1d: momentum must lie"),
    (lambda: nn.BatchNorm1d(3, eps=-1), ValueError, "BatchNorm1d: eps must be a finite number"),
    (lambda: nn.BatchNorm1d(3, track_running_stats=0), TypeError, "track_running_stats must"),
    (lambda: nn.Upsample(), ValueError, "Upsample: give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(4, 2), ValueError, "give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(scale_factor="2"), TypeError, "Upsample: scale_factor must be a real"),
    (lambda: nn.Upsample(scale_factor=-2), ValueError, "scale_factor must be a finite number > 0"),
    (lambda: nn.Upsample(size=4.5), TypeError, "Upsample: size must be an integer"),
    (lambda: nn.Upsample(size=(4, 0)), ValueError, "Upsample: size must be a positive integer"),
    (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), ValueError, "mode must be one of"),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners="yes"), TypeError,
     "align_corners must be True or False"),
    (lambda: nn.Upsample(scale_factor=2, align_corners=True), ValueError,
     "only applies to mode='bilinear'"),
])
def test_constructors_check_their_arguments(build, err, match):
    with pytest.raises(err, match=match):
        build()


def test_numpy_integers_are_accepted_wherever_ints_are():
    i = np.int64
    conv = nn.Conv2d(i(3), i(4), i(3), stride=i(2), padding=i(1), groups=i(1))
    assert conv.weight.shape == (4, 3, 3, 3) and conv.stride == (2, 2)
    assert nn.Linear(np.int32(4), np.int16(2)).weight.shape == (2, 4)
    assert nn.MaxPool2d(i(2)).kernel_size == (2, 2)
    assert nn.BatchNorm2d(i(3)).num_features == 3 and nn.Flatten(i(1)).start_dim == 1
    assert nn.ConvTranspose2d(i(2), i(3), (i(2), 2)).weight.shape == (2, 3, 2, 2)


def test_reset_parameters_draws_the_same_numbers_as_a_plain_uniform():
    """Default init goes through cnnbook.init.default_ and keeps the numbers a seed gave
    before: the weight, then the bias, from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) exactly."""
    g = np.random.default_rng(5)
    bound = 1.0 / np.sqrt(3 * 3 * 2)
    w = g.uniform(-bound, bound, (4, 3, 3, 2)).astype(np.float32)
    b = g.uniform(-bound, bound, 4).astype(np.float32)
    conv = nn.Conv2d(3, 4, (3, 2), rng=5)
    np.testing.assert_array_equal(conv.weight.data, w)
    np.testing.assert_array_equal(conv.bias.data, b)
    lin = nn.Linear(7, 2, rng=np.random.default_rng(1), dtype=np.float64)
    g = np.random.default_rng(1)
    bound = 1.0 / np.sqrt(7)                   # not 7 ** -0.5, which rounds differently
    np.testing.assert_array_equal(lin.weight.data, g.uniform(-bound, bound, (2, 7)))
    lin.reset_parameters(rng=1)                                # PyTorch's method, re-drawn
    np.testing.assert_array_equal(lin.weight.data,
                                  np.random.default_rng(1).uniform(-bound, bound, (2, 7)))
    # a transposed convolution's fan_in is C_out * KH * KW, as PyTorch computes it
    ct = nn.ConvTranspose2d(3, 5, 2, rng=0, dtype=np.float64)
    assert np.abs(ct.weight.data).max() <= 1 / np.sqrt(5 * 4)
    assert np.abs(ct.weight.data).max() > 1 / np.sqrt(3 * 4) * 0.9 * np.sqrt(3 / 5)


def test_new_layers_in_the_shape_arithmetic():
    from cnnbook.arithmetic import receptive_field, summary
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.SiLU(),
                          nn.Upsample(scale_factor=(2, 1.5)), nn.LayerNorm(9), nn.GELU(),
                          nn.Upsample(size=(5, 7), mode="bilinear"))
    shapes = [r.output_shape for r in summary(model, (2, 1, 8, 8)).rows]
    assert shapes[3] == (2, 4, 12, 9) and shapes[-1] == (2, 4, 5, 7)
    assert [tuple(model(np.zeros((2, 1, 8, 8), np.float32)).shape)] == shapes[-1:]
    assert receptive_field(model[:3]).size == 3
    with pytest.raises(ValueError, match="Upsample"):
        receptive_field(model)
