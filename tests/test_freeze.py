"""Freezing, fine-tuning, head replacement and .npz saving, checked against the PyTorch twin."""
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnbook as cb  # noqa: E402
from cnnbook import nn  # noqa: E402

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def small_net(dtype=np.float64, seed=0):
    """conv -> relu -> pool -> conv -> relu -> flatten -> linear -> relu -> linear, on 12x12."""
    g = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=g, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),  # (N,4,6,6)
        nn.Conv2d(4, 6, 3, rng=g, dtype=dtype), nn.ReLU(), nn.Flatten(),               # (N,96)
        nn.Linear(96, 10, rng=g, dtype=dtype), nn.ReLU(),
        nn.Linear(10, 5, rng=g, dtype=dtype))


def batch(dtype, seed=1, n=8):
    g = np.random.default_rng(seed)
    return g.standard_normal((n, 1, 12, 12)).astype(dtype), g.integers(0, 5, n)


def our_step(model, opt, x, y):
    logits = model(x)
    _, c = cb.functional.cross_entropy_forward(logits, y)
    model.backward(cb.functional.cross_entropy_backward(1.0, c), input_grad=False)
    opt.step()
    opt.zero_grad()


def torch_step(twin, opt, x, y):
    loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()


OPTIMIZERS = {
    "sgd": (lambda p: cb.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2)),
    "adamw": (lambda p: cb.optim.AdamW(p, lr=1e-2, weight_decay=1e-1),
              lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-1)),
    "adam": (lambda p: cb.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
             lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2)),
    "rmsprop": (lambda p: cb.optim.RMSprop(p, lr=1e-2, weight_decay=1e-2, momentum=0.5),
                lambda p: torch.optim.RMSprop(p, lr=1e-2, weight_decay=1e-2, momentum=0.5)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_frozen_convs_match_torch(opt_name, dtype):
    model = small_net(dtype)
    twin = model.to_torch()
    for i in (0, 3):                                     # freeze both convolutions, both sides
        assert model[i].requires_grad_(False) is model[i]
        twin[i].requires_grad_(False)
    before = model.state_dict()
    make_ours, make_torch = OPTIMIZERS[opt_name]
    opt, topt = make_ours(model.parameters()), make_torch(twin.parameters())
    for step in range(2):                                # two steps: momentum / moments used
        x, y = batch(dtype, seed=step + 1)
        our_step(model, opt, x, y)
        torch_step(twin, topt, x, y)
    after, t_after = model.state_dict(), twin.state_dict()
    for k in after:
        if k.startswith(("0.", "3.")):
            assert np.array_equal(after[k], before[k]), k          # bit for bit unchanged
        else:
            assert not np.array_equal(after[k], before[k]), k
            np.testing.assert_allclose(after[k], t_after[k].numpy(), **TOL[dtype], err_msg=k)
    frozen = [p for i in (0, 3) for p in model[i].parameters()]
    for p, st in zip(opt.params, opt.state):
        if any(p is f for f in frozen):
            assert st == {}                               # no state for a frozen parameter
            assert not p.grad.any()


def test_frozen_grads_stay_zero_and_others_match_torch():
    model = small_net()
    model[0].requires_grad_(False)
    twin = model.to_torch()
    twin[0].requires_grad_(False)
    x, y = batch(np.float64)
    g = np.random.default_rng(5).standard_normal((8, 5))
    model(x)
    model.backward(g, input_grad=False)
    assert all(not p.grad.any() for p in model[0].parameters())
    t_out = twin(torch.from_numpy(x))
    t_out.backward(torch.from_numpy(g))
    for (name, p), (tname, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert name == tname
        if name.startswith("0."):
            assert tp.grad is None
        else:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("frozen", [3, 6], ids=["conv", "linear"])
def test_gradient_flows_through_a_frozen_middle_layer(frozen):
    """A frozen layer passes dx back exactly: earlier trainable layers and the input see the
    same gradient as in PyTorch."""
    model = small_net()
    model[frozen].requires_grad_(False)
    twin = model.to_torch()
    twin[frozen].requires_grad_(False)
    x, _ = batch(np.float64)
    g = np.random.default_rng(7).standard_normal((8, 5))
    model(x)
    dx = model.backward(g)
    tx = torch.from_numpy(x).requires_grad_(True)
    twin(tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (name, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        if name.startswith(f"{frozen}."):
            assert not p.grad.any() and tp.grad is None
        else:
            assert p.grad.any()
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


def test_frozen_bias_only():
    """Freezing one parameter of a layer leaves the other's gradient exact."""
    model = small_net()
    model[6].bias.requires_grad = False
    model[8].weight.requires_grad_(False)
    twin = model.to_torch()
    twin[6].bias.requires_grad_(False)
    twin[8].weight.requires_grad_(False)
    x, _ = batch(np.float64)
    g = np.random.default_rng(3).standard_normal((8, 5))
    model(x)
    model.backward(g, input_grad=False)
    twin(torch.from_numpy(x)).backward(torch.from_numpy(g))
    for (name, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        if name in ("6.bias", "8.weight"):
            assert not p.grad.any() and tp.grad is None
        else:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


def test_backward_stops_below_the_lowest_trainable_layer(monkeypatch):
    """With everything but the head frozen, backward(input_grad=False) never enters the frozen
    layers (as autograd stops where no leaf needs a gradient); fully frozen, it does nothing.
    Without frozen layers every layer is visited, as before."""
    model = small_net()
    model[:-1].requires_grad_(False)
    calls = []
    for i, layer in enumerate(model):
        orig = layer.backward
        monkeypatch.setattr(layer, "backward",
                            lambda d, input_grad=True, _o=orig, _i=i: calls.append(_i) or _o(d, input_grad))
    x, _ = batch(np.float64)
    model(x)
    g = np.random.default_rng(0).standard_normal((8, 5))
    assert model.backward(g, input_grad=False).shape == (8, 10)   # the ReLU's dx, cheap
    assert calls == [8, 7]                   # never into the frozen Linear(96, 10) or below
    twin = model.to_torch()
    twin[:-1].requires_grad_(False)
    twin(torch.from_numpy(x)).backward(torch.from_numpy(g))
    np.testing.assert_allclose(model[8].weight.grad, twin[8].weight.grad.numpy(), rtol=1e-12)
    calls.clear()
    model.requires_grad_(False)
    model(x)
    assert model.backward(g, input_grad=False) is None and calls == []
    model(x)
    assert model.backward(g).shape == x.shape and calls == list(range(8, -1, -1))
    calls.clear()
    model.requires_grad_(True)
    model(x)
    assert model.backward(g, input_grad=False) is None and calls == list(range(8, -1, -1))


def test_requires_grad_api():
    model = small_net()
    assert all(p.requires_grad for p in model.parameters())
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    assert model.requires_grad_() is model and all(p.requires_grad for p in model.parameters())
    p = nn.Parameter(np.zeros(3), requires_grad=False)
    assert p.requires_grad is False and "requires_grad=False" in repr(p)
    assert p.requires_grad_(True) is p and p.requires_grad
    with pytest.raises(TypeError, match=r"requires_grad_.*must be True or False.*'no'"):
        model.requires_grad_("no")
    with pytest.raises(TypeError, match="Parameter.requires_grad must be True or False"):
        p.requires_grad = 0


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_optimizers_skip_frozen_even_with_a_gradient(opt_name):
    """A frozen parameter is left alone even if something wrote a gradient into it: no step, no
    weight decay, no state; unfreezing it starts its state afresh."""
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3), requires_grad=False)
    opt = OPTIMIZERS[opt_name][0]([a, b])
    a.grad[:] = 0.5
    b.grad[:] = 0.5
    opt.step()
    assert np.array_equal(b.data, np.ones(3)) and opt.state[1] == {}
    assert not np.array_equal(a.data, np.ones(3))
    b.requires_grad = True
    b.grad[:] = 0.5
    opt.step()
    assert not np.array_equal(b.data, np.ones(3))


def test_replace_head_by_index_and_by_name():
    model = small_net()
    model[-1] = nn.Linear(10, 3, rng=1, dtype=np.float64)
    assert model(batch(np.float64)[0]).shape == (8, 3)
    sd = model.state_dict()
    assert sd["8.weight"].shape == (3, 10) and sd["8.bias"].shape == (3,)
    assert [n for n, _ in model.named_parameters()] == list(sd)
    assert model.parameters()[-2] is model[8].weight
    twin = model.to_torch()
    x = batch(np.float64)[0]
    np.testing.assert_allclose(model(x), twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    with pytest.raises(TypeError, match=r"Sequential.__setitem__: the new layer is a Linear, "
                                        r"not a cnnbook.nn Module"):
        model[-1] = torch.nn.Linear(10, 3)
    with pytest.raises(IndexError, match="index 9 is out of range for 9 layers"):
        model[9] = nn.ReLU()

    named = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Flatten()), fc=nn.Linear(4, 2)))
    named.fc = nn.Linear(4, 7)
    assert named["fc"] is named.fc and named.state_dict()["fc.weight"].shape == (7, 4)
    named["fc"] = nn.Linear(4, 6)
    assert named.fc.out_features == 6 and len(named) == 2
    with pytest.raises(KeyError, match="no layer named 'head'"):
        named["head"] = nn.Linear(4, 6)
    named.note = "an attribute that is not a layer"          # ordinary attributes still work
    assert named.note.startswith("an") and len(named) == 2


def test_resnet18_fc_replacement():
    model = cb.models.resnet18(width=0.125, rng=0)
    keys_before = list(model.state_dict())
    model.fc = nn.Linear(model.fc.in_features, 5, rng=1)
    assert list(model.state_dict()) == keys_before
    assert model.state_dict()["fc.weight"].shape == (5, model.fc.in_features)
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    model = nn.Sequential(nn.Conv2d(1, 3, 3, rng=0, dtype=dtype), nn.BatchNorm2d(3, dtype=dtype),
                          nn.ReLU(), nn.Flatten(), nn.Linear(3 * 10 * 10, 4, rng=0, dtype=dtype))
    x = np.random.default_rng(0).standard_normal((5, 1, 12, 12)).astype(dtype)
    model(x)                                            # update the running statistics
    model.eval()
    path = tmp_path / "model.npz"
    nn.save(model.state_dict(), path)
    loaded = nn.load(path)
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded[k].dtype == v.dtype and np.array_equal(loaded[k], v), k
    assert loaded["1.num_batches_tracked"] == 1
    fresh = nn.Sequential(nn.Conv2d(1, 3, 3, rng=9, dtype=dtype), nn.BatchNorm2d(3, dtype=dtype),
                          nn.ReLU(), nn.Flatten(), nn.Linear(3 * 10 * 10, 4, rng=9, dtype=dtype))
    assert fresh.load_state_dict(loaded) == ([], [])        # (missing_keys, unexpected_keys)
    fresh.eval()
    assert np.array_equal(fresh(x), model(x))
    nn.save(model.to_torch().state_dict(), tmp_path / "twin.npz")     # torch tensors convert
    assert all(np.array_equal(a, b) for a, b in
               zip(nn.load(tmp_path / "twin.npz").values(), model.state_dict().values()))


def test_load_errors_through_npz(tmp_path):
    lenet = cb.models.lenet5(num_classes=10, rng=0)
    path = str(tmp_path / "lenet.npz")
    nn.save(lenet.state_dict(), path)
    five = cb.models.lenet5(num_classes=5, rng=0)
    with pytest.raises(ValueError, match=r"load_state_dict: 11.weight has shape \(5, 84\) here but "
                                         r"\(10, 84\) in the state_dict.*replace the head"):
        five.load_state_dict(nn.load(path))
    sd = nn.load(path)
    del sd["0.bias"]
    sd["extra.weight"] = np.zeros(2)
    nn.save(sd, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"keys do not match: missing \['0.bias'\], unexpected "
                                         r"\['extra.weight'\].*strict=False"):
        lenet.load_state_dict(nn.load(tmp_path / "bad.npz"))
    keys = lenet.load_state_dict(nn.load(tmp_path / "bad.npz"), strict=False)   # PyTorch's tuple
    assert keys.missing_keys == ["0.bias"] and keys.unexpected_keys == ["extra.weight"]
    # the recipe the error suggests: load into the saved architecture, then replace the head
    lenet2 = cb.models.lenet5(num_classes=10, rng=1)
    lenet2.load_state_dict(nn.load(path))
    lenet2[-1] = nn.Linear(84, 5)
    assert lenet2(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 5)


def test_save_load_bad_input(tmp_path):
    with pytest.raises(TypeError, match="save: expected a state_dict.*not the model"):
        nn.save(small_net(), tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"save: path .*m\.pt' must end in \.npz"):
        nn.save(small_net().state_dict(), tmp_path / "m.pt")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"load: .* holds a single array of shape \(3,\)"):
        nn.load(tmp_path / "one.npy")
    np.savez(tmp_path / "pickled.npz", a=np.array([{"code": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        nn.load(tmp_path / "pickled.npz")


def test_resnet18_twin_has_torchvision_keys_and_torch_save_round_trip(tmp_path):
    """The twin of a ResNet block is named as torchvision's (conv1, bn1, ..., downsample), so a
    torchvision state_dict saved with torch.save loads straight into cb.models.resnet18."""
    model = cb.models.resnet18(num_classes=7, width=0.125, rng=0, dtype=np.float64)
    twin = model.to_torch()
    assert list(twin.state_dict()) == list(model.state_dict())
    assert "layer2.0.downsample.0.weight" in twin.state_dict()
    torch.save(twin.state_dict(), tmp_path / "resnet18.pt")
    fresh = cb.models.resnet18(num_classes=7, width=0.125, rng=5, dtype=np.float64)
    fresh.load_state_dict(torch.load(tmp_path / "resnet18.pt", weights_only=True))
    x = np.random.default_rng(0).random((2, 3, 40, 40))
    fresh.eval()
    twin.eval()
    np.testing.assert_allclose(fresh(x), twin(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal((2, 7))
    fresh.train()
    twin.train()
    xt = torch.from_numpy(x).requires_grad_(True)
    twin(xt).backward(torch.from_numpy(g))
    fresh(x)
    dx = fresh.backward(g)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (n, p), (tn, tp) in zip(fresh.named_parameters(), twin.named_parameters()):
        assert n == tn
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=n)
