"""Linear, flatten, softmax, log-softmax and the losses: PyTorch, finite differences, properties."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from cnnbook import linear as L  # noqa: E402
from cnnbook import losses as S  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402


# ---------------------------------------------------------------------------------------------
# linear and flatten

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_matches_torch(bias, device, rng):
    x, w = rng.standard_normal((5, 7)), rng.standard_normal((3, 7))
    b = rng.standard_normal(3) if bias else None
    assert_matches_torch(L.linear_forward, L.linear_backward, TF.linear, [x, w, b],
                         names=["dx", "dw", "db"][:3 if bias else 2], device=device)


def test_linear_batched_leading_dims_match_torch(device, rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((6, 4)), rng.standard_normal(6)
    assert_matches_torch(L.linear_forward, L.linear_backward, TF.linear, [x, w, b],
                         names=["dx", "dw", "db"], device=device)


def test_linear_finite_differences(rng):
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    errs = check_gradients(L.linear_forward, L.linear_backward, [x, w, b], names=["dx", "dw", "db"])
    assert max(errs.values()) < 1e-7, errs


def test_linear_known_answer_and_no_bias_grad():
    x = np.array([[1, 2]])                                    # integers -> float64
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out, cache = L.linear_forward(x, w, np.array([0.5, 0.0, -3.0]))
    np.testing.assert_array_equal(out, [[1.5, 2.0, 0.0]])
    assert L.linear_backward(np.ones((1, 3)), L.linear_forward(x, w)[1])[2] is None


@pytest.mark.parametrize("start_dim", [0, 1, 2, -1, -2])
def test_flatten_matches_torch(start_dim, device, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    assert_matches_torch(lambda a: L.flatten_forward(a, start_dim), L.flatten_backward,
                         lambda t: torch.flatten(t, start_dim), [x], names=["dx"], device=device)


@pytest.mark.parametrize("x_shape, w_shape", [((0, 5), (3, 5)), ((0, 4, 5), (3, 5)),
                                              ((2, 0, 5), (3, 5)), ((4, 0), (3, 0))],
                         ids=["N=0", "N=0-leading", "empty-middle", "in_features=0"])
def test_linear_empty_like_torch(x_shape, w_shape, rng):
    x, w, b = np.zeros(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = L.linear_forward(x, w, b)
    assert out.shape == x_shape[:-1] + (w_shape[0],)
    dx, dw, db = L.linear_backward(np.ones(out.shape), cache)
    assert dx.shape == x_shape and dw.shape == w_shape and db.shape == b.shape
    assert_matches_torch(L.linear_forward, L.linear_backward, TF.linear, [x, w, b])


@pytest.mark.parametrize("shape, start_dim", [((0, 3, 4, 4), 1), ((2, 0, 4), 1),
                                              ((0, 3, 4, 4), 2), ((0,), 0)],
                         ids=["N=0", "C=0", "N=0-start2", "1-D-empty"])
def test_flatten_empty_like_torch(shape, start_dim):
    x = np.zeros(shape)
    out, cache = L.flatten_forward(x, start_dim)
    assert out.shape == tuple(torch.flatten(torch.from_numpy(x), start_dim).shape)
    assert L.flatten_backward(np.zeros(out.shape), cache).shape == shape
    assert_matches_torch(lambda a: L.flatten_forward(a, start_dim), L.flatten_backward,
                         lambda t: torch.flatten(t, start_dim), [x])


def test_flatten_finite_differences(rng):
    errs = check_gradients(L.flatten_forward, L.flatten_backward, [rng.standard_normal((2, 3, 2))])
    assert max(errs.values()) < 1e-8


@pytest.mark.parametrize("call, exc, words", [
    (lambda: L.linear(np.ones((4, 5)), np.ones((3, 6))), ValueError,
     ["linear", "(4, 5)", "(3, 6)", "in_features", "dimension 1"]),
    (lambda: L.linear(np.ones((2, 3, 4, 4)), np.ones((10, 48))), ValueError, ["linear", "flatten"]),
    (lambda: L.linear(np.ones((4, 5)), np.ones((3, 5)), np.ones(4)), ValueError,
     ["linear", "(4,)", "(3,)"]),
    (lambda: L.linear(np.ones((4, 5)), np.ones(5)), ValueError, ["linear", "2-D", "(5,)"]),
    (lambda: L.flatten(np.ones((2, 3)), start_dim=2), ValueError, ["flatten", "start_dim=2", "[-2, 1]"]),
    (lambda: L.flatten(np.ones((2, 3)), start_dim=1.0), TypeError, ["flatten", "start_dim"]),
])
def test_linear_flatten_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# softmax, log-softmax

@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_matches_torch(which, dim, device, rng):
    fwd, bwd = getattr(S, which + "_forward"), getattr(S, which + "_backward")
    x = rng.standard_normal((4, 5, 3)) * 3
    assert_matches_torch(lambda a: fwd(a, dim), bwd, lambda t: getattr(TF, which)(t, dim),
                         [x], names=["dx"], device=device)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_finite_differences(which, rng):
    fwd, bwd = getattr(S, which + "_forward"), getattr(S, which + "_backward")
    errs = check_gradients(lambda a: fwd(a, 1), bwd, [rng.standard_normal((3, 4))])
    assert max(errs.values()) < 1e-6, errs


def test_log_softmax_exact_at_1e4():
    x = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ls, p = S.log_softmax(x), S.softmax(x)
    np.testing.assert_array_equal(ls[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(ls[1], -np.log(3), rtol=1e-15)
    np.testing.assert_array_equal(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(ls, TF.log_softmax(torch.tensor(x), 1).numpy(), rtol=1e-15)


logits = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                elements=st.floats(-1e4, 1e4))


@settings(max_examples=80, deadline=None)
@given(logits, st.floats(-1e3, 1e3))
def test_softmax_properties(x, c):
    p = S.softmax(x)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-12)
    np.testing.assert_allclose(S.softmax(x + c), p, atol=1e-9)        # shift invariance
    ls = S.log_softmax(x)
    assert np.all(np.isfinite(ls)) and np.all(ls <= 0)
    np.testing.assert_allclose(np.exp(ls), p, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# losses

def test_cross_entropy_matches_torch(device, rng):
    x, t = rng.standard_normal((6, 4)) * 2, rng.integers(0, 4, 6)
    c = assert_matches_torch(S.cross_entropy_forward, S.cross_entropy_backward, TF.cross_entropy,
                             [x, t], grad_of=[0], names=["dlogits"], device=device)
    assert c.grad_errs


def test_bce_with_logits_matches_torch(device, rng):
    x, t = rng.standard_normal((3, 5)) * 4, rng.random((3, 5))
    assert_matches_torch(S.binary_cross_entropy_with_logits_forward,
                         S.binary_cross_entropy_with_logits_backward,
                         TF.binary_cross_entropy_with_logits, [x, t], grad_of=[0],
                         names=["dlogits"], device=device)


def test_mse_matches_torch(device, rng):
    x, t = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    assert_matches_torch(S.mse_loss_forward, S.mse_loss_backward, TF.mse_loss, [x, t],
                         grad_of=[0], names=["dinput"], device=device)


@pytest.mark.parametrize("name", ["cross_entropy", "bce", "mse"])
def test_losses_finite_differences(name, rng):
    x = rng.standard_normal((4, 3))
    if name == "cross_entropy":
        fwd, bwd, other = S.cross_entropy_forward, S.cross_entropy_backward, np.array([0, 2, 1, 2])
    elif name == "bce":
        fwd = S.binary_cross_entropy_with_logits_forward
        bwd, other = S.binary_cross_entropy_with_logits_backward, rng.random((4, 3))
    else:
        fwd, bwd, other = S.mse_loss_forward, S.mse_loss_backward, rng.standard_normal((4, 3))
    errs = check_gradients(fwd, bwd, [x, other], grad_of=[0], names=["d"])
    assert errs["d"] < 1e-7, errs


def test_losses_stable_and_known_values():
    big = np.array([[1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert S.cross_entropy(big, np.array([0])) == 0.0
        assert S.cross_entropy(big, np.array([1])) == 2e4
        np.testing.assert_allclose(S.binary_cross_entropy_with_logits(np.array([1e4, -1e4]),
                                                                      np.array([0.0, 1.0])), 1e4)
    # uniform logits over C classes: the loss is log C
    np.testing.assert_allclose(S.cross_entropy(np.zeros((3, 10)), np.array([1, 5, 9])), np.log(10))
    assert S.mse_loss(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(4 / 3)


def test_loss_dtype_and_inputs_unchanged(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 0])
    x0, t0 = x.copy(), t.copy()
    loss, cache = S.cross_entropy_forward(x, t)
    d = S.cross_entropy_backward(1.0, cache)
    assert loss.dtype == np.float32 and d.dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 4, 1])), ValueError,
     ["cross_entropy", "4", "[0, 3]"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, -1, 1])), ValueError,
     ["cross_entropy", "-1"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0.0, 1.0, 2.0])), TypeError,
     ["cross_entropy", "integers", "astype"]),
    (lambda: S.cross_entropy(np.zeros((3, 4)), np.array([0, 1])), ValueError,
     ["cross_entropy", "(3,)", "(2,)"]),
    (lambda: S.cross_entropy(np.zeros(4), np.array([0])), ValueError, ["cross_entropy", "2-D"]),
    (lambda: S.cross_entropy_backward(np.ones(2), S.cross_entropy_forward(np.zeros((2, 3)),
                                                                         np.array([0, 1]))[1]),
     ValueError, ["cross_entropy_backward", "scalar", "(2,)"]),
    (lambda: S.binary_cross_entropy_with_logits(np.zeros(3), np.array([0.0, 1.5, 1.0])),
     ValueError, ["binary_cross_entropy_with_logits", "1.5", "[0, 1]"]),
    (lambda: S.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4)), ValueError,
     ["binary_cross_entropy_with_logits", "(4,)", "(3,)"]),
    (lambda: S.mse_loss(np.zeros((2, 3)), np.zeros((3, 2))), ValueError, ["mse_loss", "(3, 2)", "(2, 3)"]),
    (lambda: S.softmax(np.zeros((2, 3)), dim=2), ValueError, ["softmax", "dim=2", "[-2, 1]"]),
    (lambda: S.log_softmax(np.zeros((2, 3)), dim=None), TypeError, ["log_softmax", "dim"]),
])
def test_loss_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)
