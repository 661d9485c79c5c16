"""cnnbook.explain: Grad-CAM and CAM — known answers, the model left as it was, the PyTorch twin
with hooks in float64, and the errors."""
from collections import OrderedDict

import numpy as np
import pytest

import cnnbook as cb
from cnnbook.explain import cam, grad_cam


def small_resnet(seed=0, dtype=np.float64, gap=True):
    """conv -> BN -> ReLU -> BasicBlock (stride 2, projection) -> GAP -> Linear (or a
    max-pool + fully connected head when not `gap`)."""
    g, nn = np.random.default_rng(seed), cb.nn
    proj = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False, rng=g, dtype=dtype),
                         nn.BatchNorm2d(6, dtype=dtype))
    head = (OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(),
                        fc=nn.Linear(6, 5, rng=g, dtype=dtype)) if gap else
            OrderedDict(pool=nn.MaxPool2d(2), flatten=nn.Flatten(),
                        fc=nn.Linear(6 * 4, 5, rng=g, dtype=dtype)))
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 4, 3, padding=1, bias=False, rng=g, dtype=dtype),
        bn1=nn.BatchNorm2d(4, dtype=dtype), relu=nn.ReLU(),
        layer1=cb.models.BasicBlock(4, 6, 2, proj, g, np.dtype(dtype)), **head))
    for m in net.modules():                  # running statistics that are not 0 and 1
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = g.normal(0, 0.1, m.running_mean.shape).astype(dtype)
            m.running_var = g.uniform(0.5, 1.5, m.running_var.shape).astype(dtype)
            m.weight.data = g.uniform(0.5, 1.5, m.weight.shape).astype(dtype)
    return net.eval()


def images(n=3, size=10, seed=1):
    return np.random.default_rng(seed).random((n, 1, size, size))


def torch_grad_cam(net, x, name, classes):
    """The same computation on the PyTorch twin: a forward hook keeps the layer's output,
    autograd gives its gradient."""
    import torch
    twin = net.to_torch()
    layer = dict(twin.named_modules())[name]
    kept = []
    handle = layer.register_forward_hook(lambda m, i, out: kept.append(out))
    try:
        logits = twin(torch.from_numpy(x))
    finally:
        handle.remove()
    score = logits[torch.arange(len(classes)), torch.from_numpy(classes)].sum()
    (A,) = kept
    (dA,) = torch.autograd.grad(score, A)
    alpha = dA.mean(dim=(2, 3), keepdim=True)
    maps = torch.relu((alpha * A).sum(dim=1, keepdim=True))
    up = torch.nn.functional.interpolate(maps, size=x.shape[2:], mode="bilinear",
                                         align_corners=False)
    return up[:, 0].detach().numpy(), logits.detach().numpy()


