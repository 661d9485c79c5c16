"""Output sizes, receptive fields (checked by a gradient probe), parameter and FLOP counts."""
import numpy as np
import pytest

from cnnbook import arithmetic as A
from cnnbook import nn


@pytest.mark.parametrize("args,want", [
    ((288, 4, 2), 143), ((32, 5), 28), ((28, 5, 1, 2), 28), ((28, 2, 2), 14),
    ((7, 3, 2, 1, 2), 3), (((32, 28), 5), (28, 24)), ((28, (3, 5), (1, 2)), (26, 12)),
], ids=["288-k4-s2", "32-k5", "28-k5-p2", "28-k2-s2", "7-k3-s2-p1-d2", "pair-n", "pair-k-s"])
def test_conv_output_size_known_answers(args, want):
    assert A.conv_output_size(*args) == want


def test_conv_output_size_matches_torch():
    torch = pytest.importorskip("torch")
    for n, k, s, p, d in [(11, 3, 2, 1, 1), (10, 4, 3, 0, 2), (9, 2, 5, 1, 1), (6, 3, 1, 2, 3)]:
        out = torch.nn.functional.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k),
                                         stride=s, padding=p, dilation=d)
        assert A.conv_output_size(n, k, s, p, d) == out.shape[-1]


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match=r"effective size 9 .* \(5 \+ 2\*0 = 5\)"):
        A.conv_output_size(5, 3, dilation=4)
    with pytest.raises(ValueError, match="stride=1 for no striding"):
        A.conv_output_size(5, 3, stride=0)
    with pytest.raises(TypeError, match="kernel_size"):
        A.conv_output_size(5, 2.5)


def test_receptive_field_of_dilated_stack():
    rf = A.receptive_field([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)])
    assert rf == (15, 1, 7)
    dicts = [dict(kernel_size=3, padding=d, dilation=d) for d in (1, 2, 4)]
    assert A.receptive_field(dicts) == rf
    table = A.receptive_field_table(dicts)
    assert [r.size for r in table.rows] == [3, 7, 15]
    assert "rf size" in str(table) and "<table>" in table._repr_html_()


def test_receptive_field_closed_forms():
    # two 3x3 stride-2 convolutions: r = 1 + 2 + 2*2 = 7, S = 4, P = 1 + 2 = 3
    assert A.receptive_field([(3, 2, 1), (3, 2, 1)]) == (7, 4, 3)
    assert A.receptive_field([(3, 1), (3, 1)]).size == 5
    assert A.receptive_field([((3, 1), 1)]) == ((3, 1), 1, 0)
    assert A.receptive_field_of([(3, 2, 1), (3, 2, 1)], 2) == (5, 11)


def test_lenet_receptive_field_matches_gradient_probe():
    pytest.importorskip("torch")                     # also reads the PyTorch twin
    model = nn.LeNet5("tanh", "avg", seed=0).astype(np.float64)
    features = model[:6]
    rf = A.receptive_field(features)
    assert rf == (16, 4, 2)
    assert A.receptive_field(features.to_torch()) == rf
    x = np.random.default_rng(0).random((1, 1, 28, 28))
    for i, j in [(0, 0), (2, 3), (4, 4)]:
        out = features(x)                                 # (1, 16, 5, 5); one backward each
        dout = np.zeros_like(out)
        dout[0, 5, i, j] = 1.0
        dx = features.backward(dout)[0, 0]
        rows = np.flatnonzero(np.abs(dx).sum(1) > 0)
        cols = np.flatnonzero(np.abs(dx).sum(0) > 0)
        (r0, r1), (c0, c1) = A.receptive_field_of(features, (i, j))
        assert (rows.min(), rows.max()) == (max(r0, 0), min(r1, 27))
        assert (cols.min(), cols.max()) == (max(c0, 0), min(c1, 27))
    with pytest.raises(ValueError, match="fully connected"):
        A.receptive_field(model)


def test_counts_and_summary_of_lenet():
    model = nn.LeNet5()
    assert A.count_parameters(model) == 61_706
    flops = A.count_flops(model, (1, 28, 28))
    # conv1 6*28*28*25 + conv2 16*10*10*150 + fc 400*120 + 120*84 + 84*10
    want = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert flops == (want, 2 * want)
    assert A.count_flops(model, (8, 1, 28, 28)).macs == 8 * want
    s = A.summary(model, (1, 1, 28, 28))
    assert [r.output_shape for r in s.rows][:3] == [(1, 6, 28, 28), (1, 6, 28, 28), (1, 6, 14, 14)]
    assert s.rows[-1].output_shape == (1, 10)
    assert sum(r.params for r in s.rows) == s.total_params == 61_706
    assert "61,706" in str(s) and "61,706" in s._repr_html_()
    with pytest.raises(ValueError, match="C_in=1"):
        A.summary(model, (3, 28, 28))


def test_counts_of_torch_modules():
    torch = pytest.importorskip("torch")
    twin = nn.LeNet5().to_torch()
    assert A.count_parameters(twin) == 61_706
    assert A.count_flops(twin, (1, 1, 28, 28)) == A.count_flops(nn.LeNet5(), (1, 1, 28, 28))
    conv = torch.nn.Conv2d(4, 8, 3, groups=2)
    assert A.count_flops(conv, (1, 4, 5, 5)).macs == 8 * 3 * 3 * 2 * 9


