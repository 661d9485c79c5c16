"""layer_norm, group_norm and batch_norm1d, and the gelu and silu activations: PyTorch (float64,
random upstream gradient), finite differences, known answers and errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402

from cnnbook import activations as A  # noqa: E402
from cnnbook import norm as B  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

XYZ = ["dx", "dweight", "dbias"]


# ---------------------------------------------------------------------------------------------
# layer norm

LN = [((4, 6), 6), ((2, 3, 5), 5), ((2, 3, 4, 5), (4, 5)), ((2, 3, 4, 5), (3, 4, 5)),
      ((7,), (7,))]


@pytest.mark.parametrize("shape, ns", LN, ids=[f"{s}-{n}" for s, n in LN])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_layer_norm_matches_torch(shape, ns, affine, device, rng):
    x = 3 * rng.standard_normal(shape) + 1
    nshape = (ns,) if isinstance(ns, int) else ns
    w = rng.standard_normal(nshape) if affine else None
    b = rng.standard_normal(nshape) if affine else None
    c = assert_matches_torch(lambda x, w, b: B.layer_norm_forward(x, ns, w, b, eps=1e-4),
                             B.layer_norm_backward,
                             lambda x, w, b: TF.layer_norm(x, nshape, w, b, eps=1e-4),
                             [x, w, b], names=XYZ[:3 if affine else 1], device=device)
    assert c.out_err < 1e-13 and max(c.grad_errs) < 1e-13


def test_layer_norm_finite_differences(rng):
    w, b, x = rng.standard_normal((2, 4)), rng.standard_normal((2, 4)), rng.standard_normal((3, 2, 4))
    errs = check_gradients(lambda x, w, b: B.layer_norm_forward(x, (2, 4), w, b),
                           B.layer_norm_backward, [x, w, b], names=XYZ)
    assert max(errs.values()) < 1e-6, errs


def test_layer_norm_known_answer_and_float32(rng):
    out = B.layer_norm(np.array([[1.0, 3.0], [10.0, 10.0]]), 2, eps=0.0 + 1e-12)
    np.testing.assert_allclose(out, [[-1, 1], [0, 0]], atol=1e-6)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    x0 = x.copy()
    out, cache = B.layer_norm_forward(x, 4, np.ones(4), np.zeros(4))
    dx, dw, db = B.layer_norm_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    assert B.layer_norm_backward(np.ones((3, 4)), B.layer_norm_forward(x, 4)[1])[1:] == (None, None)


# ---------------------------------------------------------------------------------------------
# group norm

GN = [((2, 6, 4, 5), 3), ((2, 6, 4, 5), 1), ((2, 6, 4, 5), 6), ((3, 4), 2), ((2, 8, 7), 4),
      ((1, 4, 2, 3, 2), 2)]


@pytest.mark.parametrize("shape, groups", GN, ids=[f"{s}-G{g}" for s, g in GN])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_group_norm_matches_torch(shape, groups, affine, device, rng):
    x = 2 * rng.standard_normal(shape) - 1
    C = shape[1]
    w = rng.standard_normal(C) if affine else None
    b = rng.standard_normal(C) if affine else None
    c = assert_matches_torch(lambda x, w, b: B.group_norm_forward(x, groups, w, b),
                             B.group_norm_backward,
                             lambda x, w, b: TF.group_norm(x, groups, w, b),
                             [x, w, b], names=XYZ[:3 if affine else 1], device=device)
    assert c.out_err < 1e-13 and max(c.grad_errs) < 1e-13


def test_group_norm_finite_differences(rng):
    w, b, x = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((2, 4, 2, 3))
    errs = check_gradients(lambda x, w, b: B.group_norm_forward(x, 2, w, b),
                           B.group_norm_backward, [x, w, b], names=XYZ)
    assert max(errs.values()) < 1e-6, errs


def test_group_norm_special_cases(rng):
    x = rng.standard_normal((2, 4, 3, 3))
    # one group: layer norm over (C, H, W); C groups: instance norm
    np.testing.assert_allclose(B.group_norm(x, 1), B.layer_norm(x, (4, 3, 3)), atol=1e-14)
    want = TF.instance_norm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(B.group_norm(x, 4), want, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# batch norm over (N, C) and (N, C, L)

@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 7)], ids=["NC", "NCL"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm1d_matches_torch(shape, training, device, rng):
    x = 2 * rng.standard_normal(shape) + 1
    C = shape[1]
    g, b, m, v = rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(C), \
        rng.random(C) + 0.5
    c = assert_matches_torch(
        lambda x, g, b, m, v: B.batch_norm1d_forward(x, g, b, m, v, training, 0.1),
        B.batch_norm1d_backward,
        lambda x, g, b, m, v: TF.batch_norm(x, m.clone(), v.clone(), g, b, training, 0.1),
        [x, g, b, m, v], grad_of=[0, 1, 2], names=["dx", "dgamma", "dbeta"], device=device)
    assert c.out_err < 1e-13 and max(c.grad_errs) < 1e-13


def test_batch_norm1d_finite_differences(rng):
    # (x drawn last: check_gradients' upstream gradient comes from seed 0 as well, and an upstream
    # gradient equal to x is nearly orthogonal to batch norm's input gradient)
    g, b, x = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((5, 3, 4))
    errs = check_gradients(lambda x, g, b: B.batch_norm1d_forward(x, g, b), B.batch_norm1d_backward,
                           [x, g, b], names=["dx", "dgamma", "dbeta"])
    assert max(errs.values()) < 1e-6, errs


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)], ids=["NC", "NCL"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["m0.1", "cumulative"])
def test_batch_norm1d_running_statistics_follow_torch(shape, momentum, rng):
    # three training steps, then evaluation; momentum=None in PyTorch's module is a cumulative
    # average, which is momentum=1/k on the k-th batch here
    bn = torch.nn.BatchNorm1d(shape[1], momentum=momentum).double()
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    for k in range(1, 4):
        x = rng.standard_normal(shape) * k + k
        bn(torch.from_numpy(x))
        m = 1 / k if momentum is None else momentum
        _, cache = B.batch_norm1d_forward(x, None, None, mean, var, True, m)
        mean, var = cache.running_mean, cache.running_var
    np.testing.assert_allclose(mean, bn.running_mean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(var, bn.running_var.numpy(), rtol=1e-13)
    bn.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(B.batch_norm1d(x, bn.weight.detach().numpy(),
                                              bn.bias.detach().numpy(), mean, var, False),
                               bn(torch.from_numpy(x)).detach().numpy(), atol=1e-13)


def test_batch_norm1d_is_batch_norm2d_and_leaves_inputs(rng):
    x = rng.standard_normal((4, 3, 6))
    m, v = np.zeros(3), np.ones(3)
    out, cache = B.batch_norm1d_forward(x, np.ones(3), np.zeros(3), m, v)
    np.testing.assert_allclose(out, B.batch_norm2d(x[..., None], np.ones(3), np.zeros(3))[..., 0],
                               atol=1e-15)
    assert m.tolist() == [0, 0, 0] and v.tolist() == [1, 1, 1]
    assert cache.running_mean is not m and cache.shape == (4, 3, 6)


# ---------------------------------------------------------------------------------------------
# errors

@pytest.mark.parametrize("call, exc, words", [
    (lambda: B.layer_norm(np.zeros((2, 3)), 4), ValueError,
     ["layer_norm", "(4,)", "(2, 3)", "x.shape[-1:]"]),
    (lambda: B.layer_norm(np.zeros((2, 3)), 3, weight=np.ones(4)), ValueError,
     ["layer_norm", "weight", "(3,)", "(4,)"]),
    (lambda: B.layer_norm(np.zeros((2, 3)), 3.0), TypeError, ["layer_norm", "3.0"]),
    (lambda: B.layer_norm(np.zeros((2, 3)), 3, eps=0), ValueError, ["layer_norm", "eps"]),
    (lambda: B.group_norm(np.zeros((2, 6, 3)), 4), ValueError,
     ["group_norm", "num_groups=4", "C=6", "[1, 2, 3, 6]"]),
    (lambda: B.group_norm(np.zeros((2, 6, 3)), 2, bias=np.ones(2)), ValueError,
     ["group_norm", "bias", "(6,)", "(2,)"]),
    (lambda: B.group_norm(np.zeros(6), 2), ValueError, ["group_norm", "(6,)", "x[None]"]),
    (lambda: B.group_norm(np.zeros((2, 6)), 2.0), TypeError, ["group_norm", "2.0"]),
    (lambda: B.batch_norm1d(np.zeros((2, 3, 4, 5)), None, None), ValueError,
     ["batch_norm1d", "2 or 3-D", "4-D"]),
    (lambda: B.batch_norm1d(np.zeros((1, 3)), None, None), ValueError,
     ["batch_norm1d", "N = 1", "more than 1 value"]),
    (lambda: B.batch_norm1d(np.zeros((4, 3)), np.ones(2), None), ValueError,
     ["batch_norm1d", "gamma", "(3,)", "(2,)"]),
    (lambda: B.batch_norm1d(np.zeros((4, 3)), None, None, momentum=None), TypeError,
     ["batch_norm1d", "momentum", "1/k"]),
    (lambda: B.batch_norm1d_backward(np.zeros((4, 2)), B.batch_norm1d_forward(
        np.zeros((4, 3)), None, None)[1]), ValueError, ["batch_norm1d_backward", "(4, 3)", "(4, 2)"]),
    (lambda: A.gelu(np.zeros(3), approximate="erf"), ValueError, ["gelu", "'erf'", "tanh"]),
    (lambda: A.silu("x"), TypeError, ["silu", "str"]),
])
def test_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# GELU and SiLU

ACTS = [("gelu", {}, TF.gelu), ("gelu", {"approximate": "tanh"}, TF.gelu), ("silu", {}, TF.silu)]


@pytest.mark.parametrize("name, kw, tfn", ACTS, ids=["gelu", "gelu-tanh", "silu"])
def test_activation_matches_torch(name, kw, tfn, device, rng):
    x = 4 * rng.standard_normal((3, 4, 5))
    x.flat[:4] = [0.0, -40.0, 40.0, 1e-8]
    c = assert_matches_torch(lambda a: getattr(A, name + "_forward")(a, **kw),
                             getattr(A, name + "_backward"), lambda t: tfn(t, **kw), [x],
                             names=["dx"], device=device)
    assert c.out_err < 1e-14 and c.grad_errs[0] < 1e-14
    x32 = x.astype(np.float32)
    out, cache = getattr(A, name + "_forward")(x32, **kw)
    assert out.dtype == getattr(A, name + "_backward")(np.ones_like(out), cache).dtype == np.float32
    assert_matches_torch(lambda a: getattr(A, name + "_forward")(a, **kw),
                         getattr(A, name + "_backward"), lambda t: tfn(t, **kw), [x32],
                         names=["dx"], device=device, dtype=np.float32)


@pytest.mark.parametrize("name, kw", [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {})])
def test_activation_finite_differences(name, kw, rng):
    errs = check_gradients(lambda a: getattr(A, name + "_forward")(a, **kw),
                           getattr(A, name + "_backward"), [2 * rng.standard_normal((3, 4))])
    assert max(errs.values()) < 1e-7, errs


def test_activation_known_answers():
    from math import erf, exp, sqrt
    # GELU(1) = Phi(1) = 0.8413...; the tanh form differs from it by less than 1e-3 over [-5, 5]
    assert A.gelu(np.array(1.0)) == pytest.approx((1 + erf(1 / sqrt(2))) / 2, rel=1e-15)
    x = np.linspace(-5, 5, 101)
    assert np.max(np.abs(A.gelu(x) - A.gelu(x, "tanh"))) < 1e-3
    assert A.silu(np.array(2.0)) == pytest.approx(2 / (1 + exp(-2)), rel=1e-15)
    assert A.gelu(np.array([1, 2])).dtype == np.float64          # integers computed in float64
    assert A.silu(np.array([-1000.0]))[0] == 0.0                  # no overflow warning


def test_gelu_without_scipy_gives_the_same_numbers(monkeypatch, rng):
    import sys
    x = 3 * rng.standard_normal(50)
    with_scipy = A.gelu(x), A.gelu_backward(np.ones(50), A.gelu_forward(x)[1])
    monkeypatch.setitem(sys.modules, "scipy.special", None)      # import now fails
    without = A.gelu(x), A.gelu_backward(np.ones(50), A.gelu_forward(x)[1])
    for a, b in zip(with_scipy, without):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-16)