@pytest.mark.parametrize("name", ["layer1", "layer1.conv2", "layer1.bn2", "relu", "conv1"])
@pytest.mark.parametrize("gap", [True, False], ids=["gap-head", "fc-head"])
def test_grad_cam_matches_torch_twin(name, gap):
    pytest.importorskip("torch")
    net, x = small_resnet(gap=gap), images()
    classes = np.array([0, 3, 4])
    ours = grad_cam(net, x, name, class_idx=classes)
    theirs, _ = torch_grad_cam(net, x, name, classes)
    assert ours.shape == (3, 10, 10)
    assert np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_grad_cam_default_class_is_the_prediction_and_module_equals_name():
    pytest.importorskip("torch")
    net, x = small_resnet(), images(4)
    pred = net(x).argmax(1)
    theirs, logits = torch_grad_cam(net, x, "layer1", pred)
    assert np.array_equal(logits.argmax(1), pred)
    by_module = grad_cam(net, x, net.layer1)
    np.testing.assert_allclose(by_module, theirs, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(grad_cam(net, x, "layer1"), by_module)
    one = grad_cam(net, x, "layer1", class_idx=2)
    np.testing.assert_array_equal(one, grad_cam(net, x, "layer1", class_idx=np.full(4, 2)))


def test_cam_is_the_logit_spread_over_the_map_and_grad_cam_its_positive_part():
    net, x = small_resnet(), images(3, size=12)
    logits = net(x)
    c = np.array([1, 1, 4])
    # at the feature map's own size: mean of the CAM plus the bias is the logit
    maps = cam(net, x, "layer1", class_idx=c)
    assert maps.shape == (3, 12, 12)
    A = net.layer1(net.relu(net.bn1(net.conv1(x))))                  # (3, 6, 6, 6)
    raw = np.einsum("nk,nkij->nij", net.fc.weight.data[c], A)
    np.testing.assert_allclose(raw.mean(axis=(1, 2)) + net.fc.bias.data[c],
                               logits[np.arange(3), c], rtol=1e-12)
    up = cb.spatial.interpolate(raw[:, None], size=(12, 12), mode="bilinear")[:, 0]
    np.testing.assert_allclose(maps, up, rtol=0, atol=1e-12)
    assert (maps < 0).any() and (maps > 0).any()        # CAM keeps its sign
    # after global average pooling, dy_c/dA_k[i, j] = w_ck / (h w) everywhere: Grad-CAM is
    # ReLU(CAM) / (h w) on the 6x6 maps, taken before the upsampling (which does not commute
    # with the ReLU)
    x6 = images(3, size=12, seed=5)
    g = grad_cam(net, x6, "layer1", class_idx=c)
    m = cam(net, x6, "layer1", class_idx=c)
    A6 = net.layer1(net.relu(net.bn1(net.conv1(x6))))
    raw6 = np.einsum("nk,nkij->nij", net.fc.weight.data[c], A6)
    expect = cb.spatial.interpolate(np.maximum(raw6, 0)[:, None] / 36, size=(12, 12),
                                    mode="bilinear")[:, 0]
    np.testing.assert_allclose(g, expect, rtol=0, atol=1e-12)
    assert not np.allclose(g, np.maximum(m, 0) / 36)    # ReLU before upsampling, not after


def test_cam_refuses_a_head_that_is_not_global_average_pooling():
    net, x = small_resnet(gap=False), images()
    with pytest.raises(ValueError, match="cam: fc's weight has shape"):
        cam(net, x, "layer1")
    net = small_resnet()
    with pytest.raises(ValueError, match="not global average pooling"):
        cam(net, x, "layer1.conv2")               # maps before bn2, the residual and the ReLU


def test_the_model_comes_back_as_it_was():
    net, x = small_resnet(), images()
    x0 = x.copy()
    for p in net.parameters():
        p.grad = np.random.default_rng(3).normal(size=p.shape)
    before = [(p.grad, p.grad.copy()) for p in net.parameters()]
    pending = net(images(2))                            # a forward waiting for its backward
    caches = [(m, m.__dict__.get("_cache")) for m in net.modules()]
    state = net.state_dict()
    grad_cam(net, x, "layer1.conv1")
    cam(net, x, "layer1")
    assert np.array_equal(x, x0)
    for (p, (obj, values)) in zip(net.parameters(), before):
        assert p.grad is obj and np.array_equal(p.grad, values)
    for m, c in caches:
        assert m.__dict__.get("_cache") is c
    assert all("forward" not in m.__dict__ and "backward" not in m.__dict__
               for m in net.modules())
    assert all(np.array_equal(v, state[k]) for k, v in net.state_dict().items())
    assert not net.training and not net.layer1.training
    net.backward(np.ones_like(pending))                 # the pending backward still works


def test_errors_name_the_problem():
    net, x = small_resnet(), images()
    with pytest.raises(ValueError, match=r"grad_cam: target_layer='layer2' is not a layer.*"
                                         r"'layer1'"):
        grad_cam(net, x, "layer2")
    with pytest.raises(ValueError, match="is not a layer of this model"):
        grad_cam(net, x, cb.nn.Conv2d(1, 4, 3))
    with pytest.raises(ValueError, match="whole model"):
        grad_cam(net, x, net)
    with pytest.raises(TypeError, match="target_layer must be"):
        grad_cam(net, x, 3)
    with pytest.raises(ValueError, match="not feature maps"):
        grad_cam(net, x, "fc")
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\)"):
        grad_cam(net, x[0], "layer1")
    with pytest.raises(TypeError, match="float32 or float64"):
        grad_cam(net, (x * 255).astype(np.uint8), "layer1")
    with pytest.raises(ValueError, match="class_idx 5 is out of range for 5 classes"):
        grad_cam(net, x, "layer1", class_idx=5)
    with pytest.raises(ValueError, match="3 integer class indices"):
        grad_cam(net, x, "layer1", class_idx=np.array([0, 1]))
    with pytest.raises(TypeError, match="model must be a cnnbook.nn Module"):
        cam(lambda v: v, x, "layer1")
    reused = cb.nn.ReLU()
    twice = cb.nn.Sequential(cb.nn.Conv2d(1, 2, 3, rng=0, dtype=np.float64), reused,
                             cb.nn.Conv2d(2, 2, 3, rng=0, dtype=np.float64), reused,
                             cb.nn.AdaptiveAvgPool2d(1), cb.nn.Flatten(),
                             cb.nn.Linear(2, 3, rng=0, dtype=np.float64))
    with pytest.raises(ValueError, match="is called 2 times"):
        grad_cam(twice, x, reused)
    # nothing is left on the layers after an error
    assert all("forward" not in m.__dict__ for m in twice.modules())
    assert all("forward" not in m.__dict__ for m in net.modules())
