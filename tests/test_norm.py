"""Batch normalization and dropout: PyTorch, finite differences, running statistics, errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402

from cnnbook import norm as B  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402


def _bn_fwd(training, rm, rv, momentum=0.1, eps=1e-5):
    return lambda x, g, b: B.batch_norm2d_forward(x, g, b, rm, rv, training, momentum, eps)


def _bn_torch(training, rm, rv, momentum=0.1, eps=1e-5):
    def f(x, g, b):
        r_m = None if rm is None else torch.tensor(rm, device=x.device)
        r_v = None if rv is None else torch.tensor(rv, device=x.device)
        return TF.batch_norm(x, r_m, r_v, g, b, training, momentum, eps)
    return f


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_matches_torch(training, device, rng):
    x = rng.standard_normal((4, 3, 5, 2)) * 2 + 1
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    assert_matches_torch(_bn_fwd(training, rm, rv, 0.3, 1e-3), B.batch_norm2d_backward,
                         _bn_torch(training, rm, rv, 0.3, 1e-3), [x, g, b],
                         names=["dx", "dgamma", "dbeta"], device=device)


def test_batch_norm_without_running_stats_matches_torch(device, rng):
    x, g, b = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal(2), rng.standard_normal(2)
    assert_matches_torch(_bn_fwd(True, None, None), B.batch_norm2d_backward,
                         _bn_torch(True, None, None), [x, g, b],
                         names=["dx", "dgamma", "dbeta"], device=device)


def test_batch_norm_running_stats_match_torch_and_inputs_untouched(rng):
    x = rng.standard_normal((5, 3, 4, 4)) * 3 + 2
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    rm0, rv0, x0 = rm.copy(), rv.copy(), x.copy()
    _, cache = B.batch_norm2d_forward(x, np.ones(3), np.zeros(3), rm, rv, momentum=0.2)
    t_rm, t_rv = torch.tensor(rm), torch.tensor(rv)
    TF.batch_norm(torch.tensor(x), t_rm, t_rv, None, None, True, 0.2, 1e-5)
    np.testing.assert_allclose(cache.running_mean, t_rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cache.running_var, t_rv.numpy(), rtol=1e-12)  # unbiased variance
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    np.testing.assert_array_equal(x, x0)
    assert not np.allclose(cache.running_var, rv0)


def test_batch_norm_normalizes_with_biased_variance(rng):
    x = rng.standard_normal((2, 2, 3, 3)) * 5 + 7
    out = B.batch_norm2d(x, None, None, eps=0.0 + 1e-12)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-9)      # ddof=0


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_finite_differences(training, rng):
    x = rng.standard_normal((2, 3, 3, 2))
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    fwd = _bn_fwd(training, np.zeros(3), np.ones(3) * 1.5)
    # seed=1: the rng fixture also starts from seed 0, and dout == x would make dx vanish
    errs = check_gradients(fwd, B.batch_norm2d_backward, [x, g, b], names=["dx", "dgamma", "dbeta"],
                           seed=1)
    assert max(errs.values()) < 1e-6, errs


def test_batch_norm_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    out, cache = B.batch_norm2d_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32),
                                        np.zeros(3, np.float32), np.ones(3, np.float32))
    dx, dg, db = B.batch_norm2d_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dg.dtype == cache.running_var.dtype == np.float32


@pytest.mark.parametrize("call, exc, words", [
    (lambda: B.batch_norm2d(np.ones((2, 3, 4)), None, None), ValueError, ["batch_norm2d", "4-D"]),
    (lambda: B.batch_norm2d(np.ones((2, 3, 4, 4)), np.ones(4), None), ValueError,
     ["batch_norm2d", "gamma", "(3,)", "(4,)"]),
    (lambda: B.batch_norm2d(np.ones((1, 3, 1, 1)), None, None), ValueError,
     ["batch_norm2d", "N*H*W = 1*1*1 = 1"]),
    (lambda: B.batch_norm2d(np.ones((2, 3, 4, 4)), None, None, training=False), ValueError,
     ["batch_norm2d", "running"]),
    (lambda: B.batch_norm2d(np.ones((2, 3, 4, 4)), None, None, np.zeros(3)), ValueError,
     ["batch_norm2d", "running_var"]),
    (lambda: B.batch_norm2d(np.ones((2, 3, 4, 4)), None, None, momentum=1.5), ValueError,
     ["batch_norm2d", "momentum=1.5"]),
    (lambda: B.batch_norm2d(np.ones((2, 3, 4, 4)), None, None, eps=0), ValueError,
     ["batch_norm2d", "eps=0"]),
    (lambda: B.dropout(np.ones(3), p=1.0, rng=np.random.default_rng(0)), ValueError,
     ["dropout", "p=1.0", "[0, 1)"]),
    (lambda: B.dropout(np.ones(3), p=-0.1, rng=np.random.default_rng(0)), ValueError, ["dropout", "p=-0.1"]),
    (lambda: B.dropout(np.ones(3), p=0.5, rng="0"), TypeError, ["dropout", "rng", "int seed"]),
    (lambda: B.dropout(np.ones(3), p=0.5, training="yes"), TypeError, ["dropout", "training"]),
])
def test_norm_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# dropout

def test_dropout_matches_torch_given_the_mask(device, rng):
    x = rng.standard_normal((4, 6))
    _, cache = B.dropout_forward(x, 0.3, True, np.random.default_rng(1))
    mask = cache.mask
    assert_matches_torch(lambda a: B.dropout_forward(a, 0.3, True, np.random.default_rng(1)),
                         B.dropout_backward,
                         lambda t: t * torch.tensor(mask, device=t.device), [x], names=["dx"],
                         device=device)


def test_dropout_eval_matches_torch(device, rng):
    x = rng.standard_normal((3, 5))
    assert_matches_torch(lambda a: B.dropout_forward(a, 0.5, False), B.dropout_backward,
                         lambda t: TF.dropout(t, 0.5, training=False), [x], names=["dx"],
                         device=device)


def test_dropout_finite_differences(rng):
    f = lambda a: B.dropout_forward(a, 0.4, True, np.random.default_rng(3))  # noqa: E731
    errs = check_gradients(f, B.dropout_backward, [rng.standard_normal((5, 5))])
    assert max(errs.values()) < 1e-7, errs


def test_dropout_statistics_and_scaling():
    x = np.ones((200, 500))
    x0 = x.copy()
    out = B.dropout(x, 0.25, True, np.random.default_rng(0))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75)          # survivors scaled by 1/(1-p)
    assert abs(kept.mean() - 0.75) < 0.01                    # 100,000 draws: sd of the mean ~0.0014
    assert abs(out.mean() - 1.0) < 0.015                     # expectation preserved
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(B.dropout(x, 0.0, True, np.random.default_rng(0)), x)
    # the same seed gives the same mask
    np.testing.assert_array_equal(out, B.dropout(x, 0.25, True, np.random.default_rng(0)))


# ------------------------------------------------------------------ local response normalization
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_local_response_norm_matches_torch(size, device, rng):
    x = 2 * rng.standard_normal((2, 6, 3, 4))
    assert_matches_torch(lambda x: B.local_response_norm_forward(x, size, 0.1, 0.75, 2.0),
                         B.local_response_norm_backward,
                         lambda x: TF.local_response_norm(x, size, 0.1, 0.75, 2.0), [x],
                         names=["dx"], device=device)


def test_local_response_norm_3d_input_matches_torch(rng):
    x = rng.standard_normal((2, 5, 7))
    assert_matches_torch(lambda x: B.local_response_norm_forward(x, 3, 1.0, 0.5, 1.0),
                         B.local_response_norm_backward,
                         lambda x: TF.local_response_norm(x, 3, 1.0, 0.5, 1.0), [x], names=["dx"])


@pytest.mark.parametrize("size", [2, 5])
def test_local_response_norm_finite_differences(size, rng):
    x = rng.standard_normal((2, 7, 2, 3))
    errs = check_gradients(lambda x: B.local_response_norm_forward(x, size, 0.5, 0.75, 1.5),
                           B.local_response_norm_backward, [x])
    assert max(errs.values()) < 1e-6, errs


def test_local_response_norm_known_answer():
    """Three channels of one pixel, (1, 2, 3), size 3: channel 0 sums 0 + 1 + 4 = 5, channel 1
    sums 1 + 4 + 9 = 14, channel 2 sums 4 + 9 + 0 = 13; with alpha=3, size=3 the scale is
    k + sum, and beta=0.5 takes its square root."""
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    out = B.local_response_norm(x, 3, alpha=3.0, beta=0.5, k=1.0)
    np.testing.assert_allclose(out.ravel(), [1 / np.sqrt(6), 2 / np.sqrt(15), 3 / np.sqrt(14)],
                               rtol=1e-15)
    # size=1, alpha=0: nothing changes (scale k**beta = 1)
    np.testing.assert_allclose(B.local_response_norm(x, 1, 0.0, 0.75, 1.0), x, rtol=0)
    # size 2 looks one channel back, none forward (PyTorch's window c - 1 .. c)
    out2 = B.local_response_norm(x, 2, alpha=2.0, beta=1.0, k=0.0 + 1.0)
    np.testing.assert_allclose(out2.ravel(), [1 / 2, 2 / 6, 3 / 14], rtol=1e-15)


def test_local_response_norm_errors_and_untouched_input(rng):
    x = rng.standard_normal((1, 4, 2, 2))
    x0 = x.copy()
    B.local_response_norm(x, 3)
    np.testing.assert_array_equal(x, x0)
    with pytest.raises(ValueError, match="local_response_norm: size"):
        B.local_response_norm(x, 0)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        B.local_response_norm(x[0, 0], 3)
    with pytest.raises(ValueError, match="k must be"):
        B.local_response_norm(x, 3, k=0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_backward_is_the_chapter_formula_bit_for_bit(dtype, affine):
    # dx = s/n * (n*g - sum(g) - x_hat * sum(g*x_hat)), g = dout*gamma, in the library's order
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 5, 6, 7)) * 3 + 1).astype(dtype)
    gamma = rng.standard_normal(5).astype(dtype) if affine else None
    beta = rng.standard_normal(5).astype(dtype) if affine else None
    _, cache = B.batch_norm2d_forward(x, gamma, beta, training=True)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx, dg, db = B.batch_norm2d_backward(dout, cache)
    ax, xh, n = (0, 2, 3), cache.x_hat, 4 * 6 * 7
    g = dout if gamma is None else dout * gamma[None, :, None, None]
    s = cache.inv_std[None, :, None, None]
    rdx = s / n * (n * g - g.sum(axis=ax, keepdims=True)
                   - xh * np.sum(g * xh, axis=ax, keepdims=True))
    rdg = np.sum(dout * xh, axis=ax) if affine else None
    rdb = np.sum(dout, axis=ax) if affine else None
    np.testing.assert_array_equal(dx, rdx)
    assert dx.dtype == dtype and dx.shape == x.shape
    if affine:
        np.testing.assert_array_equal(dg, rdg)
        np.testing.assert_array_equal(db, rdb)
    else:
        assert dg is None and db is None and rdg is None and rdb is None
