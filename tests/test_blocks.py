"""cnnbook.blocks (ReLU6, stochastic depth, squeeze-and-excitation, LayerNorm2d, Permute):
known answers, float64 finite differences and PyTorch with a random upstream gradient."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook import blocks as B
from cnnbook import nn
from cnnbook.gradcheck import check_gradients

from conftest import assert_matches_torch


def _module_pair(make, names):
    """(forward, backward) over (x, *parameters) for a layer built by make(): the parameters
    set from the arrays, the gradients read back (for gradcheck and the torch comparison)."""
    def forward(x, *params):
        m = make()
        for n, v in zip(names, params):
            p = m
            for part in n.split("."):
                p = getattr(p, part)
            p.data = np.array(v, dtype=np.float64)
        m.astype(np.float64)
        m.zero_grad()
        return m(x), m

    def backward(dout, m):
        dx = m.backward(dout)
        grads = dict(m.named_parameters())
        return (dx,) + tuple(grads[n].grad for n in names)
    return forward, backward


# --------------------------------------------------------------------------- ReLU6
def test_relu6_known_answers_and_subgradient():
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.5])
    out, c = B.relu6_forward(x)
    assert out.tolist() == [0.0, 0.0, 3.0, 6.0, 6.0]
    assert B.relu6_backward(np.ones(5), c).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert nn.ReLU6()(x.reshape(1, 5)).tolist() == [[0.0, 0.0, 3.0, 6.0, 6.0]]


def test_relu6_gradcheck_and_torch(rng):
    x = 5 * rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] += 0.1                 # keep finite differences off the kinks
    x[np.abs(x - 6) < 1e-3] += 0.1
    assert check_gradients(B.relu6_forward, B.relu6_backward, [x])["d0"] < 1e-6
    import torch
    assert_matches_torch(B.relu6_forward, B.relu6_backward, torch.nn.functional.relu6, [x],
                         names=("dx",))


# --------------------------------------------------------------------------- stochastic depth
def test_stochastic_depth_known_answers():
    x = np.arange(24.0).reshape(6, 4) + 1
    assert np.array_equal(B.stochastic_depth(x, 0.7, "row", training=False), x)
    assert np.array_equal(B.stochastic_depth(x, 0.0, "row"), x)
    assert not np.any(B.stochastic_depth(x, 1.0, "row", rng=0))        # p=1: all dropped
    out = B.stochastic_depth(x, 0.5, "row", rng=1)
    rows = out / x                                                     # 0 or 2 per example
    assert set(np.unique(rows)) <= {0.0, 2.0} and len(np.unique(rows)) == 2
    assert all(len(np.unique(r)) == 1 for r in rows)                   # whole examples
    out = B.stochastic_depth(x, 0.5, "batch", rng=1)
    assert len(np.unique(out / x)) == 1                                # the whole batch
    x_copy = x.copy()
    B.stochastic_depth(x, 0.5, "row", rng=1)
    assert np.array_equal(x, x_copy)                                   # input untouched


def test_stochastic_depth_drops_a_fraction_p_and_keeps_the_mean():
    x = np.ones((20000, 1))
    out = B.stochastic_depth(x, 0.3, "row", rng=0)
    assert abs(np.mean(out == 0) - 0.3) < 0.02
    assert abs(out.mean() - 1.0) < 0.03                                 # scaled by 1/(1-p)


def test_stochastic_depth_gradcheck_and_torch_same_drops(rng):
    x = rng.standard_normal((8, 3, 2, 2))
    fwd = lambda v: B.stochastic_depth_forward(v, 0.4, "row", True, np.random.default_rng(5))  # noqa: E731
    assert check_gradients(fwd, B.stochastic_depth_backward, [x])["d0"] < 1e-6
    mask = fwd(np.ones_like(x))[1].mask
    import torch
    assert_matches_torch(fwd, B.stochastic_depth_backward,
                         lambda t: t * torch.from_numpy(mask).to(t.dtype), [x], names=("dx",))


def test_stochastic_depth_layer_and_errors():
    sd = nn.StochasticDepth(0.5, "row", rng=0)
    x = np.ones((4, 2))
    assert np.array_equal(sd.eval()(x), x)
    with pytest.raises(ValueError, match="p"):
        B.stochastic_depth(x, 1.5, "row")
    with pytest.raises(ValueError, match="mode"):
        nn.StochasticDepth(0.1, "column")
    with pytest.raises(TypeError, match="mode"):
        B.stochastic_depth(x, 0.1, 3)
    with pytest.raises(TypeError, match="training"):
        B.stochastic_depth(x, 0.1, "row", training="yes")


# --------------------------------------------------------------------------- squeeze-excitation
SE_NAMES = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def test_squeeze_excitation_known_answers():
    se = nn.SqueezeExcitation(4, 2, rng=0)
    for p in se.parameters():
        p.data[...] = 0                     # fc2 gives 0, the sigmoid 1/2: every weight 0.5
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert np.allclose(se(x), 0.5 * x)
    assert se.last_scale.shape == (2, 4, 1, 1)
    se.fc2.bias.data[:] = [0, 100, -100, 0]               # channel 1 kept, channel 2 removed
    out = se(x)
    assert np.allclose(out[:, 1], x[:, 1]) and np.allclose(out[:, 2], 0, atol=1e-30)
    assert list(se.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in se.named_children()] == ["avgpool", "fc1", "fc2", "activation",
                                                   "scale_activation"]


@pytest.mark.parametrize("act", [nn.ReLU, nn.SiLU], ids=["relu", "silu"])
def test_squeeze_excitation_gradcheck_and_torch(act, rng):
    make = lambda: nn.SqueezeExcitation(5, 3, activation=act, rng=0)    # noqa: E731
    fwd, bwd = _module_pair(make, SE_NAMES)
    arrays = [rng.standard_normal((2, 5, 4, 3)), rng.standard_normal((3, 5, 1, 1)),
              rng.standard_normal(3), rng.standard_normal((5, 3, 1, 1)), rng.standard_normal(5)]
    errs = check_gradients(fwd, bwd, arrays, names=("dx",) + SE_NAMES)
    assert max(errs.values()) < 1e-6, errs
    import torch
    TF = torch.nn.functional
    tact = TF.relu if act is nn.ReLU else TF.silu

    def torch_se(x, w1, b1, w2, b2):
        s = torch.sigmoid(TF.conv2d(tact(TF.conv2d(x.mean((2, 3), keepdim=True), w1, b1)), w2, b2))
        return x * s
    assert_matches_torch(fwd, bwd, torch_se, arrays, names=("dx",) + SE_NAMES)


def test_squeeze_excitation_errors():
    with pytest.raises(ValueError, match="squeeze_channels"):
        nn.SqueezeExcitation(4, 0)
    with pytest.raises(TypeError, match="layer class"):
        nn.SqueezeExcitation(4, 2, activation=nn.ReLU())
    with pytest.raises(TypeError, match="input_channels"):
        nn.SqueezeExcitation(4.5, 2)


# --------------------------------------------------------------------------- LayerNorm2d
def test_layer_norm2d_normalizes_each_pixel_over_channels(rng):
    x = 3 * rng.standard_normal((2, 6, 4, 5)) + 2
    ln = nn.LayerNorm2d(6, eps=1e-6).astype(np.float64)
    out = ln(x)
    assert np.allclose(out.mean(axis=1), 0, atol=1e-12)
    assert np.allclose(out.var(axis=1), 1, atol=1e-5)
    ref = nn.LayerNorm(6, eps=1e-6).astype(np.float64)(x.transpose(0, 2, 3, 1))
    assert np.allclose(out, ref.transpose(0, 3, 1, 2), atol=1e-14)
    with pytest.raises(ValueError, match="N, C, H, W"):
        ln(x[0])


def test_layer_norm2d_gradcheck_and_torch(rng):
    fwd, bwd = _module_pair(lambda: nn.LayerNorm2d(4, eps=1e-6), ("weight", "bias"))
    arrays = [rng.standard_normal((2, 4, 3, 5)), rng.standard_normal(4), rng.standard_normal(4)]
    errs = check_gradients(fwd, bwd, arrays, names=("dx", "dweight", "dbias"))
    assert max(errs.values()) < 1e-6, errs
    import torch

    def torch_ln2d(x, w, b):
        y = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (4,), w, b, 1e-6)
        return y.permute(0, 3, 1, 2)
    assert_matches_torch(fwd, bwd, torch_ln2d, arrays, names=("dx", "dweight", "dbias"))


# --------------------------------------------------------------------------- Permute and twins
def test_permute_round_trip_and_errors(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    p = nn.Permute([0, 2, 3, 1])
    assert p(x).shape == (2, 4, 5, 3)
    assert np.array_equal(p.backward(p(x)), x)
    with pytest.raises(ValueError, match="permutation"):
        nn.Permute([0, 1, 1, 2])
    with pytest.raises(TypeError, match="list of ints"):
        nn.Permute("0231")


@pytest.mark.parametrize("make", [
    lambda: nn.SqueezeExcitation(6, 2, activation=nn.SiLU, rng=0),
    lambda: nn.LayerNorm2d(6, eps=1e-6),
    lambda: nn.ReLU6(),
    lambda: nn.StochasticDepth(0.3, "batch").eval(),
    lambda: nn.Sequential(nn.Permute([0, 2, 3, 1]), nn.Linear(6, 4, rng=0),
                          nn.Permute([0, 3, 1, 2])),
], ids=["se", "layernorm2d", "relu6", "stochastic-depth-eval", "permute-linear"])
def test_layers_match_their_torch_twins(make):
    pytest.importorskip("torch")
    x = 4 * np.random.default_rng(0).standard_normal((2, 6, 3, 4))
    c = cb.verify.compare_model(make().astype(np.float64), x)
    assert c.passed and max((c.out_err,) + c.grad_errs) < 1e-12, c
