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
    model = nn.LeNet5("tanh", "avg", seed=0).astype(np.float64)
    features = model[:6]
    rf = A.receptive_field(features)
    assert rf == (16, 4, 2)
    assert A.receptive_field(features.to_torch()) == rf
    x = np.random.default_rng(0).random((1, 1, 28, 28))
    out = features(x)                                     # (1, 16, 5, 5)
    for i, j in [(0, 0), (2, 3), (4, 4)]:
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
