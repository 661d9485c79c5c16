"""Activations: PyTorch comparison, finite differences, properties, errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from cnnbook import activations as A  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

OPS = {
    "relu": (A.relu_forward, A.relu_backward, TF.relu),
    "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward, TF.leaky_relu),
    "leaky_relu-0.2": (lambda x: A.leaky_relu_forward(x, 0.2), A.leaky_relu_backward,
                       lambda t: TF.leaky_relu(t, 0.2)),
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward, torch.sigmoid),
    "tanh": (A.tanh_forward, A.tanh_backward, torch.tanh),
    "softplus": (A.softplus_forward, A.softplus_backward, TF.softplus),
    "softplus-b2-t5": (lambda x: A.softplus_forward(x, beta=2, threshold=5), A.softplus_backward,
                       lambda t: TF.softplus(t, beta=2, threshold=5)),
}


@pytest.mark.parametrize("name", OPS)
def test_matches_torch(name, device, rng):
    fwd, bwd, tfn = OPS[name]
    x = rng.standard_normal((3, 4, 5)) * 4                  # reaches softplus' linear branch
    assert_matches_torch(fwd, bwd, tfn, [x], names=["dx"], device=device)


@pytest.mark.parametrize("name", OPS)
def test_matches_torch_float32(name, device, rng):
    fwd, bwd, tfn = OPS[name]
    x = (rng.standard_normal((2, 7)) * 3).astype(np.float32)
    assert_matches_torch(fwd, bwd, tfn, [x], names=["dx"], device=device, dtype=np.float32)


@pytest.mark.parametrize("name", OPS)
def test_finite_differences(name, rng):
    fwd, bwd, _ = OPS[name]
    x = rng.standard_normal((4, 5)) * 1.5                 # large |x| leaves tanh's gradient in round-off
    x[np.abs(x) < 1e-3] = 0.5                                # keep away from the ReLU kink
    x[np.abs(x - 2.5) < 1e-3] = 2.0                          # and from softplus(beta=2, threshold=5)'s switch
    errs = check_gradients(fwd, bwd, [x], names=["dx"])
    assert errs["dx"] < 1e-6, errs


@pytest.mark.parametrize("name", OPS)
def test_input_unchanged_and_dtype_kept(name, rng):
    fwd, bwd, _ = OPS[name]
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((3, 3)).astype(dtype)
        x0 = x.copy()
        out, cache = fwd(x)
        dx = bwd(np.ones_like(out), cache)
        assert out.dtype == dtype and dx.dtype == dtype
        np.testing.assert_array_equal(x, x0)


def test_integer_input_computed_in_float64():
    x = np.array([[-2, 0, 3]])
    np.testing.assert_array_equal(A.relu(x), [[0.0, 0.0, 3.0]])
    assert A.relu(x).dtype == np.float64 and A.sigmoid(x).dtype == np.float64


def test_relu_gradient_at_zero_matches_torch():
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(TF.relu(t).sum(), t)
    ours = A.relu_backward(np.ones(4), A.relu_forward(x)[1])
    np.testing.assert_array_equal(ours, g.numpy())
    assert ours[1] == 0.0 and ours[2] == 0.0


def test_leaky_relu_gradient_at_zero_matches_torch():
    x = np.array([-1.0, 0.0, 2.0])
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(TF.leaky_relu(t, 0.1).sum(), t)
    ours = A.leaky_relu_backward(np.ones(3), A.leaky_relu_forward(x, 0.1)[1])
    np.testing.assert_allclose(ours, g.numpy(), rtol=0, atol=1e-15)


def test_sigmoid_stable_at_extremes():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = A.sigmoid(x)
    np.testing.assert_allclose(s, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-12, atol=0)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5


def test_softplus_threshold_is_linear_and_no_overflow():
    x = np.array([-800.0, 0.0, 20.5, 800.0])
    with np.errstate(over="raise"):
        out = A.softplus(x)
    assert out[2] == 20.5 and out[3] == 800.0             # beta*x > 20: x itself
    np.testing.assert_allclose(out[1], np.log(2), rtol=1e-15)
    np.testing.assert_allclose(out, TF.softplus(torch.tensor(x)).numpy(), rtol=1e-15, atol=0)


finite = arrays(np.float64, st.integers(1, 12), elements=st.floats(-1e3, 1e3))


@settings(max_examples=60, deadline=None)
@given(finite)
def test_relu_properties(x):
    r = A.relu(x)
    np.testing.assert_array_equal(A.relu(r), r)             # idempotent
    assert np.all(r >= 0)
    np.testing.assert_array_equal(r - A.relu(-x), x)          # relu(x) - relu(-x) = x


@settings(max_examples=60, deadline=None)
@given(finite, st.floats(0.0, 1.0))
def test_leaky_relu_properties(x, slope):
    y = A.leaky_relu(x, slope)
    np.testing.assert_array_equal(y[x > 0], x[x > 0])
    np.testing.assert_allclose(y[x <= 0], slope * x[x <= 0])
    if slope == 0:
        np.testing.assert_array_equal(y, A.relu(x))
    np.testing.assert_array_equal(A.leaky_relu(A.relu(x), slope), A.relu(x))


@settings(max_examples=60, deadline=None)
@given(finite)
def test_sigmoid_tanh_softplus_properties(x):
    s = A.sigmoid(x)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s + A.sigmoid(-x), 1, atol=1e-12)          # symmetry
    np.testing.assert_allclose(A.tanh(x), 2 * A.sigmoid(2 * x) - 1, atol=1e-12)
    sp = A.softplus(x)
    assert np.all(sp >= A.relu(x)) and np.all(sp - A.relu(x) <= np.log(2) + 1e-12)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: A.relu("abc"), TypeError, ["relu", "x"]),
    (lambda: A.relu(torch.ones(2)), TypeError, ["relu", "torch.Tensor"]),
    (lambda: A.leaky_relu(np.ones(2), negative_slope="x"), TypeError, ["leaky_relu", "negative_slope"]),
    (lambda: A.softplus(np.ones(2), beta=0), ValueError, ["softplus", "beta=0"]),
    (lambda: A.softplus(np.ones(2), beta=-1.5), ValueError, ["softplus", "beta=-1.5"]),
    (lambda: A.softplus(np.ones(2), threshold=float("nan")), ValueError, ["softplus", "threshold"]),
    (lambda: A.relu_backward(np.ones((2, 3)), A.relu_forward(np.ones((3, 2)))[1]), ValueError,
     ["relu_backward", "(3, 2)", "(2, 3)"]),
])
def test_bad_input_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value)