# ------------------------------------------------------------------ whole architectures
def test_flops_of_models_at_224_match_torchvisions_table():
    """torchvision's model table lists these GFLOPS (multiply-adds, in fact) at 224x224."""
    from cnnbook import models as M
    want = {"alexnet": 0.71, "vgg11": 7.61, "googlenet": 1.50, "resnet18": 1.81,
            "resnet34": 3.66, "resnet50": 4.09, "densenet121": 2.83}
    for name, g in want.items():
        model = M.MODELS[name](init="zeros")      # shapes only: no random draws
        assert round(A.count_flops(model, (1, 3, 224, 224)).macs / 1e9, 2) == g, name
    assert A.count_flops(M.vgg16(init="zeros"), (1, 3, 224, 224)).macs == 15_470_264_320
    assert A.count_parameters(M.vgg16(init="zeros")) == 138_357_544


def _conv_macs_from_a_forward_pass(model, x):
    """Multiply-adds read off the caches of a real forward pass (independent of the walker)."""
    model(x)
    total = 0
    for _, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            c = m._cache
            total += int(np.prod(c.out_shape)) * m.weight.data[0].size
        elif isinstance(m, nn.Linear):
            total += m._cache.x.shape[0] * m.weight.data.size
    return total


@pytest.mark.parametrize("name,kw,shape", [
    ("resnet18", dict(width=0.125), (2, 3, 64, 64)),
    ("resnet50", dict(width=0.125, stride_in_1x1=True), (1, 3, 64, 48)),
    ("googlenet", dict(width=0.125), (1, 3, 64, 64)),
    ("densenet121", dict(width=0.25, block_config=(2, 3, 2, 2)), (1, 3, 64, 64)),
    ("alexnet", dict(width=0.125, variant="paper"), (1, 3, 96, 96)),
    ("zfnet", dict(width=0.125), (1, 3, 96, 96)),
    ("nin", dict(width=0.125), (1, 3, 96, 96)),
])
def test_flops_and_shapes_agree_with_a_forward_pass(name, kw, shape):
    from cnnbook import models as M
    model = M.MODELS[name](num_classes=10, **kw).eval()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    want = _conv_macs_from_a_forward_pass(model, x)
    assert A.count_flops(model, shape).macs == want
    s = A.summary(model, shape)
    assert s.rows[-1].output_shape == model(x).shape == (shape[0], 10)
    assert s.total_params == A.count_parameters(model)


def test_alexnet_first_layer_and_vgg16_activation_memory():
    from cnnbook import models as M
    # conv1 of AlexNet: 64 kernels of 3*11*11 on a 55x55 map
    a = A.summary(M.alexnet(init="zeros"), (1, 3, 224, 224))
    assert a.rows[0].output_shape == (1, 64, 55, 55)
    assert a.rows[0].macs == 55 * 55 * 64 * 3 * 11 * 11
    # VGG-16, one image: 2 * 224*224*64 + 112*112*64 + 2 * 112*112*128 + ... (CS231n's tally)
    sizes = [3 * 224 * 224] + [224 * 224 * 64] * 2 + [112 * 112 * 64] + [112 * 112 * 128] * 2 \
        + [56 * 56 * 128] + [56 * 56 * 256] * 3 + [28 * 28 * 256] + [28 * 28 * 512] * 3 \
        + [14 * 14 * 512] + [14 * 14 * 512] * 3 + [7 * 7 * 512] * 2 + [4096, 4096, 1000]
    m = A.memory(M.vgg16(init="zeros"), (1, 3, 224, 224))
    assert m.activations == 4 * sum(sizes)        # the 7x7 adaptive pool is the one extra map


def test_memory_of_a_small_network_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    m = A.memory(model, (1, 1, 8, 8), optimizer="adam")
    # input 64 + conv 256 + pool 64 + linear 10 (ReLU in place, Flatten a view)
    assert m.activations == (64 + 256 + 64 + 10) * 4
    assert m.inference_peak == (256 + 256) * 4                    # the ReLU's input and output
    n = A.count_parameters(model)
    assert (m.parameters, m.gradients, m.optimizer_state) == (4 * n, 4 * n, 8 * n)
    assert m.training == m.activations + 16 * n
    with pytest.raises(ValueError, match="optimizer must be one of"):
        A.memory(model, (1, 1, 8, 8), optimizer="lbfgs")


def test_memory_counts_branches():
    block = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()))
    m = A.memory(block, (1, 2, 4, 4), dtype=np.float64)
    # input 32 + conv 32 + add 32; while the body runs the fork still holds the input
    assert m.activations == 3 * 32 * 8
    assert m.inference_peak == 3 * 32 * 8
    cat = nn.Concat(nn.Identity(), nn.Conv2d(2, 3, 1))
    rows = A.summary(cat, (1, 2, 4, 4)).rows
    assert rows[-1].layer == "cat" and rows[-1].output_shape == (1, 5, 4, 4)
    with pytest.raises(ValueError, match="cannot be added"):
        A.count_flops(nn.Residual(nn.Conv2d(2, 3, 1)), (1, 2, 4, 4))
